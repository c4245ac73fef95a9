/* addrbook.c - the address book's table: entries, indexes, policy on add, journal, compaction. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st/addrbook.h"
#include "st/store.h"
#include "st/util.h"
#include "addrbook_int.h"

/* a book holds every entry in memory: the flags share a word with the source index */
_Static_assert(sizeof(struct st_addr_entry) <= 80 || sizeof(void *) != 8,
               "st_addr_entry grew past 80 bytes");

static const char *const verdict_names[] = {
	[ST_ADD_ADDED] = "added",
	[ST_ADD_DUPLICATE] = "duplicate",
	[ST_ADD_NOT_ROUTABLE] = "not-routable",
	[ST_ADD_SCOPE] = "not-routable-from-routable-source",
	[ST_ADD_SUBNET_FULL] = "subnet-full",
	[ST_ADD_SOURCE_FULL] = "source-quota-full",
	[ST_ADD_BOOK_FULL] = "book-full",
};

const char *st_addrbook_verdict_name(enum st_addrbook_verdict v)
{
	return (unsigned)v < ST_ARRAY_LEN(verdict_names) ? verdict_names[v] : "unknown";
}

/* ---- counts by network key (keys are netkeys, never 0) ---- */

uint32_t ab_counter_get(const struct st_map *c, uint64_t key)
{
	uint32_t v;
	return st_map_get64(c, key, &v) ? v : 0;
}

static int counter_add(struct st_map *c, uint64_t key, int delta)
{
	if (!key)
		return 0;
	uint32_t v = (uint32_t)((int64_t)ab_counter_get(c, key) + delta);
	if (!v) {
		st_map_del64(c, key); /* a count of 0 keeps no key: the map holds what is live */
		return 0;
	}
	return st_map_put64(c, key, v) < 0 ? -1 : 0;
}

/* ---- source names, interned ---- */

struct source_key {
	const char *name;
	size_t len;
};

static bool source_eq(const void *ctx, uint32_t i, const void *key)
{
	const struct st_addrbook *ab = ctx;
	const struct source_key *k = key;
	const char *s = ab->sources[i];
	return strncmp(s, k->name, k->len) == 0 && s[k->len] == '\0';
}

static uint32_t source_intern(struct st_addrbook *ab, const char *name)
{
	size_t len = strnlen(name, ST_SOURCE_MAX - 1);
	if (ab->nsources && ab->last_source < ab->nsources &&
	    strncmp(ab->sources[ab->last_source], name, len) == 0 &&
	    ab->sources[ab->last_source][len] == '\0')
		return ab->last_source;
	if (ab->nsources >= ST_ADDR_SOURCES_MAX)
		return UINT32_MAX;
	if (ab->nsources == ab->source_cap) {
		size_t cap = ab->source_cap ? ab->source_cap * 2 : 128;
		char **names = realloc(ab->sources, cap * sizeof *names);
		if (!names)
			return UINT32_MAX;
		ab->sources = names;
		ab->source_cap = cap;
	}
	struct source_key key = {name, len};
	uint64_t h = st_hash64(name, len, ab->key);
	uint32_t have;
	if (st_map_find(&ab->source_index, h, source_eq, ab, &key, &have))
		return ab->last_source = have;
	char *copy = strndup(name, len);
	if (!copy)
		return UINT32_MAX;
	for (char *p = copy; *p; p++)
		if (*p == '\t' || *p == '\n' || *p == '\r')
			*p = ' ';
	if (st_map_add(&ab->source_index, h, (uint32_t)ab->nsources) < 0) {
		free(copy);
		return UINT32_MAX;
	}
	ab->sources[ab->nsources] = copy;
	return ab->last_source = (uint32_t)ab->nsources++;
}

const char *st_addrbook_source(const struct st_addrbook *ab, const struct st_addr_entry *e)
{
	return e->source < ab->nsources ? ab->sources[e->source] : "-";
}

/* ---- the endpoint index ---- */

/* Room for n entries without a regrow. */
static int reserve(struct st_addrbook *ab, size_t n)
{
	if (n > ab->cap) {
		struct st_addr_entry *ne = realloc(ab->e, n * sizeof *ne);
		if (!ne)
			return -1;
		ab->e = ne;
		ab->cap = n;
	}
	return st_map_reserve(&ab->index, n);
}

static bool ep_eq(const void *ctx, uint32_t slot, const void *key)
{
	const struct st_addrbook *ab = ctx;
	return st_endpoint_equal(&ab->e[slot].ep, key);
}

static struct st_addr_entry *lookup_hashed(const struct st_addrbook *ab,
                                           const struct st_endpoint *ep, uint64_t h)
{
	uint32_t slot;
	return st_map_find(&ab->index, h, ep_eq, ab, ep, &slot) ? &ab->e[slot] : NULL;
}

/* The entry slot of ep (deleted or not), or NULL. */
struct st_addr_entry *ab_lookup(const struct st_addrbook *ab, const struct st_endpoint *ep)
{
	return lookup_hashed(ab, ep, st_endpoint_hash(ep, ab->key));
}

const struct st_addr_entry *st_addrbook_get(struct st_addrbook *ab, const struct st_endpoint *ep)
{
	struct st_addr_entry *e;
	if (ab_find(ab, ep, &e, NULL) < 0)
		return NULL;
	return e && !e->deleted ? e : NULL;
}

