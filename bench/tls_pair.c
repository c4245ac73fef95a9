/* tls_pair.c - the TLS limit st-connect --tls is measured against: a minimal OpenSSL client
 * and server doing only the TLS 1.3 handshake, mutual (both present an Ed25519 certificate,
 * neither verifies more than OpenSSL must), then one byte from the server so the client
 * knows its certificate was taken; J at a time, with a plain epoll loop and no protocol.
 *   tls_pair serve ADDR:PORT...      handshake every connection (until killed)
 *   tls_pair dial J N ADDR:PORT...   N handshakes round-robin; prints "ok failed ms" */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "st/endpoint.h"
#include "st/util.h"

/* A self-signed Ed25519 certificate made in memory: a pair needs no files. */
static SSL_CTX *make_ctx(int server)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	X509 *x = X509_new();
	if (!k || !x)
		return NULL;
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, k);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	                           (const unsigned char *)"tls_pair", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	SSL_CTX *c = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!c || X509_sign(x, k, NULL) <= 0 || SSL_CTX_use_certificate(c, x) != 1 ||
	    SSL_CTX_use_PrivateKey(c, k) != 1)
		return NULL;
	SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION);
	SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(c, 0);
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
	/* ask for the client's certificate; a self-signed one is the point, so accept it */
	SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
	X509_free(x);
	EVP_PKEY_free(k);
	return c;
}

static int accept_any(X509_STORE_CTX *xs, void *arg)
{
	(void)xs;
	(void)arg;
	return 1;
}

static int parse_addrs(int argc, char **argv, struct sockaddr_storage *ss, socklen_t *sl)
{
	for (int i = 0; i < argc; i++) {
		struct st_endpoint e;
		if (st_endpoint_parse(&e, argv[i], strlen(argv[i]), NULL) < 0) {
			fprintf(stderr, "tls_pair: bad address '%s'\n", argv[i]);
			return -1;
		}
		st_endpoint_to_sockaddr(&e, &ss[i], &sl[i]);
	}
	return 0;
}

static void raise_nofile(rlim_t want)
{
	struct rlimit cur;
	getrlimit(RLIMIT_NOFILE, &cur);
	if (cur.rlim_cur < want) {
		cur.rlim_cur = want < cur.rlim_max ? want : cur.rlim_max;
		setrlimit(RLIMIT_NOFILE, &cur);
	}
}

/* Drives one SSL on fd: 1 finished, 0 wants more (events set to what), -1 failed. */
static int step(SSL *ssl, int r, uint32_t *what)
{
	if (r > 0)
		return 1;
	switch (SSL_get_error(ssl, r)) {
	case SSL_ERROR_WANT_READ: *what = EPOLLIN; return 0;
	case SSL_ERROR_WANT_WRITE: *what = EPOLLOUT; return 0;
	default: ERR_clear_error(); return -1;
	}
}

#define MAXFD 65536

static int serve(int argc, char **argv)
{
	SSL_CTX *ctx = make_ctx(1);
	if (!ctx)
		return 1;
	SSL_CTX_set_cert_verify_callback(ctx, accept_any, NULL);
	raise_nofile(MAXFD);
	SSL **ssl = calloc(MAXFD, sizeof *ssl);
	struct sockaddr_storage ss;
	socklen_t sl;
	int ep = epoll_create1(0);
	for (int i = 0; i < argc; i++) {
		struct st_endpoint e;
		const char *c = strrchr(argv[i], ':'); /* port 0 (any) is fine here */
		if (!c || st_addr_parse(&e, argv[i], (size_t)(c - argv[i]), NULL) < 0)
			return 2;
		e.port = (uint16_t)atoi(c + 1);
		st_endpoint_to_sockaddr(&e, &ss, &sl);
		int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 4096) < 0) {
			perror("bind");
			return 1;
		}
		struct sockaddr_storage b;
		socklen_t bl = sizeof b;
		getsockname(fd, (struct sockaddr *)&b, &bl);
		st_endpoint_from_sockaddr(&e, (struct sockaddr *)&b, NULL);
		char text[ST_ENDPOINT_STRLEN];
		st_endpoint_format(&e, text, sizeof text);
		printf("listening %s\n", text);
		struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)fd | 1ULL << 32};
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	}
	fflush(stdout);
	struct epoll_event evs[256];
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);
		for (int i = 0; i < n; i++) {
			int fd = (int)(evs[i].data.u64 & 0xffffffff);
			if (evs[i].data.u64 >> 32) {
				int c;
				while ((c = accept4(fd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					if (c >= MAXFD || !(ssl[c] = SSL_new(ctx))) {
						close(c);
						continue;
					}
					int one = 1; /* as st does: a handshake is small writes that must not wait */
					setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
					SSL_set_fd(ssl[c], c);
					SSL_set_accept_state(ssl[c]);
					struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)c};
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
				}
				continue;
			}
			uint32_t what = 0;
			int r = step(ssl[fd], SSL_do_handshake(ssl[fd]), &what);
			if (r == 0) {
				struct epoll_event ev = {.events = what, .data.u64 = (uint64_t)fd};
				epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
				continue;
			}
			if (r == 1)
				(void)SSL_write(ssl[fd], "k", 1); /* a few bytes: the socket takes them */
			SSL_free(ssl[fd]);
			ssl[fd] = NULL;
			close(fd);
		}
	}
}

