/* measure.c - runs one command REPS times and reports its wall time and peak memory, so
 * every row of the benchmark table is timed the same way, without a shell in the timing.
 *   measure [-n REPS] [-r RC] [-i IN] [-o OUT] [-p PREP] [-t SECONDS] -- COMMAND ARG...
 * -n  repetitions (default 5)          -r  the exit code that counts as success (default 0)
 * -i  stdin of every run (default /dev/null)   -o  stdout of the runs (default /dev/null)
 * -p  a sh command run before each repetition, not timed (a fresh copy of a table)
 * -t  a run still going after SECONDS is killed and the row fails (default 300)
 * Prints "ok MIN MEDIAN MAX KB_MIN KB_MEDIAN KB_MAX" (milliseconds, then the runs' peak
 * resident kilobytes) or "failed WHY": a row is a timing only when every repetition did what it should. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_REPS 1000

static volatile sig_atomic_t timed_out;

static void on_alarm(int sig)
{
	(void)sig;
	timed_out = 1;
}

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* One run: returns 0 and its time and peak KB, or -1 with why filled in. */
static int run_once(char **argv, const char *in, const char *out, int want_rc, int timeout_s,
                    double *ms, long *kb, char *why, size_t why_size)
{
	double t0 = now_ms();
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(why, why_size, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		int i = open(in, O_RDONLY), o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open("/dev/null", O_WRONLY);
		if (i < 0 || o < 0 || e < 0 || dup2(i, 0) < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(126);
		execvp(argv[0], argv);
		_exit(127);
	}
	/* block in wait4 (a polling loop would take CPU from the run it times); the alarm
	 * interrupts it at the timeout */
	int status = 0;
	struct rusage ru;
	timed_out = 0;
	alarm((unsigned)timeout_s);
	for (;;) {
		pid_t w = wait4(pid, &status, 0, &ru);
		if (w == pid)
			break;
		if (w < 0 && errno == EINTR && timed_out) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			snprintf(why, why_size, "timed out after %ds", timeout_s);
			return -1;
		}
		if (w < 0 && errno != EINTR) {
			alarm(0);
			snprintf(why, why_size, "wait: %s", strerror(errno));
			return -1;
		}
	}
	alarm(0);
	*ms = now_ms() - t0;
	*kb = ru.ru_maxrss;
	if (WIFSIGNALED(status)) {
		snprintf(why, why_size, "killed by signal %d", WTERMSIG(status));
		return -1;
	}
	if (WEXITSTATUS(status) != want_rc) {
		snprintf(why, why_size, "exit %d (wanted %d)", WEXITSTATUS(status), want_rc);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int reps = 5, want_rc = 0, timeout_s = 300, c;
	const char *in = "/dev/null", *out = "/dev/null", *prep = NULL;
	while ((c = getopt(argc, argv, "n:r:i:o:p:t:")) != -1) {
		switch (c) {
		case 'n': reps = atoi(optarg); break;
		case 'r': want_rc = atoi(optarg); break;
		case 'i': in = optarg; break;
		case 'o': out = optarg; break;
		case 'p': prep = optarg; break;
		case 't': timeout_s = atoi(optarg); break;
		default: return 2;
		}
	}
	if (optind >= argc || reps < 1 || reps > MAX_REPS || timeout_s < 1) {
		fprintf(stderr, "usage: measure [-n REPS] [-r RC] [-i IN] [-o OUT] [-p PREP] "
		                "[-t SECONDS] -- COMMAND ARG...\n");
		return 2;
	}
	struct sigaction sa = {.sa_handler = on_alarm}; /* no SA_RESTART: wait4 returns EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	static double ms[MAX_REPS], kbs[MAX_REPS];
	for (int i = 0; i < reps; i++) {
		char why[128];
		long kb = 0;
		if (prep) {
			int rc = system(prep);
			if (rc != 0) {
				printf("failed prep exit %d\n", WIFEXITED(rc) ? WEXITSTATUS(rc) : -1);
				return 0;
			}
		}
		if (run_once(argv + optind, in, out, want_rc, timeout_s, &ms[i], &kb, why,
		             sizeof why) < 0) {
			printf("failed %s\n", why);
			return 0;
		}
		kbs[i] = (double)kb;
	}
	qsort(ms, (size_t)reps, sizeof ms[0], cmp_double);
	qsort(kbs, (size_t)reps, sizeof kbs[0], cmp_double);
	printf("ok %.3f %.3f %.3f %.0f %.0f %.0f\n", ms[0], ms[reps / 2], ms[reps - 1], kbs[0],
	       kbs[reps / 2], kbs[reps - 1]);
	return 0;
}
