/* bans_index.c - a sorted index over the bans snapshot, so a check reads a few lines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st/util.h"
#include "peers_int.h"

/*
 * bans.index (an aux file of the bans table, named for its snapshot gen) lists
 * the byte offset of every snapshot line in target order (byte order of the
 * canonical target; lines of one target in file order), one line of 12 hex
 * digits each, and ends with a seal "end BYTES CRC STAMP": the snapshot body's
 * length, the CRC32C of every index byte before the seal and the snapshot's
 * modification time (ns: an edit by hand, even to the same length, leaves the
 * index stale). Fixed-width lines let a lookup binary-search the index without
 * reading it.
 *
 * The index is derived, so it is never trusted blindly: one that is missing,
 * stale or unsealed is not used (the table is read whole: the same answer,
 * slower), and a search that meets an offset off a line start, or neighbours
 * out of order, tells its caller, which then reads the whole table too.
 */
#define WIDTH 13 /* 12 hex digits and a newline */

struct keyed {
	const char *t; /* the target: the line's first field */
	size_t tl;
	uint64_t off;
};

static int key_cmp(const char *a, size_t al, const char *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	return c ? c : al < bl ? -1 : al > bl;
}

static int keyed_cmp(const void *x, const void *y)
{
	const struct keyed *a = x, *b = y;
	int c = key_cmp(a->t, a->tl, b->t, b->tl);
	return c ? c : a->off < b->off ? -1 : a->off > b->off;
}

/* The seal of an index over store s's snapshot whose bytes before it have CRC crc. */
static int seal_text(char *buf, size_t size, const struct st_store *s, uint64_t snap_len,
                     uint32_t crc)
{
	return snprintf(buf, size, "end %llu %08x %llu", (unsigned long long)snap_len, crc,
	                (unsigned long long)st_store_snapshot_stamp(s));
}

int bans_index_write(struct st_store *s, struct st_err *err)
{
	const char *body;
	size_t len;
	if (st_store_snapshot(s, &body, &len, NULL, err) < 0)
		return -1;
	size_t lines = 0;
	for (const char *p = body; p < body + len && (p = memchr(p, '\n', (size_t)(body + len - p)));
	     p++)
		lines++;
	struct keyed *v = malloc((lines + 1) * sizeof *v);
	if (!v)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	size_t m = 0;
	for (size_t at = 0; at < len;) {
		const char *nl = memchr(body + at, '\n', len - at);
		size_t end = nl ? (size_t)(nl - body) : len;
		const char *tab = memchr(body + at, '\t', end - at);
		char target[ST_BAN_TARGET_MAX + 1];
		struct st_ban b;
		size_t tl = tab ? (size_t)(tab - body) - at : 0;
		/* a line that does not read, or a target in another spelling: no index,
		 * and the loader, which reads every line, decides what it is */
		if (!tl || tl > ST_BAN_TARGET_MAX || m == lines + 1) {
			free(v);
			return 0;
		}
		memcpy(target, body + at, tl);
		target[tl] = '\0';
		if (pb_ban_target_parse(&b, target, NULL) < 0 || strcmp(b.target, target) != 0) {
			free(v);
			return 0;
		}
		v[m++] = (struct keyed){body + at, tl, at};
		at = end + 1;
	}
	qsort(v, m, sizeof *v, keyed_cmp);
	struct st_store_writer *w;
	if (st_store_aux_begin(s, "index", &w, err) < 0) {
		free(v);
		return -1;
	}
	uint32_t crc = 0;
	int rc = 0;
	for (size_t i = 0; i < m && rc == 0; i++) {
		char line[WIDTH + 1];
		snprintf(line, sizeof line, "%012llx\n", (unsigned long long)v[i].off);
		crc = st_crc32c(crc, line, WIDTH);
		rc = st_store_writer_line(w, line, WIDTH - 1, err);
	}
	free(v);
	char seal[80];
	int n = seal_text(seal, sizeof seal, s, len, crc);
	if (rc == 0)
		rc = st_store_writer_line(w, seal, (size_t)n, err);
	if (rc < 0) {
		st_store_rewrite_abort(w);
		return -1;
	}
	return st_store_rewrite_commit(w, err);
}

