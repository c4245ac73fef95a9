/* test_map.c - the one map: insert, lookup, delete, growth, tombstones, caller equality. */
#include "unit.h"

#include "st/map.h"

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

static void empty_map_finds_nothing_and_deletes_nothing(void **state)
{
	(void)state;
	struct st_map m;
	st_map_init(&m);
	uint32_t v = 7;
	assert_int_equal(st_map_get64(&m, 0, &v), 0);
	assert_int_equal(st_map_get64(&m, 42, &v), 0);
	assert_int_equal(st_map_del64(&m, 42), 0);
	assert_int_equal(v, 7);
	assert_int_equal(st_map_count(&m), 0);
	size_t pos = 0;
	uint64_t h;
	assert_false(st_map_next(&m, &pos, &h, &v));
	st_map_clear(&m);
}

static void put_replaces_key_zero_is_a_key_and_values_have_a_ceiling(void **state)
{
	(void)state;
	struct st_map m;
	st_map_init(&m);
	uint32_t v;
	assert_int_equal(st_map_put64(&m, 0, 5), 0);
	assert_int_equal(st_map_put64(&m, 0, 6), 1);
	assert_int_equal(st_map_get64(&m, 0, &v), 1);
	assert_int_equal(v, 6);
	assert_int_equal(st_map_count(&m), 1);
	assert_int_equal(st_map_del64(&m, 0), 1);
	assert_int_equal(st_map_get64(&m, 0, &v), 0);
	/* the two values past ST_MAP_VALUE_MAX are the map's markers */
	assert_int_equal(st_map_put64(&m, 1, ST_MAP_VALUE_MAX), 0);
	assert_int_equal(st_map_put64(&m, 2, ST_MAP_VALUE_MAX + 1), -1);
	assert_int_equal(st_map_put64(&m, 1, UINT32_MAX), -1);
	assert_int_equal(st_map_get64(&m, 1, &v), 1);
	assert_int_equal(v, ST_MAP_VALUE_MAX);
	assert_int_equal(st_map_get64(&m, 2, &v), 0);
	st_map_clear(&m);
}

static void insert_lookup_delete_at_scale(void **state)
{
	(void)state;
	struct st_map m;
	st_map_init(&m);
	const uint32_t n = 200000;
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(st_map_put64(&m, mix(i), i), 0);
	assert_int_equal(st_map_count(&m), n);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t v;
		assert_int_equal(st_map_get64(&m, mix(i), &v), 1);
		assert_int_equal(v, i);
	}
	for (uint32_t i = 0; i < n; i += 2)
		assert_int_equal(st_map_del64(&m, mix(i)), 1);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t v;
		assert_int_equal(st_map_get64(&m, mix(i), &v), i % 2);
	}
	assert_int_equal(st_map_count(&m), n / 2);
	size_t pos = 0, walked = 0;
	uint64_t h;
	uint32_t v;
	while (st_map_next(&m, &pos, &h, &v)) {
		assert_int_equal(v % 2, 1);
		assert_true(h == mix(v));
		walked++;
	}
	assert_int_equal(walked, n / 2);
	st_map_clear(&m);
}

/* the bug st-peers had: a table whose deleted slots were never reused filled up */
static void many_deletes_then_inserts_never_loop_and_stay_small(void **state)
{
	(void)state;
	struct st_map m;
	st_map_init(&m);
	for (uint32_t i = 0; i < 1000; i++)
		assert_int_equal(st_map_put64(&m, i, i), 0);
	size_t cap = m.cap;
	for (uint32_t i = 1000; i < 1000000; i++) {
		assert_int_equal(st_map_del64(&m, i - 1000), 1);
		assert_int_equal(st_map_put64(&m, i, i), 0);
	}
	assert_int_equal(st_map_count(&m), 1000);
	assert_int_equal(m.cap, cap);
	uint32_t v;
	assert_int_equal(st_map_get64(&m, 999999, &v), 1);
	assert_int_equal(st_map_get64(&m, 5, &v), 0);
	st_map_clear(&m);
}

