/* net.c - libevent around the session state machine: dialing many, listening, interactive. */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "st/net.h"
#include "st/store.h"

#define READ_CHUNK 65536

static uint64_t random_u64(void)
{
	uint64_t v = 0;
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (read(fd, &v, sizeof v) != (ssize_t)sizeof v)
			v = 0;
		close(fd);
	}
	if (!v)
		v = (uint64_t)st_monotonic_ms() * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
	return v;
}

int st_net_local_handshake(const struct st_config *cfg, uint16_t listen_port,
                           struct st_handshake *h, struct st_err *err)
{
	memset(h, 0, sizeof *h);
	h->version = ST_PROTOCOL_VERSION;
	h->timestamp = st_now();
	st_strlcpy(h->user_agent, cfg->node.user_agent[0] ? cfg->node.user_agent : "st", sizeof h->user_agent);
	h->has_ext = true;
	h->listen_port = listen_port;
	h->has_nonce = true;
	h->nonce = random_u64();
	h->has_services = true;
	h->services = ST_SERVICE_GETPEERS;
	if (cfg->node.node_id[0]) {
		st_strlcpy(h->node_id, cfg->node.node_id, sizeof h->node_id);
		return 0;
	}
	/* no id configured: one made up once and kept in the data dir */
	char path[ST_PATH_MAX + 16];
	snprintf(path, sizeof path, "%s/node_id", cfg->data_dir);
	int rfd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	FILE *f = rfd >= 0 ? fdopen(rfd, "r") : NULL;
	if (rfd >= 0 && !f)
		close(rfd);
	if (f) {
		char line[160] = "";
		if (fgets(line, sizeof line, f))
			line[strcspn(line, "\r\n")] = '\0';
		fclose(f);
		if (line[0] && !st_node_id_valid(line, strlen(line)))
			return st_err_set(err, ST_EX_DATAERR, "'%s': not a node id", path);
		if (line[0]) {
			st_strlcpy(h->node_id, line, sizeof h->node_id);
			return 0;
		}
	}
	if (rfd < 0 && errno == ELOOP)
		return st_err_set(err, ST_EX_DATAERR, "'%s': a symbolic link, not followed", path);
	snprintf(h->node_id, sizeof h->node_id, "st-%016" PRIx64, random_u64());
	if (st_datadir_prepare(cfg->data_dir, err) < 0)
		return -1;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno == EEXIST) /* another process just made one: use it */
			return st_net_local_handshake(cfg, listen_port, h, err);
		return st_err_sys(err, ST_EX_CANTCREAT, "'%s'", path);
	}
	char line[160];
	int n = snprintf(line, sizeof line, "%s\n", h->node_id);
	if (write(fd, line, (size_t)n) != n || fsync(fd) < 0) {
		close(fd);
		return st_err_sys(err, ST_EX_IOERR, "'%s'", path);
	}
	close(fd);
	return 0;
}

void st_net_raise_nofile(uint64_t need)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= need)
		return;
	rl.rlim_cur = need < rl.rlim_max ? need : rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
}

/* Per connection: answers queued to a peer before we stop reading from it, and
 * what is read from it before the session has taken it. */
#define CONN_OUT_MAX ((size_t)256 * 1024)
#define CONN_IN_MAX ((size_t)64 * 1024)

/* Moves what the session queued into the bufferevent. */
static void flush_session(struct st_session *s, struct bufferevent *bev)
{
	if (s->out.len) {
		bufferevent_write(bev, s->out.data, s->out.len);
		st_buf_reset(&s->out);
	}
}

/* Feeds everything readable into the session. Returns its st_session_input value. */
static int pump(struct st_session *s, struct bufferevent *bev)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t chunk[READ_CHUNK];
	int rc = 0;
	while (rc == 0 && evbuffer_get_length(in) > 0) {
		int n = evbuffer_remove(in, chunk, sizeof chunk);
		if (n <= 0)
			break;
		rc = st_session_input(s, chunk, (size_t)n, st_monotonic_ms());
	}
	return rc;
}

/* ---- dialing ---- */

struct dialer;

