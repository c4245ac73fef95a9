/* listener.c - accepted connections on the engine's connection type: limits, bans, GetPeers. */
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "st/config.h"
#include "st/engine.h"
#include "st/evict.h"
#include "st/map.h"
#include "st/util.h"

struct inbound {
	struct st_listener *l;
	struct inbound *prev, *next;
	struct st_conn *c;
	int64_t start_ms;
	uint32_t getpeers;
	uint64_t ip_key;               /* its address's entry in per_ip */
	bool was_ready;
};

struct st_listener {
	struct event_base *base;
	struct st_listener_opts o;     /* o.local.listen_port: the port we really bound first */
	struct evconnlistener *lev[ST_BIND_MAX];
	size_t nlev;
	struct inbound *conns;
	size_t nconns;
	struct st_ratelimit *rl;
	uint64_t evict_key;            /* which groups eviction protects: random per listener */
	struct st_map per_ip;          /* address (keyed hash, no port) -> its connections: an
	                                * accept looks its count up instead of walking them all */
	struct st_budget budget;       /* what every session holds, against o.max_memory */
	struct st_listener_stats st;   /* counted as it goes; open and memory filled when asked */
};

static void report(struct st_listener *l, const struct st_inbound *in)
{
	if ((unsigned)in->status < ST_STATUS__COUNT)
		l->st.sessions[in->status]++;
	if (l->o.session)
		l->o.session(l->o.ctx, in);
}

static void arm(struct inbound *x)
{
	const struct st_session *s = st_conn_session(x->c);
	st_conn_set_timeout(x->c, s->state == ST_SESS_READY ? x->l->o.idle_timeout_ms
	                                                    : x->l->o.handshake_timeout_ms);
}

static void on_event(void *ctx, struct st_conn *c, struct st_session_event *ev)
{
	struct inbound *x = ctx;
	struct st_listener *l = x->l;
	const struct st_endpoint *ep = st_conn_endpoint(c);
	const struct st_session *s = st_conn_session(c);
	char what[400], name[16];
	switch (ev->kind) {
	case ST_EV_HANDSHAKE: {
		struct st_endpoint at = *ep; /* where the peer says it listens */
		at.port = s->remote->listen_port;
		/* refused at the handshake: no HandshakeAck for a banned peer */
		if (l->o.banned_peer && l->o.banned_peer(l->o.ctx, s->remote->node_id, at.port ? &at : NULL)) {
			l->st.banned_handshake++;
			st_conn_close(c, ST_STATUS_BANNED, "the node id or its endpoint is banned");
		} else {
			l->st.handshakes++;
		}
		break;
	}
	case ST_EV_GETPEERS:
		x->getpeers++;
		ev->nreply = 0;
		if (!l->o.getpeers)
			break;
		if (st_ratelimit_allow(l->rl, ep, st_now())) {
			l->st.getpeers_served++;
			ev->nreply = l->o.getpeers(l->o.ctx, ep, ev->getpeers, ev->reply,
			                           (size_t)ev->getpeers->max_count);
		} else {
			l->st.getpeers_limited++;
		}
		break;
	case ST_EV_OTHER:
		if (l->o.message) {
			snprintf(what, sizeof what, "%s (%zu bytes) not served",
			         st_msg_name(ev->type, name, sizeof name), ev->length);
			l->o.message(l->o.ctx, ep, what);
		}
		break;
	case ST_EV_ERROR_MSG:
		if (l->o.message) {
			snprintf(what, sizeof what, "Error: %s", ev->text);
			l->o.message(l->o.ctx, ep, what);
		}
		break;
	default:
		break;
	}
}

/* Any bytes reset the idle clock once the handshake is done; before it, only
 * the handshake itself moves the deadline (a trickle of bytes does not). */
static void on_input(void *ctx, struct st_conn *c)
{
	struct inbound *x = ctx;
	bool ready = st_conn_session(c)->state == ST_SESS_READY;
	if (ready || ready != x->was_ready)
		arm(x);
	x->was_ready = ready;
}

