/* record.c - the record stream: one print path for text/tsv/json, one reader for bare/tsv/json. */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "st/record.h"
#include "st/schema.h"
#include "st/table.h"
#include "prom_int.h"
#include "st/util.h"

int st_format_parse(const char *s, enum st_format *out, struct st_err *err)
{
	if (strcmp(s, "text") == 0)
		*out = ST_FMT_TEXT;
	else if (strcmp(s, "tsv") == 0)
		*out = ST_FMT_TSV;
	else if (strcmp(s, "json") == 0)
		*out = ST_FMT_JSON;
	else if (strcmp(s, "prom") == 0)
		*out = ST_FMT_PROM;
	else
		return st_err_set(err, ST_EX_USAGE, "'%s': not a format (text, tsv, json, prom)", s);
	return 0;
}

const char *st_format_name(enum st_format f)
{
	return f == ST_FMT_TSV ? "tsv" : f == ST_FMT_JSON ? "json" : f == ST_FMT_PROM ? "prom" : "text";
}

struct st_printer {
	FILE *out;
	const struct st_schema *schema;
	size_t nth;          /* fields of the current record so far, for the schema check */
	const char *off_schema; /* the first key given out of the schema's order */
	bool header_done;
	FILE *real;    /* st_printer_hold: out is a memory stream in front of it */
	char *held;
	size_t held_len;
	enum st_format fmt;
	int64_t now;
	json_t *obj;   /* the json record being built */
	struct st_table *table; /* text on a terminal: cells go to an aligned table */
	size_t fields; /* fields printed in the current record */
	bool failed;   /* a write or an allocation failed */
	/* tsv: a record is gathered here and written in one call (a million-line
	 * listing spent a third of its time in per-field stdio calls); with
	 * st_printer_gather, a run of records (a million fwrite calls were a tenth
	 * of st-seed's parse of a big list) */
	bool gather;
	char line[65536];
	size_t len;
	/* the last double printed, formatted: most listings repeat a few values */
	bool have_double;
	double last_double;
	char last_double_text[32];
	/* -o prom: the metric names and the family written last */
	const char *prom_prefix;
	const struct st_prom_metric *prom_table;
	char prom_last[ST_PROM_NAME_MAX];
};

struct st_printer *st_printer_new(FILE *out, enum st_format fmt, int64_t now)
{
	struct st_printer *p = calloc(1, sizeof *p);
	if (p) {
		p->out = out;
		p->fmt = fmt;
		p->now = now;
	}
	return p;
}

/* The table's buffered rows, out now: before a release, a flush, the end. */
static void table_out(struct st_printer *p)
{
	if (p->table && st_table_flush(p->table, p->out) < 0)
		p->failed = true;
}

int st_printer_terminal(struct st_printer *p, size_t width, bool color)
{
	if (p->fmt != ST_FMT_TEXT || !p->schema || p->table)
		return 0;
	p->table = st_table_new(p->schema, width, color);
	return p->table ? 0 : -1;
}

void st_printer_live(struct st_printer *p)
{
	if (p->table)
		st_table_live(p->table);
}

static void tsv_drain(struct st_printer *p);

void st_printer_gather(struct st_printer *p, bool on)
{
	p->gather = on;
	if (!on)
		tsv_drain(p);
}

int st_printer_hold(struct st_printer *p)
{
	if (p->real)
		return 0;
	tsv_drain(p); /* what gathered goes before what is held */
	FILE *m = open_memstream(&p->held, &p->held_len);
	if (!m) {
		p->failed = true;
		return -1;
	}
	p->real = p->out;
	p->out = m;
	return 0;
}

int st_printer_release(struct st_printer *p)
{
	tsv_drain(p);
	table_out(p);
	if (!p->real)
		return p->failed ? -1 : 0;
	if (fclose(p->out) != 0)
		p->failed = true;
	p->out = p->real;
	p->real = NULL;
	if (p->held_len && fwrite(p->held, 1, p->held_len, p->out) != p->held_len)
		p->failed = true;
	free(p->held);
	p->held = NULL;
	p->held_len = 0;
	if (fflush(p->out) != 0)
		p->failed = true;
	return p->failed ? -1 : 0;
}

