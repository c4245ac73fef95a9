/* test_crawl.c - the crawl state: lines that round-trip, decay, good, export caps, merges. */
#include <math.h>

#include "unit.h"
#include "st/crawl.h"

static struct st_endpoint ep_of(const char *s)
{
	struct st_endpoint ep;
	assert_int_equal(st_endpoint_parse(&ep, s, strlen(s), NULL), 0);
	return ep;
}

static void tried(struct st_crawl_node *nd, bool ok, int64_t now)
{
	struct st_crawl_try t = {ok ? ST_STATUS_OK : ST_STATUS_REFUSED, ok ? "id-1" : NULL, 1, 1,
	                         ok ? "ua with\ttab %and\x01 bytes" : NULL, 3, false};
	st_crawl_node_update(nd, &t, now);
}

static void test_commit_and_load_round_trip(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	struct st_crawl_state cs;
	assert_int_equal(st_crawl_state_load(&cs, dir, NULL, NULL), 0);
	assert_int_equal(cs.n, 0); /* no state yet: empty, nothing created */
	bool added;
	struct st_crawl_node *nd;
	struct st_endpoint a = ep_of("1.2.3.4:7777"), b = ep_of("[2001:db8::1]:7777");
	nd = st_crawl_add(&cs, &a, 1000, &added);
	assert_true(added);
	tried(nd, true, 1000);
	nd = st_crawl_add(&cs, &b, 1000, &added);
	nd->user_agent[0] = '-'; /* a lone dash is not the empty mark */
	assert_int_equal(st_crawl_state_commit(&cs, NULL), 0);
	st_crawl_state_clear(&cs);

	assert_int_equal(st_crawl_state_load(&cs, dir, NULL, NULL), 0);
	assert_int_equal(cs.n, 2);
	const struct st_crawl_node *x = st_crawl_find(&cs, &a);
	assert_non_null(x);
	assert_string_equal(x->user_agent, "ua with\ttab %and\x01 bytes");
	assert_string_equal(x->node_id, "id-1");
	assert_int_equal(x->attempts, 1);
	assert_int_equal(x->successes, 1);
	assert_int_equal(x->last_seen, 1000);
	assert_int_equal(x->rtt_ms, 3);
	assert_int_equal(x->services, 1);
	x = st_crawl_find(&cs, &b);
	assert_non_null(x);
	assert_int_equal(x->last_try, 0); /* the frontier */
	assert_string_equal(x->user_agent, "-");
	st_crawl_state_clear(&cs);
	unit_rmtree(dir);
}

static void test_windows_decay_by_their_tau(void **state)
{
	(void)state;
	struct st_crawl_node nd = {0};
	tried(&nd, true, 1000);
	for (int w = 0; w < ST_CRAWL_WINDOWS; w++)
		assert_true(nd.stat[w].share == 1.0 && nd.stat[w].count == 1.0);
	tried(&nd, false, 1000 + 7200); /* 2h later: f = e^-1 in the 2h window */
	assert_true(fabs(nd.stat[0].share - exp(-1.0)) < 1e-9);
	assert_true(fabs(nd.stat[0].count - (exp(-1.0) + 1)) < 1e-9);
	assert_true(fabs(nd.stat[4].share - exp(-7200.0 / (30 * 86400.0))) < 1e-9);
	assert_int_equal(nd.attempts, 2);
	assert_int_equal(nd.successes, 1);
	assert_int_equal(nd.last_seen, 1000); /* a failure is no contact */
}

static void test_good_follows_the_seeder(void **state)
{
	(void)state;
	struct st_crawl_node nd = {.ep = ep_of("1.2.3.4:7777")};
	assert_false(st_crawl_node_good(&nd, false)); /* never reached */
	tried(&nd, true, 1000);
	assert_true(st_crawl_node_good(&nd, false));
	/* a failure a second later barely moves a decaying share: still good */
	struct st_crawl_node soon = nd;
	tried(&soon, false, 1001);
	tried(&soon, false, 1002);
	assert_true(st_crawl_node_good(&soon, false));
	tried(&nd, false, 1000 + 3 * 86400);
	tried(&nd, false, 1000 + 6 * 86400);
	/* 1 of 3, days apart: fewer than half, and no window has the tries to speak for it */
	assert_false(st_crawl_node_good(&nd, false));
	struct st_crawl_node lo = {.ep = ep_of("127.0.0.1:7777")};
	tried(&lo, true, 1000);
	assert_false(st_crawl_node_good(&lo, false));
	assert_true(st_crawl_node_good(&lo, true));
	/* many tries, mostly good over the last hours: the 2h window's bar */
	struct st_crawl_node many = {.ep = ep_of("1.2.3.5:7777")};
	for (int i = 0; i < 10; i++)
		tried(&many, i != 4, 1000 + 600 * i);
	assert_true(many.stat[0].share > 0.85);
	assert_true(st_crawl_node_good(&many, false));
}

