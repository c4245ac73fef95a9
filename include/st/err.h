/* err.h - error values shared by every libst function, and the exit codes. */
#ifndef ST_ERR_H
#define ST_ERR_H

#include <stddef.h>

/* Exit status, the same for every program (DESIGN.md). */
enum st_exit {
	ST_EX_OK = 0,
	ST_EX_NO = 1,           /* a negative answer a script asked for */
	ST_EX_USAGE = 2,
	ST_EX_DATAERR = 65,     /* bad input data */
	ST_EX_NOINPUT = 66,     /* missing input */
	ST_EX_UNAVAILABLE = 69, /* every dial or seed failed */
	ST_EX_SOFTWARE = 70,    /* internal error */
	ST_EX_CANTCREAT = 73,   /* cannot create output */
	ST_EX_IOERR = 74,
	ST_EX_TEMPFAIL = 75,    /* temporary failure, retry */
};

#define ST_ERR_MSG_MAX 512

/*
 * Where a library function leaves the reason it failed. Functions that can fail
 * take a `struct st_err *` as their last parameter (it may be NULL), return 0 or
 * a non-negative count on success and -1 on failure, and on failure fill in
 * `code` (an enum st_exit value the program may exit with) and `msg` (lowercase,
 * no trailing period, no program name: "'book.tsv' line 12: bad port '99999'").
 */
struct st_err {
	int code;
	char msg[ST_ERR_MSG_MAX];
};

/* Sets err (if not NULL) and returns -1. */
int st_err_set(struct st_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* As st_err_set, appending ": " and strerror(errno) (errno is read first). */
int st_err_sys(struct st_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Puts a context in front of the message already in err: "CONTEXT: old". Returns -1. */
int st_err_prefix(struct st_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Resets err to code 0 and an empty message. */
void st_err_clear(struct st_err *err);

#endif
