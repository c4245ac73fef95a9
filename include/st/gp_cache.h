/* gp_cache.h - GetPeers answered from memory: a worker thread keeps a snapshot of the
 * address book's best candidates, so the event loop never opens the book, waits for its
 * lock or ranks it (a 100k book took 0.9 s to rank for 1000 peers, in the loop). */
#ifndef ST_GP_CACHE_H
#define ST_GP_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "st/config.h"
#include "st/endpoint.h"
#include "st/err.h"

/* Candidates a snapshot keeps of each kind: enough for the largest GetPeers
 * (ST_PEERS_MAX) after the most exclusions a GetPeers may carry (1000). */
#define ST_GP_KEEP 2000

/* The book's best at one moment, best first, spread over groups (st_addrbook_best);
 * read-only once made. */
struct st_gp_snapshot {
	struct st_endpoint *all;      /* for a requester that is not routable */
	size_t nall;
	struct st_endpoint *routable; /* for a routable one: never a private address */
	size_t nroutable;
	int64_t taken;                /* st_now() when the book was read */
};

/* One GetPeers, as the listener decoded it. */
struct st_gp_ask {
	bool routable_only;
	const struct st_endpoint *exclude;
	size_t nexclude;
	/* true leaves the endpoint out (the listener's ban check, on its copy in memory) */
	bool (*skip)(void *ctx, const struct st_endpoint *ep);
	void *skip_ctx;
	uint64_t key;                 /* hashes the exclusions: random per process */
};

/* Up to max endpoints of s for a, best first; exclusions are a hash set. s NULL: 0. */
size_t st_gp_snapshot_answer(const struct st_gp_snapshot *s, const struct st_gp_ask *a,
                             struct st_endpoint *reply, size_t max);
void st_gp_snapshot_free(struct st_gp_snapshot *s);
/* Reads the book now (ST_STORE_NOWAIT: a held lock is ST_EX_TEMPFAIL at once; a
 * missing book is an empty snapshot). 0 with *out set, or -1. */
int st_gp_snapshot_take(struct st_gp_snapshot **out, const struct st_config *cfg, int64_t now,
                        struct st_err *err);

struct st_gp_cache;

/*
 * Takes the first snapshot (not waiting for the book's lock: when it is held the
 * first GetPeers get empty answers until the worker gets it), then starts the worker
 * thread: every poll_ms it looks at the book's files (stat: size, mtime, inode) and
 * takes a new snapshot when they changed, a try failed, or a minute passed (a recent
 * attempt lowers an entry's chance for ten minutes). The worker never prints and
 * calls none of cfg's lock callbacks. Returns 0 or -1 (no memory, no thread).
 */
int st_gp_cache_start(struct st_gp_cache **out, const struct st_config *cfg, int64_t poll_ms,
                      struct st_err *err);
/* The newest snapshot (NULL when none was taken yet), valid until the next call; takes a
 * mutex only to swap a pointer the worker published, never while the worker reads. */
const struct st_gp_snapshot *st_gp_cache_current(struct st_gp_cache *c);
/* How the worker is doing: snapshots taken, and the last failure (code 0: the last try
 * worked; msg gets its words). */
uint64_t st_gp_cache_status(struct st_gp_cache *c, int *code, char *msg, size_t size);
/* Stops and joins the worker, frees everything. NULL is allowed. */
void st_gp_cache_stop(struct st_gp_cache *c);

#endif
