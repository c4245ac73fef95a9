/* test_addrbook_exclude.c - exclusions are a set: the right entries left out, at a cost
 * that does not grow with entries x exclusions (counted in endpoint comparisons, not time). */
#include "unit.h"

#include "st/addrbook.h"
#include "st/store.h"

/* Every st_endpoint_equal the library makes comes here (the Makefile links with --wrap). */
bool __real_st_endpoint_equal(const struct st_endpoint *a, const struct st_endpoint *b);
bool __wrap_st_endpoint_equal(const struct st_endpoint *a, const struct st_endpoint *b);
static size_t compares;

bool __wrap_st_endpoint_equal(const struct st_endpoint *a, const struct st_endpoint *b)
{
	compares++;
	return __real_st_endpoint_equal(a, b);
}

static struct st_endpoint ep_n(int i)
{
	char s[32];
	/* distinct addresses, each in its own /16 */
	snprintf(s, sizeof s, "%d.%d.%d.1:7777", 11 + i / 256 % 200, i % 256, i / 51200);
	struct st_endpoint e;
	assert_int_equal(st_endpoint_parse(&e, s, strlen(s), NULL), 0);
	return e;
}

#define ENTRIES 4000
#define KEEP 8 /* entries not excluded */

static void many_exclusions_are_a_set(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	struct st_config cfg;
	st_config_init(&cfg);
	snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", dir);
	cfg.addrbook.max_addresses = 100000;
	cfg.addrbook.max_per_subnet = 100;
	struct st_addrbook *ab;
	struct st_err err = {0};
	if (st_addrbook_open(&ab, &cfg, ST_STORE_WRITE, &err) < 0)
		fail_msg("%s", err.msg);
	for (int i = 0; i < ENTRIES; i++) {
		struct st_endpoint e = ep_n(i);
		enum st_addrbook_verdict v;
		assert_int_equal(st_addrbook_add(ab, &e, "manual", NULL, 100, &v, NULL, NULL), 0);
	}
	/* every entry but the last KEEP, some twice, and addresses the book does not hold */
	size_t nex = 0;
	struct st_endpoint *ex = calloc(2 * ENTRIES, sizeof *ex);
	assert_non_null(ex);
	for (int i = 0; i < ENTRIES - KEEP; i++)
		ex[nex++] = ep_n(i);
	for (int i = 0; i < ENTRIES / 4; i++)
		ex[nex++] = ep_n(i * 3 % (ENTRIES - KEEP));
	for (int i = 0; i < ENTRIES / 4; i++)
		ex[nex++] = ep_n(ENTRIES + 1000 + i);
	const struct st_addr_entry *out[KEEP * 2];
	struct st_best_opts o = {.n = KEEP * 2, .exclude = ex, .nexclude = nex};
	compares = 0;
	long n = st_addrbook_best(ab, &o, 100000, out, &err);
	assert_int_equal(n, KEEP);
	for (long i = 0; i < n; i++) {
		bool kept = false;
		for (int k = ENTRIES - KEEP; k < ENTRIES; k++) {
			struct st_endpoint e = ep_n(k);
			kept |= __real_st_endpoint_equal(&out[i]->ep, &e);
		}
		assert_true(kept);
	}
	/* a scan per entry makes about ENTRIES x nex / 2 (8 million) comparisons; a set about
	 * one per excluded entry plus one per repeated exclusion */
	printf("# %zu comparisons for %d entries, %zu exclusions\n", compares, ENTRIES, nex);
	assert_true(compares <= 2 * (ENTRIES + nex));
	free(ex);
	st_addrbook_free(ab);
	unit_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(many_exclusions_are_a_set),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
