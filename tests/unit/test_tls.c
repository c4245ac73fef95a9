/* test_tls.c - certificates to node ids, and real TLS handshakes between two nodes over
 * an in-memory BIO pair: mutual verification by id, pinning, refused certificates. */
#include "unit.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "st/config.h"
#include "st/identity.h"
#include "st/tls.h"
#include "st/util.h"

/* A certificate for key signed by signer, valid from now+nb to now+na seconds. */
static X509 *make_cert(EVP_PKEY *key, EVP_PKEY *signer, long nb, long na)
{
	X509 *x = X509_new();
	assert_non_null(x);
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), nb);
	X509_gmtime_adj(X509_getm_notAfter(x), na);
	X509_set_pubkey(x, key);
	X509_NAME *n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"test", -1, -1, 0);
	X509_set_issuer_name(x, n);
	int ed = EVP_PKEY_get_id(signer) == EVP_PKEY_ED25519;
	assert_true(X509_sign(x, signer, ed ? NULL : EVP_sha256()) > 0);
	return x;
}

static EVP_PKEY *ed25519(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	assert_non_null(k);
	return k;
}

static int cert_verdict(X509 *x, char *id, struct st_err *err)
{
	enum st_tls_verdict v = ST_TLS_OK;
	int rc = st_tls_cert_id(x, st_now(), id, ST_ID_STRLEN, &v, err);
	assert_int_equal(rc == 0, v == ST_TLS_OK);
	return (int)v;
}

static void the_id_of_a_certificate_is_the_id_of_its_key(void **state)
{
	(void)state;
	struct st_key *k;
	char want[ST_ID_STRLEN], got[ST_ID_STRLEN];
	struct st_err err = {0};
	assert_int_equal(st_identity_key_generate(&k, &err), 0);
	assert_int_equal(st_identity_key_id(k, want, sizeof want, &err), 0);
	char *dir = unit_tmpdir(), kp[512], cp[512];
	snprintf(kp, sizeof kp, "%s/node.key", dir);
	snprintf(cp, sizeof cp, "%s/node.crt", dir);
	assert_int_equal(st_identity_write(k, kp, cp, 30, false, &err), 0);
	FILE *f = fopen(cp, "r");
	assert_non_null(f);
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_int_equal(cert_verdict(x, got, &err), ST_TLS_OK);
	assert_string_equal(got, want);
	/* DER too, as a handshake carries it */
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);
	assert_true(n > 0);
	assert_int_equal(st_tls_cert_data_id(der, (size_t)n, st_now(), got, sizeof got, NULL, &err),
	                 0);
	assert_string_equal(got, want);
	OPENSSL_free(der);
	/* and the node's contexts carry it as our id */
	struct st_config cfg;
	st_config_init(&cfg);
	snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", dir);
	struct st_tls_ctx *t;
	assert_int_equal(st_tls_new(&t, &cfg, &err), 0);
	assert_string_equal(st_tls_id(t), want);
	st_tls_free(t);
	X509_free(x);
	st_identity_key_free(k);
	unit_rmtree(dir);
}

static void other_algorithms_are_refused_by_name(void **state)
{
	(void)state;
	char id[ST_ID_STRLEN];
	struct st_err err = {0};
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(rsa);
	assert_non_null(ec);
	X509 *x = make_cert(rsa, rsa, 0, 3600);
	assert_int_equal(cert_verdict(x, id, &err), ST_TLS_WRONG_ALG);
	assert_non_null(strstr(err.msg, "RSA key, not Ed25519 (wrong algorithm)"));
	X509_free(x);
	x = make_cert(ec, ec, 0, 3600);
	assert_int_equal(cert_verdict(x, id, &err), ST_TLS_WRONG_ALG);
	assert_non_null(strstr(err.msg, "EC key, not Ed25519"));
	X509_free(x);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ec);
}

