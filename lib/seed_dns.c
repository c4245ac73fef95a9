/* seed_dns.c - DNS seeds: A and AAAA records of many names at once, over UDP on libevent. */
#include <errno.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "st/seed.h"

/*
 * One A or AAAA lookup of a query: our own UDP socket, connected to the server so the
 * kernel drops datagrams from anyone else, and our own parser (seed_dns_msg.c), so a
 * broken reply is named - evdns reported every one of them as "unknown".
 */
struct lookup {
	struct st_dns_query *q;
	struct run *run;
	uint16_t qtype, id;
	int fd;
	struct event *rd, *retry;
	int tries;
	bool done;
	enum st_dns_verdict verdict;
	bool timed_out;
	char detail[160];         /* the verdict's words */
	unsigned ignored;         /* datagrams that were not our reply */
	char ignored_why[96];     /* the last one's reason ("wrong id (...)") */
	bool refused;             /* ICMP port unreachable: nothing listens there */
	uint8_t query[ST_DNS_QUERY_MAX];
	size_t qlen;
};

struct run {
	struct event_base *base;
	struct sockaddr_storage ns[3]; /* servers, tried in turn */
	socklen_t nslen[3];
	size_t nns;
	struct timeval try_tv;     /* one try's wait */
	size_t open;               /* lookups not done */
};

static void finish(struct lookup *l)
{
	if (l->done)
		return;
	l->done = true;
	l->q->pending_--;
	if (l->rd)
		event_del(l->rd);
	if (l->retry)
		event_del(l->retry);
	if (--l->run->open == 0)
		event_base_loopbreak(l->run->base);
}

