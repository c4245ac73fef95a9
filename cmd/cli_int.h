/* cli_int.h - what cli.c and complete.c share: the option set in force. Not for programs. */
#ifndef ST_CLI_INT_H
#define ST_CLI_INT_H

#include <stddef.h>

#include "st/cli.h"

#define ST_OPTS_MAX 96

/* The options in force: common, the subcommand's, the program's. */
struct st_optset {
	const struct st_option *opt[ST_OPTS_MAX];
	size_t n;
};

void st_optset_fill(struct st_optset *s, const struct st_program *prog,
                    const struct st_command *cmd);
const struct st_option *st_optset_find_long(const struct st_optset *s, const char *name,
                                            size_t len);
const struct st_option *st_optset_find_key(const struct st_optset *s, int key);
const struct st_command *st_find_command(const struct st_program *prog, const char *name);
/* The command run when none is named (st-connect's dial), or NULL. */
const struct st_command *st_default_command(const struct st_program *prog);

/* Completion (complete.c): words typed after the program name, the last one
 * under the cursor; prints "WORD<TAB>DESCRIPTION" lines, or one "@file" /
 * "@dir" line for the shell to expand names itself. */
void st_cli_complete(const struct st_program *prog, int nwords, char **words);

#endif
