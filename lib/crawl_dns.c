/* crawl_dns.c - a DNS seed over libevent's evdns server: good nodes as A and AAAA records. */
#include <ctype.h>
#include <errno.h>
#include <event2/dns.h>
#include <event2/dns_struct.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "st/crawl.h"

/* A reply over UDP without EDNS: RFC 1035's 512 bytes. */
#define UDP_MAX 512
#define DNS_HEADER 12
#define RR_FIXED 10          /* type, class, ttl, rdlength */
#define RATE_SLOTS 4096
#define NAME_MAX_LEN 253
#define RCODE_NOERROR 0
#define RCODE_FORMERR 1
#define RCODE_NXDOMAIN 3
#define RCODE_REFUSED 5

struct good {
	uint8_t addr[16];
	uint64_t services;
};

struct rate_slot {
	uint64_t key;
	double tokens;
	int64_t last_ms;
};

struct server {
	const struct st_crawl_dns_opts *o;
	char zone[NAME_MAX_LEN + 2];
	char ns[NAME_MAX_LEN + 2], mbox[NAME_MAX_LEN + 2];
	struct good *v4, *v6;      /* the good nodes of the last load */
	size_t n4, n6;
	uint32_t serial;
	struct rate_slot *rate;
	uint64_t rate_key;
	struct event_base *base;
	struct evdns_server_port *port;
};

/* Wire length of a name: one length byte per label plus its bytes, and the root. */
static size_t wire_len(const char *name)
{
	size_t n = strlen(name);
	return n ? n + 2 : 1;
}

size_t st_crawl_dns_fit(const char *name, int type)
{
	size_t q = DNS_HEADER + wire_len(name) + 4;
	/* each answer's owner name is a 2-byte pointer to the question's (evdns
	 * compresses names), then the fixed part and the address */
	size_t per = 2 + RR_FIXED + (type == EVDNS_TYPE_AAAA ? 16 : 4);
	return q < UDP_MAX ? (UDP_MAX - q) / per : 0;
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

static uint64_t rnd64(void)
{
	uint64_t v = 0;
	if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v)
		v = (uint64_t)st_monotonic_ms() * 0x9e3779b97f4a7c15ULL;
	return v;
}

static void reload(struct server *sv)
{
	struct st_crawl_state cs;
	struct st_err err = {0};
	/* never wait for a writer's lock inside the loop: keep the last list instead */
	static const struct st_lock_wait nowait = {0, NULL, NULL, NULL};
	if (st_crawl_state_load(&cs, sv->o->state_dir, &nowait, &err) < 0) {
		if (err.code != ST_EX_TEMPFAIL && sv->o->warn)
			sv->o->warn(sv->o->ctx, err.msg);
		st_crawl_state_clear(&cs);
		return;
	}
	struct good *v4 = malloc((cs.n ? cs.n : 1) * sizeof *v4);
	struct good *v6 = malloc((cs.n ? cs.n : 1) * sizeof *v6);
	size_t n4 = 0, n6 = 0;
	for (size_t i = 0; v4 && v6 && i < cs.n; i++) {
		const struct st_crawl_node *nd = &cs.v[i];
		if (nd->ep.port != sv->o->port || !st_crawl_node_good(nd, sv->o->allow_private))
			continue;
		struct good g = {{0}, nd->services};
		memcpy(g.addr, nd->ep.addr, 16);
		if (nd->ep.family == ST_AF_INET)
			v4[n4++] = g;
		else
			v6[n6++] = g;
	}
	st_crawl_state_clear(&cs);
	if (!v4 || !v6) {
		free(v4);
		free(v6);
		return;
	}
	free(sv->v4);
	free(sv->v6);
	sv->v4 = v4;
	sv->v6 = v6;
	sv->n4 = n4;
	sv->n6 = n6;
	sv->serial++;
}

