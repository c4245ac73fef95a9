/* identity.h - node identity: Ed25519 keys, self-signed certificates, node ids. */
#ifndef ST_IDENTITY_H
#define ST_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "st/err.h"

/* The raw Ed25519 public key. */
#define ST_ID_PUBKEY_LEN 32
/* The DER SubjectPublicKeyInfo of an Ed25519 key (RFC 8410): these 12 bytes,
 * then the 32 raw bytes of the key. */
#define ST_ID_SPKI_PREFIX "\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00"
#define ST_ID_SPKI_LEN 44
/* The id's payload: the first 20 bytes (160 bits) of SHA-256(SubjectPublicKeyInfo). */
#define ST_ID_PAYLOAD_LEN 20
/* "st1" + 32 payload characters + 6 check characters (st-protocol(7)). */
#define ST_ID_LEN 41
#define ST_ID_STRLEN (ST_ID_LEN + 1)
/* The largest key or certificate file read. */
#define ST_IDENTITY_FILE_MAX (64 * 1024)

/* The file names st-keygen writes in its directory (st-files(5)). */
#define ST_IDENTITY_KEY_FILE "node.key"
#define ST_IDENTITY_CERT_FILE "node.crt"

/* Returned (with err, code ST_EX_DATAERR) when a private key file is readable by
 * group or others: "key 'FILE' is readable by group or others (chmod 600 it)". */
#define ST_IDENTITY_EMODE (-2)

/* An Ed25519 key: a key pair, or a public key alone. Opaque; st_identity_key_free frees it. */
struct st_key;

enum st_key_flags {
	ST_KEY_PRIVATE = 1, /* the file must hold a private key */
	ST_KEY_FOLLOW = 2,  /* follow a symbolic link (public keys only); default: refuse it */
};

/*
 * Loads an Ed25519 key from a PEM file: a PKCS#8 private key, or (without
 * ST_KEY_PRIVATE) a public key. The file is opened O_NOFOLLOW (unless
 * ST_KEY_FOLLOW), checked with fstat on the descriptor (a regular file of at
 * most ST_IDENTITY_FILE_MAX bytes), and a private key readable by group or
 * others is refused before it is parsed. The bytes read are wiped. Returns 0
 * with *out set; -1 with err (ST_EX_NOINPUT: missing; ST_EX_DATAERR: not an
 * Ed25519 PEM key, a link, not a regular file; ST_EX_IOERR); ST_IDENTITY_EMODE.
 */
int st_identity_key_load(struct st_key **out, const char *path, unsigned flags,
                         struct st_err *err);

/* A public key from its 32 raw bytes. Returns 0 or -1 (ST_EX_DATAERR). */
int st_identity_key_from_raw(struct st_key **out, const unsigned char *raw, size_t len,
                             struct st_err *err);

/* A new key pair from the system's random source. Returns 0 or -1 (ST_EX_SOFTWARE). */
int st_identity_key_generate(struct st_key **out, struct st_err *err);

/* Frees a key (NULL: nothing); its private half is wiped by OpenSSL. */
void st_identity_key_free(struct st_key *k);

/* Whether k holds the private half. */
bool st_identity_key_is_private(const struct st_key *k);

/* Writes the raw public key to raw (ST_ID_PUBKEY_LEN bytes). Returns 0 or -1. */
int st_identity_key_raw(const struct st_key *k, unsigned char *raw, size_t size,
                        struct st_err *err);

/*
 * The node id of a key: "st1" and the RFC 4648 base32 (lowercase, no
 * padding) of the first 160 bits of SHA-256(DER SubjectPublicKeyInfo of
 * the public key: ST_ID_SPKI_PREFIX + the raw key) and of 6
 * check characters (st-protocol(7)); out gets ST_ID_STRLEN bytes at least.
 * Returns 0 or -1.
 */
int st_identity_key_id(const struct st_key *k, char *out, size_t size, struct st_err *err);

/* The node id of a raw public key of len bytes, as st_identity_key_id. */
int st_identity_id_from_raw(const unsigned char *raw, size_t len, char *out, size_t size,
                            struct st_err *err);

/*
 * Parses a node id typed by a person: case is ignored and dashes and white
 * space are skipped. Writes the canonical form (lowercase, ST_ID_LEN
 * characters) to out. Returns 0, or -1 with ST_EX_DATAERR ("bad node id
 * 'TEXT': wrong check characters", "...: not an st1 id", ...).
 */
int st_identity_id_parse(const char *text, size_t len, char *out, size_t size,
                         struct st_err *err);

/*
 * Writes key (a key pair) as a PEM PKCS#8 file at key_path, mode 0600, and a
 * self-signed X.509 certificate for it at cert_path (subject and issuer CN =
 * the node id, Ed25519 signature, valid from now for days days). Each file is
 * written to a new temporary file beside it (O_CREAT|O_EXCL|O_NOFOLLOW, 0600,
 * fsync'ed) and then linked in place: without force an existing file (or
 * link) fails with ST_EX_CANTCREAT naming it, and nothing is left behind;
 * with force an existing regular file is replaced by rename(2), never written
 * through, and a symbolic link is still refused. Returns 0 or -1.
 */
int st_identity_write(const struct st_key *key, const char *key_path, const char *cert_path,
                      unsigned days, bool force, struct st_err *err);

/*
 * The node id of a file: a PEM certificate (its public key, after checking
 * it is Ed25519 and its self-signature verifies), a private key (refused when
 * readable by group or others) or a public key; at most ST_IDENTITY_FILE_MAX
 * bytes, not through a symbolic link. Returns 0; -1 with err (ST_EX_NOINPUT,
 * ST_EX_DATAERR: "'FILE': not a certificate or key", ...); ST_IDENTITY_EMODE.
 */
int st_identity_file_id(const char *path, char *out, size_t size, struct st_err *err);

/* As st_identity_file_id for bytes in memory (a PEM certificate or key, or a
 * DER certificate; no mode to check); name is used in messages. */
int st_identity_data_id(const void *data, size_t len, const char *name, char *out, size_t size,
                        struct st_err *err);

#endif
