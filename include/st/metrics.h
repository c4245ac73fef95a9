/* metrics.h - a listener's counters as Prometheus text, served over HTTP on the caller's loop. */
#ifndef ST_METRICS_H
#define ST_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "st/endpoint.h"
#include "st/engine.h"
#include "st/err.h"
#include "st/util.h"

struct event_base;

/* The ceiling on one page: a listener's exposition is about 3 KiB. */
#define ST_METRICS_PAGE_MAX ((size_t)64 * 1024)
/* The most a scrape request may send: its request line and headers, its body. */
#define ST_METRICS_HEADERS_MAX 8192
#define ST_METRICS_BODY_MAX 1024
/* Seconds a scrape connection may take to send its request or stay idle. */
#define ST_METRICS_TIMEOUT_S 10

/*
 * Appends the exposition (text format 0.0.4) of a listener's counters to page:
 * st_listen_* families, each with # HELP and # TYPE, every status and reason
 * present from the start (at 0), and process_start_time_seconds (start_time,
 * Unix seconds). Returns 0, or -1 with err when page's ceiling is reached.
 */
int st_metrics_listener(struct st_buf *page, const struct st_listener_stats *s,
                        int64_t start_time, struct st_err *err);

/*
 * Where --metrics listens: "PORT" is 127.0.0.1:PORT (loopback unless an
 * address is named), "ADDR:PORT" and "[V6]:PORT" as given, "localhost:PORT"
 * 127.0.0.1. Port 0 lets the kernel choose. Returns 0, or -1 with err
 * (ST_EX_USAGE).
 */
int st_metrics_addr(const char *text, struct st_endpoint *ep, struct st_err *err);

/* Fills page (empty, ceiling ST_METRICS_PAGE_MAX) for one scrape; returns 0, or
 * -1 with err and the scrape gets a 500. */
typedef int (*st_metrics_fill_fn)(void *ctx, struct st_buf *page, struct st_err *err);

/*
 * An HTTP server (libevent's evhttp) on base, bound to at: GET /metrics gets
 * 200 with what fill writes (text/plain; version=0.0.4); another path 404, another
 * method 405 (Allow: GET); a request line and headers past ST_METRICS_HEADERS_MAX
 * or a body past ST_METRICS_BODY_MAX are refused by evhttp; a connection
 * silent ST_METRICS_TIMEOUT_S is closed. bound gets the address really bound.
 * ctx must outlive the server. Returns 0, or -1 with err (ST_EX_UNAVAILABLE
 * when at cannot be bound).
 */
struct st_metrics_server;
int st_metrics_server_new(struct st_metrics_server **out, struct event_base *base,
                          const struct st_endpoint *at, st_metrics_fill_fn fill, void *ctx,
                          struct st_endpoint *bound, struct st_err *err);

/* Requests answered so far, and how many with 200. */
void st_metrics_server_counts(const struct st_metrics_server *m, uint64_t *requests,
                              uint64_t *ok);

/* Closes the listening socket and every scrape connection; NULL is allowed. */
void st_metrics_server_free(struct st_metrics_server *m);

#endif
