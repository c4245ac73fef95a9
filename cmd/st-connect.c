/* st-connect - dial endpoints in parallel, handshake, ping, ask for peers; one record each. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connect_session.h"
#include "st/addrbook.h"
#include "st/cli.h"
#include "st/schema.h"
#include "st/net.h"
#include "st/peers.h"
#include "st/store.h"
#include "st/tls.h"
#include "st/util.h"
#include "tty.h"

enum { OPT_TIMEOUT = ST_OPT_USER, OPT_PING, OPT_GETPEERS, OPT_EXCLUDE, OPT_UPDATE, OPT_TLS,
       OPT_STRICT, OPT_BIND };

static const struct st_option dial_opts[] = {
	{"bind", OPT_BIND, ST_ARG_REQUIRED, "ADDR", "dial from this local address (connect.bind)", NULL},
	{"exclude", OPT_EXCLUDE, ST_ARG_REQUIRED, "FILE", "with --getpeers: ask the peer to leave these out", "file"},
	{"getpeers", OPT_GETPEERS, ST_ARG_OPTIONAL, "N", "ask for N peers (default 100); print them", NULL},
	{"jobs", 'j', ST_ARG_REQUIRED, "N", "dial N at once (connect.jobs)", NULL},
	{"ping", OPT_PING, ST_ARG_NONE, NULL, "measure the round trip with Ping/Pong", NULL},
	{"strict", OPT_STRICT, ST_ARG_NONE, NULL, "with --tls: refuse an endpoint whose id changed", NULL},
	{"timeout", OPT_TIMEOUT, ST_ARG_REQUIRED, "T", "per endpoint, e.g. 5s (connect.timeout)", NULL},
	{"tls", OPT_TLS, ST_ARG_NONE, NULL, "mutual TLS: ids proven by certificates (tls)", NULL},
	{"update", OPT_UPDATE, ST_ARG_NONE, NULL, "record the results in st-addrbook and st-peers", NULL},
	ST_OPTION_END,
};
static const struct st_option session_opts[] = {
	{"timeout", OPT_TIMEOUT, ST_ARG_REQUIRED, "T", "to connect, handshake, and for each answer", NULL},
	ST_OPTION_END,
};
static const struct st_command commands[] = {
	{"", "[ENDPOINT...]", "dial endpoints (arguments, or records on stdin)", dial_opts},
	{"session", "ENDPOINT", "interactive: ping, getpeers N, raw 0xTT HEX, quit", session_opts},
	ST_COMMAND_END,
};
static const struct st_program prog = {
	"st-connect", "[ENDPOINT...] | session ENDPOINT",
	"Dial Spacetime peers in parallel: handshake, ping, peer exchange.", NULL, commands,
};

struct run {
	struct st_cli *cli;
	struct st_printer *p;
	int32_t getpeers;
	bool getpeers_bare; /* --getpeers without =N: N may be the next word */
	bool ping;
	const char *exclude;
	const struct st_endpoint *eps;
	bool update;
	bool strict;
	struct st_peerbook *bans;    /* read at the start, for the ban checks and known ids */
	struct saved *saved;         /* results kept for --update */
	size_t nsaved;
	struct st_progress progress;
	size_t by_status[ST_STATUS__COUNT]; /* results, for the summary */
	size_t not_dialed;   /* banned before any dial */
	size_t empty_peers;  /* ok, but an empty Peers answer */
};

/* The progress line on a terminal (tty.c). */
static void on_progress(void *ctx, size_t done, size_t total, long ok)
{
	struct run *r = ctx;
	st_progress_draw(&r->progress, false, "%zu/%zu dialed, %ld ok", done, total, ok);
}

/*
 * The last line: "12 dialed in 2.3s: 10 ok, 1 refused, 1 timeout; 2 banned, not
 * dialed". On stderr when it is a terminal, or with -v: scripts and cron mail
 * keep the quiet stderr they had (the records say it all).
 */
