/* connect_session.c - `st-connect session`: commands in, every message out, with timestamps.
 * The command interpreter is the program's; the connection is the engine's (engine.h). */
#include <ctype.h>
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

#include "connect_session.h"
#include "st/engine.h"

#define COMMAND_MAX 4096
#define PENDING_MAX (1 << 20) /* commands read ahead of the session */

struct ia {
	struct event_base *base;
	struct st_conn *c;
	struct bufferevent *in;
	int64_t timeout_ms;
	bool ready, waiting, stdin_done, quit;
	struct st_buf pending;   /* commands read but not yet run */
	struct st_err *err;
	int rc;
};

static void stamp(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void stamp(const char *fmt, ...)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	printf("%02d:%02d:%02d.%03ld ", tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void finish(struct ia *a)
{
	event_base_loopbreak(a->base);
}

static void run_commands(struct ia *a);

static void on_event(void *ctx, struct st_conn *c, struct st_session_event *ev)
{
	struct ia *a = ctx;
	const struct st_hello *r = st_conn_session(c)->remote;
	char name[16], ep[ST_ENDPOINT_STRLEN];
	switch (ev->kind) {
	case ST_EV_HANDSHAKE:
		stamp("< HandshakeAck version=%d node_id=%s user_agent=\"%s\"%s", r->version, r->node_id,
		      r->user_agent, r->has_ext ? "" : " (reference node)");
		if (r->has_ext)
			stamp("  extension: listen_port=%u nonce=%s services=0x%" PRIx64, r->listen_port,
			      r->has_nonce ? "yes" : "no", r->services);
		a->ready = true;
		st_conn_set_timeout(c, 0);
		break;
	case ST_EV_PONG:
		stamp("< Pong rtt=%" PRId64 "ms", ev->rtt_ms);
		break;
	case ST_EV_PING:
		stamp("< Ping (answered with Pong)");
		break;
	case ST_EV_PEERS:
		stamp("< Peers count=%zu", ev->npeers);
		for (size_t i = 0; i < ev->npeers; i++) {
			st_endpoint_format(&ev->peers[i], ep, sizeof ep);
			stamp("  %s", ep);
		}
		break;
	case ST_EV_GETPEERS:
		stamp("< GetPeers max_count=%d (answered with no peers)", ev->getpeers->max_count);
		ev->nreply = 0;
		break;
	case ST_EV_HEARTBEAT:
		stamp("< Heartbeat (%zu bytes)", ev->length);
		break;
	case ST_EV_ERROR_MSG:
		stamp("< Error \"%s\"", ev->text);
		break;
	case ST_EV_OTHER:
		stamp("< %s (%zu bytes)", st_msg_name(ev->type, name, sizeof name), ev->length);
		break;
	}
}

/* After each batch of input: an answer we waited for ends the wait. */
static void on_input(void *ctx, struct st_conn *c)
{
	struct ia *a = ctx;
	const struct st_session *s = st_conn_session(c);
	if (a->waiting && !s->ping_pending && !s->getpeers_pending) {
		a->waiting = false;
		st_conn_set_timeout(c, 0);
	}
	run_commands(a);
}

static void on_connected(void *ctx, struct st_conn *c)
{
	(void)ctx;
	(void)c;
	stamp("> Handshake");
}

static void on_timeout(void *ctx, struct st_conn *c)
{
	struct ia *a = ctx;
	const char *why = !st_conn_connected(c) ? "no answer to connect" : !a->ready ? "no handshake"
	                                                                             : "no answer";
	stamp("! timeout: %s", why);
	a->rc = st_err_set(a->err, ST_EX_UNAVAILABLE, "timeout: %s", why);
	st_conn_close(c, ST_STATUS_TIMEOUT, why);
}

static void on_closed(void *ctx, struct st_conn *c, enum st_status status, const char *error)
{
	struct ia *a = ctx;
	const struct st_session *s = st_conn_session(c);
	a->c = NULL;
	finish(a);
	if (status == ST_STATUS_TIMEOUT && a->rc)
		return; /* said by on_timeout */
	if (s->reason == ST_CLOSE_EOF || s->reason == ST_CLOSE_NONE) {
		/* the peer or the socket ended it: an error only when we were waiting */
		stamp("! %s", error ? error : st_status_name(status));
		if (!a->ready || a->waiting)
			a->rc = st_err_set(a->err, ST_EX_UNAVAILABLE, "%s", error ? error : st_status_name(status));
		return;
	}
	stamp("! closed: %s: %s", st_close_reason_name(s->reason), s->detail);
	a->rc = st_err_set(a->err, ST_EX_UNAVAILABLE, "%s: %s", st_close_reason_name(s->reason),
	                   s->detail);
}

static const struct st_conn_cbs session_cbs = {
	.connected = on_connected,
	.event = on_event,
	.input = on_input,
	.timeout = on_timeout,
	.closed = on_closed,
};

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
		st_conn_ping(a->c);
		stamp("> Ping");
		return true;
	}
	if (strcmp(cmd, "getpeers") == 0) {
		char *n = strtok(NULL, " \t");
		long max = n ? strtol(n, NULL, 10) : ST_GETPEERS_DEFAULT;
		if (max < 1 || max > ST_PEERS_MAX) {
			stamp("! getpeers N: N is 1..%d", ST_PEERS_MAX);
			return false;
		}
		st_conn_getpeers(a->c, (int32_t)max, NULL, 0);
		stamp("> GetPeers max_count=%ld", max);
		return true;
	}
	if (strcmp(cmd, "raw") == 0) {
		char *t = strtok(NULL, " \t"), *hex = strtok(NULL, " \t");
		char *end = NULL;
		long type = t ? strtol(t, &end, 0) : -1;
		if (!t || *end || type < 0 || type > 255) {
			stamp("! raw TYPE HEX: TYPE is 0x00..0xff");
			return false;
		}
		uint8_t payload[COMMAND_MAX / 2];
		size_t n = 0;
		for (const char *h = hex ? hex : ""; h[0] && h[1] && n < sizeof payload; h += 2) {
			int hi = hexval(h[0]), lo = hexval(h[1]);
			if (hi < 0 || lo < 0) {
				stamp("! raw: '%s' is not hex", hex);
				return false;
			}
			payload[n++] = (uint8_t)(hi << 4 | lo);
		}
		st_conn_raw(a->c, (uint8_t)type, payload, n);
		char name[16];
		stamp("> %s (%zu bytes)", st_msg_name((uint8_t)type, name, sizeof name), n);
		return false;
	}
	stamp("! unknown command '%s' (ping, getpeers N, raw 0xTT HEX, quit)", cmd);
	return false;
}

