/* watch.h - what the worker threads that keep a table in memory for the event loop
 * (gp_cache.h, bans_cache.h) share: noticing that the table's files changed, a
 * deadline on the monotonic clock, and the config a reader thread works with. */
#ifndef ST_WATCH_H
#define ST_WATCH_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "st/config.h"

/* What says a file changed: mtime, and size and inode too, since two writes within
 * one timestamp tick keep the mtime. A missing file is {0, -1, 0}. */
struct st_file_id {
	struct timespec mtime;
	off_t size;
	ino_t ino;
};

/* Whether dir/names[i] differ from seen[i], for any i < n; seen[] is updated. */
bool st_files_changed(const char *dir, const char *const *names, size_t n,
                      struct st_file_id *seen);

/* t = now + ms on CLOCK_MONOTONIC, for pthread_cond_timedwait on a cond from st_sync_init. */
void st_deadline_ms(struct timespec *t, int64_t ms);

/* A mutex, and a condition variable timed on CLOCK_MONOTONIC (a clock step moves no
 * deadline). Returns 0, or the errno of what failed (both are then destroyed). */
int st_sync_init(pthread_mutex_t *mu, pthread_cond_t *cond);

/* The copy of cfg a thread that only reads works with: no seeds (not its), no
 * lock-wait messages (a thread of ours prints nothing), no repair. */
void st_reader_config(struct st_config *dst, const struct st_config *src);

#endif
