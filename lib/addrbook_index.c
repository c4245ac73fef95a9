/* addrbook_index.c - reading a book lazily: binary search, the rank and age indexes, scans. */
#include <stdlib.h>
#include <string.h>

#include "st/addrbook.h"
#include "st/store.h"
#include "st/util.h"
#include "addrbook_int.h"

/*
 * A format-2 snapshot is sorted in book order (ab_key_cmp), so one entry is a
 * binary search away. Two derived files, rewritten with every snapshot and
 * named for its gen, list the entries queries walk from one end:
 *   addrbook.rank  by base chance, best first: what `best` needs
 *   addrbook.age   unpinned entries by last_seen, oldest first: what `prune` needs
 * Each lists the first INDEX_TOP entries of its order, as byte offsets of their
 * snapshot lines, after a line "rest OFFSET" naming the next entry in that
 * order (every entry not listed orders at or after it) or "rest none", and ends
 * with a seal "end BYTES CRC STAMP": the snapshot body's length, the CRC32C of
 * every index byte before the seal and the snapshot's modification time in
 * nanoseconds (a snapshot edited by hand, even to the same length, leaves its
 * index stale). A query that walks past the listed part reads the whole book
 * instead.
 *
 * Nothing derived is trusted blindly: an index without its seal, or whose walk
 * meets an offset off a line start or an entry out of the index's order, is
 * not used (the query loads the whole book: the same answer, slower), and a
 * binary search that meets snapshot lines out of order reports damage rather
 * than "not found".
 */
#define INDEX_TOP 65536

static int damaged(struct st_addrbook *ab, size_t off, const char *what, struct st_err *err)
{
	st_err_set(err, ST_EX_DATAERR, "%s: %s at byte %zu", st_store_path(ab->store), what, off);
	return ab_damaged_hint(err);
}

/* The sort key of a stored line: its endpoint and pinned flag (field 10). */
static int line_key(const char *line, size_t len, struct st_endpoint *ep, bool *pinned)
{
	const char *end = line + len;
	const char *tab = memchr(line, '\t', len);
	if (!tab || st_endpoint_parse(ep, line, (size_t)(tab - line), NULL) < 0)
		return -1;
	for (int i = 0; i < 8 && tab; i++) /* to the tab before field 10 */
		tab = memchr(tab + 1, '\t', (size_t)(end - tab - 1));
	if (!tab || end - tab < 2)
		return -1;
	*pinned = tab[1] == '1';
	return 0;
}

/* The line of body that starts at start: its length (to the newline or the end). */
static size_t line_len(const char *body, size_t len, size_t start)
{
	const char *nl = memchr(body + start, '\n', len - start);
	return nl ? (size_t)(nl - body) - start : len - start;
}

/*
 * True when the lines either side of the line at [start, end) order before
 * and after its key: a search step checks the neighbours it lands between, so
 * lines out of order on the search's path are found instead of steering the
 * search past the entry it looks for. A neighbour that does not parse is left
 * to the step that lands on it.
 */
static bool neighbours_in_order(const char *body, size_t len, size_t start, size_t end,
                                bool pinned, const struct st_endpoint *ep)
{
	struct st_endpoint nep;
	bool npin;
	if (start > 0) {
		const char *nl = start > 1 ? memrchr(body, '\n', start - 1) : NULL;
		size_t ps = nl ? (size_t)(nl - body) + 1 : 0;
		if (line_key(body + ps, start - 1 - ps, &nep, &npin) == 0 &&
		    ab_key_cmp(npin, &nep, pinned, ep) >= 0)
			return false;
	}
	if (end + 1 < len && line_key(body + end + 1, line_len(body, len, end + 1), &nep, &npin) == 0 &&
	    ab_key_cmp(pinned, ep, npin, &nep) >= 0)
		return false;
	return true;
}

/*
 * Finds the line of (pinned, ep) in a sorted body: 1 with *line and *n set,
 * 0 when absent, -1 on a line that does not parse and -2 on lines out of order
 * (*line points at it).
 */
