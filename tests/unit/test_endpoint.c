/* test_endpoint.c - parsing, formatting, classification, keys and CIDR of endpoints. */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "unit.h"

#include "st/endpoint.h"
#include "st/util.h"

static struct st_endpoint ep_of(const char *s)
{
	struct st_endpoint ep;
	struct st_err err = {0};
	if (st_endpoint_parse(&ep, s, strlen(s), &err) < 0)
		fail_msg("'%s': %s", s, err.msg);
	return ep;
}

static const char *fmt(const struct st_endpoint *ep)
{
	static char b[ST_ENDPOINT_STRLEN + 1];
	st_endpoint_format(ep, b, sizeof b);
	return b;
}

static void parses_and_formats_ipv4_and_ipv6(void **state)
{
	(void)state;
	struct st_endpoint ep = ep_of("1.2.3.4:7777");
	assert_int_equal(ep.family, ST_AF_INET);
	assert_int_equal(ep.port, 7777);
	assert_string_equal(fmt(&ep), "1.2.3.4:7777");
	ep = ep_of("[2001:DB8::1]:65535");
	assert_int_equal(ep.family, ST_AF_INET6);
	assert_string_equal(fmt(&ep), "[2001:db8::1]:65535");
	ep = ep_of("255.255.255.255:1");
	assert_string_equal(fmt(&ep), "255.255.255.255:1");
}

static void ipv4_mapped_ipv6_becomes_ipv4(void **state)
{
	(void)state;
	struct st_endpoint ep = ep_of("[::ffff:8.8.8.8]:53");
	assert_int_equal(ep.family, ST_AF_INET);
	assert_string_equal(fmt(&ep), "8.8.8.8:53");
	assert_true(st_endpoint_equal(&ep, &(struct st_endpoint){0}) == false);
	struct st_endpoint v4 = ep_of("8.8.8.8:53");
	assert_true(st_endpoint_equal(&ep, &v4));
}

static void expect_error(const char *s, const char *msg)
{
	struct st_endpoint ep;
	struct st_err err = {0};
	if (st_endpoint_parse(&ep, s, strlen(s), &err) == 0)
		fail_msg("'%s' parsed", s);
	assert_int_equal(err.code, ST_EX_DATAERR);
	if (msg && strstr(err.msg, msg) == NULL)
		fail_msg("'%s': got '%s', want '%s'", s, err.msg, msg);
}

static void rejects_bad_endpoints_with_reasons(void **state)
{
	(void)state;
	expect_error("", "empty endpoint");
	expect_error("1.2.3.4", "missing port");
	expect_error("1.2.3.4:", "missing port");
	expect_error("1.2.3.4:0", "bad port '0'");
	expect_error("1.2.3.4:65536", "bad port '65536'");
	expect_error("1.2.3.4:99999", "bad port '99999'");
	expect_error("1.2.3.4:07777", "bad port");
	expect_error("1.2.3.4:77a", "bad port");
	expect_error("1.2.3.4:+77", "bad port");
	expect_error("1.2.3.256:1", "bad address");
	expect_error("01.2.3.4:1", "bad address");
	expect_error("1.2.3:1", "bad address");
	expect_error("1.2.3.4.5:1", "bad address");
	expect_error(" 1.2.3.4:1", "bad address");
	expect_error("2001:db8::1:7777", "IPv6 needs brackets");
	expect_error("[2001:db8::1]", "missing port");
	expect_error("[2001:db8::1", "missing ']'");
	expect_error("[2001:db8::g]:1", "bad address");
	expect_error("[1.2.3.4]:1", "bad address");
	expect_error("[fe80::1%eth0]:1", "bad address");
	expect_error("host.example:7777", "bad address");
	expect_error("id@1.2.3.4:1", "unexpected 'ID@'");
	expect_error("1.2.3.4:1:2", NULL);
	char long_input[200];
	memset(long_input, '1', sizeof long_input - 1);
	long_input[sizeof long_input - 1] = '\0';
	expect_error(long_input, "too long");
}

