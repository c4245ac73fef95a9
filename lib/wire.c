/* wire.c - frames and message codecs of the Spacetime wire protocol v1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st/wire.h"

static const struct {
	uint8_t type;
	const char *name;
} msg_names[] = {
	{0x01, "Handshake"},  {0x02, "HandshakeAck"},   {0x03, "Heartbeat"},   {0x04, "Ping"},
	{0x05, "Pong"},       {0x10, "GetPeers"},       {0x11, "Peers"},       {0x20, "GetHeaders"},
	{0x21, "Headers"},    {0x22, "GetBlock"},       {0x23, "Block"},       {0x30, "Transaction"},
	{0x31, "NewBlock"},   {0x32, "TxPoolRequest"},  {0x40, "ProofSubmission"},
	{0x41, "BlockAccepted"}, {0xff, "Error"},
};

const char *st_msg_name(uint8_t type, char *buf, size_t size)
{
	for (size_t i = 0; i < ST_ARRAY_LEN(msg_names); i++)
		if (msg_names[i].type == type)
			return msg_names[i].name;
	snprintf(buf, size, "0x%02x", type);
	return buf;
}

bool st_msg_is_chain(uint8_t type)
{
	return (type >= 0x20 && type <= 0x23) || (type >= 0x30 && type <= 0x32) ||
	       type == 0x40 || type == 0x41;
}

static const char *const error_names[] = {
	[ST_WIRE_OK] = "ok",
	[ST_WIRE_ZERO_LENGTH] = "zero-length frame",
	[ST_WIRE_TOO_LARGE] = "frame too large",
	[ST_WIRE_SHORT] = "payload too short",
	[ST_WIRE_BAD_LENGTH] = "bad length field",
	[ST_WIRE_EMPTY_STRING] = "empty string",
	[ST_WIRE_LONG_STRING] = "string too long",
	[ST_WIRE_BAD_LEB128] = "bad 7-bit length",
	[ST_WIRE_BAD_COUNT] = "count out of range",
	[ST_WIRE_BAD_ADDRESS] = "bad address",
	[ST_WIRE_BAD_EXTENSION] = "bad extension",
	[ST_WIRE_TOO_LONG] = "payload too long",
	[ST_WIRE_BAD_NODE_ID] = "bad node id",
	[ST_WIRE_BAD_STRING] = "control characters in a string",
};

const char *st_wire_error_name(enum st_wire_error e)
{
	return (unsigned)e < ST_ARRAY_LEN(error_names) ? error_names[e] : "unknown error";
}

/* ---- little-endian helpers ---- */

static void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* ---- frames ---- */

void st_frame_decoder_limit(struct st_frame_decoder *d, uint32_t max_length)
{
	d->max = max_length && max_length < ST_FRAME_MAX ? max_length : ST_FRAME_MAX;
	d->payload.max = d->max;
}

void st_frame_decoder_init(struct st_frame_decoder *d, uint32_t max_length)
{
	memset(d, 0, sizeof *d);
	d->max = max_length && max_length < ST_FRAME_MAX ? max_length : ST_FRAME_MAX;
	st_buf_init(&d->payload, d->max);
}

void st_frame_decoder_clear(struct st_frame_decoder *d)
{
	st_buf_clear(&d->payload);
	d->nhead = 0;
}

void st_frame_decoder_rest(struct st_frame_decoder *d)
{
	if (d->nhead == 5 && d->payload.len == d->length - 1u) {
		d->nhead = 0;
		st_buf_clear(&d->payload);
	}
}

int st_frame_feed(struct st_frame_decoder *d, const uint8_t *p, size_t n, size_t *used)
{
	*used = 0;
	if (d->error)
		return -1;
	if (d->nhead == 5 && d->payload.len == d->length - 1u) { /* the last frame was taken */
		d->nhead = 0;
		st_buf_reset(&d->payload);
	}
	if (d->nhead < 5) {
		bool had_length = d->nhead >= 4;
		while (d->nhead < 5 && *used < n)
			d->head[d->nhead++] = p[(*used)++];
		/* the claimed length is checked as soon as its 4 bytes are in, before
		 * the type byte and before a single payload byte is kept */
		if (!had_length && d->nhead >= 4) {
			d->length = get_u32(d->head);
			if (d->length == 0) {
				d->error = ST_WIRE_ZERO_LENGTH;
				return -1;
			}
			if (d->length > d->max) {
				d->error = ST_WIRE_TOO_LARGE;
				return -1;
			}
		}
		if (d->nhead < 5)
			return 0;
		d->type = d->head[4];
	}
	size_t want = d->length - 1u - d->payload.len;
	size_t take = n - *used < want ? n - *used : want;
	if (take && st_buf_append(&d->payload, p + *used, take, NULL) < 0) {
		d->error = ST_WIRE_TOO_LARGE;
		return -1;
	}
	*used += take;
	return d->payload.len == d->length - 1u ? 1 : 0;
}