void st_printer_free(struct st_printer *p)
{
	if (p) {
		table_out(p);
		st_printer_release(p);
		st_table_free(p->table);
		json_decref(p->obj);
		free(p);
	}
}

enum st_format st_printer_format(const struct st_printer *p)
{
	return p->fmt;
}

static void tsv_drain(struct st_printer *p)
{
	if (p->len && fwrite_unlocked(p->line, 1, p->len, p->out) != p->len)
		p->failed = true;
	p->len = 0;
}

static void tsv_put_long(struct st_printer *p, const char *s, size_t n)
{
	tsv_drain(p);
	if (n > sizeof p->line) {
		if (fwrite_unlocked(s, 1, n, p->out) != n)
			p->failed = true;
		return;
	}
	memcpy(p->line, s, n);
	p->len = n;
}

static inline void tsv_put(struct st_printer *p, const char *s, size_t n)
{
	if (p->len + n > sizeof p->line) {
		tsv_put_long(p, s, n);
		return;
	}
	memcpy(p->line + p->len, s, n);
	p->len += n;
}

static inline void tsv_byte(struct st_printer *p, char c)
{
	if (p->len == sizeof p->line)
		tsv_drain(p);
	p->line[p->len++] = c;
}

void st_printer_prom(struct st_printer *p, const char *prefix, const struct st_prom_metric *table)
{
	p->prom_prefix = prefix;
	p->prom_table = table;
}

void st_printer_schema(struct st_printer *p, const struct st_schema *s)
{
	p->schema = s;
	p->header_done = false;
}

/* The record's next field must be the schema's next: a program that prints
 * another order or key fails its flush, so tests catch it. */
static inline void check_key(struct st_printer *p, const char *key)
{
	const struct st_schema *s = p->schema;
	/* the same literal is mostly the same pointer (the linker merges strings) */
	if (s && !p->off_schema &&
	    (p->nth >= s->nfields ||
	     (s->fields[p->nth].key != key && strcmp(s->fields[p->nth].key, key) != 0)))
		p->off_schema = key;
	p->nth++;
}

void st_print_begin(struct st_printer *p)
{
	if (p->fmt == ST_FMT_TSV && p->schema && !p->header_done) {
		p->header_done = true;
		/* "#endpoint<TAB>status...": readers find the columns by name */
		tsv_put(p, "#", 1);
		for (size_t i = 0; i < p->schema->nfields; i++) {
			if (i)
				tsv_put(p, "\t", 1);
			tsv_put(p, p->schema->fields[i].key, strlen(p->schema->fields[i].key));
		}
		tsv_put(p, "\n", 1);
		if (!p->gather)
			tsv_drain(p);
	}
	p->nth = 0;
	p->fields = 0;
	if (p->fmt == ST_FMT_JSON || p->fmt == ST_FMT_PROM) {
		json_decref(p->obj);
		p->obj = json_object();
		if (!p->obj)
			p->failed = true;
	}
}

void st_print_end(struct st_printer *p)
{
	if (p->schema && !p->off_schema && p->nth != p->schema->nfields)
		p->off_schema = p->nth < p->schema->nfields ? p->schema->fields[p->nth].key : "?";
	if (p->fmt == ST_FMT_PROM) {
		if (!p->obj || st_prom_sample(p->out, p->prom_prefix ? p->prom_prefix : "st",
		                              p->prom_table, p->prom_last, sizeof p->prom_last,
		                              p->obj) < 0)
			p->failed = true;
		json_decref(p->obj);
		p->obj = NULL;
		return;
	}
	if (p->fmt == ST_FMT_JSON) {
		if (p->obj) {
			char *s = json_dumps(p->obj, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6) |
			                                 JSON_ENSURE_ASCII);
			if (!s || fputs(s, p->out) == EOF)
				p->failed = true;
			free(s);
			json_decref(p->obj);
			p->obj = NULL;
		}
	} else if (p->fmt == ST_FMT_TSV) {
		tsv_byte(p, '\n');
		if (!p->gather)
			tsv_drain(p);
		return;
	} else if (p->table) {
		if (st_table_row(p->table, p->out) < 0)
			p->failed = true;
		return;
	}
	if (putc('\n', p->out) == EOF)
		p->failed = true;
}