static void dates_are_checked(void **state)
{
	(void)state;
	char id[ST_ID_STRLEN];
	struct st_err err = {0};
	EVP_PKEY *k = ed25519();
	X509 *x = make_cert(k, k, -7200, -3600);
	assert_int_equal(cert_verdict(x, id, &err), ST_TLS_EXPIRED);
	assert_non_null(strstr(err.msg, "certificate expired on 20"));
	X509_free(x);
	x = make_cert(k, k, 86400, 2 * 86400);
	assert_int_equal(cert_verdict(x, id, &err), ST_TLS_NOT_YET_VALID);
	assert_non_null(strstr(err.msg, "not valid before"));
	X509_free(x);
	/* a clock a little behind the peer's is forgiven */
	x = make_cert(k, k, 60, 86400);
	assert_int_equal(cert_verdict(x, id, &err), ST_TLS_OK);
	X509_free(x);
	EVP_PKEY_free(k);
}

static void malformed_certificates_are_refused(void **state)
{
	(void)state;
	char id[ST_ID_STRLEN];
	struct st_err err = {0};
	enum st_tls_verdict v;
	static const char junk[] = "-----BEGIN CERTIFICATE-----\nnot base64 at all\n"
	                           "-----END CERTIFICATE-----\n";
	assert_int_equal(st_tls_cert_data_id(junk, sizeof junk - 1, st_now(), id, sizeof id, &v,
	                                     &err), -1);
	assert_int_equal(v, ST_TLS_MALFORMED);
	assert_non_null(strstr(err.msg, "not a certificate (malformed)"));
	EVP_PKEY *k = ed25519(), *other = ed25519();
	X509 *x = make_cert(k, k, 0, 3600);
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);
	/* cut short, and one byte of the signature flipped */
	assert_int_equal(st_tls_cert_data_id(der, (size_t)n / 2, st_now(), id, sizeof id, &v, &err),
	                 -1);
	assert_int_equal(v, ST_TLS_MALFORMED);
	der[n - 3] ^= 1;
	assert_int_equal(st_tls_cert_data_id(der, (size_t)n, st_now(), id, sizeof id, &v, &err), -1);
	assert_int_equal(v, ST_TLS_MALFORMED);
	assert_non_null(strstr(err.msg, "not signed by its own key"));
	OPENSSL_free(der);
	X509_free(x);
	/* signed by another key: not self-signed */
	x = make_cert(k, other, 0, 3600);
	assert_int_equal(cert_verdict(x, id, &err), ST_TLS_MALFORMED);
	X509_free(x);
	assert_int_equal(st_tls_cert_data_id("", 0, st_now(), id, sizeof id, &v, &err), -1);
	assert_int_equal(ERR_peek_error(), 0); /* nothing left queued for the next connection */
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
}

/*
 * The handshake's check and st-keygen --show read certificate bytes alike (the fuzz
 * target found them apart: DER with "-----BEGIN " after it was a certificate to one and
 * a key file to the other), and neither asks anyone for a passphrase.
 */
