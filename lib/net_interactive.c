/* net_interactive.c - `st-connect session`: commands in, every message out, with timestamps. */
#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "st/net.h"

#define COMMAND_MAX 4096

struct ia {
	struct event_base *base;
	struct bufferevent *peer, *in;
	struct event *timer;
	struct st_session s;
	void (*say)(void *, const char *);
	void *ctx;
	int64_t timeout_ms;
	bool connected, ready, waiting, stdin_done, quit;
	struct st_buf pending;   /* commands read but not yet run */
	struct st_err *err;
	int rc;
};

static void stamp(struct ia *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void stamp(struct ia *a, const char *fmt, ...)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char line[2048];
	int n = snprintf(line, sizeof line, "%02d:%02d:%02d.%03ld ", tm.tm_hour, tm.tm_min, tm.tm_sec,
	                 ts.tv_nsec / 1000000);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	va_end(ap);
	a->say(a->ctx, line);
}

static void arm(struct ia *a)
{
	struct timeval tv = {(time_t)(a->timeout_ms / 1000), (suseconds_t)(a->timeout_ms % 1000) * 1000};
	evtimer_add(a->timer, &tv);
}

static void finish(struct ia *a)
{
	event_base_loopbreak(a->base);
}

static void run_commands(struct ia *a);

static void on_event(void *ctx, struct st_session *s, struct st_session_event *ev)
{
	struct ia *a = ctx;
	char name[16], ep[ST_ENDPOINT_STRLEN];
	switch (ev->kind) {
	case ST_EV_HANDSHAKE:
		stamp(a, "< HandshakeAck version=%d node_id=%s user_agent=\"%s\"%s", s->remote.version,
		      s->remote.node_id, s->remote.user_agent, s->remote.has_ext ? "" : " (reference node)");
		if (s->remote.has_ext)
			stamp(a, "  extension: listen_port=%u nonce=%s services=0x%" PRIx64,
			      s->remote.listen_port, s->remote.has_nonce ? "yes" : "no", s->remote.services);
		break;
	case ST_EV_PONG:
		stamp(a, "< Pong rtt=%" PRId64 "ms", ev->rtt_ms);
		break;
	case ST_EV_PING:
		stamp(a, "< Ping (answered with Pong)");
		break;
	case ST_EV_PEERS:
		stamp(a, "< Peers count=%zu", ev->npeers);
		for (size_t i = 0; i < ev->npeers; i++) {
			st_endpoint_format(&ev->peers[i], ep, sizeof ep);
			stamp(a, "  %s", ep);
		}
		break;
	case ST_EV_GETPEERS:
		stamp(a, "< GetPeers max_count=%d (answered with no peers)", ev->getpeers->max_count);
		ev->nreply = 0;
		break;
	case ST_EV_HEARTBEAT:
		stamp(a, "< Heartbeat (%zu bytes)", ev->length);
		break;
	case ST_EV_ERROR_MSG:
		stamp(a, "< Error \"%s\"", ev->text);
		break;
	case ST_EV_OTHER:
		stamp(a, "< %s (%zu bytes)", st_msg_name(ev->type, name, sizeof name), ev->length);
		break;
	}
}

static void flush(struct ia *a)
{
	if (a->s.out.len) {
		bufferevent_write(a->peer, a->s.out.data, a->s.out.len);
		st_buf_reset(&a->s.out);
	}
}

static int hexval(int c)
{
	return isdigit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10
	     : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
}

