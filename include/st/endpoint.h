/* endpoint.h - network endpoints: parse, format, classify, subnet and group keys. */
#ifndef ST_ENDPOINT_H
#define ST_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "st/err.h"

/* Longest formatted endpoint: "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535". */
#define ST_ENDPOINT_STRLEN 48
/* Longest formatted subnet / CIDR: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128". */
#define ST_CIDR_STRLEN 48
/* Longest node id accepted in "ID@endpoint" and in handshakes. */
#define ST_NODE_ID_MAX 128

/* What a node id may be, wherever it comes from (a peer, a record, the
 * command line): 1..ST_NODE_ID_MAX bytes of [A-Za-z0-9._-]. */
bool st_node_id_valid(const char *id, size_t len);

enum st_family {
	ST_AF_INET = 4,
	ST_AF_INET6 = 6,
};

/*
 * An IP address and a port. addr holds 4 bytes for IPv4 (the rest zero) or 16
 * for IPv6, in network order. IPv4-mapped IPv6 (::ffff:a.b.c.d) is always
 * stored as IPv4. port is 1..65535 for a parsed endpoint, 0 for a bare address.
 */
struct st_endpoint {
	uint8_t family;
	uint16_t port;
	uint8_t addr[16];
};

/* Address classes, in the order of the classification table. */
enum st_addr_class {
	ST_CLASS_UNSPECIFIED,
	ST_CLASS_LOOPBACK,
	ST_CLASS_PRIVATE,       /* RFC 1918 */
	ST_CLASS_SHARED,        /* 100.64/10, CGNAT */
	ST_CLASS_LINK_LOCAL,    /* 169.254/16, fe80::/10 */
	ST_CLASS_UNIQUE_LOCAL,  /* fc00::/7 */
	ST_CLASS_MULTICAST,
	ST_CLASS_BROADCAST,
	ST_CLASS_DOCUMENTATION, /* 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32 */
	ST_CLASS_BENCHMARKING,  /* 198.18/15 */
	ST_CLASS_RESERVED,      /* 240/4 */
	ST_CLASS_ROUTABLE,
	ST_CLASS__COUNT
};

/*
 * Parses "a.b.c.d:port" or "[v6]:port" (len bytes of s, no NUL needed).
 * Returns 0, or -1 with err (ST_EX_DATAERR) naming what is wrong: "bad port
 * '99999'", "missing port", "bad address 'x'"; an "ID@" prefix is an error here.
 */
int st_endpoint_parse(struct st_endpoint *ep, const char *s, size_t len, struct st_err *err);

/*
 * The plain "a.b.c.d:port" alone, quickly: 0 with ep set as st_endpoint_parse
 * would set it, or -1 (no message) for anything else, which st_endpoint_parse
 * may still read or will say what is wrong with. For loops over many lines.
 */
int st_endpoint_parse_v4(struct st_endpoint *ep, const char *s, size_t len);

/*
 * As st_endpoint_parse, also accepting an "ID@" prefix: the id (1..ST_NODE_ID_MAX
 * bytes of [A-Za-z0-9._-]) is copied to id (id_size >= ST_NODE_ID_MAX+1), or id
 * is set to "" when there is none.
 */
int st_endpoint_parse_id(struct st_endpoint *ep, char *id, size_t id_size, const char *s,
                         size_t len, struct st_err *err);

/* Parses a bare address "a.b.c.d" or "v6" (brackets allowed); port is set to 0. */
int st_addr_parse(struct st_endpoint *ep, const char *s, size_t len, struct st_err *err);

/* Writes "a.b.c.d:port" or "[v6]:port"; returns the length (truncates to size-1). */
size_t st_endpoint_format(const struct st_endpoint *ep, char *buf, size_t size);
/* Writes the address alone, "a.b.c.d" or "v6" without brackets. */
size_t st_addr_format(const struct st_endpoint *ep, char *buf, size_t size);

/* The class of the address (the port is ignored). */
enum st_addr_class st_endpoint_class(const struct st_endpoint *ep);
/* "routable", "loopback", "private", ... - the names used in output and config. */
const char *st_addr_class_name(enum st_addr_class c);
/* True for ST_CLASS_ROUTABLE. */
bool st_endpoint_is_routable(const struct st_endpoint *ep);

/* Orders by family, then address bytes, then port; returns <0, 0, >0. */
int st_endpoint_cmp(const struct st_endpoint *a, const struct st_endpoint *b);
bool st_endpoint_equal(const struct st_endpoint *a, const struct st_endpoint *b);
/* Keyed hash of family, address and port. */
uint64_t st_endpoint_hash(const struct st_endpoint *ep, uint64_t key);

/*
 * Network keys pack (family, prefix length, prefix bytes) into 64 bits so they
 * can be counted in hash tables: the subnet key is the IPv4 /24 or IPv6 /48
 * (diversity limits), the group key the IPv4 /16 or IPv6 /32 (selection spread).
 * Equal keys mean the same network.
 */
uint64_t st_endpoint_subnet_key(const struct st_endpoint *ep);
uint64_t st_endpoint_group_key(const struct st_endpoint *ep);
/* Formats a key as "1.2.3.0/24" or "2001:db8::/32". */
size_t st_netkey_format(uint64_t key, char *buf, size_t size);

/* Converts to and from the socket API (port included). */
int st_endpoint_to_sockaddr(const struct st_endpoint *ep, struct sockaddr_storage *ss,
                            socklen_t *len);
int st_endpoint_from_sockaddr(struct st_endpoint *ep, const struct sockaddr *sa,
                              struct st_err *err);

/* An address prefix, "1.2.3.0/24" or "2001:db8::/32"; host bits are zero. */
struct st_cidr {
	struct st_endpoint net; /* port is 0 */
	uint8_t bits;           /* 0..32 or 0..128 */
};

/* Parses "ADDR/BITS" or a bare address (a /32 or /128). Host bits set in ADDR
 * are an error ("host bits set in '1.2.3.4/24'"). */
int st_cidr_parse(struct st_cidr *c, const char *s, size_t len, struct st_err *err);
/* True when ep's address lies in c (ports ignored, families must match). */
bool st_cidr_contains(const struct st_cidr *c, const struct st_endpoint *ep);
/* Writes "ADDR/BITS". */
size_t st_cidr_format(const struct st_cidr *c, char *buf, size_t size);

#endif