static void on_timeout(void *ctx, struct st_conn *c)
{
	(void)ctx;
	bool idle = st_conn_session(c)->state == ST_SESS_READY;
	st_conn_close(c, idle ? ST_STATUS_IDLE : ST_STATUS_TIMEOUT,
	              idle ? "idle timeout" : "no handshake in time");
}

static void on_closed(void *ctx, struct st_conn *c, enum st_status status, const char *error)
{
	struct inbound *x = ctx;
	struct st_listener *l = x->l;
	const struct st_session *s = st_conn_session(c);
	struct st_inbound in = {
		.ep = st_conn_endpoint(c),
		.remote = s->remote && (st_conn_handshaken(c) || s->remote->node_id[0]) ? s->remote : NULL,
		.status = status,
		.error = error,
		.duration_ms = st_monotonic_ms() - x->start_ms,
		.getpeers = x->getpeers,
		.verified_id = st_conn_verified_id(c)[0] ? st_conn_verified_id(c) : NULL,
	};
	report(l, &in);
	uint32_t k = 0;
	st_map_get64(&l->per_ip, x->ip_key, &k);
	if (k > 1)
		st_map_put64(&l->per_ip, x->ip_key, k - 1); /* no growth: the entry is there */
	else
		st_map_del64(&l->per_ip, x->ip_key);
	if (x->prev)
		x->prev->next = x->next;
	else
		l->conns = x->next;
	if (x->next)
		x->next->prev = x->prev;
	l->nconns--;
	free(x);
}

static const struct st_conn_cbs in_cbs = {
	.event = on_event,
	.input = on_input,
	.timeout = on_timeout,
	.closed = on_closed,
};

/*
 * Full: closes the connection Bitcoin Core's inbound eviction would (evict.h) - from the
 * most crowded network group, never one of the protected - telling it why. True when
 * one was closed (its slot is free), false when every one is protected.
 */
static bool evict_one(struct st_listener *l)
{
	struct st_evict_cand *c = malloc((l->nconns ? l->nconns : 1) * sizeof *c);
	struct inbound **by_slot = malloc((l->nconns ? l->nconns : 1) * sizeof *by_slot);
	bool done = false;
	if (c && by_slot) {
		size_t n = 0;
		for (struct inbound *x = l->conns; x; x = x->next, n++) {
			by_slot[n] = x;
			c[n] = (struct st_evict_cand){n, st_endpoint_group_key(st_conn_endpoint(x->c)),
			                              x->start_ms, st_conn_rtt_us(x->c)};
		}
		long v = st_evict_pick(c, n, l->evict_key);
		if (v >= 0) {
			st_conn_close_telling(by_slot[v]->c, ST_STATUS_REFUSED_LIMIT,
			                      "evicted: the listener is full and your network has the most "
			                      "connections");
			l->st.evicted++;
			done = true;
		}
	}
	free(c);
	free(by_slot);
	return done;
}

/*
 * Over the memory budget with a newcomer at the door: the budget goes to whoever holds the
 * most, which an honest peer exchanging small frames never does. Closes the heaviest
 * connections holding more than one read (ST_CONN_IN_MAX) each, telling each why, until
 * the total is under the limit. True when it is (the newcomer is taken), false when what
 * is left is spread over light connections (the newcomer is refused).
 */
static bool shed_heaviest(struct st_listener *l)
{
	/* each pass closes one; a pass is a walk of the list, at most nconns passes */
	for (size_t pass = l->nconns; pass > 0 && l->budget.used > l->budget.limit; pass--) {
		struct inbound *heavy = NULL;
		size_t most = ST_CONN_IN_MAX;
		for (struct inbound *x = l->conns; x; x = x->next) {
			size_t h = st_conn_held(x->c);
			if (h > most) {
				most = h;
				heavy = x;
			}
		}
		if (!heavy)
			break;
		char why[160];
		snprintf(why, sizeof why, "evicted: the listener's memory budget is spent and this "
		         "connection holds the most (%zu bytes)", most);
		l->budget.shed++;
		st_conn_close_telling(heavy->c, ST_STATUS_REFUSED_LIMIT, why);
	}
	return l->budget.used <= l->budget.limit;
}

