/* addrbook_select.c - quality, selection chance, "terrible" entries, best addresses. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "st/addrbook.h"
#include "st/util.h"
#include "addrbook_int.h"

double st_addr_quality(const struct st_addr_entry *e)
{
	/* Laplace-smoothed success ratio: 0.5 untried, like the reference's
	 * successes/(successes+failures) once there is history, but a single
	 * result does not jump to 0 or 1. */
	return (e->successes + 1.0) / (e->successes + e->failures + 2.0);
}

double ab_base_chance(const struct st_addr_entry *e)
{
	static const double decay[9] = {1.0, 0.66, 0.4356, 0.287496, 0.18974736, 0.1252332576,
	                                0.082653950016, 0.05455160701056, 0.0360040606269696};
	return st_addr_quality(e) * decay[e->consecutive_failures < 8 ? e->consecutive_failures : 8];
}

double st_addr_chance(const struct st_addr_entry *e, int64_t now)
{
	double c = ab_base_chance(e); /* x 0.66^failures in a row */
	if (e->last_attempt && now - e->last_attempt < 600)
		c *= 0.01;
	return c;
}

bool st_addr_terrible(const struct st_addr_entry *e, int64_t now)
{
	if (e->last_attempt && now - e->last_attempt < 60)
		return false; /* never terrible right after a try */
	if (e->last_seen > now + 600)
		return true; /* from the future */
	if (!e->last_seen || now - e->last_seen > 30 * 86400)
		return true;
	if (e->last_success == 0 && e->attempts >= 3)
		return true;
	if (e->last_success && now - e->last_success > 7 * 86400 && e->consecutive_failures >= 10)
		return true;
	return false;
}

struct cand {
	uint32_t idx;
	uint32_t round; /* better entries of the same group before this one */
	uint32_t pos;   /* place in score order */
	double score;
	uint64_t group;
};

static int by_round(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	if (x->round != y->round)
		return x->round < y->round ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Best first: higher chance, then the more recent success, then a fixed hash
 * of the endpoint. addrbook.rank lists entries in this order (at their base
 * chance). */
static int by_score(const void *a, const void *b, void *arg)
{
	const struct cand *x = a, *y = b;
	const struct st_addrbook *ab = arg;
	return ab_rank_cmp(x->score, &ab->e[x->idx], y->score, &ab->e[y->idx]);
}

/*
 * Equal chances are frequent (every untried address has 0.5). Ordering those
 * by endpoint would send every node that runs st to the same low addresses
 * first and cluster a /16's entries together; a fixed hash spreads them over
 * the address space, repeatably. (It also keeps a walk down addrbook.rank
 * short: the first entries of a uniform book come from many groups.)
 */
uint64_t ab_tie_hash(const struct st_endpoint *ep)
{
	uint64_t w[2];
	memcpy(w, ep->addr, sizeof w);
	uint64_t h = w[0] ^ (w[1] * 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)ep->port << 48 | ep->family);
	h = (h ^ (h >> 33)) * 0xff51afd7ed558ccdULL; /* murmur3's finalizer */
	h = (h ^ (h >> 33)) * 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 33);
}

