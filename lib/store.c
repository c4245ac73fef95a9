/* store.c - flat-file tables: lock, mmap'ed snapshot, checksummed journal, atomic rewrite. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "st/config.h"
#include "st/store.h"
#include "st/util.h"

#define NAME_MAX_LEN 64
#define AUX_MAX 4
/* appends buffered before a forced write: an uncommitted batch on disk counts
 * for nothing until its "#commit", so a small buffer costs no durability */
#define JOURNAL_BUF_MAX (1u * 1024 * 1024)
/* a snapshot or index goes out this much a write: 16 times fewer writes than
 * stdio's 4 KiB, and no larger, since a big write makes big page-cache folios
 * and a reader that maps the file then faults in a whole folio a touch (1 MiB
 * writes made `best -n 8` on a 1M book 13.6 MB instead of 5.1) */
#define WRITER_BUF ((size_t)64 << 10)
#define JOURNAL_SOFT_MAX ((uint64_t)1 << 20)  /* compaction is due past this much journal */

struct map {
	int fd;
	const char *data; /* whole file, or NULL when empty or missing */
	size_t len;
	uint64_t mtime_ns; /* when the file was last written; 0 when missing */
};

struct aux {
	char suffix[32];
	struct map m;
};

struct st_store {
	char dir[ST_PATH_MAX];
	char name[NAME_MAX_LEN];
	char snap_path[ST_PATH_MAX + 80];
	char journal_path[ST_PATH_MAX + 80];
	unsigned version;
	unsigned flags;
	int lockfd;
	int dirfd;

	struct map snap;
	size_t body_off;          /* first byte after the header line */
	uint64_t gen;             /* the snapshot's gen; 0 when there is none */
	unsigned snap_version;    /* the format version in the snapshot's header; 0: none */

	int jfd;                  /* -1 until needed */
	bool journal_scanned;     /* valid_end and torn are known */
	bool journal_current;     /* it has a header for our gen */
	uint64_t journal_size;    /* bytes on disk */
	uint64_t valid_end;       /* bytes up to the end of the last good line */
	unsigned torn;
	struct st_buf pending;    /* appended, not yet written */

	struct aux aux[AUX_MAX];
	size_t naux;

	bool batched;             /* the journal closes each batch with a "#commit" line */
	bool uncommitted;         /* appended since the last commit */
	bool unlocked;            /* st_store_unlock: the journal is read from jcopy */
	bool run_started;         /* run_start is known */
	uint64_t run_start;       /* the journal's committed end before this open's changes */
	char *jcopy;
	size_t jcopy_len;

	char pause_at[128];       /* ST_TEST_DELAY, read once at open; "" (the rule): no pauses */
};

struct st_store_writer {
	struct st_store *s;
	FILE *f;
	char *buf;                /* f's buffer (glibc ignores setvbuf's size without one) */
	char tmp[ST_PATH_MAX + 100];
	char final[ST_PATH_MAX + 100];
	bool aux;
	bool failed;
	uint64_t body_bytes;      /* record bytes written after the header */
};

/* Gives the pages of m's mapping back to the page cache (a later touch reads them again). */
static void map_release(const struct map *m)
{
	if (m->data)
		madvise((void *)m->data, m->len, MADV_DONTNEED);
}

static void map_close(struct map *m)
{
	if (m->data)
		munmap((void *)m->data, m->len);
	if (m->fd >= 0)
		close(m->fd);
	m->data = NULL;
	m->len = 0;
	m->mtime_ns = 0;
	m->fd = -1;
}

/* Maps path read-only; a missing file is an empty map (returns 0). */
static int map_open(struct map *m, const char *path, struct st_err *err)
{
	m->fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	m->data = NULL;
	m->len = 0;
	m->mtime_ns = 0;
	if (m->fd < 0) {
		if (errno == ENOENT)
			return 0;
		return st_err_sys(err, ST_EX_IOERR, "'%s'", path);
	}
	struct stat st;
	if (fstat(m->fd, &st) < 0)
		return st_err_sys(err, ST_EX_IOERR, "'%s'", path);
	m->mtime_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000u + (uint64_t)st.st_mtim.tv_nsec;
	if (st.st_size == 0)
		return 0;
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, m->fd, 0);
	if (p == MAP_FAILED)
		return st_err_sys(err, ST_EX_IOERR, "'%s': mmap", path);
	m->data = p;
	m->len = (size_t)st.st_size;
	return 0;
}

int st_datadir_prepare(const char *dir, struct st_err *err)
{
	char path[ST_PATH_MAX];
	if (st_strlcpy(path, dir, sizeof path) >= sizeof path)
		return st_err_set(err, ST_EX_USAGE, "'%s': path too long", dir);
	for (char *p = path + 1;; p++) {
		char c = *p;
		if (c == '/' || c == '\0') {
			*p = '\0';
			if (mkdir(path, 0700) < 0 && errno != EEXIST)
				return st_err_sys(err, ST_EX_CANTCREAT, "'%s'", path);
			*p = c;
		}
		if (c == '\0')
			break;
	}
	struct stat st;
	if (stat(dir, &st) < 0)
		return st_err_sys(err, ST_EX_CANTCREAT, "'%s'", dir);
	if (!S_ISDIR(st.st_mode))
		return st_err_set(err, ST_EX_CANTCREAT, "'%s': not a directory", dir);
	return 0;
}

