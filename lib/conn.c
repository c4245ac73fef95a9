/* conn.c - the one connection type: a socket (a plain one read and written here, with no
 * bufferevent; a TLS one through OpenSSL's bufferevent), a deadline, the session state machine. */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "st/engine.h"
#include "st/tls.h"

struct st_conn {
	struct event_base *base;
	struct bufferevent *bev;      /* TLS only */
	/* A plain connection has no bufferevent: it reads its socket itself (on_readable: one
	 * recv, straight into the session) and writes it itself (send_now; what the socket
	 * did not take waits in wq, sent by on_writable). fd is -1 over TLS, and for a dial
	 * whose socket could not be made; rd and wr then NULL. */
	struct event *rd;
	struct event *wr;             /* armed while the connect is pending or wq holds bytes */
	struct st_buf wq;             /* bytes not taken yet: wq.data[wq_off..wq.len) */
	size_t wq_off;
	struct event *timer;
	struct st_session s;
	struct st_conn_cbs cbs;
	void *ctx;
	struct st_endpoint ep;
	char *expected_id;            /* dialed with one: owned; NULL for none */
	/* What the TLS verification found (tls.h): allocated for TLS connections only,
	 * a plain listener's thousands of idle connections never need it. */
	struct st_tls_peer *peer;
	struct st_budget *budget;
	struct st_traffic *traffic;   /* NULL: not counted */
	size_t charged;               /* what this connection holds, as last charged */
	struct event *resume;         /* looks again at a spent budget; made at the first pause */
	evutil_socket_t fd;
	/* A plain socket's first error, met by a write of ours straight to the kernel
	 * (flush): the error the bufferevent would have met, told as it would have. */
	int send_err;
	/* A close asked for while one of our callbacks runs is carried out when
	 * the engine regains control (depth back to 0): the owner's callbacks may
	 * close, and the engine never touches a freed connection. */
	unsigned depth;
	enum st_status status;
	bool closing;
	bool reading;                 /* rd is armed */
	bool dialer, connected, handshaken;
	bool tls, tls_done;           /* over TLS; its handshake completed */
	bool fed;                     /* bytes went to the session already */
	bool sent_early;              /* a dial's socket took its Handshake right after connect */
	bool budget_paused;           /* not reading: the budget is spent */
	char error[256];
};

/*
 * A TLS connection's socket is wrapped here, and only here: an OpenSSL bufferevent
 * (client or server side by `dialer`) that verifies the peer into c->peer during its
 * handshake.
 */
static struct bufferevent *wrap_socket(struct st_conn *c, evutil_socket_t fd,
                                       const struct st_conn_opts *o, struct st_err *err)
{
	c->tls = true;
	if (!(c->peer = calloc(1, sizeof *c->peer))) {
		st_err_set(err, ST_EX_SOFTWARE, "out of memory");
		return NULL;
	}
	SSL *ssl = st_tls_ssl_new(o->tls, !c->dialer, c->peer, err);
	if (!ssl)
		return NULL;
	st_strlcpy(c->peer->expected_id, st_conn_expected_id(c), sizeof c->peer->expected_id);
	if (o->known_id)
		st_strlcpy(c->peer->known_id, o->known_id, sizeof c->peer->known_id);
	c->peer->strict = o->strict;
	struct bufferevent *bev = bufferevent_openssl_socket_new(
	    c->base, fd, ssl, c->dialer ? BUFFEREVENT_SSL_CONNECTING : BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		SSL_free(ssl);
		st_err_set(err, ST_EX_SOFTWARE, "out of memory or descriptors");
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1); /* no close_notify: an EOF, as over TCP */
	return bev;
}

/*
 * Over TLS, segments go out as they are written: the dialer's Handshake follows its last
 * handshake flight at once, and Nagle would hold it until the listener's delayed ACK (the
 * write-write-read pattern). A plain connection writes each frame once and waits for the
 * answer, so it is left as it is (one setsockopt fewer per connection).
 */
