/* watch.c - file change detection, deadlines and the reader config for worker threads. */
#include <stdio.h>
#include <sys/stat.h>

#include "st/watch.h"

bool st_files_changed(const char *dir, const char *const *names, size_t n,
                      struct st_file_id *seen)
{
	bool changed = false;
	for (size_t i = 0; i < n; i++) {
		char path[ST_PATH_MAX + 32];
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		struct stat st;
		struct st_file_id now = {{0, 0}, -1, 0};
		if (stat(path, &st) == 0)
			now = (struct st_file_id){st.st_mtim, st.st_size, st.st_ino};
		const struct st_file_id *was = &seen[i];
		if (now.mtime.tv_sec != was->mtime.tv_sec || now.mtime.tv_nsec != was->mtime.tv_nsec ||
		    now.size != was->size || now.ino != was->ino)
			changed = true;
		seen[i] = now;
	}
	return changed;
}

void st_deadline_ms(struct timespec *t, int64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, t);
	t->tv_sec += (time_t)(ms / 1000);
	t->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

int st_sync_init(pthread_mutex_t *mu, pthread_cond_t *cond)
{
	pthread_condattr_t ca;
	int rc = pthread_condattr_init(&ca);
	if (rc != 0)
		return rc;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	rc = pthread_mutex_init(mu, NULL);
	if (rc == 0 && (rc = pthread_cond_init(cond, &ca)) != 0)
		pthread_mutex_destroy(mu);
	pthread_condattr_destroy(&ca);
	return rc;
}

void st_reader_config(struct st_config *dst, const struct st_config *src)
{
	*dst = *src;
	dst->seeds = NULL;
	dst->nseeds = 0;
	dst->lock = (struct st_lock_wait){0};
	dst->repair_auto = false;
}
