/* fuzz_endpoint.c - the endpoint, CIDR and ban target parsers; what parses must format and parse back equal. */
#include <stdlib.h>
#include <string.h>

#include "st/endpoint.h"
#include "st/peers.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const char *s = (const char *)data;
	struct st_endpoint ep, back;
	char id[ST_NODE_ID_MAX + 1], id2[ST_NODE_ID_MAX + 1];
	if (st_endpoint_parse_id(&ep, id, sizeof id, s, size, NULL) == 0) {
		char text[ST_ENDPOINT_STRLEN + 1];
		size_t n = st_endpoint_format(&ep, text, sizeof text);
		if (st_endpoint_parse_id(&back, id2, sizeof id2, text, n, NULL) != 0 ||
		    !st_endpoint_equal(&ep, &back))
			abort();
		(void)st_endpoint_class(&ep);
		char key[ST_CIDR_STRLEN];
		st_netkey_format(st_endpoint_subnet_key(&ep), key, sizeof key);
		st_netkey_format(st_endpoint_group_key(&ep), key, sizeof key);
	}
	struct st_cidr c, c2;
	if (st_cidr_parse(&c, s, size, NULL) == 0) {
		char text[ST_CIDR_STRLEN + 1];
		size_t n = st_cidr_format(&c, text, sizeof text);
		if (st_cidr_parse(&c2, text, n, NULL) != 0 || c2.bits != c.bits ||
		    !st_endpoint_equal(&c.net, &c2.net))
			abort();
	}
	/* ban targets: whatever parses names an id or an address, and a port only with an address */
	char *t = malloc(size + 1);
	if (!t)
		return 0;
	memcpy(t, data, size);
	t[size] = '\0';
	struct st_ban_query q;
	if (st_ban_query_parse(&q, t, NULL) == 0) {
		if (!q.id[0] && !q.has_net)
			abort();
		if (q.port && (!q.has_net || q.net.bits != (q.net.net.family == ST_AF_INET ? 32 : 128)))
			abort();
	}
	free(t);
	return 0;
}
