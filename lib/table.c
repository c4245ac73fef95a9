/* table.c - text for a terminal: UTF-8 display width, cutting with an ellipsis, aligned tables. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "st/schema.h"
#include "st/table.h"
#include "st/util.h"

/* Decodes one UTF-8 sequence at s; returns its length (0 at the end) and sets
 * *cp, or *cp = UINT32_MAX for a byte that is not UTF-8 (length 1). */
static size_t utf8_next(const unsigned char *s, uint32_t *cp)
{
	unsigned char c = s[0];
	size_t n;
	uint32_t v, min;
	*cp = 0;
	if (!c)
		return 0;
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if ((c & 0xe0) == 0xc0) {
		n = 2, v = c & 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		n = 3, v = c & 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		n = 4, v = c & 0x07, min = 0x10000;
	} else {
		*cp = UINT32_MAX;
		return 1;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			*cp = UINT32_MAX;
			return 1;
		}
		v = v << 6 | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates and past U+10FFFF are not text */
	*cp = v < min || (v >= 0xd800 && v <= 0xdfff) || v > 0x10ffff ? UINT32_MAX : v;
	return *cp == UINT32_MAX ? 1 : n;
}

static bool in(uint32_t c, uint32_t lo, uint32_t hi)
{
	return c >= lo && c <= hi;
}

/* The columns of a code point, as wcwidth would say in a UTF-8 locale (the
 * programs run in the C locale, so it cannot be asked). */
static size_t cp_width(uint32_t c)
{
	if (in(c, 0x0300, 0x036f) || in(c, 0x0483, 0x0489) || in(c, 0x0591, 0x05bd) ||
	    in(c, 0x1ab0, 0x1aff) || in(c, 0x1dc0, 0x1dff) || in(c, 0x200b, 0x200f) ||
	    in(c, 0x20d0, 0x20ff) || in(c, 0xfe00, 0xfe0f) || in(c, 0xfe20, 0xfe2f))
		return 0;
	if (in(c, 0x1100, 0x115f) || in(c, 0x2e80, 0x303e) || in(c, 0x3041, 0x33ff) ||
	    in(c, 0x3400, 0x4dbf) || in(c, 0x4e00, 0x9fff) || in(c, 0xa000, 0xa4cf) ||
	    in(c, 0xac00, 0xd7a3) || in(c, 0xf900, 0xfaff) || in(c, 0xfe30, 0xfe4f) ||
	    in(c, 0xff00, 0xff60) || in(c, 0xffe0, 0xffe6) || in(c, 0x1f300, 0x1f64f) ||
	    in(c, 0x1f900, 0x1f9ff) || in(c, 0x20000, 0x3fffd))
		return 2;
	return 1;
}

/* An SGR sequence "\033[...m" at s: its length, else 0. */
static size_t sgr_len(const char *s)
{
	if (s[0] != '\033' || s[1] != '[')
		return 0;
	size_t i = 2;
	while ((s[i] >= '0' && s[i] <= '9') || s[i] == ';')
		i++;
	return s[i] == 'm' ? i + 1 : 0;
}

size_t st_text_width(const char *s)
{
	size_t w = 0;
	while (*s) {
		size_t n = sgr_len(s);
		if (n) {
			s += n;
			continue;
		}
		uint32_t cp;
		n = utf8_next((const unsigned char *)s, &cp);
		w += cp == UINT32_MAX || in(cp, 0x80, 0x9f) ? 1 : cp_width(cp);
		s += n;
	}
	return w;
}

#define ELLIPSIS "\xe2\x80\xa6" /* U+2026, one column */

size_t st_text_fit(const char *s, size_t width, char *out, size_t size)
{
	if (!size)
		return 0;
	bool cut = st_text_width(s) > width;
	size_t room = cut ? (width ? width - 1 : 0) : width; /* one column for the "…" */
	size_t w = 0, k = 0;
	while (*s) {
		size_t n = sgr_len(s);
		if (n) {
			if (k + n < size) {
				memmove(out + k, s, n); /* out may be s: it never runs ahead */
				k += n;
			}
			s += n;
			continue;
		}
		uint32_t cp;
		n = utf8_next((const unsigned char *)s, &cp);
		bool bad = cp == UINT32_MAX || in(cp, 0x80, 0x9f);
		size_t cw = bad ? 1 : cp_width(cp);
		if (w + cw > room || k + (bad ? 1 : n) + sizeof ELLIPSIS > size)
			break;
		if (bad) {
			out[k++] = '?';
		} else {
			memmove(out + k, s, n);
			k += n;
		}
		w += cw;
		s += n;
	}
	if (cut && width && k + sizeof ELLIPSIS <= size) {
		memcpy(out + k, ELLIPSIS, sizeof ELLIPSIS - 1);
		k += sizeof ELLIPSIS - 1;
		w++;
	}
	out[k] = '\0';
	return w;
}