static int snap_search(const char *body, size_t len, const struct st_endpoint *ep, bool pinned,
                       const char **line, size_t *n)
{
	size_t lo = 0, hi = len; /* both on line starts; the line, if any, starts in [lo, hi) */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *nl = mid > lo ? memrchr(body + lo, '\n', mid - lo) : NULL;
		size_t start = nl ? (size_t)(nl - body) + 1 : lo;
		size_t end = start + line_len(body, len, start);
		struct st_endpoint lep;
		bool lpin;
		*line = body + start;
		*n = end - start;
		if (line_key(body + start, end - start, &lep, &lpin) < 0)
			return -1;
		if (!neighbours_in_order(body, len, start, end, lpin, &lep))
			return -2;
		int c = ab_key_cmp(lpin, &lep, pinned, ep);
		if (c == 0)
			return 1;
		if (c < 0)
			lo = end + 1;
		else
			hi = start;
	}
	return 0;
}

int ab_find(struct st_addrbook *ab, const struct st_endpoint *ep, struct st_addr_entry **out,
            struct st_err *err)
{
	*out = ab_lookup(ab, ep);
	if (*out || !ab->lazy)
		return 0;
	const char *body;
	size_t len;
	if (st_store_snapshot(ab->store, &body, &len, NULL, err) < 0)
		return -1;
	for (int pinned = 1; pinned >= 0; pinned--) {
		const char *line;
		size_t n;
		int rc = snap_search(body, len, ep, pinned, &line, &n);
		if (rc == 0)
			continue;
		if (rc == -2)
			return damaged(ab, (size_t)(line - body), "entries out of order", err);
		struct st_addr_entry e;
		char source[ST_SOURCE_MAX];
		if (rc < 0 || st_addr_entry_parse(&e, source, sizeof source, line, n, NULL) < 0)
			return damaged(ab, (size_t)(line - body), "damaged entry", err);
		*out = ab_adopt(ab, &e, source, err);
		return *out ? 0 : -1;
	}
	return 0;
}

/* ---- writing the indexes ---- */

struct keyed {
	double key;   /* the rank's base chance, or the age's last_seen */
	uint32_t pos; /* snapshot line */
	uint32_t tie; /* the rank's: the top of ab_tie_hash, so most ties need no hashing */
};

/* An index's order, with what it needs to break ties. */
struct order {
	const struct st_addr_entry *e;
	const uint32_t *slot; /* snapshot line -> index into e; NULL: e is in line order */
	bool rank;
};

static const struct st_addr_entry *order_entry(const struct order *o, uint32_t pos)
{
	return &o->e[o->slot ? o->slot[pos] : pos];
}

