/* crawl_state.c - the crawler's state dir: one line per node, through the store module. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "st/crawl.h"
#include "st/store.h"

const int64_t st_crawl_window_tau[ST_CRAWL_WINDOWS] = {
	2 * 3600, 8 * 3600, 24 * 3600, 7 * 24 * 3600, 30 * 24 * 3600,
};
const char *const st_crawl_window_name[ST_CRAWL_WINDOWS] = {"2h", "8h", "1d", "7d", "30d"};

/* The fields of a stored line, in order (st-files(5)). */
enum {
	F_EP, F_LEARNED, F_FIRST_SEEN, F_LAST_SEEN, F_LAST_TRY, F_ATTEMPTS, F_SUCCESSES, F_STATUS,
	F_NODE_ID, F_VERSION, F_SERVICES, F_RTT, F_PEERS, F_ASKS, F_LAST_ASK, F_STATS,
	F_UA = F_STATS + ST_CRAWL_WINDOWS, F_VERIFIED, F_COUNT,
	F_COUNT_V1 = F_VERIFIED, /* version 1 lines end with the user agent */
};

static bool ep_eq(const void *ctx, uint32_t value, const void *key)
{
	const struct st_crawl_state *cs = ctx;
	return st_endpoint_equal(&cs->v[value].ep, key);
}

struct st_crawl_node *st_crawl_find(struct st_crawl_state *cs, const struct st_endpoint *ep)
{
	uint32_t i;
	if (st_map_find(&cs->index, st_endpoint_hash(ep, cs->hash_key), ep_eq, cs, ep, &i))
		return &cs->v[i];
	return NULL;
}

struct st_crawl_node *st_crawl_add(struct st_crawl_state *cs, const struct st_endpoint *ep,
                                   int64_t now, bool *added)
{
	*added = false;
	struct st_crawl_node *nd = st_crawl_find(cs, ep);
	if (nd)
		return nd;
	if (cs->n >= ST_CRAWL_NODES_MAX)
		return NULL;
	if (cs->n == cs->cap) {
		size_t cap = cs->cap ? cs->cap * 2 : 256;
		struct st_crawl_node *v = realloc(cs->v, cap * sizeof *v);
		if (!v)
			return NULL;
		cs->v = v;
		cs->cap = cap;
	}
	if (st_map_add(&cs->index, st_endpoint_hash(ep, cs->hash_key), (uint32_t)cs->n) < 0)
		return NULL;
	nd = &cs->v[cs->n++];
	memset(nd, 0, sizeof *nd);
	nd->ep = *ep;
	nd->learned = now;
	nd->rtt_ms = -1;
	nd->dirty_ = true;
	*added = true;
	return nd;
}

/* A user agent is the peer's text: stored percent-encoded so that no byte of it
 * can break a line or a field. */
static void ua_encode(const char *s, char *out, size_t size)
{
	size_t k = 0;
	if (!s[0]) {
		st_strlcpy(out, "-", size);
		return;
	}
	for (; *s && k + 4 < size; s++) {
		unsigned char c = (unsigned char)*s;
		if (c <= 0x20 || c == '%' || c == 0x7f || (c == '-' && k == 0 && !s[1]))
			k += (size_t)snprintf(out + k, size - k, "%%%02X", c);
		else
			out[k++] = (char)c;
	}
	out[k] = '\0';
}

static int ua_decode(const char *s, size_t len, char *out, size_t size)
{
	size_t k = 0;
	if (len == 1 && s[0] == '-') {
		out[0] = '\0';
		return 0;
	}
	for (size_t i = 0; i < len; i++) {
		if (k + 1 >= size)
			return -1;
		if (s[i] != '%') {
			out[k++] = s[i];
			continue;
		}
		static const char hex[] = "0123456789ABCDEF";
		const char *hi = i + 2 < len ? memchr(hex, s[i + 1], 16) : NULL;
		const char *lo = hi ? memchr(hex, s[i + 2], 16) : NULL;
		if (!lo || (hi == hex && lo == hex))
			return -1;
		out[k++] = (char)((hi - hex) * 16 + (lo - hex));
		i += 2;
	}
	out[k] = '\0';
	return 0;
}

