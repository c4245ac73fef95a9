/* bans_cache.h - the listener's bans, read by a worker thread: the event loop never opens
 * the bans table, waits for its lock or parses it (a reload of 100k bans in the loop
 * stalls every connection for as long as the parse takes). */
#ifndef ST_BANS_CACHE_H
#define ST_BANS_CACHE_H

#include <stdint.h>

#include "st/config.h"
#include "st/err.h"
#include "st/peers.h"

struct st_bans_cache;

/*
 * Reads the bans (and peers, for st_bans_verdict) once now, not waiting for their lock
 * (held: the first connections see no bans until the worker gets it), then starts the
 * worker thread: every poll_ms it looks at the bans files (stat: size, mtime, inode), every
 * 20 polls at the peers files too (whose an endpoint is, for a ban of an id), and reads
 * both again when they changed, a try failed, or a reload was asked for. The worker
 * never prints, calls none of cfg's lock callbacks and never waits for a lock (a held one
 * is tried again at the next poll). Returns 0 or -1 (no memory, no thread).
 */
int st_bans_cache_start(struct st_bans_cache **out, const struct st_config *cfg, int64_t poll_ms,
                        struct st_err *err);

/* The newest copy (NULL when none was read yet), valid until the next call; takes a mutex
 * only to swap a pointer the worker published, never while the worker reads. The copy it
 * replaces is freed by the worker, not here. */
struct st_peerbook *st_bans_cache_current(struct st_bans_cache *c);

/* Asks the worker to read the bans again now, whatever their files look like; returns a
 * ticket for st_bans_cache_done. Never waits. */
uint64_t st_bans_cache_reload(struct st_bans_cache *c);

/* True once the worker tried a read asked for by ticket (or a later one); code gets that
 * try's failure (0: read, and st_bans_cache_current returns it), msg its words. */
bool st_bans_cache_done(struct st_bans_cache *c, uint64_t ticket, int *code, char *msg,
                        size_t size);

/* Stops and joins the worker, frees everything. NULL is allowed. */
void st_bans_cache_stop(struct st_bans_cache *c);

#endif
