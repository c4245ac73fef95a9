/* addrbook_import.c - the reference node's JSON address book, and fsck/repair of our files. */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "st/addrbook.h"
#include "st/store.h"
#include "st/util.h"
#include "addrbook_int.h"

#define REFERENCE_FILE_MAX (512L * 1024 * 1024)

int st_parse_iso8601(const char *s, int64_t *out)
{
	int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
	if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
		return -1;
	const char *p = s + n;
	if (*p == 'T' || *p == ' ') {
		int m = 0;
		if (sscanf(p + 1, "%2d:%2d:%2d%n", &h, &mi, &sec, &m) != 3 || m != 8)
			return -1;
		p += 1 + m;
		if (*p == '.')
			for (p++; isdigit((unsigned char)*p); p++)
				;
	}
	long offset = 0;
	if (*p == 'Z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om, m = 0;
		if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &m) != 2 || m != 5 || oh > 23 || om > 59)
			return -1;
		offset = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
		p += 1 + m;
	}
	if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -1;
	if (y <= 1) { /* .NET's DateTime.MinValue: never */
		*out = 0;
		return 0;
	}
	struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
	                .tm_hour = h, .tm_min = mi, .tm_sec = sec};
	time_t t = timegm(&tm);
	*out = (int64_t)t - offset;
	if (*out < 0)
		*out = 0;
	return 0;
}

static int64_t json_time(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	int64_t t = 0;
	if (json_is_string(v) && st_parse_iso8601(json_string_value(v), &t) == 0)
		return t;
	if (json_is_integer(v))
		return json_integer_value(v) > 0 ? (int64_t)json_integer_value(v) : 0;
	return -1;
}

int st_addrbook_import_reference(struct st_addrbook *ab, const char *path, size_t *added,
                                 size_t *rejected, struct st_err *err)
{
	*added = *rejected = 0;
	FILE *f = fopen(path, "rb");
	if (!f)
		return st_err_sys(err, ST_EX_NOINPUT, "'%s'", path);
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	fseek(f, 0, SEEK_SET);
	if (size > REFERENCE_FILE_MAX) {
		fclose(f);
		return st_err_set(err, ST_EX_DATAERR, "'%s': larger than %ld bytes", path,
		                  REFERENCE_FILE_MAX);
	}
	json_error_t jerr;
	json_t *root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
	fclose(f);
	if (!root)
		return st_err_set(err, ST_EX_DATAERR, "%s:%d:%d: %s", path, jerr.line, jerr.column,
		                  jerr.text);
	if (!json_is_array(root)) {
		json_decref(root);
		return st_err_set(err, ST_EX_DATAERR, "%s: expected a JSON array of addresses", path);
	}
	int64_t now = st_now();
	size_t i;
	json_t *o;
	json_array_foreach(root, i, o) {
		json_t *addr = json_object_get(o, "Address"), *port = json_object_get(o, "Port");
		struct st_endpoint ep;
		if (!json_is_object(o) || !json_is_string(addr) || !json_is_integer(port) ||
		    json_integer_value(port) < 1 || json_integer_value(port) > 65535 ||
		    st_addr_parse(&ep, json_string_value(addr), json_string_length(addr), NULL) < 0) {
			fprintf(stderr, "st-addrbook: %s: entry %zu: bad Address or Port, skipped\n", path,
			        i + 1);
			(*rejected)++;
			continue;
		}
		ep.port = (uint16_t)json_integer_value(port);
		struct st_addr_entry in = {0};
		in.ep = ep;
		in.first_seen = json_time(o, "FirstSeen");
		in.last_seen = json_time(o, "LastSeen");
		in.last_attempt = json_time(o, "LastAttempt");
		if (in.first_seen < 0 || in.last_seen < 0 || in.last_attempt < 0) {
			fprintf(stderr, "st-addrbook: %s: entry %zu: bad time, skipped\n", path, i + 1);
			(*rejected)++;
			continue;
		}
		json_t *sc = json_object_get(o, "SuccessCount"), *fc = json_object_get(o, "FailureCount");
		in.successes = json_is_integer(sc) && json_integer_value(sc) > 0
		                   ? (uint32_t)json_integer_value(sc) : 0;
		in.failures = json_is_integer(fc) && json_integer_value(fc) > 0
		                  ? (uint32_t)json_integer_value(fc) : 0;
		in.attempts = in.successes + in.failures;
		if (in.successes && in.last_attempt)
			in.last_success = in.last_attempt; /* the reference keeps no separate time */
		json_t *src = json_object_get(o, "Source");
		char source[ST_SOURCE_MAX];
		snprintf(source, sizeof source, "import:%s",
		         json_is_string(src) ? json_string_value(src) : "reference");
		enum st_addrbook_verdict v;
		if (st_addrbook_add(ab, &ep, source, NULL, in.first_seen ? in.first_seen : now, &v,
		                    NULL, err) < 0) {
			json_decref(root);
			return -1;
		}
		if (v != ST_ADD_ADDED && v != ST_ADD_DUPLICATE) {
			char eps[ST_ENDPOINT_STRLEN];
			st_endpoint_format(&ep, eps, sizeof eps);
			fprintf(stderr, "st-addrbook: %s: entry %zu: %s: %s\n", path, i + 1, eps,
			        st_addrbook_verdict_name(v));
			(*rejected)++;
			continue;
		}
		if (st_addrbook_import_entry(ab, &in, source, err) < 0) {
			json_decref(root);
			return -1;
		}
		(*added)++;
	}
	json_decref(root);
	return 0;
}

