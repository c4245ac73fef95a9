/* crawl.c - one crawl run: breadth first over the dialer, GetPeers until nothing new. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "st/crawl.h"
#include "st/net.h"

/* The most endpoints handed to the dialer at once: a round of the breadth-first walk. */
#define ROUND_MAX 4096

/* A node whose answer was full: asked again once due, excluding what it gave. */
struct reask {
	struct st_endpoint ep;
	int64_t due_ms;
	struct st_endpoint *given;  /* every endpoint it offered this run, at most ST_PEERS_MAX */
	size_t ngiven;
	size_t learned;             /* new endpoints from its answers so far */
};

struct run {
	struct st_crawl_state *cs;
	const struct st_crawl_opts *o;
	struct st_crawl_counts *c;
	uint32_t id;
	int64_t now;               /* st_now() at the start: the run's clock for the state */
	int64_t start_ms, last_commit_ms;
	struct st_endpoint *q;     /* the breadth-first queue */
	size_t qhead, qn, qcap;
	struct reask *ra;
	size_t nra, capra;
	size_t *tried;             /* node indexes tried since the last commit */
	size_t ntried, captried;
	bool failed;               /* memory or the state could not be written */
	struct st_err *err;
};

static bool in_scope(const struct run *r, const struct st_endpoint *ep)
{
	return ep->port && (r->o->allow_private || st_endpoint_is_routable(ep));
}

/* Never tried, or tried longer ago than the retest interval. */
static bool due(const struct run *r, const struct st_crawl_node *nd)
{
	return !nd->last_try || r->now - nd->last_try >= r->o->retest_ms / 1000;
}

static int push(struct run *r, struct st_crawl_node *nd)
{
	if (nd->run_ == r->id)
		return 0;
	if (r->qn == r->qcap) {
		size_t cap = r->qcap ? r->qcap * 2 : 1024;
		struct st_endpoint *q = realloc(r->q, cap * sizeof *q);
		if (!q)
			return -1;
		r->q = q;
		r->qcap = cap;
	}
	nd->run_ = r->id;
	r->q[r->qn++] = nd->ep;
	r->c->found++;
	return 0;
}

static struct reask *find_reask(struct run *r, const struct st_endpoint *ep)
{
	for (size_t i = 0; i < r->nra; i++)
		if (st_endpoint_equal(&r->ra[i].ep, ep))
			return &r->ra[i];
	return NULL;
}

/* Forgets a re-ask: the last entry takes its place. */
static void drop_reask(struct run *r, struct reask *ra)
{
	size_t i = (size_t)(ra - r->ra);
	free(ra->given);
	if (i + 1 < r->nra)
		r->ra[i] = r->ra[r->nra - 1];
	r->nra--;
	memset(&r->ra[r->nra], 0, sizeof *r->ra);
}

static void report(struct run *r, const struct st_crawl_node *nd, const char *error, size_t learned)
{
	if (r->o->report)
		r->o->report(r->o->ctx, &(struct st_crawl_report){nd, error, learned});
}

static int commit(struct run *r)
{
	if (st_crawl_state_commit(r->cs, r->err) < 0)
		return -1;
	r->last_commit_ms = st_monotonic_ms();
	if (!r->ntried || !r->o->committed)
		return r->ntried = 0, 0;
	const struct st_crawl_node **v = malloc(r->ntried * sizeof *v);
	if (!v)
		return st_err_set(r->err, ST_EX_SOFTWARE, "out of memory");
	for (size_t i = 0; i < r->ntried; i++)
		v[i] = &r->cs->v[r->tried[i]];
	int rc = r->o->committed(r->o->ctx, v, r->ntried, r->err);
	free(v);
	r->ntried = 0;
	return rc;
}