static void test_export_caps_per_group_and_count(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	struct st_crawl_state cs;
	assert_int_equal(st_crawl_state_load(&cs, dir, NULL, NULL), 0);
	char text[64];
	bool added;
	for (int g = 0; g < 5; g++)
		for (int k = 0; k < 4; k++) {
			snprintf(text, sizeof text, "1.%d.0.%d:7777", g + 1, k + 1);
			struct st_endpoint ep = ep_of(text);
			tried(st_crawl_add(&cs, &ep, 1000, &added), true, 1000);
		}
	struct st_endpoint dead = ep_of("9.9.9.9:7777");
	tried(st_crawl_add(&cs, &dead, 1000, &added), false, 1000);
	size_t *idx;
	struct st_crawl_export_opts o = {.per_group = 2, .min_uptime = 0.5};
	assert_int_equal(st_crawl_export(&cs, &o, &idx, NULL), 10);
	int per[6] = {0};
	for (int i = 0; i < 10; i++)
		per[cs.v[idx[i]].ep.addr[1]]++;
	for (int g = 1; g <= 5; g++)
		assert_int_equal(per[g], 2);
	free(idx);
	o.n = 3;
	assert_int_equal(st_crawl_export(&cs, &o, &idx, NULL), 3);
	free(idx);
	o = (struct st_crawl_export_opts){.port = 7778};
	assert_int_equal(st_crawl_export(&cs, &o, &idx, NULL), 0);
	free(idx);
	st_crawl_state_clear(&cs);
	unit_rmtree(dir);
}

static void test_commit_keeps_what_another_writer_wrote(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	struct st_crawl_state one, two;
	assert_int_equal(st_crawl_state_load(&one, dir, NULL, NULL), 0);
	assert_int_equal(st_crawl_state_load(&two, dir, NULL, NULL), 0);
	struct st_endpoint a = ep_of("1.2.3.4:7777"), b = ep_of("5.6.7.8:7777");
	bool added;
	tried(st_crawl_add(&one, &a, 1000, &added), true, 1000);
	tried(st_crawl_add(&two, &b, 1000, &added), true, 1000);
	assert_int_equal(st_crawl_state_commit(&one, NULL), 0);
	assert_int_equal(st_crawl_state_commit(&two, NULL), 0);
	/* two read one's node when it committed, and wrote only its own */
	assert_non_null(st_crawl_find(&two, &a));
	st_crawl_state_clear(&one);
	st_crawl_state_clear(&two);
	assert_int_equal(st_crawl_state_load(&one, dir, NULL, NULL), 0);
	assert_int_equal(one.n, 2);
	st_crawl_state_clear(&one);
	unit_rmtree(dir);
}

static void test_dns_fit_stays_in_512_bytes(void **state)
{
	(void)state;
	/* header 12, question 9+2+4, then 16 per A record (a name pointer) */
	assert_int_equal(st_crawl_dns_fit("seed.test", 1), (512 - 12 - 11 - 4) / 16);
	assert_int_equal(st_crawl_dns_fit("seed.test", 28), (512 - 12 - 11 - 4) / 28);
}

/* A version 2 line keeps verified; a version 1 line (one field fewer) reads as unverified;
 * only 0 or 1 is a verified field; a verified try sets it, a claim (plain TCP) neither
 * clears it nor renames the proven id, and a claim sets the id of a node none proved. */
static void test_lines_of_both_versions_and_verified(void **state)
{
	(void)state;
	const char *v1 = "1.2.3.4:7777\t100\t100\t100\t100\t1\t1\tok\tid-1\t1\t1\t5\t0\t1\t100"
	                 "\t1.000000,1.0000\t1.000000,1.0000\t1.000000,1.0000\t1.000000,1.0000"
	                 "\t1.000000,1.0000\tst/0.1.0";
	struct st_crawl_node nd;
	assert_int_equal(st_crawl_node_parse(&nd, v1, strlen(v1)), 0);
	assert_false(nd.verified);
	char line[4096], v2[4096];
	snprintf(v2, sizeof v2, "%s\t1", v1);
	assert_int_equal(st_crawl_node_parse(&nd, v2, strlen(v2)), 0);
	assert_true(nd.verified);
	size_t n = st_crawl_node_format(&nd, line, sizeof line);
	assert_string_equal(line, v2);
	assert_int_equal(n, strlen(v2));
	snprintf(v2, sizeof v2, "%s\t2", v1);
	assert_int_equal(st_crawl_node_parse(&nd, v2, strlen(v2)), -1);
	snprintf(v2, sizeof v2, "%s\t1\t1", v1);
	assert_int_equal(st_crawl_node_parse(&nd, v2, strlen(v2)), -1);
	struct st_crawl_try t = {ST_STATUS_OK, "id-2", 1, 1, "ua", 3, true};
	st_crawl_node_update(&nd, &t, 200);
	assert_true(nd.verified);
	assert_string_equal(nd.node_id, "id-2");
	t.verified = false;
	t.node_id = "id-3";
	st_crawl_node_update(&nd, &t, 300);
	assert_true(nd.verified);
	assert_string_equal(nd.node_id, "id-2");
	t.verified = true; /* TLS proves another key there: the new proof is what counts */
	st_crawl_node_update(&nd, &t, 400);
	assert_true(nd.verified);
	assert_string_equal(nd.node_id, "id-3");
	struct st_crawl_node fresh;
	memset(&fresh, 0, sizeof fresh);
	t.verified = false;
	st_crawl_node_update(&fresh, &t, 500);
	assert_false(fresh.verified);
	assert_string_equal(fresh.node_id, "id-3");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commit_and_load_round_trip),
		cmocka_unit_test(test_windows_decay_by_their_tau),
		cmocka_unit_test(test_good_follows_the_seeder),
		cmocka_unit_test(test_export_caps_per_group_and_count),
		cmocka_unit_test(test_commit_keeps_what_another_writer_wrote),
		cmocka_unit_test(test_dns_fit_stays_in_512_bytes),
		cmocka_unit_test(test_lines_of_both_versions_and_verified),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
