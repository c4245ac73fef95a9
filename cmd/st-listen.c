/* st-listen - the answering side: handshakes, pongs, peers from the address book. */
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "st/addrbook.h"
#include "st/bans_cache.h"
#include "st/cli.h"
#include "st/engine.h"
#include "st/gp_cache.h"
#include "st/logfmt.h"
#include "st/metrics.h"
#include "st/schema.h"
#include "st/net.h"
#include "st/peers.h"
#include "st/store.h"
#include "st/tls.h"
#include "st/util.h"

enum { OPT_BIND = ST_OPT_USER, OPT_PORT, OPT_MAX_CONNS, OPT_MAX_PER_IP, OPT_IDLE, OPT_HANDSHAKE,
       OPT_TLS, OPT_GETPEERS_INTERVAL, OPT_METRICS };

static const struct st_option options[] = {
	{"bind", OPT_BIND, ST_ARG_REQUIRED, "ADDR:PORT", "listen here (repeatable; listen.bind)", NULL},
	{"getpeers-interval", OPT_GETPEERS_INTERVAL, ST_ARG_REQUIRED, "T", "one GetPeers answer per address per T (5m)", NULL},
	{"handshake-timeout", OPT_HANDSHAKE, ST_ARG_REQUIRED, "T", "time a client has to handshake", NULL},
	{"idle-timeout", OPT_IDLE, ST_ARG_REQUIRED, "T", "close connections silent this long", NULL},
	{"max-conns", OPT_MAX_CONNS, ST_ARG_REQUIRED, "N", "inbound connections at once", NULL},
	{"max-per-ip", OPT_MAX_PER_IP, ST_ARG_REQUIRED, "N", "inbound connections per address", NULL},
	{"metrics", OPT_METRICS, ST_ARG_REQUIRED, "[ADDR:]PORT",
	 "Prometheus metrics over HTTP (default addr 127.0.0.1)", NULL},
	{"port", OPT_PORT, ST_ARG_REQUIRED, "PORT", "the port of every bind address (0: any)", NULL},
	{"tls", OPT_TLS, ST_ARG_NONE, NULL, "mutual TLS: ids proven by certificates (tls)", NULL},
	ST_OPTION_END,
};
static const struct st_program prog = {
	"st-listen", "", "Answer Spacetime peers: handshake, pong, peers from the address book.",
	options, NULL,
};

struct listen_ctx {
	struct st_cli *cli;
	struct st_printer *p;
	char binds[ST_BIND_MAX][64];
	size_t nbind;
	long port;
	struct st_bans_cache *bans;/* reread by a worker when the bans table changes */
	int bans_code;             /* the worker's last failure, told once */
	uint64_t reload_ticket;    /* a SIGHUP's reread, until the worker has tried it */
	struct st_gp_cache *gp;    /* GetPeers answers: the book's best, kept by a worker */
	uint64_t gp_key;           /* hashes GetPeers exclusions */
	int gp_code;               /* the worker's last failure, told once */
	bool rows;                 /* a record per session on stdout (see main) */
	int64_t start_time;        /* process_start_time_seconds */
	struct st_listener *li;    /* while the loop runs: what --metrics reads */
	struct event *flush;       /* while the loop runs: writes a turn's rows (flush_rows) */
};

/* The bans as st-peers last wrote them, with the peers (for st_bans_verdict): the
 * worker's latest copy (bans_cache.h), a pointer swap; a failure to read is told once. */
static struct st_peerbook *current_bans(struct listen_ctx *c)
{
	struct st_peerbook *pb = st_bans_cache_current(c->bans);
	int code;
	char msg[ST_ERR_MSG_MAX];
	st_bans_cache_done(c->bans, 0, &code, msg, sizeof msg);
	if (code != c->bans_code && code && code != ST_EX_TEMPFAIL)
		st_log_msg(c->cli, ST_LOG_WARN, "bans", "%s", msg);
	c->bans_code = code;
	return pb;
}

