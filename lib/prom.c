/*
 * prom.c - Prometheus text exposition (format 0.0.4) of stat records, for
 * node_exporter's textfile collector and anything else that scrapes it:
 *
 *   # HELP st_addrbook_addresses_by_family addresses by IP family
 *   # TYPE st_addrbook_addresses_by_family gauge
 *   st_addrbook_addresses_by_family{family="ipv4"} 812
 *
 * Every stat is a gauge: a count of what the book holds now, not a counter
 * since start.
 */
#include <stdbool.h>
#include <string.h>

#include "prom_int.h"
#include "st/util.h"

/* A metric name: [a-zA-Z_][a-zA-Z0-9_]*; anything else becomes '_'. */
static void name_of(const char *prefix, const char *rest, char *out, size_t size)
{
	snprintf(out, size, "%s_%s", prefix, rest);
	for (char *c = out; *c; c++) {
		bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '_' ||
		          (c != out && *c >= '0' && *c <= '9');
		if (!ok)
			*c = '_';
	}
}

/* A label value or HELP text: backslash, newline (and in a label, '"') escaped;
 * other control bytes, which a source name from outside could hold, as '?'. */
static void put_escaped(FILE *out, const char *s, bool quote)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '\\')
			fputs("\\\\", out);
		else if (c == '\n')
			fputs("\\n", out);
		else if (c == '"' && quote)
			fputs("\\\"", out);
		else if (c < 0x20 || c == 0x7f)
			fputc('?', out);
		else
			fputc(c, out);
	}
}

int st_prom_sample(FILE *out, const char *prefix, const struct st_prom_metric *table, char *last,
                   size_t last_size, const json_t *obj)
{
	const char *metric = json_string_value(json_object_get(obj, "metric"));
	const char *key = json_string_value(json_object_get(obj, "key"));
	const json_t *value = json_object_get(obj, "value");
	if (!metric || !json_is_number(value))
		return -1;
	const struct st_prom_metric *m = NULL;
	for (const struct st_prom_metric *t = table; t && t->metric; t++)
		if (strcmp(t->metric, metric) == 0)
			m = t;
	char name[ST_PROM_NAME_MAX];
	name_of(prefix, m ? m->name : metric, name, sizeof name);
	const char *label = m ? m->label : "key";
	if (strcmp(name, last) != 0) {
		fprintf(out, "# HELP %s ", name);
		put_escaped(out, m && m->help ? m->help : metric, false);
		fprintf(out, "\n# TYPE %s gauge\n", name);
		st_strlcpy(last, name, last_size);
	}
	fputs(name, out);
	if (label && key) {
		fprintf(out, "{%s=\"", label);
		put_escaped(out, key, true);
		fputs("\"}", out);
	}
	if (json_is_integer(value))
		fprintf(out, " %lld\n", (long long)json_integer_value(value));
	else
		fprintf(out, " %.17g\n", json_real_value(value));
	return ferror(out) ? -1 : 0;
}
