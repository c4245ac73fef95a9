/* test_record.c - the record printer (text, tsv, json) and reader (bare, tsv, json). */
#include <unistd.h>

#include "unit.h"

#include "st/record.h"
#include "st/schema.h"
#include "st/util.h"

/* Prints one record in fmt into a string the caller frees. */
static char *print_one(enum st_format fmt)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	struct st_printer *p = st_printer_new(f, fmt, 1000000);
	assert_non_null(p);
	st_print_begin(p);
	st_print_str(p, "endpoint", "%-14s", "1.2.3.4:7777");
	st_print_str(p, "user_agent", "ua=%s", "a\tb\\c\nd");
	st_print_str(p, "node_id", "id=%s", NULL);
	st_print_int(p, "reputation", "rep=%lld", -3);
	st_print_uint(p, "attempts", "tries=%llu", 7);
	st_print_double(p, "quality", "q=%.2f", 0.5);
	st_print_bool(p, "verified", "verified=%s", false);
	st_print_time(p, "last_seen", "seen %s", 1000000 - 180);
	st_print_time(p, "last_success", "ok %s", 0);
	st_print_end(p);
	struct st_err err = {0};
	assert_int_equal(st_printer_flush(p, &err), 0);
	st_printer_free(p);
	fclose(f);
	return buf;
}

static void prints_text_with_the_given_formats(void **state)
{
	(void)state;
	char *s = print_one(ST_FMT_TEXT);
	/* control characters from outside are escaped on a terminal, as ls -b does */
	assert_string_equal(s, "1.2.3.4:7777   ua=a\\tb\\c\\nd id=- rep=-3 tries=7 q=0.50 verified=no "
	                       "seen 3m ago ok never\n");
	free(s);
}

static void prints_tsv_escaped_in_call_order(void **state)
{
	(void)state;
	char *s = print_one(ST_FMT_TSV);
	assert_string_equal(s, "1.2.3.4:7777\ta\\tb\\\\c\\nd\t-\t-3\t7\t0.5\tfalse\t999820\t0\n");
	free(s);
}

static void prints_json_one_object_per_line(void **state)
{
	(void)state;
	char *s = print_one(ST_FMT_JSON);
	assert_string_equal(s, "{\"endpoint\":\"1.2.3.4:7777\",\"user_agent\":\"a\\tb\\\\c\\nd\","
	                       "\"node_id\":null,\"reputation\":-3,\"attempts\":7,\"quality\":0.5,"
	                       "\"verified\":false,\"last_seen\":999820,\"last_success\":null}\n");
	free(s);
}

/* A C1 control from a peer (U+009B, CSI to some terminals) is escaped like C0 ones;
 * other UTF-8 (U+00E9, U+4E00 with its 0x80 byte) stays as it is. */
static void text_escapes_c1_controls(void **state)
{
	(void)state;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct st_printer *p = st_printer_new(f, ST_FMT_TEXT, 0);
	st_print_begin(p);
	st_print_str(p, "user_agent", "%s", "a\xc2\x9b" "2J \xc3\xa9 \xe4\xb8\x80");
	st_print_end(p);
	struct st_err err = {0};
	assert_int_equal(st_printer_flush(p, &err), 0);
	st_printer_free(p);
	fclose(f);
	assert_string_equal(buf, "a\\xc2\\x9b2J \xc3\xa9 \xe4\xb8\x80\n");
	free(buf);
}

static void json_keeps_fields_with_bad_utf8(void **state)
{
	(void)state;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct st_printer *p = st_printer_new(f, ST_FMT_JSON, 0);
	st_print_begin(p);
	st_print_str(p, "user_agent", "%s", "bad\xff");
	st_print_end(p);
	struct st_err err = {0};
	assert_int_equal(st_printer_flush(p, &err), 0);
	st_printer_free(p);
	fclose(f);
	assert_string_equal(buf, "{\"user_agent\":\"bad?\"}\n");
	free(buf);
}

static void flush_reports_write_errors(void **state)
{
	(void)state;
	FILE *f = fopen("/dev/full", "w");
	if (!f)
		skip();
	struct st_printer *p = st_printer_new(f, ST_FMT_TSV, 0);
	st_print_begin(p);
	st_print_str(p, "endpoint", "%s", "1.2.3.4:1");
	st_print_end(p);
	struct st_err err = {0};
	assert_int_equal(st_printer_flush(p, &err), -1);
	assert_int_equal(err.code, ST_EX_IOERR);
	st_printer_free(p);
	fclose(f);
}

