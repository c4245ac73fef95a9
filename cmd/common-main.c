/* common-main.c - the one main() of every st program: process set-up, then cmd_main. */
#include "st/cli.h"

int main(int argc, char **argv)
{
	struct st_cli cli = {0};
	struct st_err err = {0};
	if (st_process_init(&err) < 0)
		return st_report(&cli, &err);
	int rc = cmd_main(&cli, argc, argv);
	st_cli_free(&cli);
	st_process_cleanup();
	return rc;
}