static void summary(struct run *r, size_t dialed, int64_t elapsed_ms)
{
	if (!(r->cli->verbose > 0 || (r->cli->verbose == 0 && isatty(STDERR_FILENO))))
		return;
	char line[512];
	size_t k = (size_t)snprintf(line, sizeof line, "%zu dialed in %.1fs", dialed,
	                            (double)elapsed_ms / 1000.0);
	const char *sep = ": ";
	for (int st = 0; st < ST_STATUS__COUNT && k < sizeof line; st++) {
		size_t c = r->by_status[st] - (st == ST_STATUS_BANNED ? r->not_dialed : 0);
		if (!c && st != ST_STATUS_OK)
			continue;
		k += (size_t)snprintf(line + k, sizeof line - k, "%s%zu %s", sep, c,
		                      st_status_name((enum st_status)st));
		sep = ", ";
	}
	/* a GetPeers answer with no peers is how a listener says it is rate-limiting
	 * (st-listen and the reference node alike); a peer that knows none says the same */
	if (r->empty_peers && k < sizeof line)
		k += (size_t)snprintf(line + k, sizeof line - k,
		                      " (%zu with an empty Peers answer: rate-limited, or it knows none)",
		                      r->empty_peers);
	if (r->not_dialed && k < sizeof line)
		snprintf(line + k, sizeof line - k, "; %zu banned, not dialed", r->not_dialed);
	fprintf(stderr, "%s: %s\n", r->cli->prog->name, line);
}

/* A result kept for --update, once the dialing is over. */
struct saved {
	struct st_endpoint ep;
	enum st_status status;
	char node_id[ST_NODE_ID_MAX + 1];
	bool verified;
	int32_t version;
	char user_agent[ST_UA_MAX + 1];
};

static int on_option(void *vctx, struct st_cli *cli, int key, const char *arg, struct st_err *err)
{
	struct run *r = vctx;
	uint64_t n;
	switch (key) {
	case 'j':
		return st_cli_config_flag(cli, "-j", "connect.jobs", arg, err);
	case OPT_TIMEOUT:
		return st_cli_config_flag(cli, "--timeout", "connect.timeout", arg, err);
	case OPT_PING:
		r->ping = true;
		return 0;
	case OPT_GETPEERS:
		if (!arg) {
			r->getpeers = ST_GETPEERS_DEFAULT;
			r->getpeers_bare = true;
			return 0;
		}
		if (st_cli_u64("--getpeers", arg, 1, ST_PEERS_MAX, &n, err) < 0)
			return -1;
		r->getpeers = (int32_t)n;
		return 0;
	case OPT_EXCLUDE:
		r->exclude = arg;
		return 0;
	case OPT_UPDATE:
		r->update = true;
		return 0;
	case OPT_BIND:
		return st_cli_config_flag(cli, "--bind", "connect.bind", arg, err);
	case OPT_TLS:
		return st_cli_config_flag(cli, "--tls", "tls", "true", err);
	case OPT_STRICT:
		r->strict = true;
		return 0;
	}
	return -1;
}

