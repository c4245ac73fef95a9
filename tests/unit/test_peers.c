/* test_peers.c - reputation, automatic bans, ban targets and expiry, the lifecycle glue. */
#include "unit.h"

#include "st/addrbook.h"
#include "st/identity.h"
#include "st/peers.h"
#include "st/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include "st/util.h"
#include <sys/stat.h>

struct fx {
	char *dir;
	struct st_config cfg;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	f->dir = unit_tmpdir();
	st_config_init(&f->cfg);
	snprintf(f->cfg.data_dir, sizeof f->cfg.data_dir, "%s", f->dir);
	f->cfg.addrbook.allow_private = true;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	unit_rmtree(f->dir);
	free(f);
	return 0;
}

static struct st_peerbook *open_rw(struct fx *f)
{
	struct st_peerbook *pb;
	struct st_err err = {0};
	if (st_peerbook_open(&pb, &f->cfg, ST_STORE_WRITE, &err) < 0)
		fail_msg("%s", err.msg);
	return pb;
}

static struct st_endpoint ep(const char *s)
{
	struct st_endpoint e;
	assert_int_equal(st_endpoint_parse(&e, s, strlen(s), NULL), 0);
	return e;
}

/* The verdict on a target given as st-peers takes it. */
static const struct st_ban *verdict(const struct st_peerbook *pb, const char *target, int64_t now)
{
	struct st_ban_query q;
	struct st_err err = {0};
	if (st_ban_query_parse(&q, target, &err) < 0)
		fail_msg("%s", err.msg);
	return st_bans_verdict(pb, &q, now);
}

static const struct st_ban *verdict_ep(const struct st_peerbook *pb, const struct st_endpoint *e,
                                       int64_t now)
{
	struct st_ban_query q;
	st_ban_query_set(&q, e, NULL);
	return st_bans_verdict(pb, &q, now);
}

static void reputation_and_both_ban_thresholds(void **state)
{
	struct fx *f = *state;
	struct st_peerbook *pb = open_rw(f);
	struct st_peer_change c;
	struct st_endpoint a = ep("1.2.3.4:1");
	assert_int_equal(st_peers_seen(pb, "n1", &a, 1, "ua", false, 100, &c, NULL), 0);
	assert_true(c.added);
	assert_int_equal(st_peers_success(pb, "n1", 100, NULL), 1);
	assert_int_equal(st_peers_get(pb, "n1")->reputation, 1);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(st_peers_failure(pb, "n1", 1, 100, &c, NULL), 1);
		assert_false(c.banned);
	}
	assert_int_equal(st_peers_get(pb, "n1")->reputation, -7);
	assert_int_equal(st_peers_failure(pb, "n1", 1, 100, &c, NULL), 1);
	assert_true(c.banned); /* 5 in a row */
	assert_string_equal(c.ban->reason, "5 consecutive failures");
	assert_true(c.ban->automatic);
	assert_int_equal(c.ban->expires, 100 + 86400);
	assert_non_null(verdict(pb, "n1", 200));
	/* reputation alone */
	assert_int_equal(st_peers_seen(pb, "n2", NULL, 1, NULL, false, 100, &c, NULL), 0);
	assert_int_equal(st_peers_failure(pb, "n2", 5, 100, &c, NULL), 1);
	assert_true(c.banned);
	assert_string_equal(c.ban->reason, "reputation -10 <= -10");
	assert_int_equal(st_peers_failure(pb, "nobody", 1, 100, &c, NULL), 0);
	st_peerbook_free(pb);
}

static void bans_extend_only_and_expire(void **state)
{
	struct fx *f = *state;
	struct st_peerbook *pb = open_rw(f);
	const struct st_ban *b;
	assert_int_equal(st_bans_add(pb, "x", 1000, false, "one", 100, &b, NULL), 0);
	assert_int_equal(st_bans_add(pb, "x", 500, false, "shorter", 100, &b, NULL), 0);
	assert_int_equal(b->expires, 1000);
	assert_string_equal(b->reason, "one");
	assert_int_equal(st_bans_add(pb, "x", 2000, false, "longer", 100, &b, NULL), 0);
	assert_int_equal(b->expires, 2000);
	assert_non_null(verdict(pb, "x", 1999));
	assert_null(verdict(pb, "x", 2000));
	assert_int_equal(st_bans_add(pb, "x", 0, false, "forever", 100, &b, NULL), 0);
	assert_non_null(verdict(pb, "x", 2000)); /* permanent now */
	assert_non_null(verdict(pb, "x", 1LL << 40));
	assert_int_equal(st_bans_remove(pb, "x", NULL), 1);
	assert_null(verdict(pb, "x", 100));
	assert_int_equal(st_bans_remove(pb, "x", NULL), 0);
	st_peerbook_free(pb);
}

static void subnet_and_address_bans_match_endpoints(void **state)
{
	struct fx *f = *state;
	struct st_peerbook *pb = open_rw(f);
	struct st_err err = {0};
	assert_int_equal(st_bans_add(pb, "10.0.0.0/8", 0, false, "", 1, NULL, NULL), 0);
	assert_int_equal(st_bans_add(pb, "10.1.0.0/16", 0, false, "narrow", 1, NULL, NULL), 0);
	assert_int_equal(st_bans_add(pb, "2001:db8::1", 0, false, "", 1, NULL, NULL), 0);
	struct st_endpoint in = ep("10.1.2.3:7"), out = ep("11.0.0.1:7"), v6 = ep("[2001:db8::1]:7");
	const struct st_ban *b = verdict_ep(pb, &in, 5);
	assert_non_null(b);
	assert_string_equal(b->target, "10.1.0.0/16"); /* the most specific */
	assert_null(verdict_ep(pb, &out, 5));
	assert_non_null(verdict_ep(pb, &v6, 5));
	assert_non_null(verdict(pb, "10.200.0.0/16", 5));
	assert_null(verdict(pb, "10.0.0.0/7", 5));
	assert_int_equal(st_bans_add(pb, "1.2.3.4/24", 0, false, "", 1, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "host bits set"));
	assert_int_equal(st_bans_add(pb, "bad id!", 0, false, "", 1, NULL, &err), -1);
	st_peerbook_free(pb);
}

static void tables_survive_reopen_and_ids_follow_endpoints(void **state)
{
	struct fx *f = *state;
	struct st_peerbook *pb = open_rw(f);
	struct st_peer_change c;
	struct st_endpoint a = ep("1.1.1.1:1"), b = ep("2.2.2.2:2");
	st_peers_seen(pb, "n1", &a, 1, "ua/1", false, 10, &c, NULL);
	st_peers_seen(pb, "n1", &b, 1, "ua/2", false, 20, &c, NULL);
	assert_true(c.new_endpoint);
	st_bans_add(pb, "n9", 0, false, "kept", 1, NULL, NULL);
	struct st_err err = {0};
	assert_int_equal(st_peerbook_close(pb, &err), 0);
	pb = open_rw(f);
	const struct st_peer *p = st_peers_get(pb, "n1");
	assert_non_null(p);
	assert_int_equal(p->neps, 2);
	assert_true(st_endpoint_equal(&p->eps[0], &b)); /* newest first */
	assert_string_equal(p->user_agent, "ua/2");
	assert_string_equal(st_peers_at(pb, &a)->id, "n1");
	assert_non_null(verdict(pb, "n9", 5));
	/* a verified endpoint that changes its id is reported; only an id a
	 * certificate can prove (st1...) is ever stored as verified */
	unsigned char k1[ST_ID_PUBKEY_LEN] = {1}, k2[ST_ID_PUBKEY_LEN] = {2};
	char v1[ST_ID_STRLEN], v2[ST_ID_STRLEN];
	assert_int_equal(st_identity_id_from_raw(k1, sizeof k1, v1, sizeof v1, NULL), 0);
	assert_int_equal(st_identity_id_from_raw(k2, sizeof k2, v2, sizeof v2, NULL), 0);
	st_peers_seen(pb, "claim", &a, 1, NULL, true, 25, &c, NULL);
	assert_false(st_peers_get(pb, "claim")->verified);
	st_peers_seen(pb, v1, &a, 1, NULL, true, 30, &c, NULL);
	assert_true(st_peers_get(pb, v1)->verified);
	st_peers_seen(pb, v2, &a, 1, NULL, true, 40, &c, NULL);
	assert_true(c.changed_id);
	assert_string_equal(c.previous_id, v1);
	st_peerbook_free(pb);
}

