/* fuzz_addrbook.c - a lazy book's readers (binary search, indexes, scan) on arbitrary files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st/addrbook.h"
#include "st/store.h"
#include "st/util.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static void put(const char *dir, const char *name, const char *header, const unsigned char *p,
                size_t n)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		abort();
	fputs(header, f);
	fwrite(p, 1, n, f);
	fclose(f);
}

/* An index file: the fuzzer's lines, then the seal that makes readers use them
 * (end SNAPSHOT-BODY-BYTES CRC32C-of-the-lines), as addrbook_index.c writes it. */
static void put_index(const char *dir, const char *name, const unsigned char *p, size_t n,
                      size_t snap_len)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		abort();
	fputs("#st-aux addrbook 2 gen 1\n", f);
	fwrite(p, 1, n, f);
	uint32_t crc = st_crc32c(0, p, n);
	if (n && p[n - 1] != '\n') {
		fputc('\n', f);
		crc = st_crc32c(crc, "\n", 1);
	}
	fprintf(f, "end %zu %08x\n", snap_len, crc);
	fclose(f);
}

static int visit(void *ctx, const struct st_addr_entry *e, const char *source)
{
	*(size_t *)ctx += e->attempts + strlen(source);
	return 0;
}

static struct st_addrbook *open_lazy(const struct st_config *cfg)
{
	struct st_addrbook *ab;
	return st_addrbook_open(&ab, cfg, ST_STORE_READ | ST_ADDRBOOK_LAZY, NULL) == 0 ? ab : NULL;
}

static char dir[] = "/tmp/st-fuzz-addrbook-XXXXXX";

static void remove_dir(void)
{
	const char *names[] = {"addrbook.tsv", "addrbook.rank", "addrbook.age", "addrbook.lock"};
	char path[512];
	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		remove(path);
	}
	remove(dir);
}

/* Input: two bytes giving the snapshot's length, the snapshot's lines, then
 * the lines of an index used as both addrbook.rank and addrbook.age. */
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static int made;
	if (!made) {
		if (!mkdtemp(dir))
			abort();
		made = 1;
		atexit(remove_dir);
	}
	if (size < 2)
		return 0;
	size_t split = (size_t)(data[0] | data[1] << 8);
	data += 2;
	size -= 2;
	if (split > size)
		split = size;
	put(dir, "addrbook.tsv", "#st addrbook 2 gen 1\n", data, split);
	put_index(dir, "addrbook.rank", data + split, size - split, split);
	put_index(dir, "addrbook.age", data + split, size - split, split);
	struct st_config cfg;
	st_config_init(&cfg);
	snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", dir);

	struct st_addrbook *ab = open_lazy(&cfg);
	if (!ab)
		return 0;
	const char *probe[] = {"1.1.1.1:1", "[2a00::1]:7777", "255.255.255.255:65535"};
	for (size_t i = 0; i < 3; i++) {
		struct st_endpoint ep;
		if (st_endpoint_parse(&ep, probe[i], strlen(probe[i]), NULL) == 0)
			(void)st_addrbook_get(ab, &ep);
	}
	const struct st_addr_entry *out[4];
	struct st_best_opts o = {.n = 4};
	(void)st_addrbook_best(ab, &o, 2000000000, out, NULL);
	st_addrbook_free(ab);

	if ((ab = open_lazy(&cfg)) != NULL) {
		(void)st_addrbook_gather_stale(ab, 2000000000, NULL);
		st_addrbook_free(ab);
	}
	if ((ab = open_lazy(&cfg)) != NULL) {
		size_t sum = 0;
		(void)st_addrbook_scan(ab, visit, &sum, NULL);
		st_addrbook_free(ab);
	}
	return 0;
}
