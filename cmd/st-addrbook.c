/* st-addrbook - the persistent, endpoint-centric address book. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "st/addrbook.h"
#include "st/cli.h"
#include "st/schema.h"
#include "st/peers.h"
#include "st/store.h"
#include "st/util.h"
#include "tty.h"

enum {
	OPT_SOURCE = ST_OPT_USER, OPT_ALLOW_PRIVATE, OPT_TRIED, OPT_NEW, OPT_SORT, OPT_PINNED,
	OPT_EXCLUDE, OPT_RANDOM, OPT_ROUTABLE_ONLY, OPT_MAX_AGE, OPT_MIN_QUALITY, OPT_MIN_ATTEMPTS,
	OPT_TERRIBLE, OPT_DRY_RUN, OPT_REPAIR, OPT_MAX_ADDRESSES, OPT_MAX_PER_SUBNET,
	OPT_MAX_PER_SOURCE_GROUP,
};

static const struct st_option add_opts[] = {
	{"allow-private", OPT_ALLOW_PRIVATE, ST_ARG_NONE, NULL, "accept non-routable addresses", NULL},
	{"source", 's', ST_ARG_REQUIRED, "S", "where they came from (default: the record's, or manual)", NULL},
	ST_OPTION_END,
};
static const struct st_option list_opts[] = {
	{"new", OPT_NEW, ST_ARG_NONE, NULL, "only addresses never reached", NULL},
	{"pinned", OPT_PINNED, ST_ARG_NONE, NULL, "only pinned addresses", NULL},
	{"sort", OPT_SORT, ST_ARG_REQUIRED, "KEY", "quality, last-seen, first-seen or endpoint", "quality last-seen first-seen endpoint"},
	{"source", 's', ST_ARG_REQUIRED, "S", "only addresses whose source starts with S", NULL},
	{"tried", OPT_TRIED, ST_ARG_NONE, NULL, "only addresses reached at least once", NULL},
	ST_OPTION_END,
};
static const struct st_option best_opts[] = {
	{"count", 'n', ST_ARG_REQUIRED, "N", "how many (default 8)", NULL},
	{"exclude", OPT_EXCLUDE, ST_ARG_REQUIRED, "FILE", "never these endpoints ('-': stdin)", "file"},
	{"random", OPT_RANDOM, ST_ARG_REQUIRED, "SEED", "weighted random pick, repeatable by SEED", NULL},
	{"routable-only", OPT_ROUTABLE_ONLY, ST_ARG_NONE, NULL, "leave out non-routable addresses", NULL},
	ST_OPTION_END,
};
static const struct st_option prune_opts[] = {
	{"dry-run", OPT_DRY_RUN, ST_ARG_NONE, NULL, "say what would go, remove nothing", NULL},
	{"max-age", OPT_MAX_AGE, ST_ARG_REQUIRED, "D", "not seen for D (default addrbook.max_age)", NULL},
	{"min-attempts", OPT_MIN_ATTEMPTS, ST_ARG_REQUIRED, "N", "with --min-quality: tried N times", NULL},
	{"min-quality", OPT_MIN_QUALITY, ST_ARG_REQUIRED, "Q", "quality below Q (0..1)", NULL},
	{"terrible", OPT_TERRIBLE, ST_ARG_NONE, NULL, "Bitcoin's rules for hopeless addresses", NULL},
	ST_OPTION_END,
};
static const struct st_option fsck_opts[] = {
	{"repair", OPT_REPAIR, ST_ARG_NONE, NULL, "move damaged files aside, keep what reads", NULL},
	ST_OPTION_END,
};
static const struct st_option prog_opts[] = {
	{"max-addresses", OPT_MAX_ADDRESSES, ST_ARG_REQUIRED, "N", "capacity (addrbook.max_addresses)", NULL},
	{"max-per-source-group", OPT_MAX_PER_SOURCE_GROUP, ST_ARG_REQUIRED, "SHARE", "one source's share, e.g. 10%", NULL},
	{"max-per-subnet", OPT_MAX_PER_SUBNET, ST_ARG_REQUIRED, "N", "per /24 or /48", NULL},
	ST_OPTION_END,
};

static const struct st_command commands[] = {
	{"add", "[ENDPOINT...]", "add addresses (arguments, or records on stdin)", add_opts},
	{"best", "", "the addresses to try next", best_opts},
	{"export", "", "every entry, in the stored tsv form", NULL},
	{"fsck", "", "check the files; --repair keeps what reads", fsck_opts},
	{"import", "FILE", "our export or the reference node's JSON book", NULL},
	{"list", "", "the entries", list_opts},
	{"pin", "ENDPOINT...", "never evict or prune these", NULL},
	{"prune", "", "remove stale and poor addresses", prune_opts},
	{"record", "[ENDPOINT ok|fail]...", "apply results (or st-connect's records)", NULL},
	{"remove", "ENDPOINT...", "forget these", NULL},
	{"seen", "ENDPOINT...", "mark as seen now", NULL},
	{"stats", "", "counts, quality, crowded subnets", NULL},
	{"unpin", "ENDPOINT...", "evictable again", NULL},
	ST_COMMAND_END,
};

static const struct st_program prog = {
	"st-addrbook", NULL, "The persistent, endpoint-centric address book.", prog_opts, commands,
};

struct opts {
	const char *source;
	bool tried, new_only, pinned_only, routable_only, random, terrible, dry_run, repair;
	const char *sort;
	uint64_t n;
	const char *exclude;
	uint64_t seed;
	int64_t max_age;
	bool max_age_given;
	double min_quality;
	bool min_quality_given;
	uint64_t min_attempts;
};

static int on_option(void *vctx, struct st_cli *cli, int key, const char *arg, struct st_err *err)
{
	struct opts *o = vctx;
	switch (key) {
	case 's': o->source = arg; return 0;
	case OPT_ALLOW_PRIVATE: return st_cli_config_flag(cli, "--allow-private", "addrbook.allow_private", "true", err);
	case OPT_TRIED: o->tried = true; return 0;
	case OPT_NEW: o->new_only = true; return 0;
	case OPT_PINNED: o->pinned_only = true; return 0;
	case OPT_SORT:
		if (strcmp(arg, "quality") && strcmp(arg, "last-seen") && strcmp(arg, "first-seen") &&
		    strcmp(arg, "endpoint"))
			return st_err_set(err, ST_EX_USAGE, "--sort %s: expected quality, last-seen, first-seen or endpoint", arg);
		o->sort = arg;
		return 0;
	case 'n': return st_cli_u64("-n", arg, 1, 1000000, &o->n, err);
	case OPT_EXCLUDE: o->exclude = arg; return 0;
	case OPT_RANDOM: o->random = true; return st_cli_u64("--random", arg, 0, UINT64_MAX, &o->seed, err);
	case OPT_ROUTABLE_ONLY: o->routable_only = true; return 0;
	case OPT_MAX_AGE: o->max_age_given = true; return st_cli_duration("--max-age", arg, 1000, INT64_MAX / 2, &o->max_age, err);
	case OPT_MIN_QUALITY:
		o->min_quality_given = true;
		if (st_parse_double(arg, 0, 1, &o->min_quality, err) < 0)
			return st_err_prefix(err, "--min-quality");
		return 0;
	case OPT_MIN_ATTEMPTS: return st_cli_u64("--min-attempts", arg, 0, UINT32_MAX, &o->min_attempts, err);
	case OPT_TERRIBLE: o->terrible = true; return 0;
	case OPT_DRY_RUN: o->dry_run = true; return 0;
	case OPT_REPAIR: o->repair = true; return 0;
	case OPT_MAX_ADDRESSES: return st_cli_config_flag(cli, "--max-addresses", "addrbook.max_addresses", arg, err);
	case OPT_MAX_PER_SUBNET: return st_cli_config_flag(cli, "--max-per-subnet", "addrbook.max_per_subnet", arg, err);
	case OPT_MAX_PER_SOURCE_GROUP: return st_cli_config_flag(cli, "--max-per-source-group", "addrbook.max_per_source_group", arg, err);
	}
	return -1;
}

static void print_entry(struct st_printer *p, const struct st_addr_entry *e, const char *source)
{
	char ep[ST_ENDPOINT_STRLEN];
	st_endpoint_format(&e->ep, ep, sizeof ep);
	st_print_begin(p);
	st_print_str(p, "endpoint", "%-22s", ep);
	st_print_double(p, "quality", "q=%.2f", st_addr_quality(e));
	st_print_uint(p, "successes", "ok=%llu", e->successes);
	st_print_uint(p, "failures", "fail=%llu", e->failures);
	st_print_uint(p, "consecutive_failures", "(%llu in a row)", e->consecutive_failures);
	st_print_uint(p, "attempts", "tries=%llu", e->attempts);
	st_print_time(p, "first_seen", "first %-8s", e->first_seen);
	st_print_time(p, "last_seen", "seen %-8s", e->last_seen);
	st_print_time(p, "last_attempt", "tried %-8s", e->last_attempt);
	st_print_time(p, "last_success", "reached %-8s", e->last_success);
	st_print_str(p, "class", "%s", st_addr_class_name(st_endpoint_class(&e->ep)));
	st_print_bool(p, "pinned", "pinned=%s", e->pinned);
	st_print_str(p, "source", "%s", source);
	st_print_end(p);
}

enum { BOOK_READ = 0, BOOK_WRITE = 1, BOOK_LAZY = 2 };

/* BOOK_LAZY: the command reads entries as it needs them, not the whole book first. */
static struct st_addrbook *open_book(struct st_cli *cli, unsigned how)
{
	struct st_addrbook *ab;
	struct st_err err = {0};
	unsigned flags = ((how & BOOK_WRITE) ? ST_STORE_WRITE : ST_STORE_READ) |
	                 ((how & BOOK_LAZY) ? ST_ADDRBOOK_LAZY : 0);
	if (st_addrbook_open(&ab, &cli->config, flags, &err) < 0)
		st_die(cli, &err);
	return ab;
}