size_t st_crawl_node_format(const struct st_crawl_node *nd, char *buf, size_t size)
{
	char ep[ST_ENDPOINT_STRLEN], ua[3 * ST_CRAWL_UA_MAX + 4];
	st_endpoint_format(&nd->ep, ep, sizeof ep);
	ua_encode(nd->user_agent, ua, sizeof ua);
	int k = snprintf(buf, size,
	                 "%s\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%" PRIu32 "\t%" PRIu32
	                 "\t%s\t%s\t%" PRId32 "\t%" PRIx64 "\t%" PRId64 "\t%" PRIu32 "\t%" PRIu32
	                 "\t%" PRId64,
	                 ep, nd->learned, nd->first_seen, nd->last_seen, nd->last_try, nd->attempts,
	                 nd->successes, nd->last_try ? st_status_name(nd->status) : "new",
	                 nd->node_id[0] ? nd->node_id : "-", nd->version, nd->services, nd->rtt_ms,
	                 nd->peers_offered, nd->asks, nd->last_ask);
	for (int w = 0; w < ST_CRAWL_WINDOWS && k > 0 && (size_t)k < size; w++)
		k += snprintf(buf + k, size - (size_t)k, "\t%.6f,%.4f", nd->stat[w].share,
		              nd->stat[w].count);
	if (k > 0 && (size_t)k < size)
		k += snprintf(buf + k, size - (size_t)k, "\t%s\t%d", ua, nd->verified);
	return k > 0 && (size_t)k < size ? (size_t)k : 0;
}

static int i64_field(const char *s, size_t len, int64_t min, int64_t *out)
{
	char tmp[32];
	if (len == 0 || len >= sizeof tmp)
		return -1;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	return st_parse_i64(tmp, min, INT64_MAX, out, NULL);
}