static int keyed_cmp(const void *a, const void *b, void *arg)
{
	const struct keyed *x = a, *y = b;
	const struct order *o = arg;
	if (o->rank) { /* exactly best's order: a walk down it may stop at any line */
		if (x->key != y->key)
			return x->key > y->key ? -1 : 1;
		const struct st_addr_entry *ex = order_entry(o, x->pos), *ey = order_entry(o, y->pos);
		if (ex->last_success == ey->last_success && x->tie != y->tie)
			return x->tie < y->tie ? -1 : 1; /* the tie hashes' top bits decide */
		return ab_rank_cmp(x->key, ex, y->key, ey);
	}
	if (x->key != y->key) /* oldest first; ties in any fixed order */
		return x->key < y->key ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static void keyed_swap(struct keyed *a, struct keyed *b)
{
	struct keyed t = *a;
	*a = *b;
	*b = t;
}

/* Quickselect: afterwards v[k] is the k-th smallest, with smaller ones before it.
 * Linear on average, where sorting a million entries to list 65,536 is not. */
static void select_kth(struct keyed *v, size_t n, size_t k, const struct order *o)
{
	size_t lo = 0, hi = n;
	while (hi - lo > 2) {
		size_t mid = lo + (hi - lo) / 2, last = hi - 1;
		/* median of three into v[last] as the pivot */
		if (keyed_cmp(&v[mid], &v[lo], (void *)o) < 0)
			keyed_swap(&v[mid], &v[lo]);
		if (keyed_cmp(&v[last], &v[lo], (void *)o) < 0)
			keyed_swap(&v[last], &v[lo]);
		if (keyed_cmp(&v[mid], &v[last], (void *)o) < 0)
			keyed_swap(&v[mid], &v[last]);
		size_t store = lo;
		for (size_t i = lo; i < last; i++)
			if (keyed_cmp(&v[i], &v[last], (void *)o) < 0)
				keyed_swap(&v[i], &v[store++]);
		keyed_swap(&v[store], &v[last]);
		if (store == k)
			return;
		if (store < k)
			lo = store + 1;
		else
			hi = store;
	}
	if (hi - lo == 2 && keyed_cmp(&v[lo + 1], &v[lo], (void *)o) < 0)
		keyed_swap(&v[lo], &v[lo + 1]);
}

/* What a seal ties an index to: its snapshot's body length and modification time. */
struct snap_mark {
	uint64_t len, stamp;
};

/* The text of a seal over index bytes whose CRC32C is crc (see the top of this file). */
static int seal_text(char *buf, size_t size, struct snap_mark mark, uint32_t crc)
{
	return snprintf(buf, size, "end %llu %08x %llu\n", (unsigned long long)mark.len, crc,
	                (unsigned long long)mark.stamp);
}

/* The seal that ends an index. */
static int seal(struct st_buf *b, struct snap_mark mark, struct st_err *err)
{
	char text[80];
	int n = seal_text(text, sizeof text, mark, st_crc32c(0, b->data, b->len));
	return st_buf_append(b, text, (size_t)n, err);
}

/* The body of one index (after its header) over m keyed entries, into b. */
static int index_image(struct st_buf *b, struct keyed *v, size_t m, const struct order *o,
                       const uint64_t *off, struct snap_mark mark, struct st_err *err)
{
	size_t top = m;
	if (m > INDEX_TOP) {
		top = INDEX_TOP;
		select_kth(v, m, top, o);
	}
	qsort_r(v, top, sizeof *v, keyed_cmp, (void *)o);
	st_buf_reset(b);
	int rc = top < m ? st_buf_printf(b, err, "rest %llu\n", (unsigned long long)off[v[top].pos])
	                 : st_buf_printf(b, err, "rest none\n");
	char digits[24];
	for (size_t i = 0; i < top && rc == 0; i++) {
		const char *d = st_u64_digits(off[v[i].pos], 10, digits, sizeof digits);
		digits[sizeof digits - 1] = '\n'; /* the digits end at the buffer's end */
		rc = st_buf_append(b, d, (size_t)(digits + sizeof digits - d), err);
	}
	return rc < 0 ? -1 : seal(b, mark, err);
}

/*
 * Both indexes of m snapshot lines (the entry of line i is order_entry(base, i),
 * at body offset off[i]) into rank and age.
 */
static int index_images(const struct order *base, size_t m, const uint64_t *off,
                        struct snap_mark mark, struct st_buf *rank, struct st_buf *age,
                        struct st_err *err)
{
	struct keyed *v = malloc((m ? m : 1) * sizeof *v);
	if (!v)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	struct order ro = *base, ao = *base;
	ro.rank = true;
	ao.rank = false;
	for (size_t i = 0; i < m; i++) {
		const struct st_addr_entry *e = order_entry(base, (uint32_t)i);
		v[i] = (struct keyed){ab_base_chance(e), (uint32_t)i,
		                      (uint32_t)(ab_tie_hash(&e->ep) >> 32)};
	}
	int rc = index_image(rank, v, m, &ro, off, mark, err);
	size_t k = 0;
	for (size_t i = 0; i < m; i++) { /* pinned entries are never pruned */
		const struct st_addr_entry *e = order_entry(base, (uint32_t)i);
		if (!e->pinned)
			v[k++] = (struct keyed){(double)e->last_seen, (uint32_t)i, 0};
	}
	if (rc == 0)
		rc = index_image(age, v, k, &ao, off, mark, err);
	free(v);
	return rc;
}

#define IMAGE_MAX ((size_t)(INDEX_TOP + 2) * 24 + 64)

static int write_image(struct st_addrbook *ab, const char *name, const struct st_buf *b,
                       struct st_err *err)
{
	struct st_store_writer *w;
	if (st_store_aux_begin(ab->store, name, &w, err) < 0)
		return -1;
	int rc = 0;
	for (size_t at = 0; at < b->len && rc == 0;) {
		const char *nl = memchr(b->data + at, '\n', b->len - at);
		size_t n = (size_t)(nl - b->data) - at;
		rc = st_store_writer_line(w, b->data + at, n, err);
		at += n + 1;
	}
	if (rc < 0) {
		st_store_rewrite_abort(w);
		return -1;
	}
	return st_store_rewrite_commit(w, err);
}

static struct snap_mark snapshot_mark(struct st_addrbook *ab)
{
	const char *body;
	size_t len;
	if (st_store_snapshot(ab->store, &body, &len, NULL, NULL) < 0)
		len = 0;
	return (struct snap_mark){len, st_store_snapshot_stamp(ab->store)};
}

int ab_write_indexes(struct st_addrbook *ab, const uint32_t *order, const uint64_t *off, size_t m,
                     struct st_err *err)
{
	struct st_buf rank, age;
	st_buf_init(&rank, IMAGE_MAX);
	st_buf_init(&age, IMAGE_MAX);
	struct order base = {ab->e, order, false};
	int rc = index_images(&base, m, off, snapshot_mark(ab), &rank, &age, err);
	if (rc == 0)
		rc = write_image(ab, "rank", &rank, err);
	if (rc == 0)
		rc = write_image(ab, "age", &age, err);
	st_buf_clear(&rank);
	st_buf_clear(&age);
	return rc;
}

/* ---- reading them ---- */

/* One decimal line of an index; false when it is not one. */
static bool index_number(struct ab_index *ix, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = ix->p;
	while (p < ix->end && *p >= '0' && *p <= '9' && v < UINT64_MAX / 10)
		v = v * 10 + (uint64_t)(*p++ - '0');
	if (p == ix->p || p == ix->end || *p != '\n')
		return false;
	ix->p = p + 1;
	*out = v;
	return true;
}

/* True when body ends with a seal that holds for it and for the snapshot marked so;
 * *sealed is the length before the seal. */
static bool index_sealed(const char *body, size_t len, struct snap_mark mark, size_t *sealed)
{
	if (len < 2 || body[len - 1] != '\n')
		return false;
	const char *nl = memrchr(body, '\n', len - 1);
	size_t start = nl ? (size_t)(nl - body) + 1 : 0;
	char want[80];
	int n = seal_text(want, sizeof want, mark, st_crc32c(0, body, start));
	if ((size_t)n != len - start || memcmp(body + start, want, (size_t)n) != 0)
		return false;
	*sealed = start;
	return true;
}

int ab_index_open(struct ab_index *ix, struct st_addrbook *ab, const char *name,
                  struct st_err *err)
{
	const char *body;
	size_t len, sealed;
	memset(ix, 0, sizeof *ix);
	ix->rank = strcmp(name, "rank") == 0;
	int rc = st_store_aux_map(ab->store, name, &body, &len, err);
	if (rc <= 0)
		return rc;
	if (!index_sealed(body, len, snapshot_mark(ab), &sealed))
		return 0;
	ix->p = body;
	ix->end = body + sealed;
	if (sealed < 10 || memcmp(body, "rest ", 5) != 0)
		return 0;
	ix->p += 5;
	ix->has_rest = memcmp(ix->p, "none\n", 5) != 0;
	if (!ix->has_rest)
		ix->p += 5;
	else if (!index_number(ix, &ix->rest))
		return 0;
	return 1;
}

/* Parses the snapshot line at body offset off: 1, or -1 when there is none. */
static int stored_at(struct st_addrbook *ab, uint64_t off, struct st_addr_entry *e, char *source,
                     size_t source_size)
{
	const char *body;
	size_t len;
	if (st_store_snapshot(ab->store, &body, &len, NULL, NULL) < 0 || off >= len ||
	    (off && body[off - 1] != '\n'))
		return -1;
	const char *nl = memchr(body + off, '\n', len - off);
	if (!nl)
		return -1;
	return st_addr_entry_parse(e, source, source_size, body + off, (size_t)(nl - body) - off,
	                           NULL) < 0 ? -1 : 1;
}

/* True when e, at body offset off, orders after the entry the walk read before
 * it, as the index claims (rank: best first; age: unpinned, oldest first, ties
 * in snapshot order). */
static bool index_in_order(struct ab_index *ix, const struct st_addr_entry *e, uint64_t off)
{
	if (!ix->rank && e->pinned)
		return false;
	if (ix->have_prev) {
		const struct st_addr_entry *p = &ix->prev;
		if (ix->rank ? ab_rank_cmp(ab_base_chance(p), p, ab_base_chance(e), e) >= 0
		             : (double)e->last_seen < (double)p->last_seen ||
		                   ((double)e->last_seen == (double)p->last_seen && off <= ix->prev_off))
			return false;
	}
	ix->prev = *e;
	ix->prev_off = off;
	ix->have_prev = true;
	return true;
}

/* The entry at off, checked against the walk's order: 1, or -1. */
static int index_entry(struct ab_index *ix, struct st_addrbook *ab, uint64_t off,
                       struct st_addr_entry *e, char *source, size_t source_size)
{
	if (stored_at(ab, off, e, source, source_size) < 0 || !index_in_order(ix, e, off))
		return -1;
	return 1;
}

int ab_index_next(struct ab_index *ix, struct st_addrbook *ab, struct st_addr_entry *e,
                  char *source, size_t source_size)
{
	uint64_t off;
	if (ix->p >= ix->end)
		return 0;
	if (!index_number(ix, &off))
		return -1;
	return index_entry(ix, ab, off, e, source, source_size);
}

int ab_index_rest(struct ab_index *ix, struct st_addrbook *ab, struct st_addr_entry *e,
                  char *source, size_t source_size)
{
	return ix->has_rest ? index_entry(ix, ab, ix->rest, e, source, source_size) : 0;
}

bool ab_index_confirm(struct ab_index *ix, struct st_addrbook *ab)
{
	struct st_addr_entry e;
	char source[ST_SOURCE_MAX];
	int rc = ab_index_next(ix, ab, &e, source, sizeof source);
	if (rc == 0)
		rc = ab_index_rest(ix, ab, &e, source, sizeof source);
	return rc >= 0;
}

bool ab_indexes_current(struct st_addrbook *ab)
{
	if (!st_store_snapshot_bytes(ab->store))
		return true;
	struct ab_index ix;
	return ab_index_open(&ix, ab, "rank", NULL) == 1 && ab_index_open(&ix, ab, "age", NULL) == 1;
}

int st_addrbook_gather_stale(struct st_addrbook *ab, int64_t before, struct st_err *err)
{
	if (!ab->lazy)
		return 0;
	struct ab_index ix;
	int rc = ab_index_open(&ix, ab, "age", err);
	if (rc <= 0)
		return rc < 0 ? -1 : st_addrbook_load_all(ab, err);
	struct st_addr_entry e;
	char source[ST_SOURCE_MAX];
	while ((rc = ab_index_next(&ix, ab, &e, source, sizeof source)) > 0) {
		if (e.last_seen >= before) /* the rest are newer still, if the index holds */
			return ab_index_confirm(&ix, ab) ? 0 : st_addrbook_load_all(ab, err);
		if (!ab_adopt(ab, &e, source, err))
			return -1;
	}
	/* at the end of the list: done unless the unlisted ones start too old */
	if (rc == 0 && (rc = ab_index_rest(&ix, ab, &e, source, sizeof source)) == 0)
		return 0;
	if (rc > 0 && e.last_seen >= before)
		return 0;
	return st_addrbook_load_all(ab, err); /* past the list, or an index that lied */
}

/* ---- checking them (fsck) ---- */

struct snap_lines {
	const char *body;
	struct st_addr_entry *e;
	uint64_t *off;
	size_t n, cap;
};

static int snap_line(void *vctx, const char *line, size_t len, unsigned long lineno,
                     struct st_err *err)
{
	struct snap_lines *s = vctx;
	(void)lineno;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 4096;
		struct st_addr_entry *e = realloc(s->e, cap * sizeof *e);
		if (e)
			s->e = e;
		uint64_t *off = realloc(s->off, cap * sizeof *off);
		if (off)
			s->off = off;
		if (!e || !off)
			return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
		s->cap = cap;
	}
	char source[ST_SOURCE_MAX];
	if (st_addr_entry_parse(&s->e[s->n], source, sizeof source, line, len, err) < 0)
		return -1;
	s->off[s->n++] = (uint64_t)(line - s->body);
	return 0;
}