static void glue_follows_the_seed_design(void **state)
{
	struct fx *f = *state;
	struct st_addrbook *ab;
	struct st_err err = {0};
	assert_int_equal(st_addrbook_open(&ab, &f->cfg, ST_STORE_WRITE, &err), 0);
	struct st_endpoint e = ep("1.2.3.4:7777");
	enum st_addrbook_verdict v;
	st_addrbook_add(ab, &e, "manual", NULL, 1, &v, NULL, NULL);
	struct st_peerbook *pb = open_rw(f);
	struct st_peer_change c;
	struct st_conn_result ok = {.ep = e, .status = ST_STATUS_OK, .node_id = "n1", .version = 1,
	                            .user_agent = "ua"};
	assert_int_equal(st_glue_apply(ab, pb, &ok, 10, &c, &err), 0);
	assert_true(c.added);
	assert_int_equal(st_peers_get(pb, "n1")->successes, 1);
	assert_int_equal(st_addrbook_get(ab, &e)->successes, 1);
	/* a failure without an id counts against the id last seen there */
	struct st_conn_result fail = {.ep = e, .status = ST_STATUS_TIMEOUT};
	assert_int_equal(st_glue_apply(ab, pb, &fail, 20, &c, &err), 0);
	assert_int_equal(st_peers_get(pb, "n1")->failures, 1);
	assert_int_equal(st_addrbook_get(ab, &e)->failures, 1);
	struct st_conn_result banned = {.ep = e, .status = ST_STATUS_BANNED};
	assert_int_equal(st_glue_apply(ab, pb, &banned, 30, &c, &err), 0);
	assert_int_equal(st_addrbook_get(ab, &e)->attempts, 2);
	char id1[32], id2[32];
	st_peers_derived_id(&e, id1, sizeof id1);
	st_peers_derived_id(&e, id2, sizeof id2);
	assert_string_equal(id1, id2);
	assert_int_equal(strncmp(id1, "ep-", 3), 0);
	assert_int_equal(strlen(id1), 19);
	st_peerbook_free(pb);
	st_addrbook_free(ab);
}

static void an_unlocked_reader_keeps_its_bans_and_lets_a_writer_in(void **state)
{
	struct fx *f = *state;
	struct st_peerbook *pb = open_rw(f);
	assert_int_equal(st_bans_add(pb, "1.2.3.0/24", 0, false, "test", 100, NULL, NULL), 0);
	assert_int_equal(st_peerbook_close(pb, NULL), 0);

	struct st_peerbook *rd, *wr;
	struct st_err err = {0};
	assert_int_equal(st_peerbook_open(&rd, &f->cfg, ST_STORE_READ, &err), 0);
	assert_int_equal(st_peerbook_unlock(rd, &err), 0);
	/* without the unlock this writer would find the lock held */
	assert_int_equal(st_peerbook_open(&wr, &f->cfg, ST_STORE_WRITE | ST_STORE_NOWAIT, &err), 0);
	struct st_endpoint a = ep("1.2.3.4:1");
	assert_true(verdict_ep(rd, &a, 200));
	assert_int_equal(st_peerbook_unlock(wr, &err), -1);
	st_peerbook_free(wr);
	st_peerbook_free(rd);
}

