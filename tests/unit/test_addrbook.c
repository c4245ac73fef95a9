/* test_addrbook.c - the address book's policy, selection, journal and rules, in process. */
#include <math.h>

#include "unit.h"

#include "st/addrbook.h"
#include "st/store.h"

static struct st_endpoint ep(const char *s)
{
	struct st_endpoint e;
	assert_int_equal(st_endpoint_parse(&e, s, strlen(s), NULL), 0);
	return e;
}

struct fixture {
	char *dir;
	struct st_config cfg;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	f->dir = unit_tmpdir();
	st_config_init(&f->cfg);
	snprintf(f->cfg.data_dir, sizeof f->cfg.data_dir, "%s", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	unit_rmtree(f->dir);
	free(f);
	return 0;
}

static struct st_addrbook *open_rw(struct fixture *f)
{
	struct st_addrbook *ab;
	struct st_err err = {0};
	if (st_addrbook_open(&ab, &f->cfg, ST_STORE_WRITE, &err) < 0)
		fail_msg("%s", err.msg);
	return ab;
}

static enum st_addrbook_verdict add(struct st_addrbook *ab, const char *s, const char *source,
                                    const char *peer, int64_t now)
{
	enum st_addrbook_verdict v;
	struct st_endpoint p, e = ep(s);
	if (peer)
		p = ep(peer);
	assert_int_equal(st_addrbook_add(ab, &e, source, peer ? &p : NULL, now, &v, NULL, NULL), 0);
	return v;
}

static void quality_is_laplace_smoothed(void **state)
{
	(void)state;
	struct st_addr_entry e = {0};
	assert_true(st_addr_quality(&e) == 0.5);
	e.successes = 3;
	e.failures = 1;
	assert_true(st_addr_quality(&e) == 4.0 / 6.0);
	e.successes = 0;
	e.failures = 1;
	assert_true(st_addr_quality(&e) == 1.0 / 3.0);
}

static void chance_follows_bitcoins_rule(void **state)
{
	(void)state;
	struct st_addr_entry e = {0};
	assert_true(st_addr_chance(&e, 1000000) == 0.5);
	e.consecutive_failures = 2;
	e.failures = 2;
	double q = st_addr_quality(&e);
	assert_true(fabs(st_addr_chance(&e, 1000000) - q * 0.66 * 0.66) < 1e-12);
	e.consecutive_failures = 20;
	assert_true(fabs(st_addr_chance(&e, 1000000) - q * pow(0.66, 8)) < 1e-12);
	e.last_attempt = 1000000 - 599;
	assert_true(fabs(st_addr_chance(&e, 1000000) - q * pow(0.66, 8) * 0.01) < 1e-12);
	e.last_attempt = 1000000 - 601;
	assert_true(fabs(st_addr_chance(&e, 1000000) - q * pow(0.66, 8)) < 1e-12);
}

static void terrible_rules(void **state)
{
	(void)state;
	int64_t now = 100000000;
	struct st_addr_entry e = {.last_seen = now - 31 * 86400};
	assert_true(st_addr_terrible(&e, now));
	e.last_attempt = now - 30; /* tried in the last minute: never terrible */
	assert_false(st_addr_terrible(&e, now));
	e = (struct st_addr_entry){.last_seen = now, .attempts = 3};
	assert_true(st_addr_terrible(&e, now));
	e.attempts = 2;
	assert_false(st_addr_terrible(&e, now));
	e = (struct st_addr_entry){.last_seen = now, .last_success = now - 8 * 86400,
	                           .consecutive_failures = 10};
	assert_true(st_addr_terrible(&e, now));
	e.consecutive_failures = 9;
	assert_false(st_addr_terrible(&e, now));
	e = (struct st_addr_entry){.last_seen = now + 3600};
	assert_true(st_addr_terrible(&e, now));
}

static void validation_and_limits(void **state)
{
	struct fixture *f = *state;
	f->cfg.addrbook.max_per_subnet = 2;
	struct st_addrbook *ab = open_rw(f);
	assert_int_equal(add(ab, "1.2.3.1:1", "manual", NULL, 100), ST_ADD_ADDED);
	assert_int_equal(add(ab, "1.2.3.1:1", "manual", NULL, 200), ST_ADD_DUPLICATE);
	assert_int_equal(st_addrbook_get(ab, &(struct st_endpoint){0}), NULL);
	struct st_endpoint e = ep("1.2.3.1:1");
	assert_int_equal(st_addrbook_get(ab, &e)->last_seen, 200);
	assert_int_equal(add(ab, "1.2.3.2:1", "manual", NULL, 100), ST_ADD_ADDED);
	assert_int_equal(add(ab, "1.2.3.3:1", "manual", NULL, 100), ST_ADD_SUBNET_FULL);
	assert_int_equal(add(ab, "10.0.0.1:1", "manual", NULL, 100), ST_ADD_NOT_ROUTABLE);
	assert_int_equal(add(ab, "[fe80::1]:1", "manual", NULL, 100), ST_ADD_NOT_ROUTABLE);
	st_addrbook_free(ab);
	f->cfg.addrbook.allow_private = true;
	ab = open_rw(f);
	assert_int_equal(add(ab, "10.0.0.1:1", "manual", NULL, 100), ST_ADD_ADDED);
	/* scope: a routable peer does not get to teach us private addresses */
	assert_int_equal(add(ab, "10.0.0.2:1", "gossip:x", "8.8.8.8:1", 100), ST_ADD_SCOPE);
	assert_int_equal(add(ab, "10.0.0.2:1", "gossip:x", "10.9.9.9:1", 100), ST_ADD_ADDED);
	assert_string_equal(st_addrbook_verdict_name(ST_ADD_SCOPE), "not-routable-from-routable-source");
	st_addrbook_free(ab);
}

static void source_groups_share_capacity(void **state)
{
	struct fixture *f = *state;
	f->cfg.addrbook.max_addresses = 40;
	f->cfg.addrbook.max_per_source_group = 0.1; /* 4 */
	struct st_addrbook *ab = open_rw(f);
	char s[32];
	for (int i = 0; i < 6; i++) {
		snprintf(s, sizeof s, "%d.1.1.1:1", 20 + i);
		assert_int_equal(add(ab, s, "gossip:a", "8.8.1.1:1", 100),
		                 i < 4 ? ST_ADD_ADDED : ST_ADD_SOURCE_FULL);
	}
	/* same /16: same group */
	assert_int_equal(add(ab, "40.1.1.1:1", "gossip:b", "8.8.200.1:1", 100), ST_ADD_SOURCE_FULL);
	assert_int_equal(add(ab, "40.1.1.1:1", "gossip:c", "9.8.1.1:1", 100), ST_ADD_ADDED);
	for (int i = 0; i < 6; i++) {
		snprintf(s, sizeof s, "%d.2.2.2:1", 50 + i);
		assert_int_equal(add(ab, s, "seed:https://x/", NULL, 100),
		                 i < 4 ? ST_ADD_ADDED : ST_ADD_SOURCE_FULL);
	}
	/* by hand: no quota */
	for (int i = 0; i < 6; i++) {
		snprintf(s, sizeof s, "%d.3.3.3:1", 70 + i);
		assert_int_equal(add(ab, s, "manual", NULL, 100), ST_ADD_ADDED);
	}
	st_addrbook_free(ab);
}

static void eviction_order(void **state)
{
	struct fixture *f = *state;
	f->cfg.addrbook.max_addresses = 3;
	struct st_addrbook *ab = open_rw(f);
	add(ab, "1.1.1.1:1", "manual", NULL, 100);
	add(ab, "2.2.2.2:1", "manual", NULL, 50); /* least recently seen of the new ones */
	add(ab, "3.3.3.3:1", "manual", NULL, 100);
	struct st_endpoint a = ep("1.1.1.1:1");
	assert_int_equal(st_addrbook_record(ab, &a, true, 200, NULL), 1);
	enum st_addrbook_verdict v;
	struct st_endpoint evicted, n = ep("4.4.4.4:1");
	assert_int_equal(st_addrbook_add(ab, &n, "manual", NULL, 300, &v, &evicted, NULL), 0);
	assert_int_equal(v, ST_ADD_ADDED);
	struct st_endpoint want = ep("2.2.2.2:1");
	assert_true(st_endpoint_equal(&evicted, &want));
	struct st_endpoint c = ep("3.3.3.3:1"), d = ep("4.4.4.4:1");
	st_addrbook_record(ab, &c, true, 300, NULL);
	st_addrbook_record(ab, &d, true, 300, NULL);
	/* everything reached: a new address never evicts */
	assert_int_equal(add(ab, "5.5.5.5:1", "manual", NULL, 400), ST_ADD_BOOK_FULL);
	st_addrbook_free(ab);
}

static void journal_survives_reopen_and_compaction(void **state)
{
	struct fixture *f = *state;
	f->cfg.addrbook.max_addresses = 100000;
	struct st_addrbook *ab = open_rw(f);
	char s[32];
	for (int i = 0; i < 3000; i++) {
		snprintf(s, sizeof s, "%d.%d.%d.1:7", 11 + i / 256, i % 256, i % 7);
		add(ab, s, "manual", NULL, 100 + i);
	}
	struct st_endpoint e = ep("11.5.5.1:7");
	assert_int_equal(st_addrbook_record(ab, &e, false, 5000, NULL), 1);
	assert_int_equal(st_addrbook_remove(ab, &(struct st_endpoint){0}, NULL), 0);
	struct st_endpoint r = ep("11.6.6.1:7");
	assert_int_equal(st_addrbook_remove(ab, &r, NULL), 1);
	struct st_err err = {0};
	assert_int_equal(st_addrbook_close(ab, &err), 0); /* the journal is large: compacts */
	char path[600];
	snprintf(path, sizeof path, "%s/addrbook.tsv", f->dir);
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	fclose(fp);
	ab = open_rw(f);
	assert_int_equal(st_addrbook_count(ab), 2999);
	const struct st_addr_entry *x = st_addrbook_get(ab, &e);
	assert_non_null(x);
	assert_int_equal(x->failures, 1);
	assert_int_equal(x->consecutive_failures, 1);
	assert_int_equal(x->last_attempt, 5000);
	assert_null(st_addrbook_get(ab, &r));
	st_addrbook_free(ab);
}

static void best_spreads_over_groups(void **state)
{
	struct fixture *f = *state;
	struct st_addrbook *ab = open_rw(f);
	add(ab, "1.1.1.1:1", "manual", NULL, 100);
	add(ab, "1.1.2.1:1", "manual", NULL, 100);
	add(ab, "1.1.3.1:1", "manual", NULL, 100);
	add(ab, "2.2.2.2:1", "manual", NULL, 100);
	struct st_endpoint a = ep("1.1.1.1:1"), b = ep("1.1.2.1:1"), c = ep("1.1.3.1:1");
	st_addrbook_record(ab, &a, true, 100, NULL);
	st_addrbook_record(ab, &b, true, 100, NULL);
	st_addrbook_record(ab, &c, true, 100, NULL);
	const struct st_addr_entry *out[4];
	struct st_best_opts o = {.n = 3};
	long n = st_addrbook_best(ab, &o, 100000, out, NULL);
	assert_int_equal(n, 3);
	struct st_endpoint two = ep("2.2.2.2:1");
	assert_true(st_endpoint_equal(&out[1]->ep, &two)); /* before a second 1.1/16 */
	struct st_endpoint ex[] = {a};
	o.exclude = ex;
	o.nexclude = 1;
	o.n = 4;
	n = st_addrbook_best(ab, &o, 100000, out, NULL);
	assert_int_equal(n, 3);
	for (long i = 0; i < n; i++)
		assert_false(st_endpoint_equal(&out[i]->ep, &a));
	st_addrbook_free(ab);
}

/* What GetPeers passes on: the addresses we reached first, even one tried a
 * moment ago and one that failed since, then the never-reached, best first. */
static void share_puts_reached_addresses_first(void **state)
{
	struct fixture *f = *state;
	struct st_addrbook *ab = open_rw(f);
	add(ab, "1.1.1.1:1", "manual", NULL, 100);
	add(ab, "2.2.2.2:1", "manual", NULL, 100);
	add(ab, "3.3.3.3:1", "manual", NULL, 100);
	add(ab, "4.4.4.4:1", "manual", NULL, 100);
	struct st_endpoint a = ep("1.1.1.1:1"), b = ep("2.2.2.2:1");
	st_addrbook_record(ab, &a, true, 100, NULL);
	st_addrbook_record(ab, &a, false, 200, NULL);
	st_addrbook_record(ab, &a, false, 300, NULL);
	st_addrbook_record(ab, &b, true, 99990, NULL); /* tried a moment ago */
	const struct st_addr_entry *out[4];
	struct st_best_opts o = {.n = 4, .share = true};
	long n = st_addrbook_best(ab, &o, 100000, out, NULL);
	assert_int_equal(n, 4);
	assert_true(st_endpoint_equal(&out[0]->ep, &b));
	assert_true(st_endpoint_equal(&out[1]->ep, &a));
	/* best-first for dialing puts the untried and the long-untried first */
	o.share = false;
	n = st_addrbook_best(ab, &o, 100000, out, NULL);
	assert_int_equal(n, 4);
	assert_false(st_endpoint_equal(&out[0]->ep, &b));
	st_addrbook_free(ab);
}

static void best_of_group_leaders_agrees_with_the_full_ranking(void **state)
{
	struct fixture *f = *state;
	f->cfg.addrbook.max_addresses = 100000;
	struct st_addrbook *ab = open_rw(f);
	char s[32];
	/* 40 groups (/16s) of 25 entries with scattered results */
	for (int i = 0; i < 1000; i++) {
		snprintf(s, sizeof s, "%d.%d.%d.1:7", 11 + i % 40, i % 7, i / 40);
		add(ab, s, "manual", NULL, 100);
		struct st_endpoint e = ep(s);
		for (int k = 0; k < (i * 7919) % 5; k++)
			st_addrbook_record(ab, &e, (i * 31 + k) % 3 != 0, 100, NULL);
	}
	const struct st_addr_entry *few[40], *all[60];
	struct st_best_opts o = {.n = 40};
	/* 40 groups: the leaders alone answer; 60 > 40 groups: the full ranking */
	assert_int_equal(st_addrbook_best(ab, &o, 100000, few, NULL), 40);
	o.n = 60;
	assert_int_equal(st_addrbook_best(ab, &o, 100000, all, NULL), 60);
	for (int i = 0; i < 40; i++)
		assert_ptr_equal(few[i], all[i]);
	/* and a prefix of it for a smaller n */
	o.n = 8;
	assert_int_equal(st_addrbook_best(ab, &o, 100000, few, NULL), 8);
	for (int i = 0; i < 8; i++)
		assert_ptr_equal(few[i], all[i]);
	st_addrbook_free(ab);
}

static void iso8601_with_offsets(void **state)
{
	(void)state;
	int64_t t;
	assert_int_equal(st_parse_iso8601("2024-05-01T12:00:00+02:00", &t), 0);
	assert_int_equal(t, 1714557600);
	assert_int_equal(st_parse_iso8601("2024-05-01T10:00:00Z", &t), 0);
	assert_int_equal(t, 1714557600);
	assert_int_equal(st_parse_iso8601("2024-05-01T10:00:00.1234567-01:30", &t), 0);
	assert_int_equal(t, 1714557600 + 5400);
	assert_int_equal(st_parse_iso8601("0001-01-01T00:00:00+00:00", &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(st_parse_iso8601("2024-13-01T00:00:00Z", &t), -1);
	assert_int_equal(st_parse_iso8601("yesterday", &t), -1);
	assert_int_equal(st_parse_iso8601("2024-05-01T10:00:00+2", &t), -1);
}

static void entry_lines_round_trip_and_reject_junk(void **state)
{
	struct fixture *f = *state;
	struct st_addrbook *ab = open_rw(f);
	add(ab, "[2a00::5]:9", "seed:https://s/", NULL, 123);
	struct st_endpoint e = ep("[2a00::5]:9");
	const struct st_addr_entry *x = st_addrbook_get(ab, &e);
	char line[512], source[ST_SOURCE_MAX];
	st_addr_entry_format(ab, x, line, sizeof line);
	struct st_addr_entry back;
	struct st_err err = {0};
	assert_int_equal(st_addr_entry_parse(&back, source, sizeof source, line, strlen(line), &err), 0);
	assert_true(st_endpoint_equal(&back.ep, &e));
	assert_int_equal(back.first_seen, 123);
	assert_string_equal(source, "seed:https://s/");
	const char *bad[] = {"1.2.3.4:1\t1", "1.2.3.4:1\tx\t0\t0\t0\t0\t0\t0\t0\t0\t0\tm",
	                     "1.2.3.4:1\t0\t0\t0\t0\t0\t0\t0\t0\t2\t0\tm",
	                     "1.2.3.4:1\t0\t0\t0\t0\t0\t0\t0\t0\t0\tzz\tm"};
	for (size_t i = 0; i < 4; i++) {
		err.code = 0;
		assert_int_equal(st_addr_entry_parse(&back, source, sizeof source, bad[i], strlen(bad[i]), &err), -1);
		assert_int_equal(err.code, ST_EX_DATAERR); /* damage, never a usage error */
	}
	const char *num = "1.2.3.4:1	0	0	0	0	0	7x	0	0	0	0	m"; /* a counter */
	assert_int_equal(st_addr_entry_parse(&back, source, sizeof source, num, strlen(num), &err), -1);
	assert_int_equal(err.code, ST_EX_DATAERR);
	assert_non_null(strstr(err.msg, "field 7"));
	st_addrbook_free(ab);
}

int main(void)
{
	unsetenv("ST_FAKE_NOW");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(quality_is_laplace_smoothed),
		cmocka_unit_test(chance_follows_bitcoins_rule),
		cmocka_unit_test(terrible_rules),
		cmocka_unit_test_setup_teardown(validation_and_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(source_groups_share_capacity, setup, teardown),
		cmocka_unit_test_setup_teardown(eviction_order, setup, teardown),
		cmocka_unit_test_setup_teardown(journal_survives_reopen_and_compaction, setup, teardown),
		cmocka_unit_test_setup_teardown(best_spreads_over_groups, setup, teardown),
		cmocka_unit_test_setup_teardown(share_puts_reached_addresses_first, setup, teardown),
		cmocka_unit_test_setup_teardown(best_of_group_leaders_agrees_with_the_full_ranking, setup, teardown),
		cmocka_unit_test(iso8601_with_offsets),
		cmocka_unit_test_setup_teardown(entry_lines_round_trip_and_reject_junk, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
