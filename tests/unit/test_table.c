/* test_table.c - terminal text: UTF-8 widths, cutting with "…", and the printer's table mode. */
#include "unit.h"

#include "st/record.h"
#include "st/schema.h"
#include "st/table.h"

static void widths_count_columns_not_bytes(void **state)
{
	(void)state;
	assert_int_equal(st_text_width("abc"), 3);
	assert_int_equal(st_text_width("\xc3\xbc"), 1);           /* ü */
	assert_int_equal(st_text_width("\xe6\x97\xa5\xe6\x9c\xac"), 4); /* 日本: wide */
	assert_int_equal(st_text_width("e\xcc\x81"), 1);           /* e + combining acute */
	assert_int_equal(st_text_width("\033[31mred\033[0m"), 3);  /* colours take no room */
	assert_int_equal(st_text_width("\xff\xfe"), 2);            /* not UTF-8: one each */
	assert_int_equal(st_text_width("\xc0\xaf"), 2);            /* an overlong '/' is not text */
	assert_int_equal(st_text_width(""), 0);
}

static void fit_cuts_at_a_character_and_ends_in_an_ellipsis(void **state)
{
	(void)state;
	char out[64];
	assert_int_equal(st_text_fit("short", 10, out, sizeof out), 5);
	assert_string_equal(out, "short");
	assert_int_equal(st_text_fit("exactly", 7, out, sizeof out), 7);
	assert_string_equal(out, "exactly");
	assert_int_equal(st_text_fit("too long by far", 8, out, sizeof out), 8);
	assert_string_equal(out, "too lon\xe2\x80\xa6");
	/* a wide character that would straddle the edge is left out whole */
	assert_int_equal(st_text_fit("a\xe6\x97\xa5\xe6\x9c\xac", 3, out, sizeof out), 2);
	assert_string_equal(out, "a\xe2\x80\xa6");
	/* bytes that are not UTF-8 and C1 controls become '?' */
	st_text_fit("a\xff" "b\xc2\x9b", 10, out, sizeof out);
	assert_string_equal(out, "a?b?");
	/* a small buffer: still terminated, never past it */
	char tiny[6];
	st_text_fit("abcdefghij", 20, tiny, sizeof tiny);
	assert_true(strlen(tiny) < sizeof tiny);
	/* in place */
	char same[32] = "abcdefghijkl";
	st_text_fit(same, 5, same, sizeof same);
	assert_string_equal(same, "abcd\xe2\x80\xa6");
}

/* Prints two gossip records through a printer in terminal mode into a memory stream. */
static char *table_of(size_t width, const char *source)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	struct st_printer *p = st_printer_new(f, ST_FMT_TEXT, 1000);
	st_printer_schema(p, &st_schema_gossip);
	assert_int_equal(st_printer_terminal(p, width, false), 0);
	for (int i = 0; i < 2; i++) {
		st_print_begin(p);
		st_print_str(p, "endpoint", "%-22s", i ? "10.0.0.10:7777" : "10.0.0.1:7777");
		st_print_str(p, "source", "%s", source);
		st_print_str(p, "node_id", "%s", i ? "n1" : NULL);
		st_print_end(p);
	}
	struct st_err err = {0};
	assert_int_equal(st_printer_flush(p, &err), 0);
	st_printer_free(p);
	fclose(f);
	return buf;
}

static void terminal_mode_aligns_under_a_header_and_fits(void **state)
{
	(void)state;
	char *t = table_of(80, "seed:x");
	assert_string_equal(t, "ENDPOINT        SOURCE  NODE\n"
	                       "10.0.0.1:7777   seed:x  -\n"
	                       "10.0.0.10:7777  seed:x  n1\n");
	free(t);
	t = table_of(30, "seed:a-very-long-source-name");
	assert_string_equal(t, "ENDPOINT        SOURCE    NODE\n"
	                       "10.0.0.1:7777   seed:a-\xe2\x80\xa6  -\n"
	                       "10.0.0.10:7777  seed:a-\xe2\x80\xa6  n1\n");
	free(t);
}

static void the_same_records_without_a_terminal_are_the_plain_lines(void **state)
{
	(void)state;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct st_printer *p = st_printer_new(f, ST_FMT_TEXT, 1000);
	st_printer_schema(p, &st_schema_gossip);
	st_print_begin(p);
	st_print_str(p, "endpoint", "%-22s", "10.0.0.1:7777");
	st_print_str(p, "source", "%s", "seed:x");
	st_print_str(p, "node_id", "%s", NULL);
	st_print_end(p);
	st_printer_free(p);
	fclose(f);
	assert_string_equal(buf, "10.0.0.1:7777          seed:x -\n");
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(widths_count_columns_not_bytes),
		cmocka_unit_test(fit_cuts_at_a_character_and_ends_in_an_ellipsis),
		cmocka_unit_test(terminal_mode_aligns_under_a_header_and_fits),
		cmocka_unit_test(the_same_records_without_a_terminal_are_the_plain_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
