/* test_metrics.c - the listener's exposition (names, HELP/TYPE, values, a ceiling),
 * where --metrics binds, and the HTTP server answering on a real loop. */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "unit.h"

#include "st/metrics.h"
#include "st/status.h"

static char *page_of(const struct st_listener_stats *s, int64_t start)
{
	struct st_buf b;
	struct st_err err = {0};
	st_buf_init(&b, ST_METRICS_PAGE_MAX);
	if (st_metrics_listener(&b, s, start, &err) < 0)
		fail_msg("%s", err.msg);
	char *text = strdup(b.data);
	st_buf_clear(&b);
	return text;
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; (p = strstr(p, line)); p += n)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

static void every_counter_and_status_with_help_and_type(void **state)
{
	(void)state;
	struct st_listener_stats s = {.open = 2, .accepted = 7, .handshakes = 5,
	                              .getpeers_served = 3, .getpeers_limited = 4,
	                              .banned_accept = 1, .banned_handshake = 6, .evicted = 8, .shed = 14,
	                              .refused_full = 9, .refused_per_ip = 10,
	                              .refused_memory = 11, .traffic = {1234, 5678},
	                              .memory = 12, .memory_peak = 13};
	s.sessions[ST_STATUS_OK] = 20;
	s.sessions[ST_STATUS_BANNED] = 21;
	char *t = page_of(&s, 1700000000);
	const char *want[] = {
		"process_start_time_seconds 1700000000",
		"# TYPE st_listen_connections_open gauge",
		"st_listen_connections_open 2",
		"# TYPE st_listen_connections_accepted_total counter",
		"st_listen_connections_accepted_total 7",
		"st_listen_handshakes_total 5",
		"st_listen_sessions_total{status=\"ok\"} 20",
		"st_listen_sessions_total{status=\"banned\"} 21",
		"st_listen_sessions_total{status=\"identity-changed\"} 0",
		"st_listen_getpeers_total{result=\"served\"} 3",
		"st_listen_getpeers_total{result=\"rate_limited\"} 4",
		"st_listen_bans_refused_total{at=\"accept\"} 1",
		"st_listen_bans_refused_total{at=\"handshake\"} 6",
		"st_listen_evictions_total{reason=\"full\"} 8",
		"st_listen_evictions_total{reason=\"memory\"} 14",
		"st_listen_refusals_total{reason=\"full\"} 9",
		"st_listen_refusals_total{reason=\"per_ip\"} 10",
		"st_listen_refusals_total{reason=\"memory\"} 11",
		"st_listen_received_bytes_total 1234",
		"st_listen_sent_bytes_total 5678",
		"st_listen_memory_bytes 12",
		"st_listen_memory_peak_bytes 13",
	};
	for (size_t i = 0; i < ST_ARRAY_LEN(want); i++)
		if (!has_line(t, want[i]))
			fail_msg("missing '%s' in:\n%s", want[i], t);
	/* every status has its series from the start */
	for (int i = 0; i < ST_STATUS__COUNT; i++) {
		char l[128];
		snprintf(l, sizeof l, "st_listen_sessions_total{status=\"%s\"} ",
		         st_status_name((enum st_status)i));
		assert_non_null(strstr(t, l));
	}
	/* each sample's family was declared before it: # HELP, then # TYPE */
	char *copy = strdup(t), *save = NULL, declared[64][80];
	size_t nd = 0;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[80];
		if (sscanf(line, "# TYPE %79s", name) == 1) {
			assert_true(nd < 64);
			strcpy(declared[nd++], name);
			continue;
		}
		if (line[0] == '#')
			continue;
		size_t n = strcspn(line, "{ ");
		bool found = false;
		for (size_t i = 0; i < nd; i++)
			found |= strlen(declared[i]) == n && strncmp(declared[i], line, n) == 0;
		if (!found)
			fail_msg("no TYPE before '%s'", line);
	}
	assert_int_equal(t[strlen(t) - 1], '\n');
	free(copy);
	free(t);
}

static void a_page_past_its_ceiling_fails(void **state)
{
	(void)state;
	struct st_listener_stats s = {0};
	struct st_buf b;
	struct st_err err = {0};
	st_buf_init(&b, 512);
	assert_int_equal(st_metrics_listener(&b, &s, 0, &err), -1);
	assert_true(err.code != 0);
	st_buf_clear(&b);
}

static void addr(const char *text, const char *want)
{
	struct st_endpoint ep;
	struct st_err err = {0};
	char got[ST_ENDPOINT_STRLEN];
	if (!want) {
		assert_int_equal(st_metrics_addr(text, &ep, &err), -1);
		assert_int_equal(err.code, ST_EX_USAGE);
		assert_int_equal(st_metrics_addr(text, &ep, NULL), -1);
		return;
	}
	if (st_metrics_addr(text, &ep, &err) < 0)
		fail_msg("%s: %s", text, err.msg);
	st_endpoint_format(&ep, got, sizeof got);
	assert_string_equal(got, want);
}

