/* test_session.c - dialer and listener state machines talking to each other in memory. */
#include "unit.h"

#include <time.h>

#include "st/session.h"

struct seen {
	int handshakes, pongs, peers, getpeers, other;
	int64_t rtt;
	size_t npeers;
	struct st_endpoint answer[3];
	size_t nanswer;
};

static void on_event(void *ctx, struct st_session *s, struct st_session_event *ev)
{
	(void)s;
	struct seen *w = ctx;
	switch (ev->kind) {
	case ST_EV_HANDSHAKE: w->handshakes++; break;
	case ST_EV_PONG: w->pongs++; w->rtt = ev->rtt_ms; break;
	case ST_EV_PEERS: w->peers++; w->npeers = ev->npeers; break;
	case ST_EV_GETPEERS:
		w->getpeers++;
		memcpy(ev->reply, w->answer, w->nanswer * sizeof *w->answer);
		ev->nreply = w->nanswer;
		break;
	default: w->other++; break;
	}
}

static struct st_handshake local(const char *id, uint64_t nonce)
{
	struct st_handshake h = {.version = 1, .timestamp = 1, .has_ext = true, .has_nonce = true,
	                         .nonce = nonce};
	strcpy(h.node_id, id);
	strcpy(h.user_agent, "test/1");
	return h;
}

/* Moves bytes both ways until neither side has anything to send. */
static void shuttle(struct st_session *a, struct st_session *b, int64_t now)
{
	for (int i = 0; i < 10 && (a->out.len || b->out.len); i++) {
		if (a->out.len) {
			struct st_buf tmp = a->out;
			st_buf_init(&a->out, tmp.max);
			st_session_input(b, (uint8_t *)tmp.data, tmp.len, now);
			st_buf_clear(&tmp);
		}
		if (b->out.len) {
			struct st_buf tmp = b->out;
			st_buf_init(&b->out, tmp.max);
			st_session_input(a, (uint8_t *)tmp.data, tmp.len, now);
			st_buf_clear(&tmp);
		}
	}
}

static void handshake_ping_and_getpeers(void **state)
{
	(void)state;
	struct seen dw = {0}, lw = {0};
	struct st_session d, l;
	struct st_handshake hd = local("dialer", 1), hl = local("listener", 2);
	st_endpoint_parse(&lw.answer[0], "8.8.8.8:7777", 12, NULL);
	st_endpoint_parse(&lw.answer[1], "9.9.9.9:7777", 12, NULL);
	lw.nanswer = 2;
	assert_int_equal(st_session_init(&d, true, &hd, 0, on_event, &dw, NULL), 0);
	assert_int_equal(st_session_init(&l, false, &hl, 0, on_event, &lw, NULL), 0);
	assert_int_equal(d.state, ST_SESS_WAIT_ACK);
	shuttle(&d, &l, 1000);
	assert_int_equal(d.state, ST_SESS_READY);
	assert_int_equal(l.state, ST_SESS_READY);
	assert_string_equal(d.remote->node_id, "listener");
	assert_string_equal(l.remote->node_id, "dialer");
	assert_int_equal(dw.handshakes, 1);
	assert_int_equal(st_session_ping(&d, 1000), 0);
	st_session_input(&l, (uint8_t *)d.out.data, d.out.len, 1000);
	st_buf_reset(&d.out);
	st_session_input(&d, (uint8_t *)l.out.data, l.out.len, 1042);
	st_buf_reset(&l.out);
	assert_int_equal(dw.pongs, 1);
	assert_int_equal(dw.rtt, 42);
	assert_int_equal(st_session_getpeers(&d, 1, NULL, 0), 0);
	shuttle(&d, &l, 2000);
	assert_int_equal(lw.getpeers, 1);
	assert_int_equal(dw.peers, 1);
	assert_int_equal(dw.npeers, 1); /* max_count 1 honoured */
	/* the listener keeps nothing of a GetPeers it answered (40 KB per idle session
	 * otherwise); the dialer keeps the Peers it asked for, for its result */
	assert_null(l.peers);
	assert_non_null(d.peers);
	assert_memory_equal(&d.peers[0], &lw.answer[0], sizeof lw.answer[0]);
	/* a Peers the listener never asked for is read and dropped */
	struct st_buf unasked;
	st_buf_init(&unasked, ST_FRAME_MAX + 64);
	assert_int_equal(st_wire_peers(&unasked, lw.answer, 2, NULL), 0);
	st_session_input(&l, (uint8_t *)unasked.data, unasked.len, 2000);
	st_buf_clear(&unasked);
	assert_int_equal(lw.peers, 1);
	assert_int_equal(lw.npeers, 2);
	assert_null(l.peers);
	assert_int_equal(l.state, ST_SESS_READY);
	st_session_clear(&d);
	st_session_clear(&l);
}