struct dial_conn {
	struct dialer *d;
	struct dial_conn *prev, *next; /* the dials still running */
	size_t index;
	struct bufferevent *bev;
	struct event *timer;
	struct st_session s;
	bool connected, handshaken, asked_ping, asked_peers;
	int64_t rtt_ms;
	const struct st_endpoint *peers;
	size_t npeers;
};

struct dialer {
	struct event_base *base;
	const struct st_endpoint *eps;
	size_t n, next, running, done;
	const struct st_dial_opts *o;
	st_dial_fn fn;
	void *ctx;
	long ok;
	bool interrupted;
	struct dial_conn *conns;
};

/* Frees a dial; dial_free takes it off the running list first. */
static void dial_release(struct dial_conn *c)
{
	if (c->timer)
		event_free(c->timer);
	if (c->bev)
		bufferevent_free(c->bev);
	st_session_clear(&c->s);
	free(c);
}

static void dial_free(struct dial_conn *c)
{
	struct dialer *d = c->d;
	if (c->prev)
		c->prev->next = c->next;
	else if (d->conns == c)
		d->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	dial_release(c);
}

static void dial_start_next(struct dialer *d);

static void dial_finish(struct dial_conn *c, enum st_status status, const char *error)
{
	struct dialer *d = c->d;
	struct st_dial_result r = {
		.ep = &d->eps[c->index],
		.index = c->index,
		.status = status,
		.error = error && *error ? error : NULL,
		.remote = c->handshaken ? &c->s.remote : NULL,
		.rtt_ms = c->rtt_ms,
		.peers = c->peers,
		.npeers = c->npeers,
	};
	if (status == ST_STATUS_OK)
		d->ok++;
	d->fn(d->ctx, &r);
	dial_free(c);
	d->running--;
	d->done++;
	if (d->o->progress)
		d->o->progress(d->o->progress_ctx, d->done, d->n, d->ok);
	if (!d->interrupted)
		dial_start_next(d);
}

static void dial_closed(struct dial_conn *c)
{
	enum st_close_reason r = c->s.reason;
	enum st_status status = r == ST_CLOSE_VERSION ? ST_STATUS_VERSION_MISMATCH
	                      : r == ST_CLOSE_SELF ? ST_STATUS_SELF
	                      : r == ST_CLOSE_TIMEOUT ? ST_STATUS_TIMEOUT
	                      : r == ST_CLOSE_PEER_ERROR ? ST_STATUS_PEER_ERROR
	                      : r == ST_CLOSE_BANNED ? ST_STATUS_BANNED : ST_STATUS_PROTOCOL_ERROR;
	dial_finish(c, status, c->s.detail);
}

/* After the handshake: ping, then getpeers, then done. */
static void dial_next_step(struct dial_conn *c)
{
	const struct st_dial_opts *o = c->d->o;
	if (o->ping && !c->asked_ping) {
		c->asked_ping = true;
		st_session_ping(&c->s, st_monotonic_ms());
		flush_session(&c->s, c->bev);
		return;
	}
	if (o->getpeers && !c->asked_peers) {
		c->asked_peers = true;
		st_session_getpeers(&c->s, o->getpeers, o->exclude, o->nexclude);
		flush_session(&c->s, c->bev);
		return;
	}
	dial_finish(c, ST_STATUS_OK, NULL);
}

static void dial_event(void *ctx, struct st_session *s, struct st_session_event *ev)
{
	(void)s;
	struct dial_conn *c = ctx;
	switch (ev->kind) {
	case ST_EV_HANDSHAKE:
		c->handshaken = true;
		break;
	case ST_EV_PONG:
		c->rtt_ms = ev->rtt_ms;
		break;
	case ST_EV_PEERS:
		c->peers = ev->peers;
		c->npeers = ev->npeers;
		break;
	default:
		break;
	}
}

static void dial_read(struct bufferevent *bev, void *ctx)
{
	struct dial_conn *c = ctx;
	bool was_ready = c->handshaken, ping_pending = c->s.ping_pending,
	     peers_pending = c->s.getpeers_pending;
	if (pump(&c->s, bev) < 0) {
		dial_closed(c);
		return;
	}
	flush_session(&c->s, bev);
	if (!was_ready && c->handshaken && c->d->o->banned_id &&
	    c->d->o->banned_id(c->d->o->banned_ctx, c->s.remote.node_id)) {
		st_session_close(&c->s, ST_CLOSE_BANNED, "the node id is banned");
		dial_closed(c);
		return;
	}
	if ((!was_ready && c->handshaken) || (ping_pending && !c->s.ping_pending) ||
	    (peers_pending && !c->s.getpeers_pending))
		dial_next_step(c);
}

