/* test_conn.c - one plain connection's socket, seen from inside: it includes lib/conn.c to
 * look at who reads the socket, and the Makefile links it with --wrap=send, so a test
 * decides when a send of ours fails for the moment. */
#include "unit.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <unistd.h>

#include "../../lib/conn.c"

ssize_t __real_send(int fd, const void *p, size_t n, int flags);
ssize_t __wrap_send(int fd, const void *p, size_t n, int flags);
static int failing_sends; /* the next sends that fail with ENOBUFS, as a kernel short of buffers */
static int sends;         /* sends tried */

ssize_t __wrap_send(int fd, const void *p, size_t n, int flags)
{
	sends++;
	if (failing_sends > 0) {
		failing_sends--;
		errno = ENOBUFS;
		return -1;
	}
	return __real_send(fd, p, n, flags);
}

static struct st_handshake local(void)
{
	struct st_handshake h = {.version = 1, .timestamp = 1, .has_ext = true, .has_nonce = true,
	                         .nonce = 7, .has_services = true, .services = 1};
	strcpy(h.node_id, "dialer-1");
	strcpy(h.user_agent, "test/1");
	return h;
}

/* A peer that accepts and reads our Handshake, then closes cleanly. */
struct peer {
	struct event_base *base;
	int lfd, fd;
	size_t got;                   /* bytes of our Handshake it read */
	int closed;
	enum st_status status;
	char error[256];
	bool stop_at_connect;
	int frames;                   /* frames it reads before it closes: 0 is 1, the Handshake */
};

static void listen_on_loopback(struct peer *p, struct st_endpoint *ep)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof sin;
	p->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(p->lfd >= 0);
	assert_int_equal(bind(p->lfd, (struct sockaddr *)&sin, sizeof sin), 0);
	assert_int_equal(listen(p->lfd, 4), 0);
	assert_int_equal(getsockname(p->lfd, (struct sockaddr *)&sin, &len), 0);
	char text[64];
	snprintf(text, sizeof text, "127.0.0.1:%u", ntohs(sin.sin_port));
	assert_int_equal(st_endpoint_parse(ep, text, strlen(text), NULL), 0);
	p->fd = -1;
}

/* Our Handshake, whole (its 4-byte length first), then a clean close. */
static void peer_read(evutil_socket_t fd, short what, void *ctx)
{
	(void)what;
	struct peer *p = ctx;
	uint8_t b[4096];
	for (int i = 0; i < (p->frames ? p->frames : 1); i++) {
		assert_int_equal(recv(fd, b, 4, MSG_WAITALL), 4);
		size_t len = (size_t)b[0] | (size_t)b[1] << 8 | (size_t)b[2] << 16 | (size_t)b[3] << 24;
		assert_true(len > 0 && len <= sizeof b);
		assert_int_equal(recv(fd, b, len, MSG_WAITALL), (ssize_t)len);
		p->got += 4 + len;
	}
	close(fd);
	p->fd = -1;
}