static void tls_no_delay(const struct st_conn *c)
{
	evutil_socket_t fd = c->bev ? bufferevent_getfd(c->bev) : -1;
	int one = 1;
	if (c->tls && fd >= 0)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static evutil_socket_t conn_fd(const struct st_conn *c)
{
	return c->bev ? bufferevent_getfd(c->bev) : c->fd;
}

/* The bytes written but not yet taken by the socket. */
static size_t out_len(const struct st_conn *c)
{
	return c->bev ? evbuffer_get_length(bufferevent_get_output(c->bev)) : c->wq.len - c->wq_off;
}

/* What c holds in memory: the socket's input not yet fed, the frame being assembled,
 * what waits to be written (a plain connection's queue by its capacity: it is given
 * back only when it drains, so a peer that never quite lets it drain holds all of it). */
static size_t held(const struct st_conn *c)
{
	size_t n = c->s.dec.payload.cap + c->s.out.cap + (c->bev ? out_len(c) : c->wq.cap);
	if (c->bev)
		n += evbuffer_get_length(bufferevent_get_input(c->bev));
	return n;
}

/* Reading from the peer on or off: a plain socket's own read event (once connected: a
 * dial starts reading at its connect, read_own), or the TLS bufferevent's. */
static void set_reading(struct st_conn *c, bool on)
{
	if (c->bev) {
		if (on)
			bufferevent_enable(c->bev, EV_READ);
		else
			bufferevent_disable(c->bev, EV_READ);
	} else if (c->rd && c->connected && on != c->reading &&
	           (on ? event_add(c->rd, NULL) : event_del(c->rd)) == 0) {
		c->reading = on;
	}
}

static bool is_reading(const struct st_conn *c)
{
	return c->bev ? (bufferevent_get_enabled(c->bev) & EV_READ) != 0 : c->reading;
}

static void resume_later(struct st_conn *c)
{
	struct timeval tv = {0, 50 * 1000};
	evtimer_add(c->resume, &tv);
}

static void on_resume(evutil_socket_t fd, short what, void *ctx);

/* Charges what c holds now; past the budget, c stops reading if it holds much (its
 * resume timer is made then: few connections ever pause, and one that cannot get
 * the timer's memory keeps reading, as one without a budget does). */
static void charge(struct st_conn *c)
{
	struct st_budget *b = c->budget;
	if (!b)
		return;
	size_t now = held(c);
	b->used = b->used - c->charged + now;
	c->charged = now;
	if (b->used > b->peak)
		b->peak = b->used;
	if (b->limit && b->used > b->limit && now > ST_CONN_IN_MAX && !c->budget_paused &&
	    !c->closing && (c->resume || (c->resume = evtimer_new(c->base, on_resume, c)))) {
		c->budget_paused = true;
		b->pauses++;
		set_reading(c, false);
		resume_later(c);
	}
}

static void on_resume(evutil_socket_t fd, short what, void *ctx)
{
	(void)fd;
	(void)what;
	struct st_conn *c = ctx;
	if (c->closing || !c->budget_paused)
		return;
	charge(c);
	if (c->budget->used > c->budget->limit / 4 * 3) {
		resume_later(c);
		return;
	}
	c->budget_paused = false;
	/* the output budget keeps its own pause (flush / on_write) */
	if (out_len(c) <= ST_CONN_OUT_MAX)
		set_reading(c, true);
}

static void release(struct st_conn *c)
{
	if (c->budget) {
		c->budget->used -= c->charged;
		c->charged = 0;
	}
	if (c->resume)
		event_free(c->resume);
	if (c->timer)
		event_free(c->timer);
	if (c->rd) /* before the socket closes */
		event_free(c->rd);
	if (c->wr)
		event_free(c->wr);
	if (c->bev)
		bufferevent_free(c->bev);
	else if (c->fd >= 0)
		evutil_closesocket(c->fd);
	st_buf_clear(&c->wq);
	st_session_clear(&c->s);
	free(c->peer);
	free(c->expected_id);
	free(c);
}

void st_conn_free(struct st_conn *c)
{
	if (c)
		release(c);
}

static void finish(struct st_conn *c)
{
	c->depth = 1; /* closes from inside closed are ignored (closing is set) */
	if (c->cbs.closed)
		c->cbs.closed(c->ctx, c, c->status, c->error[0] ? c->error : NULL);
	release(c);
}

static void enter(struct st_conn *c)
{
	c->depth++;
}

/* Leaves an engine entry point; c may be gone afterwards. */
static void leave(struct st_conn *c)
{
	if (--c->depth == 0 && c->closing)
		finish(c);
}

static enum st_close_reason reason_of(enum st_status status)
{
	switch (status) {
	case ST_STATUS_BANNED:
		return ST_CLOSE_BANNED;
	case ST_STATUS_TIMEOUT:
	case ST_STATUS_IDLE:
		return ST_CLOSE_TIMEOUT;
	default:
		return ST_CLOSE_DONE;
	}
}

/* Marks c closed; the engine's own paths report it when they leave (leave()). */
static void mark_closed(struct st_conn *c, enum st_status status, const char *error)
{
	if (c->closing)
		return;
	c->closing = true;
	c->status = status;
	st_strlcpy(c->error, error ? error : "", sizeof c->error);
	st_session_close(&c->s, reason_of(status), error);
	st_buf_reset(&c->s.out);
	set_reading(c, false);
}

void st_conn_close(struct st_conn *c, enum st_status status, const char *error)
{
	if (c->closing)
		return;
	mark_closed(c, status, error);
	if (c->depth == 0)
		finish(c);
}

void st_conn_close_telling(struct st_conn *c, enum st_status status, const char *why)
{
	if (c->closing)
		return;
	struct st_buf b;
	st_buf_init(&b, 1024);
	evutil_socket_t fd = conn_fd(c);
	/* straight to the kernel, once, and only when nothing is queued before it (a frame
	 * cut in two would garble the stream): the close that follows frees the buffers */
	if (fd >= 0 && out_len(c) == 0 &&
	    st_wire_frame(&b, ST_MSG_ERROR, why, strlen(why), NULL) == 0) {
		ssize_t sent = send(fd, b.data, b.len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (sent > 0 && c->traffic)
			c->traffic->out += (uint64_t)sent;
	}
	st_buf_clear(&b);
	st_conn_close(c, status, why);
}

int64_t st_conn_rtt_us(const struct st_conn *c)
{
	struct tcp_info ti;
	socklen_t len = sizeof ti;
	evutil_socket_t fd = conn_fd(c);
	if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 || len < offsetof(struct tcp_info, tcpi_rtt) + sizeof ti.tcpi_rtt)
		return -1;
	return (int64_t)ti.tcpi_rtt;
}

size_t st_conn_held(const struct st_conn *c)
{
	return c->charged;
}

/* The status of a session the peer or the protocol ended. */
static enum st_status status_of(const struct st_conn *c)
{
	const struct st_session *s = &c->s;
	switch (s->reason) {
	case ST_CLOSE_NONE:
	case ST_CLOSE_DONE:
		return ST_STATUS_OK;
	case ST_CLOSE_EOF:
		/* a dialer closes itself when done: the peer closing first broke an exchange */
		if (c->dialer)
			return ST_STATUS_PROTOCOL_ERROR;
		return strstr(s->detail, "handshake") ? ST_STATUS_PROTOCOL_ERROR : ST_STATUS_OK;
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

/* Closes with what the session says, error (when given) instead of its detail. */
static void close_from_session(struct st_conn *c, const char *error)
{
	mark_closed(c, status_of(c), error ? error : c->s.detail);
}

/* A send that failed for now, not for good: a full socket, or the kernel short of buffers
 * or memory for the moment. The bytes wait in the queue and the write event tries again
 * (where a shortage that lasts is a write error: on_writable). */
static bool send_later(int e)
{
	return e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS || e == ENOMEM;
}

/*
 * A plain connection's bytes straight to the kernel when nothing waits before them: one
 * send instead of arming the write event, waking for it, writing and disarming it. What
 * the socket does not take now waits in wq (queue); returns what was sent. An error
 * that is not for now only (send_later) is kept (send_err) for on_bev_event to tell, and
 * the bytes are queued, so the write event meets the error again and tells it; a later
 * write that gets through (on_write) forgets it.
 */
static size_t send_now(struct st_conn *c, const uint8_t *p, size_t n)
{
	evutil_socket_t fd = c->fd;
	if (c->tls || !c->connected || c->send_err || fd < 0 || out_len(c) != 0)
		return 0;
	ssize_t k;
	while ((k = send(fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	if (k < 0 && !send_later(errno))
		c->send_err = errno;
	return k > 0 ? (size_t)k : 0;
}

/* n bytes the socket did not take: they wait, and the write event is armed for them (a
 * plain connection arms it only when something waits; a pending connect has it armed). */
static void queue(struct st_conn *c, const char *p, size_t n)
{
	if (c->bev) {
		bufferevent_write(c->bev, p, n);
		return;
	}
	if (c->fd < 0)
		return;
	const char *why = NULL;
	if (st_buf_append(&c->wq, p, n, NULL) < 0) /* a cut frame would garble the stream */
		why = "out of memory for its output";
	else if (c->connected && !event_pending(c->wr, EV_WRITE, NULL) && event_add(c->wr, NULL) < 0)
		why = "cannot wait to write";
	if (why) {
		mark_closed(c, ST_STATUS_UNREACHABLE, why);
		if (c->depth == 0) /* called from outside a callback: the close is told from the loop */
			event_active(c->timer, EV_TIMEOUT, 1);
	}
}

/* The one flush: what the session queued goes to the socket. */
static void flush(struct st_conn *c)
{
	if (c->s.out.len && !c->closing) {
		if (c->traffic)
			c->traffic->out += c->s.out.len;
		size_t sent = send_now(c, (const uint8_t *)c->s.out.data, c->s.out.len);
		if (sent < c->s.out.len)
			queue(c, c->s.out.data + sent, c->s.out.len - sent);
		st_buf_clear(&c->s.out); /* an idle connection holds no buffer of its own */
	}
	/* a peer that asks without reading the answers gets no more answers
	 * queued: read no more from it until it has taken most of what waits */
	if (!c->closing && out_len(c) > ST_CONN_OUT_MAX)
		set_reading(c, false);
	charge(c);
}

/*
 * The first bytes of a plain connection, head (n of them, before any went to the
 * session): a TLS record (handshake 0x16 or alert 0x15, version 3.x) read as a frame
 * length is past any first frame's ceiling, so it is named for what it is. True when
 * it was one (c is closed).
 */
static bool tls_on_plain(struct st_conn *c, const uint8_t *head, size_t n)
{
	if (c->tls || c->fed || n < 3 || !((head[0] == 0x16 || head[0] == 0x15) && head[1] == 0x03 &&
	                                   head[2] <= 0x04))
		return false;
	mark_closed(c, ST_STATUS_TLS_ERROR,
	            c->dialer ? "the peer speaks TLS: a TLS port (dial it with --tls)"
	                      : "the peer speaks TLS: a TLS client on a plain port");
	return true;
}

/* n bytes read into the session. */
static void feed(struct st_conn *c, const uint8_t *p, size_t n)
{
	if (c->traffic)
		c->traffic->in += (uint64_t)n;
	st_session_input(&c->s, p, n, st_monotonic_ms());
}

/* The one pump of a bufferevent's input: everything readable into the session, in
 * bounded chunks. */
static void pump(struct st_conn *c)
{
	if (!c->bev) /* a plain socket is read by on_readable alone */
		return;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	uint8_t chunk[ST_CONN_IN_MAX];
	uint8_t head[3];
	if (evbuffer_copyout(in, head, sizeof head) == (ev_ssize_t)sizeof head &&
	    tls_on_plain(c, head, sizeof head))
		return;
	if (evbuffer_get_length(in) > 0)
		c->fed = true;
	while (!c->closing && c->s.state != ST_SESS_CLOSED && evbuffer_get_length(in) > 0) {
		int n = evbuffer_remove(in, chunk, sizeof chunk);
		if (n <= 0)
			break;
		feed(c, chunk, (size_t)n);
	}
}

static void on_session_event(void *ctx, struct st_session *s, struct st_session_event *ev)
{
	struct st_conn *c = ctx;
	if (ev->kind == ST_EV_HANDSHAKE && c->tls && strcmp(s->remote->node_id, c->peer->id) != 0) {
		/* the claim and the proof differ: the owner never hears of this handshake,
		 * and our HandshakeAck (queued by the session) is dropped unsent */
		char why[sizeof c->peer->id + ST_NODE_ID_MAX + 64];
		snprintf(why, sizeof why, "certificate proves %s, handshake claims %s", c->peer->id,
		         s->remote->node_id);
		mark_closed(c, ST_STATUS_IDENTITY_MISMATCH, why);
		return;
	}
	if (ev->kind == ST_EV_HANDSHAKE)
		c->handshaken = true;
	if (c->cbs.event && !c->closing)
		c->cbs.event(c->ctx, c, ev);
}

/* After input: answers out, the session's end carried out, the owner told. */
static void after_input(struct st_conn *c)
{
	/* say why before closing, when the peer can still hear it */
	flush(c);
	if (!c->closing && c->s.state == ST_SESS_CLOSED)
		close_from_session(c, NULL);
	if (!c->closing && c->cbs.input)
		c->cbs.input(c->ctx, c);
	if (!c->closing)
		flush(c);
	else
		charge(c);
}

static void on_read(struct bufferevent *bev, void *ctx)
{
	(void)bev;
	struct st_conn *c = ctx;
	enter(c);
	pump(c);
	after_input(c);
	leave(c);
}

static void on_bev_event(struct bufferevent *bev, short events, void *ctx);

/*
 * A plain socket readable: one recv of at most what one bufferevent read takes (16 KB,
 * libevent's single read), straight into the session, with no ioctl(FIONREAD) and no
 * evbuffer in between. An end or an error goes where the bufferevent's would.
 */
static void on_readable(evutil_socket_t fd, short what, void *ctx)
{
	(void)what;
	struct st_conn *c = ctx;
	uint8_t chunk[16384];
	ssize_t n;
	while ((n = recv(fd, chunk, sizeof chunk, 0)) < 0 && errno == EINTR)
		;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		int e = errno;
		set_reading(c, false); /* as the bufferevent stops reading at an end or an error */
		errno = n < 0 ? e : 0;
		on_bev_event(NULL, (short)(BEV_EVENT_READING | (n < 0 ? BEV_EVENT_ERROR : BEV_EVENT_EOF)),
		             c);
		return;
	}
	enter(c);
	if (!tls_on_plain(c, chunk, (size_t)n)) {
		c->fed = true;
		feed(c, chunk, (size_t)n);
	}
	after_input(c);
	leave(c);
}

/* A plain socket is read by on_readable from now on (an accepted one at once, a dial once
 * connected): rd is its one reader, there is no bufferevent to read it too. */
static void read_own(struct st_conn *c)
{
	if (!c->closing && !c->budget_paused)
		set_reading(c, true);
}

/* The output drained to half its budget: read from the peer again. */
static void on_write(struct bufferevent *bev, void *ctx)
{
	(void)bev;
	struct st_conn *c = ctx;
	c->send_err = 0; /* the socket took bytes after it: the error did not last */
	if (!c->closing && !c->budget_paused && !is_reading(c) && out_len(c) <= ST_CONN_OUT_MAX / 2)
		set_reading(c, true);
	charge(c);
}

/* A plain dial's connect finished: its error, as the bufferevent's connect told it (a
 * dial whose Handshake the socket took at once, send_early, is connected: TCP takes
 * bytes only on an established connection). */
static void connect_done(struct st_conn *c)
{
	int e = 0;
	socklen_t len = sizeof e;
	if (!c->sent_early && getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
		e = errno;
	if (e == EINPROGRESS || e == EINTR)
		return;
	if (out_len(c) == 0)
		event_del(c->wr);
	else if (c->sent_early && event_add(c->wr, NULL) < 0) /* what was queued meanwhile */
		e = ENOMEM;
	errno = e;
	on_bev_event(NULL, e ? BEV_EVENT_ERROR : BEV_EVENT_CONNECTED, c);
}

/*
 * A plain socket writable: its connect finished, or it takes more of what waits (wq). An
 * error other than a full socket goes where the bufferevent's write error went; once
 * half the output budget is free, reading resumes (on_write).
 */
static void on_writable(evutil_socket_t fd, short what, void *ctx)
{
	(void)what;
	struct st_conn *c = ctx;
	if (!c->connected) {
		connect_done(c);
		return;
	}
	size_t left = out_len(c);
	if (left == 0) {
		event_del(c->wr);
		return;
	}
	ssize_t k;
	while ((k = send(fd, c->wq.data + c->wq_off, left, MSG_DONTWAIT | MSG_NOSIGNAL)) < 0 &&
	       errno == EINTR)
		;
	/* only a full socket waits for the next wakeup: a kernel short of buffers (ENOBUFS,
	 * ENOMEM) with the socket writable would wake this at once, for ever; it is the
	 * write error it was to the bufferevent (send_now's first meeting with it is not) */
	if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (k <= 0) {
		int e = k < 0 ? errno : EPIPE;
		event_del(c->wr);
		errno = e;
		on_bev_event(NULL, (short)(BEV_EVENT_WRITING | BEV_EVENT_ERROR), c);
		return;
	}
	c->wq_off += (size_t)k;
	if (c->wq_off == c->wq.len) {
		st_buf_clear(&c->wq);
		c->wq_off = 0;
		event_del(c->wr);
	} else if (c->wq_off > c->wq.len / 2) { /* what was taken makes room */
		memmove(c->wq.data, c->wq.data + c->wq_off, c->wq.len - c->wq_off);
		c->wq.len -= c->wq_off;
		c->wq_off = 0;
	}
	on_write(NULL, c);
}

/* A TLS connection failed before its handshake completed both ways: why, in words. */
static void tls_failed(struct st_conn *c, struct bufferevent *bev)
{
	unsigned long e = 0, last;
	int sys = EVUTIL_SOCKET_ERROR();
	/* libevent hands the errors back last first; the SSL library's own reason
	 * (an alert, a wrong version) is what says why */
	while ((last = bufferevent_get_openssl_error(bev)) != 0)
		if (!e || ERR_GET_LIB(last) == ERR_LIB_SSL)
			e = last;
	/* a dial whose TCP connect failed never reached TLS (OpenSSL's first read met
	 * the connect's error): the socket has no peer, and the status is the connect's */
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	evutil_socket_t fd = bufferevent_getfd(bev);
	bool tcp = sys == ECONNREFUSED || sys == ETIMEDOUT || sys == ENETUNREACH || sys == EHOSTUNREACH;
	if (c->dialer && !c->tls_done && tcp && fd >= 0 &&
	    getpeername(fd, (struct sockaddr *)&ss, &len) < 0 && errno == ENOTCONN) {
		mark_closed(c, sys == ECONNREFUSED ? ST_STATUS_REFUSED
		               : sys == ETIMEDOUT  ? ST_STATUS_TIMEOUT
		                                   : ST_STATUS_UNREACHABLE,
		            evutil_socket_error_to_string(sys));
		return;
	}
	char why[256];
	enum st_status status = st_tls_failure(c->peer, e, why, sizeof why);
	mark_closed(c, status, why);
}

static void on_bev_event(struct bufferevent *bev, short events, void *ctx)
{
	struct st_conn *c = ctx;
	enter(c);
	/* a send of ours met the socket's error first (send_now): the bufferevent then meets
	 * what is left of it (EPIPE, or an EOF), and the error told is the one met first */
	if (c->send_err && (events & (BEV_EVENT_ERROR | BEV_EVENT_EOF)))
		events = (short)((events & ~BEV_EVENT_EOF) | BEV_EVENT_ERROR);
	if (events & BEV_EVENT_CONNECTED) {
		/* over TLS this comes once the TLS handshake is done, on both sides */
		c->connected = true;
		c->tls_done = c->tls;
		read_own(c); /* a plain dial reads its socket itself once connected */
		flush(c); /* the Handshake */
		if (c->cbs.connected && c->dialer)
			c->cbs.connected(c->ctx, c);
	} else if ((events & BEV_EVENT_ERROR) && c->tls && c->handshaken && !EVUTIL_SOCKET_ERROR()) {
		/* TLS's way of saying the peer closed (its close_notify, or none): an EOF */
		while (bufferevent_get_openssl_error(bev))
			;
		pump(c);
		if (!c->closing && c->s.state != ST_SESS_CLOSED)
			st_session_eof(&c->s);
		if (!c->closing)
			close_from_session(c, NULL);
	} else if (events & BEV_EVENT_ERROR) {
		int e = c->send_err ? c->send_err : EVUTIL_SOCKET_ERROR();
		const char *why = evutil_socket_error_to_string(e);
		bool tcp = e == ECONNREFUSED || e == ETIMEDOUT || e == ENETUNREACH || e == EHOSTUNREACH;
		if (c->tls && !c->handshaken && !(c->dialer && !c->tls_done && tcp)) {
			/* a TLS failure; also after our side's handshake: in TLS 1.3 a server
			 * refuses the client's certificate after the client is done */
			tls_failed(c, bev);
		} else if (!c->connected) {
			mark_closed(c, e == ECONNREFUSED ? ST_STATUS_REFUSED
			               : e == ETIMEDOUT  ? ST_STATUS_TIMEOUT
			                                 : ST_STATUS_UNREACHABLE, why);
		} else if (!c->tls && c->dialer && !c->handshaken && !c->fed && e == ECONNRESET) {
			/* what a TLS listener does to the plain Handshake it cannot read */
			st_session_eof(&c->s);
			mark_closed(c, ST_STATUS_PROTOCOL_ERROR,
			            "connection reset before any answer (a TLS port? dial it with --tls)");
		} else {
			st_session_eof(&c->s);
			close_from_session(c, why);
		}
	} else if (events & BEV_EVENT_EOF) {
		if (c->tls && !c->tls_done) {
			tls_failed(c, bev);
			leave(c);
			return;
		}
		pump(c); /* what came before the close */
		if (!c->closing && c->s.state != ST_SESS_CLOSED)
			st_session_eof(&c->s);
		if (!c->closing)
			close_from_session(c, NULL);
	}
	leave(c);
}

static void on_timer(evutil_socket_t fd, short what, void *ctx)
{
	(void)fd;
	(void)what;
	struct st_conn *c = ctx;
	enter(c);
	if (!c->closing) {
		if (c->cbs.timeout)
			c->cbs.timeout(c->ctx, c);
		else
			mark_closed(c, ST_STATUS_TIMEOUT, "timeout");
	}
	leave(c);
}

void st_conn_set_timeout(struct st_conn *c, int64_t ms)
{
	if (c->closing)
		return;
	if (ms <= 0) {
		evtimer_del(c->timer);
		return;
	}
	struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
	evtimer_add(c->timer, &tv);
}

static struct st_conn *conn_new(struct event_base *base, evutil_socket_t fd, bool dialer,
                                const struct st_endpoint *ep, const struct st_conn_opts *o,
                                const struct st_conn_cbs *cbs, void *ctx, struct st_err *err)
{
	struct st_conn *c = calloc(1, sizeof *c);
	if (!c) {
		if (fd >= 0)
			evutil_closesocket(fd);
		st_err_set(err, ST_EX_SOFTWARE, "out of memory");
		return NULL;
	}
	c->base = base;
	c->fd = -1;
	/* reading stops once ST_CONN_OUT_MAX waits, so the queue holds at most that and one
	 * flush of the session's output (its own ceiling) */
	st_buf_init(&c->wq, ST_CONN_OUT_MAX + ST_FRAME_MAX + 64);
	c->dialer = dialer;
	c->connected = !dialer;
	c->ep = *ep;
	c->ctx = ctx;
	if (cbs)
		c->cbs = *cbs;
	bool no_id = o->expected_id && *o->expected_id &&
	             !(c->expected_id = strndup(o->expected_id, ST_NODE_ID_MAX));
	if (no_id || st_session_init(&c->s, dialer, o->local, o->max_frame, on_session_event, c,
	                             err) < 0) {
		if (fd >= 0)
			evutil_closesocket(fd);
		if (no_id)
			st_err_set(err, ST_EX_SOFTWARE, "out of memory");
		free(c->expected_id);
		free(c);
		return NULL;
	}
	c->budget = o->budget;
	c->traffic = o->traffic;
	bool ok;
	if (o->tls) {
		c->bev = wrap_socket(c, fd, o, err);
		if (!c->bev && fd >= 0)
			evutil_closesocket(fd);
		ok = c->bev != NULL;
	} else {
		c->fd = fd;
		ok = fd < 0 || ((c->rd = event_new(base, fd, EV_READ | EV_PERSIST, on_readable, c)) &&
		                (c->wr = event_new(base, fd, EV_WRITE | EV_PERSIST, on_writable, c)));
	}
	c->timer = ok ? evtimer_new(base, on_timer, c) : NULL;
	if (!c->timer) {
		if (ok || !o->tls) /* wrap_socket said why it failed */
			st_err_set(err, ST_EX_SOFTWARE, "out of memory");
		release(c);
		return NULL;
	}
	/* over TLS the bufferevent reads and writes. A plain connection reads its socket
	 * itself (read_own: an accepted one now, a dial once connected), and an accepted one
	 * is writable at once: its write event waits for something to wait (queue) */
	if (c->tls) {
		bufferevent_setcb(c->bev, on_read, on_write, on_bev_event, c);
		bufferevent_setwatermark(c->bev, EV_WRITE, ST_CONN_OUT_MAX / 2, 0);
		bufferevent_setwatermark(c->bev, EV_READ, 0, ST_CONN_IN_MAX);
		tls_no_delay(c);
		bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	} else if (!dialer) {
		read_own(c);
	}
	return c;
}

/*
 * A non-blocking socket bound to source (any port) for dialing ep, or -1 with err:
 * a source of the other family, or one not ours (EADDRNOTAVAIL), is the caller's
 * mistake, said as such rather than as a failed dial.
 */
static evutil_socket_t bound_socket(const struct st_endpoint *source, const struct st_endpoint *ep,
                                    struct st_err *err)
{
	char a[ST_ENDPOINT_STRLEN];
	struct st_endpoint src = *source;
	src.port = 0;
	st_addr_format(&src, a, sizeof a);
	if (src.family != ep->family)
		return st_err_set(err, ST_EX_USAGE, "cannot dial %s from %s: another address family",
		                  ep->family == ST_AF_INET ? "an IPv4 endpoint" : "an IPv6 endpoint", a);
	struct sockaddr_storage ss;
	socklen_t len;
	st_endpoint_to_sockaddr(&src, &ss, &len);
	evutil_socket_t fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return st_err_set(err, ST_EX_TEMPFAIL, "socket: %s", strerror(errno));
#ifdef IP_BIND_ADDRESS_NO_PORT
	/* the port is picked at connect, per destination: thousands of dials from one
	 * address then do not run out of ephemeral ports at bind */
	int one = 1;
	(void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
#endif
	if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
		int e = errno;
		evutil_closesocket(fd);
		return st_err_set(err, e == EADDRNOTAVAIL ? ST_EX_USAGE : ST_EX_TEMPFAIL,
		                  "cannot dial from %s: %s", a, strerror(e));
	}
	return fd;
}

int st_conn_bind_check(const struct st_endpoint *source, struct st_err *err)
{
	evutil_socket_t fd = bound_socket(source, source, err);
	if (fd < 0)
		return -1;
	evutil_closesocket(fd);
	return 0;
}

/* A dial waits for the write event to tell its connect: 0, or ENOMEM when it cannot. */
static int await_connect(struct st_conn *c)
{
	return event_add(c->wr, NULL) < 0 ? ENOMEM : 0;
}

/*
 * A plain dial's Handshake, sent right after its connect: on loopback the connection is
 * established by then, and the socket taking the bytes says so (TCP refuses them before,
 * EAGAIN), so the dial never waits for the write event nor asks the socket for its
 * connect's error (one wakeup and three system calls fewer a dial). The connect is told
 * from the loop all the same (the write event made active); what is queued before that
 * waits for the write event (connect_done arms it). Returns 0, or the connect's error the
 * send met (it takes the socket's error from it: the write event would find none).
 */
static int send_early(struct st_conn *c)
{
	struct st_buf *b = &c->s.out;
	ssize_t k = 0;
	if (b->len == 0) /* nothing to tell the connect by */
		return await_connect(c);
	while ((k = send(c->fd, b->data, b->len, MSG_DONTWAIT | MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	if (k < 0)
		return send_later(errno) ? await_connect(c) : errno;
	if (c->traffic)
		c->traffic->out += (uint64_t)k;
	memmove(b->data, b->data + k, b->len - (size_t)k); /* the rest: flush sends it */
	b->len -= (size_t)k;
	c->sent_early = true;
	event_active(c->wr, EV_WRITE, 1);
	return 0;
}

int st_conn_dial(struct st_conn **out, struct event_base *base, const struct st_endpoint *ep,
                 const struct st_conn_opts *o, const struct st_conn_cbs *cbs, void *ctx,
                 struct st_err *err)
{
	evutil_socket_t fd = -1;
	int e = 0;
	struct sockaddr_storage ss;
	socklen_t len;
	st_endpoint_to_sockaddr(ep, &ss, &len);
	if (o->source && (fd = bound_socket(o->source, ep, err)) < 0)
		return -1;
	/* a plain dial makes its socket and connects it itself; TLS's bufferevent does both */
	if (!o->source && !o->tls &&
	    (fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		e = errno;
	struct st_conn *c = conn_new(base, fd, true, ep, o, cbs, ctx, err);
	if (!c)
		return -1;
	if (c->tls) {
		if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&ss, (int)len) < 0)
			e = EVUTIL_SOCKET_ERROR();
		else if (!o->source)
			tls_no_delay(c); /* the socket bufferevent_socket_connect just made */
	} else if (fd >= 0) {
		/* connected at once, or later: either way told from the loop, by the write event */
		if (connect(fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS &&
		    errno != EINTR)
			e = errno;
		else if (st_endpoint_class(ep) == ST_CLASS_LOOPBACK)
			e = send_early(c);
		else /* a round trip away: a send now would only meet EAGAIN */
			e = await_connect(c);
	}
	if (e) {
		/* reported from the loop, never from inside this call */
		mark_closed(c, e == ECONNREFUSED ? ST_STATUS_REFUSED : ST_STATUS_UNREACHABLE,
		            evutil_socket_error_to_string(e));
		event_active(c->timer, EV_TIMEOUT, 1);
	}
	*out = c;
	return 0;
}

int st_conn_accept(struct st_conn **out, struct event_base *base, int fd,
                   const struct st_endpoint *ep, const struct st_conn_opts *o,
                   const struct st_conn_cbs *cbs, void *ctx, struct st_err *err)
{
	struct st_conn *c = conn_new(base, fd, false, ep, o, cbs, ctx, err);
	if (!c)
		return -1;
	*out = c;
	return 0;
}

static int sent(struct st_conn *c, int rc)
{
	if (rc == 0)
		flush(c);
	return rc;
}

int st_conn_ping(struct st_conn *c)
{
	if (c->closing)
		return -1;
	return sent(c, st_session_ping(&c->s, st_monotonic_ms()));
}

int st_conn_getpeers(struct st_conn *c, int32_t max_count, const struct st_endpoint *exclude,
                     size_t nexclude)
{
	if (c->closing)
		return -1;
	return sent(c, st_session_getpeers(&c->s, max_count, exclude, nexclude));
}

int st_conn_raw(struct st_conn *c, uint8_t type, const uint8_t *payload, size_t len)
{
	if (c->closing)
		return -1;
	return sent(c, st_session_raw(&c->s, type, payload, len));
}

const struct st_session *st_conn_session(const struct st_conn *c)
{
	return &c->s;
}

const struct st_endpoint *st_conn_endpoint(const struct st_conn *c)
{
	return &c->ep;
}

const char *st_conn_expected_id(const struct st_conn *c)
{
	return c->expected_id ? c->expected_id : "";
}

bool st_conn_connected(const struct st_conn *c)
{
	return c->connected;
}

bool st_conn_handshaken(const struct st_conn *c)
{
	return c->handshaken;
}

const char *st_conn_verified_id(const struct st_conn *c)
{
	/* the certificate's id is proven only once TLS checked the peer's signature
	 * with it: a refusal inside the handshake (a pin) comes before that */
	return c->tls_done && c->peer ? c->peer->id : "";
}

const char *st_conn_previous_id(const struct st_conn *c)
{
	return c->peer && c->peer->changed ? c->peer->known_id : "";
}
