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

static struct st_addrbook *open_book(char *dir, size_t max, size_t per_subnet)
{
	struct st_config cfg;
	st_config_init(&cfg);
	snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", dir);
	cfg.addrbook.max_addresses = max;
	cfg.addrbook.max_per_subnet = per_subnet;
	struct st_addrbook *ab;
	struct st_err err = {0};
	if (st_addrbook_open(&ab, &cfg, ST_STORE_WRITE, &err) < 0)
		fail_msg("%s", err.msg);
	return ab;
}

static void a_count_without_room_fails_the_add(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	struct st_addrbook *ab = open_book(dir, 1000, 2);
	struct st_err err = {0};
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

/* The source group's key is the one without room: the subnet's count, already up by
 * one, goes back down, and the add fails. */
static void a_source_group_without_room_undoes_the_subnet(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	struct st_addrbook *ab = open_book(dir, 1000, 2);
	struct st_err err = {0};
	enum st_addrbook_verdict v;
	assert_int_equal(add(ab, "11.1.0.1:7777", &v, &err), 0);
	no_room = true;
	struct st_endpoint e = ep("11.1.0.2:7777");
	assert_int_equal(st_addrbook_add(ab, &e, "seed:https://a.example/list", NULL, 100, &v, NULL, &err), -1);
	no_room = false;
	assert_int_equal(st_addrbook_count(ab), 1);
	assert_int_equal(subnets(ab), 1);
	/* the subnet still has room for one more, and takes it */
	assert_int_equal(st_addrbook_add(ab, &e, "seed:https://a.example/list", NULL, 100, &v, NULL, &err), 0);
	assert_int_equal(v, ST_ADD_ADDED);
	assert_int_equal(add(ab, "11.1.0.3:7777", &v, &err), 0);
	assert_int_equal(v, ST_ADD_SUBNET_FULL);
	st_addrbook_free(ab);
	unit_rmtree(dir);
}

/* A full book evicts to make room; when the new entry then finds none, nobody was
 * evicted: the book holds what it held. */
static void a_failed_add_evicts_nobody(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	struct st_addrbook *ab = open_book(dir, 2, 10);
	struct st_err err = {0};
	enum st_addrbook_verdict v;
	assert_int_equal(add(ab, "11.1.0.1:7777", &v, &err), 0);
	assert_int_equal(add(ab, "12.1.0.1:7777", &v, &err), 0);
	no_room = true;
	struct st_endpoint e = ep("13.1.0.1:7777"), out;
	assert_int_equal(st_addrbook_add(ab, &e, "manual", NULL, 100, &v, &out, &err), -1);
	no_room = false;
	assert_int_equal(st_addrbook_count(ab), 2);
	assert_int_equal(subnets(ab), 2);
	const char *held[] = {"11.1.0.1:7777", "12.1.0.1:7777"};
	for (size_t i = 0; i < 2; i++) {
		struct st_endpoint h = ep(held[i]);
		assert_int_equal(st_addrbook_seen(ab, &h, 200, &err), 1);
	}
	/* with room, the same add evicts one of them */
	assert_int_equal(st_addrbook_add(ab, &e, "manual", NULL, 300, &v, &out, &err), 0);
	assert_int_equal(v, ST_ADD_ADDED);
	assert_int_not_equal(out.port, 0);
	assert_int_equal(st_addrbook_count(ab), 2);
	assert_int_equal(subnets(ab), 2);
	st_addrbook_free(ab);
	unit_rmtree(dir);
}

/* An import that must move the entry to its stored source group, and cannot, merges
 * nothing either: the entry is as it was, not half merged and unjournalled. */
static void a_failed_import_merges_nothing(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	struct st_addrbook *ab = open_book(dir, 1000, 10);
	struct st_err err = {0};
	enum st_addrbook_verdict v;
	assert_int_equal(add(ab, "11.1.0.1:7777", &v, &err), 0);
	struct st_addr_entry in = {.ep = ep("11.1.0.1:7777"), .first_seen = 5, .last_seen = 100,
	                           .attempts = 9, .source_group = 0x8000000000000042ULL};
	no_room = true;
	assert_int_equal(st_addrbook_import_entry(ab, &in, "seed:x", &err), -1);
	no_room = false;
	const struct st_addr_entry *e = st_addrbook_get(ab, &in.ep);
	assert_non_null(e);
	assert_int_equal(e->first_seen, 100);
	assert_int_equal(e->attempts, 0);
	assert_int_equal(st_addrbook_import_entry(ab, &in, "seed:x", &err), 1);
	e = st_addrbook_get(ab, &in.ep);
	assert_int_equal(e->first_seen, 5);
	assert_int_equal(e->attempts, 9);
	assert_int_equal(st_addrbook_count(ab), 1);
	st_addrbook_free(ab);
	unit_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_count_without_room_fails_the_add),
		cmocka_unit_test(a_source_group_without_room_undoes_the_subnet),
		cmocka_unit_test(a_failed_add_evicts_nobody),
		cmocka_unit_test(a_failed_import_merges_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