static void send_try(struct lookup *l)
{
	const struct run *r = l->run;
	size_t k = (size_t)l->tries % r->nns;
	/* a connected UDP socket: connect again to move to the next server */
	if (connect(l->fd, (const struct sockaddr *)&r->ns[k], r->nslen[k]) < 0 ||
	    send(l->fd, l->query, l->qlen, 0) < 0) {
		if (errno == ECONNREFUSED)
			l->refused = true; /* the last try's ICMP error, reported at this send */
	}
	evtimer_add(l->retry, &r->try_tv);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct lookup *l = arg;
	if (++l->tries < 2) {
		send_try(l);
		return;
	}
	l->timed_out = true;
	finish(l);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	struct lookup *l = arg;
	struct st_dns_query *q = l->q;
	uint8_t buf[4096];
	for (int i = 0; i < 64 && !l->done; i++) { /* a bounded turn: other lookups wait */
		ssize_t n = recv(fd, buf, sizeof buf, MSG_TRUNC);
		if (n < 0) {
			if (errno == ECONNREFUSED)
				l->refused = true;
			return; /* EAGAIN, or an error the next try or the deadline settles */
		}
		if ((size_t)n > sizeof buf) {
			snprintf(l->detail, sizeof l->detail, "oversized reply: %zd bytes over UDP", n);
			l->verdict = ST_DNS_MALFORMED;
			finish(l);
			return;
		}
		struct st_endpoint eps[ST_SEED_ADDRS_MAX];
		size_t neps;
		enum st_dns_verdict v = st_dns_reply_parse(buf, (size_t)n, l->id, q->name, l->qtype, eps,
		                                           ST_SEED_ADDRS_MAX, &neps, l->detail,
		                                           sizeof l->detail);
		if (v == ST_DNS_IGNORED) {
			l->ignored++;
			snprintf(l->ignored_why, sizeof l->ignored_why, "%s", l->detail);
			l->detail[0] = '\0';
			continue;
		}
		l->verdict = v;
		for (size_t k = 0; k < neps && q->neps < ST_SEED_ADDRS_MAX; k++) {
			eps[k].port = q->port;
			q->eps[q->neps++] = eps[k];
		}
		finish(l);
	}
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

/* A lookup that ended without a reply, in words: why nothing came that we could take. */
static void timeout_words(const struct lookup *l, char *buf, size_t size)
{
	if (l->ignored)
		snprintf(buf, size, "timed out (%u replies not ours, the last: %s)", l->ignored,
		         l->ignored_why);
	else if (l->refused)
		snprintf(buf, size, "timed out (the server's port is closed)");
	else
		snprintf(buf, size, "timed out");
}

/* The verdict on a query once both lookups ended (or the deadline passed). */
static void conclude(struct st_dns_query *q, const struct lookup lk[2])
{
	if (q->neps)
		return;
	static const char *const types[2] = {"A", "AAAA"};
	const struct lookup *timeout = NULL, *nxdomain = NULL, *trunc = NULL, *bad[2] = {NULL, NULL};
	size_t nbad = 0;
	for (int k = 0; k < 2; k++) {
		const struct lookup *l = &lk[k];
		if (!l->done || l->timed_out)
			timeout = timeout ? timeout : l;
		else if (l->verdict == ST_DNS_NXDOMAIN)
			nxdomain = l;
		else if (l->verdict == ST_DNS_TRUNCATED)
			trunc = l;
		else if (l->verdict == ST_DNS_RCODE || l->verdict == ST_DNS_MALFORMED)
			bad[nbad++] = l;
		/* NODATA: the name is there, without this record type */
	}
	char words[2][200];
	if (timeout) {
		timeout_words(timeout, words[0], sizeof words[0]);
		q->failed = ST_EX_TEMPFAIL;
		st_err_set(&q->err, q->failed, "%s", words[0]);
	} else if (nxdomain) {
		q->failed = ST_EX_UNAVAILABLE;
		st_err_set(&q->err, q->failed, "no such name");
	} else if (trunc) {
		/* UDP only: no retry over TCP, no EDNS */
		q->failed = ST_EX_UNAVAILABLE;
		st_err_set(&q->err, q->failed, "%s", trunc->detail);
	} else if (nbad) {
		for (size_t k = 0; k < nbad; k++)
			snprintf(words[k], sizeof words[k], "%s to %s: %s",
			         bad[k]->verdict == ST_DNS_RCODE ? "error" : "malformed reply",
			         types[bad[k] - lk], bad[k]->detail);
		q->failed = ST_EX_TEMPFAIL;
		if (nbad == 2 && strcmp(bad[0]->detail, bad[1]->detail) != 0)
			st_err_set(&q->err, q->failed, "%s; %s", words[0], words[1]);
		else
			st_err_set(&q->err, q->failed, "%s", words[0]);
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

/* The servers: resolver, or the system's (resolv.conf, read by evdns). 0 or -1. */
static int servers(struct run *r, const char *resolver, struct st_err *err)
{
	if (resolver && resolver[0]) {
		char ns[ST_ENDPOINT_STRLEN + 1];
		struct st_endpoint ep;
		if (resolver_addr(resolver, ns, sizeof ns, err) < 0 ||
		    st_endpoint_parse(&ep, ns, strlen(ns), NULL) < 0 ||
		    st_endpoint_to_sockaddr(&ep, &r->ns[0], &r->nslen[0]) < 0)
			return st_err_set(err, ST_EX_USAGE, "resolver '%s' not usable", resolver);
		r->nns = 1;
		return 0;
	}
	evdns_set_log_fn(quiet_log);
	struct evdns_base *dns = evdns_base_new(r->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
	int have = dns ? evdns_base_count_nameservers(dns) : 0;
	for (int i = 0; i < have && r->nns < 3; i++) {
		int len = evdns_base_get_nameserver_addr(dns, i, (struct sockaddr *)&r->ns[r->nns],
		                                         sizeof r->ns[0]);
		if (len > 0 && (size_t)len <= sizeof r->ns[0])
			r->nslen[r->nns++] = (socklen_t)len;
	}
	if (dns)
		evdns_base_free(dns, 0);
	return r->nns ? 0 : st_err_set(err, ST_EX_UNAVAILABLE, "no DNS servers (resolv.conf)");
}

static uint16_t random_id(void)
{
	uint16_t id;
	if (getrandom(&id, sizeof id, 0) != (ssize_t)sizeof id) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		id = (uint16_t)(ts.tv_nsec ^ ts.tv_nsec >> 16);
	}
	return id;
}

/* Sets lookup l of q up and sends its first try. 0, or -1 (the lookup is done: failed). */
static int start(struct lookup *l, struct run *r, struct st_dns_query *q, uint16_t qtype)
{
	l->q = q;
	l->run = r;
	l->qtype = qtype;
	l->id = random_id();
	l->fd = -1;
	int len = st_dns_query_build(l->query, l->id, q->name, qtype);
	if (len < 0) {
		l->done = true;
		l->verdict = ST_DNS_MALFORMED;
		snprintf(l->detail, sizeof l->detail, "not a DNS name");
		return -1;
	}
	l->qlen = (size_t)len;
	l->fd = socket(r->ns[0].ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	l->rd = l->fd >= 0 ? event_new(r->base, l->fd, EV_READ | EV_PERSIST, on_readable, l) : NULL;
	l->retry = evtimer_new(r->base, on_retry, l);
	if (!l->rd || !l->retry || event_add(l->rd, NULL) < 0) {
		l->done = true;
		l->verdict = ST_DNS_MALFORMED;
		snprintf(l->detail, sizeof l->detail, "no socket: %s", strerror(errno));
		return -1;
	}
	r->open++;
	q->pending_++;
	send_try(l);
	return 0;
}

int st_seed_dns_all(struct st_dns_query *q, size_t n, const char *resolver, int64_t timeout_ms,
                    struct st_err *err)
{
	if (!n)
		return 0;
	struct run r = {0};
	struct lookup *lk = calloc(2 * n, sizeof *lk);
	struct event *deadline = NULL;
	int rc = 0;
	r.base = event_base_new();
	if (!lk || !r.base) {
		rc = st_err_set(err, ST_EX_SOFTWARE, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < 2 * n; i++)
		lk[i].fd = -1;
	if (servers(&r, resolver, err) < 0) {
		rc = -1;
		goto out;
	}
	/* two tries per lookup, each given half the time */
	int64_t half = timeout_ms / 2 > 0 ? timeout_ms / 2 : 1;
	r.try_tv = (struct timeval){(time_t)(half / 1000), (suseconds_t)(half % 1000) * 1000};
	for (size_t i = 0; i < n; i++) {
		q[i].neps = 0;
		q[i].failed = 0;
		q[i].pending_ = 0;
		if (!q[i].name)
			continue;
		start(&lk[2 * i], &r, &q[i], 1);
		start(&lk[2 * i + 1], &r, &q[i], 28);
	}
	/* a hard stop a little past the tries' own timeouts: never hang */
	deadline = evtimer_new(r.base, on_deadline, r.base);
	int64_t stop = timeout_ms + 1000;
	struct timeval tv = {(time_t)(stop / 1000), (suseconds_t)(stop % 1000) * 1000};
	if (!deadline || evtimer_add(deadline, &tv) < 0) {
		rc = st_err_set(err, ST_EX_SOFTWARE, "out of memory");
		goto out;
	}
	if (r.open)
		event_base_dispatch(r.base);
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
	for (size_t i = 0; lk && i < 2 * n; i++) {
		if (lk[i].rd)
			event_free(lk[i].rd);
		if (lk[i].retry)
			event_free(lk[i].retry);
		if (lk[i].fd >= 0)
			close(lk[i].fd);
	}
	if (r.base)
		event_base_free(r.base);
	free(lk);
	return rc;
}