static void verdict_on_an_endpoint_sees_the_ban_on_the_peer_last_seen_there(void **state)
{
	struct fx *f = *state;
	struct st_peerbook *pb = open_rw(f);
	struct st_peer_change c;
	struct st_endpoint a = ep("1.2.3.4:1");
	assert_int_equal(st_peers_seen(pb, "n1", &a, 1, NULL, false, 100, &c, NULL), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(st_peers_failure(pb, "n1", 1, 100, &c, NULL), 1);
	assert_true(c.banned);
	const struct st_ban *b = verdict(pb, "1.2.3.4:1", 101);
	assert_non_null(b);
	assert_string_equal(b->target, "n1");
	assert_ptr_equal(verdict_ep(pb, &a, 101), b);
	assert_ptr_equal(verdict(pb, "other@1.2.3.4:1", 101), b);
	assert_ptr_equal(verdict(pb, "n1", 101), b);
	assert_null(verdict(pb, "1.2.3.4:2", 101));  /* another endpoint of the address */
	assert_null(verdict(pb, "1.2.3.4", 101));    /* an address is not an endpoint */
	assert_null(verdict(pb, "1.2.3.4:1", 100 + 86400)); /* expired */
	st_peerbook_free(pb);
}

static void verdict_sees_a_derived_id_ban_without_the_peers_table(void **state)
{
	struct fx *f = *state;
	struct st_peerbook *pb = open_rw(f);
	struct st_peer_change c;
	struct st_endpoint e = ep("5.6.7.8:7777");
	char id[ST_NODE_ID_MAX + 1];
	st_peers_derived_id(&e, id, sizeof id);
	assert_int_equal(st_peers_seen(pb, id, &e, 0, NULL, false, 10, &c, NULL), 0);
	struct st_conn_result fail = {.ep = e, .status = ST_STATUS_REFUSED};
	struct st_err err = {0};
	for (int i = 0; i < 5; i++)
		assert_int_equal(st_glue_apply(NULL, pb, &fail, 20, &c, &err), 0);
	assert_true(c.banned);
	assert_string_equal(c.ban->target, id);
	assert_int_equal(st_peerbook_close(pb, &err), 0);
	assert_int_equal(st_peerbook_open(&pb, &f->cfg, ST_STORE_READ | ST_PEERBOOK_BANS_ONLY, &err), 0);
	assert_null(st_peers_at(pb, &e));
	const struct st_ban *b = verdict_ep(pb, &e, 30);
	assert_non_null(b);
	assert_string_equal(b->target, id);
	assert_null(verdict(pb, "5.6.7.8:7778", 30));
	st_peerbook_free(pb);
}

static void verdict_checks_the_id_then_the_address_then_subnets(void **state)
{
	struct fx *f = *state;
	struct st_peerbook *pb = open_rw(f);
	assert_int_equal(st_bans_add(pb, "n1", 0, false, "id", 1, NULL, NULL), 0);
	assert_int_equal(st_bans_add(pb, "9.9.9.9", 0, false, "address", 1, NULL, NULL), 0);
	assert_int_equal(st_bans_add(pb, "9.9.0.0/16", 0, false, "subnet", 1, NULL, NULL), 0);
	assert_string_equal(verdict(pb, "n1@9.9.9.9:1", 5)->reason, "id");
	assert_string_equal(verdict(pb, "n2@9.9.9.9:1", 5)->reason, "address");
	assert_string_equal(verdict(pb, "9.9.9.9", 5)->reason, "address");
	assert_string_equal(verdict(pb, "9.9.1.1:1", 5)->reason, "subnet");
	assert_string_equal(verdict(pb, "9.9.1.0/24", 5)->reason, "subnet");
	assert_null(verdict(pb, "9.0.0.0/8", 5)); /* only a part of it is banned */
	assert_null(verdict(pb, "n2", 5));
	struct st_ban_query q;
	st_ban_query_set(&q, NULL, NULL);
	assert_null(st_bans_verdict(pb, &q, 5)); /* nothing asked, nothing banned */
	st_peerbook_free(pb);
}

static void ban_queries_take_every_form_and_refuse_the_rest(void **state)
{
	(void)state;
	struct st_ban_query q;
	struct st_err err = {0};
	assert_int_equal(st_ban_query_parse(&q, "1.2.3.4", &err), 0);
	assert_true(q.has_net && q.net.bits == 32 && !q.port && !q.id[0]);
	assert_int_equal(st_ban_query_parse(&q, "1.2.3.4:7777", &err), 0);
	assert_true(q.has_net && q.net.bits == 32 && q.port == 7777 && q.net.net.port == 0);
	assert_int_equal(st_ban_query_parse(&q, "[2001:db8::1]:7777", &err), 0);
	assert_true(q.has_net && q.net.bits == 128 && q.port == 7777);
	assert_int_equal(st_ban_query_parse(&q, "2001:db8::1", &err), 0);
	assert_true(q.has_net && q.net.bits == 128 && !q.port);
	assert_int_equal(st_ban_query_parse(&q, "2001:db8::/32", &err), 0);
	assert_true(q.has_net && q.net.bits == 32 && q.net.net.family == ST_AF_INET6);
	assert_int_equal(st_ban_query_parse(&q, "10.0.0.0/8", &err), 0);
	assert_true(q.has_net && q.net.bits == 8 && !q.port);
	assert_int_equal(st_ban_query_parse(&q, "node-1.a_b", &err), 0);
	assert_true(!q.has_net);
	assert_string_equal(q.id, "node-1.a_b");
	assert_int_equal(st_ban_query_parse(&q, "n1@1.2.3.4:7777", &err), 0);
	assert_true(q.has_net && q.port == 7777);
	assert_string_equal(q.id, "n1");
	const char *bad[] = {"", "bad id!", "1.2.3.4:99999", "n1@1.2.3.4", "1.2.3.4/24", "1.2.3.4:",
	                     "@1.2.3.4:1", "1.2.3.4:1/8"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		if (st_ban_query_parse(&q, bad[i], &err) != -1)
			fail_msg("'%s' was accepted", bad[i]);
}

static size_t entries(const char *dir)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	size_t n = 0;
	for (struct dirent *e; (e = readdir(d)) != NULL;)
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

static void a_reader_of_a_missing_book_sees_no_bans_and_creates_nothing(void **state)
{
	struct fx *f = *state;
	struct st_peerbook *pb;
	struct st_err err = {0};
	struct st_endpoint e = ep("1.2.3.4:1");
	assert_int_equal(st_peerbook_open(&pb, &f->cfg, ST_STORE_READ, &err), 0);
	assert_null(verdict_ep(pb, &e, 5));
	assert_int_equal(st_peerbook_unlock(pb, &err), 0);
	st_peerbook_free(pb);
	assert_int_equal(entries(f->dir), 0);
	struct st_config cfg = f->cfg;
	snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s/nowhere", f->dir);
	/* no data dir at all is missing input for a reader, which creates nothing */
	assert_int_equal(st_peerbook_open(&pb, &cfg, ST_STORE_READ | ST_PEERBOOK_BANS_ONLY, &err), -1);
	assert_int_equal(err.code, ST_EX_NOINPUT);
	struct stat st;
	assert_int_equal(stat(cfg.data_dir, &st), -1);
}

/* A node id that could break the peers table's line format is refused. */
static void an_id_that_would_break_a_stored_line_is_refused(void **state)
{
	struct fx *f = *state;
	struct st_peerbook *pb;
	struct st_err err = {0};
	struct st_peer_change c;
	struct st_endpoint e = ep("1.2.3.4:1");
	assert_int_equal(st_peerbook_open(&pb, &f->cfg, ST_STORE_WRITE, &err), 0);
	assert_int_equal(st_peers_seen(pb, "a\tb", &e, 1, "ua", false, 5, &c, &err), -1);
	assert_int_equal(err.code, ST_EX_DATAERR);
	assert_int_equal(st_peers_seen(pb, "a\nb", &e, 1, "ua", false, 5, &c, &err), -1);
	assert_int_equal(st_peers_seen(pb, "ok", &e, 1, "u\ta\x1b[2J", false, 5, &c, &err), 0);
	assert_string_equal(st_peers_get(pb, "ok")->user_agent, "u?a?[2J");
	assert_int_equal(st_peerbook_close(pb, &err), 0);
	assert_int_equal(st_peerbook_open(&pb, &f->cfg, ST_STORE_READ, &err), 0);
	assert_non_null(st_peers_get(pb, "ok"));
	st_peerbook_free(pb);
}

/* the index once kept every endpoint a peer ever had and spun when it filled */
/* The verdict of a lazy book (ST_PEERBOOK_LAZY) on target, as its ban's target or "". */
static const char *lazy_verdict(struct st_peerbook *pb, const char *target, int64_t now)
{
	struct st_ban_query q;
	struct st_err err = {0};
	const struct st_ban *b;
	if (st_ban_query_parse(&q, target, &err) < 0)
		fail_msg("%s", err.msg);
	if (st_bans_lookup(pb, &q, now, &b, &err) < 0)
		fail_msg("%s: %s", target, err.msg);
	return b ? b->target : "";
}

static struct st_peerbook *open_lazy(struct fx *f, unsigned extra)
{
	struct st_peerbook *pb;
	struct st_err err = {0};
	if (st_peerbook_open(&pb, &f->cfg, ST_STORE_READ | ST_PEERBOOK_LAZY | extra, &err) < 0)
		fail_msg("%s", err.msg);
	return pb;
}

/* Asks the whole book and a lazy one the same questions; returns the lazy book's slots. */
static size_t lazy_agrees(struct fx *f, unsigned extra)
{
	static const char *const asks[] = {
		"10.0.0.1", "10.0.0.0/24", "10.0.7.9", "10.0.7.0/24", "10.0.8.3", "10.3.0.0/16",
		"10.4.1.1", "10.4.0.0/15", "11.0.0.0/8", "8.8.8.8", "0.0.0.0/0", "2001:db8::5",
		"2001:db8:1::/48", "2001:db8::/32", "id-0", "id-1", "id-2", "id-3", "id-998",
		"id-999", "id-1000", "id-", "zz", "a", "gone-0", "gone-1", "late-1", "10.9.9.9:7777",
		"10.9.9.8:7777", "20.0.0.1:7777", "20.0.0.2:7777", "x@20.0.0.2:7777", "id-4@1.1.1.1:1",
	};
	struct st_peerbook *full;
	struct st_err err = {0};
	assert_int_equal(st_peerbook_open(&full, &f->cfg, ST_STORE_READ | extra, &err), 0);
	struct st_peerbook *lazy = open_lazy(f, extra);
	for (size_t i = 0; i < sizeof asks / sizeof asks[0]; i++) {
		const struct st_ban *b = verdict(full, asks[i], 5000);
		assert_string_equal(lazy_verdict(lazy, asks[i], 5000), b ? b->target : "");
	}
	size_t slots = st_bans_slots(lazy);
	st_peerbook_free(lazy);
	st_peerbook_free(full);
	return slots;
}

static void a_lazy_check_answers_as_the_whole_table(void **state)
{
	struct fx *f = *state;
	struct st_peerbook *pb = open_rw(f);
	char t[64];
	/* enough lines that the journal is compacted into a snapshot (and its index) */
	for (int i = 0; i < 3000; i++) {
		if (i % 3)
			snprintf(t, sizeof t, "id-%d", i);
		else
			snprintf(t, sizeof t, "10.%d.%d.0/24", i / 768, (i / 3) % 256);
		assert_int_equal(st_bans_add(pb, t, i % 5 ? 0 : 4000, false, "r", 1, NULL, NULL), 0);
	}
	assert_int_equal(st_bans_add(pb, "10.4.0.0/15", 0, false, "", 1, NULL, NULL), 0);
	assert_int_equal(st_bans_add(pb, "2001:db8::/32", 0, false, "", 1, NULL, NULL), 0);
	assert_int_equal(st_bans_add(pb, "gone-0", 0, false, "", 1, NULL, NULL), 0);
	assert_int_equal(st_bans_add(pb, "gone-1", 0, false, "", 1, NULL, NULL), 0);
	struct st_peer_change c;
	struct st_endpoint a = ep("10.9.9.9:7777"), b2 = ep("20.0.0.1:7777");
	assert_int_equal(st_peers_seen(pb, "id-4", &a, 1, "", false, 1, &c, NULL), 0);
	assert_int_equal(st_peers_seen(pb, "free", &b2, 1, "", false, 1, &c, NULL), 0);
	assert_int_equal(st_peerbook_close(pb, NULL), 0);
	char path[600];
	snprintf(path, sizeof path, "%s/bans.index", f->dir);
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);

	/* the journal on top of the snapshot: lifted, added, extended */
	pb = open_rw(f);
	assert_int_equal(st_bans_remove(pb, "gone-0", NULL), 1);
	assert_int_equal(st_bans_remove(pb, "10.0.7.0/24", NULL), 1);
	assert_int_equal(st_bans_add(pb, "late-1", 0, false, "", 1, NULL, NULL), 0);
	assert_int_equal(st_bans_add(pb, "id-998", 0, false, "", 1, NULL, NULL), 0);
	assert_int_equal(st_peerbook_close(pb, NULL), 0);

	/* the lazy book holds what it looked up and the journal's bans, not the table */
	size_t slots = lazy_agrees(f, ST_PEERBOOK_BANS_ONLY);
	assert_true(slots > 0 && slots < 200);
	assert_true(lazy_agrees(f, 0) < 200);

	/* an index out of order but sealed: the search sees it and reads the table whole */
	FILE *fp = fopen(path, "r+");
	assert_non_null(fp);
	char hdr[128], l1[32], l2[32];
	assert_non_null(fgets(hdr, sizeof hdr, fp));
	long at = ftell(fp);
	char *body = malloc((size_t)sb.st_size);
	size_t n = fread(body, 1, (size_t)sb.st_size, fp);
	const char *seal = strstr(body, "end ");
	assert_non_null(seal);
	size_t sealed = (size_t)(seal - body), mid = (sealed / 13 / 2) * 13;
	memcpy(l1, body + mid, 13);
	memcpy(l2, body + mid + 13, 13);
	memcpy(body + mid, l2, 13);
	memcpy(body + mid + 13, l1, 13);
	unsigned long long snap_len;
	assert_int_equal(sscanf(seal, "end %llu", &snap_len), 1);
	int sl = snprintf(body + sealed, n - sealed + 64, "end %llu %08x\n", snap_len,
	                  st_crc32c(0, body, sealed));
	assert_int_equal(fseek(fp, at, SEEK_SET), 0);
	assert_int_equal(fwrite(body, 1, sealed + (size_t)sl, fp), sealed + (size_t)sl);
	fclose(fp);
	free(body);
	assert_true(lazy_agrees(f, ST_PEERBOOK_BANS_ONLY) > 2000);

	/* no index: the table is read whole, the same answers */
	assert_int_equal(unlink(path), 0);
	assert_true(lazy_agrees(f, ST_PEERBOOK_BANS_ONLY) > 2000);
	/* the next writer writes it again */
	pb = open_rw(f);
	assert_int_equal(st_peerbook_close(pb, NULL), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_true(lazy_agrees(f, 0) < 200);
}

/* Endpoint checks of a lazy book against the whole one; returns the lazy book's peer slots. */
static size_t lazy_peers_agree(struct fx *f, bool full_reads)
{
	static const char *const asks[] = {
		"10.1.0.1:7777", "10.1.0.2:7777", "10.1.0.3:7777", "10.1.0.4:7777", "10.1.0.5:7777",
		"10.1.0.6:7777", "10.1.0.7:7777", "10.1.0.8:7777", "10.1.0.9:7777", "10.1.0.1:7778",
		"10.2.3.4:7777", "10.5.0.9:7777", "10.5.1.44:7777", "[2001:db8::1]:7777", "8.8.8.8:53",
		"x@10.5.0.9:7777", "bad-1@10.9.9.9:1", "bad-1", "10.1.0.9", "10.2.0.0/16",
	};
	struct st_peerbook *full = NULL;
	struct st_err err = {0};
	int rc = st_peerbook_open(&full, &f->cfg, ST_STORE_READ, &err);
	assert_int_equal(rc, full_reads ? 0 : -1); /* damaged elsewhere: a full read fails */
	struct st_peerbook *lazy = open_lazy(f, 0);
	for (size_t i = 0; full && i < sizeof asks / sizeof asks[0]; i++) {
		const struct st_ban *b = verdict(full, asks[i], 5000);
		const char *lz = lazy_verdict(lazy, asks[i], 5000);
		if (strcmp(lz, b ? b->target : "") != 0)
			fail_msg("%s: lazy '%s', whole '%s'", asks[i], lz, b ? b->target : "");
	}
	/* the answers a whole read gives, written down from the scenario */
	assert_string_equal(lazy_verdict(lazy, "10.1.0.1:7777", 5000), "bad-1");
	assert_string_equal(lazy_verdict(lazy, "10.1.0.2:7777", 5000), "");     /* expired */
	assert_string_equal(lazy_verdict(lazy, "10.1.0.3:7777", 5000), "mover"); /* kept */
	assert_string_equal(lazy_verdict(lazy, "10.1.0.4:7777", 5000), "mover"); /* moved */
	assert_string_equal(lazy_verdict(lazy, "10.1.0.5:7777", 5000), "second");
	assert_string_equal(lazy_verdict(lazy, "10.1.0.6:7777", 5000), "");     /* removed */
	assert_string_equal(lazy_verdict(lazy, "10.1.0.7:7777", 5000), "late");  /* journal */
	assert_string_equal(lazy_verdict(lazy, "10.1.0.8:7777", 5000), "");     /* lifted */
	assert_string_equal(lazy_verdict(lazy, "10.1.0.1:7778", 5000), "");     /* other port */
	assert_string_equal(lazy_verdict(lazy, "10.2.3.4:7777", 5000), "10.2.0.0/16");
	assert_string_equal(lazy_verdict(lazy, "10.5.1.44:7777", 5000), "p-300");
	size_t slots = st_peers_slots(lazy);
	st_peerbook_free(lazy);
	st_peerbook_free(full);
	return slots;
}

static void a_lazy_endpoint_check_reads_only_the_lines_of_that_endpoint(void **state)
{
	struct fx *f = *state;
	struct st_peer_change c;
	struct st_endpoint e;
	char id[32], text[64];
	struct st_peerbook *pb = open_rw(f);
	/* enough peers that the journal is compacted into a snapshot (and its index) */
	for (int i = 0; i < 3000; i++) {
		snprintf(id, sizeof id, "p-%d", i);
		snprintf(text, sizeof text, "10.5.%d.%d:7777", i / 256, i % 256);
		e = ep(text);
		assert_int_equal(st_peers_seen(pb, id, &e, 1, "ua", false, 1, &c, NULL), 0);
	}
	static const char *const at[][2] = {
		{"bad-1", "10.1.0.1:7777"}, {"exp-1", "10.1.0.2:7777"}, {"mover", "10.1.0.3:7777"},
		{"first", "10.1.0.5:7777"}, {"second", "10.1.0.5:7777"}, {"gone", "10.1.0.6:7777"},
		{"lifted", "10.1.0.8:7777"}, {"in-net", "10.2.3.4:7777"},
	};
	for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
		e = ep(at[i][1]);
		assert_int_equal(st_peers_seen(pb, at[i][0], &e, 1, "ua", false, 2, &c, NULL), 0);
	}
	static const char *const bans[] = {"bad-1", "mover", "second", "first", "gone", "lifted",
	                                   "late", "p-300", "10.2.0.0/16"};
	for (size_t i = 0; i < sizeof bans / sizeof bans[0]; i++)
		assert_int_equal(st_bans_add(pb, bans[i], 0, false, "r", 1, NULL, NULL), 0);
	assert_int_equal(st_bans_add(pb, "exp-1", 4000, false, "r", 1, NULL, NULL), 0);
	assert_int_equal(st_peerbook_close(pb, NULL), 0);
	char path[600], snap[600];
	snprintf(path, sizeof path, "%s/peers.index", f->dir);
	snprintf(snap, sizeof snap, "%s/peers.tsv", f->dir);
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);

	/* the journal on top: a peer moves, one is removed, one is new, a ban lifted */
	pb = open_rw(f);
	e = ep("10.1.0.4:7777");
	assert_int_equal(st_peers_seen(pb, "mover", &e, 1, "ua", false, 3, &c, NULL), 0);
	assert_int_equal(st_peers_remove(pb, "gone", NULL), 1);
	e = ep("10.1.0.7:7777");
	assert_int_equal(st_peers_seen(pb, "late", &e, 1, "ua", false, 3, &c, NULL), 0);
	assert_int_equal(st_bans_remove(pb, "lifted", NULL), 1);
	assert_int_equal(st_peerbook_close(pb, NULL), 0);

	/* the lazy book holds the journal's peers, never the snapshot's 3000 */
	assert_true(lazy_peers_agree(f, true) < 20);

	/* a line of another peer damaged in place, as a disk damages it (its modification
	 * time kept: an edit that changes it makes the index stale): a whole read refuses
	 * the table, the lazy check never reads that line and answers as before */
	struct stat snap_sb;
	assert_int_equal(stat(snap, &snap_sb), 0);
	const struct timespec snap_times[2] = {snap_sb.st_atim, snap_sb.st_mtim};
	FILE *fp = fopen(snap, "r+");
	assert_non_null(fp);
	char *body = malloc((size_t)sb.st_size + 1 > 1 ? (size_t)4 << 20 : 1);
	size_t n = fread(body, 1, (size_t)4 << 20, fp);
	body[n] = '\0';
	char *victim = strstr(body, "\np-1500\t");
	assert_non_null(victim);
	victim[3] = '\t'; /* "p-\t500": a line that does not read */
	assert_int_equal(fseek(fp, 0, SEEK_SET), 0);
	assert_int_equal(fwrite(body, 1, n, fp), n);
	fclose(fp);
	assert_int_equal(utimensat(AT_FDCWD, snap, snap_times, 0), 0);
	assert_true(lazy_peers_agree(f, false) < 20);
	victim[3] = '1';
	fp = fopen(snap, "r+");
	assert_int_equal(fwrite(body, 1, n, fp), n);
	fclose(fp);
	assert_int_equal(utimensat(AT_FDCWD, snap, snap_times, 0), 0);
	free(body);

	/* an index whose entries point at the wrong lines, each with a right check: seen
	 * (the line has no endpoint of the entry's key), the table read whole */
	fp = fopen(path, "r+");
	assert_non_null(fp);
	char hdr[128];
	assert_non_null(fgets(hdr, sizeof hdr, fp));
	long hat = ftell(fp);
	body = malloc((size_t)sb.st_size + 64);
	n = fread(body, 1, (size_t)sb.st_size, fp);
	body[n] = '\0';
	char *seal = strstr(body, "end ");
	assert_non_null(seal);
	size_t sealed = (size_t)(seal - body);
	for (size_t i = 0; i + 27 <= sealed; i += 27) { /* every offset the first line's */
		char chk[8];
		memcpy(body + i + 9, "000000000000", 12);
		snprintf(chk, sizeof chk, "%04x", (unsigned)(st_crc32c(0, body + i, 22) & 0xffff));
		memcpy(body + i + 22, chk, 4);
	}
	assert_int_equal(fseek(fp, hat, SEEK_SET), 0);
	assert_int_equal(fwrite(body, 1, sealed, fp), sealed);
	fclose(fp);
	free(body);
	assert_true(lazy_peers_agree(f, true) > 3000);

	/* no index: read whole, the same answers; the next writer writes it again */
	assert_int_equal(unlink(path), 0);
	assert_true(lazy_peers_agree(f, true) > 3000);
	pb = open_rw(f);
	assert_int_equal(st_peerbook_close(pb, NULL), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_true(lazy_peers_agree(f, true) < 20);
}

static void peers_that_keep_moving_are_found_where_they_are_now(void **state)
{
	struct fx *f = *state;
	struct st_peerbook *pb = open_rw(f);
	struct st_peer_change c;
	struct st_err err = {0};
	char id[16], text[32];
	for (unsigned i = 0; i < 20000; i++) {
		snprintf(id, sizeof id, "p%u", i % 50);
		snprintf(text, sizeof text, "10.%u.%u.%u:1", i >> 16 & 255, i >> 8 & 255, i & 255);
		struct st_endpoint e = ep(text);
		assert_int_equal(st_peers_seen(pb, id, &e, 1, NULL, false, 10, &c, &err), 0);
	}
	/* p49 holds the last ST_PEER_ENDPOINTS of its endpoints; older ones name nobody */
	for (unsigned k = 0; k < ST_PEER_ENDPOINTS + 2; k++) {
		unsigned i = 19999 - 50 * k;
		snprintf(text, sizeof text, "10.%u.%u.%u:1", i >> 16 & 255, i >> 8 & 255, i & 255);
		struct st_endpoint e = ep(text);
		const struct st_peer *at = st_peers_at(pb, &e);
		if (k < ST_PEER_ENDPOINTS) {
			assert_non_null(at);
			assert_string_equal(at->id, "p49");
		} else {
			assert_null(at);
		}
	}
	/* an endpoint taken over by another peer names the newer owner */
	struct st_endpoint shared = ep("10.0.78.31:1"); /* i = 19999: p49's newest */
	assert_int_equal(st_peers_seen(pb, "p0", &shared, 1, NULL, false, 20, &c, &err), 0);
	assert_string_equal(st_peers_at(pb, &shared)->id, "p0");
	assert_int_equal(st_peerbook_close(pb, &err), 0);
	/* after a reload (the peers in table order): where they are, not where they were */
	pb = open_rw(f);
	struct st_endpoint now = ep("10.0.78.30:1"), old = ep("10.0.0.49:1");
	assert_string_equal(st_peers_at(pb, &now)->id, "p48");
	assert_null(st_peers_at(pb, &old));
	st_peerbook_free(pb);
}

/* ids a certificate can prove (only those are ever stored as verified) */
#define ID_V "st1cyitp3zsjhkaelss3ap26qbav4js75h7iarwb2"
#define ID_W "st12q5qm7qsodbtyowxsyupptmiyrpwrawhdwma45"
#define ID_I "st1gcs7w2m7oafiy7uldiglsc3d2prm4qzwkdcyey"
#define ID_J "st1mxfuoemo4umvxi3yj65zkyie7wjevqismpbsdr"

static void a_verified_id_is_never_overridden_by_a_claim(void **state)
{
	struct fx *f = *state;
	struct st_peerbook *pb = open_rw(f);
	struct st_peer_change c;
	struct st_err err = {0};
	struct st_endpoint a = ep("1.1.1.1:1"), b = ep("2.2.2.2:2");
	/* V claimed first at b, then proven at a: the claims' record is dropped */
	assert_int_equal(st_peers_seen(pb, ID_V, &b, 1, "claim/1", false, 5, &c, &err), 0);
	st_peers_failure(pb, ID_V, 3, 5, &c, NULL);
	assert_null(st_peers_verified_at(pb, &b)); /* held by a claim only */
	assert_int_equal(st_peers_seen(pb, ID_V, &a, 1, "real/1", true, 10, &c, &err), 0);
	const struct st_peer *p = st_peers_get(pb, ID_V);
	assert_true(p->verified);
	assert_int_equal(p->neps, 1);
	assert_int_equal(p->failures, 0);
	assert_int_equal(p->reputation, 0);
	assert_null(st_peers_at(pb, &b));
	assert_string_equal(st_peers_verified_at(pb, &a)->id, ID_V);
	/* a claim of V elsewhere changes nothing of V */
	assert_int_equal(st_peers_seen(pb, ID_V, &b, 2, "impostor/1", false, 20, &c, &err), 0);
	assert_true(c.claim_ignored);
	p = st_peers_get(pb, ID_V);
	assert_int_equal(p->neps, 1);
	assert_string_equal(p->user_agent, "real/1");
	assert_int_equal(p->version, 1);
	/* a claim of another id at V's endpoint is recorded, but a stays V's */
	assert_int_equal(st_peers_seen(pb, "X", &a, 1, NULL, false, 30, &c, &err), 0);
	assert_true(c.endpoint_kept);
	assert_string_equal(c.previous_id, ID_V);
	assert_int_equal(st_peers_get(pb, "X")->neps, 0);
	assert_string_equal(st_peers_at(pb, &a)->id, ID_V);
	assert_string_equal(st_peers_verified_at(pb, &a)->id, ID_V);
	/* through the glue: an unverified success or failure of V counts for nothing */
	struct st_conn_result claim = {.ep = b, .status = ST_STATUS_OK, .node_id = ID_V};
	assert_int_equal(st_glue_apply(NULL, pb, &claim, 40, &c, &err), 0);
	claim.status = ST_STATUS_PEER_ERROR;
	assert_int_equal(st_glue_apply(NULL, pb, &claim, 41, &c, &err), 0);
	p = st_peers_get(pb, ID_V);
	assert_int_equal(p->successes, 0);
	assert_int_equal(p->failures, 0);
	/* only another verified id takes the endpoint (TOFU's identity change) */
	assert_int_equal(st_peers_seen(pb, ID_W, &a, 1, NULL, true, 50, &c, &err), 0);
	assert_true(c.changed_id);
	assert_string_equal(c.previous_id, ID_V);
	assert_string_equal(st_peers_verified_at(pb, &a)->id, ID_W);
	/* it all survives a reopen */
	assert_int_equal(st_peerbook_close(pb, &err), 0);
	pb = open_rw(f);
	assert_string_equal(st_peers_verified_at(pb, &a)->id, ID_W);
	assert_true(st_peers_get(pb, ID_V)->verified);
	assert_false(st_peers_get(pb, "X")->verified);
	st_peerbook_free(pb);
}

static void a_proven_failure_lands_on_the_proven_id(void **state)
{
	struct fx *f = *state;
	struct st_peerbook *pb = open_rw(f);
	struct st_peer_change c;
	struct st_err err = {0};
	struct st_endpoint a = ep("1.1.1.1:1");
	assert_int_equal(st_peers_seen(pb, ID_V, &a, 1, NULL, true, 10, &c, &err), 0);
	/* an impostor at a claims V, its certificate proves I: I is recorded and failed */
	struct st_conn_result r = {.ep = a, .status = ST_STATUS_IDENTITY_MISMATCH, .node_id = ID_I,
	                           .verified = true};
	assert_int_equal(st_glue_apply(NULL, pb, &r, 20, &c, &err), 0);
	assert_int_equal(st_peers_get(pb, ID_I)->failures, 1);
	assert_true(st_peers_get(pb, ID_I)->verified);
	assert_int_equal(st_peers_get(pb, ID_V)->failures, 0);
	/* identity-changed, refused by us, changes no book */
	r.status = ST_STATUS_IDENTITY_CHANGED;
	r.node_id = ID_J;
	assert_int_equal(st_glue_apply(NULL, pb, &r, 30, &c, &err), 0);
	assert_null(st_peers_get(pb, ID_J));
	st_peerbook_free(pb);
}

/* Each number of a peers line reads in its field's range: out of it is damage named by
 * the field, never a value wrapped by a cast (successes -1 once read as 4294967295). */
static void each_number_of_a_peer_line_has_its_own_range(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *fields, *name; /* reputation successes failures consecutive version */
		bool ok;
	} cases[] = {
		{"0\t1\t0\t0\t1", NULL, true},
		{"-2147483648\t4294967295\t4294967295\t4294967295\t2147483647", NULL, true},
		{"0\t-1\t0\t0\t1", "successes", false},
		{"0\t4294967296\t0\t0\t1", "successes", false},
		{"0\t0\t-1\t0\t1", "failures", false},
		{"0\t0\t0\t-1\t1", "consecutive_failures", false},
		{"1099511627776\t0\t0\t0\t1", "reputation", false},
		{"2147483648\t0\t0\t0\t1", "reputation", false},
		{"-2147483649\t0\t0\t0\t1", "reputation", false},
		{"0\t0\t0\t0\t2147483648", "version", false},
		{"0\t0\t0\t0\t-2147483649", "version", false},
	};
	f->cfg.repair_auto = false;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char path[ST_PATH_MAX + 16];
		snprintf(path, sizeof path, "%s/peers.tsv", f->dir);
		FILE *out = fopen(path, "w");
		assert_non_null(out);
		fprintf(out, "#st peers %d gen 1\nn1\t10\t20\t%s\t0\t1.2.3.4:7\tua\n",
		        ST_PEERS_FORMAT_VERSION, cases[i].fields);
		fclose(out);
		struct st_peerbook *pb;
		struct st_err err = {0};
		int rc = st_peerbook_open(&pb, &f->cfg, ST_STORE_READ, &err);
		if (cases[i].ok) {
			assert_int_equal(rc, 0);
			assert_non_null(st_peers_get(pb, "n1"));
			st_peerbook_free(pb);
			continue;
		}
		assert_int_equal(rc, -1);
		assert_int_equal(err.code, ST_EX_DATAERR);
		assert_non_null(strstr(err.msg, cases[i].name));
	}
	/* the extremes read back as they were written */
	struct st_peerbook *pb;
	struct st_err err = {0};
	char path[ST_PATH_MAX + 16];
	snprintf(path, sizeof path, "%s/peers.tsv", f->dir);
	FILE *out = fopen(path, "w");
	assert_non_null(out);
	fprintf(out, "#st peers %d gen 1\nn1\t10\t20\t-2147483648\t4294967295\t7\t4294967295\t"
	        "2147483647\t0\t1.2.3.4:7\tua\n", ST_PEERS_FORMAT_VERSION);
	fclose(out);
	assert_int_equal(st_peerbook_open(&pb, &f->cfg, ST_STORE_READ, &err), 0);
	const struct st_peer *p = st_peers_get(pb, "n1");
	assert_non_null(p);
	assert_int_equal(p->reputation, INT32_MIN);
	assert_true(p->successes == UINT32_MAX && p->failures == 7 &&
	            p->consecutive_failures == UINT32_MAX && p->version == INT32_MAX);
	st_peerbook_free(pb);
}