static void on_result(void *ctx, const struct st_dial_result *res)
{
	struct run *r = ctx;
	struct st_crawl_node *nd = st_crawl_find(r->cs, res->ep);
	if (!nd || r->failed)
		return;
	const struct st_handshake *h = res->remote;
	int64_t now = st_now();
	struct st_crawl_try t = {res->status, h ? h->node_id : NULL, h ? h->version : 0,
	                         h && h->has_services ? h->services : 0, h ? h->user_agent : NULL,
	                         res->rtt_ms};
	struct reask *ra = find_reask(r, res->ep);
	bool first = nd->tried_ != r->id;
	st_crawl_node_update(nd, &t, now);
	if (first) {
		nd->tried_ = r->id;
		r->c->tried++;
		r->c->reachable += st_status_is_success(res->status) != 0;
		nd->asks = 0;
		nd->peers_offered = 0;
	}
	size_t idx = (size_t)(nd - r->cs->v), learned = 0;
	if (r->ntried == r->captried) {
		size_t cap = r->captried ? r->captried * 2 : 256;
		size_t *v = realloc(r->tried, cap * sizeof *v);
		if (!v) {
			r->failed = true;
			st_err_set(r->err, ST_EX_SOFTWARE, "out of memory");
			return;
		}
		r->tried = v;
		r->captried = cap;
	}
	r->tried[r->ntried++] = idx;
	bool ok = st_status_is_success(res->status);
	if (ok && (res->npeers || r->o->getpeers)) {
		nd->asks++;
		nd->last_ask = now;
		nd->peers_offered += (uint32_t)res->npeers;
	}
	struct st_endpoint ep = nd->ep; /* nd moves when the state grows */
	for (size_t i = 0; ok && i < res->npeers; i++) {
		const struct st_endpoint *p = &res->peers[i];
		if (!in_scope(r, p)) {
			r->c->skipped++;
			continue;
		}
		bool added;
		struct st_crawl_node *pn = st_crawl_add(r->cs, p, now, &added);
		if (!pn) {
			r->c->skipped++;
			continue;
		}
		if (added) {
			learned++;
			r->c->learned++;
		}
		/* a node another run tried lately is known well enough: not again */
		if (due(r, pn) && push(r, pn) < 0) {
			r->failed = true;
			st_err_set(r->err, ST_EX_SOFTWARE, "out of memory");
			return;
		}
	}
	nd = st_crawl_find(r->cs, &ep);
	if (ra)
		learned += ra->learned;
	/* a full answer may have left some out: ask again later, excluding these */
	bool full = ok && r->o->getpeers && res->npeers >= (size_t)r->o->getpeers;
	if (full && nd->asks < r->o->max_asks) {
		if (!ra) {
			if (r->nra == r->capra) {
				size_t cap = r->capra ? r->capra * 2 : 16;
				struct reask *v = realloc(r->ra, cap * sizeof *v);
				if (!v) {
					r->failed = true;
					st_err_set(r->err, ST_EX_SOFTWARE, "out of memory");
					return;
				}
				r->ra = v;
				r->capra = cap;
			}
			ra = &r->ra[r->nra++];
			memset(ra, 0, sizeof *ra);
			ra->ep = ep;
			ra->given = malloc(ST_PEERS_MAX * sizeof *ra->given);
			if (!ra->given) {
				r->nra--;
				return;
			}
		}
		for (size_t i = 0; i < res->npeers && ra->ngiven < ST_PEERS_MAX; i++)
			ra->given[ra->ngiven++] = res->peers[i];
		ra->due_ms = st_monotonic_ms() + r->o->ask_interval_ms;
		ra->learned = learned;
		return; /* reported once the asking is over */
	}
	if (ra)
		drop_reask(r, ra);
	report(r, nd, res->error, learned);
	if (st_monotonic_ms() - r->last_commit_ms >= r->o->commit_every_ms && commit(r) < 0)
		r->failed = true;
}

/*
 * The dialer's stop descriptor: readable when the program's is, or when the
 * run's time is up. An epoll descriptor is readable when one of its own is,
 * so one descriptor can stand for both.
 */
static int stop_fd_open(const struct run *r, int *tfd)
{
	*tfd = -1;
	if (!r->o->max_time_ms)
		return r->o->stop_fd;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	*tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (ep < 0 || *tfd < 0)
		goto fail;
	struct itimerspec its = {{0, 0}, {(time_t)(r->o->max_time_ms / 1000),
	                                  (long)(r->o->max_time_ms % 1000) * 1000000L}};
	struct epoll_event ev = {.events = EPOLLIN};
	if (timerfd_settime(*tfd, 0, &its, NULL) < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, *tfd, &ev) < 0)
		goto fail;
	if (r->o->stop_fd > 0 && epoll_ctl(ep, EPOLL_CTL_ADD, r->o->stop_fd, &ev) < 0)
		goto fail;
	return ep;
fail:
	if (ep >= 0)
		close(ep);
	if (*tfd >= 0)
		close(*tfd);
	*tfd = -1;
	return -1;
}

static bool readable(int fd, int timeout_ms)
{
	if (fd <= 0) {
		if (timeout_ms > 0)
			poll(NULL, 0, timeout_ms);
		return false;
	}
	struct pollfd p = {fd, POLLIN, 0};
	return poll(&p, 1, timeout_ms) > 0;
}

static bool time_up(const struct run *r)
{
	return r->o->max_time_ms && st_monotonic_ms() - r->start_ms >= r->o->max_time_ms;
}

