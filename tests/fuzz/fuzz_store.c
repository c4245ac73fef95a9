/* fuzz_store.c - the snapshot loader (header and lines) on arbitrary bytes. */
#include "st/store.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static int count(void *ctx, const char *line, size_t len, unsigned long lineno,
                 struct st_err *err)
{
	(void)line;
	(void)lineno;
	(void)err;
	*(size_t *)ctx += len;
	return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	size_t total = 0;
	(void)st_store_parse_image("addrbook", 1, (const char *)data, size, count, &total, NULL);
	return 0;
}
