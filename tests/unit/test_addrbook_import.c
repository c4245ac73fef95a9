/* test_addrbook_import.c - the reference node's JSON book: the forms it and .NET write. */
#include "unit.h"

#include "st/addrbook.h"
#include "st/store.h"

struct fixture {
	char *dir;
	struct st_config cfg;
	struct st_addrbook *ab;
	char said[8][256]; /* what the sink was told */
	size_t nsaid;
	size_t progress[8][4]; /* the progress calls: done, total, added, rejected */
	size_t nprogress;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	f->dir = unit_tmpdir();
	st_config_init(&f->cfg);
	snprintf(f->cfg.data_dir, sizeof f->cfg.data_dir, "%s", f->dir);
	struct st_err err = {0};
	if (st_addrbook_open(&f->ab, &f->cfg, ST_STORE_WRITE, &err) < 0)
		fail_msg("%s", err.msg);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	st_addrbook_free(f->ab);
	unit_rmtree(f->dir);
	free(f);
	return 0;
}

static void on_reject(void *ctx, const char *where, const char *why)
{
	struct fixture *f = ctx;
	if (f->nsaid < 8)
		snprintf(f->said[f->nsaid++], sizeof f->said[0], "%s: %s", where, why);
}

static void on_progress(void *ctx, size_t done, size_t total, size_t added, size_t rejected)
{
	struct fixture *f = ctx;
	if (f->nprogress < 8) {
		size_t *p = f->progress[f->nprogress++];
		p[0] = done, p[1] = total, p[2] = added, p[3] = rejected;
	}
}

/* Imports json; returns the call's result, the counts in *added and *rejected. */
static int import(struct fixture *f, const char *json, size_t *added, size_t *rejected)
{
	FILE *in = fmemopen((void *)json, strlen(json), "r");
	assert_non_null(in);
	struct st_addrbook_import_sink sink = {on_reject, f, on_progress};
	struct st_err err = {0};
	int rc = st_addrbook_import_reference(f->ab, in, "book.json", &sink, added, rejected, &err);
	fclose(in);
	return rc;
}

static const struct st_addr_entry *get(struct fixture *f, const char *s)
{
	struct st_endpoint e;
	assert_int_equal(st_endpoint_parse(&e, s, strlen(s), NULL), 0);
	return st_addrbook_get(f->ab, &e);
}

