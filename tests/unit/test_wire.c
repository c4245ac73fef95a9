/* test_wire.c - golden bytes for every message, round trips, the frame decoder, violations. */
#include "unit.h"

#include "st/wire.h"

static struct st_buf buf(void)
{
	struct st_buf b;
	st_buf_init(&b, ST_FRAME_MAX + 64);
	return b;
}

static void handshake_golden_bytes_reference_form(void **state)
{
	(void)state;
	struct st_handshake h = {.version = 1, .timestamp = 0x0102030405060708LL};
	strcpy(h.node_id, "ab");
	strcpy(h.user_agent, "S/1");
	struct st_buf b = buf();
	assert_int_equal(st_wire_handshake(&b, ST_MSG_HANDSHAKE, &h, NULL), 0);
	const uint8_t want[] = {
		0x1a, 0, 0, 0,          /* length = 1 + 25 */
		0x01,                   /* Handshake */
		1, 0, 0, 0,             /* i32 version */
		8, 7, 6, 5, 4, 3, 2, 1, /* i64 timestamp, little-endian */
		2, 0, 0, 0, 'a', 'b',   /* node id */
		3, 0, 0, 0, 'S', '/', '1',
	};
	assert_int_equal(b.len, sizeof want);
	assert_memory_equal(b.data, want, sizeof want);
	st_buf_clear(&b);
}

static void handshake_ack_with_our_extension(void **state)
{
	(void)state;
	struct st_handshake h = {.version = 1, .timestamp = 1, .has_ext = true, .listen_port = 7777,
	                         .has_nonce = true, .nonce = 0x1122334455667788ULL,
	                         .has_services = true, .services = 1};
	strcpy(h.node_id, "n");
	strcpy(h.user_agent, "u");
	struct st_buf b = buf();
	assert_int_equal(st_wire_handshake(&b, ST_MSG_HANDSHAKE_ACK, &h, NULL), 0);
	const uint8_t ext[] = {
		24, 0,                         /* u16 ext_len */
		1, 2, 0x61, 0x1e,              /* listen_port 7777 */
		2, 8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
		3, 8, 1, 0, 0, 0, 0, 0, 0, 0,
	};
	size_t base = 5 + 4 + 8 + 5 + 5;
	assert_int_equal(b.len, base + sizeof ext);
	assert_int_equal((uint8_t)b.data[4], 0x02);
	assert_memory_equal(b.data + base, ext, sizeof ext);
	struct st_handshake back;
	assert_int_equal(st_decode_handshake((uint8_t *)b.data + 5, b.len - 5, &back), ST_WIRE_OK);
	assert_true(back.has_ext && back.has_nonce && back.has_services);
	assert_int_equal(back.listen_port, 7777);
	assert_int_equal(back.nonce, 0x1122334455667788ULL);
	assert_string_equal(back.node_id, "n");
	st_buf_clear(&b);
}

