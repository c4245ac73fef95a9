/* peers.h - identity-centric peer bookkeeping (IPeerManager) and expiring bans. */
#ifndef ST_PEERS_H
#define ST_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "st/config.h"
#include "st/endpoint.h"
#include "st/err.h"
#include "st/status.h"

#define ST_PEERS_FORMAT_VERSION 1
#define ST_PEER_ENDPOINTS 4      /* endpoints remembered per peer, newest first */
#define ST_UA_MAX 128
#define ST_BAN_TARGET_MAX (ST_NODE_ID_MAX + 8)
#define ST_BAN_REASON_MAX 200

/* One peer, keyed by node id. Times are Unix seconds. */
struct st_peer {
	char id[ST_NODE_ID_MAX + 1];
	int64_t first_seen, last_seen;
	int32_t reputation;
	uint32_t successes, failures, consecutive_failures;
	int32_t version;                 /* 0: unknown */
	bool verified;                   /* id proven by TLS; false: a claim */
	char user_agent[ST_UA_MAX + 1];
	struct st_endpoint eps[ST_PEER_ENDPOINTS];
	size_t neps;
	bool deleted;                    /* internal */
};

/* A ban: on a node id, an address (a /32 or /128) or a subnet. */
struct st_ban {
	char target[ST_BAN_TARGET_MAX + 1]; /* as given: "ID", "1.2.3.4", "1.2.3.0/24" */
	bool is_net;
	struct st_cidr net;
	int64_t created;
	int64_t expires;                 /* 0: permanent */
	bool automatic;                  /* origin: automatic or manual */
	char reason[ST_BAN_REASON_MAX + 1];
	bool deleted;                    /* internal */
};

struct st_peerbook;

/* st_peerbook_open flag: read the bans only, no peers (see st_bans_verdict). */
#define ST_PEERBOOK_BANS_ONLY 0x100u
/*
 * st_peerbook_open flag, for a reader that asks about a few targets (a gate):
 * the bans snapshot is not read but searched through its index (bans.index,
 * written by every writer), and so is the peers snapshot for the peer last seen
 * at an endpoint (peers.index), so the cost does not grow with the tables. Such a
 * book answers ban questions through st_bans_lookup only; st_bans_verdict,
 * st_bans_slot and the st_peers_ lookups see the bans looked up so far and the
 * journals' bans and peers. A missing, stale or inconsistent index reads its
 * table whole: the same answers.
 */
#define ST_PEERBOOK_LAZY 0x200u
/*
 * st_peerbook_open flag, for a reader that goes through every peer (st-peers list,
 * best, stats), with ST_STORE_READ only: each peer is kept packed, some 50 bytes
 * instead of a struct st_peer, and read through st_peers_read (or st_peers_sorted);
 * st_peers_get, st_peers_at, st_peers_verified_at and st_peers_slot find nothing in
 * such a book. The peers it holds, the bans and every verdict are a whole book's.
 */
#define ST_PEERBOOK_PACKED 0x400u
/*
 * st_peerbook_open flag, with ST_STORE_READ only: the bans are kept for verdicts,
 * some 30 bytes each instead of a struct st_ban, and asked through st_bans_banned;
 * st_bans_verdict and st_bans_slot find nothing in such a book.
 */
#define ST_PEERBOOK_VERDICTS 0x800u

/*
 * Opens the "peers" and "bans" tables of cfg->data_dir (ST_STORE_READ or
 * _WRITE). A reader creates nothing: a missing table reads as empty (no
 * peers, no bans). Returns 0 with *out set, or -1.
 */
int st_peerbook_open(struct st_peerbook **out, const struct st_config *cfg, unsigned flags,
                     struct st_err *err);
/* What st_peerbook_open_for reads of the peers snapshot. */
struct st_peerbook_want {
	const char *const *ids;
	size_t nids;
	const struct st_endpoint *eps;
	size_t neps;
};

/*
 * st_peerbook_open for a writer that applies a few results (st-peers ingest): of
 * the peers snapshot only the lines of want's ids and of the peers that hold one of
 * want's endpoints are read, found through peers.index, and the journal over them,
 * so that the cost follows the results, not the table. What the book says about
 * those ids and endpoints, and about the peers st_peers_at finds at them, is what
 * the whole table says, and so are the changes made to them; st_peers_slot and a
 * lookup of anything else see part of the table. The bans are read whole. A
 * compaction due at close streams the old snapshot into the new one. A missing,
 * stale or inconsistent index, damage on a line read, or more ids and endpoints than
 * one per 800 bytes of snapshot (the searches would cost more than the reading) read
 * the table whole, as st_peerbook_open. flags: ST_STORE_READ or _WRITE only.
 * Returns 0 or -1.
 */
int st_peerbook_open_for(struct st_peerbook **out, const struct st_config *cfg, unsigned flags,
                         const struct st_peerbook_want *want, struct st_err *err);