/* ---- fsck ---- */

struct salvage {
	struct st_addrbook *ab;
	size_t kept, lost;
	bool journal;
	const char *path;
	char first[ST_ERR_MSG_MAX];
};

static int salvage_line(void *vctx, const char *line, size_t len, unsigned long lineno,
                        struct st_err *err)
{
	(void)err;
	struct salvage *s = vctx;
	struct st_addr_entry e;
	char source[ST_SOURCE_MAX];
	struct st_err lerr = {0};
	const char *p = line;
	size_t n = len;
	if (s->journal) {
		if (n > 4 && memcmp(p, "del\t", 4) == 0) {
			struct st_endpoint ep;
			if (st_endpoint_parse(&ep, p + 4, n - 4, NULL) == 0)
				st_addrbook_remove(s->ab, &ep, NULL);
			return 0;
		}
		if (n > 4 && memcmp(p, "put\t", 4) == 0) {
			p += 4;
			n -= 4;
		}
	}
	if (st_addr_entry_parse(&e, source, sizeof source, p, n, &lerr) < 0) {
		if (!s->first[0])
			snprintf(s->first, sizeof s->first, "%s:%lu: %s", s->path, lineno, lerr.msg);
		s->lost++;
		return 0;
	}
	enum st_addrbook_verdict v;
	struct st_addrbook *ab = s->ab;
	/* restore the entry as it was, whatever today's limits say */
	double share = ab->cfg.addrbook.max_per_source_group;
	uint32_t maxn = ab->cfg.addrbook.max_addresses, maxs = ab->cfg.addrbook.max_per_subnet;
	bool priv = ab->cfg.addrbook.allow_private;
	ab->cfg.addrbook.max_per_source_group = 1;
	ab->cfg.addrbook.max_addresses = UINT32_MAX;
	ab->cfg.addrbook.max_per_subnet = UINT32_MAX;
	ab->cfg.addrbook.allow_private = true;
	if (st_addrbook_add(ab, &e.ep, source, NULL, e.first_seen, &v, NULL, NULL) == 0)
		st_addrbook_import_entry(ab, &e, source, NULL);
	ab->cfg.addrbook.max_per_source_group = share;
	ab->cfg.addrbook.max_addresses = maxn;
	ab->cfg.addrbook.max_per_subnet = maxs;
	ab->cfg.addrbook.allow_private = priv;
	return 0;
}

