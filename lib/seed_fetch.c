/* seed_fetch.c - seed lists over HTTP(S): libcurl multi, limits, retries, conditional GETs. */
#include <curl/curl.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "st/seed.h"

/* One transfer: a seed list, or its .sig once the list has arrived. */
struct xfer {
	struct st_seed_request *r;
	bool sig;
	bool started, waiting, done;
	CURL *h;
	struct curl_slist *hdrs;
	struct st_buf *buf;
	uint64_t max;
	bool too_big;
	unsigned attempt;
	int64_t due_ms;
	char url[ST_PATH_MAX + 8];
	char errbuf[CURL_ERROR_SIZE];
	char ctype[128], etag[256], lastmod[64];
};

void st_seed_request_init(struct st_seed_request *r, const char *url)
{
	*r = (struct st_seed_request){.url = url};
	st_buf_init(&r->body, 0);
	st_buf_init(&r->sig, ST_SEED_SIG_MAX);
}

void st_seed_request_clear(struct st_seed_request *r)
{
	st_buf_clear(&r->body);
	st_buf_clear(&r->sig);
}

bool st_seed_is_url(const char *s)
{
	return strstr(s, "://") != NULL;
}

int st_seed_read_file(const char *path, uint64_t max, struct st_buf *b, struct st_err *err)
{
	bool in = strcmp(path, "-") == 0;
	FILE *f = in ? stdin : fopen(path, "rb");
	if (!f)
		return st_err_sys(err, errno == ENOENT ? ST_EX_NOINPUT : ST_EX_IOERR, "'%s'", path);
	b->max = max;
	/* a file's size is known: room for it at once, read into straight (a hint: a
	 * file that grows meanwhile goes on by chunks, the ceiling as ever) */
	struct stat sb;
	if (!in && fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0 &&
	    (uint64_t)sb.st_size <= max)
		(void)st_buf_reserve(b, (size_t)sb.st_size, NULL);
	char chunk[16384];
	int rc = 0;
	for (;;) {
		size_t room = b->cap > b->len + 1 ? b->cap - b->len - 1 : 0;
		size_t n = fread(room ? b->data + b->len : chunk, 1, room ? room : sizeof chunk, f);
		if (!n)
			break;
		if (room) {
			b->len += n;
			b->data[b->len] = '\0';
		} else if (st_buf_append(b, chunk, n, NULL) < 0) {
			rc = st_err_set(err, ST_EX_DATAERR, "'%s': over --max-size (%llu bytes)", path,
			                (unsigned long long)max);
			break;
		}
	}
	if (!rc && ferror(f))
		rc = st_err_sys(err, ST_EX_IOERR, "'%s'", path);
	if (!in)
		fclose(f);
	return rc;
}

int st_seed_read_local(struct st_seed_request *r, uint64_t max)
{
	char sig[ST_PATH_MAX + 8];
	int rc = st_seed_read_file(r->url, max, &r->body, &r->err);
	if (rc == 0 && r->want_sig) {
		snprintf(sig, sizeof sig, "%s.sig", r->url);
		rc = st_seed_read_file(sig, ST_SEED_SIG_MAX, &r->sig, &r->err);
	}
	if (rc < 0)
		r->failed = r->err.code;
	return rc;
}

int st_seed_request_list(const struct st_seed_request *r, const char *public_key,
                         enum st_seed_format fmt, uint16_t default_port,
                         const struct st_seed_sink *sink, struct st_seed_list *l,
                         struct st_err *err)
{
	const char *body = r->body.data ? r->body.data : "";
	if (public_key && public_key[0] &&
	    st_sig_verify(public_key, body, r->body.len, r->sig.data ? r->sig.data : "", r->sig.len,
	                  err) < 0)
		return -1;
	return st_seed_parse(l, body, r->body.len, fmt, r->content_type, default_port, sink, err);
}

int st_seed_resolve_host(void *ctx, struct st_seed_list *l, const char *host, uint16_t port,
                         const char *node_id, struct st_err *err)
{
	(void)ctx;
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
	int rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0)
		return st_err_set(err, ST_EX_DATAERR, "host name '%s': %s", host, gai_strerror(rc));
	size_t n = 0;
	for (const struct addrinfo *a = res; a; a = a->ai_next) {
		struct st_endpoint ep = {.port = port};
		if (a->ai_family == AF_INET) {
			ep.family = ST_AF_INET;
			memcpy(ep.addr, &((const struct sockaddr_in *)(const void *)a->ai_addr)->sin_addr, 4);
		} else if (a->ai_family == AF_INET6) {
			ep.family = ST_AF_INET6;
			memcpy(ep.addr, &((const struct sockaddr_in6 *)(const void *)a->ai_addr)->sin6_addr, 16);
		} else {
			continue;
		}
		if (st_seed_list_add(l, &ep, node_id, err) < 0) {
			freeaddrinfo(res);
			return -1;
		}
		n++;
	}
	freeaddrinfo(res);
	return n ? 0 : st_err_set(err, ST_EX_DATAERR, "host name '%s': no addresses", host);
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
	struct xfer *x = ctx;
	size_t len = size * n;
	if (x->buf->len + len > x->max) {
		x->too_big = true;
		return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	curl_off_t cl;
	if (!x->buf->len && curl_easy_getinfo(x->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) == CURLE_OK &&
	    cl > 0 && (uint64_t)cl <= x->max)
		(void)st_buf_reserve(x->buf, (size_t)cl, NULL); /* room at once, not by doubling */
	return st_buf_append(x->buf, p, len, NULL) < 0 ? 0 : len;
}