/* The Ping's timestamp is seconds since boot, as the reference node sends it,
 * and its nonce comes from the OS random source: two Pings of one session at
 * one instant differ (a nonce made of the time and an address would not). */
static void ping_timestamp_is_boot_time_and_nonce_random(void **state)
{
	(void)state;
	struct seen dw = {0}, lw = {0};
	struct st_session d, l;
	struct st_handshake hd = local("dialer", 1), hl = local("listener", 2);
	assert_int_equal(st_session_init(&d, true, &hd, 0, on_event, &dw, NULL), 0);
	assert_int_equal(st_session_init(&l, false, &hl, 0, on_event, &lw, NULL), 0);
	shuttle(&d, &l, 5000);
	int64_t nonce[2], ts[2];
	for (int i = 0; i < 2; i++) {
		struct timespec before, after;
		clock_gettime(CLOCK_BOOTTIME, &before);
		st_buf_reset(&d.out);
		assert_int_equal(st_session_ping(&d, 5000), 0);
		clock_gettime(CLOCK_BOOTTIME, &after);
		assert_int_equal(d.out.len, 5 + 16);
		assert_int_equal((uint8_t)d.out.data[4], ST_MSG_PING);
		assert_int_equal(st_decode_ping((uint8_t *)d.out.data + 5, 16, &nonce[i], &ts[i]),
		                 ST_WIRE_OK);
		assert_true(ts[i] >= before.tv_sec && ts[i] <= after.tv_sec);
		assert_int_equal(nonce[i], d.ping_nonce);
	}
	assert_true(nonce[0] != nonce[1]);
	/* the Pong echoes it and is matched */
	st_session_input(&l, (uint8_t *)d.out.data, d.out.len, 5000);
	st_buf_reset(&d.out);
	st_session_input(&d, (uint8_t *)l.out.data, l.out.len, 5007);
	assert_int_equal(dw.pongs, 1);
	assert_int_equal(dw.rtt, 7);
	st_session_clear(&d);
	st_session_clear(&l);
}

static void self_connection_is_detected_by_nonce(void **state)
{
	(void)state;
	struct seen dw = {0}, lw = {0};
	struct st_session d, l;
	struct st_handshake same = local("me", 77);
	st_session_init(&d, true, &same, 0, on_event, &dw, NULL);
	st_session_init(&l, false, &same, 0, on_event, &lw, NULL);
	shuttle(&d, &l, 0);
	assert_int_equal(l.state, ST_SESS_CLOSED);
	assert_int_equal(l.reason, ST_CLOSE_SELF);
	assert_string_equal(st_close_reason_name(l.reason), "self");
	st_session_clear(&d);
	st_session_clear(&l);
}

static void version_mismatch_closes(void **state)
{
	(void)state;
	struct seen dw = {0}, lw = {0};
	struct st_session d, l;
	struct st_handshake v2 = local("new", 1), v1 = local("old", 2);
	v2.version = 2;
	st_session_init(&d, true, &v2, 0, on_event, &dw, NULL);
	st_session_init(&l, false, &v1, 0, on_event, &lw, NULL);
	shuttle(&d, &l, 0);
	assert_int_equal(l.reason, ST_CLOSE_VERSION);
	assert_string_equal(l.detail, "peer speaks version 2, we speak 1");
	assert_int_equal(st_session_ping(&l, 0), -1);
	st_session_clear(&d);
	st_session_clear(&l);
}

