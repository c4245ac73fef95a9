/* addrbook_int.h - the address book's insides, shared by lib/addrbook*.c only. */
#ifndef ST_ADDRBOOK_INT_H
#define ST_ADDRBOOK_INT_H

#include "st/addrbook.h"
#include "st/map.h"
#include "st/store.h"

struct st_addrbook {
	struct st_config cfg;      /* a copy of the policy (seeds not owned) */
	struct st_store *store;
	bool writable;
	bool lazy;                 /* only touched entries are in memory; the rest on disk */
	uint64_t key;              /* hash key for the in-memory tables */

	struct st_addr_entry *e;   /* every slot ever used this run; deleted ones stay */
	size_t n, cap, live;
	struct st_map index;       /* endpoint -> slot */

	struct st_map subnets;     /* live entries per /24 or /48 (no key for a count of 0) */
	struct st_map groups;      /* live entries per source group */

	char **sources;            /* interned source names */
	size_t nsources, source_cap;
	struct st_map source_index; /* name -> index into sources */
	uint32_t last_source;

	uint32_t *evict;           /* eviction order, worst first (built on demand) */
	size_t nevict, evict_pos;
	size_t changes;            /* journal lines written this run */
};

/* Counts by network key in a map keyed by the uint64: key's count (0 when absent). */
uint32_t ab_counter_get(const struct st_map *c, uint64_t key);
/* Adds one to key's count. Returns 0 or -1. */
int ab_counter_bump(struct st_map *c, uint64_t key);
/* Sets key's value (a map from key to any non-zero 32-bit value). Returns 0 or -1. */
int ab_counter_set(struct st_map *c, uint64_t key, uint32_t value);
/* The in-memory slot of ep (deleted or not), or NULL; never reads the disk. */
struct st_addr_entry *ab_lookup(const struct st_addrbook *ab, const struct st_endpoint *ep);
/* The slot of ep, read from the snapshot first when the book is lazy: *out is
 * NULL when ep is unknown. Returns 0 or -1. */
int ab_find(struct st_addrbook *ab, const struct st_endpoint *ep, struct st_addr_entry **out,
            struct st_err *err);
/* Takes a parsed stored entry into memory unless memory has ep already (the
 * journal's word is newer). Returns the slot in memory, or NULL. */
struct st_addr_entry *ab_adopt(struct st_addrbook *ab, const struct st_addr_entry *e,
                               const char *source, struct st_err *err);
int ab_load(struct st_addrbook *ab, struct st_err *err);
/* The live slots in book order (see ab_key_cmp), malloc'ed; *m: the count. */
uint32_t *ab_book_order(const struct st_addrbook *ab, size_t *m);
int ab_rewrite(struct st_addrbook *ab, struct st_err *err);

/* The previous snapshot line's key: book order is checked line by line. */
struct ab_order {
	bool have, pinned;
	struct st_endpoint ep;
};
/* 0 when e orders after the line before it; else -1 naming path:lineno. */
int ab_order_next(struct ab_order *o, const struct st_addr_entry *e, const char *path,
                  unsigned long lineno, struct st_err *err);
/* True, with err saying which version the book needs, when a file of the book
 * in dir has a header naming a format newer than ours (not damage: never
 * repaired, never rewritten). */
bool ab_newer_format(const char *dir, struct st_err *err);
/* Adds to an error that says the files are damaged how to repair them. Returns -1. */
int ab_damaged_hint(struct st_err *err);

/* The order of the snapshot: pinned entries first, then by endpoint. */
int ab_key_cmp(bool pinned_a, const struct st_endpoint *a, bool pinned_b,
               const struct st_endpoint *b);
/* The order of best: higher chance a or b first, then the more recent last
 * success, then a fixed hash of the endpoint. */
int ab_rank_cmp(double a, const struct st_addr_entry *x, double b, const struct st_addr_entry *y);
/* The fixed hash that orders entries of equal chance and last success (ab_rank_cmp). */
uint64_t ab_tie_hash(const struct st_endpoint *ep);
/* Chance without the penalty for a recent attempt: what addrbook.rank orders by. */
double ab_base_chance(const struct st_addr_entry *e);

/* The snapshot indexes (addrbook_index.c). order[i] is the slot written as
 * snapshot line i, at body offset off[i]. Returns 0 or -1. */
int ab_write_indexes(struct st_addrbook *ab, const uint32_t *order, const uint64_t *off, size_t m,
                     struct st_err *err);
/* True when both indexes exist and match the snapshot (or there is none). */
bool ab_indexes_current(struct st_addrbook *ab);
/* fsck: compares both indexes with what the snapshot makes of them. Returns 0
 * when they match, 1 when one is missing or stale, -1 (ST_EX_DATAERR naming
 * the index, with the repair hint) when one is damaged. */
int ab_check_indexes(struct st_addrbook *ab, struct st_err *err);

/* Reading an index: "rest OFFSET|none", then one body offset per line, then
 * the seal (see addrbook_index.c). */
struct ab_index {
	const char *p, *end;       /* the listed offsets */
	bool has_rest;
	uint64_t rest;
	bool rank;                 /* the rank index (else the age index) */
	bool have_prev;            /* the walk's last entry, to check the order */
	struct st_addr_entry prev;
	uint64_t prev_off;
};
/* Maps index name; 1 when usable (sealed for this snapshot), 0 when missing,
 * stale or damaged, -1. */
int ab_index_open(struct ab_index *ix, struct st_addrbook *ab, const char *name,
                  struct st_err *err);
/* The next listed entry, parsed from the snapshot: 1, 0 at the end, -1 when
 * the index or the line is damaged (the caller falls back to a full load). */
int ab_index_next(struct ab_index *ix, struct st_addrbook *ab, struct st_addr_entry *e,
                  char *source, size_t source_size);
/* A walk that stops at an entry reads the next one too: true when it (or the
 * rest entry, or the end) keeps the index's order, so the stop was no lie. */
bool ab_index_confirm(struct ab_index *ix, struct st_addrbook *ab);
/* The "rest" entry: every entry not listed orders after it. 1, 0 (none), -1. */
int ab_index_rest(struct ab_index *ix, struct st_addrbook *ab, struct st_addr_entry *e,
                  char *source, size_t source_size);

#endif