static long dial(struct run *r, const struct st_endpoint *eps, size_t n,
                 const struct st_endpoint *ex, size_t nex, int stop, bool *stopped)
{
	struct st_dial_opts d = {
		.jobs = r->o->jobs,
		.timeout_ms = r->o->timeout_ms,
		.ping = true,
		.getpeers = r->o->getpeers,
		.exclude = ex,
		.nexclude = nex,
		.local = r->o->local,
		.stop_fd = stop,
	};
	bool interrupted = false;
	long ok = st_dial_all(eps, n, &d, on_result, r, &interrupted, r->err);
	if (interrupted)
		*stopped = true;
	return ok;
}

/* The re-asks that are due, one dial each (each has its own exclusions). */
static int run_reasks(struct run *r, int stop, bool *stopped)
{
	int64_t now = st_monotonic_ms(), next = INT64_MAX;
	for (size_t i = 0; i < r->nra; i++)
		if (r->ra[i].due_ms < next)
			next = r->ra[i].due_ms;
	if (next > now) {
		int64_t wait = next - now;
		if (r->o->max_time_ms && r->start_ms + r->o->max_time_ms - now < wait)
			return 1; /* not before the time is up */
		if (readable(stop, (int)(wait > 60000 ? 60000 : wait)))
			*stopped = true;
		return 0;
	}
	while (!*stopped && !r->failed) {
		struct reask *ra = NULL;
		for (size_t i = 0; r->ra && i < r->nra && !ra; i++)
			if (r->ra[i].due_ms <= now)
				ra = &r->ra[i];
		if (!ra)
			break;
		/* on_result drops or renews the entry (and may move the table): a copy */
		struct st_endpoint ep = ra->ep, given[ST_PEERS_MAX];
		size_t ng = ra->ngiven;
		memcpy(given, ra->given, ng * sizeof *given);
		ra->due_ms = INT64_MAX; /* until the answer says otherwise */
		if (dial(r, &ep, 1, given, ng, stop, stopped) < 0)
			return -1;
		struct reask *left = find_reask(r, &ep);
		if (left && left->due_ms == INT64_MAX) {
			size_t left_learned = left->learned;
			/* no answer came (stopped): the node is reported as it stands */
			struct st_crawl_node *nd = st_crawl_find(r->cs, &ep);
			drop_reask(r, left);
			if (nd)
				report(r, nd, NULL, left_learned);
		}
		now = st_monotonic_ms();
	}
	return 0;
}

static int start(struct run *r, const struct st_endpoint *seeds, size_t nseeds)
{
	struct st_crawl_state *cs = r->cs;
	for (size_t i = 0; i < nseeds; i++) {
		bool added;
		struct st_crawl_node *nd = st_crawl_add(cs, &seeds[i], r->now, &added);
		if (!nd || push(r, nd) < 0)
			return st_err_set(r->err, ST_EX_SOFTWARE, "out of memory");
		r->c->learned += added;
	}
	/* the frontier first (breadth first: what the last run learned), then the due */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < cs->n; i++) {
			struct st_crawl_node *nd = &cs->v[i];
			bool want = pass == 0 ? !nd->last_try : nd->last_try && due(r, nd);
			if (want && in_scope(r, &nd->ep) && push(r, nd) < 0)
				return st_err_set(r->err, ST_EX_SOFTWARE, "out of memory");
		}
	return 0;
}