/* count_entry's +1; in_subnet is the subnet's live count when the caller has it
 * (UINT32_MAX: look it up), one probe less. */
static int count_in(struct st_addrbook *ab, const struct st_addr_entry *e, uint32_t in_subnet)
{
	uint64_t subnet = st_endpoint_subnet_key(&e->ep);
	if (in_subnet == UINT32_MAX ? counter_add(&ab->subnets, subnet, +1) < 0
	                            : subnet && st_map_put64(&ab->subnets, subnet, in_subnet + 1) < 0)
		return -1;
	if (counter_add(&ab->groups, e->source_group, +1) < 0) {
		(void)counter_add(&ab->subnets, subnet, -1); /* counting out never allocates */
		return -1;
	}
	ab->live++;
	return 0;
}

/*
 * Counts e in or out of the live count and its subnet's and source group's. Only
 * counting in can fail (a new key needs room), and then nothing is counted: a count
 * left short would let a subnet past its quota and wrap when the entry goes.
 */
static int count_entry(struct st_addrbook *ab, const struct st_addr_entry *e, int delta)
{
	if (delta > 0)
		return count_in(ab, e, UINT32_MAX);
	(void)counter_add(&ab->subnets, st_endpoint_subnet_key(&e->ep), delta);
	(void)counter_add(&ab->groups, e->source_group, delta); /* counting out never allocates */
	ab->live = (size_t)((int64_t)ab->live + delta);
	return 0;
}

/*
 * Puts e, whose endpoint has hash h and is not in the book at all (no slot,
 * not even a deleted one), into a new slot. subnet_count is the live count of
 * its subnet when the caller has it (UINT32_MAX: look it up): one probe less.
 */
static struct st_addr_entry *insert_new(struct st_addrbook *ab, const struct st_addr_entry *e,
                                        uint64_t h, uint32_t subnet_count, struct st_err *err)
{
	if (ab->n == ab->cap) {
		size_t cap = ab->cap ? ab->cap * 2 : 1024;
		struct st_addr_entry *ne = realloc(ab->e, cap * sizeof *ne);
		if (!ne) {
			st_err_set(err, ST_EX_SOFTWARE, "out of memory");
			return NULL;
		}
		ab->e = ne;
		ab->cap = cap;
	}
	if (ab->n >= ST_MAP_VALUE_MAX) {
		st_err_set(err, ST_EX_SOFTWARE, "out of memory");
		return NULL;
	}
	/* counted before it is indexed, so that either failing leaves the book as it was */
	if (count_in(ab, e, subnet_count) < 0) {
		st_err_set(err, ST_EX_SOFTWARE, "out of memory");
		return NULL;
	}
	if (st_map_add(&ab->index, h, (uint32_t)ab->n) < 0) {
		(void)count_entry(ab, e, -1);
		st_err_set(err, ST_EX_SOFTWARE, "out of memory");
		return NULL;
	}
	struct st_addr_entry *slot = &ab->e[ab->n];
	*slot = *e;
	slot->deleted = false;
	ab->n++;
	return slot;
}

/* Puts e into the book (replacing a slot with the same endpoint). */
static struct st_addr_entry *insert(struct st_addrbook *ab, const struct st_addr_entry *e,
                                    struct st_err *err)
{
	uint64_t h = st_endpoint_hash(&e->ep, ab->key); /* once: a keyed hash is not free */
	struct st_addr_entry *slot = lookup_hashed(ab, &e->ep, h);
	if (!slot)
		return insert_new(ab, e, h, UINT32_MAX, err);
	/* in before out: a failed count in leaves the old entry counted as it was */
	if (count_entry(ab, e, +1) < 0) {
		st_err_set(err, ST_EX_SOFTWARE, "out of memory");
		return NULL;
	}
	if (!slot->deleted)
		(void)count_entry(ab, slot, -1);
	*slot = *e;
	slot->deleted = false;
	return slot;
}

struct st_addr_entry *ab_adopt(struct st_addrbook *ab, const struct st_addr_entry *e,
                               const char *source, struct st_err *err)
{
	struct st_addr_entry *have = ab_lookup(ab, &e->ep);
	if (have)
		return have;
	struct st_addr_entry in = *e;
	uint32_t si = source_intern(ab, source);
	in.source = si & ST_ADDR_SOURCES_MAX;
	struct st_addr_entry *slot = si == UINT32_MAX ? NULL : insert(ab, &in, err);
	if (!slot)
		st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	return slot;
}

static void delete(struct st_addrbook *ab, struct st_addr_entry *e)
{
	if (e->deleted)
		return;
	(void)count_entry(ab, e, -1); /* counting out never allocates, so never fails */
	e->deleted = true;
}

/* ---- lines ---- */

/* The longest line st_addr_entry_format_source writes before the source text:
 * the endpoint, four signed times, four counts, the pin and a hex group. */
#define LINE_HEAD_MAX (ST_ENDPOINT_STRLEN + 4 * 21 + 4 * 11 + 3 + 16 + 1)

static const char pairs[201] = "00010203040506070809101112131415161718192021222324"
                               "25262728293031323334353637383940414243444546474849"
                               "50515253545556575859606162636465666768697071727374"
                               "75767778798081828384858687888990919293949596979899";

