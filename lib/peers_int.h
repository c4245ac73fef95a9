/* peers_int.h - what peers.c and bans_index.c share; not the library's interface. */
#ifndef ST_PEERS_INT_H
#define ST_PEERS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "st/err.h"
#include "st/peers.h"
#include "st/store.h"

/* A bans table's sorted index over its snapshot (see bans_index.c), as mapped. */
struct bans_index {
	const char *ix;   /* n fixed-width offset lines */
	size_t n;
	const char *body; /* the snapshot's record lines */
	size_t len;
};

/* ---- table lines (peers_line.c) ---- */

/* Parses a ban's target into b (canonical form in b->target). Returns 0 or -1. */
int pb_ban_target_parse(struct st_ban *b, const char *target, struct st_err *err);
/* Parses one bans table line (no newline) into b. Returns 0 or -1 (ST_EX_DATAERR). */
int pb_ban_parse(struct st_ban *b, const char *line, size_t len, struct st_err *err);
/* Parses one peers table line (no newline) into p. Returns 0 or -1 (ST_EX_DATAERR). */
int pb_peer_parse(struct st_peer *p, const char *line, size_t len, struct st_err *err);
/* A table line (no newline) into buf, as snprintf would (the length it wants). */
size_t pb_peer_format(const struct st_peer *p, char *buf, size_t size);
size_t pb_ban_format(const struct st_ban *b, char *buf, size_t size);
/* Whether a certificate could prove id: only a canonical st1 id is derived from a key. */
bool pb_provable_id(const char *id);

/* Writes bans.index for the store's current snapshot. A snapshot with a line whose
 * target is not in canonical form gets no index (readers load it whole). 0 or -1. */
int bans_index_write(struct st_store *s, struct st_err *err);
/* Maps bans.index: 1 when it is sealed for the current snapshot, 0 when missing,
 * stale or damaged (the caller reads the whole table), -1 on error. */
int bans_index_open(struct bans_index *ix, struct st_store *s, struct st_err *err);
/* The snapshot line of target (the last one, as a full load keeps): 1 with *line
 * and *n set, 0 when absent, -1 when the index is not consistent on the way. */
int bans_index_find(const struct bans_index *ix, const char *target, const char **line,
                    size_t *n);

/* A peers table's index over its snapshot by endpoint (see peers_index.c), as mapped. */
struct peers_index {
	const char *ix;   /* n fixed-width key and offset lines */
	size_t n;
	const char *body; /* the snapshot's record lines */
	size_t len;
};

/* An entry of peers.index: an endpoint's key and the offset of a snapshot line holding it.
 * Packed, 12 bytes not 16: a compaction of a million peers holds two million of them,
 * and its sort as many again. */
struct __attribute__((packed)) peers_index_entry {
	uint32_t key;
	uint64_t off;
};
_Static_assert(sizeof(struct peers_index_entry) == 12, "a packed index entry");

/* An endpoint's key in peers.index, and a node id's. */
uint32_t peers_index_key(const struct st_endpoint *ep);
uint32_t peers_index_id_key(const char *id);
/* Writes peers.index for the store's current snapshot; a snapshot with a line that
 * does not read gets none (readers load it whole). 0 or -1. */
int peers_index_write(struct st_store *s, struct st_err *err);
/* Writes peers.index for the store's current snapshot from its m entries (each line's
 * endpoints and its id), as the writer of the snapshot knows them (v is sorted in
 * place). 0 or -1. */
int peers_index_write_entries(struct st_store *s, struct peers_index_entry *v, size_t m,
                              struct st_err *err);
/* Maps peers.index: 1 when it is sealed for the current snapshot, 0 when missing,
 * stale or damaged, -1 on error. */
int peers_index_open(struct peers_index *ix, struct st_store *s, struct st_err *err);
typedef int (*peers_index_fn)(void *ctx, const char *line, size_t len, struct st_err *err);
/* Calls fn on every snapshot line that holds ep, in file order. Returns 0, 1 when the
 * index is not consistent on the way (the caller reads the whole table), or -1 when
 * fn failed. */
int peers_index_each(const struct peers_index *ix, const struct st_endpoint *ep,
                     peers_index_fn fn, void *ctx, struct st_err *err);
/* peers_index_each of ep, or when id is not NULL of the snapshot lines of id, for many
 * searches in the order of their keys: *from (0 for the first) is where the search
 * for a key no larger than this one found it, and is set to where this one does. */
int peers_index_each_from(const struct peers_index *ix, const struct st_endpoint *ep,
                          const char *id, size_t *from, peers_index_fn fn, void *ctx,
                          struct st_err *err);

#endif
