/* connect_session.h - st-connect's interactive session (cmd/connect_session.c). */
#ifndef ST_CONNECT_SESSION_H
#define ST_CONNECT_SESSION_H

#include <stdint.h>

#include "st/endpoint.h"
#include "st/err.h"
#include "st/wire.h"

/*
 * Dials ep, handshakes, then reads commands from in_fd (ping, getpeers N,
 * raw 0xTT HEX, quit) and prints every message on stdout with a timestamp; the
 * session ends when stop_fd (> 0) becomes readable, as after quit.
 * Returns 0 when the session ended normally, -1 with err otherwise.
 */
int st_connect_session(const struct st_endpoint *ep, const struct st_handshake *local,
                       int64_t timeout_ms, int in_fd, int stop_fd, struct st_err *err);

#endif