static void tsv_value(struct st_printer *p, const char *v)
{
	if (p->fields++)
		tsv_byte(p, '\t');
	if (!v) {
		tsv_byte(p, '-');
		return;
	}
	for (;;) {
		const char *run = v;
		v += strcspn(v, "\t\n\r\\");
		tsv_put(p, run, (size_t)(v - run));
		if (!*v)
			break;
		tsv_put(p, *v == '\t' ? "\\t" : *v == '\n' ? "\\n" : *v == '\r' ? "\\r" : "\\\\", 2);
		v++;
	}
}

static void tsv_int(struct st_printer *p, long long v)
{
	char b[32];
	/* b + 1: room for the sign in front */
	char *d = st_u64_digits(v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v, 10,
	                        b + 1, sizeof b - 1);
	if (v < 0)
		*--d = '-';
	tsv_value(p, d);
}

static void json_put(struct st_printer *p, const char *key, json_t *v)
{
	if (!v || !p->obj || json_object_set_new(p->obj, key, v) != 0)
		p->failed = true;
}

/* Text mode: the caller's format applied to the value; a separator between fields. */
static void text_sep(struct st_printer *p)
{
	if (p->fields++ && putc(' ', p->out) == EOF)
		p->failed = true;
}

static bool needs_escape(const char *v)
{
	for (; *v; v++)
		if ((unsigned char)*v < 0x20 || *v == 0x7f || st_is_c1(v))
			return true;
	return false;
}

/* "\t", "\n", "\r" and "\xHH" for the other control bytes (a C1 control's two
 * bytes each); cut to fit size. A
 * backslash stays as it is: text that came escaped (a peer's Error) is not
 * escaped twice. */
static void escape_text(const char *v, char *out, size_t size)
{
	size_t k = 0;
	for (; *v && k + 5 < size; v++) {
		unsigned char c = (unsigned char)*v;
		if (c == '\t' || c == '\n' || c == '\r') {
			out[k++] = '\\';
			out[k++] = c == '\t' ? 't' : c == '\n' ? 'n' : 'r';
		} else if (c < 0x20 || c == 0x7f) {
			k += (size_t)snprintf(out + k, size - k, "\\x%02x", c);
		} else if (st_is_c1(v) && k + 9 < size) {
			k += (size_t)snprintf(out + k, size - k, "\\xc2\\x%02x", (unsigned char)v[1]);
			v++;
		} else if (st_is_c1(v)) {
			break; /* no room for both escapes: never half of one */
		} else {
			out[k++] = (char)c;
		}
	}
	out[k] = '\0';
}

/* Text on a terminal: the value alone is the cell (the column's header names
 * it); the caller's format is for the plain text lines. */
static void table_cell(struct st_printer *p, const char *v)
{
	st_table_cell(p->table, p->nth - 1, v);
}

void st_print_omit(struct st_printer *p, const char *key)
{
	if (p->fmt == ST_FMT_TEXT && !p->table) {
		check_key(p, key);
		return;
	}
	st_print_str_(p, key, "%s", NULL);
}

/* st_print_str_ for json, prom and text; tsv, the field of every long listing, is
 * written by st_print_str_ itself, without this path's frame and stack buffer. */