static void dial_bev_event(struct bufferevent *bev, short events, void *ctx)
{
	(void)bev;
	struct dial_conn *c = ctx;
	if (events & BEV_EVENT_CONNECTED) {
		c->connected = true;
		flush_session(&c->s, c->bev); /* the Handshake */
		return;
	}
	if (events & BEV_EVENT_ERROR) {
		int e = EVUTIL_SOCKET_ERROR();
		if (!c->connected) {
			enum st_status status = e == ECONNREFUSED ? ST_STATUS_REFUSED
			                      : e == ETIMEDOUT ? ST_STATUS_TIMEOUT : ST_STATUS_UNREACHABLE;
			dial_finish(c, status, evutil_socket_error_to_string(e));
			return;
		}
		st_session_close(&c->s, ST_CLOSE_PROTOCOL, evutil_socket_error_to_string(e));
		dial_closed(c);
		return;
	}
	if (events & BEV_EVENT_EOF) {
		pump(&c->s, c->bev);
		if (c->s.state == ST_SESS_CLOSED) {
			dial_closed(c);
			return;
		}
		st_session_eof(&c->s);
		dial_closed(c);
	}
}

static void dial_timeout(evutil_socket_t fd, short what, void *ctx)
{
	(void)fd;
	(void)what;
	struct dial_conn *c = ctx;
	if (!c->connected) {
		dial_finish(c, ST_STATUS_TIMEOUT, "no answer to connect");
		return;
	}
	st_session_timeout(&c->s, !c->handshaken ? "no handshake" : c->s.ping_pending ? "no pong"
	                                                                              : "no peers");
	dial_closed(c);
}

static void dial_start(struct dialer *d, size_t index)
{
	struct dial_conn *c = calloc(1, sizeof *c);
	struct st_err err = {0};
	if (!c) {
		d->done++;
		return;
	}
	c->d = d;
	c->next = d->conns;
	if (d->conns)
		d->conns->prev = c;
	d->conns = c;
	c->index = index;
	c->rtt_ms = -1;
	d->running++;
	if (st_session_init(&c->s, true, &d->o->local, ST_FRAME_MAX, dial_event, c, &err) < 0) {
		dial_finish(c, ST_STATUS_UNREACHABLE, err.msg);
		return;
	}
	struct sockaddr_storage ss;
	socklen_t len;
	st_endpoint_to_sockaddr(&d->eps[index], &ss, &len);
	c->bev = bufferevent_socket_new(d->base, -1, BEV_OPT_CLOSE_ON_FREE);
	c->timer = evtimer_new(d->base, dial_timeout, c);
	if (!c->bev || !c->timer) {
		dial_finish(c, ST_STATUS_UNREACHABLE, "out of memory or descriptors");
		return;
	}
	bufferevent_setcb(c->bev, dial_read, NULL, dial_bev_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	struct timeval tv = {(time_t)(d->o->timeout_ms / 1000), (suseconds_t)(d->o->timeout_ms % 1000) * 1000};
	evtimer_add(c->timer, &tv);
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&ss, (int)len) < 0) {
		int e = EVUTIL_SOCKET_ERROR();
		dial_finish(c, e == ECONNREFUSED ? ST_STATUS_REFUSED : ST_STATUS_UNREACHABLE,
		            evutil_socket_error_to_string(e));
	}
}

static void dial_start_next(struct dialer *d)
{
	while (!d->interrupted && d->running < d->o->jobs && d->next < d->n)
		dial_start(d, d->next++);
	if (d->running == 0 && (d->next >= d->n || d->interrupted))
		event_base_loopbreak(d->base);
}

static void dial_stop(evutil_socket_t fd, short what, void *ctx)
{
	(void)fd;
	(void)what;
	struct dialer *d = ctx;
	d->interrupted = true;
	event_base_loopbreak(d->base);
}

