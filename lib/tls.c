/* tls.c - the node's TLS contexts: both sides present certificates, each verifies the other's
 * by the node id its key gives (st-protocol(7)), never by a certificate authority. */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "identity_int.h"
#include "st/tls.h"
#include "st/util.h"

/*
 * A certificate that passed the checks its bytes alone decide (an Ed25519 key, signed
 * by itself) and the id its key gives, kept whole: a peer that comes back, or an
 * endpoint dialed again, costs no second signature verification, the largest cost of a
 * handshake after TLS's own. Its dates are checked at every handshake.
 */
#define SEEN_CERTS 16
#define SEEN_DER_MAX 1024 /* an st-keygen certificate is about 300 bytes */

struct seen_cert {
	size_t len;               /* 0: empty */
	unsigned char der[SEEN_DER_MAX];
	char id[ST_ID_STRLEN];
};

struct st_tls_ctx {
	SSL_CTX *client, *server;
	char id[ST_ID_STRLEN];
	pthread_mutex_t seen_mu;  /* the contexts may serve handshakes on several threads */
	struct seen_cert seen[SEEN_CERTS];
	size_t seen_next;         /* the slot the next new certificate takes */
};

/* "2026-12-01 22:50:08 UTC", or "?" for a time OpenSSL cannot read. */
static const char *asn1_when(const ASN1_TIME *t, char *buf, size_t size)
{
	struct tm tm;
	if (!t || ASN1_TIME_to_tm(t, &tm) != 1 || !strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm))
		st_strlcpy(buf, "?", size);
	return buf;
}

static int refuse(enum st_tls_verdict *verdict, enum st_tls_verdict v, struct st_err *err,
                  const char *fmt, const char *arg)
{
	/* what OpenSSL queued on the way (a bad key, a bad signature) is said here, in
	 * words; left queued it would be taken for the TLS error of the connection */
	ERR_clear_error();
	if (verdict)
		*verdict = v;
	return st_err_set(err, ST_EX_DATAERR, fmt, arg);
}

static int check_dates(X509 *x, int64_t now, enum st_tls_verdict *verdict, struct st_err *err);

int st_tls_cert_id(X509 *x, int64_t now, char *out, size_t size, enum st_tls_verdict *verdict,
                   struct st_err *err)
{
	if (verdict)
		*verdict = ST_TLS_OK;
	EVP_PKEY *k = x ? X509_get0_pubkey(x) : NULL;
	if (!x)
		return refuse(verdict, ST_TLS_NO_CERT, err, "%sno certificate", "");
	if (!k)
		return refuse(verdict, ST_TLS_MALFORMED, err, "%scertificate: unreadable public key", "");
	if (EVP_PKEY_get_id(k) != EVP_PKEY_ED25519) {
		const char *name = EVP_PKEY_get0_type_name(k);
		return refuse(verdict, ST_TLS_WRONG_ALG, err,
		              "certificate: a %s key, not Ed25519 (wrong algorithm)", name ? name : "?");
	}
	/* what st-keygen makes and --show accepts; TLS itself proves the key is held */
	if (X509_verify(x, k) != 1)
		return refuse(verdict, ST_TLS_MALFORMED, err,
		              "%scertificate: not signed by its own key (malformed)", "");
	if (check_dates(x, now, verdict, err) < 0)
		return -1;
	unsigned char raw[ST_ID_PUBKEY_LEN];
	size_t n = sizeof raw;
	if (EVP_PKEY_get_raw_public_key(k, raw, &n) != 1 || n != sizeof raw)
		return refuse(verdict, ST_TLS_MALFORMED, err, "%scertificate: unreadable Ed25519 key", "");
	return st_identity_id_from_raw(raw, n, out, size, err);
}

/* The checks that depend on the time: x's dates against now, with the clock skew allowed. */
static int check_dates(X509 *x, int64_t now, enum st_tls_verdict *verdict, struct st_err *err)
{
	char when[64];
	time_t t = (time_t)now, ahead = (time_t)(now + ST_TLS_CLOCK_SKEW);
	const ASN1_TIME *nb = X509_get0_notBefore(x), *na = X509_get0_notAfter(x);
	int after = na ? X509_cmp_time(na, &t) : 0, before = nb ? X509_cmp_time(nb, &ahead) : 0;
	if (!after || !before)
		return refuse(verdict, ST_TLS_MALFORMED, err,
		              "%scertificate: unreadable validity dates (malformed)", "");
	if (after < 0)
		return refuse(verdict, ST_TLS_EXPIRED, err, "certificate expired on %s",
		              asn1_when(na, when, sizeof when));
	if (before > 0)
		return refuse(verdict, ST_TLS_NOT_YET_VALID, err, "certificate not valid before %s",
		              asn1_when(nb, when, sizeof when));
	return 0;
}

