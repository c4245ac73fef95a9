/* seed_refresh.c - every configured seed into the address book, for cron. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st/addrbook.h"
#include "st/seed.h"
#include "st/store.h"

#define CACHE_TABLE "seeds"
#define CACHE_VERSION 1
#define FUTURE_SLACK 86400 /* a clock set back this much still trusts the cache */

/*
 * The cache table "seeds": one line per URL seed that was last fetched whole,
 *   URL TAB ETAG TAB LAST-MODIFIED TAB FETCHED TAB ENDPOINTS
 * (empty fields as "-"), so that the next run can ask "changed since?".
 */
struct cache_entry {
	char url[ST_PATH_MAX];
	char etag[256];
	char last_modified[64];
	int64_t fetched;
	size_t endpoints;
};

struct cache {
	struct cache_entry *v;
	size_t n;
};

/* The latest time the cache may hold: 9999-12-31T23:59:59Z. */
#define TIME_MAX INT64_C(253402300799)

static struct cache_entry *cache_find(struct cache *c, const char *url);

/* One field into dst: "-" is empty; one that does not fit is damage. */
static int field(char *dst, size_t size, const char *s, size_t len, const char *what,
                 struct st_err *err)
{
	if (len == 1 && s[0] == '-')
		len = 0;
	if (len >= size)
		return st_err_set(err, ST_EX_DATAERR, "%s longer than %zu bytes", what, size - 1);
	memcpy(dst, s, len);
	dst[len] = '\0';
	return 0;
}

static int number(const char *s, size_t len, int64_t max, int64_t *out, const char *what,
                  struct st_err *err)
{
	char num[32];
	if (field(num, sizeof num, s, len, what, err) < 0)
		return -1;
	if (st_parse_i64(num, 0, max, out, err) < 0) {
		st_err_prefix(err, "%s", what);
		if (err)
			err->code = ST_EX_DATAERR; /* damage, whatever the parser called it */
		return -1;
	}
	return 0;
}

struct cache_load {
	struct cache *c;
	const char *path;
};

/* One cache line, checked whole: five fields, each in range, one line per URL. */
static int cache_line(void *ctx, const char *line, size_t len, unsigned long lineno,
                      struct st_err *err)
{
	struct cache_load *l = ctx;
	struct cache *c = l->c;
	const char *f[5];
	size_t fl[5], k = 0;
	const char *p = line, *end = line + len;
	const char *tab = NULL;
	while (k < 5) {
		tab = memchr(p, '\t', (size_t)(end - p));
		f[k] = p;
		fl[k] = (size_t)((tab ? tab : end) - p);
		k++;
		if (!tab)
			break;
		p = tab + 1;
	}
	if (k != 5 || tab)
		return st_err_set(err, ST_EX_DATAERR, "%s:%lu: expected 5 fields", l->path, lineno);
	struct cache_entry e = {0};
	int64_t fetched = 0, eps = 0;
	if (field(e.url, sizeof e.url, f[0], fl[0], "url", err) < 0 ||
	    field(e.etag, sizeof e.etag, f[1], fl[1], "etag", err) < 0 ||
	    field(e.last_modified, sizeof e.last_modified, f[2], fl[2], "last_modified", err) < 0 ||
	    number(f[3], fl[3], TIME_MAX, &fetched, "fetched", err) < 0 ||
	    number(f[4], fl[4], INT32_MAX, &eps, "endpoints", err) < 0)
		return st_err_prefix(err, "%s:%lu", l->path, lineno);
	if (!e.url[0])
		return st_err_set(err, ST_EX_DATAERR, "%s:%lu: no url", l->path, lineno);
	/* cache_write writes one line per seed: a second is damage, not a choice */
	if (cache_find(c, e.url))
		return st_err_set(err, ST_EX_DATAERR, "%s:%lu: a second line for '%s'", l->path, lineno,
		                  e.url);
	e.fetched = fetched;
	e.endpoints = (size_t)eps;
	struct cache_entry *v = realloc(c->v, (c->n + 1) * sizeof *v);
	if (!v)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	c->v = v;
	v[c->n++] = e;
	return 0;
}

int st_seed_cache_parse(const char *data, size_t len, size_t *n, struct st_err *err)
{
	struct cache c = {0};
	struct cache_load l = {&c, "seeds.tsv"};
	int rc = st_store_parse_image(CACHE_TABLE, CACHE_VERSION, data, len, cache_line, &l, err);
	*n = c.n;
	free(c.v);
	return rc == 0 ? 0 : -1;
}

