/* crawl_publish.c - what st-crawl makes of its state: the dump, the seed list, the DNS seed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crawl_publish.h"
#include "st/crawl.h"
#include "st/logfmt.h"
#include "st/schema.h"
#include "st/seed.h"
#include "st/util.h"

void crawl_load_state(struct st_cli *cli, const struct crawl_opts *o, struct st_crawl_state *cs)
{
	struct st_err err = {0};
	if (st_crawl_state_load(cs, o->state, &cli->config.lock, &err) < 0) {
		st_crawl_state_clear(cs);
		st_die(cli, &err);
	}
}

void crawl_print_services(struct st_printer *p, const char *key, uint64_t s)
{
	char hex[20];
	snprintf(hex, sizeof hex, "%016llx", (unsigned long long)s);
	st_print_str(p, key, "%s", hex);
}

/* ---- dump ---- */

/*
 * Text in a pipe or a file is the Bitcoin seeder's dnsseed.dump line, column for
 * column, so that scripts that split it on blanks and read it by position
 * (contrib/seeds/makeseeds.py) read ours: address, good (1/0), last success
 * (Unix seconds), the five uptimes, blocks, services (hex), version, "agent".
 * The Spacetime handshake carries no chain height: blocks is 0 in that line
 * (the column stays where the seeder has it), null elsewhere. A terminal's
 * table, tsv and json also carry what the seeder's line has no room for:
 * tries, id, verified.
 */
int crawl_dump(struct st_cli *cli, const struct crawl_opts *o)
{
	struct st_crawl_state cs;
	crawl_load_state(cli, o, &cs);
	size_t *ord = st_crawl_dump_order(&cs, o->allow_private);
	if (!ord) {
		st_crawl_state_clear(&cs);
		st_die(cli, &(struct st_err){ST_EX_SOFTWARE, "out of memory"});
	}
	struct st_printer *p = st_cli_printer(cli, &st_schema_uptime);
	/* a terminal gets the printer's table, with its own header */
	bool plain = cli->format == ST_FMT_TEXT && !isatty(STDOUT_FILENO);
	if (plain)
		printf("%-49s%4s  %11s  %7s %7s %7s %7s %7s  %6s  %8s  %7s\n", "# address", "good",
		       "lastSuccess", "%(2h)", "%(8h)", "%(1d)", "%(7d)", "%(30d)", "blocks", "svcs",
		       "version");
	for (size_t k = 0; k < cs.n; k++) {
		const struct st_crawl_node *nd = &cs.v[ord[k]];
		bool good = st_crawl_node_good(nd, o->allow_private);
		if (!nd->last_try || (o->good && !good))
			continue; /* never tried: nothing to say of it yet */
		char ep[ST_ENDPOINT_STRLEN];
		st_endpoint_format(&nd->ep, ep, sizeof ep);
		st_print_begin(p);
		/* the printer puts one blank between fields: each format adds the seeder's second */
		st_print_str(p, "endpoint", "%-47s", ep);
		if (plain) {
			st_print_int(p, "good", " %4lld", good);
			st_print_int(p, "last_success", " %11lld", nd->last_seen);
		} else {
			st_print_bool(p, "good", "%s", good);
			st_print_time(p, "last_success", "%s", nd->last_seen);
		}
		static const char *keys[ST_CRAWL_WINDOWS] = {"uptime_2h", "uptime_8h", "uptime_1d",
		                                              "uptime_7d", "uptime_30d"};
		for (int w = 0; w < ST_CRAWL_WINDOWS; w++)
			st_print_double(p, keys[w], w ? "%6.2f%%" : " %6.2f%%", 100.0 * nd->stat[w].share);
		if (plain) {
			st_print_int(p, "blocks", " %6lld", 0);
			char hex[20];
			snprintf(hex, sizeof hex, "%08llx", (unsigned long long)nd->services);
			st_print_str(p, "services", " %s", hex);
			st_print_int(p, "version", " %5lld", nd->version);
			st_print_str(p, "user_agent", "\"%s\"", nd->user_agent);
			/* the seeder's line ends with the agent */
			static const char *more[] = {"attempts", "successes", "node_id", "verified"};
			for (size_t i = 0; i < ST_ARRAY_LEN(more); i++)
				st_print_omit(p, more[i]);
			st_print_end(p);
			continue;
		} else {
			st_print_str(p, "blocks", "%s", NULL);
			crawl_print_services(p, "services", nd->services);
			st_print_int(p, "version", "%lld", nd->version);
			st_print_str(p, "user_agent", "%s", nd->user_agent);
		}
		st_print_int(p, "attempts", "%lld", nd->attempts);
		st_print_int(p, "successes", "%lld", nd->successes);
		st_print_str(p, "node_id", "%s", nd->node_id[0] ? nd->node_id : NULL);
		st_print_bool(p, "verified", "%s", nd->verified && nd->node_id[0]);
		st_print_end(p);
	}
	free(ord);
	st_crawl_state_clear(&cs);
	return st_cli_printer_done(cli, p, 0);
}

/* ---- export-seeds ---- */