/* Tells a refused peer why in an Error message, if its socket takes it at once. */
static void tell(struct st_listener *l, evutil_socket_t fd, const char *why)
{
	struct st_buf b;
	st_buf_init(&b, 1024);
	/* a send that fails: nobody to tell, the close says enough */
	if (st_wire_frame(&b, ST_MSG_ERROR, why, strlen(why), NULL) == 0) {
		ssize_t sent = send(fd, b.data, b.len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (sent > 0)
			l->st.traffic.out += (uint64_t)sent;
	}
	st_buf_clear(&b);
}

/* The per_ip key of ep's address: its bytes and family, not its port, hashed with the
 * listener's random key (a peer cannot aim two addresses at one count). */
static uint64_t ip_key_of(const struct st_listener *l, const struct st_endpoint *ep)
{
	uint8_t k[17];
	memcpy(k, ep->addr, 16);
	k[16] = ep->family;
	return st_hash64(k, sizeof k, l->evict_key);
}

static void on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *ctx)
{
	(void)lev;
	(void)salen;
	struct st_listener *l = ctx;
	struct st_endpoint ep;
	if (st_endpoint_from_sockaddr(&ep, sa, NULL) < 0) {
		evutil_closesocket(fd);
		return;
	}
	l->st.accepted++;
	/* the refusals that cost nobody else anything come first: a banned address, or one
	 * over its own limit, never makes the listener close another peer's connection */
	if (l->o.banned_addr && l->o.banned_addr(l->o.ctx, &ep)) {
		l->st.banned_accept++;
		evutil_closesocket(fd);
		report(l, &(struct st_inbound){.ep = &ep, .status = ST_STATUS_BANNED,
		                               .error = "the address is banned"});
		return;
	}
	const char *refuse = NULL;
	char busy[128];
	uint32_t same = 0;
	uint64_t ip_key = ip_key_of(l, &ep);
	st_map_get64(&l->per_ip, ip_key, &same);
	if (same >= l->o.max_per_ip) {
		refuse = "too many connections from this address";
		l->st.refused_per_ip++;
	} else if (l->nconns >= l->o.max_conns && !evict_one(l)) {
		refuse = "too many connections";
		l->st.refused_full++;
	} else if (l->budget.limit && l->budget.used > l->budget.limit && !shed_heaviest(l)) {
		/* no room to hold another peer's frames: say so rather than reset it */
		snprintf(busy, sizeof busy, "busy: the listener's memory budget (%zu bytes) is spent",
		         l->budget.limit);
		refuse = busy;
		l->st.refused_memory++;
	}
	if (refuse) {
		tell(l, fd, refuse);
		evutil_closesocket(fd);
		report(l, &(struct st_inbound){.ep = &ep, .status = ST_STATUS_REFUSED_LIMIT, .error = refuse});
		return;
	}
	same = 0; /* what an eviction or a shed just closed may have been from this address */
	st_map_get64(&l->per_ip, ip_key, &same);
	struct inbound *x = calloc(1, sizeof *x);
	struct st_err err = {0};
	struct st_conn_opts co = {.local = &l->o.local, .max_frame = l->o.max_frame, .tls = l->o.tls,
	                          .budget = &l->budget, .traffic = &l->st.traffic};
	if (!x) {
		evutil_closesocket(fd);
		report(l, &(struct st_inbound){.ep = &ep, .status = ST_STATUS_REFUSED_LIMIT,
		                               .error = "out of memory"});
		return;
	}
	x->l = l;
	x->start_ms = st_monotonic_ms();
	x->ip_key = ip_key;
	if (st_map_put64(&l->per_ip, ip_key, same + 1) < 0) {
		free(x);
		evutil_closesocket(fd);
		report(l, &(struct st_inbound){.ep = &ep, .status = ST_STATUS_REFUSED_LIMIT,
		                               .error = "out of memory"});
		return;
	}
	if (st_conn_accept(&x->c, l->base, fd, &ep, &co, &in_cbs, x, &err) < 0) {
		if (same)
			st_map_put64(&l->per_ip, ip_key, same);
		else
			st_map_del64(&l->per_ip, ip_key);
		free(x);
		report(l, &(struct st_inbound){.ep = &ep, .status = ST_STATUS_REFUSED_LIMIT,
		                               .error = err.msg});
		return;
	}
	x->next = l->conns;
	if (l->conns)
		l->conns->prev = x;
	l->conns = x;
	l->nconns++;
	arm(x);
}