int st_crawl_node_parse(struct st_crawl_node *nd, const char *line, size_t len)
{
	const char *f[F_COUNT];
	size_t fl[F_COUNT], nf = 0;
	const char *p = line, *end = line + len;
	while (nf < F_COUNT) {
		const char *t = memchr(p, '\t', (size_t)(end - p));
		const char *e = t ? t : end;
		f[nf] = p;
		fl[nf++] = (size_t)(e - p);
		if (!t)
			break;
		p = t + 1;
		if (nf == F_COUNT)
			return -1; /* more fields than this version writes */
	}
	if (nf != F_COUNT && nf != F_COUNT_V1)
		return -1;
	memset(nd, 0, sizeof *nd);
	if (nf == F_COUNT) {
		if (fl[F_VERIFIED] != 1 || (f[F_VERIFIED][0] != '0' && f[F_VERIFIED][0] != '1'))
			return -1;
		nd->verified = f[F_VERIFIED][0] == '1';
	}
	if (st_endpoint_parse(&nd->ep, f[F_EP], fl[F_EP], NULL) < 0)
		return -1;
	int64_t v[F_LAST_ASK + 1];
	static const int ints[] = {F_LEARNED, F_FIRST_SEEN, F_LAST_SEEN, F_LAST_TRY, F_ATTEMPTS,
	                           F_SUCCESSES, F_VERSION, F_RTT, F_PEERS, F_ASKS, F_LAST_ASK};
	for (size_t i = 0; i < ST_ARRAY_LEN(ints); i++)
		if (i64_field(f[ints[i]], fl[ints[i]], ints[i] == F_RTT ? -1 : ints[i] == F_VERSION ? INT32_MIN : 0,
		              &v[ints[i]]) < 0)
			return -1;
	nd->learned = v[F_LEARNED];
	nd->first_seen = v[F_FIRST_SEEN];
	nd->last_seen = v[F_LAST_SEEN];
	nd->last_try = v[F_LAST_TRY];
	if (v[F_ATTEMPTS] > UINT32_MAX || v[F_SUCCESSES] > v[F_ATTEMPTS] || v[F_VERSION] > INT32_MAX ||
	    v[F_PEERS] > UINT32_MAX || v[F_ASKS] > UINT32_MAX)
		return -1;
	nd->attempts = (uint32_t)v[F_ATTEMPTS];
	nd->successes = (uint32_t)v[F_SUCCESSES];
	nd->version = (int32_t)v[F_VERSION];
	nd->rtt_ms = v[F_RTT];
	nd->peers_offered = (uint32_t)v[F_PEERS];
	nd->asks = (uint32_t)v[F_ASKS];
	nd->last_ask = v[F_LAST_ASK];
	char word[64];
	if (fl[F_STATUS] >= sizeof word)
		return -1;
	memcpy(word, f[F_STATUS], fl[F_STATUS]);
	word[fl[F_STATUS]] = '\0';
	if (strcmp(word, "new") == 0) {
		if (nd->last_try)
			return -1;
	} else if (st_status_parse(word, &nd->status) < 0 || !nd->last_try) {
		return -1;
	}
	if (!(fl[F_NODE_ID] == 1 && f[F_NODE_ID][0] == '-')) {
		if (!st_node_id_valid(f[F_NODE_ID], fl[F_NODE_ID]))
			return -1;
		memcpy(nd->node_id, f[F_NODE_ID], fl[F_NODE_ID]);
	}
	if (fl[F_SERVICES] == 0 || fl[F_SERVICES] > 16 ||
	    strspn(f[F_SERVICES], "0123456789abcdef") < fl[F_SERVICES])
		return -1;
	nd->services = strtoull(f[F_SERVICES], NULL, 16);
	for (int w = 0; w < ST_CRAWL_WINDOWS; w++) {
		char tmp[64];
		size_t l = fl[F_STATS + w];
		if (l >= sizeof tmp)
			return -1;
		memcpy(tmp, f[F_STATS + w], l);
		tmp[l] = '\0';
		double share, count;
		int used = 0;
		if (sscanf(tmp, "%lf,%lf%n", &share, &count, &used) != 2 || (size_t)used != l ||
		    !(share >= 0 && share <= 1) || !(count >= 0 && count < 1e12))
			return -1;
		nd->stat[w] = (struct st_crawl_stat){share, count};
	}
	if (ua_decode(f[F_UA], fl[F_UA], nd->user_agent, sizeof nd->user_agent) < 0)
		return -1;
	return 0;
}

/* Lines read from the files: a node this process changed and has not committed
 * keeps its own version (the last writer of a node wins). */
static int load_line(void *ctx, const char *line, size_t len, unsigned long lineno,
                     struct st_err *err)
{
	struct st_crawl_state *cs = ctx;
	struct st_crawl_node nd;
	(void)lineno;
	if (st_crawl_node_parse(&nd, line, len) < 0)
		return st_err_set(err, ST_EX_DATAERR, "line %lu: not a crawl node", lineno);
	bool added;
	struct st_crawl_node *have = st_crawl_add(cs, &nd.ep, nd.learned, &added);
	if (!have)
		return st_err_set(err, ST_EX_SOFTWARE, "the state holds more than %d nodes",
		                  ST_CRAWL_NODES_MAX);
	if (!added && have->dirty_)
		return 0;
	uint32_t run = have->run_, tried = have->tried_;
	*have = nd;
	have->run_ = run;
	have->tried_ = tried;
	return 0;
}

static int read_all(struct st_crawl_state *cs, struct st_store *s, struct st_err *err)
{
	int rc = st_store_read_snapshot(s, load_line, cs, err);
	if (rc == 0)
		rc = st_store_read_journal(s, load_line, cs, err);
	if (rc != 0)
		st_err_prefix(err, "'%s'", st_store_path(s));
	return rc ? -1 : 0;
}