static bool banned_addr(void *vctx, const struct st_endpoint *addr)
{
	struct st_peerbook *pb = current_bans(vctx);
	struct st_ban_query q;
	struct st_endpoint a = *addr;
	a.port = 0; /* the source port says nothing: the address and its subnets */
	st_ban_query_set(&q, &a, NULL);
	return pb && st_bans_verdict(pb, &q, st_now());
}

static bool banned_peer(void *vctx, const char *id, const struct st_endpoint *at)
{
	struct st_peerbook *pb = current_bans(vctx);
	struct st_ban_query q;
	st_ban_query_set(&q, at, id);
	return pb && st_bans_verdict(pb, &q, st_now());
}

static int on_option(void *vctx, struct st_cli *cli, int key, const char *arg, struct st_err *err)
{
	struct listen_ctx *c = vctx;
	uint64_t n;
	switch (key) {
	case OPT_BIND:
		if (c->nbind == ST_BIND_MAX)
			return st_err_set(err, ST_EX_USAGE, "--bind: at most %d addresses", ST_BIND_MAX);
		if (strlen(arg) >= sizeof c->binds[0])
			return st_err_set(err, ST_EX_USAGE, "--bind %s: too long", arg);
		strcpy(c->binds[c->nbind++], arg);
		return 0;
	case OPT_PORT:
		if (st_cli_u64("--port", arg, 0, 65535, &n, err) < 0)
			return -1;
		c->port = (long)n;
		return 0;
	case OPT_MAX_CONNS:
		return st_cli_config_flag(cli, "--max-conns", "listen.max_conns", arg, err);
	case OPT_MAX_PER_IP:
		return st_cli_config_flag(cli, "--max-per-ip", "listen.max_per_ip", arg, err);
	case OPT_IDLE:
		return st_cli_config_flag(cli, "--idle-timeout", "listen.idle_timeout", arg, err);
	case OPT_HANDSHAKE:
		return st_cli_config_flag(cli, "--handshake-timeout", "listen.handshake_timeout", arg, err);
	case OPT_GETPEERS_INTERVAL:
		return st_cli_config_flag(cli, "--getpeers-interval", "listen.getpeers_interval", arg, err);
	case OPT_TLS:
		return st_cli_config_flag(cli, "--tls", "tls", "true", err);
	case OPT_METRICS:
		return st_cli_config_flag(cli, "--metrics", "listen.metrics", arg, err);
	}
	return -1;
}

static void on_bound(void *vctx, const struct st_endpoint *addr)
{
	struct listen_ctx *c = vctx;
	char ep[ST_ENDPOINT_STRLEN];
	st_endpoint_format(addr, ep, sizeof ep);
	/* text mode: first thing on stdout, so scripts and tests learn the port */
	FILE *f = c->cli->format == ST_FMT_TEXT ? stdout : stderr;
	if (f == stderr && c->cli->verbose < 0)
		return; /* -q: stderr is for errors */
	fprintf(f, "listening %s\n", ep);
	fflush(f);
}

/* The session's log line (level=info event=session ...). */
static void log_session(const struct listen_ctx *c, const struct st_inbound *in, const char *peer,
                        const char *reach)
{
	const struct st_hello *h = in->remote;
	struct st_kv kv;
	st_kv_begin(&kv, ST_LOG_INFO, "session");
	st_kv_str(&kv, "endpoint", reach[0] ? reach : NULL);
	st_kv_str(&kv, "peer", peer);
	st_kv_str(&kv, "status", st_status_name(in->status));
	st_kv_str(&kv, "node_id", in->verified_id ? in->verified_id : h ? h->node_id : NULL);
	st_kv_bool(&kv, "verified", in->verified_id != NULL);
	if (h) {
		st_kv_int(&kv, "version", h->version);
		st_kv_str(&kv, "user_agent", h->user_agent);
		st_kv_uint(&kv, "listen_port", h->listen_port);
	}
	st_kv_int(&kv, "duration_ms", in->duration_ms);
	st_kv_uint(&kv, "getpeers", in->getpeers);
	st_kv_str(&kv, "error", in->error);
	st_log(c->cli, &kv);
}