static void on_result(void *ctx, const struct st_dial_result *res)
{
	struct run *r = ctx;
	char ep[ST_ENDPOINT_STRLEN];
	st_endpoint_format(res->ep, ep, sizeof ep);
	const struct st_hello *h = res->remote;
	if ((unsigned)res->status < ST_STATUS__COUNT)
		r->by_status[res->status]++;
	if (r->getpeers && res->status == ST_STATUS_OK && res->npeers_sent == 0)
		r->empty_peers++;
	/* the id to name: the one a certificate proved, else the one claimed; on
	 * identity-mismatch the proven one, never the claim (st-files(5)) */
	const char *id = res->verified_id ? res->verified_id : h ? h->node_id : NULL;
	if (res->previous_id)
		st_warn(r->cli, "%s: identity changed: it proved %s, it was %s (--strict refuses)", ep,
		        res->verified_id, res->previous_id);
	if (r->saved) {
		struct saved *s = &r->saved[r->nsaved++];
		s->ep = *res->ep;
		s->status = res->status;
		s->verified = res->verified_id != NULL;
		st_strlcpy(s->node_id, id ? id : "", sizeof s->node_id);
		s->version = h ? h->version : 0;
		st_strlcpy(s->user_agent, h ? h->user_agent : "", sizeof s->user_agent);
	}
	if (r->getpeers) {
		/* stdout carries the addresses learned; the outcome goes to stderr */
		if (res->status != ST_STATUS_OK)
			st_warn(r->cli, "%s: %s%s%s", ep, st_status_name(res->status), res->error ? ": " : "",
			        res->error ? res->error : "");
		else if (res->npeers_sent == 0)
			st_info(r->cli, "%s: ok, no peers: an empty answer (rate-limited, or it knows none)", ep);
		else
			st_info(r->cli, "%s: ok, %zu peers", ep, res->npeers);
		char source[ST_SOURCE_MAX];
		snprintf(source, sizeof source, "gossip:%s@%s", id ? id : "?", ep);
		for (size_t i = 0; i < res->npeers; i++) {
			char pe[ST_ENDPOINT_STRLEN];
			st_endpoint_format(&res->peers[i], pe, sizeof pe);
			st_print_begin(r->p);
			st_print_str(r->p, "endpoint", "%s", pe);
			st_print_str(r->p, "source", "%s", source);
			st_print_str(r->p, "node_id", "%s", NULL);
			st_print_end(r->p);
		}
		return;
	}
	st_print_begin(r->p);
	st_print_str(r->p, "endpoint", "%-22s", ep);
	st_print_str(r->p, "status", "%-16s", st_status_name(res->status));
	st_print_str(r->p, "node_id", "%s", id);
	st_print_bool(r->p, "verified", "verified=%s", res->verified_id != NULL);
	if (h)
		st_print_int(r->p, "version", "v%lld", h->version);
	else
		st_print_str(r->p, "version", "%s", NULL);
	st_print_str(r->p, "user_agent", "\"%s\"", h ? h->user_agent : NULL);
	if (res->rtt_ms >= 0)
		st_print_int(r->p, "rtt_ms", "rtt=%lldms", res->rtt_ms);
	else
		st_print_str(r->p, "rtt_ms", "%s", NULL);
	st_print_str(r->p, "error", "%s", res->error);
	st_print_end(r->p);
	/* a progress line on stderr is drawn between records: they go out first; without
	 * one, flush_records writes a loop turn's records at once */
	if (r->progress.on)
		fflush(stdout);
}

/* After a turn of the dial loop: its records out, in one write rather than one each. */
static void flush_records(void *ctx)
{
	(void)ctx;
	fflush(stdout);
}

/* Trust on first use: the verified id the book last saw at ep. */
static const char *known_id(void *ctx, const struct st_endpoint *ep)
{
	struct run *r = ctx;
	const struct st_peer *p = r->bans ? st_peers_verified_at(r->bans, ep) : NULL;
	return p ? p->id : NULL;
}

static bool banned_id(void *ctx, const char *id)
{
	struct run *r = ctx;
	struct st_ban_query q;
	/* a book that never held a ban says no without a lookup (or a clock read) per dial */
	if (!r->bans || st_bans_slots(r->bans) == 0)
		return false;
	st_ban_query_set(&q, NULL, id);
	return st_bans_verdict(r->bans, &q, st_now()) != NULL;
}

/* --update: the seed design's lifecycle, under both books' locks. */
static int update_books(struct st_cli *cli, struct run *r)
{
	struct st_addrbook *ab;
	struct st_peerbook *pb;
	struct st_err err = {0};
	if (st_addrbook_open(&ab, &cli->config, ST_STORE_WRITE | ST_ADDRBOOK_LAZY, &err) < 0)
		return st_report(cli, &err);
	if (st_peerbook_open(&pb, &cli->config, ST_STORE_WRITE, &err) < 0) {
		st_addrbook_free(ab);
		return st_report(cli, &err);
	}
	int64_t now = st_now();
	for (size_t i = 0; i < r->nsaved; i++) {
		const struct saved *s = &r->saved[i];
		struct st_conn_result res = {.ep = s->ep, .status = s->status, .node_id = s->node_id,
		                             .version = s->version, .user_agent = s->user_agent,
		                             .verified = s->verified};
		struct st_peer_change c;
		if (st_glue_apply(ab, pb, &res, now, &c, &err) < 0)
			break;
		if (c.banned)
			st_warn(cli, "%s: banned: %s", c.ban ? c.ban->target : "?", c.ban ? c.ban->reason : "");
		if (c.changed_id)
			st_warn(cli, "warning: a verified endpoint answered with id %s, it was %s", s->node_id,
			        c.previous_id);
	}
	int rc = err.msg[0] ? st_report(cli, &err) : 0;
	if (st_addrbook_close(ab, &err) < 0 && !rc)
		rc = st_report(cli, &err);
	if (st_peerbook_close(pb, &err) < 0 && !rc)
		rc = st_report(cli, &err);
	return rc;
}

