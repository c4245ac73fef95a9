/* crawl.c - one crawl run: breadth first over the dialer, GetPeers until nothing new. */
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "st/crawl.h"
#include "st/engine.h"

/* A node whose answer was full: asked again once due, excluding what it gave. */
struct reask {
	struct st_endpoint ep;
	int64_t due_ms;
	struct st_endpoint *given;  /* every endpoint it offered this run, at most ST_PEERS_MAX */
	size_t ngiven;
	size_t learned;             /* new endpoints from its answers so far */
	char previous_id[ST_NODE_ID_MAX + 1]; /* TLS: told at the first answer, reported at the end */
};

/* An endpoint to dial, with the id it must prove (a seed's "ID@"), or NULL. */
struct qent {
	struct st_endpoint ep;
	const char *pin;
};

struct run {
	struct st_crawl_state *cs;
	const struct st_crawl_opts *o;
	struct st_crawl_counts *c;
	uint32_t id;
	int64_t now;               /* st_now() at the start: the run's clock for the state */
	int64_t start_ms, last_commit_ms;
	struct qent *q;            /* the breadth-first queue */
	size_t qhead, qn, qcap;
	struct reask *ra;
	size_t nra, capra;
	size_t *tried;             /* node indexes tried since the last commit */
	size_t ntried, captried;
	bool failed;               /* memory or the state could not be written */
	bool stopped, timed_out;
	struct st_err *err;
	/* the engine: one loop, one dialer for the walk, one per re-ask (its own exclusions) */
	struct event_base *base;
	struct st_dialer *d;
	struct st_dialer **asks;
	size_t nasks, capasks;
	struct event *ask_timer;
	size_t fed;                /* endpoints handed to d */
};

static void feed(struct run *r);

static bool in_scope(const struct run *r, const struct st_endpoint *ep)
{
	return ep->port && (r->o->allow_private || st_endpoint_is_routable(ep));
}

/* Never tried, or tried longer ago than the retest interval. */
static bool due(const struct run *r, const struct st_crawl_node *nd)
{
	return !nd->last_try || r->now - nd->last_try >= r->o->retest_ms / 1000;
}

static int push(struct run *r, struct st_crawl_node *nd, const char *pin)
{
	if (nd->run_ == r->id)
		return 0;
	if (r->qn == r->qcap) {
		size_t cap = r->qcap ? r->qcap * 2 : 1024;
		struct qent *q = realloc(r->q, cap * sizeof *q);
		if (!q)
			return -1;
		r->q = q;
		r->qcap = cap;
	}
	nd->run_ = r->id;
	r->q[r->qn++] = (struct qent){nd->ep, pin && *pin ? pin : NULL};
	r->c->found++;
	return 0;
}

