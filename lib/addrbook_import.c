/* addrbook_import.c - the reference node's JSON address book, and fsck/repair of our files. */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "st/addrbook.h"
#include "st/store.h"
#include "st/util.h"
#include "addrbook_int.h"

#define REFERENCE_FILE_MAX (512L * 1024 * 1024)

/* n decimal digits at s, nothing else. Returns the value or -1. */
static int digits(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static int days_in_month(int y, int mo)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return mo == 2 && leap ? 29 : days[mo - 1];
}

int st_parse_iso8601(const char *s, int64_t *out)
{
	int y = digits(s, 4), mo = -1, d = -1, h = 0, mi = 0, sec = 0;
	if (y < 0 || s[4] != '-' || (mo = digits(s + 5, 2)) < 0 || s[7] != '-' ||
	    (d = digits(s + 8, 2)) < 0)
		return -1;
	const char *p = s + 10;
	if (*p == 'T' || *p == ' ') {
		if ((h = digits(p + 1, 2)) < 0 || p[3] != ':' || (mi = digits(p + 4, 2)) < 0 ||
		    p[6] != ':' || (sec = digits(p + 7, 2)) < 0)
			return -1;
		p += 9;
		if (*p == '.') { /* any number of digits: .NET writes seven */
			if (!isdigit((unsigned char)p[1]))
				return -1;
			for (p++; isdigit((unsigned char)*p); p++)
				;
		}
	}
	long offset = 0;
	if (*p == 'Z') {
		p++;
	} else if (*p == '+' || *p == '-') { /* +HH:MM, +HHMM or +HH */
		int oh = digits(p + 1, 2), om = 0;
		if (oh < 0)
			return -1;
		const char *q = p + 3;
		if (*q == ':') {
			om = digits(q + 1, 2);
			q += 3;
		} else if (isdigit((unsigned char)*q)) {
			om = digits(q, 2);
			q += 2;
		}
		if (om < 0 || oh > 23 || om > 59)
			return -1;
		offset = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
		p = q;
	}
	if (*p || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
	    sec > 60)
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

/*
 * A member of a reference item by name, PascalCase or camelCase or any other
 * case (System.Text.Json reads names case-insensitively). *key receives the
 * name as the file spells it, for messages; pascal when absent.
 */
static json_t *member(json_t *o, const char *pascal, const char **key)
{
	const char *k;
	json_t *v;
	*key = pascal;
	json_object_foreach(o, k, v) {
		if (strcasecmp(k, pascal) == 0) {
			*key = k;
			return v;
		}
	}
	return NULL;
}

/* A JSON value as a message shows it: a string as it is, anything else as JSON. */
static void shown(json_t *v, char *buf, size_t size)
{
	if (json_is_string(v)) {
		snprintf(buf, size, "%s", json_string_value(v));
	} else {
		char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		snprintf(buf, size, "%s", s ? s : "?");
		free(s);
	}
	for (char *c = buf; *c; c++) /* untrusted text: no control bytes on a terminal */
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	if (strlen(buf) == size - 1 && size > 4)
		memcpy(buf + size - 4, "...", 3);
}

/* A time: absent or null is unknown (0), else an ISO 8601 string or Unix seconds. */
static int ref_time(json_t *o, const char *name, int64_t *out, char *why, size_t size)
{
	const char *key;
	json_t *v = member(o, name, &key);
	*out = 0;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_string(v) && st_parse_iso8601(json_string_value(v), out) == 0)
		return 0;
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*out = (int64_t)json_integer_value(v);
		return 0;
	}
	char val[96];
	shown(v, val, sizeof val);
	snprintf(why, size, "%s: bad time '%s'", key, val);
	return -1;
}

/* A count: absent or null is 0, else an integer 0..UINT32_MAX. */
static int ref_count(json_t *o, const char *name, uint32_t *out, char *why, size_t size)
{
	const char *key;
	json_t *v = member(o, name, &key);
	*out = 0;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v) && json_integer_value(v) >= 0 &&
	    json_integer_value(v) <= (json_int_t)UINT32_MAX) {
		*out = (uint32_t)json_integer_value(v);
		return 0;
	}
	char val[96];
	shown(v, val, sizeof val);
	snprintf(why, size, "%s: bad count '%s'", key, val);
	return -1;
}

/* One item of the reference book into in and source; -1 with why naming the field. */
static int ref_item(json_t *o, struct st_addr_entry *in, char *source, size_t source_size,
                    char *why, size_t size)
{
	char val[96];
	const char *akey, *pkey, *skey;
	memset(in, 0, sizeof *in);
	if (!json_is_object(o)) {
		shown(o, val, sizeof val);
		snprintf(why, size, "not an object '%s'", val);
		return -1;
	}
	json_t *addr = member(o, "Address", &akey), *port = member(o, "Port", &pkey);
	if (!addr || json_is_null(addr)) {
		snprintf(why, size, "%s: missing", akey);
		return -1;
	}
	if (!json_is_string(addr) ||
	    st_addr_parse(&in->ep, json_string_value(addr), json_string_length(addr), NULL) < 0) {
		shown(addr, val, sizeof val);
		snprintf(why, size, "%s: bad address '%s'", akey, val);
		return -1;
	}
	if (!port || json_is_null(port)) {
		snprintf(why, size, "%s: missing", pkey);
		return -1;
	}
	if (!json_is_integer(port) || json_integer_value(port) < 1 ||
	    json_integer_value(port) > 65535) {
		shown(port, val, sizeof val);
		snprintf(why, size, "%s: bad port '%s'", pkey, val);
		return -1;
	}
	in->ep.port = (uint16_t)json_integer_value(port);
	if (ref_time(o, "FirstSeen", &in->first_seen, why, size) < 0 ||
	    ref_time(o, "LastSeen", &in->last_seen, why, size) < 0 ||
	    ref_time(o, "LastAttempt", &in->last_attempt, why, size) < 0 ||
	    ref_count(o, "SuccessCount", &in->successes, why, size) < 0 ||
	    ref_count(o, "FailureCount", &in->failures, why, size) < 0)
		return -1;
	in->attempts = in->successes + in->failures;
	if (in->successes && in->last_attempt)
		in->last_success = in->last_attempt; /* the reference keeps no separate time */
	json_t *src = member(o, "Source", &skey);
	if (src && !json_is_null(src) && !json_is_string(src)) {
		shown(src, val, sizeof val);
		snprintf(why, size, "%s: bad source '%s'", skey, val);
		return -1;
	}
	snprintf(source, source_size, "import:%s", json_is_string(src) ? json_string_value(src)
	                                                               : "reference");
	return 0;
}