/*
 * st_tls_cert_id for a handshake, through t's certificates already seen (struct
 * seen_cert): the same verdict, the same id, the same words for a refusal, whether the
 * certificate was seen before or not.
 */
static int seen_cert_id(struct st_tls_ctx *t, X509 *x, int64_t now, char *out, size_t size,
                        enum st_tls_verdict *verdict, struct st_err *err)
{
	unsigned char der[SEEN_DER_MAX], *p = der;
	int n = x ? i2d_X509(x, NULL) : -1;
	size_t len = n > 0 && n <= (int)sizeof der && i2d_X509(x, &p) == n ? (size_t)n : 0;
	if (!len)
		ERR_clear_error(); /* not kept: checked in full, as any certificate */
	bool found = false;
	pthread_mutex_lock(&t->seen_mu);
	for (size_t i = 0; len && i < SEEN_CERTS && !found; i++) {
		const struct seen_cert *c = &t->seen[i];
		if (c->len == len && memcmp(c->der, der, len) == 0) {
			st_strlcpy(out, c->id, size);
			found = true;
		}
	}
	pthread_mutex_unlock(&t->seen_mu);
	if (found) {
		if (verdict)
			*verdict = ST_TLS_OK;
		return check_dates(x, now, verdict, err);
	}
	if (st_tls_cert_id(x, now, out, size, verdict, err) < 0)
		return -1;
	if (len) {
		pthread_mutex_lock(&t->seen_mu);
		struct seen_cert *c = &t->seen[t->seen_next++ % SEEN_CERTS];
		memcpy(c->der, der, len);
		c->len = len;
		st_strlcpy(c->id, out, sizeof c->id);
		pthread_mutex_unlock(&t->seen_mu);
	}
	return 0;
}

int st_tls_cert_data_id(const void *data, size_t len, int64_t now, char *out, size_t size,
                        enum st_tls_verdict *verdict, struct st_err *err)
{
	if (verdict)
		*verdict = ST_TLS_MALFORMED;
	if (len > ST_IDENTITY_FILE_MAX)
		return st_err_set(err, ST_EX_DATAERR, "certificate larger than %d bytes",
		                  ST_IDENTITY_FILE_MAX);
	X509 *x = st_identity_cert_parse(data, len);
	if (!x)
		return st_err_set(err, ST_EX_DATAERR, "not a certificate (malformed)");
	int rc = st_tls_cert_id(x, now, out, size, verdict, err);
	X509_free(x);
	return rc;
}

int st_tls_peer_id(SSL *ssl, char *out, size_t size, enum st_tls_verdict *verdict,
                   struct st_err *err)
{
	X509 *x = SSL_get0_peer_certificate(ssl);
	return st_tls_cert_id(x, st_now(), out, size, verdict, err);
}

/* The alert the peer is sent for each refusal: what it will read in its error. */
static int x509_error(enum st_tls_verdict v)
{
	switch (v) {
	case ST_TLS_EXPIRED: return X509_V_ERR_CERT_HAS_EXPIRED;
	case ST_TLS_NOT_YET_VALID: return X509_V_ERR_CERT_NOT_YET_VALID;
	default: return X509_V_ERR_CERT_REJECTED; /* "bad certificate" */
	}
}

/*
 * Replaces OpenSSL's chain verification: there is no chain and no authority,
 * only the leaf and the id its key gives. Runs inside the handshake, so a
 * refusal (or a pinned id not proven) aborts it before any st message.
 */