int st_crawl_state_load(struct st_crawl_state *cs, const char *dir,
                        const struct st_lock_wait *wait, struct st_err *err)
{
	memset(cs, 0, sizeof *cs);
	st_map_init(&cs->index);
	st_strlcpy(cs->dir, dir, sizeof cs->dir);
	cs->wait = wait;
	cs->hash_key = (uint64_t)st_monotonic_ms() * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)cs;
	struct st_store *s;
	struct st_err e = {0};
	if (st_store_open_wait(&s, dir, ST_CRAWL_TABLE, ST_CRAWL_VERSION, ST_STORE_READ, wait, &e) < 0) {
		if (e.code == ST_EX_NOINPUT)
			return 0; /* no state dir yet: an empty state */
		if (err)
			*err = e;
		return -1;
	}
	int rc = read_all(cs, s, err);
	st_store_close(s);
	for (size_t i = 0; i < cs->n; i++)
		cs->v[i].dirty_ = false;
	return rc;
}

int st_crawl_state_commit(struct st_crawl_state *cs, struct st_err *err)
{
	size_t dirty = 0;
	for (size_t i = 0; i < cs->n; i++)
		dirty += cs->v[i].dirty_;
	if (!dirty)
		return 0;
	if (st_datadir_prepare(cs->dir, err) < 0)
		return -1;
	struct st_store *s;
	if (st_store_open_wait(&s, cs->dir, ST_CRAWL_TABLE, ST_CRAWL_VERSION, ST_STORE_WRITE, cs->wait,
	                       err) < 0)
		return -1;
	/* what others committed since we read, under the lock we hold now */
	int rc = read_all(cs, s, err);
	char line[4096];
	for (size_t i = 0; rc == 0 && i < cs->n; i++) {
		if (!cs->v[i].dirty_)
			continue;
		size_t len = st_crawl_node_format(&cs->v[i], line, sizeof line);
		if (!len)
			rc = st_err_set(err, ST_EX_SOFTWARE, "a node line too long");
		else
			rc = st_store_append(s, line, len, err);
	}
	if (rc == 0)
		rc = st_store_sync(s, err);
	if (rc == 0 && st_store_wants_compaction(s)) {
		struct st_store_writer *w;
		rc = st_store_rewrite_begin(s, &w, err);
		for (size_t i = 0; rc == 0 && i < cs->n; i++) {
			size_t len = st_crawl_node_format(&cs->v[i], line, sizeof line);
			rc = st_store_writer_line(w, line, len, err);
		}
		if (rc == 0)
			rc = st_store_rewrite_commit(w, err);
		else if (w)
			st_store_rewrite_abort(w);
	}
	st_store_close(s);
	if (rc == 0)
		for (size_t i = 0; i < cs->n; i++)
			cs->v[i].dirty_ = false;
	return rc ? -1 : 0;
}

void st_crawl_state_clear(struct st_crawl_state *cs)
{
	free(cs->v);
	st_map_clear(&cs->index);
	memset(cs, 0, sizeof *cs);
}

void st_crawl_node_update(struct st_crawl_node *nd, const struct st_crawl_try *t, int64_t now)
{
	bool ok = st_status_is_success(t->status);
	for (int w = 0; w < ST_CRAWL_WINDOWS; w++) {
		struct st_crawl_stat *s = &nd->stat[w];
		if (!nd->last_try) {
			s->share = ok ? 1.0 : 0.0;
			s->count = 1.0;
			continue;
		}
		int64_t age = now > nd->last_try ? now - nd->last_try : 0;
		double f = exp(-(double)age / (double)st_crawl_window_tau[w]);
		s->share = s->share * f + (ok ? 1.0 - f : 0.0);
		s->count = s->count * f + 1.0;
	}
	nd->last_try = now;
	nd->status = t->status;
	nd->attempts++;
	nd->dirty_ = true;
	if (!ok)
		return;
	nd->successes++;
	if (!nd->first_seen)
		nd->first_seen = now;
	nd->last_seen = now;
	/* a claim (plain TCP) neither renames nor unproves the id TLS proved here, as in
	 * st-peers: it is the TOFU memory a later --tls crawl is checked against */
	if (t->node_id && t->node_id[0] && (t->verified || !nd->verified)) {
		st_strlcpy(nd->node_id, t->node_id, sizeof nd->node_id);
		nd->verified = t->verified;
	}
	nd->version = t->version;
	nd->services = t->services;
	st_strlcpy(nd->user_agent, t->user_agent ? t->user_agent : "", sizeof nd->user_agent);
	nd->rtt_ms = t->rtt_ms;
}

