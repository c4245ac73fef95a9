/* test_gp_cache.c - GetPeers from a snapshot: exclusions, scope, bans; the worker
 * follows the book and never makes its reader wait for a writer's lock. */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit.h"

#include "st/addrbook.h"
#include "st/gp_cache.h"
#include "st/store.h"
#include "st/util.h"

static struct st_endpoint ep(const char *s)
{
	struct st_endpoint e;
	assert_int_equal(st_endpoint_parse(&e, s, strlen(s), NULL), 0);
	return e;
}

static void add_all(struct st_config *cfg, const char *const *eps, size_t n)
{
	struct st_addrbook *ab;
	struct st_err err = {0};
	if (st_addrbook_open(&ab, cfg, ST_STORE_WRITE, &err) < 0)
		fail_msg("%s", err.msg);
	for (size_t i = 0; i < n; i++) {
		struct st_endpoint e = ep(eps[i]);
		enum st_addrbook_verdict v;
		assert_int_equal(st_addrbook_add(ab, &e, "manual", NULL, st_now(), &v, NULL, NULL), 0);
	}
	assert_int_equal(st_addrbook_close(ab, &err), 0);
}

static bool has(const struct st_endpoint *v, size_t n, const char *s)
{
	struct st_endpoint e = ep(s);
	for (size_t i = 0; i < n; i++)
		if (st_endpoint_equal(&v[i], &e))
			return true;
	return false;
}

static bool skip_8888(void *ctx, const struct st_endpoint *e)
{
	(void)ctx;
	struct st_endpoint b = ep("8.8.8.8:7777");
	return st_endpoint_equal(e, &b);
}

static void answers_honour_scope_exclusions_and_bans(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	struct st_config cfg;
	st_config_init(&cfg);
	cfg.addrbook.allow_private = true;
	snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", dir);
	static const char *const eps[] = {"8.8.8.8:7777", "1.1.1.1:7777", "9.9.9.9:7777",
	                                  "10.0.0.1:7777", "192.168.1.1:7777"};
	add_all(&cfg, eps, 5);
	struct st_gp_snapshot *s;
	struct st_err err = {0};
	assert_int_equal(st_gp_snapshot_take(&s, &cfg, st_now(), &err), 0);
	assert_int_equal(s->nall, 5);
	assert_int_equal(s->nroutable, 3);
	struct st_endpoint reply[8], ex[] = {ep("1.1.1.1:7777"), ep("1.1.1.1:7777"), ep("7.7.7.7:1")};
	struct st_gp_ask a = {.routable_only = true, .exclude = ex, .nexclude = 3, .key = 99};
	size_t n = st_gp_snapshot_answer(s, &a, reply, 8);
	assert_int_equal(n, 2);
	assert_true(has(reply, n, "8.8.8.8:7777") && has(reply, n, "9.9.9.9:7777"));
	a.skip = skip_8888;
	n = st_gp_snapshot_answer(s, &a, reply, 8);
	assert_int_equal(n, 1);
	assert_true(has(reply, n, "9.9.9.9:7777"));
	a = (struct st_gp_ask){.key = 5};
	assert_int_equal(st_gp_snapshot_answer(s, &a, reply, 8), 5);
	assert_int_equal(st_gp_snapshot_answer(s, &a, reply, 2), 2);
	assert_int_equal(st_gp_snapshot_answer(NULL, &a, reply, 2), 0);
	st_gp_snapshot_free(s);
	unit_rmtree(dir);
}

static void the_worker_follows_the_book_and_never_waits_for_its_lock(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	struct st_config cfg;
	st_config_init(&cfg);
	snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", dir);
	static const char *const first[] = {"8.8.8.8:7777"}, *const second[] = {"9.9.9.9:7777"};
	add_all(&cfg, first, 1);
	struct st_gp_cache *c;
	struct st_err err = {0};
	assert_int_equal(st_gp_cache_start(&c, &cfg, 20, &err), 0);
	const struct st_gp_snapshot *s = st_gp_cache_current(c);
	assert_non_null(s);
	assert_int_equal(s->nall, 1);
	/* a writer holds the book and its files change: the worker's try fails at once, the
	 * old snapshot answers */
	struct st_addrbook *w;
	assert_int_equal(st_addrbook_open(&w, &cfg, ST_STORE_WRITE, &err), 0);
	struct st_endpoint e = ep(second[0]);
	enum st_addrbook_verdict v;
	assert_int_equal(st_addrbook_add(w, &e, "manual", NULL, st_now(), &v, NULL, NULL), 0);
	char path[600];
	snprintf(path, sizeof path, "%s/addrbook.journal", dir);
	assert_int_equal(utimensat(AT_FDCWD, path, NULL, 0), 0);
	int code = 0;
	char msg[256];
	for (int i = 0; i < 500 && code == 0; i++) { /* bounded: up to 5 s for its next try */
		usleep(10000);
		st_gp_cache_status(c, &code, msg, sizeof msg);
	}
	assert_int_equal(code, ST_EX_TEMPFAIL);
	s = st_gp_cache_current(c);
	assert_int_equal(s->nall, 1);
	assert_int_equal(st_addrbook_close(w, &err), 0);
	/* lock released: the next try reads the book with both entries */
	for (int i = 0; i < 500 && st_gp_cache_current(c)->nall != 2; i++)
		usleep(10000);
	s = st_gp_cache_current(c);
	assert_int_equal(s->nall, 2);
	assert_true(has(s->all, s->nall, "9.9.9.9:7777"));
	st_gp_cache_status(c, &code, msg, sizeof msg);
	assert_int_equal(code, 0);
	st_gp_cache_stop(c);
	unit_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(answers_honour_scope_exclusions_and_bans),
		cmocka_unit_test(the_worker_follows_the_book_and_never_waits_for_its_lock),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