static struct cache_entry *cache_find(struct cache *c, const char *url)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->v[i].url, url) == 0)
			return &c->v[i];
	return NULL;
}

/* A header value as one clean field: no tabs or newlines, never empty. */
static const char *clean(const char *s, char *buf, size_t size)
{
	if (!s || !s[0])
		return "-";
	size_t i = 0;
	for (; s[i] && i + 1 < size; i++)
		buf[i] = (s[i] == '\t' || s[i] == '\n' || s[i] == '\r') ? ' ' : s[i];
	buf[i] = '\0';
	return buf;
}

/* Writes and syncs the new cache as a temporary file; the caller commits it
 * (a rename) once the address book holds what it vouches for. */
static int cache_write(struct st_store *s, const struct cache *c, struct st_store_writer **out,
                       struct st_err *err)
{
	struct st_store_writer *w;
	*out = NULL;
	if (st_store_rewrite_begin(s, &w, err) < 0)
		return -1;
	for (size_t i = 0; i < c->n; i++) {
		const struct cache_entry *e = &c->v[i];
		if (!e->url[0])
			continue;
		char line[ST_PATH_MAX + 512], b1[256], b2[64];
		int len = snprintf(line, sizeof line, "%s\t%s\t%s\t%lld\t%zu", e->url,
		                   clean(e->etag, b1, sizeof b1), clean(e->last_modified, b2, sizeof b2),
		                   (long long)e->fetched, e->endpoints);
		if (len < 0 || (size_t)len >= sizeof line ||
		    st_store_writer_line(w, line, (size_t)len, err) < 0) {
			st_store_rewrite_abort(w);
			return len < 0 || (size_t)len >= sizeof line
			               ? st_err_set(err, ST_EX_SOFTWARE, "seed cache line too long")
			               : -1;
		}
	}
	if (st_store_writer_flush(w, err) < 0) {
		st_store_rewrite_abort(w);
		return -1;
	}
	*out = w;
	return 0;
}

/* Reports a bad line of one seed through the caller's callback. */
struct bad_ctx {
	const struct st_refresh_opts *o;
	const char *seed;
};

static void on_bad(void *ctx, const char *where, const char *reason)
{
	struct bad_ctx *b = ctx;
	if (b->o->bad)
		b->o->bad(b->o->ctx, b->seed, where, reason);
}

/* Adds a list's endpoints to the book and counts what took. */
static int add_all(struct st_addrbook *ab, const struct st_endpoint *eps, size_t stride, size_t n,
                   const char *source, struct st_seed_outcome *out, struct st_err *err)
{
	int64_t now = st_now();
	for (size_t i = 0; i < n; i++) {
		const struct st_endpoint *ep = (const void *)((const char *)eps + i * stride);
		enum st_addrbook_verdict v;
		if (st_addrbook_add(ab, ep, source, NULL, now, &v, NULL, err) < 0)
			return -1;
		if (v == ST_ADD_ADDED)
			out->added++;
		else if (v != ST_ADD_DUPLICATE)
			out->rejected++;
	}
	return 0;
}

struct run {
	const struct st_config *cfg;
	const struct st_refresh_opts *o;
	struct st_seed_request *req;
	struct st_dns_query *dq;
	struct cache cache;
	struct st_addrbook *ab;
	long failed;
};

static void fail(struct run *r, struct st_seed_outcome *out, const char *why)
{
	out->status = "failed";
	out->error = why;
	r->failed++;
}

