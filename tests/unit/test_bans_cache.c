/* test_bans_cache.c - the listener's bans read by a worker: a reload is read at once,
 * whatever the files look like; a held lock never makes the reader wait; the old copy
 * answers until a new one is read. */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/file.h>
#include <unistd.h>

#include "unit.h"

#include "st/bans_cache.h"
#include "st/endpoint.h"
#include "st/store.h"
#include "st/util.h"

/* Which thread frees a table (ld --wrap): the loop's thread is the test's, while counting. */
static pthread_t loop_thread;
static atomic_bool counting;
static atomic_int loop_frees, worker_frees;
void __real_st_peerbook_free(struct st_peerbook *pb);
void __wrap_st_peerbook_free(struct st_peerbook *pb);
void __wrap_st_peerbook_free(struct st_peerbook *pb)
{
	if (atomic_load(&counting)) {
		bool loop = pthread_equal(pthread_self(), loop_thread);
		if (pb)
			atomic_fetch_add(loop ? &loop_frees : &worker_frees, 1);
		if (!loop) /* a slow worker, between its read and its next look at the slot */
			usleep(3000);
	}
	__real_st_peerbook_free(pb);
}

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

/* The loop takes a copy while the worker reads the next one (a table of 2000 bans, so
 * the read is slow enough to land in): every copy the loop lets go is freed by the
 * worker, never by the loop (a 100k-ban table takes long to free). */
static void the_loop_never_frees_a_table(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	struct st_config cfg;
	st_config_init(&cfg);
	snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", dir);
	struct st_peerbook *w;
	struct st_err err = {0};
	const struct st_ban *b;
	if (st_peerbook_open(&w, &cfg, ST_STORE_WRITE, &err) < 0)
		fail_msg("%s", err.msg);
	for (int i = 0; i < 2000; i++) {
		char target[32];
		snprintf(target, sizeof target, "10.%d.%d.1", i / 250, i % 250);
		assert_int_equal(st_bans_add(w, target, 0, false, "test", st_now(), &b, &err), 0);
	}
	assert_int_equal(st_peerbook_close(w, &err), 0);
	struct st_bans_cache *c;
	assert_int_equal(st_bans_cache_start(&c, &cfg, 60000, &err), 0);
	loop_thread = pthread_self();
	atomic_store(&counting, true);
	const struct st_peerbook *last = st_bans_cache_current(c);
	int swaps = 0;
	for (int i = 0; i < 40; i++) {
		assert_int_equal(wait_done(c, st_bans_cache_reload(c)), 0); /* one copy waiting */
		uint64_t next = st_bans_cache_reload(c);                      /* the next being read */
		usleep(200);
		const struct st_peerbook *pb = st_bans_cache_current(c);      /* the first taken */
		swaps += pb != last;
		int code = -1;
		char msg[256];
		int64_t until = st_monotonic_ms() + 5000; /* taken the moment it is read */
		while (!st_bans_cache_done(c, next, &code, msg, sizeof msg) &&
		       st_monotonic_ms() < until)
			;
		assert_int_equal(code, 0);
		last = st_bans_cache_current(c);                              /* and the next */
		swaps++;
	}
	atomic_store(&counting, false);
	assert_true(banned(st_bans_cache_current(c), "10.3.4.1"));
	st_bans_cache_stop(c);
	assert_true(swaps > 40); /* the copies did change hands */
	assert_int_equal(atomic_load(&loop_frees), 0);
	assert_true(atomic_load(&worker_frees) > 0);
	unit_rmtree(dir);
}

/* A ban of an id covers the endpoints its peer is seen at: a peer seen at a new endpoint
 * (the peers table changes, the bans do not) is read in by the worker on its own. */
static void a_banned_peer_seen_elsewhere_is_read_in(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	struct st_config cfg;
	st_config_init(&cfg);
	snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", dir);
	ban(&cfg, "node-x");
	struct st_bans_cache *c;
	struct st_err err = {0};
	assert_int_equal(st_bans_cache_start(&c, &cfg, 10, &err), 0);
	assert_false(banned(st_bans_cache_current(c), "10.9.9.9:7777"));
	struct st_peerbook *pb;
	struct st_peer_change ch;
	struct st_endpoint ep;
	assert_int_equal(st_endpoint_parse(&ep, "10.9.9.9:7777", 13, &err), 0);
	if (st_peerbook_open(&pb, &cfg, ST_STORE_WRITE, &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(st_peers_seen(pb, "node-x", &ep, 1, "ua", false, st_now(), &ch, &err), 0);
	assert_int_equal(st_peerbook_close(pb, &err), 0);
	bool seen = false;
	for (int i = 0; i < 500 && !seen; i++) { /* 20 polls of 10 ms; at most 5 s */
		usleep(10000);
		seen = banned(st_bans_cache_current(c), "10.9.9.9:7777");
	}
	assert_true(seen);
	st_bans_cache_stop(c);
	unit_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_reload_is_read_at_once_and_a_held_lock_never_waits),
		cmocka_unit_test(the_loop_never_frees_a_table),
		cmocka_unit_test(a_banned_peer_seen_elsewhere_is_read_in),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
