/* test_identity.c - node ids, key files and certificates (lib/identity.c, lib/identity_id.c). */
#include "unit.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include "st/endpoint.h"
#include "st/identity.h"
#include "st/util.h"

/* The worked example of st-protocol(7): RFC 8032's first test key. */
static const char EX_SECRET[] = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
static const char EX_PUBLIC[] = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
/* its DER SubjectPublicKeyInfo (RFC 8410) and that SPKI's SHA-256 */
static const char EX_SPKI[] = "302a300506032b6570032100"
                              "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
static const char EX_SHA256[] = "06e3fd8fda29bb60ab59557de61edb0aecdb231134be30e75b455f8e1b792fa9";
static const char EX_ID[] = "st1a3r73d62fg5wbk2zkv66mhw3blwnwiyr6vdvue";

static void hex(const char *s, unsigned char *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
		out[i] = (unsigned char)v;
	}
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	char *buf = calloc(1, 70000);
	assert_non_null(buf);
	*len = fread(buf, 1, 69999, f);
	fclose(f);
	return buf;
}

/* Writes the example key pair as PEM PKCS#8 at path with mode. */
static void write_example_key(const char *path, mode_t mode)
{
	unsigned char sk[32];
	hex(EX_SECRET, sk, sizeof sk);
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, sk, sizeof sk);
	assert_non_null(k);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
	EVP_PKEY_free(k);
}

static void the_worked_example_gives_its_id(void **state)
{
	(void)state;
	unsigned char pk[32];
	char id[ST_ID_STRLEN];
	hex(EX_PUBLIC, pk, sizeof pk);
	assert_int_equal(st_identity_id_from_raw(pk, sizeof pk, id, sizeof id, NULL), 0);
	assert_string_equal(id, EX_ID);
	assert_int_equal(strlen(id), ST_ID_LEN);
	assert_true(st_node_id_valid(id, strlen(id)));
	/* the SPKI the id hashes is OpenSSL's DER encoding of the key, and its hash the man page's */
	EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pk, sizeof pk);
	assert_non_null(k);
	unsigned char *der = NULL, spki[ST_ID_SPKI_LEN], h[SHA256_DIGEST_LENGTH], want[32];
	int dlen = i2d_PUBKEY(k, &der);
	assert_int_equal(dlen, ST_ID_SPKI_LEN);
	hex(EX_SPKI, spki, sizeof spki);
	assert_memory_equal(der, spki, sizeof spki);
	SHA256(der, (size_t)dlen, h);
	hex(EX_SHA256, want, sizeof want);
	assert_memory_equal(h, want, sizeof want);
	OPENSSL_free(der);
	EVP_PKEY_free(k);
	/* and from the private key file, as st-keygen --show reads it */
	char *dir = unit_tmpdir(), path[512];
	snprintf(path, sizeof path, "%s/node.key", dir);
	write_example_key(path, 0600);
	struct st_err err = {0};
	assert_int_equal(st_identity_file_id(path, id, sizeof id, &err), 0);
	assert_string_equal(id, EX_ID);
	unit_rmtree(dir);
}

static void every_single_substitution_is_rejected(void **state)
{
	(void)state;
	const char *alpha = "abcdefghijklmnopqrstuvwxyz234567";
	char out[ST_ID_STRLEN], t[ST_ID_STRLEN];
	struct st_err err = {0};
	assert_int_equal(st_identity_id_parse(EX_ID, strlen(EX_ID), out, sizeof out, &err), 0);
	size_t tried = 0;
	for (size_t pos = 0; pos < strlen(EX_ID); pos++) {
		for (const char *a = alpha; *a; a++) {
			if (*a == EX_ID[pos])
				continue;
			memcpy(t, EX_ID, sizeof t);
			t[pos] = *a;
			if (st_identity_id_parse(t, strlen(t), out, sizeof out, &err) == 0)
				fail_msg("'%s' (position %zu) was taken", t, pos);
			assert_int_equal(err.code, ST_EX_DATAERR);
			tried++;
		}
	}
	assert_true(tried > 1000);
	/* a character dropped or doubled too */
	assert_int_equal(st_identity_id_parse(EX_ID, strlen(EX_ID) - 1, out, sizeof out, &err), -1);
	snprintf(t, sizeof t, "%.20s%s", EX_ID, EX_ID + 21);
	assert_int_equal(st_identity_id_parse(t, strlen(t), out, sizeof out, &err), -1);
}

