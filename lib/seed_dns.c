/* seed_dns.c - DNS seeds: A and AAAA records of many names at once, through evdns. */
#include <event2/dns.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st/seed.h"

/* One A or AAAA lookup of a query. */
struct lookup {
	struct st_dns_query *q;
	int result;             /* DNS_ERR_* of this lookup */
	bool answered;
};

static void on_answer(int result, char type, int count, int ttl, void *addrs, void *arg)
{
	(void)ttl;
	struct lookup *lk = arg;
	struct st_dns_query *q = lk->q;
	lk->result = result;
	lk->answered = true;
	q->pending_--;
	if (result != DNS_ERR_NONE)
		return;
	for (int i = 0; i < count && q->neps < ST_SEED_ADDRS_MAX; i++) {
		struct st_endpoint ep = {.port = q->port};
		if (type == DNS_IPv4_A) {
			ep.family = ST_AF_INET;
			memcpy(ep.addr, (const uint8_t *)addrs + 4 * i, 4);
		} else if (type == DNS_IPv6_AAAA) {
			ep.family = ST_AF_INET6;
			memcpy(ep.addr, &((const struct in6_addr *)addrs)[i], 16);
		} else {
			continue;
		}
		q->eps[q->neps++] = ep;
	}
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

/* The verdict on a query once both lookups ended (or the deadline passed). */
static void conclude(struct st_dns_query *q, const struct lookup lk[2])
{
	if (q->neps)
		return;
	bool timeout = false, nxdomain = false;
	int other = DNS_ERR_NONE;
	for (int k = 0; k < 2; k++) {
		if (!lk[k].answered || lk[k].result == DNS_ERR_TIMEOUT)
			timeout = true;
		else if (lk[k].result == DNS_ERR_NOTEXIST)
			nxdomain = true;
		else if (lk[k].result != DNS_ERR_NONE && lk[k].result != DNS_ERR_NODATA)
			other = lk[k].result; /* NODATA: the name is there, without this record type */
	}
	if (timeout) {
		q->failed = ST_EX_TEMPFAIL;
		st_err_set(&q->err, q->failed, "timed out");
	} else if (nxdomain) {
		q->failed = ST_EX_UNAVAILABLE;
		st_err_set(&q->err, q->failed, "no such name");
	} else if (other == DNS_ERR_TRUNCATED) {
		/* evdns (libevent 2.1) neither retries over TCP nor sends EDNS */
		q->failed = ST_EX_UNAVAILABLE;
		st_err_set(&q->err, q->failed, "reply truncated (more addresses than fit in 512 bytes)");
	} else if (other != DNS_ERR_NONE) {
		q->failed = ST_EX_TEMPFAIL;
		st_err_set(&q->err, q->failed, "%s", evdns_err_to_string(other));
	} else {
		q->failed = ST_EX_UNAVAILABLE;
		st_err_set(&q->err, q->failed, "no A or AAAA records");
	}
}

/* "ADDR[:PORT]" or "[V6]:PORT" -> the form evdns takes, checked by our own parser. */
static int resolver_addr(const char *s, char *out, size_t size, struct st_err *err)
{
	struct st_endpoint ep;
	if (st_endpoint_parse(&ep, s, strlen(s), NULL) < 0) {
		if (st_addr_parse(&ep, s, strlen(s), NULL) < 0)
			return st_err_set(err, ST_EX_USAGE, "resolver '%s': expected ADDR[:PORT]", s);
		ep.port = 53;
	}
	st_endpoint_format(&ep, out, size);
	return 0;
}

/* evdns's own chatter ("nameserver ... has failed") stays out of our stderr: the
 * outcome of each name is reported by the caller. */
static void quiet_log(int severity, const char *msg)
{
	(void)severity;
	(void)msg;
}

int st_seed_dns_all(struct st_dns_query *q, size_t n, const char *resolver, int64_t timeout_ms,
                    struct st_err *err)
{
	if (!n)
		return 0;
	char ns[ST_ENDPOINT_STRLEN + 1];
	if (resolver && resolver[0] && resolver_addr(resolver, ns, sizeof ns, err) < 0)
		return -1;
	struct lookup *lk = calloc(2 * n, sizeof *lk);
	struct event_base *base = event_base_new();
	struct evdns_base *dns = NULL;
	struct event *deadline = NULL;
	int rc = 0;
	if (!lk || !base) {
		rc = st_err_set(err, ST_EX_SOFTWARE, "out of memory");
		goto out;
	}
	evdns_set_log_fn(quiet_log);
	bool system = !resolver || !resolver[0];
	dns = evdns_base_new(base, system ? EVDNS_BASE_INITIALIZE_NAMESERVERS : 0);
	if (!dns || (!system && evdns_base_nameserver_ip_add(dns, ns) != 0)) {
		rc = st_err_set(err, system ? ST_EX_UNAVAILABLE : ST_EX_USAGE,
		                system ? "no DNS servers (resolv.conf)" : "resolver '%s' not usable",
		                resolver ? resolver : "");
		goto out;
	}
	/* two tries per lookup, each given half the time */
	char tmo[32];
	snprintf(tmo, sizeof tmo, "%.3f", (double)timeout_ms / 2000.0);
	evdns_base_set_option(dns, "timeout:", tmo);
	evdns_base_set_option(dns, "attempts:", "2");
	for (size_t i = 0; i < n; i++) {
		q[i].neps = 0;
		q[i].failed = 0;
		q[i].pending_ = q[i].name ? 2 : 0;
		if (!q[i].name)
			continue;
		for (int k = 0; k < 2; k++) {
			struct lookup *l = &lk[2 * i + (size_t)k];
			l->q = &q[i];
			struct evdns_request *req =
				k == 0 ? evdns_base_resolve_ipv4(dns, q[i].name, DNS_QUERY_NO_SEARCH, on_answer, l)
				       : evdns_base_resolve_ipv6(dns, q[i].name, DNS_QUERY_NO_SEARCH, on_answer, l);
			if (!req) {
				l->answered = true;
				l->result = DNS_ERR_UNKNOWN;
				q[i].pending_--;
			}
		}
	}
	/* a hard stop a little past the resolver's own timeouts: never hang */
	deadline = evtimer_new(base, on_deadline, base);
	int64_t stop = timeout_ms + 1000;
	struct timeval tv = {(time_t)(stop / 1000), (suseconds_t)(stop % 1000) * 1000};
	if (!deadline || evtimer_add(deadline, &tv) < 0) {
		rc = st_err_set(err, ST_EX_SOFTWARE, "out of memory");
		goto out;
	}
	for (;;) {
		size_t open = 0;
		for (size_t i = 0; i < n; i++)
			open += q[i].pending_ > 0;
		if (!open || event_base_got_break(base))
			break;
		event_base_loop(base, EVLOOP_ONCE);
	}
	for (size_t i = 0; i < n; i++) {
		if (!q[i].name)
			continue;
		conclude(&q[i], &lk[2 * i]);
		/* IPv4 first, each family in answer order, whichever answer came back first */
		struct st_endpoint v6[ST_SEED_ADDRS_MAX];
		size_t k4 = 0, k6 = 0;
		for (size_t k = 0; k < q[i].neps; k++) {
			if (q[i].eps[k].family == ST_AF_INET)
				q[i].eps[k4++] = q[i].eps[k];
			else
				v6[k6++] = q[i].eps[k];
		}
		if (k6)
			memcpy(q[i].eps + k4, v6, k6 * sizeof v6[0]);
	}
out:
	if (deadline)
		event_free(deadline);
	if (dns)
		evdns_base_free(dns, 0); /* 0: outstanding lookups end without their callbacks */
	if (base)
		event_base_free(base);
	free(lk);
	return rc;
}