static int write_file(const char *path, const char *data, size_t len, struct st_err *err)
{
	char tmp[ST_PATH_MAX + 16];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return st_err_sys(err, ST_EX_CANTCREAT, "'%s'", tmp);
	bool ok = fwrite(data, 1, len, f) == len && fflush(f) == 0 && fsync(fileno(f)) == 0;
	if (fclose(f) != 0)
		ok = false;
	if (!ok || rename(tmp, path) != 0) {
		st_err_sys(err, ST_EX_IOERR, "'%s'", path);
		unlink(tmp);
		return -1;
	}
	return 0;
}

int crawl_export(struct st_cli *cli, const struct crawl_opts *o)
{
	if (o->key && !o->out)
		st_usage_error(cli, "--key needs --out FILE (the signature goes to FILE.sig)");
	struct st_crawl_state cs;
	crawl_load_state(cli, o, &cs);
	struct st_crawl_export_opts eo = {
		.n = o->n ? o->n : 512,
		.per_group = o->per_group ? o->per_group : 2,
		.min_uptime = o->min_uptime / 100.0,
		.allow_private = o->allow_private,
		.port = (uint16_t)o->port,
	};
	size_t *idx = NULL;
	struct st_err err = {0};
	long n = st_crawl_export(&cs, &eo, &idx, &err);
	struct st_buf b;
	st_buf_init(&b, (size_t)64 << 20);
	int rc = n < 0 ? -1 : st_crawl_seed_list(&cs, idx, (size_t)n, o->json_list, st_now(), &b, &err);
	free(idx);
	st_crawl_state_clear(&cs);
	if (rc == 0 && o->out) {
		/* signed before anything is written: a key that fails leaves the old list
		 * and its signature as they were, never a new list beside an old .sig */
		char sig[128] = "";
		if (o->key)
			rc = st_sig_sign(o->key, b.data ? b.data : "", b.len, sig, sizeof sig - 1, &err);
		if (rc == 0)
			rc = write_file(o->out, b.data ? b.data : "", b.len, &err);
		if (rc == 0 && o->key) {
			char sigpath[ST_PATH_MAX + 8];
			snprintf(sigpath, sizeof sigpath, "%s.sig", o->out);
			size_t l = strlen(sig);
			sig[l] = '\n';
			rc = write_file(sigpath, sig, l + 1, &err);
		}
	} else if (rc == 0) {
		if (fwrite(b.data ? b.data : "", 1, b.len, stdout) != b.len || fflush(stdout) != 0)
			rc = st_err_set(&err, ST_EX_IOERR, "stdout: write error");
	}
	st_buf_clear(&b);
	if (rc < 0)
		return st_report(cli, &err);
	st_info(cli, "%ld nodes exported", n);
	if (!n)
		st_warn(cli, "no good node passed the filters");
	return n ? 0 : ST_EX_UNAVAILABLE;
}

/* ---- serve-dns ---- */

static void dns_bound(void *ctx, const char *addr)
{
	struct st_cli *cli = ctx;
	/* where the seed answers, for scripts (port 0 picks one) */
	if (cli->format == ST_FMT_TEXT)
		printf("listening %s\n", addr);
	else
		fprintf(stderr, "listening %s\n", addr);
	fflush(stdout);
}

/* serve-dns runs as a service: its log is key=value lines (logfmt.h), and a
 * query's name, which any client may fill with any byte, is escaped there */
static void dns_query(void *ctx, const char *client, const char *name, int type, const char *what)
{
	struct st_kv kv;
	st_kv_begin(&kv, ST_LOG_DEBUG, "query");
	st_kv_str(&kv, "client", client);
	st_kv_str(&kv, "name", name);
	st_kv_int(&kv, "type", type);
	st_kv_str(&kv, "result", what);
	st_log(ctx, &kv);
}

static void dns_warn(void *ctx, const char *msg)
{
	st_log_msg(ctx, ST_LOG_WARN, "dns", "%s", msg);
}

int crawl_serve_dns(struct st_cli *cli, const struct crawl_opts *o)
{
	if (!o->zone)
		st_usage_error(cli, "serve-dns needs --zone ZONE");
	struct st_err err = {0};
	struct st_crawl_dns_opts d = {
		.zone = o->zone,
		.bind = o->bind ? o->bind : "0.0.0.0:53",
		.state_dir = o->state,
		.ttl = o->ttl >= 0 ? (uint32_t)(o->ttl / 1000) : 60,
		.port = o->port ? (uint16_t)o->port : ST_DEFAULT_PORT,
		.allow_private = o->allow_private,
		.ns = o->ns,
		.mbox = o->mbox,
		.rate = o->rate ? (uint32_t)o->rate : 10,
		.reload_ms = o->reload ? o->reload : 30000,
		.bound = dns_bound,
		.query = dns_query,
		.warn = dns_warn,
		.ctx = cli,
	};
	if ((d.stop_fd = st_cli_stop_begin_g(&err)) < 0)
		st_die(cli, &err);
	int rc = st_crawl_dns_serve(&d, &err);
	st_cli_stop_end_g();
	return rc < 0 ? st_report(cli, &err) : 0;
}