/* Keeps one header's value, without the CR LF. */
static void keep_header(const char *line, size_t len, const char *name, char *out, size_t size)
{
	size_t nlen = strlen(name);
	if (len <= nlen || strncasecmp(line, name, nlen) != 0)
		return;
	const char *v = line + nlen;
	len -= nlen;
	while (len && (*v == ' ' || *v == '\t')) {
		v++;
		len--;
	}
	while (len && (v[len - 1] == '\r' || v[len - 1] == '\n' || v[len - 1] == ' '))
		len--;
	if (len >= size)
		len = size - 1; /* an absurd header is cut, never overflows */
	memcpy(out, v, len);
	out[len] = '\0';
}

static size_t on_header(char *p, size_t size, size_t n, void *ctx)
{
	struct xfer *x = ctx;
	size_t len = size * n;
	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		/* a new response (after a redirect): only the last one's headers count */
		x->ctype[0] = x->etag[0] = x->lastmod[0] = '\0';
		return len;
	}
	keep_header(p, len, "content-type:", x->ctype, sizeof x->ctype);
	keep_header(p, len, "etag:", x->etag, sizeof x->etag);
	keep_header(p, len, "last-modified:", x->lastmod, sizeof x->lastmod);
	return len;
}

static int setup(struct xfer *x, const struct st_seed_fetch_opts *o, struct st_err *err)
{
	CURL *h = x->h = curl_easy_init();
	if (!h)
		return st_err_set(err, ST_EX_SOFTWARE, "libcurl: cannot create a transfer");
	bool https = strncasecmp(x->url, "https://", 8) == 0;
	long timeout = (long)o->timeout_ms;
	curl_easy_setopt(h, CURLOPT_URL, x->url);
	curl_easy_setopt(h, CURLOPT_PRIVATE, x);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout < 10000 ? timeout : 10000L);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, (long)o->max_redirects);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	/* a list asked for over TLS is never handed over in the clear */
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, https ? "https" : "http,https");
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x->max);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, ""); /* the ceiling applies after decoding */
	curl_easy_setopt(h, CURLOPT_USERAGENT, "st-seed/" ST_BUILD_VERSION);
	if (o->cacert && o->cacert[0])
		curl_easy_setopt(h, CURLOPT_CAINFO, o->cacert);
	if (o->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	char line[320];
	x->hdrs = curl_slist_append(NULL, "Accept: text/plain, application/json;q=0.9, */*;q=0.5");
	if (!x->sig && x->r->etag && x->r->etag[0]) {
		snprintf(line, sizeof line, "If-None-Match: %s", x->r->etag);
		x->hdrs = curl_slist_append(x->hdrs, line);
	}
	if (!x->sig && x->r->last_modified && x->r->last_modified[0]) {
		snprintf(line, sizeof line, "If-Modified-Since: %s", x->r->last_modified);
		x->hdrs = curl_slist_append(x->hdrs, line);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, x->hdrs);
	return 0;
}

static bool temporary(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		return true;
	default:
		return false;
	}
}

