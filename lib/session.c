/* session.c - the connection state machine: handshake, ping, getpeers; bytes in, bytes out. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "st/session.h"
#include "st/util.h"

static const char *const reason_names[] = {
	[ST_CLOSE_NONE] = "open",
	[ST_CLOSE_DONE] = "ok",
	[ST_CLOSE_EOF] = "eof",
	[ST_CLOSE_PROTOCOL] = "protocol-error",
	[ST_CLOSE_UNEXPECTED] = "protocol-error",
	[ST_CLOSE_VERSION] = "version-mismatch",
	[ST_CLOSE_SELF] = "self",
	[ST_CLOSE_TIMEOUT] = "timeout",
	[ST_CLOSE_PEER_ERROR] = "peer-error",
	[ST_CLOSE_BANNED] = "banned",
};

const char *st_close_reason_name(enum st_close_reason r)
{
	return (unsigned)r < ST_ARRAY_LEN(reason_names) ? reason_names[r] : "unknown";
}

int st_session_init(struct st_session *s, bool dialer, const struct st_handshake *local,
                    uint32_t max_frame, st_session_fn on_event, void *ctx, struct st_err *err)
{
	memset(s, 0, sizeof *s);
	s->dialer = dialer;
	s->local = local;
	s->on_event = on_event;
	s->ctx = ctx;
	s->max_frame = max_frame ? max_frame : ST_FRAME_MAX;
	max_frame = s->max_frame;
	st_frame_decoder_init(&s->dec, max_frame < ST_PRE_HANDSHAKE_FRAME_MAX ? max_frame
	                                                                   : ST_PRE_HANDSHAKE_FRAME_MAX);
	st_buf_init(&s->out, ST_FRAME_MAX + 64);
	s->state = dialer ? ST_SESS_WAIT_ACK : ST_SESS_WAIT_HANDSHAKE;
	if (dialer && st_wire_handshake(&s->out, ST_MSG_HANDSHAKE, s->local, err) < 0) {
		st_session_clear(s);
		return -1;
	}
	return 0;
}

void st_session_clear(struct st_session *s)
{
	st_frame_decoder_clear(&s->dec);
	st_buf_clear(&s->out);
	free(s->peers);
	free(s->remote);
	s->remote = NULL;
	s->peers = NULL;
}

void st_session_close(struct st_session *s, enum st_close_reason r, const char *detail)
{
	if (s->state == ST_SESS_CLOSED)
		return;
	s->state = ST_SESS_CLOSED;
	s->reason = r;
	st_strlcpy(s->detail, detail ? detail : "", sizeof s->detail);
}

void st_session_eof(struct st_session *s)
{
	st_session_close(s, ST_CLOSE_EOF, s->state == ST_SESS_READY ? "closed by peer"
	                                                             : "closed by peer during handshake");
}

void st_session_timeout(struct st_session *s, const char *what)
{
	st_session_close(s, ST_CLOSE_TIMEOUT, what);
}

static void emit(struct st_session *s, struct st_session_event *ev)
{
	if (s->on_event)
		s->on_event(s->ctx, s, ev);
}

static int protocol_error(struct st_session *s, const char *msg, enum st_wire_error e)
{
	char d[200];
	snprintf(d, sizeof d, "%s: %s", msg, st_wire_error_name(e));
	st_session_close(s, ST_CLOSE_PROTOCOL, d);
	return -1;
}

static int on_handshake(struct st_session *s, uint8_t type, const uint8_t *p, size_t n)
{
	char name[16];
	uint8_t want = s->dialer ? ST_MSG_HANDSHAKE_ACK : ST_MSG_HANDSHAKE;
	if (type == ST_MSG_ERROR) {
		char text[300];
		st_wire_escape(p, n, text, sizeof text);
		st_session_close(s, ST_CLOSE_PEER_ERROR, text);
		return -1;
	}
	if (type != want) {
		char d[128];
		snprintf(d, sizeof d, "%s before the handshake", st_msg_name(type, name, sizeof name));
		st_session_close(s, ST_CLOSE_UNEXPECTED, d);
		return -1;
	}
	/* decoded on the stack, kept at its size; kept as far as it decoded, even when it
	 * is refused, so that a record and the log can still say who it claimed to be and
	 * what it sent (text keeps a peer's control bytes escaped; tsv and json as is) */
	struct st_handshake hs;
	enum st_wire_error e = st_decode_handshake(p, n, &hs);
	free(s->remote);
	if (!(s->remote = st_hello_keep(&hs))) {
		st_session_close(s, ST_CLOSE_PROTOCOL, "out of memory");
		return -1;
	}
	if (e != ST_WIRE_OK)
		return protocol_error(s, st_msg_name(type, name, sizeof name), e);
	if (s->remote->version != ST_PROTOCOL_VERSION) {
		char d[64];
		snprintf(d, sizeof d, "peer speaks version %d, we speak %d", s->remote->version,
		         ST_PROTOCOL_VERSION);
		st_session_close(s, ST_CLOSE_VERSION, d);
		return -1;
	}
	if (s->remote->has_nonce && s->local->has_nonce && s->remote->nonce == s->local->nonce) {
		st_session_close(s, ST_CLOSE_SELF, "connected to ourselves");
		return -1;
	}
	if (!s->dialer) {
		struct st_err err = {0};
		if (st_wire_handshake(&s->out, ST_MSG_HANDSHAKE_ACK, s->local, &err) < 0) {
			st_session_close(s, ST_CLOSE_PROTOCOL, err.msg);
			return -1;
		}
	}
	s->state = ST_SESS_READY;
	struct st_session_event ev = {.kind = ST_EV_HANDSHAKE, .type = type};
	emit(s, &ev);
	return 0;
}