/* ---- tables ---- */

#define GAP 2 /* blanks between columns */

struct st_table {
	const struct st_schema *schema;
	size_t width;
	bool color, live, fixed;
	size_t *w;          /* column widths, once fixed */
	size_t *min;        /* while fixing the widths: each column's widest cell */
	char **row;         /* the current row's cells */
	char ***rows;       /* buffered rows */
	size_t nrows;
	bool failed;
};

/* Headers: short upper-case names, so that a column of small numbers stays narrow. */
static const struct { const char *key, *label; } labels[] = {
	{"consecutive_failures", "RUN"}, {"successes", "OK"}, {"failures", "FAIL"},
	{"attempts", "TRY"}, {"first_seen", "FIRST"}, {"last_seen", "SEEN"},
	{"last_attempt", "TRIED"}, {"last_success", "LAST OK"}, {"user_agent", "AGENT"},
	{"rtt_ms", "RTT"}, {"duration_ms", "TIME"}, {"listen_port", "LPORT"},
	{"reputation", "REP"}, {"node_id", "NODE"}, {"verified", "TLS"}, {"banned", "BAN"},
	{"version", "VER"}, {"getpeers", "GP"}, {"quality", "QUAL"}, {"pinned", "PIN"},
};

static void header_text(const struct st_field *f, char *out, size_t size)
{
	for (size_t i = 0; i < ST_ARRAY_LEN(labels); i++)
		if (strcmp(labels[i].key, f->key) == 0) {
			st_strlcpy(out, labels[i].label, size);
			return;
		}
	size_t k = 0;
	for (const char *c = f->key; *c && k + 1 < size; c++)
		out[k++] = *c == '_' ? ' ' : (char)(*c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c);
	out[k] = '\0';
}

struct st_table *st_table_new(const struct st_schema *s, size_t width, bool color)
{
	struct st_table *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->schema = s;
	t->width = width < 20 ? 20 : width;
	t->color = color;
	t->w = calloc(s->nfields, sizeof *t->w);
	t->min = calloc(s->nfields, sizeof *t->min);
	t->row = calloc(s->nfields, sizeof *t->row);
	t->rows = calloc(ST_TABLE_ROWS, sizeof *t->rows);
	if (!t->w || !t->min || !t->row || !t->rows) {
		st_table_free(t);
		return NULL;
	}
	return t;
}

static void free_row(const struct st_table *t, char **row)
{
	for (size_t i = 0; row && i < t->schema->nfields; i++)
		free(row[i]);
}

void st_table_free(struct st_table *t)
{
	if (!t)
		return;
	for (size_t r = 0; r < t->nrows; r++) {
		free_row(t, t->rows[r]);
		free(t->rows[r]);
	}
	free_row(t, t->row);
	free(t->row);
	free(t->rows);
	free(t->w);
	free(t->min);
	free(t);
}

void st_table_live(struct st_table *t)
{
	t->live = true;
}

void st_table_cell(struct st_table *t, size_t col, const char *text)
{
	if (col >= t->schema->nfields)
		return; /* off the schema: the printer's check reports it */
	free(t->row[col]);
	t->row[col] = strndup(text, ST_TABLE_CELL_MAX);
	if (!t->row[col])
		t->failed = true;
}

/* Where a wide column may give up room: text; other fields keep their width. */
static bool shrinkable(const struct st_field *f)
{
	return f->type == ST_FIELD_STR;
}

/* The widths: each column as wide as its header and widest cell. While the
 * line is wider than the terminal, columns give up room in this order: text
 * down to 16 columns (the widest first), then other headers down to their
 * cells (but not under 4), then text down to 8; past that each line is cut at
 * the width. */
