/* seed_dns_msg.c - DNS messages for DNS seeds: our A/AAAA queries, and what a reply says,
 * every fault named (RFC 1035 section 4). Pure functions: no I/O. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "st/seed.h"

enum { T_A = 1, T_CNAME = 5, T_AAAA = 28, C_IN = 1, CNAME_MAX = 8 };

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint8_t lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

int st_dns_name_wire(const char *name, uint8_t wire[ST_DNS_WIRE_MAX], size_t *wlen)
{
	size_t len = 0, n = strlen(name);
	if (n && name[n - 1] == '.')
		n--; /* the root's dot */
	if (!n)
		return -1;
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && name[j] != '.')
			j++;
		if (j == i || j - i > 63 || len + 1 + (j - i) + 1 > ST_DNS_WIRE_MAX)
			return -1; /* an empty label, a label over 63 bytes, a name over 255 */
		wire[len++] = (uint8_t)(j - i);
		for (size_t k = i; k < j; k++)
			wire[len++] = lower((uint8_t)name[k]);
		i = j + 1;
	}
	wire[len++] = 0;
	*wlen = len;
	return 0;
}

int st_dns_query_build(uint8_t buf[ST_DNS_QUERY_MAX], uint16_t id, const char *name,
                       uint16_t qtype)
{
	size_t wlen;
	if (st_dns_name_wire(name, buf + 12, &wlen) < 0)
		return -1;
	/* id, flags: RD (a recursive resolver may stand between), 1 question */
	const uint8_t head[12] = {(uint8_t)(id >> 8), (uint8_t)id, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0};
	memcpy(buf, head, sizeof head);
	uint8_t *q = buf + 12 + wlen;
	q[0] = (uint8_t)(qtype >> 8);
	q[1] = (uint8_t)qtype;
	q[2] = 0;
	q[3] = C_IN;
	return (int)(12 + wlen + 4);
}

struct reply {
	const uint8_t *p;
	size_t n;
	char *detail;
	size_t dsize;
};

static enum st_dns_verdict fault(struct reply *r, enum st_dns_verdict v, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum st_dns_verdict fault(struct reply *r, enum st_dns_verdict v, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->detail, r->dsize, fmt, ap);
	va_end(ap);
	return v;
}

/*
 * Reads the name at *at into wire (lower case), following compression pointers; *at moves
 * past the name's own bytes. A pointer must point before the bytes it continues (RFC 1035
 * pointers point to a prior occurrence), so a chain of them always ends: no loop can be built.
 * Returns 0, or -1 with r->detail set.
 */
static int read_name(struct reply *r, size_t *at, uint8_t wire[ST_DNS_WIRE_MAX], size_t *wlen)
{
	size_t i = *at, len = 0, limit = *at;
	bool jumped = false;
	for (;;) {
		if (i >= r->n) {
			fault(r, ST_DNS_MALFORMED, "truncated: a name runs past the end (%zu bytes)", r->n);
			return -1;
		}
		uint8_t c = r->p[i];
		if ((c & 0xC0) == 0xC0) {
			if (i + 1 >= r->n) {
				fault(r, ST_DNS_MALFORMED, "truncated: a name pointer at byte %zu", i);
				return -1;
			}
			size_t to = (size_t)(c & 0x3F) << 8 | r->p[i + 1];
			if (to >= limit) {
				fault(r, ST_DNS_MALFORMED,
				      "bad label: the name pointer at byte %zu points forward, to %zu", i, to);
				return -1;
			}
			if (!jumped)
				*at = i + 2;
			jumped = true;
			limit = i = to;
			continue;
		}
		if (c & 0xC0) {
			fault(r, ST_DNS_MALFORMED, "bad label: type 0x%02x at byte %zu", c & 0xC0, i);
			return -1;
		}
		if (len + 1 + c > ST_DNS_WIRE_MAX) {
			fault(r, ST_DNS_MALFORMED, "bad label: a name longer than 255 bytes at byte %zu", i);
			return -1;
		}
		if (c == 0)
			break;
		if (i + 1 + c > r->n) {
			fault(r, ST_DNS_MALFORMED, "truncated: a label at byte %zu runs past the end", i);
			return -1;
		}
		wire[len++] = c;
		for (size_t k = 0; k < c; k++)
			wire[len++] = lower(r->p[i + 1 + k]);
		i += 1 + (size_t)c;
	}
	wire[len++] = 0;
	if (!jumped)
		*at = i + 1;
	*wlen = len;
	return 0;
}

static bool same_name(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
	return na == nb && memcmp(a, b, na) == 0;
}

static const char *rcode_name(unsigned rcode)
{
	static const char *const names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
	                                    "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
	                                    "NXRRSET", "NOTAUTH", "NOTZONE"};
	return rcode < sizeof names / sizeof names[0] ? names[rcode] : NULL;
}

static enum st_dns_verdict rcode_fault(struct reply *r, unsigned rcode)
{
	const char *name = rcode_name(rcode);
	if (name)
		return fault(r, ST_DNS_RCODE, "the server answered %s (rcode %u)", name, rcode);
	return fault(r, ST_DNS_RCODE, "the server answered rcode %u", rcode);
}

