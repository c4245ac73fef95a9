/* test_engine.c - a dialer and a listener on one loop over 127.0.0.1, port 0. */
#include "unit.h"

#include <event2/event.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "st/engine.h"

#define LOOP_MAX 2000 /* loop turns a test may take: a bound, never a timing */

static struct st_handshake local(const char *id, uint64_t nonce)
{
	struct st_handshake h = {.version = 1, .timestamp = 1, .has_ext = true, .has_nonce = true,
	                         .nonce = nonce, .has_services = true, .services = 1};
	strcpy(h.node_id, id);
	strcpy(h.user_agent, "test/1");
	return h;
}

struct world {
	struct event_base *base;
	struct st_listener *l;
	struct st_endpoint addr;       /* where the listener listens */
	struct st_dialer *d;
	/* listener side */
	int sessions;
	enum st_status last_in;
	/* dialer side, in callback order */
	char log[512];
	int results, idles, more;      /* more: endpoints the result callback still adds */
	struct st_dial_result last;
	char last_expected[ST_NODE_ID_MAX + 1];
	char last_remote[ST_NODE_ID_MAX + 1];
	size_t peers_seen;
	bool ban;
};

static void logf_(struct world *w, const char *what)
{
	strncat(w->log, what, sizeof w->log - strlen(w->log) - 1);
}

static size_t answer_peers(void *ctx, const struct st_endpoint *requester,
                           const struct st_getpeers *req, struct st_endpoint *reply, size_t max)
{
	(void)ctx;
	(void)requester;
	(void)req;
	const char *eps[] = {"8.8.8.8:7777", "9.9.9.9:7777", "1.1.1.1:7777"};
	size_t n = 0;
	for (; n < 3 && n < max; n++)
		st_endpoint_parse(&reply[n], eps[n], strlen(eps[n]), NULL);
	return n;
}

static void on_session(void *ctx, const struct st_inbound *in)
{
	struct world *w = ctx;
	w->sessions++;
	w->last_in = in->status;
}

static void setup_listener(struct world *w, int64_t getpeers_interval)
{
	struct st_err err = {0};
	w->base = event_base_new();
	assert_non_null(w->base);
	struct st_listener_opts lo = {
		.max_conns = 16, .max_per_ip = 16,
		.idle_timeout_ms = 10000, .handshake_timeout_ms = 10000,
		.max_frame = ST_FRAME_MAX, .getpeers_interval = getpeers_interval,
		.local = local("listener-1", 2),
		.ctx = w, .getpeers = answer_peers, .session = on_session,
	};
	assert_int_equal(st_listener_new(&w->l, w->base, &lo, &err), 0);
	assert_int_equal(st_listener_bind(w->l, "127.0.0.1:0", &w->addr, &err), 0);
	assert_true(w->addr.port > 0);
}

static void on_result(void *ctx, const struct st_dial_result *r)
{
	struct world *w = ctx;
	char e[32];
	snprintf(e, sizeof e, "r%zu:%s ", r->index, st_status_name(r->status));
	logf_(w, e);
	w->results++;
	w->last = *r;
	st_strlcpy(w->last_expected, r->expected_id ? r->expected_id : "", sizeof w->last_expected);
	st_strlcpy(w->last_remote, r->remote ? r->remote->node_id : "", sizeof w->last_remote);
	w->peers_seen = r->npeers;
	/* a driver adds what it learned while the dialer runs */
	if (w->more > 0) {
		w->more--;
		assert_true(st_dialer_add(w->d, &w->addr, NULL, NULL) >= 0);
	}
}

static void on_progress(void *ctx, size_t done, size_t total, long ok)
{
	struct world *w = ctx;
	char e[32];
	snprintf(e, sizeof e, "p%zu/%zu/%ld ", done, total, ok);
	logf_(w, e);
}