long st_dial_all(const struct st_endpoint *eps, size_t n, const struct st_dial_opts *o,
                 st_dial_fn fn, void *ctx, bool *interrupted, struct st_err *err)
{
	struct dialer d = {.eps = eps, .n = n, .o = o, .fn = fn, .ctx = ctx};
	*interrupted = false;
	if (n == 0)
		return 0;
	d.base = event_base_new();
	if (!d.base)
		return st_err_set(err, ST_EX_SOFTWARE, "cannot start the event loop");
	struct event *stop = o->stop_fd > 0 ? event_new(d.base, o->stop_fd, EV_READ, dial_stop, &d)
	                                    : NULL;
	if (stop)
		event_add(stop, NULL);
	dial_start_next(&d);
	if (d.running)
		event_base_dispatch(d.base);
	*interrupted = d.interrupted;
	/* dials still open after an interrupt end unreported */
	for (struct dial_conn *c = d.conns, *next; c; c = next) {
		next = c->next;
		dial_release(c);
	}
	d.conns = NULL;
	if (stop)
		event_free(stop);
	event_base_free(d.base);
	return d.ok;
}

/* ---- listening ---- */

struct listener;

struct in_conn {
	struct listener *l;
	struct in_conn *prev, *next;
	struct st_endpoint ep;
	struct bufferevent *bev;
	struct event *timer;
	struct st_session s;
	int64_t start_ms;
	uint32_t getpeers;
	bool closing;
};

struct listener {
	struct event_base *base;
	const struct st_listen_opts *o;
	struct st_handshake local;     /* o->local with the port we really bound */
	struct in_conn *conns;
	size_t nconns;
	struct st_ratelimit *rl;
};

static void in_free(struct in_conn *c, enum st_status status, const char *error)
{
	struct listener *l = c->l;
	struct st_inbound in = {
		.ep = &c->ep,
		.remote = c->s.state == ST_SESS_READY || c->s.remote.node_id[0] ? &c->s.remote : NULL,
		.status = status,
		.error = error && *error ? error : NULL,
		.duration_ms = st_monotonic_ms() - c->start_ms,
		.getpeers = c->getpeers,
	};
	if (l->o->session)
		l->o->session(l->o->ctx, &in);
	if (c->prev)
		c->prev->next = c->next;
	else
		l->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	l->nconns--;
	if (c->timer)
		event_free(c->timer);
	if (c->bev)
		bufferevent_free(c->bev);
	st_session_clear(&c->s);
	free(c);
}

static enum st_status outcome_of(const struct st_session *s)
{
	switch (s->reason) {
	case ST_CLOSE_NONE:
	case ST_CLOSE_DONE:
		return ST_STATUS_OK;
	case ST_CLOSE_EOF:
		return s->detail[0] && strstr(s->detail, "handshake") ? ST_STATUS_PROTOCOL_ERROR
		                                                       : ST_STATUS_OK;
	case ST_CLOSE_TIMEOUT:
		return ST_STATUS_TIMEOUT;
	case ST_CLOSE_VERSION:
		return ST_STATUS_VERSION_MISMATCH;
	case ST_CLOSE_SELF:
		return ST_STATUS_SELF;
	case ST_CLOSE_PEER_ERROR:
		return ST_STATUS_PEER_ERROR;
	case ST_CLOSE_BANNED:
		return ST_STATUS_BANNED;
	case ST_CLOSE_PROTOCOL:
	case ST_CLOSE_UNEXPECTED:
		break;
	}
	return ST_STATUS_PROTOCOL_ERROR;
}

static void in_arm_timer(struct in_conn *c)
{
	int64_t ms = c->s.state == ST_SESS_READY ? c->l->o->idle_timeout_ms
	                                         : c->l->o->handshake_timeout_ms;
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
	evtimer_add(c->timer, &tv);
}