static int close_book(struct st_cli *cli, struct st_addrbook *ab, int code)
{
	struct st_err err = {0};
	if (st_addrbook_close(ab, &err) < 0)
		return st_report(cli, &err);
	return code;
}

/* A gossip source "gossip:ID@EP" names the peer that told us. */
static bool gossip_peer(const char *source, struct st_endpoint *peer)
{
	if (!source || strncmp(source, "gossip:", 7) != 0)
		return false;
	const char *at = strrchr(source, '@');
	const char *p = at ? at + 1 : source + 7;
	return st_endpoint_parse(peer, p, strlen(p), NULL) == 0;
}

static void add_one(struct st_cli *cli, struct st_addrbook *ab, const struct st_endpoint *ep,
                    const char *source, const char *where, int64_t now, size_t counts[])
{
	struct st_endpoint peer, evicted;
	bool has_peer = gossip_peer(source, &peer);
	enum st_addrbook_verdict v;
	struct st_err err = {0};
	if (st_addrbook_add(ab, ep, source, has_peer ? &peer : NULL, now, &v, &evicted, &err) < 0)
		st_die(cli, &err);
	counts[v]++;
	if (!evicted.port && (v == ST_ADD_ADDED || v == ST_ADD_DUPLICATE))
		return; /* nothing to tell: no endpoint to format */
	char eps[ST_ENDPOINT_STRLEN], evs[ST_ENDPOINT_STRLEN];
	st_endpoint_format(ep, eps, sizeof eps);
	if (evicted.port) {
		st_endpoint_format(&evicted, evs, sizeof evs);
		st_info(cli, "evicted %s to make room for %s", evs, eps);
	}
	if (v == ST_ADD_NOT_ROUTABLE || v == ST_ADD_SCOPE)
		st_warn(cli, "%s: %s: %s (%s)", where, eps, st_addrbook_verdict_name(v),
		        st_addr_class_name(st_endpoint_class(ep)));
	else if (v != ST_ADD_ADDED && v != ST_ADD_DUPLICATE)
		st_warn(cli, "%s: %s: %s", where, eps, st_addrbook_verdict_name(v));
}

