/* st-peers - identity-centric reputation and expiring bans, and the lifecycle glue. */
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
	OPT_VERSION_ = ST_OPT_USER, OPT_BANNED, OPT_SORT, OPT_WEIGHT, OPT_FOR, OPT_UNTIL,
	OPT_PERMANENT, OPT_REASON, OPT_REPAIR,
};

static const struct st_option add_opts[] = {
	{"protocol-version", OPT_VERSION_, ST_ARG_REQUIRED, "V", "the peer's protocol version", NULL},
	ST_OPTION_END,
};
static const struct st_option list_opts[] = {
	{"banned", OPT_BANNED, ST_ARG_NONE, NULL, "only banned peers", NULL},
	{"sort", OPT_SORT, ST_ARG_REQUIRED, "KEY", "reputation, last-seen or id", "reputation last-seen id"},
	ST_OPTION_END,
};
static const struct st_option failure_opts[] = {
	{"weight", OPT_WEIGHT, ST_ARG_REQUIRED, "W", "count W failures' worth (default 1)", NULL},
	ST_OPTION_END,
};
static const struct st_option best_opts[] = {
	{"count", 'n', ST_ARG_REQUIRED, "N", "how many (default 8)", NULL},
	ST_OPTION_END,
};
static const struct st_option ban_opts[] = {
	{"for", OPT_FOR, ST_ARG_REQUIRED, "D", "ban for D (default peers.ban_duration)", NULL},
	{"permanent", OPT_PERMANENT, ST_ARG_NONE, NULL, "ban until unbanned", NULL},
	{"reason", OPT_REASON, ST_ARG_REQUIRED, "TEXT", "why, for the record", NULL},
	{"until", OPT_UNTIL, ST_ARG_REQUIRED, "TIME", "ban until TIME (ISO 8601 or Unix seconds)", NULL},
	ST_OPTION_END,
};
static const struct st_option fsck_opts[] = {
	{"repair", OPT_REPAIR, ST_ARG_NONE, NULL, "move damaged files aside, keep what reads", NULL},
	ST_OPTION_END,
};
static const struct st_command commands[] = {
	{"add", "ID ENDPOINT", "add or update a peer by hand", add_opts},
	{"ban", "TARGET", "ban a node id, an address or a subnet", ban_opts},
	{"bans", "", "the bans in force", NULL},
	{"best", "", "best unbanned peers, spread over groups", best_opts},
	{"check", "TARGET...", "exit 0 if allowed, 1 if banned (a gate)", NULL},
	{"failure", "ID", "count a failure against a peer", failure_opts},
	{"fsck", "", "check the tables; --repair keeps what reads", fsck_opts},
	{"from-addrbook", "", "lightweight entries from the best addresses", best_opts},
	{"ingest", "", "apply st-connect / st-listen records from stdin", NULL},
	{"list", "", "the peers", list_opts},
	{"remove", "ID", "forget a peer", NULL},
	{"show", "ID", "one peer and its ban", NULL},
	{"stats", "", "counts of peers, reputations and bans", NULL},
	{"success", "ID", "count a success for a peer", NULL},
	{"unban", "TARGET", "lift a ban", NULL},
	ST_COMMAND_END,
};
static const struct st_program prog = {
	"st-peers", NULL, "Peer reputation and expiring bans, by node id, address or subnet.", NULL,
	commands,
};

struct opts {
	int64_t version;
	bool banned, permanent, repair;
	const char *sort, *reason, *until;
	uint64_t weight, n;
	int64_t for_ms;
	bool for_given;
};

