/* gp_cache.c - GetPeers from memory: snapshots of the book's best, taken by a worker thread. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "st/addrbook.h"
#include "st/gp_cache.h"
#include "st/map.h"
#include "st/store.h"
#include "st/util.h"
#include "st/watch.h"

void st_gp_snapshot_free(struct st_gp_snapshot *s)
{
	if (!s)
		return;
	free(s->all);
	free(s->routable);
	free(s);
}

/* The best ST_GP_KEEP of ab into *out (allocated), routable ones only or not. */
static int best_of(struct st_addrbook *ab, bool routable, int64_t now, struct st_endpoint **out,
                   size_t *n, struct st_err *err)
{
	const struct st_addr_entry **best = malloc(ST_GP_KEEP * sizeof *best);
	*out = malloc(ST_GP_KEEP * sizeof **out);
	if (!best || !*out) {
		free(best);
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	}
	struct st_best_opts o = {.n = ST_GP_KEEP, .routable_only = routable, .share = true};
	long got = st_addrbook_best(ab, &o, now, best, err);
	for (long i = 0; i < got; i++)
		(*out)[i] = best[i]->ep;
	*n = got > 0 ? (size_t)got : 0;
	free(best);
	return got < 0 ? -1 : 0;
}

int st_gp_snapshot_take(struct st_gp_snapshot **out, const struct st_config *cfg, int64_t now,
                        struct st_err *err)
{
	*out = NULL;
	struct st_gp_snapshot *s = calloc(1, sizeof *s);
	if (!s)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	s->taken = now;
	struct st_addrbook *ab;
	if (st_addrbook_open(&ab, cfg, ST_STORE_READ | ST_ADDRBOOK_LAZY | ST_STORE_NOWAIT, err) < 0) {
		if (err && err->code == ST_EX_NOINPUT) { /* no data dir yet: nothing to offer */
			*out = s;
			return 0;
		}
		free(s);
		return -1;
	}
	/* a reader lets go of the lock at once (st_addrbook_open): ranking holds up nobody */
	int rc = best_of(ab, false, now, &s->all, &s->nall, err);
	if (rc == 0)
		rc = best_of(ab, true, now, &s->routable, &s->nroutable, err);
	st_addrbook_free(ab);
	if (rc < 0) {
		st_gp_snapshot_free(s);
		return -1;
	}
	*out = s;
	return 0;
}

struct excl {
	const struct st_endpoint *ep;
};

/*
 * A fast keyed hash for the exclusion set: SipHash per endpoint cost 350 us a GetPeers of
 * 1000 exclusions. A requester chooses the keys, but the set holds at most 1000 of them,
 * so even aimed collisions cost a bounded number of comparisons.
 */
static uint64_t ep_hash(const struct st_endpoint *ep, uint64_t key)
{
	uint64_t w[2];
	memcpy(w, ep->addr, sizeof w);
	uint64_t h = (w[0] ^ key) * 0x9e3779b97f4a7c15ULL;
	h ^= (w[1] + ((uint64_t)ep->port << 8 | ep->family) + (key >> 7)) * 0xc2b2ae3d27d4eb4fULL;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	return h ^ (h >> 32);
}

static bool excl_eq(const void *ctx, uint32_t i, const void *key)
{
	const struct excl *x = ctx;
	return st_endpoint_equal(&x->ep[i], key);
}

size_t st_gp_snapshot_answer(const struct st_gp_snapshot *s, const struct st_gp_ask *a,
                             struct st_endpoint *reply, size_t max)
{
	if (!s || !max)
		return 0;
	const struct st_endpoint *v = a->routable_only ? s->routable : s->all;
	size_t nv = a->routable_only ? s->nroutable : s->nall;
	struct st_map set; /* the exclusions: a GetPeers carries at most 1000 */
	st_map_init(&set);
	struct excl x = {a->exclude};
	size_t nex = a->nexclude > 1000 ? 1000 : a->nexclude;
	bool have_set = nex == 0 || st_map_reserve(&set, nex) == 0;
	for (size_t i = 0; have_set && i < nex; i++) {
		uint64_t h = ep_hash(&a->exclude[i], a->key);
		uint32_t dup;
		if (!st_map_find(&set, h, excl_eq, &x, &a->exclude[i], &dup))
			st_map_add(&set, h, (uint32_t)i); /* room was reserved */
	}
	size_t n = 0;
	for (size_t i = 0; i < nv && n < max; i++) {
		uint32_t at;
		if (nex && (!have_set || st_map_find(&set, ep_hash(&v[i], a->key), excl_eq, &x,
		                                     &v[i], &at)))
			continue; /* out of memory for the set: answer nothing rather than ignore it */
		if (a->skip && a->skip(a->skip_ctx, &v[i]))
			continue;
		reply[n++] = v[i];
	}
	st_map_clear(&set);
	return n;
}

