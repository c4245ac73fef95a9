/* fuzz_seed.c - the seed list parsers (text, Bitcoin-style, JSON) on arbitrary bytes. */
#include <string.h>

#include "st/seed.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

/* A host() that resolves nothing, so the fuzzer never touches the network. */
static int no_resolve(void *ctx, struct st_seed_list *l, const char *host, uint16_t port,
                      const char *node_id, struct st_err *err)
{
	(void)ctx;
	(void)l;
	(void)port;
	(void)node_id;
	return st_err_set(err, ST_EX_DATAERR, "host name '%s'", host);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	/* the first byte picks the format and whether host names go to a resolver */
	if (!size)
		return 0;
	enum st_seed_format fmt = (enum st_seed_format)(data[0] & 3);
	struct st_seed_sink sink = {NULL, (data[0] & 4) ? no_resolve : NULL, NULL};
	struct st_seed_list l = {0};
	(void)st_seed_parse(&l, (const char *)data + 1, size - 1, fmt,
	                    (data[0] & 8) ? "application/json" : "text/plain", 7777, &sink, NULL);
	for (size_t i = 0; i < l.n; i++)
		if (l.v[i].ep.port == 0)
			__builtin_trap(); /* every endpoint of a list has a port */
	st_seed_list_clear(&l);
	return 0;
}
