/* st-seed - HTTP(S) and DNS seed lists; refresh for cron; signed lists. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "st/cli.h"
#include "st/schema.h"
#include "st/seed.h"
#include "st/util.h"
#include "tty.h"

enum {
	OPT_FORMAT = ST_OPT_USER, OPT_RESOLVE, OPT_PORT, OPT_PUBLIC_KEY, OPT_CACERT, OPT_INSECURE,
	OPT_MAX_SIZE, OPT_TIMEOUT, OPT_RETRIES, OPT_MAX_REDIRECTS, OPT_RESOLVER, OPT_DRY_RUN, OPT_KEY,
	OPT_REPAIR,
};

#define OPT_TLS \
	{"cacert", OPT_CACERT, ST_ARG_REQUIRED, "FILE", "CA bundle for HTTPS (seed.cacert)", "file"}, \
	{"insecure", OPT_INSECURE, ST_ARG_NONE, NULL, "do not verify TLS certificates", NULL}
#define OPT_LIMITS \
	{"max-size", OPT_MAX_SIZE, ST_ARG_REQUIRED, "SIZE", "largest list (seed.max_size, 8MiB)", NULL}, \
	{"retries", OPT_RETRIES, ST_ARG_REQUIRED, "N", "retries of a temporary failure (3)", NULL}, \
	{"timeout", OPT_TIMEOUT, ST_ARG_REQUIRED, "T", "per list or name (seed.timeout, 30s)", NULL}

static const struct st_option fetch_opts[] = {
	OPT_TLS,
	{"format", OPT_FORMAT, ST_ARG_REQUIRED, "FMT", "auto, text, json or bitcoin", "auto text json bitcoin"},
	OPT_LIMITS,
	{"max-redirects", OPT_MAX_REDIRECTS, ST_ARG_REQUIRED, "N", "redirects followed (5)", NULL},
	{"port", OPT_PORT, ST_ARG_REQUIRED, "P", "port for bare addresses (7777)", NULL},
	{"public-key", OPT_PUBLIC_KEY, ST_ARG_REQUIRED, "KEY", "require URL.sig signed by KEY", "file"},
	{"resolve", OPT_RESOLVE, ST_ARG_NONE, NULL, "resolve host names in lists", NULL},
	ST_OPTION_END,
};
static const struct st_option dns_opts[] = {
	{"port", OPT_PORT, ST_ARG_REQUIRED, "P", "port of the endpoints (7777)", NULL},
	{"resolver", OPT_RESOLVER, ST_ARG_REQUIRED, "ADDR", "ask this DNS server (seed.dns_resolver)", NULL},
	{"timeout", OPT_TIMEOUT, ST_ARG_REQUIRED, "T", "per name (seed.timeout, 30s)", NULL},
	ST_OPTION_END,
};
static const struct st_option refresh_opts[] = {
	OPT_TLS,
	{"dry-run", OPT_DRY_RUN, ST_ARG_NONE, NULL, "fetch and count; change nothing", NULL},
	OPT_LIMITS,
	{"resolver", OPT_RESOLVER, ST_ARG_REQUIRED, "ADDR", "DNS server for dns: seeds", NULL},
	ST_OPTION_END,
};
static const struct st_option sign_opts[] = {
	{"key", OPT_KEY, ST_ARG_REQUIRED, "KEY", "Ed25519 private key (PEM)", "file"},
	ST_OPTION_END,
};
static const struct st_option verify_opts[] = {
	{"public-key", OPT_PUBLIC_KEY, ST_ARG_REQUIRED, "KEY", "PEM file or base64 public key", "file"},
	ST_OPTION_END,
};
static const struct st_option fsck_opts[] = {
	{"repair", OPT_REPAIR, ST_ARG_NONE, NULL, "move a damaged cache aside, keep what reads", NULL},
	ST_OPTION_END,
};
static const struct st_command commands[] = {
	{"dns", "NAME...", "A and AAAA records of DNS seeds as endpoints", dns_opts},
	{"fetch", "URL...", "seed lists over HTTP(S) (or files) as endpoints", fetch_opts},
	{"fsck", "", "check refresh's cache; --repair keeps what reads", fsck_opts},
	{"pubkey", "", "the base64 public key of --key, for st.yaml", sign_opts},
	{"refresh", "", "every configured seed into the book (cron)", refresh_opts},
	{"sign", "FILE...", "write FILE.sig, an Ed25519 signature", sign_opts},
	{"verify", "FILE...", "check FILE.sig against --public-key", verify_opts},
	ST_COMMAND_END,
};
static const struct st_program prog = {
	"st-seed", NULL, "Seed lists over HTTP(S) and DNS, into the address book.", NULL, commands,
};

struct opts {
	enum st_seed_format format;
	bool resolve, insecure, dry_run, repair;
	uint64_t port;
	const char *public_key, *key;
};

static int on_option(void *vctx, struct st_cli *cli, int key, const char *arg, struct st_err *err)
{
	struct opts *o = vctx;
	switch (key) {
	case OPT_FORMAT:
		if (st_seed_format_parse(arg, &o->format, err) < 0)
			return st_err_prefix(err, "--format");
		return 0;
	case OPT_RESOLVE: o->resolve = true; return 0;
	case OPT_INSECURE: o->insecure = true; return 0;
	case OPT_DRY_RUN: o->dry_run = true; return 0;
	case OPT_REPAIR: o->repair = true; return 0;
	case OPT_PORT: return st_cli_u64("--port", arg, 1, 65535, &o->port, err);
	case OPT_PUBLIC_KEY: o->public_key = arg; return 0;
	case OPT_KEY: o->key = arg; return 0;
	case OPT_CACERT: return st_cli_config_flag(cli, "--cacert", "seed.cacert", arg, err);
	case OPT_MAX_SIZE: return st_cli_config_flag(cli, "--max-size", "seed.max_size", arg, err);
	case OPT_TIMEOUT: return st_cli_config_flag(cli, "--timeout", "seed.timeout", arg, err);
	case OPT_RETRIES: return st_cli_config_flag(cli, "--retries", "seed.retries", arg, err);
	case OPT_MAX_REDIRECTS:
		return st_cli_config_flag(cli, "--max-redirects", "seed.max_redirects", arg, err);
	case OPT_RESOLVER: return st_cli_config_flag(cli, "--resolver", "seed.dns_resolver", arg, err);
	}
	return -1;
}

/* 0 when every seed worked, 69 when none did, 75 when some did not. */
static int seeds_exit(size_t failed, size_t total)
{
	return !failed ? ST_EX_OK : failed == total ? ST_EX_UNAVAILABLE : ST_EX_TEMPFAIL;
}

