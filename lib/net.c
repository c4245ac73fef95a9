/* net.c - our handshake, and the two ready-made loops over the engine: st_dial_all, st_listen_run. */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "st/net.h"
#include "st/store.h"
#include "st/tls.h"

static uint64_t random_u64(void)
{
	uint64_t v = 0;
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (read(fd, &v, sizeof v) != (ssize_t)sizeof v)
			v = 0;
		close(fd);
	}
	if (!v)
		v = (uint64_t)st_monotonic_ms() * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
	return v;
}

int st_net_local_handshake(const struct st_config *cfg, uint16_t listen_port,
                           struct st_handshake *h, struct st_err *err)
{
	memset(h, 0, sizeof *h);
	h->version = ST_PROTOCOL_VERSION;
	h->timestamp = st_now();
	st_strlcpy(h->user_agent, cfg->node.user_agent[0] ? cfg->node.user_agent : "st", sizeof h->user_agent);
	h->has_ext = true;
	h->listen_port = listen_port;
	h->has_nonce = true;
	h->nonce = random_u64();
	h->has_services = true;
	h->services = ST_SERVICE_GETPEERS;
	if (cfg->node.node_id[0]) {
		st_strlcpy(h->node_id, cfg->node.node_id, sizeof h->node_id);
		return 0;
	}
	/* no id configured: one made up once and kept in the data dir */
	char path[ST_PATH_MAX + 16];
	snprintf(path, sizeof path, "%s/node_id", cfg->data_dir);
	int rfd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	FILE *f = rfd >= 0 ? fdopen(rfd, "r") : NULL;
	if (rfd >= 0 && !f)
		close(rfd);
	if (f) {
		char line[160] = "";
		if (fgets(line, sizeof line, f))
			line[strcspn(line, "\r\n")] = '\0';
		fclose(f);
		if (line[0] && !st_node_id_valid(line, strlen(line)))
			return st_err_set(err, ST_EX_DATAERR, "'%s': not a node id", path);
		if (line[0]) {
			st_strlcpy(h->node_id, line, sizeof h->node_id);
			return 0;
		}
	}
	if (rfd < 0 && errno == ELOOP)
		return st_err_set(err, ST_EX_DATAERR, "'%s': a symbolic link, not followed", path);
	snprintf(h->node_id, sizeof h->node_id, "st-%016" PRIx64, random_u64());
	if (st_datadir_prepare(cfg->data_dir, err) < 0)
		return -1;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno == EEXIST) /* another process just made one: use it */
			return st_net_local_handshake(cfg, listen_port, h, err);
		return st_err_sys(err, ST_EX_CANTCREAT, "'%s'", path);
	}
	char line[160];
	int n = snprintf(line, sizeof line, "%s\n", h->node_id);
	if (write(fd, line, (size_t)n) != n || fsync(fd) < 0) {
		close(fd);
		return st_err_sys(err, ST_EX_IOERR, "'%s'", path);
	}
	close(fd);
	return 0;
}

int st_net_local_handshake_tls(const struct st_config *cfg, uint16_t listen_port,
                               const struct st_tls_ctx *tls, struct st_handshake *h,
                               struct st_err *err)
{
	if (!tls)
		return st_net_local_handshake(cfg, listen_port, h, err);
	/* no node_id file is read or made: the key is the identity */
	struct st_config c = *cfg;
	const char *id = st_tls_id(tls);
	if (cfg->node.node_id[0] && strcmp(cfg->node.node_id, id) != 0)
		return st_err_set(err, ST_EX_USAGE,
		                  "node.node_id %s is not the id of the TLS key (%s): peers would "
		                  "refuse it",
		                  cfg->node.node_id, id);
	st_strlcpy(c.node.node_id, id, sizeof c.node.node_id);
	c.seeds = NULL;
	c.nseeds = 0;
	return st_net_local_handshake(&c, listen_port, h, err);
}

void st_net_raise_nofile(uint64_t need)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= need)
		return;
	rl.rlim_cur = need < rl.rlim_max ? need : rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
}

/* ---- st_dial_all: a loop of its own around one dialer ---- */

struct dial_all {
	struct event_base *base;
	const struct st_dial_opts *o;
	st_dial_fn fn;
	void *ctx;
	size_t total;
	bool interrupted;
	struct event *flush;   /* o->flush, after the events now active have run */
};

static void all_result(void *ctx, const struct st_dial_result *r)
{
	struct dial_all *a = ctx;
	a->fn(a->ctx, r);
	if (a->flush) /* at the end of the active queue; once however many results come */
		event_active(a->flush, EV_TIMEOUT, 1);
}

static void all_flush(evutil_socket_t fd, short what, void *ctx)
{
	(void)fd;
	(void)what;
	struct dial_all *a = ctx;
	a->o->flush(a->o->progress_ctx);
}

static void all_progress(void *ctx, size_t done, size_t total, long ok)
{
	struct dial_all *a = ctx;
	(void)total; /* every endpoint was added before the loop ran */
	if (a->o->progress)
		a->o->progress(a->o->progress_ctx, done, a->total, ok);
}

static void all_idle(void *ctx, struct st_dialer *d)
{
	(void)d;
	struct dial_all *a = ctx;
	event_base_loopbreak(a->base);
}

