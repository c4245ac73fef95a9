/* seed.h - seed lists: parsing, fetching (HTTP(S), DNS), signatures, cron refresh. */
#ifndef ST_SEED_H
#define ST_SEED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "st/config.h"
#include "st/endpoint.h"
#include "st/err.h"
#include "st/map.h"
#include "st/util.h"

#define ST_DEFAULT_PORT 7777         /* the Spacetime network's port */
#define ST_SEED_HOST_MAX 253         /* longest host name accepted in a list */
#define ST_SEED_NAMES_MAX 1024       /* host names resolved per list (--resolve) */
#define ST_SEED_SIG_MAX 4096         /* largest URL.sig accepted */
#define ST_SEED_ADDRS_MAX 64         /* addresses kept per DNS seed name */

enum st_seed_format {
	ST_SEED_AUTO,
	ST_SEED_TEXT,
	ST_SEED_JSON,
	ST_SEED_BITCOIN,
};

/* "auto", "text", "json", "bitcoin" -> format; returns 0 or -1 naming the choices. */
int st_seed_format_parse(const char *s, enum st_seed_format *out, struct st_err *err);
const char *st_seed_format_name(enum st_seed_format f);

/* One endpoint of a list, with the node id written in front of it ("" for none). */
struct st_seed_entry {
	struct st_endpoint ep;
	const char *node_id;         /* "" when the list names none; owned by the list */
};

/*
 * What a list held: its endpoints, each once, in list order; and counts of what
 * was not taken. One owner: st_seed_list_clear frees it.
 */
struct st_seed_list {
	struct st_seed_entry *v;
	size_t n, cap;
	struct st_map index_;        /* internal: endpoint -> index into v */
	struct st_seed_ids *ids_;    /* internal: the node_id strings, in blocks that never move */
	size_t duplicates;           /* endpoints listed again */
	size_t bad;                  /* lines or items reported through bad() */
	size_t skipped;              /* onion and i2p lines */
	size_t hosts;                /* host names handed to the sink's host() */
	enum st_seed_format format;  /* the format used (detected or forced) */
};

void st_seed_list_clear(struct st_seed_list *l);

/* Adds an endpoint unless it is already listed. Returns 1 added, 0 duplicate, -1 (memory). */
int st_seed_list_add(struct st_seed_list *l, const struct st_endpoint *ep, const char *node_id,
                     struct st_err *err);

/*
 * Where the parser reports. bad(ctx, where, reason): a line ("12") or a JSON
 * item ("item 3") that was skipped. host(ctx, host, port, node_id, where): a
 * host name in the list; NULL means host names are bad lines ("use
 * --resolve"); the callback adds what it resolves with st_seed_list_add and
 * returns 0, or -1 to report the line bad with the reason it left in err.
 */
struct st_seed_sink {
	void (*bad)(void *ctx, const char *where, const char *reason);
	int (*host)(void *ctx, struct st_seed_list *l, const char *host, uint16_t port,
	            const char *node_id, struct st_err *err);
	void *ctx;
};

/*
 * A host() for the sink that resolves with the system resolver (getaddrinfo)
 * and adds every address with port. ctx is unused.
 */
int st_seed_resolve_host(void *ctx, struct st_seed_list *l, const char *host, uint16_t port,
                         const char *node_id, struct st_err *err);

/*
 * Parses a seed list body of len bytes into l. fmt ST_SEED_AUTO detects the
 * format from content_type (may be NULL) and the body. A bare address without
 * a port gets default_port. Bad lines (and lines past ST_LINE_MAX, and host
 * names past ST_SEED_NAMES_MAX) are reported and skipped; the result is -1
 * only when the body as a whole is unusable (JSON that does not parse or holds
 * no list, out of memory). Returns 0 or -1.
 */
int st_seed_parse(struct st_seed_list *l, const char *body, size_t len, enum st_seed_format fmt,
                  const char *content_type, uint16_t default_port, const struct st_seed_sink *sink,
                  struct st_err *err);

/* ---- HTTP(S) fetching (libcurl multi) ---- */

struct st_seed_fetch_opts {
	int64_t timeout_ms;       /* whole transfer, per attempt */
	uint64_t max_size;        /* body ceiling, enforced while downloading */
	uint32_t retries;         /* extra attempts after a temporary failure */
	uint32_t max_redirects;
	int64_t retry_delay_ms;   /* first backoff; doubles per retry */
	const char *cacert;       /* NULL or "": the system's */
	bool insecure;            /* no TLS verification: only when asked by name */
};