static void on_idle(void *ctx, struct st_dialer *d)
{
	struct world *w = ctx;
	assert_true(st_dialer_idle(d));
	w->idles++;
	logf_(w, "idle ");
	event_base_loopbreak(w->base);
}

static bool banned(void *ctx, const char *id)
{
	struct world *w = ctx;
	return w->ban && strcmp(id, "listener-1") == 0;
}

static void setup_dialer(struct world *w, bool ping, int32_t getpeers, size_t max_queued)
{
	struct st_err err = {0};
	struct st_dialer_opts o = {
		.jobs = 1, .timeout_ms = 10000, .ping = ping, .getpeers = getpeers,
		.max_queued = max_queued, .local = local("dialer-1", 1), .ctx = w,
		.result = on_result, .progress = on_progress, .banned_id = banned, .idle = on_idle,
	};
	assert_int_equal(st_dialer_new(&w->d, w->base, &o, &err), 0);
	assert_true(st_dialer_idle(w->d));
}

/* Runs the loop until the listener has seen `sessions` sessions end. */
static void settle(struct world *w, int sessions)
{
	for (int i = 0; i < LOOP_MAX && w->sessions < sessions; i++)
		event_base_loop(w->base, EVLOOP_ONCE);
	assert_int_equal(w->sessions, sessions);
}

static void teardown(struct world *w)
{
	st_dialer_free(w->d);
	st_listener_free(w->l);
	event_base_free(w->base);
}

static void dial_ping_getpeers_and_drain(void **state)
{
	(void)state;
	struct world w = {0};
	setup_listener(&w, 0);
	setup_dialer(&w, true, 2, 0);
	assert_int_equal(st_dialer_add(w.d, &w.addr, "listener-1", NULL), 0);
	assert_int_equal(st_dialer_queued(w.d), 1);
	assert_false(st_dialer_idle(w.d));
	event_base_dispatch(w.base); /* until idle breaks it */
	assert_string_equal(w.log, "r0:ok p1/1/1 idle ");
	assert_int_equal(w.last.status, ST_STATUS_OK);
	assert_string_equal(w.last_remote, "listener-1");
	assert_string_equal(w.last_expected, "listener-1"); /* kept with the endpoint */
	assert_true(w.last.rtt_ms >= 0);
	assert_int_equal(w.peers_seen, 2); /* asked for 2 of the 3 */
	assert_int_equal(w.last.npeers_sent, 2);
	assert_true(st_dialer_idle(w.d));
	assert_int_equal(st_dialer_running(w.d), 0);
	assert_int_equal(st_dialer_done(w.d), 1);
	assert_int_equal(st_dialer_ok(w.d), 1);
	settle(&w, 1);
	assert_int_equal(w.last_in, ST_STATUS_OK);
	assert_int_equal(st_listener_nconns(w.l), 0);
	teardown(&w);
}

static void endpoints_added_while_running_in_order(void **state)
{
	(void)state;
	struct world w = {0};
	setup_listener(&w, 0);
	setup_dialer(&w, false, 0, 0);
	w.more = 2;
	assert_int_equal(st_dialer_add(w.d, &w.addr, NULL, NULL), 0);
	event_base_dispatch(w.base);
	/* one idle, after the last result: the adds from inside the results kept it
	 * busy, and progress counts them as soon as they are added */
	assert_string_equal(w.log, "r0:ok p1/2/1 r1:ok p2/3/2 r2:ok p3/3/3 idle ");
	assert_int_equal(w.idles, 1);
	assert_string_equal(w.last_expected, "");
	/* idle again after more work */
	assert_int_equal(st_dialer_add(w.d, &w.addr, NULL, NULL), 3);
	event_base_dispatch(w.base);
	assert_int_equal(w.idles, 2);
	assert_int_equal(w.results, 4);
	settle(&w, 4);
	teardown(&w);
}

static int closed_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof sa;
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd); /* nobody listens there now */
	return ntohs(sa.sin_port);
}

