/* wire.h - the Spacetime wire protocol v1: frames and message codecs, no I/O. */
#ifndef ST_WIRE_H
#define ST_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "st/endpoint.h"
#include "st/util.h"

#define ST_PROTOCOL_VERSION 1
#define ST_FRAME_MAX (16 * 1024 * 1024) /* length field: 1 + payload */
#define ST_WIRE_STRING_MAX 1024         /* node ids and user agents we accept */
#define ST_HEARTBEAT_MAX 1024
#define ST_PEERS_MAX 1000
#define ST_GETPEERS_DEFAULT 100

enum st_msg_type {
	ST_MSG_HANDSHAKE = 0x01,
	ST_MSG_HANDSHAKE_ACK = 0x02,
	ST_MSG_HEARTBEAT = 0x03,
	ST_MSG_PING = 0x04,
	ST_MSG_PONG = 0x05,
	ST_MSG_GETPEERS = 0x10,
	ST_MSG_PEERS = 0x11,
	ST_MSG_ERROR = 0xff,
};

/* "Handshake", "Ping", "GetHeaders" (chain messages too), or "0x7e" for unknown ones. */
const char *st_msg_name(uint8_t type, char *buf, size_t size);
/* True for the chain messages (0x20..0x41) st does not interpret. */
bool st_msg_is_chain(uint8_t type);

/* Every way a peer can break the protocol. */
enum st_wire_error {
	ST_WIRE_OK,
	ST_WIRE_ZERO_LENGTH,    /* frame length 0 */
	ST_WIRE_TOO_LARGE,      /* frame length over the ceiling */
	ST_WIRE_SHORT,          /* payload shorter than its fields */
	ST_WIRE_BAD_LENGTH,     /* a negative length or one running past the end */
	ST_WIRE_EMPTY_STRING,   /* node id or user agent empty */
	ST_WIRE_LONG_STRING,    /* longer than ST_WIRE_STRING_MAX */
	ST_WIRE_BAD_LEB128,     /* a 7-bit length over 5 bytes */
	ST_WIRE_BAD_COUNT,      /* a count out of its range */
	ST_WIRE_BAD_ADDRESS,    /* address length not 4 or 16, port out of range */
	ST_WIRE_BAD_EXTENSION,  /* our TLV extension malformed */
	ST_WIRE_TOO_LONG,       /* a payload longer than the message allows */
	ST_WIRE_BAD_NODE_ID,    /* not 1..128 bytes of [A-Za-z0-9._-] (st_node_id_valid) */
	ST_WIRE_BAD_STRING,     /* a user agent with control characters */
};

/* "zero-length frame", ... */
const char *st_wire_error_name(enum st_wire_error e);

/*
 * The incremental frame decoder: feed bytes in any chunking, get whole frames.
 * The claimed length is checked before anything is allocated; the payload
 * buffer grows only as bytes arrive.
 */
struct st_frame_decoder {
	uint8_t head[5];
	size_t nhead;
	uint32_t length;        /* 1 + payload, once the head is complete */
	uint8_t type;
	struct st_buf payload;
	uint32_t max;           /* largest length accepted */
	enum st_wire_error error;
};

void st_frame_decoder_init(struct st_frame_decoder *d, uint32_t max_length);
void st_frame_decoder_clear(struct st_frame_decoder *d);
/* When the last frame fed was taken and nothing of the next one came yet, frees the
 * payload buffer: a connection that went quiet holds none (thousands do, idle). */
void st_frame_decoder_rest(struct st_frame_decoder *d);
/* Sets the largest length accepted from the next frame on (1..ST_FRAME_MAX). */
void st_frame_decoder_limit(struct st_frame_decoder *d, uint32_t max_length);
/*
 * Consumes bytes from p (n of them) up to the end of one frame; *used says how
 * many. Returns 1 when a frame is complete (d->type, d->payload; it is reset on
 * the next call), 0 when more bytes are needed, -1 on a violation (d->error).
 */
int st_frame_feed(struct st_frame_decoder *d, const uint8_t *p, size_t n, size_t *used);

/* Handshake and HandshakeAck (same payload), with our optional extension. */
struct st_handshake {
	int32_t version;
	int64_t timestamp;
	char node_id[ST_WIRE_STRING_MAX + 1];
	char user_agent[ST_WIRE_STRING_MAX + 1];
	bool has_ext;           /* false: a reference node */
	uint16_t listen_port;   /* tag 1, 0 when absent */
	bool has_nonce;
	uint64_t nonce;         /* tag 2 */
	bool has_services;
	uint64_t services;      /* tag 3 */
};

/*
 * A peer's Handshake as a session keeps it for the connection's life: the same
 * fields, its two strings at their own length in one allocation (st_hello_keep),
 * not two ST_WIRE_STRING_MAX arrays: on an idle listener that is most of a
 * handshaken connection's memory.
 */
struct st_hello {
	int32_t version;
	int64_t timestamp;
	const char *node_id;    /* into text */
	const char *user_agent; /* into text */
	bool has_ext;
	uint16_t listen_port;
	bool has_nonce;
	uint64_t nonce;
	bool has_services;
	uint64_t services;
	char text[];
};

/* A copy of h to keep (free it with free), or NULL when out of memory. */
struct st_hello *st_hello_keep(const struct st_handshake *h);

#define ST_SERVICE_GETPEERS 1u

struct st_getpeers {
	int32_t max_count;
	size_t nexclude;
	struct st_endpoint exclude[1000];
	size_t skipped;         /* exclusions we could not parse (the reference's IPv6 form) */
};

/* Appends a whole frame (length, type, payload) to out. Return 0 or -1 (ceiling). */
int st_wire_frame(struct st_buf *out, uint8_t type, const void *payload, size_t len,
                  struct st_err *err);
int st_wire_handshake(struct st_buf *out, uint8_t type, const struct st_handshake *h,
                      struct st_err *err);
int st_wire_ping(struct st_buf *out, uint8_t type, int64_t nonce, int64_t timestamp,
                 struct st_err *err);
int st_wire_getpeers(struct st_buf *out, const struct st_getpeers *g, struct st_err *err);
int st_wire_peers(struct st_buf *out, const struct st_endpoint *eps, size_t n,
                  struct st_err *err);

/* Decoders of a frame's payload; they return ST_WIRE_OK or the violation. */
enum st_wire_error st_decode_handshake(const uint8_t *p, size_t n, struct st_handshake *h);
enum st_wire_error st_decode_ping(const uint8_t *p, size_t n, int64_t *nonce, int64_t *timestamp);
enum st_wire_error st_decode_getpeers(const uint8_t *p, size_t n, struct st_getpeers *g);
/* Peers: up to max endpoints into out; *count gets the number. */
enum st_wire_error st_decode_peers(const uint8_t *p, size_t n, struct st_endpoint *out, size_t max,
                                   size_t *count);

/* Writes text with non-printable bytes escaped (\xNN), for Error payloads. */
size_t st_wire_escape(const uint8_t *p, size_t n, char *buf, size_t size);

#endif
