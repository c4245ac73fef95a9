/* map.h - the one hash map: keyed tables of 32-bit values (usually slots in the caller's array).
 *
 * An entry is a 64-bit hash and a 32-bit value. Two ways to key it:
 *   - by a uint64 key directly (st_map_get64 and friends): the key is the hash;
 *   - by anything else: the caller hashes its key (keyed, see st_hash64) and supplies an
 *     equality function that says whether the entry holding value is the one for key.
 * Open addressing with linear probing; deletes leave tombstones, and a table whose live
 * entries plus tombstones pass the load factor is rebuilt (larger only when the live
 * entries need it), so probes stay short and a lookup always ends.
 * Not thread-safe. The fields are private: embed the struct, touch it through these calls.
 */
#ifndef ST_MAP_H
#define ST_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest value an entry can hold (two more are the map's own markers). */
#define ST_MAP_VALUE_MAX (UINT32_MAX - 2)

struct st_map {
	uint64_t *hash;              /* cap hashes, then cap values, in one allocation */
	uint32_t *value;             /* a value, or a marker for an empty slot or a tombstone */
	size_t cap;                  /* 0, or 2^k or 3 * 2^(k-1) slots (see map.c) */
	size_t live, dead;
};

/* True when the entry holding value is the one for key (ctx and key as passed). */
typedef bool st_map_eq_fn(const void *ctx, uint32_t value, const void *key);

/* An empty map; allocates nothing. */
void st_map_init(struct st_map *m);
/* Frees the slots and leaves m empty (as st_map_init). */
void st_map_clear(struct st_map *m);
/* Makes room for n live entries at once. Returns 0 or -1 (out of memory). */
int st_map_reserve(struct st_map *m, size_t n);
/* The number of live entries. */
size_t st_map_count(const struct st_map *m);

/* Starts loading the slots a lookup of hash begins at, so that lookups in two large
 * maps, or a caller's next few keys, wait on memory together rather than one after
 * the other. A hint: changes nothing. */
void st_map_prefetch(const struct st_map *m, uint64_t hash);
/* Finds the entry for key: 1 with *value set, or 0. eq NULL: the hash alone is the key. */
int st_map_find(const struct st_map *m, uint64_t hash, st_map_eq_fn *eq, const void *ctx,
                const void *key, uint32_t *value);
/* Sets key's value (at most ST_MAP_VALUE_MAX), replacing an existing entry: 1 replaced,
 * 0 inserted, -1 out of memory or a value too large (the map is unchanged). */
int st_map_put(struct st_map *m, uint64_t hash, st_map_eq_fn *eq, const void *ctx,
               const void *key, uint32_t value);
/* Adds key's entry unless it is there (one search, for "first one wins"): 0 added,
 * 1 there already (the map unchanged, its value in *have when not NULL), -1 out of
 * memory or a value too large (the map is unchanged). */
int st_map_insert(struct st_map *m, uint64_t hash, st_map_eq_fn *eq, const void *ctx,
                  const void *key, uint32_t value, uint32_t *have);
/* Adds an entry the caller knows is not there (a find just said so): saves st_map_put's
 * search. 0, or -1 out of memory or a value too large (the map is unchanged). */
int st_map_add(struct st_map *m, uint64_t hash, uint32_t value);
/* Removes the entry for key: 1 removed, 0 absent. */
int st_map_del(struct st_map *m, uint64_t hash, st_map_eq_fn *eq, const void *ctx,
               const void *key);

/* The same keyed by a uint64 directly. */
int st_map_get64(const struct st_map *m, uint64_t key, uint32_t *value);
int st_map_put64(struct st_map *m, uint64_t key, uint32_t value);
int st_map_del64(struct st_map *m, uint64_t key);

/* Walks the live entries in no useful order: start with *pos 0; true with *hash and
 * *value set while there is one. The map must not change during the walk. */
bool st_map_next(const struct st_map *m, size_t *pos, uint64_t *hash, uint32_t *value);

/* The longest probe a lookup of a present or absent key makes now (for tests). */
size_t st_map_longest_probe(const struct st_map *m);

#endif
