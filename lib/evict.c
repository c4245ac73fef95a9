/* evict.c - a full listener's choice of connection to close (Bitcoin Core's inbound eviction). */
#include <stdlib.h>

#include "st/evict.h"
#include "st/map.h"
#include "st/util.h"

static uint64_t group_hash(uint64_t group, uint64_t key)
{
	return st_hash64(&group, sizeof group, key);
}

struct keyed {
	struct st_evict_cand c;
	uint64_t h;
};

/* Highest group hash first, then the longest connected (a stable choice within a group). */
static int by_group_hash(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	if (x->h != y->h)
		return x->h > y->h ? -1 : 1;
	return x->c.connected_ms < y->c.connected_ms ? -1 : x->c.connected_ms > y->c.connected_ms;
}

/* Known round trips first, lowest first. */
static int by_rtt(const void *a, const void *b)
{
	const struct st_evict_cand *x = a, *y = b;
	if ((x->rtt_us < 0) != (y->rtt_us < 0))
		return x->rtt_us < 0 ? 1 : -1;
	if (x->rtt_us != y->rtt_us)
		return x->rtt_us < y->rtt_us ? -1 : 1;
	return x->connected_ms < y->connected_ms ? -1 : x->connected_ms > y->connected_ms;
}

/* Longest connected first. */
static int by_age(const void *a, const void *b)
{
	const struct st_evict_cand *x = a, *y = b;
	if (x->connected_ms != y->connected_ms)
		return x->connected_ms < y->connected_ms ? -1 : 1;
	return x->slot < y->slot ? -1 : x->slot > y->slot;
}

/* Protects one candidate of each of the ST_EVICT_PROTECT_GROUPS groups that hash highest. */
static int protect_groups(struct st_evict_cand *c, size_t *n, uint64_t key)
{
	struct keyed *k = malloc(*n * sizeof *k);
	if (!k)
		return -1;
	for (size_t i = 0; i < *n; i++)
		k[i] = (struct keyed){c[i], group_hash(c[i].group, key)};
	qsort(k, *n, sizeof *k, by_group_hash);
	size_t m = 0, groups = 0;
	for (size_t i = 0; i < *n; i++) {
		if (groups < ST_EVICT_PROTECT_GROUPS && (i == 0 || k[i].h != k[i - 1].h)) {
			groups++; /* the first (longest connected) of a new group: protected */
			continue;
		}
		c[m++] = k[i].c;
	}
	*n = m;
	free(k);
	return 0;
}

long st_evict_pick(struct st_evict_cand *c, size_t n, uint64_t key)
{
	if (!n || protect_groups(c, &n, key) < 0)
		return -1;
	qsort(c, n, sizeof *c, by_rtt);
	size_t fast = 0;
	while (fast < ST_EVICT_PROTECT_RTT && fast < n && c[fast].rtt_us >= 0)
		fast++;
	c += fast;
	n -= fast;
	qsort(c, n, sizeof *c, by_age);
	size_t old = n / 2;
	c += old;
	n -= old;
	if (!n)
		return -1;
	/* the most crowded group; a tie goes to the group with the most recent arrival */
	struct st_map count; /* group -> its candidates among the rest */
	st_map_init(&count);
	size_t best = n;
	uint32_t best_count = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t k = 0;
		st_map_get64(&count, c[i].group, &k);
		if (st_map_put64(&count, c[i].group, ++k) < 0) {
			st_map_clear(&count);
			return -1;
		}
	}
	/* c is oldest first: walking from the newest, the first of a group is its newest */
	for (size_t i = n; i-- > 0;) {
		uint32_t k = 0;
		st_map_get64(&count, c[i].group, &k);
		if (k > best_count) {
			best_count = k;
			best = i;
		}
	}
	st_map_clear(&count);
	return (long)c[best].slot;
}