static void print_str_slow(struct st_printer *p, const char *key, const char *fmt, const char *v)
{
	switch (p->fmt) {
	case ST_FMT_JSON:
	case ST_FMT_PROM: /* gathered as json, written as samples at the record's end */
		if (!v) {
			json_put(p, key, json_null());
		} else {
			json_t *s = json_string(v);
			if (!s) { /* not UTF-8: show the bad bytes as '?' rather than lose the field */
				char *copy = strdup(v);
				for (char *c = copy; c && *c; c++)
					if ((unsigned char)*c >= 0x80)
						*c = '?';
				s = copy ? json_string(copy) : NULL;
				free(copy);
			}
			json_put(p, key, s);
		}
		break;
	case ST_FMT_TSV:
		tsv_value(p, v);
		break;
	case ST_FMT_TEXT: {
		char esc[1024];
		if (p->table) {
			if (v && needs_escape(v)) {
				escape_text(v, esc, sizeof esc);
				v = esc;
			}
			table_cell(p, v ? v : "-");
			break;
		}
		text_sep(p);
		/* text from outside (ids, user agents, errors) reaches a terminal: control
		 * characters are shown escaped, as ls -b does; tsv and json keep them as is */
		if (v && needs_escape(v)) {
			escape_text(v, esc, sizeof esc);
			v = esc;
		}
		if (fprintf(p->out, fmt, v ? v : "-") < 0)
			p->failed = true;
		break;
	}
	}
}

void st_print_str_(struct st_printer *p, const char *key, const char *fmt, const char *v)
{
	check_key(p, key);
	if (p->fmt == ST_FMT_TSV)
		tsv_value(p, v);
	else
		print_str_slow(p, key, fmt, v);
}

void st_print_int_(struct st_printer *p, const char *key, const char *fmt, long long v)
{
	check_key(p, key);
	switch (p->fmt) {
	case ST_FMT_JSON:
	case ST_FMT_PROM: /* gathered as json, written as samples at the record's end */
		json_put(p, key, json_integer(v));
		break;
	case ST_FMT_TSV:
		tsv_int(p, v);
		break;
	case ST_FMT_TEXT: {
		if (p->table) {
			/* a duration in milliseconds says its unit: its header does not */
			size_t kl = strlen(key);
			char b[32];
			snprintf(b, sizeof b, "%lld%s", v, kl > 3 && !strcmp(key + kl - 3, "_ms") ? "ms" : "");
			table_cell(p, b);
			break;
		}
		text_sep(p);
		if (fprintf(p->out, fmt, v) < 0)
			p->failed = true;
		break;
	}
	}
}

void st_print_uint_(struct st_printer *p, const char *key, const char *fmt, unsigned long long v)
{
	check_key(p, key);
	char b[32];
	switch (p->fmt) {
	case ST_FMT_JSON:
	case ST_FMT_PROM: /* gathered as json, written as samples at the record's end */
		json_put(p, key, json_integer((json_int_t)v));
		break;
	case ST_FMT_TSV:
		tsv_value(p, st_u64_digits(v, 10, b, sizeof b));
		break;
	case ST_FMT_TEXT:
		if (p->table) {
			table_cell(p, st_u64_digits(v, 10, b, sizeof b));
			break;
		}
		text_sep(p);
		if (fprintf(p->out, fmt, v) < 0)
			p->failed = true;
		break;
	}
}

void st_print_double_(struct st_printer *p, const char *key, const char *fmt, double v)
{
	check_key(p, key);
	switch (p->fmt) {
	case ST_FMT_JSON:
	case ST_FMT_PROM: /* gathered as json, written as samples at the record's end */
		json_put(p, key, json_real(v));
		break;
	case ST_FMT_TSV:
		if (!p->have_double || v != p->last_double) {
			snprintf(p->last_double_text, sizeof p->last_double_text, "%.6g", v);
			p->last_double = v;
			p->have_double = true;
		}
		tsv_value(p, p->last_double_text);
		break;
	case ST_FMT_TEXT:
		if (p->table) { /* the caller's format, without its padding or "name=" */
			char b[64];
			snprintf(b, sizeof b, fmt, v);
			const char *t = strchr(b, '=') ? strchr(b, '=') + 1 : b;
			t += strspn(t, " ");
			size_t n = strlen(t);
			while (n && t[n - 1] == ' ')
				n--;
			b[t - b + (ptrdiff_t)n] = '\0';
			table_cell(p, t);
			break;
		}
		text_sep(p);
		if (fprintf(p->out, fmt, v) < 0)
			p->failed = true;
		break;
	}
}