static void refused_banned_and_bad_input(void **state)
{
	(void)state;
	struct world w = {0};
	struct st_err err = {0};
	setup_listener(&w, 0);
	setup_dialer(&w, false, 0, 2);
	struct st_endpoint closed = w.addr;
	closed.port = (uint16_t)closed_port();
	assert_int_equal(st_dialer_add(w.d, &closed, NULL, NULL), 0);
	assert_int_equal(st_dialer_add(w.d, &w.addr, "not an id!", &err), -1);
	assert_int_equal(err.code, ST_EX_DATAERR);
	assert_int_equal(st_dialer_add(w.d, &w.addr, NULL, NULL), 1);
	/* max_queued is 2: a third waiting endpoint is refused */
	assert_int_equal(st_dialer_add(w.d, &w.addr, NULL, &err), -1);
	assert_int_equal(err.code, ST_EX_TEMPFAIL);
	w.ban = true;
	event_base_dispatch(w.base);
	assert_string_equal(w.log, "r0:refused p1/2/0 r1:banned p2/2/0 idle ");
	assert_string_equal(w.last_remote, "listener-1");
	settle(&w, 1);
	teardown(&w);
}

/* ---- the connection API alone ---- */

struct one {
	struct event_base *base;
	int events, closed;
	enum st_status status;
};

static void one_event(void *ctx, struct st_conn *c, struct st_session_event *ev)
{
	struct one *o = ctx;
	(void)c;
	if (ev->kind == ST_EV_HANDSHAKE) {
		o->events++;
		event_base_loopbreak(o->base);
	}
}

static void one_closed(void *ctx, struct st_conn *c, enum st_status status, const char *error)
{
	struct one *o = ctx;
	(void)c;
	(void)error;
	o->closed++;
	o->status = status;
}

static void conn_close_and_listener_shutdown(void **state)
{
	(void)state;
	struct world w = {0};
	struct st_err err = {0};
	struct one o = {0};
	setup_listener(&w, 0);
	o.base = w.base;
	struct st_conn_cbs cbs = {.event = one_event, .closed = one_closed};
	struct st_handshake me = local("dialer-2", 3);
	struct st_conn_opts co = {.local = &me, .expected_id = "listener-1"};
	struct st_conn *c;
	assert_int_equal(st_conn_dial(&c, w.base, &w.addr, &co, &cbs, &o, &err), 0);
	assert_string_equal(st_conn_expected_id(c), "listener-1");
	assert_false(st_conn_handshaken(c));
	st_conn_set_timeout(c, 10000);
	event_base_dispatch(w.base); /* until the handshake */
	assert_int_equal(o.events, 1);
	assert_true(st_conn_connected(c));
	assert_true(st_conn_handshaken(c));
	assert_string_equal(st_conn_session(c)->remote->node_id, "listener-1");
	assert_int_equal(st_listener_nconns(w.l), 1);
	/* a close from outside any callback reports at once */
	st_conn_close(c, ST_STATUS_OK, NULL);
	assert_int_equal(o.closed, 1);
	assert_int_equal(o.status, ST_STATUS_OK);
	settle(&w, 1);
	/* a second connection, left open: the listener's end reports it as shut down */
	assert_int_equal(st_conn_dial(&c, w.base, &w.addr, &co, &cbs, &o, &err), 0);
	event_base_dispatch(w.base);
	assert_int_equal(o.events, 2);
	st_listener_free(w.l);
	w.l = NULL;
	assert_int_equal(w.sessions, 2);
	assert_int_equal(w.last_in, ST_STATUS_SHUTDOWN);
	st_conn_free(c);
	assert_int_equal(o.closed, 1); /* st_conn_free reports nothing */
	teardown(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dial_ping_getpeers_and_drain),
		cmocka_unit_test(endpoints_added_while_running_in_order),
		cmocka_unit_test(refused_banned_and_bad_input),
		cmocka_unit_test(conn_close_and_listener_shutdown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
