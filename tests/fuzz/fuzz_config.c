/* fuzz_config.c - the YAML config loader on arbitrary bytes. */
#include "st/config.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct st_config cfg;
	st_config_init(&cfg);
	(void)st_config_parse(&cfg, "fuzz.yaml", (const char *)data, size, NULL);
	st_config_free(&cfg);
	return 0;
}