static void fix_widths(struct st_table *t)
{
	const struct st_schema *s = t->schema;
	size_t n = s->nfields, total = 0, *cells = t->min;
	for (size_t i = 0; i < n; i++) {
		char h[64];
		header_text(&s->fields[i], h, sizeof h);
		cells[i] = 1;
		for (size_t r = 0; r < t->nrows; r++) {
			size_t cw = t->rows[r][i] ? st_text_width(t->rows[r][i]) : 1;
			cells[i] = cw > cells[i] ? cw : cells[i];
		}
		if (t->live) { /* room for what usually comes, not just the first row */
			enum st_field_type ty = s->fields[i].type;
			size_t typical = ty == ST_FIELD_ENDPOINT ? 21 : ty == ST_FIELD_STR ? 12 : 0;
			cells[i] = typical > cells[i] ? typical : cells[i];
		}
		size_t hw = st_text_width(h);
		t->w[i] = hw > cells[i] ? hw : cells[i];
		total += t->w[i] + (i ? GAP : 0);
	}
	for (int level = 0; level < 3 && total > t->width; level++) {
		for (;;) {
			size_t best = n;
			for (size_t i = 0; i < n; i++) {
				bool text = shrinkable(&s->fields[i]);
				/* a header keeps 4 columns: "FAIL" whole, not "FA…" */
				size_t narrow = cells[i] < 4 ? 4 : cells[i];
				size_t floor = level == 0 ? (text ? 16 : t->w[i])
				               : level == 1 ? (text ? 16 : narrow)
				                            : (text ? 8 : narrow);
				if (t->w[i] > floor && (best == n || t->w[i] > t->w[best]))
					best = i;
			}
			if (best == n || total <= t->width)
				break;
			t->w[best]--;
			total--;
		}
	}
	t->fixed = true;
}

/* A colour for a few cells, where it helps the eye: the outcome of a dial,
 * a ban. */
static const char *cell_color(const struct st_field *f, const char *v)
{
	if (strcmp(f->key, "status") == 0)
		return strcmp(v, "ok") == 0 ? "\033[32m" : strcmp(v, "banned") == 0 ? "\033[33m" : "\033[31m";
	if (strcmp(f->key, "banned") == 0 && strcmp(v, "yes") == 0)
		return "\033[31m";
	return NULL;
}

/* One line: the cells cut and padded to the widths, the last unpadded, the
 * whole cut to the terminal's width. cells NULL: the header. */
static void put_line(struct st_table *t, FILE *out, char **cells)
{
	const struct st_schema *s = t->schema;
	size_t cap = s->nfields * (2 * ST_TABLE_CELL_MAX + 32) + 1;
	char *line = malloc(cap), *fit = malloc(ST_TABLE_CELL_MAX + 16);
	if (!line || !fit) {
		t->failed = true;
		free(line);
		free(fit);
		return;
	}
	size_t k = 0;
	for (size_t i = 0; i < s->nfields; i++) {
		char h[64];
		const char *v = cells ? (cells[i] ? cells[i] : "-") : h;
		if (!cells)
			header_text(&s->fields[i], h, sizeof h);
		size_t used = st_text_fit(v, t->w[i], fit, ST_TABLE_CELL_MAX + 16);
		const char *c = cells && t->color ? cell_color(&s->fields[i], v) : NULL;
		if (i)
			for (int g = 0; g < GAP; g++)
				line[k++] = ' ';
		int m = snprintf(line + k, cap - k, "%s%s%s", c ? c : "", fit, c ? "\033[0m" : "");
		k += m > 0 && (size_t)m < cap - k ? (size_t)m : 0;
		if (i + 1 < s->nfields)
			for (; used < t->w[i] && k + 1 < cap; used++)
				line[k++] = ' ';
	}
	line[k] = '\0';
	while (k && line[k - 1] == ' ')
		line[--k] = '\0';
	bool cut = st_text_width(line) > t->width;
	if (cut) /* in place: the cut text is never longer */
		st_text_fit(line, t->width, line, cap);
	/* a line cut inside a colour ends it */
	if (fputs(line, out) == EOF || (cut && strchr(line, '\033') && fputs("\033[0m", out) == EOF) ||
	    putc('\n', out) == EOF)
		t->failed = true;
	free(line);
	free(fit);
}

int st_table_flush(struct st_table *t, FILE *out)
{
	if (!t->fixed) {
		if (!t->nrows)
			return t->failed ? -1 : 0; /* no record: no header either */
		fix_widths(t);
		put_line(t, out, NULL);
	}
	for (size_t r = 0; r < t->nrows; r++) {
		put_line(t, out, t->rows[r]);
		free_row(t, t->rows[r]);
		free(t->rows[r]);
		t->rows[r] = NULL;
	}
	t->nrows = 0;
	return t->failed ? -1 : 0;
}

int st_table_row(struct st_table *t, FILE *out)
{
	char **row = t->row;
	t->row = calloc(t->schema->nfields, sizeof *t->row);
	if (!t->row) {
		t->row = row;
		free_row(t, row);
		memset(row, 0, t->schema->nfields * sizeof *row);
		t->failed = true;
		return -1;
	}
	t->rows[t->nrows++] = row;
	if (t->fixed || t->nrows == ST_TABLE_ROWS || t->live)
		return st_table_flush(t, out);
	return t->failed ? -1 : 0;
}