/* Walks whatever lines of a file can be read, header or not. */
static void walk_raw(const char *path, struct salvage *s)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return;
	struct st_buf line;
	st_buf_init(&line, ST_LINE_MAX);
	unsigned long lineno = 0;
	int rc;
	while ((rc = st_read_line(f, &line, NULL)) != 0) {
		lineno++;
		if (rc < 0 || !line.data || line.data[0] == '#' || line.len == 0 ||
		    memchr(line.data, '\0', line.len)) {
			if (rc < 0 || (line.data && line.data[0] != '#' && line.len))
				s->lost++;
			continue;
		}
		size_t n = line.len;
		if (s->journal) { /* drop the checksum; keep lines whose checksum holds */
			if (n < 10 || line.data[n - 10] != '\t' || line.data[n - 9] != '#') {
				s->lost++;
				continue;
			}
			char hex[9];
			memcpy(hex, line.data + n - 8, 8);
			hex[8] = '\0';
			if (strtoul(hex, NULL, 16) != st_crc32c(0, line.data, n - 10)) {
				s->lost++;
				continue;
			}
			n -= 10;
		}
		salvage_line(s, line.data, n, lineno, NULL);
	}
	st_buf_clear(&line);
	fclose(f);
}

int st_addrbook_fsck(const struct st_config *cfg, bool repair, size_t *kept, size_t *lost,
                     struct st_err *err)
{
	*kept = *lost = 0;
	struct st_addrbook *ab;
	if (st_addrbook_open(&ab, cfg, repair ? ST_STORE_WRITE : ST_STORE_READ, err) == 0) {
		/* the entries read in order; now the indexes, against what they should say */
		*kept = st_addrbook_count(ab);
		int ix = ab_check_indexes(ab, err);
		if (!repair) {
			st_addrbook_free(ab);
			return ix < 0 ? -1 : 0; /* a missing or stale index is not damage */
		}
		if (ix != 0 && ab_rewrite(ab, err) < 0) {
			st_addrbook_free(ab);
			return -1;
		}
		if (st_addrbook_close(ab, err) < 0)
			return -1;
		return ix ? 2 : 0;
	}
	if (!repair || err->code != ST_EX_DATAERR || ab_newer_format(cfg->data_dir, err))
		return -1;
	/* Damaged: read every line that can be read, move the files aside, write anew. */
	ab = calloc(1, sizeof *ab);
	if (!ab)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	ab->cfg = *cfg;
	ab->cfg.seeds = NULL;
	ab->cfg.nseeds = 0;
	ab->key = 0x51a7e;
	struct salvage s = {.ab = ab};
	char path[ST_PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/addrbook.tsv", cfg->data_dir);
	s.path = path;
	walk_raw(path, &s);
	snprintf(path, sizeof path, "%s/addrbook.journal", cfg->data_dir);
	s.journal = true;
	walk_raw(path, &s);
	/* then, under the store's lock, move the damaged files aside and write anew */
	struct st_err oerr = {0};
	int rc;
	char tsv[ST_PATH_MAX + 32], tsvbak[ST_PATH_MAX + 40], jr[ST_PATH_MAX + 32],
		jbak[ST_PATH_MAX + 40];
	snprintf(tsv, sizeof tsv, "%s/addrbook.tsv", cfg->data_dir);
	snprintf(tsvbak, sizeof tsvbak, "%s.bak", tsv);
	snprintf(jr, sizeof jr, "%s/addrbook.journal", cfg->data_dir);
	snprintf(jbak, sizeof jbak, "%s.bak", jr);
	if (rename(tsv, tsvbak) < 0 && errno != ENOENT)
		rc = st_err_sys(err, ST_EX_IOERR, "'%s'", tsv);
	else if (rename(jr, jbak) < 0 && errno != ENOENT)
		rc = st_err_sys(err, ST_EX_IOERR, "'%s'", jr);
	else if (st_store_open(&ab->store, cfg->data_dir, "addrbook", ST_ADDRBOOK_FORMAT_VERSION,
	                       ST_STORE_WRITE, &oerr) < 0)
		rc = st_err_set(err, oerr.code, "%s", oerr.msg);
	else
		rc = ab_rewrite(ab, err);
	*kept = st_addrbook_count(ab);
	*lost = s.lost;
	st_addrbook_free(ab);
	return rc < 0 ? -1 : 1;
}
