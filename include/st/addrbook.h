/* addrbook.h - the persistent, endpoint-centric address book (PeerAddressBook). */
#ifndef ST_ADDRBOOK_H
#define ST_ADDRBOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "st/config.h"
#include "st/endpoint.h"
#include "st/err.h"

/* 2: the snapshot is sorted (pinned first, then by endpoint) and indexed by
 * addrbook.rank and addrbook.age; 1 was unsorted and is read the slow way */
#define ST_ADDRBOOK_FORMAT_VERSION 2
#define ST_SOURCE_MAX 256 /* longest source text kept ("seed:URL", "gossip:ID@EP") */

/* One address and what we know of it. Times are Unix seconds, 0 = never. */
struct st_addr_entry {
	struct st_endpoint ep;
	/* the index and the flags share the word after ep: 80 bytes an entry, not
	 * 88, and a book holds every entry in memory */
	uint32_t source : 29;  /* index into the book's source names */
	bool pinned : 1;
	bool deleted : 1;      /* internal: removed in this run */
	bool fresh : 1;        /* internal: added in this run */
	int64_t first_seen, last_seen, last_attempt, last_success;
	uint32_t attempts, successes, failures, consecutive_failures;
	uint64_t source_group; /* netkey of the peer or seed it came from; 0: none */
};
/* The most source names a book interns (st_addr_entry's source field). */
#define ST_ADDR_SOURCES_MAX ((1u << 29) - 1)

/* Why an add did or did not take. */
enum st_addrbook_verdict {
	ST_ADD_ADDED,
	ST_ADD_DUPLICATE,      /* known already: last_seen refreshed */
	ST_ADD_NOT_ROUTABLE,   /* a non-routable class without allow_private */
	ST_ADD_SCOPE,          /* non-routable, learned from a routable source */
	ST_ADD_SUBNET_FULL,
	ST_ADD_SOURCE_FULL,    /* the source group's share is used up */
	ST_ADD_BOOK_FULL,      /* full of addresses we have reached */
};

/* "added", "duplicate", "not-routable", ... */
const char *st_addrbook_verdict_name(enum st_addrbook_verdict v);

struct st_addrbook;

/*
 * Opening with ST_ADDRBOOK_LAZY reads the journal only; an entry is read from
 * the sorted snapshot when an operation needs it (a binary search, or a walk
 * down the rank or age index), so a point change or a best-8 query costs the
 * same in a book of a million as in one of a thousand. An operation that needs
 * every entry reads the rest itself (st_addrbook_load_all): a lazy book answers
 * every call a loaded one does, with the same result.
 */
#define ST_ADDRBOOK_LAZY 0x100

/*
 * Opens the book in cfg->data_dir (ST_STORE_READ or ST_STORE_WRITE, see
 * store.h, optionally | ST_ADDRBOOK_LAZY), loading the snapshot and journal.
 * A damaged file is an error naming FILE:LINE (repair with st_addrbook_fsck).
 * Returns 0 or -1.
 */
int st_addrbook_open(struct st_addrbook **out, const struct st_config *cfg, unsigned flags,
                     struct st_err *err);

/* Makes every change durable (journal sync; compaction when due), then frees.
 * Returns 0 or -1 (the book is freed either way). Safe with NULL. */
int st_addrbook_close(struct st_addrbook *ab, struct st_err *err);
/* Makes every change so far durable (a journal sync, no compaction) and keeps
 * the book open, for a writer that goes on without letting go of its lock. */
int st_addrbook_commit(struct st_addrbook *ab, struct st_err *err);
/* Frees without writing what is not yet synced. */
void st_addrbook_free(struct st_addrbook *ab);

/*
 * Adds one endpoint learned from source ("seed:URL", "dns:NAME",
 * "gossip:ID@EP", "manual"). source_peer, when not NULL, is the peer that told
 * us: its /16 or /32 is the source group, and the scope rule applies. Sets
 * *verdict; evicted (when not NULL) receives an address evicted to make room
 * (port 0 when none). Returns 0, or -1 on an I/O error.
 */
int st_addrbook_add(struct st_addrbook *ab, const struct st_endpoint *ep, const char *source,
                    const struct st_endpoint *source_peer, int64_t now,
                    enum st_addrbook_verdict *verdict, struct st_endpoint *evicted,
                    struct st_err *err);