bool st_crawl_node_good(const struct st_crawl_node *nd, bool allow_private)
{
	static const double bar[ST_CRAWL_WINDOWS] = {0.85, 0.70, 0.55, 0.45, 0.35};
	static const double tries[ST_CRAWL_WINDOWS] = {2, 4, 8, 16, 32};
	if (!nd->successes || (!allow_private && !st_endpoint_is_routable(&nd->ep)))
		return false;
	if (nd->attempts <= 3 && 2 * nd->successes >= nd->attempts)
		return true;
	for (int w = 0; w < ST_CRAWL_WINDOWS; w++)
		if (nd->stat[w].share > bar[w] && nd->stat[w].count > tries[w])
			return true;
	return false;
}

struct order_ctx {
	const struct st_crawl_state *cs;
	bool allow_private;
};

/* qsort has no context argument: the comparison reads a per-call copy of the
 * facts it needs, packed next to each index. */
struct keyed {
	size_t i;
	bool good;
	double s30, s7;
	uint32_t failures;
	const struct st_endpoint *ep;
};

static int keyed_cmp(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	if (x->good != y->good)
		return x->good ? -1 : 1;
	if (x->s30 != y->s30)
		return x->s30 > y->s30 ? -1 : 1;
	if (x->s7 != y->s7)
		return x->s7 > y->s7 ? -1 : 1;
	if (x->failures != y->failures)
		return x->failures < y->failures ? -1 : 1;
	return st_endpoint_cmp(x->ep, y->ep);
}

static struct keyed *sorted(const struct st_crawl_state *cs, bool allow_private)
{
	struct keyed *k = malloc((cs->n ? cs->n : 1) * sizeof *k);
	if (!k)
		return NULL;
	for (size_t i = 0; i < cs->n; i++) {
		const struct st_crawl_node *nd = &cs->v[i];
		k[i] = (struct keyed){i, st_crawl_node_good(nd, allow_private), nd->stat[4].share,
		                      nd->stat[3].share, nd->attempts - nd->successes, &nd->ep};
	}
	qsort(k, cs->n, sizeof *k, keyed_cmp);
	return k;
}

size_t *st_crawl_dump_order(const struct st_crawl_state *cs, bool allow_private)
{
	struct keyed *k = sorted(cs, allow_private);
	size_t *out = malloc((cs->n ? cs->n : 1) * sizeof *out);
	if (k && out)
		for (size_t i = 0; i < cs->n; i++)
			out[i] = k[i].i;
	free(k);
	if (!k) {
		free(out);
		return NULL;
	}
	return out;
}

long st_crawl_export(const struct st_crawl_state *cs, const struct st_crawl_export_opts *o,
                     size_t **out, struct st_err *err)
{
	struct keyed *k = sorted(cs, o->allow_private);
	size_t *v = malloc((cs->n ? cs->n : 1) * sizeof *v);
	struct st_map groups;
	st_map_init(&groups);
	if (!k || !v) {
		free(k);
		free(v);
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	}
	size_t n = 0;
	for (size_t i = 0; i < cs->n && (!o->n || n < o->n); i++) {
		const struct st_crawl_node *nd = &cs->v[k[i].i];
		if (!k[i].good)
			break; /* the good ones come first */
		if (nd->stat[4].share < o->min_uptime || (o->port && nd->ep.port != o->port))
			continue;
		uint64_t g = st_endpoint_group_key(&nd->ep);
		uint32_t have = 0;
		st_map_get64(&groups, g, &have);
		if (o->per_group && have >= o->per_group)
			continue;
		if (st_map_put64(&groups, g, have + 1) < 0) {
			n = 0;
			free(v);
			v = NULL;
			break;
		}
		v[n++] = k[i].i;
	}
	free(k);
	st_map_clear(&groups);
	if (!v)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	*out = v;
	return (long)n;
}