static void certificate_bytes_are_read_one_way(void **state)
{
	(void)state;
	char id[ST_ID_STRLEN], shown[ST_ID_STRLEN];
	struct st_err err = {0};
	enum st_tls_verdict v;
	EVP_PKEY *k = ed25519();
	X509 *x = make_cert(k, k, 0, 3600);
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);
	assert_true(n > 0);
	assert_int_equal(st_tls_cert_data_id(der, (size_t)n, st_now(), id, sizeof id, &v, &err), 0);
	assert_int_equal(st_identity_data_id(der, (size_t)n, "t", shown, sizeof shown, &err), 0);
	assert_string_equal(id, shown);
	/* a certificate with bytes after it is not one certificate, to either */
	unsigned char *more = malloc((size_t)n + 11);
	assert_non_null(more);
	memcpy(more, der, (size_t)n);
	memcpy(more + n, "-----BEGIN ", 11);
	assert_int_equal(st_tls_cert_data_id(more, (size_t)n + 11, st_now(), id, sizeof id, &v,
	                                     &err), -1);
	assert_int_equal(st_identity_data_id(more, (size_t)n + 11, "t", shown, sizeof shown, &err),
	                 -1);
	free(more);
	/* an "encrypted" PEM certificate is refused; the passphrase waiting on stdin stays */
	BIO *b = BIO_new(BIO_s_mem());
	assert_non_null(b);
	assert_int_equal(PEM_write_bio_X509(b, x), 1);
	char *pem = NULL;
	long plen = BIO_get_mem_data(b, &pem);
	const char *body = strchr(pem, '\n') + 1;
	char enc[4096];
	int elen = snprintf(enc, sizeof enc,
	                    "-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\n"
	                    "DEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\n%.*s",
	                    (int)(plen - (body - pem)), body);
	assert_true(elen > 0 && (size_t)elen < sizeof enc);
	int fds[2], saved = dup(0);
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], "pw\n", 3), 3);
	close(fds[1]);
	assert_int_equal(dup2(fds[0], 0), 0);
	int rc_tls = st_tls_cert_data_id(enc, (size_t)elen, st_now(), id, sizeof id, &v, &err);
	int rc_show = st_identity_data_id(enc, (size_t)elen, "t", shown, sizeof shown, &err);
	char left[4] = {0};
	ssize_t got = read(0, left, sizeof left);
	assert_int_equal(dup2(saved, 0), 0);
	close(saved);
	close(fds[0]);
	assert_int_equal(rc_tls, -1);
	assert_int_equal(rc_show, -1);
	assert_int_equal(got, 3);
	assert_memory_equal(left, "pw\n", 3);
	assert_int_equal(ERR_peek_error(), 0);
	BIO_free(b);
	OPENSSL_free(der);
	X509_free(x);
	EVP_PKEY_free(k);
}

/* ---- nodes and handshakes ---- */

struct node {
	char *dir;
	struct st_config cfg;
	struct st_tls_ctx *tls;
};

static void write_pem(const char *path, EVP_PKEY *k, X509 *x)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	if (k)
		assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
	if (x)
		assert_int_equal(PEM_write_X509(f, x), 1);
	fclose(f);
	assert_int_equal(chmod(path, 0600), 0);
}

static void node_init(struct node *n)
{
	memset(n, 0, sizeof *n);
	n->dir = unit_tmpdir();
	st_config_init(&n->cfg);
	snprintf(n->cfg.data_dir, sizeof n->cfg.data_dir, "%s", n->dir);
}

static void node_new(struct node *n)
{
	node_init(n);
	struct st_key *k;
	struct st_err err = {0};
	char kp[600], cp[600];
	snprintf(kp, sizeof kp, "%s/node.key", n->dir);
	snprintf(cp, sizeof cp, "%s/node.crt", n->dir);
	assert_int_equal(st_identity_key_generate(&k, &err), 0);
	assert_int_equal(st_identity_write(k, kp, cp, 30, false, &err), 0);
	st_identity_key_free(k);
	if (st_tls_new(&n->tls, &n->cfg, &err) < 0)
		fail_msg("%s", err.msg);
}

static void node_free(struct node *n)
{
	st_tls_free(n->tls);
	unit_rmtree(n->dir);
}

/* One side of a handshake: an SSL, its peer view, and how it ended. */
struct side {
	SSL *ssl;
	struct st_tls_peer peer;
	int done;             /* 1: handshake done; -1: failed */
	unsigned long e;      /* the error it failed with */
};

static void side_step(struct side *s)
{
	if (s->done)
		return;
	ERR_clear_error();
	int r = SSL_do_handshake(s->ssl);
	if (r == 1) {
		s->done = 1;
		return;
	}
	int why = SSL_get_error(s->ssl, r);
	if (why == SSL_ERROR_WANT_READ || why == SSL_ERROR_WANT_WRITE)
		return;
	s->e = ERR_peek_last_error();
	s->done = -1;
}