int st_crawl_run(struct st_crawl_state *cs, const struct st_endpoint *seeds, size_t nseeds,
                 const struct st_crawl_opts *o, struct st_crawl_counts *counts,
                 struct st_err *err)
{
	memset(counts, 0, sizeof *counts);
	struct run r = {.cs = cs, .o = o, .c = counts, .id = ++cs->runs, .now = st_now(),
	                .start_ms = st_monotonic_ms(), .err = err};
	r.last_commit_ms = r.start_ms;
	counts->run = r.id;
	int tfd = -1, stop = -1, rc = start(&r, seeds, nseeds);
	if (rc == 0 && (stop = stop_fd_open(&r, &tfd)) < 0 && o->max_time_ms)
		rc = st_err_sys(err, ST_EX_SOFTWARE, "timer");
	bool stopped = false;
	while (rc == 0 && !stopped && !r.failed) {
		if (time_up(&r))
			break;
		size_t left = o->max_nodes ? (counts->tried < o->max_nodes ? o->max_nodes - counts->tried : 0)
		                           : SIZE_MAX;
		size_t n = r.qn - r.qhead;
		if (n > ROUND_MAX)
			n = ROUND_MAX;
		if (n > left)
			n = left;
		if (n) {
			/* a copy: on_result may grow the queue under us */
			struct st_endpoint *batch = malloc(n * sizeof *batch);
			if (!batch) {
				rc = st_err_set(err, ST_EX_SOFTWARE, "out of memory");
				break;
			}
			memcpy(batch, r.q + r.qhead, n * sizeof *batch);
			r.qhead += n;
			if (dial(&r, batch, n, NULL, 0, stop, &stopped) < 0)
				rc = -1;
			free(batch);
			continue;
		}
		if (!r.nra)
			break;
		int x = run_reasks(&r, stop, &stopped);
		if (x < 0)
			rc = -1;
		if (x > 0)
			break;
	}
	if (r.failed)
		rc = -1;
	/* the dialer says only that it was stopped: by the program, or by the clock */
	bool asked = o->stop_fd > 0 && readable(o->stop_fd, 0);
	counts->timed_out = time_up(&r) && !asked && (stopped || r.qhead < r.qn || r.nra);
	counts->interrupted = stopped && !counts->timed_out;
	/* nodes still waiting to be asked again are reported as they stand */
	for (size_t i = 0; i < r.nra; i++) {
		struct st_crawl_node *nd = st_crawl_find(cs, &r.ra[i].ep);
		if (nd && rc == 0)
			report(&r, nd, NULL, r.ra[i].learned);
		free(r.ra[i].given);
	}
	/* what was queued but not dialed stays in the frontier only if never tried */
	if (commit(&r) < 0 && rc == 0)
		rc = -1;
	for (size_t i = 0; i < cs->n; i++)
		counts->frontier += !cs->v[i].last_try;
	counts->elapsed_ms = st_monotonic_ms() - r.start_ms;
	if (stop >= 0 && stop != o->stop_fd)
		close(stop);
	if (tfd >= 0)
		close(tfd);
	free(r.q);
	free(r.ra);
	free(r.tried);
	return rc;
}

/* ---- the summary ---- */

static int tally(struct st_crawl_tally **v, size_t *n, const char *key)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*v)[i].key, key) == 0) {
			(*v)[i].count++;
			return 0;
		}
	struct st_crawl_tally *nv = realloc(*v, (*n + 1) * sizeof *nv);
	if (!nv)
		return -1;
	*v = nv;
	st_strlcpy(nv[*n].key, key, sizeof nv[*n].key);
	nv[(*n)++].count = 1;
	return 0;
}

static int tally_cmp(const void *a, const void *b)
{
	const struct st_crawl_tally *x = a, *y = b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->key, y->key);
}

static int i64_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

int st_crawl_summarize(const struct st_crawl_state *cs, uint32_t run,
                       struct st_crawl_summary *s, struct st_err *err)
{
	memset(s, 0, sizeof *s);
	s->rtt_p50 = s->rtt_p90 = s->rtt_p99 = -1;
	int64_t *rtt = malloc((cs->n ? cs->n : 1) * sizeof *rtt);
	size_t nrtt = 0;
	if (!rtt)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	for (size_t i = 0; i < cs->n; i++) {
		const struct st_crawl_node *nd = &cs->v[i];
		if (nd->tried_ != run || !st_status_is_success(nd->status))
			continue;
		char key[ST_CRAWL_UA_MAX + 16];
		snprintf(key, sizeof key, "%d", (int)nd->version);
		int rc = tally(&s->by_version, &s->nversion, key);
		if (rc == 0)
			rc = tally(&s->by_agent, &s->nagent, nd->user_agent);
		st_netkey_format(st_endpoint_group_key(&nd->ep), key, sizeof key);
		if (rc == 0)
			rc = tally(&s->by_group, &s->ngroup, key);
		if (rc < 0) {
			free(rtt);
			st_crawl_summary_clear(s);
			return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
		}
		if (nd->rtt_ms >= 0)
			rtt[nrtt++] = nd->rtt_ms;
	}
	if (s->nversion) /* qsort wants a real array even for none */
		qsort(s->by_version, s->nversion, sizeof *s->by_version, tally_cmp);
	if (s->nagent)
		qsort(s->by_agent, s->nagent, sizeof *s->by_agent, tally_cmp);
	if (s->ngroup)
		qsort(s->by_group, s->ngroup, sizeof *s->by_group, tally_cmp);
	if (nrtt) {
		qsort(rtt, nrtt, sizeof *rtt, i64_cmp);
		/* nearest rank: the smallest value with at least p% at or below it */
		s->rtt_p50 = rtt[(nrtt * 50 + 99) / 100 - 1];
		s->rtt_p90 = rtt[(nrtt * 90 + 99) / 100 - 1];
		s->rtt_p99 = rtt[(nrtt * 99 + 99) / 100 - 1];
	}
	free(rtt);
	return 0;
}

void st_crawl_summary_clear(struct st_crawl_summary *s)
{
	free(s->by_version);
	free(s->by_agent);
	free(s->by_group);
	memset(s, 0, sizeof *s);
}
