/* cli.c - option parsing, help, completions, messages and output set-up shared by every program. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <locale.h>
#include <signal.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli_int.h"
#include "st/cli.h"
#include "st/schema.h"
#include "tty.h"
#include "st/util.h"

#ifndef ST_BUILD_VERSION
#define ST_BUILD_VERSION "0.0.0"
#endif

const struct st_option st_common_options[] = {
	{"config", ST_OPT_CONFIG, ST_ARG_REQUIRED, "FILE", "read FILE instead of the default st.yaml", "file"},
	{"data-dir", ST_OPT_DATA_DIR, ST_ARG_REQUIRED, "DIR", "keep data in DIR", "dir"},
	{"help", 'h', ST_ARG_NONE, NULL, "show this help and exit", NULL},
	{"output", 'o', ST_ARG_REQUIRED, "FMT", "text, tsv, json; prom for stats", "text tsv json"},
	{"print-config", ST_OPT_PRINT_CONFIG, ST_ARG_NONE, NULL, "print the effective config and exit", NULL},
	{"quiet", 'q', ST_ARG_NONE, NULL, "print errors only", NULL},
	{"verbose", 'v', ST_ARG_NONE, NULL, "say more on stderr (repeatable)", NULL},
	{"version", ST_OPT_VERSION, ST_ARG_NONE, NULL, "show the version and exit", NULL},
	{"wait", ST_OPT_WAIT, ST_ARG_REQUIRED, "T", "wait at most T for a table in use (lock_wait)", NULL},
	{"complete", ST_OPT_COMPLETE, ST_ARG_NONE, NULL, NULL, NULL}, /* hidden: shell completions */
	/* hidden: writes the st.yaml example that make install puts in /etc/spacetime */
	{"example-config", ST_OPT_EXAMPLE_CONFIG, ST_ARG_NONE, NULL, NULL, NULL},
	ST_OPTION_END,
};

void st_optset_fill(struct st_optset *s, const struct st_program *prog,
                    const struct st_command *cmd)
{
	s->n = 0;
	const struct st_option *lists[] = {st_common_options, cmd ? cmd->options : NULL,
	                                   prog->options};
	for (size_t i = 0; i < ST_ARRAY_LEN(lists); i++)
		for (const struct st_option *o = lists[i]; o && o->name; o++)
			if (s->n < ST_OPTS_MAX)
				s->opt[s->n++] = o;
}

const struct st_option *st_optset_find_long(const struct st_optset *s, const char *name,
                                            size_t len)
{
	for (size_t i = 0; i < s->n; i++)
		if (strlen(s->opt[i]->name) == len && strncmp(s->opt[i]->name, name, len) == 0)
			return s->opt[i];
	return NULL;
}

const struct st_option *st_optset_find_key(const struct st_optset *s, int key)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->opt[i]->key == key)
			return s->opt[i];
	return NULL;
}