/* Runs one command line; returns true when it waits for an answer. */
static bool run_one(struct ia *a, char *line)
{
	char *cmd = strtok(line, " \t");
	if (!cmd || cmd[0] == '#')
		return false;
	if (strcmp(cmd, "quit") == 0 || strcmp(cmd, "exit") == 0) {
		a->quit = true;
		return false;
	}
	if (strcmp(cmd, "ping") == 0) {
		st_session_ping(&a->s, st_monotonic_ms());
		stamp(a, "> Ping");
		flush(a);
		return true;
	}
	if (strcmp(cmd, "getpeers") == 0) {
		char *n = strtok(NULL, " \t");
		long max = n ? strtol(n, NULL, 10) : ST_GETPEERS_DEFAULT;
		if (max < 1 || max > ST_PEERS_MAX) {
			stamp(a, "! getpeers N: N is 1..%d", ST_PEERS_MAX);
			return false;
		}
		st_session_getpeers(&a->s, (int32_t)max, NULL, 0);
		stamp(a, "> GetPeers max_count=%ld", max);
		flush(a);
		return true;
	}
	if (strcmp(cmd, "raw") == 0) {
		char *t = strtok(NULL, " \t"), *hex = strtok(NULL, " \t");
		char *end = NULL;
		long type = t ? strtol(t, &end, 0) : -1;
		if (!t || *end || type < 0 || type > 255) {
			stamp(a, "! raw TYPE HEX: TYPE is 0x00..0xff");
			return false;
		}
		uint8_t payload[COMMAND_MAX / 2];
		size_t n = 0;
		for (const char *h = hex ? hex : ""; h[0] && h[1] && n < sizeof payload; h += 2) {
			int hi = hexval(h[0]), lo = hexval(h[1]);
			if (hi < 0 || lo < 0) {
				stamp(a, "! raw: '%s' is not hex", hex);
				return false;
			}
			payload[n++] = (uint8_t)(hi << 4 | lo);
		}
		st_session_raw(&a->s, (uint8_t)type, payload, n);
		char name[16];
		stamp(a, "> %s (%zu bytes)", st_msg_name((uint8_t)type, name, sizeof name), n);
		flush(a);
		return false;
	}
	stamp(a, "! unknown command '%s' (ping, getpeers N, raw 0xTT HEX, quit)", cmd);
	return false;
}

static void run_commands(struct ia *a)
{
	while (a->ready && !a->waiting && !a->quit) {
		char *nl = a->pending.len ? memchr(a->pending.data, '\n', a->pending.len) : NULL;
		if (!nl)
			break;
		size_t n = (size_t)(nl - a->pending.data);
		char line[COMMAND_MAX];
		size_t k = n < sizeof line - 1 ? n : sizeof line - 1;
		memcpy(line, a->pending.data, k);
		line[k] = '\0';
		memmove(a->pending.data, nl + 1, a->pending.len - n - 1);
		a->pending.len -= n + 1;
		if (run_one(a, line)) {
			a->waiting = true;
			arm(a);
		}
	}
	if (a->quit || (a->ready && !a->waiting && a->stdin_done && !a->pending.len))
		finish(a);
}

static void peer_read(struct bufferevent *bev, void *ctx)
{
	struct ia *a = ctx;
	bool had_ping = a->s.ping_pending, had_peers = a->s.getpeers_pending;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t chunk[65536];
	int n;
	while ((n = evbuffer_remove(in, chunk, sizeof chunk)) > 0) {
		if (st_session_input(&a->s, chunk, (size_t)n, st_monotonic_ms()) < 0) {
			stamp(a, "! closed: %s: %s", st_close_reason_name(a->s.reason), a->s.detail);
			a->rc = st_err_set(a->err, ST_EX_UNAVAILABLE, "%s: %s",
			                   st_close_reason_name(a->s.reason), a->s.detail);
			finish(a);
			return;
		}
	}
	flush(a);
	if (!a->ready && a->s.state == ST_SESS_READY) {
		a->ready = true;
		evtimer_del(a->timer);
	}
	if ((had_ping && !a->s.ping_pending) || (had_peers && !a->s.getpeers_pending)) {
		a->waiting = false;
		evtimer_del(a->timer);
	}
	run_commands(a);
}

static void peer_event(struct bufferevent *bev, short events, void *ctx)
{
	(void)bev;
	struct ia *a = ctx;
	if (events & BEV_EVENT_CONNECTED) {
		a->connected = true;
		stamp(a, "> Handshake");
		flush(a);
		return;
	}
	if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		const char *why = events & BEV_EVENT_ERROR
		                      ? evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()) : "closed by peer";
		stamp(a, "! %s", why);
		if (!a->ready || a->waiting)
			a->rc = st_err_set(a->err, ST_EX_UNAVAILABLE, "%s", why);
		finish(a);
	}
}

