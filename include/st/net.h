/* net.h - our handshake, and ready-made loops over the engine (engine.h): dial a list, listen. */
#ifndef ST_NET_H
#define ST_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "st/config.h"
#include "st/engine.h"
#include "st/session.h"
#include "st/status.h"

/* Our side of a handshake from the config: node id (kept in DATA_DIR/node_id
 * when none is configured), user agent, a fresh nonce, services. With tls (NULL:
 * none) the node id is the id of our certificate's key, and a node.node_id
 * naming another is refused. */
int st_net_local_handshake(const struct st_config *cfg, uint16_t listen_port,
                           struct st_handshake *h, struct st_err *err);
int st_net_local_handshake_tls(const struct st_config *cfg, uint16_t listen_port,
                               const struct st_tls_ctx *tls, struct st_handshake *h,
                               struct st_err *err);

/* Raises RLIMIT_NOFILE towards need (never past the hard limit). */
void st_net_raise_nofile(uint64_t need);

struct st_dial_opts {
	uint32_t jobs;            /* dials at once */
	int64_t timeout_ms;       /* per endpoint, connect to result */
	bool ping;
	int32_t getpeers;         /* 0: none; else max_count */
	const struct st_endpoint *exclude;
	size_t nexclude;
	/* NULL, or one per endpoint: the id it must prove ("ID@endpoint"), NULL or "" for none */
	const char *const *expected;
	struct st_handshake local;
	/* When set: called after each endpoint is done (the program draws any progress line). */
	void (*progress)(void *ctx, size_t done, size_t total, long ok);
	void *progress_ctx;
	/* When set: called (with progress_ctx) once the loop has run the events that reported
	 * results, and once at the end: one flush of the program's output for all the
	 * results of a turn of the loop, not one per result. */
	void (*flush)(void *ctx);
	/* When > 0: a descriptor that becomes readable when the program wants to stop,
	 * e.g. the self-pipe its SIGINT handler writes to. libst installs no handlers. */
	int stop_fd;
	/* When set: true drops a connection whose handshake reveals this id (status banned). */
	bool (*banned_id)(void *ctx, const char *id);
	void *banned_ctx;
	/* TLS (tls.h): NULL for plain TCP. known_id (with banned_ctx) gives the
	 * verified id last seen at an endpoint; strict refuses another one. */
	struct st_tls_ctx *tls;
	bool strict;
	const char *(*known_id)(void *ctx, const struct st_endpoint *ep);
	size_t max_memory;        /* every dial's buffers together (engine.h st_budget); 0: none */
	const struct st_endpoint *source; /* dial from this local address (port 0); NULL: any */
	size_t *peak_memory;      /* when set: the most they held at once */
};

/* The outcome of dialing one endpoint: struct st_dial_result (engine.h). */
typedef void (*st_dial_fn)(void *ctx, const struct st_dial_result *r);

/*
 * Dials every endpoint, jobs at a time, and calls fn once per endpoint with its
 * result (in completion order), on an event loop of its own (st_dialer_*).
 * o->stop_fd becoming readable stops early: *interrupted is set. Returns the number of "ok" results, or -1 when the loop
 * cannot start.
 */
long st_dial_all(const struct st_endpoint *eps, size_t n, const struct st_dial_opts *o,
                 st_dial_fn fn, void *ctx, bool *interrupted, struct st_err *err);

/* ---- listening ---- */

/* An inbound session: struct st_inbound (engine.h). */

struct st_listen_opts {
	const char (*bind)[64];
	size_t nbind;
	uint32_t max_conns, max_per_ip;
	int64_t idle_timeout_ms, handshake_timeout_ms;
	uint32_t max_frame;
	int64_t getpeers_interval;          /* seconds between answers to one address */
	size_t max_memory;                  /* every session's buffers together; 0: none */
	struct st_handshake local;
	/* Fills reply with up to max endpoints for requester; returns the count. */
	size_t (*getpeers)(void *ctx, const struct st_endpoint *requester,
	                   const struct st_getpeers *req, struct st_endpoint *reply, size_t max);
	void (*bound)(void *ctx, const struct st_endpoint *addr);  /* once per bound address */
	void (*session)(void *ctx, const struct st_inbound *in);   /* once per closed session */
	void (*message)(void *ctx, const struct st_endpoint *from, const char *what); /* chain msgs, errors */
	/* When set: a true answer refuses the address at accept / the peer at
	 * handshake: its id, and at, its address with the port it says it listens
	 * on (NULL when it names none). */
	bool (*banned_addr)(void *ctx, const struct st_endpoint *addr);
	bool (*banned_peer)(void *ctx, const char *id, const struct st_endpoint *at);
	void *ctx;
	int stop_fd;   /* > 0: listening ends when it becomes readable (see st_dial_opts) */
	struct st_tls_ctx *tls;  /* NULL: plain TCP; else TLS (tls.h) */
};

/* Listens on an event loop of its own (st_listener_*) until o->stop_fd becomes
 * readable. Returns 0, or -1 when it cannot listen. */
int st_listen_run(const struct st_listen_opts *o, struct st_err *err);

#endif