static void format_names_parse_both_ways(void **state)
{
	(void)state;
	enum st_format f;
	struct st_err err = {0};
	assert_int_equal(st_format_parse("tsv", &f, &err), 0);
	assert_int_equal(f, ST_FMT_TSV);
	assert_string_equal(st_format_name(f), "tsv");
	assert_int_equal(st_format_parse("prom", &f, &err), 0);
	assert_int_equal(f, ST_FMT_PROM);
	assert_string_equal(st_format_name(f), "prom");
	assert_int_equal(st_format_parse("yaml", &f, &err), -1);
	assert_string_equal(err.msg, "'yaml': not a format (text, tsv, json, prom)");
}

/* -o prom: stat records as samples, HELP and TYPE once per family, labels escaped */
static void prom_writes_stat_records_as_samples(void **state)
{
	(void)state;
	static const struct st_prom_metric names[] = {
		{"total", "things", NULL, "things\nin all"},
		{"kind", "things_by_kind", "kind", "things by kind"},
		{NULL, NULL, NULL, NULL},
	};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct st_printer *p = st_printer_new(f, ST_FMT_PROM, 0);
	st_printer_schema(p, &st_schema_stat);
	st_printer_prom(p, "st-test", names);
	const char *rows[][3] = {{"total", "total", "3"}, {"kind", "a\"b\\c", "2"},
	                         {"kind", "d", "1"}, {"other", "x", "7"}};
	for (size_t i = 0; i < 4; i++) {
		st_print_begin(p);
		st_print_str(p, "metric", "%s", rows[i][0]);
		st_print_str(p, "key", "%s", rows[i][1]);
		st_print_uint(p, "value", "%llu", strtoull(rows[i][2], NULL, 10));
		st_print_end(p);
	}
	struct st_err err = {0};
	assert_int_equal(st_printer_flush(p, &err), 0);
	st_printer_free(p);
	fclose(f);
	assert_string_equal(buf, "# HELP st_test_things things\\nin all\n"
	                         "# TYPE st_test_things gauge\n"
	                         "st_test_things 3\n"
	                         "# HELP st_test_things_by_kind things by kind\n"
	                         "# TYPE st_test_things_by_kind gauge\n"
	                         "st_test_things_by_kind{kind=\"a\\\"b\\\\c\"} 2\n"
	                         "st_test_things_by_kind{kind=\"d\"} 1\n"
	                         "# HELP st_test_other other\n"
	                         "# TYPE st_test_other gauge\n"
	                         "st_test_other{key=\"x\"} 7\n");
	free(buf);
}

static int parse(struct st_record *rec, const char *line, struct st_err *err)
{
	static char buf[512];
	snprintf(buf, sizeof buf, "%s", line);
	return st_record_parse(rec, buf, strlen(buf), err);
}

static void reads_bare_tsv_and_json_lines(void **state)
{
	(void)state;
	struct st_record rec = {0};
	struct st_err err = {0};
	assert_int_equal(parse(&rec, "1.2.3.4:7777", &err), 0);
	assert_int_equal(rec.fmt, ST_FMT_TEXT);
	assert_int_equal(rec.endpoint.port, 7777);
	assert_string_equal(rec.node_id, "");

	/* without a header, only the first column is known: the endpoint */
	assert_int_equal(parse(&rec, "9.9.9.9:1   ok  text", &err), 0);
	assert_int_equal(rec.fmt, ST_FMT_TEXT);
	assert_null(st_record_get(&rec, "status"));

	assert_int_equal(parse(&rec, "abc@[::1]:9\tok\t12", &err), 0);
	assert_int_equal(rec.fmt, ST_FMT_TSV);
	assert_string_equal(rec.node_id, "abc");
	assert_string_equal(rec.endpoint_text, "abc@[::1]:9");
	assert_string_equal(st_record_get(&rec, "endpoint"), "abc@[::1]:9");
	assert_null(st_record_get(&rec, "status"));

	/* with one, columns are found by name, whatever their position */
	static const char *const cols[] = {"status", "rtt_ms", "endpoint", "error"};
	rec.cols_ = cols;
	rec.ncols_ = 4;
	assert_int_equal(parse(&rec, "ok\t12\tabc@[::1]:9\t-", &err), 0);
	assert_string_equal(rec.node_id, "abc");
	assert_int_equal(rec.endpoint.port, 9);
	assert_string_equal(st_record_get(&rec, "status"), "ok");
	assert_string_equal(st_record_get(&rec, "rtt_ms"), "12");
	assert_null(st_record_get(&rec, "error"));
	assert_null(st_record_get(&rec, "nothing"));
	assert_int_equal(parse(&rec, "ok\t12\t-\t-", &err), 0);
	assert_true(rec.no_endpoint);
	rec.cols_ = NULL;
	rec.ncols_ = 0;

	assert_int_equal(parse(&rec, "{\"endpoint\":\"5.6.7.8:1\",\"node_id\":\"n1\",\"status\":\"ok\","
	                             "\"rtt_ms\":12,\"verified\":false,\"error\":null}", &err), 0);
	assert_int_equal(rec.fmt, ST_FMT_JSON);
	assert_string_equal(rec.node_id, "n1");
	assert_string_equal(st_record_get(&rec, "status"), "ok");
	assert_string_equal(st_record_get(&rec, "rtt_ms"), "12");
	assert_string_equal(st_record_get(&rec, "verified"), "false");
	assert_null(st_record_get(&rec, "error"));
	assert_null(st_record_get(&rec, "missing"));
	assert_int_equal(parse(&rec, "{\"endpoint\":null,\"status\":\"ok\"}", &err), 0);
	assert_true(rec.no_endpoint);
	st_record_clear(&rec);
}

