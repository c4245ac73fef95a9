/* seed_sign.c - Ed25519 signatures over seed lists, so a web host cannot poison one. */
#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "identity_int.h"
#include "st/seed.h"

#define ED25519_SIG 64
#define ED25519_KEY 32

static int b64_decode(const char *s, size_t len, unsigned char *out, size_t want)
{
	while (len && isspace((unsigned char)*s)) {
		s++;
		len--;
	}
	while (len && isspace((unsigned char)s[len - 1]))
		len--;
	if (!len || len % 4 || len > 4 * ((want + 2) / 3))
		return -1;
	unsigned char buf[128];
	int n = EVP_DecodeBlock(buf, (const unsigned char *)s, (int)len);
	if (n < 0)
		return -1;
	/* EVP_DecodeBlock counts the padding as data */
	size_t got = (size_t)n - (s[len - 1] == '=') - (s[len - 2] == '=');
	if (got != want)
		return -1;
	memcpy(out, buf, want);
	return 0;
}

/* A private key file, loaded as every key is (identity.c). st-seed has always
 * called a key others can read a usage error (exit 2): keep that. */
static EVP_PKEY *read_private(const char *path, struct st_key **holder, struct st_err *err)
{
	int rc = st_identity_key_load(holder, path, ST_KEY_PRIVATE, err);
	if (rc == ST_IDENTITY_EMODE && err)
		err->code = ST_EX_USAGE;
	return rc == 0 ? (*holder)->pkey : NULL;
}

/* A key given as a file (PEM, public or private) or as the base64 of the raw public key. */
static EVP_PKEY *read_public(const char *key, struct st_key **holder, struct st_err *err)
{
	unsigned char raw[ED25519_KEY];
	if (access(key, F_OK) == 0) {
		int rc = st_identity_key_load(holder, key, ST_KEY_FOLLOW, err);
		if (rc == ST_IDENTITY_EMODE && err)
			err->code = ST_EX_USAGE;
		return rc == 0 ? (*holder)->pkey : NULL;
	}
	if (b64_decode(key, strlen(key), raw, sizeof raw) == 0)
		return st_identity_key_from_raw(holder, raw, sizeof raw, err) == 0 ? (*holder)->pkey
		                                                                    : NULL;
	return st_err_set(err, ST_EX_USAGE,
	                  "public key '%.40s': neither a key file nor a base64 Ed25519 key", key),
	       NULL;
}

int st_sig_sign(const char *keyfile, const void *data, size_t len, char *out, size_t size,
                struct st_err *err)
{
	if (size < 4 * ((ED25519_SIG + 2) / 3) + 1)
		return st_err_set(err, ST_EX_SOFTWARE, "signature buffer too small");
	struct st_key *holder = NULL;
	EVP_PKEY *k = read_private(keyfile, &holder, err);
	if (!k)
		return -1;
	unsigned char sig[ED25519_SIG];
	size_t siglen = sizeof sig;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, k) == 1 &&
	         EVP_DigestSign(ctx, sig, &siglen, data, len) == 1 && siglen == ED25519_SIG;
	EVP_MD_CTX_free(ctx);
	st_identity_key_free(holder);
	if (!ok)
		return st_err_set(err, ST_EX_SOFTWARE, "signing failed");
	EVP_EncodeBlock((unsigned char *)out, sig, ED25519_SIG);
	return 0;
}

int st_sig_verify(const char *key, const void *data, size_t len, const void *sig, size_t siglen,
                  struct st_err *err)
{
	unsigned char s[ED25519_SIG];
	if (b64_decode(sig, siglen, s, sizeof s) < 0) {
		if (siglen != ED25519_SIG)
			return st_err_set(err, ST_EX_DATAERR, "bad signature (not an Ed25519 signature)");
		memcpy(s, sig, sizeof s);
	}
	struct st_key *holder = NULL;
	EVP_PKEY *k = read_public(key, &holder, err);
	if (!k)
		return -1;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k) == 1 &&
	         EVP_DigestVerify(ctx, s, sizeof s, data, len) == 1;
	EVP_MD_CTX_free(ctx);
	st_identity_key_free(holder);
	return ok ? 0 : st_err_set(err, ST_EX_DATAERR, "bad signature");
}

int st_sig_pubkey(const char *key, char *out, size_t size, struct st_err *err)
{
	if (size < 4 * ((ED25519_KEY + 2) / 3) + 1)
		return st_err_set(err, ST_EX_SOFTWARE, "key buffer too small");
	struct st_key *holder = NULL;
	EVP_PKEY *k = read_public(key, &holder, err);
	if (!k)
		return -1;
	unsigned char raw[ED25519_KEY];
	size_t n = sizeof raw;
	int ok = EVP_PKEY_get_raw_public_key(k, raw, &n) == 1 && n == ED25519_KEY;
	st_identity_key_free(holder);
	if (!ok)
		return st_err_set(err, ST_EX_DATAERR, "'%s': no Ed25519 public key", key);
	EVP_EncodeBlock((unsigned char *)out, raw, ED25519_KEY);
	return 0;
}