struct bounded_read {
	FILE *f;
	size_t total;
	bool toobig;
};

static size_t bounded_read(void *buf, size_t len, void *ctx)
{
	struct bounded_read *r = ctx;
	size_t n = fread(buf, 1, len, r->f);
	r->total += n;
	if (r->total > (size_t)REFERENCE_FILE_MAX) {
		r->toobig = true;
		return (size_t)-1;
	}
	return n;
}

static void reject(const struct st_addrbook_import_sink *sink, const char *name, size_t item,
                   const char *why)
{
	if (!sink || !sink->reject)
		return;
	char where[ST_PATH_MAX + 32];
	snprintf(where, sizeof where, "'%s' item %zu", name, item);
	sink->reject(sink->ctx, where, why);
}

int st_addrbook_import_reference(struct st_addrbook *ab, FILE *f, const char *name,
                                 const struct st_addrbook_import_sink *sink, size_t *added,
                                 size_t *rejected, struct st_err *err)
{
	*added = *rejected = 0;
	json_error_t jerr;
	struct bounded_read r = {.f = f};
	json_t *root = json_load_callback(bounded_read, &r, JSON_REJECT_DUPLICATES, &jerr);
	if (r.toobig) {
		json_decref(root);
		return st_err_set(err, ST_EX_DATAERR, "'%s': larger than %ld bytes", name,
		                  REFERENCE_FILE_MAX);
	}
	if (ferror(f)) {
		json_decref(root);
		return st_err_set(err, ST_EX_IOERR, "'%s': read error", name);
	}
	if (!root)
		return st_err_set(err, ST_EX_DATAERR, "'%s' line %d column %d: %s", name, jerr.line,
		                  jerr.column, jerr.text);
	if (!json_is_array(root)) {
		json_decref(root);
		return st_err_set(err, ST_EX_DATAERR, "'%s': expected a JSON array of addresses",
		                  name);
	}
	int64_t now = st_now();
	size_t i, total = json_array_size(root);
	json_t *o;
	json_array_foreach(root, i, o) {
		if (sink && sink->progress)
			sink->progress(sink->ctx, i, total, *added, *rejected);
		struct st_addr_entry in;
		char source[ST_SOURCE_MAX], why[256];
		if (ref_item(o, &in, source, sizeof source, why, sizeof why) < 0) {
			reject(sink, name, i + 1, why);
			(*rejected)++;
			continue;
		}
		enum st_addrbook_verdict v;
		if (st_addrbook_add(ab, &in.ep, source, NULL, in.first_seen ? in.first_seen : now,
		                    &v, NULL, err) < 0) {
			json_decref(root);
			return -1;
		}
		if (v != ST_ADD_ADDED && v != ST_ADD_DUPLICATE) {
			const char *akey;
			char val[96];
			shown(member(o, "Address", &akey), val, sizeof val);
			if (v == ST_ADD_NOT_ROUTABLE || v == ST_ADD_SCOPE)
				snprintf(why, sizeof why, "%s: %s '%s' (%s)", akey,
				         st_addrbook_verdict_name(v), val,
				         st_addr_class_name(st_endpoint_class(&in.ep)));
			else
				snprintf(why, sizeof why, "%s: %s '%s'", akey, st_addrbook_verdict_name(v),
				         val);
			reject(sink, name, i + 1, why);
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
	/* the lock first, held to the end: a writer that got in between the reading
	 * and the moving aside would have its change land in the .bak only */
	struct st_store *held;
	if (st_store_open_wait(&held, cfg->data_dir, "addrbook", ST_ADDRBOOK_FORMAT_VERSION,
	                       ST_STORE_WRITE | ST_STORE_NOLOAD, &cfg->lock, err) < 0) {
		free(ab);
		return -1;
	}
	struct salvage s = {.ab = ab};
	char path[ST_PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/addrbook.tsv", cfg->data_dir);
	s.path = path;
	walk_raw(path, &s);
	snprintf(path, sizeof path, "%s/addrbook.journal", cfg->data_dir);
	s.journal = true;
	walk_raw(path, &s);
	/* still under the lock: move the damaged files aside and write anew (the
	 * salvage above ran with no store, so it wrote nothing) */
	ab->store = held;
	int rc = st_store_move_aside(ab->store, err);
	if (rc == 0)
		rc = ab_rewrite(ab, err);
	*kept = st_addrbook_count(ab);
	*lost = s.lost;
	st_addrbook_free(ab);
	return rc < 0 ? -1 : 1;
}
