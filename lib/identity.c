/* identity.c - Ed25519 key files, self-signed certificates, and the node id of either. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "identity_int.h"
#include "st/config.h"
#include "st/util.h"

/* A key file's bytes, read through one descriptor. */
struct file_bytes {
	unsigned char *data; /* NUL-terminated; wiped and freed by bytes_clear */
	size_t len;
	mode_t mode;
};

static void bytes_clear(struct file_bytes *b)
{
	if (b->data) {
		OPENSSL_cleanse(b->data, b->len);
		free(b->data);
	}
	b->data = NULL;
	b->len = 0;
}

/* Opens path without following a link (unless follow), checks the descriptor, reads it whole. */
static int read_bytes(const char *path, const char *what, bool follow, struct file_bytes *b,
                      struct st_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | (follow ? 0 : O_NOFOLLOW));
	if (fd < 0) {
		if (errno == ELOOP)
			st_err_set(err, ST_EX_DATAERR, "%s '%s' is a symbolic link: refused", what, path);
		else
			st_err_sys(err, errno == ENOENT ? ST_EX_NOINPUT : ST_EX_IOERR, "%s '%s'", what,
			           path);
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		st_err_sys(err, ST_EX_IOERR, "%s '%s'", what, path);
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		st_err_set(err, ST_EX_DATAERR, "%s '%s': not a regular file", what, path);
		goto fail;
	}
	if (st.st_size > ST_IDENTITY_FILE_MAX) {
		st_err_set(err, ST_EX_DATAERR, "%s '%s': larger than %d bytes", what, path,
		           ST_IDENTITY_FILE_MAX);
		goto fail;
	}
	b->mode = st.st_mode;
	b->data = malloc(ST_IDENTITY_FILE_MAX + 1);
	if (!b->data) {
		st_err_set(err, ST_EX_SOFTWARE, "out of memory");
		goto fail;
	}
	b->len = 0;
	for (;;) {
		ssize_t n = read(fd, b->data + b->len, ST_IDENTITY_FILE_MAX + 1 - b->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			st_err_sys(err, ST_EX_IOERR, "%s '%s'", what, path);
			goto fail;
		}
		if (n == 0)
			break;
		b->len += (size_t)n;
		if (b->len > ST_IDENTITY_FILE_MAX) {
			st_err_set(err, ST_EX_DATAERR, "%s '%s': larger than %d bytes", what, path,
			           ST_IDENTITY_FILE_MAX);
			goto fail;
		}
	}
	b->data[b->len] = '\0';
	close(fd);
	return 0;
fail:
	bytes_clear(b);
	close(fd);
	return -1;
}

/* Never ask a terminal for a pass phrase: an encrypted key is simply not ours. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static bool has(const void *data, size_t len, const char *s)
{
	return data && memmem(data, len, s, strlen(s)) != NULL;
}

static int wrap(struct st_key **out, EVP_PKEY *k, const char *path, struct st_err *err)
{
	if (EVP_PKEY_get_id(k) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(k);
		return st_err_set(err, ST_EX_DATAERR, "key '%s': not an Ed25519 key", path);
	}
	*out = calloc(1, sizeof **out);
	if (!*out) {
		EVP_PKEY_free(k);
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	}
	(*out)->pkey = k;
	return 0;
}

/* A key from PEM bytes; a private one is refused when mode lets group or others read it. */
static int key_from_bytes(struct st_key **out, const void *data, size_t len, mode_t mode,
                          const char *path, unsigned flags, struct st_err *err)
{
	*out = NULL;
	bool private = has(data, len, "PRIVATE KEY-----");
	if ((private || (flags & ST_KEY_PRIVATE)) && (mode & 077)) {
		st_err_set(err, ST_EX_DATAERR,
		           "key '%s' is readable by group or others (chmod 600 it)", path);
		return ST_IDENTITY_EMODE;
	}
	BIO *bio = BIO_new_mem_buf(data, (int)len);
	if (!bio)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	EVP_PKEY *k = NULL;
	if (private)
		k = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	else if (!(flags & ST_KEY_PRIVATE))
		k = PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (!k)
		return st_err_set(err, ST_EX_DATAERR, "key '%s': not a PEM %skey", path,
		                  flags & ST_KEY_PRIVATE ? "private " : "");
	return wrap(out, k, path, err);
}

int st_identity_key_load(struct st_key **out, const char *path, unsigned flags,
                         struct st_err *err)
{
	*out = NULL;
	struct file_bytes b = {0};
	if (read_bytes(path, "key", flags & ST_KEY_FOLLOW, &b, err) < 0)
		return -1;
	int rc = key_from_bytes(out, b.data, b.len, b.mode, path, flags, err);
	bytes_clear(&b);
	return rc;
}