static int on_option(void *vctx, struct st_cli *cli, int key, const char *arg, struct st_err *err)
{
	(void)cli;
	struct opts *o = vctx;
	uint64_t v;
	switch (key) {
	case OPT_VERSION_:
		if (st_cli_u64("--protocol-version", arg, 1, INT32_MAX, &v, err) < 0)
			return -1;
		o->version = (int64_t)v;
		return 0;
	case OPT_BANNED: o->banned = true; return 0;
	case OPT_SORT:
		if (strcmp(arg, "reputation") && strcmp(arg, "last-seen") && strcmp(arg, "id"))
			return st_err_set(err, ST_EX_USAGE, "--sort %s: expected reputation, last-seen or id", arg);
		o->sort = arg;
		return 0;
	case OPT_WEIGHT: return st_cli_u64("--weight", arg, 1, 1000, &o->weight, err);
	case 'n': return st_cli_u64("-n", arg, 1, 1000000, &o->n, err);
	case OPT_FOR: o->for_given = true; return st_cli_duration("--for", arg, 1000, INT64_MAX / 4, &o->for_ms, err);
	case OPT_UNTIL: o->until = arg; return 0;
	case OPT_PERMANENT: o->permanent = true; return 0;
	case OPT_REASON: o->reason = arg; return 0;
	case OPT_REPAIR: o->repair = true; return 0;
	}
	return -1;
}

static struct st_peerbook *open_pb(struct st_cli *cli, unsigned flags)
{
	struct st_peerbook *pb;
	struct st_err err = {0};
	if (st_peerbook_open(&pb, &cli->config, flags, &err) < 0)
		st_die(cli, &err);
	return pb;
}

static int close_pb(struct st_cli *cli, struct st_peerbook *pb, int code)
{
	struct st_err err = {0};
	if (st_peerbook_close(pb, &err) < 0)
		return st_report(cli, &err);
	return code;
}

/* The verdict on a peer: on its id and on its newest endpoint. */
static bool peer_banned(const struct st_peerbook *pb, const struct st_peer *x, int64_t now)
{
	struct st_ban_query q;
	st_ban_query_set(&q, x->neps ? &x->eps[0] : NULL, x->id);
	return st_bans_banned(pb, &q, now);
}

static void print_peer(struct st_printer *p, const struct st_peerbook *pb, const struct st_peer *x,
                       int64_t now)
{
	char eps[ST_PEER_ENDPOINTS * (ST_ENDPOINT_STRLEN + 1) + 2] = "";
	size_t k = 0;
	for (size_t i = 0; i < x->neps; i++) {
		if (i)
			eps[k++] = ',';
		k += st_endpoint_format(&x->eps[i], eps + k, sizeof eps - k);
	}
	bool banned = peer_banned(pb, x, now);
	/* the newest endpoint first: a peer record can feed st-connect like any other */
	char newest[ST_ENDPOINT_STRLEN] = "";
	if (x->neps)
		st_endpoint_format(&x->eps[0], newest, sizeof newest);
	st_print_begin(p);
	st_print_str(p, "endpoint", "%-22s", newest[0] ? newest : NULL);
	st_print_str(p, "node_id", "%-24s", x->id);
	st_print_int(p, "reputation", "rep=%-4lld", x->reputation);
	st_print_uint(p, "successes", "ok=%llu", x->successes);
	st_print_uint(p, "failures", "fail=%llu", x->failures);
	st_print_uint(p, "consecutive_failures", "(%llu in a row)", x->consecutive_failures);
	st_print_bool(p, "banned", "banned=%s", banned);
	st_print_int(p, "version", "v%lld", x->version);
	st_print_str(p, "user_agent", "\"%s\"", x->user_agent);
	st_print_bool(p, "verified", "verified=%s", x->verified);
	st_print_time(p, "first_seen", "first %s", x->first_seen);
	st_print_time(p, "last_seen", "seen %s", x->last_seen);
	st_print_str(p, "endpoints", "%s", eps[0] ? eps : NULL);
	st_print_end(p);
}

static void print_ban(struct st_printer *p, const struct st_ban *b)
{
	st_print_begin(p);
	st_print_str(p, "target", "%-24s", b->target);
	st_print_str(p, "kind", "%-7s", !b->is_net ? "id" : (b->net.bits == 32 || b->net.bits == 128) &&
	             b->net.net.family ? "address" : "subnet");
	st_print_time(p, "created", "since %s", b->created);
	st_print_time(p, "expires", "until %s", b->expires);
	st_print_str(p, "origin", "%s", b->automatic ? "automatic" : "manual");
	st_print_str(p, "reason", "%s", b->reason[0] ? b->reason : NULL);
	st_print_end(p);
}