static void parses_optional_node_ids(void **state)
{
	(void)state;
	struct st_endpoint ep;
	char id[ST_NODE_ID_MAX + 1];
	struct st_err err = {0};
	const char *s = "node-1.A_b@[::1]:7777";
	assert_int_equal(st_endpoint_parse_id(&ep, id, sizeof id, s, strlen(s), &err), 0);
	assert_string_equal(id, "node-1.A_b");
	assert_string_equal(fmt(&ep), "[::1]:7777");
	s = "1.2.3.4:5";
	assert_int_equal(st_endpoint_parse_id(&ep, id, sizeof id, s, strlen(s), &err), 0);
	assert_string_equal(id, "");
	s = "@1.2.3.4:5";
	assert_int_equal(st_endpoint_parse_id(&ep, id, sizeof id, s, strlen(s), &err), -1);
	assert_string_equal(err.msg, "empty node id before '@'");
	s = "bad id@1.2.3.4:5";
	assert_int_equal(st_endpoint_parse_id(&ep, id, sizeof id, s, strlen(s), &err), -1);
	assert_non_null(strstr(err.msg, "bad character in node id"));
	char big[ST_NODE_ID_MAX + 20];
	memset(big, 'a', ST_NODE_ID_MAX + 1);
	strcpy(big + ST_NODE_ID_MAX + 1, "@1.2.3.4:5");
	assert_int_equal(st_endpoint_parse_id(&ep, id, sizeof id, big, strlen(big), &err), -1);
	assert_non_null(strstr(err.msg, "node id longer than"));
	s = "x@1.2.3.4";
	assert_int_equal(st_endpoint_parse_id(&ep, id, sizeof id, s, strlen(s), &err), -1);
	assert_string_equal(id, "");
}

static void check_class(const char *addr, enum st_addr_class want)
{
	struct st_endpoint ep;
	struct st_err err = {0};
	if (st_addr_parse(&ep, addr, strlen(addr), &err) < 0)
		fail_msg("'%s': %s", addr, err.msg);
	enum st_addr_class got = st_endpoint_class(&ep);
	if (got != want)
		fail_msg("%s: got %s, want %s", addr, st_addr_class_name(got), st_addr_class_name(want));
}

