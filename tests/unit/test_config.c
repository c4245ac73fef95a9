/* test_config.c - st.yaml: schema, errors with positions, precedence, printing. */
#include <sys/stat.h>

#include "unit.h"

#include "st/config.h"
#include "st/store.h"

static int parse(struct st_config *cfg, const char *text, struct st_err *err)
{
	st_config_init(cfg);
	return st_config_parse(cfg, "st.yaml", text, strlen(text), err);
}

static void expect_error(const char *text, const char *msg)
{
	struct st_config cfg;
	struct st_err err = {0};
	if (parse(&cfg, text, &err) == 0)
		fail_msg("parsed: %s", text);
	if (!strstr(err.msg, msg))
		fail_msg("got '%s', want '%s'", err.msg, msg);
	assert_int_equal(err.code, ST_EX_DATAERR);
	st_config_free(&cfg);
}

static void defaults_match_the_reference_node(void **state)
{
	(void)state;
	struct st_config cfg;
	st_config_init(&cfg);
	assert_int_equal(cfg.addrbook.max_addresses, 10000);
	assert_int_equal(cfg.addrbook.max_per_subnet, 10);
	assert_true(cfg.addrbook.max_per_source_group > 0.099 && cfg.addrbook.max_per_source_group < 0.101);
	assert_false(cfg.addrbook.allow_private);
	assert_int_equal(cfg.peers.success_delta, 1);
	assert_int_equal(cfg.peers.failure_delta, -2);
	assert_int_equal(cfg.peers.blacklist_threshold, -10);
	assert_int_equal(cfg.peers.max_failures, 5);
	assert_int_equal(cfg.peers.ban_duration, 24LL * 3600 * 1000);
	assert_int_equal(cfg.seed.max_size, 8 * 1024 * 1024);
	assert_int_equal(cfg.listen.nbind, 1);
	assert_string_equal(cfg.listen.bind[0], "0.0.0.0:7777");
	assert_string_equal(st_config_path(&cfg), "");
	st_config_free(&cfg);
}

static void a_full_file_sets_every_kind_of_value(void **state)
{
	(void)state;
	struct st_config cfg;
	struct st_err err = {0};
	const char *text = "data_dir: /var/lib/spacetime\n"
	                   "addrbook:\n"
	                   "  max_addresses: 5000\n"
	                   "  max_per_source_group: 0.2\n"
	                   "  allow_private: yes\n"
	                   "  max_age: 7d\n"
	                   "peers:\n"
	                   "  failure_delta: -3\n"
	                   "  ban_duration: 90s\n"
	                   "listen:\n"
	                   "  bind: [127.0.0.1:7777, \"[::1]:7777\"]\n"
	                   "seed:\n"
	                   "  max_size: 512KiB\n"
	                   "seeds:\n"
	                   "  - url: https://seeds.example/list.txt\n"
	                   "    format: text\n"
	                   "    public_key: /etc/spacetime/seed.pub\n"
	                   "  - dns: seed.example\n"
	                   "    port: 7777\n";
	assert_int_equal(parse(&cfg, text, &err), 0);
	assert_string_equal(cfg.data_dir, "/var/lib/spacetime");
	assert_int_equal(cfg.addrbook.max_addresses, 5000);
	assert_true(cfg.addrbook.max_per_source_group > 0.19 && cfg.addrbook.max_per_source_group < 0.21);
	assert_true(cfg.addrbook.allow_private);
	assert_int_equal(cfg.addrbook.max_age, 7LL * 86400000);
	assert_int_equal(cfg.peers.failure_delta, -3);
	assert_int_equal(cfg.peers.ban_duration, 90000);
	assert_int_equal(cfg.listen.nbind, 2);
	assert_string_equal(cfg.listen.bind[1], "[::1]:7777");
	assert_int_equal(cfg.seed.max_size, 512 * 1024);
	assert_int_equal(cfg.nseeds, 2);
	assert_string_equal(cfg.seeds[0].url, "https://seeds.example/list.txt");
	assert_string_equal(cfg.seeds[0].format, "text");
	assert_string_equal(cfg.seeds[1].dns, "seed.example");
	assert_int_equal(cfg.seeds[1].port, 7777);
	st_config_free(&cfg);
}

