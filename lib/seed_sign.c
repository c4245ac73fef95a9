/* seed_sign.c - Ed25519 signatures over seed lists, so a web host cannot poison one. */
#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

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

static EVP_PKEY *read_pem(const char *path, bool private_only, struct st_err *err)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return st_err_sys(err, errno == ENOENT ? ST_EX_NOINPUT : ST_EX_IOERR, "key '%s'", path),
		       NULL;
	if (private_only && (st.st_mode & 077))
		return st_err_set(err, ST_EX_USAGE,
		                  "key '%s' is readable by group or others (chmod 600 it)", path),
		       NULL;
	FILE *f = fopen(path, "r");
	if (!f)
		return st_err_sys(err, ST_EX_IOERR, "key '%s'", path), NULL;
	EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	if (!k && !private_only) {
		rewind(f);
		k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	}
	fclose(f);
	if (!k)
		return st_err_set(err, ST_EX_DATAERR, "key '%s': not a PEM %skey", path,
		                  private_only ? "private " : ""), NULL;
	if (EVP_PKEY_get_id(k) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(k);
		return st_err_set(err, ST_EX_DATAERR, "key '%s': not an Ed25519 key", path), NULL;
	}
	return k;
}

/* A key given as a file (PEM, public or private) or as the base64 of the raw public key. */
static EVP_PKEY *read_public(const char *key, struct st_err *err)
{
	struct stat st;
	unsigned char raw[ED25519_KEY];
	if (stat(key, &st) == 0)
		return read_pem(key, false, err);
	if (b64_decode(key, strlen(key), raw, sizeof raw) == 0) {
		EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, sizeof raw);
		if (!k)
			st_err_set(err, ST_EX_DATAERR, "public key: not an Ed25519 key");
		return k;
	}
	return st_err_set(err, ST_EX_USAGE,
	                  "public key '%.40s': neither a key file nor a base64 Ed25519 key", key),
	       NULL;
}

int st_sig_sign(const char *keyfile, const void *data, size_t len, char *out, size_t size,
                struct st_err *err)
{
	if (size < 4 * ((ED25519_SIG + 2) / 3) + 1)
		return st_err_set(err, ST_EX_SOFTWARE, "signature buffer too small");
	EVP_PKEY *k = read_pem(keyfile, true, err);
	if (!k)
		return -1;
	unsigned char sig[ED25519_SIG];
	size_t siglen = sizeof sig;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, k) == 1 &&
	         EVP_DigestSign(ctx, sig, &siglen, data, len) == 1 && siglen == ED25519_SIG;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(k);
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
	EVP_PKEY *k = read_public(key, err);
	if (!k)
		return -1;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k) == 1 &&
	         EVP_DigestVerify(ctx, s, sizeof s, data, len) == 1;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(k);
	return ok ? 0 : st_err_set(err, ST_EX_DATAERR, "bad signature");
}

int st_sig_pubkey(const char *key, char *out, size_t size, struct st_err *err)
{
	if (size < 4 * ((ED25519_KEY + 2) / 3) + 1)
		return st_err_set(err, ST_EX_SOFTWARE, "key buffer too small");
	EVP_PKEY *k = read_public(key, err);
	if (!k)
		return -1;
	unsigned char raw[ED25519_KEY];
	size_t n = sizeof raw;
	int ok = EVP_PKEY_get_raw_public_key(k, raw, &n) == 1 && n == ED25519_KEY;
	EVP_PKEY_free(k);
	if (!ok)
		return st_err_set(err, ST_EX_DATAERR, "'%s': no Ed25519 public key", key);
	EVP_EncodeBlock((unsigned char *)out, raw, ED25519_KEY);
	return 0;
}
