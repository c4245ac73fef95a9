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

#endif