/* A record's source: its "source" field; a text line (st-seed fetch or
 * st-connect --getpeers printing to a pipe in text) has no header, so there its
 * second word counts when it names a source. */
static const char *record_source(const struct st_record *rec)
{
	if (rec->fmt != ST_FMT_TEXT)
		return st_record_get(rec, "source");
	const char *s = rec->nfields > 1 ? rec->fields[1] : NULL;
	static const char *const kinds[] = {"seed:", "dns:", "gossip:", "manual"};
	for (size_t i = 0; s && i < ST_ARRAY_LEN(kinds); i++)
		if (strncmp(s, kinds[i], strlen(kinds[i])) == 0)
			return s;
	return NULL;
}

/* add and record fed by stdin: the book opened for each batch (st_cli_each_batch). */
struct batch {
	struct st_cli *cli;
	const struct opts *o;
	struct st_addrbook *ab;
	unsigned how;          /* open_book's */
	size_t *counts;        /* add: per verdict */
	size_t applied, unknown; /* record */
	struct st_progress *progress; /* add: the line on a terminal */
	int64_t now;           /* add: st_now(), read again every NOW_EVERY records */
	unsigned since_now;
};

/* st_now() reads the environment (ST_FAKE_NOW): a bulk add asks it at the start
 * of every batch and then once in so many records (a fraction of a millisecond
 * apart), not once for each. */
#define NOW_EVERY 256

/* add's progress line: how many so far, by verdict. */
static void add_progress(struct st_progress *pr, const size_t *counts)
{
	size_t all = 0;
	for (int i = 0; i < 8; i++)
		all += counts[i];
	st_progress_draw(pr, false, "%zu read: %zu added, %zu duplicate", all, counts[ST_ADD_ADDED],
	                 counts[ST_ADD_DUPLICATE]);
}

static int batch_open(void *ctx)
{
	struct batch *c = ctx;
	if (!c->ab) /* still open when the last batch ended with more input flowing */
		c->ab = open_book(c->cli, c->how);
	return 0;
}

static int batch_close(void *ctx, bool more)
{
	struct batch *c = ctx;
	struct st_err err = {0};
	c->since_now = 0; /* the next batch may come much later: it reads the clock again */
	if (more) /* acknowledged now, and the book kept for the next batch */
		return st_addrbook_commit(c->ab, &err) < 0 ? st_report(c->cli, &err) : 0;
	int code = close_book(c->cli, c->ab, 0);
	c->ab = NULL;
	return code;
}

static int add_record(void *ctx, const struct st_record *rec, const char *where)
{
	struct batch *c = ctx;
	const char *src = c->o->source ? c->o->source : record_source(rec);
	if (c->since_now++ % NOW_EVERY == 0)
		c->now = st_now();
	add_one(c->cli, c->ab, &rec->endpoint, src ? src : "manual", where, c->now, c->counts);
	if (c->progress)
		add_progress(c->progress, c->counts);
	return 0;
}

