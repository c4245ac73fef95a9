/*
 * metrics_http.c - the scrape endpoint: libevent's evhttp on the loop the
 * listener runs on, so a scrape reads the counters between two events and no
 * lock or thread is needed. It answers GET /metrics and nothing else.
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "st/metrics.h"

struct st_metrics_server {
	struct evhttp *http;
	st_metrics_fill_fn fill;
	void *ctx;
	uint64_t requests, ok;
};

static void answer(struct evhttp_request *req, int code, const char *reason, const char *text)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
	struct evbuffer *body = evbuffer_new();
	if (body)
		evbuffer_add_printf(body, "%s\n", text);
	evhttp_send_reply(req, code, reason, body);
	if (body)
		evbuffer_free(body);
}

static void on_request(struct evhttp_request *req, void *vctx)
{
	struct st_metrics_server *m = vctx;
	m->requests++;
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET");
		answer(req, 405, "Method Not Allowed", "only GET /metrics is served");
		return;
	}
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	if (!path || strcmp(path, "/metrics") != 0) {
		answer(req, 404, "Not Found", "not found: the metrics are at /metrics");
		return;
	}
	struct st_buf page;
	struct st_err err = {0};
	st_buf_init(&page, ST_METRICS_PAGE_MAX);
	struct evbuffer *body = evbuffer_new();
	if (!body || m->fill(m->ctx, &page, &err) < 0 ||
	    evbuffer_add(body, page.data ? page.data : "", page.len) < 0) {
		answer(req, 500, "Internal Server Error", err.msg[0] ? err.msg : "out of memory");
	} else {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
		                  "text/plain; version=0.0.4; charset=utf-8");
		evhttp_send_reply(req, 200, "OK", body);
		m->ok++;
	}
	if (body)
		evbuffer_free(body);
	st_buf_clear(&page);
}

int st_metrics_server_new(struct st_metrics_server **out, struct event_base *base,
                          const struct st_endpoint *at, st_metrics_fill_fn fill, void *ctx,
                          struct st_endpoint *bound, struct st_err *err)
{
	*out = NULL;
	struct st_metrics_server *m = calloc(1, sizeof *m);
	if (!m || !(m->http = evhttp_new(base))) {
		free(m);
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	}
	m->fill = fill;
	m->ctx = ctx;
	/* every method reaches on_request, which answers 405 itself (evhttp's own
	 * refusal of a method is a 501) */
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
	                                        EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	                                        EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
	                                        EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_max_headers_size(m->http, ST_METRICS_HEADERS_MAX);
	evhttp_set_max_body_size(m->http, ST_METRICS_BODY_MAX);
	evhttp_set_timeout(m->http, ST_METRICS_TIMEOUT_S);
	evhttp_set_gencb(m->http, on_request, m);
	struct sockaddr_storage ss;
	socklen_t len;
	st_endpoint_to_sockaddr(at, &ss, &len);
	struct evconnlistener *lev = evconnlistener_new_bind(
		base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 64,
		(struct sockaddr *)&ss, (int)len);
	char where[ST_ENDPOINT_STRLEN];
	st_endpoint_format(at, where, sizeof where);
	if (!lev) {
		st_err_sys(err, ST_EX_UNAVAILABLE, "--metrics: cannot listen on %s", where);
		st_metrics_server_free(m);
		return -1;
	}
	/* evhttp owns lev from here: evhttp_free frees it */
	if (!evhttp_bind_listener(m->http, lev)) {
		evconnlistener_free(lev);
		st_metrics_server_free(m);
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	}
	if (bound) {
		struct sockaddr_storage got;
		socklen_t glen = sizeof got;
		*bound = *at;
		if (getsockname(evconnlistener_get_fd(lev), (struct sockaddr *)&got, &glen) == 0)
			st_endpoint_from_sockaddr(bound, (struct sockaddr *)&got, NULL);
	}
	*out = m;
	return 0;
}

void st_metrics_server_counts(const struct st_metrics_server *m, uint64_t *requests, uint64_t *ok)
{
	*requests = m->requests;
	*ok = m->ok;
}

void st_metrics_server_free(struct st_metrics_server *m)
{
	if (!m)
		return;
	if (m->http)
		evhttp_free(m->http);
	free(m);
}