static void in_read(struct bufferevent *bev, void *ctx)
{
	struct ia *a = ctx;
	struct evbuffer *in = bufferevent_get_input(bev);
	char chunk[4096];
	int n;
	while ((n = evbuffer_remove(in, chunk, sizeof chunk)) > 0)
		if (st_buf_append(&a->pending, chunk, (size_t)n, NULL) < 0)
			break;
	run_commands(a);
}

static void in_event(struct bufferevent *bev, short events, void *ctx)
{
	(void)bev;
	struct ia *a = ctx;
	if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		a->stdin_done = true;
		if (a->pending.len && a->pending.data[a->pending.len - 1] != '\n')
			st_buf_append(&a->pending, "\n", 1, NULL);
		run_commands(a);
	}
}

static void on_timeout(evutil_socket_t fd, short what, void *ctx)
{
	(void)fd;
	(void)what;
	struct ia *a = ctx;
	const char *why = !a->connected ? "no answer to connect" : !a->ready ? "no handshake" : "no answer";
	stamp(a, "! timeout: %s", why);
	a->rc = st_err_set(a->err, ST_EX_UNAVAILABLE, "timeout: %s", why);
	finish(a);
}

static void on_stop(evutil_socket_t fd, short what, void *ctx)
{
	(void)fd;
	(void)what;
	finish(ctx);
}

int st_net_interactive(const struct st_endpoint *ep, const struct st_handshake *local,
                       int64_t timeout_ms, int in_fd, int stop_fd,
                       void (*say)(void *ctx, const char *line), void *ctx, struct st_err *err)
{
	struct ia a = {.say = say, .ctx = ctx, .timeout_ms = timeout_ms, .err = err};
	st_buf_init(&a.pending, 1 << 20);
	if (st_session_init(&a.s, true, local, ST_FRAME_MAX, on_event, &a, err) < 0)
		return -1;
	a.base = event_base_new();
	if (!a.base) {
		st_session_clear(&a.s);
		return st_err_set(err, ST_EX_SOFTWARE, "cannot start the event loop");
	}
	struct stat st;
	if (fstat(in_fd, &st) == 0 && S_ISREG(st.st_mode)) {
		/* epoll cannot watch regular files: take the commands whole */
		char chunk[4096];
		ssize_t n;
		while ((n = read(in_fd, chunk, sizeof chunk)) > 0)
			st_buf_append(&a.pending, chunk, (size_t)n, NULL);
		if (a.pending.len && a.pending.data[a.pending.len - 1] != '\n')
			st_buf_append(&a.pending, "\n", 1, NULL);
		a.stdin_done = true;
	} else {
		a.in = bufferevent_socket_new(a.base, in_fd, 0);
		bufferevent_setcb(a.in, in_read, NULL, in_event, &a);
		bufferevent_enable(a.in, EV_READ);
	}
	a.peer = bufferevent_socket_new(a.base, -1, BEV_OPT_CLOSE_ON_FREE);
	a.timer = evtimer_new(a.base, on_timeout, &a);
	bufferevent_setcb(a.peer, peer_read, NULL, peer_event, &a);
	bufferevent_enable(a.peer, EV_READ | EV_WRITE);
	struct event *si = stop_fd > 0 ? event_new(a.base, stop_fd, EV_READ, on_stop, &a) : NULL;
	if (si)
		event_add(si, NULL);
	arm(&a);
	struct sockaddr_storage ss;
	socklen_t len;
	st_endpoint_to_sockaddr(ep, &ss, &len);
	char eps[ST_ENDPOINT_STRLEN];
	st_endpoint_format(ep, eps, sizeof eps);
	stamp(&a, "connecting to %s", eps);
	if (bufferevent_socket_connect(a.peer, (struct sockaddr *)&ss, (int)len) < 0)
		a.rc = st_err_set(err, ST_EX_UNAVAILABLE, "%s: %s", eps,
		                  evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	else
		event_base_dispatch(a.base);
	if (si)
		event_free(si);
	event_free(a.timer);
	bufferevent_free(a.peer);
	if (a.in)
		bufferevent_free(a.in);
	event_base_free(a.base);
	st_session_clear(&a.s);
	st_buf_clear(&a.pending);
	return a.rc;
}
