/* st-crawl - map the network, rank nodes by uptime, export and serve seeds (DNS). */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "st/addrbook.h"
#include "st/cli.h"
#include "st/crawl.h"
#include "st/net.h"
#include "st/peers.h"
#include "st/schema.h"
#include "st/seed.h"
#include "st/store.h"
#include "st/tls.h"
#include "st/util.h"
#include "crawl_publish.h"
#include "tty.h"

enum {
	OPT_STATE = ST_OPT_USER, OPT_ALLOW_PRIVATE, OPT_TIMEOUT, OPT_MAX_NODES, OPT_MAX_TIME,
	OPT_GETPEERS, OPT_MAX_ASKS, OPT_ASK_INTERVAL, OPT_RETEST, OPT_EVERY, OPT_UPDATE,
	OPT_PER_GROUP, OPT_MIN_UPTIME, OPT_FORMAT, OPT_OUT, OPT_KEY, OPT_PORT, OPT_ZONE, OPT_BIND,
	OPT_TTL, OPT_NS, OPT_MBOX, OPT_RATE, OPT_RELOAD, OPT_GOOD, OPT_TLS, OPT_STRICT,
};

#define OPT_STATE_DIR \
	{"state", OPT_STATE, ST_ARG_REQUIRED, "DIR", "the crawl state (DATA_DIR/crawl)", "dir"}
#define OPT_PRIVATE(what) \
	{"allow-private", OPT_ALLOW_PRIVATE, ST_ARG_NONE, NULL, what, NULL}

static const struct st_option crawl_opts[] = {
	OPT_PRIVATE("follow non-routable addresses too"),
	{"ask-interval", OPT_ASK_INTERVAL, ST_ARG_REQUIRED, "T", "between GetPeers to one node (5m)", NULL},
	{"every", OPT_EVERY, ST_ARG_REQUIRED, "T", "crawl again every T, retesting all", NULL},
	{"getpeers", OPT_GETPEERS, ST_ARG_REQUIRED, "N", "peers asked for per GetPeers (1000)", NULL},
	{"jobs", 'j', ST_ARG_REQUIRED, "N", "dial N at once (connect.jobs)", NULL},
	{"max-asks", OPT_MAX_ASKS, ST_ARG_REQUIRED, "N", "GetPeers per node while answers are full (3)", NULL},
	{"max-nodes", OPT_MAX_NODES, ST_ARG_REQUIRED, "N", "dial at most N nodes per run", NULL},
	{"max-time", OPT_MAX_TIME, ST_ARG_REQUIRED, "T", "stop a run after T", NULL},
	{"retest", OPT_RETEST, ST_ARG_REQUIRED, "T", "dial known nodes tried longer ago (1h)", NULL},
	OPT_STATE_DIR,
	{"strict", OPT_STRICT, ST_ARG_NONE, NULL, "with --tls: refuse a node whose id changed", NULL},
	{"timeout", OPT_TIMEOUT, ST_ARG_REQUIRED, "T", "per node (connect.timeout)", NULL},
	{"tls", OPT_TLS, ST_ARG_NONE, NULL, "mutual TLS: ids proven by certificates (tls)", NULL},
	{"update", OPT_UPDATE, ST_ARG_NONE, NULL, "record results in st-addrbook and st-peers", NULL},
	ST_OPTION_END,
};
static const struct st_option dump_opts[] = {
	OPT_PRIVATE("non-routable nodes may be good"),
	{"good", OPT_GOOD, ST_ARG_NONE, NULL, "only the good nodes", NULL},
	OPT_STATE_DIR,
	ST_OPTION_END,
};
static const struct st_option export_opts[] = {
	OPT_PRIVATE("non-routable nodes may be exported"),
	{"format", OPT_FORMAT, ST_ARG_REQUIRED, "FMT", "text or json", "text json"},
	{"key", OPT_KEY, ST_ARG_REQUIRED, "KEY", "sign: write FILE.sig with this key", "file"},
	{"min-uptime", OPT_MIN_UPTIME, ST_ARG_REQUIRED, "P", "30-day uptime of at least P% (50)", NULL},
	{"number", 'n', ST_ARG_REQUIRED, "N", "at most N nodes (512)", NULL},
	{"out", OPT_OUT, ST_ARG_REQUIRED, "FILE", "write FILE (atomically) instead of stdout", "file"},
	{"per-group", OPT_PER_GROUP, ST_ARG_REQUIRED, "K", "at most K per /16 or /32 (2)", NULL},
	{"port", OPT_PORT, ST_ARG_REQUIRED, "P", "only nodes on port P", NULL},
	OPT_STATE_DIR,
	ST_OPTION_END,
};
static const struct st_option dns_opts[] = {
	OPT_PRIVATE("serve non-routable nodes too"),
	{"bind", OPT_BIND, ST_ARG_REQUIRED, "ADDR:PORT", "UDP address (0.0.0.0:53)", NULL},
	{"mbox", OPT_MBOX, ST_ARG_REQUIRED, "NAME", "SOA mailbox (hostmaster.ZONE)", NULL},
	{"ns", OPT_NS, ST_ARG_REQUIRED, "NAME", "the zone's name server (ZONE)", NULL},
	{"port", OPT_PORT, ST_ARG_REQUIRED, "P", "serve nodes on port P (7777)", NULL},
	{"rate", OPT_RATE, ST_ARG_REQUIRED, "N", "answers per client per second (10)", NULL},
	{"reload", OPT_RELOAD, ST_ARG_REQUIRED, "T", "reread the state every T (30s)", NULL},
	OPT_STATE_DIR,
	{"ttl", OPT_TTL, ST_ARG_REQUIRED, "T", "of A and AAAA answers (60s)", NULL},
	{"zone", OPT_ZONE, ST_ARG_REQUIRED, "ZONE", "the seed's name (required)", NULL},
	ST_OPTION_END,
};
static const struct st_command commands[] = {
	{"", "[SEED...]", "crawl from seeds, stdin, the frontier or the book", crawl_opts},
	{"dump", "", "every node's reliability, like the seeder's dump", dump_opts},
	{"export-seeds", "", "the best nodes as a seed list for st-seed", export_opts},
	{"serve-dns", "", "answer A/AAAA queries with good nodes (DNS seed)", dns_opts},
	ST_COMMAND_END,
};
static const struct st_program prog = {
	"st-crawl", "[SEED...] | dump | export-seeds | serve-dns",
	"Map the network, rank nodes by uptime, export and serve seeds.", NULL, commands,
};


