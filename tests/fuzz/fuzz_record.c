/* fuzz_record.c - the record line parser on arbitrary bytes. */
#include <stdlib.h>
#include <string.h>

#include "st/record.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char *line = malloc(size + 1);
	if (!line)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	struct st_record rec = {0};
	if (st_record_parse(&rec, line, size, NULL) == 0) {
		(void)st_record_get(&rec, "status");
		(void)st_record_get(&rec, "rtt_ms");
		(void)st_record_get(&rec, "verified");
	}
	st_record_clear(&rec);
	free(line);
	return 0;
}