static void parsing_forgives_case_dashes_and_spaces(void **state)
{
	(void)state;
	char out[ST_ID_STRLEN];
	const char *typed[] = {
		"ST1A3R73D62FG5WBK2ZKV66MHW3BLWNWIYR6VDVUE",
		"st1-a3r7-3d62-fg5w-bk2z-kv66-mhw3-blwn-wiyr-6vdv-ue",
		"  st1 a3r73d62 fg5wbk2z kv66mhw3 blwnwiyr 6vdvue\n",
		"sT1A3R73d62Fg5wBk2zKv66MhW3BlWnWiYr6vDvUe",
	};
	for (size_t i = 0; i < ST_ARRAY_LEN(typed); i++) {
		struct st_err err = {0};
		assert_int_equal(st_identity_id_parse(typed[i], strlen(typed[i]), out, sizeof out, &err),
		                 0);
		assert_string_equal(out, EX_ID);
	}
	struct st_err err = {0};
	assert_int_equal(st_identity_id_parse("xx1eh7ddx5", 10, out, sizeof out, &err), -1);
	assert_non_null(strstr(err.msg, "not an st1 id"));
	/* 0, 1, 8 and 9 are not in the alphabet */
	char t[ST_ID_STRLEN];
	memcpy(t, EX_ID, sizeof t);
	t[10] = '0';
	assert_int_equal(st_identity_id_parse(t, strlen(t), out, sizeof out, &err), -1);
	assert_non_null(strstr(err.msg, "not base32"));
}


static void a_key_others_can_read_is_refused(void **state)
{
	(void)state;
	char *dir = unit_tmpdir(), path[512], id[ST_ID_STRLEN];
	snprintf(path, sizeof path, "%s/node.key", dir);
	write_example_key(path, 0644);
	struct st_err err = {0};
	struct st_key *k = NULL;
	assert_int_equal(st_identity_key_load(&k, path, ST_KEY_PRIVATE, &err), ST_IDENTITY_EMODE);
	assert_null(k);
	assert_int_equal(err.code, ST_EX_DATAERR);
	assert_non_null(strstr(err.msg, "readable by group or others (chmod 600 it)"));
	assert_int_equal(st_identity_file_id(path, id, sizeof id, &err), ST_IDENTITY_EMODE);
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(st_identity_key_load(&k, path, 0, &err), ST_IDENTITY_EMODE);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(st_identity_key_load(&k, path, ST_KEY_PRIVATE, &err), 0);
	assert_true(st_identity_key_is_private(k));
	st_identity_key_free(k);
	unit_rmtree(dir);
}