static void on_session(void *vctx, const struct st_inbound *in)
{
	struct listen_ctx *c = vctx;
	char peer[ST_ENDPOINT_STRLEN], reach[ST_ENDPOINT_STRLEN] = "";
	st_endpoint_format(in->ep, peer, sizeof peer);
	const struct st_hello *h = in->remote;
	/* the books want where the peer can be dialed: its address and the port it
	 * says it listens on; its source port is ephemeral, no endpoint at all */
	if (h && h->listen_port) {
		struct st_endpoint at = *in->ep;
		at.port = h->listen_port;
		st_endpoint_format(&at, reach, sizeof reach);
	}
	if (st_log_wants(c->cli, ST_LOG_INFO)) /* with -q no line is built */
		log_session(c, in, peer, reach);
	if (!c->rows)
		return;
	struct st_printer *p = c->p;
	st_print_begin(p);
	st_print_str(p, "endpoint", "%-22s", reach[0] ? reach : NULL);
	st_print_str(p, "peer", "from %-22s", peer);
	st_print_str(p, "status", "%-14s", st_status_name(in->status));
	/* a certificate's proof over a claim; on identity-mismatch the proven id */
	st_print_str(p, "node_id", "%s", in->verified_id ? in->verified_id : h ? h->node_id : NULL);
	st_print_bool(p, "verified", "verified=%s", in->verified_id != NULL);
	if (h)
		st_print_int(p, "version", "v%lld", h->version);
	else
		st_print_str(p, "version", "%s", NULL);
	st_print_str(p, "user_agent", "\"%s\"", h ? h->user_agent : NULL);
	st_print_uint(p, "listen_port", "listen_port=%llu", h ? h->listen_port : 0);
	st_print_int(p, "duration_ms", "%lldms", in->duration_ms);
	st_print_uint(p, "getpeers", "getpeers=%llu", in->getpeers);
	st_print_str(p, "error", "%s", in->error);
	st_print_end(p);
	/* the rows of one turn of the loop in one write, not one each (flush_rows) */
	if (c->flush)
		event_active(c->flush, EV_TIMEOUT, 1);
	else
		fflush(stdout);
}

/* After the events of a turn of the loop: the rows they ended, out at once. */
static void flush_rows(evutil_socket_t fd, short what, void *vctx)
{
	(void)fd;
	(void)what;
	(void)vctx;
	fflush(stdout);
}

static void on_message(void *vctx, const struct st_endpoint *from, const char *what)
{
	struct listen_ctx *c = vctx;
	char ep[ST_ENDPOINT_STRLEN];
	if (!st_log_wants(c->cli, ST_LOG_DEBUG))
		return;
	st_endpoint_format(from, ep, sizeof ep);
	struct st_kv kv;
	st_kv_begin(&kv, ST_LOG_DEBUG, "message");
	st_kv_str(&kv, "peer", ep);
	st_kv_str(&kv, "msg", what);
	st_log(c->cli, &kv);
}

/* GetPeers' ban filter: one look at the bans table per request, not per endpoint. */
struct bans_now {
	struct st_peerbook *pb;
	int64_t now;
};

static bool banned_in(void *vctx, const struct st_endpoint *ep)
{
	const struct bans_now *b = vctx;
	struct st_ban_query q;
	st_ban_query_set(&q, ep, NULL);
	return st_bans_verdict(b->pb, &q, b->now) != NULL;
}

/* Answers GetPeers from the snapshot the worker keeps of the book's best (gp_cache.h):
 * never a non-routable address to a routable requester, never what it asked to
 * exclude, never a banned endpoint. Costs microseconds: no book is opened here. */
