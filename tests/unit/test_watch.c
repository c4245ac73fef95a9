/* test_watch.c - what the worker threads share: a change is seen whatever keeps the
 * mtime (same size, same tick), deadlines carry into seconds, a reader's config. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit.h"

#include "st/watch.h"

static void put(const char *dir, const char *name, const char *text)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void a_change_is_seen_even_when_the_mtime_stays(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	static const char *const names[2] = {"t.tsv", "t.journal"};
	struct st_file_id seen[2] = {{{0, 0}, 0, 0}, {{0, 0}, 0, 0}};
	/* missing files are {0, -1, 0}: a first look differs from the zeroed start */
	assert_true(st_files_changed(dir, names, 2, seen));
	assert_false(st_files_changed(dir, names, 2, seen));
	put(dir, "t.journal", "a\n");
	assert_true(st_files_changed(dir, names, 2, seen));
	assert_false(st_files_changed(dir, names, 2, seen));
	/* the same size, the mtime set back as it was: a rename gives another inode */
	struct stat before;
	char path[512], tmp[512];
	snprintf(path, sizeof path, "%s/t.journal", dir);
	snprintf(tmp, sizeof tmp, "%s/t.tmp", dir);
	assert_int_equal(stat(path, &before), 0);
	put(dir, "t.tmp", "b\n");
	struct timespec times[2] = {before.st_atim, before.st_mtim};
	assert_int_equal(utimensat(AT_FDCWD, tmp, times, 0), 0);
	assert_int_equal(rename(tmp, path), 0);
	assert_true(st_files_changed(dir, names, 2, seen));
	/* the size alone, mtime kept */
	put(dir, "t.journal", "bb\n");
	assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
	assert_true(st_files_changed(dir, names, 2, seen));
	assert_false(st_files_changed(dir, names, 2, seen));
	unit_rmtree(dir);
}

static void deadlines_carry_into_seconds(void **state)
{
	(void)state;
	struct timespec now, t;
	clock_gettime(CLOCK_MONOTONIC, &now);
	st_deadline_ms(&t, 2999);
	assert_true(t.tv_nsec >= 0 && t.tv_nsec < 1000000000L);
	double d = (double)(t.tv_sec - now.tv_sec) + (double)(t.tv_nsec - now.tv_nsec) / 1e9;
	assert_true(d >= 2.999 && d < 3.999);
}

static void a_reader_config_has_no_seeds_no_lock_messages_no_repair(void **state)
{
	(void)state;
	struct st_config cfg, r;
	st_config_init(&cfg);
	snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", "/nowhere");
	cfg.repair_auto = true;
	cfg.nseeds = 3;
	st_reader_config(&r, &cfg);
	assert_string_equal(r.data_dir, "/nowhere");
	assert_false(r.repair_auto);
	assert_null(r.seeds);
	assert_int_equal(r.nseeds, 0);
	cfg.nseeds = 0; /* cfg's own, never set up: nothing to free */
}

static void a_timed_wait_ends_at_its_deadline(void **state)
{
	(void)state;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	assert_int_equal(st_sync_init(&mu, &cond), 0);
	struct timespec t;
	st_deadline_ms(&t, 20);
	pthread_mutex_lock(&mu);
	int rc;
	while ((rc = pthread_cond_timedwait(&cond, &mu, &t)) == 0)
		;
	pthread_mutex_unlock(&mu);
	assert_int_equal(rc, ETIMEDOUT);
	pthread_cond_destroy(&cond);
	pthread_mutex_destroy(&mu);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_change_is_seen_even_when_the_mtime_stays),
		cmocka_unit_test(deadlines_carry_into_seconds),
		cmocka_unit_test(a_reader_config_has_no_seeds_no_lock_messages_no_repair),
		cmocka_unit_test(a_timed_wait_ends_at_its_deadline),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