static void expect_bad(const char *line, const char *msg)
{
	struct st_record rec = {0};
	struct st_err err = {0};
	if (parse(&rec, line, &err) == 0)
		fail_msg("'%s' parsed", line);
	if (!strstr(err.msg, msg))
		fail_msg("'%s': got '%s', want '%s'", line, err.msg, msg);
	assert_int_equal(err.code, ST_EX_DATAERR);
	st_record_clear(&rec);
}

static void rejects_bad_lines_with_reasons(void **state)
{
	(void)state;
	expect_bad("{\"endpoint\":", "bad json");
	expect_bad("{\"status\":\"ok\"}", "no \"endpoint\"");
	expect_bad("{\"endpoint\":5}", "not a string");
	expect_bad("{\"endpoint\":\"1.2.3.4:99999\"}", "bad port");
	expect_bad("{\"endpoint\":\"1.2.3.4:1\",\"endpoint\":\"1.2.3.4:2\"}", "bad json");
	expect_bad("[1,2]", "missing port");
	expect_bad("1.2.3.4:0\tok", "bad port");
	expect_bad("1.2.3.4 ok", "missing port");
	expect_bad("nonsense", "missing port");
	char many[256] = "1.2.3.4:1";
	for (int i = 0; i < ST_RECORD_FIELDS_MAX; i++)
		strcat(many, "\tx");
	expect_bad(many, "more than");
	struct st_record rec = {0};
	struct st_err err = {0};
	char nul[] = "1.2.3.4:1\0junk";
	assert_int_equal(st_record_parse(&rec, nul, sizeof nul - 1, &err), -1);
	assert_string_equal(err.msg, "NUL byte in line");
}

static void reader_skips_comments_and_names_bad_lines(void **state)
{
	(void)state;
	size_t big = ST_LINE_MAX + 100;
	char *text = malloc(big + 200);
	strcpy(text, "# a comment\n\n1.2.3.4:1\n   \nbad line\n");
	size_t n = strlen(text);
	memset(text + n, 'x', big);
	n += big;
	strcpy(text + n, "\n{\"endpoint\":\"[::1]:2\"}\n  # indented comment\n5.6.7.8:3");
	n += strlen(text + n);
	FILE *f = fmemopen(text, n, "r");
	struct st_reader *r = st_reader_new(f, "peers.txt");
	struct st_record rec = {0};
	struct st_err err = {0};
	assert_int_equal(st_reader_next(r, &rec, &err), 1);
	assert_int_equal(rec.lineno, 3);
	assert_int_equal(st_reader_next(r, &rec, &err), -1);
	assert_string_equal(err.msg, "peers.txt:5: missing port in 'bad'");
	assert_int_equal(st_reader_next(r, &rec, &err), -1);
	assert_string_equal(err.msg, "peers.txt:6: line longer than 65536 bytes");
	assert_int_equal(st_reader_next(r, &rec, &err), 1);
	assert_int_equal(rec.fmt, ST_FMT_JSON);
	assert_int_equal(rec.lineno, 7);
	assert_int_equal(st_reader_next(r, &rec, &err), 1);
	assert_int_equal(rec.endpoint.port, 3);
	assert_int_equal(st_reader_next(r, &rec, &err), 0);
	st_reader_free(r);
	fclose(f);
	free(text);
}

