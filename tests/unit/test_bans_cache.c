/* test_bans_cache.c - the listener's bans read by a worker: a reload is read at once,
 * whatever the files look like; a held lock never makes the reader wait; the old copy
 * answers until a new one is read. */
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "unit.h"

#include "st/bans_cache.h"
#include "st/store.h"
#include "st/util.h"

static void ban(struct st_config *cfg, const char *target)
{
	struct st_peerbook *pb;
	struct st_err err = {0};
	const struct st_ban *b;
	if (st_peerbook_open(&pb, cfg, ST_STORE_WRITE, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(st_bans_add(pb, target, 0, false, "test", st_now(), &b, &err), 0);
	assert_int_equal(st_peerbook_close(pb, &err), 0);
}

static bool banned(struct st_peerbook *pb, const char *addr)
{
	struct st_ban_query q;
	struct st_err err = {0};
	assert_int_equal(st_ban_query_parse(&q, addr, &err), 0);
	return pb && st_bans_verdict(pb, &q, st_now()) != NULL;
}

/* Waits (bounded: 5 s) for the worker to answer ticket; returns that try's code. */
static int wait_done(struct st_bans_cache *c, uint64_t ticket)
{
	int code = -1;
	char msg[256];
	for (int i = 0; i < 500 && !st_bans_cache_done(c, ticket, &code, msg, sizeof msg); i++)
		usleep(10000);
	assert_true(st_bans_cache_done(c, ticket, &code, msg, sizeof msg));
	return code;
}

static void a_reload_is_read_at_once_and_a_held_lock_never_waits(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	struct st_config cfg;
	st_config_init(&cfg);
	snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", dir);
	ban(&cfg, "10.0.0.1");
	struct st_bans_cache *c;
	struct st_err err = {0};
	/* a poll of a minute: only a reload makes the worker read within this test */
	assert_int_equal(st_bans_cache_start(&c, &cfg, 60000, &err), 0);
	assert_true(banned(st_bans_cache_current(c), "10.0.0.1"));
	assert_false(banned(st_bans_cache_current(c), "10.0.0.2"));
	ban(&cfg, "10.0.0.2");
	assert_false(banned(st_bans_cache_current(c), "10.0.0.2")); /* not polled yet */
	assert_int_equal(wait_done(c, st_bans_cache_reload(c)), 0);
	assert_true(banned(st_bans_cache_current(c), "10.0.0.2"));
	assert_true(banned(st_bans_cache_current(c), "10.0.0.1"));
	/* another holds the bans table's lock: the reload's try fails at once, the copy in
	 * memory answers */
	char lock[600];
	snprintf(lock, sizeof lock, "%s/bans.lock", dir);
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	/* (a worker waiting for the lock would never answer: wait_done would fail) */
	assert_int_equal(wait_done(c, st_bans_cache_reload(c)), ST_EX_TEMPFAIL);
	assert_true(banned(st_bans_cache_current(c), "10.0.0.2"));
	close(fd);
	assert_int_equal(wait_done(c, st_bans_cache_reload(c)), 0);
	assert_true(banned(st_bans_cache_current(c), "10.0.0.2"));
	st_bans_cache_stop(c);
	unit_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_reload_is_read_at_once_and_a_held_lock_never_waits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