static int cmd_add(struct st_cli *cli, struct opts *o)
{
	struct st_addrbook *ab;
	size_t counts[8] = {0}, bad = 0;
	int code = 0;
	struct st_err err = {0};
	struct st_progress pr;
	st_progress_begin(&pr, cli);
	if (cli->argc) {
		ab = open_book(cli, BOOK_WRITE);
		for (int i = 0; i < cli->argc; i++) {
			struct st_endpoint ep;
			char id[ST_NODE_ID_MAX + 1];
			if (st_endpoint_parse_id(&ep, id, sizeof id, cli->argv[i], strlen(cli->argv[i]), &err) < 0) {
				st_error(cli, "'%s': %s", cli->argv[i], err.msg);
				bad++;
				continue;
			}
			add_one(cli, ab, &ep, o->source ? o->source : "manual", "argument", st_now(), counts);
			add_progress(&pr, counts);
		}
		st_progress_done(&pr, cli);
		if ((code = close_book(cli, ab, 0)) != 0)
			return code;
	} else {
		struct batch c = {cli, o, NULL, BOOK_WRITE, counts, 0, 0, &pr, 0, 0};
		struct st_batch_fns fns = {batch_open, add_record, batch_close};
		code = st_cli_each_batch(cli, &fns, &c, &bad);
		st_progress_done(&pr, cli);
		if (code != 0)
			return code;
	}
	size_t rejected = counts[ST_ADD_NOT_ROUTABLE] + counts[ST_ADD_SCOPE] + counts[ST_ADD_SUBNET_FULL] +
	                  counts[ST_ADD_SOURCE_FULL] + counts[ST_ADD_BOOK_FULL];
	st_note(cli, "%zu added, %zu duplicate, %zu rejected, %zu bad", counts[ST_ADD_ADDED],
	        counts[ST_ADD_DUPLICATE], rejected, bad);
	return bad ? ST_EX_DATAERR : 0;
}

static int cmp_quality(const void *a, const void *b)
{
	const struct st_addr_entry *x = *(const struct st_addr_entry *const *)a,
	                           *y = *(const struct st_addr_entry *const *)b;
	double qx = st_addr_quality(x), qy = st_addr_quality(y);
	if (qx != qy)
		return qx > qy ? -1 : 1;
	return st_endpoint_cmp(&x->ep, &y->ep);
}

static int cmp_last_seen(const void *a, const void *b)
{
	const struct st_addr_entry *x = *(const struct st_addr_entry *const *)a,
	                           *y = *(const struct st_addr_entry *const *)b;
	if (x->last_seen != y->last_seen)
		return x->last_seen > y->last_seen ? -1 : 1;
	return st_endpoint_cmp(&x->ep, &y->ep);
}

static int cmp_first_seen(const void *a, const void *b)
{
	const struct st_addr_entry *x = *(const struct st_addr_entry *const *)a,
	                           *y = *(const struct st_addr_entry *const *)b;
	if (x->first_seen != y->first_seen)
		return x->first_seen > y->first_seen ? -1 : 1;
	return st_endpoint_cmp(&x->ep, &y->ep);
}

static bool list_wants(const struct opts *o, const struct st_addr_entry *e, const char *source)
{
	return !((o->tried && !e->successes) || (o->new_only && e->successes) ||
	         (o->pinned_only && !e->pinned) ||
	         (o->source && strncmp(source, o->source, strlen(o->source)) != 0));
}

struct list_ctx {
	const struct opts *o;
	struct st_printer *p;
};

static int list_one(void *vctx, const struct st_addr_entry *e, const char *source)
{
	struct list_ctx *c = vctx;
	if (list_wants(c->o, e, source))
		print_entry(c->p, e, source);
	return 0;
}

static int cmd_list(struct st_cli *cli, struct opts *o)
{
	struct st_addrbook *ab = open_book(cli, BOOK_READ | BOOK_LAZY);
	struct st_printer *p = st_cli_printer(cli, &st_schema_address);
	struct st_err err = {0};
	const char *sort = o->sort ? o->sort : "endpoint";
	if (strcmp(sort, "endpoint") == 0) { /* book order: streamed, whatever the book's size */
		struct list_ctx c = {o, p};
		if (st_addrbook_scan(ab, list_one, &c, &err) < 0)
			st_die(cli, &err);
	} else {
		if (st_addrbook_load_all(ab, &err) < 0)
			st_die(cli, &err);
		size_t n = st_addrbook_slots(ab), m = 0;
		const struct st_addr_entry **v = malloc((n ? n : 1) * sizeof *v);
		if (!v) {
			st_err_set(&err, ST_EX_SOFTWARE, "out of memory");
			st_die(cli, &err);
		}
		for (size_t i = 0; i < n; i++) {
			const struct st_addr_entry *e = st_addrbook_entry(ab, i);
			if (e && list_wants(o, e, st_addrbook_source(ab, e)))
				v[m++] = e;
		}
		qsort(v, m, sizeof *v, strcmp(sort, "quality") == 0 ? cmp_quality
		                       : strcmp(sort, "last-seen") == 0 ? cmp_last_seen : cmp_first_seen);
		for (size_t i = 0; i < m; i++)
			print_entry(p, v[i], st_addrbook_source(ab, v[i]));
		free(v);
	}
	int code = st_cli_printer_done(cli, p, 0);
	st_addrbook_free(ab);
	return code;
}