static void print_change(struct st_printer *p, const char *id, const struct st_endpoint *ep,
                         const char *what, const struct st_peerbook *pb, const char *detail)
{
	char eps[ST_ENDPOINT_STRLEN] = "";
	if (ep)
		st_endpoint_format(ep, eps, sizeof eps);
	const struct st_peer *x = id ? st_peers_get(pb, id) : NULL;
	st_print_begin(p);
	st_print_str(p, "node_id", "%-24s", id);
	st_print_str(p, "endpoint", "%-22s", ep ? eps : NULL);
	st_print_str(p, "change", "%-12s", what);
	if (x)
		st_print_int(p, "reputation", "rep=%lld", x->reputation);
	else
		st_print_str(p, "reputation", "%s", NULL);
	st_print_str(p, "detail", "%s", detail);
	st_print_end(p);
}

static void report_change(struct st_printer *p, const struct st_peerbook *pb, const char *id,
                          const struct st_endpoint *ep, const char *what,
                          const struct st_peer_change *c)
{
	if (c->added)
		print_change(p, id, ep, "added", pb, NULL);
	else
		print_change(p, id, ep, what, pb, NULL);
	if (c->new_endpoint)
		print_change(p, id, ep, "new-endpoint", pb, "a known id at a new endpoint");
	if (c->changed_id)
		print_change(p, id, ep, "changed-id", pb, c->previous_id);
	if (c->banned)
		print_change(p, c->ban ? c->ban->target : id, ep, "banned", pb, c->ban ? c->ban->reason : NULL);
}

/* A result of a batch, as ingest_one read it, to be applied once the batch is in. */
struct pending {
	struct st_conn_result res;
	bool has_id, has_ua;
	char id[ST_NODE_ID_MAX + 1];
	char ua[ST_UA_MAX + 1];
};

/* ingest: each batch (st_cli_each_batch) is read first, then its tables opened with
 * the lines of the ids and endpoints it names (st_peerbook_open_for), its results
 * applied in order, and let go; what a batch printed is held until then */
struct ingest {
	struct st_cli *cli;
	struct st_printer *p;
	struct pending *v;
	size_t n, cap;
};

static int ingest_begin(void *ctx)
{
	struct ingest *g = ctx;
	g->n = 0;
	return 0;
}

static void ingest_apply(struct ingest *g, struct st_peerbook *pb, struct pending *e, int64_t now)
{
	struct st_conn_result *res = &e->res;
	res->node_id = e->has_id ? e->id : NULL;
	res->user_agent = e->has_ua ? e->ua : NULL;
	struct st_peer_change c;
	char id[ST_NODE_ID_MAX + 1] = "";
	const struct st_peer *at;
	if (res->node_id)
		st_strlcpy(id, res->node_id, sizeof id);
	else if ((at = st_peers_at(pb, &res->ep)) != NULL)
		st_strlcpy(id, at->id, sizeof id);
	struct st_err err = {0};
	if (st_glue_apply(NULL, pb, res, now, &c, &err) < 0)
		st_die(g->cli, &err);
	if (id[0] && res->status != ST_STATUS_BANNED)
		report_change(g->p, pb, id, &res->ep,
		              st_status_is_success(res->status) ? "success" : "failure", &c);
}

