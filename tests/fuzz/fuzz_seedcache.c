/* fuzz_seedcache.c - the seeds cache loader of st-seed refresh on arbitrary bytes. */
#include "st/seed.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	size_t n = 0;
	(void)st_seed_cache_parse((const char *)data, size, &n, NULL);
	return 0;
}