static struct st_seed_fetch_opts fetch_options(const struct st_cli *cli, const struct opts *o)
{
	const struct st_config *c = &cli->config;
	return (struct st_seed_fetch_opts){
		.timeout_ms = c->seed.timeout,
		.max_size = c->seed.max_size,
		.retries = c->seed.retries,
		.max_redirects = c->seed.max_redirects,
		.retry_delay_ms = 500,
		.cacert = c->seed.cacert,
		.insecure = o->insecure,
	};
}

static void print_endpoint(struct st_printer *p, const struct st_endpoint *ep, const char *id,
                           const char *source)
{
	char text[ST_ENDPOINT_STRLEN + 1];
	st_endpoint_format(ep, text, sizeof text);
	st_print_begin(p);
	/* source second: st-addrbook add takes a tsv line's source from that column */
	st_print_str(p, "endpoint", "%-24s", text);
	st_print_str(p, "source", "%-30s", source);
	st_print_str(p, "node_id", "%s", id && id[0] ? id : NULL);
	st_print_end(p);
}

struct bad_ctx {
	const struct st_cli *cli;
	const char *name;
};

static void on_bad(void *ctx, const char *where, const char *reason)
{
	const struct bad_ctx *b = ctx;
	st_warn(b->cli, "%s:%s: %s", b->name, where, reason);
}