/* Runs the handshake between c and s over a BIO pair; both see it through or fail. */
static void handshake(struct side *c, struct side *s)
{
	BIO *bc, *bs;
	assert_int_equal(BIO_new_bio_pair(&bc, 0, &bs, 0), 1);
	SSL_set_bio(c->ssl, bc, bc);
	SSL_set_bio(s->ssl, bs, bs);
	SSL_set_connect_state(c->ssl);
	SSL_set_accept_state(s->ssl);
	for (int i = 0; i < 50 && (c->done == 0 || s->done == 0); i++) {
		side_step(c);
		side_step(s);
	}
}

static void sides(struct node *client, struct node *server, struct side *c, struct side *s)
{
	memset(c, 0, sizeof *c);
	memset(s, 0, sizeof *s);
	struct st_err err = {0};
	c->ssl = st_tls_ssl_new(client->tls, false, &c->peer, &err);
	s->ssl = st_tls_ssl_new(server->tls, true, &s->peer, &err);
	assert_non_null(c->ssl);
	assert_non_null(s->ssl);
}

static void mutual_tls_proves_both_ids(void **state)
{
	(void)state;
	struct node a, b;
	node_new(&a);
	node_new(&b);
	assert_string_not_equal(st_tls_id(a.tls), st_tls_id(b.tls));
	struct side c, s;
	sides(&a, &b, &c, &s);
	handshake(&c, &s);
	assert_int_equal(c.done, 1);
	assert_int_equal(s.done, 1);
	assert_string_equal(c.peer.id, st_tls_id(b.tls));
	assert_string_equal(s.peer.id, st_tls_id(a.tls));
	assert_int_equal(SSL_version(c.ssl), TLS1_3_VERSION);
	char id[ST_ID_STRLEN];
	struct st_err err = {0};
	assert_int_equal(st_tls_peer_id(c.ssl, id, sizeof id, NULL, &err), 0);
	assert_string_equal(id, st_tls_id(b.tls));
	assert_int_equal(st_tls_peer_id(s.ssl, id, sizeof id, NULL, &err), 0);
	assert_string_equal(id, st_tls_id(a.tls));
	SSL_free(c.ssl);
	SSL_free(s.ssl);
	/* pinned to the right id: the same */
	sides(&a, &b, &c, &s);
	st_strlcpy(c.peer.expected_id, st_tls_id(b.tls), sizeof c.peer.expected_id);
	handshake(&c, &s);
	assert_int_equal(c.done, 1);
	assert_int_equal(s.done, 1);
	SSL_free(c.ssl);
	SSL_free(s.ssl);
	node_free(&a);
	node_free(&b);
}

static void a_pinned_id_not_proven_ends_the_handshake(void **state)
{
	(void)state;
	struct node a, b, other;
	node_new(&a);
	node_new(&b);
	node_new(&other);
	struct side c, s;
	sides(&a, &b, &c, &s);
	st_strlcpy(c.peer.expected_id, st_tls_id(other.tls), sizeof c.peer.expected_id);
	handshake(&c, &s);
	assert_int_equal(c.done, -1);
	assert_int_not_equal(s.done, 1);
	char msg[256];
	assert_int_equal(st_tls_failure(&c.peer, c.e, msg, sizeof msg), ST_STATUS_IDENTITY_MISMATCH);
	assert_non_null(strstr(msg, "not the pinned"));
	assert_non_null(strstr(msg, st_tls_id(b.tls)));
	/* the id it presented is named, though not proven (no signature was checked) */
	assert_string_equal(c.peer.id, st_tls_id(b.tls));
	/* the server hears that its certificate was refused */
	assert_int_equal(st_tls_failure(&s.peer, s.e, msg, sizeof msg), ST_STATUS_TLS_ERROR);
	assert_non_null(strstr(msg, "refused our certificate"));
	/* no application byte can have passed: neither side finished */
	assert_int_equal(SSL_is_init_finished(s.ssl), 0);
	SSL_free(c.ssl);
	SSL_free(s.ssl);
	node_free(&a);
	node_free(&b);
	node_free(&other);
}