/*
 * A GetPeers and its answer are scratch for that one message (40 KB): a session
 * that answered keeps none of it, however long it then idles, and however many
 * sessions a listener holds. Only a dialer keeps a Peers (in s->peers, for its
 * result, until the next one); a listener reads one and drops it.
 */
static int answer_getpeers(struct st_session *s, struct st_session_event *ev, const uint8_t *p,
                           size_t n)
{
	struct st_getpeers *gp = malloc(sizeof *gp);
	struct st_endpoint *reply = malloc(ST_PEERS_MAX * sizeof *reply);
	enum st_wire_error e;
	int rc = 0;
	if (!gp || !reply) {
		st_session_close(s, ST_CLOSE_PROTOCOL, "out of memory for a GetPeers");
		rc = -1;
	} else if ((e = st_decode_getpeers(p, n, gp)) != ST_WIRE_OK) {
		rc = protocol_error(s, "GetPeers", e);
	} else {
		ev->kind = ST_EV_GETPEERS;
		ev->getpeers = gp;
		ev->reply = reply;
		emit(s, ev);
		size_t count = ev->nreply < (size_t)gp->max_count ? ev->nreply : (size_t)gp->max_count;
		if (st_wire_peers(&s->out, reply, count, NULL) < 0)
			rc = protocol_error(s, "Peers", ST_WIRE_TOO_LARGE);
	}
	free(gp);
	free(reply);
	return rc;
}

