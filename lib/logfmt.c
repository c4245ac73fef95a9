/* logfmt.c - key=value log lines (logfmt.h); builds text, prints nothing. */
#include <stdio.h>
#include <string.h>

#include "st/logfmt.h"

/* Room kept for " truncated=true" and the NUL. */
#define TAIL 24

const char *st_log_level_name(enum st_log_level level)
{
	switch (level) {
	case ST_LOG_ERROR:
		return "error";
	case ST_LOG_WARN:
		return "warn";
	case ST_LOG_INFO:
		return "info";
	case ST_LOG_DEBUG:
		return "debug";
	}
	return "info";
}

static bool plain(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '=' && c != '"' && c != '\\';
}

/* Appends n bytes when they fit before the tail; else marks the line cut. */
static bool put(struct st_kv *kv, const char *p, size_t n)
{
	if (kv->len + n + TAIL > sizeof kv->s) {
		kv->cut = true;
		return false;
	}
	memcpy(kv->s + kv->len, p, n);
	kv->len += n;
	kv->s[kv->len] = '\0';
	return true;
}

void st_kv_begin(struct st_kv *kv, enum st_log_level level, const char *event)
{
	kv->level = level;
	kv->len = 0;
	kv->cut = false;
	kv->s[0] = '\0';
	st_kv_str(kv, "level", st_log_level_name(level));
	st_kv_str(kv, "event", event);
}

void st_kv_str(struct st_kv *kv, const char *key, const char *value)
{
	if (!value)
		return;
	/* the field is built aside, so one that does not fit is left out whole */
	char f[ST_KV_LINE_MAX];
	size_t n = 0;
	bool quote = !*value;
	for (const unsigned char *c = (const unsigned char *)value; *c && !quote; c++)
		quote = !plain(*c);
	n += (size_t)snprintf(f, sizeof f, "%s%s=%s", kv->len ? " " : "", key, quote ? "\"" : "");
	for (const unsigned char *c = (const unsigned char *)value; *c && n + 6 < sizeof f; c++) {
		if (!quote || (*c >= 0x20 && *c < 0x7f && *c != '"' && *c != '\\'))
			f[n++] = (char)*c;
		else if (*c == '"' || *c == '\\')
			n += (size_t)snprintf(f + n, sizeof f - n, "\\%c", *c);
		else
			n += (size_t)snprintf(f + n, sizeof f - n, "\\x%02x", *c);
	}
	if (n + 6 >= sizeof f) {
		kv->cut = true;
		return;
	}
	if (quote)
		f[n++] = '"';
	put(kv, f, n);
}

void st_kv_int(struct st_kv *kv, const char *key, long long v)
{
	char num[24];
	snprintf(num, sizeof num, "%lld", v);
	st_kv_str(kv, key, num);
}

void st_kv_uint(struct st_kv *kv, const char *key, unsigned long long v)
{
	char num[24];
	snprintf(num, sizeof num, "%llu", v);
	st_kv_str(kv, key, num);
}

void st_kv_bool(struct st_kv *kv, const char *key, bool v)
{
	st_kv_str(kv, key, v ? "true" : "false");
}

const char *st_kv_line(struct st_kv *kv)
{
	if (kv->cut) {
		static const char tail[] = " truncated=true";
		memcpy(kv->s + kv->len, tail, sizeof tail);
		kv->len += sizeof tail - 1;
		kv->cut = false; /* said once, however often the line is asked for */
	}
	return kv->s;
}