static void iso8601_offsets_fractions_and_forms(void **state)
{
	(void)state;
	int64_t t;
	assert_int_equal(st_parse_iso8601("2024-05-01T12:00:00+02:00", &t), 0);
	assert_int_equal(t, 1714557600);
	assert_int_equal(st_parse_iso8601("2024-05-01T12:00:00+0200", &t), 0);
	assert_int_equal(t, 1714557600);
	assert_int_equal(st_parse_iso8601("2024-05-01T12:00:00+02", &t), 0);
	assert_int_equal(t, 1714557600);
	assert_int_equal(st_parse_iso8601("2024-05-01T10:00:00+0000", &t), 0);
	assert_int_equal(t, 1714557600);
	assert_int_equal(st_parse_iso8601("2024-05-01T10:00:00Z", &t), 0);
	assert_int_equal(t, 1714557600);
	assert_int_equal(st_parse_iso8601("2024-05-01T10:00:00", &t), 0); /* no offset: UTC */
	assert_int_equal(t, 1714557600);
	assert_int_equal(st_parse_iso8601("2024-05-01T10:00:00.1234567Z", &t), 0);
	assert_int_equal(t, 1714557600);
	assert_int_equal(st_parse_iso8601("2024-05-01T10:00:00.5+00:00", &t), 0);
	assert_int_equal(t, 1714557600);
	assert_int_equal(st_parse_iso8601("2024-05-01T10:00:00.123456789012-01:30", &t), 0);
	assert_int_equal(t, 1714557600 + 5400);
	assert_int_equal(st_parse_iso8601("0001-01-01T00:00:00+00:00", &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(st_parse_iso8601("2024-02-29T00:00:00Z", &t), 0);
}

static void iso8601_rejects_what_is_no_time(void **state)
{
	(void)state;
	int64_t t;
	const char *bad[] = {
		"2024-13-01T00:00:00Z", "2024-13-01", "2023-02-29T00:00:00Z", "2024-04-31",
		"yesterday", "", "2024-05-01T10:00:00+2", "2024-05-01T10:00:00+02:0",
		"2024-05-01T10:00:00.Z", "2024-05-01T24:00:00Z", "+024-05-01", " 2024-05-01",
		"2024-05-01T10:00:00+02:00x", "2024-05-01T10:00Z", "2024-05-01T10:00:00+",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (st_parse_iso8601(bad[i], &t) != -1)
			fail_msg("'%s' parsed", bad[i]);
}

static void dotnet_forms_import(void **state)
{
	struct fixture *f = *state;
	size_t added, rejected;
	assert_int_equal(import(f, "[{\"Address\":\"203.0.114.9\",\"Port\":7777,"
	                           "\"FirstSeen\":\"2024-05-01T10:00:00.1234567+00:00\","
	                           "\"LastSeen\":\"2024-05-02T00:00:00+0000\","
	                           "\"LastAttempt\":\"2024-05-02T00:00:00Z\","
	                           "\"SuccessCount\":3,\"FailureCount\":1,\"Source\":\"PeerExchange\"}]",
	                     &added, &rejected), 0);
	assert_int_equal(added, 1);
	assert_int_equal(rejected, 0);
	const struct st_addr_entry *e = get(f, "203.0.114.9:7777");
	assert_non_null(e);
	assert_int_equal(e->first_seen, 1714557600);
	assert_int_equal(e->last_seen, 1714608000);
	assert_int_equal(e->last_attempt, 1714608000);
	assert_int_equal(e->successes, 3);
	assert_int_equal(e->failures, 1);
	assert_string_equal(st_addrbook_source(f->ab, e), "import:PeerExchange");
}

static void camel_case_keys_import(void **state)
{
	struct fixture *f = *state;
	size_t added, rejected;
	assert_int_equal(import(f, "[{\"address\":\"203.0.114.9\",\"port\":7777,"
	                           "\"firstSeen\":\"2024-05-01T10:00:00Z\",\"lastSeen\":\"2024-05-02T00:00:00Z\","
	                           "\"lastAttempt\":\"2024-05-02T00:00:00Z\","
	                           "\"successCount\":2,\"failureCount\":5,\"source\":\"Seed\"}]",
	                     &added, &rejected), 0);
	assert_int_equal(added, 1);
	assert_int_equal(rejected, 0);
	const struct st_addr_entry *e = get(f, "203.0.114.9:7777");
	assert_non_null(e);
	assert_int_equal(e->first_seen, 1714557600);
	assert_int_equal(e->successes, 2);
	assert_int_equal(e->failures, 5);
	assert_string_equal(st_addrbook_source(f->ab, e), "import:Seed");
}

static void null_times_are_unknown(void **state)
{
	struct fixture *f = *state;
	size_t added, rejected;
	assert_int_equal(import(f, "[{\"Address\":\"203.0.114.9\",\"Port\":7777,\"FirstSeen\":null,"
	                           "\"LastSeen\":null,\"LastAttempt\":null,\"SuccessCount\":null}]",
	                     &added, &rejected), 0);
	assert_int_equal(added, 1);
	assert_int_equal(rejected, 0);
	const struct st_addr_entry *e = get(f, "203.0.114.9:7777");
	assert_non_null(e);
	assert_int_equal(e->last_attempt, 0);
	assert_int_equal(e->successes, 0);
}

static void only_address_and_port_are_required(void **state)
{
	struct fixture *f = *state;
	size_t added, rejected;
	assert_int_equal(import(f, "[{\"Address\":\"203.0.114.9\",\"Port\":7777},"
	                           "{\"Address\":\"203.0.115.9\"},{\"Port\":7777}]",
	                     &added, &rejected), 0);
	assert_int_equal(added, 1);
	assert_int_equal(rejected, 2);
	const struct st_addr_entry *e = get(f, "203.0.114.9:7777");
	assert_non_null(e);
	assert_string_equal(st_addrbook_source(f->ab, e), "import:reference");
	assert_int_equal(f->nsaid, 2);
	assert_string_equal(f->said[0], "'book.json' item 2: Port: missing");
	assert_string_equal(f->said[1], "'book.json' item 3: Address: missing");
}

static void each_rejection_names_the_field_and_value(void **state)
{
	struct fixture *f = *state;
	size_t added, rejected;
	assert_int_equal(import(f, "[{\"Address\":\"203.0.114.9\",\"Port\":7777,\"LastSeen\":\"2024-13-01\"},"
	                           "{\"address\":\"nonsense\",\"port\":1},"
	                           "{\"Address\":\"203.0.114.9\",\"Port\":99999},"
	                           "{\"Address\":\"203.0.114.9\",\"Port\":1,\"successCount\":\"many\"},"
	                           "{\"Address\":\"10.0.0.1\",\"Port\":7777},"
	                           "{\"Address\":\"203.0.114.9\",\"Port\":1,\"firstSeen\":true},"
	                           "7]",
	                     &added, &rejected), 0);
	assert_int_equal(added, 0);
	assert_int_equal(rejected, 7);
	assert_int_equal(f->nsaid, 7);
	assert_string_equal(f->said[0], "'book.json' item 1: LastSeen: bad time '2024-13-01'");
	assert_string_equal(f->said[1], "'book.json' item 2: address: bad address 'nonsense'");
	assert_string_equal(f->said[2], "'book.json' item 3: Port: bad port '99999'");
	assert_string_equal(f->said[3], "'book.json' item 4: successCount: bad count 'many'");
	assert_string_equal(f->said[4], "'book.json' item 5: Address: not-routable '10.0.0.1' (private)");
	assert_string_equal(f->said[5], "'book.json' item 6: firstSeen: bad time 'true'");
	assert_string_equal(f->said[6], "'book.json' item 7: not an object '7'");
}

static void a_file_that_is_no_list_fails_whole(void **state)
{
	struct fixture *f = *state;
	size_t added, rejected;
	assert_int_equal(import(f, "{\"Address\":\"203.0.114.9\"}", &added, &rejected), -1);
	assert_int_equal(import(f, "[{\"Address\":", &added, &rejected), -1);
	assert_int_equal(f->nsaid, 0);
}

/* The progress callback sees each item before it is taken, with the counts so far. */
static void progress_counts_each_item_of_the_total(void **state)
{
	struct fixture *f = *state;
	size_t added, rejected;
	assert_int_equal(import(f, "[{\"Address\":\"11.0.0.1\",\"Port\":7777},"
	                           "{\"Address\":\"nonsense\",\"Port\":7777},"
	                           "{\"Address\":\"11.0.1.1\",\"Port\":7777}]",
	                        &added, &rejected),
	                 0);
	assert_int_equal(added, 2);
	assert_int_equal(rejected, 1);
	assert_int_equal(f->nprogress, 3);
	const size_t want[3][4] = {{0, 3, 0, 0}, {1, 3, 1, 0}, {2, 3, 1, 1}};
	for (size_t i = 0; i < 3; i++)
		for (size_t k = 0; k < 4; k++)
			assert_int_equal(f->progress[i][k], want[i][k]);
}

int main(void)
{
	unsetenv("ST_FAKE_NOW");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(iso8601_offsets_fractions_and_forms),
		cmocka_unit_test(iso8601_rejects_what_is_no_time),
		cmocka_unit_test_setup_teardown(dotnet_forms_import, setup, teardown),
		cmocka_unit_test_setup_teardown(progress_counts_each_item_of_the_total, setup, teardown),
		cmocka_unit_test_setup_teardown(camel_case_keys_import, setup, teardown),
		cmocka_unit_test_setup_teardown(null_times_are_unknown, setup, teardown),
		cmocka_unit_test_setup_teardown(only_address_and_port_are_required, setup, teardown),
		cmocka_unit_test_setup_teardown(each_rejection_names_the_field_and_value, setup, teardown),
		cmocka_unit_test_setup_teardown(a_file_that_is_no_list_fails_whole, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
