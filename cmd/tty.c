/* tty.c - the terminal side of the programs: width, colour, progress line, bars. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "st/cli.h"
#include "st/table.h"
#include "st/util.h"
#include "tty.h"

size_t st_tty_columns(int fd)
{
	struct winsize ws;
	if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	const char *c = getenv("COLUMNS");
	char *end;
	long n = c ? strtol(c, &end, 10) : 0;
	if (c && *c && !*end && n > 0 && n < 10000)
		return (size_t)n;
	return 80;
}

bool st_tty_color(int fd)
{
	const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");
	return isatty(fd) && !(nc && *nc) && term && *term && strcmp(term, "dumb") != 0;
}

void st_progress_begin(struct st_progress *pr, struct st_cli *cli)
{
	*pr = (struct st_progress){.cli = cli, .begin_ms = st_monotonic_ms()};
	pr->on = cli->verbose >= 0 && isatty(STDERR_FILENO);
	if (pr->on) {
		const char *term = getenv("TERM");
		pr->width = st_tty_columns(STDERR_FILENO);
		pr->dumb = !term || !*term || strcmp(term, "dumb") == 0;
		cli->progress = pr;
	}
}

void st_progress_draw(struct st_progress *pr, bool force, const char *fmt, ...)
{
	if (!pr->on)
		return;
	int64_t now = st_monotonic_ms();
	/* nothing for the first second: work done by then needs no progress line */
	if (!force && (now - pr->begin_ms < 1000 || (pr->drawn && now - pr->last_ms < 100)))
		return;
	pr->last_ms = now;
	char text[512], line[600];
	int n = snprintf(text, sizeof text, "%s: ", pr->cli->prog->name);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text + (n > 0 ? n : 0), sizeof text - (size_t)(n > 0 ? n : 0), fmt, ap);
	va_end(ap);
	/* one column short of the width: a terminal that wraps at the last column
	 * would move the cursor down and the next \r would not come back */
	st_text_fit(text, pr->width > 1 ? pr->width - 1 : 1, line, sizeof line);
	/* \r, the text, then erase to the end of the line: no leftover of a longer
	 * one (blanks on a dumb terminal, which knows no escapes) */
	if (pr->dumb)
		fprintf(stderr, "\r%-*s\r%s", (int)(pr->width > 1 ? pr->width - 1 : 1), "", line);
	else
		fprintf(stderr, "\r%s\033[K", line);
	fflush(stderr);
	pr->drawn = true;
}

void st_progress_end(struct st_progress *pr)
{
	if (pr->on && pr->drawn) {
		if (pr->dumb)
			fprintf(stderr, "\r%-*s\r", (int)(pr->width > 1 ? pr->width - 1 : 1), "");
		else
			fputs("\r\033[K", stderr);
		fflush(stderr);
	}
	pr->drawn = false;
}

void st_progress_done(struct st_progress *pr, struct st_cli *cli)
{
	st_progress_end(pr);
	if (cli->progress == pr)
		cli->progress = NULL;
}

void st_tty_bar(size_t width, const char *key, size_t value, size_t max)
{
	/* "  " key(up to 22) " " value(8) " " bar: the bar takes what is left */
	size_t keyw = 22;
	if (width < 2 + keyw + 1 + 8 + 1 + 10)
		keyw = width > 2 + 8 + 1 + 10 + 8 ? width - (2 + 8 + 1 + 10 + 1) : 8;
	char k[256];
	size_t used = st_text_fit(key, keyw, k, sizeof k);
	size_t room = width > 2 + keyw + 1 + 8 + 1 + 1 ? width - (2 + keyw + 1 + 8 + 1) - 1 : 1;
	if (room > 200)
		room = 200;
	char bar[201];
	size_t w = max ? (size_t)((double)value * (double)room / (double)max) : 0;
	if (value && !w)
		w = 1;
	memset(bar, '#', w);
	bar[w] = '\0';
	printf("  %s%*s %8zu%s%s\n", k, (int)(keyw - used), "", value, w ? " " : "", bar);
}
