/* raw_loopback.c - the loopback limit st-connect is measured against: connect, write 64
 * bytes, read 64 bytes, close, J at a time, with a plain epoll loop and no protocol.
 *   raw_loopback serve ADDR:PORT...      echo 64 bytes back on every connection (until killed)
 *   raw_loopback dial J N ADDR:PORT...   N connections round-robin over the addresses; prints rate
 * With RAW_MSG=FILE, dial writes that file's bytes (up to 4096; a captured st Handshake)
 * instead of 64 zero bytes, and counts a connection as answered on any reply: the same
 * minimal client against st-listen and against the raw echo server. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "st/endpoint.h"
#include "st/util.h"

#define MSG 64

static int set_nonblock(int fd)
{
	return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static int serve(int argc, char **argv)
{
	int ep = epoll_create1(0);
	for (int i = 0; i < argc; i++) {
		struct st_endpoint e;
		struct sockaddr_storage ss;
		socklen_t len;
		const char *c = strrchr(argv[i], ':');
		if (!c || st_addr_parse(&e, argv[i], (size_t)(c - argv[i]), NULL) < 0)
			return 2;
		e.port = (uint16_t)atoi(c + 1);
		st_endpoint_to_sockaddr(&e, &ss, &len);
		int fd = socket(ss.ss_family, SOCK_STREAM, 0), one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 4096) < 0) {
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
		set_nonblock(fd);
		struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)fd | 1ULL << 32};
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	}
	fflush(stdout);
	struct epoll_event evs[256];
	char buf[MSG];
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);
		for (int i = 0; i < n; i++) {
			int fd = (int)(evs[i].data.u64 & 0xffffffff);
			if (evs[i].data.u64 >> 32) {
				int c;
				while ((c = accept4(fd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)c};
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
				}
				continue;
			}
			ssize_t r = read(fd, buf, sizeof buf);
			if (r > 0 && write(fd, buf, (size_t)r) < 0)
				r = -1;
			if (r <= 0)
				close(fd);
		}
	}
}

struct conn {
	int fd;
	int got;
};

static int dial(int jobs, long total, int argc, char **argv)
{
	struct rlimit rl = {.rlim_cur = (rlim_t)jobs + 64, .rlim_max = (rlim_t)jobs + 64};
	struct rlimit cur;
	getrlimit(RLIMIT_NOFILE, &cur);
	if (cur.rlim_cur < rl.rlim_cur) {
		rl.rlim_max = cur.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	struct sockaddr_storage *ss = calloc((size_t)argc, sizeof *ss);
	socklen_t *sl = calloc((size_t)argc, sizeof *sl);
	for (int i = 0; i < argc; i++) {
		struct st_endpoint e;
		if (st_endpoint_parse(&e, argv[i], strlen(argv[i]), NULL) < 0)
			return 2;
		st_endpoint_to_sockaddr(&e, &ss[i], &sl[i]);
	}
	int ep = epoll_create1(0);
	long started = 0, done = 0, failed = 0;
	int running = 0;
	char msg[4096] = {0}, buf[MSG];
	size_t msg_len = MSG;
	const char *msg_file = getenv("RAW_MSG");
	if (msg_file) {
		FILE *f = fopen(msg_file, "rb");
		if (!f) {
			perror(msg_file);
			return 2;
		}
		msg_len = fread(msg, 1, sizeof msg, f);
		fclose(f);
		if (!msg_len)
			return 2;
	}
	struct epoll_event evs[512];
	int64_t t0 = st_monotonic_ms();
	while (done < total) {
		while (running < jobs && started < total) {
			int k = (int)(started % argc);
			int fd = socket(ss[k].ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
			started++;
			if (fd < 0 || (connect(fd, (struct sockaddr *)&ss[k], sl[k]) < 0 && errno != EINPROGRESS)) {
				if (fd >= 0)
					close(fd);
				failed++;
				done++;
				continue;
			}
			struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = (uint64_t)fd};
			epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
			running++;
		}
		int n = epoll_wait(ep, evs, 512, 10000);
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++) {
			int fd = (int)evs[i].data.u64;
			if (evs[i].events & EPOLLOUT) {
				if ((evs[i].events & (EPOLLERR | EPOLLHUP)) || write(fd, msg, msg_len) != (ssize_t)msg_len) {
					close(fd);
					failed++;
					done++;
					running--;
					continue;
				}
				struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)fd};
				epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
				continue;
			}
			ssize_t r = read(fd, buf, sizeof buf);
			if (r <= 0)
				failed++;
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
	fprintf(stderr, "usage: raw_loopback serve ADDR:PORT... | dial J N ADDR:PORT...\n");
	return 2;
}
