/* record.h - the record stream: reading bare/tsv/json lines, printing text/tsv/json. */
#ifndef ST_RECORD_H
#define ST_RECORD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "st/endpoint.h"
#include "st/err.h"

enum st_format {
	ST_FMT_TEXT,
	ST_FMT_TSV,
	ST_FMT_JSON,
	ST_FMT_PROM, /* Prometheus text exposition: stat records only (st_printer_prom) */
};

/* "text", "tsv", "json", "prom" -> format; returns 0 or -1 with err naming the choices. */
int st_format_parse(const char *s, enum st_format *out, struct st_err *err);
const char *st_format_name(enum st_format f);

/* ---- Printing: one call per field, the mode decides text, tsv or json ---- */

/*
 * A record printer over a FILE. Every field is given once with its snake_case
 * key and a printf format used only in text mode; tsv writes the values
 * tab-separated in call order (tabs and newlines in values are escaped as \t
 * and \n), json writes one object per line (jansson). Text-mode times are shown
 * relative to `now` ("3m ago"); tsv and json times are Unix seconds.
 */
struct st_printer;

/* Returns a printer or NULL when out of memory. now: for relative text times. */
struct st_printer *st_printer_new(FILE *out, enum st_format fmt, int64_t now);
void st_printer_free(struct st_printer *p);
enum st_format st_printer_format(const struct st_printer *p);

/*
 * -o prom: stat records ({metric, key, value}) become Prometheus samples for
 * node_exporter's textfile collector, PREFIX_NAME{LABEL="key"} value, with
 * "# HELP" and "# TYPE NAME gauge" before a family's first sample. The table
 * (ending with a NULL metric) names each metric; label NULL: no label (a
 * total). A metric not in it is PREFIX_METRIC{key="..."}. Names are cut to
 * ST_PROM_NAME_MAX and anything but [A-Za-z0-9_] becomes '_'.
 */
#define ST_PROM_NAME_MAX 96
struct st_prom_metric {
	const char *metric; /* the record's metric: "family" */
	const char *name;   /* after the prefix: "addresses_by_family" */
	const char *label;  /* "family", or NULL */
	const char *help;
};
void st_printer_prom(struct st_printer *p, const char *prefix, const struct st_prom_metric *table);

struct st_schema;
/* Declares the record kind printed (schema.h): tsv output then opens with a
 * "#" line of column names, and every record is checked against the kind. */
void st_printer_schema(struct st_printer *p, const struct st_schema *s);

/*
 * Text on a terminal (the program says so: st_cli_printer, when stdout is
 * one): records become an aligned table with a header, width columns wide,
 * each value alone in its column (times relative, durations "12ms"), long
 * text cut with "…" (table.h). color: a few cells coloured (status). Rows are
 * buffered to size the columns (up to ST_TABLE_ROWS, or until a release or
 * flush). Call after st_printer_schema; no effect for tsv, json or without a
 * schema. Returns 0, or -1 when out of memory (the output stays plain).
 */
int st_printer_terminal(struct st_printer *p, size_t width, bool color);
/* Records come one at a time over a long run (st-listen): on a terminal each
 * row is written at once, the widths fixed at the first. */
void st_printer_live(struct st_printer *p);

void st_print_begin(struct st_printer *p);
void st_print_end(struct st_printer *p);

/* A field a plain text line has no room for (a layout another tool reads by
 * position, st-crawl dump's): plain text writes nothing for it, not even the
 * blank before it; the table, tsv and json show it as null. */
void st_print_omit(struct st_printer *p, const char *key);

/* The functions behind the st_print_* macros; call the macros. */
void st_print_str_(struct st_printer *p, const char *key, const char *fmt, const char *v);
void st_print_int_(struct st_printer *p, const char *key, const char *fmt, long long v);
void st_print_uint_(struct st_printer *p, const char *key, const char *fmt, unsigned long long v);
void st_print_double_(struct st_printer *p, const char *key, const char *fmt, double v);
void st_print_bool_(struct st_printer *p, const char *key, const char *fmt, bool v);
void st_print_time_(struct st_printer *p, const char *key, const char *fmt, int64_t t);

/*
 * The sizeof(printf(...)) is never evaluated: it makes the compiler check the
 * text format against the value's type. Strings may be NULL (json null, tsv
 * and text "-"). Times: 0 means never (json null, tsv 0, text "never"); their
 * text format takes a %s.
 */
#define st_print_str(p, key, fmt, v) \
	((void)sizeof(printf(fmt, (const char *)(v))), st_print_str_((p), (key), (fmt), (v)))
#define st_print_int(p, key, fmt, v) \
	((void)sizeof(printf(fmt, (long long)(v))), st_print_int_((p), (key), (fmt), (long long)(v)))
#define st_print_uint(p, key, fmt, v) \
	((void)sizeof(printf(fmt, (unsigned long long)(v))), \
	 st_print_uint_((p), (key), (fmt), (unsigned long long)(v)))
#define st_print_double(p, key, fmt, v) \
	((void)sizeof(printf(fmt, (double)(v))), st_print_double_((p), (key), (fmt), (double)(v)))