/* Reads "#st NAME VERSION gen GEN" (prefix given) from the start of data. */
static int parse_header(const char *path, const char *prefix, const char *name, unsigned version,
                        const char *data, size_t len, size_t *body_off, uint64_t *gen,
                        unsigned *found_version, struct st_err *err)
{
	const char *nl = memchr(data, '\n', len < 512 ? len : 512);
	if (!nl)
		return st_err_set(err, ST_EX_DATAERR, "%s:1: no header line", path);
	char line[512];
	size_t n = (size_t)(nl - data);
	memcpy(line, data, n);
	line[n] = '\0';
	char fname[NAME_MAX_LEN + 1], pfx[32];
	unsigned v;
	unsigned long long g;
	int used = 0;
	if (memchr(line, '\0', n) ||
	    sscanf(line, "%31s %64s %u gen %llu%n", pfx, fname, &v, &g, &used) != 4 ||
	    (size_t)used != n || strcmp(pfx, prefix) != 0)
		return st_err_set(err, ST_EX_DATAERR, "%s:1: bad header (expected '%s %s %u gen N')",
		                  path, prefix, name, version);
	if (strcmp(fname, name) != 0)
		return st_err_set(err, ST_EX_DATAERR, "%s:1: holds table '%s', not '%s'", path, fname,
		                  name);
	if (v > version)
		return st_err_set(err, ST_EX_DATAERR,
		                  "%s:1: format version %u is newer than this program's %u", path, v,
		                  version);
	if (v == 0)
		return st_err_set(err, ST_EX_DATAERR, "%s:1: bad format version 0", path);
	*body_off = n + 1;
	*gen = g;
	if (found_version)
		*found_version = v;
	return 0;
}

static int load_snapshot(struct st_store *s, struct st_err *err)
{
	map_close(&s->snap);
	s->body_off = 0;
	s->snap_version = 0;
	if (map_open(&s->snap, s->snap_path, err) < 0)
		return -1;
	if (!s->snap.data) {
		if (s->snap.fd >= 0) /* an empty file: a crash before the header; treat as none */
			return 0;
		return 0;
	}
	uint64_t gen;
	if (parse_header(s->snap_path, "#st", s->name, s->version, s->snap.data, s->snap.len,
	                 &s->body_off, &gen, &s->snap_version, err) < 0)
		return -1;
	s->gen = gen;
	return 0;
}

/*
 * Who holds the lock on fd, for messages: "pid 4242, st-addrbook add", read
 * from /proc/locks and the holder's command line; "" when it cannot be told.
 */
static void lock_holder(int fd, char *buf, size_t size)
{
	buf[0] = '\0';
	struct stat st;
	FILE *f = fstat(fd, &st) == 0 ? fopen("/proc/locks", "re") : NULL;
	if (!f)
		return;
	char line[256];
	long pid = 0;
	while (!pid && fgets(line, sizeof line, f)) {
		/* "1: FLOCK  ADVISORY  WRITE 4242 08:01:1234 0 EOF"; a "->" line waits */
		char kind[16], mode[16], devino[64];
		long p;
		if (strstr(line, "->") ||
		    sscanf(line, "%*s %15s %*s %15s %ld %63s", kind, mode, &p, devino) != 4)
			continue;
		const char *ino = strrchr(devino, ':');
		if (strcmp(kind, "FLOCK") == 0 && ino && strtoull(ino + 1, NULL, 10) == st.st_ino &&
		    p != (long)getpid())
			pid = p;
	}
	fclose(f);
	if (!pid)
		return;
	char path[64], cmd[256] = "";
	snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
	int cfd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = cfd >= 0 ? read(cfd, cmd, sizeof cmd - 1) : -1;
	if (cfd >= 0)
		close(cfd);
	if (n <= 0) {
		snprintf(buf, size, "pid %ld", pid);
		return;
	}
	cmd[n] = '\0';
	/* argv[0]'s base name, and argv[1] when it is a subcommand, not an option */
	const char *prog = strrchr(cmd, '/') ? strrchr(cmd, '/') + 1 : cmd;
	size_t a0 = strlen(cmd);
	const char *sub = (ssize_t)a0 + 1 < n ? cmd + a0 + 1 : "";
	if (sub[0] == '-' || strpbrk(sub, "/=") || strlen(sub) > 20)
		sub = "";
	snprintf(buf, size, "pid %ld, %s%s%s", pid, prog, sub[0] ? " " : "", sub);
	for (char *c = buf; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c == 0x7f)
			*c = '?';
}

/*
 * Takes the lock, waiting at most wait->ms (NULL: for ever). A wait longer
 * than a second is told once to wait->notice, naming the holder. flock has no
 * timed wait, so the wait polls, from 1 ms up to 50 ms between tries.
 */