static struct reask *find_reask(struct run *r, const struct st_endpoint *ep)
{
	for (size_t i = 0; r->ra && i < r->nra; i++)
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

static void report(struct run *r, const struct st_crawl_node *nd, const char *error, size_t learned,
                   const char *previous_id)
{
	if (r->o->report)
		r->o->report(r->o->ctx, &(struct st_crawl_report){nd, error, learned,
		                                                   previous_id && *previous_id ? previous_id : NULL});
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
	const struct st_hello *h = res->remote;
	int64_t now = st_now();
	/* under TLS the id is the one the certificate proved (equal to the claim
	 * on success: a mismatch ends the connection) */
	struct st_crawl_try t = {res->status, res->verified_id ? res->verified_id : h ? h->node_id : NULL,
	                         h ? h->version : 0, h && h->has_services ? h->services : 0,
	                         h ? h->user_agent : NULL, res->rtt_ms, res->verified_id != NULL};
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
		if (due(r, pn) && push(r, pn, NULL) < 0) {
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
		if (res->previous_id)
			st_strlcpy(ra->previous_id, res->previous_id, sizeof ra->previous_id);
		ra->due_ms = st_monotonic_ms() + r->o->ask_interval_ms;
		ra->learned = learned;
		return; /* reported once the asking is over */
	}
	char prev[ST_NODE_ID_MAX + 1];
	st_strlcpy(prev, res->previous_id ? res->previous_id : ra ? ra->previous_id : "", sizeof prev);
	if (ra)
		drop_reask(r, ra);
	report(r, nd, res->error, learned, prev);
	if (st_monotonic_ms() - r->last_commit_ms >= r->o->commit_every_ms && commit(r) < 0)
		r->failed = true;
}

/* Called for every result: the new endpoints it queued go to the dialer. */
static void on_dial_result(void *ctx, const struct st_dial_result *res)
{
	struct run *r = ctx;
	on_result(r, res);
	feed(r);
	if (r->o->progress)
		r->o->progress(r->o->ctx, r->c->tried, r->c->found, r->c->reachable);
	if (r->failed)
		event_base_loopbreak(r->base);
}

/* Hands the queue to the dialer, keeping its own queue short so that the
 * breadth-first order and the --max-nodes count stay here. */
static void feed(struct run *r)
{
	while (!r->failed && r->qhead < r->qn && st_dialer_queued(r->d) < r->o->jobs &&
	       (!r->o->max_nodes || r->fed < r->o->max_nodes)) {
		if (st_dialer_add(r->d, &r->q[r->qhead].ep, r->q[r->qhead].pin, r->err) < 0) {
			r->failed = true;
			return;
		}
		r->qhead++;
		r->fed++;
	}
}

static bool asks_busy(const struct run *r)
{
	for (size_t i = 0; i < r->nasks; i++)
		if (!st_dialer_idle(r->asks[i]))
			return true;
	return false;
}

/* A dialer ran dry: more to dial, a re-ask to wait for, or the run is over. */
static void on_idle(void *ctx, struct st_dialer *d)
{
	(void)d;
	struct run *r = ctx;
	feed(r);
	if (r->failed) {
		event_base_loopbreak(r->base);
		return;
	}
	if (!st_dialer_idle(r->d) || asks_busy(r))
		return;
	int64_t now = st_monotonic_ms(), next = INT64_MAX;
	for (size_t i = 0; i < r->nra; i++)
		if (r->ra[i].due_ms < next)
			next = r->ra[i].due_ms;
	if (next == INT64_MAX) {
		event_base_loopbreak(r->base);
		return;
	}
	if (r->o->max_time_ms && next > r->start_ms + r->o->max_time_ms) {
		r->timed_out = true; /* the next ask would come after the end */
		event_base_loopbreak(r->base);
		return;
	}
	int64_t wait = next > now ? next - now : 0;
	struct timeval tv = {(time_t)(wait / 1000), (suseconds_t)(wait % 1000) * 1000};
	if (event_add(r->ask_timer, &tv) < 0) {
		r->failed = true;
		st_err_set(r->err, ST_EX_SOFTWARE, "out of memory");
		event_base_loopbreak(r->base);
	}
}

/* Trust on first use: the id this endpoint proved before, from the state. */
static const char *known_id(void *ctx, const struct st_endpoint *ep)
{
	struct run *r = ctx;
	const struct st_crawl_node *nd = st_crawl_find(r->cs, ep);
	return nd && nd->verified && nd->node_id[0] ? nd->node_id : NULL;
}

static struct st_dialer_opts dialer_opts(struct run *r)
{
	return (struct st_dialer_opts){
		.jobs = r->o->jobs,
		.timeout_ms = r->o->timeout_ms,
		.ping = true,
		.getpeers = r->o->getpeers,
		.local = r->o->local,
		.tls = r->o->tls,
		.strict = r->o->strict,
		.known_id = known_id,
		.ctx = r,
		.result = on_dial_result,
		.idle = on_idle,
	};
}

/* The re-asks that are due: a dialer each, excluding what the node gave. */
static void on_ask_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct run *r = arg;
	/* dialers of earlier asks that are done: not inside their callbacks here */
	size_t k = 0;
	for (size_t i = 0; i < r->nasks; i++) {
		if (st_dialer_idle(r->asks[i]))
			st_dialer_free(r->asks[i]);
		else
			r->asks[k++] = r->asks[i];
	}
	r->nasks = k;
	int64_t now = st_monotonic_ms();
	for (size_t i = 0; i < r->nra && !r->failed; i++) {
		struct reask *ra = &r->ra[i];
		if (ra->due_ms > now)
			continue;
		if (r->nasks == r->capasks) {
			size_t cap = r->capasks ? r->capasks * 2 : 8;
			struct st_dialer **v = realloc(r->asks, cap * sizeof *v);
			if (!v) {
				r->failed = true;
				st_err_set(r->err, ST_EX_SOFTWARE, "out of memory");
				break;
			}
			r->asks = v;
			r->capasks = cap;
		}
		struct st_dialer_opts o = dialer_opts(r);
		o.jobs = 1;
		o.exclude = ra->given;
		o.nexclude = ra->ngiven;
		struct st_dialer *d;
		if (st_dialer_new(&d, r->base, &o, r->err) < 0) {
			r->failed = true;
			break;
		}
		r->asks[r->nasks++] = d;
		/* within a run a node asked again must be the one that answered first */
		const char *pin = known_id(r, &ra->ep);
		if (st_dialer_add(d, &ra->ep, r->o->tls ? pin : NULL, r->err) < 0) {
			r->failed = true;
			break;
		}
		ra->due_ms = INT64_MAX; /* in flight: its answer drops or renews the entry */
	}
	if (r->failed)
		event_base_loopbreak(r->base);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct run *r = arg;
	r->stopped = true;
	event_base_loopbreak(r->base);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct run *r = arg;
	r->timed_out = true;
	event_base_loopbreak(r->base);
}