static int dial(int jobs, long total, int argc, char **argv)
{
	SSL_CTX *ctx = make_ctx(0);
	if (!ctx || jobs < 1)
		return 1;
	SSL_CTX_set_cert_verify_callback(ctx, accept_any, NULL);
	raise_nofile((rlim_t)jobs + 64);
	struct sockaddr_storage *ss = calloc((size_t)argc, sizeof *ss);
	socklen_t *sl = calloc((size_t)argc, sizeof *sl);
	SSL **ssl = calloc(MAXFD, sizeof *ssl);
	if (!ss || !sl || !ssl || parse_addrs(argc, argv, ss, sl) < 0)
		return 2;
	int ep = epoll_create1(0);
	long started = 0, done = 0, failed = 0;
	int running = 0;
	struct epoll_event evs[512];
	int64_t t0 = st_monotonic_ms();
	while (done < total) {
		while (running < jobs && started < total) {
			int k = (int)(started % argc);
			int fd = socket(ss[k].ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
			started++;
			if (fd < 0 || fd >= MAXFD ||
			    (connect(fd, (struct sockaddr *)&ss[k], sl[k]) < 0 && errno != EINPROGRESS) ||
			    !(ssl[fd] = SSL_new(ctx))) {
				if (fd >= 0)
					close(fd);
				failed++;
				done++;
				continue;
			}
			int one = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
			SSL_set_fd(ssl[fd], fd);
			SSL_set_connect_state(ssl[fd]);
			struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = (uint64_t)fd};
			epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
			running++;
		}
		int n = epoll_wait(ep, evs, 512, 10000);
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++) {
			int fd = (int)evs[i].data.u64;
			char b;
			uint32_t what = 0;
			/* the handshake, then the server's byte: its word that it took our certificate */
			int r = 1;
			if (!SSL_is_init_finished(ssl[fd]))
				r = step(ssl[fd], SSL_do_handshake(ssl[fd]), &what);
			if (r == 1)
				r = step(ssl[fd], SSL_read(ssl[fd], &b, 1), &what);
			if (r == 0) {
				struct epoll_event ev = {.events = what, .data.u64 = (uint64_t)fd};
				epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
				continue;
			}
			if (r < 0)
				failed++;
			SSL_free(ssl[fd]);
			ssl[fd] = NULL;
			close(fd);
			done++;
			running--;
		}
	}
	int64_t ms = st_monotonic_ms() - t0;
	printf("%ld %ld %lld\n", done - failed, failed, (long long)(ms ? ms : 1));
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "serve") == 0)
		return serve(argc - 2, argv + 2);
	if (argc >= 5 && strcmp(argv[1], "dial") == 0)
		return dial(atoi(argv[2]), atol(argv[3]), argc - 4, argv + 4);
	fprintf(stderr, "usage: tls_pair serve ADDR:PORT... | dial J N ADDR:PORT...\n");
	return 2;
}