int st_wire_frame(struct st_buf *out, uint8_t type, const void *payload, size_t len,
                  struct st_err *err)
{
	if (len + 1 > ST_FRAME_MAX)
		return st_err_set(err, ST_EX_SOFTWARE, "frame too large");
	uint8_t head[5];
	put_u32(head, (uint32_t)(len + 1));
	head[4] = type;
	if (st_buf_append(out, head, 5, err) < 0 || st_buf_append(out, payload, len, err) < 0)
		return -1;
	return 0;
}

int st_wire_handshake(struct st_buf *out, uint8_t type, const struct st_handshake *h,
                      struct st_err *err)
{
	size_t idl = strlen(h->node_id), ual = strlen(h->user_agent);
	if (!idl || !ual || idl > ST_WIRE_STRING_MAX || ual > ST_WIRE_STRING_MAX)
		return st_err_set(err, ST_EX_SOFTWARE, "handshake needs a node id and a user agent");
	uint8_t p[4 + 8 + 4 + ST_WIRE_STRING_MAX + 4 + ST_WIRE_STRING_MAX + 2 + 3 * 10];
	size_t n = 0;
	put_u32(p + n, (uint32_t)h->version);
	n += 4;
	put_u64(p + n, (uint64_t)h->timestamp);
	n += 8;
	put_u32(p + n, (uint32_t)idl);
	n += 4;
	memcpy(p + n, h->node_id, idl);
	n += idl;
	put_u32(p + n, (uint32_t)ual);
	n += 4;
	memcpy(p + n, h->user_agent, ual);
	n += ual;
	if (h->has_ext) {
		size_t at = n;
		n += 2;
		if (h->listen_port) {
			p[n++] = 1;
			p[n++] = 2;
			put_u16(p + n, h->listen_port);
			n += 2;
		}
		if (h->has_nonce) {
			p[n++] = 2;
			p[n++] = 8;
			put_u64(p + n, h->nonce);
			n += 8;
		}
		if (h->has_services) {
			p[n++] = 3;
			p[n++] = 8;
			put_u64(p + n, h->services);
			n += 8;
		}
		put_u16(p + at, (uint16_t)(n - at - 2));
	}
	return st_wire_frame(out, type, p, n, err);
}

int st_wire_ping(struct st_buf *out, uint8_t type, int64_t nonce, int64_t timestamp,
                 struct st_err *err)
{
	uint8_t p[16];
	put_u64(p, (uint64_t)nonce);
	put_u64(p + 8, (uint64_t)timestamp);
	return st_wire_frame(out, type, p, 16, err);
}

/* .NET BinaryWriter string: unsigned LEB128 length, then the bytes. */
static size_t put_dotnet_string(uint8_t *p, const char *s)
{
	size_t len = strlen(s), n = 0;
	uint32_t v = (uint32_t)len;
	do {
		uint8_t b = v & 0x7f;
		v >>= 7;
		p[n++] = (uint8_t)(b | (v ? 0x80 : 0));
	} while (v);
	memcpy(p + n, s, len);
	return n + len;
}

int st_wire_getpeers(struct st_buf *out, const struct st_getpeers *g, struct st_err *err)
{
	if (g->nexclude > 1000)
		return st_err_set(err, ST_EX_SOFTWARE, "too many exclusions");
	static const size_t each = 5 + ST_ENDPOINT_STRLEN;
	struct st_buf p;
	st_buf_init(&p, 8 + 1000 * each);
	uint8_t head[8];
	put_u32(head, (uint32_t)g->max_count);
	put_u32(head + 4, (uint32_t)g->nexclude);
	int rc = st_buf_append(&p, head, 8, err);
	for (size_t i = 0; rc == 0 && i < g->nexclude; i++) {
		char text[ST_ENDPOINT_STRLEN];
		uint8_t enc[5 + ST_ENDPOINT_STRLEN];
		st_endpoint_format(&g->exclude[i], text, sizeof text);
		rc = st_buf_append(&p, enc, put_dotnet_string(enc, text), err);
	}
	if (rc == 0)
		rc = st_wire_frame(out, ST_MSG_GETPEERS, p.data, p.len, err);
	st_buf_clear(&p);
	return rc;
}

