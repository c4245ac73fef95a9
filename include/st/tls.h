/* tls.h - mutual TLS between nodes, verified by node id rather than by a certificate authority. */
#ifndef ST_TLS_H
#define ST_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "st/config.h"
#include "st/err.h"
#include "st/identity.h"
#include "st/status.h"

/* OpenSSL's types, so that including this header does not pull in ssl.h */
typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct x509_st X509;

/* A peer's notBefore may be this far ahead of our clock (seconds): a certificate
 * st-keygen has just made, on a host whose clock runs a little fast. */
#define ST_TLS_CLOCK_SKEW 600

/* Why a peer's certificate was refused; ST_TLS_OK until it is. */
enum st_tls_verdict {
	ST_TLS_OK,
	ST_TLS_NO_CERT,       /* the peer presented no certificate */
	ST_TLS_MALFORMED,     /* unreadable, or not signed by its own key */
	ST_TLS_WRONG_ALG,     /* a key other than Ed25519 */
	ST_TLS_EXPIRED,       /* past its notAfter */
	ST_TLS_NOT_YET_VALID, /* before its notBefore (beyond ST_TLS_CLOCK_SKEW) */
	ST_TLS_PIN_MISMATCH,  /* a valid certificate of another id than the one pinned */
	ST_TLS_CHANGED,       /* strict: another id than the verified one known (TOFU) */
};

/*
 * One connection's view of its peer's certificate, owned by the connection
 * (it must outlive the SSL it is attached to). Set expected_id before the
 * handshake to pin the peer; the verification during the handshake fills the
 * rest, so a wrong certificate ends the handshake before either side sends a
 * single st message.
 */
struct st_tls_peer {
	char expected_id[ST_ID_STRLEN]; /* "" : any id; else the peer must prove this one */
	char known_id[ST_ID_STRLEN];    /* "" : none; the verified id last seen there (TOFU) */
	bool strict;                    /* a certificate of another id than known_id is refused */
	bool changed;                   /* (not strict) it proved another id than known_id */
	/* the id of the certificate the peer presented, "" until seen; proven only
	 * once the TLS handshake completes (TLS checks the peer's signature with
	 * that key after this verification): never credit it before */
	char id[ST_ID_STRLEN];
	enum st_tls_verdict verdict;
	char reason[160];               /* why refused, e.g. "certificate expired on ..." */
};

/* The node's TLS contexts, client and server, made once from its key and certificate. */
struct st_tls_ctx;

/*
 * Loads the node's key (cfg->node.key, default DATA_DIR/node.key: refused when
 * group or others can read it or when it is a symbolic link) and certificate
 * (cfg->node.cert, default DATA_DIR/node.crt), checks that the certificate is
 * Ed25519, within its dates and for that key, and makes a client and a server
 * SSL_CTX: TLS 1.3 only (1.2 too when cfg->tls_min_version is 12), no session
 * resumption (every connection proves its key), both sides present
 * certificates and verify the other's by id. Returns 0 with *out set, or -1
 * (ST_EX_NOINPUT: no key, "st-keygen makes one"; ST_EX_DATAERR; ST_EX_SOFTWARE).
 */
int st_tls_new(struct st_tls_ctx **out, const struct st_config *cfg, struct st_err *err);
void st_tls_free(struct st_tls_ctx *t);

/* Our own node id: the id of our certificate's key. */
const char *st_tls_id(const struct st_tls_ctx *t);
/* The context for one side (owned by t). */
SSL_CTX *st_tls_ctx(const struct st_tls_ctx *t, bool server);

/*
 * A new SSL for one connection (the caller owns it, or hands it to a
 * bufferevent that frees it), verifying the peer into *peer (which must
 * outlive it). peer->expected_id may be set before or right after. Returns
 * the SSL, or NULL with err.
 */
SSL *st_tls_ssl_new(const struct st_tls_ctx *t, bool server, struct st_tls_peer *peer,
                    struct st_err *err);

/*
 * The node id proven by the peer's leaf certificate on ssl (after the
 * handshake, or during it from the verification): the certificate must carry
 * an Ed25519 key, be signed by it, and be within its dates at the current
 * time. out gets ST_ID_STRLEN bytes. Returns 0, or -1 with err (ST_EX_DATAERR)
 * naming what is wrong; verdict (may be NULL) says which.
 */
int st_tls_peer_id(SSL *ssl, char *out, size_t size, enum st_tls_verdict *verdict,
                   struct st_err *err);

/* The same checks on one certificate at time now (Unix seconds). */
int st_tls_cert_id(X509 *x, int64_t now, char *out, size_t size, enum st_tls_verdict *verdict,
                   struct st_err *err);

/*
 * A certificate's bytes (PEM or DER, at most ST_IDENTITY_FILE_MAX) to the id
 * it proves at time now, as the handshake checks it: the fuzz target's and the
 * tests' entry point. Returns 0, or -1 (ST_EX_DATAERR) with verdict and err.
 */
int st_tls_cert_data_id(const void *data, size_t len, int64_t now, char *out, size_t size,
                        enum st_tls_verdict *verdict, struct st_err *err);

/*
 * How a failed TLS handshake ends, from what the verification left in peer
 * and the OpenSSL error e (ERR_get_error, or bufferevent_get_openssl_error; 0
 * when the peer simply closed): identity-mismatch for a pinned id not proven,
 * identity-changed for a known id not proven when strict,
 * else tls-error, with a message in msg: the certificate's fault, "the peer
 * refused our certificate", "not TLS (a plain st peer?)", "closed during the
 * TLS handshake".
 */
enum st_status st_tls_failure(const struct st_tls_peer *peer, unsigned long e, char *msg,
                              size_t size);

#endif