static int cmd_fetch(struct st_cli *cli, const struct opts *o)
{
	size_t n = (size_t)cli->argc;
	struct st_seed_request *req = calloc(n ? n : 1, sizeof *req);
	if (!req)
		st_die(cli, &(struct st_err){ST_EX_SOFTWARE, "out of memory"});
	struct st_seed_fetch_opts fo = fetch_options(cli, o);
	size_t failed = 0;
	struct st_err err = {0};
	/* URLs go to libcurl together; local files (for checking a list) are read here */
	for (size_t i = 0; i < n; i++) {
		st_seed_request_init(&req[i], cli->argv[i]);
		req[i].want_sig = o->public_key != NULL;
		if (!st_seed_is_url(cli->argv[i]))
			st_seed_read_local(&req[i], fo.max_size);
	}
	if (st_seed_fetch_all(req, n, &fo, &err) < 0)
		st_die(cli, &err);
	struct st_printer *p = st_cli_printer(cli, &st_schema_gossip);
	for (size_t i = 0; i < n; i++) {
		struct st_seed_request *q = &req[i];
		const char *name = cli->argv[i];
		struct st_seed_list l = {0};
		struct bad_ctx bc = {cli, name};
		struct st_seed_sink sink = {on_bad, o->resolve ? st_seed_resolve_host : NULL, &bc};
		if (!q->failed &&
		    st_seed_request_list(q, o->public_key, o->format,
		                         o->port ? (uint16_t)o->port : ST_DEFAULT_PORT, &sink, &l,
		                         &q->err) < 0)
			q->failed = q->err.code ? q->err.code : ST_EX_DATAERR;
		if (q->failed) {
			st_error(cli, "%s: %s", name, q->err.msg);
			failed++;
		} else {
			char source[ST_PATH_MAX + 8];
			snprintf(source, sizeof source, "seed:%s", name);
			st_printer_gather(p, true); /* nothing else is written until the list is out */
			for (size_t k = 0; k < l.n; k++)
				print_endpoint(p, &l.v[k].ep, l.v[k].node_id, source);
			st_printer_gather(p, false);
			st_info(cli, "%s: %zu endpoints (%s; %zu bad, %zu duplicate, %zu onion/i2p skipped)",
			        name, l.n, st_seed_format_name(l.format), l.bad, l.duplicates, l.skipped);
		}
		st_seed_list_clear(&l);
		st_seed_request_clear(q);
	}
	free(req);
	return st_cli_printer_done(cli, p, seeds_exit(failed, n));
}

static int cmd_dns(struct st_cli *cli, const struct opts *o)
{
	size_t n = (size_t)cli->argc, failed = 0;
	struct st_dns_query *q = calloc(n, sizeof *q);
	if (!q)
		st_die(cli, &(struct st_err){ST_EX_SOFTWARE, "out of memory"});
	for (size_t i = 0; i < n; i++) {
		q[i].name = cli->argv[i];
		q[i].port = o->port ? (uint16_t)o->port : ST_DEFAULT_PORT;
	}
	struct st_err err = {0};
	if (st_seed_dns_all(q, n, cli->config.seed.dns_resolver, cli->config.seed.timeout, &err) < 0) {
		free(q);
		st_die(cli, &err);
	}
	struct st_printer *p = st_cli_printer(cli, &st_schema_gossip);
	for (size_t i = 0; i < n; i++) {
		if (q[i].failed) {
			st_error(cli, "%s: %s", q[i].name, q[i].err.msg);
			failed++;
			continue;
		}
		char source[300];
		snprintf(source, sizeof source, "dns:%s", q[i].name);
		for (size_t k = 0; k < q[i].neps; k++)
			print_endpoint(p, &q[i].eps[k], NULL, source);
		st_info(cli, "%s: %zu endpoints", q[i].name, q[i].neps);
	}
	free(q);
	return st_cli_printer_done(cli, p, seeds_exit(failed, n));
}