static int refresh_url(struct run *r, size_t i, struct st_err *err)
{
	const struct st_seed_conf *sc = &r->cfg->seeds[i];
	struct st_seed_request *q = &r->req[i];
	char source[ST_PATH_MAX + 8];
	snprintf(source, sizeof source, "seed:%s", sc->url);
	struct st_seed_outcome out = {.seed = source, .status = "ok"};
	struct cache_entry *ce = cache_find(&r->cache, sc->url);
	struct st_err e = {0}; /* out.error may point into it until the outcome is reported */
	if (q->failed) {
		fail(r, &out, q->err.msg);
	} else if (q->not_modified) {
		out.status = "unchanged";
		out.endpoints = ce ? ce->endpoints : 0;
		if (ce)
			ce->fetched = st_now();
	} else {
		struct st_seed_list l = {0};
		struct bad_ctx bc = {r->o, source};
		struct st_seed_sink sink = {on_bad, NULL, &bc};
		enum st_seed_format fmt = ST_SEED_AUTO;
		if (sc->format[0])
			st_seed_format_parse(sc->format, &fmt, NULL);
		bool usable = st_seed_request_list(q, sc->public_key, fmt,
		                                   sc->port ? sc->port : ST_DEFAULT_PORT, &sink, &l,
		                                   &e) == 0;
		if (!usable) {
			fail(r, &out, e.msg);
		} else {
			out.endpoints = l.n;
			if (r->ab && l.n && add_all(r->ab, &l.v[0].ep, sizeof l.v[0], l.n, source, &out, err) < 0) {
				st_seed_list_clear(&l);
				return -1;
			}
			if (!ce && !r->o->dry_run) {
				struct cache_entry *v = realloc(r->cache.v, (r->cache.n + 1) * sizeof *v);
				if (!v) {
					st_seed_list_clear(&l);
					return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
				}
				r->cache.v = v;
				ce = &v[r->cache.n++];
				*ce = (struct cache_entry){0};
				st_strlcpy(ce->url, sc->url, sizeof ce->url);
			}
			if (ce) {
				/* only a list that was applied whole may answer "unchanged" next time */
				st_strlcpy(ce->etag, q->etag_out, sizeof ce->etag);
				st_strlcpy(ce->last_modified, q->last_modified_out, sizeof ce->last_modified);
				ce->fetched = st_now();
				ce->endpoints = l.n;
			}
		}
		st_seed_list_clear(&l);
	}
	if (r->o->outcome)
		r->o->outcome(r->o->ctx, &out);
	return 0;
}

static int refresh_dns(struct run *r, size_t i, struct st_err *err)
{
	const struct st_seed_conf *sc = &r->cfg->seeds[i];
	struct st_dns_query *q = &r->dq[i];
	char source[300];
	snprintf(source, sizeof source, "dns:%s", sc->dns);
	struct st_seed_outcome out = {.seed = source, .status = "ok", .endpoints = q->neps};
	if (q->failed)
		fail(r, &out, q->err.msg);
	else if (r->ab && add_all(r->ab, q->eps, sizeof q->eps[0], q->neps, source, &out, err) < 0)
		return -1;
	if (r->o->outcome)
		r->o->outcome(r->o->ctx, &out);
	return 0;
}

/* Every cache line that reads, of the damaged file path, into c; the rest in *lost. */
static void cache_salvage(struct cache *c, const char *path, size_t *lost)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	struct st_buf line;
	st_buf_init(&line, ST_LINE_MAX);
	struct cache_load l = {c, path};
	unsigned long lineno = 0;
	int rc;
	while ((rc = st_read_line(f, &line, NULL)) != 0) {
		lineno++;
		struct st_err lerr = {0};
		const char *p = line.data ? line.data : "";
		if (rc > 0 && (!line.len || p[0] == '#'))
			continue; /* the header, blanks */
		if (rc < 0 || memchr(p, '\0', line.len) || cache_line(&l, p, line.len, lineno, &lerr) != 0)
			(*lost)++;
	}
	st_buf_clear(&line);
	fclose(f);
}

/* Opens the cache table and reads it into c. */
static int cache_open(const struct st_config *cfg, unsigned flags, struct st_store **cs,
                      struct cache *c, struct st_err *err)
{
	if (st_store_open(cs, cfg->data_dir, CACHE_TABLE, CACHE_VERSION, flags, err) < 0)
		return -1;
	struct cache_load l = {c, st_store_path(*cs)};
	if (st_store_read_snapshot(*cs, cache_line, &l, err) != 0) {
		st_store_close(*cs);
		*cs = NULL;
		free(c->v);
		*c = (struct cache){0};
		return -1;
	}
	return 0;
}

static bool repairable(const struct st_err *err)
{
	return err && err->code == ST_EX_DATAERR && !strstr(err->msg, "is newer than");
}

int st_seed_cache_fsck(const struct st_config *cfg, bool repair, size_t *kept, size_t *lost,
                       struct st_err *err)
{
	*kept = *lost = 0;
	struct st_store *cs;
	struct cache c = {0};
	if (cache_open(cfg, ST_STORE_READ, &cs, &c, err) == 0) {
		*kept = c.n;
		free(c.v);
		st_store_close(cs);
		return 0;
	}
	if (!repair || !repairable(err))
		return -1;
	/* under the lock from reading to rewriting, as every repair */
	struct st_err oerr = {0};
	if (st_store_open_wait(&cs, cfg->data_dir, CACHE_TABLE, CACHE_VERSION,
	                       ST_STORE_WRITE | ST_STORE_NOLOAD, &cfg->lock, &oerr) < 0) {
		*err = oerr;
		return -1;
	}
	cache_salvage(&c, st_store_path(cs), lost);
	struct st_store_writer *w = NULL;
	int rc = st_store_move_aside(cs, err);
	if (rc == 0)
		rc = cache_write(cs, &c, &w, err);
	if (rc == 0)
		rc = st_store_rewrite_commit(w, err);
	*kept = c.n;
	free(c.v);
	st_store_close(cs);
	return rc < 0 ? -1 : 1;
}