int st_identity_key_from_raw(struct st_key **out, const unsigned char *raw, size_t len,
                             struct st_err *err)
{
	*out = NULL;
	EVP_PKEY *k = len == ST_ID_PUBKEY_LEN
	                  ? EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, len)
	                  : NULL;
	if (!k)
		return st_err_set(err, ST_EX_DATAERR, "public key: not an Ed25519 key");
	return wrap(out, k, "raw", err);
}

int st_identity_key_generate(struct st_key **out, struct st_err *err)
{
	*out = NULL;
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (!k)
		return st_err_set(err, ST_EX_SOFTWARE, "cannot generate an Ed25519 key");
	return wrap(out, k, "new", err);
}

void st_identity_key_free(struct st_key *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey); /* OpenSSL cleanses the private half */
	free(k);
}

bool st_identity_key_is_private(const struct st_key *k)
{
	unsigned char priv[ST_ID_PUBKEY_LEN];
	size_t n = sizeof priv;
	bool yes = EVP_PKEY_get_raw_private_key(k->pkey, priv, &n) == 1;
	OPENSSL_cleanse(priv, sizeof priv);
	return yes;
}

int st_identity_key_raw(const struct st_key *k, unsigned char *raw, size_t size,
                        struct st_err *err)
{
	size_t n = size;
	if (size < ST_ID_PUBKEY_LEN || EVP_PKEY_get_raw_public_key(k->pkey, raw, &n) != 1 ||
	    n != ST_ID_PUBKEY_LEN)
		return st_err_set(err, ST_EX_DATAERR, "no Ed25519 public key");
	return 0;
}

static int pkey_id(EVP_PKEY *k, char *out, size_t size, struct st_err *err)
{
	unsigned char raw[ST_ID_PUBKEY_LEN];
	size_t n = sizeof raw;
	if (EVP_PKEY_get_id(k) != EVP_PKEY_ED25519 ||
	    EVP_PKEY_get_raw_public_key(k, raw, &n) != 1 || n != sizeof raw)
		return st_err_set(err, ST_EX_DATAERR, "not an Ed25519 key");
	return st_identity_id_from_raw(raw, n, out, size, err);
}

int st_identity_key_id(const struct st_key *k, char *out, size_t size, struct st_err *err)
{
	return pkey_id(k->pkey, out, size, err);
}

/* ---- certificates ---- */

static int cert_add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	int ok = e && X509_add_ext(x, e, -1) == 1;
	X509_EXTENSION_free(e);
	return ok ? 0 : -1;
}

/* A self-signed certificate for k, CN = id, valid from now for days days. */
static X509 *cert_make(EVP_PKEY *k, const char *id, unsigned days)
{
	X509 *x = X509_new();
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	time_t now = (time_t)st_now();
	bool ok = x && X509_set_version(x, X509_VERSION_3) == 1 &&
	          RAND_bytes(serial, sizeof serial) == 1;
	if (ok) {
		serial[0] &= 0x7f; /* positive, as RFC 5280 wants */
		serial[0] |= 0x40; /* and of full length */
		bn = BN_bin2bn(serial, sizeof serial, NULL);
		ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	}
	BN_free(bn);
	X509_NAME *name = ok ? X509_get_subject_name(x) : NULL;
	ok = ok && X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &now) &&
	     X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, &now) &&
	     X509_set_pubkey(x, k) == 1 &&
	     X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)id, -1, -1,
	                                0) == 1 &&
	     X509_set_issuer_name(x, name) == 1 &&
	     cert_add_ext(x, NID_basic_constraints, "critical,CA:FALSE") == 0 &&
	     cert_add_ext(x, NID_key_usage, "critical,digitalSignature") == 0 &&
	     cert_add_ext(x, NID_ext_key_usage, "serverAuth,clientAuth") == 0 &&
	     cert_add_ext(x, NID_subject_key_identifier, "hash") == 0 &&
	     X509_sign(x, k, NULL) > 0; /* Ed25519 takes no separate digest */
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static int cert_id(X509 *x, const char *name, char *out, size_t size, struct st_err *err)
{
	EVP_PKEY *k = X509_get0_pubkey(x);
	if (!k || EVP_PKEY_get_id(k) != EVP_PKEY_ED25519)
		return st_err_set(err, ST_EX_DATAERR, "certificate '%s': not an Ed25519 key", name);
	if (X509_verify(x, k) != 1)
		return st_err_set(err, ST_EX_DATAERR,
		                  "certificate '%s': not signed by its own key", name);
	if (pkey_id(k, out, size, err) < 0)
		return st_err_prefix(err, "certificate '%s'", name);
	return 0;
}

