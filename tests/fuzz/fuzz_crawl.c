/* fuzz_crawl.c - the crawl state's line parser (st-crawl's state dir) on arbitrary bytes.
 * A line it takes must write back as a line it takes again, and that second
 * line must write back the same: what st-crawl reads, it can store and read again. */
#include <stdlib.h>
#include <string.h>

#include "st/crawl.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct st_crawl_node a, b;
	if (st_crawl_node_parse(&a, (const char *)data, size) < 0)
		return 0;
	/* the size st_crawl_state_commit writes into */
	char one[4096], two[4096];
	size_t n1 = st_crawl_node_format(&a, one, sizeof one);
	if (!n1 || memchr(one, '\n', n1))
		abort();
	if (st_crawl_node_parse(&b, one, n1) < 0)
		abort();
	size_t n2 = st_crawl_node_format(&b, two, sizeof two);
	if (n1 != n2 || memcmp(one, two, n1) != 0)
		abort();
	return 0;
}