static void on_connected(void *ctx, struct st_conn *c)
{
	(void)c;
	struct peer *p = ctx;
	p->fd = accept(p->lfd, NULL, NULL); /* the kernel took it already: no wait */
	assert_true(p->fd >= 0);
	struct timeval tv = {5, 0}; /* a frame that never comes fails the test, not hangs it */
	assert_int_equal(setsockopt(p->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
	if (p->stop_at_connect)
		event_base_loopbreak(p->base);
	else
		assert_int_equal(event_base_once(p->base, p->fd, EV_READ, peer_read, p, NULL), 0);
}

static void on_closed(void *ctx, struct st_conn *c, enum st_status status, const char *error)
{
	(void)c;
	struct peer *p = ctx;
	p->closed++;
	p->status = status;
	snprintf(p->error, sizeof p->error, "%s", error ? error : "");
	event_base_loopbreak(p->base);
}

static const struct st_conn_cbs cbs = {.connected = on_connected, .closed = on_closed};

/* One dial the peer reads and closes; the first `fail` sends of ours fail for the moment. */
static void dial_and_close(struct peer *p, int fail)
{
	struct st_err err = {0};
	struct st_endpoint ep;
	struct st_handshake me = local();
	struct st_conn_opts co = {.local = &me};
	struct st_conn *c;
	memset(p, 0, sizeof *p);
	p->base = event_base_new();
	assert_non_null(p->base);
	listen_on_loopback(p, &ep);
	failing_sends = fail; /* from the first send: the one right after the connect */
	assert_int_equal(st_conn_dial(&c, p->base, &ep, &co, &cbs, p, &err), 0);
	st_conn_set_timeout(c, 10000);
	event_base_dispatch(p->base);
	assert_int_equal(failing_sends, 0); /* the failure happened */
	assert_int_equal(p->closed, 1);
	close(p->lfd);
	event_base_free(p->base);
}

/* A send that fails for the moment (ENOBUFS) is tried again, and is no error of the
 * connection: the peer gets the Handshake, and its clean close is told as it is told
 * when no send failed (not as "No buffer space available"). */
static void transient_send_error_does_not_stick(void **state)
{
	(void)state;
	struct peer clean, failed[2];
	dial_and_close(&clean, 0);
	assert_true(clean.got > 0);
	assert_int_equal(clean.status, ST_STATUS_PROTOCOL_ERROR); /* a dialer's peer closed first */
	/* 1: the send right after the connect fails; 2: send_now's, at the connect, too */
	for (int i = 0; i < 2; i++) {
		dial_and_close(&failed[i], i + 1);
		assert_int_equal(failed[i].got, clean.got);
		assert_int_equal(failed[i].status, clean.status);
		assert_string_equal(failed[i].error, clean.error);
		assert_null(strstr(failed[i].error, "buffer space"));
	}
}

/* A dial of a fresh loopback peer p (its base made here), not yet run. */
static struct st_conn *dial_peer(struct peer *p)
{
	static struct st_handshake me;
	me = local();
	struct st_conn_opts co = {.local = &me};
	struct st_err err = {0};
	struct st_endpoint ep;
	struct st_conn *c;
	p->base = event_base_new();
	assert_non_null(p->base);
	listen_on_loopback(p, &ep);
	assert_int_equal(st_conn_dial(&c, p->base, &ep, &co, &cbs, p, &err), 0);
	return c;
}

/* A kernel that stays short of buffers is a write error, told once: the write event, armed
 * for a writable socket, must not wake for ever to meet the same ENOBUFS. */
static void lasting_send_error_closes_and_does_not_spin(void **state)
{
	(void)state;
	struct peer p = {0};
	failing_sends = 1000000;
	sends = 0;
	struct st_conn *c = dial_peer(&p);
	st_conn_set_timeout(c, 10000);
	event_base_dispatch(p.base);
	assert_int_equal(p.closed, 1);
	assert_non_null(strstr(p.error, "No buffer space"));
	assert_true(sends <= 3); /* the dial's, send_now's and the write event's: no loop */
	failing_sends = 0;
	if (p.fd >= 0)
		close(p.fd);
	close(p.lfd);
	event_base_free(p.base);
}

/* What a plain connection's queue holds is charged by its capacity: the queue gives its
 * memory back only when it drains, so what is charged is what is held. */
static void the_queue_is_charged_by_what_it_holds(void **state)
{
	(void)state;
	struct peer p = {.stop_at_connect = true};
	struct st_conn *c = dial_peer(&p);
	static char big[1 << 20];
	assert_int_equal(st_buf_append(&c->wq, big, sizeof big, NULL), 0);
	c->wq_off = sizeof big - 1000; /* nearly all of it sent: 1000 bytes wait */
	assert_int_equal(out_len(c), 1000);
	assert_true(held(c) >= c->wq.cap);
	assert_true(c->wq.cap >= sizeof big);
	st_conn_free(c);
	close(p.lfd);
	event_base_free(p.base);
}

/* A plain connection has one reader of its socket: its own read event, no bufferevent
 * beside it; a dial turns it on at its connect, even when reading was asked for before
 * (a budget's resume before the connect completed), and not earlier. */
static void one_reader_after_connect(void **state)
{
	(void)state;
	struct st_err err = {0};
	struct st_endpoint ep;
	struct st_handshake me = local();
	struct st_conn_opts co = {.local = &me};
	struct st_conn *c;
	struct peer p = {.stop_at_connect = true};
	p.base = event_base_new();
	assert_non_null(p.base);
	listen_on_loopback(&p, &ep);
	assert_int_equal(st_conn_dial(&c, p.base, &ep, &co, &cbs, &p, &err), 0);
	assert_null(c->bev);
	set_reading(c, true);
	assert_false(c->reading); /* nothing is read before the connect */
	event_base_dispatch(p.base); /* until connected */
	assert_true(st_conn_connected(c));
	assert_null(c->bev);
	assert_true(c->reading);
	assert_true(event_pending(c->rd, EV_READ, NULL));
	/* and it stays the one reader as reading goes off and on */
	set_reading(c, false);
	assert_false(event_pending(c->rd, EV_READ, NULL));
	set_reading(c, true);
	assert_true(c->reading);
	assert_true(event_pending(c->rd, EV_READ, NULL));
	st_conn_free(c);
	close(p.fd);
	close(p.lfd);
	event_base_free(p.base);
}

/* A dial whose socket takes its Handshake right after the connect (loopback does) never
 * waits for the write event: the Handshake is gone before the loop runs, and the connect
 * is told from the loop all the same. */
static void early_handshake_needs_no_write_wait(void **state)
{
	(void)state;
	struct peer p = {0};
	struct st_conn *c = dial_peer(&p);
	assert_true(c->sent_early);
	assert_int_equal(c->s.out.len, 0);
	assert_false(c->wr->ev_evcallback.evcb_flags & EVLIST_INSERTED); /* made active, never armed */
	assert_false(st_conn_connected(c)); /* not inside the dial: from the loop */
	st_conn_set_timeout(c, 10000);
	event_base_dispatch(p.base);
	assert_true(p.got > 0); /* the peer read it whole */
	assert_int_equal(p.closed, 1);
	assert_int_equal(p.status, ST_STATUS_PROTOCOL_ERROR); /* the peer closed first */
	close(p.lfd);
	event_base_free(p.base);
}

/* A frame written before the loop runs, after the Handshake went with the connect, waits
 * for the write event and reaches the peer after it (connect_done arms the event). */
static void a_frame_written_before_the_loop_follows_the_handshake(void **state)
{
	(void)state;
	struct peer p = {.frames = 2};
	struct st_conn *c = dial_peer(&p);
	assert_true(c->sent_early);
	size_t handshake = 0;
	{
		struct peer q = {0};
		struct st_conn *d = dial_peer(&q);
		st_conn_set_timeout(d, 10000);
		event_base_dispatch(q.base);
		handshake = q.got;
		close(q.lfd);
		event_base_free(q.base);
	}
	assert_int_equal(st_conn_raw(c, 0x42, (const uint8_t *)"abc", 3), 0);
	st_conn_set_timeout(c, 10000);
	event_base_dispatch(p.base);
	assert_int_equal(p.closed, 1);
	assert_int_equal(p.got, handshake + 4 + 1 + 3); /* the frame: length, type, payload */
	close(p.lfd);
	event_base_free(p.base);
}

/* A port nobody listens on is refused, whether the send right after the connect or the
 * write event meets the refusal: the send takes the socket's error, so it must tell it. */
static void refused_dial_is_refused(void **state)
{
	(void)state;
	for (int fail = 0; fail <= 1; fail++) {
		struct peer p = {0};
		struct st_endpoint ep;
		listen_on_loopback(&p, &ep);
		close(p.lfd); /* the port is free now: a connect to it is refused */
		p.base = event_base_new();
		assert_non_null(p.base);
		struct st_handshake me = local();
		struct st_conn_opts co = {.local = &me};
		struct st_err err = {0};
		struct st_conn *c;
		failing_sends = fail; /* 1: the early send fails for the moment, the event tells */
		assert_int_equal(st_conn_dial(&c, p.base, &ep, &co, &cbs, &p, &err), 0);
		st_conn_set_timeout(c, 10000);
		event_base_dispatch(p.base);
		failing_sends = 0;
		assert_int_equal(p.closed, 1);
		assert_int_equal(p.status, ST_STATUS_REFUSED);
		assert_non_null(strstr(p.error, "refused"));
		event_base_free(p.base);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(transient_send_error_does_not_stick),
		cmocka_unit_test(one_reader_after_connect),
		cmocka_unit_test(lasting_send_error_closes_and_does_not_spin),
		cmocka_unit_test(the_queue_is_charged_by_what_it_holds),
		cmocka_unit_test(early_handshake_needs_no_write_wait),
		cmocka_unit_test(refused_dial_is_refused),
		cmocka_unit_test(a_frame_written_before_the_loop_follows_the_handshake),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
