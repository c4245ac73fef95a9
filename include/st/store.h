/* store.h - the flat-file table engine: lock, snapshot, journal, compaction, repair. */
#ifndef ST_STORE_H
#define ST_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "st/config.h"
#include "st/err.h"

/*
 * A table NAME in a data directory is three files:
 *   NAME.tsv      the snapshot: a header line "#st NAME VERSION gen GEN", then
 *                 one text line per record (the caller's format, no tabs rules)
 *   NAME.journal  changes since that snapshot: a header "#st-journal NAME VERSION
 *                 gen GEN", then one line per change: PAYLOAD TAB '#' CRC32C-hex8
 *   NAME.lock     flock(2) target: shared for readers, exclusive for writers
 * A journal whose gen differs from the snapshot's was already folded in (a crash
 * between the snapshot's rename and the journal's reset) and is ignored. A torn
 * last journal line (no newline, or a checksum that does not match) is a crash
 * artefact: it is discarded, counted in st_store_torn, and cut off at the next
 * append. A bad line anywhere else is corruption: an error naming FILE:LINE,
 * and nothing is overwritten; st_store_repair moves the damaged file aside.
 * Files are created 0600; the directory 0700.
 */
struct st_store;

enum st_store_flags {
	ST_STORE_READ = 0,    /* shared lock; a missing table reads as empty */
	ST_STORE_WRITE = 1,   /* exclusive lock; creates the files when missing */
	ST_STORE_NOWAIT = 2,  /* fail with ST_EX_TEMPFAIL instead of waiting for the lock */
	ST_STORE_NOLOAD = 4,  /* take the lock only: for a repair of files that do not load */
};

/* Creates dir (and parents) with mode 0700 when missing. Returns 0 or -1. */
int st_datadir_prepare(const char *dir, struct st_err *err);

/*
 * Opens table name (e.g. "addrbook") of format version `version` in dir and
 * takes its lock. A snapshot of another name or a newer version is an error.
 * Returns 0 with *out set, or -1.
 */
int st_store_open(struct st_store **out, const char *dir, const char *name, unsigned version,
                  unsigned flags, struct st_err *err);
/*
 * The same, waiting for the lock as wait says (NULL: for ever, told nobody):
 * past wait->ms it fails with ST_EX_TEMPFAIL naming the holder ("the addrbook
 * table is in use (held by pid 4242, st-addrbook add)"), and a wait past a
 * second is told once to wait->notice. A reader creates nothing: a missing
 * data dir is ST_EX_NOINPUT, a missing table reads as empty.
 */
int st_store_open_wait(struct st_store **out, const char *dir, const char *name,
                       unsigned version, unsigned flags, const struct st_lock_wait *wait,
                       struct st_err *err);

/*
 * For a store opened ST_STORE_READ: releases the lock and keeps a consistent
 * view, the snapshot mapped and the journal as it was, so that a reader that
 * goes on to write to a pipe or wait on a peer holds up no writer. Reading
 * goes on as before. Returns 0, or -1 for a writer (its changes need the lock).
 */
int st_store_unlock(struct st_store *s, struct st_err *err);

/* Flushes nothing, releases the lock and frees. Safe with NULL. */
void st_store_close(struct st_store *s);

/* Called once per record line (no newline) with its 1-based line number in its
 * file; a non-zero return stops the walk and is returned. */
typedef int (*st_store_line_fn)(void *ctx, const char *line, size_t len, unsigned long lineno,
                                struct st_err *err);

/*
 * The snapshot's record lines, mapped read-only (mmap): body/len exclude the
 * header; *first_lineno is the line number of body's first line. Valid until
 * st_store_close or a rewrite. An empty or missing snapshot gives len 0.
 * Returns 0 or -1 (a bad header is an error naming FILE:1).
 */
int st_store_snapshot(struct st_store *s, const char **body, size_t *len,
                      unsigned long *first_lineno, struct st_err *err);

/* The number of the snapshot's record lines (a last one without its newline too),
 * counted without keeping the file's pages in the process. */
size_t st_store_snapshot_lines(struct st_store *s);

/*
 * Gives back the pages of the snapshot's mapping a caller has read (they are read again
 * from the page cache when touched): a pass over a large snapshot before
 * st_store_read_snapshot does not keep the whole file in the process. Changes nothing
 * st_store_snapshot's body holds.
 */
void st_store_snapshot_release(struct st_store *s);

/*
 * The mapped snapshot's modification time in nanoseconds (0 for none): a derived file
 * (an index) names it in its seal, so that a snapshot edited by hand, even to the same
 * length, makes the index stale rather than trusted.
 */
