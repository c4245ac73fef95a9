/* session.h - the handshake / ping / getpeers state machine of one connection, no I/O. */
#ifndef ST_SESSION_H
#define ST_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "st/wire.h"

enum st_session_state {
	ST_SESS_WAIT_HANDSHAKE, /* listener: waiting for the dialer's Handshake */
	ST_SESS_WAIT_ACK,       /* dialer: Handshake sent */
	ST_SESS_READY,          /* handshake done both ways */
	ST_SESS_CLOSED,
};

/* Why a session closed; each maps to a status of st-connect and an outcome of st-listen. */
enum st_close_reason {
	ST_CLOSE_NONE,
	ST_CLOSE_DONE,             /* we finished */
	ST_CLOSE_EOF,              /* the peer closed */
	ST_CLOSE_PROTOCOL,         /* a malformed frame or message */
	ST_CLOSE_UNEXPECTED,       /* a message out of order */
	ST_CLOSE_VERSION,          /* protocol version we do not speak */
	ST_CLOSE_SELF,             /* our own nonce came back: we dialed ourselves */
	ST_CLOSE_TIMEOUT,
	ST_CLOSE_PEER_ERROR,       /* the peer sent Error */
	ST_CLOSE_BANNED,
};

/* "ok", "eof", "protocol-error", "version-mismatch", "self", "timeout", ... */
const char *st_close_reason_name(enum st_close_reason r);

enum st_session_event_kind {
	ST_EV_HANDSHAKE,   /* remote is filled in */
	ST_EV_PONG,        /* rtt_ms */
	ST_EV_PING,        /* the peer pinged (answered already) */
	ST_EV_PEERS,       /* peers / npeers */
	ST_EV_GETPEERS,    /* listener: fill reply / nreply (up to getpeers->max_count) */
	ST_EV_HEARTBEAT,
	ST_EV_ERROR_MSG,   /* text */
	ST_EV_OTHER,       /* a chain or unknown message: type, its payload length */
};

/* What an event points at is valid during the callback only; a dialer's peers stay
 * until the next Peers or st_session_clear. */
struct st_session_event {
	enum st_session_event_kind kind;
	uint8_t type;
	size_t length;
	int64_t rtt_ms;
	const struct st_endpoint *peers;
	size_t npeers;
	const struct st_getpeers *getpeers;
	struct st_endpoint *reply;     /* ST_EV_GETPEERS: room for ST_PEERS_MAX */
	size_t nreply;
	const char *text;
};

struct st_session;
typedef void (*st_session_fn)(void *ctx, struct st_session *s, struct st_session_event *ev);

/* Before the handshake a frame can only be a Handshake or its Ack: at most two
 * strings of ST_WIRE_STRING_MAX and our extension, so no more is buffered for
 * a peer that has not said who it is. */
#define ST_PRE_HANDSHAKE_FRAME_MAX 8192

struct st_session {
	bool dialer;
	uint32_t max_frame;            /* once READY; ST_PRE_HANDSHAKE_FRAME_MAX before */
	enum st_session_state state;
	struct st_frame_decoder dec;
	/* What we send (its nonce detects a connection to ourselves): the owner's, shared by
	 * every session it starts (2 KB each would be most of an idle connection). */
	const struct st_handshake *local;
	/* The peer's Handshake, allocated when it arrives (NULL before): an idle listener
	 * holds many connections that never send one. Filled as far as it decoded. */
	struct st_hello *remote;
	struct st_buf out;             /* bytes waiting to be written */
	enum st_close_reason reason;
	char detail[256];              /* why, in words */
	int64_t ping_nonce, ping_sent_ms;
	bool ping_pending, getpeers_pending;
	st_session_fn on_event;
	void *ctx;
	struct st_endpoint *peers;     /* a dialer's Peers, decoded (NULL until one came) */
};

/* Sets a session up; a dialer queues its Handshake. local must outlive the session.
 * Returns 0 or -1 (memory). */
int st_session_init(struct st_session *s, bool dialer, const struct st_handshake *local,
                    uint32_t max_frame, st_session_fn on_event, void *ctx, struct st_err *err);
void st_session_clear(struct st_session *s);

/* Feeds received bytes at time now_ms. Returns 0, or -1 once the session closed. */
int st_session_input(struct st_session *s, const uint8_t *p, size_t n, int64_t now_ms);
/* The peer closed its side. */
void st_session_eof(struct st_session *s);
/* A deadline passed. */
void st_session_timeout(struct st_session *s, const char *what);
/* Closes with a reason of ours. */
void st_session_close(struct st_session *s, enum st_close_reason r, const char *detail);

/* Requests, once READY. Return 0 or -1. */
int st_session_ping(struct st_session *s, int64_t now_ms);
int st_session_getpeers(struct st_session *s, int32_t max_count, const struct st_endpoint *exclude,
                        size_t nexclude);
int st_session_raw(struct st_session *s, uint8_t type, const uint8_t *payload, size_t len);

/*
 * The GetPeers limit: the reference's one answer per interval per requester address,
 * and at most ST_RATELIMIT_PER_NET answers per interval per /24 (IPv4) or /48 (IPv6), so
 * a requester cannot get around it by hopping over the addresses of one network.
 *
 * Two bounded tables (addresses, networks) of ST_RATELIMIT_BUCKETS x ST_RATELIMIT_WAYS
 * entries. An entry holds its whole key, so two requesters never share one; a bucket is
 * picked by a hash keyed at random per process, so a peer cannot aim requesters at one
 * bucket. A full bucket reuses an entry whose limit has lapsed, else the one nearest to
 * lapsing (counted in evicted): only a flood over more networks than the table holds
 * resets anyone's limit early. Each entry is a GCRA virtual clock ("tat"), in seconds
 * scaled by the per-entry allowance, so one formula serves both limits.
 * Fixed size, no allocation inside: embed it or allocate it whole.
 */
#define ST_RATELIMIT_BUCKETS 512
#define ST_RATELIMIT_WAYS 8
#define ST_RATELIMIT_PER_NET 8

struct st_ratelimit_entry {
	uint8_t key[18];    /* family, prefix bits, address masked to them; family 0: empty */
	int64_t tat;        /* theoretical arrival time, seconds x allowance */
};

struct st_ratelimit {
	struct st_ratelimit_entry addr[ST_RATELIMIT_BUCKETS][ST_RATELIMIT_WAYS];
	struct st_ratelimit_entry net[ST_RATELIMIT_BUCKETS][ST_RATELIMIT_WAYS];
	uint64_t key;       /* the bucket hash's key, from getrandom(2) */
	int64_t interval;   /* seconds */
	uint64_t evicted;   /* entries dropped before their limit lapsed */
};

/* An empty limiter for one answer per interval seconds per address (and
 * ST_RATELIMIT_PER_NET per network); its hash key is drawn at random. */
void st_ratelimit_init(struct st_ratelimit *r, int64_t interval);
/* True (and counted) when addr may get an answer at time now (seconds); a refusal
 * counts nothing, so it never delays the requester's next answer. */
bool st_ratelimit_allow(struct st_ratelimit *r, const struct st_endpoint *addr, int64_t now);

#endif