static int read_exclusions(struct st_cli *cli, const char *path, struct st_endpoint **out, size_t *n)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	struct st_err err = {0};
	if (!f) {
		st_err_sys(&err, ST_EX_NOINPUT, "--exclude '%s'", path);
		return st_report(cli, &err);
	}
	struct st_reader *r = st_reader_new(f, strcmp(path, "-") == 0 ? "<stdin>" : path);
	struct st_record rec = {0};
	size_t cap = 0;
	int rc;
	*out = NULL;
	*n = 0;
	while ((rc = st_reader_next(r, &rec, &err)) != 0) {
		if (rc < 0) {
			st_warn(cli, "%s", err.msg);
			continue;
		}
		if (rec.no_endpoint)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			struct st_endpoint *ne = realloc(*out, cap * sizeof *ne);
			if (!ne)
				break;
			*out = ne;
		}
		(*out)[(*n)++] = rec.endpoint;
	}
	st_reader_free(r);
	if (f != stdin)
		fclose(f);
	return 0;
}

/* best's filter: banned endpoints are not offered. */
struct bans_now {
	const struct st_peerbook *pb;
	int64_t now;
};

static bool banned(void *ctx, const struct st_endpoint *ep)
{
	const struct bans_now *b = ctx;
	struct st_ban_query q;
	st_ban_query_set(&q, ep, NULL);
	return st_bans_verdict(b->pb, &q, b->now) != NULL;
}

static int cmd_best(struct st_cli *cli, struct opts *o)
{
	/* the bans and the peers (whose ids automatic bans name), read and unlocked
	 * at once; a missing table reads as no bans */
	struct st_peerbook *pb;
	struct st_err err = {0};
	if (st_peerbook_open(&pb, &cli->config, ST_STORE_READ, &err) < 0 ||
	    st_peerbook_unlock(pb, &err) < 0)
		st_die(cli, &err);
	int64_t now = st_now();
	struct bans_now bn = {pb, now};
	struct st_addrbook *ab = open_book(cli, BOOK_READ | BOOK_LAZY);
	struct st_best_opts bo = {.n = o->n ? o->n : 8, .routable_only = o->routable_only,
	                          .random = o->random, .seed = o->seed, .skip = banned,
	                          .skip_ctx = &bn};
	struct st_endpoint *ex = NULL;
	if (o->exclude && read_exclusions(cli, o->exclude, &ex, &bo.nexclude) != 0) {
		st_addrbook_free(ab);
		st_peerbook_free(pb);
		return ST_EX_NOINPUT;
	}
	bo.exclude = ex;
	const struct st_addr_entry **out = malloc(bo.n * sizeof *out);
	long got = out ? st_addrbook_best(ab, &bo, now, out, &err) : -1;
	if (got < 0)
		st_die(cli, &err);
	struct st_printer *p = st_cli_printer(cli, &st_schema_address);
	for (long i = 0; i < got; i++)
		print_entry(p, out[i], st_addrbook_source(ab, out[i]));
	free(out);
	free(ex);
	int code = st_cli_printer_done(cli, p, 0);
	st_addrbook_free(ab);
	st_peerbook_free(pb);
	return code;
}

static int apply_record(struct st_cli *cli, struct st_addrbook *ab, const struct st_endpoint *ep,
                        const char *status, const char *where, size_t *applied, size_t *unknown)
{
	struct st_err err = {0};
	char eps[ST_ENDPOINT_STRLEN];
	st_endpoint_format(ep, eps, sizeof eps);
	if (!status) {
		st_error(cli, "%s: %s: no status", where, eps);
		return -1;
	}
	enum st_status st;
	bool ok;
	if (strcmp(status, "fail") == 0) { /* the argument form: ENDPOINT ok|fail */
		ok = false;
	} else if (st_status_parse(status, &st) < 0) {
		st_error(cli, "%s: %s: unknown status '%s'", where, eps, status);
		return -1;
	} else if (st == ST_STATUS_BANNED || st == ST_STATUS_SHUTDOWN || st == ST_STATUS_REFUSED_LIMIT) {
		return 0; /* never dialed, or refused by us: no attempt to count */
	} else {
		ok = st_status_is_success(st);
	}
	int rc = st_addrbook_record(ab, ep, ok, st_now(), &err);
	if (rc < 0)
		st_die(cli, &err);
	if (rc == 0) {
		st_warn(cli, "%s: %s: not in the address book", where, eps);
		(*unknown)++;
	} else {
		(*applied)++;
	}
	return 0;
}

static int record_record(void *ctx, const struct st_record *rec, const char *where)
{
	struct batch *c = ctx;
	return apply_record(c->cli, c->ab, &rec->endpoint, st_record_get(rec, "status"), where,
	                    &c->applied, &c->unknown);
}