/* Where a finished transfer leaves its request; returns true when it should be retried. */
static bool finish(struct xfer *x, CURLcode rc, const struct st_seed_fetch_opts *o)
{
	struct st_seed_request *r = x->r;
	const char *what = x->sig ? "signature: " : "";
	long status = 0;
	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
	r->status = status;
	bool retry_left = x->attempt <= o->retries;
	if (rc == CURLE_OK) {
		if (status == 304 && !x->sig && ((r->etag && r->etag[0]) ||
		                                 (r->last_modified && r->last_modified[0]))) {
			r->not_modified = true;
			return false;
		}
		if (status >= 200 && status < 300) {
			if (!x->sig) {
				st_strlcpy(r->content_type, x->ctype, sizeof r->content_type);
				st_strlcpy(r->etag_out, x->etag, sizeof r->etag_out);
				st_strlcpy(r->last_modified_out, x->lastmod, sizeof r->last_modified_out);
			}
			return false;
		}
		bool temp = status == 429 || status >= 500;
		if (temp && retry_left)
			return true;
		r->failed = temp ? ST_EX_TEMPFAIL : ST_EX_UNAVAILABLE;
		st_err_set(&r->err, r->failed, "%sHTTP %ld", what, status);
		return false;
	}
	if (x->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
		char size[32];
		if (x->max % (1024 * 1024) == 0)
			snprintf(size, sizeof size, "%llu MiB", (unsigned long long)(x->max >> 20));
		else
			snprintf(size, sizeof size, "%llu bytes", (unsigned long long)x->max);
		r->failed = ST_EX_DATAERR;
		st_err_set(&r->err, r->failed, "%sbody over --max-size (%s)", what, size);
		return false;
	}
	if (temporary(rc) && retry_left)
		return true;
	r->failed = temporary(rc) ? ST_EX_TEMPFAIL : ST_EX_UNAVAILABLE;
	if (rc == CURLE_OPERATION_TIMEDOUT) {
		char d[32];
		st_format_duration(o->timeout_ms, d, sizeof d);
		st_err_set(&r->err, r->failed, "%stimed out after %s", what, d);
	} else if (rc == CURLE_TOO_MANY_REDIRECTS) {
		st_err_set(&r->err, r->failed, "%stoo many redirects (%u)", what, o->max_redirects);
	} else {
		st_err_set(&r->err, r->failed, "%s%s", what, x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
	}
	return false;
}

static void start(struct xfer *x, CURLM *m)
{
	x->buf->len = 0;
	if (x->buf->data)
		x->buf->data[0] = '\0';
	x->too_big = false;
	x->errbuf[0] = '\0';
	x->attempt++;
	x->started = true;
	x->waiting = false;
	x->r->attempts++;
	curl_multi_add_handle(m, x->h);
}

int st_seed_fetch_all(struct st_seed_request *reqs, size_t n, const struct st_seed_fetch_opts *o,
                      struct st_err *err)
{
	size_t urls = 0;
	for (size_t i = 0; i < n; i++)
		urls += reqs[i].url && st_seed_is_url(reqs[i].url) && !reqs[i].failed;
	if (!urls)
		return 0; /* no libcurl (and no TLS library) start-up for local lists */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return st_err_set(err, ST_EX_SOFTWARE, "libcurl: initialisation failed");
	CURLM *m = curl_multi_init();
	struct xfer *x = calloc(2 * n, sizeof *x);
	int rc = 0;
	if (!m || !x) {
		rc = st_err_set(err, ST_EX_SOFTWARE, "out of memory");
		goto out;
	}
	curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, 64L);
	for (size_t i = 0; i < 2 * n; i++) {
		struct xfer *t = &x[i];
		t->r = &reqs[i / 2];
		t->sig = i % 2;
		if (!t->r->url || !st_seed_is_url(t->r->url) || t->r->failed)
			continue; /* not ours: a local list, a DNS seed, or failed already */
		t->buf = t->sig ? &t->r->sig : &t->r->body;
		t->max = t->sig ? ST_SEED_SIG_MAX : o->max_size;
		t->buf->max = (size_t)t->max + 1;
		if (t->sig && !t->r->want_sig)
			continue;
		if (strlen(t->r->url) + sizeof ".sig" > sizeof t->url) {
			/* never fetch a cut URL: it would name another list (or another .sig) */
			t->r->failed = ST_EX_USAGE;
			st_err_set(&t->r->err, ST_EX_USAGE, "URL longer than %d bytes", ST_PATH_MAX);
			continue;
		}
		snprintf(t->url, sizeof t->url, "%s%s", t->r->url, t->sig ? ".sig" : "");
		if (setup(t, o, err) < 0) {
			rc = -1;
			goto out;
		}
		if (!t->sig)
			start(t, m);
	}
	for (;;) {
		int running;
		curl_multi_perform(m, &running);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(m, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			struct xfer *t;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
			CURLcode res = msg->data.result;
			curl_multi_remove_handle(m, t->h);
			if (finish(t, res, o)) {
				/* backoff: delay, 2 x delay, 4 x delay ..., a minute at most */
				unsigned shift = t->attempt - 1 < 7 ? t->attempt - 1 : 7;
				int64_t delay = o->retry_delay_ms << shift;
				t->waiting = true;
				t->due_ms = st_monotonic_ms() + (delay < 60000 ? delay : 60000);
				continue;
			}
			t->done = true;
			struct xfer *s = t + 1;
			if (!t->sig && t->r->want_sig && !t->r->failed && !t->r->not_modified)
				start(s, m);
		}
		/* after the results: what is due starts, and nothing left means done at once */
		int64_t now = st_monotonic_ms(), wait = 1000;
		bool busy = false;
		for (size_t i = 0; i < 2 * n; i++) {
			if (x[i].waiting && x[i].due_ms <= now)
				start(&x[i], m);
			if (x[i].waiting && x[i].due_ms - now < wait)
				wait = x[i].due_ms - now;
			busy = busy || x[i].waiting || (x[i].started && !x[i].done);
		}
		if (!busy)
			break;
		curl_multi_poll(m, NULL, 0, (int)(wait > 0 ? wait : 0), NULL);
	}
out:
	if (x)
		for (size_t i = 0; i < 2 * n; i++) {
			if (x[i].h) {
				if (m)
					curl_multi_remove_handle(m, x[i].h);
				curl_easy_cleanup(x[i].h);
			}
			curl_slist_free_all(x[i].hdrs);
		}
	free(x);
	if (m)
		curl_multi_cleanup(m);
	curl_global_cleanup();
	return rc;
}
