/* cli.h - what every program shares: options, help, messages, output, exit codes. */
#ifndef ST_CLI_H
#define ST_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "st/config.h"
#include "st/endpoint.h"
#include "st/err.h"
#include "st/logfmt.h"
#include "st/record.h"

/* Option keys above 255 for long-only options; programs number theirs from ST_OPT_USER. */
enum st_opt_key {
	ST_OPT_CONFIG = 256,
	ST_OPT_DATA_DIR,
	ST_OPT_PRINT_CONFIG,
	ST_OPT_HELP,
	ST_OPT_VERSION,
	ST_OPT_COMPLETE,
	ST_OPT_WAIT,
	ST_OPT_EXAMPLE_CONFIG,
	ST_OPT_USER = 512,
};

enum st_opt_arg {
	ST_ARG_NONE,
	ST_ARG_REQUIRED,
	ST_ARG_OPTIONAL, /* --getpeers[=N] */
};

/*
 * One option, the single source of truth for getopt, --help, the man page
 * synopsis check and the shell completions. key is the short letter or a
 * value >= ST_OPT_USER; argname names the argument in help ("N", "FILE");
 * complete hints the shells: NULL, "file", "dir", "endpoint", or a
 * space-separated word list ("text tsv json").
 */
struct st_option {
	const char *name;
	int key;
	enum st_opt_arg arg;
	const char *argname;
	const char *help;
	const char *complete;
};
#define ST_OPTION_END {NULL, 0, ST_ARG_NONE, NULL, NULL, NULL}

/* A subcommand of a program (st-addrbook add, ...) with its own options. */
struct st_command {
	const char *name;
	const char *args;     /* "[ENDPOINT...]" */
	const char *summary;  /* one line */
	const struct st_option *options; /* its own, after the common ones */
};
#define ST_COMMAND_END {NULL, NULL, NULL, NULL}

/* A program: its name, one-line summary, and options or subcommands. */
struct st_program {
	const char *name;     /* "st-addrbook" */
	const char *args;     /* for programs without subcommands: "[ENDPOINT...]" */
	const char *summary;
	const struct st_option *options;   /* program-wide, after the common ones */
	const struct st_command *commands; /* NULL when the program has none */
};

/*
 * The process-wide context of one program run, owned by main: set up once by
 * the common main, filled in by st_cli_parse, passed down by pointer.
 */
struct st_progress;
struct st_cli {
	const struct st_program *prog;
	const struct st_command *cmd;  /* the subcommand chosen, or NULL */
	int verbose;                   /* -v count; -1 with -q */
	enum st_format format;         /* -o; ST_FMT_TEXT by default */
	bool format_given;
	const char *config_flag;       /* --config or NULL */
	const char *data_dir_flag;     /* --data-dir or NULL */
	const char *wait_flag;         /* --wait or NULL */
	bool print_config;
	struct st_config config;
	int argc;                      /* operands left after the options */
	char **argv;
	struct st_progress *progress;  /* the progress line drawn (tty.h), cleared before a message */
};

/* The common options every program and subcommand accepts:
 * --config FILE, --data-dir DIR, --print-config, -o FMT, -q, -v, -h/--help, --version,
 * --wait T. */
extern const struct st_option st_common_options[];

/*
 * Parses argv: the subcommand (when the program has them), the common options
 * (handled here: --help and --version print and exit 0, usage errors print and
 * exit 2), then calls on_option(ctx, key, optarg) for the program's own; it
 * returns 0, or -1 after setting err (reported as a usage error, exit 2).
 * Then loads the config (file, environment) and data dir; --print-config prints
 * the effective config and exits 0 once the caller has applied its flags, see
 * st_cli_finish_config. Operands are left in cli->argc/argv.
 */
typedef int (*st_cli_option_fn)(void *ctx, struct st_cli *cli, int key, const char *optarg,
                                struct st_err *err);
void st_cli_parse(struct st_cli *cli, const struct st_program *prog, int argc, char **argv,
                  st_cli_option_fn on_option, void *ctx);

/*
 * Sets a config key from a flag ("addrbook.max_addresses", optarg); a bad value
 * is a usage error naming the option. Call it from on_option.
 */
int st_cli_config_flag(struct st_cli *cli, const char *option, const char *key,
                       const char *value, struct st_err *err);

/* Call after the program's own flags are applied: handles --print-config, and
 * resolves and creates the data dir (needs_data_dir). Exits on error. */
void st_cli_finish_config(struct st_cli *cli, bool needs_data_dir);

/* Bounded numbers for options: "st-connect: -j 0: too small (1..65536)". */
int st_cli_u64(const char *option, const char *s, uint64_t min, uint64_t max, uint64_t *out,
               struct st_err *err);
int st_cli_duration(const char *option, const char *s, int64_t min_ms, int64_t max_ms,
                    int64_t *out_ms, struct st_err *err);

/*
 * Messages on stderr: "PROGRAM: message". -q keeps only what would make the exit
 * status non-zero:
 *   st_error  input rejected, a failure: something that makes the exit status
 *             non-zero; printed even with -q
 *   st_warn   worth knowing, changes no exit status; not with -q
 *   st_note   a summary or progress ("3 added, 0 duplicate"); not with -q
 *   st_info   only with -v
 */