static void run_commands(struct ia *a)
{
	while (a->c && a->ready && !a->waiting && !a->quit) {
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
			st_conn_set_timeout(a->c, a->timeout_ms);
		}
	}
	if (a->quit || (a->ready && !a->waiting && a->stdin_done && !a->pending.len))
		finish(a);
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

static void end_of_commands(struct ia *a)
{
	a->stdin_done = true;
	if (a->pending.len && a->pending.data[a->pending.len - 1] != '\n')
		st_buf_append(&a->pending, "\n", 1, NULL);
}

static void in_event(struct bufferevent *bev, short events, void *ctx)
{
	(void)bev;
	struct ia *a = ctx;
	if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		end_of_commands(a);
		run_commands(a);
	}
}

static void on_stop(evutil_socket_t fd, short what, void *ctx)
{
	(void)fd;
	(void)what;
	finish(ctx);
}

int st_connect_session(const struct st_endpoint *ep, const struct st_handshake *local,
                       int64_t timeout_ms, int in_fd, int stop_fd, struct st_err *err)
{
	struct ia a = {.timeout_ms = timeout_ms, .err = err};
	struct event *si = NULL;
	st_buf_init(&a.pending, PENDING_MAX);
	a.base = event_base_new();
	if (!a.base)
		return st_err_set(err, ST_EX_SOFTWARE, "cannot start the event loop");
	struct stat st;
	if (fstat(in_fd, &st) == 0 && S_ISREG(st.st_mode)) {
		/* epoll cannot watch regular files: take the commands whole */
		char chunk[4096];
		ssize_t n;
		while ((n = read(in_fd, chunk, sizeof chunk)) > 0)
			if (st_buf_append(&a.pending, chunk, (size_t)n, NULL) < 0)
				break;
		end_of_commands(&a);
	} else {
		a.in = bufferevent_socket_new(a.base, in_fd, 0);
		if (a.in) {
			bufferevent_setcb(a.in, in_read, NULL, in_event, &a);
			bufferevent_enable(a.in, EV_READ);
		}
	}
	if (stop_fd > 0 && (si = event_new(a.base, stop_fd, EV_READ, on_stop, &a)))
		event_add(si, NULL);
	char eps[ST_ENDPOINT_STRLEN];
	st_endpoint_format(ep, eps, sizeof eps);
	stamp("connecting to %s", eps);
	struct st_conn_opts co = {.local = local, .max_frame = ST_FRAME_MAX};
	if (!a.in && !a.stdin_done)
		a.rc = st_err_set(err, ST_EX_SOFTWARE, "cannot read the commands");
	else if (st_conn_dial(&a.c, a.base, ep, &co, &session_cbs, &a, err) < 0)
		a.rc = -1;
	else {
		st_conn_set_timeout(a.c, timeout_ms);
		event_base_dispatch(a.base);
	}
	st_conn_free(a.c); /* still open after quit, end of commands or a stop */
	if (si)
		event_free(si);
	if (a.in)
		bufferevent_free(a.in);
	event_base_free(a.base);
	st_buf_clear(&a.pending);
	return a.rc;
}
