/* test_util.c - err and util: buffers with ceilings, numbers, durations, clocks, hashes, lines. */
#include <errno.h>

#include "unit.h"

#include "st/err.h"
#include "st/util.h"

static void err_set_returns_minus_one_and_fills(void **state)
{
	(void)state;
	struct st_err err = {0};
	assert_int_equal(st_err_set(&err, ST_EX_DATAERR, "bad port '%s'", "99999"), -1);
	assert_int_equal(err.code, ST_EX_DATAERR);
	assert_string_equal(err.msg, "bad port '99999'");
	assert_int_equal(st_err_set(NULL, 1, "ignored"), -1);
}

static void err_prefix_puts_context_in_front(void **state)
{
	(void)state;
	struct st_err err = {0};
	st_err_set(&err, ST_EX_DATAERR, "bad port");
	st_err_prefix(&err, "'book.tsv' line %d", 12);
	assert_string_equal(err.msg, "'book.tsv' line 12: bad port");
	assert_int_equal(err.code, ST_EX_DATAERR);
	st_err_clear(&err);
	assert_int_equal(err.code, 0);
	assert_string_equal(err.msg, "");
}

static void err_sys_appends_strerror(void **state)
{
	(void)state;
	struct st_err err = {0};
	errno = ENOENT;
	st_err_sys(&err, ST_EX_NOINPUT, "'%s'", "x");
	assert_string_equal(err.msg, "'x': No such file or directory");
}

static void buf_grows_up_to_its_ceiling_and_no_further(void **state)
{
	(void)state;
	struct st_buf b;
	struct st_err err = {0};
	st_buf_init(&b, 10);
	assert_int_equal(st_buf_append(&b, "hello", 5, &err), 0);
	assert_int_equal(st_buf_printf(&b, &err, "%d", 12345), 0);
	assert_int_equal(b.len, 10);
	assert_string_equal(b.data, "hello12345");
	assert_int_equal(st_buf_append(&b, "x", 1, &err), -1);
	assert_int_equal(err.code, ST_EX_DATAERR);
	assert_int_equal(b.len, 10);
	assert_int_equal(st_buf_printf(&b, &err, "%s", "y"), -1);
	st_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_string_equal(b.data, "");
	st_buf_clear(&b);
	assert_null(b.data);
	assert_int_equal(b.max, 10);
}

static void strlcpy_truncates_and_terminates(void **state)
{
	(void)state;
	char small[4];
	assert_int_equal(st_strlcpy(small, "abcdef", sizeof small), 6);
	assert_string_equal(small, "abc");
}

static void parse_u64_checks_range_and_syntax(void **state)
{
	(void)state;
	uint64_t v = 0;
	struct st_err err = {0};
	assert_int_equal(st_parse_u64("512", 1, 65536, &v, &err), 0);
	assert_int_equal(v, 512);
	assert_int_equal(st_parse_u64("0", 1, 65536, &v, &err), -1);
	assert_string_equal(err.msg, "'0': too small (1..65536)");
	assert_int_equal(st_parse_u64("70000", 1, 65536, &v, &err), -1);
	assert_string_equal(err.msg, "'70000': too large (1..65536)");
	assert_int_equal(st_parse_u64("99999999999999999999999", 0, UINT64_MAX, &v, &err), -1);
	assert_int_equal(st_parse_u64("-1", 0, 10, &v, &err), -1);
	assert_string_equal(err.msg, "'-1': not a number");
	assert_int_equal(st_parse_u64(" 1", 0, 10, &v, &err), -1);
	assert_int_equal(st_parse_u64("0x10", 0, 100, &v, &err), -1);
	assert_int_equal(st_parse_u64("", 0, 100, &v, &err), -1);
	assert_int_equal(st_parse_u64("12a", 0, 100, &v, &err), -1);
}

static void parse_i64_accepts_negatives_in_range(void **state)
{
	(void)state;
	int64_t v = 0;
	struct st_err err = {0};
	assert_int_equal(st_parse_i64("-10", -100, 100, &v, &err), 0);
	assert_int_equal(v, -10);
	assert_int_equal(st_parse_i64("-101", -100, 100, &v, &err), -1);
	assert_string_equal(err.msg, "'-101': too small (-100..100)");
	assert_int_equal(st_parse_i64("--1", -100, 100, &v, &err), -1);
	assert_int_equal(st_parse_i64("-", -100, 100, &v, &err), -1);
}