static int on_option(void *vctx, struct st_cli *cli, int key, const char *arg, struct st_err *err)
{
	struct crawl_opts *o = vctx;
	switch (key) {
	case OPT_STATE: o->state = arg; return 0;
	case OPT_ALLOW_PRIVATE: o->allow_private = true; return 0;
	case OPT_UPDATE: o->update = true; return 0;
	case OPT_GOOD: o->good = true; return 0;
	case OPT_TLS: return st_cli_config_flag(cli, "--tls", "tls", "true", err);
	case OPT_STRICT: o->strict = true; return 0;
	case 'j': return st_cli_config_flag(cli, "-j", "connect.jobs", arg, err);
	case OPT_TIMEOUT: return st_cli_config_flag(cli, "--timeout", "connect.timeout", arg, err);
	case OPT_MAX_NODES: return st_cli_u64("--max-nodes", arg, 1, ST_CRAWL_NODES_MAX, &o->max_nodes, err);
	case OPT_MAX_TIME: return st_cli_duration("--max-time", arg, 1, INT64_MAX / 2, &o->max_time, err);
	case OPT_GETPEERS: return st_cli_u64("--getpeers", arg, 1, ST_PEERS_MAX, &o->getpeers, err);
	case OPT_MAX_ASKS: return st_cli_u64("--max-asks", arg, 1, 100, &o->max_asks, err);
	case OPT_ASK_INTERVAL:
		return st_cli_duration("--ask-interval", arg, 0, INT64_MAX / 2, &o->ask_interval, err);
	case OPT_RETEST: return st_cli_duration("--retest", arg, 0, INT64_MAX / 2, &o->retest, err);
	case OPT_EVERY: return st_cli_duration("--every", arg, 1000, INT64_MAX / 2, &o->every, err);
	case 'n': return st_cli_u64("-n", arg, 1, ST_CRAWL_NODES_MAX, &o->n, err);
	case OPT_PER_GROUP: return st_cli_u64("--per-group", arg, 1, ST_CRAWL_NODES_MAX, &o->per_group, err);
	case OPT_MIN_UPTIME:
		if (st_parse_double(arg, 0, 100, &o->min_uptime, err) < 0)
			return st_err_prefix(err, "--min-uptime");
		return 0;
	case OPT_FORMAT:
		if (strcmp(arg, "text") && strcmp(arg, "json"))
			return st_err_set(err, ST_EX_USAGE, "--format '%s': text or json", arg);
		o->json_list = strcmp(arg, "json") == 0;
		return 0;
	case OPT_OUT: o->out = arg; return 0;
	case OPT_KEY: o->key = arg; return 0;
	case OPT_PORT: return st_cli_u64("--port", arg, 1, 65535, &o->port, err);
	case OPT_ZONE: o->zone = arg; return 0;
	case OPT_BIND: o->bind = arg; return 0;
	case OPT_TTL: return st_cli_duration("--ttl", arg, 0, 86400000LL * 7, &o->ttl, err);
	case OPT_NS: o->ns = arg; return 0;
	case OPT_MBOX: o->mbox = arg; return 0;
	case OPT_RATE: return st_cli_u64("--rate", arg, 1, 100000, &o->rate, err);
	case OPT_RELOAD: return st_cli_duration("--reload", arg, 100, 86400000LL, &o->reload, err);
	}
	return -1;
}

