/* peers_line.c - the lines of the peers and bans tables: each read and written by hand,
 * since a load or a compaction of a million-peer table reads or writes a million of them. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st/identity.h"
#include "st/peers.h"
#include "st/util.h"
#include "peers_int.h"

/* The latest time a table may hold: 9999-12-31T23:59:59Z, the last ISO 8601 date. */
#define TIME_MAX INT64_C(253402300799)

/* A field that does not read: damage (65), whatever the parser called it. */
static int damage(struct st_err *err, const char *what)
{
	st_err_prefix(err, "%s", what);
	if (err)
		err->code = ST_EX_DATAERR;
	return -1;
}

/* Whether a certificate could prove id: only a canonical st1 id is derived
 * from a key (st-protocol(7)); anything else verified is a lie. */
bool pb_provable_id(const char *id)
{
	char canon[ST_ID_STRLEN];
	return st_identity_id_parse(id, strlen(id), canon, sizeof canon, NULL) == 0 &&
	       strcmp(canon, id) == 0;
}

/* Appends s (n bytes) at c; returns the end. */
static char *put(char *c, const char *s, size_t n)
{
	memcpy(c, s, n);
	return c + n;
}

/* Appends a tab and v in decimal ("\t%" PRId64). */
static char *put_int(char *c, int64_t v)
{
	char d[24];
	const char *t = st_u64_digits(v < 0 ? 0 - (uint64_t)v : (uint64_t)v, 10, d, sizeof d);
	*c++ = '\t';
	if (v < 0)
		*c++ = '-';
	return put(c, t, (size_t)(d + sizeof d - 1 - t));
}

/* A peer's table line, as snprintf(buf, size, "%s\t%" PRId64 "\t...") would write it (and
 * return), by hand: a compaction and its index write a million of them. */
size_t pb_peer_format(const struct st_peer *p, char *buf, size_t size)
{
	char line[ST_NODE_ID_MAX + 11 * 24 + ST_PEER_ENDPOINTS * (ST_ENDPOINT_STRLEN + 1) + ST_UA_MAX + 8];
	char *c = put(line, p->id, strnlen(p->id, ST_NODE_ID_MAX));
	c = put_int(c, p->first_seen);
	c = put_int(c, p->last_seen);
	c = put_int(c, p->reputation);
	c = put_int(c, p->successes);
	c = put_int(c, p->failures);
	c = put_int(c, p->consecutive_failures);
	c = put_int(c, p->version);
	c = put_int(c, p->verified ? 1 : 0);
	*c++ = '\t';
	for (size_t i = 0; i < p->neps; i++) {
		if (i)
			*c++ = ',';
		c += st_endpoint_format(&p->eps[i], c, ST_ENDPOINT_STRLEN + 1);
	}
	if (!p->neps)
		*c++ = '-';
	*c++ = '\t';
	if (p->user_agent[0])
		c = put(c, p->user_agent, strnlen(p->user_agent, ST_UA_MAX));
	else
		*c++ = '-';
	size_t n = (size_t)(c - line);
	if (size) {
		size_t k = n < size - 1 ? n : size - 1;
		memcpy(buf, line, k);
		buf[k] = '\0';
	}
	return n;
}

static int split(char *line, char **f, int max)
{
	int n = 0;
	while (n < max) {
		f[n++] = line;
		char *t = n < max ? strchr(line, '\t') : NULL;
		if (!t)
			break;
		*t = '\0';
		line = t + 1;
	}
	return n;
}

/* split's cut of line (len bytes and a NUL) in one pass over it, not a strchr a field:
 * as strchr, a NUL ends the search for tabs. */
static int split_len(char *line, size_t len, char **f, int max)
{
	int n = 0;
	f[n++] = line;
	for (size_t i = 0; i < len && n < max; i++) {
		if (line[i] == '\0')
			break;
		if (line[i] == '\t') {
			line[i] = '\0';
			f[n++] = line + i + 1;
		}
	}
	return n;
}

/* st_parse_i64's reading of a field of at most 18 digits (after an optional '-') within
 * min..max, without strtoll: true with *out set; false for anything else, which the
 * caller gives st_parse_i64 (the same verdict, and its message). */
