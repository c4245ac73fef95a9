/* err.c - filling in struct st_err. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "st/err.h"

int st_err_set(struct st_err *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
		err->code = code;
	}
	return -1;
}

int st_err_sys(struct st_err *err, int code, const char *fmt, ...)
{
	int saved = errno;
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < sizeof err->msg)
			snprintf(err->msg + n, sizeof err->msg - (size_t)n, ": %s", strerror(saved));
		err->code = code;
	}
	errno = saved;
	return -1;
}

int st_err_prefix(struct st_err *err, const char *fmt, ...)
{
	if (!err)
		return -1;
	char old[ST_ERR_MSG_MAX];
	memcpy(old, err->msg, sizeof old);
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof err->msg)
		snprintf(err->msg + n, sizeof err->msg - (size_t)n, ": %s", old);
	if (err->code == 0)
		err->code = 70;
	return -1;
}

void st_err_clear(struct st_err *err)
{
	if (err) {
		err->code = 0;
		err->msg[0] = '\0';
	}
}