static void messages_before_the_handshake_are_violations(void **state)
{
	(void)state;
	struct seen lw = {0};
	struct st_session l;
	struct st_handshake h = local("l", 2);
	st_session_init(&l, false, &h, 0, on_event, &lw, NULL);
	struct st_buf b;
	st_buf_init(&b, 1024);
	st_wire_ping(&b, ST_MSG_PING, 1, 1, NULL);
	assert_int_equal(st_session_input(&l, (uint8_t *)b.data, b.len, 0), -1);
	assert_int_equal(l.reason, ST_CLOSE_UNEXPECTED);
	assert_string_equal(l.detail, "Ping before the handshake");
	assert_string_equal(st_close_reason_name(l.reason), "protocol-error");
	st_buf_clear(&b);
	st_session_clear(&l);
}

static void garbage_and_error_messages(void **state)
{
	(void)state;
	struct seen dw = {0};
	struct st_session d;
	struct st_handshake h = local("d", 1);
	st_session_init(&d, true, &h, 0, on_event, &dw, NULL);
	const uint8_t zero[] = {0, 0, 0, 0, 2};
	assert_int_equal(st_session_input(&d, zero, sizeof zero, 0), -1);
	assert_int_equal(d.reason, ST_CLOSE_PROTOCOL);
	assert_string_equal(d.detail, "frame: zero-length frame");
	st_session_clear(&d);
	st_session_init(&d, true, &h, 0, on_event, &dw, NULL);
	struct st_buf b;
	st_buf_init(&b, 1024);
	st_wire_frame(&b, ST_MSG_ERROR, "go away", 7, NULL);
	assert_int_equal(st_session_input(&d, (uint8_t *)b.data, b.len, 0), -1);
	assert_int_equal(d.reason, ST_CLOSE_PEER_ERROR);
	assert_string_equal(d.detail, "go away");
	st_buf_clear(&b);
	st_session_clear(&d);
}

static void chain_messages_are_passed_over_and_timeouts_close(void **state)
{
	(void)state;
	struct seen dw = {0}, lw = {0};
	struct st_session d, l;
	struct st_handshake hd = local("d", 1), hl = local("l", 2);
	st_session_init(&d, true, &hd, 0, on_event, &dw, NULL);
	st_session_init(&l, false, &hl, 0, on_event, &lw, NULL);
	shuttle(&d, &l, 0);
	st_session_raw(&d, 0x20, (const uint8_t *)"xy", 2);
	shuttle(&d, &l, 0);
	assert_int_equal(lw.other, 1);
	assert_int_equal(l.state, ST_SESS_READY);
	/* a second handshake is out of order */
	st_wire_handshake(&d.out, ST_MSG_HANDSHAKE, &hd, NULL);
	shuttle(&d, &l, 0);
	assert_int_equal(l.reason, ST_CLOSE_UNEXPECTED);
	st_session_timeout(&d, "no pong");
	assert_int_equal(d.reason, ST_CLOSE_TIMEOUT);
	st_session_clear(&d);
	st_session_clear(&l);
}

static void ratelimit_one_answer_per_interval_per_address(void **state)
{
	(void)state;
	struct st_ratelimit *r = malloc(sizeof *r);
	st_ratelimit_init(r, 300);
	struct st_endpoint a, a2, b;
	st_endpoint_parse(&a, "1.2.3.4:1000", 12, NULL);
	st_endpoint_parse(&a2, "1.2.3.4:2000", 12, NULL);
	st_endpoint_parse(&b, "5.6.7.8:1000", 12, NULL);
	assert_true(st_ratelimit_allow(r, &a, 1000));
	assert_false(st_ratelimit_allow(r, &a2, 1100)); /* same address, other port */
	assert_true(st_ratelimit_allow(r, &b, 1100));
	assert_true(st_ratelimit_allow(r, &a, 1300));
	free(r);
}

static struct st_endpoint addr(const char *s)
{
	struct st_endpoint e;
	assert_int_equal(st_endpoint_parse(&e, s, strlen(s), NULL), 0);
	return e;
}