static void unknown_keys_name_position_and_suggest(void **state)
{
	(void)state;
	expect_error("addrbook:\n  max_adresses: 5\n",
	             "st.yaml:2:3: addrbook.max_adresses: unknown key (did you mean 'max_addresses'?)");
	expect_error("adrbook:\n  max_addresses: 5\n", "st.yaml:1:1: adrbook: unknown key (did you mean 'addrbook'?)");
	expect_error("zzzzzz: 1\n", "st.yaml:1:1: zzzzzz: unknown key");
	expect_error("seeds:\n  - url: http://x/\n    formt: text\n", "seeds.formt: unknown key (did you mean 'format'?)");
}

static void bad_values_name_the_key_and_the_range(void **state)
{
	(void)state;
	expect_error("addrbook:\n  max_addresses: 0\n",
	             "st.yaml:2:18: addrbook.max_addresses: '0': too small (1..10000000)");
	expect_error("addrbook:\n  max_addresses: lots\n", "not a number");
	expect_error("peers:\n  ban_duration: 3 days\n", "not a duration (like 90s, 10m, 24h, 30d)");
	expect_error("peers:\n  ban_duration: 100ms\n", "too small (1s..");
	expect_error("addrbook:\n  allow_private: maybe\n", "expected true or false");
	/* "\0" would cut a path short in C: refused, never truncated */
	expect_error("data_dir: \"/tmp/a\\0b\"\n", "data_dir: expected a single value, not text holding a NUL byte");
	expect_error("lock_wait: forever\n", "not a duration");
	expect_error("addrbook:\n  max_per_source_group: 150%\n", "expected a share");
	expect_error("seed:\n  max_size: 8 parsecs\n", "expected a size");
	expect_error("peers:\n  failure_delta: 2\n", "too large (-1000..0)");
}

static void structure_errors_are_reported(void **state)
{
	(void)state;
	expect_error("- a\n- b\n", "expected a mapping of keys at the top");
	expect_error("addrbook: 5\n", "addrbook: expected a mapping of keys");
	expect_error("addrbook:\n  max_addresses: [1, 2]\n", "expected a single value, not a list");
	expect_error("addrbook:\n  max_addresses: {a: 1}\n", "not a mapping");
	expect_error("addrbook:\n  max_addresses: 1\n  max_addresses: 2\n", "duplicate key");
	expect_error("addrbook: {}\naddrbook: {}\n", "duplicate key");
	expect_error("addrbook:\n  max_addresses: 1\n---\npeers: {}\n", "more than one YAML document");
	expect_error("addrbook: [unclosed\n", "st.yaml:");
	expect_error("seeds: {url: x}\n", "seeds: expected a list");
	expect_error("seeds:\n  - url: ftp://x/\n", "not an http:// or https:// URL");
	expect_error("seeds:\n  - url: http://x/\n    dns: y\n", "exactly one of url: and dns:");
	expect_error("seeds:\n  - format: text\n", "exactly one of url: and dns:");
	expect_error("seeds:\n  - dns: a b\n", "not a DNS name");
	expect_error("seeds:\n  - dns: x\n    port: 0\n", "too small");
	expect_error("seeds:\n  - dns: x\n    format: xml\n", "expected text, json or bitcoin");
	expect_error("seeds:\n  - plain\n", "each entry must be a mapping");
	expect_error("listen:\n  bind: [a,b]\n", "listen.bind");
}

/* text: "addrbook:\n  x: " then depth levels of open ("[" or "{a: ") and their closes */
static char *nested(int depth, const char *open, const char *close)
{
	size_t lo = strlen(open), lc = strlen(close);
	char *t = malloc(32 + (size_t)depth * (lo + lc));
	assert_non_null(t);
	char *p = t + sprintf(t, "addrbook:\n  x: ");
	for (int i = 0; i < depth; i++, p += lo)
		memcpy(p, open, lo);
	*p++ = '1';
	for (int i = 0; i < depth; i++, p += lc)
		memcpy(p, close, lc);
	strcpy(p, "\n");
	return t;
}

