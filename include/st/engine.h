/*
 * engine.h - the connection engine: one connection type on a libevent loop that
 * the caller owns, a dialer that takes endpoints while it runs, a listener.
 *
 * Rules for every function here:
 * - Nothing is thread-safe: one thread owns the event_base and calls all of
 *   these, and every callback runs on that thread, from inside the loop.
 * - The caller owns the loop (struct event_base *): it creates it, runs it
 *   (event_base_dispatch / event_base_loop) and frees it after every object
 *   made on it was freed. The engine never breaks or exits the loop itself.
 * - No callback is ever called from inside the call that caused it: a call such
 *   as st_dialer_add or st_conn_close made from a callback takes effect, and
 *   reports, once that callback has returned to the engine. Two calls made
 *   from outside every callback report at once, on purpose: st_conn_close
 *   (its closed callback) and st_listener_free (its sessions, as shut down).
 * - Pointers handed to a callback (results, endpoints, handshakes, peers, text)
 *   are valid only during that callback: copy what you keep.
 * - lib/ prints nothing; errors come back as struct st_err or as statuses.
 */
#ifndef ST_ENGINE_H
#define ST_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "st/endpoint.h"
#include "st/err.h"
#include "st/session.h"
#include "st/status.h"

struct event_base;

/* Per connection budgets: answers queued to a peer before we stop reading from
 * it (reading resumes once half of it was taken), and the most read from the
 * socket at once before the session has taken it. Before the handshake a frame
 * is at most ST_PRE_HANDSHAKE_FRAME_MAX (session.h). */
#define ST_CONN_OUT_MAX ((size_t)256 * 1024)
#define ST_CONN_IN_MAX ((size_t)64 * 1024)

/*
 * A memory budget shared by many connections (a listener's, a dialer's): the bytes each
 * holds - socket input not yet fed, the frame its decoder is assembling, answers not yet
 * written - are charged to it as they change. Past limit, a connection holding more
 * than one read (ST_CONN_IN_MAX) stops reading until the total is back under three
 * quarters of limit: the largest consumers wait, small honest exchanges go on, and
 * every connection's deadline still runs. A listener over its budget, when a newcomer
 * comes, closes the connections holding the most (more than one read each, heaviest
 * first) until the total is under limit, and takes the newcomer; only when no connection
 * holds that much does it refuse it (with an Error saying so). A dialer starts no new dial.
 */
struct st_budget {
	size_t limit;          /* bytes; 0: no budget (charged, never enforced) */
	size_t used;           /* charged now */
	size_t peak;           /* the most charged at once */
	uint64_t pauses;       /* connections stopped for it */
	uint64_t shed;         /* connections closed to make room for a newcomer */
};

/*
 * TLS (tls.h, st_tls_new): a connection is made by one function that wraps its
 * socket; with a TLS context it wraps it in an OpenSSL bufferevent (TLS 1.3,
 * both sides presenting certificates, verified by id). The id the peer's
 * certificate proves must equal the node_id of its Handshake / HandshakeAck,
 * else the connection ends with identity-mismatch before the owner hears of
 * the handshake; an expected id is checked inside the TLS handshake, before any
 * st message; a TLS failure is tls-error, with the reason in words. Deadlines
 * are the same as over TCP: the TLS handshake runs inside them.
 */
struct st_tls_ctx;

/* Bytes a set of connections exchanged: what the peers sent us, what we sent them. */
struct st_traffic {
	uint64_t in, out;
};

/* ==== one connection ==== */

struct st_conn;

/*
 * What a connection tells its owner. Every member may be NULL. c is valid
 * during each call; any of them may call st_conn_close(c, ...).
 */
struct st_conn_cbs {
	/* Dialed connections: the TCP connection is up and our Handshake went out. */
	void (*connected)(void *ctx, struct st_conn *c);
	/* Each message the session decoded (session.h): ST_EV_HANDSHAKE once the
	 * handshake is done both ways - a refusal there (st_conn_close) sends no
	 * HandshakeAck -; ST_EV_GETPEERS wants ev->reply / ev->nreply filled; new
	 * requests (st_conn_ping, ...) may be made from here. */
	void (*event)(void *ctx, struct st_conn *c, struct st_session_event *ev);
	/* After each batch of received bytes was fed to the session and its
	 * answers were queued (also for bytes that completed no message). */
	void (*input)(void *ctx, struct st_conn *c);
	/* The deadline set with st_conn_set_timeout passed. When NULL, the
	 * connection closes with ST_STATUS_TIMEOUT, "timeout". */
	void (*timeout)(void *ctx, struct st_conn *c);
	/*
	 * The connection ended, once; the last call about c, which the engine frees
	 * when this returns (do not st_conn_free it). status is how it ended: the
	 * one given to st_conn_close, else from the socket or the session's close
	 * reason (st_conn_session(c)->reason): on a dialed connection a peer
	 * closing is a protocol error (we were waiting for something), on an
	 * accepted one it is ok after the handshake; connect errors give refused,
	 * timeout or unreachable. error: words, or NULL.
	 */
	void (*closed)(void *ctx, struct st_conn *c, enum st_status status, const char *error);
};