static int take_lock(int fd, bool writer, unsigned flags, const struct st_lock_wait *wait,
                     const char *name, struct st_err *err)
{
	int op = (writer ? LOCK_EX : LOCK_SH) | LOCK_NB;
	int64_t start = st_monotonic_ms(), limit = (flags & ST_STORE_NOWAIT) ? 0 : wait ? wait->ms : -1;
	bool told = false;
	long pause_us = 1000;
	char holder[300];
	for (;;) {
		if (flock(fd, op) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK)
			return st_err_sys(err, ST_EX_IOERR, "the %s lock", name);
		int64_t waited = st_monotonic_ms() - start;
		if (limit >= 0 && waited >= limit) {
			lock_holder(fd, holder, sizeof holder);
			return st_err_set(err, ST_EX_TEMPFAIL, "the %s table is in use%s%s%s", name,
			                  holder[0] ? " (held by " : "", holder, holder[0] ? ")" : "");
		}
		if (!told && waited >= 1000 && wait && wait->notice) {
			char msg[400];
			lock_holder(fd, holder, sizeof holder);
			snprintf(msg, sizeof msg, "waiting for the %s lock%s%s%s", name,
			         holder[0] ? " (held by " : "", holder, holder[0] ? ")" : "");
			wait->notice(wait->ctx, msg);
			told = true;
		}
		usleep((useconds_t)pause_us);
		if (pause_us < 50000)
			pause_us *= 2;
	}
}

/*
 * Test-only crash points. ST_TEST_DELAY=POINT:MS[,POINT:MS] makes a store sleep
 * MS milliseconds each time it passes POINT, and POINT:stop stops the process
 * there (SIGSTOP), so that a test can SIGKILL it at exactly that moment instead
 * of guessing at times. The points:
 *   journal-append    half of a journal write done, the rest not yet
 *   snapshot-tmp      a new snapshot written and synced, not yet renamed
 *   snapshot-renamed  the snapshot renamed, its journal not yet reset
 *   journal-reset     the journal reset, the indexes not yet written
 *   index-tmp         an index written and synced, not yet renamed
 *   index-renamed     an index renamed (between the two of the address book)
 * The variable is read here only, once per open, into the store (no global
 * state, and nothing is read again while a table is being replaced); unset, a
 * point costs one test of an empty string. See tests/README.md.
 */
static void test_pause(const struct st_store *s, const char *point)
{
	if (!s->pause_at[0])
		return;
	size_t n = strlen(point);
	for (const char *p = s->pause_at; (p = strstr(p, point)) != NULL; p += n) {
		if ((p != s->pause_at && p[-1] != ',') || p[n] != ':')
			continue;
		if (strncmp(p + n + 1, "stop", 4) == 0) {
			/* a stop, not an exit or a handler: the test SIGKILLs or continues it */
			kill(getpid(), SIGSTOP);
			return;
		}
		long ms = strtol(p + n + 1, NULL, 10);
		if (ms > 0 && ms <= 600000) {
			struct timespec ts = {ms / 1000, ms % 1000 * 1000000L};
			while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
			}
		}
		return;
	}
}

int st_store_open(struct st_store **out, const char *dir, const char *name, unsigned version,
                  unsigned flags, struct st_err *err)
{
	return st_store_open_wait(out, dir, name, version, flags, NULL, err);
}

int st_store_open_wait(struct st_store **out, const char *dir, const char *name, unsigned version,
                       unsigned flags, const struct st_lock_wait *wait, struct st_err *err)
{
	*out = NULL;
	if (strlen(name) >= NAME_MAX_LEN || strchr(name, '/') || strchr(name, ' '))
		return st_err_set(err, ST_EX_SOFTWARE, "bad table name '%s'", name);
	struct st_store *s = calloc(1, sizeof *s);
	if (!s)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	s->lockfd = s->dirfd = s->jfd = s->snap.fd = -1;
	for (size_t i = 0; i < AUX_MAX; i++)
		s->aux[i].m.fd = -1;
	st_buf_init(&s->pending, JOURNAL_BUF_MAX + ST_LINE_MAX + 64);
	st_strlcpy(s->dir, dir, sizeof s->dir);
	st_strlcpy(s->name, name, sizeof s->name);
	s->version = version;
	s->flags = flags;
	snprintf(s->snap_path, sizeof s->snap_path, "%s/%s.tsv", dir, name);
	snprintf(s->journal_path, sizeof s->journal_path, "%s/%s.journal", dir, name);
	const char *pause_at = getenv("ST_TEST_DELAY");
	if (pause_at)
		st_strlcpy(s->pause_at, pause_at, sizeof s->pause_at);
	bool writer = flags & ST_STORE_WRITE;

	if (writer && st_datadir_prepare(dir, err) < 0)
		goto fail;
	s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dirfd < 0) {
		/* a reader creates nothing: a missing data dir is missing input */
		st_err_sys(err, errno == ENOENT ? ST_EX_NOINPUT : ST_EX_IOERR, "data directory '%s'", dir);
		goto fail;
	}
	struct stat dst;
	if (fstat(s->dirfd, &dst) < 0) {
		st_err_sys(err, ST_EX_IOERR, "data directory '%s'", dir);
		goto fail;
	}
	if (dst.st_mode & S_IWOTH) { /* anyone could swap a table or plant a link, as ssh fears */
		st_err_set(err, ST_EX_CANTCREAT, "data directory '%s' is writable by anyone: chmod o-w it",
		           dir);
		goto fail;
	}
	char lock[ST_PATH_MAX + 80];
	snprintf(lock, sizeof lock, "%s/%s.lock", dir, name);
	s->lockfd = open(lock, writer ? O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC
	                              : O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (s->lockfd < 0 && writer) {
		st_err_sys(err, ST_EX_CANTCREAT, "'%s'", lock);
		goto fail;
	}
	/* a reader finding no lock file reads unlocked: no writer has made the table yet,
	 * and a snapshot is only ever replaced whole; a journal line a writer is appending
	 * meanwhile reads as a torn tail */
	if (s->lockfd >= 0 && take_lock(s->lockfd, writer, flags, wait, name, err) < 0)
		goto fail;
	if (flags & ST_STORE_NOLOAD) {
		/* a damaged snapshot's gen, read leniently, so that what replaces it
		 * has a later one than any journal or index left from it */
		FILE *f = fopen(s->snap_path, "re");
		unsigned long long g = 0;
		if (f && fscanf(f, "#st %*s %*u gen %llu", &g) == 1)
			s->gen = g;
		if (f)
			fclose(f);
	} else if (load_snapshot(s, err) < 0) {
		goto fail;
	}
	*out = s;
	return 0;
fail:
	st_store_close(s);
	return -1;
}