/* True when the last line of an index is a seal for the snapshot marked so, holding or
 * not: one for another snapshot (its length or time) is stale, not damaged. */
static bool sealed_for(const char *body, size_t len, struct snap_mark mark)
{
	if (len < 2 || body[len - 1] != '\n')
		return false;
	const char *nl = memrchr(body, '\n', len - 1);
	size_t start = nl ? (size_t)(nl - body) + 1 : 0;
	char line[80];
	unsigned long long l, t;
	unsigned crc;
	if (len - start >= sizeof line)
		return false;
	memcpy(line, body + start, len - start);
	line[len - start] = '\0';
	return sscanf(line, "end %llu %x %llu", &l, &crc, &t) == 3 && l == mark.len &&
	       t == mark.stamp;
}

/* Compares index name with the image it should hold: 0 when it does, 1 when
 * it is missing, stale (sealed for another snapshot: one edited by hand since) or
 * unsealed (written before seals: readers do not use it, the next writer rebuilds
 * it), -1 (damage, named) when it differs. */
static int check_index(struct st_addrbook *ab, const char *name, const struct st_buf *want,
                       struct st_err *err)
{
	const char *body;
	size_t len;
	int rc = st_store_aux_map(ab->store, name, &body, &len, err);
	if (rc <= 0)
		return rc < 0 ? -1 : 1;
	if (len == want->len && memcmp(body, want->data, len) == 0)
		return 0;
	if (!sealed_for(body, len, snapshot_mark(ab)))
		return 1;
	st_err_set(err, ST_EX_DATAERR, "%s/addrbook.%s: does not match the snapshot",
	           ab->cfg.data_dir, name);
	return ab_damaged_hint(err);
}