static void parse_double_rejects_junk_and_range(void **state)
{
	(void)state;
	double v = 0;
	struct st_err err = {0};
	assert_int_equal(st_parse_double("0.25", 0, 1, &v, &err), 0);
	assert_true(v > 0.24 && v < 0.26);
	assert_int_equal(st_parse_double("1.5", 0, 1, &v, &err), -1);
	assert_int_equal(st_parse_double("nan", 0, 1, &v, &err), -1);
	assert_int_equal(st_parse_double("0.5x", 0, 1, &v, &err), -1);
	assert_int_equal(st_parse_double("", 0, 1, &v, &err), -1);
}

static void durations_parse_in_every_unit(void **state)
{
	(void)state;
	int64_t ms = 0;
	struct st_err err = {0};
	assert_int_equal(st_parse_duration("90s", 0, INT64_MAX, &ms, &err), 0);
	assert_int_equal(ms, 90000);
	assert_int_equal(st_parse_duration("10m", 0, INT64_MAX, &ms, &err), 0);
	assert_int_equal(ms, 600000);
	assert_int_equal(st_parse_duration("24h", 0, INT64_MAX, &ms, &err), 0);
	assert_int_equal(ms, 86400000);
	assert_int_equal(st_parse_duration("30d", 0, INT64_MAX, &ms, &err), 0);
	assert_int_equal(ms, 30LL * 86400000);
	assert_int_equal(st_parse_duration("500ms", 0, INT64_MAX, &ms, &err), 0);
	assert_int_equal(ms, 500);
	assert_int_equal(st_parse_duration("2w", 0, INT64_MAX, &ms, &err), 0);
	assert_int_equal(ms, 14LL * 86400000);
	assert_int_equal(st_parse_duration("7", 0, INT64_MAX, &ms, &err), 0);
	assert_int_equal(ms, 7000);
}

static void durations_reject_bad_units_and_ranges(void **state)
{
	(void)state;
	int64_t ms = 0;
	struct st_err err = {0};
	assert_int_equal(st_parse_duration("10x", 0, INT64_MAX, &ms, &err), -1);
	assert_string_equal(err.msg, "'10x': not a duration (like 90s, 10m, 24h, 30d)");
	assert_int_equal(st_parse_duration("h", 0, INT64_MAX, &ms, &err), -1);
	assert_int_equal(st_parse_duration("-5s", 0, INT64_MAX, &ms, &err), -1);
	assert_int_equal(st_parse_duration("1.5h", 0, INT64_MAX, &ms, &err), -1);
	assert_int_equal(st_parse_duration("", 0, INT64_MAX, &ms, &err), -1);
	assert_int_equal(st_parse_duration("999999999999999w", 0, INT64_MAX, &ms, &err), -1);
	assert_int_equal(st_parse_duration("500ms", 1000, 60000, &ms, &err), -1);
	assert_string_equal(err.msg, "'500ms': too small (1s..1m)");
	assert_int_equal(st_parse_duration("2m", 1000, 60000, &ms, &err), -1);
	assert_string_equal(err.msg, "'2m': too large (1s..1m)");
}

static void durations_format_in_the_largest_exact_unit(void **state)
{
	(void)state;
	char b[32];
	st_format_duration(86400000, b, sizeof b);
	assert_string_equal(b, "1d");
	st_format_duration(90000, b, sizeof b);
	assert_string_equal(b, "90s");
	st_format_duration(1500, b, sizeof b);
	assert_string_equal(b, "1500ms");
	st_format_duration(0, b, sizeof b);
	assert_string_equal(b, "0s");
	st_format_duration(14LL * 86400000, b, sizeof b);
	assert_string_equal(b, "2w");
}

static void ages_read_like_a_person_would_say_them(void **state)
{
	(void)state;
	char b[32];
	st_format_age(0, 1000, b, sizeof b);
	assert_string_equal(b, "never");
	st_format_age(1000, 1000, b, sizeof b);
	assert_string_equal(b, "now");
	st_format_age(1000 - 45, 1000, b, sizeof b);
	assert_string_equal(b, "45s ago");
	st_format_age(100000 - 180, 100000, b, sizeof b);
	assert_string_equal(b, "3m ago");
	st_format_age(1000000 + 7200, 1000000, b, sizeof b);
	assert_string_equal(b, "in 2h");
	st_format_age(1000000 - 3 * 86400, 1000000, b, sizeof b);
	assert_string_equal(b, "3d ago");
}

static void fake_clock_comes_from_the_environment(void **state)
{
	(void)state;
	setenv("ST_FAKE_NOW", "1700000000", 1);
	assert_int_equal(st_now(), 1700000000);
	setenv("ST_FAKE_NOW", "junk", 1);
	assert_true(st_now() > 1700000000);
	unsetenv("ST_FAKE_NOW");
	assert_true(st_now() > 1700000000);
	int64_t a = st_monotonic_ms(), b = st_monotonic_ms();
	assert_true(b >= a);
}

