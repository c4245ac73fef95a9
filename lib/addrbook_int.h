/* addrbook_int.h - the address book's insides, shared by lib/addrbook*.c only. */
#ifndef ST_ADDRBOOK_INT_H
#define ST_ADDRBOOK_INT_H

#include "st/addrbook.h"
#include "st/store.h"

struct ab_slot {
	uint64_t key;
	uint32_t count;
};

/* Open-addressing counts by network key (subnets, source groups). */
struct ab_counter {
	struct ab_slot *slot;
	size_t cap, used;
};

struct st_addrbook {
	struct st_config cfg;      /* a copy of the policy (seeds not owned) */
	struct st_store *store;
	bool writable;
	uint64_t key;              /* hash key for the in-memory tables */

	struct st_addr_entry *e;   /* every slot ever used this run; deleted ones stay */
	size_t n, cap, live;
	uint32_t *index;           /* endpoint -> slot + 1 */
	size_t index_cap;

	struct ab_counter subnets; /* live entries per /24 or /48 */
	struct ab_counter groups;  /* live entries per source group */

	char **sources;            /* interned source names */
	size_t nsources, source_cap;
	uint32_t *source_index;
	uint32_t last_source;

	uint32_t *evict;           /* eviction order, worst first (built on demand) */
	size_t nevict, evict_pos;
	size_t changes;            /* journal lines written this run */
};

uint32_t ab_counter_get(struct ab_counter *c, uint64_t key);
int ab_counter_bump(struct ab_counter *c, uint64_t key);
/* Sets key's value (a map from key to any non-zero 32-bit value). Returns 0 or -1. */
int ab_counter_set(struct ab_counter *c, uint64_t key, uint32_t value);
struct st_addr_entry *ab_lookup(const struct st_addrbook *ab, const struct st_endpoint *ep);
int ab_load(struct st_addrbook *ab, struct st_err *err);
int ab_rewrite(struct st_addrbook *ab, struct st_err *err);

#endif