static int cmd_record(struct st_cli *cli)
{
	struct st_addrbook *ab;
	size_t applied = 0, unknown = 0, bad = 0;
	struct st_err err = {0};
	int code;
	if (cli->argc) {
		if (cli->argc % 2)
			st_usage_error(cli, "record takes pairs: ENDPOINT ok|fail");
		ab = open_book(cli, BOOK_WRITE | BOOK_LAZY);
		for (int i = 0; i < cli->argc; i += 2) {
			struct st_endpoint ep;
			const char *st = cli->argv[i + 1];
			if (strcmp(st, "ok") && strcmp(st, "fail"))
				st_usage_error(cli, "'%s': expected ok or fail", st);
			if (st_endpoint_parse(&ep, cli->argv[i], strlen(cli->argv[i]), &err) < 0) {
				st_error(cli, "'%s': %s", cli->argv[i], err.msg);
				bad++;
				continue;
			}
			apply_record(cli, ab, &ep, st, "argument", &applied, &unknown);
		}
		if ((code = close_book(cli, ab, 0)) != 0)
			return code;
	} else {
		struct batch c = {cli, NULL, NULL, BOOK_WRITE | BOOK_LAZY, NULL, 0, 0, NULL, 0, 0};
		struct st_batch_fns fns = {batch_open, record_record, batch_close};
		if ((code = st_cli_each_batch(cli, &fns, &c, &bad)) != 0)
			return code;
		applied = c.applied;
		unknown = c.unknown;
	}
	st_note(cli, "%zu recorded, %zu unknown, %zu bad", applied, unknown, bad);
	return bad ? ST_EX_DATAERR : 0;
}

/* seen, remove, pin, unpin: the same walk over ENDPOINT arguments. */
static int cmd_each(struct st_cli *cli, const char *name)
{
	if (!cli->argc)
		st_usage_error(cli, "%s needs at least one ENDPOINT", name);
	struct st_addrbook *ab = open_book(cli, BOOK_WRITE | BOOK_LAZY);
	struct st_err err = {0};
	int code = 0;
	for (int i = 0; i < cli->argc; i++) {
		struct st_endpoint ep;
		if (st_endpoint_parse(&ep, cli->argv[i], strlen(cli->argv[i]), &err) < 0) {
			st_error(cli, "'%s': %s", cli->argv[i], err.msg);
			code = ST_EX_DATAERR;
			continue;
		}
		int rc = strcmp(name, "seen") == 0 ? st_addrbook_seen(ab, &ep, st_now(), &err)
		       : strcmp(name, "remove") == 0 ? st_addrbook_remove(ab, &ep, &err)
		       : st_addrbook_pin(ab, &ep, strcmp(name, "pin") == 0, &err);
		if (rc < 0)
			st_die(cli, &err);
		if (rc == 0) {
			st_error(cli, "%s: not in the address book", cli->argv[i]);
			code = ST_EX_DATAERR;
		}
	}
	return close_book(cli, ab, code);
}

static int cmd_prune(struct st_cli *cli, struct opts *o)
{
	struct st_addrbook *ab = open_book(cli, (o->dry_run ? BOOK_READ : BOOK_WRITE) | BOOK_LAZY);
	int64_t now = st_now();
	int64_t max_age = (o->max_age_given ? o->max_age : cli->config.addrbook.max_age) / 1000;
	bool by_age = o->max_age_given || (!o->terrible && !o->min_quality_given);
	struct st_printer *p = st_cli_printer(cli, &st_schema_address);
	struct st_err err = {0};
	size_t removed = 0;
	/* by age alone, the age index finds the candidates; other rules see every entry */
	if ((o->terrible || o->min_quality_given ? st_addrbook_load_all(ab, &err)
	                                         : st_addrbook_gather_stale(ab, now - max_age, &err)) < 0)
		st_die(cli, &err);
	for (size_t i = 0; i < st_addrbook_slots(ab); i++) {
		const struct st_addr_entry *e = st_addrbook_entry(ab, i);
		if (!e || e->pinned)
			continue;
		bool go = (by_age && now - e->last_seen > max_age) ||
		          (o->terrible && st_addr_terrible(e, now)) ||
		          (o->min_quality_given && e->attempts >= o->min_attempts &&
		           st_addr_quality(e) < o->min_quality);
		if (!go)
			continue;
		print_entry(p, e, st_addrbook_source(ab, e));
		removed++;
		if (!o->dry_run) {
			struct st_endpoint ep = e->ep;
			if (st_addrbook_remove(ab, &ep, &err) < 0)
				st_die(cli, &err);
		}
	}
	int code = st_cli_printer_done(cli, p, 0);
	st_note(cli, "%zu %s", removed, o->dry_run ? "would be removed" : "removed");
	if (o->dry_run) {
		st_addrbook_free(ab);
		return code;
	}
	return close_book(cli, ab, code);
}

struct import_ctx {
	struct st_cli *cli;
	struct st_progress *pr;
};

static void import_rejected(void *ctx, const char *where, const char *why)
{
	const struct import_ctx *x = ctx;
	st_error(x->cli, "%s: %s", where, why);
}

static void import_progress(void *ctx, size_t done, size_t total, size_t added, size_t rejected)
{
	const struct import_ctx *x = ctx;
	st_progress_draw(x->pr, false, "%zu of %zu: %zu imported, %zu rejected", done, total, added,
	                 rejected);
}

/* The largest input import takes from a pipe (it is held in memory). */
#define IMPORT_MAX ((size_t)1 << 30)