/* ---- the crawl ---- */

struct crawl_ctx {
	struct st_cli *cli;
	const struct crawl_opts *o;
	struct st_printer *p;
	struct st_progress progress;
	bool tty_out;             /* stdout is the terminal the progress line is on */
};

/* The progress line on a terminal (tty.c): never in a pipe, never under -q. */
static void on_progress(void *ctx, size_t done, size_t known, size_t reachable)
{
	struct crawl_ctx *c = ctx;
	st_progress_draw(&c->progress, false, "%zu dialed of %zu found, %zu reachable", done, known,
	                 reachable);
}

static void on_report(void *ctx, const struct st_crawl_report *r)
{
	struct crawl_ctx *c = ctx;
	struct st_printer *p = c->p;
	const struct st_crawl_node *nd = r->node;
	bool ok = st_status_is_success(nd->status);
	char ep[ST_ENDPOINT_STRLEN];
	st_endpoint_format(&nd->ep, ep, sizeof ep);
	if (c->tty_out) /* a record line on the terminal: the progress line makes room */
		st_progress_end(&c->progress);
	if (r->previous_id)
		st_warn(c->cli, "%s: identity changed: it proved %s, it was %s (--strict refuses)", ep,
		        nd->node_id, r->previous_id);
	st_print_begin(p);
	st_print_str(p, "endpoint", "%-22s", ep);
	st_print_bool(p, "reachable", "%s", ok);
	st_print_str(p, "status", "%-8s", st_status_name(nd->status));
	st_print_str(p, "node_id", "%s", ok && nd->node_id[0] ? nd->node_id : NULL);
	/* the id this try proved: a node reached without TLS only claims one */
	st_print_bool(p, "verified", "verified=%s", ok && nd->verified && nd->node_id[0]);
	if (ok) {
		st_print_int(p, "version", "v%lld", nd->version);
		st_print_str(p, "user_agent", "\"%s\"", nd->user_agent);
		crawl_print_services(p, "services", nd->services);
	} else {
		st_print_str(p, "version", "%s", NULL);
		st_print_str(p, "user_agent", "%s", NULL);
		st_print_str(p, "services", "%s", NULL);
	}
	if (ok && nd->rtt_ms >= 0)
		st_print_int(p, "rtt_ms", "rtt=%lldms", nd->rtt_ms);
	else
		st_print_str(p, "rtt_ms", "%s", NULL);
	st_print_int(p, "peers_offered", "peers=%lld", ok ? nd->peers_offered : 0);
	st_print_int(p, "learned", "new=%lld", r->learned);
	st_print_time(p, "first_seen", "first %s", nd->first_seen);
	st_print_time(p, "last_seen", "last %s", nd->last_seen);
	st_print_str(p, "error", "%s", ok ? NULL : r->error);
	st_print_end(p);
	fflush(stdout);
}