struct st_conn_opts {
	/* our Handshake / HandshakeAck: shared by the connections, must outlive them */
	const struct st_handshake *local;
	uint32_t max_frame;            /* once the handshake is done; 0: ST_FRAME_MAX */
	struct st_tls_ctx *tls;        /* the TLS slot: NULL (plain TCP) */
	/* Dialed connections: the id the endpoint must prove (from "ID@endpoint"),
	 * kept for TLS pinning; NULL or "" for none. Without TLS it is carried, not
	 * checked: a plain TCP node id is a claim. */
	const char *expected_id;
	/* TLS, dialed: the verified id last seen at the endpoint (trust on first
	 * use), NULL or "" for none. Another id is refused (identity-changed) when
	 * strict, else taken and told (st_conn_previous_id). A pin outranks it. */
	const char *known_id;
	bool strict;
	/* What the connection holds is charged here; NULL: to nobody. Must outlive it. */
	struct st_budget *budget;
	/* Dialed: bind to this local address (its port is ignored: the kernel picks
	 * one) before connecting, as a node with several addresses dials from the one
	 * it is known by; NULL: the kernel's choice. */
	const struct st_endpoint *source;
	/* The protocol bytes it reads and writes are added here (frames; over TLS,
	 * the plaintext); NULL: counted nowhere. Must outlive it. */
	struct st_traffic *traffic;
};

/* Whether a dial from source (its port ignored) can bind: an address of this machine.
 * Returns 0, or -1 with ST_EX_USAGE ("cannot dial from ADDR: ...") or ST_EX_TEMPFAIL. */
int st_conn_bind_check(const struct st_endpoint *source, struct st_err *err);

/*
 * Dials ep (non-blocking) on base and queues our Handshake. Returns 0 with *out
 * set: from then on the callbacks report, and closed comes exactly once (a
 * connect that fails at once is reported from the loop too). Returns -1 with
 * err (no memory or descriptors, a TLS context given) and no callback ever.
 * cbs is copied; ctx is the caller's and must outlive the connection.
 */
int st_conn_dial(struct st_conn **out, struct event_base *base, const struct st_endpoint *ep,
                 const struct st_conn_opts *o, const struct st_conn_cbs *cbs, void *ctx,
                 struct st_err *err);

/*
 * Takes an accepted socket fd (from ep) and waits for the peer's Handshake; the
 * connection owns fd from here, and closes it on failure too. Returns 0 with
 * *out set, or -1 with err and no callback.
 */
int st_conn_accept(struct st_conn **out, struct event_base *base, int fd,
                   const struct st_endpoint *ep, const struct st_conn_opts *o,
                   const struct st_conn_cbs *cbs, void *ctx, struct st_err *err);

/*
 * Ends the connection with status and error (words, copied; NULL for none):
 * what the session had not yet written is dropped, closed is called - at once
 * when called from outside c's callbacks, else when the current callback has
 * returned - and c is freed after it. A second close is ignored.
 */
void st_conn_close(struct st_conn *c, enum st_status status, const char *error);

/* As st_conn_close, first telling the peer why in an Error message (why is its text and
 * the error reported), handed to the kernel at once when nothing else waits for the peer
 * and its socket takes it: a peer that leaves our answers unread never hears it. */
void st_conn_close_telling(struct st_conn *c, enum st_status status, const char *why);

/* Frees c without calling closed; never from inside one of c's callbacks.
 * NULL is allowed. For an owner tearing down (the loop has stopped). */
void st_conn_free(struct st_conn *c);

/* (Re)arms the connection's one deadline ms from now; ms <= 0 disarms it. */
void st_conn_set_timeout(struct st_conn *c, int64_t ms);

/* Requests (once the handshake is done), written out at once. Return 0, or -1
 * (not ready, or over a ceiling). ping: nonce from the OS random source. */
int st_conn_ping(struct st_conn *c);
int st_conn_getpeers(struct st_conn *c, int32_t max_count, const struct st_endpoint *exclude,
                     size_t nexclude);
int st_conn_raw(struct st_conn *c, uint8_t type, const uint8_t *payload, size_t len);

/* The session state machine (state, remote handshake, pending flags, close
 * reason): to read, never to feed; valid while c is. */