X509 *st_identity_cert_parse(const void *data, size_t len)
{
	X509 *x = NULL;
	if (!data || !len || len > ST_IDENTITY_FILE_MAX) {
		/* nothing to read */
	} else if (has(data, len, "-----BEGIN CERTIFICATE-----")) {
		BIO *bio = BIO_new_mem_buf(data, (int)len);
		x = bio ? PEM_read_bio_X509(bio, NULL, no_passphrase, NULL) : NULL;
		BIO_free(bio);
	} else {
		const unsigned char *p = data;
		x = d2i_X509(NULL, &p, (long)len);
		if (x && p != (const unsigned char *)data + len) { /* bytes after it: not one */
			X509_free(x);
			x = NULL;
		}
	}
	ERR_clear_error(); /* a parse failure leaves its reasons queued: they are ours to drop */
	return x;
}

int st_identity_data_id(const void *data, size_t len, const char *name, char *out, size_t size,
                        struct st_err *err)
{
	if (len > ST_IDENTITY_FILE_MAX)
		return st_err_set(err, ST_EX_DATAERR, "'%s': larger than %d bytes", name,
		                  ST_IDENTITY_FILE_MAX);
	X509 *x = st_identity_cert_parse(data, len);
	if (!x && has(data, len, "-----BEGIN CERTIFICATE-----"))
		return st_err_set(err, ST_EX_DATAERR, "certificate '%s': not a PEM certificate",
		                  name);
	if (!x && has(data, len, "-----BEGIN ")) {
		struct st_key *k = NULL;
		int rc = key_from_bytes(&k, data, len, 0600, name, 0, err);
		if (rc == 0 && k)
			rc = st_identity_key_id(k, out, size, err);
		st_identity_key_free(k);
		return rc;
	}
	if (!x)
		return st_err_set(err, ST_EX_DATAERR, "'%s': not a certificate or key", name);
	int rc = cert_id(x, name, out, size, err);
	X509_free(x);
	return rc;
}

int st_identity_cert_load(X509 **out, const char *path, struct st_err *err)
{
	*out = NULL;
	struct file_bytes b = {0};
	if (read_bytes(path, "certificate", false, &b, err) < 0)
		return -1;
	*out = has(b.data, b.len, "-----BEGIN CERTIFICATE-----")
	           ? st_identity_cert_parse(b.data, b.len)
	           : NULL;
	bytes_clear(&b);
	if (!*out)
		return st_err_set(err, ST_EX_DATAERR, "certificate '%s': not a PEM certificate", path);
	return 0;
}

int st_identity_file_id(const char *path, char *out, size_t size, struct st_err *err)
{
	struct file_bytes b = {0};
	if (read_bytes(path, "file", false, &b, err) < 0)
		return -1;
	int rc;
	if (has(b.data, b.len, "PRIVATE KEY-----")) {
		struct st_key *k = NULL;
		rc = key_from_bytes(&k, b.data, b.len, b.mode, path, ST_KEY_PRIVATE, err);
		if (rc == 0 && k)
			rc = st_identity_key_id(k, out, size, err);
		st_identity_key_free(k);
	} else {
		rc = st_identity_data_id(b.data, b.len, path, out, size, err);
	}
	bytes_clear(&b);
	return rc;
}

/* ---- writing ---- */

/* Writes len bytes to a new temporary file beside path; its name goes to tmp. */
static int write_temp(const char *path, const void *data, size_t len, char *tmp, size_t tmpsize,
                      struct st_err *err)
{
	int fd = -1;
	for (int tries = 0; fd < 0 && tries < 16; tries++) {
		unsigned r = 0;
		if (RAND_bytes((unsigned char *)&r, sizeof r) != 1)
			return st_err_set(err, ST_EX_SOFTWARE, "no random bytes");
		if ((size_t)snprintf(tmp, tmpsize, "%s.tmp-%08x", path, r) >= tmpsize)
			return st_err_set(err, ST_EX_CANTCREAT, "'%s': path too long", path);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST)
			return st_err_sys(err, ST_EX_CANTCREAT, "'%s'", tmp);
	}
	if (fd < 0)
		return st_err_set(err, ST_EX_CANTCREAT, "'%s': no free temporary name", path);
	struct stat st;
	const unsigned char *p = data;
	size_t left = len;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || fchmod(fd, 0600) < 0)
		goto fail;
	while (left) {
		ssize_t n = write(fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		p += n;
		left -= (size_t)n;
	}
	if (fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	return 0;
fail:
	st_err_sys(err, errno == ENOSPC ? ST_EX_IOERR : ST_EX_CANTCREAT, "'%s'", tmp);
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return -1;
}

/* With force, what is at path may be replaced: nothing, or a regular file. */
static int check_replaceable(const char *path, bool force, struct st_err *err)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : st_err_sys(err, ST_EX_CANTCREAT, "'%s'", path);
	if (S_ISLNK(st.st_mode))
		return st_err_set(err, ST_EX_CANTCREAT, "'%s' is a symbolic link: not replaced", path);
	if (!force)
		return st_err_set(err, ST_EX_CANTCREAT, "'%s' exists (--force replaces it)", path);
	if (!S_ISREG(st.st_mode))
		return st_err_set(err, ST_EX_CANTCREAT, "'%s' is not a regular file: not replaced",
		                  path);
	return 0;
}