static void crc32c_matches_the_standard_check_value(void **state)
{
	(void)state;
	assert_int_equal(st_crc32c(0, "123456789", 9), 0xE3069283u);
	/* incremental equals one-shot */
	uint32_t c = st_crc32c(0, "1234", 4);
	assert_int_equal(st_crc32c(c, "56789", 5), 0xE3069283u);
	assert_int_equal(st_crc32c(0, "", 0), 0);
}

static void hash_depends_on_key_and_every_byte(void **state)
{
	(void)state;
	uint64_t a = st_hash64("abcdefghij", 10, 1);
	assert_int_equal(a, st_hash64("abcdefghij", 10, 1));
	assert_int_not_equal(a, st_hash64("abcdefghij", 10, 2));
	assert_int_not_equal(a, st_hash64("abcdefghiJ", 10, 1));
	assert_int_not_equal(a, st_hash64("abcdefghij", 9, 1));
}

static void read_line_splits_and_bounds_lines(void **state)
{
	(void)state;
	size_t big = ST_LINE_MAX + 10;
	char *text = malloc(big + 64);
	assert_non_null(text);
	strcpy(text, "one\n\nthree");
	size_t n = strlen(text);
	text[n++] = '\n';
	memset(text + n, 'x', big);
	n += big;
	memcpy(text + n, "\nlast", 5);
	n += 5;
	FILE *f = fmemopen(text, n, "r");
	assert_non_null(f);
	struct st_buf b;
	struct st_err err = {0};
	st_buf_init(&b, ST_LINE_MAX);
	assert_int_equal(st_read_line(f, &b, &err), 1);
	assert_string_equal(b.data, "one");
	assert_int_equal(st_read_line(f, &b, &err), 1);
	assert_int_equal(b.len, 0);
	assert_int_equal(st_read_line(f, &b, &err), 1);
	assert_string_equal(b.data, "three");
	assert_int_equal(st_read_line(f, &b, &err), -1);
	assert_int_equal(err.code, ST_EX_DATAERR);
	assert_int_equal(st_read_line(f, &b, &err), 1);
	assert_string_equal(b.data, "last");
	assert_int_equal(st_read_line(f, &b, &err), 0);
	st_buf_clear(&b);
	fclose(f);
	free(text);
}

static void digits_in_both_bases(void **state)
{
	(void)state;
	char b[24];
	assert_string_equal(st_u64_digits(0, 10, b, sizeof b), "0");
	assert_string_equal(st_u64_digits(18446744073709551615ULL, 10, b, sizeof b),
	                    "18446744073709551615");
	assert_string_equal(st_u64_digits(0xdeadbeefULL, 16, b, sizeof b), "deadbeef");
}

/* did-you-mean's measure: a swap of neighbours is one slip, as a change is */
static void edit_distance_counts_swaps_as_one(void **state)
{
	(void)state;
	assert_int_equal(st_edit_distance("list", "list"), 0);
	assert_int_equal(st_edit_distance("lsit", "list"), 1);
	assert_int_equal(st_edit_distance("bna", "ban"), 1);
	assert_int_equal(st_edit_distance("lst", "list"), 1);
	assert_int_equal(st_edit_distance("sortt", "sort"), 1);
	assert_int_equal(st_edit_distance("", "abc"), 3);
	assert_int_equal(st_edit_distance("kitten", "sitting"), 3);
	char longer[80];
	memset(longer, 'a', sizeof longer - 1);
	longer[sizeof longer - 1] = '\0';
	assert_int_equal(st_edit_distance(longer, "a"), 99);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(digits_in_both_bases),
		cmocka_unit_test(err_set_returns_minus_one_and_fills),
		cmocka_unit_test(err_prefix_puts_context_in_front),
		cmocka_unit_test(err_sys_appends_strerror),
		cmocka_unit_test(buf_grows_up_to_its_ceiling_and_no_further),
		cmocka_unit_test(strlcpy_truncates_and_terminates),
		cmocka_unit_test(parse_u64_checks_range_and_syntax),
		cmocka_unit_test(parse_i64_accepts_negatives_in_range),
		cmocka_unit_test(parse_double_rejects_junk_and_range),
		cmocka_unit_test(durations_parse_in_every_unit),
		cmocka_unit_test(durations_reject_bad_units_and_ranges),
		cmocka_unit_test(durations_format_in_the_largest_exact_unit),
		cmocka_unit_test(ages_read_like_a_person_would_say_them),
		cmocka_unit_test(fake_clock_comes_from_the_environment),
		cmocka_unit_test(crc32c_matches_the_standard_check_value),
		cmocka_unit_test(hash_depends_on_key_and_every_byte),
		cmocka_unit_test(read_line_splits_and_bounds_lines),
		cmocka_unit_test(edit_distance_counts_swaps_as_one),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