static void a_bare_port_is_loopback(void **state)
{
	(void)state;
	addr("9477", "127.0.0.1:9477");
	addr("0", "127.0.0.1:0");
	addr("localhost:9477", "127.0.0.1:9477");
	addr("[::1]:9477", "[::1]:9477");
	addr("0.0.0.0:9477", "0.0.0.0:9477");
	addr("192.0.2.1:80", "192.0.2.1:80");
	addr("", NULL);
	addr("x", NULL);
	addr("70000", NULL);
	addr("-1", NULL);
	addr("+1", NULL);
	addr("127.0.0.1:", NULL);
	addr("host.example:80", NULL);
	addr("1.2.3:80", NULL);
}

/* ---- the server, on a real loop: an evhttp client in the same process ---- */

struct got {
	int code;
	char body[256];
	char allow[32];
	char ctype[64];
	int fills;
	int done;
	struct event_base *base;
};

static int fill(void *ctx, struct st_buf *page, struct st_err *err)
{
	struct got *g = ctx;
	g->fills++;
	return st_buf_printf(page, err, "# HELP x y\n# TYPE x gauge\nx %d\n", g->fills);
}

static void on_reply(struct evhttp_request *req, void *ctx)
{
	struct got *g = ctx;
	g->code = req ? evhttp_request_get_response_code(req) : -1;
	g->body[0] = g->allow[0] = g->ctype[0] = '\0';
	if (req) {
		struct evbuffer *b = evhttp_request_get_input_buffer(req);
		size_t n = evbuffer_get_length(b);
		if (n >= sizeof g->body)
			n = sizeof g->body - 1;
		evbuffer_remove(b, g->body, n);
		g->body[n] = '\0';
		const char *a = evhttp_find_header(evhttp_request_get_input_headers(req), "Allow");
		const char *c = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
		snprintf(g->allow, sizeof g->allow, "%s", a ? a : "");
		snprintf(g->ctype, sizeof g->ctype, "%s", c ? c : "");
	}
	g->done = 1;
	event_base_loopbreak(g->base);
}

static void ask(struct got *g, uint16_t port, enum evhttp_cmd_type cmd, const char *path)
{
	struct evhttp_connection *conn = evhttp_connection_base_new(g->base, NULL, "127.0.0.1", port);
	assert_non_null(conn);
	evhttp_connection_set_timeout(conn, 10);
	struct evhttp_request *req = evhttp_request_new(on_reply, g);
	assert_non_null(req);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host", "127.0.0.1");
	g->done = 0;
	assert_int_equal(evhttp_make_request(conn, req, cmd, path), 0);
	while (!g->done)
		event_base_dispatch(g->base);
	evhttp_connection_free(conn);
}

static void get_metrics_only(void **state)
{
	(void)state;
	struct got g = {.base = event_base_new()};
	assert_non_null(g.base);
	struct st_endpoint at, bound;
	struct st_err err = {0};
	struct st_metrics_server *m = NULL;
	assert_int_equal(st_metrics_addr("0", &at, NULL), 0);
	if (st_metrics_server_new(&m, g.base, &at, fill, &g, &bound, &err) < 0)
		fail_msg("%s", err.msg);
	assert_true(bound.port != 0);
	ask(&g, bound.port, EVHTTP_REQ_GET, "/metrics");
	assert_int_equal(g.code, 200);
	assert_string_equal(g.body, "# HELP x y\n# TYPE x gauge\nx 1\n");
	assert_string_equal(g.ctype, "text/plain; version=0.0.4; charset=utf-8");
	ask(&g, bound.port, EVHTTP_REQ_GET, "/metrics?name=x");
	assert_int_equal(g.code, 200);
	assert_string_equal(g.body, "# HELP x y\n# TYPE x gauge\nx 2\n");
	ask(&g, bound.port, EVHTTP_REQ_GET, "/");
	assert_int_equal(g.code, 404);
	ask(&g, bound.port, EVHTTP_REQ_GET, "/metrics/");
	assert_int_equal(g.code, 404);
	ask(&g, bound.port, EVHTTP_REQ_POST, "/metrics");
	assert_int_equal(g.code, 405);
	assert_string_equal(g.allow, "GET");
	ask(&g, bound.port, EVHTTP_REQ_HEAD, "/metrics");
	assert_int_equal(g.code, 405);
	/* fill ran for the two GETs of /metrics only */
	assert_int_equal(g.fills, 2);
	uint64_t requests, ok;
	st_metrics_server_counts(m, &requests, &ok);
	assert_int_equal(requests, 6);
	assert_int_equal(ok, 2);
	/* a second server on the same port: refused, with words */
	struct st_metrics_server *m2 = NULL;
	assert_int_equal(st_metrics_server_new(&m2, g.base, &bound, fill, &g, NULL, &err), -1);
	assert_int_equal(err.code, ST_EX_UNAVAILABLE);
	assert_null(m2);
	st_metrics_server_free(m);
	st_metrics_server_free(NULL);
	event_base_free(g.base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_counter_and_status_with_help_and_type),
		cmocka_unit_test(a_page_past_its_ceiling_fails),
		cmocka_unit_test(a_bare_port_is_loopback),
		cmocka_unit_test(get_metrics_only),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