void st_print_bool_(struct st_printer *p, const char *key, const char *fmt, bool v)
{
	check_key(p, key);
	switch (p->fmt) {
	case ST_FMT_JSON:
	case ST_FMT_PROM: /* gathered as json, written as samples at the record's end */
		json_put(p, key, json_boolean(v));
		break;
	case ST_FMT_TSV:
		tsv_value(p, v ? "true" : "false");
		break;
	case ST_FMT_TEXT:
		if (p->table) {
			table_cell(p, v ? "yes" : "no");
			break;
		}
		text_sep(p);
		if (fprintf(p->out, fmt, v ? "yes" : "no") < 0)
			p->failed = true;
		break;
	}
}

void st_print_time_(struct st_printer *p, const char *key, const char *fmt, int64_t t)
{
	check_key(p, key);
	char b[32];
	switch (p->fmt) {
	case ST_FMT_JSON:
	case ST_FMT_PROM: /* gathered as json, written as samples at the record's end */
		json_put(p, key, t ? json_integer((json_int_t)t) : json_null());
		break;
	case ST_FMT_TSV:
		tsv_int(p, t);
		break;
	case ST_FMT_TEXT:
		st_format_age(t, p->now, b, sizeof b);
		if (p->table) {
			table_cell(p, b);
			break;
		}
		text_sep(p);
		if (fprintf(p->out, fmt, b) < 0)
			p->failed = true;
		break;
	}
}

int st_printer_flush(struct st_printer *p, struct st_err *err)
{
	st_printer_release(p); /* and the table's rows */
	if (fflush(p->out) != 0 || ferror(p->out))
		return st_err_sys(err, ST_EX_IOERR, "write error");
	if (p->off_schema)
		return st_err_set(err, ST_EX_SOFTWARE, "internal error: field '%s' is out of the %s "
		                  "record's declared order", p->off_schema, p->schema->kind);
	if (p->failed)
		return st_err_set(err, ST_EX_IOERR, "write error");
	return 0;
}

/* ---- reading ---- */

/* A batch ends at this much buffered input, this long after its first line,
 * or when the input has been idle this long. */
#define BATCH_BYTES ((size_t)1 << 20)
#define BATCH_MS 1000
#define BATCH_IDLE_MS 50
#define READ_BUF (BATCH_BYTES + ST_LINE_MAX + 2)

struct st_reader {
	FILE *in;
	int fd;           /* in's descriptor, read directly; -1: through stdio (fmemopen) */
	char name[256];
	unsigned long lineno;
	char *buf;        /* input [start, end); lines are cut in place */
	size_t start, end;
	size_t scanned;   /* bytes from start known to hold no newline */
	bool eof;
	bool batch;       /* st_reader_batch: stop at the end of what is buffered */
	bool overlong;    /* inside a line longer than ST_LINE_MAX: dropped up to its end */
	struct st_record rec;
	char colbuf[1024];  /* the tsv header in force: names cut in place */
	const char *cols[ST_RECORD_FIELDS_MAX];
	size_t ncols;
};

/* A tsv header "#endpoint<TAB>status...": lower-case names, tab-separated. */
static bool tsv_header(struct st_reader *r, const char *line, size_t len)
{
	if (len < 2 || line[0] != '#' || line[1] < 'a' || line[1] > 'z' || len - 1 >= sizeof r->colbuf)
		return false;
	for (size_t i = 1; i < len; i++) {
		char c = line[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '\t'))
			return false;
	}
	memcpy(r->colbuf, line + 1, len - 1);
	r->colbuf[len - 1] = '\0';
	r->ncols = 0;
	for (char *p = r->colbuf; r->ncols < ST_RECORD_FIELDS_MAX;) {
		r->cols[r->ncols++] = p;
		char *tab = strchr(p, '\t');
		if (!tab)
			break;
		*tab = '\0';
		p = tab + 1;
	}
	return true;
}