void st_error(const struct st_cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void st_warn(const struct st_cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void st_note(const struct st_cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void st_info(const struct st_cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * A long-running program's log (st-listen): one line per event on stderr,
 * "level=info event=session peer=... status=ok", built with logfmt.h. error is
 * always written, warn and info not with -q, debug only with -v.
 * st_log_msg writes level=, event= and msg="..." (printf-formatted).
 */
void st_log(const struct st_cli *cli, struct st_kv *kv);
/* Whether st_log writes a line of this level: a hot path need not build one that is not. */
bool st_log_wants(const struct st_cli *cli, enum st_log_level level);
void st_log_msg(const struct st_cli *cli, enum st_log_level level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Prints err's message as "PROGRAM: msg" and returns err->code (or 70 if unset). */
int st_report(const struct st_cli *cli, const struct st_err *err);
/* Reports and exits with err's code. */
_Noreturn void st_die(const struct st_cli *cli, const struct st_err *err);
/* A usage error: "PROGRAM: msg" and "try 'PROGRAM --help'", exit 2. */
_Noreturn void st_usage_error(const struct st_cli *cli, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A printer for stdout in the chosen -o format; exits 70 when out of memory. */
struct st_schema;
struct st_printer *st_cli_printer(const struct st_cli *cli, const struct st_schema *schema);
/* One statistic of a stats command: on a terminal bars columns wide (its width), a bar
 * scaled to max (0: none), else a stat record {metric, key, value} (-o prom: a sample). */
/* Reports what a table's fsck returned (rc: 0 ok, 1 repaired, -1 err): damage
 * found without --repair gets hint (e.g. "damaged (try 'PROG fsck --repair')").
 * Returns the exit code. */
int st_cli_fsck_done(const struct st_cli *cli, int rc, size_t kept, size_t lost, bool repair,
                     const char *hint, struct st_err *err);
void st_cli_stat(struct st_printer *p, size_t bars, const char *metric, const char *key,
                 size_t value, size_t max);
/* Flushes stdout's printer and frees it; returns the exit code to use (74 on a write error). */
int st_cli_printer_done(const struct st_cli *cli, struct st_printer *p, int code);

/*
 * A writer fed by stdin: each batch (st_reader_batch, read holding nothing) is
 * begin (take the lock, open the tables), each record that names an endpoint,
 * end (commit, let go). end's more is true when the batch ended at its size
 * while input kept coming (st_reader_batch's 2): end may then commit and keep
 * its tables open, and the next begin finds them open - a bulk load is not
 * reloaded per megabyte, and the lock is still never held across a pause in
 * the input. Bad lines are reported and counted in *bad, as are
 * records each returns -1 for; a record with a null endpoint is for no book and
 * skipped. Returns 0, or the exit code a begin or end returned (then it stops).
 */
struct st_batch_fns {
	int (*begin)(void *ctx);
	int (*each)(void *ctx, const struct st_record *rec, const char *where);
	int (*end)(void *ctx, bool more);
};
int st_cli_each_batch(const struct st_cli *cli, const struct st_batch_fns *fns, void *ctx,
                      size_t *bad);

/* Frees what st_cli_parse allocated (the operands, the config). */
void st_cli_free(struct st_cli *cli);

/* Process-wide set-up done once by the shared main(): C locale, SIGPIPE
 * ignored (write errors are reported instead).
 * Returns 0 or -1. st_process_cleanup undoes what needs undoing. */
int st_process_init(struct st_err *err);
void st_process_cleanup(void);

/*
 * SIGINT and SIGTERM as a descriptor for an event loop (libst installs no
 * handlers): from st_cli_stop_begin_g until st_cli_stop_end_g, each of them
 * makes the returned descriptor readable instead of ending the process; a
 * second one ends it as usual. Returns the descriptor, or -1 with err.
 * st_cli_stop_end_g puts the previous handlers back, so a program waiting
 * after its loop (on a lock, say) still dies of SIGTERM.
 */
int st_cli_stop_begin_g(struct st_err *err);
void st_cli_stop_end_g(void);

/*
 * SIGHUP as a descriptor for an event loop: from st_cli_reload_begin_g until
 * st_cli_reload_end_g each SIGHUP makes it readable (read it empty) instead of
 * ending the process. A daemon reopens its files then. Returns the descriptor,
 * or -1 with err.
 */
int st_cli_reload_begin_g(struct st_err *err);
void st_cli_reload_end_g(void);

/*
 * Tells the service manager about us (systemd's Type=notify): state is
 * "READY=1", "RELOADING=1", "STOPPING=1", "STATUS=..." lines. Returns 1 when
 * sent, 0 when $NOTIFY_SOCKET is unset (not run by one), -1 with err.
 */
int st_cli_notify(const char *state, struct st_err *err);

/* The id an endpoint must prove: the "ID@" of "ID@endpoint" as written, "" for none. */
typedef char st_cli_pin[ST_NODE_ID_MAX + 1];

/*
 * Endpoints as a dialing program takes them: the operands (a bad one is an error,
 * counted in *bad) or, when there are none and from is not NULL, the records read
 * from it (name for messages). With pins, each one's "ID@" too: a node_id column
 * alone is what a peer claimed once, not an id to prove. Returns the array of *n
 * (never NULL unless memory ran out; the caller frees it and *pins).
 */
struct st_endpoint *st_cli_endpoints(struct st_cli *cli, FILE *from, const char *name, size_t *n,
                                     int *bad, st_cli_pin **pins);
/* The same for records only, whatever the operands (st-connect --exclude FILE). */
struct st_endpoint *st_cli_read_endpoints(struct st_cli *cli, FILE *from, const char *name,
                                          size_t *n, int *bad, st_cli_pin **pins);

/*
 * The program's entry point, called by the shared main() in cmd/common-main.c
 * after process-wide set-up (locale, SIGPIPE, OpenSSL and libcurl init).
 */
int cmd_main(struct st_cli *cli, int argc, char **argv);



#endif