static void in_event(void *ctx, struct st_session *s, struct st_session_event *ev)
{
	(void)s;
	struct in_conn *c = ctx;
	struct listener *l = c->l;
	char what[400], name[16];
	switch (ev->kind) {
	case ST_EV_GETPEERS:
		c->getpeers++;
		ev->nreply = 0;
		if (l->o->getpeers && st_ratelimit_allow(l->rl, &c->ep, st_now()))
			ev->nreply = l->o->getpeers(l->o->ctx, &c->ep, ev->getpeers, ev->reply,
			                            (size_t)ev->getpeers->max_count);
		break;
	case ST_EV_OTHER:
		if (l->o->message) {
			snprintf(what, sizeof what, "%s (%zu bytes) not served",
			         st_msg_name(ev->type, name, sizeof name), ev->length);
			l->o->message(l->o->ctx, &c->ep, what);
		}
		break;
	case ST_EV_ERROR_MSG:
		if (l->o->message) {
			snprintf(what, sizeof what, "Error: %s", ev->text);
			l->o->message(l->o->ctx, &c->ep, what);
		}
		break;
	default:
		break;
	}
}

static void in_read(struct bufferevent *bev, void *ctx)
{
	struct in_conn *c = ctx;
	enum st_session_state before = c->s.state;
	int rc = pump(&c->s, bev);
	struct st_endpoint at = c->ep; /* where the peer says it listens */
	at.port = c->s.remote.listen_port;
	if (rc == 0 && before != ST_SESS_READY && c->s.state == ST_SESS_READY && c->l->o->banned_peer &&
	    c->l->o->banned_peer(c->l->o->ctx, c->s.remote.node_id, at.port ? &at : NULL)) {
		/* refused at the handshake: no HandshakeAck for a banned peer */
		st_session_close(&c->s, ST_CLOSE_BANNED, "the node id or its endpoint is banned");
		in_free(c, ST_STATUS_BANNED, c->s.detail);
		return;
	}
	flush_session(&c->s, bev);
	if (rc < 0) {
		/* say why before closing, when the peer can still hear it */
		in_free(c, outcome_of(&c->s), c->s.detail);
		return;
	}
	/* a peer that asks without reading the answers gets no more answers queued:
	 * read no more from it until it has taken most of what waits */
	if (evbuffer_get_length(bufferevent_get_output(bev)) > CONN_OUT_MAX)
		bufferevent_disable(bev, EV_READ);
	if (before != c->s.state || c->s.state == ST_SESS_READY)
		in_arm_timer(c); /* any message resets the idle clock */
}

/* The output drained to half its budget: read from the peer again. */
static void in_write(struct bufferevent *bev, void *ctx)
{
	(void)ctx;
	if (!(bufferevent_get_enabled(bev) & EV_READ) &&
	    evbuffer_get_length(bufferevent_get_output(bev)) <= CONN_OUT_MAX / 2)
		bufferevent_enable(bev, EV_READ);
}

static void in_bev_event(struct bufferevent *bev, short events, void *ctx)
{
	(void)bev;
	struct in_conn *c = ctx;
	if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		st_session_eof(&c->s);
		in_free(c, outcome_of(&c->s), events & BEV_EVENT_ERROR
		                                  ? evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR())
		                                  : c->s.detail);
	}
}

static void in_timeout(evutil_socket_t fd, short what, void *ctx)
{
	(void)fd;
	(void)what;
	struct in_conn *c = ctx;
	bool idle = c->s.state == ST_SESS_READY;
	in_free(c, idle ? ST_STATUS_IDLE : ST_STATUS_TIMEOUT, idle ? "idle timeout" : "no handshake in time");
}