/* 40k levels took libyaml 5.5 s; past 64 (the root and addrbook: are two) it is refused,
 * naming the file, line and column where the limit was passed. */
static void deep_nesting_is_refused_with_its_position(void **state)
{
	(void)state;
	char *t = nested(62, "[", "]"); /* 64 levels in all: only the unknown key is wrong */
	expect_error(t, "st.yaml:2:3: addrbook.x: unknown key");
	free(t);
	t = nested(63, "[", "]");
	expect_error(t, "st.yaml:2:68: nested deeper than 64 levels");
	free(t);
	t = nested(40000, "[", "]");
	expect_error(t, "st.yaml:2:68: nested deeper than 64 levels");
	free(t);
	t = nested(40000, "{a: ", "}");
	expect_error(t, "nested deeper than 64 levels");
	free(t);
	/* block style, one level a line */
	char *b = malloc(200 * 210);
	assert_non_null(b);
	char *p = b;
	for (int i = 0; i < 200; i++)
		p += sprintf(p, "%*sk%d:\n", i, "", i);
	expect_error(b, "st.yaml:65:65: nested deeper than 64 levels");
	free(b);
}

static void empty_documents_and_sections_keep_defaults(void **state)
{
	(void)state;
	struct st_config cfg;
	struct st_err err = {0};
	assert_int_equal(parse(&cfg, "", &err), 0);
	assert_int_equal(parse(&cfg, "# only a comment\n", &err), 0);
	assert_int_equal(parse(&cfg, "addrbook:\n", &err), 0);
	assert_int_equal(cfg.addrbook.max_addresses, 10000);
	char big[64];
	memset(big, 'a', sizeof big);
	st_config_init(&cfg);
	assert_int_equal(st_config_parse(&cfg, "st.yaml", big, ST_CONFIG_FILE_MAX + 1, &err), -1);
	assert_non_null(strstr(err.msg, "larger than"));
	assert_int_equal(st_config_parse(&cfg, "st.yaml", "a\0b", 3, &err), -1);
	st_config_free(&cfg);
}

static void set_validates_like_the_file(void **state)
{
	(void)state;
	struct st_config cfg;
	struct st_err err = {0};
	st_config_init(&cfg);
	assert_int_equal(st_config_set(&cfg, "connect.jobs", "512", ST_ORIGIN_FLAG, &err), 0);
	assert_int_equal(cfg.connect.jobs, 512);
	assert_int_equal(st_config_set(&cfg, "connect.jobs", "0", ST_ORIGIN_FLAG, &err), -1);
	assert_string_equal(err.msg, "connect.jobs: '0': too small (1..65536)");
	assert_int_equal(st_config_set(&cfg, "no.such", "1", ST_ORIGIN_FLAG, &err), -1);
	assert_int_equal(st_config_set(&cfg, "listen.bind", "127.0.0.1:1,127.0.0.2:2", ST_ORIGIN_ENV, &err), 0);
	assert_int_equal(cfg.listen.nbind, 2);
	st_config_free(&cfg);
}

