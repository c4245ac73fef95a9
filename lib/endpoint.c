/* endpoint.c - parse, format and classify network endpoints; subnet and group keys; CIDR. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "st/endpoint.h"
#include "st/util.h"

static bool id_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

bool st_node_id_valid(const char *id, size_t len)
{
	if (len == 0 || len > ST_NODE_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!id_char(id[i]))
			return false;
	return true;
}

/* IPv4-mapped IPv6 (::ffff:a.b.c.d) is stored as IPv4. */
static void normalise(struct st_endpoint *ep)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (ep->family == ST_AF_INET6 && memcmp(ep->addr, mapped, 12) == 0) {
		uint8_t v4[4];
		memcpy(v4, ep->addr + 12, 4);
		memset(ep->addr, 0, sizeof ep->addr);
		memcpy(ep->addr, v4, 4);
		ep->family = ST_AF_INET;
	}
}

/* Strict dotted quad: four decimal parts 0..255, no leading zeros, nothing else. */
static bool parse_v4(const char *s, size_t len, uint8_t out[4])
{
	size_t i = 0;
	for (int part = 0; part < 4; part++) {
		if (part > 0) {
			if (i >= len || s[i] != '.')
				return false;
			i++;
		}
		size_t start = i;
		unsigned v = 0;
		while (i < len && s[i] >= '0' && s[i] <= '9' && i - start < 4) {
			v = v * 10 + (unsigned)(s[i] - '0');
			i++;
		}
		size_t digits = i - start;
		if (digits == 0 || digits > 3 || v > 255 || (digits > 1 && s[start] == '0'))
			return false;
		out[part] = (uint8_t)v;
	}
	return i == len;
}

static bool parse_v6(const char *s, size_t len, uint8_t out[16])
{
	char tmp[INET6_ADDRSTRLEN + 1];
	if (len == 0 || len >= sizeof tmp || memchr(s, '%', len))
		return false;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	return inet_pton(AF_INET6, tmp, out) == 1;
}

int st_addr_parse(struct st_endpoint *ep, const char *s, size_t len, struct st_err *err)
{
	memset(ep, 0, sizeof *ep);
	if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
		s++;
		len -= 2;
		if (!parse_v6(s, len, ep->addr))
			return st_err_set(err, ST_EX_DATAERR, "bad address '%.*s'", (int)len, s);
		ep->family = ST_AF_INET6;
	} else if (memchr(s, ':', len)) {
		if (!parse_v6(s, len, ep->addr))
			return st_err_set(err, ST_EX_DATAERR, "bad address '%.*s'",
			                  (int)(len > 64 ? 64 : len), s);
		ep->family = ST_AF_INET6;
	} else {
		if (!parse_v4(s, len, ep->addr))
			return st_err_set(err, ST_EX_DATAERR, "bad address '%.*s'",
			                  (int)(len > 64 ? 64 : len), s);
		ep->family = ST_AF_INET;
	}
	normalise(ep);
	return 0;
}

static int parse_port(const char *s, size_t len, uint16_t *port, struct st_err *err)
{
	unsigned v = 0;
	if (len == 0)
		return st_err_set(err, ST_EX_DATAERR, "missing port");
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 5)
			return st_err_set(err, ST_EX_DATAERR, "bad port '%.*s'",
			                  (int)(len > 16 ? 16 : len), s);
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v < 1 || v > 65535 || (len > 1 && s[0] == '0'))
		return st_err_set(err, ST_EX_DATAERR, "bad port '%.*s'", (int)len, s);
	*port = (uint16_t)v;
	return 0;
}

/* One part of a dotted quad at c, followed by sep: its end past sep, or NULL.
 * As parse_v4: 1 to 3 digits, at most 255, no leading zero. */
static inline const char *v4_part(const char *c, char sep, uint8_t *out)
{
	unsigned v = (unsigned)(unsigned char)c[0] - '0';
	if (v > 9)
		return NULL;
	unsigned d = (unsigned)(unsigned char)c[1] - '0';
	if (d > 9) {
		c += 1;
	} else {
		unsigned e = (unsigned)(unsigned char)c[2] - '0';
		if (!v)
			return NULL; /* a leading zero */
		if (e > 9) {
			v = v * 10 + d;
			c += 2;
		} else {
			v = v * 100 + d * 10 + e;
			c += 3;
			if (v > 255)
				return NULL;
		}
	}
	*out = (uint8_t)v;
	return *c == sep ? c + 1 : NULL; /* a fourth digit, or not the separator */
}