/* A tsv stream names its columns in a "#" line; the reader follows it. */
static void reader_finds_tsv_columns_by_the_header(void **state)
{
	(void)state;
	const char *text = "#node_id\tstatus\tendpoint\n"
	                   "n1\tok\t1.2.3.4:1\n"
	                   "# st-addrbook export 2: a comment, not a header\n"
	                   "n2\ttimeout\t1.2.3.4:2\n"
	                   "#endpoint\tstatus\n"
	                   "1.2.3.4:3\trefused\n";
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	struct st_reader *r = st_reader_new(f, "x");
	struct st_record rec = {0};
	struct st_err err = {0};
	assert_int_equal(st_reader_next(r, &rec, &err), 1);
	assert_int_equal(rec.endpoint.port, 1);
	assert_string_equal(st_record_get(&rec, "node_id"), "n1");
	assert_string_equal(st_record_get(&rec, "status"), "ok");
	assert_int_equal(st_reader_next(r, &rec, &err), 1);
	assert_int_equal(rec.endpoint.port, 2);
	assert_string_equal(st_record_get(&rec, "status"), "timeout");
	assert_int_equal(st_reader_next(r, &rec, &err), 1);
	assert_int_equal(rec.endpoint.port, 3);
	assert_string_equal(st_record_get(&rec, "status"), "refused");
	assert_null(st_record_get(&rec, "node_id"));
	assert_int_equal(st_reader_next(r, &rec, &err), 0);
	st_reader_free(r);
	fclose(f);
}

/* The printer opens tsv with the schema's names and refuses a record that
 * strays from its declared order. */
static void printer_follows_the_declared_schema(void **state)
{
	(void)state;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct st_printer *p = st_printer_new(f, ST_FMT_TSV, 0);
	st_printer_schema(p, &st_schema_stat);
	for (int i = 0; i < 2; i++) {
		st_print_begin(p);
		st_print_str(p, "metric", "%s", "total");
		st_print_str(p, "key", "%s", "total");
		st_print_uint(p, "value", "%llu", 3 + i);
		st_print_end(p);
	}
	struct st_err err = {0};
	assert_int_equal(st_printer_flush(p, &err), 0);
	fflush(f);
	assert_string_equal(buf, "#metric\tkey\tvalue\ntotal\ttotal\t3\ntotal\ttotal\t4\n");
	st_print_begin(p);
	st_print_str(p, "key", "%s", "total");
	st_print_str(p, "metric", "%s", "total");
	st_print_uint(p, "value", "%llu", 3);
	st_print_end(p);
	assert_int_equal(st_printer_flush(p, &err), -1);
	assert_int_equal(err.code, ST_EX_SOFTWARE);
	assert_non_null(strstr(err.msg, "'key'"));
	st_printer_free(p);
	fclose(f);
	free(buf);
}

/* Prints n stat records with tsv, gathering them or not; the caller frees. */
static char *print_stats(int n, bool gather, size_t *held)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct st_printer *p = st_printer_new(f, ST_FMT_TSV, 0);
	st_printer_schema(p, &st_schema_stat);
	if (gather)
		st_printer_gather(p, true);
	for (int i = 0; i < n; i++) {
		st_print_begin(p);
		st_print_str(p, "metric", "%s", "a metric with a name long enough\tto escape");
		st_print_str(p, "key", "%s", i % 2 ? "odd" : NULL);
		st_print_uint(p, "value", "%llu", (unsigned long long)i);
		st_print_end(p);
	}
	fflush(f);
	*held = len; /* what reached the stream while the records were printed */
	if (gather)
		st_printer_gather(p, false);
	struct st_err err = {0};
	assert_int_equal(st_printer_flush(p, &err), 0);
	st_printer_free(p);
	fclose(f);
	return buf;
}

/* Gathered records reach the stream when the gathering ends, as the same bytes;
 * more than the printer holds goes out as it fills, in order. */
static void gathered_records_come_out_the_same_when_gathering_ends(void **state)
{
	(void)state;
	size_t held;
	char *plain = print_stats(3, false, &held);
	assert_int_equal(held, strlen(plain));
	char *gathered = print_stats(3, true, &held);
	assert_int_equal(held, 0);
	assert_string_equal(gathered, plain);
	assert_string_equal(plain, "#metric\tkey\tvalue\n"
	                           "a metric with a name long enough\\tto escape\t-\t0\n"
	                           "a metric with a name long enough\\tto escape\todd\t1\n"
	                           "a metric with a name long enough\\tto escape\t-\t2\n");
	free(plain);
	free(gathered);
	plain = print_stats(20000, false, &held);
	gathered = print_stats(20000, true, &held);
	assert_true(held > 0 && held < strlen(plain));
	assert_string_equal(gathered, plain);
	free(plain);
	free(gathered);
}

