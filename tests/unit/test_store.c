/* test_store.c - the flat-file engine: journal checksums, torn tails, corrupt snapshots, locks. */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"

#include "st/store.h"
#include "st/util.h"

struct collected {
	char lines[64][128];
	size_t n;
};

static int collect(void *ctx, const char *line, size_t len, unsigned long lineno,
                   struct st_err *err)
{
	(void)lineno;
	(void)err;
	struct collected *c = ctx;
	if (c->n < 64)
		snprintf(c->lines[c->n++], 128, "%.*s", (int)len, line);
	return 0;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = malloc(1 << 20);
	*len = fread(buf, 1, 1 << 20, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void path_in(char *buf, size_t size, const char *dir, const char *name)
{
	snprintf(buf, size, "%s/%s", dir, name);
}

/* Writes a snapshot with lines a, b and a journal with "put c". */
static void make_table(const char *dir)
{
	struct st_store *s;
	struct st_store_writer *w;
	struct st_err err = {0};
	assert_int_equal(st_store_open(&s, dir, "t", 1, ST_STORE_WRITE, &err), 0);
	assert_int_equal(st_store_rewrite_begin(s, &w, &err), 0);
	assert_int_equal(st_store_writer_line(w, "a", 1, &err), 0);
	assert_int_equal(st_store_writer_line(w, "b", 1, &err), 0);
	assert_int_equal(st_store_rewrite_commit(w, &err), 0);
	assert_int_equal(st_store_append(s, "put c", 5, &err), 0);
	assert_int_equal(st_store_sync(s, &err), 0);
	st_store_close(s);
}

static void snapshot_and_journal_round_trip(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	make_table(dir);
	struct st_store *s;
	struct st_err err = {0};
	struct collected snap = {0}, jour = {0};
	assert_int_equal(st_store_open(&s, dir, "t", 1, ST_STORE_READ, &err), 0);
	assert_int_equal(st_store_read_snapshot(s, collect, &snap, &err), 0);
	assert_int_equal(st_store_read_journal(s, collect, &jour, &err), 0);
	assert_int_equal(snap.n, 2);
	assert_string_equal(snap.lines[1], "b");
	assert_int_equal(jour.n, 1);
	assert_string_equal(jour.lines[0], "put c");
	assert_int_equal(st_store_torn(s), 0);
	const char *body;
	size_t len;
	unsigned long first;
	assert_int_equal(st_store_snapshot(s, &body, &len, &first, &err), 0);
	assert_int_equal(len, 4);
	assert_memory_equal(body, "a\nb\n", 4);
	assert_int_equal(first, 2);
	st_store_close(s);
	char p[512];
	size_t n;
	path_in(p, sizeof p, dir, "t.tsv");
	char *text = read_file(p, &n);
	assert_string_equal(text, "#st t 1 gen 1\na\nb\n");
	free(text);
	path_in(p, sizeof p, dir, "t.journal");
	text = read_file(p, &n);
	char want[128];
	snprintf(want, sizeof want, "#st-journal t 1 gen 1\n#batches\nput c\t#%08x\n#commit\n",
	         st_crc32c(0, "put c", 5));
	assert_string_equal(text, want);
	free(text);
	unit_rmtree(dir);
}

static void files_are_private(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	char sub[512];
	snprintf(sub, sizeof sub, "%s/a/b", dir);
	struct st_err err = {0};
	assert_int_equal(st_datadir_prepare(sub, &err), 0);
	make_table(sub);
	struct stat st;
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	char p[600];
	path_in(p, sizeof p, sub, "t.tsv");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	path_in(p, sizeof p, sub, "t.journal");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	path_in(p, sizeof p, dir, "file");
	write_file(p, "x");
	assert_int_equal(st_datadir_prepare(p, &err), -1);
	unit_rmtree(dir);
}

static void torn_last_line_is_dropped_then_cut_off(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	make_table(dir);
	char p[512];
	path_in(p, sizeof p, dir, "t.journal");
	FILE *f = fopen(p, "ab");
	fputs("put half-writ", f); /* a crash mid-line: no checksum, no newline */
	fclose(f);
	struct st_store *s;
	struct st_err err = {0};
	struct collected jour = {0};
	assert_int_equal(st_store_open(&s, dir, "t", 1, ST_STORE_WRITE, &err), 0);
	assert_int_equal(st_store_read_journal(s, collect, &jour, &err), 0);
	assert_int_equal(jour.n, 1);
	assert_int_equal(st_store_torn(s), 1);
	assert_int_equal(st_store_append(s, "put d", 5, &err), 0);
	assert_int_equal(st_store_sync(s, &err), 0);
	st_store_close(s);
	memset(&jour, 0, sizeof jour);
	assert_int_equal(st_store_open(&s, dir, "t", 1, ST_STORE_READ, &err), 0);
	assert_int_equal(st_store_read_journal(s, collect, &jour, &err), 0);
	assert_int_equal(jour.n, 2);
	assert_string_equal(jour.lines[1], "put d");
	assert_int_equal(st_store_torn(s), 0);
	st_store_close(s);
	unit_rmtree(dir);
}

static void bad_checksum_on_last_line_is_torn(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	make_table(dir);
	char p[512];
	path_in(p, sizeof p, dir, "t.journal");
	FILE *f = fopen(p, "ab");
	fputs("put x\t#00000000\n", f);
	fclose(f);
	struct st_store *s;
	struct st_err err = {0};
	struct collected jour = {0};
	assert_int_equal(st_store_open(&s, dir, "t", 1, ST_STORE_READ, &err), 0);
	assert_int_equal(st_store_read_journal(s, collect, &jour, &err), 0);
	assert_int_equal(jour.n, 1);
	assert_int_equal(st_store_torn(s), 1);
	st_store_close(s);
	unit_rmtree(dir);
}

/* A batch counts whole or not at all: lines after the last commit line were a
 * batch that never finished (a crash, a full disk), and a retry is safe. */
static void rollback_undoes_this_opens_synced_changes_only(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	make_table(dir);
	struct st_store *s;
	struct st_err err = {0};
	struct collected jour = {0};
	assert_int_equal(st_store_open(&s, dir, "t", 1, ST_STORE_WRITE, &err), 0);
	assert_int_equal(st_store_append(s, "put d", 5, &err), 0);
	assert_int_equal(st_store_sync(s, &err), 0); /* committed, as a lazy writer syncs */
	assert_int_equal(st_store_append(s, "put e", 5, &err), 0);
	assert_int_equal(st_store_rollback(s, &err), 0);
	st_store_close(s);
	assert_int_equal(st_store_open(&s, dir, "t", 1, ST_STORE_READ, &err), 0);
	assert_int_equal(st_store_read_journal(s, collect, &jour, &err), 0);
	assert_int_equal(jour.n, 1); /* make_table's "put c" stays, d and e are gone */
	assert_string_equal(jour.lines[0], "put c");
	assert_int_equal(st_store_torn(s), 0);
	st_store_close(s);
	/* after a rewrite, a rollback keeps the snapshot and drops only what followed */
	struct st_store_writer *w;
	assert_int_equal(st_store_open(&s, dir, "t", 1, ST_STORE_WRITE, &err), 0);
	assert_int_equal(st_store_append(s, "put f", 5, &err), 0);
	assert_int_equal(st_store_sync(s, &err), 0);
	assert_int_equal(st_store_rewrite_begin(s, &w, &err), 0);
	assert_int_equal(st_store_writer_line(w, "f", 1, &err), 0);
	assert_int_equal(st_store_rewrite_commit(w, &err), 0);
	assert_int_equal(st_store_append(s, "put g", 5, &err), 0);
	assert_int_equal(st_store_sync(s, &err), 0);
	assert_int_equal(st_store_rollback(s, &err), 0);
	st_store_close(s);
	struct collected snap = {0};
	memset(&jour, 0, sizeof jour);
	assert_int_equal(st_store_open(&s, dir, "t", 1, ST_STORE_READ, &err), 0);
	assert_int_equal(st_store_read_snapshot(s, collect, &snap, &err), 0);
	assert_int_equal(st_store_read_journal(s, collect, &jour, &err), 0);
	assert_int_equal(snap.n, 1);
	assert_string_equal(snap.lines[0], "f");
	assert_int_equal(jour.n, 0);
	st_store_close(s);
	unit_rmtree(dir);
}

static void a_batch_without_its_commit_line_counts_for_nothing(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	make_table(dir);
	char p[512];
	path_in(p, sizeof p, dir, "t.journal");
	FILE *f = fopen(p, "ab");
	for (int i = 0; i < 3; i++) { /* whole, checksummed lines, but no "#commit" */
		char payload[16];
		int n = snprintf(payload, sizeof payload, "put u%d", i);
		fprintf(f, "%s\t#%08x\n", payload, st_crc32c(0, payload, (size_t)n));
	}
	fclose(f);
	struct st_store *s;
	struct st_err err = {0};
	struct collected jour = {0};
	assert_int_equal(st_store_open(&s, dir, "t", 1, ST_STORE_WRITE, &err), 0);
	assert_int_equal(st_store_read_journal(s, collect, &jour, &err), 0);
	assert_int_equal(jour.n, 1);
	assert_string_equal(jour.lines[0], "put c");
	assert_int_equal(st_store_torn(s), 1);
	/* the next batch cuts the unfinished one off and commits alone */
	assert_int_equal(st_store_append(s, "put d", 5, &err), 0);
	assert_int_equal(st_store_sync(s, &err), 0);
	st_store_close(s);
	memset(&jour, 0, sizeof jour);
	assert_int_equal(st_store_open(&s, dir, "t", 1, ST_STORE_READ, &err), 0);
	assert_int_equal(st_store_read_journal(s, collect, &jour, &err), 0);
	assert_int_equal(jour.n, 2);
	assert_string_equal(jour.lines[1], "put d");
	assert_int_equal(st_store_torn(s), 0);
	st_store_close(s);
	/* a journal from before batches (no "#batches" line) counts every whole line */
	char legacy[256];
	snprintf(legacy, sizeof legacy, "#st-journal t 1 gen 1\nput c\t#%08x\nput d\t#%08x\n",
	         st_crc32c(0, "put c", 5), st_crc32c(0, "put d", 5));
	write_file(p, legacy);
	memset(&jour, 0, sizeof jour);
	assert_int_equal(st_store_open(&s, dir, "t", 1, ST_STORE_READ, &err), 0);
	assert_int_equal(st_store_read_journal(s, collect, &jour, &err), 0);
	assert_int_equal(jour.n, 2);
	st_store_close(s);
	unit_rmtree(dir);
}

static void bad_checksum_in_the_middle_is_an_error_naming_the_line(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	make_table(dir);
	char p[512];
	path_in(p, sizeof p, dir, "t.journal");
	size_t n;
	char *text = read_file(p, &n);
	char *c = strstr(text, "put c");
	c[4] = 'X'; /* a flipped byte */
	write_file(p, text);
	FILE *f = fopen(p, "ab");
	char line[64];
	snprintf(line, sizeof line, "put e\t#%08x\n", st_crc32c(0, "put e", 5));
	fputs(line, f);
	fclose(f);
	struct st_store *s;
	struct st_err err = {0};
	assert_int_equal(st_store_open(&s, dir, "t", 1, ST_STORE_WRITE, &err), 0);
	assert_int_equal(st_store_read_journal(s, collect, &(struct collected){0}, &err), -1);
	assert_int_equal(err.code, ST_EX_DATAERR);
	assert_non_null(strstr(err.msg, "t.journal:3: bad checksum"));
	st_store_close(s);
	free(text);
	unit_rmtree(dir);
}

static void expect_corrupt(const char *snapshot, const char *msg)
{
	char *dir = unit_tmpdir();
	char p[512];
	path_in(p, sizeof p, dir, "t.tsv");
	write_file(p, snapshot);
	struct st_store *s = NULL;
	struct st_err err = {0};
	int rc = st_store_open(&s, dir, "t", 1, ST_STORE_WRITE, &err);
	if (rc == 0)
		rc = st_store_read_snapshot(s, collect, &(struct collected){0}, &err);
	assert_int_equal(rc, -1);
	if (!strstr(err.msg, msg))
		fail_msg("got '%s', want '%s'", err.msg, msg);
	st_store_close(s);
	size_t n;
	char *after = read_file(p, &n);
	assert_string_equal(after, snapshot); /* nothing overwritten */
	free(after);
	unit_rmtree(dir);
}

static void corrupt_snapshots_are_errors_naming_file_and_line(void **state)
{
	(void)state;
	expect_corrupt("garbage\na\n", "t.tsv:1: bad header");
	expect_corrupt("#st other 1 gen 1\na\n", "t.tsv:1: holds table 'other'");
	expect_corrupt("#st t 9 gen 1\na\n", "t.tsv:1: format version 9 is newer");
	expect_corrupt("#st t 1 gen 1\na\nb", "t.tsv:3: last line is cut short");
	expect_corrupt("#st t 1 gen 1 extra\n", "t.tsv:1: bad header");
	expect_corrupt("#st t 1 gen 1", "t.tsv:1: no header line");
}

static void nul_and_overlong_lines_are_corruption(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	char p[512];
	path_in(p, sizeof p, dir, "t.tsv");
	FILE *f = fopen(p, "wb");
	fputs("#st t 1 gen 1\nok\n", f);
	fputc('x', f);
	fputc('\0', f);
	fputs("y\n", f);
	fclose(f);
	struct st_store *s;
	struct st_err err = {0};
	assert_int_equal(st_store_open(&s, dir, "t", 1, ST_STORE_READ, &err), 0);
	assert_int_equal(st_store_read_snapshot(s, collect, &(struct collected){0}, &err), -1);
	assert_non_null(strstr(err.msg, "t.tsv:3: NUL byte"));
	st_store_close(s);
	f = fopen(p, "wb");
	fputs("#st t 1 gen 1\n", f);
	for (int i = 0; i < ST_LINE_MAX + 5; i++)
		fputc('z', f);
	fputc('\n', f);
	fclose(f);
	assert_int_equal(st_store_open(&s, dir, "t", 1, ST_STORE_READ, &err), 0);
	assert_int_equal(st_store_read_snapshot(s, collect, &(struct collected){0}, &err), -1);
	assert_non_null(strstr(err.msg, "t.tsv:2: line longer than"));
	st_store_close(s);
	unit_rmtree(dir);
}

static void journal_of_an_older_gen_is_ignored(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	make_table(dir);
	/* a crash after the snapshot's rename, before the journal's reset */
	char p[512];
	path_in(p, sizeof p, dir, "t.tsv");
	write_file(p, "#st t 1 gen 2\na\nb\nc\n");
	struct st_store *s;
	struct st_err err = {0};
	struct collected jour = {0};
	assert_int_equal(st_store_open(&s, dir, "t", 1, ST_STORE_WRITE, &err), 0);
	assert_int_equal(st_store_read_journal(s, collect, &jour, &err), 0);
	assert_int_equal(jour.n, 0);
	assert_int_equal(st_store_append(s, "put z", 5, &err), 0);
	assert_int_equal(st_store_sync(s, &err), 0);
	st_store_close(s);
	memset(&jour, 0, sizeof jour);
	assert_int_equal(st_store_open(&s, dir, "t", 1, ST_STORE_READ, &err), 0);
	assert_int_equal(st_store_read_journal(s, collect, &jour, &err), 0);
	assert_int_equal(jour.n, 1);
	assert_string_equal(jour.lines[0], "put z");
	st_store_close(s);
	unit_rmtree(dir);
}

static void rewrite_resets_the_journal_and_abort_leaves_all(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	make_table(dir);
	struct st_store *s;
	struct st_store_writer *w;
	struct st_err err = {0};
	assert_int_equal(st_store_open(&s, dir, "t", 1, ST_STORE_WRITE, &err), 0);
	assert_int_equal(st_store_rewrite_begin(s, &w, &err), 0);
	st_store_writer_line(w, "never", 5, &err);
	st_store_rewrite_abort(w);
	struct collected snap = {0}, jour = {0};
	assert_int_equal(st_store_read_snapshot(s, collect, &snap, &err), 0);
	assert_int_equal(snap.n, 2);
	char p[512];
	path_in(p, sizeof p, dir, "t.tsv.tmp");
	assert_int_equal(access(p, F_OK), -1);
	assert_int_equal(st_store_rewrite_begin(s, &w, &err), 0);
	st_store_writer_line(w, "c", 1, &err);
	assert_int_equal(st_store_writer_line(w, "x\ny", 3, &err), -1);
	assert_int_equal(st_store_rewrite_commit(w, &err), 0);
	memset(&snap, 0, sizeof snap);
	assert_int_equal(st_store_read_snapshot(s, collect, &snap, &err), 0);
	assert_int_equal(snap.n, 1);
	assert_int_equal(st_store_read_journal(s, collect, &jour, &err), 0);
	assert_int_equal(jour.n, 0);
	st_store_close(s);
	unit_rmtree(dir);
}

static void a_killed_writer_leaves_a_readable_table(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	make_table(dir);
	pid_t pid = fork();
	if (pid == 0) {
		struct st_store *s;
		struct st_err err = {0};
		if (st_store_open(&s, dir, "t", 1, ST_STORE_WRITE, &err) < 0)
			_exit(1);
		char line[32];
		for (int i = 0; i < 1000; i++) {
			int n = snprintf(line, sizeof line, "put n%d", i);
			st_store_append(s, line, (size_t)n, &err);
		}
		st_store_sync(s, &err);
		/* half a rewrite, then death */
		struct st_store_writer *w;
		st_store_rewrite_begin(s, &w, &err);
		st_store_writer_line(w, "partial", 7, &err);
		free(dir); /* the rest dies with the child, on purpose; this is the test's */
		_exit(0);
	}
	int status;
	waitpid(pid, &status, 0);
	struct st_store *s;
	struct st_err err = {0};
	struct collected snap = {0};
	assert_int_equal(st_store_open(&s, dir, "t", 1, ST_STORE_WRITE, &err), 0);
	assert_int_equal(st_store_read_snapshot(s, collect, &snap, &err), 0);
	assert_int_equal(snap.n, 2);
	unsigned long count = 0;
	assert_int_equal(st_store_read_journal(s, NULL, NULL, &err), 0);
	assert_true(st_store_journal_bytes(s) > 1000 * 10);
	(void)count;
	st_store_close(s);
	unit_rmtree(dir);
}

static void writers_serialise_and_nowait_says_tempfail(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	make_table(dir);
	struct st_store *s, *t;
	struct st_err err = {0};
	assert_int_equal(st_store_open(&s, dir, "t", 1, ST_STORE_WRITE, &err), 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct st_store *c;
		struct st_err e = {0};
		st_store_close(s); /* the inherited descriptor holds the parent's lock too */
		int rc = st_store_open(&c, dir, "t", 1, ST_STORE_WRITE | ST_STORE_NOWAIT, &e);
		_exit(rc == -1 && e.code == ST_EX_TEMPFAIL ? 0 : 1);
	}
	int status;
	waitpid(pid, &status, 0);
	assert_int_equal(WEXITSTATUS(status), 0);
	/* a waiting writer gets in once the first lets go */
	pid = fork();
	if (pid == 0) {
		struct st_store *c;
		struct st_err e = {0};
		st_store_close(s);
		if (st_store_open(&c, dir, "t", 1, ST_STORE_WRITE, &e) < 0)
			_exit(1);
		st_store_append(c, "put child", 9, &e);
		_exit(st_store_sync(c, &e) == 0 ? 0 : 1);
	}
	usleep(100000);
	assert_int_equal(st_store_append(s, "put parent", 10, &err), 0);
	assert_int_equal(st_store_sync(s, &err), 0);
	st_store_close(s);
	waitpid(pid, &status, 0);
	assert_int_equal(WEXITSTATUS(status), 0);
	struct collected jour = {0};
	assert_int_equal(st_store_open(&t, dir, "t", 1, ST_STORE_READ, &err), 0);
	assert_int_equal(st_store_read_journal(t, collect, &jour, &err), 0);
	assert_int_equal(jour.n, 3);
	assert_string_equal(jour.lines[1], "put parent");
	assert_string_equal(jour.lines[2], "put child");
	st_store_close(t);
	unit_rmtree(dir);
}

static void move_aside_keeps_the_damaged_files(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	make_table(dir);
	struct st_store *s;
	struct st_store_writer *w;
	struct st_err err = {0};
	assert_int_equal(st_store_open(&s, dir, "t", 1, ST_STORE_WRITE, &err), 0);
	assert_int_equal(st_store_move_aside(s, &err), 0);
	assert_int_equal(st_store_rewrite_begin(s, &w, &err), 0);
	st_store_writer_line(w, "saved", 5, &err);
	assert_int_equal(st_store_rewrite_commit(w, &err), 0);
	st_store_close(s);
	char p[512];
	size_t n;
	path_in(p, sizeof p, dir, "t.tsv.bak");
	char *text = read_file(p, &n);
	assert_string_equal(text, "#st t 1 gen 1\na\nb\n");
	free(text);
	path_in(p, sizeof p, dir, "t.journal.bak");
	assert_int_equal(access(p, F_OK), 0);
	path_in(p, sizeof p, dir, "t.tsv");
	text = read_file(p, &n);
	assert_string_equal(text, "#st t 1 gen 2\nsaved\n");
	free(text);
	assert_int_equal(st_store_open(&s, dir, "t", 1, ST_STORE_READ, &err), 0);
	assert_int_equal(st_store_move_aside(s, &err), -1);
	st_store_close(s);
	unit_rmtree(dir);
}

static void aux_files_are_fresh_only_for_their_gen(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	make_table(dir);
	struct st_store *s;
	struct st_store_writer *w;
	struct st_err err = {0};
	const char *body;
	size_t len;
	assert_int_equal(st_store_open(&s, dir, "t", 1, ST_STORE_WRITE, &err), 0);
	assert_int_equal(st_store_aux_map(s, "rank", &body, &len, &err), 0);
	assert_int_equal(st_store_aux_begin(s, "rank", &w, &err), 0);
	st_store_writer_line(w, "idx", 3, &err);
	assert_int_equal(st_store_rewrite_commit(w, &err), 0);
	assert_int_equal(st_store_aux_map(s, "rank", &body, &len, &err), 1);
	assert_int_equal(len, 4);
	assert_memory_equal(body, "idx\n", 4);
	assert_int_equal(st_store_rewrite_begin(s, &w, &err), 0);
	assert_int_equal(st_store_rewrite_commit(w, &err), 0);
	assert_int_equal(st_store_aux_map(s, "rank", &body, &len, &err), 0); /* stale now */
	st_store_close(s);
	unit_rmtree(dir);
}

struct notices {
	int n;
	char last[512];
};

static void on_notice(void *ctx, const char *msg)
{
	struct notices *c = ctx;
	c->n++;
	snprintf(c->last, sizeof c->last, "%s", msg);
}

/* A writer waits for a reader's lock at most lock_wait, says so once after a
 * second, and names the holder; an unlocked reader holds up nobody. */
static void lock_wait_is_bounded_and_names_the_holder(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	struct st_store *w, *r, *w2;
	struct st_err err = {0};
	assert_int_equal(st_store_open(&w, dir, "t", 1, ST_STORE_WRITE, &err), 0);
	assert_int_equal(st_store_append(w, "one", 3, &err), 0);
	assert_int_equal(st_store_sync(w, &err), 0);
	st_store_close(w);
	assert_int_equal(st_store_open(&r, dir, "t", 1, ST_STORE_READ, &err), 0);
	struct notices seen = {0};
	struct st_lock_wait wait = {.ms = 1300, .notice = on_notice, .ctx = &seen};
	int64_t t0 = st_monotonic_ms();
	assert_int_equal(st_store_open_wait(&w2, dir, "t", 1, ST_STORE_WRITE, &wait, &err), -1);
	assert_true(st_monotonic_ms() - t0 >= 1300);
	assert_int_equal(err.code, ST_EX_TEMPFAIL);
	assert_int_equal(seen.n, 1);
	assert_non_null(strstr(seen.last, "waiting for the t lock"));
	/* once the reader lets go, the writer gets in at once, and the reader still
	 * reads what it saw, even after the writer changed the journal */
	assert_int_equal(st_store_unlock(r, &err), 0);
	wait.ms = 0;
	assert_int_equal(st_store_open_wait(&w2, dir, "t", 1, ST_STORE_WRITE, &wait, &err), 0);
	assert_int_equal(st_store_append(w2, "two", 3, &err), 0);
	assert_int_equal(st_store_sync(w2, &err), 0);
	struct collected c = {0};
	assert_int_equal(st_store_read_journal(r, collect, &c, &err), 0);
	assert_int_equal(c.n, 1);
	assert_string_equal(c.lines[0], "one");
	assert_int_equal(st_store_unlock(w2, &err), -1); /* a writer keeps its lock */
	st_store_close(w2);
	st_store_close(r);
	unit_rmtree(dir);
}

/* The holder named in the message is the other process, by pid and command. */
static void lock_holder_is_named(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	int ready[2];
	assert_int_equal(pipe(ready), 0);
	pid_t child = fork();
	if (child == 0) {
		struct st_store *s;
		struct st_err e = {0};
		if (st_store_open(&s, dir, "t", 1, ST_STORE_WRITE, &e) < 0)
			_exit(1);
		(void)!write(ready[1], "x", 1);
		sleep(5);
		_exit(0);
	}
	char b;
	assert_int_equal(read(ready[0], &b, 1), 1);
	struct st_store *s;
	struct st_err err = {0};
	struct st_lock_wait wait = {.ms = 100};
	assert_int_equal(st_store_open_wait(&s, dir, "t", 1, ST_STORE_READ, &wait, &err), -1);
	assert_int_equal(err.code, ST_EX_TEMPFAIL);
	char want[64];
	snprintf(want, sizeof want, "held by pid %ld, ", (long)child);
	assert_non_null(strstr(err.msg, want));
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	close(ready[0]);
	close(ready[1]);
	unit_rmtree(dir);
}

static void missing_table_reads_empty_and_compaction_policy(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	char sub[512];
	snprintf(sub, sizeof sub, "%s/none", dir);
	struct st_store *s;
	struct st_err err = {0};
	/* a reader creates nothing: no data dir is missing input */
	assert_int_equal(st_store_open(&s, sub, "t", 1, ST_STORE_READ, &err), -1);
	assert_int_equal(err.code, ST_EX_NOINPUT);
	assert_non_null(strstr(err.msg, sub));
	struct stat st;
	assert_int_equal(stat(sub, &st), -1);
	/* a data dir without the table reads as empty, and gains no file */
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(st_store_open(&s, sub, "t", 1, ST_STORE_READ, &err), 0);
	char lock[600];
	snprintf(lock, sizeof lock, "%s/t.lock", sub);
	assert_int_equal(stat(lock, &st), -1);
	assert_int_equal(st_store_read_snapshot(s, collect, &(struct collected){0}, &err), 0);
	assert_int_equal(st_store_read_journal(s, collect, &(struct collected){0}, &err), 0);
	assert_false(st_store_wants_compaction(s));
	assert_int_equal(st_store_append(s, "x", 1, &err), -1);
	st_store_close(s);
	assert_int_equal(st_store_open(&s, dir, "t", 1, ST_STORE_WRITE, &err), 0);
	char line[100];
	memset(line, 'q', sizeof line);
	for (int i = 0; i < 1000; i++)
		st_store_append(s, line, sizeof line, &err);
	assert_true(st_store_wants_compaction(s));
	assert_int_equal(st_store_append(s, "a\nb", 3, &err), -1);
	st_store_close(s);
	assert_int_equal(st_store_open(&s, dir, "bad/name", 1, ST_STORE_WRITE, &err), -1);
	unit_rmtree(dir);
}

static int count_lines(void *ctx, const char *line, size_t len, unsigned long lineno,
                       struct st_err *err)
{
	(void)line;
	(void)len;
	(void)lineno;
	(void)err;
	++*(int *)ctx;
	return 0;
}

static void parse_image_checks_header_and_lines(void **state)
{
	(void)state;
	struct st_err err = {0};
	int n = 0;
	const char *good = "#st t 1 gen 3\nx\ny\n";
	assert_int_equal(st_store_parse_image("t", 1, good, strlen(good), count_lines, &n, &err), 0);
	assert_int_equal(n, 2);
	const char *bad = "#st t 1 gen 3\nx\ny";
	assert_int_equal(st_store_parse_image("t", 1, bad, strlen(bad), count_lines, &n, &err), -1);
	assert_int_equal(st_store_parse_image("t", 1, "", 0, count_lines, &n, &err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(snapshot_and_journal_round_trip),
		cmocka_unit_test(files_are_private),
		cmocka_unit_test(torn_last_line_is_dropped_then_cut_off),
		cmocka_unit_test(bad_checksum_on_last_line_is_torn),
		cmocka_unit_test(bad_checksum_in_the_middle_is_an_error_naming_the_line),
		cmocka_unit_test(corrupt_snapshots_are_errors_naming_file_and_line),
		cmocka_unit_test(nul_and_overlong_lines_are_corruption),
		cmocka_unit_test(journal_of_an_older_gen_is_ignored),
		cmocka_unit_test(rewrite_resets_the_journal_and_abort_leaves_all),
		cmocka_unit_test(a_killed_writer_leaves_a_readable_table),
		cmocka_unit_test(writers_serialise_and_nowait_says_tempfail),
		cmocka_unit_test(move_aside_keeps_the_damaged_files),
		cmocka_unit_test(aux_files_are_fresh_only_for_their_gen),
		cmocka_unit_test(missing_table_reads_empty_and_compaction_policy),
		cmocka_unit_test(a_batch_without_its_commit_line_counts_for_nothing),
		cmocka_unit_test(rollback_undoes_this_opens_synced_changes_only),
		cmocka_unit_test(lock_wait_is_bounded_and_names_the_holder),
		cmocka_unit_test(lock_holder_is_named),
		cmocka_unit_test(parse_image_checks_header_and_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
