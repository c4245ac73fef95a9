/* fuzz_dns.c - a DNS seed's reply parser on arbitrary bytes, as a hostile server sends them. */
#include <string.h>

#include "st/seed.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	/* the id the reply carries is the one asked: the parser goes past the id check */
	uint16_t id = size >= 2 ? (uint16_t)(data[0] << 8 | data[1]) : 0;
	struct st_endpoint out[8];
	size_t n = 0;
	char detail[160];
	for (int k = 0; k < 2; k++) {
		enum st_dns_verdict v = st_dns_reply_parse(data, size, id, "seed.example.net",
		                                           k ? 28 : 1, out, 8, &n, detail, sizeof detail);
		if ((v == ST_DNS_ANSWER) != (n > 0) || n > 8)
			__builtin_trap(); /* addresses exactly when the verdict is an answer */
		if (v != ST_DNS_ANSWER && !detail[0])
			__builtin_trap(); /* every fault named */
	}
	return 0;
}