/* A batch is what is there without waiting; the next one waits for more. */
static void reader_batches_stop_at_what_has_come(void **state)
{
	(void)state;
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	FILE *in = fdopen(fds[0], "r");
	struct st_reader *r = st_reader_new(in, "<pipe>");
	struct st_record rec = {0};
	struct st_err err = {0};
	assert_int_equal(write(fds[1], "1.1.1.1:1\n1.1.1.1:2\n1.1.1.1:", 28), 28);
	assert_int_equal(st_reader_batch(r, &err), 1);
	assert_int_equal(st_reader_next(r, &rec, &err), 1);
	assert_int_equal(st_reader_next(r, &rec, &err), 1);
	assert_int_equal(rec.endpoint.port, 2);
	assert_int_equal(st_reader_next(r, &rec, &err), 0); /* the batch is over; no wait */
	assert_int_equal(write(fds[1], "3\n", 2), 2);
	close(fds[1]);
	assert_int_equal(st_reader_batch(r, &err), 1);
	assert_int_equal(st_reader_next(r, &rec, &err), 1);
	assert_int_equal(rec.endpoint.port, 3);
	assert_int_equal(st_reader_next(r, &rec, &err), 0);
	assert_int_equal(st_reader_batch(r, &err), 0); /* the end */
	st_reader_free(r);
	fclose(in);
}

/* A batch that fills up while input keeps coming says so (2), so that a writer
 * may keep its lock; a pause, even inside a line, never keeps it. */
static void reader_batches_tell_flowing_input_from_a_pause(void **state)
{
	(void)state;
	FILE *f = tmpfile();
	assert_non_null(f);
	for (int i = 0; i < 120000; i++) /* about 1.6 MiB */
		fprintf(f, "10.%d.%d.%d:7777\n", (i >> 16) & 255, (i >> 8) & 255, i & 255);
	rewind(f);
	struct st_reader *r = st_reader_new(f, "<file>");
	struct st_record rec = {0};
	struct st_err err = {0};
	assert_int_equal(st_reader_batch(r, &err), 2);
	size_t n = 0;
	while (st_reader_next(r, &rec, &err) == 1)
		n++;
	assert_true(n > 50000 && n < 120000);
	assert_int_equal(st_reader_line_within(r, 50, &err), 1);
	assert_int_equal(st_reader_batch(r, &err), 1); /* the rest, to the end */
	while (st_reader_next(r, &rec, &err) == 1)
		n++;
	assert_int_equal(n, 120000);
	st_reader_free(r);
	fclose(f);

	int fds[2];
	assert_int_equal(pipe(fds), 0);
	FILE *in = fdopen(fds[0], "r");
	r = st_reader_new(in, "<pipe>");
	assert_int_equal(write(fds[1], "1.1.1.1:1\n1.1.1.1:", 19), 19);
	assert_int_equal(st_reader_batch(r, &err), 1);
	assert_int_equal(st_reader_next(r, &rec, &err), 1);
	assert_int_equal(st_reader_next(r, &rec, &err), 0);
	assert_int_equal(st_reader_line_within(r, 20, &err), 0); /* half a line, then silence */
	assert_int_equal(write(fds[1], "2\n", 2), 2);
	assert_int_equal(st_reader_line_within(r, 1000, &err), 1);
	close(fds[1]);
	st_record_clear(&rec);
	st_reader_free(r);
	fclose(in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reader_finds_tsv_columns_by_the_header),
		cmocka_unit_test(printer_follows_the_declared_schema),
		cmocka_unit_test(gathered_records_come_out_the_same_when_gathering_ends),
		cmocka_unit_test(reader_batches_stop_at_what_has_come),
	    cmocka_unit_test(reader_batches_tell_flowing_input_from_a_pause),
		cmocka_unit_test(prints_text_with_the_given_formats),
		cmocka_unit_test(prints_tsv_escaped_in_call_order),
		cmocka_unit_test(prints_json_one_object_per_line),
		cmocka_unit_test(json_keeps_fields_with_bad_utf8),
		cmocka_unit_test(text_escapes_c1_controls),
		cmocka_unit_test(flush_reports_write_errors),
		cmocka_unit_test(format_names_parse_both_ways),
		cmocka_unit_test(prom_writes_stat_records_as_samples),
		cmocka_unit_test(reads_bare_tsv_and_json_lines),
		cmocka_unit_test(rejects_bad_lines_with_reasons),
		cmocka_unit_test(reader_skips_comments_and_names_bad_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