/* A server that presents cert (with key) and verifies nothing: a misconfigured or hostile node. */
static SSL *raw_server(EVP_PKEY *key, X509 *cert)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_use_certificate(ctx, cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(ctx, key), 1);
	SSL *ssl = SSL_new(ctx);
	SSL_CTX_free(ctx); /* the SSL holds a reference */
	return ssl;
}

/* One handshake of a's client context with a server presenting cert; returns the verdict,
 * with the id it proved and, when refused, what st_tls_failure says (msg may be NULL). */
static enum st_tls_verdict dial_cert(struct node *a, EVP_PKEY *key, X509 *cert, char *id,
                                     char *msg, size_t size)
{
	struct side c, s;
	memset(&c, 0, sizeof c);
	memset(&s, 0, sizeof s);
	struct st_err err = {0};
	c.ssl = st_tls_ssl_new(a->tls, false, &c.peer, &err);
	s.ssl = raw_server(key, cert);
	handshake(&c, &s);
	assert_int_equal(c.done == 1, c.peer.verdict == ST_TLS_OK);
	if (msg && c.done != 1)
		assert_int_equal(st_tls_failure(&c.peer, c.e, msg, size), ST_STATUS_TLS_ERROR);
	st_strlcpy(id, c.peer.id, ST_ID_STRLEN);
	enum st_tls_verdict v = c.peer.verdict;
	SSL_free(c.ssl);
	SSL_free(s.ssl);
	return v;
}

static void refused_peer_certificate(struct node *a, EVP_PKEY *key, X509 *cert,
                                     enum st_tls_verdict want, const char *text)
{
	char id[ST_ID_STRLEN], msg[256];
	assert_int_equal(dial_cert(a, key, cert, id, msg, sizeof msg), want);
	if (!strstr(msg, text))
		fail_msg("'%s' does not say '%s'", msg, text);
	assert_string_equal(id, "");
}

static void bad_peer_certificates_end_the_handshake(void **state)
{
	(void)state;
	struct node a;
	node_new(&a);
	EVP_PKEY *k = ed25519(), *other = ed25519();
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	X509 *x = make_cert(k, k, -7200, -3600);
	refused_peer_certificate(&a, k, x, ST_TLS_EXPIRED, "peer certificate expired on");
	X509_free(x);
	x = make_cert(k, k, 86400, 2 * 86400);
	refused_peer_certificate(&a, k, x, ST_TLS_NOT_YET_VALID, "not valid before");
	X509_free(x);
	x = make_cert(rsa, rsa, 0, 3600);
	refused_peer_certificate(&a, rsa, x, ST_TLS_WRONG_ALG, "wrong algorithm");
	X509_free(x);
	x = make_cert(k, other, 0, 3600);
	refused_peer_certificate(&a, k, x, ST_TLS_MALFORMED, "not signed by its own key");
	X509_free(x);
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
	EVP_PKEY_free(rsa);
	node_free(&a);
}

/*
 * A certificate verified once is not verified again by the same contexts, yet every
 * handshake gets the verdict a first one would: the same id, its dates checked at that
 * handshake, and other bytes (a signature not its key's) are another certificate.
 */
