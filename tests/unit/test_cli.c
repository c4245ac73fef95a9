/* test_cli.c - option parsing, help, completion and option-number messages of the cli module. */
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"

#include "st/cli.h"

static const struct st_option add_options[] = {
	{"source", 's', ST_ARG_REQUIRED, "S", "where the endpoints came from", NULL},
	{"allow-private", 512, ST_ARG_NONE, NULL, "accept private addresses", NULL},
	ST_OPTION_END,
};

static const struct st_option prog_options[] = {
	{"jobs", 'j', ST_ARG_REQUIRED, "N", "dial N at once", NULL},
	{"exclude", 513, ST_ARG_REQUIRED, "FILE", "skip these", "file"},
	ST_OPTION_END,
};

static const struct st_command commands[] = {
	{"add", "[ENDPOINT...]", "add endpoints", add_options},
	{"list", NULL, "list endpoints", NULL},
	ST_COMMAND_END,
};

static const struct st_program prog = {"st-test", NULL, "a program for tests", prog_options,
                                        commands};

struct seen {
	char source[64];
	uint64_t jobs;
	int allow_private;
};

static int on_option(void *ctx, struct st_cli *cli, int key, const char *arg, struct st_err *err)
{
	(void)cli;
	struct seen *s = ctx;
	switch (key) {
	case 's':
		snprintf(s->source, sizeof s->source, "%s", arg);
		return 0;
	case 'j':
		return st_cli_u64("-j", arg, 1, 65536, &s->jobs, err);
	case 512:
		s->allow_private = 1;
		return 0;
	default:
		return -1;
	}
}

/* Runs st_cli_parse in a child with stdout and stderr captured; returns the exit
 * status (or 100 + nothing when the parse returned normally). */