static int ingest_end(void *ctx, bool more)
{
	(void)more; /* the printed records wait for the locks' release: let go each batch */
	struct ingest *g = ctx;
	if (g->n == 0)
		return 0; /* the end of an input whose batches are all applied: nothing to open */
	struct st_err err = {0};
	const char **ids = malloc((g->n + 1) * sizeof *ids);
	struct st_endpoint *eps = malloc((g->n + 1) * sizeof *eps);
	if (!ids || !eps) {
		st_err_set(&err, ST_EX_SOFTWARE, "out of memory");
		st_die(g->cli, &err);
	}
	size_t nids = 0;
	for (size_t i = 0; i < g->n; i++) {
		if (g->v[i].has_id && g->v[i].id[0])
			ids[nids++] = g->v[i].id;
		eps[i] = g->v[i].res.ep;
	}
	struct st_peerbook_want want = {ids, nids, eps, g->n};
	struct st_peerbook *pb;
	if (st_peerbook_open_for(&pb, &g->cli->config, ST_STORE_WRITE, &want, &err) < 0)
		st_die(g->cli, &err);
	free(ids);
	free(eps);
	st_printer_hold(g->p);
	int64_t now = st_now();
	for (size_t i = 0; i < g->n; i++)
		ingest_apply(g, pb, &g->v[i], now);
	g->n = 0;
	int code = close_pb(g->cli, pb, 0);
	if (code == 0)
		st_printer_release(g->p);
	return code;
}

static int ingest_one(void *ctx, const struct st_record *rec, const char *where)
{
	struct ingest *g = ctx;
	struct st_cli *cli = g->cli;
	struct st_conn_result res = {.ep = rec->endpoint};
	const char *status = st_record_get(rec, "status");
	if (!status || st_status_parse(status, &res.status) < 0) {
		st_error(cli, "%s: %s%s%s", where, status ? "unknown status '" : "no status",
		         status ? status : "", status ? "'" : "");
		return -1;
	}
	const char *node_id = rec->node_id[0] ? rec->node_id : st_record_get(rec, "node_id");
	if (node_id && !st_node_id_valid(node_id, strlen(node_id))) {
		st_error(cli, "%s: bad node_id", where);
		return -1;
	}
	const char *v = st_record_get(rec, "version"), *ver = st_record_get(rec, "verified");
	const char *ua = st_record_get(rec, "user_agent");
	res.version = v ? atoi(v) : 0;
	res.verified = ver && strcmp(ver, "true") == 0;
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 256;
		struct pending *nv = realloc(g->v, cap * sizeof *nv);
		if (!nv) {
			struct st_err err = {0};
			st_err_set(&err, ST_EX_SOFTWARE, "out of memory");
			st_die(cli, &err);
		}
		g->v = nv;
		g->cap = cap;
	}
	struct pending *e = &g->v[g->n++];
	e->res = res;
	e->has_id = node_id != NULL;
	e->has_ua = ua != NULL;
	/* an id that is valid fits; a longer user agent is cut as st_peers_seen cuts it */
	st_strlcpy(e->id, node_id ? node_id : "", sizeof e->id);
	st_strlcpy(e->ua, ua ? ua : "", sizeof e->ua);
	return 0;
}

static int cmd_ingest(struct st_cli *cli)
{
	struct ingest g = {cli, st_cli_printer(cli, &st_schema_change), NULL, 0, 0};
	struct st_batch_fns fns = {ingest_begin, ingest_one, ingest_end};
	size_t bad = 0;
	int code = st_cli_each_batch(cli, &fns, &g, &bad);
	free(g.v);
	if (code) {
		st_printer_free(g.p);
		return code;
	}
	return st_cli_printer_done(cli, g.p, bad ? ST_EX_DATAERR : 0);
}

