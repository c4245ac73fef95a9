/* test_evict.c - a full listener evicts from the most crowded group, never the protected. */
#include "unit.h"

#include "st/endpoint.h"
#include "st/evict.h"

static uint64_t group_of(const char *addr)
{
	struct st_endpoint e;
	assert_int_equal(st_addr_parse(&e, addr, strlen(addr), NULL), 0);
	return st_endpoint_group_key(&e);
}

/* The attack: 128 addresses x 8 connections of one /16 fill 1024 slots, beside
 * a few honest peers of other groups; whatever the key, the victim is an attacker's. */
static void the_most_crowded_group_loses_its_newest(void **state)
{
	(void)state;
	enum { N = 1024 + 6 };
	struct st_evict_cand c[N];
	uint64_t attacker = group_of("127.0.0.1");
	const char *honest[] = {"127.1.0.1", "127.2.0.1", "127.3.0.1", "10.9.0.1", "192.168.0.1", "10.8.0.1"};
	for (size_t i = 0; i < 6; i++) /* honest ones came first, at rtt 900 us */
		c[i] = (struct st_evict_cand){i, group_of(honest[i]), (int64_t)i, 900};
	for (size_t i = 6; i < N; i++) /* the flood, faster on the wire (a local attacker) */
		c[i] = (struct st_evict_cand){i, attacker, 1000 + (int64_t)i, 50};
	for (uint64_t key = 1; key < 200; key++) {
		struct st_evict_cand w[N];
		memcpy(w, c, sizeof c);
		long v = st_evict_pick(w, N, key * 0x9e3779b97f4a7c15ULL);
		assert_true(v >= 6);
		assert_int_equal(v, N - 1); /* the attacker's newest */
	}
}

/* Two groups of equal size: the one with the most recent arrival gives its newest. */
static void a_tie_goes_to_the_most_recent_arrival(void **state)
{
	(void)state;
	/* slots 0 and 1 are their groups' protected ones, 2..33 the older half of the rest:
	 * 34..65 are left, 16 of each group */
	struct st_evict_cand c[66];
	uint64_t a = group_of("11.1.0.1"), b = group_of("12.1.0.1");
	for (size_t i = 0; i < 66; i++)
		c[i] = (struct st_evict_cand){i, i % 2 ? a : b, (int64_t)i, -1};
	long v = st_evict_pick(c, 66, 42);
	assert_int_equal(v, 65); /* a's newest arrived last (b's oldest left, 34, came first) */
}

/* Few candidates are all protected: nobody is evicted, the newcomer is refused. */
static void when_all_are_protected_none_is_evicted(void **state)
{
	(void)state;
	struct st_evict_cand c[4];
	for (size_t i = 0; i < 4; i++)
		c[i] = (struct st_evict_cand){i, group_of(i % 2 ? "11.0.0.1" : "12.0.0.1"), (int64_t)i, 10};
	assert_int_equal(st_evict_pick(c, 4, 7), -1);
	assert_int_equal(st_evict_pick(c, 0, 7), -1);
}

/* The lowest round trips and the longest connected keep their slots. */
static void low_latency_and_long_connected_are_kept(void **state)
{
	(void)state;
	enum { N = 100 };
	struct st_evict_cand c[N];
	uint64_t g = group_of("11.0.0.1");
	for (size_t i = 0; i < N; i++)
		c[i] = (struct st_evict_cand){i, g, 1000 - (int64_t)i, 1000 + (int64_t)i};
	/* slot 99 arrived first (connected_ms 901) but is slowest; slot 0 arrived last but
	 * has the lowest rtt: both stay */
	for (int round = 0; round < 50; round++) {
		struct st_evict_cand w[N];
		memcpy(w, c, sizeof c);
		long v = st_evict_pick(w, N, (uint64_t)round);
		assert_true(v > 7);  /* the 8 fastest are protected */
		assert_true(v < 60); /* the older half of the rest too; the newest unprotected goes */
		assert_int_equal(v, 8);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_most_crowded_group_loses_its_newest),
		cmocka_unit_test(a_tie_goes_to_the_most_recent_arrival),
		cmocka_unit_test(when_all_are_protected_none_is_evicted),
		cmocka_unit_test(low_latency_and_long_connected_are_kept),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