struct refresh_ctx {
	struct st_cli *cli;
	struct st_printer *p;
	struct st_progress progress; /* on a terminal: seeds done so far */
	size_t done, added;
};

static void on_outcome(void *ctx, const struct st_seed_outcome *x)
{
	struct refresh_ctx *r = ctx;
	r->done++;
	r->added += x->added;
	st_progress_draw(&r->progress, false, "%zu/%zu seeds done, %zu added", r->done,
	                 r->cli->config.nseeds, r->added);
	if (r->cli->verbose < 0 && strcmp(x->status, "failed") != 0)
		return; /* -q: only what makes the exit status non-zero */
	st_print_begin(r->p);
	st_print_str(r->p, "seed", "%-40s", x->seed);
	st_print_str(r->p, "status", "%-9s", x->status);
	st_print_uint(r->p, "endpoints", "%llu endpoints", x->endpoints);
	st_print_uint(r->p, "added", "%llu added", x->added);
	st_print_uint(r->p, "rejected", "%llu rejected", x->rejected);
	st_print_str(r->p, "error", "%s", x->error);
	st_print_end(r->p);
}

static void on_refresh_bad(void *ctx, const char *seed, const char *where, const char *reason)
{
	struct refresh_ctx *r = ctx;
	st_warn(r->cli, "%s:%s: %s", seed, where, reason);
}

static int cmd_refresh(struct st_cli *cli, const struct opts *o)
{
	struct refresh_ctx rc = {cli, st_cli_printer(cli, &st_schema_seed), {0}, 0, 0};
	st_progress_begin(&rc.progress, cli);
	struct st_refresh_opts ro = {
		.fetch = fetch_options(cli, o),
		.resolver = cli->config.seed.dns_resolver,
		.dry_run = o->dry_run,
		.outcome = on_outcome,
		.bad = on_refresh_bad,
		.ctx = &rc,
	};
	struct st_err err = {0};
	long failed = st_seed_refresh(&cli->config, &ro, &err);
	st_progress_done(&rc.progress, cli);
	if (failed < 0) {
		st_printer_free(rc.p);
		return st_report(cli, &err);
	}
	if (failed)
		st_error(cli, "%ld of %zu seeds failed", failed, cli->config.nseeds);
	return st_cli_printer_done(cli, rc.p, seeds_exit((size_t)failed, cli->config.nseeds));
}