/* Records a connection result. Returns 1 if applied, 0 for an unknown endpoint, -1. */
int st_addrbook_record(struct st_addrbook *ab, const struct st_endpoint *ep, bool ok,
                       int64_t now, struct st_err *err);

/* Sets last_seen to now. Returns 1, 0 (unknown) or -1. */
int st_addrbook_seen(struct st_addrbook *ab, const struct st_endpoint *ep, int64_t now,
                     struct st_err *err);
/* Removes. Returns 1, 0 (unknown) or -1. */
int st_addrbook_remove(struct st_addrbook *ab, const struct st_endpoint *ep, struct st_err *err);
/* Pins (never evicted or pruned) or unpins. Returns 1, 0 (unknown) or -1. */
int st_addrbook_pin(struct st_addrbook *ab, const struct st_endpoint *ep, bool pinned,
                    struct st_err *err);

/* Selection options for st_addrbook_best. */
struct st_best_opts {
	size_t n;
	const struct st_endpoint *exclude; /* endpoints never returned */
	size_t nexclude;
	bool routable_only;   /* for answering routable requesters (scope rule) */
	bool random;          /* weighted random pick instead of best-first */
	/* for answering GetPeers: addresses we have reached first, so that what we
	 * pass on is what we saw answer; by base chance, no penalty for a recent try */
	bool share;
	uint64_t seed;        /* for random */
	/* When set: a true answer leaves the endpoint out, as if it were not in the
	 * book (st-addrbook best skips banned endpoints). */
	bool (*skip)(void *ctx, const struct st_endpoint *ep);
	void *skip_ctx;
};

/*
 * The addresses to try next: best chance first (quality x 0.66^min(failures,8),
 * x0.01 within 10 minutes of the last attempt), spread over distinct /16 or /32
 * groups before a second from any group. out holds up to opts->n entry
 * pointers, valid until the book changes. Returns the count, or -1.
 */
long st_addrbook_best(struct st_addrbook *ab, const struct st_best_opts *opts, int64_t now,
                      const struct st_addr_entry **out, struct st_err *err);

/* The quality of an entry: (successes + 1) / (successes + failures + 2). */
double st_addr_quality(const struct st_addr_entry *e);
/* The selection chance of an entry at time now (see st_addrbook_best). */
double st_addr_chance(const struct st_addr_entry *e, int64_t now);
/* True when an entry is terrible by Bitcoin's rules (prune --terrible). */
bool st_addr_terrible(const struct st_addr_entry *e, int64_t now);

#define ST_STATS_TOP 10

/* What `st-addrbook stats` shows. */
struct st_addrbook_stats {
	size_t total, ipv4, ipv6, tried, new_, pinned;
	size_t by_class[ST_CLASS__COUNT];
	size_t quality[10];                 /* entries with quality in [i/10, (i+1)/10) */
	struct { const char *name; size_t count; } sources[ST_STATS_TOP]; /* most frequent */
	size_t nsources;
	struct { uint64_t key; size_t count; } subnets[ST_STATS_TOP];     /* most crowded */
	size_t nsubnets;
};

/* Fills st from the book (names point into the book). Returns 0 or -1. */
int st_addrbook_stats(struct st_addrbook *ab, struct st_addrbook_stats *st, struct st_err *err);

/* Looks an endpoint up; NULL when unknown (or on a read error of a lazy book,
 * which st_addrbook_record and friends report). */
const struct st_addr_entry *st_addrbook_get(struct st_addrbook *ab, const struct st_endpoint *ep);

/* Writes a new snapshot and its indexes now, folding the journal in (a lazy
 * book reads everything first). Needs ST_STORE_WRITE. Returns 0 or -1. */
int st_addrbook_compact(struct st_addrbook *ab, struct st_err *err);

/* Reads every entry of a lazily opened book (no-op for a loaded one). Entry
 * pointers taken before are invalid afterwards. Returns 0 or -1. */
int st_addrbook_load_all(struct st_addrbook *ab, struct st_err *err);