static size_t on_getpeers(void *vctx, const struct st_endpoint *requester,
                          const struct st_getpeers *req, struct st_endpoint *reply, size_t max)
{
	struct listen_ctx *c = vctx;
	int code;
	char msg[ST_ERR_MSG_MAX];
	st_gp_cache_status(c->gp, &code, msg, sizeof msg);
	if (code != c->gp_code && code) /* say it once: the worker tries again by itself */
		st_log_msg(c->cli, ST_LOG_WARN, "getpeers", "the address book was not read: %s", msg);
	c->gp_code = code;
	struct bans_now b = {current_bans(c), st_now()};
	struct st_gp_ask a = {.routable_only = st_endpoint_is_routable(requester),
	                      .exclude = req->exclude, .nexclude = req->nexclude,
	                      .skip = b.pb ? banned_in : NULL, .skip_ctx = &b, .key = c->gp_key};
	return st_gp_snapshot_answer(st_gp_cache_current(c->gp), &a, reply, max);
}

/* The loop's own events: a stop signal ends it, SIGHUP reopens the files. */
struct loop_ctx {
	struct listen_ctx *c;
	struct event_base *base;
	int reload_fd;
	struct event *reloaded;   /* looks whether the worker has reread the bans */
};

static void notify(const struct st_cli *cli, const char *state)
{
	struct st_err err = {0};
	if (st_cli_notify(state, &err) < 0)
		st_log_msg(cli, ST_LOG_WARN, "notify", "%s", err.msg);
}

static void on_stop(evutil_socket_t fd, short what, void *vctx)
{
	(void)fd;
	(void)what;
	struct loop_ctx *l = vctx;
	notify(l->c->cli, "STOPPING=1");
	event_base_loopbreak(l->base);
}

/*
 * SIGHUP (systemctl reload): the bans worker reads them again now rather than at their
 * next change, and READY=1 follows once it has (on_reloaded: the loop never waits for
 * it); GetPeers' snapshot follows the book by itself, so a book restored or repaired
 * under st-listen is the one it serves. Settings (binds, limits) need a restart.
 */
static void on_reloaded(evutil_socket_t fd, short what, void *vctx)
{
	(void)fd;
	(void)what;
	struct loop_ctx *l = vctx;
	int code;
	char msg[ST_ERR_MSG_MAX];
	if (!st_bans_cache_done(l->c->bans, l->c->reload_ticket, &code, msg, sizeof msg)) {
		struct timeval tv = {0, 10 * 1000};
		evtimer_add(l->reloaded, &tv);
		return;
	}
	current_bans(l->c);
	if (code == 0)
		st_log_msg(l->c->cli, ST_LOG_INFO, "reload",
		           "bans read again, the address book is followed as it changes");
	else
		st_log_msg(l->c->cli, ST_LOG_WARN, "reload",
		           "bans not read (%s), the copy in memory serves until they are", msg);
	notify(l->c->cli, "READY=1");
}

static void on_reload(evutil_socket_t fd, short what, void *vctx)
{
	(void)what;
	struct loop_ctx *l = vctx;
	char drain[64];
	while (read(fd, drain, sizeof drain) > 0)
		;
	char state[64];
	snprintf(state, sizeof state, "RELOADING=1\nMONOTONIC_USEC=%lld",
	         (long long)st_monotonic_ms() * 1000);
	notify(l->c->cli, state);
	l->c->reload_ticket = st_bans_cache_reload(l->c->bans);
	on_reloaded(-1, 0, l);
}

/* One scrape of --metrics: the counters as they are between two events of the loop. */
static int fill_metrics(void *vctx, struct st_buf *page, struct st_err *err)
{
	struct listen_ctx *c = vctx;
	struct st_listener_stats s;
	st_listener_stats(c->li, &s);
	return st_metrics_listener(page, &s, c->start_time, err);
}