struct st_reader *st_reader_new(FILE *in, const char *name)
{
	struct st_reader *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->buf = malloc(READ_BUF + 1);
	if (!r->buf) {
		free(r);
		return NULL;
	}
	r->in = in;
	r->fd = fileno(in);
	st_strlcpy(r->name, name ? name : "<stdin>", sizeof r->name);
	return r;
}

void st_reader_free(struct st_reader *r)
{
	if (!r)
		return;
	st_record_clear(&r->rec);
	free(r->buf);
	free(r);
}

/* Reads what is there, waiting at most timeout_ms (-1: until something comes).
 * Returns 1 when bytes came (or the end), 0 on a time-out, -1 on an error. */
static int fill(struct st_reader *r, int timeout_ms, struct st_err *err)
{
	if (r->eof)
		return 1;
	if (r->start && (r->end == READ_BUF || r->start > READ_BUF / 2)) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
	}
	size_t room = READ_BUF - r->end;
	if (!room)
		return 1; /* full: the caller takes lines out first */
	if (r->fd < 0) {
		size_t n = fread(r->buf + r->end, 1, room, r->in);
		if (n == 0 && ferror(r->in))
			return st_err_sys(err, ST_EX_IOERR, "%s: read error", r->name);
		if (n == 0)
			r->eof = true;
		r->end += n;
		return 1;
	}
	if (timeout_ms >= 0) {
		struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
		int pr;
		while ((pr = poll(&pfd, 1, timeout_ms)) < 0 && errno == EINTR)
			;
		if (pr < 0)
			return st_err_sys(err, ST_EX_IOERR, "%s: poll", r->name);
		if (pr == 0)
			return 0;
	}
	ssize_t n;
	while ((n = read(r->fd, r->buf + r->end, room)) < 0 && errno == EINTR)
		;
	if (n < 0)
		return st_err_sys(err, ST_EX_IOERR, "%s: read error", r->name);
	if (n == 0)
		r->eof = true;
	r->end += (size_t)n;
	return 1;
}

/*
 * Takes the next line out of the buffer. Returns 1 with *line (NUL-terminated
 * in place), 0 when no whole line is buffered (or, at the end, none is left),
 * or -1 for a line past ST_LINE_MAX, counted and dropped.
 */
static int take_line(struct st_reader *r, char **line, size_t *len, struct st_err *err)
{
	for (;;) {
		char *p = r->buf + r->start;
		size_t have = r->end - r->start;
		char *nl = memchr(p + r->scanned, '\n', have - r->scanned);
		if (!nl) {
			r->scanned = have;
			if (have > ST_LINE_MAX) { /* drop what we have; the rest follows */
				r->overlong = true;
				r->start = r->end = r->scanned = 0;
				return 0;
			}
			if (!r->eof || !have)
				return 0;
			nl = p + have; /* a last line without its newline */
			r->end++;
			r->buf[r->end - 1] = '\n';
		}
		size_t n = (size_t)(nl - p);
		*nl = '\0';
		r->start += n + 1;
		r->scanned = 0;
		if (r->overlong || n > ST_LINE_MAX) {
			r->overlong = false;
			r->lineno++;
			return st_err_set(err, ST_EX_DATAERR, "%s:%lu: line longer than %d bytes", r->name,
			                  r->lineno, ST_LINE_MAX);
		}
		r->lineno++;
		*line = p;
		*len = n;
		return 1;
	}
}

static bool whole_line_buffered(const struct st_reader *r)
{
	return memchr(r->buf + r->start, '\n', r->end - r->start) != NULL;
}

int st_reader_batch(struct st_reader *r, struct st_err *err)
{
	r->batch = true;
	while (!whole_line_buffered(r) && !r->eof && r->end - r->start <= ST_LINE_MAX)
		if (fill(r, -1, err) < 0)
			return -1;
	if (r->eof && r->start == r->end && !r->overlong)
		return 0;
	int64_t t0 = st_monotonic_ms();
	for (;;) {
		if (r->eof)
			return 1;
		if (r->end - r->start >= BATCH_BYTES)
			return 2; /* full without a pause: the input is flowing */
		int64_t left = BATCH_MS - (st_monotonic_ms() - t0);
		if (left <= 0)
			break;
		int rc = fill(r, (int)(left < BATCH_IDLE_MS ? left : BATCH_IDLE_MS), err);
		if (rc < 0)
			return -1;
		if (rc == 0)
			break; /* idle: commit what came */
	}
	return 1;
}