const struct st_session *st_conn_session(const struct st_conn *c);
/* The peer's address (dialed, or where an accepted connection comes from). */
const struct st_endpoint *st_conn_endpoint(const struct st_conn *c);
/* The expected id given at dial time, "" when none. */
const char *st_conn_expected_id(const struct st_conn *c);
/* True once a dial's TCP connect completed (always for accepted ones). */
bool st_conn_connected(const struct st_conn *c);
/* True once the handshake completed both ways (st_conn_session(c)->remote holds it). */
bool st_conn_handshaken(const struct st_conn *c);
/* TLS: the id the peer's certificate proved, once the TLS handshake completed
 * (the peer's signature checked with that key); "" without TLS, before, or
 * when the certificate was refused inside the handshake (a pin not met). */
const char *st_conn_verified_id(const struct st_conn *c);
/* TLS: the known id the endpoint no longer proves (not strict), else "". */
const char *st_conn_previous_id(const struct st_conn *c);
/* The kernel's smoothed round trip of the connection's TCP socket in microseconds
 * (TCP_INFO), or -1 when unknown. */
int64_t st_conn_rtt_us(const struct st_conn *c);
/* The bytes c holds (socket input not yet fed, the frame being assembled, answers not yet
 * written), as last charged to its budget; 0 without a budget. */
size_t st_conn_held(const struct st_conn *c);

/* ==== the dialer: many endpoints, jobs at a time ==== */

struct st_dialer;

/* The outcome of dialing one endpoint. */
struct st_dial_result {
	const struct st_endpoint *ep;
	size_t index;                     /* the order of st_dialer_add, from 0 */
	const char *expected_id;          /* given with the endpoint ("ID@"), or NULL */
	enum st_status status;
	const char *error;                /* words, or NULL */
	const struct st_hello *remote;    /* NULL when no handshake happened */
	int64_t rtt_ms;                   /* -1 when not measured */
	const struct st_endpoint *peers;  /* from GetPeers, at most the count asked */
	size_t npeers;
	size_t npeers_sent;               /* what the peer sent (> npeers: it sent more than asked) */
	const char *verified_id;          /* TLS: the id the certificate proved; NULL without */
	const char *previous_id;          /* TLS: the known id it replaced (not strict); NULL */
};

struct st_dialer_opts {
	uint32_t jobs;            /* dials at once (>= 1) */
	int64_t timeout_ms;       /* per endpoint, connect to result */
	bool ping;                /* after the handshake: Ping, wait for the Pong (rtt_ms) */
	int32_t getpeers;         /* then: 0 none, else GetPeers max_count (1..ST_PEERS_MAX) */
	const struct st_endpoint *exclude; /* GetPeers exclusions, copied (at most 1000) */
	size_t nexclude;
	size_t max_queued;        /* endpoints waiting at most; 0: no ceiling (st_dialer_add refuses past it) */
	size_t max_memory;        /* the dials' budget (struct st_budget); 0: none */
	struct st_handshake local;/* copied */
	struct st_tls_ctx *tls;   /* NULL: plain TCP; else TLS with this node's contexts */
	bool strict;              /* TLS: refuse an endpoint that proves another id than known_id's */
	const struct st_endpoint *source; /* dial from this local address (copied); NULL: any */
	void *ctx;                /* passed to every callback below */
	/* TLS: the verified id last seen at ep (trust on first use), or NULL; asked at dial time. */
	const char *(*known_id)(void *ctx, const struct st_endpoint *ep);
	/* Once per endpoint added, in completion order. May call st_dialer_add. */
	void (*result)(void *ctx, const struct st_dial_result *r);
	/* After each result: done of total added so far, ok among them. */
	void (*progress)(void *ctx, size_t done, size_t total, long ok);
	/* true drops a connection whose handshake shows this id (status banned). */
	bool (*banned_id)(void *ctx, const char *id);
	/* Nothing is queued or in flight any more (called after the result that
	 * emptied it, unless that result added more). A driver stops here, or adds. */
	void (*idle)(void *ctx, struct st_dialer *d);
};

/* Makes a dialer on base (o copied). Returns 0, or -1 with err. */
int st_dialer_new(struct st_dialer **out, struct event_base *base, const struct st_dialer_opts *o,
                  struct st_err *err);

/*
 * Queues ep (copied) with the id it must prove (NULL or "": none; copied,
 * at most ST_NODE_ID_MAX). Dials start from the loop, jobs at a time, in the
 * order added. Allowed while the loop runs and from any callback. Returns the
 * endpoint's index, or -1 with err (the queue is at max_queued, a bad id, no
 * memory).
 */
long st_dialer_add(struct st_dialer *d, const struct st_endpoint *ep, const char *expected_id,
                   struct st_err *err);