static bool quick_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	bool neg = *s == '-';
	const char *d = s + neg;
	int64_t v = 0;
	size_t n = 0;
	for (; d[n] >= '0' && d[n] <= '9'; n++)
		v = v * 10 + (d[n] - '0');
	if (!n || n > 18 || d[n])
		return false;
	v = neg ? -v : v;
	if (v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* A line into buf, NUL-terminated, for its fields to be cut in place; -1 when too long. */
static int copy_line(char *buf, size_t size, const char *line, size_t len, struct st_err *err)
{
	if (len >= size) {
		st_err_set(err, ST_EX_DATAERR, "line too long");
		return -1; /* said outright: the analyzer cannot see st_err_set's -1 */
	}
	memcpy(buf, line, len);
	buf[len] = '\0';
	return 0;
}

int pb_peer_parse(struct st_peer *p, const char *line, size_t len, struct st_err *err)
{
	char buf[1024];
	if (copy_line(buf, sizeof buf, line, len, err) < 0)
		return -1;
	char *f[11];
	if (split_len(buf, len, f, 11) != 11)
		return st_err_set(err, ST_EX_DATAERR, "expected 11 fields");
	memset(p, 0, sizeof *p);
	if (!st_node_id_valid(f[0], strlen(f[0])))
		return st_err_set(err, ST_EX_DATAERR, "bad node id");
	strcpy(p->id, f[0]);
	/* each number in its field's own range: the casts below keep every value that passes
	 * (times and verified are checked again after, with their own messages) */
	static const int64_t lo[8] = {INT32_MIN, INT32_MIN, INT32_MIN, 0, 0, 0, INT32_MIN, INT32_MIN};
	static const int64_t hi[8] = {INT64_MAX / 2, INT64_MAX / 2, INT32_MAX, UINT32_MAX,
	                              UINT32_MAX,    UINT32_MAX,    INT32_MAX, INT64_MAX / 2};
	int64_t v[8];
	for (int i = 0; i < 8; i++)
		if (!quick_i64(f[1 + i], lo[i], hi[i], &v[i]) &&
		    st_parse_i64(f[1 + i], lo[i], hi[i], &v[i], err) < 0)
			return damage(err, (const char *[]){"first_seen", "last_seen", "reputation",
			                                    "successes", "failures", "consecutive_failures",
			                                    "version", "verified"}[i]);
	if (v[0] < 0 || v[0] > TIME_MAX || v[1] < 0 || v[1] > TIME_MAX)
		return st_err_set(err, ST_EX_DATAERR, "a time before 1970 or after 9999");
	if (v[7] != 0 && v[7] != 1)
		return st_err_set(err, ST_EX_DATAERR, "verified must be 0 or 1");
	if (v[7] && !pb_provable_id(f[0]))
		return st_err_set(err, ST_EX_DATAERR,
		                  "'%s' marked verified, but no certificate proves an id like it", f[0]);
	p->first_seen = v[0];
	p->last_seen = v[1];
	p->reputation = (int32_t)v[2];
	p->successes = (uint32_t)v[3];
	p->failures = (uint32_t)v[4];
	p->consecutive_failures = (uint32_t)v[5];
	p->version = (int32_t)v[6];
	p->verified = v[7] != 0;
	if (strcmp(f[9], "-") != 0) {
		for (char *save = NULL, *t = strtok_r(f[9], ",", &save); t && p->neps < ST_PEER_ENDPOINTS;
		     t = strtok_r(NULL, ",", &save))
			if (st_endpoint_parse(&p->eps[p->neps], t, strlen(t), err) == 0)
				p->neps++;
			else
				return damage(err, "endpoints");
	}
	st_strlcpy(p->user_agent, strcmp(f[10], "-") ? f[10] : "", sizeof p->user_agent);
	return 0;
}

size_t pb_ban_format(const struct st_ban *b, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s\t%" PRId64 "\t%" PRId64 "\t%s\t%s", b->target, b->created,
	                 b->expires, b->automatic ? "automatic" : "manual",
	                 b->reason[0] ? b->reason : "-");
	return n < 0 ? 0 : (size_t)n;
}

/* Parses a ban's target: a node id, an address, or ADDR/BITS. Returns 0 or -1. */
int pb_ban_target_parse(struct st_ban *b, const char *target, struct st_err *err)
{
	memset(b, 0, sizeof *b);
	size_t len = strlen(target);
	if (!len || len > ST_BAN_TARGET_MAX)
		return st_err_set(err, ST_EX_DATAERR, "'%s': not a node id, address or subnet", target);
	/* dotted digits or anything with a colon is an address or subnet; the rest an id */
	bool looks_v4 = strchr(target, '.') && strspn(target, "0123456789./") == len;
	if (looks_v4 || strchr(target, ':')) {
		if (st_cidr_parse(&b->net, target, len, err) < 0)
			return -1;
		b->is_net = true;
	} else {
		for (size_t i = 0; i < len; i++) {
			char c = target[i];
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			      c == '.' || c == '_' || c == '-'))
				return st_err_set(err, ST_EX_DATAERR, "'%s': not a node id, address or subnet",
				                  target);
		}
	}
	if (b->is_net) /* one spelling per ban: the canonical form */
		st_cidr_format(&b->net, b->target, sizeof b->target);
	else
		st_strlcpy(b->target, target, sizeof b->target);
	return 0;
}

int pb_ban_parse(struct st_ban *b, const char *line, size_t len, struct st_err *err)
{
	char buf[512];
	if (copy_line(buf, sizeof buf, line, len, err) < 0)
		return -1;
	char *f[5];
	if (split(buf, f, 5) != 5)
		return st_err_set(err, ST_EX_DATAERR, "expected 5 fields");
	if (pb_ban_target_parse(b, f[0], err) < 0)
		return damage(err, "target");
	if (st_parse_i64(f[1], 0, TIME_MAX, &b->created, err) < 0)
		return damage(err, "created");
	if (st_parse_i64(f[2], 0, TIME_MAX, &b->expires, err) < 0)
		return damage(err, "expires");
	if (b->expires && b->expires < b->created) /* st_bans_add never writes one */
		return st_err_set(err, ST_EX_DATAERR, "a ban that expires before it was made");
	if (strcmp(f[3], "automatic") && strcmp(f[3], "manual"))
		return st_err_set(err, ST_EX_DATAERR, "origin must be manual or automatic");
	b->automatic = f[3][0] == 'a';
	st_strlcpy(b->reason, strcmp(f[4], "-") ? f[4] : "", sizeof b->reason);
	return 0;
}
