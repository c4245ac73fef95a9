/* map.c - open addressing, linear probing, tombstones cleaned up by rehashing (see map.h). */
#include <stdlib.h>
#include <string.h>

#include "st/map.h"

/* markers in the value array: 12 bytes a slot, no state byte and no padding */
#define EMPTY UINT32_MAX
#define DEAD (UINT32_MAX - 1)

#define MIN_CAP 16
/* rebuild when live entries plus tombstones pass 7/10 of the slots */
#define FULL(n, cap) ((n) * 10 > (cap) * 7)

void st_map_init(struct st_map *m)
{
	memset(m, 0, sizeof *m);
}

void st_map_clear(struct st_map *m)
{
	free(m->hash);
	st_map_init(m);
}

size_t st_map_count(const struct st_map *m)
{
	return m->live;
}

static size_t home(uint64_t hash, size_t cap)
{
	/* Fibonacci hashing, so a direct uint64 key spreads too; its top 32 bits
	 * scaled to cap (multiply-shift): any capacity, and for a power of two
	 * exactly its top bits */
	return (size_t)(((hash * 0x9e3779b97f4a7c15ULL) >> 32) * (uint64_t)cap >> 32);
}

static size_t next(size_t j, size_t cap)
{
	return j + 1 == cap ? 0 : j + 1;
}

static size_t prev(size_t j, size_t cap)
{
	return j ? j - 1 : cap - 1;
}

static bool is_live(uint32_t v)
{
	return v <= ST_MAP_VALUE_MAX;
}

static int rehash(struct st_map *m, size_t cap)
{
	if (!cap || cap > (size_t)1 << 32) /* what home can place; values are 32-bit anyway */
		return -1;
	uint64_t *h = malloc(cap * (sizeof *h + sizeof(uint32_t)));
	if (!h)
		return -1;
	uint32_t *v = (uint32_t *)(h + cap);
	memset(v, 0xff, cap * sizeof *v); /* EMPTY */
	for (size_t i = 0; i < m->cap; i++) {
		if (!is_live(m->value[i]))
			continue;
		size_t j = home(m->hash[i], cap);
		while (v[j] != EMPTY)
			j = next(j, cap);
		h[j] = m->hash[i];
		v[j] = m->value[i];
	}
	free(m->hash);
	m->hash = h;
	m->value = v;
	m->cap = cap;
	m->dead = 0;
	return 0;
}

/* Tables this large grow by 3/2 and 4/3 in turn (capacities 2^k and 3 * 2^(k-1)),
 * not by doubling: a million entries take 1.57M slots (18 MiB), not 2.1M (24 MiB). */
#define FINE_STEPS 65536

static size_t cap_next(size_t cap)
{
	if (cap < FINE_STEPS)
		return cap * 2;
	return (cap & (cap - 1)) ? cap / 3 * 4 : cap / 2 * 3;
}

/* A capacity for n live entries: at most half full below FINE_STEPS, so a
 * rebuild leaves room for a fifth of the slots' worth of inserts before the
 * next one; at most 6/10 full above it (a tenth of the slots' worth). */
static size_t cap_for(size_t n)
{
	size_t cap = MIN_CAP;
	while (cap < FINE_STEPS ? n * 2 > cap : n * 10 > cap * 6)
		cap = cap_next(cap);
	return cap;
}

int st_map_reserve(struct st_map *m, size_t n)
{
	size_t cap = cap_for(n);
	return cap > m->cap ? rehash(m, cap) : 0;
}

void st_map_prefetch(const struct st_map *m, uint64_t hash)
{
	if (!m->cap)
		return;
	size_t j = home(hash, m->cap);
	__builtin_prefetch(&m->hash[j]);
	__builtin_prefetch(&m->value[j]);
}

/* The slot of key's entry, or m->cap. */
static size_t locate(const struct st_map *m, uint64_t hash, st_map_eq_fn *eq, const void *ctx,
                     const void *key)
{
	if (!m->cap)
		return 0;
	size_t j = home(hash, m->cap);
	for (size_t n = 0; n < m->cap && m->value[j] != EMPTY; n++) {
		if (m->hash[j] == hash && is_live(m->value[j]) && (!eq || eq(ctx, m->value[j], key)))
			return j;
		j = next(j, m->cap);
	}
	return m->cap;
}

int st_map_find(const struct st_map *m, uint64_t hash, st_map_eq_fn *eq, const void *ctx,
                const void *key, uint32_t *value)
{
	size_t j = locate(m, hash, eq, ctx, key);
	if (j >= m->cap)
		return 0;
	*value = m->value[j];
	return 1;
}

/* st_map_put (replace) and st_map_insert (keep): one probe finds key's entry or the
 * slot it goes in. 1 found (its value replaced, or told in *have), 0 added, -1. */