static int on_ready(struct st_session *s, uint8_t type, const uint8_t *p, size_t n, int64_t now_ms)
{
	char name[16];
	struct st_session_event ev = {.type = type, .length = n};
	enum st_wire_error e;
	int64_t nonce, ts;
	switch (type) {
	case ST_MSG_PING:
		if ((e = st_decode_ping(p, n, &nonce, &ts)) != ST_WIRE_OK)
			return protocol_error(s, "Ping", e);
		if (st_wire_ping(&s->out, ST_MSG_PONG, nonce, ts, NULL) < 0)
			return protocol_error(s, "Pong", ST_WIRE_TOO_LARGE);
		ev.kind = ST_EV_PING;
		break;
	case ST_MSG_PONG:
		if ((e = st_decode_ping(p, n, &nonce, &ts)) != ST_WIRE_OK)
			return protocol_error(s, "Pong", e);
		if (!s->ping_pending || nonce != s->ping_nonce) {
			ev.kind = ST_EV_OTHER; /* an unsolicited Pong is harmless */
			break;
		}
		s->ping_pending = false;
		ev.kind = ST_EV_PONG;
		ev.rtt_ms = now_ms - s->ping_sent_ms;
		break;
	case ST_MSG_HEARTBEAT:
		if (n > ST_HEARTBEAT_MAX)
			return protocol_error(s, "Heartbeat", ST_WIRE_TOO_LONG);
		ev.kind = ST_EV_HEARTBEAT;
		break;
	case ST_MSG_GETPEERS:
		return answer_getpeers(s, &ev, p, n);
	case ST_MSG_PEERS: {
		size_t count;
		if (!s->peers && !(s->peers = malloc(ST_PEERS_MAX * sizeof *s->peers))) {
			st_session_close(s, ST_CLOSE_PROTOCOL, "out of memory for a Peers");
			return -1;
		}
		if ((e = st_decode_peers(p, n, s->peers, ST_PEERS_MAX, &count)) != ST_WIRE_OK)
			return protocol_error(s, "Peers", e);
		s->getpeers_pending = false;
		ev.kind = ST_EV_PEERS;
		ev.peers = s->peers;
		ev.npeers = count;
		emit(s, &ev);
		if (!s->dialer) {
			free(s->peers);
			s->peers = NULL;
		}
		return 0;
	}
	case ST_MSG_ERROR: {
		char text[300];
		st_wire_escape(p, n < 256 ? n : 256, text, sizeof text);
		ev.kind = ST_EV_ERROR_MSG;
		ev.text = text;
		emit(s, &ev);
		return 0;
	}
	case ST_MSG_HANDSHAKE:
	case ST_MSG_HANDSHAKE_ACK: {
		char d[64];
		snprintf(d, sizeof d, "a second %s", st_msg_name(type, name, sizeof name));
		st_session_close(s, ST_CLOSE_UNEXPECTED, d);
		return -1;
	}
	default:
		ev.kind = ST_EV_OTHER; /* chain messages: not ours to interpret */
	}
	emit(s, &ev);
	return 0;
}

int st_session_input(struct st_session *s, const uint8_t *p, size_t n, int64_t now_ms)
{
	while (n > 0 && s->state != ST_SESS_CLOSED) {
		size_t used;
		if (s->state == ST_SESS_READY && s->dec.max != s->max_frame)
			st_frame_decoder_limit(&s->dec, s->max_frame);
		int rc = st_frame_feed(&s->dec, p, n, &used);
		p += used;
		n -= used;
		if (rc < 0)
			return protocol_error(s, "frame", s->dec.error);
		if (rc == 0)
			break;
		const uint8_t *payload = (const uint8_t *)(s->dec.payload.data ? s->dec.payload.data : "");
		size_t plen = s->dec.payload.len;
		if (s->state == ST_SESS_READY)
			rc = on_ready(s, s->dec.type, payload, plen, now_ms);
		else
			rc = on_handshake(s, s->dec.type, payload, plen);
		if (rc < 0)
			return -1;
	}
	st_frame_decoder_rest(&s->dec);
	return s->state == ST_SESS_CLOSED ? -1 : 0;
}

/* A Ping's nonce: from the OS random source, so a peer cannot predict it (and
 * answer a Pong it was never sent) or learn anything about our memory from it. */
static int ping_nonce(int64_t *nonce)
{
	uint64_t v;
	ssize_t n;
	while ((n = getrandom(&v, sizeof v, 0)) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof v)
		return -1;
	*nonce = (int64_t)v;
	return 0;
}

/* The Ping timestamp of the reference node: seconds since boot, not Unix time. */
static int64_t boot_seconds(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_BOOTTIME, &ts) < 0)
		clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

int st_session_ping(struct st_session *s, int64_t now_ms)
{
	if (s->state != ST_SESS_READY || ping_nonce(&s->ping_nonce) < 0)
		return -1;
	s->ping_sent_ms = now_ms;
	s->ping_pending = true;
	return st_wire_ping(&s->out, ST_MSG_PING, s->ping_nonce, boot_seconds(), NULL);
}

int st_session_getpeers(struct st_session *s, int32_t max_count, const struct st_endpoint *exclude,
                        size_t nexclude)
{
	struct st_getpeers *gp;
	if (s->state != ST_SESS_READY || !(gp = malloc(sizeof *gp)))
		return -1;
	gp->max_count = max_count;
	gp->nexclude = nexclude > 1000 ? 1000 : nexclude;
	gp->skipped = 0;
	if (gp->nexclude)
		memcpy(gp->exclude, exclude, gp->nexclude * sizeof *exclude);
	s->getpeers_pending = true;
	int rc = st_wire_getpeers(&s->out, gp, NULL);
	free(gp);
	return rc;
}