/* --metrics / listen.metrics: loopback unless an address is named, and then said. */
static int start_metrics(struct listen_ctx *c, struct event_base *base,
                         struct st_metrics_server **out, struct st_err *err)
{
	const char *text = c->cli->config.listen.metrics;
	struct st_endpoint at, bound;
	if (!text[0])
		return 0;
	if (st_metrics_addr(text, &at, err) < 0)
		return st_err_prefix(err, "--metrics");
	if (st_metrics_server_new(out, base, &at, fill_metrics, c, &bound, err) < 0)
		return -1;
	char ep[ST_ENDPOINT_STRLEN], url[ST_ENDPOINT_STRLEN + 32];
	st_endpoint_format(&bound, ep, sizeof ep);
	snprintf(url, sizeof url, "http://%s/metrics", ep);
	struct st_kv kv;
	st_kv_begin(&kv, ST_LOG_INFO, "metrics");
	st_kv_str(&kv, "addr", ep);
	st_kv_str(&kv, "url", url);
	st_log(c->cli, &kv);
	if (st_endpoint_class(&bound) != ST_CLASS_LOOPBACK)
		st_log_msg(c->cli, ST_LOG_WARN, "metrics",
		           "%s is not loopback: whoever reaches it reads the counters", ep);
	return 0;
}

/* Binds, says so (stdout or stderr, and READY=1 to systemd), runs until a stop signal. */
static int run(struct listen_ctx *c, const struct st_listener_opts *lo, struct st_err *err)
{
	struct st_cli *cli = c->cli;
	struct event_base *base = event_base_new();
	if (!base)
		return st_err_set(err, ST_EX_SOFTWARE, "cannot start the event loop");
	struct loop_ctx l = {.c = c, .base = base, .reload_fd = -1};
	struct st_listener *li = NULL;
	struct event *stop = NULL, *reload = NULL;
	struct st_metrics_server *metrics = NULL;
	int rc = st_listener_new(&li, base, lo, err);
	c->li = li;
	c->flush = event_new(base, -1, 0, flush_rows, c); /* none: a flush per row */
	st_net_raise_nofile((uint64_t)lo->max_conns + 64);
	char status[128] = "listening";
	for (size_t i = 0; rc == 0 && i < c->nbind; i++) {
		struct st_endpoint ep;
		rc = st_listener_bind(li, c->binds[i], &ep, err);
		if (rc == 0) {
			on_bound(c, &ep);
			char e[ST_ENDPOINT_STRLEN];
			st_endpoint_format(&ep, e, sizeof e);
			size_t n = strlen(status);
			snprintf(status + n, sizeof status - n, " %s", e);
		}
	}
	if (rc == 0)
		rc = start_metrics(c, base, &metrics, err);
	int stop_fd = -1;
	if (rc == 0 && ((stop_fd = st_cli_stop_begin_g(err)) < 0 ||
	                (l.reload_fd = st_cli_reload_begin_g(err)) < 0))
		rc = -1;
	if (rc == 0) {
		stop = event_new(base, stop_fd, EV_READ, on_stop, &l);
		reload = event_new(base, l.reload_fd, EV_READ | EV_PERSIST, on_reload, &l);
		l.reloaded = evtimer_new(base, on_reloaded, &l);
		if (!stop || !reload || !l.reloaded || event_add(stop, NULL) < 0 ||
		    event_add(reload, NULL) < 0)
			rc = st_err_set(err, ST_EX_SOFTWARE, "cannot start the event loop");
	}
	if (rc == 0) {
		/* every address is bound: a unit ordered after us can dial now */
		char state[160];
		snprintf(state, sizeof state, "READY=1\nSTATUS=%s", status);
		notify(cli, state);
		event_base_dispatch(base);
	}
	if (stop)
		event_free(stop);
	if (reload)
		event_free(reload);
	if (l.reloaded)
		event_free(l.reloaded);
	st_cli_reload_end_g();
	st_cli_stop_end_g();
	st_metrics_server_free(metrics);
	if (c->flush) /* the last turn's rows; the sessions the stop closes, one by one */
		event_free(c->flush);
	c->flush = NULL;
	fflush(stdout);
	st_listener_free(li);
	c->li = NULL;
	event_base_free(base);
	return rc;
}