static void handshake_violations(void **state)
{
	(void)state;
	struct st_handshake h;
	uint8_t p[64] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
	assert_int_equal(st_decode_handshake(p, 15, &h), ST_WIRE_SHORT);
	/* negative node id length */
	uint8_t neg[] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0};
	assert_int_equal(st_decode_handshake(neg, sizeof neg, &h), ST_WIRE_BAD_LENGTH);
	/* a length running past the end */
	uint8_t past[] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 'a', 'b'};
	assert_int_equal(st_decode_handshake(past, sizeof past, &h), ST_WIRE_BAD_LENGTH);
	/* an empty node id */
	uint8_t empty[] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 'u'};
	assert_int_equal(st_decode_handshake(empty, sizeof empty, &h), ST_WIRE_EMPTY_STRING);
	/* an extension claiming more than there is */
	uint8_t ext[] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 'n', 1, 0, 0, 0, 'u', 9, 0, 1};
	assert_int_equal(st_decode_handshake(ext, sizeof ext, &h), ST_WIRE_BAD_EXTENSION);
	/* a known tag of the wrong size */
	uint8_t tag[] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 'n', 1, 0, 0, 0, 'u', 3, 0, 2, 1, 0};
	assert_int_equal(st_decode_handshake(tag, sizeof tag, &h), ST_WIRE_BAD_EXTENSION);
	/* unknown tags are skipped; one trailing byte (no extension) is ignored */
	uint8_t unk[] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 'n', 1, 0, 0, 0, 'u', 3, 0, 9, 1, 7};
	assert_int_equal(st_decode_handshake(unk, sizeof unk, &h), ST_WIRE_OK);
	assert_true(h.has_ext && !h.has_nonce);
	uint8_t trail[] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 'n', 1, 0, 0, 0, 'u', 5};
	assert_int_equal(st_decode_handshake(trail, sizeof trail, &h), ST_WIRE_OK);
	assert_false(h.has_ext);
	/* a node id that would break a stored line or a record, and a user agent with
	 * a terminal escape, stop at the codec */
	uint8_t tab[] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 'a', '\t', 'b', 1, 0, 0, 0, 'u'};
	assert_int_equal(st_decode_handshake(tab, sizeof tab, &h), ST_WIRE_BAD_NODE_ID);
	uint8_t at[] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 'a', '@', 'b', 1, 0, 0, 0, 'u'};
	assert_int_equal(st_decode_handshake(at, sizeof at, &h), ST_WIRE_BAD_NODE_ID);
	uint8_t esc[] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 'n', 2, 0, 0, 0, 0x1b, 'u'};
	assert_int_equal(st_decode_handshake(esc, sizeof esc, &h), ST_WIRE_BAD_STRING);
	uint8_t longid[12 + 4 + 129 + 5] = {1};
	longid[12] = 129;
	memset(longid + 16, 'a', 129);
	longid[16 + 129] = 1;
	longid[16 + 129 + 4] = 'u';
	assert_int_equal(st_decode_handshake(longid, sizeof longid, &h), ST_WIRE_BAD_NODE_ID);
}

/* What a session keeps of a Handshake: every field, and strings at their length (a
 * 1,024-character user agent still whole, an empty one empty). */
static void a_kept_handshake_is_whole_and_small(void **state)
{
	(void)state;
	struct st_handshake h = {.version = 7, .timestamp = -5, .has_ext = true, .listen_port = 7777,
	                         .has_nonce = true, .nonce = 0xfeedfacecafebeefULL,
	                         .has_services = true, .services = ST_SERVICE_GETPEERS};
	strcpy(h.node_id, "peer-1");
	struct st_hello *k = st_hello_keep(&h);
	assert_non_null(k);
	assert_int_equal(k->version, 7);
	assert_int_equal(k->timestamp, -5);
	assert_true(k->has_ext && k->has_nonce && k->has_services);
	assert_int_equal(k->listen_port, 7777);
	assert_true(k->nonce == 0xfeedfacecafebeefULL);
	assert_int_equal(k->services, ST_SERVICE_GETPEERS);
	assert_string_equal(k->node_id, "peer-1");
	assert_string_equal(k->user_agent, "");
	/* its strings live in its own allocation, not in h */
	assert_true(k->node_id >= k->text && k->user_agent > k->node_id);
	strcpy(h.node_id, "changed");
	assert_string_equal(k->node_id, "peer-1");
	free(k);

	memset(h.user_agent, 'u', ST_WIRE_STRING_MAX);
	h.user_agent[ST_WIRE_STRING_MAX] = 0;
	h.node_id[0] = 0;
	k = st_hello_keep(&h);
	assert_non_null(k);
	assert_string_equal(k->node_id, "");
	assert_int_equal(strlen(k->user_agent), ST_WIRE_STRING_MAX);
	assert_memory_equal(k->user_agent, h.user_agent, ST_WIRE_STRING_MAX + 1);
	free(k);
}