int st_wire_peers(struct st_buf *out, const struct st_endpoint *eps, size_t n, struct st_err *err)
{
	if (n > ST_PEERS_MAX)
		n = ST_PEERS_MAX;
	uint8_t *p = malloc(4 + n * 24);
	if (!p)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	size_t k = 0;
	put_u32(p, (uint32_t)n);
	k += 4;
	for (size_t i = 0; i < n; i++) {
		size_t alen = eps[i].family == ST_AF_INET ? 4 : 16;
		put_u32(p + k, (uint32_t)alen);
		k += 4;
		memcpy(p + k, eps[i].addr, alen);
		k += alen;
		put_u32(p + k, eps[i].port);
		k += 4;
	}
	int rc = st_wire_frame(out, ST_MSG_PEERS, p, k, err);
	free(p);
	return rc;
}

/* ---- decoders ---- */

struct reader {
	const uint8_t *p;
	size_t n, at;
};

static bool need(struct reader *r, size_t k)
{
	return r->n - r->at >= k;
}

static enum st_wire_error read_string(struct reader *r, char *out, size_t size)
{
	if (!need(r, 4))
		return ST_WIRE_SHORT;
	int32_t len = (int32_t)get_u32(r->p + r->at);
	r->at += 4;
	if (len < 0 || !need(r, (size_t)len))
		return ST_WIRE_BAD_LENGTH;
	if (len == 0)
		return ST_WIRE_EMPTY_STRING;
	if ((size_t)len >= size)
		return ST_WIRE_LONG_STRING;
	memcpy(out, r->p + r->at, (size_t)len);
	out[len] = '\0';
	if (memchr(out, '\0', (size_t)len))
		return ST_WIRE_BAD_LENGTH;
	r->at += (size_t)len;
	return ST_WIRE_OK;
}

struct st_hello *st_hello_keep(const struct st_handshake *h)
{
	size_t ni = strnlen(h->node_id, sizeof h->node_id - 1);
	size_t ua = strnlen(h->user_agent, sizeof h->user_agent - 1);
	struct st_hello *k = malloc(sizeof *k + ni + ua + 2);
	if (!k)
		return NULL;
	*k = (struct st_hello){
	    .version = h->version,
	    .timestamp = h->timestamp,
	    .has_ext = h->has_ext,
	    .listen_port = h->listen_port,
	    .has_nonce = h->has_nonce,
	    .nonce = h->nonce,
	    .has_services = h->has_services,
	    .services = h->services,
	};
	memcpy(k->text, h->node_id, ni);
	k->text[ni] = 0;
	memcpy(k->text + ni + 1, h->user_agent, ua);
	k->text[ni + 1 + ua] = 0;
	k->node_id = k->text;
	k->user_agent = k->text + ni + 1;
	return k;
}

