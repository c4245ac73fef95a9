/* peers_index.c - an index over the peers snapshot by endpoint, so a check reads a few lines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st/util.h"
#include "peers_int.h"

/*
 * peers.index (an aux file of the peers table, named for its snapshot gen) has one
 * line per endpoint of every snapshot line: "KKKKKKKK OOOOOOOOOOOO CCCC", the
 * endpoint's key (CRC32C of its family, port and address bytes, as
 * st_endpoint_equal compares them), the byte offset of its line, and the low 16
 * bits of the CRC32C of the line before them; sorted by key, then offset (file
 * order). Since "k2" each line also has an entry for its node id (its key the CRC32C
 * of the id, seeded apart from the endpoints'), so that a writer applying a few
 * results finds the lines of the ids it touches too. It ends with a seal "end BYTES
 * ENTRIES k2 STAMP": the snapshot body's length, the number of entries, which key
 * function made it and the snapshot's modification time in nanoseconds (an edit by hand, even one keeping
 * the length, leaves the index stale: a partial rewrite trusting it would keep a
 * second line the edit gave one id). Fixed-width lines let a
 * lookup binary-search it without reading it, and each entry carries its own check
 * so that opening it reads no more than its end: a whole-file checksum would have a
 * check of a 1M-peer table read 27 MB (bans.index, 13 bytes a ban, keeps one).
 *
 * As bans.index, it is derived and never trusted blindly: a missing, stale or
 * unsealed one is not used (the table is read whole), and a search that meets an
 * entry out of order, an offset off a line start or a line that does not hold an
 * endpoint of the entry's key tells its caller, which reads the whole table too.
 * Keys may collide: a candidate line is kept only when it holds the endpoint (or has
 * the id) asked.
 */
#define WIDTH 27 /* 8 + 1 + 12 + 1 + 4 hex digits and a newline */
#define CHECKED 22 /* the bytes an entry's check covers: key, offset, their spaces */

#define entry peers_index_entry

uint32_t peers_index_key(const struct st_endpoint *ep)
{
	uint8_t b[19];
	size_t alen = ep->family == ST_AF_INET ? 4 : 16;
	b[0] = ep->family;
	b[1] = (uint8_t)(ep->port >> 8);
	b[2] = (uint8_t)ep->port;
	memcpy(b + 3, ep->addr, alen);
	return st_crc32c(0, b, 3 + alen);
}

#define ID_SEED 0x69640000u /* "id": an id's key apart from an endpoint's */

uint32_t peers_index_id_key(const char *id)
{
	return st_crc32c(ID_SEED, id, strlen(id));
}

static int entry_cmp(const void *x, const void *y)
{
	const struct entry *a = x, *b = y;
	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	return a->off < b->off ? -1 : a->off > b->off;
}

static int seal_text(char *buf, size_t size, const struct st_store *s, uint64_t snap_len,
                     size_t entries)
{
	return snprintf(buf, size, "end %llu %zu k2 %llu", (unsigned long long)snap_len, entries,
	                (unsigned long long)st_store_snapshot_stamp(s));
}

int peers_index_write(struct st_store *s, struct st_err *err)
{
	const char *body;
	size_t len;
	if (st_store_snapshot(s, &body, &len, NULL, err) < 0)
		return -1;
	size_t cap = 1024, m = 0;
	struct entry *v = malloc(cap * sizeof *v);
	if (!v)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	for (size_t at = 0; at < len;) {
		const char *nl = memchr(body + at, '\n', len - at);
		size_t end = nl ? (size_t)(nl - body) : len;
		struct st_peer p;
		/* a line that does not read: no index, and the loader, which reads every
		 * line, says what it is */
		if (pb_peer_parse(&p, body + at, end - at, NULL) < 0) {
			free(v);
			return 0;
		}
		for (size_t k = 0; k <= p.neps; k++) {
			if (m == cap) {
				struct entry *nv = realloc(v, cap * 2 * sizeof *v);
				if (!nv) {
					free(v);
					return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
				}
				v = nv;
				cap *= 2;
			}
			uint32_t key = k < p.neps ? peers_index_key(&p.eps[k]) : peers_index_id_key(p.id);
			v[m++] = (struct entry){key, at};
		}
		at = end + 1;
	}
	int rc = peers_index_write_entries(s, v, m, err);
	free(v);
	return rc;
}

