/* map.c - open addressing, linear probing, tombstones cleaned up by rehashing (see map.h). */
#include <stdlib.h>
#include <string.h>

#include "st/map.h"

enum { EMPTY, LIVE, DEAD };

#define MIN_CAP 16
/* rebuild when live + tombstones pass 7/10 of the slots; grow when live alone passes 1/2 */
#define FULL(n, cap) ((n) * 10 > (cap) * 7)

void st_map_init(struct st_map *m)
{
	memset(m, 0, sizeof *m);
}

void st_map_clear(struct st_map *m)
{
	free(m->slot);
	st_map_init(m);
}

size_t st_map_count(const struct st_map *m)
{
	return m->live;
}

static size_t home(uint64_t hash, size_t cap)
{
	/* Fibonacci hashing: the top bits, so a direct uint64 key spreads too */
	return (size_t)((hash * 0x9e3779b97f4a7c15ULL) >> (64 - __builtin_ctzll((unsigned long long)cap)));
}

static int rehash(struct st_map *m, size_t cap)
{
	struct st_map_slot *s = calloc(cap, sizeof *s);
	if (!s)
		return -1;
	for (size_t i = 0; i < m->cap; i++) {
		if (m->slot[i].state != LIVE)
			continue;
		size_t j = home(m->slot[i].hash, cap);
		while (s[j].state != EMPTY)
			j = (j + 1) & (cap - 1);
		s[j] = m->slot[i];
	}
	free(m->slot);
	m->slot = s;
	m->cap = cap;
	m->dead = 0;
	return 0;
}

/* A capacity for n live entries: at most half full, so a rebuild frees room for
 * at least a fifth of the slots' worth of inserts before the next one. */
static size_t cap_for(size_t n)
{
	size_t cap = MIN_CAP;
	while (n * 2 > cap)
		cap *= 2;
	return cap;
}

int st_map_reserve(struct st_map *m, size_t n)
{
	size_t cap = cap_for(n);
	return cap > m->cap ? rehash(m, cap) : 0;
}

/* The slot of key's entry, or m->cap. */
static size_t locate(const struct st_map *m, uint64_t hash, st_map_eq_fn *eq, const void *ctx,
                     const void *key)
{
	if (!m->cap)
		return 0;
	size_t j = home(hash, m->cap);
	for (size_t n = 0; n < m->cap && m->slot[j].state != EMPTY; n++) {
		const struct st_map_slot *s = &m->slot[j];
		if (s->state == LIVE && s->hash == hash && (!eq || eq(ctx, s->value, key)))
			return j;
		j = (j + 1) & (m->cap - 1);
	}
	return m->cap;
}

int st_map_find(const struct st_map *m, uint64_t hash, st_map_eq_fn *eq, const void *ctx,
                const void *key, uint32_t *value)
{
	size_t j = locate(m, hash, eq, ctx, key);
	if (j >= m->cap)
		return 0;
	*value = m->slot[j].value;
	return 1;
}

int st_map_put(struct st_map *m, uint64_t hash, st_map_eq_fn *eq, const void *ctx,
               const void *key, uint32_t value)
{
	size_t j = locate(m, hash, eq, ctx, key);
	if (j < m->cap) {
		m->slot[j].value = value;
		return 1;
	}
	if (!m->cap || FULL(m->live + m->dead + 1, m->cap)) {
		size_t cap = cap_for(m->live + 1);
		if (rehash(m, cap > m->cap ? cap : m->cap) < 0)
			return -1;
	}
	/* the first tombstone or empty slot on the probe path */
	j = home(hash, m->cap);
	while (m->slot[j].state == LIVE)
		j = (j + 1) & (m->cap - 1);
	if (m->slot[j].state == DEAD)
		m->dead--;
	m->slot[j] = (struct st_map_slot){hash, value, LIVE};
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
	if (m->slot[(j + 1) & (m->cap - 1)].state != EMPTY) {
		m->slot[j].state = DEAD;
		m->dead++;
		return 1;
	}
	/* nothing probes past an empty slot: this one and the tombstones before it empty too */
	m->slot[j].state = EMPTY;
	for (size_t i = (j - 1) & (m->cap - 1); m->slot[i].state == DEAD; i = (i - 1) & (m->cap - 1)) {
		m->slot[i].state = EMPTY;
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
		if (m->slot[*pos].state == LIVE) {
			*hash = m->slot[*pos].hash;
			*value = m->slot[*pos].value;
			++*pos;
			return true;
		}
	return false;
}

size_t st_map_longest_probe(const struct st_map *m)
{
	/* the longest run of non-empty slots, plus the empty one that ends it */
	size_t best = 0, run = 0;
	if (!m->cap)
		return 0;
	size_t start = 0;
	while (start < m->cap && m->slot[start].state != EMPTY)
		start++;
	if (start == m->cap)
		return m->cap; /* never: the load factor keeps an empty slot */
	for (size_t n = 1; n <= m->cap; n++) {
		size_t i = (start + n) & (m->cap - 1);
		if (m->slot[i].state == EMPTY) {
			if (run + 1 > best)
				best = run + 1;
			run = 0;
		} else {
			run++;
		}
	}
	return best;
}