int ab_rank_cmp(double a, const struct st_addr_entry *x, double b, const struct st_addr_entry *y)
{
	if (a != b)
		return a > b ? -1 : 1;
	if (x->last_success != y->last_success)
		return x->last_success > y->last_success ? -1 : 1;
	uint64_t hx = ab_tie_hash(&x->ep), hy = ab_tie_hash(&y->ep);
	if (hx != hy)
		return hx < hy ? -1 : 1;
	return st_endpoint_cmp(&x->ep, &y->ep);
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/*
 * One selection: the options and the exclusions as a set. A requester chooses its
 * exclusions (up to 1000 in a GetPeers, any number from --exclude), so they are a keyed
 * hash lookup per entry, not a scan of the list per entry (100k x 100k took 44 s).
 */
struct sel {
	const struct st_best_opts *o;
	struct st_map excl; /* endpoint hash -> index into o->exclude */
	uint64_t key;
};

static bool excl_eq(const void *ctx, uint32_t i, const void *key)
{
	const struct st_best_opts *o = ctx;
	return st_endpoint_equal(&o->exclude[i], key);
}

static int sel_init(struct sel *s, const struct st_addrbook *ab, const struct st_best_opts *o,
                    struct st_err *err)
{
	s->o = o;
	s->key = ab->key;
	st_map_init(&s->excl);
	if (!o->nexclude)
		return 0;
	if (o->nexclude > ST_MAP_VALUE_MAX || st_map_reserve(&s->excl, o->nexclude) < 0)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	for (size_t i = 0; i < o->nexclude; i++) {
		uint64_t h = st_endpoint_hash(&o->exclude[i], s->key);
		uint32_t have;
		if (st_map_find(&s->excl, h, excl_eq, o, &o->exclude[i], &have))
			continue; /* listed twice */
		if (st_map_add(&s->excl, h, (uint32_t)i) < 0) {
			st_map_clear(&s->excl);
			return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
		}
	}
	return 0;
}

static bool excluded(const struct sel *s, const struct st_endpoint *ep)
{
	uint32_t have;
	return st_map_find(&s->excl, st_endpoint_hash(ep, s->key), excl_eq, s->o, ep, &have) == 1;
}

/*
 * When at least n groups have candidates, the answer is round 0 alone: the
 * best of each group, best first. One pass finds each group's best, a heap of
 * n keeps the best of those: no sort of the whole book for eight lines.
 * Returns the count, 0 when there are fewer groups than n (the caller sorts
 * everything), or -1.
 */
static long best_of_groups(const struct st_addrbook *ab, struct cand *c, size_t m, size_t n,
                           const struct st_addr_entry **out, struct st_err *err)
{
	struct st_map best; /* group -> index into c, + 1 */
	st_map_init(&best);
	size_t groups = 0;
	for (size_t i = 0; i < m; i++) {
		uint64_t g = c[i].group ? c[i].group : 1;
		uint32_t k = ab_counter_get(&best, g);
		if (k && by_score(&c[k - 1], &c[i], (void *)ab) <= 0)
			continue;
		groups += !k;
		if (ab_counter_set(&best, g, (uint32_t)(i + 1)) < 0) {
			st_map_clear(&best);
			return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
		}
	}
	if (groups < n) {
		st_map_clear(&best);
		return 0;
	}
	/* a max-heap by "worse first" of the n best group leaders seen so far */
	struct cand *h = malloc(n * sizeof *h);
	if (!h) {
		st_map_clear(&best);
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	}
	size_t hn = 0;
	uint64_t g;
	uint32_t k;
	for (size_t pos = 0; st_map_next(&best, &pos, &g, &k);) {
		struct cand x = c[k - 1];
		if (hn == n && by_score(&x, &h[0], (void *)ab) >= 0)
			continue;
		size_t i;
		if (hn < n) {
			i = hn++;
			while (i && by_score(&h[(i - 1) / 2], &x, (void *)ab) < 0) {
				h[i] = h[(i - 1) / 2];
				i = (i - 1) / 2;
			}
		} else {
			i = 0;
			for (;;) {
				size_t l = 2 * i + 1, r = l + 1, w = l;
				if (l >= hn)
					break;
				if (r < hn && by_score(&h[r], &h[l], (void *)ab) > 0)
					w = r;
				if (by_score(&h[w], &x, (void *)ab) <= 0)
					break;
				h[i] = h[w];
				i = w;
			}
		}
		h[i] = x;
	}
	st_map_clear(&best);
	qsort_r(h, hn, sizeof *h, by_score, (void *)ab);
	for (size_t i = 0; i < hn; i++)
		out[i] = &ab->e[h[i].idx];
	free(h);
	return (long)hn;
}

/* Eligible entries in memory: not removed, not excluded, in scope, not skipped. */
static bool eligible(const struct sel *s, const struct st_addr_entry *e)
{
	const struct st_best_opts *o = s->o;
	return !e->deleted && (!o->routable_only || st_endpoint_is_routable(&e->ep)) &&
	       !(o->nexclude && excluded(s, &e->ep)) && !(o->skip && o->skip(o->skip_ctx, &e->ep));
}

/*
 * True when n groups have a candidate in memory that ranks before `next` -
 * the next unread entry of the rank index, taken at its base chance. Every
 * unread entry ranks at or after that (the index is in this order, and a
 * recent attempt only lowers a chance), so none can change the answer: each
 * of those n groups has its best here already, any other group's best ranks
 * after all n of them, and the n best group leaders - the whole answer when
 * there are n groups - are the same as over the whole book.
 */
static int enough_groups(const struct st_addrbook *ab, const struct sel *s, int64_t now,
                         const struct st_addr_entry *next, struct st_err *err)
{
	const struct st_best_opts *o = s->o;
	struct st_map seen;
	st_map_init(&seen);
	size_t groups = 0;
	double bound = ab_base_chance(next);
	for (size_t i = 0; i < ab->n && groups < o->n; i++) {
		const struct st_addr_entry *e = &ab->e[i];
		if (!eligible(s, e) || ab_rank_cmp(st_addr_chance(e, now), e, bound, next) >= 0)
			continue;
		uint64_t g = st_endpoint_group_key(&e->ep);
		g = g ? g : 1; /* the counter's keys are never 0 */
		if (ab_counter_get(&seen, g))
			continue;
		if (ab_counter_bump(&seen, g) < 0) {
			st_map_clear(&seen);
			return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
		}
		groups++;
	}
	st_map_clear(&seen);
	return groups >= o->n;
}

/*
 * Reads entries down the rank index (best base chance first) until the ones
 * read settle the answer (enough_groups); a recent attempt only lowers a
 * chance, so the next listed entry bounds every unread one. When the listed
 * part runs out first - a book of fewer groups than asked for, most of its
 * best tried in the last minutes - it reads the whole book.
 */
static int gather_best(struct st_addrbook *ab, const struct sel *s, int64_t now,
                       struct st_err *err)
{
	const struct st_best_opts *o = s->o;
	struct ab_index ix;
	int rc = ab_index_open(&ix, ab, "rank", err);
	if (rc <= 0)
		return rc < 0 ? -1 : st_addrbook_load_all(ab, err);
	struct st_addr_entry e;
	char source[ST_SOURCE_MAX];
	size_t read = 0, check = o->n; /* enough when the first n are n groups */
	while ((rc = ab_index_next(&ix, ab, &e, source, sizeof source)) > 0) {
		if (read >= check) {
			int ok = enough_groups(ab, s, now, &e, err);
			if (ok < 0)
				return -1;
			if (ok) /* e bounds the rest, if the index holds past it */
				return ab_index_confirm(&ix, ab) ? 0 : st_addrbook_load_all(ab, err);
			check *= 2; /* checks cost a pass over memory: space them out */
		}
		if (!ab_adopt(ab, &e, source, err))
			return -1;
		read++;
	}
	if (rc == 0 && (rc = ab_index_rest(&ix, ab, &e, source, sizeof source)) == 0)
		return 0; /* the index lists every entry: all of them are in memory */
	if (rc > 0) {
		int ok = enough_groups(ab, s, now, &e, err);
		if (ok)
			return ok < 0 ? -1 : 0;
	}
	return st_addrbook_load_all(ab, err);
}

static long select_best(struct st_addrbook *ab, const struct sel *sel, int64_t now,
                        const struct st_addr_entry **out, struct st_err *err);

long st_addrbook_best(struct st_addrbook *ab, const struct st_best_opts *opts, int64_t now,
                      const struct st_addr_entry **out, struct st_err *err)
{
	if (opts->n == 0)
		return 0;
	struct sel sel;
	if (sel_init(&sel, ab, opts, err) < 0)
		return -1;
	long got = select_best(ab, &sel, now, out, err);
	st_map_clear(&sel.excl);
	return got;
}

static long select_best(struct st_addrbook *ab, const struct sel *sel, int64_t now,
                        const struct st_addr_entry **out, struct st_err *err)
{
	const struct st_best_opts *opts = sel->o;
	const size_t want = opts->n; /* read once: the skip callback gets no say in it */
	if (want == 0)
		return 0;
	/* the rank index orders by chance: a random or a sharing pick reads the whole book */
	if (ab->lazy && (opts->random || opts->share ? st_addrbook_load_all(ab, err)
	                                              : gather_best(ab, sel, now, err)) < 0)
		return -1;
	struct cand *c = malloc((ab->n ? ab->n : 1) * sizeof *c);
	if (!c)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	size_t m = 0;
	uint64_t rng = opts->seed ^ 0x243f6a8885a308d3ULL;
	for (size_t i = 0; i < ab->n; i++) {
		const struct st_addr_entry *e = &ab->e[i];
		if (!eligible(sel, e))
			continue;
		double s = opts->share ? (e->last_success ? 2.0 : 0.0) + ab_base_chance(e)
		                       : st_addr_chance(e, now); /* chances are at most 1 */
		if (opts->random) {
			/* Efraimidis-Spirakis: u^(1/w) orders a weighted sample */
			double u = ((double)(splitmix(&rng) >> 11) + 0.5) / 9007199254740992.0;
			s = s > 0 ? pow(u, 1.0 / s) : 0;
		}
		c[m++] = (struct cand){(uint32_t)i, 0, 0, s, st_endpoint_group_key(&e->ep)};
	}
	long fast = best_of_groups(ab, c, m, want, out, err);
	if (fast != 0) {
		free(c);
		return fast;
	}
	qsort_r(c, m, sizeof *c, by_score, ab);
	/* Spread over groups: an entry's round is how many better ones its group
	 * has; take round 0 of every group (best first), then round 1, and so on. */
	struct st_map seen;
	st_map_init(&seen);
	for (size_t i = 0; i < m; i++) {
		uint32_t round = ab_counter_get(&seen, c[i].group);
		if (ab_counter_bump(&seen, c[i].group) < 0) {
			st_map_clear(&seen);
			free(c);
			return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
		}
		c[i].round = round;
		c[i].pos = (uint32_t)i;
	}
	st_map_clear(&seen);
	qsort(c, m, sizeof *c, by_round);
	size_t got = 0;
	for (size_t i = 0; i < m && got < want; i++)
		out[got++] = &ab->e[c[i].idx];
	free(c);
	return (long)got;
}

struct kv {
	uint64_t key;
	size_t count;
};

static int by_count(const void *a, const void *b)
{
	const struct kv *x = a, *y = b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return x->key < y->key ? -1 : x->key > y->key;
}

int st_addrbook_stats(struct st_addrbook *ab, struct st_addrbook_stats *st, struct st_err *err)
{
	memset(st, 0, sizeof *st);
	if (st_addrbook_load_all(ab, err) < 0)
		return -1;
	size_t *per_source = calloc(ab->nsources ? ab->nsources : 1, sizeof *per_source);
	if (!per_source)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	for (size_t i = 0; i < ab->n; i++) {
		const struct st_addr_entry *e = &ab->e[i];
		if (e->deleted)
			continue;
		st->total++;
		if (e->ep.family == ST_AF_INET)
			st->ipv4++;
		else
			st->ipv6++;
		if (e->successes)
			st->tried++;
		else
			st->new_++;
		if (e->pinned)
			st->pinned++;
		st->by_class[st_endpoint_class(&e->ep)]++;
		int q = (int)(st_addr_quality(e) * 10);
		st->quality[q > 9 ? 9 : q < 0 ? 0 : q]++;
		if (e->source < ab->nsources)
			per_source[e->source]++;
	}
	struct kv *kv = malloc((ab->nsources + st_map_count(&ab->subnets) + 1) * sizeof *kv);
	if (!kv) {
		free(per_source);
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	}
	size_t m = 0;
	for (size_t i = 0; i < ab->nsources; i++)
		if (per_source[i])
			kv[m++] = (struct kv){i, per_source[i]};
	qsort(kv, m, sizeof *kv, by_count);
	for (size_t i = 0; i < m && i < ST_STATS_TOP; i++) {
		st->sources[i].name = ab->sources[kv[i].key];
		st->sources[i].count = kv[i].count;
		st->nsources++;
	}
	m = 0;
	uint64_t key;
	uint32_t count;
	for (size_t pos = 0; st_map_next(&ab->subnets, &pos, &key, &count);)
		kv[m++] = (struct kv){key, count};
	qsort(kv, m, sizeof *kv, by_count);
	for (size_t i = 0; i < m && i < ST_STATS_TOP; i++) {
		st->subnets[i].key = kv[i].key;
		st->subnets[i].count = kv[i].count;
		st->nsubnets++;
	}
	free(kv);
	free(per_source);
	return 0;
}