int st_session_raw(struct st_session *s, uint8_t type, const uint8_t *payload, size_t len)
{
	return st_wire_frame(&s->out, type, payload, len, NULL);
}

void st_ratelimit_init(struct st_ratelimit *r, int64_t interval)
{
	memset(r, 0, sizeof *r);
	r->interval = interval > 0 ? interval : 1;
	if (getrandom(&r->key, sizeof r->key, 0) != (ssize_t)sizeof r->key) {
		/* no getrandom (very old kernel, seccomp): still differs per process and run */
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		r->key = ((uint64_t)ts.tv_nsec << 32 ^ (uint64_t)ts.tv_sec ^ (uint64_t)getpid()) *
		         0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)r;
	}
}

/* The key of addr's first bits: family, bits, the address with the rest zeroed. */
static void limit_key(uint8_t key[18], const struct st_endpoint *addr, unsigned bits)
{
	memset(key, 0, 18);
	key[0] = addr->family;
	key[1] = (uint8_t)bits;
	memcpy(key + 2, addr->addr, bits / 8);
	if (bits % 8)
		key[2 + bits / 8] = (uint8_t)(addr->addr[bits / 8] & (0xff00 >> (bits % 8)));
}

/*
 * key's entry in table (found, or made from an empty, lapsed or nearest-to-lapsing one);
 * idle is the virtual clock of an entry with its whole allowance unused.
 */
static struct st_ratelimit_entry *limit_entry(struct st_ratelimit *r,
                                              struct st_ratelimit_entry (*table)[ST_RATELIMIT_WAYS],
                                              const uint8_t key[18], int64_t idle)
{
	struct st_ratelimit_entry *b = table[st_hash64(key, 18, r->key) % ST_RATELIMIT_BUCKETS];
	struct st_ratelimit_entry *empty = NULL, *lapsed = NULL, *nearest = &b[0];
	for (size_t w = 0; w < ST_RATELIMIT_WAYS; w++) {
		if (!b[w].key[0]) {
			empty = empty ? empty : &b[w];
			continue;
		}
		if (memcmp(b[w].key, key, 18) == 0)
			return &b[w];
		if (b[w].tat <= idle)
			lapsed = lapsed ? lapsed : &b[w];
		else if (b[w].tat < nearest->tat)
			nearest = &b[w];
	}
	struct st_ratelimit_entry *pick = empty ? empty : lapsed ? lapsed : nearest;
	if (!empty && !lapsed)
		r->evicted++;
	memcpy(pick->key, key, 18);
	pick->tat = idle;
	return pick;
}

/*
 * GCRA with an allowance of n per interval, in units of 1/n second: each answer moves
 * the entry's clock interval on; one is allowed while the clock is at most
 * (n - 1) x interval ahead of now. A clock further ahead than any answer can move it
 * means ours went back: start over.
 */
static bool limit_ok(const struct st_ratelimit_entry *e, int64_t now_n, int64_t interval, int64_t n)
{
	return e->tat <= now_n + (n - 1) * interval;
}

static void limit_take(struct st_ratelimit_entry *e, int64_t now_n, int64_t interval)
{
	e->tat = (e->tat > now_n ? e->tat : now_n) + interval;
}

static void limit_clamp(struct st_ratelimit_entry *e, int64_t now_n, int64_t interval, int64_t n)
{
	if (e->tat > now_n + n * interval)
		e->tat = now_n;
}

bool st_ratelimit_allow(struct st_ratelimit *r, const struct st_endpoint *addr, int64_t now)
{
	uint8_t ka[18], kn[18];
	limit_key(ka, addr, addr->family == ST_AF_INET ? 32 : 128); /* whatever its port */
	limit_key(kn, addr, addr->family == ST_AF_INET ? 24 : 48);
	const int64_t nets = ST_RATELIMIT_PER_NET;
	struct st_ratelimit_entry *a = limit_entry(r, r->addr, ka, now);
	limit_clamp(a, now, r->interval, 1);
	if (!limit_ok(a, now, r->interval, 1))
		return false;
	struct st_ratelimit_entry *n = limit_entry(r, r->net, kn, now * nets);
	limit_clamp(n, now * nets, r->interval, nets);
	if (!limit_ok(n, now * nets, r->interval, nets))
		return false;
	limit_take(a, now, r->interval);
	limit_take(n, now * nets, r->interval);
	return true;
}
