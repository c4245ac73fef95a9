/* st-keygen - the node's identity: an Ed25519 key, a self-signed certificate, the node id. */
#include <stdio.h>
#include <string.h>

#include "st/cli.h"
#include "st/config.h"
#include "st/identity.h"
#include "st/store.h"

enum { OPT_OUT = ST_OPT_USER, OPT_FORCE, OPT_SHOW };

/* Ten years: a renewed certificate keeps its id, so renewing is cheap. */
#define CERT_DAYS 3650

static const struct st_option options[] = {
	{"force", OPT_FORCE, ST_ARG_NONE, NULL, "replace an existing key and certificate", NULL},
	{"out", OPT_OUT, ST_ARG_REQUIRED, "DIR", "write node.key and node.crt in DIR", "dir"},
	{"show", OPT_SHOW, ST_ARG_NONE, NULL, "print the id of FILE (node.crt, else node.key)", NULL},
	ST_OPTION_END,
};
static const struct st_program prog = {
	"st-keygen", "[--show [FILE]]",
	"Create the node's Ed25519 key and certificate; print its node id.", options, NULL,
};

struct opts {
	const char *out;
	bool force, show;
};

static int on_option(void *vctx, struct st_cli *cli, int key, const char *arg, struct st_err *err)
{
	(void)cli;
	(void)err;
	struct opts *o = vctx;
	switch (key) {
	case OPT_OUT: o->out = arg; return 0;
	case OPT_FORCE: o->force = true; return 0;
	case OPT_SHOW: o->show = true; return 0;
	}
	return -1;
}

static void file_in(const struct st_cli *cli, char *path, size_t size, const char *dir,
                    const char *name)
{
	if ((size_t)snprintf(path, size, "%s/%s", dir, name) >= size) {
		struct st_err err;
		st_err_set(&err, ST_EX_USAGE, "'%s': path too long", dir);
		st_die(cli, &err);
	}
}

static int print_id(const struct st_cli *cli, const char *id)
{
	printf("%s\n", id);
	if (fflush(stdout) != 0 || ferror(stdout))
		return st_report(cli, &(struct st_err){ST_EX_IOERR, "stdout: write error"});
	return ST_EX_OK;
}

static int show(const struct st_cli *cli, const char *dir)
{
	char id[ST_ID_STRLEN], path[ST_PATH_MAX + 16];
	struct st_err err = {0};
	if (cli->argc) {
		if (st_identity_file_id(cli->argv[0], id, sizeof id, &err) < 0)
			return st_report(cli, &err);
		return print_id(cli, id);
	}
	file_in(cli, path, sizeof path, dir, ST_IDENTITY_CERT_FILE);
	if (st_identity_file_id(path, id, sizeof id, &err) == 0)
		return print_id(cli, id);
	if (err.code != ST_EX_NOINPUT)
		return st_report(cli, &err);
	file_in(cli, path, sizeof path, dir, ST_IDENTITY_KEY_FILE);
	st_err_clear(&err);
	if (st_identity_file_id(path, id, sizeof id, &err) < 0)
		return st_report(cli, &err);
	return print_id(cli, id);
}

static int create(const struct st_cli *cli, const char *dir, bool force)
{
	char id[ST_ID_STRLEN], key[ST_PATH_MAX + 16], crt[ST_PATH_MAX + 16];
	struct st_err err = {0};
	struct st_key *k = NULL;
	file_in(cli, key, sizeof key, dir, ST_IDENTITY_KEY_FILE);
	file_in(cli, crt, sizeof crt, dir, ST_IDENTITY_CERT_FILE);
	if (st_datadir_prepare(dir, &err) < 0 || st_identity_key_generate(&k, &err) < 0 ||
	    st_identity_key_id(k, id, sizeof id, &err) < 0 ||
	    st_identity_write(k, key, crt, CERT_DAYS, force, &err) < 0) {
		st_identity_key_free(k);
		return st_report(cli, &err);
	}
	st_identity_key_free(k);
	st_info(cli, "wrote '%s' and '%s'", key, crt);
	return print_id(cli, id);
}

int cmd_main(struct st_cli *cli, int argc, char **argv)
{
	struct opts o = {0};
	st_cli_parse(cli, &prog, argc, argv, on_option, &o);
	if (o.show && o.force)
		st_usage_error(cli, "--show and --force do not go together");
	if (o.show && o.out && cli->argc)
		st_usage_error(cli, "--show FILE and --out do not go together");
	if (cli->argc > (o.show ? 1 : 0))
		st_usage_error(cli, "unexpected argument '%s'", cli->argv[o.show ? 1 : 0]);
	bool file_given = o.show && cli->argc;
	st_cli_finish_config(cli, !o.out && !file_given);
	const char *dir = o.out ? o.out : cli->config.data_dir;
	return o.show ? show(cli, dir) : create(cli, dir, o.force);
}