void st_store_close(struct st_store *s)
{
	if (!s)
		return;
	map_close(&s->snap);
	for (size_t i = 0; i < AUX_MAX; i++)
		map_close(&s->aux[i].m);
	if (s->jfd >= 0)
		close(s->jfd);
	if (s->lockfd >= 0)
		close(s->lockfd); /* releases the flock */
	if (s->dirfd >= 0)
		close(s->dirfd);
	st_buf_clear(&s->pending);
	free(s->jcopy);
	free(s);
}

const char *st_store_path(const struct st_store *s)
{
	return s->snap_path;
}

int st_store_snapshot(struct st_store *s, const char **body, size_t *len,
                      unsigned long *first_lineno, struct st_err *err)
{
	(void)err;
	if (!s->snap.data) {
		*body = "";
		*len = 0;
	} else {
		*body = s->snap.data + s->body_off;
		*len = s->snap.len - s->body_off;
	}
	if (first_lineno)
		*first_lineno = 2;
	return 0;
}

void st_store_snapshot_release(struct st_store *s)
{
	map_release(&s->snap);
}

uint64_t st_store_snapshot_stamp(const struct st_store *s)
{
	return s->snap.data ? s->snap.mtime_ns : 0;
}

/* Walks the record lines of body (after a header at line 1). */
/* Pages of a walked mapping are given back in steps of this much. */
#define RELEASE_STEP ((size_t)8 << 20)

/*
 * Walks the lines of body. map, when not NULL, is the page-aligned start of
 * the read-only file mapping body lies in: the pages already walked are
 * dropped from the process as it goes (MADV_DONTNEED re-reads them from the
 * page cache if touched again), so a large book's peak memory holds its
 * entries, not also its whole file.
 */
/* A walk of map has read its first `done` bytes: gives back whole pages of them, a
 * RELEASE_STEP at a time (*released: how many are given back already). */
static void release_walked(const char *map, size_t done, size_t *released, long page)
{
	if (page <= 0)
		return;
	done -= done % (size_t)page;
	if (done - *released >= RELEASE_STEP) {
		madvise((char *)map + *released, done - *released, MADV_DONTNEED);
		*released = done;
	}
}

static int walk_lines(const char *path, const char *body, size_t len, const char *map,
                      st_store_line_fn fn, void *ctx, struct st_err *err)
{
	unsigned long lineno = 1;
	size_t off = 0;
	size_t released = 0; /* bytes from map already given back */
	long page = sysconf(_SC_PAGESIZE);
	while (off < len) {
		if (map)
			release_walked(map, (size_t)(body + off - map), &released, page);
		lineno++;
		const char *line = body + off;
		const char *nl = memchr(line, '\n', len - off);
		if (!nl)
			return st_err_set(err, ST_EX_DATAERR, "%s:%lu: last line is cut short", path,
			                  lineno);
		size_t n = (size_t)(nl - line);
		if (n > ST_LINE_MAX)
			return st_err_set(err, ST_EX_DATAERR, "%s:%lu: line longer than %d bytes", path,
			                  lineno, ST_LINE_MAX);
		if (memchr(line, '\0', n))
			return st_err_set(err, ST_EX_DATAERR, "%s:%lu: NUL byte", path, lineno);
		if (fn) {
			int rc = fn(ctx, line, n, lineno, err);
			if (rc)
				return rc;
		}
		off += n + 1;
	}
	return 0;
}

size_t st_store_snapshot_lines(struct st_store *s)
{
	if (!s->snap.data)
		return 0;
	const char *map = s->snap.data, *end = map + s->snap.len;
	size_t n = 0, released = 0;
	long page = sysconf(_SC_PAGESIZE);
	for (const char *c = map + s->body_off; c < end; n++) {
		const char *nl = memchr(c, '\n', (size_t)(end - c));
		c = nl ? nl + 1 : end;
		release_walked(map, (size_t)(c - map), &released, page);
	}
	map_release(&s->snap);
	return n;
}

int st_store_read_snapshot(struct st_store *s, st_store_line_fn fn, void *ctx,
                           struct st_err *err)
{
	if (!s->snap.data)
		return 0;
	return walk_lines(s->snap_path, s->snap.data + s->body_off, s->snap.len - s->body_off,
	                  s->snap.data, fn, ctx, err);
}

int st_store_parse_image(const char *name, unsigned version, const char *data, size_t len,
                         st_store_line_fn fn, void *ctx, struct st_err *err)
{
	size_t off;
	uint64_t gen;
	if (len == 0)
		return 0;
	if (parse_header("<image>", "#st", name, version, data, len, &off, &gen, NULL, err) < 0)
		return -1;
	return walk_lines("<image>", data + off, len - off, NULL, fn, ctx, err);
}