static void a_certificate_seen_before_gets_the_same_verdict(void **state)
{
	(void)state;
	struct node a;
	node_new(&a);
	EVP_PKEY *k = ed25519();
	X509 *x = make_cert(k, k, 0, 3600);
	char want[ST_ID_STRLEN], id[ST_ID_STRLEN];
	struct st_err err = {0};
	assert_int_equal(cert_verdict(x, want, &err), ST_TLS_OK);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(dial_cert(&a, k, x, id, NULL, 0), ST_TLS_OK);
		assert_string_equal(id, want);
	}
	/* the same certificate with one byte of its signature flipped */
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);
	assert_true(n > 0);
	der[n - 3] ^= 1;
	const unsigned char *p = der;
	X509 *bad = d2i_X509(NULL, &p, n);
	assert_non_null(bad);
	assert_int_equal(dial_cert(&a, k, bad, id, NULL, 0), ST_TLS_MALFORMED);
	assert_string_equal(id, "");
	/* two hours on, the certificate seen before has expired */
	char later[32];
	snprintf(later, sizeof later, "%lld", (long long)st_now() + 7200);
	assert_int_equal(setenv("ST_FAKE_NOW", later, 1), 0);
	assert_int_equal(dial_cert(&a, k, x, id, NULL, 0), ST_TLS_EXPIRED);
	assert_int_equal(unsetenv("ST_FAKE_NOW"), 0);
	assert_int_equal(dial_cert(&a, k, x, id, NULL, 0), ST_TLS_OK);
	assert_string_equal(id, want);
	assert_int_equal(ERR_peek_error(), 0);
	X509_free(bad);
	OPENSSL_free(der);
	X509_free(x);
	EVP_PKEY_free(k);
	node_free(&a);
}

static void plain_bytes_on_a_tls_server_say_not_tls(void **state)
{
	(void)state;
	struct node b;
	node_new(&b);
	struct side s;
	memset(&s, 0, sizeof s);
	struct st_err err = {0};
	s.ssl = st_tls_ssl_new(b.tls, true, &s.peer, &err);
	BIO *mem = BIO_new(BIO_s_mem());
	/* what a plain st dialer sends first: a frame length, then a Handshake */
	static const unsigned char frame[] = {0, 0, 0, 20, 0x01, 0, 0, 0, 1, 'a', 'b', 'c', 'd',
	                                      'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o'};
	BIO_write(mem, frame, sizeof frame);
	BIO *out = BIO_new(BIO_s_mem());
	SSL_set_bio(s.ssl, mem, out);
	SSL_set_accept_state(s.ssl);
	side_step(&s);
	assert_int_equal(s.done, -1);
	char msg[256];
	assert_int_equal(st_tls_failure(&s.peer, s.e, msg, sizeof msg), ST_STATUS_TLS_ERROR);
	assert_non_null(strstr(msg, "not TLS"));
	/* and a peer that just closes */
	assert_int_equal(st_tls_failure(&s.peer, 0, msg, sizeof msg), ST_STATUS_TLS_ERROR);
	assert_non_null(strstr(msg, "closed the connection during the TLS handshake"));
	SSL_free(s.ssl);
	node_free(&b);
}

static void the_node_key_and_certificate_are_checked(void **state)
{
	(void)state;
	struct node n;
	struct st_tls_ctx *t = NULL;
	struct st_err err = {0};
	char kp[600], cp[600];
	node_init(&n);
	snprintf(kp, sizeof kp, "%s/node.key", n.dir);
	snprintf(cp, sizeof cp, "%s/node.crt", n.dir);
	assert_int_equal(st_tls_new(&t, &n.cfg, &err), -1);
	assert_int_equal(err.code, ST_EX_NOINPUT);
	assert_non_null(strstr(err.msg, "st-keygen"));
	EVP_PKEY *k = ed25519(), *other = ed25519();
	write_pem(kp, k, NULL);
	X509 *x = make_cert(other, other, 0, 3600);
	write_pem(cp, NULL, x);
	X509_free(x);
	assert_int_equal(st_tls_new(&t, &n.cfg, &err), -1);
	assert_non_null(strstr(err.msg, "is not for key"));
	x = make_cert(k, k, -7200, -3600);
	write_pem(cp, NULL, x);
	X509_free(x);
	assert_int_equal(st_tls_new(&t, &n.cfg, &err), -1);
	assert_non_null(strstr(err.msg, "expired"));
	x = make_cert(k, k, 0, 3600);
	write_pem(cp, NULL, x);
	X509_free(x);
	assert_int_equal(chmod(kp, 0644), 0);
	assert_int_equal(st_tls_new(&t, &n.cfg, &err), -1);
	assert_non_null(strstr(err.msg, "readable by group or others"));
	assert_int_equal(chmod(kp, 0600), 0);
	/* node.key and node.cert name the files anywhere */
	char kp2[600], cp2[600];
	snprintf(kp2, sizeof kp2, "%s/elsewhere.key", n.dir);
	snprintf(cp2, sizeof cp2, "%s/elsewhere.crt", n.dir);
	assert_int_equal(rename(kp, kp2), 0);
	assert_int_equal(rename(cp, cp2), 0);
	assert_int_equal(st_config_set(&n.cfg, "node.key", kp2, ST_ORIGIN_FLAG, &err), 0);
	assert_int_equal(st_config_set(&n.cfg, "node.cert", cp2, ST_ORIGIN_FLAG, &err), 0);
	if (st_tls_new(&t, &n.cfg, &err) < 0)
		fail_msg("%s", err.msg);
	st_tls_free(t);
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
	unit_rmtree(n.dir);
}