static void growth_keeps_every_entry(void **state)
{
	(void)state;
	struct st_map m;
	st_map_init(&m);
	size_t caps = 0, last = 0;
	for (uint32_t i = 0; i < 100000; i++) {
		assert_int_equal(st_map_put64(&m, (uint64_t)i << 32, i), 0); /* low bits all zero */
		if (m.cap != last) {
			caps++;
			last = m.cap;
			for (uint32_t k = 0; k <= i; k++) {
				uint32_t v;
				assert_int_equal(st_map_get64(&m, (uint64_t)k << 32, &v), 1);
				assert_int_equal(v, k);
			}
		}
		assert_true(m.live * 10 <= m.cap * 7);
	}
	assert_true(caps > 5);
	assert_int_equal(st_map_reserve(&m, 10), 0);
	assert_int_equal(m.cap, last);
	st_map_clear(&m);
}

/* a large table grows by 3/2 or 4/3, never doubles: a million entries take
 * 1.57M slots, not 2.1M (the address book holds two such tables) */
static void large_tables_grow_by_at_most_half(void **state)
{
	(void)state;
	struct st_map m;
	st_map_init(&m);
	size_t last = 0, grown = 0;
	for (uint32_t i = 0; i < 1000000; i++) {
		assert_int_equal(st_map_put64(&m, mix(i), i), 0);
		if (m.cap != last) {
			if (last >= 65536) {
				assert_true(m.cap * 2 <= last * 3);
				grown++;
			}
			last = m.cap;
		}
	}
	assert_true(grown >= 4);
	assert_true(m.cap < 2000000);
	uint32_t v;
	for (uint32_t i = 0; i < 1000000; i += 997) {
		assert_int_equal(st_map_get64(&m, mix(i), &v), 1);
		assert_int_equal(v, i);
	}
	st_map_clear(&m);
}

static void tombstone_cleanup_keeps_probes_bounded(void **state)
{
	(void)state;
	struct st_map m;
	st_map_init(&m);
	size_t worst = 0;
	uint64_t next = 0;
	/* churn: a live set of 3000 random keys, one removed and one added per step */
	uint64_t ring[3000];
	for (size_t i = 0; i < 3000; i++) {
		ring[i] = mix(next++);
		assert_int_equal(st_map_put64(&m, ring[i], (uint32_t)i), 0);
	}
	for (size_t step = 0; step < 300000; step++) {
		size_t i = step % 3000;
		assert_int_equal(st_map_del64(&m, ring[i]), 1);
		ring[i] = mix(next++);
		assert_int_equal(st_map_put64(&m, ring[i], (uint32_t)i), 0);
		assert_true((m.live + m.dead) * 10 <= m.cap * 7);
		if (step % 1000 == 0) {
			size_t p = st_map_longest_probe(&m);
			if (p > worst)
				worst = p;
		}
	}
	assert_true(m.cap <= 8192);
	assert_true(worst < 200); /* at 7/10 full the longest run is tens, never the table */
	st_map_clear(&m);
}

struct person {
	const char *name;
};

static bool person_eq(const void *ctx, uint32_t value, const void *key)
{
	const struct person *p = ctx;
	return strcmp(p[value].name, key) == 0;
}