const struct st_command *st_find_command(const struct st_program *prog, const char *name)
{
	for (const struct st_command *c = prog->commands; c && c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

const struct st_command *st_default_command(const struct st_program *prog)
{
	return st_find_command(prog, "");
}

/* One line on stderr. What a peer or a seed said may be in it: control
 * characters are shown escaped (\xHH), as ls -b does, never sent to the terminal. */
static void vmessage(const struct st_cli *cli, const char *fmt, va_list ap)
{
	char msg[2048];
	vsnprintf(msg, sizeof msg, fmt, ap);
	fflush(stdout);
	if (cli->progress) /* a message starts on a clean line; the next drawing comes back */
		st_progress_end(cli->progress);
	fprintf(stderr, "%s: ", cli->prog ? cli->prog->name : "st");
	for (const char *c = msg; *c; c++) {
		unsigned char u = (unsigned char)*c;
		if (u < 0x20 || u == 0x7f)
			fprintf(stderr, "\\x%02x", u);
		else if (st_is_c1(c))
			fprintf(stderr, "\\xc2\\x%02x", (unsigned char)*++c);
		else
			fputc(u, stderr);
	}
	fputc('\n', stderr);
}

bool st_log_wants(const struct st_cli *cli, enum st_log_level level)
{
	return !((level != ST_LOG_ERROR && cli->verbose < 0) ||
	         (level == ST_LOG_DEBUG && cli->verbose < 1));
}

void st_log(const struct st_cli *cli, struct st_kv *kv)
{
	if (!st_log_wants(cli, kv->level))
		return;
	fflush(stdout);
	if (cli->progress)
		st_progress_end(cli->progress);
	/* one write per line: lines of two processes sharing a log never interleave */
	const char *line = st_kv_line(kv);
	char out[ST_KV_LINE_MAX + 1];
	size_t n = st_strlcpy(out, line, sizeof out - 1);
	out[n] = '\n';
	fwrite(out, 1, n + 1, stderr);
	fflush(stderr);
}

void st_log_msg(const struct st_cli *cli, enum st_log_level level, const char *event, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	struct st_kv kv;
	st_kv_begin(&kv, level, event);
	st_kv_str(&kv, "msg", msg);
	st_log(cli, &kv);
}

void st_error(const struct st_cli *cli, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmessage(cli, fmt, ap);
	va_end(ap);
}

void st_note(const struct st_cli *cli, const char *fmt, ...)
{
	if (cli->verbose < 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vmessage(cli, fmt, ap);
	va_end(ap);
}

void st_warn(const struct st_cli *cli, const char *fmt, ...)
{
	if (cli->verbose < 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vmessage(cli, fmt, ap);
	va_end(ap);
}

void st_info(const struct st_cli *cli, const char *fmt, ...)
{
	if (cli->verbose < 1)
		return;
	va_list ap;
	va_start(ap, fmt);
	vmessage(cli, fmt, ap);
	va_end(ap);
}

int st_cli_each_batch(const struct st_cli *cli, const struct st_batch_fns *fns, void *ctx,
                      size_t *bad)
{
	struct st_err err = {0};
	struct st_reader *r = st_reader_new(stdin, "<stdin>");
	if (!r) {
		st_err_set(&err, ST_EX_SOFTWARE, "out of memory");
		st_die(cli, &err);
	}
	struct st_record rec = {0};
	int b, rc, code = 0;
	bool held = false; /* the last end kept the tables: the input was flowing */
	while ((b = st_reader_batch(r, &err)) > 0) {
		/* every batch begins: a begin after an end that kept its tables finds them open */
		if ((code = fns->begin(ctx)) != 0)
			break;
		while ((rc = st_reader_next(r, &rec, &err)) != 0) {
			if (rc < 0) {
				if (err.code == ST_EX_IOERR)
					st_die(cli, &err);
				st_error(cli, "%s", err.msg);
				(*bad)++;
				continue;
			}
			/* "<stdin>:LINE" by hand: a bulk add is a million records */
			char where[64] = "<stdin>:";
			char digits[24];
			const char *d = st_u64_digits(rec.lineno, 10, digits, sizeof digits);
			memcpy(where + 8, d, (size_t)(digits + sizeof digits - d));
			if (rec.no_endpoint) { /* an inbound peer that gave no port to dial */
				st_info(cli, "%s: no endpoint, skipped", where);
				continue;
			}
			if (fns->each(ctx, &rec, where) < 0)
				(*bad)++;
		}
		/* keep the lock only for input that is already there: a pause of
		 * 50 ms in the stream lets go, as the end of a batch always did */
		held = b == 2 && st_reader_line_within(r, 50, &err) == 1;
		if ((code = fns->end(ctx, held)) != 0)
			break;
	}
	if (held && !code)
		code = fns->end(ctx, false);
	st_reader_free(r);
	if (!code && b < 0)
		st_die(cli, &err);
	return code;
}

int st_report(const struct st_cli *cli, const struct st_err *err)
{
	st_error(cli, "%s", err->msg[0] ? err->msg : "unknown error");
	return err->code ? err->code : ST_EX_SOFTWARE;
}

_Noreturn void st_die(const struct st_cli *cli, const struct st_err *err)
{
	exit(st_report(cli, err));
}

_Noreturn void st_usage_error(const struct st_cli *cli, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmessage(cli, fmt, ap);
	va_end(ap);
	const char *name = cli->prog ? cli->prog->name : "st";
	if (cli->cmd && cli->cmd->name[0])
		fprintf(stderr, "Try '%s %s --help'.\n", name, cli->cmd->name);
	else
		fprintf(stderr, "Try '%s --help'.\n", name);
	exit(ST_EX_USAGE);
}

static void print_options(FILE *out, const struct st_option *list)
{
	for (; list && list->name; list++) {
		if (!list->help)
			continue;
		char left[64];
		char shortpart[8] = "    ";
		if (list->key > 0 && list->key < 256)
			snprintf(shortpart, sizeof shortpart, "-%c, ", list->key);
		const char *arg = list->argname ? list->argname : "";
		if (list->arg == ST_ARG_OPTIONAL)
			snprintf(left, sizeof left, "%s--%s[=%s]", shortpart, list->name, arg);
		else if (list->arg == ST_ARG_REQUIRED)
			snprintf(left, sizeof left, "%s--%s %s", shortpart, list->name, arg);
		else
			snprintf(left, sizeof left, "%s--%s", shortpart, list->name);
		fprintf(out, "  %-28s %s\n", left, list->help);
	}
}

static void print_help(const struct st_cli *cli)
{
	const struct st_program *prog = cli->prog;
	const struct st_command *cmd = cli->cmd;
	if (cmd && cmd->name[0]) {
		printf("usage: %s %s [OPTIONS] %s\n%s\n", prog->name, cmd->name,
		       cmd->args ? cmd->args : "", cmd->summary);
		if (cmd->options && cmd->options->name) {
			printf("\nOptions:\n");
			print_options(stdout, cmd->options);
		}
	} else {
		bool sub = prog->commands && !st_default_command(prog);
		printf("usage: %s [OPTIONS] %s\n%s\n", prog->name,
		       sub ? "COMMAND [ARGS]" : (prog->args ? prog->args : ""), prog->summary);
		if (prog->commands) {
			printf("\nCommands:\n");
			for (const struct st_command *c = prog->commands; c->name; c++) {
				if (!c->name[0])
					continue;
				char left[64];
				snprintf(left, sizeof left, "%s %s", c->name, c->args ? c->args : "");
				printf("  %-28s %s\n", left, c->summary);
			}
		}
		const struct st_command *def = st_default_command(prog);
		if ((def && def->options) || (prog->options && prog->options->name)) {
			printf("\nOptions:\n");
			if (def)
				print_options(stdout, def->options);
			print_options(stdout, prog->options);
		}
	}
	if (cmd && cmd->name[0] && prog->options && prog->options->name)
		print_options(stdout, prog->options);
	printf("\nCommon options:\n");
	print_options(stdout, st_common_options);
	if (prog->commands && !(cmd && cmd->name[0]) && !st_default_command(prog))
		printf("\n'%s COMMAND --help': a command's options; 'man %s' tells all.\n",
		       prog->name, prog->name);
	else
		printf("\n'man %s' tells all.\n", prog->name);
}

/* A typo's likely meaning: the nearest name, when near enough to be a slip of
 * the finger (one edit in a word of three letters, two in a longer one). */
static bool near_enough(const char *word, const char *name, size_t *best)
{
	size_t d = st_edit_distance(word, name);
	size_t limit = strlen(word) <= 3 ? 1 : 2;
	if (d > limit || d >= *best)
		return false;
	*best = d;
	return true;
}

static const char *closest_option(const struct st_optset *set, const char *arg)
{
	if (strncmp(arg, "--", 2) != 0)
		return NULL;
	char word[64];
	st_strlcpy(word, arg + 2, sizeof word);
	word[strcspn(word, "=")] = '\0';
	const char *near = NULL;
	size_t best = SIZE_MAX;
	for (size_t i = 0; i < set->n; i++)
		if (set->opt[i]->help && near_enough(word, set->opt[i]->name, &best))
			near = set->opt[i]->name;
	return near;
}

static const char *closest_command(const struct st_program *prog, const char *word)
{
	const char *near = NULL;
	size_t best = SIZE_MAX;
	for (const struct st_command *c = prog->commands; c && c->name; c++)
		if (c->name[0] && near_enough(word, c->name, &best))
			near = c->name;
	return near;
}

/* Builds getopt_long's tables from the option set. */
static void build_getopt(const struct st_optset *set, struct option *longs, char *shorts)
{
	size_t ns = 0;
	shorts[ns++] = '+'; /* stop at the first operand; operands may follow options */
	shorts[ns++] = ':';
	size_t nl = 0;
	for (size_t i = 0; i < set->n; i++) {
		const struct st_option *o = set->opt[i];
		int has = o->arg == ST_ARG_NONE ? no_argument
		        : o->arg == ST_ARG_REQUIRED ? required_argument : optional_argument;
		longs[nl++] = (struct option){o->name, has, NULL, o->key};
		if (o->key > 0 && o->key < 256) {
			shorts[ns++] = (char)o->key;
			if (o->arg == ST_ARG_REQUIRED)
				shorts[ns++] = ':';
			else if (o->arg == ST_ARG_OPTIONAL) {
				shorts[ns++] = ':';
				shorts[ns++] = ':';
			}
		}
	}
	longs[nl] = (struct option){NULL, 0, NULL, 0};
	shorts[ns] = '\0';
}

struct pending_opt {
	int key;
	const char *arg;
};

void st_cli_parse(struct st_cli *cli, const struct st_program *prog, int argc, char **argv,
                  st_cli_option_fn on_option, void *ctx)
{
	cli->prog = prog;
	cli->cmd = NULL;
	cli->format = ST_FMT_TEXT;
	struct st_err err = {0};

	/* --complete anywhere after the program name short-circuits everything. */
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--complete") == 0) {
			int first = i + 1;
			if (first < argc && strcmp(argv[first], "--") == 0)
				first++;
			st_cli_complete(prog, argc - first, argv + first);
			exit(0);
		}

	/* `PROG help [COMMAND]`, as git and ip have it */
	if (argc >= 2 && strcmp(argv[1], "help") == 0 && !st_find_command(prog, "help")) {
		if (argc > 3)
			st_usage_error(cli, "help: one command at most");
		if (argc == 3 && !(cli->cmd = st_find_command(prog, argv[2]))) {
			const char *near = closest_command(prog, argv[2]);
			if (near)
				st_usage_error(cli, "unknown command '%s' (did you mean '%s'?)", argv[2],
				               near);
			st_usage_error(cli, "unknown command '%s'", argv[2]);
		}
		print_help(cli);
		exit(0);
	}

	struct st_optset set;
	struct option longs[ST_OPTS_MAX + 1];
	char shorts[ST_OPTS_MAX * 3 + 4];
	struct pending_opt *pend = calloc((size_t)argc + 1, sizeof *pend);
	size_t npend = 0;
	char **operands = calloc((size_t)argc + 1, sizeof *operands);
	if (!pend || !operands) {
		st_err_set(&err, ST_EX_SOFTWARE, "out of memory");
		st_die(cli, &err);
	}
	int nops = 0;
	bool want_help = false;

	/* Program-level options, then the subcommand, then everything else. */
	st_optset_fill(&set, prog, st_default_command(prog));
	int i = 1;
	bool cmd_chosen = prog->commands == NULL;
	optind = 1;
	opterr = 0;
	for (;;) {
		build_getopt(&set, longs, shorts);
		int c;
		while ((c = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
			if (c == '?') {
				if (optopt > 0 && optopt < 256)
					st_usage_error(cli, "unknown option '-%c'", optopt);
				const char *bad = argv[optind - 1];
				const char *near = closest_option(&set, bad);
				if (near)
					st_usage_error(cli, "unknown option '%s' (did you mean '--%s'?)", bad, near);
				st_usage_error(cli, "unknown option '%s'", bad);
			}
			if (c == ':')
				st_usage_error(cli, "option '%s' needs an argument", argv[optind - 1]);
			switch (c) {
			case 'h':
				want_help = true;
				break;
			case ST_OPT_VERSION:
				printf("%s %s\n", prog->name, ST_BUILD_VERSION);
				exit(0);
			case 'q':
				cli->verbose = -1;
				break;
			case 'v':
				if (cli->verbose >= 0)
					cli->verbose++;
				break;
			case 'o':
				if (st_format_parse(optarg, &cli->format, &err) < 0)
					st_usage_error(cli, "-o: %s", err.msg);
				cli->format_given = true;
				break;
			case ST_OPT_CONFIG:
				cli->config_flag = optarg;
				break;
			case ST_OPT_DATA_DIR:
				cli->data_dir_flag = optarg;
				break;
			case ST_OPT_EXAMPLE_CONFIG:
				if (st_config_example(stdout, &err) < 0 || fflush(stdout) != 0)
					exit(ST_EX_IOERR);
				exit(0);
			case ST_OPT_PRINT_CONFIG:
				cli->print_config = true;
				break;
			case ST_OPT_WAIT:
				cli->wait_flag = optarg;
				break;
			default:
				pend[npend++] = (struct pending_opt){c, optarg};
			}
		}
		i = optind;
		if (i >= argc)
			break;
		if (strcmp(argv[i - 1], "--") == 0 && i > 1) {
			/* everything after "--" is an operand */
			for (; i < argc; i++)
				operands[nops++] = argv[i];
			break;
		}
		if (!cmd_chosen) {
			cmd_chosen = true;
			const struct st_command *c2 = st_find_command(prog, argv[i]);
			if (c2) {
				cli->cmd = c2;
				st_optset_fill(&set, prog, c2);
				optind = i + 1;
				continue;
			}
			if (!st_default_command(prog)) {
				const char *near = closest_command(prog, argv[i]);
				if (near)
					st_usage_error(cli, "unknown command '%s' (did you mean '%s'?)",
					               argv[i], near);
				st_usage_error(cli, "unknown command '%s'", argv[i]);
			}
		}
		operands[nops++] = argv[i];
		optind = i + 1;
	}
	if (!cli->cmd && prog->commands) {
		cli->cmd = st_default_command(prog);
		if (!cli->cmd && !want_help) {
			free(pend);
			free(operands);
			st_usage_error(cli, "a command is needed");
		}
	}
	if (want_help) {
		print_help(cli);
		exit(0);
	}
	/* metrics come from the stats commands (a stat record is one sample) */
	if (cli->format == ST_FMT_PROM && !(cli->cmd && strcmp(cli->cmd->name, "stats") == 0))
		st_usage_error(cli, "-o prom: only 'stats' prints metrics");

	st_config_init(&cli->config);
	if (st_config_load(&cli->config, cli->config_flag, &err) < 0)
		st_die(cli, &err);
	for (size_t k = 0; k < npend; k++) {
		st_err_clear(&err);
		if (!on_option || on_option(ctx, cli, pend[k].key, pend[k].arg, &err) < 0) {
			const struct st_option *o = st_optset_find_key(&set, pend[k].key);
			if (err.msg[0])
				st_usage_error(cli, "%s", err.msg);
			st_usage_error(cli, "option '--%s' is not valid here", o ? o->name : "?");
		}
	}
	free(pend);
	cli->argc = nops;
	cli->argv = operands; /* freed by st_cli_free */
}

int st_cli_config_flag(struct st_cli *cli, const char *option, const char *key,
                       const char *value, struct st_err *err)
{
	if (st_config_set(&cli->config, key, value, ST_ORIGIN_FLAG, err) < 0)
		return st_err_prefix(err, "%s", option);
	return 0;
}

/* The store tells of a long lock wait through the config; say it once on stderr. */
static void lock_notice(void *ctx, const char *msg)
{
	st_warn(ctx, "%s", msg);
}

/* An automatic repair is news even under -q: cron mails it. */
static void repair_alert(void *ctx, const char *msg)
{
	st_error(ctx, "%s", msg);
}

void st_cli_finish_config(struct st_cli *cli, bool needs_data_dir)
{
	struct st_err err = {0};
	if (cli->wait_flag && st_cli_config_flag(cli, "--wait", "lock_wait", cli->wait_flag, &err) < 0)
		st_usage_error(cli, "%s", err.msg);
	cli->config.lock.notice = lock_notice;
	cli->config.lock.alert = repair_alert;
	cli->config.lock.ctx = cli;
	if (cli->print_config) {
		if (st_config_data_dir(&cli->config, cli->data_dir_flag, &err) < 0)
			st_die(cli, &err);
		if (st_config_print(&cli->config, stdout, &err) < 0)
			st_die(cli, &err);
		if (fflush(stdout) != 0 || ferror(stdout)) {
			st_err_sys(&err, ST_EX_IOERR, "stdout");
			st_die(cli, &err);
		}
		exit(0);
	}
	if (needs_data_dir && st_config_data_dir(&cli->config, cli->data_dir_flag, &err) < 0)
		st_die(cli, &err);
}

int st_cli_u64(const char *option, const char *s, uint64_t min, uint64_t max, uint64_t *out,
               struct st_err *err)
{
	if (st_parse_u64(s, min, max, out, err) < 0) {
		/* "'0': too small (1..65536)" -> "-j 0: too small (1..65536)" */
		const char *reason = strstr(err->msg, "': ");
		char msg[ST_ERR_MSG_MAX];
		snprintf(msg, sizeof msg, "%s %s: %s", option, s ? s : "", reason ? reason + 3 : err->msg);
		return st_err_set(err, ST_EX_USAGE, "%s", msg);
	}
	return 0;
}

int st_cli_duration(const char *option, const char *s, int64_t min_ms, int64_t max_ms,
                    int64_t *out_ms, struct st_err *err)
{
	if (st_parse_duration(s, min_ms, max_ms, out_ms, err) < 0) {
		const char *reason = strstr(err->msg, "': ");
		char msg[ST_ERR_MSG_MAX];
		snprintf(msg, sizeof msg, "%s %s: %s", option, s ? s : "", reason ? reason + 3 : err->msg);
		return st_err_set(err, ST_EX_USAGE, "%s", msg);
	}
	return 0;
}

struct st_printer *st_cli_printer(const struct st_cli *cli, const struct st_schema *schema)
{
	if (cli->format == ST_FMT_PROM && schema != &st_schema_stat)
		st_usage_error(cli, "-o prom: only 'stats' prints metrics");
	struct st_printer *p = st_printer_new(stdout, cli->format, st_now());
	if (!p) {
		struct st_err err;
		st_err_set(&err, ST_EX_SOFTWARE, "out of memory");
		st_die(cli, &err);
	}
	st_printer_schema(p, schema);
	st_printer_prom(p, cli->prog->name, NULL); /* st-addrbook: st_addrbook_... */
	/* a person reads a terminal: aligned columns that fit it (tty.c); a pipe
	 * keeps the plain lines scripts rely on */
	if (cli->format == ST_FMT_TEXT && isatty(STDOUT_FILENO))
		st_printer_terminal(p, st_tty_columns(STDOUT_FILENO), st_tty_color(STDOUT_FILENO));
	return p;
}

void st_cli_stat(struct st_printer *p, size_t bars, const char *metric, const char *key,
                 size_t value, size_t max)
{
	if (bars) { /* bars: the terminal's width (tty.c) */
		st_tty_bar(bars, key, value, max);
		return;
	}
	st_print_begin(p);
	st_print_str(p, "metric", "%s", metric);
	st_print_str(p, "key", "%s", key);
	st_print_uint(p, "value", "%llu", value);
	st_print_end(p);
}

int st_cli_fsck_done(const struct st_cli *cli, int rc, size_t kept, size_t lost, bool repair,
                     const char *hint, struct st_err *err)
{
	if (rc < 0) {
		if (err->code == ST_EX_DATAERR && !repair)
			st_err_prefix(err, "%s", hint);
		return st_report(cli, err);
	}
	if (rc == 1)
		st_note(cli, "repaired: %zu entries kept, %zu lines lost; damaged files moved to *.bak",
		        kept, lost);
	else
		st_note(cli, "ok: %zu entries", kept);
	return 0;
}

int st_cli_printer_done(const struct st_cli *cli, struct st_printer *p, int code)
{
	struct st_err err = {0};
	int rc = p ? st_printer_flush(p, &err) : 0;
	st_printer_free(p);
	if (rc == 0 && (fflush(stdout) != 0 || ferror(stdout)))
		rc = st_err_sys(&err, ST_EX_IOERR, "write error on standard output");
	if (rc < 0) {
		st_report(cli, &err);
		return ST_EX_IOERR;
	}
	return code;
}

int st_process_init(struct st_err *err)
{
	/* Numbers and record output must not depend on the operator's locale. */
	setlocale(LC_ALL, "C");
	/* A closed pipe is an ordinary write error, reported by the final flush. */
	signal(SIGPIPE, SIG_IGN);
	/* OpenSSL and libcurl initialise themselves on first use (OpenSSL 3,
	 * libcurl >= 7.84): a program that never fetches or dials with TLS does
	 * not pay for loading them. */
	(void)err;
	return 0;
}

void st_process_cleanup(void)
{
	st_cli_stop_end_g();
	st_cli_reload_end_g();
}

static int stop_pipe[2] = {-1, -1};
static struct sigaction stop_saved[2];
static bool stop_armed;

static void on_stop_signal(int sig)
{
	(void)sig;
	int saved = errno;
	ssize_t n = write(stop_pipe[1], "x", 1); /* non-blocking: a full pipe already says stop */
	(void)n;
	errno = saved;
}

int st_cli_stop_begin_g(struct st_err *err)
{
	if (stop_pipe[0] < 0 && pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return st_err_sys(err, ST_EX_SOFTWARE, "pipe");
	if (!stop_armed) {
		struct sigaction sa = {0};
		sa.sa_handler = on_stop_signal;
		sigemptyset(&sa.sa_mask);
		sa.sa_flags = SA_RESTART | SA_RESETHAND; /* a second signal ends the process */
		if (sigaction(SIGINT, &sa, &stop_saved[0]) < 0 ||
		    sigaction(SIGTERM, &sa, &stop_saved[1]) < 0)
			return st_err_sys(err, ST_EX_SOFTWARE, "sigaction");
		stop_armed = true;
	}
	return stop_pipe[0];
}

void st_cli_stop_end_g(void)
{
	if (!stop_armed)
		return;
	sigaction(SIGINT, &stop_saved[0], NULL);
	sigaction(SIGTERM, &stop_saved[1], NULL);
	stop_armed = false;
}

/* SIGHUP as a descriptor, like the stop signals, but any number of times. */
static int reload_pipe[2] = {-1, -1};
static struct sigaction reload_saved;
static bool reload_armed;

static void on_reload_signal(int sig)
{
	(void)sig;
	int saved = errno;
	ssize_t n = write(reload_pipe[1], "h", 1); /* a full pipe already says reload */
	(void)n;
	errno = saved;
}

int st_cli_reload_begin_g(struct st_err *err)
{
	if (reload_pipe[0] < 0 && pipe2(reload_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return st_err_sys(err, ST_EX_SOFTWARE, "pipe");
	if (!reload_armed) {
		struct sigaction sa = {0};
		sa.sa_handler = on_reload_signal;
		sigemptyset(&sa.sa_mask);
		sa.sa_flags = SA_RESTART;
		if (sigaction(SIGHUP, &sa, &reload_saved) < 0)
			return st_err_sys(err, ST_EX_SOFTWARE, "sigaction");
		reload_armed = true;
	}
	return reload_pipe[0];
}

void st_cli_reload_end_g(void)
{
	if (!reload_armed)
		return;
	sigaction(SIGHUP, &reload_saved, NULL);
	reload_armed = false;
}

/*
 * The sd_notify(3) protocol, written out: one datagram of "KEY=VALUE" lines
 * to the AF_UNIX socket $NOTIFY_SOCKET names (a path, or "@name" for the
 * abstract namespace). It is a single sendto, and libsystemd is not among the
 * libraries st may depend on, so there is no reason to link it.
 */
int st_cli_notify(const char *state, struct st_err *err)
{
	const char *path = getenv("NOTIFY_SOCKET");
	if (!path || !path[0])
		return 0;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len >= sizeof sa.sun_path)
		return st_err_set(err, ST_EX_SOFTWARE, "NOTIFY_SOCKET '%s': not a socket path", path);
	memcpy(sa.sun_path, path, len);
	if (path[0] == '@')
		sa.sun_path[0] = '\0'; /* the abstract namespace */
	socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return st_err_sys(err, ST_EX_SOFTWARE, "NOTIFY_SOCKET: socket");
	ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
	int saved = errno;
	close(fd);
	if (n < 0 || (size_t)n != strlen(state)) {
		errno = n < 0 ? saved : EMSGSIZE;
		return st_err_sys(err, ST_EX_SOFTWARE, "NOTIFY_SOCKET %s", path);
	}
	return 1;
}

void st_cli_free(struct st_cli *cli)
{
	st_config_free(&cli->config);
	free(cli->argv);
	cli->argv = NULL;
	cli->argc = 0;
}

/* Appends the records of rd to v/iv (cap entries, *n used): 0, or -1 out of memory. */
static int append_records(struct st_cli *cli, struct st_reader *rd, struct st_endpoint **v,
                          st_cli_pin **iv, size_t *cap, size_t *n, int *bad, bool pins)
{
	struct st_record rec = {0};
	struct st_err err = {0};
	int rc;
	while ((rc = st_reader_next(rd, &rec, &err)) != 0) {
		if (rc < 0) {
			st_error(cli, "%s", err.msg);
			(*bad)++;
			continue;
		}
		if (rec.no_endpoint)
			continue;
		if (*n == *cap) {
			size_t ncap = *cap ? *cap * 2 : 256;
			struct st_endpoint *nv = realloc(*v, ncap * sizeof *nv);
			if (!nv)
				return -1;
			*v = nv;
			if (pins) {
				st_cli_pin *ni = realloc(*iv, ncap * sizeof *ni);
				if (!ni)
					return -1;
				*iv = ni;
			}
			*cap = ncap;
		}
		if (pins) {
			struct st_endpoint ep;
			(*iv)[*n][0] = '\0';
			st_endpoint_parse_id(&ep, (*iv)[*n], sizeof (*iv)[*n], rec.endpoint_text,
			                     strlen(rec.endpoint_text), NULL);
		}
		(*v)[(*n)++] = rec.endpoint;
	}
	return 0;
}

struct st_endpoint *st_cli_read_endpoints(struct st_cli *cli, FILE *from, const char *name,
                                          size_t *n, int *bad, st_cli_pin **pins)
{
	size_t cap = 1;
	struct st_endpoint *v = calloc(1, sizeof *v);
	st_cli_pin *iv = pins ? calloc(1, sizeof *iv) : NULL;
	struct st_reader *rd = st_reader_new(from, name);
	*n = 0;
	if (!v || (pins && !iv) || !rd || append_records(cli, rd, &v, &iv, &cap, n, bad, pins) < 0) {
		st_reader_free(rd);
		free(v);
		free(iv);
		*n = 0;
		return NULL;
	}
	st_reader_free(rd);
	if (pins)
		*pins = iv;
	return v;
}

struct st_endpoint *st_cli_endpoints(struct st_cli *cli, FILE *from, const char *name, size_t *n,
                                     int *bad, st_cli_pin **pins)
{
	if (!cli->argc && from)
		return st_cli_read_endpoints(cli, from, name, n, bad, pins);
	size_t cap = (size_t)cli->argc + 1;
	struct st_endpoint *v = calloc(cap, sizeof *v);
	st_cli_pin *iv = pins ? calloc(cap, sizeof *iv) : NULL;
	struct st_err err = {0};
	*n = 0;
	if (!v || (pins && !iv)) {
		free(v);
		free(iv);
		return NULL;
	}
	st_cli_pin scratch = "";
	for (int i = 0; i < cli->argc; i++) {
		char *pin = pins ? iv[*n] : scratch;
		if (st_endpoint_parse_id(&v[*n], pin, sizeof scratch, cli->argv[i], strlen(cli->argv[i]),
		                         &err) < 0) {
			st_error(cli, "'%s': %s", cli->argv[i], err.msg);
			(*bad)++;
			continue;
		}
		(*n)++;
	}
	if (pins)
		*pins = iv;
	return v;
}
