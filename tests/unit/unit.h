/* unit.h - what every cmocka test file includes. */
#ifndef ST_UNIT_H
#define ST_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A fresh temporary directory for one test; the caller removes it with unit_rmtree. */
static inline char *unit_tmpdir(void)
{
	char *d = strdup("/tmp/st-unit-XXXXXX");
	assert_non_null(d);
	assert_non_null(mkdtemp(d));
	return d;
}

static inline void unit_rmtree(char *dir)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(dir);
}

#endif