static int cmd_list(struct st_cli *cli, struct opts *o, bool best)
{
	/* every peer and ban, packed: a table of a million peers fits in some 100 MB */
	struct st_peerbook *pb = open_pb(cli, ST_STORE_READ | ST_PEERBOOK_PACKED | ST_PEERBOOK_VERDICTS);
	int64_t now = st_now();
	size_t n;
	const char *s = best ? "reputation" : o->sort ? o->sort : "id";
	uint32_t *v;
	struct st_err err = {0};
	if (st_peers_sorted(pb, !strcmp(s, "reputation") ? ST_PEERS_BY_REPUTATION
	                        : !strcmp(s, "last-seen") ? ST_PEERS_BY_LAST_SEEN : ST_PEERS_BY_ID,
	                    &v, &n, &err) < 0)
		st_die(cli, &err);
	struct st_printer *p = st_cli_printer(cli, &st_schema_peer);
	struct st_peer x;
	if (best) {
		/* the best of each /16 or /32 group first, then the second best, ... */
		size_t want = o->n ? o->n : 8, got = 0;
		bool *used = calloc(n + 1, sizeof *used);
		for (unsigned round = 0; used && got < want && round < 64; round++) {
			size_t before = got;
			uint64_t *seen = calloc(n + 1, sizeof *seen);
			size_t nseen = 0;
			for (size_t i = 0; seen && i < n && got < want; i++) {
				if (used[i] || !st_peers_read(pb, v[i], &x) || peer_banned(pb, &x, now))
					continue;
				uint64_t g = x.neps ? st_endpoint_group_key(&x.eps[0]) : i + 1;
				bool dup = false;
				for (size_t j = 0; j < nseen && !dup; j++)
					dup = seen[j] == g;
				if (dup)
					continue;
				seen[nseen++] = g;
				used[i] = true;
				print_peer(p, pb, &x, now);
				got++;
			}
			free(seen);
			if (got == before)
				break;
		}
		free(used);
	} else {
		for (size_t i = 0; i < n; i++) {
			/* in id order the records lie anywhere: ask ahead, the record first */
			if (i + 16 < n)
				st_peers_prefetch_slot(pb, v[i + 16], false);
			if (i + 8 < n)
				st_peers_prefetch_slot(pb, v[i + 8], true);
			if (st_peers_read(pb, v[i], &x) && (!o->banned || peer_banned(pb, &x, now)))
				print_peer(p, pb, &x, now);
		}
	}
	free(v);
	int code = st_cli_printer_done(cli, p, 0);
	st_peerbook_free(pb);
	return code;
}

static int64_t ban_until(struct st_cli *cli, const struct opts *o, int64_t now)
{
	if ((o->permanent != 0) + (o->for_given != 0) + (o->until != NULL) > 1)
		st_usage_error(cli, "--for, --until and --permanent exclude one another");
	if (o->permanent)
		return 0;
	if (o->until) {
		int64_t t;
		struct st_err err = {0};
		if (st_parse_iso8601(o->until, &t) < 0 && st_parse_i64(o->until, 1, INT64_MAX / 4, &t, &err) < 0)
			st_usage_error(cli, "--until %s: expected ISO 8601 or Unix seconds", o->until);
		if (t <= now)
			st_usage_error(cli, "--until %s: in the past", o->until);
		return t;
	}
	return now + (o->for_given ? o->for_ms : cli->config.peers.ban_duration) / 1000;
}

static int cmd_check(struct st_cli *cli)
{
	if (!cli->argc)
		st_usage_error(cli, "check needs at least one TARGET");
	/* a gate: the bans are searched, not read; the peers only when an endpoint's
	 * peer is asked about */
	unsigned flags = ST_STORE_READ | ST_PEERBOOK_LAZY | ST_PEERBOOK_BANS_ONLY;
	for (int i = 0; i < cli->argc; i++) {
		struct st_ban_query q;
		if (st_ban_query_parse(&q, cli->argv[i], NULL) == 0 && q.port)
			flags &= ~ST_PEERBOOK_BANS_ONLY;
	}
	struct st_peerbook *pb = open_pb(cli, flags);
	int64_t now = st_now();
	int code = 0;
	struct st_printer *p = cli->verbose > 0 ? st_cli_printer(cli, &st_schema_ban) : NULL;
	for (int i = 0; i < cli->argc; i++) {
		struct st_ban_query q;
		struct st_err err = {0};
		if (st_ban_query_parse(&q, cli->argv[i], &err) < 0) {
			st_error(cli, "%s", err.msg);
			code = code ? code : ST_EX_USAGE;
			continue;
		}
		const struct st_ban *b;
		if (st_bans_lookup(pb, &q, now, &b, &err) < 0)
			st_die(cli, &err);
		if (b) {
			code = ST_EX_NO;
			if (p)
				print_ban(p, b);
		}
	}
	if (p)
		code = st_cli_printer_done(cli, p, code);
	st_peerbook_free(pb);
	return code;
}