/* One seed list to fetch, and what came of it. */
struct st_seed_request {
	const char *url;
	const char *etag;           /* NULL or a cached ETag: sent as If-None-Match */
	const char *last_modified;  /* NULL or a cached date: If-Modified-Since */
	bool want_sig;              /* fetch URL.sig too */

	int failed;                 /* 0, or the exit code class: ST_EX_TEMPFAIL / _UNAVAILABLE / _DATAERR */
	struct st_err err;          /* why, when failed: "HTTP 404", "timed out after 30s" */
	long status;                /* the last HTTP status, 0 when none */
	bool not_modified;          /* 304: body empty, the cached list stands */
	unsigned attempts;
	struct st_buf body, sig;
	char content_type[128];
	char etag_out[256];
	char last_modified_out[64];
};

/* Fills a request's output side for url; st_seed_request_clear frees it. */
void st_seed_request_init(struct st_seed_request *r, const char *url);
void st_seed_request_clear(struct st_seed_request *r);

/*
 * Fetches every request in parallel, retrying temporary failures (connect
 * errors, timeouts, HTTP 5xx and 429) with backoff; each request's own outcome
 * is in it. Requests whose url is NULL or no URL (a local file the caller
 * reads), or that have failed already, are left as they are. Returns 0, or -1
 * when nothing could be started (libcurl set-up).
 */
int st_seed_fetch_all(struct st_seed_request *reqs, size_t n, const struct st_seed_fetch_opts *o,
                      struct st_err *err);

/* True when s looks like a URL (scheme://) rather than a local path. */
bool st_seed_is_url(const char *s);

/* Reads a local seed list ("-" is stdin) into b, at most max bytes. Returns 0 or -1. */
int st_seed_read_file(const char *path, uint64_t max, struct st_buf *b, struct st_err *err);

/*
 * Fills a request for a local list as a fetch would: r->url read into the
 * body, and with want_sig, r->url + ".sig" into sig. On failure sets
 * r->failed and r->err. Returns 0 or -1.
 */
int st_seed_read_local(struct st_seed_request *r, uint64_t max);

/*
 * What a fetched (or read) list holds: with public_key (NULL or "": none) the
 * signature is checked first, then the body is parsed into l as
 * st_seed_parse does. Returns 0, or -1 with err ("bad signature", a broken
 * JSON list).
 */
int st_seed_request_list(const struct st_seed_request *r, const char *public_key,
                         enum st_seed_format fmt, uint16_t default_port,
                         const struct st_seed_sink *sink, struct st_seed_list *l,
                         struct st_err *err);

/* ---- DNS messages (seed_dns_msg.c): our queries, and what a reply says ---- */

#define ST_DNS_WIRE_MAX 255                    /* a name in wire form, final 0 included */
#define ST_DNS_QUERY_MAX (12 + ST_DNS_WIRE_MAX + 4)

enum st_dns_verdict {
	ST_DNS_ANSWER,     /* addresses */
	ST_DNS_NODATA,     /* the name is there, without this record type */
	ST_DNS_NXDOMAIN,
	ST_DNS_TRUNCATED,  /* TC: the answer did not fit (we ask over UDP only) */
	ST_DNS_RCODE,      /* another error code, named in detail */
	ST_DNS_MALFORMED,  /* the reply is broken; detail says how (truncated, bad label, ...) */
	ST_DNS_IGNORED,    /* not the reply to this query (wrong id, another question): keep waiting */
};

/* name ("a.b.c", final dot optional) in wire form, lower case. 0, or -1 when it is not a
 * DNS name (an empty label, a label over 63 bytes, over 255 in all). */
int st_dns_name_wire(const char *name, uint8_t wire[ST_DNS_WIRE_MAX], size_t *wlen);
/* The query (RD set) for name's qtype (1 A, 28 AAAA) with id: its length, or -1. */
int st_dns_query_build(uint8_t buf[ST_DNS_QUERY_MAX], uint16_t id, const char *name,
                       uint16_t qtype);
/*
 * What reply p[0..n) to our query (id, name, qtype) says. ST_DNS_ANSWER: up to max
 * addresses (port 0) in out, their count in *nout; anything else: why, in detail, in
 * words. Records of other names, types or classes are passed over; a CNAME chain is
 * followed within the reply. Never reads outside p[0..n).
 */