int st_listener_new(struct st_listener **out, struct event_base *base,
                    const struct st_listener_opts *o, struct st_err *err)
{
	struct st_listener *l = calloc(1, sizeof *l);
	if (!l || !(l->rl = malloc(sizeof *l->rl))) {
		free(l);
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	}
	l->base = base;
	l->o = *o;
	st_ratelimit_init(l->rl, o->getpeers_interval);
	l->budget.limit = o->max_memory;
	st_map_init(&l->per_ip);
	if (getrandom(&l->evict_key, sizeof l->evict_key, 0) != (ssize_t)sizeof l->evict_key)
		l->evict_key = (uint64_t)st_monotonic_ms() * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)l;
	*out = l;
	return 0;
}

/* "ADDR:PORT" with a port that may be 0. */
static int parse_bind(const char *text, struct st_endpoint *ep, struct st_err *err)
{
	const char *colon = strrchr(text, ':');
	if (!colon)
		return st_err_set(err, ST_EX_USAGE, "'%s': expected ADDR:PORT", text);
	if (st_addr_parse(ep, text, (size_t)(colon - text), err) < 0)
		return st_err_prefix(err, "'%s'", text);
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || port < 0 || port > 65535)
		return st_err_set(err, ST_EX_USAGE, "'%s': bad port", text);
	ep->port = (uint16_t)port;
	return 0;
}

int st_listener_bind(struct st_listener *l, const char *addr_port, struct st_endpoint *bound,
                     struct st_err *err)
{
	struct st_endpoint ep = {0};
	struct sockaddr_storage ss;
	socklen_t len;
	if (l->nlev == ST_BIND_MAX)
		return st_err_set(err, ST_EX_USAGE, "at most %d bind addresses", ST_BIND_MAX);
	if (parse_bind(addr_port, &ep, err) < 0)
		return -1;
	st_endpoint_to_sockaddr(&ep, &ss, &len);
	struct evconnlistener *lev = evconnlistener_new_bind(
		l->base, on_accept, l, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
		1024, (struct sockaddr *)&ss, (int)len);
	if (!lev)
		return st_err_sys(err, ST_EX_UNAVAILABLE, "cannot listen on '%s'", addr_port);
	struct sockaddr_storage got;
	socklen_t glen = sizeof got;
	if (getsockname(evconnlistener_get_fd(lev), (struct sockaddr *)&got, &glen) == 0)
		st_endpoint_from_sockaddr(&ep, (struct sockaddr *)&got, NULL);
	if (l->nlev == 0)
		l->o.local.listen_port = ep.port; /* what peers should dial back */
	l->lev[l->nlev++] = lev;
	if (bound)
		*bound = ep;
	return 0;
}

void st_listener_stats(const struct st_listener *l, struct st_listener_stats *out)
{
	*out = l->st;
	out->open = l->nconns;
	out->memory = l->budget.used;
	out->shed = l->budget.shed;
	out->memory_peak = l->budget.peak;
}

size_t st_listener_nconns(const struct st_listener *l)
{
	return l->nconns;
}

const struct st_budget *st_listener_budget(const struct st_listener *l)
{
	return &l->budget;
}

void st_listener_free(struct st_listener *l)
{
	if (!l)
		return;
	while (l->conns)
		st_conn_close(l->conns->c, ST_STATUS_SHUTDOWN, "listener stopped");
	for (size_t i = 0; i < l->nlev; i++)
		evconnlistener_free(l->lev[i]);
	st_map_clear(&l->per_ip);
	free(l->rl);
	free(l);
}