/* Two addresses that shared a slot of the old fixed-key table: alternating got 19 of 20. */
static void ratelimit_alternating_addresses_do_not_bypass(void **state)
{
	(void)state;
	struct st_ratelimit *r = malloc(sizeof *r);
	st_ratelimit_init(r, 300);
	struct st_endpoint a = addr("127.2.0.1:9000"), b = addr("127.3.1.229:9000");
	int answered = 0;
	for (int i = 0; i < 20; i++)
		answered += st_ratelimit_allow(r, i % 2 ? &b : &a, 1000 + i);
	assert_int_equal(answered, 2);
	free(r);
}

/* Every requester keeps its own limit: none is lost to another's hash. */
static void ratelimit_many_requesters_each_limited(void **state)
{
	(void)state;
	struct st_ratelimit *r = malloc(sizeof *r);
	st_ratelimit_init(r, 300);
	char s[32];
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 300; i++) {
			snprintf(s, sizeof s, "10.%d.%d.1:1", i / 256, i % 256); /* its own /24 */
			struct st_endpoint e = addr(s);
			assert_int_equal(st_ratelimit_allow(r, &e, 1000 + round), round == 0);
		}
	assert_int_equal(r->evicted, 0);
	free(r);
}

/* Hopping over the addresses of one /24 gets ST_RATELIMIT_PER_NET answers an interval. */
static void ratelimit_per_ipv4_24(void **state)
{
	(void)state;
	struct st_ratelimit *r = malloc(sizeof *r);
	st_ratelimit_init(r, 300);
	char s[32];
	int answered = 0;
	for (int i = 1; i <= 40; i++) {
		snprintf(s, sizeof s, "127.5.5.%d:1", i);
		struct st_endpoint e = addr(s);
		answered += st_ratelimit_allow(r, &e, 1000);
	}
	assert_int_equal(answered, ST_RATELIMIT_PER_NET);
	struct st_endpoint other = addr("127.5.6.1:1"); /* the next /24 has its own */
	assert_true(st_ratelimit_allow(r, &other, 1000));
	/* one more each interval / PER_NET seconds, to an address not answered yet */
	struct st_endpoint late = addr("127.5.5.200:1"), later = addr("127.5.5.201:1");
	assert_false(st_ratelimit_allow(r, &late, 1000 + 300 / ST_RATELIMIT_PER_NET - 1));
	assert_true(st_ratelimit_allow(r, &late, 1000 + 300 / ST_RATELIMIT_PER_NET + 1));
	assert_false(st_ratelimit_allow(r, &later, 1000 + 300 / ST_RATELIMIT_PER_NET + 1));
	/* after a whole interval the network's allowance is back */
	struct st_endpoint first = addr("127.5.5.1:1");
	assert_true(st_ratelimit_allow(r, &first, 1000 + 300 + 300 / ST_RATELIMIT_PER_NET + 1));
	free(r);
}

static void ratelimit_per_ipv6_48(void **state)
{
	(void)state;
	struct st_ratelimit *r = malloc(sizeof *r);
	st_ratelimit_init(r, 300);
	char s[64];
	int answered = 0;
	for (int i = 1; i <= 40; i++) {
		snprintf(s, sizeof s, "[2001:db8:1:%x::1]:1", i); /* one /48, many /64s */
		struct st_endpoint e = addr(s);
		answered += st_ratelimit_allow(r, &e, 1000);
	}
	assert_int_equal(answered, ST_RATELIMIT_PER_NET);
	struct st_endpoint other = addr("[2001:db8:2::1]:1");
	assert_true(st_ratelimit_allow(r, &other, 1000));
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(handshake_ping_and_getpeers),
		cmocka_unit_test(ping_timestamp_is_boot_time_and_nonce_random),
		cmocka_unit_test(self_connection_is_detected_by_nonce),
		cmocka_unit_test(version_mismatch_closes),
		cmocka_unit_test(messages_before_the_handshake_are_violations),
		cmocka_unit_test(garbage_and_error_messages),
		cmocka_unit_test(chain_messages_are_passed_over_and_timeouts_close),
		cmocka_unit_test(ratelimit_one_answer_per_interval_per_address),
		cmocka_unit_test(ratelimit_alternating_addresses_do_not_bypass),
		cmocka_unit_test(ratelimit_many_requesters_each_limited),
		cmocka_unit_test(ratelimit_per_ipv4_24),
		cmocka_unit_test(ratelimit_per_ipv6_48),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