static char *write_tmp(const char *dir, const char *name, const char *text)
{
	static char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static void precedence_is_flag_env_file_default(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	char *path = write_tmp(dir, "st.yaml", "addrbook:\n  max_addresses: 100\n  max_per_subnet: 3\n");
	struct st_config cfg;
	struct st_err err = {0};
	setenv("ST_ADDRBOOK_MAX_PER_SUBNET", "4", 1);
	st_config_init(&cfg);
	assert_int_equal(st_config_load(&cfg, path, &err), 0);
	assert_int_equal(cfg.addrbook.max_addresses, 100);
	assert_int_equal(cfg.addrbook.max_per_subnet, 4);
	assert_int_equal(st_config_set(&cfg, "addrbook.max_per_subnet", "5", ST_ORIGIN_FLAG, &err), 0);
	assert_int_equal(cfg.addrbook.max_per_subnet, 5);
	assert_string_equal(st_config_path(&cfg), path);

	/* the printed config parses again and says where each value came from */
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	assert_int_equal(st_config_print(&cfg, f, &err), 0);
	fclose(f);
	assert_non_null(strstr(out, "  max_addresses: 100  # file\n"));
	assert_non_null(strstr(out, "  max_per_subnet: 5  # flag\n"));
	assert_non_null(strstr(out, "  max_per_source_group: 10%  # default\n"));
	struct st_config again;
	st_config_init(&again);
	assert_int_equal(st_config_parse(&again, "printed", out, len, &err), 0);
	assert_int_equal(again.addrbook.max_per_subnet, 5);
	assert_int_equal(again.peers.ban_duration, cfg.peers.ban_duration);
	free(out);

	setenv("ST_ADDRBOOK_MAX_PER_SUBNET", "zero", 1);
	st_config_init(&cfg);
	assert_int_equal(st_config_load(&cfg, path, &err), -1);
	assert_non_null(strstr(err.msg, "environment ST_ADDRBOOK_MAX_PER_SUBNET"));
	unsetenv("ST_ADDRBOOK_MAX_PER_SUBNET");
	st_config_free(&cfg);
	st_config_free(&again);
	unit_rmtree(dir);
}

static void a_named_file_must_exist_and_the_search_finds_xdg(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	struct st_config cfg;
	struct st_err err = {0};
	st_config_init(&cfg);
	assert_int_equal(st_config_load(&cfg, "/nonexistent/st.yaml", &err), -1);
	assert_int_equal(err.code, ST_EX_NOINPUT);
	char sub[512];
	snprintf(sub, sizeof sub, "%s/spacetime", dir);
	mkdir(sub, 0700);
	write_tmp(sub, "st.yaml", "connect:\n  jobs: 7\n");
	setenv("XDG_CONFIG_HOME", dir, 1);
	unsetenv("ST_CONFIG");
	st_config_init(&cfg);
	assert_int_equal(st_config_load(&cfg, NULL, &err), 0);
	assert_int_equal(cfg.connect.jobs, 7);
	setenv("ST_CONFIG", "/nonexistent/env.yaml", 1);
	assert_int_equal(st_config_load(&cfg, NULL, &err), -1);
	unsetenv("ST_CONFIG");
	unsetenv("XDG_CONFIG_HOME");
	st_config_free(&cfg);
	unit_rmtree(dir);
}

static void data_dir_is_resolved_not_created(void **state)
{
	(void)state;
	char *dir = unit_tmpdir();
	char want[512];
	snprintf(want, sizeof want, "%s/x/y", dir);
	struct st_config cfg;
	struct st_err err = {0};
	st_config_init(&cfg);
	assert_int_equal(st_config_data_dir(&cfg, want, &err), 0);
	struct stat st;
	assert_int_equal(stat(want, &st), -1); /* readers create nothing; writers do */
	assert_int_equal(st_datadir_prepare(want, &err), 0);
	assert_int_equal(stat(want, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_string_equal(cfg.data_dir, want);
	st_config_init(&cfg);
	setenv("XDG_DATA_HOME", dir, 1);
	assert_int_equal(st_config_data_dir(&cfg, NULL, &err), 0);
	snprintf(want, sizeof want, "%s/spacetime", dir);
	assert_string_equal(cfg.data_dir, want);
	unsetenv("XDG_DATA_HOME");
	unit_rmtree(dir);
}

int main(void)
{
	unsetenv("ST_DATA_DIR");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_match_the_reference_node),
		cmocka_unit_test(a_full_file_sets_every_kind_of_value),
		cmocka_unit_test(unknown_keys_name_position_and_suggest),
		cmocka_unit_test(bad_values_name_the_key_and_the_range),
		cmocka_unit_test(structure_errors_are_reported),
		cmocka_unit_test(deep_nesting_is_refused_with_its_position),
		cmocka_unit_test(empty_documents_and_sections_keep_defaults),
		cmocka_unit_test(set_validates_like_the_file),
		cmocka_unit_test(precedence_is_flag_env_file_default),
		cmocka_unit_test(a_named_file_must_exist_and_the_search_finds_xdg),
		cmocka_unit_test(data_dir_is_resolved_not_created),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
