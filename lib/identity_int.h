/* identity_int.h - what other lib/ modules may see of struct st_key. */
#ifndef ST_IDENTITY_INT_H
#define ST_IDENTITY_INT_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "st/identity.h"

struct st_key {
	EVP_PKEY *pkey; /* an Ed25519 key, owned */
};

/*
 * Reads a PEM certificate file as key files are read (no symbolic link, a
 * regular file of at most ST_IDENTITY_FILE_MAX bytes). Returns 0 with *out
 * set (the caller frees it), or -1 (ST_EX_NOINPUT, ST_EX_DATAERR, ST_EX_IOERR).
 */
int st_identity_cert_load(X509 **out, const char *path, struct st_err *err);

/*
 * A certificate from bytes: PEM when they hold a PEM certificate, else DER that
 * spans them all. Never asks for a passphrase (an encrypted PEM block is refused,
 * not prompted for on the terminal). NULL when they hold none; either way nothing
 * is left queued in OpenSSL's errors. The one reading of certificate bytes, so
 * that --show and the handshake's check agree on what a file is.
 */
X509 *st_identity_cert_parse(const void *data, size_t len);

#endif