int ab_check_indexes(struct st_addrbook *ab, struct st_err *err)
{
	size_t len;
	struct snap_lines s = {0};
	if (st_store_snapshot(ab->store, &s.body, &len, NULL, err) < 0)
		return -1;
	if (!len)
		return 0;
	struct st_buf rank, age;
	st_buf_init(&rank, IMAGE_MAX);
	st_buf_init(&age, IMAGE_MAX);
	int rc = st_store_read_snapshot(ab->store, snap_line, &s, err) != 0 ? -1 : 0;
	struct order base = {s.e, NULL, false};
	if (rc == 0)
		rc = index_images(&base, s.n, s.off, snapshot_mark(ab), &rank, &age, err);
	int r1 = rc < 0 ? -1 : check_index(ab, "rank", &rank, err);
	int r2 = r1 < 0 ? -1 : check_index(ab, "age", &age, err);
	st_buf_clear(&rank);
	st_buf_clear(&age);
	free(s.e);
	free(s.off);
	return r1 < 0 || r2 < 0 ? -1 : r1 || r2;
}

/* ---- scans ---- */

struct scan {
	struct st_addrbook *ab;
	const uint32_t *mem; /* the entries in memory, in book order */
	size_t nmem, next;
	st_addr_visit_fn fn;
	void *ctx;
	struct ab_order order;
};