/* --update: the nodes tried since the last commit, into both books. */
static int on_committed(void *ctx, const struct st_crawl_node *const *v, size_t n,
                        struct st_err *err)
{
	struct crawl_ctx *c = ctx;
	if (!c->o->update)
		return 0;
	struct st_addrbook *ab;
	struct st_peerbook *pb;
	const struct st_config *cfg = &c->cli->config;
	if (st_addrbook_open(&ab, cfg, ST_STORE_WRITE | ST_ADDRBOOK_LAZY, err) < 0)
		return -1;
	if (st_peerbook_open(&pb, cfg, ST_STORE_WRITE, err) < 0) {
		st_addrbook_free(ab);
		return -1;
	}
	int64_t now = st_now();
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct st_crawl_node *nd = v[i];
		bool ok = st_status_is_success(nd->status);
		enum st_addrbook_verdict verdict;
		struct st_endpoint evicted;
		if (ok)
			rc = st_addrbook_add(ab, &nd->ep, "crawl", NULL, now, &verdict, &evicted, err);
		struct st_conn_result res = {.ep = nd->ep, .status = nd->status,
		                             .node_id = ok ? nd->node_id : NULL, .version = nd->version,
		                             .user_agent = nd->user_agent, .verified = ok && nd->verified};
		struct st_peer_change ch;
		if (rc >= 0)
			rc = st_glue_apply(ab, pb, &res, now, &ch, err);
		if (rc >= 0)
			rc = 0;
	}
	if (st_addrbook_close(ab, rc ? NULL : err) < 0 && rc == 0)
		rc = -1;
	if (st_peerbook_close(pb, rc ? NULL : err) < 0 && rc == 0)
		rc = -1;
	return rc;
}

static void print_summary(struct st_cli *cli, const struct st_crawl_state *cs,
                          const struct st_crawl_counts *k)
{
	struct st_crawl_summary s;
	struct st_err err = {0};
	if (st_crawl_summarize(cs, k->run, &s, &err) < 0) {
		st_report(cli, &err);
		return;
	}
	if (cli->format == ST_FMT_TEXT) {
		st_note(cli, "found %zu, reachable %zu of %zu dialed, %zu new, %zu skipped, %zu left in "
		        "the frontier, in %.1fs%s", k->found, k->reachable, k->tried, k->learned,
		        k->skipped, k->frontier, (double)k->elapsed_ms / 1000.0,
		        k->interrupted ? " (interrupted)" : k->timed_out ? " (time is up)" : "");
		char line[1024];
		const struct { const char *what; const struct st_crawl_tally *v; size_t n; } t[] = {
			{"by version", s.by_version, s.nversion}, {"by user agent", s.by_agent, s.nagent},
			{"by /16", s.by_group, s.ngroup}};
		for (size_t j = 0; j < ST_ARRAY_LEN(t); j++) {
			size_t len = 0;
			for (size_t i = 0; i < t[j].n && i < 10 && len < sizeof line; i++)
				len += (size_t)snprintf(line + len, sizeof line - len, "%s%s %zu", i ? ", " : "",
				                        t[j].v[i].key[0] ? t[j].v[i].key : "\"\"", t[j].v[i].count);
			if (t[j].n > 10 && len < sizeof line)
				snprintf(line + len, sizeof line - len, ", ... (%zu in all)", t[j].n);
			if (t[j].n)
				st_note(cli, "%s: %s", t[j].what, line);
		}
		if (s.rtt_p50 >= 0)
			st_note(cli, "rtt: p50 %lldms, p90 %lldms, p99 %lldms", (long long)s.rtt_p50,
			        (long long)s.rtt_p90, (long long)s.rtt_p99);
		st_crawl_summary_clear(&s);
		return;
	}
	if (cli->verbose < 0) {
		st_crawl_summary_clear(&s);
		return;
	}
	/* tsv and json: records of their own kind, on stderr so stdout stays one kind */
	struct st_printer *p = st_printer_new(stderr, cli->format, st_now());
	if (!p) {
		st_crawl_summary_clear(&s);
		return;
	}
	st_printer_schema(p, &st_schema_summary);
	const struct { const char *k; size_t v; } counts[] = {
		{"found", k->found}, {"dialed", k->tried}, {"reachable", k->reachable},
		{"learned", k->learned}, {"skipped", k->skipped}, {"frontier", k->frontier},
		{"elapsed_ms", (size_t)k->elapsed_ms}};
	for (size_t i = 0; i < ST_ARRAY_LEN(counts); i++) {
		st_print_begin(p);
		st_print_str(p, "metric", "%s", counts[i].k);
		st_print_str(p, "key", "%s", NULL);
		st_print_uint(p, "value", "%llu", counts[i].v);
		st_print_end(p);
	}
	const struct { const char *what; const struct st_crawl_tally *v; size_t n; } t[] = {
		{"version", s.by_version, s.nversion}, {"user_agent", s.by_agent, s.nagent},
		{"group", s.by_group, s.ngroup}};
	for (size_t j = 0; j < ST_ARRAY_LEN(t); j++)
		for (size_t i = 0; i < t[j].n; i++) {
			st_print_begin(p);
			st_print_str(p, "metric", "%s", t[j].what);
			st_print_str(p, "key", "%s", t[j].v[i].key);
			st_print_uint(p, "value", "%llu", t[j].v[i].count);
			st_print_end(p);
		}
	const struct { const char *k; int64_t v; } rtt[] = {
		{"p50", s.rtt_p50}, {"p90", s.rtt_p90}, {"p99", s.rtt_p99}};
	for (size_t i = 0; i < ST_ARRAY_LEN(rtt) && s.rtt_p50 >= 0; i++) {
		st_print_begin(p);
		st_print_str(p, "metric", "%s", "rtt_ms");
		st_print_str(p, "key", "%s", rtt[i].k);
		st_print_int(p, "value", "%lld", rtt[i].v);
		st_print_end(p);
	}
	st_printer_flush(p, NULL);
	st_printer_free(p);
	st_crawl_summary_clear(&s);
}