/* Whether the book holds part of the peers table (st_peerbook_open_for found its index). */
bool st_peerbook_partial(const struct st_peerbook *pb);
/* Syncs the journals (compacting when due) and frees. Returns 0 or -1. */
int st_peerbook_close(struct st_peerbook *pb, struct st_err *err);
void st_peerbook_free(struct st_peerbook *pb);
/*
 * For a book opened ST_STORE_READ: releases the tables' locks and keeps what
 * was read, so a long-running reader (st-listen, st-connect dialing) never
 * holds up a writer. The book can only be read afterwards. Returns 0, or -1
 * for a writable book (its changes need the lock).
 */
int st_peerbook_unlock(struct st_peerbook *pb, struct st_err *err);

/* A peer by id, or NULL. */
const struct st_peer *st_peers_get(const struct st_peerbook *pb, const char *id);
/* The peer last seen at ep, or NULL. */
const struct st_peer *st_peers_at(const struct st_peerbook *pb, const struct st_endpoint *ep);
/*
 * The peer last seen at ep when its id was proven there by TLS, or NULL: what
 * trust on first use compares a new certificate's id with (identity-changed).
 * An unverified claim never takes an endpoint from a verified peer, so a
 * verified owner stays until another verified id is seen there.
 */
const struct st_peer *st_peers_verified_at(const struct st_peerbook *pb,
                                           const struct st_endpoint *ep);
size_t st_peers_slots(const struct st_peerbook *pb);
/* The i-th peer slot, NULL when deleted. */
const struct st_peer *st_peers_slot(const struct st_peerbook *pb, size_t i);

/* The i-th peer slot of any book into *out: 1, or 0 when it is deleted (or past the end). */
int st_peers_read(const struct st_peerbook *pb, size_t i, struct st_peer *out);

/* Orders of st_peers_sorted; ties (reputation, last_seen) by id. */
enum st_peers_order {
	ST_PEERS_BY_ID,          /* strcmp of the ids */
	ST_PEERS_BY_REPUTATION,  /* highest first */
	ST_PEERS_BY_LAST_SEEN,   /* newest first */
};

/*
 * The slots of the peers (not deleted) of any book, in order: 0 with *out (the
 * caller frees it) holding *n slots for st_peers_read, or -1 (out of memory).
 */
int st_peers_sorted(const struct st_peerbook *pb, enum st_peers_order order, uint32_t **out,
                    size_t *n, struct st_err *err);

/* Asks the CPU for what st_peers_read of slot i will read (deep: and a verdict on the
 * peer, which reads the slot's record first: ask without deep some slots ahead). */
void st_peers_prefetch_slot(const struct st_peerbook *pb, size_t i, bool deep);

/* What changed when a result was applied, for `ingest` to report. */
struct st_peer_change {
	bool added;            /* a new peer */
	bool new_endpoint;     /* a known id seen at an endpoint it was not at */
	bool changed_id;       /* a verified endpoint now answers with another verified id */
	bool claim_ignored;    /* an unverified claim of a verified peer's id: nothing changed */
	bool endpoint_kept;    /* an unverified claim at a verified peer's endpoint: the
	                        * claim is recorded without it; previous_id is the owner */
	bool banned;           /* crossed into an automatic ban */
	char previous_id[ST_NODE_ID_MAX + 1];
	const struct st_ban *ban;
};

/*
 * Adds or updates a peer from a handshake (id at ep, version, user agent,
 * verified). A verified id is never overridden by an unverified claim: a
 * claim of a verified peer's id changes nothing (change->claim_ignored), a
 * claim at an endpoint a verified peer holds leaves the endpoint with it
 * (change->endpoint_kept), and the first verified sighting of an id that was
 * only claimed before starts its record afresh (endpoints, reputation, counts).
 * Returns 0 or -1.
 */
int st_peers_seen(struct st_peerbook *pb, const char *id, const struct st_endpoint *ep,
                  int32_t version, const char *user_agent, bool verified, int64_t now,
                  struct st_peer_change *change, struct st_err *err);
/* Reputation + peers.success_delta; resets consecutive failures. Returns 1, 0 (unknown), -1. */
int st_peers_success(struct st_peerbook *pb, const char *id, int64_t now, struct st_err *err);
/*
 * Reputation + weight x peers.failure_delta; bans automatically when the
 * reputation falls to peers.blacklist_threshold or the consecutive failures
 * reach peers.max_failures (change->banned). Returns 1, 0 (unknown), -1.
 */
int st_peers_failure(struct st_peerbook *pb, const char *id, int32_t weight, int64_t now,
                     struct st_peer_change *change, struct st_err *err);
/* Removes a peer. Returns 1, 0 (unknown), -1. */
int st_peers_remove(struct st_peerbook *pb, const char *id, struct st_err *err);

/* ---- bans ---- */

/*
 * Bans target - a node id, an address or ADDR/BITS - until expires (0: permanent). A ban never shortens an existing
 * one: the later expiry wins. Returns 0 or -1.
 */
