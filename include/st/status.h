/* status.h - how a connection ended: one enum, one name per value, in every program. */
#ifndef ST_STATUS_H
#define ST_STATUS_H

/*
 * The "status" of a dial result (st-connect) and of an inbound session
 * (st-listen). The names are part of the record stream: st-files(5) lists
 * them, and consumers compare the enum, never the text.
 */
enum st_status {
	ST_STATUS_OK,               /* the exchange completed (inbound: closed by the peer) */
	ST_STATUS_REFUSED,          /* connection refused */
	ST_STATUS_TIMEOUT,          /* no answer in time */
	ST_STATUS_UNREACHABLE,      /* no route, no descriptor, ... */
	ST_STATUS_PROTOCOL_ERROR,   /* a bad frame or message, or a reset mid-session */
	ST_STATUS_VERSION_MISMATCH, /* a protocol version we do not speak */
	ST_STATUS_SELF,             /* we reached ourselves */
	ST_STATUS_PEER_ERROR,       /* the peer sent Error */
	ST_STATUS_BANNED,           /* never dialed or refused: banned */
	ST_STATUS_IDLE,             /* inbound: closed after the idle timeout */
	ST_STATUS_REFUSED_LIMIT,    /* inbound: refused, connection limits */
	ST_STATUS_SHUTDOWN,         /* inbound: the listener stopped */
	ST_STATUS_TLS_ERROR,        /* the TLS handshake failed: not TLS, a certificate refused */
	ST_STATUS_IDENTITY_MISMATCH, /* the certificate's id is not the handshake's or the pinned id */
	ST_STATUS_IDENTITY_CHANGED, /* refused: the endpoint proved another id than the verified one known */
	ST_STATUS__COUNT,
};

/* "ok", "refused", "timeout", ... */
const char *st_status_name(enum st_status s);
/* Parses a name; returns 0, or -1 for a name that is not a status. */
int st_status_parse(const char *name, enum st_status *out);
/* True for a status that counts as a success for the books (ok, idle). */
int st_status_is_success(enum st_status s);

#endif