/* Dials in flight, and endpoints waiting for a job. */
size_t st_dialer_running(const struct st_dialer *d);
size_t st_dialer_queued(const struct st_dialer *d);
/* Nothing queued or in flight (true for a new dialer). */
bool st_dialer_idle(const struct st_dialer *d);
/* The dials' memory budget, as charged now. */
const struct st_budget *st_dialer_budget(const struct st_dialer *d);
/* Results so far, and how many were ok. */
size_t st_dialer_done(const struct st_dialer *d);
long st_dialer_ok(const struct st_dialer *d);

/* Frees d: dials in flight end unreported, queued ones are dropped. Never from
 * inside one of d's callbacks. NULL is allowed. */
void st_dialer_free(struct st_dialer *d);

/* ==== the listener: accepted connections on the same connection type ==== */

struct st_listener;

/* One inbound session, reported when it closed (or was refused at accept). */
struct st_inbound {
	const struct st_endpoint *ep;
	const struct st_hello *remote;      /* NULL without a handshake */
	enum st_status status;
	const char *error;
	int64_t duration_ms;
	uint32_t getpeers;                  /* GetPeers answered */
	const char *verified_id;            /* TLS: the id the certificate proved; NULL without */
};

struct st_listener_opts {
	uint32_t max_conns, max_per_ip;
	int64_t idle_timeout_ms, handshake_timeout_ms;
	uint32_t max_frame;
	int64_t getpeers_interval;          /* seconds between answers to one address */
	size_t max_memory;                  /* the sessions' budget (struct st_budget); 0: none */
	struct st_handshake local;          /* listen_port is set from the first bind */
	struct st_tls_ctx *tls;             /* NULL: plain TCP; else TLS with this node's contexts */
	void *ctx;                          /* passed to every callback below */
	/* Fills reply with up to max endpoints for requester; returns the count. */
	size_t (*getpeers)(void *ctx, const struct st_endpoint *requester,
	                   const struct st_getpeers *req, struct st_endpoint *reply, size_t max);
	void (*session)(void *ctx, const struct st_inbound *in);   /* once per closed session */
	void (*message)(void *ctx, const struct st_endpoint *from, const char *what); /* chain msgs, errors */
	/* When set: a true answer refuses the address at accept / the peer at
	 * handshake: its id, and at, its address with the port it says it listens
	 * on (NULL when it names none). */
	bool (*banned_addr)(void *ctx, const struct st_endpoint *addr);
	bool (*banned_peer)(void *ctx, const char *id, const struct st_endpoint *at);
};

/* Makes a listener on base (o copied), bound nowhere yet. Returns 0 or -1. */
int st_listener_new(struct st_listener **out, struct event_base *base,
                    const struct st_listener_opts *o, struct st_err *err);

/*
 * Listens on "ADDR:PORT" (port 0: any); bound gets the address really bound.
 * The first bind's port is the listen_port our HandshakeAck announces.
 * Returns 0, or -1 with err (ST_EX_USAGE for bad text, ST_EX_UNAVAILABLE).
 */
int st_listener_bind(struct st_listener *l, const char *addr_port, struct st_endpoint *bound,
                     struct st_err *err);

/*
 * What a listener counted since st_listener_new (for --metrics): only ever
 * growing, but for open. Refusals and bans at accept are sessions too: every
 * reported st_inbound is counted once in sessions[its status].
 */
struct st_listener_stats {
	uint64_t open;                         /* sessions open now */
	uint64_t accepted;                     /* connections accepted (refused ones included) */
	uint64_t handshakes;                   /* handshakes completed and not refused */
	uint64_t sessions[ST_STATUS__COUNT];   /* sessions ended, by status */
	uint64_t getpeers_served;              /* GetPeers answered with the book's peers */
	uint64_t getpeers_limited;             /* GetPeers answered empty: the rate limit */
	uint64_t banned_accept;                /* closed at accept: a banned address or subnet */
	uint64_t banned_handshake;             /* refused at handshake: a banned id or endpoint */
	uint64_t evicted;                      /* closed for a newcomer, the listener full */
	uint64_t shed;                         /* closed for a newcomer, the memory budget spent */
	uint64_t refused_full;                 /* refused: max_conns, every connection protected */
	uint64_t refused_per_ip;               /* refused: max_per_ip */
	uint64_t refused_memory;               /* refused: the memory budget spent */
	struct st_traffic traffic;             /* protocol bytes, all sessions */
	size_t memory, memory_peak;            /* the budget's used and peak bytes */
};
void st_listener_stats(const struct st_listener *l, struct st_listener_stats *out);

/* Sessions open now. */
size_t st_listener_nconns(const struct st_listener *l);
/* The sessions' memory budget, as charged now (peak, pauses). */
const struct st_budget *st_listener_budget(const struct st_listener *l);

/* Closes every open session (each reported: status shutdown, "listener
 * stopped"), stops listening and frees l. Never from inside its callbacks. */
void st_listener_free(struct st_listener *l);

#endif