static int cmd_from_addrbook(struct st_cli *cli, struct opts *o)
{
	struct st_addrbook *ab;
	struct st_err err = {0};
	if (st_addrbook_open(&ab, &cli->config, ST_STORE_READ | ST_ADDRBOOK_LAZY, &err) < 0)
		st_die(cli, &err);
	size_t want = o->n ? o->n : 8;
	const struct st_addr_entry **best = malloc(want * sizeof *best);
	struct st_best_opts bo = {.n = want};
	long got = best ? st_addrbook_best(ab, &bo, st_now(), best, &err) : -1;
	if (got < 0)
		st_die(cli, &err);
	struct st_peerbook *pb = open_pb(cli, ST_STORE_WRITE);
	struct st_printer *p = st_cli_printer(cli, &st_schema_change);
	int64_t now = st_now();
	for (long i = 0; i < got; i++) {
		const struct st_endpoint *ep = &best[i]->ep;
		if (st_peers_at(pb, ep))
			continue; /* known by its real id already */
		char id[ST_NODE_ID_MAX + 1];
		st_peers_derived_id(ep, id, sizeof id);
		struct st_peer_change c;
		if (st_peers_seen(pb, id, ep, 0, NULL, false, now, &c, &err) < 0)
			st_die(cli, &err);
		if (c.added)
			print_change(p, id, ep, "added", pb, "derived from the address book");
	}
	free(best);
	st_addrbook_free(ab);
	int code = st_cli_printer_done(cli, p, 0);
	return close_pb(cli, pb, code);
}

static int cmd_one(struct st_cli *cli, struct opts *o, const char *c)
{
	int want = !strcmp(c, "add") ? 2 : 1;
	if (cli->argc != want)
		st_usage_error(cli, "%s takes %s", c, want == 2 ? "ID ENDPOINT" : !strcmp(c, "ban") || !strcmp(c, "unban") ? "one TARGET" : "one ID");
	const char *id = cli->argv[0];
	struct st_err err = {0};
	int64_t now = st_now();
	bool read_only = !strcmp(c, "show");
	/* ADDR:PORT bans the address; ID@ADDR:PORT the id and the address */
	const char *targets[2] = {NULL, NULL};
	struct st_ban_query q;
	char net[ST_CIDR_STRLEN] = "";
	int64_t until = 0;
	if (!strcmp(c, "ban") || !strcmp(c, "unban")) {
		if (st_ban_query_parse(&q, id, &err) < 0)
			st_usage_error(cli, "%s", err.msg);
		if (q.has_net)
			st_cidr_format(&q.net, net, sizeof net);
		targets[0] = q.id[0] ? q.id : NULL;
		targets[1] = net[0] ? net : NULL;
		if (!strcmp(c, "ban"))
			until = ban_until(cli, o, now);
	}
	struct st_peerbook *pb = open_pb(cli, read_only ? ST_STORE_READ : ST_STORE_WRITE);
	struct st_printer *p = st_cli_printer(cli, !strcmp(c, "ban") ? &st_schema_ban : !strcmp(c, "add") || !strcmp(c, "show") ? &st_schema_peer : &st_schema_change);
	int rc = 0, code = 0;
	struct st_peer_change ch = {0};
	if (!strcmp(c, "add")) {
		struct st_endpoint ep;
		if (st_endpoint_parse(&ep, cli->argv[1], strlen(cli->argv[1]), &err) < 0)
			st_usage_error(cli, "'%s': %s", cli->argv[1], err.msg);
		rc = st_peers_seen(pb, id, &ep, (int32_t)o->version, NULL, false, now, &ch, &err);
		if (rc == 0)
			print_peer(p, pb, st_peers_get(pb, id), now);
	} else if (!strcmp(c, "ban")) {
		for (int k = 0; k < 2 && rc == 0; k++) {
			const struct st_ban *b;
			if (targets[k] && (rc = st_bans_add(pb, targets[k], until, false, o->reason, now, &b,
			                                    &err)) == 0)
				print_ban(p, b);
		}
	} else if (!strcmp(c, "unban")) {
		int removed = 0;
		for (int k = 0; k < 2 && rc >= 0; k++)
			if (targets[k] && (rc = st_bans_remove(pb, targets[k], &err)) > 0)
				removed++;
		if (rc >= 0 && !removed) {
			st_error(cli, "%s: not banned", id);
			code = ST_EX_DATAERR;
		}
		rc = rc < 0 ? rc : 0;
	} else if (!strcmp(c, "show")) {
		const struct st_peer *x = st_peers_get(pb, id);
		if (!x) {
			st_error(cli, "%s: no such peer", id);
			code = ST_EX_DATAERR;
		} else {
			print_peer(p, pb, x, now);
		}
	} else if (!strcmp(c, "remove") || !strcmp(c, "success") || !strcmp(c, "failure")) {
		rc = !strcmp(c, "remove") ? st_peers_remove(pb, id, &err)
		   : !strcmp(c, "success") ? st_peers_success(pb, id, now, &err)
		   : st_peers_failure(pb, id, o->weight ? (int32_t)o->weight : 1, now, &ch, &err);
		if (rc == 0) {
			st_error(cli, "%s: no such peer", id);
			code = ST_EX_DATAERR;
		} else if (rc > 0 && strcmp(c, "remove")) {
			print_change(p, id, NULL, c, pb, NULL);
			if (!strcmp(c, "failure") && ch.banned)
				print_change(p, id, NULL, "banned", pb, ch.ban ? ch.ban->reason : NULL);
		}
	}
	if (rc < 0) {
		st_printer_free(p);
		st_peerbook_free(pb);
		return st_report(cli, &err);
	}
	code = st_cli_printer_done(cli, p, code);
	if (read_only) {
		st_peerbook_free(pb);
		return code;
	}
	return close_pb(cli, pb, code);
}