/* Puts tmp at path: link(2) when nothing may be there (atomic, never overwrites), else rename(2). */
static int place(const char *tmp, const char *path, bool force, struct st_err *err)
{
	int rc = force ? rename(tmp, path) : link(tmp, path);
	if (rc < 0) {
		if (errno == EEXIST)
			return st_err_set(err, ST_EX_CANTCREAT, "'%s' exists (--force replaces it)", path);
		return st_err_sys(err, ST_EX_CANTCREAT, "'%s'", path);
	}
	if (!force)
		unlink(tmp);
	return 0;
}

static void sync_dir(const char *path)
{
	char dir[ST_PATH_MAX];
	st_strlcpy(dir, path, sizeof dir);
	char *slash = strrchr(dir, '/');
	if (!slash)
		st_strlcpy(dir, ".", sizeof dir);
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

/* The PEM text of the private key or of the certificate, in a memory BIO. */
static BIO *pem_key(EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_mem());
	if (b && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) != 1) {
		BIO_free(b);
		return NULL;
	}
	return b;
}

static void bio_wipe_free(BIO *b)
{
	BUF_MEM *m = NULL;
	if (b && BIO_get_mem_ptr(b, &m) == 1 && m && m->data)
		OPENSSL_cleanse(m->data, m->max);
	BIO_free(b);
}

int st_identity_write(const struct st_key *key, const char *key_path, const char *cert_path,
                      unsigned days, bool force, struct st_err *err)
{
	char id[ST_ID_STRLEN], ktmp[ST_PATH_MAX + 32], ctmp[ST_PATH_MAX + 32];
	if (!st_identity_key_is_private(key))
		return st_err_set(err, ST_EX_SOFTWARE, "no private key to write");
	if (st_identity_key_id(key, id, sizeof id, err) < 0)
		return -1;
	if (check_replaceable(key_path, force, err) < 0 ||
	    check_replaceable(cert_path, force, err) < 0)
		return -1;
	X509 *x = cert_make(key->pkey, id, days);
	BIO *kb = pem_key(key->pkey), *cb = BIO_new(BIO_s_mem());
	BUF_MEM *km = NULL, *cm = NULL;
	int rc = -1;
	ktmp[0] = ctmp[0] = '\0';
	if (!x || !kb || !cb || PEM_write_bio_X509(cb, x) != 1 || BIO_get_mem_ptr(kb, &km) != 1 ||
	    BIO_get_mem_ptr(cb, &cm) != 1) {
		st_err_set(err, ST_EX_SOFTWARE, "cannot make the key and certificate");
		goto done;
	}
	if (write_temp(key_path, km->data, km->length, ktmp, sizeof ktmp, err) < 0) {
		ktmp[0] = '\0';
		goto done;
	}
	if (write_temp(cert_path, cm->data, cm->length, ctmp, sizeof ctmp, err) < 0) {
		ctmp[0] = '\0';
		goto done;
	}
	if (place(ktmp, key_path, force, err) < 0)
		goto done;
	ktmp[0] = '\0'; /* linked and removed, or renamed: nothing left to remove */
	if (place(ctmp, cert_path, force, err) < 0) {
		if (!force)
			unlink(key_path); /* ours, linked a moment ago: leave nothing half made */
		goto done;
	}
	ctmp[0] = '\0';
	sync_dir(key_path);
	if (strcmp(key_path, cert_path) != 0)
		sync_dir(cert_path);
	rc = 0;
done:
	if (ktmp[0])
		unlink(ktmp);
	if (ctmp[0])
		unlink(ctmp);
	X509_free(x);
	bio_wipe_free(kb);
	BIO_free(cb);
	return rc;
}