static int cmd_import(struct st_cli *cli)
{
	if (cli->argc != 1)
		st_usage_error(cli, "import takes one FILE");
	const char *path = cli->argv[0];
	struct st_err err = {0};
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (!f) {
		st_err_sys(&err, ST_EX_NOINPUT, "'%s'", path);
		return st_report(cli, &err);
	}
	const char *name = f == stdin ? "<stdin>" : path;
	/* from here: a slow pipe counts towards the second after which progress shows */
	struct st_progress pr;
	st_progress_begin(&pr, cli);
	/* a pipe is read whole before the book is locked: its writer may be waiting on it */
	char *held = NULL;
	if (!st_is_regular_file(f)) {
		size_t len;
		if (st_slurp(f, IMPORT_MAX, &held, &len, &err) < 0)
			st_die(cli, &err);
		if (f != stdin)
			fclose(f);
		f = fmemopen(held, len ? len : 1, "r");
		if (!f) {
			st_err_sys(&err, ST_EX_SOFTWARE, "fmemopen");
			st_die(cli, &err);
		}
		if (!len)
			getc(f); /* fmemopen wants a size: an empty input is one unread byte */
	}
	struct st_addrbook *ab = open_book(cli, BOOK_WRITE);
	int c;
	while ((c = getc(f)) == ' ' || c == '\n' || c == '\t' || c == '\r')
		;
	size_t added = 0, rejected = 0, bad = 0;
	if (c == '[') { /* the reference node's JSON book */
		ungetc(c, f);
		struct import_ctx ictx = {cli, &pr};
		struct st_addrbook_import_sink sink = {import_rejected, &ictx, import_progress};
		int rc = st_addrbook_import_reference(ab, f, name, &sink,
		                                      &added, &rejected, &err);
		if (f != stdin && !held)
			fclose(f);
		if (rc < 0) {
			st_addrbook_free(ab);
			st_die(cli, &err);
		}
	} else { /* our export: stored tsv lines */
		if (c != EOF)
			ungetc(c, f);
		struct st_buf line;
		st_buf_init(&line, ST_LINE_MAX);
		unsigned long lineno = 0;
		int rc;
		while ((rc = st_read_line(f, &line, &err)) != 0) {
			lineno++;
			if (rc < 0 || !line.len || line.data[0] == '#') {
				if (rc < 0) {
					st_error(cli, "'%s' line %lu: %s", name, lineno, err.msg);
					bad++;
				}
				continue;
			}
			struct st_addr_entry e;
			char source[ST_SOURCE_MAX];
			if (st_addr_entry_parse(&e, source, sizeof source, line.data, line.len, &err) < 0) {
				st_error(cli, "'%s' line %lu: %s", name, lineno, err.msg);
				bad++;
				continue;
			}
			enum st_addrbook_verdict v;
			if (st_addrbook_add(ab, &e.ep, source, NULL, e.first_seen ? e.first_seen : st_now(),
			                    &v, NULL, &err) < 0 ||
			    (v <= ST_ADD_DUPLICATE && st_addrbook_import_entry(ab, &e, source, &err) < 0)) {
				st_addrbook_free(ab);
				st_die(cli, &err);
			}
			st_progress_draw(&pr, false, "line %lu: %zu imported, %zu rejected", lineno, added,
			                 rejected);
			if (v <= ST_ADD_DUPLICATE) {
				added++;
			} else {
				char eps[ST_ENDPOINT_STRLEN];
				st_endpoint_format(&e.ep, eps, sizeof eps);
				if (v == ST_ADD_NOT_ROUTABLE || v == ST_ADD_SCOPE)
					st_error(cli, "'%s' line %lu: endpoint: %s '%s' (%s)", name, lineno,
					        st_addrbook_verdict_name(v), eps,
					        st_addr_class_name(st_endpoint_class(&e.ep)));
				else
					st_error(cli, "'%s' line %lu: endpoint: %s '%s'", name, lineno,
					        st_addrbook_verdict_name(v), eps);
				rejected++;
			}
		}
		st_buf_clear(&line);
		if (f != stdin && !held)
			fclose(f);
	}
	if (held) {
		fclose(f);
		free(held);
	}
	st_progress_done(&pr, cli);
	st_note(cli, "%zu imported, %zu rejected, %zu bad", added, rejected, bad);
	return close_book(cli, ab, bad || rejected ? ST_EX_DATAERR : 0);
}

static int export_one(void *ctx, const struct st_addr_entry *e, const char *source)
{
	char line[ST_SOURCE_MAX + 256];
	(void)ctx;
	st_addr_entry_format_source(e, source, line, sizeof line);
	return puts(line) == EOF ? 1 : 0; /* a write error: st_cli_printer_done reports it */
}

static int cmd_export(struct st_cli *cli)
{
	struct st_addrbook *ab = open_book(cli, BOOK_READ | BOOK_LAZY);
	struct st_err err = {0};
	/* the format's name, then a tsv header: a record stream like any other */
	printf("# st-addrbook export %d\n#endpoint\tfirst_seen\tlast_seen\tlast_attempt\tlast_success\t"
	       "attempts\tsuccesses\tfailures\tconsecutive_failures\tpinned\tsource_group\tsource\n",
	       ST_ADDRBOOK_FORMAT_VERSION);
	if (st_addrbook_scan(ab, export_one, NULL, &err) < 0)
		st_die(cli, &err);
	st_addrbook_free(ab);
	return st_cli_printer_done(cli, NULL, 0);
}

