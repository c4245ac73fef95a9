/* crawl.h - mapping the network: the crawl state, reliability, seed export, the DNS seed. */
#ifndef ST_CRAWL_H
#define ST_CRAWL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "st/config.h"
#include "st/endpoint.h"
#include "st/err.h"
#include "st/map.h"
#include "st/status.h"
#include "st/util.h"
#include "st/wire.h"

/* The name and format version of the state table in the state dir (st-files(5)). */
#define ST_CRAWL_TABLE "crawl"
/* 2 added the verified field; a version 1 line (without it) still reads, as unverified */
#define ST_CRAWL_VERSION 2
/* The most nodes a state dir holds: past it new endpoints are not learned. */
#define ST_CRAWL_NODES_MAX 1000000
/* The longest user agent kept (the wire allows more; the books keep this much). */
#define ST_CRAWL_UA_MAX 128

/*
 * The reliability windows, as the Bitcoin seeder keeps them: 2h, 8h, 1d, 7d,
 * 30d. Each is an exponentially decaying share of successful tries: at a try
 * after `age` seconds, f = exp(-age / tau), share = share * f + (ok ? 1 - f : 0),
 * count = count * f + 1. The first try sets share to 1 or 0 and count to 1.
 */
#define ST_CRAWL_WINDOWS 5
extern const int64_t st_crawl_window_tau[ST_CRAWL_WINDOWS];   /* seconds */
extern const char *const st_crawl_window_name[ST_CRAWL_WINDOWS]; /* "2h", ... */

struct st_crawl_stat {
	double share;   /* 0..1 */
	double count;   /* decayed number of tries */
};

/* One node of the state: what the crawler knows of an endpoint. */
struct st_crawl_node {
	struct st_endpoint ep;
	int64_t learned;          /* when the endpoint was first known */
	int64_t first_seen;       /* first successful contact; 0: never */
	int64_t last_seen;        /* last successful contact; 0: never */
	int64_t last_try;         /* 0: never tried (the frontier) */
	uint32_t attempts, successes;
	enum st_status status;    /* of the last try (meaningless when never tried) */
	char node_id[ST_NODE_ID_MAX + 1];
	bool verified;            /* node_id was proven by a TLS certificate (else claimed) */
	int32_t version;
	uint64_t services;
	char user_agent[ST_CRAWL_UA_MAX + 1];
	int64_t rtt_ms;           /* -1: not measured */
	uint32_t peers_offered;   /* endpoints the last contact's answers held */
	uint32_t asks;            /* GetPeers asked in the current round of asking */
	int64_t last_ask;         /* when the last GetPeers was answered */
	struct st_crawl_stat stat[ST_CRAWL_WINDOWS];
	/* in memory only */
	bool dirty_;              /* changed since the last commit */
	uint32_t run_;            /* the run that queued it last (0: none) */
	uint32_t tried_;          /* the run that tried it last (0: none) */
};

/*
 * The state of a state dir, in memory: every node, keyed by endpoint. A writer
 * loads it, works without holding the lock, and commits: the commit takes the
 * lock, reads what other writers committed meanwhile (nodes it did not change
 * itself are taken from the files), appends its changed nodes to the journal,
 * compacts when the journal has grown, and lets go.
 */
struct st_crawl_state {
	char dir[ST_PATH_MAX];
	struct st_crawl_node *v;
	size_t n, cap;
	struct st_map index;
	uint64_t hash_key;
	const struct st_lock_wait *wait;
	uint32_t runs;            /* runs started on this state in this process */
};

/* Loads the state of dir (a missing dir or table is an empty state). Returns 0 or -1. */
int st_crawl_state_load(struct st_crawl_state *cs, const char *dir,
                        const struct st_lock_wait *wait, struct st_err *err);
/* Writes the changed nodes (see above); creates dir when missing. Returns 0 or -1. */
int st_crawl_state_commit(struct st_crawl_state *cs, struct st_err *err);
void st_crawl_state_clear(struct st_crawl_state *cs);

/* A node's stored line (st-files(5)), without the newline: its length, 0 when
 * it does not fit in size. */
size_t st_crawl_node_format(const struct st_crawl_node *nd, char *buf, size_t size);
/* Reads a stored line of len bytes (any bytes: it comes from a file) into nd.
 * Returns 0, or -1 when it is not a whole valid line of version 1 or 2. */
