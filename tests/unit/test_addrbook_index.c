/* test_addrbook_index.c - a lazily read book answers exactly as a loaded one does. */
#include "unit.h"

#include "st/addrbook.h"
#include "st/store.h"
#include "st/util.h"
#include "../../lib/addrbook_int.h" /* to see whether a lazy book stayed lazy */

#define NOW 2000000000

struct fixture {
	char *dir;
	struct st_config cfg;
	uint64_t rng;
	struct st_endpoint *eps; /* every endpoint ever added */
	size_t neps;
	bool hot_top;            /* the best entries were all tried at NOW */
};

static uint64_t next(struct fixture *f)
{
	uint64_t z = (f->rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint32_t below(struct fixture *f, uint32_t n)
{
	return (uint32_t)(next(f) % n);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	f->dir = unit_tmpdir();
	st_config_init(&f->cfg);
	snprintf(f->cfg.data_dir, sizeof f->cfg.data_dir, "%s", f->dir);
	f->cfg.addrbook.max_addresses = 1000000;
	f->cfg.addrbook.max_per_subnet = 1000000;
	f->rng = 42;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	unit_rmtree(f->dir);
	free(f->eps);
	free(f);
	return 0;
}

static struct st_addrbook *open_book(struct fixture *f, unsigned flags)
{
	struct st_addrbook *ab;
	struct st_err err = {0};
	if (st_addrbook_open(&ab, &f->cfg, flags, &err) < 0)
		fail_msg("%s", err.msg);
	return ab;
}

static void close_book(struct st_addrbook *ab)
{
	struct st_err err = {0};
	if (st_addrbook_close(ab, &err) < 0)
		fail_msg("%s", err.msg);
}

/* Adds n random entries in `groups` /16 groups with random histories. */
static void add_random(struct fixture *f, struct st_addrbook *ab, size_t n, uint32_t groups)
{
	f->eps = realloc(f->eps, (f->neps + n) * sizeof *f->eps);
	for (size_t i = 0; i < n; i++) {
		char s[64];
		uint32_t g = below(f, groups);
		snprintf(s, sizeof s, "%u.%u.%u.%u:%u", 20 + g / 256, g % 256, below(f, 256),
		         1 + below(f, 250), 1 + below(f, 3));
		struct st_addr_entry in = {0};
		assert_int_equal(st_endpoint_parse(&in.ep, s, strlen(s), NULL), 0);
		enum st_addrbook_verdict v;
		assert_int_equal(st_addrbook_add(ab, &in.ep, "manual", NULL, 1, &v, NULL, NULL), 0);
		if (v != ST_ADD_ADDED)
			continue;
		f->eps[f->neps++] = in.ep;
		in.last_seen = NOW - below(f, 40 * 86400);
		in.first_seen = in.last_seen - below(f, 1000);
		in.failures = below(f, 4);
		in.consecutive_failures = below(f, in.failures + 1);
		in.successes = below(f, 3);
		in.attempts = in.successes + in.failures;
		in.last_success = in.successes ? NOW - below(f, 5000) : 0;
		in.last_attempt = in.attempts ? NOW - below(f, 2000) : 0; /* some within 10 minutes */
		in.pinned = below(f, 20) == 0;
		if (f->hot_top && in.successes == 2 && in.failures == 0)
			in.last_attempt = NOW;
		assert_int_equal(st_addrbook_import_entry(ab, &in, "manual", NULL), 1);
	}
}

/* A book with a snapshot and its indexes, then journal changes on top. */
static void make_book(struct fixture *f, size_t n, uint32_t groups)
{
	struct st_addrbook *ab = open_book(f, ST_STORE_WRITE);
	add_random(f, ab, n, groups);
	struct st_err err = {0};
	assert_int_equal(st_addrbook_compact(ab, &err), 0);
	close_book(ab);
	/* now only the journal: results, removals, pins, new entries */
	ab = open_book(f, ST_STORE_WRITE | ST_ADDRBOOK_LAZY);
	for (size_t i = 0; i < f->neps / 20; i++) {
		const struct st_endpoint *e = &f->eps[below(f, (uint32_t)f->neps)];
		switch (below(f, 5)) {
		case 0: assert_true(st_addrbook_record(ab, e, true, NOW - below(f, 900), &err) >= 0); break;
		case 1: assert_true(st_addrbook_record(ab, e, false, NOW, &err) >= 0); break;
		case 2: assert_true(st_addrbook_remove(ab, e, &err) >= 0); break;
		case 3: assert_true(st_addrbook_pin(ab, e, below(f, 2), &err) >= 0); break;
		default: assert_true(st_addrbook_seen(ab, e, NOW, &err) >= 0); break;
		}
	}
	add_random(f, ab, n / 50 + 1, groups);
	close_book(ab);
}

static void same_best(struct fixture *f, const struct st_best_opts *o, int64_t now,
                      bool expect_lazy)
{
	struct st_addrbook *full = open_book(f, ST_STORE_READ);
	struct st_addrbook *lazy = open_book(f, ST_STORE_READ | ST_ADDRBOOK_LAZY);
	const struct st_addr_entry **a = calloc(o->n, sizeof *a), **b = calloc(o->n, sizeof *b);
	struct st_err err = {0};
	long na = st_addrbook_best(full, o, now, a, &err);
	long nb = st_addrbook_best(lazy, o, now, b, &err);
	assert_true(na > 0);
	assert_int_equal(na, nb);
	for (long i = 0; i < na; i++) {
		char x[ST_ENDPOINT_STRLEN], y[ST_ENDPOINT_STRLEN];
		st_endpoint_format(&a[i]->ep, x, sizeof x);
		st_endpoint_format(&b[i]->ep, y, sizeof y);
		assert_string_equal(x, y);
		assert_int_equal(a[i]->last_attempt, b[i]->last_attempt);
	}
	if (expect_lazy) /* it read part of the book, not all of it */
		assert_true(lazy->lazy && st_addrbook_slots(lazy) < st_addrbook_count(full) / 2);
	free(a);
	free(b);
	st_addrbook_free(full);
	st_addrbook_free(lazy);
}

static void best_agrees_with_a_loaded_book(void **state)
{
	struct fixture *f = *state;
	make_book(f, 4000, 300);
	struct st_endpoint ex[3] = {f->eps[0], f->eps[1], f->eps[2]};
	size_t ns[] = {1, 3, 8, 40, 250};
	for (size_t i = 0; i < 5; i++) {
		struct st_best_opts o = {.n = ns[i]};
		same_best(f, &o, NOW, ns[i] <= 40);
		same_best(f, &o, NOW + 700, ns[i] <= 40); /* every penalty over */
		same_best(f, &o, NOW - 3000, false);
		o.exclude = ex;
		o.nexclude = 3;
		same_best(f, &o, NOW, false);
	}
	/* more asked for than there are groups: rounds past the first, read in full */
	struct st_best_opts o = {.n = 400};
	same_best(f, &o, NOW, false);
}

static void best_looks_past_entries_just_tried(void **state)
{
	struct fixture *f = *state;
	f->hot_top = true; /* the top of the rank index is all x0.01 at NOW */
	make_book(f, 4000, 300);
	struct st_best_opts o = {.n = 8};
	same_best(f, &o, NOW, true);
	same_best(f, &o, NOW + 600, true);
	o.n = 60;
	same_best(f, &o, NOW, false);
}

static void best_past_the_listed_part_reads_the_book(void **state)
{
	struct fixture *f = *state;
	make_book(f, 70000, 5); /* the index lists 65,536; five groups */
	struct st_best_opts o = {.n = 8};
	same_best(f, &o, NOW, false);
	o.n = 5;
	same_best(f, &o, NOW, true);
}

struct lines {
	char **v;
	size_t n;
};

static int collect(void *ctx, const struct st_addr_entry *e, const char *source)
{
	struct lines *l = ctx;
	char line[ST_SOURCE_MAX + 256];
	st_addr_entry_format_source(e, source, line, sizeof line);
	l->v = realloc(l->v, (l->n + 1) * sizeof *l->v);
	l->v[l->n++] = strdup(line);
	return 0;
}

static void free_lines(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

static void scan_find_and_stale_agree(void **state)
{
	struct fixture *f = *state;
	make_book(f, 3000, 200);
	struct st_addrbook *full = open_book(f, ST_STORE_READ);
	struct st_addrbook *lazy = open_book(f, ST_STORE_READ | ST_ADDRBOOK_LAZY);
	struct st_err err = {0};

	/* point lookups, known and removed */
	for (size_t i = 0; i < f->neps; i++) {
		const struct st_addr_entry *a = st_addrbook_get(full, &f->eps[i]);
		const struct st_addr_entry *b = st_addrbook_get(lazy, &f->eps[i]);
		assert_int_equal(a == NULL, b == NULL);
		if (a)
			assert_memory_equal(&a->last_seen, &b->last_seen, sizeof a->last_seen);
	}
	struct st_endpoint unknown;
	assert_int_equal(st_endpoint_parse(&unknown, "9.9.9.9:9", 9, NULL), 0);
	assert_null(st_addrbook_get(lazy, &unknown));
	assert_true(lazy->lazy);
	st_addrbook_free(lazy);

	/* the scan: book order, one line per live entry, the journal's word winning */
	lazy = open_book(f, ST_STORE_READ | ST_ADDRBOOK_LAZY);
	struct lines a = {0}, b = {0};
	assert_int_equal(st_addrbook_scan(full, collect, &a, &err), 0);
	assert_int_equal(st_addrbook_scan(lazy, collect, &b, &err), 0);
	assert_int_equal(a.n, st_addrbook_count(full));
	assert_int_equal(a.n, b.n);
	for (size_t i = 0; i < a.n; i++)
		assert_string_equal(a.v[i], b.v[i]);
	free_lines(&a);
	free_lines(&b);
	st_addrbook_free(lazy);

	/* stale entries: every one seen before the cut is in memory */
	int64_t cuts[] = {NOW - 39 * 86400, NOW - 20 * 86400, NOW + 1};
	for (size_t c = 0; c < 3; c++) {
		lazy = open_book(f, ST_STORE_READ | ST_ADDRBOOK_LAZY);
		assert_int_equal(st_addrbook_gather_stale(lazy, cuts[c], &err), 0);
		size_t want = 0, got = 0;
		for (size_t i = 0; i < st_addrbook_slots(full); i++) {
			const struct st_addr_entry *e = st_addrbook_entry(full, i);
			if (e && !e->pinned && e->last_seen < cuts[c]) {
				want++;
				const struct st_addr_entry *m = ab_lookup(lazy, &e->ep);
				assert_non_null(m);
				assert_false(m->deleted);
			}
		}
		for (size_t i = 0; i < st_addrbook_slots(lazy); i++) {
			const struct st_addr_entry *e = st_addrbook_entry(lazy, i);
			got += e && !e->pinned && e->last_seen < cuts[c];
		}
		assert_int_equal(got, want);
		if (c == 0)
			assert_true(lazy->lazy);
		st_addrbook_free(lazy);
	}
	st_addrbook_free(full);
}

static int count_visit(void *ctx, const struct st_addr_entry *e, const char *source)
{
	(void)e;
	(void)source;
	(*(size_t *)ctx)++;
	return 0;
}

static void a_scan_skips_entries_the_journal_only_removed(void **state)
{
	struct fixture *f = *state;
	struct st_addrbook *ab = open_book(f, ST_STORE_WRITE);
	add_random(f, ab, 500, 50);
	struct st_err err = {0};
	assert_int_equal(st_addrbook_compact(ab, &err), 0);
	close_book(ab);
	/* the journal: deletions only, so no live entry is in a lazy book's memory */
	ab = open_book(f, ST_STORE_WRITE | ST_ADDRBOOK_LAZY);
	for (size_t i = 0; i < 10; i++)
		assert_int_equal(st_addrbook_remove(ab, &f->eps[i * 7], &err), 1);
	close_book(ab);
	ab = open_book(f, ST_STORE_READ | ST_ADDRBOOK_LAZY);
	assert_true(ab->lazy);
	size_t n = 0;
	assert_int_equal(st_addrbook_scan(ab, count_visit, &n, &err), 0);
	assert_int_equal(n, f->neps - 10);
	for (size_t i = 0; i < 10; i++)
		assert_null(st_addrbook_get(ab, &f->eps[i * 7]));
	st_addrbook_free(ab);
}

static void a_stale_or_damaged_index_falls_back_and_is_rebuilt(void **state)
{
	struct fixture *f = *state;
	make_book(f, 2000, 100);
	char path[512];
	snprintf(path, sizeof path, "%s/addrbook.rank", f->dir);
	FILE *fp = fopen(path, "r+");
	assert_non_null(fp);
	assert_int_equal(fseek(fp, 40, SEEK_SET), 0);
	fputs("x17\n", fp); /* not a line's offset */
	fclose(fp);
	struct st_best_opts o = {.n = 8};
	same_best(f, &o, NOW, false);
	remove(path);
	same_best(f, &o, NOW, false);
	struct st_addrbook *ab = open_book(f, ST_STORE_WRITE | ST_ADDRBOOK_LAZY);
	assert_false(ab_indexes_current(ab));
	close_book(ab); /* a writer rebuilds what is missing */
	ab = open_book(f, ST_STORE_READ | ST_ADDRBOOK_LAZY);
	assert_true(ab_indexes_current(ab));
	st_addrbook_free(ab);
	same_best(f, &o, NOW, true);
}

/* The lines of a file, malloc'ed, NULL-terminated. */
static char **read_lines(const char *path, size_t *n)
{
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	char **v = NULL, buf[256];
	*n = 0;
	while (fgets(buf, sizeof buf, fp)) {
		v = realloc(v, (*n + 2) * sizeof *v);
		v[(*n)++] = strdup(buf);
	}
	fclose(fp);
	v[*n] = NULL;
	return v;
}

/* Writes header, lines [1, n-1) in the given order, then a seal that holds. */
static void write_sealed(const char *path, char **lines, const size_t *order, size_t n)
{
	char body[1 << 20];
	size_t len = 0;
	for (size_t i = 0; i + 2 < n; i++) {
		size_t l = strlen(lines[order[i]]);
		memcpy(body + len, lines[order[i]], l);
		len += l;
	}
	unsigned long long snap, stamp;
	unsigned crc;
	assert_int_equal(sscanf(lines[n - 1], "end %llu %x %llu", &snap, &crc, &stamp), 3);
	FILE *fp = fopen(path, "w");
	fputs(lines[0], fp);
	fwrite(body, 1, len, fp);
	fprintf(fp, "end %llu %08x %llu\n", snap, st_crc32c(0, body, len), stamp);
	fclose(fp);
}

static void a_sealed_index_out_of_order_is_not_trusted(void **state)
{
	struct fixture *f = *state;
	make_book(f, 2000, 100);
	struct st_best_opts o = {.n = 8};
	same_best(f, &o, NOW + 700, true);
	char path[512];
	snprintf(path, sizeof path, "%s/addrbook.rank", f->dir);
	size_t n;
	char **lines = read_lines(path, &n);
	assert_true(n > 1000);
	assert_int_equal(strncmp(lines[n - 1], "end ", 4), 0);
	/* the 600th entry's offset moved to the top of the list: the seal is made
	 * to hold, only the order gives it away (a walk sees what it reads: an
	 * entry moved down, out of a walk's reach, only the seal and fsck catch) */
	size_t *order = malloc(n * sizeof *order), k = 0;
	order[k++] = 1; /* "rest" */
	order[k++] = 600;
	for (size_t i = 2; i + 1 < n; i++)
		if (i != 600)
			order[k++] = i;
	write_sealed(path, lines, order, n);
	for (int i = 0; i < 3; i++) {
		o.n = (size_t[]){1, 8, 20}[i];
		same_best(f, &o, NOW + 700, false);
	}
	size_t kept, lost;
	struct st_err err = {0};
	assert_int_equal(st_addrbook_fsck(&f->cfg, false, &kept, &lost, &err), -1);
	assert_int_equal(err.code, ST_EX_DATAERR);
	assert_non_null(strstr(err.msg, "addrbook.rank: does not match the snapshot"));
	assert_int_equal(st_addrbook_fsck(&f->cfg, true, &kept, &lost, &err), 2);
	assert_int_equal(st_addrbook_fsck(&f->cfg, false, &kept, &lost, &err), 0);
	o.n = 8;
	same_best(f, &o, NOW + 700, true);

	/* the age index: a pinned entry, or one newer than the next, is a lie */
	snprintf(path, sizeof path, "%s/addrbook.age", f->dir);
	for (size_t i = 0; lines[i]; i++)
		free(lines[i]);
	free(lines);
	lines = read_lines(path, &n);
	k = 0;
	for (size_t i = 1; i + 1 < n; i++)
		order[k++] = i == 2 ? n - 2 : i == n - 2 ? 2 : i; /* the newest listed first */
	write_sealed(path, lines, order, n);
	struct st_addrbook *full = open_book(f, ST_STORE_READ);
	struct st_addrbook *lazy = open_book(f, ST_STORE_READ | ST_ADDRBOOK_LAZY);
	int64_t cut = NOW - 20 * 86400;
	assert_int_equal(st_addrbook_gather_stale(lazy, cut, &err), 0);
	size_t want = 0, got = 0;
	for (size_t i = 0; i < st_addrbook_slots(full); i++) {
		const struct st_addr_entry *e = st_addrbook_entry(full, i);
		want += e && !e->pinned && e->last_seen < cut;
	}
	for (size_t i = 0; i < st_addrbook_slots(lazy); i++) {
		const struct st_addr_entry *e = st_addrbook_entry(lazy, i);
		got += e && !e->pinned && e->last_seen < cut;
	}
	assert_true(want > 0);
	assert_int_equal(got, want);
	st_addrbook_free(full);
	st_addrbook_free(lazy);
	assert_int_equal(st_addrbook_fsck(&f->cfg, false, &kept, &lost, &err), -1);
	assert_non_null(strstr(err.msg, "addrbook.age: does not match the snapshot"));
	for (size_t i = 0; lines[i]; i++)
		free(lines[i]);
	free(lines);
	free(order);
}

static void a_search_through_swapped_lines_reports_damage(void **state)
{
	struct fixture *f = *state;
	struct st_addrbook *book = open_book(f, ST_STORE_WRITE);
	add_random(f, book, 3000, 200);
	struct st_err cerr = {0};
	assert_int_equal(st_addrbook_compact(book, &cerr), 0); /* every entry in the snapshot */
	close_book(book);
	char path[512];
	snprintf(path, sizeof path, "%s/addrbook.tsv", f->dir);
	size_t n;
	char **lines = read_lines(path, &n);
	/* every pair of neighbours in turn would take long: a few, spread out */
	for (size_t at = 2; at + 2 < n; at += n / 7) {
		char *t = lines[at];
		lines[at] = lines[at + 1];
		lines[at + 1] = t;
		FILE *fp = fopen(path, "w");
		for (size_t i = 0; i < n; i++)
			fputs(lines[i], fp);
		fclose(fp);
		for (size_t j = at; j < at + 2; j++) {
			struct st_endpoint ep;
			const char *tab = strchr(lines[j], '\t');
			assert_int_equal(st_endpoint_parse(&ep, lines[j], (size_t)(tab - lines[j]), NULL), 0);
			struct st_addrbook *ab = open_book(f, ST_STORE_WRITE | ST_ADDRBOOK_LAZY);
			struct st_err err = {0};
			int rc = st_addrbook_record(ab, &ep, true, NOW, &err);
			if (rc < 0) { /* damage, named, never "unknown" */
				assert_int_equal(err.code, ST_EX_DATAERR);
				assert_non_null(strstr(err.msg, "st-addrbook fsck --repair"));
			} else {
				assert_int_equal(rc, 1); /* or found all the same */
			}
			st_addrbook_free(ab);
		}
		t = lines[at];
		lines[at] = lines[at + 1];
		lines[at + 1] = t;
	}
	for (size_t i = 0; lines[i]; i++)
		free(lines[i]);
	free(lines);
}

static void an_unsorted_snapshot_is_damage(void **state)
{
	struct fixture *f = *state;
	char path[512];
	snprintf(path, sizeof path, "%s/addrbook.tsv", f->dir);
	FILE *fp = fopen(path, "w");
	fputs("#st addrbook 2 gen 1\n"
	      "2.2.2.2:2\t1\t1\t0\t0\t0\t0\t0\t0\t0\t0\tmanual\n"
	      "1.1.1.1:1\t1\t1\t0\t0\t0\t0\t0\t0\t0\t0\tmanual\n", fp);
	fclose(fp);
	struct st_addrbook *ab;
	struct st_err err = {0};
	assert_int_equal(st_addrbook_open(&ab, &f->cfg, ST_STORE_READ, &err), -1);
	assert_non_null(strstr(err.msg, "out of order"));
	/* format 1 had no order: read the slow way, rewritten sorted by a writer */
	fp = fopen(path, "w");
	fputs("#st addrbook 1 gen 1\n"
	      "2.2.2.2:2\t1\t1\t0\t0\t0\t0\t0\t0\t0\t0\tmanual\n"
	      "1.1.1.1:1\t1\t1\t0\t0\t0\t0\t0\t0\t0\t0\tmanual\n", fp);
	fclose(fp);
	ab = open_book(f, ST_STORE_READ | ST_ADDRBOOK_LAZY);
	assert_false(ab->lazy);
	assert_int_equal(st_addrbook_count(ab), 2);
	st_addrbook_free(ab);
	close_book(open_book(f, ST_STORE_WRITE | ST_ADDRBOOK_LAZY));
	ab = open_book(f, ST_STORE_READ | ST_ADDRBOOK_LAZY);
	assert_true(ab->lazy);
	struct st_endpoint e;
	assert_int_equal(st_endpoint_parse(&e, "2.2.2.2:2", 9, NULL), 0);
	assert_non_null(st_addrbook_get(ab, &e));
	st_addrbook_free(ab);
}

int main(void)
{
	unsetenv("ST_FAKE_NOW");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(best_agrees_with_a_loaded_book, setup, teardown),
		cmocka_unit_test_setup_teardown(best_looks_past_entries_just_tried, setup, teardown),
		cmocka_unit_test_setup_teardown(best_past_the_listed_part_reads_the_book, setup, teardown),
		cmocka_unit_test_setup_teardown(scan_find_and_stale_agree, setup, teardown),
		cmocka_unit_test_setup_teardown(a_scan_skips_entries_the_journal_only_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(a_stale_or_damaged_index_falls_back_and_is_rebuilt, setup, teardown),
		cmocka_unit_test_setup_teardown(a_sealed_index_out_of_order_is_not_trusted, setup, teardown),
		cmocka_unit_test_setup_teardown(a_search_through_swapped_lines_reports_damage, setup, teardown),
		cmocka_unit_test_setup_teardown(an_unsorted_snapshot_is_damage, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
