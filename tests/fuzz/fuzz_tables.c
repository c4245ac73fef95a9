/* fuzz_tables.c - the peers and bans loaders (snapshot and journal) and their
 * repair on arbitrary files, through the store as the programs open them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st/peers.h"
#include "st/store.h"
#include "st/util.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

/* on tmpfs where there is one: a repair fsyncs, and a disk would make each run slow */
static char dir[] = "/dev/shm/st-fuzz-tables-XXXXXX"; /* no shorter than dir_tmp */
static char dir_tmp[] = "/tmp/st-fuzz-tables-XXXXXX";

static const char *const names[] = {
	"peers.tsv", "peers.journal", "bans.tsv", "bans.journal", "peers.lock", "bans.lock",
	"peers.tsv.bak", "peers.journal.bak", "bans.tsv.bak", "bans.journal.bak",
	"peers.tsv.tmp", "bans.tsv.tmp",
};

static void clean(void)
{
	char path[512];
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		remove(path);
	}
}

static void remove_dir(void)
{
	clean();
	remove(dir);
}

static FILE *create(const char *name)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		abort();
	return f;
}

/*
 * Input: a flags byte (bit 0: the bans table, else peers; bit 1: give each
 * journal line its right checksum, so that the payload parsers see it; bit 2:
 * repair what does not load), two bytes giving the snapshot's length, the
 * snapshot's lines, then the journal's lines.
 */
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static int made;
	if (!made) {
		if (!mkdtemp(dir)) {
			memcpy(dir, dir_tmp, sizeof dir_tmp);
			if (!mkdtemp(dir))
				abort();
		}
		made = 1;
		atexit(remove_dir);
	}
	if (size < 3)
		return 0;
	unsigned flags = data[0];
	size_t split = (size_t)(data[1] | data[2] << 8);
	data += 3;
	size -= 3;
	if (split > size)
		split = size;
	const char *table = (flags & 1) ? "bans" : "peers", *other = (flags & 1) ? "peers" : "bans";
	clean();
	char name[32];
	snprintf(name, sizeof name, "%s.tsv", table);
	FILE *f = create(name);
	fprintf(f, "#st %s 1 gen 1\n", table);
	fwrite(data, 1, split, f);
	fclose(f);
	snprintf(name, sizeof name, "%s.journal", table);
	f = create(name);
	fprintf(f, "#st-journal %s 1 gen 1\n#batches\n", table);
	if (flags & 2) {
		const unsigned char *p = data + split, *end = data + size;
		while (p < end) {
			const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t n = (size_t)((nl ? nl : end) - p);
			fwrite(p, 1, n, f);
			fprintf(f, "\t#%08x\n#commit\n", st_crc32c(0, p, n));
			p += n + 1;
		}
	} else {
		fwrite(data + split, 1, size - split, f);
	}
	fclose(f);
	snprintf(name, sizeof name, "%s.tsv", other); /* the other table: empty */
	f = create(name);
	fprintf(f, "#st %s 1 gen 1\n", other);
	fclose(f);

	struct st_config cfg;
	st_config_init(&cfg);
	snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", dir);
	struct st_peerbook *pb;
	struct st_err err = {0};
	if (st_peerbook_open(&pb, &cfg, ST_STORE_READ, &err) == 0) {
		struct st_ban_query q;
		if (st_ban_query_parse(&q, "10.0.0.1", NULL) == 0)
			(void)st_bans_verdict(pb, &q, 1750000000);
		size_t sum = 0;
		for (size_t i = 0; i < st_peers_slots(pb); i++) {
			const struct st_peer *p = st_peers_slot(pb, i);
			sum += p ? p->neps : 0;
		}
		(void)sum;
		st_peerbook_free(pb);
	} else if (flags & 4) {
		size_t kept, lost;
		struct st_err rerr = {0};
		(void)st_peerbook_fsck(&cfg, true, &kept, &lost, &rerr);
	}
	return 0;
}