static bool all_banned(void *ctx, const char *id)
{
	struct dial_all *a = ctx;
	return a->o->banned_id(a->o->banned_ctx, id);
}

static const char *all_known(void *ctx, const struct st_endpoint *ep)
{
	struct dial_all *a = ctx;
	return a->o->known_id(a->o->banned_ctx, ep);
}

/* The stop descriptor became readable: dials still open end unreported. */
static void on_stop(evutil_socket_t fd, short what, void *ctx)
{
	(void)fd;
	(void)what;
	struct dial_all *a = ctx;
	a->interrupted = true;
	event_base_loopbreak(a->base);
}

long st_dial_all(const struct st_endpoint *eps, size_t n, const struct st_dial_opts *o,
                 st_dial_fn fn, void *ctx, bool *interrupted, struct st_err *err)
{
	struct dial_all a = {.o = o, .fn = fn, .ctx = ctx, .total = n};
	*interrupted = false;
	if (n == 0)
		return 0;
	/* epoll changes made in one turn of the loop are applied together before it waits:
	 * a dial's switch from waiting to write (its connect) to waiting to read is one
	 * change, not two. libevent's caveat, descriptors shared by dup(), is none of ours. */
	struct event_config *cfg = event_config_new();
	if (cfg)
		event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	a.base = cfg ? event_base_new_with_config(cfg) : NULL;
	if (cfg)
		event_config_free(cfg);
	if (!a.base)
		a.base = event_base_new();
	if (!a.base)
		return st_err_set(err, ST_EX_SOFTWARE, "cannot start the event loop");
	struct st_dialer_opts dopts = {
		.jobs = o->jobs,
		.timeout_ms = o->timeout_ms,
		.ping = o->ping,
		.getpeers = o->getpeers,
		.exclude = o->exclude,
		.nexclude = o->nexclude,
		.local = o->local,
		.ctx = &a,
		.result = all_result,
		.progress = all_progress,
		.banned_id = o->banned_id ? all_banned : NULL,
		.idle = all_idle,
		.tls = o->tls,
		.strict = o->strict,
		.known_id = o->known_id ? all_known : NULL,
		.max_memory = o->max_memory,
		.source = o->source,
	};
	struct st_dialer *d = NULL;
	struct event *stop = NULL;
	long ok = -1;
	if (o->flush && !(a.flush = event_new(a.base, -1, 0, all_flush, &a))) {
		st_err_set(err, ST_EX_SOFTWARE, "cannot start the event loop");
		goto out;
	}
	if (st_dialer_new(&d, a.base, &dopts, err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (st_dialer_add(d, &eps[i], o->expected ? o->expected[i] : NULL, err) < 0)
			goto out;
	if (o->stop_fd > 0) {
		stop = event_new(a.base, o->stop_fd, EV_READ, on_stop, &a);
		if (!stop) {
			st_err_set(err, ST_EX_SOFTWARE, "cannot start the event loop");
			goto out;
		}
		event_add(stop, NULL);
	}
	event_base_dispatch(a.base);
	if (o->flush) /* a break of the loop leaves the last turn's unflushed */
		o->flush(o->progress_ctx);
	*interrupted = a.interrupted;
	ok = st_dialer_ok(d);
	if (o->peak_memory)
		*o->peak_memory = st_dialer_budget(d)->peak;
out:
	st_dialer_free(d);
	if (stop)
		event_free(stop);
	if (a.flush)
		event_free(a.flush);
	event_base_free(a.base);
	return ok;
}

/* ---- st_listen_run: a loop of its own around one listener ---- */

static void listen_stop(evutil_socket_t fd, short what, void *ctx)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(ctx);
}

int st_listen_run(const struct st_listen_opts *o, struct st_err *err)
{
	struct event_base *base = event_base_new();
	if (!base)
		return st_err_set(err, ST_EX_SOFTWARE, "cannot start the event loop");
	struct st_listener_opts lo = {
		.max_conns = o->max_conns,
		.max_per_ip = o->max_per_ip,
		.idle_timeout_ms = o->idle_timeout_ms,
		.handshake_timeout_ms = o->handshake_timeout_ms,
		.max_frame = o->max_frame,
		.getpeers_interval = o->getpeers_interval,
		.max_memory = o->max_memory,
		.local = o->local,
		.ctx = o->ctx,
		.getpeers = o->getpeers,
		.session = o->session,
		.message = o->message,
		.banned_addr = o->banned_addr,
		.banned_peer = o->banned_peer,
		.tls = o->tls,
	};
	struct st_listener *l = NULL;
	int rc = st_listener_new(&l, base, &lo, err);
	st_net_raise_nofile((uint64_t)o->max_conns + 64);
	for (size_t i = 0; rc == 0 && i < o->nbind; i++) {
		struct st_endpoint ep;
		rc = st_listener_bind(l, o->bind[i], &ep, err);
		if (rc == 0 && o->bound)
			o->bound(o->ctx, &ep);
	}
	if (rc == 0) {
		struct event *stop = o->stop_fd > 0 ? event_new(base, o->stop_fd, EV_READ, listen_stop, base)
		                                    : NULL;
		if (stop)
			event_add(stop, NULL);
		event_base_dispatch(base);
		if (stop)
			event_free(stop);
	}
	st_listener_free(l);
	event_base_free(base);
	return rc;
}