/* Nothing given and nothing left to do in the state: the book's best to start from. */
static struct st_endpoint *book_seeds(struct st_cli *cli, size_t *n)
{
	struct st_addrbook *ab;
	struct st_err err = {0};
	*n = 0;
	if (st_addrbook_open(&ab, &cli->config, ST_STORE_READ | ST_ADDRBOOK_LAZY, &err) < 0)
		return NULL;
	const struct st_addr_entry *best[64];
	struct st_best_opts bo = {.n = ST_ARRAY_LEN(best)};
	long got = st_addrbook_best(ab, &bo, st_now(), best, &err);
	struct st_endpoint *v = got > 0 ? calloc((size_t)got, sizeof *v) : NULL;
	for (long i = 0; v && i < got; i++)
		v[(*n)++] = best[i]->ep;
	st_addrbook_free(ab);
	return v;
}

static bool nothing_due(const struct st_crawl_state *cs, int64_t retest_ms)
{
	int64_t now = st_now();
	for (size_t i = 0; i < cs->n; i++)
		if (!cs->v[i].last_try || now - cs->v[i].last_try >= retest_ms / 1000)
			return false;
	return true;
}

static int cmd_crawl(struct st_cli *cli, struct crawl_opts *o)
{
	struct st_err err = {0};
	int bad = 0;
	size_t nseeds = 0;
	st_cli_pin *ids = NULL;
	/* seeds: the operands, else records on stdin unless it is a terminal */
	struct st_endpoint *seeds = st_cli_endpoints(cli, isatty(STDIN_FILENO) ? NULL : stdin,
	                                             "<stdin>", &nseeds, &bad, &ids);
	const char **pins = seeds ? calloc(nseeds + 1, sizeof *pins) : NULL;
	if (!seeds || !pins)
		st_die(cli, &(struct st_err){ST_EX_SOFTWARE, "out of memory"});
	for (size_t i = 0; i < nseeds; i++)
		pins[i] = ids[i];
	struct st_crawl_state cs;
	crawl_load_state(cli, o, &cs);
	struct st_crawl_opts co = {
		.jobs = cli->config.connect.jobs,
		.timeout_ms = cli->config.connect.timeout,
		.max_nodes = o->max_nodes,
		.max_time_ms = o->max_time,
		.getpeers = o->getpeers ? (int32_t)o->getpeers : ST_PEERS_MAX,
		.max_asks = o->max_asks ? (uint32_t)o->max_asks : 3,
		.ask_interval_ms = o->ask_interval >= 0 ? o->ask_interval : 300000,
		.retest_ms = o->retest >= 0 ? o->retest : 3600000,
		.allow_private = o->allow_private,
		.commit_every_ms = 1000,
		.strict = o->strict,
		.seed_ids = pins,
		.report = on_report,
		.committed = on_committed,
		.progress = on_progress,
	};
	if (!nseeds && !bad && nothing_due(&cs, co.retest_ms)) {
		free(seeds);
		co.seed_ids = NULL; /* the book's: no pins */
		seeds = book_seeds(cli, &nseeds);
		if (!nseeds) {
			st_crawl_state_clear(&cs);
			free(seeds);
			free(pins);
			free(ids);
			st_error(cli, "nothing to crawl: no seeds, no frontier, no node due, an empty book");
			return ST_EX_NOINPUT;
		}
		st_info(cli, "starting from the address book's best %zu", nseeds);
	}
	if (o->strict && !cli->config.tls)
		st_usage_error(cli, "--strict goes with --tls (or tls: true)");
	struct st_tls_ctx *tls = NULL;
	if (cli->config.tls && st_tls_new(&tls, &cli->config, &err) < 0)
		st_die(cli, &err);
	if (st_net_local_handshake_tls(&cli->config, 0, tls, &co.local, &err) < 0)
		st_die(cli, &err);
	co.tls = tls;
	st_net_raise_nofile((uint64_t)co.jobs + 64);
	struct crawl_ctx c = {.cli = cli, .o = o, .p = st_cli_printer(cli, &st_schema_crawl),
	                      .tty_out = isatty(STDOUT_FILENO) && isatty(STDERR_FILENO)};
	co.ctx = &c;
	if ((co.stop_fd = st_cli_stop_begin_g(&err)) < 0)
		st_die(cli, &err);
	int code = 0;
	for (;;) {
		struct st_crawl_counts k;
		int64_t began = st_monotonic_ms();
		st_progress_begin(&c.progress, cli);
		int rc = st_crawl_run(&cs, seeds, nseeds, &co, &k, &err);
		st_progress_done(&c.progress, cli);
		if (rc < 0) {
			code = st_report(cli, &err);
			break;
		}
		print_summary(cli, &cs, &k);
		code = k.interrupted ? ST_EX_TEMPFAIL : k.tried && !k.reachable ? ST_EX_UNAVAILABLE : 0;
		if (k.interrupted)
			st_error(cli, "interrupted");
		if (!o->every || k.interrupted)
			break;
		/* the next run retests every node; seeds were added to the state already */
		nseeds = 0;
		co.seed_ids = NULL;
		co.retest_ms = o->every;
		int64_t wait = o->every - (st_monotonic_ms() - began);
		struct pollfd pf = {co.stop_fd, POLLIN, 0};
		if (wait > 0 && poll(&pf, 1, (int)(wait > INT32_MAX ? INT32_MAX : wait)) > 0) {
			code = ST_EX_TEMPFAIL;
			st_error(cli, "interrupted");
			break;
		}
	}
	st_cli_stop_end_g();
	st_tls_free(tls);
	free(seeds);
	free(pins);
	free(ids);
	st_crawl_state_clear(&cs);
	if (bad && code == 0)
		code = ST_EX_DATAERR;
	return st_cli_printer_done(cli, c.p, code);
}

int cmd_main(struct st_cli *cli, int argc, char **argv)
{
	struct crawl_opts o = {.max_time = 0, .ask_interval = -1, .retest = -1, .ttl = -1, .min_uptime = 50};
	st_cli_parse(cli, &prog, argc, argv, on_option, &o);
	const char *c = cli->cmd->name;
	st_cli_finish_config(cli, true);
	if (!o.state) {
		snprintf(o.state_buf, sizeof o.state_buf, "%s/crawl", cli->config.data_dir);
		o.state = o.state_buf;
	}
	if (c[0] && cli->argc)
		st_usage_error(cli, "unexpected argument '%s'", cli->argv[0]);
	if (!strcmp(c, "dump"))
		return crawl_dump(cli, &o);
	if (!strcmp(c, "export-seeds"))
		return crawl_export(cli, &o);
	if (!strcmp(c, "serve-dns"))
		return crawl_serve_dns(cli, &o);
	return cmd_crawl(cli, &o);
}