enum st_wire_error st_decode_handshake(const uint8_t *p, size_t n, struct st_handshake *h)
{
	memset(h, 0, sizeof *h);
	if (n < 16)
		return ST_WIRE_SHORT;
	struct reader r = {p, n, 0};
	h->version = (int32_t)get_u32(p);
	h->timestamp = (int64_t)get_u64(p + 4);
	r.at = 12;
	enum st_wire_error e = read_string(&r, h->node_id, sizeof h->node_id);
	if (e == ST_WIRE_OK)
		e = read_string(&r, h->user_agent, sizeof h->user_agent);
	if (e != ST_WIRE_OK)
		return e;
	/* what a peer says goes into tables, records and terminals: the codec decides
	 * what it may hold, so that nothing past it has to */
	if (!st_node_id_valid(h->node_id, strlen(h->node_id)))
		return ST_WIRE_BAD_NODE_ID;
	for (const char *c = h->user_agent; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return ST_WIRE_BAD_STRING;
	if (!need(&r, 2))
		return ST_WIRE_OK; /* no extension: a reference node (trailing byte ignored) */
	size_t ext = (size_t)p[r.at] | (size_t)p[r.at + 1] << 8;
	r.at += 2;
	if (!need(&r, ext))
		return ST_WIRE_BAD_EXTENSION;
	h->has_ext = true;
	size_t end = r.at + ext;
	while (r.at < end) {
		if (end - r.at < 2)
			return ST_WIRE_BAD_EXTENSION;
		uint8_t tag = p[r.at], len = p[r.at + 1];
		r.at += 2;
		if (end - r.at < len)
			return ST_WIRE_BAD_EXTENSION;
		const uint8_t *v = p + r.at;
		if (tag == 1 && len == 2) {
			h->listen_port = (uint16_t)(v[0] | v[1] << 8);
		} else if (tag == 2 && len == 8) {
			h->has_nonce = true;
			h->nonce = get_u64(v);
		} else if (tag == 3 && len == 8) {
			h->has_services = true;
			h->services = get_u64(v);
		} else if (tag >= 1 && tag <= 3) {
			return ST_WIRE_BAD_EXTENSION;
		} /* unknown tags are skipped */
		r.at += len;
	}
	return ST_WIRE_OK;
}

enum st_wire_error st_decode_ping(const uint8_t *p, size_t n, int64_t *nonce, int64_t *timestamp)
{
	if (n < 16)
		return ST_WIRE_SHORT;
	*nonce = (int64_t)get_u64(p);
	*timestamp = (int64_t)get_u64(p + 8);
	return ST_WIRE_OK;
}

static enum st_wire_error read_leb128(struct reader *r, uint32_t *out)
{
	uint32_t v = 0;
	for (int i = 0; i < 5; i++) {
		if (!need(r, 1))
			return ST_WIRE_SHORT;
		uint8_t b = r->p[r->at++];
		if (i == 4 && (b & 0xf0))
			return ST_WIRE_BAD_LEB128;
		v |= (uint32_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*out = v;
			return ST_WIRE_OK;
		}
	}
	return ST_WIRE_BAD_LEB128;
}

enum st_wire_error st_decode_getpeers(const uint8_t *p, size_t n, struct st_getpeers *g)
{
	g->max_count = ST_GETPEERS_DEFAULT;
	g->nexclude = g->skipped = 0;
	if (n == 0)
		return ST_WIRE_OK; /* the reference accepts an empty GetPeers */
	if (n < 8)
		return ST_WIRE_SHORT;
	int32_t max = (int32_t)get_u32(p), count = (int32_t)get_u32(p + 4);
	if (max < 1 || max > ST_PEERS_MAX || count < 0 || count > 1000)
		return ST_WIRE_BAD_COUNT;
	g->max_count = max;
	struct reader r = {p, n, 8};
	for (int32_t i = 0; i < count; i++) {
		uint32_t len;
		enum st_wire_error e = read_leb128(&r, &len);
		if (e != ST_WIRE_OK)
			return e;
		if (!need(&r, len))
			return ST_WIRE_BAD_LENGTH;
		if (st_endpoint_parse(&g->exclude[g->nexclude], (const char *)p + r.at, len, NULL) == 0)
			g->nexclude++;
		else
			g->skipped++;
		r.at += len;
	}
	return ST_WIRE_OK;
}

enum st_wire_error st_decode_peers(const uint8_t *p, size_t n, struct st_endpoint *out, size_t max,
                                   size_t *count)
{
	*count = 0;
	if (n < 4)
		return ST_WIRE_SHORT;
	int32_t c = (int32_t)get_u32(p);
	if (c < 0 || c > ST_PEERS_MAX)
		return ST_WIRE_BAD_COUNT;
	struct reader r = {p, n, 4};
	for (int32_t i = 0; i < c; i++) {
		if (!need(&r, 4))
			return ST_WIRE_SHORT;
		int32_t alen = (int32_t)get_u32(p + r.at);
		r.at += 4;
		if (alen != 4 && alen != 16)
			return ST_WIRE_BAD_ADDRESS;
		if (!need(&r, (size_t)alen + 4))
			return ST_WIRE_SHORT;
		struct st_endpoint ep = {0};
		ep.family = alen == 4 ? ST_AF_INET : ST_AF_INET6;
		memcpy(ep.addr, p + r.at, (size_t)alen);
		r.at += (size_t)alen;
		int32_t port = (int32_t)get_u32(p + r.at);
		r.at += 4;
		if (port < 0 || port > 65535)
			return ST_WIRE_BAD_ADDRESS;
		ep.port = (uint16_t)port;
		/* ::ffff:a.b.c.d is IPv4 */
		char text[ST_ENDPOINT_STRLEN];
		st_endpoint_format(&ep, text, sizeof text);
		if (ep.port)
			st_endpoint_parse(&ep, text, strlen(text), NULL);
		if (*count < max && ep.port)
			out[(*count)++] = ep;
	}
	return ST_WIRE_OK;
}

size_t st_wire_escape(const uint8_t *p, size_t n, char *buf, size_t size)
{
	size_t k = 0;
	for (size_t i = 0; i < n && k + 5 < size; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
			buf[k++] = (char)p[i];
		else
			k += (size_t)snprintf(buf + k, size - k, "\\x%02x", p[i]);
	}
	if (size)
		buf[k < size ? k : size - 1] = '\0';
	return k;
}