/* v in decimal at p (no NUL); returns the end. Two digits a division, each
 * written where it stays: bulk adds and compactions write a dozen numbers for
 * every entry. */
static char *put_dec(char *p, uint64_t v)
{
	if (v < 10) { /* most counts, and every time never reached */
		*p = (char)('0' + v);
		return p + 1;
	}
	size_t n = 2;
	for (uint64_t t = v / 100; t; t /= 10)
		n++;
	char *c = p + n;
	for (; v > UINT32_MAX; v /= 100) {
		unsigned r = (unsigned)(v % 100);
		*--c = pairs[2 * r + 1];
		*--c = pairs[2 * r];
	}
	uint32_t w = (uint32_t)v; /* Unix times: 32-bit division is the cheaper one */
	for (; w >= 100; w /= 100) {
		unsigned r = w % 100;
		*--c = pairs[2 * r + 1];
		*--c = pairs[2 * r];
	}
	if (w >= 10) {
		*--c = pairs[2 * w + 1];
		*--c = pairs[2 * w];
	} else {
		*--c = (char)('0' + w);
	}
	return p + n;
}

static char *put_hex(char *p, uint64_t v)
{
	char d[16];
	size_t i = sizeof d;
	do {
		d[--i] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	memcpy(p, d + i, sizeof d - i);
	return p + (sizeof d - i);
}

/* Everything of the line before the source text, into head (LINE_HEAD_MAX bytes). */
static size_t format_head(const struct st_addr_entry *e, char *head)
{
	size_t n = st_endpoint_format(&e->ep, head, ST_ENDPOINT_STRLEN);
	char *p = head + (n < ST_ENDPOINT_STRLEN ? n : ST_ENDPOINT_STRLEN - 1);
	const int64_t times[] = {e->first_seen, e->last_seen, e->last_attempt, e->last_success};
	for (size_t i = 0; i < 4; i++) {
		*p++ = '\t';
		if (times[i] < 0)
			*p++ = '-';
		p = put_dec(p, times[i] < 0 ? 0ULL - (uint64_t)times[i] : (uint64_t)times[i]);
	}
	const uint32_t counts[] = {e->attempts, e->successes, e->failures, e->consecutive_failures};
	for (size_t i = 0; i < 4; i++) {
		*p++ = '\t';
		p = put_dec(p, counts[i]);
	}
	memcpy(p, e->pinned ? "\t1\t" : "\t0\t", 3);
	p = put_hex(p + 3, e->source_group);
	*p++ = '\t';
	return (size_t)(p - head);
}

size_t st_addr_entry_format(const struct st_addrbook *ab, const struct st_addr_entry *e,
                            char *buf, size_t size)
{
	return st_addr_entry_format_source(e, st_addrbook_source(ab, e), buf, size);
}

size_t st_addr_entry_format_source(const struct st_addr_entry *e, const char *src, char *buf,
                                   size_t size)
{
	/* snprintf's contract: what fits, NUL-terminated; the length of it all */
	char tmp[LINE_HEAD_MAX];
	bool direct = size >= LINE_HEAD_MAX;
	size_t n = format_head(e, direct ? buf : tmp);
	if (!direct && size) {
		size_t c = n < size - 1 ? n : size - 1;
		memcpy(buf, tmp, c);
		buf[c] = '\0';
	}
	size_t slen = strlen(src);
	if (n < size) {
		size_t room = size - 1 - n, c = slen < room ? slen : room;
		memcpy(buf + n, src, c);
		buf[n + c] = '\0';
	}
	return n + slen;
}

/* Plain decimal digits up to max, the common case of every stored number; false
 * sends the field to the full parser, which says what is wrong with it. */
static bool plain_dec(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;
	for (; s[i] >= '0' && s[i] <= '9'; i++) {
		if (i >= 18)
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (!i || s[i] || (i > 1 && s[0] == '0') || v > max)
		return false;
	*out = v;
	return true;
}

/* A stored field the number parser refused: bad data (65), not a usage error. */
static int bad_field(struct st_err *err, size_t field)
{
	if (err)
		err->code = ST_EX_DATAERR;
	return st_err_prefix(err, "field %zu", field);
}

int st_addr_entry_parse(struct st_addr_entry *e, char *source, size_t source_size,
                        const char *line, size_t len, struct st_err *err)
{
	char buf[ST_SOURCE_MAX + 256];
	if (len >= sizeof buf)
		return st_err_set(err, ST_EX_DATAERR, "entry too long");
	memcpy(buf, line, len);
	buf[len] = '\0';
	char *f[12];
	size_t nf = 0;
	f[nf++] = buf;
	for (char *p = buf; *p && nf < 12; p++) /* the source, last, may hold tabs */
		if (*p == '\t') {
			*p = '\0';
			f[nf++] = p + 1;
		}
	if (nf != 12)
		return st_err_set(err, ST_EX_DATAERR, "expected 12 fields, found %zu", nf);
	memset(e, 0, sizeof *e);
	if (st_endpoint_parse(&e->ep, f[0], strlen(f[0]), err) < 0)
		return -1;
	int64_t *times[] = {&e->first_seen, &e->last_seen, &e->last_attempt, &e->last_success};
	for (size_t i = 0; i < 4; i++) {
		uint64_t v;
		if (plain_dec(f[1 + i], INT64_MAX / 2, &v))
			*times[i] = (int64_t)v;
		else if (st_parse_i64(f[1 + i], 0, INT64_MAX / 2, times[i], err) < 0)
			return bad_field(err, i + 2);
	}
	uint32_t *counts[] = {&e->attempts, &e->successes, &e->failures, &e->consecutive_failures};
	for (size_t i = 0; i < 4; i++) {
		uint64_t v;
		if (!plain_dec(f[5 + i], UINT32_MAX, &v) &&
		    st_parse_u64(f[5 + i], 0, UINT32_MAX, &v, err) < 0)
			return bad_field(err, i + 6);
		*counts[i] = (uint32_t)v;
	}
	if (strcmp(f[9], "0") && strcmp(f[9], "1"))
		return st_err_set(err, ST_EX_DATAERR, "field 10: pinned must be 0 or 1");
	e->pinned = f[9][0] == '1';
	char *end;
	e->source_group = strtoull(f[10], &end, 16);
	if (!*f[10] || *end)
		return st_err_set(err, ST_EX_DATAERR, "field 11: bad source group '%s'", f[10]);
	st_strlcpy(source, f[11], source_size);
	return 0;
}

/* ---- loading ---- */

struct load_ctx {
	struct st_addrbook *ab;
	const char *path;
	bool journal;
	bool sorted;               /* the snapshot promises book order (format 2) */
	struct ab_order order;
};

int ab_order_next(struct ab_order *o, const struct st_addr_entry *e, const char *path,
                  unsigned long lineno, struct st_err *err)
{
	/* lazy readers binary-search the snapshot: its order is part of the format */
	if (o->have && ab_key_cmp(o->pinned, &o->ep, e->pinned, &e->ep) >= 0) {
		char ep[ST_ENDPOINT_STRLEN];
		st_endpoint_format(&e->ep, ep, sizeof ep);
		return st_err_set(err, ST_EX_DATAERR, "%s:%lu: '%s' is out of order", path, lineno, ep);
	}
	o->have = true;
	o->pinned = e->pinned;
	o->ep = e->ep;
	return 0;
}

bool ab_newer_format(const char *dir, struct st_err *err)
{
	static const char *const files[][2] = {{"tsv", "#st"}, {"journal", "#st-journal"}};
	for (size_t i = 0; i < ST_ARRAY_LEN(files); i++) {
		char path[ST_PATH_MAX + 32], line[512], pfx[32], name[65];
		unsigned v;
		snprintf(path, sizeof path, "%s/addrbook.%s", dir, files[i][0]);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		bool got = fgets(line, sizeof line, f) != NULL;
		fclose(f);
		if (!got || sscanf(line, "%31s %64s %u", pfx, name, &v) != 3 ||
		    strcmp(pfx, files[i][1]) != 0 || strcmp(name, "addrbook") != 0 ||
		    v <= ST_ADDRBOOK_FORMAT_VERSION)
			continue;
		st_err_set(err, ST_EX_DATAERR,
		           "'%s': format version %u, newer than this program's %u: it needs an "
		           "st-addrbook that reads format %u", path, v, ST_ADDRBOOK_FORMAT_VERSION, v);
		return true;
	}
	return false;
}

int ab_damaged_hint(struct st_err *err)
{
	if (err && err->code == ST_EX_DATAERR)
		st_err_prefix(err, "damaged address book (try 'st-addrbook fsck --repair')");
	return -1;
}

int ab_key_cmp(bool pinned_a, const struct st_endpoint *a, bool pinned_b,
               const struct st_endpoint *b)
{
	if (pinned_a != pinned_b)
		return pinned_a ? -1 : 1;
	return st_endpoint_cmp(a, b);
}

static int load_line(void *vctx, const char *line, size_t len, unsigned long lineno,
                     struct st_err *err)
{
	struct load_ctx *ctx = vctx;
	struct st_addrbook *ab = ctx->ab;
	struct st_addr_entry e = {0};
	char source[ST_SOURCE_MAX];
	if (ctx->journal) {
		if (len > 4 && memcmp(line, "del\t", 4) == 0) {
			struct st_endpoint ep;
			if (st_endpoint_parse(&ep, line + 4, len - 4, err) < 0)
				return st_err_prefix(err, "%s:%lu", ctx->path, lineno);
			struct st_addr_entry *old = ab_lookup(ab, &ep);
			if (!old && ab->lazy) { /* a tombstone: the snapshot's line is gone */
				struct st_addr_entry t = {.ep = ep};
				old = insert(ab, &t, err);
				if (!old)
					return -1;
			}
			if (old)
				delete(ab, old);
			return 0;
		}
		if (len < 4 || memcmp(line, "put\t", 4) != 0)
			return st_err_set(err, ST_EX_DATAERR, "%s:%lu: unknown journal entry", ctx->path,
			                  lineno);
		line += 4;
		len -= 4;
	}
	if (st_addr_entry_parse(&e, source, sizeof source, line, len, err) < 0)
		return st_err_prefix(err, "%s:%lu", ctx->path, lineno);
	if (!ctx->journal && ctx->sorted) {
		if (ab_order_next(&ctx->order, &e, ctx->path, lineno, err) < 0)
			return -1;
	} else if (!ctx->journal && ab_lookup(ab, &e.ep)) {
		char ep[ST_ENDPOINT_STRLEN];
		st_endpoint_format(&e.ep, ep, sizeof ep);
		return st_err_set(err, ST_EX_DATAERR, "%s:%lu: '%s' appears twice", ctx->path, lineno,
		                  ep);
	}
	uint32_t si = source_intern(ab, source);
	e.source = si & ST_ADDR_SOURCES_MAX;
	if (si == UINT32_MAX || !insert(ab, &e, err))
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	return 0;
}

int ab_load(struct st_addrbook *ab, struct st_err *err)
{
	char jpath[ST_PATH_MAX + 32];
	snprintf(jpath, sizeof jpath, "%s/addrbook.journal", ab->cfg.data_dir);
	struct load_ctx snap = {.ab = ab, .path = st_store_path(ab->store),
	                        .sorted = st_store_snapshot_version(ab->store) >= 2};
	struct load_ctx jour = {.ab = ab, .path = jpath, .journal = true};
	/* a stored entry takes 60 bytes or more: size the tables once, not by doubling */
	uint64_t bytes = ab->lazy ? st_store_journal_bytes(ab->store)
	                          : st_store_snapshot_bytes(ab->store) + st_store_journal_bytes(ab->store);
	if (reserve(ab, (size_t)(bytes / 60) + 16) < 0)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	if (!ab->lazy && st_store_read_snapshot(ab->store, load_line, &snap, err) != 0)
		return -1;
	if (st_store_read_journal(ab->store, load_line, &jour, err) != 0)
		return -1;
	return 0;
}

/*
 * repair: auto. A cron job that met damage would fail the same way every run:
 * the book is repaired as fsck --repair would (its damaged files kept as .bak),
 * the program is told through cfg->lock.alert, and the open tried once more.
 */
static int repair_and_open(struct st_addrbook **out, const struct st_config *cfg,
                           unsigned flags, struct st_err *err)
{
	struct st_config once = *cfg;
	once.repair_auto = false;
	size_t kept, lost;
	struct st_err rerr = {0};
	if (st_addrbook_fsck(&once, true, &kept, &lost, &rerr) <= 0)
		return ab_damaged_hint(err); /* not repairable: the first error stands */
	st_config_tell_repaired(cfg, err, kept, lost);
	return st_addrbook_open(out, &once, flags, err);
}

int st_addrbook_open(struct st_addrbook **out, const struct st_config *cfg, unsigned flags,
                     struct st_err *err)
{
	*out = NULL;
	struct st_addrbook *ab = calloc(1, sizeof *ab);
	if (!ab)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	ab->cfg = *cfg;
	ab->cfg.seeds = NULL; /* not ours */
	ab->cfg.nseeds = 0;
	ab->key = (uint64_t)st_monotonic_ms() * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)ab;
	ab->writable = flags & ST_STORE_WRITE;
	if (st_store_open_wait(&ab->store, cfg->data_dir, "addrbook", ST_ADDRBOOK_FORMAT_VERSION,
	                       flags & ~(unsigned)ST_ADDRBOOK_LAZY, &cfg->lock, err) == 0)
		/* a format-1 snapshot is not sorted, so it cannot be searched */
		ab->lazy = (flags & ST_ADDRBOOK_LAZY) && st_store_snapshot_version(ab->store) >= 2 &&
		           st_store_snapshot_bytes(ab->store) > 0;
	if (!ab->store || ab_load(ab, err) < 0) {
		st_addrbook_free(ab);
		/* a newer program's book is not damaged, and no repair of ours is for it */
		if (err && err->code == ST_EX_DATAERR && ab_newer_format(cfg->data_dir, err))
			return -1;
		if (cfg->repair_auto && err && err->code == ST_EX_DATAERR)
			return repair_and_open(out, cfg, flags, err);
		return ab_damaged_hint(err);
	}
	/* a reader lets go of the lock at once: what it read stays consistent */
	if (!ab->writable && st_store_unlock(ab->store, err) < 0) {
		st_addrbook_free(ab);
		return -1;
	}
	*out = ab;
	return 0;
}

/* Frees the lookup tables (endpoint index, subnet and group counts, source index,
 * eviction order): the entries and source names stay readable, as a closing rewrite
 * needs, but nothing may be looked up or changed until the tables are built again. */
static void drop_tables(struct st_addrbook *ab)
{
	st_map_clear(&ab->index);
	st_map_clear(&ab->subnets);
	st_map_clear(&ab->groups);
	st_map_clear(&ab->source_index);
	free(ab->evict);
	ab->evict = NULL;
	ab->nevict = ab->evict_pos = 0;
}

/* Drops every entry held in memory, keeping the store and the policy. */
static void forget_entries(struct st_addrbook *ab)
{
	drop_tables(ab);
	for (size_t i = 0; i < ab->nsources; i++)
		free(ab->sources[i]);
	free(ab->sources);
	free(ab->e);
	ab->sources = NULL;
	ab->nsources = ab->source_cap = 0;
	ab->last_source = 0;
	ab->e = NULL;
	ab->n = ab->cap = ab->live = 0;
}

int st_addrbook_load_all(struct st_addrbook *ab, struct st_err *err)
{
	if (!ab->lazy)
		return 0;
	/* what this run changed is in the journal once synced: read it back with the rest */
	if (ab->changes && st_store_sync(ab->store, err) < 0)
		return -1;
	forget_entries(ab);
	ab->lazy = false;
	return ab_load(ab, err) < 0 ? ab_damaged_hint(err) : 0;
}

void st_addrbook_free(struct st_addrbook *ab)
{
	if (!ab)
		return;
	st_store_close(ab->store);
	forget_entries(ab);
	free(ab);
}

/* ---- changes ---- */

static int journal_put(struct st_addrbook *ab, const struct st_addr_entry *e, struct st_err *err)
{
	if (!ab->store) /* fsck's salvage: in memory only */
		return 0;
	char line[ST_SOURCE_MAX + 256];
	memcpy(line, "put\t", 4);
	size_t n = st_addr_entry_format(ab, e, line + 4, sizeof line - 4);
	ab->changes++;
	return st_store_append(ab->store, line, n + 4 < sizeof line ? n + 4 : sizeof line - 1, err);
}

static int journal_del(struct st_addrbook *ab, const struct st_endpoint *ep, struct st_err *err)
{
	if (!ab->store)
		return 0;
	char line[ST_ENDPOINT_STRLEN + 8];
	memcpy(line, "del\t", 4);
	size_t n = st_endpoint_format(ep, line + 4, sizeof line - 4);
	ab->changes++;
	return st_store_append(ab->store, line, n + 4, err);
}

static int evict_cmp(const void *a, const void *b, void *arg)
{
	const struct st_addrbook *ab = arg;
	const struct st_addr_entry *x = &ab->e[*(const uint32_t *)a], *y = &ab->e[*(const uint32_t *)b];
	bool xr = x->successes > 0, yr = y->successes > 0;
	if (xr != yr)
		return xr ? 1 : -1; /* never-connected first */
	double qx = st_addr_quality(x), qy = st_addr_quality(y);
	if (qx != qy)
		return qx < qy ? -1 : 1;
	if (x->last_seen != y->last_seen)
		return x->last_seen < y->last_seen ? -1 : 1;
	return st_endpoint_cmp(&x->ep, &y->ep);
}

/* The entry to evict to make room, or NULL when only pinned ones are left. */
static struct st_addr_entry *eviction_candidate(struct st_addrbook *ab)
{
	if (!ab->n || !ab->e)
		return NULL; /* nothing to evict (and clang-analyzer sees the entries are there) */
	for (int round = 0; round < 2; round++) {
		while (ab->evict_pos < ab->nevict) {
			struct st_addr_entry *e = &ab->e[ab->evict[ab->evict_pos]];
			if (!e->deleted && !e->pinned && !e->fresh)
				return e;
			ab->evict_pos++;
		}
		/* (re)build the order once per run, or when this run has used it up */
		free(ab->evict);
		ab->evict = malloc((ab->n ? ab->n : 1) * sizeof *ab->evict);
		ab->nevict = ab->evict_pos = 0;
		if (!ab->evict)
			return NULL;
		for (size_t i = 0; i < ab->n; i++)
			if (!ab->e[i].deleted && !ab->e[i].pinned) {
				ab->e[i].fresh = false;
				ab->evict[ab->nevict++] = (uint32_t)i;
			}
		qsort_r(ab->evict, ab->nevict, sizeof *ab->evict, evict_cmp, ab);
	}
	return NULL;
}

/*
 * The source group an address is counted against: the /16 or /32 of the peer
 * that gossiped it, or one group per seed list or DNS seed. Addresses the
 * operator adds by hand or imports count against no quota (group 0).
 */
static uint64_t source_group(const char *source, const struct st_endpoint *source_peer)
{
	if (source_peer)
		return st_endpoint_group_key(source_peer);
	if (source && (strncmp(source, "seed:", 5) == 0 || strncmp(source, "dns:", 4) == 0 ||
	               strncmp(source, "gossip:", 7) == 0))
		return st_hash64(source, strlen(source), 0x5eed) | 1ULL << 63;
	return 0;
}

int st_addrbook_add(struct st_addrbook *ab, const struct st_endpoint *ep, const char *source,
                    const struct st_endpoint *source_peer, int64_t now,
                    enum st_addrbook_verdict *verdict, struct st_endpoint *evicted,
                    struct st_err *err)
{
	if (evicted)
		memset(evicted, 0, sizeof *evicted);
	bool routable = st_endpoint_is_routable(ep);
	if (!routable && !ab->cfg.addrbook.allow_private) {
		*verdict = ST_ADD_NOT_ROUTABLE;
		return 0;
	}
	if (!routable && source_peer && st_endpoint_is_routable(source_peer)) {
		*verdict = ST_ADD_SCOPE;
		return 0;
	}
	if (st_addrbook_load_all(ab, err) < 0) /* the limits count every entry */
		return -1;
	uint64_t h = st_endpoint_hash(ep, ab->key); /* once for the lookup and the insert */
	uint64_t subnet = st_endpoint_subnet_key(ep);
	st_map_prefetch(&ab->index, h); /* both tables' cache misses at once */
	st_map_prefetch(&ab->subnets, subnet);
	struct st_addr_entry *old = lookup_hashed(ab, ep, h);
	if (old && !old->deleted) {
		*verdict = ST_ADD_DUPLICATE;
		if (now > old->last_seen) {
			old->last_seen = now;
			return journal_put(ab, old, err);
		}
		return 0;
	}
	uint32_t in_subnet = ab_counter_get(&ab->subnets, subnet);
	if (in_subnet >= ab->cfg.addrbook.max_per_subnet) {
		*verdict = ST_ADD_SUBNET_FULL;
		return 0;
	}
	uint64_t group = source_group(source, source_peer);
	double share = ab->cfg.addrbook.max_per_source_group * ab->cfg.addrbook.max_addresses;
	uint32_t quota = share < 1 ? 1 : (uint32_t)share;
	if (group && ab_counter_get(&ab->groups, group) >= quota) {
		*verdict = ST_ADD_SOURCE_FULL;
		return 0;
	}
	size_t victim = SIZE_MAX; /* an index: the insert below may move the entries */
	if (ab->live >= ab->cfg.addrbook.max_addresses) {
		struct st_addr_entry *v = eviction_candidate(ab);
		/* an address we only heard of never evicts one we have reached */
		if (!v || v->successes > 0) {
			*verdict = ST_ADD_BOOK_FULL;
			return 0;
		}
		victim = (size_t)(v - ab->e);
	}
	struct st_addr_entry e = {0};
	e.ep = *ep;
	e.first_seen = e.last_seen = now;
	e.source_group = group;
	uint32_t si = source_intern(ab, source ? source : "manual");
	e.source = si & ST_ADDR_SOURCES_MAX;
	if (si == UINT32_MAX)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	/* a deleted slot of ep (evicted or removed in this run) is taken again. The new
	 * entry goes in before the victim goes out, so that an add that fails (out of
	 * memory) has evicted nobody */
	struct st_addr_entry *slot = old ? insert(ab, &e, err)
	                                 : insert_new(ab, &e, h, in_subnet, err);
	if (!slot)
		return -1;
	slot->fresh = true;
	if (victim != SIZE_MAX) {
		struct st_addr_entry *v = &ab->e[victim];
		if (evicted)
			*evicted = v->ep;
		delete(ab, v);
		ab->evict_pos++;
		if (journal_del(ab, &v->ep, err) < 0)
			return -1;
	}
	*verdict = ST_ADD_ADDED;
	return journal_put(ab, slot, err);
}

/* The live entry of ep: 1 with *e set, 0 when unknown or removed, or -1. */
static int find_live(struct st_addrbook *ab, const struct st_endpoint *ep, struct st_addr_entry **e,
                     struct st_err *err)
{
	if (ab_find(ab, ep, e, err) < 0)
		return -1;
	return *e && !(*e)->deleted;
}

int st_addrbook_record(struct st_addrbook *ab, const struct st_endpoint *ep, bool ok,
                       int64_t now, struct st_err *err)
{
	struct st_addr_entry *e;
	int found = find_live(ab, ep, &e, err);
	if (found <= 0)
		return found;
	e->attempts++;
	e->last_attempt = now;
	if (ok) {
		e->successes++;
		e->consecutive_failures = 0;
		e->last_success = now;
		if (now > e->last_seen)
			e->last_seen = now;
	} else {
		e->failures++;
		e->consecutive_failures++;
	}
	return journal_put(ab, e, err) < 0 ? -1 : 1;
}

int st_addrbook_seen(struct st_addrbook *ab, const struct st_endpoint *ep, int64_t now,
                     struct st_err *err)
{
	struct st_addr_entry *e;
	int found = find_live(ab, ep, &e, err);
	if (found <= 0)
		return found;
	e->last_seen = now;
	return journal_put(ab, e, err) < 0 ? -1 : 1;
}

int st_addrbook_remove(struct st_addrbook *ab, const struct st_endpoint *ep, struct st_err *err)
{
	struct st_addr_entry *e;
	int found = find_live(ab, ep, &e, err);
	if (found <= 0)
		return found;
	delete(ab, e);
	return journal_del(ab, ep, err) < 0 ? -1 : 1;
}

int st_addrbook_pin(struct st_addrbook *ab, const struct st_endpoint *ep, bool pinned,
                    struct st_err *err)
{
	struct st_addr_entry *e;
	int found = find_live(ab, ep, &e, err);
	if (found <= 0)
		return found;
	e->pinned = pinned;
	return journal_put(ab, e, err) < 0 ? -1 : 1;
}

int st_addrbook_import_entry(struct st_addrbook *ab, const struct st_addr_entry *in,
                             const char *source, struct st_err *err)
{
	struct st_addr_entry *e;
	int found = find_live(ab, &in->ep, &e, err);
	if (found <= 0)
		return found;
	/* an entry this run added from a stored line keeps the group it was counted
	 * under (a gossip peer's /16), not a hash of its source text: else a repair
	 * or an export | import would count one source's quota under two keys. First,
	 * since only it can fail: a failed import changes nothing */
	if (e->fresh && in->source_group && in->source_group != e->source_group) {
		struct st_addr_entry moved = *e;
		moved.source_group = in->source_group;
		if (count_entry(ab, &moved, +1) < 0)
			return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
		(void)count_entry(ab, e, -1);
		e->source_group = in->source_group;
	}
	/* merge: keep the wider history */
	if (in->first_seen && (!e->first_seen || in->first_seen < e->first_seen))
		e->first_seen = in->first_seen;
	if (in->last_seen > e->last_seen)
		e->last_seen = in->last_seen;
	if (in->last_attempt > e->last_attempt)
		e->last_attempt = in->last_attempt;
	if (in->last_success > e->last_success)
		e->last_success = in->last_success;
	if (in->attempts > e->attempts)
		e->attempts = in->attempts;
	if (in->successes > e->successes)
		e->successes = in->successes;
	if (in->failures > e->failures)
		e->failures = in->failures;
	if (in->consecutive_failures > e->consecutive_failures)
		e->consecutive_failures = in->consecutive_failures;
	e->pinned = e->pinned || in->pinned;
	(void)source;
	return journal_put(ab, e, err) < 0 ? -1 : 1;
}

size_t st_addrbook_count(const struct st_addrbook *ab)
{
	return ab->live;
}

size_t st_addrbook_slots(const struct st_addrbook *ab)
{
	return ab->n;
}

const struct st_addr_entry *st_addrbook_entry(const struct st_addrbook *ab, size_t i)
{
	return i < ab->n && !ab->e[i].deleted ? &ab->e[i] : NULL;
}

static int by_key(const void *a, const void *b, void *arg)
{
	const struct st_addrbook *ab = arg;
	const struct st_addr_entry *x = &ab->e[*(const uint32_t *)a], *y = &ab->e[*(const uint32_t *)b];
	return ab_key_cmp(x->pinned, &x->ep, y->pinned, &y->ep);
}

/* The live slots in book order (see ab_key_cmp); *m receives the count. */
uint32_t *ab_book_order(const struct st_addrbook *ab, size_t *m)
{
	uint32_t *order = malloc((ab->n ? ab->n : 1) * sizeof *order);
	if (!order)
		return NULL;
	*m = 0;
	for (size_t i = 0; i < ab->n; i++)
		if (!ab->e[i].deleted)
			order[(*m)++] = (uint32_t)i;
	qsort_r(order, *m, sizeof *order, by_key, (void *)ab);
	return order;
}

/* Writes every live entry in book order as a new snapshot, then its indexes. */
int ab_rewrite(struct st_addrbook *ab, struct st_err *err)
{
	size_t m;
	uint32_t *order = ab_book_order(ab, &m);
	uint64_t *off = malloc((ab->n ? ab->n : 1) * sizeof *off);
	struct st_store_writer *w = NULL;
	if (!order || !off) {
		free(order);
		free(off);
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	}
	if (st_store_rewrite_begin(ab->store, &w, err) < 0)
		goto fail;
	char line[ST_SOURCE_MAX + 256];
	for (size_t i = 0; i < m; i++) {
		size_t n = st_addr_entry_format(ab, &ab->e[order[i]], line, sizeof line);
		off[i] = st_store_writer_offset(w);
		if (st_store_writer_line(w, line, n < sizeof line ? n : sizeof line - 1, err) < 0) {
			st_store_rewrite_abort(w);
			goto fail;
		}
	}
	if (st_store_rewrite_commit(w, err) < 0)
		goto fail;
	/* the snapshot holds the changes: they count, and the command succeeded.
	 * Indexes are derived data: one that fails (a full disk) is left stale and
	 * rebuilt by the next writer, read around until then. */
	(void)ab_write_indexes(ab, order, off, m, NULL);
	free(order);
	free(off);
	return 0;
fail:
	free(order);
	free(off);
	return -1;
}

int st_addrbook_compact(struct st_addrbook *ab, struct st_err *err)
{
	if (!ab->writable)
		return st_err_set(err, ST_EX_SOFTWARE, "the address book is open read-only");
	if ((ab->changes && st_store_sync(ab->store, err) < 0) || st_addrbook_load_all(ab, err) < 0 ||
	    ab_rewrite(ab, err) < 0)
		return -1;
	ab->changes = 0;
	return 0;
}

int st_addrbook_commit(struct st_addrbook *ab, struct st_err *err)
{
	if (!ab->writable || !ab->changes)
		return 0;
	return st_store_sync(ab->store, err);
}


int st_addrbook_close(struct st_addrbook *ab, struct st_err *err)
{
	if (!ab)
		return 0;
	int rc = 0;
	/* A missing or stale index (a crash after the snapshot's rename, a format-1
	 * book) makes every lazy reader load the whole book: a writer rebuilds it. */
	bool rewrite = ab->writable && ((ab->changes && st_store_wants_compaction(ab->store)) ||
	                                !ab_indexes_current(ab));
	/* A rewrite is as durable as a synced journal: what the journal still
	 * buffers need not be written first when the whole book is about to be. */
	if (ab->writable && ab->changes && (!rewrite || ab->lazy))
		rc = st_store_sync(ab->store, err);
	if (rc == 0 && rewrite) {
		rc = st_addrbook_load_all(ab, err);
		/* the book goes after this rewrite, which reads only the entries and
		 * their sources: the lookup tables go first, so that the rewrite's
		 * order and offsets do not come on top of them at the peak */
		drop_tables(ab);
		if (rc == 0)
			rc = ab_rewrite(ab, err);
		/* the old snapshot stands (a full disk): the run fails, so none of its
		 * changes may count, not even those a lazy writer synced first */
		if (rc < 0)
			st_store_rollback(ab->store, NULL);
	}
	st_addrbook_free(ab);
	return rc;
}

int ab_counter_bump(struct st_map *c, uint64_t key)
{
	return counter_add(c, key, +1);
}

int ab_counter_set(struct st_map *c, uint64_t key, uint32_t value)
{
	return st_map_put64(c, key, value) < 0 ? -1 : 0;
}