static int verify_by_id(X509_STORE_CTX *xs, void *arg)
{
	struct st_tls_ctx *t = arg;
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct st_tls_peer *peer = ssl ? SSL_get_app_data(ssl) : NULL;
	if (!peer) {
		X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	struct st_err err = {0};
	char id[ST_ID_STRLEN];
	if (seen_cert_id(t, X509_STORE_CTX_get0_cert(xs), st_now(), id, sizeof id, &peer->verdict,
	                 &err) < 0) {
		st_strlcpy(peer->reason, err.msg, sizeof peer->reason);
		X509_STORE_CTX_set_error(xs, x509_error(peer->verdict));
		return 0;
	}
	st_strlcpy(peer->id, id, sizeof peer->id); /* proven, even when not the pinned one */
	if (peer->expected_id[0] && strcmp(peer->expected_id, id) != 0) {
		peer->verdict = ST_TLS_PIN_MISMATCH;
		snprintf(peer->reason, sizeof peer->reason, "certificate of %s, not the pinned %s",
		         id, peer->expected_id);
		X509_STORE_CTX_set_error(xs, x509_error(peer->verdict));
		return 0;
	}
	/* a pin is the operator's word: it outranks what the books remember */
	if (!peer->expected_id[0] && peer->known_id[0] && strcmp(peer->known_id, id) != 0) {
		if (peer->strict) {
			peer->verdict = ST_TLS_CHANGED;
			snprintf(peer->reason, sizeof peer->reason,
			         "certificate of %s, the endpoint proved %s before (refused: strict)", id,
			         peer->known_id);
			X509_STORE_CTX_set_error(xs, x509_error(peer->verdict));
			return 0;
		}
		peer->changed = true;
	}
	X509_STORE_CTX_set_error(xs, X509_V_OK);
	return 1;
}

static SSL_CTX *ctx_new(struct st_tls_ctx *t, bool server, int min_version, X509 *cert,
                        EVP_PKEY *key)
{
	SSL_CTX *c = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!c)
		return NULL;
	bool ok = SSL_CTX_set_min_proto_version(c, min_version == 12 ? TLS1_2_VERSION
	                                                              : TLS1_3_VERSION) == 1 &&
	          SSL_CTX_use_certificate(c, cert) == 1 && SSL_CTX_use_PrivateKey(c, key) == 1 &&
	          SSL_CTX_check_private_key(c) == 1;
	/* every connection proves its key: no tickets, no session cache, no renegotiation */
	SSL_CTX_set_options(c, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION |
	                           SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
	ok = ok && SSL_CTX_set_num_tickets(c, 0) == 1;
	/* an idle connection keeps no record buffers (st-listen holds thousands) */
	SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_verify(c, SSL_VERIFY_PEER | (server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
	                   NULL);
	SSL_CTX_set_cert_verify_callback(c, verify_by_id, t);
	if (!ok) {
		SSL_CTX_free(c);
		return NULL;
	}
	return c;
}

static int path_or_default(char *buf, size_t size, const char *set, const char *dir,
                           const char *file, struct st_err *err)
{
	int n = set[0] ? snprintf(buf, size, "%s", set) : snprintf(buf, size, "%s/%s", dir, file);
	if (n < 0 || (size_t)n >= size)
		return st_err_set(err, ST_EX_USAGE, "'%s': path too long", set[0] ? set : dir);
	return 0;
}

int st_tls_new(struct st_tls_ctx **out, const struct st_config *cfg, struct st_err *err)
{
	*out = NULL;
	char kpath[ST_PATH_MAX + 16], cpath[ST_PATH_MAX + 16];
	if (path_or_default(kpath, sizeof kpath, cfg->node.key, cfg->data_dir,
	                    ST_IDENTITY_KEY_FILE, err) < 0 ||
	    path_or_default(cpath, sizeof cpath, cfg->node.cert, cfg->data_dir,
	                    ST_IDENTITY_CERT_FILE, err) < 0)
		return -1;
	struct st_key *key = NULL;
	X509 *x = NULL;
	struct st_tls_ctx *t = NULL;
	int rc = st_identity_key_load(&key, kpath, ST_KEY_PRIVATE, err);
	if (rc < 0) {
		if (err && err->code == ST_EX_NOINPUT)
			st_err_prefix(err, "TLS needs the node's key (st-keygen makes one)");
		goto done;
	}
	if ((rc = st_identity_cert_load(&x, cpath, err)) < 0)
		goto done;
	char kid[ST_ID_STRLEN];
	rc = -1;
	t = calloc(1, sizeof *t);
	if (!t) {
		st_err_set(err, ST_EX_SOFTWARE, "out of memory");
		goto done;
	}
	pthread_mutex_init(&t->seen_mu, NULL);
	if (st_tls_cert_id(x, st_now(), t->id, sizeof t->id, NULL, err) < 0) {
		st_err_prefix(err, "'%s'", cpath);
		goto done;
	}
	if (st_identity_key_id(key, kid, sizeof kid, err) < 0)
		goto done;
	if (strcmp(kid, t->id) != 0) {
		st_err_set(err, ST_EX_DATAERR, "certificate '%s' is not for key '%s' (%s, not %s)", cpath,
		           kpath, t->id, kid);
		goto done;
	}
	t->client = ctx_new(t, false, cfg->tls_min_version, x, key->pkey);
	t->server = t->client ? ctx_new(t, true, cfg->tls_min_version, x, key->pkey) : NULL;
	if (!t->server) {
		unsigned long e = ERR_get_error();
		st_err_set(err, ST_EX_SOFTWARE, "cannot make the TLS context: %s",
		           e ? ERR_reason_error_string(e) : "?");
		goto done;
	}
	*out = t;
	t = NULL;
	rc = 0;
done:
	ERR_clear_error();
	st_tls_free(t);
	X509_free(x);
	st_identity_key_free(key);
	return rc < 0 ? -1 : 0;
}

void st_tls_free(struct st_tls_ctx *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->client);
	SSL_CTX_free(t->server);
	pthread_mutex_destroy(&t->seen_mu);
	free(t);
}

const char *st_tls_id(const struct st_tls_ctx *t)
{
	return t->id;
}

SSL_CTX *st_tls_ctx(const struct st_tls_ctx *t, bool server)
{
	return server ? t->server : t->client;
}

SSL *st_tls_ssl_new(const struct st_tls_ctx *t, bool server, struct st_tls_peer *peer,
                    struct st_err *err)
{
	SSL *ssl = SSL_new(server ? t->server : t->client);
	if (!ssl) {
		ERR_clear_error();
		st_err_set(err, ST_EX_SOFTWARE, "out of memory (TLS)");
		return NULL;
	}
	peer->id[0] = peer->reason[0] = '\0';
	peer->verdict = ST_TLS_OK;
	peer->changed = false;
	SSL_set_app_data(ssl, peer);
	return ssl;
}

enum st_status st_tls_failure(const struct st_tls_peer *peer, unsigned long e, char *msg,
                              size_t size)
{
	if (peer && peer->verdict == ST_TLS_PIN_MISMATCH) {
		st_strlcpy(msg, peer->reason, size);
		return ST_STATUS_IDENTITY_MISMATCH;
	}
	if (peer && peer->verdict == ST_TLS_CHANGED) {
		st_strlcpy(msg, peer->reason, size);
		return ST_STATUS_IDENTITY_CHANGED;
	}
	if (peer && peer->verdict != ST_TLS_OK) {
		snprintf(msg, size, "peer %s", peer->reason);
		return ST_STATUS_TLS_ERROR;
	}
	/* only the SSL library's reasons are told apart; others (a system error) as they are */
	int reason = e && ERR_GET_LIB(e) == ERR_LIB_SSL ? ERR_GET_REASON(e) : -1;
	const char *text = e ? ERR_reason_error_string(e) : NULL;
	if (!e || reason == SSL_R_UNEXPECTED_EOF_WHILE_READING)
		snprintf(msg, size, "the peer closed the connection during the TLS handshake "
		                    "(not a TLS port, or our certificate refused?)");
	else if (reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_HTTP_REQUEST ||
	         reason == SSL_R_PACKET_LENGTH_TOO_LONG || reason == SSL_R_UNKNOWN_PROTOCOL ||
	         reason == SSL_R_RECORD_LENGTH_MISMATCH)
		snprintf(msg, size, "not TLS: the peer does not speak TLS (a plain st node?)");
	else if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
		snprintf(msg, size, "the peer presented no certificate");
	else if (reason == SSL_R_UNSUPPORTED_PROTOCOL || reason == SSL_R_NO_PROTOCOLS_AVAILABLE ||
	         reason == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION)
		snprintf(msg, size, "no TLS version in common (tls_min_version)");
	else if (reason == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE ||
	         reason == SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED ||
	         reason == SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE ||
	         reason == SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN ||
	         reason == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED)
		snprintf(msg, size, "the peer refused our certificate (%s)", text ? text : "?");
	else if (reason >= SSL_AD_REASON_OFFSET)
		snprintf(msg, size, "the peer ended the TLS handshake (%s)", text ? text : "?");
	else
		snprintf(msg, size, "TLS handshake failed: %s", text ? text : "?");
	return ST_STATUS_TLS_ERROR;
}