static enum st_dns_verdict parse(const uint8_t *p, size_t n, uint16_t id, const char *name,
                                 uint16_t qtype, struct st_endpoint *out, size_t max, size_t *nout,
                                 char *detail, size_t dsize)
{
	struct reply r = {p, n, detail, dsize};
	*nout = 0;
	if (dsize)
		detail[0] = '\0';
	uint8_t want[ST_DNS_WIRE_MAX], got[ST_DNS_WIRE_MAX];
	size_t nwant, ngot;
	if (st_dns_name_wire(name, want, &nwant) < 0)
		return fault(&r, ST_DNS_MALFORMED, "'%s' is not a DNS name", name);
	/* a reply to some other query (a late one, a guess) is not ours: keep waiting */
	if (n >= 2 && get16(p) != id)
		return fault(&r, ST_DNS_IGNORED, "wrong id (%u, not %u)", get16(p), id);
	if (n < 12)
		return fault(&r, ST_DNS_MALFORMED, "truncated: %zu bytes, shorter than a header", n);
	unsigned flags = get16(p + 2), qd = get16(p + 4), an = get16(p + 6);
	if (!(flags & 0x8000))
		return fault(&r, ST_DNS_IGNORED, "a query, not a reply");
	if ((flags >> 11 & 0xF) != 0)
		return fault(&r, ST_DNS_MALFORMED, "opcode %u in the reply to a query", flags >> 11 & 0xF);
	unsigned rcode = flags & 0xF;
	if (qd == 0 && rcode != 0 && n == 12) /* FORMERR and the like may come without question */
		return rcode_fault(&r, rcode);
	if (qd != 1)
		return fault(&r, ST_DNS_MALFORMED, "bad count: %u questions in the reply, not 1", qd);
	size_t at = 12;
	if (read_name(&r, &at, got, &ngot) < 0)
		return ST_DNS_MALFORMED;
	if (at + 4 > n)
		return fault(&r, ST_DNS_MALFORMED, "truncated: the question ends past the reply (%zu bytes)", n);
	if (!same_name(got, ngot, want, nwant) || get16(p + at) != qtype || get16(p + at + 2) != C_IN)
		return fault(&r, ST_DNS_IGNORED, "a reply to another question");
	at += 4;
	if (flags & 0x0200)
		return fault(&r, ST_DNS_TRUNCATED, "reply truncated (more addresses than fit in 512 bytes)");
	if (rcode == 3)
		return fault(&r, ST_DNS_NXDOMAIN, "no such name");
	if (rcode != 0)
		return rcode_fault(&r, rcode);
	/* the answers: our name's addresses, or those of the name a CNAME chain leads to */
	uint8_t target[ST_DNS_WIRE_MAX];
	size_t ntarget = nwant, cnames = 0;
	memcpy(target, want, nwant);
	for (unsigned k = 0; k < an; k++) {
		if (at >= n)
			return fault(&r, ST_DNS_MALFORMED,
			             "bad count: %u answers announced, the reply ends after %u", an, k);
		if (read_name(&r, &at, got, &ngot) < 0)
			return ST_DNS_MALFORMED;
		if (at + 10 > n)
			return fault(&r, ST_DNS_MALFORMED, "truncated: answer %u of %u ends past the reply",
			             k + 1, an);
		unsigned type = get16(p + at), cls = get16(p + at + 2), rdlen = get16(p + at + 8);
		size_t rd = at + 10;
		if (rd + rdlen > n)
			return fault(&r, ST_DNS_MALFORMED,
			             "truncated: answer %u of %u has %u data bytes, the reply ends first",
			             k + 1, an, rdlen);
		at = rd + rdlen;
		if (cls != C_IN || !same_name(got, ngot, target, ntarget))
			continue; /* not about our name: nothing we take from it */
		if (type == T_CNAME) {
			size_t end = rd;
			if (read_name(&r, &end, target, &ntarget) < 0)
				return ST_DNS_MALFORMED;
			if (end != at)
				return fault(&r, ST_DNS_MALFORMED, "bad CNAME: its name and length disagree");
			if (++cnames > CNAME_MAX)
				return fault(&r, ST_DNS_MALFORMED, "more than %d CNAMEs in a chain", CNAME_MAX);
			continue;
		}
		if (type != qtype)
			continue;
		size_t alen = qtype == T_A ? 4 : 16;
		if (rdlen != alen)
			return fault(&r, ST_DNS_MALFORMED, "bad %s record: %u bytes, not %zu",
			             qtype == T_A ? "A" : "AAAA", rdlen, alen);
		if (*nout < max) {
			struct st_endpoint ep = {.family = qtype == T_A ? ST_AF_INET : ST_AF_INET6};
			memcpy(ep.addr, p + rd, alen);
			out[(*nout)++] = ep;
		}
	}
	if (!*nout)
		return fault(&r, ST_DNS_NODATA, "no answer");
	return ST_DNS_ANSWER;
}

enum st_dns_verdict st_dns_reply_parse(const uint8_t *p, size_t n, uint16_t id, const char *name,
                                       uint16_t qtype, struct st_endpoint *out, size_t max,
                                       size_t *nout, char *detail, size_t dsize)
{
	enum st_dns_verdict v = parse(p, n, id, name, qtype, out, max, nout, detail, dsize);
	if (v != ST_DNS_ANSWER)
		*nout = 0; /* a reply broken past its first records gives none of them */
	return v;
}