static void ping_pong_golden_bytes(void **state)
{
	(void)state;
	struct st_buf b = buf();
	assert_int_equal(st_wire_ping(&b, ST_MSG_PONG, 2, 3, NULL), 0);
	const uint8_t want[] = {17, 0, 0, 0, 0x05, 2, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0};
	assert_memory_equal(b.data, want, sizeof want);
	int64_t n, t;
	assert_int_equal(st_decode_ping((uint8_t *)b.data + 5, 16, &n, &t), ST_WIRE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(st_decode_ping((uint8_t *)b.data + 5, 15, &n, &t), ST_WIRE_SHORT);
	st_buf_clear(&b);
}

static void getpeers_golden_bytes_and_dotnet_strings(void **state)
{
	(void)state;
	struct st_getpeers *g = calloc(1, sizeof *g);
	g->max_count = 100;
	g->nexclude = 2;
	st_endpoint_parse(&g->exclude[0], "1.2.3.4:5", 9, NULL);
	st_endpoint_parse(&g->exclude[1], "[::1]:7", 7, NULL);
	struct st_buf b = buf();
	assert_int_equal(st_wire_getpeers(&b, g, NULL), 0);
	const uint8_t want[] = {
		1 + 8 + 1 + 9 + 1 + 7, 0, 0, 0, 0x10,
		100, 0, 0, 0, 2, 0, 0, 0,
		9, '1', '.', '2', '.', '3', '.', '4', ':', '5',
		7, '[', ':', ':', '1', ']', ':', '7',
	};
	assert_int_equal(b.len, sizeof want);
	assert_memory_equal(b.data, want, sizeof want);
	struct st_getpeers *back = calloc(1, sizeof *back);
	assert_int_equal(st_decode_getpeers((uint8_t *)b.data + 5, b.len - 5, back), ST_WIRE_OK);
	assert_int_equal(back->max_count, 100);
	assert_int_equal(back->nexclude, 2);
	assert_true(st_endpoint_equal(&back->exclude[1], &g->exclude[1]));
	/* empty payload: the reference's default */
	assert_int_equal(st_decode_getpeers(NULL, 0, back), ST_WIRE_OK);
	assert_int_equal(back->max_count, 100);
	/* the reference's unusable IPv6 form is skipped, not an error */
	const uint8_t v6[] = {10, 0, 0, 0, 1, 0, 0, 0, 5, ':', ':', '1', ':', '7'};
	assert_int_equal(st_decode_getpeers(v6, sizeof v6, back), ST_WIRE_OK);
	assert_int_equal(back->skipped, 1);
	/* a 7-bit length with a long 200 (0xc8 0x01) running past the end */
	const uint8_t past[] = {10, 0, 0, 0, 1, 0, 0, 0, 0xc8, 0x01, 'x'};
	assert_int_equal(st_decode_getpeers(past, sizeof past, back), ST_WIRE_BAD_LENGTH);
	const uint8_t leb[] = {10, 0, 0, 0, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
	assert_int_equal(st_decode_getpeers(leb, sizeof leb, back), ST_WIRE_BAD_LEB128);
	const uint8_t zero[] = {0, 0, 0, 0, 0, 0, 0, 0};
	assert_int_equal(st_decode_getpeers(zero, sizeof zero, back), ST_WIRE_BAD_COUNT);
	const uint8_t many[] = {10, 0, 0, 0, 0xe9, 0x03, 0, 0};
	assert_int_equal(st_decode_getpeers(many, sizeof many, back), ST_WIRE_BAD_COUNT);
	assert_int_equal(st_decode_getpeers(zero, 5, back), ST_WIRE_SHORT);
	st_buf_clear(&b);
	free(g);
	free(back);
}

static void peers_golden_bytes(void **state)
{
	(void)state;
	struct st_endpoint eps[2];
	st_endpoint_parse(&eps[0], "1.2.3.4:7777", 12, NULL);
	st_endpoint_parse(&eps[1], "[2a00::1]:80", 12, NULL);
	struct st_buf b = buf();
	assert_int_equal(st_wire_peers(&b, eps, 2, NULL), 0);
	uint8_t want[5 + 4 + 12 + 24] = {41, 0, 0, 0, 0x11, 2, 0, 0, 0, 4, 0, 0, 0, 1, 2, 3, 4,
	                                  0x61, 0x1e, 0, 0, 16, 0, 0, 0, 0x2a};
	want[5 + 4 + 12 + 4 + 15] = 1;
	want[5 + 4 + 12 + 4 + 16] = 80;
	assert_memory_equal(b.data, want, sizeof want);
	struct st_endpoint back[4];
	size_t n;
	assert_int_equal(st_decode_peers((uint8_t *)b.data + 5, b.len - 5, back, 4, &n), ST_WIRE_OK);
	assert_int_equal(n, 2);
	assert_true(st_endpoint_equal(&back[1], &eps[1]));
	const uint8_t badlen[] = {1, 0, 0, 0, 5, 0, 0, 0, 1, 2, 3, 4, 5, 0, 0, 0, 0};
	assert_int_equal(st_decode_peers(badlen, sizeof badlen, back, 4, &n), ST_WIRE_BAD_ADDRESS);
	const uint8_t badport[] = {1, 0, 0, 0, 4, 0, 0, 0, 1, 2, 3, 4, 0, 0, 1, 0};
	assert_int_equal(st_decode_peers(badport, sizeof badport, back, 4, &n), ST_WIRE_BAD_ADDRESS);
	const uint8_t neg[] = {0xff, 0xff, 0xff, 0xff};
	assert_int_equal(st_decode_peers(neg, sizeof neg, back, 4, &n), ST_WIRE_BAD_COUNT);
	const uint8_t cut[] = {1, 0, 0, 0, 4, 0, 0, 0, 1, 2};
	assert_int_equal(st_decode_peers(cut, sizeof cut, back, 4, &n), ST_WIRE_SHORT);
	st_buf_clear(&b);
}

static void frame_decoder_takes_any_chunking(void **state)
{
	(void)state;
	struct st_buf b = buf();
	st_wire_ping(&b, ST_MSG_PING, 1, 2, NULL);
	st_wire_frame(&b, ST_MSG_HEARTBEAT, "", 0, NULL);
	st_wire_ping(&b, ST_MSG_PONG, 1, 2, NULL);
	struct st_frame_decoder d;
	st_frame_decoder_init(&d, 0);
	uint8_t types[3];
	size_t nt = 0;
	for (size_t i = 0; i < b.len; i++) { /* one byte at a time */
		size_t used;
		int rc = st_frame_feed(&d, (uint8_t *)b.data + i, 1, &used);
		assert_int_equal(used, 1);
		assert_true(rc >= 0);
		if (rc == 1)
			types[nt++] = d.type;
	}
	assert_int_equal(nt, 3);
	assert_int_equal(types[1], ST_MSG_HEARTBEAT);
	/* all at once: one frame per call */
	size_t off = 0, used;
	nt = 0;
	while (off < b.len) {
		int rc = st_frame_feed(&d, (uint8_t *)b.data + off, b.len - off, &used);
		off += used;
		if (rc == 1)
			nt++;
	}
	assert_int_equal(nt, 3);
	st_frame_decoder_clear(&d);
	st_buf_clear(&b);
}

static void frame_decoder_refuses_bad_lengths_before_allocating(void **state)
{
	(void)state;
	struct st_frame_decoder d;
	size_t used;
	const uint8_t zero[] = {0, 0, 0, 0, 1};
	st_frame_decoder_init(&d, 0);
	assert_int_equal(st_frame_feed(&d, zero, 5, &used), -1);
	assert_int_equal(d.error, ST_WIRE_ZERO_LENGTH);
	assert_int_equal(st_frame_feed(&d, zero, 5, &used), -1); /* stays failed */
	st_frame_decoder_clear(&d);
	const uint8_t huge[] = {0x01, 0x00, 0x00, 0x01, 1}; /* 16 MiB + 1 */
	st_frame_decoder_init(&d, 0);
	assert_int_equal(st_frame_feed(&d, huge, 5, &used), -1);
	assert_int_equal(d.error, ST_WIRE_TOO_LARGE);
	assert_null(d.payload.data);
	st_frame_decoder_clear(&d);
	const uint8_t small[] = {0x00, 0x00, 0x01, 0x00, 1}; /* 64 KiB with a 1 KiB ceiling */
	st_frame_decoder_init(&d, 1024);
	assert_int_equal(st_frame_feed(&d, small, 5, &used), -1);
	assert_string_equal(st_wire_error_name(d.error), "frame too large");
	st_frame_decoder_clear(&d);
}

/* A length of 0 or over the ceiling is refused as soon as its four bytes are
 * in: a peer that sends them and waits gets no chance to hold the connection. */
static void frame_decoder_refuses_a_bad_length_before_the_type_byte(void **state)
{
	(void)state;
	struct st_frame_decoder d;
	size_t used;
	const uint8_t zero[] = {0, 0, 0, 0};
	st_frame_decoder_init(&d, 0);
	assert_int_equal(st_frame_feed(&d, zero, 4, &used), -1);
	assert_int_equal(d.error, ST_WIRE_ZERO_LENGTH);
	st_frame_decoder_clear(&d);
	/* in two pieces too */
	st_frame_decoder_init(&d, 0);
	assert_int_equal(st_frame_feed(&d, zero, 3, &used), 0);
	assert_int_equal(st_frame_feed(&d, zero, 1, &used), -1);
	assert_int_equal(d.error, ST_WIRE_ZERO_LENGTH);
	st_frame_decoder_clear(&d);
	const uint8_t huge[] = {0x01, 0x00, 0x00, 0x01};
	st_frame_decoder_init(&d, 0);
	assert_int_equal(st_frame_feed(&d, huge, 4, &used), -1);
	assert_int_equal(d.error, ST_WIRE_TOO_LARGE);
	st_frame_decoder_clear(&d);
	/* a good length still waits for its type byte */
	const uint8_t one[] = {1, 0, 0, 0, ST_MSG_HEARTBEAT};
	st_frame_decoder_init(&d, 0);
	assert_int_equal(st_frame_feed(&d, one, 4, &used), 0);
	assert_int_equal(st_frame_feed(&d, one + 4, 1, &used), 1);
	assert_int_equal(d.type, ST_MSG_HEARTBEAT);
	st_frame_decoder_clear(&d);
}

static void names_and_escapes(void **state)
{
	(void)state;
	char b[16], out[64];
	assert_string_equal(st_msg_name(0x11, b, sizeof b), "Peers");
	assert_string_equal(st_msg_name(0x22, b, sizeof b), "GetBlock");
	assert_string_equal(st_msg_name(0x7e, b, sizeof b), "0x7e");
	assert_true(st_msg_is_chain(0x31));
	assert_false(st_msg_is_chain(0x11));
	st_wire_escape((const uint8_t *)"bad\n\x01ok", 7, out, sizeof out);
	assert_string_equal(out, "bad\\x0a\\x01ok");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(handshake_golden_bytes_reference_form),
		cmocka_unit_test(handshake_ack_with_our_extension),
		cmocka_unit_test(handshake_violations),
		cmocka_unit_test(a_kept_handshake_is_whole_and_small),
		cmocka_unit_test(ping_pong_golden_bytes),
		cmocka_unit_test(getpeers_golden_bytes_and_dotnet_strings),
		cmocka_unit_test(peers_golden_bytes),
		cmocka_unit_test(frame_decoder_takes_any_chunking),
		cmocka_unit_test(frame_decoder_refuses_bad_lengths_before_allocating),
		cmocka_unit_test(frame_decoder_refuses_a_bad_length_before_the_type_byte),
		cmocka_unit_test(names_and_escapes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