static int cmd_fsck(struct st_cli *cli, struct opts *o)
{
	size_t kept, lost;
	struct st_err err = {0};
	int rc = st_addrbook_fsck(&cli->config, o->repair, &kept, &lost, &err);
	if (rc < 0)
		return st_report(cli, &err);
	if (rc == 1)
		st_note(cli, "repaired: %zu entries kept, %zu lines lost; damaged files moved to *.bak", kept, lost);
	else if (rc == 2)
		st_note(cli, "repaired: %zu entries kept; indexes rebuilt", kept);
	else
		st_note(cli, "ok: %zu entries", kept);
	return 0;
}

int cmd_stats(struct st_cli *cli, struct st_addrbook *ab);

int cmd_main(struct st_cli *cli, int argc, char **argv)
{
	struct opts o = {0};
	st_cli_parse(cli, &prog, argc, argv, on_option, &o);
	st_cli_finish_config(cli, true);
	const char *c = cli->cmd->name;
	if (strcmp(c, "add") && strcmp(c, "record") && strcmp(c, "seen") && strcmp(c, "remove") &&
	    strcmp(c, "pin") && strcmp(c, "unpin") && strcmp(c, "import") && cli->argc)
		st_usage_error(cli, "unexpected argument '%s'", cli->argv[0]);
	if (strcmp(c, "add") == 0)
		return cmd_add(cli, &o);
	if (strcmp(c, "list") == 0)
		return cmd_list(cli, &o);
	if (strcmp(c, "best") == 0)
		return cmd_best(cli, &o);
	if (strcmp(c, "record") == 0)
		return cmd_record(cli);
	if (strcmp(c, "prune") == 0)
		return cmd_prune(cli, &o);
	if (strcmp(c, "import") == 0)
		return cmd_import(cli);
	if (strcmp(c, "export") == 0)
		return cmd_export(cli);
	if (strcmp(c, "fsck") == 0)
		return cmd_fsck(cli, &o);
	if (strcmp(c, "stats") == 0) {
		struct st_addrbook *ab = open_book(cli, BOOK_READ);
		int code = cmd_stats(cli, ab);
		st_addrbook_free(ab);
		return code;
	}
	return cmd_each(cli, c);
}

/* -o prom: the names node_exporter's textfile collector will show */
static const struct st_prom_metric stats_prom[] = {
	{"total", "addresses", NULL, "addresses in the book"},
	{"family", "addresses_by_family", "family", "addresses by IP family"},
	{"table", "addresses_by_table", "table", "addresses tried, new (never reached) and pinned"},
	{"class", "addresses_by_class", "class", "addresses by address class"},
	{"quality", "addresses_by_quality", "quality", "addresses by quality score, in tenths"},
	{"source", "addresses_by_source", "source", "addresses by where they came from"},
	{"subnet", "addresses_in_subnet", "subnet", "addresses in the most crowded subnets"},
	{NULL, NULL, NULL, NULL},
};

int cmd_stats(struct st_cli *cli, struct st_addrbook *ab)
{
	struct st_addrbook_stats s;
	struct st_err err = {0};
	if (st_addrbook_stats(ab, &s, &err) < 0)
		st_die(cli, &err);
	size_t bars = cli->format == ST_FMT_TEXT && isatty(STDOUT_FILENO) ? st_tty_columns(STDOUT_FILENO) : 0;
	struct st_printer *p = st_cli_printer(cli, &st_schema_stat);
	st_printer_prom(p, "st_addrbook", stats_prom);
	if (bars)
		printf("addresses\n");
	st_cli_stat(p, bars, "total", "total", s.total, s.total);
	st_cli_stat(p, bars, "family", "ipv4", s.ipv4, s.total);
	st_cli_stat(p, bars, "family", "ipv6", s.ipv6, s.total);
	st_cli_stat(p, bars, "table", "tried", s.tried, s.total);
	st_cli_stat(p, bars, "table", "new", s.new_, s.total);
	st_cli_stat(p, bars, "table", "pinned", s.pinned, s.total);
	if (bars)
		printf("by class\n");
	for (int c = 0; c < ST_CLASS__COUNT; c++)
		if (s.by_class[c])
			st_cli_stat(p, bars, "class", st_addr_class_name((enum st_addr_class)c), s.by_class[c], s.total);
	if (bars)
		printf("quality\n");
	size_t qmax = 0;
	for (int i = 0; i < 10; i++)
		qmax = s.quality[i] > qmax ? s.quality[i] : qmax;
	for (int i = 0; i < 10; i++) {
		char key[16];
		snprintf(key, sizeof key, "%.1f-%.1f", i / 10.0, (i + 1) / 10.0);
		st_cli_stat(p, bars, "quality", key, s.quality[i], qmax);
	}
	if (bars)
		printf("sources\n");
	for (size_t i = 0; i < s.nsources; i++)
		st_cli_stat(p, bars, "source", s.sources[i].name, s.sources[i].count, s.sources[0].count);
	if (bars)
		printf("most crowded subnets\n");
	for (size_t i = 0; i < s.nsubnets; i++) {
		char key[ST_CIDR_STRLEN];
		st_netkey_format(s.subnets[i].key, key, sizeof key);
		st_cli_stat(p, bars, "subnet", key, s.subnets[i].count, s.subnets[0].count);
	}
	return st_cli_printer_done(cli, p, 0);
}
