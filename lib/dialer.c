/* dialer.c - many endpoints on one loop, jobs at a time; endpoints may be added while it runs. */
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "st/engine.h"

/* An endpoint waiting for a job. The expected id is rare: kept only when given. */
struct queued {
	struct st_endpoint ep;
	char *expected_id;
	size_t index;
};

struct dial {
	struct st_dialer *d;
	struct dial *prev, *next;   /* the dials in flight */
	struct queued q;
	struct st_conn *c;
	enum { WAIT_HANDSHAKE, WAIT_PONG, WAIT_PEERS } step;
	int64_t rtt_ms;
	const struct st_endpoint *peers;
	size_t npeers, npeers_sent;
};

struct st_dialer {
	struct event_base *base;
	struct st_dialer_opts o;
	struct st_endpoint *exclude;  /* our copy of o.exclude */
	struct queued *queue;         /* waiting: queue[head..n) */
	size_t head, n, cap;
	size_t added, done, running;
	long ok;
	struct dial *dials;
	struct event *kick;           /* starts dials from the loop */
	struct event *later;          /* kicks again once a spent budget had time to drain */
	struct st_budget budget;      /* what every dial holds, against o.max_memory */
	struct st_endpoint source;    /* our copy of *o.source */
	bool idle_told;
};

static void kick(struct st_dialer *d)
{
	event_active(d->kick, EV_TIMEOUT, 1);
}

static void unlink_dial(struct dial *x)
{
	struct st_dialer *d = x->d;
	if (x->prev)
		x->prev->next = x->next;
	else
		d->dials = x->next;
	if (x->next)
		x->next->prev = x->prev;
	d->running--;
}

static void report(struct st_dialer *d, struct dial *x, enum st_status status, const char *error)
{
	const struct st_session *s = x->c ? st_conn_session(x->c) : NULL;
	struct st_dial_result r = {
		.ep = &x->q.ep,
		.index = x->q.index,
		.expected_id = x->q.expected_id,
		.status = status,
		.error = error && *error ? error : NULL,
		.remote = x->c && st_conn_handshaken(x->c) ? s->remote : NULL,
		.rtt_ms = x->rtt_ms,
		.peers = x->peers,
		.npeers = x->npeers,
		.npeers_sent = x->npeers_sent,
		.verified_id = x->c && st_conn_verified_id(x->c)[0] ? st_conn_verified_id(x->c) : NULL,
		.previous_id = x->c && st_conn_previous_id(x->c)[0] ? st_conn_previous_id(x->c) : NULL,
	};
	if (status == ST_STATUS_OK)
		d->ok++;
	d->done++;
	if (d->o.result)
		d->o.result(d->o.ctx, &r);
	if (d->o.progress)
		d->o.progress(d->o.ctx, d->done, d->added, d->ok);
}

static void dial_free(struct dial *x)
{
	free(x->q.expected_id);
	free(x);
}

/* After the handshake: ping, then getpeers, then done. */
static void next_step(struct dial *x)
{
	const struct st_dialer_opts *o = &x->d->o;
	if (o->ping && x->step < WAIT_PONG) {
		x->step = WAIT_PONG;
		if (st_conn_ping(x->c) == 0)
			return;
	}
	if (o->getpeers && x->step < WAIT_PEERS) {
		x->step = WAIT_PEERS;
		if (st_conn_getpeers(x->c, o->getpeers, x->d->exclude, o->nexclude) == 0)
			return;
	}
	st_conn_close(x->c, ST_STATUS_OK, NULL);
}

static void on_event(void *ctx, struct st_conn *c, struct st_session_event *ev)
{
	struct dial *x = ctx;
	const struct st_dialer_opts *o = &x->d->o;
	switch (ev->kind) {
	case ST_EV_HANDSHAKE:
		if (o->banned_id && o->banned_id(o->ctx, st_conn_session(c)->remote->node_id)) {
			st_conn_close(c, ST_STATUS_BANNED, "the node id is banned");
			return;
		}
		next_step(x);
		break;
	case ST_EV_PONG:
		x->rtt_ms = ev->rtt_ms;
		if (x->step == WAIT_PONG)
			next_step(x);
		break;
	case ST_EV_PEERS:
		/* a peer may send more than asked: what it sent past that is not ours to keep */
		x->peers = ev->peers;
		x->npeers_sent = ev->npeers;
		x->npeers = o->getpeers > 0 && ev->npeers > (size_t)o->getpeers ? (size_t)o->getpeers
		                                                                : ev->npeers;
		if (x->step == WAIT_PEERS)
			next_step(x);
		break;
	default:
		break;
	}
}

static void on_timeout(void *ctx, struct st_conn *c)
{
	const struct st_session *s = st_conn_session(c);
	const struct dial *x = ctx;
	if (!st_conn_connected(c))
		st_conn_close(c, ST_STATUS_TIMEOUT, x->d->o.tls ? "no answer to connect or TLS handshake"
		                                                : "no answer to connect");
	else
		st_conn_close(c, ST_STATUS_TIMEOUT, !st_conn_handshaken(c) ? "no handshake"
		                                    : s->ping_pending   ? "no pong"
		                                                        : "no peers");
}

static void on_closed(void *ctx, struct st_conn *c, enum st_status status, const char *error)
{
	(void)c;
	struct dial *x = ctx;
	struct st_dialer *d = x->d;
	unlink_dial(x);
	report(d, x, status, error);
	dial_free(x);
	kick(d);
}

static const struct st_conn_cbs dial_cbs = {
	.event = on_event,
	.timeout = on_timeout,
	.closed = on_closed,
};

