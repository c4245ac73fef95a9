/* prom_int.h - the Prometheus text writer behind the printer's -o prom (record.c). */
#ifndef ST_PROM_INT_H
#define ST_PROM_INT_H

#include <jansson.h>
#include <stdio.h>

#include "st/record.h"

/* Writes the sample of one stat record (obj: metric, key, value), preceded by
 * # HELP / # TYPE when its family differs from last (which it updates).
 * Returns 0, or -1 when the record has no metric or numeric value, or on a
 * write error. */
int st_prom_sample(FILE *out, const char *prefix, const struct st_prom_metric *table, char *last,
                   size_t last_size, const json_t *obj);

#endif