/* n hex digits of v at c (as "%0*x" writes them). */
static void put_hex(char *c, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		c[i] = "0123456789abcdef"[v >> (4 * (n - 1 - i)) & 0xf];
}

/*
 * Sorts v by key, then offset. The writers give their entries in file order, so a
 * stable sort by key is enough: two passes of 16 bits each, not a comparison sort
 * (a million peers' compaction spent a quarter of its time in qsort). Entries not in
 * file order are given to qsort. 0 or -1 (out of memory).
 */
static int sort_entries(struct entry *v, size_t m)
{
	bool in_order = true;
	for (size_t i = 1; i < m && in_order; i++)
		in_order = v[i - 1].off <= v[i].off;
	if (!in_order || m < 4096) {
		qsort(v, m, sizeof *v, entry_cmp);
		return 0;
	}
	struct entry *t = malloc(m * sizeof *t);
	size_t *count = malloc(65536 * sizeof *count);
	if (!t || !count) {
		free(t);
		free(count);
		return -1;
	}
	struct entry *from = v, *to = t;
	for (int shift = 0; shift < 32; shift += 16) {
		memset(count, 0, 65536 * sizeof *count);
		for (size_t i = 0; i < m; i++)
			count[from[i].key >> shift & 0xffff]++;
		size_t at = 0;
		for (size_t d = 0; d < 65536; d++) {
			size_t c = count[d];
			count[d] = at;
			at += c;
		}
		for (size_t i = 0; i < m; i++)
			to[count[from[i].key >> shift & 0xffff]++] = from[i];
		struct entry *x = from;
		from = to;
		to = x;
	}
	/* two passes: the sorted entries are back in v */
	free(t);
	free(count);
	return 0;
}

int peers_index_write_entries(struct st_store *s, struct entry *v, size_t m, struct st_err *err)
{
	const char *body;
	size_t len;
	if (st_store_snapshot(s, &body, &len, NULL, err) < 0)
		return -1;
	if (m && sort_entries(v, m) < 0)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	struct st_store_writer *w;
	if (st_store_aux_begin(s, "index", &w, err) < 0)
		return -1;
	size_t written = 0;
	int rc = 0;
	for (size_t i = 0; i < m && rc == 0; i++) {
		/* one endpoint listed twice on a line: one entry */
		if (i && v[i].key == v[i - 1].key && v[i].off == v[i - 1].off)
			continue;
		/* "%08x %012llx %04x\n", the last the check of what comes before it */
		char line[WIDTH + 1];
		put_hex(line, v[i].key, 8);
		line[8] = ' ';
		put_hex(line + 9, v[i].off, 12);
		line[CHECKED - 1] = ' ';
		put_hex(line + CHECKED, st_crc32c(0, line, CHECKED) & 0xffff, 4);
		line[WIDTH - 1] = '\n';
		rc = st_store_writer_line(w, line, WIDTH - 1, err);
		written++;
	}
	char seal[80];
	int n = seal_text(seal, sizeof seal, s, len, written);
	if (rc == 0)
		rc = st_store_writer_line(w, seal, (size_t)n, err);
	if (rc < 0) {
		st_store_rewrite_abort(w);
		return -1;
	}
	return st_store_rewrite_commit(w, err);
}

int peers_index_open(struct peers_index *ix, struct st_store *s, struct st_err *err)
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
	if (sealed % WIDTH)
		return 0;
	char want[80];
	int n = seal_text(want, sizeof want, s, len, sealed / WIDTH);
	if ((size_t)n + 1 != ilen - sealed || memcmp(ib + sealed, want, (size_t)n) != 0)
		return 0;
	*ix = (struct peers_index){ib, sealed / WIDTH, body, len};
	return 1;
}