int st_bans_add(struct st_peerbook *pb, const char *target, int64_t expires, bool automatic,
                const char *reason, int64_t now, const struct st_ban **out, struct st_err *err);
/* Lifts a ban. Returns 1, 0 (none), -1. */
int st_bans_remove(struct st_peerbook *pb, const char *target, struct st_err *err);

/*
 * What a ban verdict is asked about, in the forms `st-peers ban`, `unban` and
 * `check` take: a node id ("n1"), an address ("1.2.3.4", "2001:db8::1"), an
 * endpoint ("1.2.3.4:7777", "[2001:db8::1]:7777"), ID@endpoint, or a subnet
 * ("1.2.3.0/24"). An endpoint is its address plus a port.
 */
struct st_ban_query {
	char id[ST_NODE_ID_MAX + 1];  /* "": no id */
	bool has_net;                 /* net holds the address or the subnet */
	struct st_cidr net;           /* an address is a /32 or /128 */
	uint16_t port;                /* non-zero: net is an address, and this its endpoint's port */
};

/* Parses target into q. Returns 0, or -1 (ST_EX_DATAERR) saying what is wrong. */
int st_ban_query_parse(struct st_ban_query *q, const char *target, struct st_err *err);
/* Fills q with ep (an endpoint, or a bare address when ep->port is 0) and id (NULL or "": none). */
void st_ban_query_set(struct st_ban_query *q, const struct st_endpoint *ep, const char *id);

/* Asks the CPU for what a verdict on peer x (of pb) will read, changing nothing: a
 * caller going through many peers calls it a few peers ahead of the one it asks about. */
void st_peers_prefetch(const struct st_peerbook *pb, const struct st_peer *x);

/*
 * The one verdict on bans: whether q is banned at now, and why. Returns the
 * ban in force that stops q (owned by pb), or NULL when nothing does. It looks,
 * in this order, for a ban on q's id; on the address (its /32 or /128) or on
 * any subnet containing it - for a subnet, on a subnet containing all of it;
 * and, for an endpoint, on the id of the peer last seen there (automatic bans
 * fall on ids: five failures at an endpoint ban the peer's id) and on the
 * endpoint's derived id (st_peers_derived_id). A book opened
 * ST_PEERBOOK_BANS_ONLY knows no peers, so only the derived id of an endpoint.
 */
const struct st_ban *st_bans_verdict(const struct st_peerbook *pb, const struct st_ban_query *q,
                                     int64_t now);
/* Whether st_bans_verdict finds a ban, in any book (a ST_PEERBOOK_VERDICTS one too). */
bool st_bans_banned(const struct st_peerbook *pb, const struct st_ban_query *q, int64_t now);
/*
 * st_bans_verdict for any book, a ST_PEERBOOK_LAZY one included: reads what the
 * verdict needs from the snapshot first. Returns 0 with *out the ban (or NULL),
 * or -1 (damage the book could not be read around, out of memory).
 */
int st_bans_lookup(struct st_peerbook *pb, const struct st_ban_query *q, int64_t now,
                   const struct st_ban **out, struct st_err *err);
size_t st_bans_slots(const struct st_peerbook *pb);
/* The i-th ban slot, NULL when deleted or expired at now. */
const struct st_ban *st_bans_slot(const struct st_peerbook *pb, size_t i, int64_t now);

/* One connection result, as st-connect or st-listen report it. */
struct st_conn_result {
	struct st_endpoint ep;
	enum st_status status;   /* ok, or why not */
	const char *node_id;     /* NULL or "" when unknown */
	int32_t version;
	const char *user_agent;
	bool verified;
};

struct st_addrbook;

/*
 * The seed design's lifecycle for one result: a success records the endpoint's
 * success in the address book, adds or updates the peer and counts its
 * success; a failure records the endpoint's failure and counts against the
 * peer when its id is known (from the result or the endpoint). A verified
 * failure (identity-mismatch: the id the certificate proved) records that
 * peer first, so the failure lands on the proven id, never on the claimed
 * one; an unverified claim counts neither for nor against a verified peer.
 * "banned" and "identity-changed" results change nothing. Either book may be
 * NULL. Returns 0 or -1.
 */
int st_glue_apply(struct st_addrbook *ab, struct st_peerbook *pb, const struct st_conn_result *r,
                  int64_t now, struct st_peer_change *change, struct st_err *err);

/*
 * Checks the peers and bans tables. Without repair: 0 when they load, -1 with
 * err naming the first damage. With repair, on damage: under both locks,
 * keeps every line that reads (a journal line with its checksum), moves the
 * files aside (.bak) and writes the tables anew; returns 1. *kept and *lost
 * count entries and unreadable lines.
 */
int st_peerbook_fsck(const struct st_config *cfg, bool repair, size_t *kept, size_t *lost,
                     struct st_err *err);

/* A deterministic id for an address known by endpoint only: "ep-" + 16 hex digits. */
void st_peers_derived_id(const struct st_endpoint *ep, char *buf, size_t size);

#endif