uint64_t st_store_snapshot_stamp(const struct st_store *s);

/* Walks the snapshot's record lines. Returns 0, -1 or the callback's value. */
int st_store_read_snapshot(struct st_store *s, st_store_line_fn fn, void *ctx,
                           struct st_err *err);

/* Walks the journal's payloads in order (checksums verified, torn tail dropped). */
int st_store_read_journal(struct st_store *s, st_store_line_fn fn, void *ctx,
                          struct st_err *err);

/* How many torn journal lines the last read discarded (0 or 1). */
unsigned st_store_torn(const struct st_store *s);

/*
 * Appends one change to the journal (buffered; payload must not contain '\n').
 * st_store_sync writes what is buffered and fdatasyncs: a change is durable once
 * st_store_sync returns 0. Needs ST_STORE_WRITE.
 */
int st_store_append(struct st_store *s, const char *payload, size_t len, struct st_err *err);
int st_store_sync(struct st_store *s, struct st_err *err);

/*
 * Undoes what this open appended to the journal, committed or not, back to
 * where it began (or to the last rewrite_commit, whose snapshot holds the
 * rest): for a writer whose run fails after a sync, so that the failed command
 * counts for nothing and a retry is safe. Returns 0 or -1.
 */
int st_store_rollback(struct st_store *s, struct st_err *err);

/* Sizes in bytes, for the caller's compaction policy and statistics. */
uint64_t st_store_snapshot_bytes(const struct st_store *s);
uint64_t st_store_journal_bytes(const struct st_store *s);
/* True when the journal has grown past 64 KiB and past 1/8 of the snapshot or
 * 1 MiB, whichever is less. */
bool st_store_wants_compaction(const struct st_store *s);
/* The format version named in the snapshot's header; 0 when there is none. */
unsigned st_store_snapshot_version(const struct st_store *s);

/*
 * Replacing the snapshot: begin opens NAME.tsv.tmp (0600) with a new header and
 * gen+1; the caller writes every record line; commit fsyncs it, renames it
 * over NAME.tsv, fsyncs the directory, then resets the journal to the new gen.
 * abort removes the temporary file. A crash at any point leaves the old
 * snapshot and journal, or the new snapshot (with an old-gen journal ignored).
 */
struct st_store_writer;
int st_store_rewrite_begin(struct st_store *s, struct st_store_writer **w, struct st_err *err);
int st_store_writer_line(struct st_store_writer *w, const char *line, size_t len,
                         struct st_err *err);
/* Bytes of record lines written so far: the offset, from the body's start, at
 * which the next line lands (see st_store_snapshot). */
uint64_t st_store_writer_offset(const struct st_store_writer *w);
/* Writes out and fsyncs what was written so far, so that a commit after it
 * only renames (a full disk shows here, before the caller commits elsewhere).
 * Returns 0 or -1; abort the writer then. */
int st_store_writer_flush(struct st_store_writer *w, struct st_err *err);
int st_store_rewrite_commit(struct st_store_writer *w, struct st_err *err);
void st_store_rewrite_abort(struct st_store_writer *w);

/*
 * An auxiliary file of the table (a derived index: "addrbook.rank"), written
 * atomically by the same temp + fsync + rename + fsync(dir) sequence, with a
 * header naming the snapshot gen it was built from. st_store_aux_map maps it
 * read-only and returns 1 when it exists and matches the current gen, 0 when it
 * is missing or stale (the caller rebuilds or falls back), -1 on error.
 */
int st_store_aux_begin(struct st_store *s, const char *suffix, struct st_store_writer **w,
                       struct st_err *err);
int st_store_aux_map(struct st_store *s, const char *suffix, const char **body, size_t *len,
                     struct st_err *err);

/* st_store_snapshot_release for the auxiliary file SUFFIX, when it is mapped. */
void st_store_aux_release(struct st_store *s, const char *suffix);

/*
 * Repair: moves NAME.tsv and NAME.journal aside to NAME.tsv.bak and
 * NAME.journal.bak (replacing older .bak files), after the caller has read what
 * it could; the caller then writes a fresh snapshot with rewrite_begin/commit.
 * Needs ST_STORE_WRITE.
 */
int st_store_move_aside(struct st_store *s, struct st_err *err);

/* The path of a file of the table ("DIR/NAME.tsv"), for messages. */
const char *st_store_path(const struct st_store *s);

/*
 * Parses a whole snapshot image from memory as the loader does (header and
 * lines), for the fuzz target and tests. Returns 0 or -1.
 */
int st_store_parse_image(const char *name, unsigned version, const char *data, size_t len,
                         st_store_line_fn fn, void *ctx, struct st_err *err);

#endif
