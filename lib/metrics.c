/*
 * metrics.c - the Prometheus text exposition (format 0.0.4) of a listener's
 * counters, as st-listen --metrics serves it:
 *
 *   # HELP st_listen_sessions_total inbound sessions ended, by status
 *   # TYPE st_listen_sessions_total counter
 *   st_listen_sessions_total{status="ok"} 12
 *
 * Counters count since the process started (process_start_time_seconds says
 * when), so rate() works across scrapes; a restart resets them, which
 * Prometheus detects. Every labelled series is written from the first scrape,
 * at 0, so a status seen for the first time is a rise, not a new series.
 */
#include <stdlib.h>
#include <string.h>

#include "st/metrics.h"
#include "st/status.h"

/* A family's # HELP and # TYPE lines. */
static int family(struct st_buf *b, const char *name, const char *type, const char *help,
                  struct st_err *err)
{
	return st_buf_printf(b, err, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample; label NULL for none. Label values here are our own names ([a-z_-]),
 * never text from a peer, so they need no escaping. */
static int sample(struct st_buf *b, const char *name, const char *label, const char *value,
                  uint64_t v, struct st_err *err)
{
	if (label)
		return st_buf_printf(b, err, "%s{%s=\"%s\"} %llu\n", name, label, value,
		                     (unsigned long long)v);
	return st_buf_printf(b, err, "%s %llu\n", name, (unsigned long long)v);
}

/* A family of one unlabelled sample. */
static int single(struct st_buf *b, const char *name, const char *type, const char *help,
                  uint64_t v, struct st_err *err)
{
	if (family(b, name, type, help, err) < 0)
		return -1;
	return sample(b, name, NULL, NULL, v, err);
}

int st_metrics_listener(struct st_buf *page, const struct st_listener_stats *s,
                        int64_t start_time, struct st_err *err)
{
	struct st_buf *b = page;
	const char *n;
	if (family(b, "process_start_time_seconds", "gauge",
	           "Start time of the process since unix epoch in seconds.", err) < 0 ||
	    st_buf_printf(b, err, "process_start_time_seconds %lld\n", (long long)start_time) < 0)
		return -1;
	if (single(b, "st_listen_connections_open", "gauge", "inbound sessions open now", s->open,
	           err) < 0 ||
	    single(b, "st_listen_connections_accepted_total", "counter",
	           "inbound connections accepted, the refused ones included", s->accepted, err) < 0 ||
	    single(b, "st_listen_handshakes_total", "counter",
	           "handshakes completed and answered with a HandshakeAck", s->handshakes, err) < 0)
		return -1;
	n = "st_listen_sessions_total";
	if (family(b, n, "counter", "inbound sessions ended (one record each), by status", err) < 0)
		return -1;
	for (int i = 0; i < ST_STATUS__COUNT; i++)
		if (sample(b, n, "status", st_status_name((enum st_status)i), s->sessions[i], err) < 0)
			return -1;
	n = "st_listen_getpeers_total";
	if (family(b, n, "counter",
	           "GetPeers requests: served from the book, or answered empty (rate_limited)",
	           err) < 0 ||
	    sample(b, n, "result", "served", s->getpeers_served, err) < 0 ||
	    sample(b, n, "result", "rate_limited", s->getpeers_limited, err) < 0)
		return -1;
	n = "st_listen_bans_refused_total";
	if (family(b, n, "counter",
	           "connections refused as banned: the address at accept, the id or endpoint at "
	           "handshake",
	           err) < 0 ||
	    sample(b, n, "at", "accept", s->banned_accept, err) < 0 ||
	    sample(b, n, "at", "handshake", s->banned_handshake, err) < 0)
		return -1;
	n = "st_listen_evictions_total";
	if (family(b, n, "counter",
	           "sessions closed to make room for a newcomer: the listener full, or its memory "
	           "budget spent (the heaviest session)",
	           err) < 0 ||
	    sample(b, n, "reason", "full", s->evicted, err) < 0 ||
	    sample(b, n, "reason", "memory", s->shed, err) < 0)
		return -1;
	n = "st_listen_refusals_total";
	if (family(b, n, "counter",
	           "newcomers refused: full with every session protected (full), over max_per_ip, "
	           "over max_memory",
	           err) < 0 ||
	    sample(b, n, "reason", "full", s->refused_full, err) < 0 ||
	    sample(b, n, "reason", "per_ip", s->refused_per_ip, err) < 0 ||
	    sample(b, n, "reason", "memory", s->refused_memory, err) < 0)
		return -1;
	if (single(b, "st_listen_received_bytes_total", "counter",
	           "protocol bytes received from peers (over TLS: the plaintext)", s->traffic.in,
	           err) < 0 ||
	    single(b, "st_listen_sent_bytes_total", "counter",
	           "protocol bytes sent to peers (over TLS: the plaintext)", s->traffic.out, err) < 0 ||
	    single(b, "st_listen_memory_bytes", "gauge", "what the sessions hold in buffers now",
	           s->memory, err) < 0 ||
	    single(b, "st_listen_memory_peak_bytes", "gauge",
	           "the most the sessions held in buffers at once", s->memory_peak, err) < 0)
		return -1;
	return 0;
}

int st_metrics_addr(const char *text, struct st_endpoint *ep, struct st_err *err)
{
	const char *colon = strrchr(text, ':');
	const char *port_text = colon ? colon + 1 : text;
	char *end;
	long port = strtol(port_text, &end, 10);
	if (!*port_text || *end || port < 0 || port > 65535 || *port_text == '-' || *port_text == '+')
		return st_err_set(err, ST_EX_USAGE, "'%s': expected PORT or ADDR:PORT", text);
	if (!colon || (colon == text + 9 && strncmp(text, "localhost", 9) == 0)) {
		/* loopback unless an address is named: metrics tell who connects */
		st_addr_parse(ep, "127.0.0.1", 9, NULL);
	} else if (st_addr_parse(ep, text, (size_t)(colon - text), err) < 0) {
		if (err)
			err->code = ST_EX_USAGE;
		return st_err_prefix(err, "'%s'", text);
	}
	ep->port = (uint16_t)port;
	return 0;
}