static int run_parse(char **argv, char *out, size_t outsize)
{
	int fd[2];
	assert_int_equal(pipe(fd), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fd[1], 1);
		dup2(fd[1], 2);
		close(fd[0]);
		setenv("ST_CONFIG", "/nonexistent-st-test/st.yaml", 1);
		unsetenv("ST_CONFIG");
		setenv("XDG_CONFIG_HOME", "/nonexistent-st-test", 1);
		struct st_cli cli = {0};
		struct seen s = {0};
		int argc = 0;
		while (argv[argc])
			argc++;
		st_cli_parse(&cli, &prog, argc, argv, on_option, &s);
		printf("cmd=%s source=%s jobs=%llu private=%d argc=%d", cli.cmd ? cli.cmd->name : "-",
		       s.source, (unsigned long long)s.jobs, s.allow_private, cli.argc);
		for (int i = 0; i < cli.argc; i++)
			printf(" [%s]", cli.argv[i]);
		printf(" v=%d fmt=%d\n", cli.verbose, (int)cli.format);
		fflush(stdout);
		_exit(100);
	}
	close(fd[1]);
	size_t n = 0;
	ssize_t r;
	while (n + 1 < outsize && (r = read(fd[0], out + n, outsize - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = '\0';
	close(fd[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void subcommand_options_and_operands_are_parsed(void **state)
{
	(void)state;
	char out[4096];
	char *argv[] = {"st-test", "-v", "add", "--source", "seed", "1.2.3.4:7777", "-j", "8",
	                "--allow-private", "-o", "json", "5.6.7.8:7777", NULL};
	assert_int_equal(run_parse(argv, out, sizeof out), 100);
	assert_string_equal(out, "cmd=add source=seed jobs=8 private=1 argc=2 [1.2.3.4:7777] "
	                         "[5.6.7.8:7777] v=1 fmt=2\n");
}

static void double_dash_ends_options(void **state)
{
	(void)state;
	char out[4096];
	char *argv[] = {"st-test", "add", "--", "-x", NULL};
	assert_int_equal(run_parse(argv, out, sizeof out), 100);
	assert_string_equal(out, "cmd=add source= jobs=0 private=0 argc=1 [-x] v=0 fmt=0\n");
}

static void unknown_option_exits_2_and_names_it(void **state)
{
	(void)state;
	char out[4096];
	char *argv[] = {"st-test", "add", "--bogus", NULL};
	assert_int_equal(run_parse(argv, out, sizeof out), 2);
	assert_non_null(strstr(out, "st-test: unknown option '--bogus'"));
	assert_non_null(strstr(out, "Try 'st-test add --help'."));
}

static void option_of_another_command_is_refused(void **state)
{
	(void)state;
	char out[4096];
	char *argv[] = {"st-test", "list", "--source", "x", NULL};
	assert_int_equal(run_parse(argv, out, sizeof out), 2);
	assert_non_null(strstr(out, "unknown option '--source'"));
}

static void missing_command_and_unknown_command_are_usage_errors(void **state)
{
	(void)state;
	char out[4096];
	char *argv1[] = {"st-test", NULL};
	assert_int_equal(run_parse(argv1, out, sizeof out), 2);
	assert_non_null(strstr(out, "a command is needed"));
	char *argv2[] = {"st-test", "frobnicate", NULL};
	assert_int_equal(run_parse(argv2, out, sizeof out), 2);
	assert_non_null(strstr(out, "unknown command 'frobnicate'"));
}

static void bounded_number_errors_name_the_option(void **state)
{
	(void)state;
	char out[4096];
	char *argv[] = {"st-test", "add", "-j", "0", NULL};
	assert_int_equal(run_parse(argv, out, sizeof out), 2);
	assert_non_null(strstr(out, "st-test: -j 0: too small (1..65536)"));
	struct st_err err = {0};
	int64_t ms;
	assert_int_equal(st_cli_duration("--timeout", "5y", 1, 1000, &ms, &err), -1);
	assert_string_equal(err.msg, "--timeout 5y: not a duration (like 90s, 10m, 24h, 30d)");
	assert_int_equal(err.code, ST_EX_USAGE);
}

static void missing_argument_is_reported(void **state)
{
	(void)state;
	char out[4096];
	char *argv[] = {"st-test", "add", "--source", NULL};
	assert_int_equal(run_parse(argv, out, sizeof out), 2);
	assert_non_null(strstr(out, "needs an argument"));
}

static void help_lists_commands_and_exits_0(void **state)
{
	(void)state;
	char out[8192];
	char *argv[] = {"st-test", "--help", NULL};
	assert_int_equal(run_parse(argv, out, sizeof out), 0);
	assert_non_null(strstr(out, "usage: st-test [OPTIONS] COMMAND [ARGS]"));
	assert_non_null(strstr(out, "add [ENDPOINT...]"));
	assert_non_null(strstr(out, "--print-config"));
	assert_null(strstr(out, "--complete")); /* hidden */
	char *argv2[] = {"st-test", "add", "--help", NULL};
	assert_int_equal(run_parse(argv2, out, sizeof out), 0);
	assert_non_null(strstr(out, "usage: st-test add [OPTIONS] [ENDPOINT...]"));
	assert_non_null(strstr(out, "-s, --source S"));
}

static void version_prints_name_and_version(void **state)
{
	(void)state;
	char out[4096];
	char *argv[] = {"st-test", "--version", NULL};
	assert_int_equal(run_parse(argv, out, sizeof out), 0);
	assert_non_null(strstr(out, "st-test "));
}

static void completion_offers_commands_options_and_hints(void **state)
{
	(void)state;
	char out[4096];
	char *a1[] = {"st-test", "--complete", "--", "", NULL};
	assert_int_equal(run_parse(a1, out, sizeof out), 0);
	assert_string_equal(out, "add\tadd endpoints\nlist\tlist endpoints\nhelp\thelp on a command\n");
	char *a2[] = {"st-test", "--complete", "--", "add", "--so", NULL};
	assert_int_equal(run_parse(a2, out, sizeof out), 0);
	assert_string_equal(out, "--source\twhere the endpoints came from\n");
	char *a3[] = {"st-test", "--complete", "--", "add", "--exclude", "", NULL};
	assert_int_equal(run_parse(a3, out, sizeof out), 0);
	assert_string_equal(out, "@file\n");
	char *a4[] = {"st-test", "--complete", "--", "-o", "j", NULL};
	assert_int_equal(run_parse(a4, out, sizeof out), 0);
	assert_string_equal(out, "json\n");
	char *a5[] = {"st-test", "--complete", "--", "list", "--sour", NULL};
	assert_int_equal(run_parse(a5, out, sizeof out), 0);
	assert_string_equal(out, "");
}

static bool readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, 0) == 1;
}

/* SIGINT and SIGTERM become a readable descriptor while armed; afterwards the old handler. */
static void stop_fd_turns_signals_into_a_readable_descriptor(void **state)
{
	(void)state;
	struct st_err err = {0};
	int fd = st_cli_stop_begin_g(&err);
	assert_true(fd > 0);
	assert_false(readable(fd));
	assert_int_equal(raise(SIGTERM), 0); /* the process lives on */
	assert_true(readable(fd));
	char c;
	assert_int_equal(read(fd, &c, 1), 1);
	assert_int_equal(raise(SIGINT), 0);
	assert_true(readable(fd));
	assert_int_equal(read(fd, &c, 1), 1);
	st_cli_stop_end_g();
	struct sigaction sa;
	assert_int_equal(sigaction(SIGTERM, NULL, &sa), 0);
	assert_ptr_equal(sa.sa_handler, SIG_DFL);
	assert_int_equal(sigaction(SIGINT, NULL, &sa), 0);
	assert_ptr_equal(sa.sa_handler, SIG_DFL);
	/* armed again, the same descriptor */
	assert_int_equal(st_cli_stop_begin_g(&err), fd);
	st_cli_stop_end_g();
}

/* SIGHUP, any number of times, makes the reload descriptor readable. */
static void reload_fd_turns_sighup_into_a_readable_descriptor(void **state)
{
	(void)state;
	struct st_err err = {0};
	int fd = st_cli_reload_begin_g(&err);
	assert_true(fd > 0);
	char c;
	for (int i = 0; i < 3; i++) {
		assert_false(readable(fd));
		assert_int_equal(raise(SIGHUP), 0); /* the process lives on */
		assert_true(readable(fd));
		assert_int_equal(read(fd, &c, 1), 1);
	}
	st_cli_reload_end_g();
	struct sigaction sa;
	assert_int_equal(sigaction(SIGHUP, NULL, &sa), 0);
	assert_ptr_equal(sa.sa_handler, SIG_DFL);
}

/* The sd_notify datagram reaches a path socket and an abstract one; no
 * NOTIFY_SOCKET is no service manager, not an error. */
static void notify_sends_one_datagram_to_notify_socket(void **state)
{
	(void)state;
	struct st_err err = {0};
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(st_cli_notify("READY=1", &err), 0);
	char path[64];
	snprintf(path, sizeof path, "/tmp/st-notify-%d", (int)getpid());
	const char *names[] = {path, "@st-notify-test"};
	for (size_t i = 0; i < 2; i++) {
		int s = socket(AF_UNIX, SOCK_DGRAM, 0);
		assert_true(s >= 0);
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		size_t len = strlen(names[i]);
		memcpy(sa.sun_path, names[i], len);
		if (names[i][0] == '@')
			sa.sun_path[0] = '\0';
		unlink(path);
		assert_int_equal(bind(s, (struct sockaddr *)&sa,
		                      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)), 0);
		setenv("NOTIFY_SOCKET", names[i], 1);
		assert_int_equal(st_cli_notify("READY=1\nSTATUS=listening", &err), 1);
		char buf[64] = {0};
		assert_int_equal(recv(s, buf, sizeof buf - 1, MSG_DONTWAIT), 24);
		assert_string_equal(buf, "READY=1\nSTATUS=listening");
		close(s);
	}
	unlink(path);
	setenv("NOTIFY_SOCKET", "relative", 1);
	assert_int_equal(st_cli_notify("READY=1", &err), -1);
	unsetenv("NOTIFY_SOCKET");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(subcommand_options_and_operands_are_parsed),
		cmocka_unit_test(double_dash_ends_options),
		cmocka_unit_test(unknown_option_exits_2_and_names_it),
		cmocka_unit_test(option_of_another_command_is_refused),
		cmocka_unit_test(missing_command_and_unknown_command_are_usage_errors),
		cmocka_unit_test(bounded_number_errors_name_the_option),
		cmocka_unit_test(missing_argument_is_reported),
		cmocka_unit_test(help_lists_commands_and_exits_0),
		cmocka_unit_test(version_prints_name_and_version),
		cmocka_unit_test(completion_offers_commands_options_and_hints),
		cmocka_unit_test(stop_fd_turns_signals_into_a_readable_descriptor),
		cmocka_unit_test(reload_fd_turns_sighup_into_a_readable_descriptor),
		cmocka_unit_test(notify_sends_one_datagram_to_notify_socket),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