static void classifies_every_range_at_its_edges(void **state)
{
	(void)state;
	const struct {
		const char *a;
		enum st_addr_class c;
	} cases[] = {
		{"0.0.0.0", ST_CLASS_UNSPECIFIED},       {"0.255.255.255", ST_CLASS_UNSPECIFIED},
		{"1.0.0.0", ST_CLASS_ROUTABLE},          {"9.255.255.255", ST_CLASS_ROUTABLE},
		{"10.0.0.0", ST_CLASS_PRIVATE},          {"10.255.255.255", ST_CLASS_PRIVATE},
		{"11.0.0.0", ST_CLASS_ROUTABLE},         {"100.63.255.255", ST_CLASS_ROUTABLE},
		{"100.64.0.0", ST_CLASS_SHARED},         {"100.127.255.255", ST_CLASS_SHARED},
		{"100.128.0.0", ST_CLASS_ROUTABLE},      {"126.255.255.255", ST_CLASS_ROUTABLE},
		{"127.0.0.0", ST_CLASS_LOOPBACK},        {"127.255.255.255", ST_CLASS_LOOPBACK},
		{"128.0.0.0", ST_CLASS_ROUTABLE},        {"169.253.255.255", ST_CLASS_ROUTABLE},
		{"169.254.0.0", ST_CLASS_LINK_LOCAL},    {"169.254.255.255", ST_CLASS_LINK_LOCAL},
		{"169.255.0.0", ST_CLASS_ROUTABLE},      {"172.15.255.255", ST_CLASS_ROUTABLE},
		{"172.16.0.0", ST_CLASS_PRIVATE},        {"172.31.255.255", ST_CLASS_PRIVATE},
		{"172.32.0.0", ST_CLASS_ROUTABLE},       {"192.0.1.255", ST_CLASS_ROUTABLE},
		{"192.0.2.0", ST_CLASS_DOCUMENTATION},   {"192.0.2.255", ST_CLASS_DOCUMENTATION},
		{"192.0.3.0", ST_CLASS_ROUTABLE},        {"192.167.255.255", ST_CLASS_ROUTABLE},
		{"192.168.0.0", ST_CLASS_PRIVATE},       {"192.168.255.255", ST_CLASS_PRIVATE},
		{"192.169.0.0", ST_CLASS_ROUTABLE},      {"198.17.255.255", ST_CLASS_ROUTABLE},
		{"198.18.0.0", ST_CLASS_BENCHMARKING},   {"198.19.255.255", ST_CLASS_BENCHMARKING},
		{"198.20.0.0", ST_CLASS_ROUTABLE},       {"198.51.99.255", ST_CLASS_ROUTABLE},
		{"198.51.100.0", ST_CLASS_DOCUMENTATION}, {"198.51.100.255", ST_CLASS_DOCUMENTATION},
		{"198.51.101.0", ST_CLASS_ROUTABLE},     {"203.0.112.255", ST_CLASS_ROUTABLE},
		{"203.0.113.0", ST_CLASS_DOCUMENTATION}, {"203.0.113.255", ST_CLASS_DOCUMENTATION},
		{"203.0.114.0", ST_CLASS_ROUTABLE},      {"223.255.255.255", ST_CLASS_ROUTABLE},
		{"224.0.0.0", ST_CLASS_MULTICAST},       {"239.255.255.255", ST_CLASS_MULTICAST},
		{"240.0.0.0", ST_CLASS_RESERVED},        {"255.255.255.254", ST_CLASS_RESERVED},
		{"255.255.255.255", ST_CLASS_BROADCAST},
		{"::", ST_CLASS_UNSPECIFIED},            {"::1", ST_CLASS_LOOPBACK},
		{"::2", ST_CLASS_ROUTABLE},              {"fe7f:ffff::", ST_CLASS_ROUTABLE},
		{"fe80::", ST_CLASS_LINK_LOCAL},         {"febf:ffff::1", ST_CLASS_LINK_LOCAL},
		{"fec0::", ST_CLASS_ROUTABLE},           {"fbff:ffff::", ST_CLASS_ROUTABLE},
		{"fc00::", ST_CLASS_UNIQUE_LOCAL},       {"fdff:ffff::1", ST_CLASS_UNIQUE_LOCAL},
		{"ff00::", ST_CLASS_MULTICAST},          {"ff02::1", ST_CLASS_MULTICAST},
		{"2001:db7:ffff::", ST_CLASS_ROUTABLE},  {"2001:db8::", ST_CLASS_DOCUMENTATION},
		{"2001:db8:ffff:ffff::1", ST_CLASS_DOCUMENTATION},
		{"2001:db9::", ST_CLASS_ROUTABLE},       {"2a00:1450::1", ST_CLASS_ROUTABLE},
		{"::ffff:10.0.0.1", ST_CLASS_PRIVATE},   {"::ffff:8.8.8.8", ST_CLASS_ROUTABLE},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		check_class(cases[i].a, cases[i].c);
	assert_string_equal(st_addr_class_name(ST_CLASS_SHARED), "shared");
	assert_string_equal(st_addr_class_name(ST_CLASS_ROUTABLE), "routable");
	assert_string_equal(st_addr_class_name((enum st_addr_class)99), "unknown");
}

static void subnet_and_group_keys_cover_the_right_prefixes(void **state)
{
	(void)state;
	struct st_endpoint a = ep_of("1.2.3.4:1"), b = ep_of("1.2.3.200:2"), c = ep_of("1.2.4.1:1");
	assert_int_equal(st_endpoint_subnet_key(&a), st_endpoint_subnet_key(&b));
	assert_int_not_equal(st_endpoint_subnet_key(&a), st_endpoint_subnet_key(&c));
	assert_int_equal(st_endpoint_group_key(&a), st_endpoint_group_key(&c));
	char buf[ST_CIDR_STRLEN];
	st_netkey_format(st_endpoint_subnet_key(&a), buf, sizeof buf);
	assert_string_equal(buf, "1.2.3.0/24");
	st_netkey_format(st_endpoint_group_key(&a), buf, sizeof buf);
	assert_string_equal(buf, "1.2.0.0/16");
	struct st_endpoint x = ep_of("[2001:db8:1:2::1]:1"), y = ep_of("[2001:db8:1:3::1]:1"),
	                   z = ep_of("[2001:db8:2::1]:1");
	assert_int_equal(st_endpoint_subnet_key(&x), st_endpoint_subnet_key(&y));
	assert_int_not_equal(st_endpoint_subnet_key(&x), st_endpoint_subnet_key(&z));
	assert_int_equal(st_endpoint_group_key(&x), st_endpoint_group_key(&z));
	st_netkey_format(st_endpoint_subnet_key(&x), buf, sizeof buf);
	assert_string_equal(buf, "2001:db8:1::/48");
	st_netkey_format(st_endpoint_group_key(&x), buf, sizeof buf);
	assert_string_equal(buf, "2001:db8::/32");
	/* 1.2.0.0/16 and 2001:... never collide, nor do v4 /24 and /16 keys */
	assert_int_not_equal(st_endpoint_subnet_key(&a), st_endpoint_group_key(&a));
	st_netkey_format(0, buf, sizeof buf);
	assert_string_equal(buf, "?");
}

static void order_equality_and_hash(void **state)
{
	(void)state;
	struct st_endpoint a = ep_of("1.2.3.4:1"), b = ep_of("1.2.3.4:2"), c = ep_of("[::1]:1");
	assert_true(st_endpoint_cmp(&a, &b) < 0);
	assert_true(st_endpoint_cmp(&b, &a) > 0);
	assert_true(st_endpoint_cmp(&a, &c) < 0);
	assert_int_equal(st_endpoint_cmp(&a, &a), 0);
	assert_int_equal(st_endpoint_hash(&a, 7), st_endpoint_hash(&a, 7));
	assert_int_not_equal(st_endpoint_hash(&a, 7), st_endpoint_hash(&b, 7));
	assert_int_not_equal(st_endpoint_hash(&a, 7), st_endpoint_hash(&a, 8));
}

static void sockaddr_round_trip(void **state)
{
	(void)state;
	struct sockaddr_storage ss;
	socklen_t len;
	struct st_err err = {0};
	struct st_endpoint a = ep_of("[2001:db8::5]:443"), back;
	assert_int_equal(st_endpoint_to_sockaddr(&a, &ss, &len), 0);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	assert_int_equal(st_endpoint_from_sockaddr(&back, (struct sockaddr *)&ss, &err), 0);
	assert_true(st_endpoint_equal(&a, &back));
	struct sockaddr_in6 mapped = {.sin6_family = AF_INET6, .sin6_port = htons(80)};
	inet_pton(AF_INET6, "::ffff:9.9.9.9", &mapped.sin6_addr);
	assert_int_equal(st_endpoint_from_sockaddr(&back, (struct sockaddr *)&mapped, &err), 0);
	assert_string_equal(fmt(&back), "9.9.9.9:80");
	struct sockaddr bad = {.sa_family = AF_UNIX};
	assert_int_equal(st_endpoint_from_sockaddr(&back, &bad, &err), -1);
}

static void cidr_parse_contains_and_errors(void **state)
{
	(void)state;
	struct st_cidr c;
	struct st_err err = {0};
	char buf[ST_CIDR_STRLEN];
	assert_int_equal(st_cidr_parse(&c, "10.1.0.0/16", 11, &err), 0);
	struct st_endpoint in = ep_of("10.1.200.3:5"), out = ep_of("10.2.0.1:5"), v6 = ep_of("[::1]:5");
	assert_true(st_cidr_contains(&c, &in));
	assert_false(st_cidr_contains(&c, &out));
	assert_false(st_cidr_contains(&c, &v6));
	st_cidr_format(&c, buf, sizeof buf);
	assert_string_equal(buf, "10.1.0.0/16");
	assert_int_equal(st_cidr_parse(&c, "1.2.3.4", 7, &err), 0);
	assert_int_equal(c.bits, 32);
	assert_int_equal(st_cidr_parse(&c, "2001:db8::/32", 13, &err), 0);
	assert_true(st_cidr_contains(&c, &(struct st_endpoint){0}) == false);
	struct st_endpoint doc = ep_of("[2001:db8:ffff::1]:1");
	assert_true(st_cidr_contains(&c, &doc));
	assert_int_equal(st_cidr_parse(&c, "0.0.0.0/0", 9, &err), 0);
	assert_true(st_cidr_contains(&c, &in));
	assert_int_equal(st_cidr_parse(&c, "1.2.3.4/24", 10, &err), -1);
	assert_string_equal(err.msg, "host bits set in '1.2.3.4/24'");
	assert_int_equal(st_cidr_parse(&c, "1.2.3.0/33", 10, &err), -1);
	assert_int_equal(st_cidr_parse(&c, "1.2.3.0/", 8, &err), -1);
	assert_int_equal(st_cidr_parse(&c, "1.2.3.0/x", 9, &err), -1);
	assert_int_equal(st_cidr_parse(&c, "1.2.3.0/024", 11, &err), -1);
	assert_int_equal(st_cidr_parse(&c, "::/129", 6, &err), -1);
	assert_int_equal(st_cidr_parse(&c, "junk/8", 6, &err), -1);
}

static void ipv4_formatting_matches_inet_ntop(void **state)
{
	(void)state;
	uint32_t x = 12345;
	for (int i = 0; i < 20000; i++) {
		x = x * 1103515245u + 12345u;
		struct st_endpoint ep = {.family = ST_AF_INET, .port = (uint16_t)(x >> 7 | 1)};
		memcpy(ep.addr, &x, 4);
		if (i < 256) /* every octet value once, short and long ones */
			ep.addr[0] = ep.addr[3] = (uint8_t)i;
		char want[64], a[INET_ADDRSTRLEN], got[ST_ENDPOINT_STRLEN];
		inet_ntop(AF_INET, ep.addr, a, sizeof a);
		int n = snprintf(want, sizeof want, "%s:%u", a, ep.port);
		assert_int_equal(st_endpoint_format(&ep, got, sizeof got), n);
		assert_string_equal(got, want);
	}
	/* a buffer too small for the fast path still truncates like snprintf */
	struct st_endpoint ep = {.family = ST_AF_INET, .port = 65535, .addr = {255, 255, 255, 255}};
	char small[8];
	assert_int_equal(st_endpoint_format(&ep, small, sizeof small), 21);
	assert_string_equal(small, "255.255");
}

static void ipv4_address_and_cidr_formatting_match_inet_ntop(void **state)
{
	(void)state;
	uint32_t x = 54321;
	for (int i = 0; i < 20000; i++) {
		x = x * 1103515245u + 12345u;
		struct st_cidr c = {.net = {.family = ST_AF_INET}, .bits = (uint8_t)(i % 33)};
		memcpy(c.net.addr, &x, 4);
		if (i < 256)
			c.net.addr[1] = c.net.addr[2] = (uint8_t)i;
		char a[INET_ADDRSTRLEN], want[64], got[ST_CIDR_STRLEN];
		inet_ntop(AF_INET, c.net.addr, a, sizeof a);
		assert_int_equal(st_addr_format(&c.net, got, sizeof got), strlen(a));
		assert_string_equal(got, a);
		int n = snprintf(want, sizeof want, "%s/%u", a, c.bits);
		assert_int_equal(st_cidr_format(&c, got, sizeof got), n);
		assert_string_equal(got, want);
	}
	/* buffers too small for the fast paths still truncate like snprintf */
	struct st_cidr c = {.net = {.family = ST_AF_INET, .addr = {255, 255, 255, 255}}, .bits = 32};
	char small[8];
	assert_int_equal(st_addr_format(&c.net, small, sizeof small), 15);
	assert_string_equal(small, "255.255");
	assert_int_equal(st_cidr_format(&c, small, sizeof small), 18);
	assert_string_equal(small, "255.255");
}

/* "a.b.c.d:port" by an independent reading: inet_pton's dotted quad (no leading
 * zeros) and a port of 1..65535 without one. */
static bool v4_oracle(const char *s, size_t len, uint8_t addr[4], unsigned *port)
{
	if (memchr(s, '\0', len))
		return false;
	const char *colon = memchr(s, ':', len);
	if (!colon || (size_t)(colon - s) >= INET_ADDRSTRLEN)
		return false;
	char a[INET_ADDRSTRLEN];
	memcpy(a, s, (size_t)(colon - s));
	a[colon - s] = '\0';
	if (inet_pton(AF_INET, a, addr) != 1)
		return false;
	const char *p = colon + 1;
	size_t plen = len - (size_t)(p - s);
	if (!plen || plen > 5 || (plen > 1 && p[0] == '0'))
		return false;
	unsigned v = 0;
	for (size_t i = 0; i < plen; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	*port = v;
	return v >= 1 && v <= 65535;
}

static void the_dotted_quad_fast_path_agrees_with_the_general_rules(void **state)
{
	(void)state;
	static const char *const parts[] = {"0", "1", "9", "10", "00", "01", "09", "99", "100",
	                                    "199", "200", "249", "250", "255", "256", "260", "300",
	                                    "999", "1000", "0255", "", "a", "1a"};
	static const char *const ports[] = {"", "0", "1", "9", "10", "99", "100", "7777", "65535",
	                                    "65536", "99999", "100000", "4294967297", "07777",
	                                    "00", "1a", "+1", "1 "};
	static const char alphabet[] = "0123456789012345678901234567890123456789..::a \t@[]";
	uint32_t x = 777;
	size_t accepted = 0;
	for (int i = 0; i < 200000; i++) {
		char s[40];
		size_t len;
		x = x * 1103515245u + 12345u;
		if (i % 2) { /* four parts and a port from the lists, a separator sometimes wrong */
			const char *p[4];
			for (int k = 0; k < 4; k++) {
				x = x * 1103515245u + 12345u;
				p[k] = parts[(x >> 8) % ST_ARRAY_LEN(parts)];
			}
			x = x * 1103515245u + 12345u;
			char sep = (x >> 20) % 16 ? '.' : ':';
			len = (size_t)snprintf(s, sizeof s, "%s.%s%c%s.%s:%s", p[0], p[1], sep, p[2], p[3],
			                       ports[(x >> 8) % ST_ARRAY_LEN(ports)]);
		} else { /* bytes at random, and a NUL now and then */
			len = (x >> 16) % 26;
			for (size_t k = 0; k < len; k++) {
				x = x * 1103515245u + 12345u;
				s[k] = (x >> 12) % 97 ? alphabet[(x >> 8) % (sizeof alphabet - 1)] : '\0';
			}
			s[len] = '\0';
		}
		uint8_t addr[4];
		unsigned port = 0;
		bool want = v4_oracle(s, len, addr, &port);
		struct st_endpoint fast, slow;
		struct st_err err = {0};
		int rc = st_endpoint_parse_v4(&fast, s, len);
		if (rc != (want ? 0 : -1))
			fail_msg("'%.*s' (%zu bytes): the fast path %s it", (int)len, s, len,
			         rc ? "rejects" : "accepts");
		if (!want)
			continue;
		accepted++;
		assert_int_equal(fast.family, ST_AF_INET);
		assert_memory_equal(fast.addr, addr, 4);
		assert_int_equal(fast.port, port);
		/* the general path reads it alike, byte for byte */
		memset(&slow, 0xa5, sizeof slow);
		assert_int_equal(st_endpoint_parse(&slow, s, len, &err), 0);
		assert_memory_equal(&slow, &fast, sizeof fast);
	}
	assert_true(accepted > 1000); /* enough valid ones to compare the two readers */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ipv4_formatting_matches_inet_ntop),
		cmocka_unit_test(ipv4_address_and_cidr_formatting_match_inet_ntop),
		cmocka_unit_test(parses_and_formats_ipv4_and_ipv6),
		cmocka_unit_test(ipv4_mapped_ipv6_becomes_ipv4),
		cmocka_unit_test(rejects_bad_endpoints_with_reasons),
		cmocka_unit_test(parses_optional_node_ids),
		cmocka_unit_test(classifies_every_range_at_its_edges),
		cmocka_unit_test(subnet_and_group_keys_cover_the_right_prefixes),
		cmocka_unit_test(order_equality_and_hash),
		cmocka_unit_test(sockaddr_round_trip),
		cmocka_unit_test(cidr_parse_contains_and_errors),
		cmocka_unit_test(the_dotted_quad_fast_path_agrees_with_the_general_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
