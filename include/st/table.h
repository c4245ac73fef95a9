/* table.h - text for a terminal: display width of UTF-8, cutting to a width, aligned tables. */
#ifndef ST_TABLE_H
#define ST_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/*
 * The columns s takes on a terminal: UTF-8 decoded, combining marks 0, East
 * Asian wide and emoji 2, anything else 1; a byte that is not UTF-8 (shown as
 * '?') 1; an SGR colour sequence ("\033[...m", only ever written by us) 0.
 */
size_t st_text_width(const char *s);

/*
 * Copies s into out (size bytes) cut to at most width columns: a text that
 * does not fit ends in "…" within the width. Bytes that are not UTF-8 and C1
 * controls become '?'; colour sequences are kept. Returns the columns used.
 */
size_t st_text_fit(const char *s, size_t width, char *out, size_t size);

/*
 * An aligned table of records for a terminal, fed cell by cell by the record
 * printer (record.c) in text mode on a terminal. Rows are buffered, up to
 * ST_TABLE_ROWS, so that the column widths fit what is printed; then the header
 * and rows are written and later rows stream with the widths fixed (a longer
 * cell is cut with "…"). Every line fits the width; nothing wraps.
 */
#define ST_TABLE_ROWS 1000
#define ST_TABLE_CELL_MAX 1024

struct st_schema;
struct st_table;

/* width: the terminal's columns; color: SGR colours for a few fields (status). */
struct st_table *st_table_new(const struct st_schema *s, size_t width, bool color);
void st_table_free(struct st_table *t);
/* Live: rows come one at a time over a long run (st-listen): widths are fixed
 * at the first row, from typical widths per field type. */
void st_table_live(struct st_table *t);
/* The current row's cell for the schema's field col (text as shown). */
void st_table_cell(struct st_table *t, size_t col, const char *text);
/* Ends the current row. Returns 0, or -1 when memory or a write failed. */
int st_table_row(struct st_table *t, FILE *out);
/* Writes the buffered rows (fixing the widths if not yet). Returns 0 or -1. */
int st_table_flush(struct st_table *t, FILE *out);

#endif