/* ---- the worker ---- */

struct st_gp_cache {
	struct st_config cfg;          /* the worker's copy: no callbacks, no seeds */
	int64_t poll_ms;
	pthread_t thread;
	pthread_mutex_t mu;            /* guards the fields below, held for no more than a swap */
	pthread_cond_t wake;
	bool stop;
	struct st_gp_snapshot *fresh;  /* published by the worker, not yet taken */
	struct st_gp_snapshot *current;/* the loop's */
	uint64_t taken;
	int code;
	char msg[ST_ERR_MSG_MAX];
	/* the worker's own */
	struct st_file_id seen[2];
	int64_t last_ms;
};

static bool book_changed(struct st_gp_cache *c)
{
	static const char *const names[2] = {"addrbook.tsv", "addrbook.journal"};
	return st_files_changed(c->cfg.data_dir, names, 2, c->seen);
}

/* One try: a new snapshot published, or the failure noted (then the next poll tries again). */
static void refresh(struct st_gp_cache *c)
{
	struct st_gp_snapshot *s;
	struct st_err err = {0};
	int rc = st_gp_snapshot_take(&s, &c->cfg, st_now(), &err);
	c->last_ms = st_monotonic_ms();
	pthread_mutex_lock(&c->mu);
	if (rc == 0) {
		st_gp_snapshot_free(c->fresh); /* never taken: the loop asked nothing since */
		c->fresh = s;
		c->taken++;
		c->code = 0;
		c->msg[0] = '\0';
	} else {
		c->code = err.code ? err.code : ST_EX_SOFTWARE;
		snprintf(c->msg, sizeof c->msg, "%s", err.msg);
	}
	pthread_mutex_unlock(&c->mu);
	if (rc < 0 && err.code == ST_EX_TEMPFAIL)
		memset(c->seen, 0, sizeof c->seen); /* locked: the next poll tries again */
}

static void *worker(void *arg)
{
	struct st_gp_cache *c = arg;
	pthread_mutex_lock(&c->mu);
	while (!c->stop) {
		struct timespec until;
		st_deadline_ms(&until, c->poll_ms);
		while (!c->stop && pthread_cond_timedwait(&c->wake, &c->mu, &until) != ETIMEDOUT)
			;
		if (c->stop)
			break;
		pthread_mutex_unlock(&c->mu); /* the book is read without the mutex */
		if (book_changed(c) || st_monotonic_ms() - c->last_ms >= 60000)
			refresh(c);
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

int st_gp_cache_start(struct st_gp_cache **out, const struct st_config *cfg, int64_t poll_ms,
                      struct st_err *err)
{
	*out = NULL;
	struct st_gp_cache *c = calloc(1, sizeof *c);
	if (!c)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	st_reader_config(&c->cfg, cfg);
	c->poll_ms = poll_ms > 0 ? poll_ms : 250;
	int rc = st_sync_init(&c->mu, &c->wake);
	if (rc != 0) {
		free(c);
		return st_err_set(err, ST_EX_SOFTWARE, "cannot start the GetPeers worker: %s", strerror(rc));
	}
	book_changed(c);
	refresh(c);
	if ((rc = pthread_create(&c->thread, NULL, worker, c)) != 0) {
		pthread_cond_destroy(&c->wake);
		pthread_mutex_destroy(&c->mu);
		st_gp_snapshot_free(c->fresh);
		free(c);
		return st_err_set(err, ST_EX_SOFTWARE, "cannot start the GetPeers worker: %s", strerror(rc));
	}
	*out = c;
	return 0;
}

const struct st_gp_snapshot *st_gp_cache_current(struct st_gp_cache *c)
{
	pthread_mutex_lock(&c->mu);
	struct st_gp_snapshot *s = c->fresh;
	c->fresh = NULL;
	pthread_mutex_unlock(&c->mu);
	if (s) {
		st_gp_snapshot_free(c->current);
		c->current = s;
	}
	return c->current;
}

uint64_t st_gp_cache_status(struct st_gp_cache *c, int *code, char *msg, size_t size)
{
	pthread_mutex_lock(&c->mu);
	uint64_t taken = c->taken;
	*code = c->code;
	if (size)
		snprintf(msg, size, "%s", c->msg);
	pthread_mutex_unlock(&c->mu);
	return taken;
}

void st_gp_cache_stop(struct st_gp_cache *c)
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
	st_gp_snapshot_free(c->fresh);
	st_gp_snapshot_free(c->current);
	free(c);
}
