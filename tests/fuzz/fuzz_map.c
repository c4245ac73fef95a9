/* fuzz_map.c - random put/insert/delete/find sequences on the map, checked against a plain array. */
#include <stdlib.h>
#include <string.h>

#include "st/map.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

#define KEYS 64 /* a small key space, so deletes and re-inserts hit */

struct ref {
	bool present[KEYS];
	uint32_t value[KEYS];
};

/* Keys collide on purpose: the hash keeps only a few bits of the key, equality the rest. */
static uint64_t key_hash(unsigned k, unsigned shift)
{
	return (uint64_t)(k >> shift);
}

static bool key_eq(const void *ctx, uint32_t value, const void *key)
{
	const uint8_t *owner = ctx;
	return owner[value & 0xffff] == *(const unsigned *)key;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned shift = data[0] % 7; /* 0: distinct hashes; 6: one hash for every key */
	bool direct = data[0] & 0x80;
	struct st_map m;
	st_map_init(&m);
	struct ref r;
	memset(&r, 0, sizeof r);
	/* value v is stored as (v << 16 | slot); owner[slot] is the key it belongs to */
	uint8_t owner[65536];
	uint32_t next_slot = 0;
	for (size_t i = 1; i + 1 < size; i += 2) {
		unsigned op = data[i] % 4, k = data[i + 1] % KEYS;
		uint64_t h = direct ? (uint64_t)k * 0x100000001ULL : key_hash(k, shift);
		st_map_eq_fn *eq = direct ? NULL : key_eq;
		uint32_t v;
		int found = st_map_find(&m, h, eq, owner, &k, &v);
		if (found != r.present[k] || (found && v != r.value[k]))
			abort();
		if (op <= 1) { /* put */
			uint32_t slot = next_slot++ & 0xffff;
			owner[slot] = (uint8_t)k;
			uint32_t nv = (uint32_t)(i & 0x7fff) << 16 | slot;
			/* op 1 on an absent key: the add that skips the search */
			int rc = op == 1 && !found ? st_map_add(&m, h, nv) : st_map_put(&m, h, eq, owner, &k, nv);
			if (rc != r.present[k])
				abort();
			if (r.present[k]) /* the old entry's slot still names k: keep equality honest */
				owner[r.value[k] & 0xffff] = (uint8_t)k;
			r.present[k] = true;
			r.value[k] = nv;
		} else if (op == 2) { /* delete */
			if (st_map_del(&m, h, eq, owner, &k) != r.present[k])
				abort();
			r.present[k] = false;
		} else { /* insert: the first value stays and is told */
			uint32_t slot = next_slot++ & 0xffff;
			owner[slot] = (uint8_t)k;
			uint32_t nv = (uint32_t)(i & 0x7fff) << 16 | slot, have = UINT32_MAX;
			int rc = st_map_insert(&m, h, eq, owner, &k, nv, &have);
			if (rc != r.present[k] || (rc == 1 && have != r.value[k]))
				abort();
			if (r.present[k]) {
				owner[r.value[k] & 0xffff] = (uint8_t)k;
			} else {
				r.present[k] = true;
				r.value[k] = nv;
			}
		}
		size_t live = 0;
		for (unsigned j = 0; j < KEYS; j++)
			live += r.present[j];
		if (st_map_count(&m) != live || (m.cap && (m.live + m.dead) * 10 > m.cap * 7))
			abort();
	}
	size_t pos = 0, walked = 0;
	uint64_t h;
	uint32_t v;
	while (st_map_next(&m, &pos, &h, &v))
		walked++;
	if (walked != st_map_count(&m))
		abort();
	st_map_clear(&m);
	return 0;
}
