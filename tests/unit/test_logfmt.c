/* test_logfmt.c - key=value log lines: quoting only where needed, peer bytes escaped,
 * a line that stays one line and within its ceiling. */
#include "unit.h"

#include "st/logfmt.h"

static void plain_values_bare_others_quoted(void **state)
{
	(void)state;
	struct st_kv kv;
	st_kv_begin(&kv, ST_LOG_INFO, "session");
	st_kv_str(&kv, "peer", "127.0.0.1:5001");
	st_kv_str(&kv, "endpoint", NULL); /* left out */
	st_kv_str(&kv, "error", "closed by peer");
	st_kv_str(&kv, "empty", "");
	st_kv_str(&kv, "eq", "a=b");
	st_kv_int(&kv, "n", -3);
	st_kv_uint(&kv, "u", 18446744073709551615ULL);
	st_kv_bool(&kv, "verified", false);
	assert_string_equal(st_kv_line(&kv),
	                    "level=info event=session peer=127.0.0.1:5001 error=\"closed by peer\" "
	                    "empty=\"\" eq=\"a=b\" n=-3 u=18446744073709551615 verified=false");
}

static void control_and_non_ascii_bytes_escaped(void **state)
{
	(void)state;
	struct st_kv kv;
	st_kv_begin(&kv, ST_LOG_WARN, "x");
	st_kv_str(&kv, "ua", "a\x1b[2J\nlevel=error \"q\" \\ \x7f\xc2\x9b\t");
	const char *line = st_kv_line(&kv);
	assert_string_equal(line, "level=warn event=x ua=\"a\\x1b[2J\\x0alevel=error \\\"q\\\" \\\\ "
	                          "\\x7f\\xc2\\x9b\\x09\"");
	for (const char *c = line; *c; c++)
		assert_true((unsigned char)*c >= 0x20 && (unsigned char)*c < 0x7f);
	/* a bare value never needs escaping: a backslash alone is quoted */
	st_kv_begin(&kv, ST_LOG_DEBUG, "y");
	st_kv_str(&kv, "p", "a\\b");
	assert_string_equal(st_kv_line(&kv), "level=debug event=y p=\"a\\\\b\"");
}

static void levels_named(void **state)
{
	(void)state;
	assert_string_equal(st_log_level_name(ST_LOG_ERROR), "error");
	assert_string_equal(st_log_level_name(ST_LOG_WARN), "warn");
	assert_string_equal(st_log_level_name(ST_LOG_INFO), "info");
	assert_string_equal(st_log_level_name(ST_LOG_DEBUG), "debug");
}

static void a_field_that_does_not_fit_is_left_out_whole(void **state)
{
	(void)state;
	struct st_kv kv;
	char big[1500];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	st_kv_begin(&kv, ST_LOG_INFO, "big");
	st_kv_str(&kv, "one", big);
	st_kv_str(&kv, "two", big); /* would pass the ceiling */
	st_kv_str(&kv, "three", "3");
	const char *line = st_kv_line(&kv);
	assert_true(strlen(line) < ST_KV_LINE_MAX);
	assert_null(strstr(line, "two="));
	assert_non_null(strstr(line, " three=3"));
	assert_non_null(strstr(line, " truncated=true"));
	assert_int_equal(strstr(line, " truncated=true")[15], '\0');
	/* asked again, said once */
	assert_string_equal(st_kv_line(&kv), line);
	assert_null(strstr(strstr(line, "truncated=true") + 1, "truncated"));
	/* escapes that would pass the ceiling: left out too, never cut mid-escape */
	char esc[800];
	memset(esc, '\x1b', sizeof esc - 1);
	esc[sizeof esc - 1] = '\0';
	st_kv_begin(&kv, ST_LOG_INFO, "esc");
	st_kv_str(&kv, "e", esc);
	line = st_kv_line(&kv);
	assert_string_equal(line, "level=info event=esc truncated=true");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plain_values_bare_others_quoted),
		cmocka_unit_test(control_and_non_ascii_bytes_escaped),
		cmocka_unit_test(levels_named),
		cmocka_unit_test(a_field_that_does_not_fit_is_left_out_whole),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