int st_reader_line_within(struct st_reader *r, int ms, struct st_err *err)
{
	int64_t t0 = st_monotonic_ms();
	while (!r->eof && !whole_line_buffered(r) && r->end - r->start <= ST_LINE_MAX) {
		int64_t left = ms - (st_monotonic_ms() - t0);
		if (left <= 0)
			return 0;
		int rc = fill(r, (int)left, err);
		if (rc <= 0)
			return rc;
	}
	return 1;
}

void st_record_clear(struct st_record *rec)
{
	json_decref(rec->json_);
	rec->json_ = NULL;
	rec->nfields = 0;
}

static int record_endpoint(struct st_record *rec, const char *text, size_t len, struct st_err *err)
{
	char id[ST_NODE_ID_MAX + 1];
	if (len >= sizeof rec->endpoint_text)
		return st_err_set(err, ST_EX_DATAERR, "endpoint too long");
	memcpy(rec->endpoint_text, text, len);
	rec->endpoint_text[len] = '\0';
	if (st_endpoint_parse_id(&rec->endpoint, id, sizeof id, text, len, err) < 0)
		return -1;
	if (id[0])
		st_strlcpy(rec->node_id, id, sizeof rec->node_id);
	return 0;
}

static bool blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

int st_record_parse(struct st_record *rec, char *line, size_t len, struct st_err *err)
{
	st_record_clear(rec);
	rec->no_endpoint = false;
	rec->node_id[0] = '\0';
	rec->endpoint_text[0] = '\0';
	memset(&rec->endpoint, 0, sizeof rec->endpoint);
	if (memchr(line, '\0', len))
		return st_err_set(err, ST_EX_DATAERR, "NUL byte in line");
	while (len && (line[len - 1] == '\r' || line[len - 1] == ' '))
		line[--len] = '\0';
	while (len && line[0] == ' ') {
		line++;
		len--;
	}
	if (len == 0)
		return st_err_set(err, ST_EX_DATAERR, "empty line");
	if (line[0] == '{') {
		rec->fmt = ST_FMT_JSON;
		json_error_t jerr;
		json_t *obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
		if (!obj)
			return st_err_set(err, ST_EX_DATAERR, "bad json at column %d: %s", jerr.column,
			                  jerr.text);
		rec->json_ = obj;
		if (!json_is_object(obj))
			return st_err_set(err, ST_EX_DATAERR, "json record is not an object");
		json_t *ep = json_object_get(obj, "endpoint");
		if (!ep)
			return st_err_set(err, ST_EX_DATAERR, "json record has no \"endpoint\"");
		if (json_is_null(ep)) {
			rec->no_endpoint = true;
		} else if (!json_is_string(ep))
			return st_err_set(err, ST_EX_DATAERR, "json \"endpoint\" is not a string");
		else if (record_endpoint(rec, json_string_value(ep), json_string_length(ep), err) < 0)
			return -1;
		json_t *id = json_object_get(obj, "node_id");
		if (!rec->node_id[0] && json_is_string(id)) {
			if (json_string_length(id) > ST_NODE_ID_MAX)
				return st_err_set(err, ST_EX_DATAERR, "node_id longer than %d bytes",
				                  ST_NODE_ID_MAX);
			if (!st_node_id_valid(json_string_value(id), json_string_length(id)))
				return st_err_set(err, ST_EX_DATAERR, "bad node_id (A-Z a-z 0-9 . _ - only)");
			st_strlcpy(rec->node_id, json_string_value(id), sizeof rec->node_id);
		}
		return 0;
	}
	/* tsv splits on tabs; a text line (our programs' text output) on runs of blanks */
	rec->fmt = memchr(line, '\t', len) ? ST_FMT_TSV : ST_FMT_TEXT;
	const char *seps = rec->fmt == ST_FMT_TSV ? "\t" : " ";
	rec->nfields = 0;
	char *p = line;
	for (;;) {
		if (rec->nfields == ST_RECORD_FIELDS_MAX)
			return st_err_set(err, ST_EX_DATAERR, "more than %d fields",
			                  ST_RECORD_FIELDS_MAX);
		rec->fields[rec->nfields++] = p;
		char *sep = strpbrk(p, seps);
		if (!sep)
			break;
		*sep++ = '\0';
		if (rec->fmt == ST_FMT_TEXT)
			sep += strspn(sep, " ");
		p = sep;
	}
	size_t col = 0;
	if (rec->fmt == ST_FMT_TSV && rec->cols_) {
		for (col = 0; col < rec->ncols_ && strcmp(rec->cols_[col], "endpoint") != 0; col++)
			;
		if (col == rec->ncols_)
			return st_err_set(err, ST_EX_DATAERR, "the tsv header names no endpoint column");
		if (col >= rec->nfields)
			return st_err_set(err, ST_EX_DATAERR, "no endpoint column (%zu of %zu columns)",
			                  rec->nfields, rec->ncols_);
	}
	if (strcmp(rec->fields[col], "-") == 0) {
		rec->no_endpoint = true;
		return 0;
	}
	return record_endpoint(rec, rec->fields[col], strlen(rec->fields[col]), err);
}