enum st_dns_verdict st_dns_reply_parse(const uint8_t *p, size_t n, uint16_t id, const char *name,
                                       uint16_t qtype, struct st_endpoint *out, size_t max,
                                       size_t *nout, char *detail, size_t dsize);

/* ---- DNS seeds (UDP on libevent; evdns reads resolv.conf) ---- */

/* One DNS seed name and the endpoints its A and AAAA records gave. */
struct st_dns_query {
	const char *name;
	uint16_t port;
	struct st_endpoint eps[ST_SEED_ADDRS_MAX];
	size_t neps;
	int failed;               /* 0, or ST_EX_UNAVAILABLE / ST_EX_TEMPFAIL */
	struct st_err err;        /* "no such name", "timed out", "malformed reply to A: ..." */
	int pending_;             /* internal */
};

/*
 * Resolves every name in parallel (queries with a NULL name are skipped). resolver: NULL or "" for the system's
 * servers (resolv.conf), else "ADDR[:PORT]" asked directly. Returns 0, or -1
 * when the resolver could not be set up (a bad --resolver is ST_EX_USAGE).
 */
int st_seed_dns_all(struct st_dns_query *q, size_t n, const char *resolver, int64_t timeout_ms,
                    struct st_err *err);

/* ---- Ed25519 signatures over seed lists (OpenSSL) ---- */

/*
 * Signs len bytes with the PEM private key in keyfile (which must not be
 * readable by group or others) and writes the base64 signature, NUL-ended,
 * to out (size >= 89). Returns 0 or -1.
 */
int st_sig_sign(const char *keyfile, const void *data, size_t len, char *out, size_t size,
                struct st_err *err);

/*
 * Verifies sig (base64 text, surrounding blanks allowed, or the raw 64 bytes)
 * over data with key: a PEM public or private key file, or the base64 of a raw
 * 32-byte public key. Returns 0 when it verifies, -1 otherwise (ST_EX_DATAERR
 * "bad signature"; ST_EX_USAGE / ST_EX_NOINPUT for a bad key).
 */
int st_sig_verify(const char *key, const void *data, size_t len, const void *sig, size_t siglen,
                  struct st_err *err);

/* Writes the base64 of the raw public key of key (as st_sig_verify takes it). */
int st_sig_pubkey(const char *key, char *out, size_t size, struct st_err *err);

/* ---- refresh: every configured seed into the address book (for cron) ---- */

/* What refresh did with one seed. */
struct st_seed_outcome {
	const char *seed;          /* "seed:URL" or "dns:NAME" */
	const char *status;        /* "ok", "unchanged", "failed" */
	size_t endpoints, added, rejected;
	const char *error;         /* NULL unless failed */
};

struct st_refresh_opts {
	struct st_seed_fetch_opts fetch;
	const char *resolver;
	bool dry_run;              /* fetch and count, change nothing */
	/* once per seed, in config order */
	void (*outcome)(void *ctx, const struct st_seed_outcome *o);
	/* a bad line of a list: "URL:LINE: reason" */
	void (*bad)(void *ctx, const char *seed, const char *where, const char *reason);
	void *ctx;
};

/*
 * Fetches every seed of cfg->seeds (conditional requests from the cache
 * table "seeds" in the data dir), adds the endpoints to the address book and
 * calls outcome for each. Holds the seeds table's lock for the whole run: a
 * second run fails at once with ST_EX_TEMPFAIL. Returns the number of seeds
 * that failed, or -1 (no seeds configured: ST_EX_NOINPUT; lock, I/O).
 */
long st_seed_refresh(const struct st_config *cfg, const struct st_refresh_opts *o,
                     struct st_err *err);

/*
 * Checks the seeds cache as st_peerbook_fsck checks its tables: 0 when it
 * loads, -1 with err naming FILE:LINE of the first damage; with repair, on
 * damage, under the lock: keeps every line that reads, moves the file aside
 * (.bak), writes it anew and returns 1. A refresh with repair: auto does the
 * same by itself. *kept and *lost count entries and unreadable lines.
 */
int st_seed_cache_fsck(const struct st_config *cfg, bool repair, size_t *kept, size_t *lost,
                       struct st_err *err);

/* Parses a whole seeds cache image from memory as refresh reads it (the fuzz
 * target's entry point); *n gets the entries. Returns 0 or -1. */
int st_seed_cache_parse(const char *data, size_t len, size_t *n, struct st_err *err);

#endif