long st_seed_refresh(const struct st_config *cfg, const struct st_refresh_opts *o,
                     struct st_err *err)
{
	if (!cfg->nseeds)
		return st_err_set(err, ST_EX_NOINPUT, "no seeds configured (the seeds: list of st.yaml)");
	struct st_store *cs;
	struct run r = {.cfg = cfg, .o = o};
	if (cache_open(cfg, ST_STORE_WRITE | ST_STORE_NOWAIT, &cs, &r.cache, err) < 0) {
		if (err && err->code == ST_EX_TEMPFAIL)
			return st_err_set(err, ST_EX_TEMPFAIL, "another refresh is running");
		if (!repairable(err))
			return -1;
		/* repair: auto, as for the other tables: repaired once, told, run again */
		struct st_config once = *cfg;
		size_t kept, lost;
		struct st_err rerr = {0};
		if (!cfg->repair_auto || st_seed_cache_fsck(&once, true, &kept, &lost, &rerr) <= 0)
			return st_err_prefix(err, "damaged seeds cache (try 'st-seed fsck --repair')");
		st_config_tell_repaired(cfg, err, kept, lost);
		if (cache_open(cfg, ST_STORE_WRITE | ST_STORE_NOWAIT, &cs, &r.cache, err) < 0)
			return -1;
	}
	struct st_store_writer *cw = NULL;
	long rc = -1;
	r.req = calloc(cfg->nseeds, sizeof *r.req);
	r.dq = calloc(cfg->nseeds, sizeof *r.dq);
	if (!r.req || !r.dq) {
		st_err_set(err, ST_EX_SOFTWARE, "out of memory");
		goto out;
	}

	/* seed i is r.req[i] (a URL) or r.dq[i] (a DNS name); the other stays empty */
	for (size_t i = 0; i < cfg->nseeds; i++) {
		const struct st_seed_conf *sc = &cfg->seeds[i];
		if (sc->url[0]) {
			struct st_seed_request *q = &r.req[i];
			st_seed_request_init(q, sc->url);
			const struct cache_entry *ce = cache_find(&r.cache, sc->url);
			/* an entry fetched in the future is a lie: the list is fetched whole */
			if (ce && ce->fetched > st_now() + FUTURE_SLACK)
				ce = NULL;
			q->etag = ce ? ce->etag : NULL;
			q->last_modified = ce ? ce->last_modified : NULL;
			q->want_sig = sc->public_key[0] != '\0';
		} else {
			r.dq[i].name = sc->dns;
			r.dq[i].port = sc->port ? sc->port : ST_DEFAULT_PORT;
		}
	}
	if (st_seed_fetch_all(r.req, cfg->nseeds, &o->fetch, err) < 0 ||
	    st_seed_dns_all(r.dq, cfg->nseeds, o->resolver, o->fetch.timeout_ms, err) < 0)
		goto out;

	if (!o->dry_run && st_addrbook_open(&r.ab, cfg, ST_STORE_WRITE, err) < 0)
		goto out;
	for (size_t i = 0; i < cfg->nseeds; i++) {
		int x = cfg->seeds[i].url[0] ? refresh_url(&r, i, err) : refresh_dns(&r, i, err);
		if (x < 0)
			goto out;
	}
	/* all of it or none: the cache is written first (a full disk shows there,
	 * and the book is then dropped unchanged), the book committed next, and the
	 * cache put in place last, so that it never says "unchanged" of a list the
	 * book does not hold */
	if (!o->dry_run && cache_write(cs, &r.cache, &cw, err) < 0)
		goto out;
	if (r.ab) {
		struct st_addrbook *ab = r.ab;
		r.ab = NULL;
		if (st_addrbook_close(ab, err) < 0)
			goto out;
	}
	if (cw) {
		struct st_store_writer *w = cw;
		cw = NULL;
		if (st_store_rewrite_commit(w, err) < 0)
			goto out;
	}
	rc = r.failed;
out:
	st_store_rewrite_abort(cw);
	st_addrbook_free(r.ab);
	for (size_t i = 0; r.req && i < cfg->nseeds; i++)
		st_seed_request_clear(&r.req[i]);
	free(r.req);
	free(r.dq);
	free(r.cache.v);
	st_store_close(cs);
	return rc;
}