static void start(struct st_dialer *d, const struct queued *q)
{
	struct dial *x = calloc(1, sizeof *x);
	struct st_err err = {0};
	if (!x) {
		struct dial tmp = {.d = d, .q = *q, .rtt_ms = -1};
		report(d, &tmp, ST_STATUS_UNREACHABLE, "out of memory");
		free(q->expected_id);
		return;
	}
	x->d = d;
	x->q = *q;
	x->rtt_ms = -1;
	struct st_conn_opts co = {
		.local = &d->o.local,
		.max_frame = ST_FRAME_MAX,
		.tls = d->o.tls,
		.expected_id = q->expected_id,
		.known_id = d->o.tls && d->o.known_id ? d->o.known_id(d->o.ctx, &q->ep) : NULL,
		.strict = d->o.strict,
		.budget = &d->budget,
		.source = d->o.source,
	};
	if (st_conn_dial(&x->c, d->base, &q->ep, &co, &dial_cbs, x, &err) < 0) {
		x->c = NULL;
		report(d, x, ST_STATUS_UNREACHABLE, err.msg[0] ? err.msg : "out of memory or descriptors");
		dial_free(x);
		return;
	}
	x->next = d->dials;
	if (d->dials)
		d->dials->prev = x;
	d->dials = x;
	d->running++;
	st_conn_set_timeout(x->c, d->o.timeout_ms);
}

static void on_kick(evutil_socket_t fd, short what, void *ctx)
{
	(void)fd;
	(void)what;
	struct st_dialer *d = ctx;
	uint32_t jobs = d->o.jobs ? d->o.jobs : 1;
	if (d->budget.limit && d->budget.used > d->budget.limit && d->head < d->n) {
		/* the dials in flight hold all we allow: none starts before some drain */
		struct timeval tv = {0, 50 * 1000};
		evtimer_add(d->later, &tv);
		return;
	}
	while (d->running < jobs && d->head < d->n) {
		struct queued q = d->queue[d->head++];
		start(d, &q);
	}
	if (d->head == d->n)
		d->head = d->n = 0;
	if (st_dialer_idle(d) && !d->idle_told && d->added) {
		d->idle_told = true;
		if (d->o.idle)
			d->o.idle(d->o.ctx, d);
	}
}

int st_dialer_new(struct st_dialer **out, struct event_base *base, const struct st_dialer_opts *o,
                  struct st_err *err)
{
	struct st_dialer *d = calloc(1, sizeof *d);
	if (!d)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	d->base = base;
	d->o = *o;
	d->o.nexclude = o->nexclude > 1000 ? 1000 : o->nexclude;
	if (d->o.nexclude) {
		d->exclude = malloc(d->o.nexclude * sizeof *d->exclude);
		if (d->exclude)
			memcpy(d->exclude, o->exclude, d->o.nexclude * sizeof *d->exclude);
	}
	d->o.exclude = d->exclude;
	if (o->source) {
		d->source = *o->source;
		d->o.source = &d->source;
	}
	d->kick = event_new(base, -1, 0, on_kick, d);
	d->later = evtimer_new(base, on_kick, d);
	d->budget.limit = o->max_memory;
	if (!d->kick || !d->later || (d->o.nexclude && !d->exclude)) {
		st_dialer_free(d);
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	}
	*out = d;
	return 0;
}

long st_dialer_add(struct st_dialer *d, const struct st_endpoint *ep, const char *expected_id,
                   struct st_err *err)
{
	if (d->o.max_queued && d->n - d->head >= d->o.max_queued)
		return st_err_set(err, ST_EX_TEMPFAIL, "%zu endpoints already queued", d->n - d->head);
	if (expected_id && *expected_id && !st_node_id_valid(expected_id, strlen(expected_id)))
		return st_err_set(err, ST_EX_DATAERR, "'%s': not a node id", expected_id);
	if (d->n == d->cap) {
		/* what was dialed already makes room first */
		if (d->head) {
			memmove(d->queue, d->queue + d->head, (d->n - d->head) * sizeof *d->queue);
			d->n -= d->head;
			d->head = 0;
		}
		if (d->n == d->cap) {
			size_t cap = d->cap ? d->cap * 2 : 64;
			struct queued *nq = realloc(d->queue, cap * sizeof *nq);
			if (!nq)
				return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
			d->queue = nq;
			d->cap = cap;
		}
	}
	struct queued *q = &d->queue[d->n];
	q->ep = *ep;
	q->index = d->added;
	q->expected_id = NULL;
	if (expected_id && *expected_id && !(q->expected_id = strdup(expected_id)))
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	d->n++;
	d->added++;
	d->idle_told = false;
	kick(d);
	return (long)q->index;
}

const struct st_budget *st_dialer_budget(const struct st_dialer *d)
{
	return &d->budget;
}

size_t st_dialer_running(const struct st_dialer *d)
{
	return d->running;
}

size_t st_dialer_queued(const struct st_dialer *d)
{
	return d->n - d->head;
}

bool st_dialer_idle(const struct st_dialer *d)
{
	return d->running == 0 && d->n == d->head;
}

size_t st_dialer_done(const struct st_dialer *d)
{
	return d->done;
}

long st_dialer_ok(const struct st_dialer *d)
{
	return d->ok;
}

void st_dialer_free(struct st_dialer *d)
{
	if (!d)
		return;
	for (struct dial *x = d->dials, *next; x; x = next) {
		next = x->next;
		st_conn_free(x->c);
		dial_free(x);
	}
	for (size_t i = d->head; i < d->n; i++)
		free(d->queue[i].expected_id);
	free(d->queue);
	free(d->exclude);
	if (d->kick)
		event_free(d->kick);
	if (d->later)
		event_free(d->later);
	free(d);
}