int bans_index_open(struct bans_index *ix, struct st_store *s, struct st_err *err)
{
	memset(ix, 0, sizeof *ix);
	const char *ib, *body;
	size_t ilen, len;
	int rc = st_store_aux_map(s, "index", &ib, &ilen, err);
	if (rc <= 0)
		return rc;
	if (st_store_snapshot(s, &body, &len, NULL, err) < 0)
		return -1;
	if (ilen < 2 || ib[ilen - 1] != '\n')
		return 0;
	const char *nl = memrchr(ib, '\n', ilen - 1);
	size_t sealed = nl ? (size_t)(nl - ib) + 1 : 0;
	char want[80];
	int n = seal_text(want, sizeof want, s, len, st_crc32c(0, ib, sealed));
	if ((size_t)n + 1 != ilen - sealed || memcmp(ib + sealed, want, (size_t)n) != 0 ||
	    sealed % WIDTH)
		return 0;
	*ix = (struct bans_index){ib, sealed / WIDTH, body, len};
	return 1;
}

/* Entry i: its snapshot line and target; false when the entry is not one. */
static bool entry(const struct bans_index *ix, size_t i, struct keyed *k, size_t *n)
{
	const char *p = ix->ix + i * WIDTH;
	uint64_t off = 0;
	for (int d = 0; d < WIDTH - 1; d++) {
		int c = (unsigned char)p[d], v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (v < 0)
			return false;
		off = off << 4 | (uint64_t)v;
	}
	if (p[WIDTH - 1] != '\n' || off >= ix->len || (off && ix->body[off - 1] != '\n'))
		return false;
	const char *line = ix->body + off;
	const char *nl = memchr(line, '\n', ix->len - off);
	*n = nl ? (size_t)(nl - line) : ix->len - off;
	const char *tab = memchr(line, '\t', *n);
	if (!tab || tab == line)
		return false;
	*k = (struct keyed){line, (size_t)(tab - line), off};
	return true;
}

/* Entry i, checked against its neighbours' order; false when the index is not
 * consistent there. *c: its target against target. */
static bool probe(const struct bans_index *ix, size_t i, const char *target, size_t tl, int *c,
                  const char **line, size_t *n)
{
	struct keyed k, o;
	size_t on;
	if (!entry(ix, i, &k, n))
		return false;
	if (i > 0 && (!entry(ix, i - 1, &o, &on) || keyed_cmp(&o, &k) >= 0))
		return false;
	if (i + 1 < ix->n && (!entry(ix, i + 1, &o, &on) || keyed_cmp(&k, &o) >= 0))
		return false;
	*c = key_cmp(k.t, k.tl, target, tl);
	*line = k.t;
	return true;
}

int bans_index_find(const struct bans_index *ix, const char *target, const char **line,
                    size_t *n)
{
	size_t tl = strlen(target), lo = 0, hi = ix->n;
	int c;
	while (lo < hi) { /* the first entry whose target is not below target */
		size_t mid = lo + (hi - lo) / 2;
		if (!probe(ix, mid, target, tl, &c, line, n))
			return -1;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == ix->n)
		return 0;
	if (!probe(ix, lo, target, tl, &c, line, n))
		return -1;
	if (c != 0)
		return 0;
	/* a target written twice: the last line, as a full load keeps */
	const char *l2;
	size_t n2;
	while (lo + 1 < ix->n) {
		if (!probe(ix, lo + 1, target, tl, &c, &l2, &n2))
			return -1;
		if (c != 0)
			break;
		lo++;
		*line = l2;
		*n = n2;
	}
	return 1;
}