/* A journal written since batches were made atomic opens with BATCHES, and each
 * st_store_sync closes what was appended with COMMIT. */
#define BATCHES "#batches\n"
#define COMMIT "#commit\n"

/* "PAYLOAD\t#xxxxxxxx": checks the checksum; returns the payload length or -1. */
static long journal_payload(const char *line, size_t n)
{
	if (n < 10 || line[n - 10] != '\t' || line[n - 9] != '#')
		return -1;
	uint32_t want = 0;
	for (size_t i = n - 8; i < n; i++) {
		char c = line[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (d < 0)
			return -1;
		want = want << 4 | (uint32_t)d;
	}
	if (st_crc32c(0, line, n - 10) != want)
		return -1;
	return (long)(n - 10);
}

static int journal_open(struct st_store *s, struct st_err *err)
{
	if (s->jfd >= 0)
		return 0;
	bool writer = s->flags & ST_STORE_WRITE;
	s->jfd = open(s->journal_path,
	              (writer ? O_RDWR | O_CREAT | O_APPEND : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (s->jfd < 0) {
		if (!writer && errno == ENOENT)
			return 0;
		return st_err_sys(err, ST_EX_IOERR, "'%s'", s->journal_path);
	}
	return 0;
}

/* Scans the journal: checks every line, calls fn on payloads when given. */
static int journal_scan(struct st_store *s, st_store_line_fn fn, void *ctx, struct st_err *err)
{
	s->journal_current = false;
	s->journal_size = s->valid_end = 0;
	s->torn = 0;
	s->journal_scanned = true;
	const char *data;
	size_t len, off = 0;
	if (s->unlocked) { /* the journal as it was when the lock went */
		if (!s->jcopy_len)
			return 0;
		data = s->jcopy;
		len = s->jcopy_len;
	} else {
		if (journal_open(s, err) < 0)
			return -1;
		if (s->jfd < 0)
			return 0;
		struct stat st;
		if (fstat(s->jfd, &st) < 0)
			return st_err_sys(err, ST_EX_IOERR, "'%s'", s->journal_path);
		if (st.st_size == 0)
			return 0;
		data = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, s->jfd, 0);
		if (data == MAP_FAILED)
			return st_err_sys(err, ST_EX_IOERR, "'%s': mmap", s->journal_path);
		len = (size_t)st.st_size;
	}
	s->journal_size = len;
	uint64_t gen = 0;
	int rc = 0;
	struct st_err herr = {0};
	if (parse_header(s->journal_path, "#st-journal", s->name, s->version, data, len, &off, &gen,
	                 NULL, &herr) < 0) {
		/* a header cut short by a crash is a torn line: an empty journal */
		if (!memchr(data, '\n', len)) {
			s->torn = 1;
			goto out;
		}
		rc = st_err_set(err, herr.code, "%s", herr.msg);
		goto out;
	}
	if (gen != s->gen) /* folded into the snapshot already (or from another snapshot) */
		goto out;
	s->journal_current = true;
	unsigned long lineno = 1;
	/* "#batches" after the header: every batch ends with "#commit", and what
	 * follows the last one is a batch that never finished: none of it counts */
	s->batched = len - off >= sizeof BATCHES - 1 && memcmp(data + off, BATCHES, sizeof BATCHES - 1) == 0;
	size_t end = len;
	if (s->batched) {
		off += sizeof BATCHES - 1;
		lineno++;
		end = off;
		for (size_t at = off; at < len;) {
			const char *nl = memchr(data + at, '\n', len - at);
			if (!nl)
				break;
			size_t next = (size_t)(nl - data) + 1;
			if (next - at == sizeof COMMIT - 1 && memcmp(data + at, COMMIT, sizeof COMMIT - 1) == 0)
				end = next;
			at = next;
		}
		if (end < len)
			s->torn = 1;
	}
	s->valid_end = off;
	while (off < end) {
		lineno++;
		const char *line = data + off;
		const char *nl = memchr(line, '\n', end - off);
		size_t n = nl ? (size_t)(nl - line) : end - off;
		if (s->batched && n + 1 == sizeof COMMIT - 1 && memcmp(line, COMMIT, n) == 0) {
			off += n + 1;
			s->valid_end = off;
			continue;
		}
		long plen = nl && n <= ST_LINE_MAX + 10 ? journal_payload(line, n) : -1;
		if (plen < 0) {
			if (!s->batched && (!nl || off + n + 1 == len)) { /* the last line: a crash artefact */
				s->torn = 1;
				break;
			}
			rc = st_err_set(err, ST_EX_DATAERR, "%s:%lu: bad checksum (the journal is damaged)",
			                s->journal_path, lineno);
			goto out;
		}
		if (memchr(line, '\0', (size_t)plen)) {
			rc = st_err_set(err, ST_EX_DATAERR, "%s:%lu: NUL byte", s->journal_path, lineno);
			goto out;
		}
		if (fn && (rc = fn(ctx, line, (size_t)plen, lineno, err)) != 0)
			goto out;
		off += n + 1;
		s->valid_end = off;
	}
out:
	if (!s->unlocked)
		munmap((void *)data, len);
	return rc;
}

int st_store_unlock(struct st_store *s, struct st_err *err)
{
	if (s->flags & ST_STORE_WRITE)
		return st_err_set(err, ST_EX_SOFTWARE, "a writer keeps its lock");
	if (s->unlocked)
		return 0;
	/* the snapshot stays mapped: it is only ever replaced by a rename, never
	 * rewritten in place; the journal is appended to and reset, so it is copied */
	if (journal_open(s, err) < 0)
		return -1;
	if (s->jfd >= 0) {
		struct stat st;
		if (fstat(s->jfd, &st) < 0)
			return st_err_sys(err, ST_EX_IOERR, "'%s'", s->journal_path);
		size_t len = (size_t)st.st_size, got = 0;
		s->jcopy = len ? malloc(len) : NULL;
		if (len && !s->jcopy)
			return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
		while (got < len) {
			ssize_t n = pread(s->jfd, s->jcopy + got, len - got, (off_t)got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return st_err_sys(err, ST_EX_IOERR, "'%s'", s->journal_path);
			if (n == 0)
				break;
			got += (size_t)n;
		}
		s->jcopy_len = got;
		close(s->jfd);
		s->jfd = -1;
	}
	s->unlocked = true;
	if (s->lockfd >= 0)
		close(s->lockfd); /* releases the flock */
	s->lockfd = -1;
	return 0;
}

int st_store_read_journal(struct st_store *s, st_store_line_fn fn, void *ctx,
                          struct st_err *err)
{
	return journal_scan(s, fn, ctx, err);
}

unsigned st_store_torn(const struct st_store *s)
{
	return s->torn;
}

static int write_all(int fd, const char *p, size_t n, const char *path, struct st_err *err)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return st_err_sys(err, ST_EX_IOERR, "'%s'", path); /* a full disk too */
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Makes the journal ready for appends: a header for our gen, no torn tail. */
static int journal_prepare(struct st_store *s, struct st_err *err)
{
	if (!(s->flags & ST_STORE_WRITE))
		return st_err_set(err, ST_EX_SOFTWARE, "'%s': opened read-only", s->journal_path);
	if (!s->journal_scanned && journal_scan(s, NULL, NULL, err) < 0)
		return -1;
	if (journal_open(s, err) < 0)
		return -1;
	if (!s->journal_current) {
		char hdr[160];
		int n = snprintf(hdr, sizeof hdr, "#st-journal %s %u gen %" PRIu64 "\n" BATCHES, s->name,
		                 s->version, s->gen);
		if (ftruncate(s->jfd, 0) < 0 || lseek(s->jfd, 0, SEEK_SET) < 0)
			return st_err_sys(err, ST_EX_IOERR, "'%s'", s->journal_path);
		if (write_all(s->jfd, hdr, (size_t)n, s->journal_path, err) < 0)
			return -1;
		s->journal_current = true;
		s->batched = true;
		s->journal_size = s->valid_end = (uint64_t)n;
	} else if (s->valid_end < s->journal_size) {
		if (ftruncate(s->jfd, (off_t)s->valid_end) < 0)
			return st_err_sys(err, ST_EX_IOERR, "'%s'", s->journal_path);
		s->journal_size = s->valid_end;
		s->torn = 0;
	}
	if (lseek(s->jfd, (off_t)s->journal_size, SEEK_SET) < 0)
		return st_err_sys(err, ST_EX_IOERR, "'%s'", s->journal_path);
	return 0;
}

static int journal_flush(struct st_store *s, struct st_err *err)
{
	if (!s->pending.len)
		return 0;
	size_t half = s->pause_at[0] ? s->pending.len / 2 : 0;
	if (half) {
		if (write_all(s->jfd, s->pending.data, half, s->journal_path, err) < 0)
			return -1;
		test_pause(s, "journal-append");
	}
	if (write_all(s->jfd, s->pending.data + half, s->pending.len - half, s->journal_path, err) < 0)
		return -1;
	s->journal_size += s->pending.len;
	s->valid_end = s->journal_size;
	st_buf_reset(&s->pending);
	return 0;
}

int st_store_append(struct st_store *s, const char *payload, size_t len, struct st_err *err)
{
	if (len > ST_LINE_MAX || memchr(payload, '\n', len) || memchr(payload, '\0', len))
		return st_err_set(err, ST_EX_SOFTWARE, "journal line with a newline, NUL or too long");
	if (!s->journal_current || !s->journal_scanned || s->valid_end < s->journal_size) {
		if (journal_prepare(s, err) < 0)
			return -1;
	}
	if (!s->run_started) { /* where a rollback of this open's changes cuts */
		s->run_started = true;
		s->run_start = s->valid_end;
	}
	/* "\t#CRC32C-hex8\n" by hand: a bulk add appends a line for every entry */
	char tail[11] = {'\t', '#'};
	uint32_t crc = st_crc32c(0, payload, len);
	for (int i = 0; i < 8; i++)
		tail[2 + i] = "0123456789abcdef"[crc >> (28 - 4 * i) & 15];
	tail[10] = '\n';
	if (st_buf_append(&s->pending, payload, len, err) < 0 ||
	    st_buf_append(&s->pending, tail, 11, err) < 0)
		return -1;
	s->uncommitted = true;
	if (s->pending.len >= JOURNAL_BUF_MAX)
		return journal_flush(s, err);
	return 0;
}

int st_store_sync(struct st_store *s, struct st_err *err)
{
	if (s->jfd < 0 || !(s->flags & ST_STORE_WRITE))
		return 0;
	/* the batch counts once its commit line is on disk: all of it, or (after a
	 * crash or a full disk) none */
	if (s->batched && s->uncommitted &&
	    st_buf_append(&s->pending, COMMIT, sizeof COMMIT - 1, err) < 0)
		return -1;
	if (journal_flush(s, err) < 0)
		return -1;
	if (fdatasync(s->jfd) < 0)
		return st_err_sys(err, ST_EX_IOERR, "'%s': fsync", s->journal_path);
	s->uncommitted = false;
	return 0;
}

int st_store_rollback(struct st_store *s, struct st_err *err)
{
	st_buf_reset(&s->pending);
	s->uncommitted = false;
	if (!s->run_started || s->jfd < 0 || !(s->flags & ST_STORE_WRITE) ||
	    s->journal_size <= s->run_start)
		return 0;
	/* under the lock no reader has seen what goes: cutting it off is as if the
	 * run had never appended it */
	if (ftruncate(s->jfd, (off_t)s->run_start) < 0 || fdatasync(s->jfd) < 0)
		return st_err_sys(err, ST_EX_IOERR, "'%s'", s->journal_path);
	s->journal_size = s->valid_end = s->run_start;
	s->torn = 0;
	return 0;
}

uint64_t st_store_snapshot_bytes(const struct st_store *s)
{
	return s->snap.len;
}

uint64_t st_store_journal_bytes(const struct st_store *s)
{
	struct stat st;
	if (s->journal_scanned)
		return s->journal_size + s->pending.len;
	if (stat(s->journal_path, &st) == 0)
		return (uint64_t)st.st_size;
	return 0;
}

bool st_store_wants_compaction(const struct st_store *s)
{
	/* Past 1 MiB every reader pays to replay it, so a large table compacts
	 * sooner than at its 1/8 share. */
	uint64_t j = st_store_journal_bytes(s), snap = st_store_snapshot_bytes(s) / 8;
	return j > 64 * 1024 && j > (snap < JOURNAL_SOFT_MAX ? snap : JOURNAL_SOFT_MAX);
}

unsigned st_store_snapshot_version(const struct st_store *s)
{
	return s->snap_version;
}

static int writer_begin(struct st_store *s, const char *final, const char *header,
                        bool aux, struct st_store_writer **out, struct st_err *err)
{
	*out = NULL;
	if (!(s->flags & ST_STORE_WRITE))
		return st_err_set(err, ST_EX_SOFTWARE, "'%s': opened read-only", final);
	struct st_store_writer *w = calloc(1, sizeof *w);
	if (!w)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	w->s = s;
	w->aux = aux;
	st_strlcpy(w->final, final, sizeof w->final);
	snprintf(w->tmp, sizeof w->tmp, "%s.tmp", final);
	/* under the lock a leftover temporary file is a crash's and ours to remove; a
	 * new one is made exclusively, so nothing planted there is ever written through */
	if (unlink(w->tmp) < 0 && errno != ENOENT) {
		st_err_sys(err, ST_EX_CANTCREAT, "'%s'", w->tmp);
		free(w);
		return -1;
	}
	int fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		st_err_sys(err, ST_EX_CANTCREAT, "'%s'", w->tmp);
		free(w);
		return -1;
	}
	w->f = fdopen(fd, "w");
	w->buf = malloc(WRITER_BUF);
	if (!w->f || !w->buf) {
		if (w->f)
			fclose(w->f);
		else
			close(fd);
		unlink(w->tmp);
		free(w->buf);
		free(w);
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	}
	setvbuf(w->f, w->buf, _IOFBF, WRITER_BUF);
	if (fputs(header, w->f) == EOF)
		w->failed = true;
	*out = w;
	return 0;
}

int st_store_rewrite_begin(struct st_store *s, struct st_store_writer **w, struct st_err *err)
{
	char hdr[160];
	snprintf(hdr, sizeof hdr, "#st %s %u gen %" PRIu64 "\n", s->name, s->version, s->gen + 1);
	return writer_begin(s, s->snap_path, hdr, false, w, err);
}

int st_store_writer_line(struct st_store_writer *w, const char *line, size_t len,
                         struct st_err *err)
{
	if (len > ST_LINE_MAX || memchr(line, '\n', len))
		return st_err_set(err, ST_EX_SOFTWARE, "'%s': line with a newline or too long", w->final);
	if (fwrite(line, 1, len, w->f) != len || putc('\n', w->f) == EOF)
		w->failed = true;
	w->body_bytes += len + 1;
	return 0;
}

int st_store_writer_flush(struct st_store_writer *w, struct st_err *err)
{
	if (fflush(w->f) != 0 || ferror(w->f) || w->failed) {
		w->failed = true;
		return st_err_sys(err, ST_EX_IOERR, "'%s'", w->tmp); /* a full disk too */
	}
	if (fsync(fileno(w->f)) < 0) {
		w->failed = true;
		return st_err_sys(err, ST_EX_IOERR, "'%s': fsync", w->tmp);
	}
	return 0;
}

uint64_t st_store_writer_offset(const struct st_store_writer *w)
{
	return w->body_bytes;
}

void st_store_rewrite_abort(struct st_store_writer *w)
{
	if (!w)
		return;
	fclose(w->f);
	unlink(w->tmp);
	free(w->buf);
	free(w);
}

int st_store_rewrite_commit(struct st_store_writer *w, struct st_err *err)
{
	struct st_store *s = w->s;
	if (fflush(w->f) != 0 || ferror(w->f) || w->failed) {
		st_err_sys(err, ST_EX_IOERR, "'%s'", w->tmp); /* a full disk too */
		st_store_rewrite_abort(w);
		return -1;
	}
	if (fsync(fileno(w->f)) < 0) {
		st_err_sys(err, ST_EX_IOERR, "'%s': fsync", w->tmp);
		st_store_rewrite_abort(w);
		return -1;
	}
	int closed = fclose(w->f);
	free(w->buf); /* after the close: stdio writes out of it until then */
	if (closed != 0) {
		w->f = NULL;
		unlink(w->tmp);
		st_err_sys(err, ST_EX_IOERR, "'%s'", w->tmp);
		free(w);
		return -1;
	}
	int rc = 0;
	bool aux = w->aux;
	test_pause(s, aux ? "index-tmp" : "snapshot-tmp");
	if (rename(w->tmp, w->final) < 0) {
		rc = st_err_sys(err, ST_EX_IOERR, "'%s'", w->final);
		unlink(w->tmp);
	} else if (s->dirfd >= 0 && fsync(s->dirfd) < 0) {
		rc = st_err_sys(err, ST_EX_IOERR, "'%s': fsync", s->dir);
	}
	free(w);
	if (rc == 0)
		test_pause(s, aux ? "index-renamed" : "snapshot-renamed");
	if (rc < 0 || aux)
		return rc;
	/* The new snapshot holds everything: the journal starts afresh for the new gen. */
	s->gen++;
	st_buf_reset(&s->pending);
	s->uncommitted = false;
	s->journal_scanned = true;
	s->journal_current = false;
	s->journal_size = s->valid_end = 0;
	if (journal_prepare(s, err) < 0 || fdatasync(s->jfd) < 0)
		return rc < 0 ? rc : st_err_sys(err, ST_EX_IOERR, "'%s'", s->journal_path);
	s->run_start = s->valid_end; /* what came before is in the snapshot: no rollback undoes it */
	test_pause(s, "journal-reset");
	for (size_t i = 0; i < AUX_MAX; i++)
		map_close(&s->aux[i].m);
	s->naux = 0;
	return load_snapshot(s, err);
}

int st_store_aux_begin(struct st_store *s, const char *suffix, struct st_store_writer **w,
                       struct st_err *err)
{
	char final[ST_PATH_MAX + 100], hdr[200];
	snprintf(final, sizeof final, "%s/%s.%s", s->dir, s->name, suffix);
	snprintf(hdr, sizeof hdr, "#st-aux %s %u gen %" PRIu64 "\n", s->name, s->version, s->gen);
	return writer_begin(s, final, hdr, true, w, err);
}

int st_store_aux_map(struct st_store *s, const char *suffix, const char **body, size_t *len,
                     struct st_err *err)
{
	*body = "";
	*len = 0;
	struct aux *a = NULL;
	for (size_t i = 0; i < s->naux; i++)
		if (strcmp(s->aux[i].suffix, suffix) == 0)
			a = &s->aux[i];
	if (!a) {
		if (s->naux == AUX_MAX)
			return st_err_set(err, ST_EX_SOFTWARE, "too many aux files");
		a = &s->aux[s->naux++];
		st_strlcpy(a->suffix, suffix, sizeof a->suffix);
	}
	map_close(&a->m);
	char path[ST_PATH_MAX + 100];
	snprintf(path, sizeof path, "%s/%s.%s", s->dir, s->name, suffix);
	if (map_open(&a->m, path, err) < 0)
		return -1;
	if (!a->m.data)
		return 0;
	size_t off = 0;
	uint64_t gen = 0;
	struct st_err herr = {0};
	if (parse_header(path, "#st-aux", s->name, s->version, a->m.data, a->m.len, &off, &gen,
	                 NULL, &herr) < 0 || gen != s->gen || !s->snap.data)
		return 0; /* damaged or stale: the caller rebuilds it */
	*body = a->m.data + off;
	*len = a->m.len - off;
	return 1;
}

void st_store_aux_release(struct st_store *s, const char *suffix)
{
	for (size_t i = 0; i < s->naux; i++)
		if (strcmp(s->aux[i].suffix, suffix) == 0)
			map_release(&s->aux[i].m);
}

int st_store_move_aside(struct st_store *s, struct st_err *err)
{
	if (!(s->flags & ST_STORE_WRITE))
		return st_err_set(err, ST_EX_SOFTWARE, "'%s': opened read-only", s->snap_path);
	char bak[ST_PATH_MAX + 100];
	map_close(&s->snap);
	s->body_off = 0;
	snprintf(bak, sizeof bak, "%s.bak", s->snap_path);
	if (rename(s->snap_path, bak) < 0 && errno != ENOENT)
		return st_err_sys(err, ST_EX_IOERR, "'%s'", s->snap_path);
	if (s->jfd >= 0) {
		close(s->jfd);
		s->jfd = -1;
	}
	snprintf(bak, sizeof bak, "%s.bak", s->journal_path);
	if (rename(s->journal_path, bak) < 0 && errno != ENOENT)
		return st_err_sys(err, ST_EX_IOERR, "'%s'", s->journal_path);
	if (s->dirfd >= 0 && fsync(s->dirfd) < 0)
		return st_err_sys(err, ST_EX_IOERR, "'%s': fsync", s->dir);
	s->journal_scanned = true;
	s->journal_current = false;
	s->journal_size = s->valid_end = 0;
	s->torn = 0;
	st_buf_reset(&s->pending);
	return 0;
}