/* st_peerbook_open_for reads the snapshot lines of the ids and endpoints it is given
 * (and the journal): their answers are the whole table's, and the rest is not read. */
static void a_book_opened_for_some_ids_reads_their_lines_only(void **state)
{
	struct fx *f = *state;
	struct st_peerbook *pb = open_rw(f);
	struct st_peer_change c;
	char id[32], at[32];
	for (int i = 0; i < 2000; i++) { /* enough journal for a compaction at close */
		snprintf(id, sizeof id, "p-%d", i);
		snprintf(at, sizeof at, "10.1.%d.%d:7777", i / 256, i % 256);
		struct st_endpoint e = ep(at);
		assert_int_equal(st_peers_seen(pb, id, &e, 1, "ua", false, 2, &c, NULL), 0);
	}
	/* p-7 moves to p-8's endpoint: it is p-7's now */
	struct st_endpoint e8 = ep("10.1.0.8:7777");
	assert_int_equal(st_peers_seen(pb, "p-7", &e8, 1, "ua", false, 3, &c, NULL), 0);
	for (int i = 0; i < 500; i += 2) {
		snprintf(id, sizeof id, "p-%d", i);
		assert_int_equal(st_peers_success(pb, id, 4, NULL), 1);
	}
	assert_int_equal(st_peerbook_close(pb, NULL), 0); /* into the snapshot, with its index */
	char path[ST_PATH_MAX + 16];
	snprintf(path, sizeof path, "%s/peers.index", f->dir);
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	/* the journal on top: p-20 moves to p-9's endpoint, p-30 is removed */
	pb = open_rw(f);
	struct st_endpoint e9 = ep("10.1.0.9:7777");
	assert_int_equal(st_peers_seen(pb, "p-20", &e9, 1, "ua", false, 5, &c, NULL), 0);
	assert_int_equal(st_peers_remove(pb, "p-30", NULL), 1);
	assert_int_equal(st_peerbook_close(pb, NULL), 0);

	const char *ids[] = {"p-4", "p-30", "nobody", "p-7"};
	struct st_endpoint eps[] = {e8, e9, ep("10.1.1.44:7777"), ep("10.1.0.7:7777")};
	struct st_peerbook_want want = {ids, 4, eps, 4};
	struct st_err err = {0};
	/* what the whole table says */
	struct st_peerbook *full;
	assert_int_equal(st_peerbook_open(&full, &f->cfg, ST_STORE_READ, &err), 0);
	assert_int_equal(st_peerbook_open_for(&pb, &f->cfg, ST_STORE_WRITE, &want, &err), 0);
	assert_true(st_peerbook_partial(pb));
	for (size_t i = 0; i < 4; i++) {
		const struct st_peer *x = st_peers_get(full, ids[i]), *y = st_peers_get(pb, ids[i]);
		assert_true(!x == !y);
		assert_true(!x || (x->successes == y->successes && x->last_seen == y->last_seen &&
		                   x->neps == y->neps));
		x = st_peers_at(full, &eps[i]);
		y = st_peers_at(pb, &eps[i]);
		assert_true(!x == !y);
		if (x)
			assert_string_equal(x->id, y->id);
	}
	assert_int_equal(st_peers_get(pb, "p-4")->successes, 1);
	assert_null(st_peers_get(pb, "p-30"));
	assert_string_equal(st_peers_at(pb, &e9)->id, "p-20");
	assert_string_equal(st_peers_at(pb, &eps[2])->id, "p-300");
	assert_null(st_peers_get(pb, "p-5")); /* not asked for: not read */
	assert_non_null(st_peers_get(full, "p-5"));
	size_t n = 0;
	for (size_t i = 0; i < st_peers_slots(pb); i++)
		n += st_peers_slot(pb, i) != NULL;
	assert_true(n < 10);
	st_peerbook_free(pb);

	/* without the index: read whole */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(st_peerbook_open_for(&pb, &f->cfg, ST_STORE_READ, &want, &err), 0);
	assert_false(st_peerbook_partial(pb));
	assert_non_null(st_peers_get(pb, "p-5"));
	st_peerbook_free(pb);
	st_peerbook_free(full);
	assert_int_equal(st_peerbook_open_for(&pb, &f->cfg, ST_STORE_READ | ST_PEERBOOK_LAZY, &want,
	                                      &err), -1);
}

