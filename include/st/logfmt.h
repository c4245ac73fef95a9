/* logfmt.h - one log line of key=value fields, as journald, grep and logfmt readers take it. */
#ifndef ST_LOGFMT_H
#define ST_LOGFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest line; a field that would not fit is left out and the line ends
 * with truncated=true. */
#define ST_KV_LINE_MAX 2048

enum st_log_level {
	ST_LOG_ERROR,
	ST_LOG_WARN,
	ST_LOG_INFO,
	ST_LOG_DEBUG,
};

/* A line being built: "level=info event=session peer=127.0.0.1:5001 ...". */
struct st_kv {
	enum st_log_level level;
	char s[ST_KV_LINE_MAX];
	size_t len;
	bool cut;                 /* a field was left out */
};

/* "error", "warn", "info", "debug". */
const char *st_log_level_name(enum st_log_level level);

/* Starts a line with level= and event= (event: our own word, [a-z_-]). */
void st_kv_begin(struct st_kv *kv, enum st_log_level level, const char *event);

/*
 * Adds key=value. value NULL leaves the field out. A value that is empty or
 * holds a space, '=', '"', '\' or a byte outside printable ASCII is written in
 * double quotes, with '"' and '\' backslashed and every control or non-ASCII
 * byte as \xHH: text from a peer can never put a control character on the
 * terminal or in the journal, nor forge a field or a second line.
 */
void st_kv_str(struct st_kv *kv, const char *key, const char *value);
void st_kv_int(struct st_kv *kv, const char *key, long long v);
void st_kv_uint(struct st_kv *kv, const char *key, unsigned long long v);
void st_kv_bool(struct st_kv *kv, const char *key, bool v);

/* The finished line, without a newline (truncated=true appended when cut). */
const char *st_kv_line(struct st_kv *kv);

#endif