static int put(struct st_map *m, uint64_t hash, st_map_eq_fn *eq, const void *ctx,
               const void *key, uint32_t value, bool replace, uint32_t *have)
{
	if (value > ST_MAP_VALUE_MAX)
		return -1;
	if (m->cap && !FULL(m->live + m->dead + 1, m->cap)) {
		/* one probe: key's entry, or where st_map_add would put it (the first
		 * tombstone on the path, else the empty slot that ends it) */
		size_t j = home(hash, m->cap), free_at = m->cap;
		for (; m->value[j] != EMPTY; j = next(j, m->cap)) {
			if (!is_live(m->value[j])) {
				if (free_at == m->cap)
					free_at = j;
			} else if (m->hash[j] == hash && (!eq || eq(ctx, m->value[j], key))) {
				if (have)
					*have = m->value[j];
				if (replace)
					m->value[j] = value;
				return 1;
			}
		}
		if (free_at < m->cap) {
			j = free_at;
			m->dead--;
		}
		m->hash[j] = hash;
		m->value[j] = value;
		m->live++;
		return 0;
	}
	size_t j = locate(m, hash, eq, ctx, key);
	if (j < m->cap) {
		if (have)
			*have = m->value[j];
		if (replace)
			m->value[j] = value;
		return 1;
	}
	return st_map_add(m, hash, value);
}

int st_map_put(struct st_map *m, uint64_t hash, st_map_eq_fn *eq, const void *ctx,
               const void *key, uint32_t value)
{
	return put(m, hash, eq, ctx, key, value, true, NULL);
}

int st_map_insert(struct st_map *m, uint64_t hash, st_map_eq_fn *eq, const void *ctx,
                  const void *key, uint32_t value, uint32_t *have)
{
	return put(m, hash, eq, ctx, key, value, false, have);
}

int st_map_add(struct st_map *m, uint64_t hash, uint32_t value)
{
	if (value > ST_MAP_VALUE_MAX)
		return -1;
	if (!m->cap || FULL(m->live + m->dead + 1, m->cap)) {
		size_t cap = cap_for(m->live + 1);
		if (rehash(m, cap > m->cap ? cap : m->cap) < 0)
			return -1;
	}
	/* the first tombstone or empty slot on the probe path */
	size_t j = home(hash, m->cap);
	while (is_live(m->value[j]))
		j = next(j, m->cap);
	if (m->value[j] == DEAD)
		m->dead--;
	m->hash[j] = hash;
	m->value[j] = value;
	m->live++;
	return 0;
}

int st_map_del(struct st_map *m, uint64_t hash, st_map_eq_fn *eq, const void *ctx,
               const void *key)
{
	size_t j = locate(m, hash, eq, ctx, key);
	if (j >= m->cap)
		return 0;
	m->live--;
	if (m->value[next(j, m->cap)] != EMPTY) {
		m->value[j] = DEAD;
		m->dead++;
		return 1;
	}
	/* no probe passes an empty slot: this one and the tombstones before it empty too */
	m->value[j] = EMPTY;
	for (size_t i = prev(j, m->cap); m->value[i] == DEAD; i = prev(i, m->cap)) {
		m->value[i] = EMPTY;
		m->dead--;
	}
	return 1;
}

int st_map_get64(const struct st_map *m, uint64_t key, uint32_t *value)
{
	return st_map_find(m, key, NULL, NULL, NULL, value);
}

int st_map_put64(struct st_map *m, uint64_t key, uint32_t value)
{
	return st_map_put(m, key, NULL, NULL, NULL, value);
}

int st_map_del64(struct st_map *m, uint64_t key)
{
	return st_map_del(m, key, NULL, NULL, NULL);
}

bool st_map_next(const struct st_map *m, size_t *pos, uint64_t *hash, uint32_t *value)
{
	for (; *pos < m->cap; ++*pos)
		if (is_live(m->value[*pos])) {
			*hash = m->hash[*pos];
			*value = m->value[*pos];
			++*pos;
			return true;
		}
	return false;
}

size_t st_map_longest_probe(const struct st_map *m)
{
	/* the longest run of occupied slots (live or tombstone), plus the empty one ending it */
	if (!m->cap)
		return 0;
	size_t start = 0;
	while (start < m->cap && m->value[start] != EMPTY)
		start++;
	if (start == m->cap)
		return m->cap; /* never: the load factor keeps empty slots */
	size_t best = 0, run = 0;
	for (size_t n = 1; n <= m->cap; n++) {
		if (m->value[(start + n) % m->cap] == EMPTY) {
			if (run + 1 > best)
				best = run + 1;
			run = 0;
		} else {
			run++;
		}
	}
	return best;
}