static int hex(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Entry i; false when it is not one. */
static bool entry_at(const struct peers_index *ix, size_t i, struct entry *e)
{
	const char *p = ix->ix + i * WIDTH;
	uint64_t key = 0, off = 0;
	for (int d = 0; d < 8; d++) {
		int v = hex((unsigned char)p[d]);
		if (v < 0)
			return false;
		key = key << 4 | (uint64_t)v;
	}
	for (int d = 9; d < CHECKED - 1; d++) {
		int v = hex((unsigned char)p[d]);
		if (v < 0)
			return false;
		off = off << 4 | (uint64_t)v;
	}
	unsigned check = 0;
	for (int d = CHECKED; d < WIDTH - 1; d++) {
		int v = hex((unsigned char)p[d]);
		if (v < 0)
			return false;
		check = check << 4 | (unsigned)v;
	}
	if (p[8] != ' ' || p[CHECKED - 1] != ' ' || p[WIDTH - 1] != '\n' ||
	    check != (st_crc32c(0, p, CHECKED) & 0xffff) || off >= ix->len ||
	    (off && ix->body[off - 1] != '\n'))
		return false;
	*e = (struct entry){(uint32_t)key, off};
	return true;
}

/* Entry i, checked against its neighbours' order; false when the index is not
 * consistent there. */
static bool probe(const struct peers_index *ix, size_t i, struct entry *e)
{
	struct entry o;
	if (!entry_at(ix, i, e))
		return false;
	if (i > 0 && (!entry_at(ix, i - 1, &o) || entry_cmp(&o, e) >= 0))
		return false;
	if (i + 1 < ix->n && (!entry_at(ix, i + 1, &o) || entry_cmp(e, &o) >= 0))
		return false;
	return true;
}

/* Calls fn on every snapshot line whose entry is key and that holds ep (ep) or has id
 * (id), in file order; as peers_index_each. */
static int each_key(const struct peers_index *ix, uint32_t key, const struct st_endpoint *ep,
                    const char *id, size_t *from, peers_index_fn fn, void *ctx,
                    struct st_err *err)
{
	size_t lo = from ? *from : 0, hi = ix->n;
	struct entry e;
	/* from a search for a smaller key: every entry before lo is below key, and the
	 * next ones are near, so the window is found by doubling steps first */
	for (size_t step = 1; from && lo < hi; step *= 2) {
		size_t at = lo + step - 1;
		if (at >= hi)
			break;
		if (!probe(ix, at, &e))
			return 1;
		if (e.key >= key) {
			hi = at;
			break;
		}
		lo = at + 1;
	}
	while (lo < hi) { /* the first entry whose key is not below key */
		size_t mid = lo + (hi - lo) / 2;
		if (!probe(ix, mid, &e))
			return 1;
		if (e.key < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (from)
		*from = lo;
	for (; lo < ix->n; lo++) {
		if (!probe(ix, lo, &e))
			return 1;
		if (e.key != key)
			break;
		const char *line = ix->body + e.off;
		const char *nl = memchr(line, '\n', ix->len - e.off);
		size_t n = nl ? (size_t)(nl - line) : ix->len - (size_t)e.off;
		struct st_peer p;
		if (pb_peer_parse(&p, line, n, NULL) < 0)
			return 1;
		bool keyed = peers_index_id_key(p.id) == key, held = false;
		for (size_t k = 0; k < p.neps; k++) {
			keyed = keyed || peers_index_key(&p.eps[k]) == key;
			held = held || (ep && st_endpoint_equal(&p.eps[k], ep));
		}
		held = held || (id && strcmp(p.id, id) == 0);
		if (!keyed)
			return 1; /* the entry names a line that has no endpoint or id of its key */
		if (held && fn(ctx, line, n, err) < 0)
			return -1;
	}
	return 0;
}

int peers_index_each(const struct peers_index *ix, const struct st_endpoint *ep,
                     peers_index_fn fn, void *ctx, struct st_err *err)
{
	return each_key(ix, peers_index_key(ep), ep, NULL, NULL, fn, ctx, err);
}

int peers_index_each_from(const struct peers_index *ix, const struct st_endpoint *ep,
                          const char *id, size_t *from, peers_index_fn fn, void *ctx,
                          struct st_err *err)
{
	if (id)
		return each_key(ix, peers_index_id_key(id), NULL, id, from, fn, ctx, err);
	return ep ? each_key(ix, peers_index_key(ep), ep, NULL, from, fn, ctx, err) : 0;
}