static void symbolic_links_are_refused(void **state)
{
	(void)state;
	char *dir = unit_tmpdir(), key[512], crt[512], target[512], id[ST_ID_STRLEN];
	snprintf(key, sizeof key, "%s/node.key", dir);
	snprintf(crt, sizeof crt, "%s/node.crt", dir);
	snprintf(target, sizeof target, "%s/elsewhere", dir);
	write_example_key(target, 0600);
	size_t before_len;
	char *before = slurp(target, &before_len);
	assert_int_equal(symlink(target, key), 0);
	struct st_err err = {0};
	struct st_key *k = NULL, *loaded = NULL;
	/* reading through it */
	assert_int_equal(st_identity_key_load(&loaded, key, ST_KEY_PRIVATE, &err), -1);
	assert_non_null(strstr(err.msg, "symbolic link"));
	assert_int_equal(st_identity_file_id(key, id, sizeof id, &err), -1);
	/* writing through it, with and without force */
	assert_int_equal(st_identity_key_generate(&k, &err), 0);
	assert_int_equal(st_identity_write(k, key, crt, 30, false, &err), -1);
	assert_int_equal(err.code, ST_EX_CANTCREAT);
	assert_int_equal(st_identity_write(k, key, crt, 30, true, &err), -1);
	assert_non_null(strstr(err.msg, "symbolic link"));
	size_t after_len;
	char *after = slurp(target, &after_len);
	assert_int_equal(before_len, after_len);
	assert_memory_equal(before, after, before_len);
	struct stat st;
	assert_int_equal(lstat(key, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(access(crt, F_OK), -1);
	free(before);
	free(after);
	st_identity_key_free(k);
	unit_rmtree(dir);
}

static void existing_files_need_force(void **state)
{
	(void)state;
	char *dir = unit_tmpdir(), key[512], crt[512], id1[ST_ID_STRLEN], id2[ST_ID_STRLEN];
	snprintf(key, sizeof key, "%s/node.key", dir);
	snprintf(crt, sizeof crt, "%s/node.crt", dir);
	struct st_err err = {0};
	struct st_key *a = NULL, *b = NULL;
	assert_int_equal(st_identity_key_generate(&a, &err), 0);
	assert_int_equal(st_identity_key_generate(&b, &err), 0);
	assert_int_equal(st_identity_write(a, key, crt, 3650, false, &err), 0);
	struct stat st;
	assert_int_equal(stat(key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(crt, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st_identity_file_id(key, id1, sizeof id1, &err), 0);
	size_t l1;
	char *k1 = slurp(key, &l1);
	assert_int_equal(st_identity_write(b, key, crt, 3650, false, &err), -1);
	assert_int_equal(err.code, ST_EX_CANTCREAT);
	assert_non_null(strstr(err.msg, key));
	size_t l2;
	char *k2 = slurp(key, &l2);
	assert_int_equal(l1, l2);
	assert_memory_equal(k1, k2, l1);
	/* only the certificate there: refused too, and no key is left behind */
	assert_int_equal(unlink(key), 0);
	assert_int_equal(st_identity_write(b, key, crt, 3650, false, &err), -1);
	assert_non_null(strstr(err.msg, crt));
	assert_int_equal(access(key, F_OK), -1);
	assert_int_equal(st_identity_write(b, key, crt, 3650, true, &err), 0);
	assert_int_equal(st_identity_file_id(key, id2, sizeof id2, &err), 0);
	assert_string_not_equal(id1, id2);
	assert_int_equal(st_identity_file_id(crt, id1, sizeof id1, &err), 0);
	assert_string_equal(id1, id2);
	/* no temporary file stays */
	char cmd[600];
	snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 2", dir);
	assert_int_equal(system(cmd), 0);
	free(k1);
	free(k2);
	st_identity_key_free(a);
	st_identity_key_free(b);
	unit_rmtree(dir);
}

static void the_certificate_carries_the_key_id(void **state)
{
	(void)state;
	char *dir = unit_tmpdir(), key[512], crt[512], src[512], id[ST_ID_STRLEN];
	snprintf(key, sizeof key, "%s/node.key", dir);
	snprintf(crt, sizeof crt, "%s/node.crt", dir);
	snprintf(src, sizeof src, "%s/example.key", dir);
	write_example_key(src, 0600);
	struct st_err err = {0};
	struct st_key *k = NULL;
	assert_int_equal(st_identity_key_load(&k, src, ST_KEY_PRIVATE, &err), 0);
	assert_int_equal(st_identity_write(k, key, crt, 3650, false, &err), 0);
	assert_int_equal(st_identity_file_id(crt, id, sizeof id, &err), 0);
	assert_string_equal(id, EX_ID);
	size_t len;
	char *pem = slurp(crt, &len);
	assert_int_equal(st_identity_data_id(pem, len, "node.crt", id, sizeof id, &err), 0);
	assert_string_equal(id, EX_ID);
	/* a certificate is no secret: a 0644 one reads */
	assert_int_equal(chmod(crt, 0644), 0);
	assert_int_equal(st_identity_file_id(crt, id, sizeof id, &err), 0);
	free(pem);
	st_identity_key_free(k);
	unit_rmtree(dir);
}

static void garbage_certificates_are_errors(void **state)
{
	(void)state;
	char *dir = unit_tmpdir(), key[512], crt[512], id[ST_ID_STRLEN];
	snprintf(key, sizeof key, "%s/node.key", dir);
	snprintf(crt, sizeof crt, "%s/node.crt", dir);
	struct st_err err = {0};
	struct st_key *k = NULL;
	assert_int_equal(st_identity_key_generate(&k, &err), 0);
	assert_int_equal(st_identity_write(k, key, crt, 3650, false, &err), 0);
	size_t len;
	char *pem = slurp(crt, &len);
	const char *bad[] = {
		"", "hello", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
		"\x30\x82\x01\x00\x30", "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		st_err_clear(&err);
		assert_int_equal(st_identity_data_id(bad[i], strlen(bad[i]), "x", id, sizeof id, &err),
		                 -1);
		assert_int_equal(err.code, ST_EX_DATAERR);
	}
	/* cut short */
	assert_int_equal(st_identity_data_id(pem, len / 2, "x", id, sizeof id, &err), -1);
	assert_int_equal(err.code, ST_EX_DATAERR);
	/* one base64 character of the signature changed: no longer self-signed */
	char *end = strstr(pem, "-----END");
	assert_non_null(end);
	char *p = end - 6;
	*p = *p == 'A' ? 'B' : 'A';
	assert_int_equal(st_identity_data_id(pem, len, "x", id, sizeof id, &err), -1);
	assert_int_equal(err.code, ST_EX_DATAERR);
	/* a missing file, a directory */
	assert_int_equal(st_identity_file_id("/nonexistent/node.crt", id, sizeof id, &err), -1);
	assert_int_equal(err.code, ST_EX_NOINPUT);
	assert_int_equal(st_identity_file_id(dir, id, sizeof id, &err), -1);
	assert_int_equal(err.code, ST_EX_DATAERR);
	free(pem);
	st_identity_key_free(k);
	unit_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_worked_example_gives_its_id),
		cmocka_unit_test(every_single_substitution_is_rejected),
		cmocka_unit_test(parsing_forgives_case_dashes_and_spaces),
		cmocka_unit_test(a_key_others_can_read_is_refused),
		cmocka_unit_test(symbolic_links_are_refused),
		cmocka_unit_test(existing_files_need_force),
		cmocka_unit_test(the_certificate_carries_the_key_id),
		cmocka_unit_test(garbage_certificates_are_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
