/* schema.h - every record kind of the record stream, declared once: key, type, tsv column. */
#ifndef ST_SCHEMA_H
#define ST_SCHEMA_H

#include <stddef.h>

enum st_field_type {
	ST_FIELD_STR,
	ST_FIELD_INT,
	ST_FIELD_DOUBLE,
	ST_FIELD_BOOL,
	ST_FIELD_TIME,     /* Unix seconds; 0 / null: never */
	ST_FIELD_ENDPOINT, /* ADDR:PORT, [V6]:PORT */
};

/* One field: its key (json) and column name (tsv); its tsv column is its index. */
struct st_field {
	const char *key;
	enum st_field_type type;
};

/*
 * A record kind. A printer given a schema (st_printer_schema) opens tsv output
 * with a "#key<TAB>key..." line and checks that every record gives exactly
 * these fields in this order; a reader finds the fields of tsv input by that
 * line's names, of json by key. st-files(5) lists every kind.
 */
struct st_schema {
	const char *kind;               /* "address", "dial", ... */
	const struct st_field *fields;
	size_t nfields;
};

extern const struct st_schema st_schema_address;  /* st-addrbook list, best, prune */
extern const struct st_schema st_schema_dial;     /* st-connect */
extern const struct st_schema st_schema_gossip;   /* st-connect --getpeers, st-seed fetch/dns */
extern const struct st_schema st_schema_inbound;  /* st-listen */
extern const struct st_schema st_schema_peer;     /* st-peers list, best, show, add */
extern const struct st_schema st_schema_ban;      /* st-peers bans, ban, check -v */
extern const struct st_schema st_schema_change;   /* st-peers ingest, success, failure, ... */
extern const struct st_schema st_schema_seed;     /* st-seed refresh: one outcome per seed */
extern const struct st_schema st_schema_stat;     /* st-addrbook stats */
extern const struct st_schema st_schema_crawl;    /* st-crawl: one record per node dialed */
extern const struct st_schema st_schema_uptime;   /* st-crawl dump: reliability per node */
extern const struct st_schema st_schema_summary;  /* st-crawl: the summary of a run */

/* The index of key in s, or -1. */
int st_schema_find(const struct st_schema *s, const char *key);

#endif