int cmd_main(struct st_cli *cli, int argc, char **argv)
{
	struct listen_ctx c = {.cli = cli, .port = -1, .start_time = st_now()};
	st_cli_parse(cli, &prog, argc, argv, on_option, &c);
	st_cli_finish_config(cli, true);
	if (cli->argc)
		st_usage_error(cli, "unexpected argument '%s'", cli->argv[0]);
	struct st_endpoint metrics_at;
	struct st_err merr = {0};
	if (cli->config.listen.metrics[0] &&
	    st_metrics_addr(cli->config.listen.metrics, &metrics_at, &merr) < 0)
		st_usage_error(cli, "--metrics %s", merr.msg);
	if (!c.nbind) {
		memcpy(c.binds, cli->config.listen.bind, sizeof c.binds);
		c.nbind = cli->config.listen.nbind;
	}
	if (c.port >= 0) {
		for (size_t i = 0; i < c.nbind; i++) {
			char *colon = strrchr(c.binds[i], ':');
			if (colon)
				snprintf(colon, sizeof c.binds[i] - (size_t)(colon - c.binds[i]), ":%ld", c.port);
		}
	}
	struct st_err err = {0};
	struct st_listener_opts lo = {
		.max_conns = cli->config.listen.max_conns,
		.max_per_ip = cli->config.listen.max_per_ip,
		.idle_timeout_ms = cli->config.listen.idle_timeout,
		.handshake_timeout_ms = cli->config.listen.handshake_timeout,
		.max_frame = ST_FRAME_MAX,
		/* the limiter counts whole seconds: a part of one rounds up, never to 0 */
		.getpeers_interval = (cli->config.listen.getpeers_interval + 999) / 1000,
		.max_memory = (size_t)cli->config.listen.max_memory,
		.getpeers = on_getpeers,
		.session = on_session,
		.message = on_message,
		.banned_addr = banned_addr,
		.banned_peer = banned_peer,
		.ctx = &c,
	};
	uint16_t port = 0;
	if (c.nbind) {
		const char *colon = strrchr(c.binds[0], ':');
		port = colon ? (uint16_t)strtol(colon + 1, NULL, 10) : 0;
	}
	struct st_tls_ctx *tls = NULL;
	if (cli->config.tls && st_tls_new(&tls, &cli->config, &err) < 0)
		st_die(cli, &err);
	if (st_net_local_handshake_tls(&cli->config, port, tls, &lo.local, &err) < 0)
		st_die(cli, &err);
	lo.tls = tls;
	c.gp_key = lo.local.nonce * 0x9e3779b97f4a7c15ULL; /* random per process */
	if (st_gp_cache_start(&c.gp, &cli->config, 250, &err) < 0 ||
	    st_bans_cache_start(&c.bans, &cli->config, 250, &err) < 0)
		st_die(cli, &err);
	/* text records on a stdout that is also stderr (a terminal, the journal)
	 * would tell each session twice: there the log line alone tells it */
	struct stat so, se;
	c.rows = !(cli->format == ST_FMT_TEXT && fstat(1, &so) == 0 && fstat(2, &se) == 0 &&
	           so.st_dev == se.st_dev && so.st_ino == se.st_ino);
	c.p = st_cli_printer(cli, &st_schema_inbound);
	st_printer_live(c.p); /* a row per connection, as it ends */
	int rc = run(&c, &lo, &err);
	st_tls_free(tls);
	st_gp_cache_stop(c.gp);
	st_bans_cache_stop(c.bans);
	if (rc < 0) {
		st_printer_free(c.p);
		return st_report(cli, &err);
	}
	return st_cli_printer_done(cli, c.p, 0);
}