/* Visits the memory entries that order before (pinned, ep); all of them when ep is NULL. */
static int scan_memory(struct scan *s, bool pinned, const struct st_endpoint *ep)
{
	for (; s->next < s->nmem; s->next++) {
		const struct st_addr_entry *m = &s->ab->e[s->mem[s->next]];
		if (ep && ab_key_cmp(m->pinned, &m->ep, pinned, ep) > 0)
			break;
		if (m->deleted)
			continue;
		int rc = s->fn(s->ctx, m, st_addrbook_source(s->ab, m));
		if (rc)
			return rc;
	}
	return 0;
}

static int scan_line(void *vctx, const char *line, size_t len, unsigned long lineno,
                     struct st_err *err)
{
	struct scan *s = vctx;
	struct st_addr_entry e;
	char source[ST_SOURCE_MAX];
	if (st_addr_entry_parse(&e, source, sizeof source, line, len, err) < 0) {
		st_err_prefix(err, "%s:%lu", st_store_path(s->ab->store), lineno);
		return ab_damaged_hint(err);
	}
	if (ab_order_next(&s->order, &e, st_store_path(s->ab->store), lineno, err) < 0)
		return ab_damaged_hint(err);
	int rc = scan_memory(s, e.pinned, &e.ep);
	if (rc)
		return rc;
	/* the journal's version wins, and so does its removal: a tombstone is in
	 * memory even when no live entry is */
	if (s->ab->n && ab_lookup(s->ab, &e.ep))
		return 0;
	return s->fn(s->ctx, &e, source);
}

int st_addrbook_scan(struct st_addrbook *ab, st_addr_visit_fn fn, void *ctx, struct st_err *err)
{
	size_t m;
	uint32_t *order = ab_book_order(ab, &m);
	if (!order)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	struct scan s = {.ab = ab, .mem = order, .nmem = m, .fn = fn, .ctx = ctx};
	int rc = ab->lazy ? st_store_read_snapshot(ab->store, scan_line, &s, err) : 0;
	if (rc == 0)
		rc = scan_memory(&s, false, NULL);
	free(order);
	return rc;
}