/* The loop of one run: the dialer, its re-asks, the stop descriptor and the deadline. */
static int run_loop(struct run *r)
{
	struct event *stop = NULL, *deadline = NULL;
	int rc = 0;
	r->base = event_base_new();
	struct st_dialer_opts o = dialer_opts(r);
	if (!r->base || st_dialer_new(&r->d, r->base, &o, r->err) < 0) {
		if (!r->base)
			st_err_set(r->err, ST_EX_SOFTWARE, "out of memory");
		rc = -1;
		goto out;
	}
	r->ask_timer = evtimer_new(r->base, on_ask_timer, r);
	if (r->o->stop_fd > 0)
		stop = event_new(r->base, r->o->stop_fd, EV_READ, on_stop, r);
	if (r->o->max_time_ms)
		deadline = evtimer_new(r->base, on_deadline, r);
	struct timeval tv = {(time_t)(r->o->max_time_ms / 1000),
	                     (suseconds_t)(r->o->max_time_ms % 1000) * 1000};
	if (!r->ask_timer || (r->o->stop_fd > 0 && (!stop || event_add(stop, NULL) < 0)) ||
	    (r->o->max_time_ms && (!deadline || evtimer_add(deadline, &tv) < 0))) {
		rc = st_err_set(r->err, ST_EX_SOFTWARE, "out of memory");
		goto out;
	}
	feed(r);
	if (!r->failed && !st_dialer_idle(r->d))
		event_base_dispatch(r->base);
out:
	/* dials still in flight end unreported: their nodes keep their old state */
	for (size_t i = 0; i < r->nasks; i++)
		st_dialer_free(r->asks[i]);
	free(r->asks);
	st_dialer_free(r->d);
	if (r->ask_timer)
		event_free(r->ask_timer);
	if (stop)
		event_free(stop);
	if (deadline)
		event_free(deadline);
	if (r->base)
		event_base_free(r->base);
	return rc;
}

static int start(struct run *r, const struct st_endpoint *seeds, size_t nseeds)
{
	struct st_crawl_state *cs = r->cs;
	for (size_t i = 0; i < nseeds; i++) {
		bool added;
		struct st_crawl_node *nd = st_crawl_add(cs, &seeds[i], r->now, &added);
		if (!nd || push(r, nd, r->o->seed_ids ? r->o->seed_ids[i] : NULL) < 0)
			return st_err_set(r->err, ST_EX_SOFTWARE, "out of memory");
		r->c->learned += added;
	}
	/* the frontier first (breadth first: what the last run learned), then the due */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < cs->n; i++) {
			struct st_crawl_node *nd = &cs->v[i];
			bool want = pass == 0 ? !nd->last_try : nd->last_try && due(r, nd);
			if (want && in_scope(r, &nd->ep) && push(r, nd, NULL) < 0)
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
	int rc = start(&r, seeds, nseeds);
	if (rc == 0 && run_loop(&r) < 0)
		rc = -1;
	if (r.failed)
		rc = -1;
	counts->timed_out = r.timed_out;
	counts->interrupted = r.stopped;
	/* nodes still waiting to be asked again are reported as they stand */
	for (size_t i = 0; i < r.nra; i++) {
		struct st_crawl_node *nd = st_crawl_find(cs, &r.ra[i].ep);
		if (nd && rc == 0)
			report(&r, nd, NULL, r.ra[i].learned, r.ra[i].previous_id);
		free(r.ra[i].given);
	}
	/* what was queued but not dialed stays in the frontier only if never tried */
	if (commit(&r) < 0 && rc == 0)
		rc = -1;
	for (size_t i = 0; i < cs->n; i++)
		counts->frontier += !cs->v[i].last_try;
	counts->elapsed_ms = st_monotonic_ms() - r.start_ms;
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