/*
 * Makes every entry last seen before `before` (and maybe others) visible to
 * st_addrbook_entry: a lazy book reads them through its age index. Entry
 * pointers taken before may be invalid afterwards. Returns 0 or -1.
 */
int st_addrbook_gather_stale(struct st_addrbook *ab, int64_t before, struct st_err *err);

/* Called once per live entry in book order; a non-zero return stops the scan. */
typedef int (*st_addr_visit_fn)(void *ctx, const struct st_addr_entry *e, const char *source);

/*
 * Every live entry in book order: pinned ones first, then by endpoint. A lazy
 * book streams its snapshot (merged with the journal) without holding it in
 * memory. Returns 0, -1, or the callback's value.
 */
int st_addrbook_scan(struct st_addrbook *ab, st_addr_visit_fn fn, void *ctx, struct st_err *err);
/* The source text of an entry. */
const char *st_addrbook_source(const struct st_addrbook *ab, const struct st_addr_entry *e);

/* Walks the entries in memory (deleted ones skipped), in no particular order:
 * the whole book unless it was opened lazily and not loaded since. */
size_t st_addrbook_count(const struct st_addrbook *ab);
const struct st_addr_entry *st_addrbook_entry(const struct st_addrbook *ab, size_t i);
size_t st_addrbook_slots(const struct st_addrbook *ab);

/* Copies an entry's counters in from an import (merging with what is known). */
int st_addrbook_import_entry(struct st_addrbook *ab, const struct st_addr_entry *in,
                             const char *source, struct st_err *err);

/* Formats an entry as the stored tsv line (also the export format). */
size_t st_addr_entry_format(const struct st_addrbook *ab, const struct st_addr_entry *e,
                            char *buf, size_t size);
/* The same with the source text given (entries from st_addrbook_scan). */
size_t st_addr_entry_format_source(const struct st_addr_entry *e, const char *source, char *buf,
                                   size_t size);
/* Parses a stored/exported line; source text is copied to source. Returns 0 or -1. */
int st_addr_entry_parse(struct st_addr_entry *e, char *source, size_t source_size,
                        const char *line, size_t len, struct st_err *err);

/* Where an import reports an item it skipped: where ("'book.json' item 3") and
 * why, naming the field and the value ("LastSeen: bad time '2024-13-01'"). */
struct st_addrbook_import_sink {
	void (*reject)(void *ctx, const char *where, const char *why);
	void *ctx;
	/* after each item, when set: items done of total, so far added and rejected */
	void (*progress)(void *ctx, size_t done, size_t total, size_t added, size_t rejected);
};

/*
 * Imports the reference node's JSON address book read from f (name is for
 * messages): an array of objects with Address and Port, and optionally
 * FirstSeen, LastSeen, LastAttempt, SuccessCount, FailureCount and Source,
 * names in any case (PascalCase, camelCase); times are ISO 8601 (see
 * st_parse_iso8601), Unix seconds, or null for unknown. An item that cannot
 * be taken is reported to sink (may be NULL) and counted in *rejected.
 * Returns 0, or -1 when the file as a whole is not such JSON (65) or unreadable (74).
 */
int st_addrbook_import_reference(struct st_addrbook *ab, FILE *f, const char *name,
                                 const struct st_addrbook_import_sink *sink, size_t *added,
                                 size_t *rejected, struct st_err *err);

/* Parses "2024-05-01T12:34:56.1234567+02:00" to Unix seconds: fractional seconds of
 * any length (dropped), an offset Z, +HH:MM, +HHMM or +HH, or none (UTC); year 1
 * (.NET's DateTime.MinValue) and times before 1970 give 0. Returns 0 or -1. */
int st_parse_iso8601(const char *s, int64_t *out);

/*
 * Checks the book's files. Without repair: 0 when clean, -1 with err naming the
 * first damage. With repair: moves damaged files aside (.bak) and rewrites the
 * book from every readable entry (returns 1), or rebuilds missing, stale or
 * damaged indexes of a healthy book (returns 2), or finds nothing to do (0);
 * -1 when it cannot. *kept and *lost count entries.
 */
int st_addrbook_fsck(const struct st_config *cfg, bool repair, size_t *kept, size_t *lost,
                     struct st_err *err);

#endif