/* The common "a.b.c.d:port" read in one pass, by the rules of parse_v4 and parse_port
 * (seed lists and books are millions of these lines); anything else is left to the
 * general path, which reports on it. */
int st_endpoint_parse_v4(struct st_endpoint *ep, const char *s, size_t len)
{
	char b[24]; /* "255.255.255.255:65535" and a NUL that ends every run of digits */
	if (len < 9 || len > 21)
		return -1;
	memcpy(b, s, len);
	b[len] = '\0';
	uint8_t a[4];
	const char *c = b;
	if (!(c = v4_part(c, '.', &a[0])) || !(c = v4_part(c, '.', &a[1])) ||
	    !(c = v4_part(c, '.', &a[2])) || !(c = v4_part(c, ':', &a[3])))
		return -1;
	unsigned port = (unsigned)(unsigned char)*c - '0';
	if (port - 1 > 8)
		return -1; /* none, a leading zero or not a digit */
	for (c++; *c; c++) {
		unsigned d = (unsigned)(unsigned char)*c - '0';
		if (d > 9 || (port = port * 10 + d) > 65535)
			return -1;
	}
	if ((size_t)(c - b) != len)
		return -1; /* a NUL byte in s */
	memset(ep, 0, sizeof *ep);
	ep->family = ST_AF_INET;
	memcpy(ep->addr, a, 4);
	ep->port = (uint16_t)port;
	return 0;
}

int st_endpoint_parse(struct st_endpoint *ep, const char *s, size_t len, struct st_err *err)
{
	if (st_endpoint_parse_v4(ep, s, len) == 0)
		return 0;
	memset(ep, 0, sizeof *ep);
	if (len == 0)
		return st_err_set(err, ST_EX_DATAERR, "empty endpoint");
	if (len > ST_ENDPOINT_STRLEN)
		return st_err_set(err, ST_EX_DATAERR, "endpoint too long");
	if (memchr(s, '@', len))
		return st_err_set(err, ST_EX_DATAERR, "unexpected 'ID@' in '%.*s'", (int)len, s);
	const char *colon;
	if (s[0] == '[') {
		const char *close = memchr(s, ']', len);
		if (!close)
			return st_err_set(err, ST_EX_DATAERR, "missing ']' in '%.*s'", (int)len, s);
		size_t alen = (size_t)(close - s) + 1;
		if (alen == len || s[alen] != ':')
			return st_err_set(err, ST_EX_DATAERR, "missing port in '%.*s'", (int)len, s);
		if (st_addr_parse(ep, s, alen, err) < 0)
			return -1;
		if (ep->family != ST_AF_INET6 && memchr(s + 1, ':', alen - 2) == NULL)
			return st_err_set(err, ST_EX_DATAERR, "bad address '%.*s'", (int)alen, s);
		colon = s + alen;
	} else {
		colon = memchr(s, ':', len);
		if (!colon)
			return st_err_set(err, ST_EX_DATAERR, "missing port in '%.*s'", (int)len, s);
		if (memchr(colon + 1, ':', len - (size_t)(colon - s) - 1))
			return st_err_set(err, ST_EX_DATAERR,
			                  "IPv6 needs brackets: '[ADDR]:PORT', not '%.*s'", (int)len, s);
		if (st_addr_parse(ep, s, (size_t)(colon - s), err) < 0)
			return -1;
	}
	uint16_t port = 0;
	if (parse_port(colon + 1, len - (size_t)(colon - s) - 1, &port, err) < 0)
		return -1;
	ep->port = port;
	return 0;
}

int st_endpoint_parse_id(struct st_endpoint *ep, char *id, size_t id_size, const char *s,
                         size_t len, struct st_err *err)
{
	if (id_size)
		id[0] = '\0';
	if (st_endpoint_parse_v4(ep, s, len) == 0)
		return 0;
	const char *at = memchr(s, '@', len);
	if (!at)
		return st_endpoint_parse(ep, s, len, err);
	size_t idlen = (size_t)(at - s);
	if (idlen == 0) {
		memset(ep, 0, sizeof *ep);
		return st_err_set(err, ST_EX_DATAERR, "empty node id before '@'");
	}
	if (idlen > ST_NODE_ID_MAX || idlen + 1 > id_size) {
		memset(ep, 0, sizeof *ep);
		return st_err_set(err, ST_EX_DATAERR, "node id longer than %d bytes", ST_NODE_ID_MAX);
	}
	for (size_t i = 0; i < idlen; i++)
		if (!id_char(s[i])) {
			memset(ep, 0, sizeof *ep);
			return st_err_set(err, ST_EX_DATAERR, "bad character in node id '%.*s'",
			                  (int)idlen, s);
		}
	if (st_endpoint_parse(ep, at + 1, len - idlen - 1, err) < 0)
		return -1;
	memcpy(id, s, idlen);
	id[idlen] = '\0';
	return 0;
}