/* A packed book (list, best) against the whole one: the same peers in every order, the
 * same records, the same verdict on each. Returns how many peers they hold. */
static size_t packed_agrees(struct fx *f, int64_t now)
{
	struct st_peerbook *full, *pk;
	struct st_err err = {0};
	if (st_peerbook_open(&full, &f->cfg, ST_STORE_READ, &err) < 0 ||
	    st_peerbook_open(&pk, &f->cfg, ST_STORE_READ | ST_PEERBOOK_PACKED | ST_PEERBOOK_VERDICTS,
	                     &err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(st_peers_slots(pk), st_peers_slots(full));
	size_t live = 0;
	for (size_t i = 0; i < st_peers_slots(full); i++) {
		const struct st_peer *x = st_peers_slot(full, i);
		struct st_peer y;
		assert_int_equal(st_peers_read(pk, i, &y), x != NULL);
		assert_null(st_peers_slot(pk, i));
		if (!x)
			continue;
		live++;
		assert_string_equal(y.id, x->id);
		assert_int_equal(y.first_seen, x->first_seen);
		assert_int_equal(y.last_seen, x->last_seen);
		assert_int_equal(y.reputation, x->reputation);
		assert_int_equal(y.successes, x->successes);
		assert_int_equal(y.failures, x->failures);
		assert_int_equal(y.consecutive_failures, x->consecutive_failures);
		assert_int_equal(y.version, x->version);
		assert_int_equal(y.verified, x->verified);
		assert_string_equal(y.user_agent, x->user_agent);
		assert_int_equal(y.neps, x->neps);
		assert_false(y.deleted);
		assert_memory_equal(y.eps, x->eps, y.neps * sizeof y.eps[0]);
		struct st_ban_query q;
		st_ban_query_set(&q, y.neps ? &y.eps[0] : NULL, y.id);
		assert_int_equal(st_bans_banned(pk, &q, now), st_bans_verdict(full, &q, now) != NULL);
		assert_int_equal(st_bans_banned(full, &q, now), st_bans_verdict(full, &q, now) != NULL);
		assert_null(st_bans_verdict(pk, &q, now));
		for (size_t k = 1; k < y.neps; k++) { /* the older endpoints, without the id */
			st_ban_query_set(&q, &y.eps[k], NULL);
			assert_int_equal(st_bans_banned(pk, &q, now),
			                 st_bans_verdict(full, &q, now) != NULL);
		}
	}
	static const enum st_peers_order orders[] = {ST_PEERS_BY_ID, ST_PEERS_BY_REPUTATION,
	                                             ST_PEERS_BY_LAST_SEEN};
	for (size_t o = 0; o < 3; o++) {
		uint32_t *a, *b;
		size_t na, nb;
		assert_int_equal(st_peers_sorted(full, orders[o], &a, &na, NULL), 0);
		assert_int_equal(st_peers_sorted(pk, orders[o], &b, &nb, NULL), 0);
		assert_int_equal(na, live);
		assert_int_equal(nb, live);
		assert_memory_equal(a, b, na * sizeof *a);
		for (size_t i = 1; i < na; i++) {
			const struct st_peer *x = st_peers_slot(full, a[i - 1]), *y = st_peers_slot(full, a[i]);
			int c = strcmp(x->id, y->id);
			if (orders[o] == ST_PEERS_BY_REPUTATION && x->reputation != y->reputation)
				c = x->reputation > y->reputation ? -1 : 1;
			if (orders[o] == ST_PEERS_BY_LAST_SEEN && x->last_seen != y->last_seen)
				c = x->last_seen > y->last_seen ? -1 : 1;
			assert_true(c < 0);
		}
		free(a);
		free(b);
	}
	st_peerbook_free(pk);
	st_peerbook_free(full);
	return live;
}

static void a_packed_book_reads_and_judges_as_the_whole_book(void **state)
{
	struct fx *f = *state;
	struct st_peer_change c;
	/* a packed book is read whole, read-only */
	struct st_peerbook *pb;
	assert_int_equal(st_peerbook_open(&pb, &f->cfg, ST_STORE_WRITE | ST_PEERBOOK_PACKED, NULL), -1);
	assert_int_equal(st_peerbook_open(&pb, &f->cfg, ST_STORE_WRITE | ST_PEERBOOK_VERDICTS, NULL),
	                 -1);
	assert_int_equal(st_peerbook_open(&pb, &f->cfg, ST_STORE_READ | ST_PEERBOOK_PACKED |
	                                  ST_PEERBOOK_LAZY, NULL), -1);
	assert_int_equal(packed_agrees(f, 10), 0);

	/* every number at the ends of its range, times out of order, endpoints of each kind */
	char path[600];
	snprintf(path, sizeof path, "%s/peers.tsv", f->dir);
	FILE *out = fopen(path, "w");
	assert_non_null(out);
	fprintf(out, "#st peers %d gen 1\n"
	        ID_V "\t253402300799\t0\t-2147483648\t4294967295\t"
	        "4294967295\t4294967295\t2147483647\t1\t1.2.3.4:7,[::1]:65535,[2001:db8::1]:1,"
	        "0.0.0.0:1\t%s\n"
	        "n2\t5\t3\t2147483647\t0\t0\t0\t-2147483648\t0\t\t\n",
	        ST_PEERS_FORMAT_VERSION,
	        "0123456789012345678901234567890123456789012345678901234567890123456789"
	        "012345678901234567890123456789012345678901234567890123456789");
	fclose(out);
	assert_int_equal(packed_agrees(f, 10), 2);
	assert_int_equal(unlink(path), 0);

	pb = open_rw(f);
	char id[64], e[64];
	/* enough peers that the journal is compacted into a snapshot */
	for (int i = 0; i < 3000; i++) {
		snprintf(id, sizeof id, "p-%d", i);
		if (i % 7 == 0)
			snprintf(e, sizeof e, "[2001:db8::%x]:%d", i, 1000 + i % 50);
		else
			snprintf(e, sizeof e, "10.%d.%d.%d:%d", i / 1000, (i / 10) % 256, i % 10, 7777);
		struct st_endpoint a = ep(e);
		assert_int_equal(st_peers_seen(pb, id, &a, i % 4, i % 3 ? "st/0.1" : "", i % 5 == 0,
		                               1000 + i % 17, &c, NULL), 0);
		if (i % 11 == 0) { /* a second endpoint, the first one older */
			snprintf(e, sizeof e, "10.%d.%d.%d:8888", 50 + i / 1000, (i / 10) % 256, i % 10);
			struct st_endpoint a2 = ep(e);
			assert_int_equal(st_peers_seen(pb, id, &a2, 0, NULL, false, 2000, &c, NULL), 0);
		}
		if (i % 3 == 0)
			assert_int_equal(st_peers_success(pb, id, 3000 + i % 5, NULL), 1);
		if (i % 4 == 0)
			assert_int_equal(st_peers_failure(pb, id, 1 + i % 3, 3000, &c, NULL), 1);
	}
	/* bans of every kind: ids, an address, subnets, a derived id */
	assert_int_equal(st_bans_add(pb, "p-10", 0, false, "", 1, NULL, NULL), 0);
	assert_int_equal(st_bans_add(pb, "10.0.5.0/24", 0, false, "", 1, NULL, NULL), 0);
	assert_int_equal(st_bans_add(pb, "10.1.0.3", 0, false, "", 1, NULL, NULL), 0);
	assert_int_equal(st_bans_add(pb, "2001:db8::/120", 0, false, "", 1, NULL, NULL), 0);
	assert_int_equal(st_bans_add(pb, "p-20", 50, false, "", 1, NULL, NULL), 0); /* expires */
	char derived[ST_NODE_ID_MAX + 1];
	struct st_endpoint d = ep("10.2.9.9:7777");
	st_peers_derived_id(&d, derived, sizeof derived);
	assert_int_equal(st_bans_add(pb, derived, 0, false, "", 1, NULL, NULL), 0);
	assert_int_equal(st_peerbook_close(pb, NULL), 0);
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(packed_agrees(f, 10), 3000);
	assert_int_equal(packed_agrees(f, 100), 3000); /* p-20's ban has run out */

	/* the journal on top: a shared endpoint whose owner is banned, a peer that moved off
	 * an endpoint, removed peers (one re-added), a peer at the derived id's endpoint,
	 * a ban lifted, times out of order */
	pb = open_rw(f);
	struct st_endpoint shared = ep("10.0.0.1:7777"), moved = ep("10.0.0.2:7777");
	assert_int_equal(st_peers_seen(pb, "owner", &shared, 1, "x", false, 5000, &c, NULL), 0);
	assert_int_equal(st_bans_add(pb, "owner", 0, false, "", 1, NULL, NULL), 0);
	assert_int_equal(st_peers_seen(pb, "p-2", &moved, 1, "x", false, 5001, &c, NULL), 0);
	assert_int_equal(st_peers_remove(pb, "p-3", NULL), 1);
	assert_int_equal(st_peers_remove(pb, "p-4", NULL), 1);
	struct st_endpoint back = ep("10.0.9.9:7777");
	assert_int_equal(st_peers_seen(pb, "p-4", &back, 0, NULL, false, 900, &c, NULL), 0);
	assert_int_equal(st_peers_seen(pb, "at-derived", &d, 0, NULL, false, 5002, &c, NULL), 0);
	for (int k = 0; k < 6; k++) { /* past four endpoints the oldest are dropped */
		snprintf(e, sizeof e, "10.0.0.%d:7777", 10 + k);
		struct st_endpoint a = ep(e);
		assert_int_equal(st_peers_seen(pb, "roamer", &a, 0, NULL, false, 5010 + k, &c, NULL), 0);
	}
	assert_int_equal(st_bans_remove(pb, "10.1.0.3", NULL), 1);
	assert_int_equal(st_bans_add(pb, "late", 0, false, "", 1, NULL, NULL), 0);
	assert_int_equal(st_peers_seen(pb, "late", &moved, 9, "y", false, 5003, &c, NULL), 0);
	assert_int_equal(st_peers_remove(pb, "late", NULL), 1);
	assert_int_equal(st_peerbook_close(pb, NULL), 0);
	assert_int_equal(packed_agrees(f, 10), 3002);

	/* the peer at the shared endpoint is seen there banned by its owner */
	assert_int_equal(st_peerbook_open(&pb, &f->cfg, ST_STORE_READ | ST_PEERBOOK_PACKED |
	                                  ST_PEERBOOK_VERDICTS, NULL), 0);
	struct st_ban_query q;
	st_ban_query_set(&q, &shared, "p-1");
	assert_true(st_bans_banned(pb, &q, 10));
	st_ban_query_set(&q, &moved, "p-1");
	assert_false(st_bans_banned(pb, &q, 10));
	st_peerbook_free(pb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(an_id_that_would_break_a_stored_line_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(reputation_and_both_ban_thresholds, setup, teardown),
		cmocka_unit_test_setup_teardown(a_verified_id_is_never_overridden_by_a_claim, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(a_proven_failure_lands_on_the_proven_id, setup, teardown),
		cmocka_unit_test_setup_teardown(bans_extend_only_and_expire, setup, teardown),
		cmocka_unit_test_setup_teardown(subnet_and_address_bans_match_endpoints, setup, teardown),
		cmocka_unit_test_setup_teardown(tables_survive_reopen_and_ids_follow_endpoints, setup, teardown),
		cmocka_unit_test_setup_teardown(glue_follows_the_seed_design, setup, teardown),
		cmocka_unit_test_setup_teardown(an_unlocked_reader_keeps_its_bans_and_lets_a_writer_in, setup, teardown),
		cmocka_unit_test_setup_teardown(verdict_on_an_endpoint_sees_the_ban_on_the_peer_last_seen_there, setup, teardown),
		cmocka_unit_test_setup_teardown(verdict_sees_a_derived_id_ban_without_the_peers_table, setup, teardown),
		cmocka_unit_test_setup_teardown(verdict_checks_the_id_then_the_address_then_subnets, setup, teardown),
		cmocka_unit_test_setup_teardown(ban_queries_take_every_form_and_refuse_the_rest, setup, teardown),
		cmocka_unit_test_setup_teardown(a_reader_of_a_missing_book_sees_no_bans_and_creates_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(peers_that_keep_moving_are_found_where_they_are_now, setup, teardown),
		cmocka_unit_test_setup_teardown(a_lazy_check_answers_as_the_whole_table, setup, teardown),
		cmocka_unit_test_setup_teardown(a_lazy_endpoint_check_reads_only_the_lines_of_that_endpoint,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(each_number_of_a_peer_line_has_its_own_range, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(a_book_opened_for_some_ids_reads_their_lines_only, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(a_packed_book_reads_and_judges_as_the_whole_book, setup,
		                                teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