static int cmd_bans(struct st_cli *cli)
{
	struct st_peerbook *pb = open_pb(cli, ST_STORE_READ | ST_PEERBOOK_BANS_ONLY);
	struct st_printer *p = st_cli_printer(cli, &st_schema_ban);
	int64_t now = st_now();
	for (size_t i = 0; i < st_bans_slots(pb); i++)
		if (st_bans_slot(pb, i, now))
			print_ban(p, st_bans_slot(pb, i, now));
	int code = st_cli_printer_done(cli, p, 0);
	st_peerbook_free(pb);
	return code;
}

/* -o prom: the names node_exporter's textfile collector will show */
static const struct st_prom_metric stats_prom[] = {
	{"total", "in_book", NULL, "peers in the book"},
	{"peers", "peers_by_state", "state", "peers verified by TLS, failing now, banned"},
	{"reputation", "peers_by_reputation", "reputation", "peers by reputation"},
	{"bans", "bans", NULL, "bans in force"},
	{"ban_target", "bans_by_target", "target", "bans in force on ids, addresses, subnets"},
	{"ban_origin", "bans_by_origin", "origin", "bans in force set automatically or by hand"},
	{"ban_expiry", "bans_by_expiry", "expiry", "bans in force that expire or are permanent"},
	{NULL, NULL, NULL, NULL},
};