static void on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *ctx)
{
	(void)lev;
	(void)salen;
	struct listener *l = ctx;
	struct st_endpoint ep;
	if (st_endpoint_from_sockaddr(&ep, sa, NULL) < 0) {
		evutil_closesocket(fd);
		return;
	}
	const char *refuse = NULL;
	if (l->o->banned_addr && l->o->banned_addr(l->o->ctx, &ep)) {
		evutil_closesocket(fd);
		if (l->o->session) {
			struct st_inbound in = {.ep = &ep, .status = ST_STATUS_BANNED, .error = "the address is banned"};
			l->o->session(l->o->ctx, &in);
		}
		return;
	}
	if (l->nconns >= l->o->max_conns) {
		refuse = "too many connections";
	} else {
		uint32_t same = 0;
		for (struct in_conn *c = l->conns; c; c = c->next) {
			struct st_endpoint a = c->ep, b = ep;
			a.port = b.port = 0;
			if (st_endpoint_equal(&a, &b))
				same++;
		}
		if (same >= l->o->max_per_ip)
			refuse = "too many connections from this address";
	}
	if (refuse) {
		evutil_closesocket(fd);
		if (l->o->session) {
			struct st_inbound in = {.ep = &ep, .status = ST_STATUS_REFUSED_LIMIT, .error = refuse};
			l->o->session(l->o->ctx, &in);
		}
		return;
	}
	struct in_conn *c = calloc(1, sizeof *c);
	struct st_err err = {0};
	if (!c || st_session_init(&c->s, false, &l->local, l->o->max_frame, in_event, c, &err) < 0) {
		free(c);
		evutil_closesocket(fd);
		return;
	}
	c->l = l;
	c->ep = ep;
	c->start_ms = st_monotonic_ms();
	c->bev = bufferevent_socket_new(l->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->timer = evtimer_new(l->base, in_timeout, c);
	c->next = l->conns;
	if (l->conns)
		l->conns->prev = c;
	l->conns = c;
	l->nconns++;
	if (!c->bev || !c->timer) {
		in_free(c, ST_STATUS_REFUSED_LIMIT, "out of memory or descriptors");
		return;
	}
	bufferevent_setcb(c->bev, in_read, in_write, in_bev_event, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, CONN_OUT_MAX / 2, 0);
	bufferevent_setwatermark(c->bev, EV_READ, 0, CONN_IN_MAX);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	in_arm_timer(c);
}

static void listen_stop(evutil_socket_t fd, short what, void *ctx)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(ctx);
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

int st_listen_run(const struct st_listen_opts *o, struct st_err *err)
{
	struct listener l = {.o = o, .local = o->local};
	struct evconnlistener *lev[ST_BIND_MAX] = {0};
	int rc = 0;
	l.rl = malloc(sizeof *l.rl);
	l.base = event_base_new();
	if (!l.base || !l.rl) {
		free(l.rl);
		if (l.base)
			event_base_free(l.base);
		return st_err_set(err, ST_EX_SOFTWARE, "cannot start the event loop");
	}
	st_ratelimit_init(l.rl, o->getpeers_interval);
	st_net_raise_nofile((uint64_t)o->max_conns + 64);
	for (size_t i = 0; i < o->nbind && rc == 0; i++) {
		struct st_endpoint ep;
		struct sockaddr_storage ss;
		socklen_t len;
		if (parse_bind(o->bind[i], &ep, err) < 0) {
			rc = -1;
			break;
		}
		st_endpoint_to_sockaddr(&ep, &ss, &len);
		lev[i] = evconnlistener_new_bind(l.base, on_accept, &l,
		                                 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
		                                     LEV_OPT_CLOSE_ON_EXEC,
		                                 1024, (struct sockaddr *)&ss, (int)len);
		if (!lev[i]) {
			rc = st_err_sys(err, ST_EX_UNAVAILABLE, "cannot listen on '%s'", o->bind[i]);
			break;
		}
		struct sockaddr_storage bound;
		socklen_t blen = sizeof bound;
		if (getsockname(evconnlistener_get_fd(lev[i]), (struct sockaddr *)&bound, &blen) == 0 &&
		    st_endpoint_from_sockaddr(&ep, (struct sockaddr *)&bound, NULL) == 0) {
			if (i == 0)
				l.local.listen_port = ep.port; /* what peers should dial back */
			if (o->bound)
				o->bound(o->ctx, &ep);
		}
	}
	if (rc == 0) {
		struct event *stop = o->stop_fd > 0
		                         ? event_new(l.base, o->stop_fd, EV_READ, listen_stop, l.base)
		                         : NULL;
		if (stop)
			event_add(stop, NULL);
		event_base_dispatch(l.base);
		if (stop)
			event_free(stop);
		for (struct in_conn *c = l.conns, *next; c; c = next) {
			next = c->next;
			in_free(c, ST_STATUS_SHUTDOWN, "listener stopped");
		}
	}
	for (size_t i = 0; i < ST_BIND_MAX; i++)
		if (lev[i])
			evconnlistener_free(lev[i]);
	event_base_free(l.base);
	free(l.rl);
	return rc;
}