const char *st_record_get(const struct st_record *rec, const char *key)
{
	if (rec->fmt == ST_FMT_JSON) {
		json_t *v = json_object_get(rec->json_, key);
		if (!v || json_is_null(v))
			return NULL;
		if (json_is_string(v))
			return json_string_value(v);
		/* numbers and booleans as text, kept alive in the object under a hidden key */
		char b[64];
		if (json_is_true(v))
			return "true";
		if (json_is_false(v))
			return "false";
		if (json_is_integer(v))
			snprintf(b, sizeof b, "%lld", (long long)json_integer_value(v));
		else if (json_is_real(v))
			snprintf(b, sizeof b, "%.17g", json_real_value(v));
		else
			return NULL;
		char hidden[300];
		snprintf(hidden, sizeof hidden, "\x01%s", key);
		json_t *s = json_string(b);
		if (!s || json_object_set_new((json_t *)rec->json_, hidden, s) != 0)
			return NULL;
		return json_string_value(s);
	}
	if (rec->fmt != ST_FMT_TSV)
		return NULL;
	size_t col = 0;
	if (rec->cols_) {
		while (col < rec->ncols_ && strcmp(rec->cols_[col], key) != 0)
			col++;
		if (col == rec->ncols_)
			return NULL;
	} else if (strcmp(key, "endpoint") != 0) {
		return NULL; /* without a header only the first column is known */
	}
	if (col >= rec->nfields || strcmp(rec->fields[col], "-") == 0)
		return NULL;
	return rec->fields[col];
}

int st_reader_next(struct st_reader *r, struct st_record *rec, struct st_err *err)
{
	for (;;) {
		char empty[1] = "";
		char *s = empty;
		size_t len = 0;
		int rc = take_line(r, &s, &len, err);
		if (rc < 0)
			return -1;
		if (rc == 0) {
			if (r->batch || (r->eof && r->start == r->end)) {
				st_record_clear(rec); /* the last line's json goes with the stream */
				return 0;
			}
			if (fill(r, -1, err) < 0)
				return -1;
			continue;
		}
		if (blank(s, len))
			continue;
		if (s[strspn(s, " \t")] == '#') {
			tsv_header(r, s, len);
			continue;
		}
		struct st_err lerr = {0};
		rec->cols_ = r->ncols ? r->cols : NULL;
		rec->ncols_ = r->ncols;
		rc = st_record_parse(rec, s, len, &lerr);
		rec->lineno = r->lineno;
		if (rc < 0)
			return st_err_set(err, lerr.code, "%s:%lu: %s", r->name, r->lineno, lerr.msg);
		return 1;
	}
}
