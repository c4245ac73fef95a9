/* tty.h - what the programs do differently on a terminal: its width, colour, a progress line. */
#ifndef ST_TTY_H
#define ST_TTY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct st_cli;

/* fd's terminal width: TIOCGWINSZ, else $COLUMNS, else 80. */
size_t st_tty_columns(int fd);

/* Colour on fd: a terminal, $NO_COLOR unset or empty (no-color.org), $TERM set and not "dumb". */
bool st_tty_color(int fd);

/*
 * A progress line on stderr for work that may take more than a second: drawn
 * only when stderr is a terminal and not under -q, from one second on, redrawn
 * at most ten times a second, each drawing cut to the width, and cleared by st_progress_end so that
 * what follows starts on a clean line.
 */
struct st_progress {
	const struct st_cli *cli;
	bool on;
	bool drawn;
	bool dumb;     /* TERM=dumb: no escape sequences */
	int64_t begin_ms;
	int64_t last_ms;
	size_t width;
};

/* Also makes it cli's: a message (st_warn...) clears the line first. */
void st_progress_begin(struct st_progress *pr, struct st_cli *cli);
/* Draws "PROGRAM: text" unless the last drawing is under 100 ms old (force: draw anyway). */
void st_progress_draw(struct st_progress *pr, bool force, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void st_progress_end(struct st_progress *pr);
/* Clears the line and lets go of cli. */
void st_progress_done(struct st_progress *pr, struct st_cli *cli);

/*
 * A bar chart line for stats on a terminal, fitted to width columns:
 * "  KEY  VALUE ####"; the key is cut with "…" when the width is small.
 */
void st_tty_bar(size_t width, const char *key, size_t value, size_t max);

#endif
