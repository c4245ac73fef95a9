/* test_addrbook_oom.c - a count that cannot grow fails the add and leaves the book as it
 * was: no entry counted live that its subnet does not count (the Makefile links with
 * --wrap=st_map_put64, so this test decides when a new counter key finds no room). */
#include "unit.h"

#include "st/addrbook.h"
#include "st/map.h"
#include "st/store.h"

int __real_st_map_put64(struct st_map *m, uint64_t key, uint32_t value);
int __wrap_st_map_put64(struct st_map *m, uint64_t key, uint32_t value);
static bool no_room; /* a key the map does not hold yet cannot be put */

int __wrap_st_map_put64(struct st_map *m, uint64_t key, uint32_t value)
{
	uint32_t have;
	if (no_room && !st_map_get64(m, key, &have))
		return -1;
	return __real_st_map_put64(m, key, value);
}

static struct st_endpoint ep(const char *s)
{
	struct st_endpoint e;
	assert_int_equal(st_endpoint_parse(&e, s, strlen(s), NULL), 0);
	return e;
}

static int add(struct st_addrbook *ab, const char *s, enum st_addrbook_verdict *v,
               struct st_err *err)
{
	struct st_endpoint e = ep(s);
	return st_addrbook_add(ab, &e, "manual", NULL, 100, v, NULL, err);
}

static size_t subnets(struct st_addrbook *ab)
{
	struct st_addrbook_stats st;
	struct st_err err = {0};
	if (st_addrbook_stats(ab, &st, &err) < 0)
		fail_msg("%s", err.msg);
	size_t n = 0;
	for (size_t i = 0; i < st.nsubnets; i++)
		n += st.subnets[i].count;
	return n;
}

static void a_count_without_room_fails_the_add(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	struct st_config cfg;
	st_config_init(&cfg);
	snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", dir);
	cfg.addrbook.max_per_subnet = 2;
	struct st_addrbook *ab;
	struct st_err err = {0};
	if (st_addrbook_open(&ab, &cfg, ST_STORE_WRITE, &err) < 0)
		fail_msg("%s", err.msg);
	enum st_addrbook_verdict v;
	assert_int_equal(add(ab, "11.1.0.1:7777", &v, &err), 0);
	assert_int_equal(v, ST_ADD_ADDED);

	no_room = true;
	/* a new /16 needs a new subnet key: the add fails, and nothing of it stays */
	assert_int_equal(add(ab, "12.1.0.1:7777", &v, &err), -1);
	assert_non_null(strstr(err.msg, "out of memory"));
	assert_int_equal(st_addrbook_count(ab), 1);
	assert_int_equal(subnets(ab), 1);
	/* a known /16's count grows in place: that add needs no room */
	assert_int_equal(add(ab, "11.1.0.2:7777", &v, &err), 0);
	assert_int_equal(v, ST_ADD_ADDED);
	no_room = false;

	/* the subnet still holds two: its quota is whole */
	assert_int_equal(add(ab, "11.1.0.3:7777", &v, &err), 0);
	assert_int_equal(v, ST_ADD_SUBNET_FULL);
	assert_int_equal(add(ab, "12.1.0.1:7777", &v, &err), 0);
	assert_int_equal(v, ST_ADD_ADDED);
	assert_int_equal(st_addrbook_count(ab), 3);
	assert_int_equal(subnets(ab), 3);
	const char *all[] = {"11.1.0.1:7777", "11.1.0.2:7777", "12.1.0.1:7777"};
	for (size_t i = 0; i < 3; i++) {
		struct st_endpoint e = ep(all[i]);
		assert_int_equal(st_addrbook_remove(ab, &e, &err), 1);
	}
	assert_int_equal(st_addrbook_count(ab), 0);
	assert_int_equal(subnets(ab), 0);
	st_addrbook_free(ab);
	unit_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_count_without_room_fails_the_add),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