#define st_print_bool(p, key, fmt, v) \
	((void)sizeof(printf(fmt, "")), st_print_bool_((p), (key), (fmt), (v)))
#define st_print_time(p, key, fmt, v) \
	((void)sizeof(printf(fmt, "")), st_print_time_((p), (key), (fmt), (int64_t)(v)))

/*
 * on: tsv records gather in p (64 KiB at a time) instead of going to the stream
 * one by one; off writes out what gathered. For a run of records with nothing
 * else written to the stream in between; a release, a flush or the end writes
 * them out too. No effect on text or json.
 */
void st_printer_gather(struct st_printer *p, bool on);

/*
 * Hold keeps what is printed in memory; release writes it out and flushes. A
 * program prints a batch held while it holds a table's lock, and releases it
 * once it has let go, so that a full pipe never keeps a lock taken.
 * Both return 0, or -1 when memory or a write failed (st_printer_flush says).
 */
int st_printer_hold(struct st_printer *p);
int st_printer_release(struct st_printer *p);

/* Flushes and checks that every write succeeded; returns 0 or -1 (ST_EX_IOERR). */
int st_printer_flush(struct st_printer *p, struct st_err *err);

/* ---- Reading: a bare endpoint, a tsv line, or a json object per line ---- */

#define ST_RECORD_FIELDS_MAX 32

/*
 * One input line. For tsv, fields[] holds the columns (fields[0] is the
 * endpoint column); for a bare line, the endpoint alone; for json, the object
 * (kept inside; read it with st_record_get). The endpoint column may hold
 * "ID@endpoint": the id is split off into node_id. A json "node_id" key fills
 * node_id too when the endpoint has no ID@.
 */
struct st_record {
	enum st_format fmt;            /* ST_FMT_TEXT for a bare endpoint */
	struct st_endpoint endpoint;
	char node_id[ST_NODE_ID_MAX + 1];  /* "" when unknown */
	char endpoint_text[ST_ENDPOINT_STRLEN + ST_NODE_ID_MAX + 2]; /* as written */
	unsigned long lineno;
	size_t nfields;
	char *fields[ST_RECORD_FIELDS_MAX]; /* point into the reader's line buffer */
	bool no_endpoint;              /* its endpoint is null or "-": a record for no book */
	void *json_;                   /* internal */
	const char *const *cols_;      /* internal: the names of the tsv header in force */
	size_t ncols_;
};

/* A line reader with a ceiling, counting lines, named for messages ("<stdin>"). */
struct st_reader;

/* Returns a reader over in (not closed by st_reader_free), or NULL (no memory).
 * It reads in's descriptor itself: nothing may be read from in through stdio
 * before or alongside it. */
struct st_reader *st_reader_new(FILE *in, const char *name);
void st_reader_free(struct st_reader *r);

/*
 * Reads the next record, skipping blank lines and lines that start with '#'; a
 * "#name<TAB>name..." line is a tsv header: it names the columns of the tsv
 * lines after it (the "endpoint" column holds the endpoint).
 * Returns 1 with rec filled, 0 at end of input, or -1 for a bad line with err
 * set to "NAME:LINE: reason" (ST_EX_DATAERR; ST_EX_IOERR for a read error).
 * After a bad line the next call goes on with the following line. rec is valid
 * until the next call.
 */
int st_reader_next(struct st_reader *r, struct st_record *rec, struct st_err *err);

/*
 * Batches, for a writer fed by a stream: waits, holding nothing, until a
 * whole line (or the end) is there, then reads on while more comes within
 * 50 ms, up to 1 MiB or one second. From then on st_reader_next returns the
 * batch's records without waiting and 0 at its end, so that the caller can
 * take its lock, apply the batch and let go before it waits again.
 * Returns 1 when a batch is ready, 2 when a batch is ready that ended at its
 * size, not on a pause (more input is already flowing: a writer may keep its
 * lock for the next batch without waiting on anybody), 0 at the end of input,
 * -1 on a read error.
 */
int st_reader_batch(struct st_reader *r, struct st_err *err);
/* Waits at most ms for a whole line (or the end) to be buffered, so that the
 * next st_reader_batch will not wait on the writer of the input. Returns 1
 * when one is, 0 when none came in time, -1 on a read error. */
int st_reader_line_within(struct st_reader *r, int ms, struct st_err *err);

/*
 * A field of the record by key: a json member (numbers and booleans rendered as
 * text), or the tsv column that the stream's "#" header line names so. Returns
 * NULL when absent or null ("-" in tsv); a tsv stream without a header names
 * only its first column, the endpoint. Valid until the next st_reader_next.
 */
const char *st_record_get(const struct st_record *rec, const char *key);

/*
 * Parses one line (no newline) into rec without a reader: used by the fuzz
 * target and by programs that get lines from elsewhere. line must stay alive
 * and is modified (tsv fields are cut in place); json state is freed by
 * st_record_clear. Returns 0 or -1 with err.
 */
int st_record_parse(struct st_record *rec, char *line, size_t len, struct st_err *err);
void st_record_clear(struct st_record *rec);

#endif