/* Counts of the peers and bans tables: bars on a terminal, stat records otherwise. */
static int cmd_stats(struct st_cli *cli)
{
	struct st_peerbook *pb = open_pb(cli, ST_STORE_READ | ST_PEERBOOK_PACKED);
	int64_t now = st_now();
	size_t total = 0, verified = 0, failing = 0, banned = 0;
	static const char *const rep_keys[] = {"<=-10", "-9..-1", "0", "1..9", ">=10"};
	size_t rep[5] = {0};
	for (size_t i = 0; i < st_peers_slots(pb); i++) {
		struct st_peer y;
		if (!st_peers_read(pb, i, &y))
			continue;
		const struct st_peer *x = &y;
		total++;
		verified += x->verified;
		failing += x->consecutive_failures > 0;
		banned += peer_banned(pb, x, now);
		int32_t r = x->reputation;
		rep[r <= -10 ? 0 : r < 0 ? 1 : r == 0 ? 2 : r < 10 ? 3 : 4]++;
	}
	size_t bans = 0, on_id = 0, on_addr = 0, on_net = 0, automatic = 0, permanent = 0;
	for (size_t i = 0; i < st_bans_slots(pb); i++) {
		const struct st_ban *b = st_bans_slot(pb, i, now);
		if (!b)
			continue;
		bans++;
		unsigned full = b->net.net.family == ST_AF_INET ? 32 : 128;
		if (!b->is_net)
			on_id++;
		else if (b->net.bits == full)
			on_addr++;
		else
			on_net++;
		automatic += b->automatic;
		permanent += b->expires == 0;
	}
	size_t bars = cli->format == ST_FMT_TEXT && isatty(STDOUT_FILENO) ? st_tty_columns(STDOUT_FILENO) : 0;
	struct st_printer *p = st_cli_printer(cli, &st_schema_stat);
	st_printer_prom(p, "st_peers", stats_prom);
	if (bars)
		printf("peers\n");
	st_cli_stat(p, bars, "total", "total", total, total);
	st_cli_stat(p, bars, "peers", "verified", verified, total);
	st_cli_stat(p, bars, "peers", "failing", failing, total);
	st_cli_stat(p, bars, "peers", "banned", banned, total);
	if (bars)
		printf("reputation\n");
	size_t rmax = 0;
	for (size_t i = 0; i < 5; i++)
		rmax = rep[i] > rmax ? rep[i] : rmax;
	for (size_t i = 0; i < 5; i++)
		st_cli_stat(p, bars, "reputation", rep_keys[i], rep[i], rmax);
	if (bars)
		printf("bans in force\n");
	st_cli_stat(p, bars, "bans", "total", bans, bans);
	st_cli_stat(p, bars, "ban_target", "id", on_id, bans);
	st_cli_stat(p, bars, "ban_target", "address", on_addr, bans);
	st_cli_stat(p, bars, "ban_target", "subnet", on_net, bans);
	st_cli_stat(p, bars, "ban_origin", "automatic", automatic, bans);
	st_cli_stat(p, bars, "ban_origin", "manual", bans - automatic, bans);
	st_cli_stat(p, bars, "ban_expiry", "expiring", bans - permanent, bans);
	st_cli_stat(p, bars, "ban_expiry", "permanent", permanent, bans);
	int code = st_cli_printer_done(cli, p, 0);
	st_peerbook_free(pb);
	return code;
}

static int cmd_fsck(struct st_cli *cli, const struct opts *o)
{
	size_t kept, lost;
	struct st_err err = {0};
	int rc = st_peerbook_fsck(&cli->config, o->repair, &kept, &lost, &err);
	return st_cli_fsck_done(cli, rc, kept, lost, o->repair, "damaged (try 'st-peers fsck --repair')", &err);
}

int cmd_main(struct st_cli *cli, int argc, char **argv)
{
	struct opts o = {0};
	st_cli_parse(cli, &prog, argc, argv, on_option, &o);
	st_cli_finish_config(cli, true);
	const char *c = cli->cmd->name;
	if ((!strcmp(c, "ingest") || !strcmp(c, "list") || !strcmp(c, "best") || !strcmp(c, "bans") ||
	     !strcmp(c, "from-addrbook") || !strcmp(c, "fsck") || !strcmp(c, "stats")) && cli->argc)
		st_usage_error(cli, "unexpected argument '%s'", cli->argv[0]);
	if (!strcmp(c, "ingest"))
		return cmd_ingest(cli);
	if (!strcmp(c, "list"))
		return cmd_list(cli, &o, false);
	if (!strcmp(c, "best"))
		return cmd_list(cli, &o, true);
	if (!strcmp(c, "bans"))
		return cmd_bans(cli);
	if (!strcmp(c, "check"))
		return cmd_check(cli);
	if (!strcmp(c, "from-addrbook"))
		return cmd_from_addrbook(cli, &o);
	if (!strcmp(c, "fsck"))
		return cmd_fsck(cli, &o);
	if (!strcmp(c, "stats"))
		return cmd_stats(cli);
	return cmd_one(cli, &o, c);
}