/* "00" to "99": two digits a lookup */
static const char pairs[201] = "00010203040506070809101112131415161718192021222324"
                               "25262728293031323334353637383940414243444546474849"
                               "50515253545556575859606162636465666768697071727374"
                               "75767778798081828384858687888990919293949596979899";

/* A dotted quad by hand, as inet_ntop writes it (books and ban keys format a lot of
 * them); returns the end, where the caller puts what follows. */
static char *format_v4(const uint8_t a[4], char *c)
{
	for (int i = 0; i < 4; i++) {
		unsigned v = a[i];
		if (i)
			*c++ = '.';
		if (v >= 100) {
			unsigned h = v >= 200 ? 2 : 1;
			*c++ = (char)('0' + h);
			v -= 100 * h;
		} else if (v < 10) {
			*c++ = (char)('0' + v);
			continue;
		}
		memcpy(c, pairs + 2 * v, 2);
		c += 2;
	}
	return c;
}

size_t st_addr_format(const struct st_endpoint *ep, char *buf, size_t size)
{
	if (ep->family == ST_AF_INET && size >= 16) {
		char *c = format_v4(ep->addr, buf);
		*c = '\0';
		return (size_t)(c - buf);
	}
	char tmp[INET6_ADDRSTRLEN];
	if (!inet_ntop(ep->family == ST_AF_INET ? AF_INET : AF_INET6, ep->addr, tmp, sizeof tmp))
		tmp[0] = '\0';
	return st_strlcpy(buf, tmp, size);
}

size_t st_endpoint_format(const struct st_endpoint *ep, char *buf, size_t size)
{
	if (ep->family == ST_AF_INET && size >= 22) {
		/* the common case by hand: books format every entry they write */
		char *c = format_v4(ep->addr, buf);
		*c++ = ':';
		unsigned v = ep->port;
		size_t n = v >= 10000 ? 5 : v >= 1000 ? 4 : v >= 100 ? 3 : v >= 10 ? 2 : 1;
		char *d = c + n;
		*d = '\0';
		for (; v >= 100; v /= 100) {
			d -= 2;
			memcpy(d, pairs + 2 * (v % 100), 2);
		}
		if (v >= 10)
			memcpy(d - 2, pairs + 2 * v, 2);
		else
			d[-1] = (char)('0' + v);
		return (size_t)(c - buf) + n;
	}
	char a[INET6_ADDRSTRLEN];
	st_addr_format(ep, a, sizeof a);
	int n = ep->family == ST_AF_INET6 ? snprintf(buf, size, "[%s]:%u", a, ep->port)
	                                  : snprintf(buf, size, "%s:%u", a, ep->port);
	return n < 0 ? 0 : (size_t)n;
}

/* The classification table: the first matching prefix decides. */
struct range {
	uint8_t family;
	uint8_t bits;
	uint8_t prefix[16];
	enum st_addr_class cls;
};

static const struct range ranges[] = {
	{ST_AF_INET, 8, {0}, ST_CLASS_UNSPECIFIED},
	{ST_AF_INET, 8, {127}, ST_CLASS_LOOPBACK},
	{ST_AF_INET, 8, {10}, ST_CLASS_PRIVATE},
	{ST_AF_INET, 12, {172, 16}, ST_CLASS_PRIVATE},
	{ST_AF_INET, 16, {192, 168}, ST_CLASS_PRIVATE},
	{ST_AF_INET, 10, {100, 64}, ST_CLASS_SHARED},
	{ST_AF_INET, 16, {169, 254}, ST_CLASS_LINK_LOCAL},
	{ST_AF_INET, 32, {255, 255, 255, 255}, ST_CLASS_BROADCAST},
	{ST_AF_INET, 4, {224}, ST_CLASS_MULTICAST},
	{ST_AF_INET, 24, {192, 0, 2}, ST_CLASS_DOCUMENTATION},
	{ST_AF_INET, 24, {198, 51, 100}, ST_CLASS_DOCUMENTATION},
	{ST_AF_INET, 24, {203, 0, 113}, ST_CLASS_DOCUMENTATION},
	{ST_AF_INET, 15, {198, 18}, ST_CLASS_BENCHMARKING},
	{ST_AF_INET, 4, {240}, ST_CLASS_RESERVED},
	{ST_AF_INET6, 128, {0}, ST_CLASS_UNSPECIFIED},
	{ST_AF_INET6, 128, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, ST_CLASS_LOOPBACK},
	{ST_AF_INET6, 10, {0xfe, 0x80}, ST_CLASS_LINK_LOCAL},
	{ST_AF_INET6, 7, {0xfc}, ST_CLASS_UNIQUE_LOCAL},
	{ST_AF_INET6, 8, {0xff}, ST_CLASS_MULTICAST},
	{ST_AF_INET6, 32, {0x20, 0x01, 0x0d, 0xb8}, ST_CLASS_DOCUMENTATION},
};

