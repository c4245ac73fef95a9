/* fuzz_wire.c - the frame decoder and every message decoder on arbitrary bytes; what decodes
 * must encode and decode again to the same thing. */
#include <stdlib.h>
#include <string.h>

#include "st/wire.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct st_frame_decoder d;
	st_frame_decoder_init(&d, 1 << 20);
	size_t off = 0, used;
	int rc;
	while (off < size && (rc = st_frame_feed(&d, data + off, size - off, &used)) >= 0) {
		off += used;
		if (rc == 0)
			break;
	}
	st_frame_decoder_clear(&d);

	struct st_handshake h, h2;
	if (st_decode_handshake(data, size, &h) == ST_WIRE_OK && h.version == 1) {
		struct st_buf b;
		st_buf_init(&b, 1 << 16);
		if (st_wire_handshake(&b, ST_MSG_HANDSHAKE, &h, NULL) == 0) {
			if (st_decode_handshake((const uint8_t *)b.data + 5, b.len - 5, &h2) != ST_WIRE_OK ||
			    strcmp(h.node_id, h2.node_id) || strcmp(h.user_agent, h2.user_agent) ||
			    h.nonce != h2.nonce || h.listen_port != h2.listen_port)
				abort();
		}
		st_buf_clear(&b);
	}
	int64_t n, t;
	(void)st_decode_ping(data, size, &n, &t);
	struct st_getpeers *g = malloc(sizeof *g);
	if (g) {
		(void)st_decode_getpeers(data, size, g);
		free(g);
	}
	struct st_endpoint eps[16];
	size_t count;
	(void)st_decode_peers(data, size, eps, 16, &count);
	return 0;
}
