/* util.h - small pieces every module needs: bounded buffers, numbers, durations, time. */
#ifndef ST_UTIL_H
#define ST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "st/err.h"

#define ST_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* The longest input line any program reads (records, seed lists, stored files). */
#define ST_LINE_MAX (64 * 1024)

/*
 * A growable byte buffer with a ceiling (curl's dynbuf): appends past `max`
 * fail with ST_EX_DATAERR instead of growing. data is always NUL-terminated
 * when not NULL. One owner: st_buf_clear frees it.
 */
struct st_buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
};

/* Initialises an empty buffer that may grow to at most max bytes. */
void st_buf_init(struct st_buf *b, size_t max);
/* Appends n bytes; returns 0, or -1 when the ceiling or memory runs out. */
int st_buf_append(struct st_buf *b, const void *p, size_t n, struct st_err *err);
/* Makes room for n more bytes (data[len..cap-1)) without appending: for a caller
 * that knows the size to come, or reads into the room itself (then adds to len and
 * keeps data[len] a NUL). Returns 0 or -1 as st_buf_append; the ceiling holds. */
int st_buf_reserve(struct st_buf *b, size_t n, struct st_err *err);
/* Appends formatted text; returns 0 or -1 as st_buf_append. */
int st_buf_printf(struct st_buf *b, struct st_err *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Empties the buffer, keeping its memory. */
void st_buf_reset(struct st_buf *b);
/* Frees the memory and leaves an empty buffer with the same ceiling. */
void st_buf_clear(struct st_buf *b);

/*
 * The digits of v in base 10 or 16 (lowercase), written to end at the last byte
 * of buf and NUL-terminated there (size >= 21); returns where they start. For
 * hot output paths that would otherwise spend their time in printf.
 */
char *st_u64_digits(uint64_t v, unsigned base, char *buf, size_t size);

/* Copies at most size-1 bytes and NUL-terminates; returns strlen(src). */
size_t st_strlcpy(char *dst, const char *src, size_t size);

/* Levenshtein distance, for "did you mean"; 99 for words past 63 bytes. */
size_t st_edit_distance(const char *a, const char *b);

/*
 * Bounded conversions. The text must be a whole number (or decimal for
 * st_parse_double) within [min, max]; on failure err says why in the words
 * "'0': too small (1..65536)", "'x': not a number"; callers prefix the option.
 */
int st_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out, struct st_err *err);
int st_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out, struct st_err *err);
int st_parse_double(const char *s, double min, double max, double *out, struct st_err *err);

/*
 * Durations: a number followed by ms, s, m, h, d or w ("90s", "10m", "24h",
 * "30d"); a bare number means seconds. Stored as milliseconds.
 */
int st_parse_duration(const char *s, int64_t min_ms, int64_t max_ms, int64_t *out_ms,
                      struct st_err *err);
/* Formats ms in the largest unit that divides it exactly ("24h", "90s", "1500ms"). */
size_t st_format_duration(int64_t ms, char *buf, size_t size);
/* "3m ago", "in 2h", "never" (t == 0), relative to now; for text output only. */
size_t st_format_age(int64_t t, int64_t now, char *buf, size_t size);

/*
 * The clock every program uses, in Unix seconds. When the environment variable
 * ST_FAKE_NOW holds a number, that number is returned instead: the tests'
 * controllable clock, documented in st(7)/the man pages as a testing aid.
 */
int64_t st_now(void);
/* Monotonic milliseconds, for timeouts and RTT (never faked). */
int64_t st_monotonic_ms(void);

/* A 64-bit hash (keyed, so a peer cannot aim collisions at our tables). */
uint64_t st_hash64(const void *p, size_t n, uint64_t key);

/* CRC-32C of n bytes, continuing from crc (start with 0). */
uint32_t st_crc32c(uint32_t crc, const void *p, size_t n);

/* True when f reads a regular file (reading it never waits on another process). */
bool st_is_regular_file(FILE *f);

/* A C1 control (U+0080..U+009F) in UTF-8 at s: 0xc2 then 0x80..0x9f. A terminal
 * may act on it (0x9b is CSI), so text for people escapes it like C0 controls. */
static inline bool st_is_c1(const char *s)
{
	return (unsigned char)s[0] == 0xc2 && (unsigned char)s[1] >= 0x80 &&
	       (unsigned char)s[1] <= 0x9f;
}
/* Reads f to its end into a new buffer (*out, NUL-terminated, the caller frees);
 * more than max bytes is ST_EX_DATAERR. Returns 0 or -1. */
int st_slurp(FILE *f, size_t max, char **out, size_t *len, struct st_err *err);

/* Reads a line of at most ST_LINE_MAX bytes into b (without the newline).
 * Returns 1 for a line, 0 at end of input, -1 on a read error or an overlong
 * line (the rest of that line is skipped; err says which). */
int st_read_line(FILE *in, struct st_buf *b, struct st_err *err);

#endif