static void on_reload(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	reload(arg);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

/* A token bucket per client address: rate answers a second, bursts of 4x. */
static bool rate_allow(struct server *sv, const struct sockaddr_storage *ss)
{
	uint8_t key[17] = {0};
	if (ss->ss_family == AF_INET) {
		key[0] = 4;
		memcpy(key + 1, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	} else {
		key[0] = 6;
		memcpy(key + 1, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
	}
	uint64_t h = st_hash64(key, sizeof key, sv->rate_key) | 1;
	struct rate_slot *s = &sv->rate[h % RATE_SLOTS];
	int64_t now = st_monotonic_ms();
	double burst = 4.0 * sv->o->rate;
	if (s->key != h) {
		/* a new client (or one that shares the slot): a full bucket */
		*s = (struct rate_slot){h, burst, now};
	} else {
		s->tokens += (double)(now - s->last_ms) * sv->o->rate / 1000.0;
		if (s->tokens > burst)
			s->tokens = burst;
		s->last_ms = now;
	}
	if (s->tokens < 1.0)
		return false;
	s->tokens -= 1.0;
	return true;
}

/* Appends name in wire form (labels) to p; returns the bytes written or 0. */
static size_t put_name(uint8_t *p, size_t room, const char *name)
{
	size_t k = 0;
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);
		if (l == 0 || l > 63 || k + l + 1 >= room)
			return 0;
		p[k++] = (uint8_t)l;
		memcpy(p + k, name, l);
		k += l;
		name += l + (dot != NULL);
	}
	if (k + 1 > room)
		return 0;
	p[k++] = 0;
	return k;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void add_soa(struct server *sv, struct evdns_server_request *req, int section)
{
	uint8_t rd[2 * (NAME_MAX_LEN + 2) + 20];
	size_t k = put_name(rd, sizeof rd, sv->ns);
	size_t m = k ? put_name(rd + k, sizeof rd - k, sv->mbox) : 0;
	if (!m)
		return;
	k += m;
	uint32_t ttl = sv->o->ttl;
	put32(rd + k, sv->serial);
	put32(rd + k + 4, 3600);   /* refresh */
	put32(rd + k + 8, 600);    /* retry */
	put32(rd + k + 12, 86400); /* expire */
	put32(rd + k + 16, ttl);   /* minimum: how long a negative answer is kept */
	k += 20;
	evdns_server_request_add_reply(req, section, sv->zone, EVDNS_TYPE_SOA, EVDNS_CLASS_INET,
	                               (int)ttl, (int)k, 0, (const char *)rd);
}

/* Up to max random distinct entries of v (n of them) whose services hold mask,
 * as A or AAAA answers. v is reordered (it stays the same set). */
static size_t add_addrs(struct server *sv, struct evdns_server_request *req, const char *name,
                        struct good *v, size_t n, uint64_t mask, size_t max, bool six)
{
	size_t got = 0;
	/* a partial Fisher-Yates over the whole list: every match is as likely */
	for (size_t i = 0; i < n && got < max; i++) {
		size_t j = i + (size_t)(rnd64() % (n - i));
		struct good t = v[i];
		v[i] = v[j];
		v[j] = t;
		if ((v[i].services & mask) != mask)
			continue;
		int rc = six ? evdns_server_request_add_aaaa_reply(req, name, 1, v[i].addr, (int)sv->o->ttl)
		             : evdns_server_request_add_a_reply(req, name, 1, v[i].addr, (int)sv->o->ttl);
		if (rc == 0)
			got++;
	}
	return got;
}

/* "x1", "x9", "xd": the service bits a filter label asks for; false if it is none. */
static bool filter_label(const char *label, size_t len, uint64_t *mask)
{
	if (len < 2 || len > 17 || (label[0] != 'x'))
		return false;
	uint64_t m = 0;
	for (size_t i = 1; i < len; i++) {
		int c = (unsigned char)label[i];
		int d = isdigit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
		if (d < 0)
			return false;
		m = m << 4 | (uint64_t)d;
	}
	*mask = m;
	return true;
}

static void tell(struct server *sv, const struct sockaddr_storage *ss, const char *name, int type,
                 const char *what)
{
	if (!sv->o->query)
		return;
	struct st_endpoint ep;
	char client[ST_ENDPOINT_STRLEN] = "?";
	if (st_endpoint_from_sockaddr(&ep, (const struct sockaddr *)ss, NULL) == 0)
		st_endpoint_format(&ep, client, sizeof client);
	sv->o->query(sv->o->ctx, client, name, type, what);
}

static void on_request(struct evdns_server_request *req, void *arg)
{
	struct server *sv = arg;
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	evdns_server_request_get_requesting_addr(req, (struct sockaddr *)&ss, (int)sizeof ss);
	const char *qname = req->nquestions == 1 ? req->questions[0]->name : "";
	int type = req->nquestions == 1 ? req->questions[0]->type : 0;
	if (!rate_allow(sv, &ss)) {
		/* no answer at all: a forged source gets nothing sent its way */
		tell(sv, &ss, qname, type, "dropped (rate limit)");
		evdns_server_request_drop(req);
		return;
	}
	if (req->nquestions != 1) {
		tell(sv, &ss, qname, type, "formerr");
		evdns_server_request_respond(req, RCODE_FORMERR);
		return;
	}
	char name[NAME_MAX_LEN + 2];
	size_t len = strlen(qname);
	if (len > NAME_MAX_LEN) {
		tell(sv, &ss, "", type, "refused");
		evdns_server_request_respond(req, RCODE_REFUSED);
		return;
	}
	memcpy(name, qname, len + 1);
	if (len && name[len - 1] == '.')
		name[--len] = '\0';
	lower(name);
	size_t zl = strlen(sv->zone);
	bool apex = strcmp(name, sv->zone) == 0;
	bool inside = apex || (len > zl && name[len - zl - 1] == '.' && !strcmp(name + len - zl, sv->zone));
	if (!inside || req->questions[0]->dns_question_class != EVDNS_CLASS_INET) {
		tell(sv, &ss, name, type, "refused");
		evdns_server_request_respond(req, RCODE_REFUSED);
		return;
	}
	uint64_t mask = 0;
	if (!apex && !filter_label(name, len - zl - 1, &mask)) {
		add_soa(sv, req, EVDNS_AUTHORITY_SECTION);
		evdns_server_request_set_flags(req, EVDNS_FLAGS_AA);
		tell(sv, &ss, name, type, "nxdomain");
		evdns_server_request_respond(req, RCODE_NXDOMAIN);
		return;
	}
	evdns_server_request_set_flags(req, EVDNS_FLAGS_AA);
	char what[64];
	if (type == EVDNS_TYPE_A || type == EVDNS_TYPE_AAAA) {
		bool six = type == EVDNS_TYPE_AAAA;
		size_t got = add_addrs(sv, req, qname, six ? sv->v6 : sv->v4, six ? sv->n6 : sv->n4, mask,
		                       st_crawl_dns_fit(qname, type), six);
		snprintf(what, sizeof what, "%zu answers", got);
		if (!got)
			add_soa(sv, req, EVDNS_AUTHORITY_SECTION);
	} else if (apex && type == EVDNS_TYPE_NS) {
		evdns_server_request_add_reply(req, EVDNS_ANSWER_SECTION, qname, EVDNS_TYPE_NS,
		                               EVDNS_CLASS_INET, (int)sv->o->ttl, -1, 1, sv->ns);
		snprintf(what, sizeof what, "ns");
	} else if (apex && type == EVDNS_TYPE_SOA) {
		add_soa(sv, req, EVDNS_ANSWER_SECTION);
		snprintf(what, sizeof what, "soa");
	} else {
		/* any other type (ANY too): no data, never a larger answer than the question */
		add_soa(sv, req, EVDNS_AUTHORITY_SECTION);
		snprintf(what, sizeof what, "no data");
	}
	tell(sv, &ss, name, type, what);
	evdns_server_request_respond(req, RCODE_NOERROR);
}

static int bind_udp(const char *text, struct st_err *err)
{
	struct st_endpoint ep;
	const char *colon = strrchr(text, ':');
	uint64_t port;
	if (!colon || st_parse_u64(colon + 1, 0, 65535, &port, NULL) < 0 ||
	    st_addr_parse(&ep, text, (size_t)(colon - text), NULL) < 0)
		return st_err_set(err, ST_EX_USAGE, "--bind '%s': expected ADDR:PORT", text);
	ep.port = (uint16_t)port;
	struct sockaddr_storage ss;
	socklen_t sl;
	st_endpoint_to_sockaddr(&ep, &ss, &sl);
	int fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return st_err_sys(err, ST_EX_UNAVAILABLE, "socket");
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0) {
		st_err_sys(err, ST_EX_UNAVAILABLE, "bind %s", text);
		close(fd);
		return -1;
	}
	return fd;
}

static int set_name(char *out, size_t size, const char *in, const char *prefix, const char *zone,
                    struct st_err *err)
{
	int n = in ? snprintf(out, size, "%s", in) : snprintf(out, size, "%s%s", prefix, zone);
	if (n <= 0 || (size_t)n >= size || (size_t)n > NAME_MAX_LEN)
		return st_err_set(err, ST_EX_USAGE, "name '%s' too long", in ? in : zone);
	size_t l = strlen(out);
	if (l && out[l - 1] == '.')
		out[l - 1] = '\0';
	lower(out);
	uint8_t tmp[NAME_MAX_LEN + 2];
	if (!put_name(tmp, sizeof tmp, out))
		return st_err_set(err, ST_EX_USAGE, "'%s': not a domain name", out);
	return 0;
}

int st_crawl_dns_serve(const struct st_crawl_dns_opts *o, struct st_err *err)
{
	struct server sv = {.o = o, .rate_key = rnd64(), .serial = (uint32_t)st_now()};
	if (set_name(sv.zone, sizeof sv.zone, o->zone, "", "", err) < 0 ||
	    set_name(sv.ns, sizeof sv.ns, o->ns, "", o->zone, err) < 0 ||
	    set_name(sv.mbox, sizeof sv.mbox, o->mbox, "hostmaster.", o->zone, err) < 0)
		return -1;
	int fd = bind_udp(o->bind, err);
	if (fd < 0)
		return -1;
	int rc = 0;
	struct event *stop = NULL, *timer = NULL;
	sv.rate = calloc(RATE_SLOTS, sizeof *sv.rate);
	sv.base = event_base_new();
	if (!sv.rate || !sv.base) {
		rc = st_err_set(err, ST_EX_SOFTWARE, "out of memory");
		goto out;
	}
	reload(&sv);
	sv.port = evdns_add_server_port_with_base(sv.base, fd, 0, on_request, &sv);
	timer = event_new(sv.base, -1, EV_PERSIST, on_reload, &sv);
	struct timeval tv = {(time_t)(o->reload_ms / 1000), (suseconds_t)(o->reload_ms % 1000) * 1000};
	if (!sv.port || !timer || event_add(timer, &tv) < 0) {
		rc = st_err_set(err, ST_EX_SOFTWARE, "cannot start the DNS server");
		goto out;
	}
	if (o->stop_fd > 0) {
		stop = event_new(sv.base, o->stop_fd, EV_READ, on_stop, sv.base);
		if (!stop || event_add(stop, NULL) < 0) {
			rc = st_err_set(err, ST_EX_SOFTWARE, "out of memory");
			goto out;
		}
	}
	if (o->bound) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		struct st_endpoint ep;
		char text[ST_ENDPOINT_STRLEN] = "?";
		if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
		    st_endpoint_from_sockaddr(&ep, (struct sockaddr *)&ss, NULL) == 0)
			st_endpoint_format(&ep, text, sizeof text);
		o->bound(o->ctx, text);
	}
	event_base_dispatch(sv.base);
out:
	if (sv.port)
		evdns_close_server_port(sv.port);
	if (timer)
		event_free(timer);
	if (stop)
		event_free(stop);
	if (sv.base)
		event_base_free(sv.base);
	close(fd);
	free(sv.rate);
	free(sv.v4);
	free(sv.v6);
	return rc;
}