/* Writes path.sig by temp + rename, so a reader never sees half a signature. */
static int write_sig(const char *path, const char *sig, struct st_err *err)
{
	char out[ST_PATH_MAX + 8], tmp[ST_PATH_MAX + 16];
	snprintf(out, sizeof out, "%s.sig", path);
	snprintf(tmp, sizeof tmp, "%s.sig.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return st_err_sys(err, ST_EX_CANTCREAT, "'%s'", tmp);
	size_t len = strlen(sig);
	bool ok = write(fd, sig, len) == (ssize_t)len && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
	int saved = errno;
	if (close(fd) != 0 && ok) {
		ok = false;
		saved = errno;
	}
	if (!ok || rename(tmp, out) != 0) {
		if (ok)
			saved = errno;
		unlink(tmp);
		errno = saved;
		return st_err_sys(err, ST_EX_IOERR, "'%s'", out);
	}
	return 0;
}

static int cmd_sign(struct st_cli *cli, const struct opts *o)
{
	if (!o->key)
		st_usage_error(cli, "sign needs --key KEY");
	for (int i = 0; i < cli->argc; i++) {
		struct st_buf b;
		st_buf_init(&b, 0);
		char sig[128];
		struct st_err err = {0};
		int rc = st_seed_read_file(cli->argv[i], cli->config.seed.max_size, &b, &err);
		if (rc == 0)
			rc = st_sig_sign(o->key, b.data ? b.data : "", b.len, sig, sizeof sig, &err);
		st_buf_clear(&b);
		if (rc == 0)
			rc = write_sig(cli->argv[i], sig, &err);
		if (rc < 0)
			return st_report(cli, &err);
		st_info(cli, "%s.sig written", cli->argv[i]);
	}
	return ST_EX_OK;
}

static int cmd_verify(struct st_cli *cli, const struct opts *o)
{
	if (!o->public_key)
		st_usage_error(cli, "verify needs --public-key KEY");
	int code = ST_EX_OK;
	for (int i = 0; i < cli->argc; i++) {
		struct st_seed_request r;
		st_seed_request_init(&r, cli->argv[i]);
		r.want_sig = true;
		int rc = st_seed_read_local(&r, cli->config.seed.max_size);
		struct st_err err = r.err;
		if (rc == 0)
			rc = st_sig_verify(o->public_key, r.body.data ? r.body.data : "", r.body.len,
			                   r.sig.data ? r.sig.data : "", r.sig.len, &err);
		st_seed_request_clear(&r);
		if (rc < 0) {
			st_error(cli, "%s: %s", cli->argv[i], err.msg);
			/* a bad key is the operator's mistake; a bad signature is the data's */
			if (code == ST_EX_OK || err.code == ST_EX_DATAERR)
				code = err.code;
		} else {
			st_info(cli, "%s: good signature", cli->argv[i]);
		}
	}
	return code;
}

static int cmd_pubkey(struct st_cli *cli, const struct opts *o)
{
	if (!o->key)
		st_usage_error(cli, "pubkey needs --key KEY");
	char out[128];
	struct st_err err = {0};
	if (st_sig_pubkey(o->key, out, sizeof out, &err) < 0)
		return st_report(cli, &err);
	printf("%s\n", out);
	if (fflush(stdout) != 0)
		return st_report(cli, &(struct st_err){ST_EX_IOERR, "stdout: write error"});
	return ST_EX_OK;
}

static int cmd_fsck(struct st_cli *cli, const struct opts *o)
{
	size_t kept, lost;
	struct st_err err = {0};
	int rc = st_seed_cache_fsck(&cli->config, o->repair, &kept, &lost, &err);
	return st_cli_fsck_done(cli, rc, kept, lost, o->repair, "damaged seeds cache (try 'st-seed fsck --repair')", &err);
}

int cmd_main(struct st_cli *cli, int argc, char **argv)
{
	struct opts o = {0};
	st_cli_parse(cli, &prog, argc, argv, on_option, &o);
	const char *c = cli->cmd->name;
	bool refresh = !strcmp(c, "refresh"), fsck = !strcmp(c, "fsck");
	st_cli_finish_config(cli, refresh || fsck);
	if ((refresh || fsck || !strcmp(c, "pubkey")) && cli->argc)
		st_usage_error(cli, "unexpected argument '%s'", cli->argv[0]);
	if (!refresh && !fsck && strcmp(c, "pubkey") && !cli->argc)
		st_usage_error(cli, "%s needs at least one %s", c, cli->cmd->args);
	if (fsck)
		return cmd_fsck(cli, &o);
	if (!strcmp(c, "fetch"))
		return cmd_fetch(cli, &o);
	if (!strcmp(c, "dns"))
		return cmd_dns(cli, &o);
	if (refresh)
		return cmd_refresh(cli, &o);
	if (!strcmp(c, "sign"))
		return cmd_sign(cli, &o);
	if (!strcmp(c, "verify"))
		return cmd_verify(cli, &o);
	return cmd_pubkey(cli, &o);
}