static const char *const class_names[ST_CLASS__COUNT] = {
	[ST_CLASS_UNSPECIFIED] = "unspecified",
	[ST_CLASS_LOOPBACK] = "loopback",
	[ST_CLASS_PRIVATE] = "private",
	[ST_CLASS_SHARED] = "shared",
	[ST_CLASS_LINK_LOCAL] = "link-local",
	[ST_CLASS_UNIQUE_LOCAL] = "unique-local",
	[ST_CLASS_MULTICAST] = "multicast",
	[ST_CLASS_BROADCAST] = "broadcast",
	[ST_CLASS_DOCUMENTATION] = "documentation",
	[ST_CLASS_BENCHMARKING] = "benchmarking",
	[ST_CLASS_RESERVED] = "reserved",
	[ST_CLASS_ROUTABLE] = "routable",
};

static bool prefix_match(const uint8_t *addr, const uint8_t *prefix, unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;
	if (memcmp(addr, prefix, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (addr[whole] & mask) == (prefix[whole] & mask);
}

/* IPv4 first bytes that begin no range of the table: their class is routable. */
static bool v4_unlisted(uint8_t first)
{
	switch (first) {
	case 0: case 10: case 100: case 127: case 169: case 172: case 192: case 198: case 203:
		return false;
	default:
		return first < 224;
	}
}

enum st_addr_class st_endpoint_class(const struct st_endpoint *ep)
{
	if (ep->family == ST_AF_INET && v4_unlisted(ep->addr[0]))
		return ST_CLASS_ROUTABLE; /* the common case without the table walk */
	for (size_t i = 0; i < ST_ARRAY_LEN(ranges); i++)
		if (ranges[i].family == ep->family &&
		    prefix_match(ep->addr, ranges[i].prefix, ranges[i].bits))
			return ranges[i].cls;
	return ST_CLASS_ROUTABLE;
}

const char *st_addr_class_name(enum st_addr_class c)
{
	return (unsigned)c < ST_CLASS__COUNT ? class_names[c] : "unknown";
}

bool st_endpoint_is_routable(const struct st_endpoint *ep)
{
	return st_endpoint_class(ep) == ST_CLASS_ROUTABLE;
}

int st_endpoint_cmp(const struct st_endpoint *a, const struct st_endpoint *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	int c = memcmp(a->addr, b->addr, a->family == ST_AF_INET ? 4 : 16);
	if (c)
		return c < 0 ? -1 : 1;
	return a->port < b->port ? -1 : a->port > b->port ? 1 : 0;
}

bool st_endpoint_equal(const struct st_endpoint *a, const struct st_endpoint *b)
{
	return st_endpoint_cmp(a, b) == 0;
}

uint64_t st_endpoint_hash(const struct st_endpoint *ep, uint64_t key)
{
	uint8_t b[19];
	b[0] = ep->family;
	b[1] = (uint8_t)(ep->port >> 8);
	b[2] = (uint8_t)ep->port;
	memcpy(b + 3, ep->addr, 16);
	return st_hash64(b, sizeof b, key);
}

/* (family << 56) | (bits << 48) | the prefix's first bits/8 bytes, high first. */
static uint64_t netkey(const struct st_endpoint *ep, unsigned bits)
{
	uint64_t k = (uint64_t)ep->family << 56 | (uint64_t)bits << 48;
	for (unsigned i = 0; i < bits / 8; i++)
		k |= (uint64_t)ep->addr[i] << (40 - 8 * i);
	return k;
}

uint64_t st_endpoint_subnet_key(const struct st_endpoint *ep)
{
	return netkey(ep, ep->family == ST_AF_INET ? 24 : 48);
}

uint64_t st_endpoint_group_key(const struct st_endpoint *ep)
{
	return netkey(ep, ep->family == ST_AF_INET ? 16 : 32);
}

size_t st_netkey_format(uint64_t key, char *buf, size_t size)
{
	struct st_cidr c;
	memset(&c, 0, sizeof c);
	c.net.family = (uint8_t)(key >> 56);
	c.bits = (uint8_t)(key >> 48);
	if ((c.net.family != ST_AF_INET && c.net.family != ST_AF_INET6) || c.bits > 48)
		return st_strlcpy(buf, "?", size);
	for (unsigned i = 0; i < c.bits / 8u; i++)
		c.net.addr[i] = (uint8_t)(key >> (40 - 8 * i));
	return st_cidr_format(&c, buf, size);
}

int st_endpoint_to_sockaddr(const struct st_endpoint *ep, struct sockaddr_storage *ss,
                            socklen_t *len)
{
	memset(ss, 0, sizeof *ss);
	if (ep->family == ST_AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(ep->port);
		memcpy(&sin->sin_addr, ep->addr, 4);
		*len = sizeof *sin;
		return 0;
	}
	if (ep->family == ST_AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(ep->port);
		memcpy(&sin6->sin6_addr, ep->addr, 16);
		*len = sizeof *sin6;
		return 0;
	}
	return -1;
}

int st_endpoint_from_sockaddr(struct st_endpoint *ep, const struct sockaddr *sa,
                              struct st_err *err)
{
	memset(ep, 0, sizeof *ep);
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;
		ep->family = ST_AF_INET;
		ep->port = ntohs(sin->sin_port);
		memcpy(ep->addr, &sin->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		ep->family = ST_AF_INET6;
		ep->port = ntohs(sin6->sin6_port);
		memcpy(ep->addr, &sin6->sin6_addr, 16);
		normalise(ep);
		return 0;
	}
	return st_err_set(err, ST_EX_SOFTWARE, "address family %d is not IP", (int)sa->sa_family);
}

int st_cidr_parse(struct st_cidr *c, const char *s, size_t len, struct st_err *err)
{
	memset(c, 0, sizeof *c);
	const char *slash = memchr(s, '/', len);
	size_t alen = slash ? (size_t)(slash - s) : len;
	if (st_addr_parse(&c->net, s, alen, err) < 0)
		return -1;
	unsigned max = c->net.family == ST_AF_INET ? 32 : 128;
	unsigned bits = max;
	if (slash) {
		const char *b = slash + 1;
		size_t blen = len - alen - 1;
		if (blen == 0 || blen > 3)
			return st_err_set(err, ST_EX_DATAERR, "bad prefix length in '%.*s'", (int)len, s);
		bits = 0;
		for (size_t i = 0; i < blen; i++) {
			if (b[i] < '0' || b[i] > '9')
				return st_err_set(err, ST_EX_DATAERR, "bad prefix length in '%.*s'",
				                  (int)len, s);
			bits = bits * 10 + (unsigned)(b[i] - '0');
		}
		/* an IPv4-mapped prefix is written in IPv6 bits */
		if (c->net.family == ST_AF_INET && memchr(s, ':', alen)) {
			if (bits < 96)
				return st_err_set(err, ST_EX_DATAERR, "bad prefix length in '%.*s'",
				                  (int)len, s);
			bits -= 96;
		}
		if (bits > max || (blen > 1 && b[0] == '0'))
			return st_err_set(err, ST_EX_DATAERR, "bad prefix length in '%.*s'", (int)len, s);
	}
	for (unsigned i = 0; i < 16; i++) {
		unsigned lo = i * 8;
		unsigned mask = lo >= bits ? 0u : bits - lo >= 8 ? 0xffu : (0xffu << (8 - (bits - lo))) & 0xffu;
		if (c->net.addr[i] & ~mask & 0xffu)
			return st_err_set(err, ST_EX_DATAERR, "host bits set in '%.*s'", (int)len, s);
	}
	c->bits = (uint8_t)bits;
	return 0;
}

bool st_cidr_contains(const struct st_cidr *c, const struct st_endpoint *ep)
{
	return c->net.family == ep->family && prefix_match(ep->addr, c->net.addr, c->bits);
}

size_t st_cidr_format(const struct st_cidr *c, char *buf, size_t size)
{
	if (c->net.family == ST_AF_INET && size >= 20 && c->bits <= 32) {
		/* by hand: a ban check formats a key for every prefix length with a ban */
		char *e = format_v4(c->net.addr, buf);
		*e++ = '/';
		if (c->bits >= 10)
			*e++ = (char)('0' + c->bits / 10);
		*e++ = (char)('0' + c->bits % 10);
		*e = '\0';
		return (size_t)(e - buf);
	}
	char a[INET6_ADDRSTRLEN];
	st_addr_format(&c->net, a, sizeof a);
	int n = snprintf(buf, size, "%s/%u", a, c->bits);
	return n < 0 ? 0 : (size_t)n;
}