static void caller_equality_tells_colliding_hashes_apart(void **state)
{
	(void)state;
	struct person p[] = {{"ann"}, {"bob"}, {"cy"}};
	struct st_map m;
	st_map_init(&m);
	/* every name the same hash: only equality separates them */
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(st_map_put(&m, 7, person_eq, p, p[i].name, i), 0);
	uint32_t v;
	assert_int_equal(st_map_find(&m, 7, person_eq, p, "bob", &v), 1);
	assert_int_equal(v, 1);
	assert_int_equal(st_map_find(&m, 7, person_eq, p, "dee", &v), 0);
	assert_int_equal(st_map_del(&m, 7, person_eq, p, "ann"), 1);
	assert_int_equal(st_map_find(&m, 7, person_eq, p, "ann", &v), 0);
	assert_int_equal(st_map_find(&m, 7, person_eq, p, "cy", &v), 1);
	assert_int_equal(v, 2);
	assert_int_equal(st_map_put(&m, 7, person_eq, p, "cy", 2), 1);
	assert_int_equal(st_map_count(&m), 2);
	/* add: no search, for a key the caller knows is absent */
	struct person q[] = {{"ann"}, {"bob"}, {"cy"}, {"dee"}};
	assert_int_equal(st_map_find(&m, 7, person_eq, q, "dee", &v), 0);
	assert_int_equal(st_map_add(&m, 7, 3), 0);
	assert_int_equal(st_map_find(&m, 7, person_eq, q, "dee", &v), 1);
	assert_int_equal(v, 3);
	assert_int_equal(st_map_count(&m), 3);
	st_map_clear(&m);
}

/* insert: the first value stays, and says what it is; tombstones are reused, and past
 * a growth the entries are all still there. */
static void insert_keeps_the_first_value(void **state)
{
	(void)state;
	struct person p[] = {{"ann"}, {"bob"}, {"ann"}};
	struct st_map m;
	st_map_init(&m);
	uint32_t have = 99;
	assert_int_equal(st_map_insert(&m, 7, person_eq, p, "ann", 0, &have), 0);
	assert_int_equal(have, 99);
	assert_int_equal(st_map_insert(&m, 7, person_eq, p, "bob", 1, &have), 0);
	assert_int_equal(st_map_insert(&m, 7, person_eq, p, p[2].name, 2, &have), 1);
	assert_int_equal(have, 0);
	assert_int_equal(st_map_insert(&m, 7, person_eq, p, "bob", 2, NULL), 1);
	uint32_t v;
	assert_int_equal(st_map_find(&m, 7, person_eq, p, "bob", &v), 1);
	assert_int_equal(v, 1);
	assert_int_equal(st_map_count(&m), 2);
	assert_int_equal(st_map_insert(&m, 8, NULL, NULL, NULL, ST_MAP_VALUE_MAX + 1, NULL), -1);
	assert_int_equal(st_map_count(&m), 2);
	st_map_clear(&m);
	/* direct keys, through deletes and growth */
	for (uint32_t i = 0; i < 5000; i++)
		assert_int_equal(st_map_insert(&m, mix(i), NULL, NULL, NULL, i, NULL), 0);
	for (uint32_t i = 0; i < 5000; i += 2)
		assert_int_equal(st_map_del(&m, mix(i), NULL, NULL, NULL), 1);
	for (uint32_t i = 0; i < 20000; i++) {
		int rc = st_map_insert(&m, mix(i), NULL, NULL, NULL, i + 1, &have);
		if (i < 5000 && i % 2) {
			assert_int_equal(rc, 1);
			assert_int_equal(have, i);
		} else {
			assert_int_equal(rc, 0);
		}
	}
	assert_int_equal(st_map_count(&m), 20000);
	for (uint32_t i = 0; i < 20000; i++) {
		assert_int_equal(st_map_get64(&m, mix(i), &v), 1);
		assert_int_equal(v, i < 5000 && i % 2 ? i : i + 1);
	}
	st_map_clear(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(empty_map_finds_nothing_and_deletes_nothing),
		cmocka_unit_test(put_replaces_key_zero_is_a_key_and_values_have_a_ceiling),
		cmocka_unit_test(insert_lookup_delete_at_scale),
		cmocka_unit_test(many_deletes_then_inserts_never_loop_and_stay_small),
		cmocka_unit_test(growth_keeps_every_entry),
		cmocka_unit_test(large_tables_grow_by_at_most_half),
		cmocka_unit_test(tombstone_cleanup_keeps_probes_bounded),
		cmocka_unit_test(caller_equality_tells_colliding_hashes_apart),
		cmocka_unit_test(insert_keeps_the_first_value),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