static int cmd_session(struct st_cli *cli)
{
	if (cli->argc != 1)
		st_usage_error(cli, "session takes one ENDPOINT");
	struct st_endpoint ep;
	struct st_handshake local;
	struct st_err err = {0};
	if (st_endpoint_parse(&ep, cli->argv[0], strlen(cli->argv[0]), &err) < 0)
		st_usage_error(cli, "'%s': %s", cli->argv[0], err.msg);
	if (st_net_local_handshake(&cli->config, 0, &local, &err) < 0)
		st_die(cli, &err);
	int stop = st_cli_stop_begin_g(&err);
	if (stop < 0)
		st_die(cli, &err);
	int rc = st_connect_session(&ep, &local, cli->config.connect.timeout, STDIN_FILENO, stop, &err);
	st_cli_stop_end_g();
	return rc < 0 ? st_report(cli, &err) : 0;
}

int cmd_main(struct st_cli *cli, int argc, char **argv)
{
	struct run r = {.cli = cli};
	st_cli_parse(cli, &prog, argc, argv, on_option, &r);
	st_cli_finish_config(cli, true);
	if (strcmp(cli->cmd->name, "session") == 0)
		return cmd_session(cli);
	struct st_err err = {0};
	int bad = 0;
	size_t n = 0;
	struct st_endpoint *eps;
	st_cli_pin *ids = NULL;
	if (r.getpeers_bare && cli->argc && strspn(cli->argv[0], "0123456789") == strlen(cli->argv[0])) {
		uint64_t want;
		if (st_cli_u64("--getpeers", cli->argv[0], 1, ST_PEERS_MAX, &want, &err) < 0)
			st_usage_error(cli, "%s", err.msg);
		r.getpeers = (int32_t)want;
		cli->argc--;
		memmove(cli->argv, cli->argv + 1, (size_t)cli->argc * sizeof *cli->argv);
	}
	eps = st_cli_endpoints(cli, stdin, "<stdin>", &n, &bad, &ids);
	if (!eps)
		st_die(cli, &(struct st_err){ST_EX_SOFTWARE, "out of memory"});
	struct st_endpoint *ex = NULL;
	size_t nex = 0;
	if (r.exclude) {
		FILE *f = strcmp(r.exclude, "-") == 0 ? stdin : fopen(r.exclude, "r");
		if (!f) {
			st_err_sys(&err, ST_EX_NOINPUT, "--exclude '%s'", r.exclude);
			free(eps);
			free(ids);
			return st_report(cli, &err);
		}
		ex = st_cli_read_endpoints(cli, f, r.exclude, &nex, &bad, NULL);
		if (f != stdin)
			fclose(f);
	}
	struct st_dial_opts o = {
		.jobs = cli->config.connect.jobs,
		.timeout_ms = cli->config.connect.timeout,
		.max_memory = (size_t)cli->config.connect.max_memory,
		.ping = r.ping,
		.getpeers = r.getpeers,
		.exclude = ex,
		.nexclude = nex > 1000 ? 1000 : nex,
		.progress = on_progress,
		.progress_ctx = &r,
		.flush = flush_records,
	};
	struct st_endpoint source;
	const char *bind = cli->config.connect.bind;
	if (bind[0]) {
		if (st_addr_parse(&source, bind, strlen(bind), &err) < 0)
			st_usage_error(cli, "connect.bind '%s': %s", bind, err.msg);
		/* a local mistake is told once, never recorded as every peer's failure */
		if (st_conn_bind_check(&source, &err) < 0) {
			if (err.code == ST_EX_USAGE)
				st_usage_error(cli, "connect.bind '%s': %s", bind, err.msg);
			st_die(cli, &err);
		}
		size_t kept = 0;
		for (size_t i = 0; i < n; i++) {
			if (eps[i].family != source.family) {
				char e[ST_ENDPOINT_STRLEN];
				st_endpoint_format(&eps[i], e, sizeof e);
				st_error(cli, "'%s': another address family than connect.bind %s: not dialed",
				         e, bind);
				bad++;
				continue;
			}
			eps[kept] = eps[i];
			if (ids)
				memcpy(ids[kept], ids[i], sizeof ids[kept]);
			kept++;
		}
		n = kept;
		o.source = &source;
	}
	struct st_tls_ctx *tls = NULL;
	if (r.strict && !cli->config.tls)
		st_usage_error(cli, "--strict goes with --tls (or tls: true)");
	if (cli->config.tls && st_tls_new(&tls, &cli->config, &err) < 0)
		st_die(cli, &err);
	if (st_net_local_handshake_tls(&cli->config, 0, tls, &o.local, &err) < 0)
		st_die(cli, &err);
	o.tls = tls;
	o.strict = r.strict;
	o.known_id = known_id;
	st_net_raise_nofile((uint64_t)o.jobs + 64);
	r.p = st_cli_printer(cli, r.getpeers ? &st_schema_gossip : &st_schema_dial);
	if (st_peerbook_open(&r.bans, &cli->config, ST_STORE_READ, &err) < 0 ||
	    st_peerbook_unlock(r.bans, &err) < 0)
		st_die(cli, &err);
	o.banned_id = banned_id;
	o.banned_ctx = &r;
	if (r.update && !(r.saved = calloc(n + 1, sizeof *r.saved)))
		st_die(cli, &(struct st_err){ST_EX_SOFTWARE, "out of memory"});
	/* banned endpoints are reported, never dialed */
	size_t m = 0;
	int64_t now = st_now(); /* one clock for the list; no lookups when nothing is banned */
	bool any_bans = st_bans_slots(r.bans) > 0;
	for (size_t i = 0; i < n; i++) {
		struct st_ban_query q;
		const struct st_ban *b = NULL;
		if (any_bans) {
			st_ban_query_set(&q, &eps[i], NULL);
			b = st_bans_verdict(r.bans, &q, now);
		}
		if (!b) {
			if (ids)
				memmove(ids[m], ids[i], sizeof ids[m]);
			eps[m++] = eps[i];
			continue;
		}
		char why[ST_BAN_TARGET_MAX + ST_BAN_REASON_MAX + 16];
		snprintf(why, sizeof why, "banned: %s%s%s", b->target, b->reason[0] ? ": " : "", b->reason);
		struct st_dial_result res = {.ep = &eps[i], .status = ST_STATUS_BANNED, .error = why, .rtt_ms = -1};
		on_result(&r, &res);
		r.not_dialed++;
	}
	if (r.not_dialed) /* told before any dial, not after the first turn of dialing */
		fflush(stdout);
	n = m;
	r.eps = eps;
	/* each endpoint keeps the id it must prove, for TLS pinning */
	const char **expected = ids && n ? calloc(n, sizeof *expected) : NULL;
	for (size_t i = 0; expected && i < n; i++)
		expected[i] = ids[i];
	o.expected = expected;
	bool interrupted = false;
	long ok = 0;
	if (n && (o.stop_fd = st_cli_stop_begin_g(&err)) < 0)
		st_die(cli, &err);
	int64_t t0 = st_monotonic_ms();
	st_progress_begin(&r.progress, cli);
	if (n)
		ok = st_dial_all(eps, n, &o, on_result, &r, &interrupted, &err);
	st_progress_done(&r.progress, cli);
	int64_t elapsed = st_monotonic_ms() - t0;
	st_cli_stop_end_g();
	st_peerbook_free(r.bans);
	r.bans = NULL;
	st_tls_free(tls);
	free(eps);
	free(ids);
	free(expected);
	free(ex);
	int update_rc = ok >= 0 && r.update ? update_books(cli, &r) : 0;
	free(r.saved);
	if (ok < 0) {
		st_printer_free(r.p);
		return st_report(cli, &err);
	}
	if (n || r.not_dialed) {
		/* the records first: on a terminal the summary is the last line */
		(void)st_printer_release(r.p); /* a write error stays: st_cli_printer_done reports it */
		summary(&r, n, elapsed);
	}
	int code = update_rc ? update_rc : ok > 0 ? 0 : ST_EX_UNAVAILABLE;
	if (interrupted) {
		st_error(cli, "interrupted");
		code = ST_EX_TEMPFAIL;
	} else if (n == 0 && !bad && !cli->argc && !r.nsaved) {
		st_error(cli, "no endpoints to dial");
	}
	if (bad && code == 0)
		code = ST_EX_DATAERR;
	/* -q dropped the line per failed dial of --getpeers: say why the status is 69 */
	if (code == ST_EX_UNAVAILABLE && n && r.getpeers && cli->verbose < 0)
		st_error(cli, "none of %zu endpoints answered", n);
	return st_cli_printer_done(cli, r.p, code);
}