int st_crawl_node_parse(struct st_crawl_node *nd, const char *line, size_t len);

/* The node of ep, or NULL. The pointer is valid until the next add or load. */
struct st_crawl_node *st_crawl_find(struct st_crawl_state *cs, const struct st_endpoint *ep);
/* The node of ep, added (learned at now) when new; NULL when the state is full
 * or memory ran out. *added tells which. */
struct st_crawl_node *st_crawl_add(struct st_crawl_state *cs, const struct st_endpoint *ep,
                                   int64_t now, bool *added);

/* One try's outcome applied to a node: counts, windows, what the handshake said. */
struct st_crawl_try {
	enum st_status status;
	const char *node_id;      /* NULL or "" when no handshake */
	int32_t version;
	uint64_t services;
	const char *user_agent;
	int64_t rtt_ms;
	bool verified;            /* node_id is the one a TLS certificate proved */
};
void st_crawl_node_update(struct st_crawl_node *nd, const struct st_crawl_try *t, int64_t now);

/*
 * Good, as the Bitcoin seeder judges: reached at least once, and either few
 * tries mostly successful (at most 3, at least half), or a window's share and
 * count past its bar (2h > 85% over > 2 tries, 8h > 70% / 4, 1d > 55% / 8,
 * 7d > 45% / 16, 30d > 35% / 32). Non-routable addresses are good only with
 * allow_private.
 */
bool st_crawl_node_good(const struct st_crawl_node *nd, bool allow_private);

/* Node indexes in dump order: good first, then by 30d share, then endpoint.
 * Returns a new array of cs->n indexes (the caller frees) or NULL. */
size_t *st_crawl_dump_order(const struct st_crawl_state *cs, bool allow_private);

/* ---- export: a seed list for st-seed ---- */

struct st_crawl_export_opts {
	size_t n;                /* at most this many (0: no limit) */
	size_t per_group;        /* at most this many per IPv4 /16 or IPv6 /32 (0: no limit) */
	double min_uptime;       /* 0..1: the 30d share at least this */
	bool allow_private;
	uint16_t port;           /* 0: any port; else only nodes on it */
};

/* The good nodes chosen for a seed list, best first (30d share, then 7d, then
 * the fewest failures): indexes into cs->v in *out (the caller frees). Returns
 * the count, or -1 (memory). */
long st_crawl_export(const struct st_crawl_state *cs, const struct st_crawl_export_opts *o,
                     size_t **out, struct st_err *err);

/* Writes the nodes idx[0..n) as a seed list into out: text (a comment, then
 * ID@ENDPOINT lines) or a JSON array of {"address","port","node_id"}, the two
 * forms st-seed fetch reads. Returns 0 or -1. */
int st_crawl_seed_list(const struct st_crawl_state *cs, const size_t *idx, size_t n, bool json,
                       int64_t now, struct st_buf *out, struct st_err *err);

/* ---- a crawl run ---- */

/* What the program is told of each node a run has finished with. */
struct st_crawl_report {
	const struct st_crawl_node *node;
	const char *error;        /* words, or NULL */
	size_t learned;           /* endpoints new to the state from this node */
	/* TLS, not strict: the id the endpoint proved before and no longer does, or NULL */
	const char *previous_id;
};

struct st_tls_ctx;

struct st_crawl_opts {
	uint32_t jobs;
	int64_t timeout_ms;        /* per dial */
	size_t max_nodes;          /* dials this run at most (0: no limit) */
	int64_t max_time_ms;       /* 0: no limit */
	int32_t getpeers;          /* max_count of each GetPeers (1..1000) */
	uint32_t max_asks;         /* GetPeers per node while its answers are full */
	int64_t ask_interval_ms;   /* between two GetPeers to one node */
	int64_t retest_ms;         /* known nodes tried longer ago than this are tried again */
	bool allow_private;        /* follow non-routable addresses */
	int stop_fd;               /* > 0: readable when the program wants to stop */
	int64_t commit_every_ms;   /* state commits at most this often while running */
	struct st_handshake local; /* our side, from st_net_local_handshake_tls */
	/* NULL: plain TCP. Else every dial is mutual TLS (engine.h): ids proven, and
	 * the id a node proved before (the state's verified id) is trusted on first
	 * use; strict refuses an endpoint that proves another (identity-changed). */
	struct st_tls_ctx *tls;
	bool strict;
	/* NULL, or one per seed: the id it must prove under TLS ("ID@"; "" none) */
	const char *const *seed_ids;
	/* after each result: nodes done this run, known to the run (done + waiting), reachable */
	void (*progress)(void *ctx, size_t done, size_t known, size_t reachable);
	void (*report)(void *ctx, const struct st_crawl_report *r);
	/* after each commit of the state, with the nodes tried since the last one */
	int (*committed)(void *ctx, const struct st_crawl_node *const *tried, size_t n,
	                 struct st_err *err);
	void *ctx;
};

