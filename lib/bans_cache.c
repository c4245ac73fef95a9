/* bans_cache.c - the listener's bans, read by a worker thread and swapped in by pointer. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "st/bans_cache.h"
#include "st/store.h"
#include "st/util.h"
#include "st/watch.h"

struct st_bans_cache {
	struct st_config cfg;          /* the worker's copy: no callbacks, no seeds */
	int64_t poll_ms;
	pthread_t thread;
	pthread_mutex_t mu;            /* guards the fields below, held for no more than a swap */
	pthread_cond_t wake;
	bool stop;
	struct st_peerbook *fresh;     /* published by the worker, not yet taken */
	struct st_peerbook *retired;   /* the loop's previous copy, for the worker to free */
	uint64_t asked, tried;         /* reloads asked for; the latest one a try answered */
	int code;                      /* that try's failure, 0: it read */
	char msg[ST_ERR_MSG_MAX];
	/* the loop's own */
	struct st_peerbook *current;
	/* the worker's own */
	struct st_file_id seen[4];     /* the bans files, then the peers files */
	unsigned polls;                /* since the peers files were last looked at */
};

/* The peers files say whose an endpoint is (a ban of an id covers the endpoints it was
 * seen at), but change with every ingest and cost a read of the whole table: looked at
 * every this many polls (5 s at the default 250 ms), the bans files at every poll. */
#define PEERS_EVERY_POLLS 20

/* Whether the tables' files differ from when last looked at (and remembers them). */
static bool files_changed(struct st_bans_cache *c)
{
	static const char *const bans[2] = {"bans.tsv", "bans.journal"};
	static const char *const peers[2] = {"peers.tsv", "peers.journal"};
	bool changed = st_files_changed(c->cfg.data_dir, bans, 2, c->seen);
	if (++c->polls >= PEERS_EVERY_POLLS) {
		c->polls = 0;
		if (st_files_changed(c->cfg.data_dir, peers, 2, c->seen + 2))
			changed = true;
	}
	return changed;
}

/* One read, without the mutex; then the result published under it. */
static void refresh(struct st_bans_cache *c, uint64_t asked)
{
	struct st_peerbook *pb = NULL;
	struct st_err err = {0};
	int rc = st_peerbook_open(&pb, &c->cfg, ST_STORE_READ | ST_STORE_NOWAIT, &err);
	struct st_peerbook *drop = NULL, *old = NULL;
	pthread_mutex_lock(&c->mu);
	if (rc == 0) {
		drop = c->fresh; /* never taken: nobody connected since */
		c->fresh = pb;
		/* the copy the loop retired while this read ran: freed here, so that when the
		 * loop takes this one, the slot is empty and the loop never frees a table */
		old = c->retired;
		c->retired = NULL;
		c->code = 0;
		c->msg[0] = '\0';
	} else {
		c->code = err.code ? err.code : ST_EX_SOFTWARE;
		snprintf(c->msg, sizeof c->msg, "%s", err.msg);
	}
	if (asked > c->tried)
		c->tried = asked;
	pthread_mutex_unlock(&c->mu);
	st_peerbook_free(drop);
	st_peerbook_free(old);
	if (rc < 0) {
		st_peerbook_free(pb);
		/* a held lock: the next poll tries again; damage is read again only once the
		 * files change (a repair) or a reload asks, not four times a second */
		if (err.code == ST_EX_TEMPFAIL)
			memset(c->seen, 0, sizeof c->seen);
	}
}

static void *worker(void *arg)
{
	struct st_bans_cache *c = arg;
	pthread_mutex_lock(&c->mu);
	while (!c->stop) {
		struct timespec until;
		st_deadline_ms(&until, c->poll_ms);
		/* a reload asked for wakes it early */
		while (!c->stop && c->asked == c->tried && !c->retired &&
		       pthread_cond_timedwait(&c->wake, &c->mu, &until) != ETIMEDOUT)
			;
		if (c->stop)
			break;
		uint64_t asked = c->asked;
		bool forced = asked != c->tried;
		struct st_peerbook *old = c->retired;
		c->retired = NULL;
		pthread_mutex_unlock(&c->mu); /* the table is read (and the old copy freed) without it */
		st_peerbook_free(old);
		if (files_changed(c) || forced)
			refresh(c, asked);
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

int st_bans_cache_start(struct st_bans_cache **out, const struct st_config *cfg, int64_t poll_ms,
                        struct st_err *err)
{
	*out = NULL;
	struct st_bans_cache *c = calloc(1, sizeof *c);
	if (!c)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	st_reader_config(&c->cfg, cfg);
	c->poll_ms = poll_ms > 0 ? poll_ms : 250;
	int rc = st_sync_init(&c->mu, &c->wake);
	if (rc != 0) {
		free(c);
		return st_err_set(err, ST_EX_SOFTWARE, "cannot start the bans worker: %s", strerror(rc));
	}
	c->polls = PEERS_EVERY_POLLS - 1; /* this first look takes in both tables' files */
	files_changed(c);
	refresh(c, 0);
	if ((rc = pthread_create(&c->thread, NULL, worker, c)) != 0) {
		pthread_cond_destroy(&c->wake);
		pthread_mutex_destroy(&c->mu);
		st_peerbook_free(c->fresh);
		free(c);
		return st_err_set(err, ST_EX_SOFTWARE, "cannot start the bans worker: %s", strerror(rc));
	}
	*out = c;
	return 0;
}

struct st_peerbook *st_bans_cache_current(struct st_bans_cache *c)
{
	pthread_mutex_lock(&c->mu);
	/* A fresh copy is published with the retired slot emptied (refresh), and only this
	 * swap fills it again, so the slot is empty here; were it not, the swap would wait
	 * for the worker rather than free a table on the loop. */
	if (c->fresh && !c->retired) {
		c->retired = c->current;
		c->current = c->fresh;
		c->fresh = NULL;
		pthread_cond_signal(&c->wake);
	}
	pthread_mutex_unlock(&c->mu);
	return c->current;
}

uint64_t st_bans_cache_reload(struct st_bans_cache *c)
{
	pthread_mutex_lock(&c->mu);
	uint64_t ticket = ++c->asked;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->mu);
	return ticket;
}

bool st_bans_cache_done(struct st_bans_cache *c, uint64_t ticket, int *code, char *msg,
                        size_t size)
{
	pthread_mutex_lock(&c->mu);
	bool done = c->tried >= ticket;
	*code = c->code;
	if (size)
		snprintf(msg, size, "%s", c->msg);
	pthread_mutex_unlock(&c->mu);
	return done;
}

void st_bans_cache_stop(struct st_bans_cache *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	c->stop = true;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	pthread_cond_destroy(&c->wake);
	pthread_mutex_destroy(&c->mu);
	st_peerbook_free(c->fresh);
	st_peerbook_free(c->retired);
	st_peerbook_free(c->current);
	free(c);
}
