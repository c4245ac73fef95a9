/* test_seed.c - seed list parsers, signatures, fetch and refresh error paths. */
#include "unit.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include "st/seed.h"
#include "st/store.h"

struct bads {
	int n;
	char last[256];
};

static void on_bad(void *ctx, const char *where, const char *reason)
{
	struct bads *b = ctx;
	b->n++;
	snprintf(b->last, sizeof b->last, "%s: %s", where, reason);
}

static int parse(struct st_seed_list *l, const char *body, enum st_seed_format fmt,
                 const char *ctype, struct bads *b)
{
	struct st_seed_sink sink = {on_bad, NULL, b};
	*l = (struct st_seed_list){0};
	return st_seed_parse(l, body, strlen(body), fmt, ctype, 7777, &sink, NULL);
}

static const char *ep_text(const struct st_seed_list *l, size_t i)
{
	static char buf[ST_ENDPOINT_STRLEN + 1];
	st_endpoint_format(&l->v[i].ep, buf, sizeof buf);
	return buf;
}

static void text_lists_keep_good_lines_and_name_bad_ones(void **state)
{
	(void)state;
	struct st_seed_list l;
	struct bads b = {0};
	assert_int_equal(parse(&l, "# seeds\n\n1.2.3.4:7777\r\nn1@[2001:db8::1]:9 # c\n5.6.7.8\n"
	                           "1.2.3.4:7777\nnot-an-ip:x\n1.2.3.4:99999\n",
	                       ST_SEED_AUTO, NULL, &b), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(ep_text(&l, 0), "1.2.3.4:7777");
	assert_string_equal(ep_text(&l, 1), "[2001:db8::1]:9");
	assert_string_equal(l.v[1].node_id, "n1");
	assert_string_equal(ep_text(&l, 2), "5.6.7.8:7777");
	assert_int_equal(l.duplicates, 1);
	assert_int_equal(b.n, 2);
	assert_int_equal(l.bad, 2);
	assert_non_null(strstr(b.last, "8: "));
	assert_int_equal(l.format, ST_SEED_TEXT);
	st_seed_list_clear(&l);
}

/* Node ids are kept apart from the entries, in blocks: many long ids survive the list's
 * growth, each with its own endpoint, and entries without an id have "". */
static void many_node_ids_stay_with_their_endpoints(void **state)
{
	(void)state;
	struct st_seed_list l = {0};
	char id[ST_NODE_ID_MAX + 1];
	for (uint32_t i = 0; i < 3000; i++) {
		struct st_endpoint e = {.family = ST_AF_INET, .port = 7777};
		e.addr[10] = e.addr[11] = 0xff;
		e.addr[12] = 10;
		e.addr[14] = (uint8_t)(i >> 8);
		e.addr[15] = (uint8_t)i;
		memset(id, 'a' + (int)(i % 26), sizeof id - 1); /* the longest id there is */
		id[sizeof id - 1] = '\0';
		snprintf(id, 12, "n%u-", i);
		id[strlen(id)] = 'x';
		assert_int_equal(st_seed_list_add(&l, &e, i % 3 ? id : NULL, NULL), 1);
	}
	assert_int_equal(l.n, 3000);
	for (uint32_t i = 0; i < 3000; i++) {
		char want[16];
		snprintf(want, sizeof want, "n%u-", i);
		if (i % 3 == 0) {
			assert_string_equal(l.v[i].node_id, "");
			continue;
		}
		assert_int_equal(strlen(l.v[i].node_id), ST_NODE_ID_MAX);
		assert_memory_equal(l.v[i].node_id, want, strlen(want));
		assert_int_equal(l.v[i].ep.addr[15], (uint8_t)i);
	}
	st_seed_list_clear(&l);
	assert_null(l.v);
}

static void onion_lines_make_a_bitcoin_list_and_are_bad_in_a_text_list(void **state)
{
	(void)state;
	struct st_seed_list l;
	struct bads b = {0};
	const char *body = "abcdef.onion:8333\n1.2.3.4:8333\nxyz.b32.i2p:0\n";
	assert_int_equal(parse(&l, body, ST_SEED_AUTO, NULL, &b), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.skipped, 2);
	assert_int_equal(b.n, 0);
	assert_int_equal(l.format, ST_SEED_BITCOIN);
	st_seed_list_clear(&l);
	assert_int_equal(parse(&l, body, ST_SEED_TEXT, NULL, &b), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(b.n, 2);
	st_seed_list_clear(&l);
}

static void host_names_are_bad_lines_unless_a_resolver_takes_them(void **state)
{
	(void)state;
	struct st_seed_list l;
	struct bads b = {0};
	assert_int_equal(parse(&l, "seed.example.net:7777\n", ST_SEED_TEXT, NULL, &b), 0);
	assert_int_equal(l.n, 0);
	assert_non_null(strstr(b.last, "--resolve"));
	st_seed_list_clear(&l);
	/* localhost is in every /etc/hosts: the system resolver answers without a network */
	struct st_seed_sink sink = {on_bad, st_seed_resolve_host, &b};
	l = (struct st_seed_list){0};
	const char *body = "id7@localhost:7000\n";
	assert_int_equal(st_seed_parse(&l, body, strlen(body), ST_SEED_TEXT, NULL, 7777, &sink, NULL), 0);
	assert_true(l.n >= 1);
	assert_int_equal(l.v[0].ep.port, 7000);
	assert_string_equal(l.v[0].node_id, "id7");
	assert_int_equal(st_endpoint_class(&l.v[0].ep), ST_CLASS_LOOPBACK);
	st_seed_list_clear(&l);
}

static void json_arrays_objects_and_wrappers(void **state)
{
	(void)state;
	struct st_seed_list l;
	struct bads b = {0};
	assert_int_equal(parse(&l, "[\"1.2.3.4:1\", {\"Address\":\"2001:db8::2\",\"Port\":7},"
	                           " {\"host\":\"5.6.7.8\",\"port\":\"8\",\"node_id\":\"x\"}, 3,"
	                           " {\"port\":1}, {\"ip\":\"9.9.9.9\",\"port\":70000}]",
	                       ST_SEED_AUTO, NULL, &b), 0);
	assert_int_equal(l.format, ST_SEED_JSON);
	assert_int_equal(l.n, 3);
	assert_string_equal(ep_text(&l, 1), "[2001:db8::2]:7");
	assert_string_equal(l.v[2].node_id, "x");
	assert_int_equal(b.n, 3);
	st_seed_list_clear(&l);

	assert_int_equal(parse(&l, "{\"version\":1,\"nodes\":[\"1.2.3.4:1\"],\"x\":[]}", ST_SEED_AUTO,
	                       NULL, &b), 0);
	assert_int_equal(l.n, 1);
	st_seed_list_clear(&l);
	assert_int_equal(parse(&l, "{\"whatever\":[\"1.2.3.4:1\",\"1.2.3.4:2\"]}", ST_SEED_AUTO, NULL,
	                       &b), 0);
	assert_int_equal(l.n, 2);
	st_seed_list_clear(&l);
	/* a server that calls a text list JSON: the guess falls back to lines */
	struct st_err err = {0};
	struct st_seed_sink sink = {on_bad, NULL, &b};
	l = (struct st_seed_list){0};
	assert_int_equal(st_seed_parse(&l, "1.2.3.4:1", 9, ST_SEED_AUTO, "application/json", 7777,
	                               &sink, &err), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.format, ST_SEED_TEXT);
	st_seed_list_clear(&l);
	/* broken JSON that looks like JSON stays an error */
	l = (struct st_seed_list){0};
	assert_int_equal(st_seed_parse(&l, "{\"peers\": [", 11, ST_SEED_AUTO, NULL, 7777, &sink, &err), -1);
	assert_int_equal(err.code, ST_EX_DATAERR);
	st_seed_list_clear(&l);
	l = (struct st_seed_list){0};
	assert_int_equal(st_seed_parse(&l, "{\"a\":1}", 7, ST_SEED_JSON, NULL, 7777, &sink, &err), -1);
	assert_non_null(strstr(err.msg, "no list"));
	st_seed_list_clear(&l);
}

static void hostile_json_items_are_bad_lines_not_overruns(void **state)
{
	(void)state;
	char body[4096], id[1001], host[600];
	memset(id, 'A', sizeof id - 1);
	id[sizeof id - 1] = '\0';
	memset(host, 'a', sizeof host - 1);
	host[sizeof host - 1] = '\0';
	snprintf(body, sizeof body,
	         "[{\"id\":\"%s\",\"address\":\"1.2.3.4\",\"port\":7777},"
	         " {\"address\":\"%s\",\"port\":1}, {\"address\":\"5.6.7.8\",\"port\":2}]", id, host);
	struct st_seed_list l;
	struct bads b = {0};
	assert_int_equal(parse(&l, body, ST_SEED_AUTO, NULL, &b), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(b.n, 2);
	st_seed_list_clear(&l);
}

static void a_text_list_may_start_with_an_ipv6_endpoint(void **state)
{
	(void)state;
	struct st_seed_list l;
	struct bads b = {0};
	assert_int_equal(parse(&l, "[2001:db8::1]:7777\n1.2.3.4:7777\n", ST_SEED_AUTO, NULL, &b), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.format, ST_SEED_TEXT);
	st_seed_list_clear(&l);
	/* but JSON asked for by name, or a JSON body that is broken, stays an error */
	struct st_err err = {0};
	struct st_seed_sink sink = {on_bad, NULL, &b};
	l = (struct st_seed_list){0};
	assert_int_equal(st_seed_parse(&l, "[2001:db8::1]:7777\n", 19, ST_SEED_JSON, NULL, 7777,
	                               &sink, &err), -1);
	st_seed_list_clear(&l);
}

static void lists_dedupe_at_scale(void **state)
{
	(void)state;
	struct st_seed_list l = {0};
	for (int round = 0; round < 2; round++)
		for (unsigned i = 0; i < 5000; i++) {
			struct st_endpoint ep = {.family = ST_AF_INET, .port = 7777};
			ep.addr[0] = 11;
			ep.addr[2] = (uint8_t)(i >> 8);
			ep.addr[3] = (uint8_t)i;
			assert_int_equal(st_seed_list_add(&l, &ep, "", NULL), round == 0);
		}
	assert_int_equal(l.n, 5000);
	assert_int_equal(l.duplicates, 5000);
	st_seed_list_clear(&l);
}

static void formats_parse_by_name(void **state)
{
	(void)state;
	enum st_seed_format f;
	struct st_err err = {0};
	assert_int_equal(st_seed_format_parse("bitcoin", &f, &err), 0);
	assert_int_equal(f, ST_SEED_BITCOIN);
	assert_string_equal(st_seed_format_name(f), "bitcoin");
	assert_int_equal(st_seed_format_parse("yaml", &f, &err), -1);
	assert_int_equal(err.code, ST_EX_USAGE);
}

/* Writes a fresh Ed25519 key pair as PEM files in dir. */
static void make_key(const char *dir, char *priv, char *pub, size_t size, mode_t mode)
{
	snprintf(priv, size, "%s/seed.key", dir);
	snprintf(pub, size, "%s/seed.pub", dir);
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	assert_non_null(k);
	FILE *f = fopen(priv, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	assert_int_equal(chmod(priv, mode), 0);
	f = fopen(pub, "w");
	assert_int_equal(PEM_write_PUBKEY(f, k), 1);
	fclose(f);
	EVP_PKEY_free(k);
}

static void signatures_verify_and_tampering_is_caught(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	char priv[512], pub[512], sig[128], b64[128];
	make_key(dir, priv, pub, sizeof priv, 0600);
	const char *list = "1.2.3.4:7777\n";
	struct st_err err = {0};
	assert_int_equal(st_sig_sign(priv, list, strlen(list), sig, sizeof sig, &err), 0);
	assert_int_equal(strlen(sig), 88);
	assert_int_equal(st_sig_pubkey(pub, b64, sizeof b64, &err), 0);
	assert_int_equal(strlen(b64), 44);
	/* the key as a PEM public key, as the private key, and as base64 */
	assert_int_equal(st_sig_verify(pub, list, strlen(list), sig, strlen(sig), &err), 0);
	assert_int_equal(st_sig_verify(priv, list, strlen(list), sig, strlen(sig), &err), 0);
	char withnl[100];
	snprintf(withnl, sizeof withnl, "%s\n", sig);
	assert_int_equal(st_sig_verify(b64, list, strlen(list), withnl, strlen(withnl), &err), 0);
	/* one byte changed in the list, or in the signature */
	assert_int_equal(st_sig_verify(b64, "1.2.3.5:7777\n", 13, sig, strlen(sig), &err), -1);
	assert_int_equal(err.code, ST_EX_DATAERR);
	assert_string_equal(err.msg, "bad signature");
	sig[10] = sig[10] == 'A' ? 'B' : 'A';
	assert_int_equal(st_sig_verify(b64, list, strlen(list), sig, strlen(sig), &err), -1);
	assert_int_equal(st_sig_verify(b64, list, strlen(list), "short", 5, &err), -1);
	assert_int_equal(st_sig_verify("not a key", list, strlen(list), withnl, 88, &err), -1);
	assert_int_equal(err.code, ST_EX_USAGE);
	unit_rmtree(dir);
}

static void a_private_key_readable_by_others_is_refused(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	char priv[512], pub[512], sig[128];
	make_key(dir, priv, pub, sizeof priv, 0644);
	struct st_err err = {0};
	assert_int_equal(st_sig_sign(priv, "x", 1, sig, sizeof sig, &err), -1);
	assert_non_null(strstr(err.msg, "chmod 600"));
	/* a public key is no secret */
	assert_int_equal(st_sig_sign(pub, "x", 1, sig, sizeof sig, &err), -1);
	unit_rmtree(dir);
}

static void local_lists_have_a_ceiling(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	char path[512];
	snprintf(path, sizeof path, "%s/list", dir);
	FILE *f = fopen(path, "w");
	for (int i = 0; i < 100; i++)
		fputs("1.2.3.4:7777\n", f);
	fclose(f);
	struct st_buf b;
	st_buf_init(&b, 0);
	struct st_err err = {0};
	assert_int_equal(st_seed_read_file(path, 1300, &b, &err), 0);
	assert_int_equal(b.len, 1300);
	st_buf_clear(&b);
	assert_int_equal(st_seed_read_file(path, 1299, &b, &err), -1);
	assert_int_equal(err.code, ST_EX_DATAERR);
	st_buf_clear(&b);
	assert_int_equal(st_seed_read_file("/nonexistent/list", 10, &b, &err), -1);
	assert_int_equal(err.code, ST_EX_NOINPUT);
	st_buf_clear(&b);
	assert_true(st_seed_is_url("https://x/y"));
	assert_false(st_seed_is_url("./peers.txt"));
	unit_rmtree(dir);
}

static void fetch_failures_are_per_request(void **state)
{
	(void)state;
	struct st_seed_request r[2];
	/* port 1 of loopback: nothing listens there, the refusal is immediate */
	st_seed_request_init(&r[0], "http://127.0.0.1:1/peers.txt");
	st_seed_request_init(&r[1], "file:///etc/passwd");
	struct st_seed_fetch_opts o = {.timeout_ms = 5000, .max_size = 1024, .retries = 1,
	                               .retry_delay_ms = 10};
	struct st_err err = {0};
	assert_int_equal(st_seed_fetch_all(r, 2, &o, &err), 0);
	assert_int_equal(r[0].failed, ST_EX_TEMPFAIL);
	assert_int_equal(r[0].attempts, 2);
	assert_int_equal(r[1].failed, ST_EX_UNAVAILABLE); /* only http and https are spoken */
	assert_int_equal(r[1].attempts, 1);
	st_seed_request_clear(&r[0]);
	st_seed_request_clear(&r[1]);
}

static void dns_refuses_a_bad_resolver(void **state)
{
	(void)state;
	struct st_dns_query q = {.name = "seed.example.net", .port = 7777};
	struct st_err err = {0};
	assert_int_equal(st_seed_dns_all(&q, 1, "not-an-address", 1000, &err), -1);
	assert_int_equal(err.code, ST_EX_USAGE);
}

/* A reply to the query (id 0x1234, "Seed.Test", A) with extra bytes after the question. */
static size_t dns_reply(uint8_t *buf, unsigned flags, unsigned an, const uint8_t *rest, size_t nrest)
{
	int q = st_dns_query_build(buf, 0x1234, "Seed.Test", 1);
	assert_true(q > 0);
	buf[2] = (uint8_t)(flags >> 8);
	buf[3] = (uint8_t)flags;
	buf[7] = (uint8_t)an;
	if (nrest)
		memcpy(buf + q, rest, nrest);
	return (size_t)q + nrest;
}

static enum st_dns_verdict dns_parse(const uint8_t *p, size_t n, struct st_endpoint *out,
                                     size_t *nout, char *detail)
{
	return st_dns_reply_parse(p, n, 0x1234, "seed.test.", 1, out, 4, nout, detail, 160);
}

static void dns_replies_are_read_and_their_faults_named(void **state)
{
	(void)state;
	uint8_t buf[512];
	struct st_endpoint out[4];
	size_t nout;
	char detail[160];
	/* a CNAME (compressed, pointing back at the question) then its A, and a record of
	 * another name that is passed over */
	const uint8_t chain[] = {
		0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 6, 3, 'w', 'w', 'w', 0xc0, 12, /* CNAME www.seed.test */
		3, 'x', 'y', 'z', 0, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 9, 9, 9, 9,       /* xyz. A: not ours */
		0xc0, 39, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 11, 2, 3, 4,                 /* www.seed.test A */
	};
	size_t n = dns_reply(buf, 0x8180, 3, chain, sizeof chain);
	assert_int_equal(dns_parse(buf, n, out, &nout, detail), ST_DNS_ANSWER);
	assert_int_equal(nout, 1);
	assert_int_equal(out[0].family, ST_AF_INET);
	assert_memory_equal(out[0].addr, ((uint8_t[]){11, 2, 3, 4}), 4);
	/* every prefix of it is a named fault, never an overrun (ASan watches) */
	for (size_t cut = 0; cut < n; cut++) {
		uint8_t *copy = malloc(cut ? cut : 1);
		memcpy(copy, buf, cut);
		enum st_dns_verdict v = dns_parse(copy, cut, out, &nout, detail);
		assert_int_equal(v, ST_DNS_MALFORMED);
		assert_int_equal(nout, 0);
		assert_true(detail[0]);
		free(copy);
	}
	/* a pointer to itself (a loop) and one pointing forward are bad labels */
	const uint8_t loop[] = {0xc0, 27, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4};
	n = dns_reply(buf, 0x8180, 1, loop, sizeof loop);
	assert_int_equal(dns_parse(buf, n, out, &nout, detail), ST_DNS_MALFORMED);
	assert_string_equal(detail, "bad label: the name pointer at byte 27 points forward, to 27");
	/* the wrong id, a query, another question: not our reply */
	n = dns_reply(buf, 0x8180, 0, NULL, 0);
	buf[1] ^= 1;
	assert_int_equal(dns_parse(buf, n, out, &nout, detail), ST_DNS_IGNORED);
	assert_string_equal(detail, "wrong id (4661, not 4660)");
	n = dns_reply(buf, 0x0100, 0, NULL, 0);
	assert_int_equal(dns_parse(buf, n, out, &nout, detail), ST_DNS_IGNORED);
	n = dns_reply(buf, 0x8180, 0, NULL, 0);
	buf[n - 3] = 28; /* AAAA asked */
	assert_int_equal(dns_parse(buf, n, out, &nout, detail), ST_DNS_IGNORED);
	assert_string_equal(detail, "a reply to another question");
	/* rcodes, truncation, no answer */
	n = dns_reply(buf, 0x8183, 0, NULL, 0);
	assert_int_equal(dns_parse(buf, n, out, &nout, detail), ST_DNS_NXDOMAIN);
	n = dns_reply(buf, 0x8185, 0, NULL, 0);
	assert_int_equal(dns_parse(buf, n, out, &nout, detail), ST_DNS_RCODE);
	assert_string_equal(detail, "the server answered REFUSED (rcode 5)");
	n = dns_reply(buf, 0x8380, 0, NULL, 0);
	assert_int_equal(dns_parse(buf, n, out, &nout, detail), ST_DNS_TRUNCATED);
	n = dns_reply(buf, 0x8180, 0, NULL, 0);
	assert_int_equal(dns_parse(buf, n, out, &nout, detail), ST_DNS_NODATA);
	assert_string_equal(detail, "no answer");
	/* two questions */
	n = dns_reply(buf, 0x8180, 0, NULL, 0);
	buf[5] = 2;
	assert_int_equal(dns_parse(buf, n, out, &nout, detail), ST_DNS_MALFORMED);
	assert_string_equal(detail, "bad count: 2 questions in the reply, not 1");
	/* a name that is not a DNS name is never asked */
	assert_int_equal(st_dns_query_build(buf, 1, "a..b", 1), -1);
	assert_int_equal(st_dns_query_build(buf, 1, "", 1), -1);
}

static void refresh_needs_seeds_and_runs_alone(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	struct st_config cfg;
	st_config_init(&cfg);
	snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", dir);
	struct st_refresh_opts o = {.fetch = {.timeout_ms = 1000, .max_size = 1024}};
	struct st_err err = {0};
	assert_int_equal(st_seed_refresh(&cfg, &o, &err), -1);
	assert_int_equal(err.code, ST_EX_NOINPUT);

	struct st_seed_conf seed = {.url = "http://127.0.0.1:1/peers.txt"};
	cfg.seeds = &seed;
	cfg.nseeds = 1;
	struct st_store *held;
	assert_int_equal(st_store_open(&held, dir, "seeds", 1, ST_STORE_WRITE, &err), 0);
	assert_int_equal(st_seed_refresh(&cfg, &o, &err), -1);
	assert_int_equal(err.code, ST_EX_TEMPFAIL);
	assert_string_equal(err.msg, "another refresh is running");
	st_store_close(held);
	/* alone, the one seed fails (nothing listens) and is counted */
	assert_int_equal(st_seed_refresh(&cfg, &o, &err), 1);
	cfg.seeds = NULL;
	cfg.nseeds = 0;
	unit_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(text_lists_keep_good_lines_and_name_bad_ones),
		cmocka_unit_test(many_node_ids_stay_with_their_endpoints),
		cmocka_unit_test(onion_lines_make_a_bitcoin_list_and_are_bad_in_a_text_list),
		cmocka_unit_test(host_names_are_bad_lines_unless_a_resolver_takes_them),
		cmocka_unit_test(json_arrays_objects_and_wrappers),
		cmocka_unit_test(hostile_json_items_are_bad_lines_not_overruns),
		cmocka_unit_test(a_text_list_may_start_with_an_ipv6_endpoint),
		cmocka_unit_test(lists_dedupe_at_scale),
		cmocka_unit_test(formats_parse_by_name),
		cmocka_unit_test(signatures_verify_and_tampering_is_caught),
		cmocka_unit_test(a_private_key_readable_by_others_is_refused),
		cmocka_unit_test(local_lists_have_a_ceiling),
		cmocka_unit_test(fetch_failures_are_per_request),
		cmocka_unit_test(dns_refuses_a_bad_resolver),
		cmocka_unit_test(dns_replies_are_read_and_their_faults_named),
		cmocka_unit_test(refresh_needs_seeds_and_runs_alone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