/* What a run did, for the summary. */
struct st_crawl_counts {
	size_t found;        /* distinct endpoints the run knew of (tried or not) */
	size_t tried;        /* dialed this run */
	size_t reachable;    /* of them, answered */
	size_t learned;      /* new to the state */
	size_t skipped;      /* offered but out of scope or past the limits */
	size_t frontier;     /* known, never tried, left for the next run */
	bool interrupted;    /* stop_fd */
	bool timed_out;      /* max_time */
	int64_t elapsed_ms;
	uint32_t run;        /* the run's number, to find its nodes (node->run_) */
};

/*
 * One crawl: breadth first from seeds (added to the state), the frontier
 * (known, never tried) and the nodes due for a retest. Each endpoint is dialed
 * once per run: handshake, ping, GetPeers; a node whose answer was full is
 * asked again, at most max_asks times, ask_interval apart, excluding what it
 * gave. New endpoints are queued as they come. The state is committed every
 * commit_every_ms and at the end. Returns 0, or -1 (the loop could not start,
 * the state could not be written).
 */
int st_crawl_run(struct st_crawl_state *cs, const struct st_endpoint *seeds, size_t nseeds,
                 const struct st_crawl_opts *o, struct st_crawl_counts *counts,
                 struct st_err *err);

/* ---- the summary ---- */

struct st_crawl_tally {
	char key[ST_CRAWL_UA_MAX + 16];
	size_t count;
};

struct st_crawl_summary {
	struct st_crawl_tally *by_version, *by_agent, *by_group;
	size_t nversion, nagent, ngroup;
	int64_t rtt_p50, rtt_p90, rtt_p99;  /* -1 when nothing was measured */
};

/* The summary of the nodes of run `run` that answered, each tally most first.
 * Returns 0 or -1 (memory). */
int st_crawl_summarize(const struct st_crawl_state *cs, uint32_t run,
                       struct st_crawl_summary *s, struct st_err *err);
void st_crawl_summary_clear(struct st_crawl_summary *s);

/* ---- the DNS seed (libevent evdns server) ---- */

struct st_crawl_dns_opts {
	const char *zone;          /* "seed.example.net" */
	const char *bind;          /* "ADDR:PORT" (PORT 0: any) */
	const char *state_dir;
	uint32_t ttl;              /* seconds, of A and AAAA answers */
	uint16_t port;             /* only nodes on this port are served */
	bool allow_private;
	const char *ns;            /* the zone's NS name (NULL: "ns." ZONE) */
	const char *mbox;          /* the SOA mailbox (NULL: "hostmaster." ZONE) */
	uint32_t rate;             /* answers per client address per second (burst: 4x) */
	int64_t reload_ms;         /* the state is reread this often */
	int stop_fd;
	void (*bound)(void *ctx, const char *addr);
	/* once per query answered or dropped: client, name, type, what was done */
	void (*query)(void *ctx, const char *client, const char *name, int type, const char *what);
	void (*warn)(void *ctx, const char *msg);
	void *ctx;
};

/* The largest number of A (or AAAA) records one answer for name may carry so
 * that the reply fits in 512 bytes: header, question, answers. */
size_t st_crawl_dns_fit(const char *name, int type);

/* Serves until stop_fd becomes readable. Returns 0, or -1 when it cannot start. */
int st_crawl_dns_serve(const struct st_crawl_dns_opts *o, struct st_err *err);

#endif