static void tls_1_2_only_when_configured(void **state)
{
	(void)state;
	struct node a, b;
	node_new(&a);
	node_new(&b);
	struct st_err err = {0};
	assert_int_equal(st_config_set(&a.cfg, "tls_min_version", "1.1", ST_ORIGIN_FLAG, &err), -1);
	assert_non_null(strstr(err.msg, "expected 1.3 or 1.2"));
	/* b speaks 1.2 at most; a refuses it by default, and takes it when told */
	st_tls_free(b.tls);
	assert_int_equal(st_config_set(&b.cfg, "tls_min_version", "1.2", ST_ORIGIN_FLAG, &err), 0);
	assert_int_equal(st_tls_new(&b.tls, &b.cfg, &err), 0);
	struct side c, s;
	sides(&a, &b, &c, &s);
	SSL_set_max_proto_version(s.ssl, TLS1_2_VERSION);
	handshake(&c, &s);
	assert_int_equal(c.done, -1);
	char msg[256];
	st_tls_failure(&c.peer, c.e, msg, sizeof msg);
	assert_non_null(strstr(msg, "no TLS version in common"));
	SSL_free(c.ssl);
	SSL_free(s.ssl);
	st_tls_free(a.tls);
	assert_int_equal(st_config_set(&a.cfg, "tls_min_version", "1.2", ST_ORIGIN_FLAG, &err), 0);
	assert_int_equal(st_tls_new(&a.tls, &a.cfg, &err), 0);
	sides(&a, &b, &c, &s);
	SSL_set_max_proto_version(s.ssl, TLS1_2_VERSION);
	handshake(&c, &s);
	assert_int_equal(c.done, 1);
	assert_int_equal(SSL_version(c.ssl), TLS1_2_VERSION);
	assert_string_equal(c.peer.id, st_tls_id(b.tls));
	SSL_free(c.ssl);
	SSL_free(s.ssl);
	node_free(&a);
	node_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_id_of_a_certificate_is_the_id_of_its_key),
		cmocka_unit_test(other_algorithms_are_refused_by_name),
		cmocka_unit_test(dates_are_checked),
		cmocka_unit_test(malformed_certificates_are_refused),
		cmocka_unit_test(certificate_bytes_are_read_one_way),
		cmocka_unit_test(mutual_tls_proves_both_ids),
		cmocka_unit_test(a_pinned_id_not_proven_ends_the_handshake),
		cmocka_unit_test(bad_peer_certificates_end_the_handshake),
		cmocka_unit_test(a_certificate_seen_before_gets_the_same_verdict),
		cmocka_unit_test(plain_bytes_on_a_tls_server_say_not_tls),
		cmocka_unit_test(the_node_key_and_certificate_are_checked),
		cmocka_unit_test(tls_1_2_only_when_configured),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
