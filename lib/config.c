/* config.c - st.yaml through libyaml: one schema table drives parsing, env, flags and printing. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "st/config.h"
#include "st/endpoint.h"
#include "st/store.h"
#include "st/util.h"

enum type {
	T_STRING, /* char array; size in `max` */
	T_BOOL,
	T_U32,
	T_I32,
	T_DURATION,
	T_SIZE,
	T_SHARE,
	T_BINDLIST,
	T_TLSVER, /* "1.3" or "1.2", kept as 13 or 12 */
};

struct key {
	const char *name;    /* "addrbook.max_addresses" */
	enum type type;
	size_t offset;
	int64_t min, max;    /* ranges; for T_STRING max is the array size */
	const char *def;     /* default, as text in the file's syntax */
	const char *help;
};

#define OFF(f) offsetof(struct st_config, f)
#define DAY (86400000LL)

static const struct key keys[] = {
	{"data_dir", T_STRING, OFF(data_dir), 0, ST_PATH_MAX, "",
	 "where the tables live (default $XDG_DATA_HOME/spacetime)"},
	{"lock_wait", T_DURATION, OFF(lock.ms), 0, 30 * DAY, "10m",
	 "how long to wait for a table another program holds (then exit 75)"},
	{"repair", T_BOOL, OFF(repair_auto), 0, 0, "never",
	 "auto: a damaged table is repaired as fsck --repair would, instead of failing"},
	{"tls", T_BOOL, OFF(tls), 0, 0, "false",
	 "mutual TLS on every connection; node ids proven by certificates"},
	{"tls_min_version", T_TLSVER, OFF(tls_min_version), 0, 0, "1.3",
	 "the oldest TLS version spoken: 1.3, or 1.2"},
	{"addrbook.max_addresses", T_U32, OFF(addrbook.max_addresses), 1, 10000000, "10000",
	 "capacity of the address book"},
	{"addrbook.max_per_subnet", T_U32, OFF(addrbook.max_per_subnet), 1, 10000000, "10",
	 "addresses per IPv4 /24 or IPv6 /48"},
	{"addrbook.max_per_source_group", T_SHARE, OFF(addrbook.max_per_source_group), 0, 0, "10%",
	 "share of max_addresses one source group may fill"},
	{"addrbook.allow_private", T_BOOL, OFF(addrbook.allow_private), 0, 0, "false",
	 "accept private, loopback and other non-routable addresses"},
	{"addrbook.max_age", T_DURATION, OFF(addrbook.max_age), 60000, 3650 * DAY, "30d",
	 "prune: addresses not seen for this long"},
	{"node.node_id", T_STRING, OFF(node.node_id), 0, 129, "",
	 "our node id (default: generated once and kept in the data dir)"},
	{"node.user_agent", T_STRING, OFF(node.user_agent), 0, 129, "st/" ST_BUILD_VERSION,
	 "user agent sent in handshakes"},
	{"node.key", T_STRING, OFF(node.key), 0, ST_PATH_MAX, "",
	 "the node's Ed25519 key for TLS (default DATA_DIR/node.key, st-keygen's)"},
	{"node.cert", T_STRING, OFF(node.cert), 0, ST_PATH_MAX, "",
	 "the node's certificate for TLS (default DATA_DIR/node.crt)"},
	{"peers.success_delta", T_I32, OFF(peers.success_delta), 0, 1000, "1",
	 "reputation added by a success"},
	{"peers.failure_delta", T_I32, OFF(peers.failure_delta), -1000, 0, "-2",
	 "reputation added by a failure"},
	{"peers.blacklist_threshold", T_I32, OFF(peers.blacklist_threshold), -1000000, 0, "-10",
	 "ban a peer whose reputation falls to this"},
	{"peers.max_failures", T_U32, OFF(peers.max_failures), 1, 1000000, "5",
	 "ban a peer after this many consecutive failures"},
	{"peers.ban_duration", T_DURATION, OFF(peers.ban_duration), 1000, 3650 * DAY, "24h",
	 "how long an automatic ban lasts"},
	{"connect.jobs", T_U32, OFF(connect.jobs), 1, 65536, "64", "dials at once"},
	{"connect.timeout", T_DURATION, OFF(connect.timeout), 10, DAY, "10s",
	 "per endpoint, from connect to result"},
	{"connect.bind", T_STRING, OFF(connect.bind), 0, 64, "",
	 "dial from this local address (default the kernel's choice)"},
	{"connect.max_memory", T_SIZE, OFF(connect.max_memory), 1 << 20, 1LL << 40, "256MiB",
	 "what all dials may hold in buffers at once"},
	{"listen.bind", T_BINDLIST, OFF(listen.bind), 0, 0, "0.0.0.0:7777",
	 "addresses to listen on (a list)"},
	{"listen.max_conns", T_U32, OFF(listen.max_conns), 1, 1000000, "1024",
	 "inbound connections at once"},
	{"listen.max_per_ip", T_U32, OFF(listen.max_per_ip), 1, 1000000, "8",
	 "inbound connections from one address"},
	{"listen.idle_timeout", T_DURATION, OFF(listen.idle_timeout), 100, 30 * DAY, "5m",
	 "close a connection silent this long"},
	{"listen.handshake_timeout", T_DURATION, OFF(listen.handshake_timeout), 100, DAY, "10s",
	 "time a client has to complete its handshake"},
	{"listen.getpeers_interval", T_DURATION, OFF(listen.getpeers_interval), 1000, DAY, "5m",
	 "one GetPeers answer per requester address this often"},
	{"listen.max_memory", T_SIZE, OFF(listen.max_memory), 1 << 20, 1LL << 40, "256MiB",
	 "what all sessions may hold in buffers at once"},
	{"listen.metrics", T_STRING, OFF(listen.metrics), 0, 64, "",
	 "serve Prometheus metrics at http://ADDR:PORT/metrics (PORT alone: 127.0.0.1)"},
	{"seed.timeout", T_DURATION, OFF(seed.timeout), 100, DAY, "30s", "per seed list download"},
	{"seed.max_size", T_SIZE, OFF(seed.max_size), 1, 1LL << 32, "8MiB",
	 "largest seed list accepted"},
	{"seed.retries", T_U32, OFF(seed.retries), 0, 100, "3",
	 "retries on a temporary failure"},
	{"seed.max_redirects", T_U32, OFF(seed.max_redirects), 0, 50, "5", "redirects followed"},
	{"seed.dns_resolver", T_STRING, OFF(seed.dns_resolver), 0, 64, "",
	 "DNS server ADDR[:PORT] (default the system's)"},
	{"seed.cacert", T_STRING, OFF(seed.cacert), 0, ST_PATH_MAX, "",
	 "CA bundle for HTTPS (default the system's)"},
};

#define NKEYS ST_ARRAY_LEN(keys)
_Static_assert(NKEYS <= sizeof(((struct st_config *)0)->origin_), "origin_ too small");

static const char *const sections[] = {"addrbook", "node", "peers", "connect", "listen", "seed"};

static const struct key *find_key(const char *name)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

/* The closest known name at a level ("addrbook." + x, or a top-level name), or NULL. */
static const char *did_you_mean(const char *section, const char *word, char *buf, size_t size)
{
	const char *best = NULL;
	size_t bestd = 3;
	size_t slen = section ? strlen(section) : 0;
	for (size_t i = 0; i < NKEYS; i++) {
		const char *k = keys[i].name;
		const char *dot = strchr(k, '.');
		const char *leaf;
		if (section) {
			if (!dot || (size_t)(dot - k) != slen || strncmp(k, section, slen) != 0)
				continue;
			leaf = dot + 1;
		} else {
			if (dot)
				continue;
			leaf = k;
		}
		size_t d = st_edit_distance(word, leaf);
		if (d < bestd || (strncmp(leaf, word, strlen(word)) == 0 && strlen(word) >= 3 && !best)) {
			bestd = d < bestd ? d : bestd;
			best = leaf;
		}
	}
	if (!section) {
		for (size_t i = 0; i < ST_ARRAY_LEN(sections); i++)
			if (st_edit_distance(word, sections[i]) < bestd) {
				bestd = st_edit_distance(word, sections[i]);
				best = sections[i];
			}
		if (st_edit_distance(word, "seeds") < bestd)
			best = "seeds";
	}
	if (!best)
		return NULL;
	st_strlcpy(buf, best, size);
	return buf;
}

static bool parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

static int parse_size(const char *v, int64_t min, int64_t max, uint64_t *out, struct st_err *err)
{
	static const struct {
		const char *suffix;
		uint64_t mult;
	} units[] = {{"", 1},           {"B", 1},           {"K", 1000},       {"KB", 1000},
	             {"KiB", 1024},     {"M", 1000000},     {"MB", 1000000},   {"MiB", 1 << 20},
	             {"G", 1000000000}, {"GB", 1000000000}, {"GiB", 1 << 30}};
	size_t digits = 0;
	while (isdigit((unsigned char)v[digits]))
		digits++;
	if (!digits || digits > 12)
		return st_err_set(err, ST_EX_DATAERR, "'%s': expected a size like 8MiB, 512KiB, 1000000",
		                  v);
	uint64_t mult = 0;
	for (size_t i = 0; i < ST_ARRAY_LEN(units) && !mult; i++)
		if (strcmp(v + digits, units[i].suffix) == 0)
			mult = units[i].mult;
	if (!mult)
		return st_err_set(err, ST_EX_DATAERR, "'%s': expected a size like 8MiB, 512KiB, 1000000",
		                  v);
	uint64_t n = strtoull(v, NULL, 10) * mult;
	if (n < (uint64_t)min || n > (uint64_t)max)
		return st_err_set(err, ST_EX_DATAERR, "'%s': out of range (%lld..%lld bytes)", v,
		                  (long long)min, (long long)max);
	*out = n;
	return 0;
}

/* "ADDR:PORT" or "[V6]:PORT" with a port 0..65535 (0 asks the kernel for one). */
static bool bind_address_ok(const char *v)
{
	const char *colon = strrchr(v, ':');
	if (!colon || !colon[1] || strlen(colon + 1) > 5 || strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return false;
	if (strtol(colon + 1, NULL, 10) > 65535)
		return false;
	if (v[0] != '[' && memchr(v, ':', (size_t)(colon - v)))
		return false;
	struct st_endpoint ep;
	return st_addr_parse(&ep, v, (size_t)(colon - v), NULL) == 0;
}

/* Sets one key from text; err gets the reason only (callers add where). */
static int set_value(struct st_config *cfg, const struct key *k, const char *v, struct st_err *err)
{
	char *field = (char *)cfg + k->offset;
	struct st_err e = {0};
	switch (k->type) {
	case T_STRING:
		if (strlen(v) >= (size_t)k->max)
			return st_err_set(err, ST_EX_DATAERR, "longer than %lld bytes", (long long)k->max - 1);
		memcpy(field, v, strlen(v) + 1);
		return 0;
	case T_BOOL: {
		bool b;
		if (k->offset == OFF(repair_auto) && (!strcmp(v, "auto") || !strcmp(v, "never"))) {
			b = v[0] == 'a'; /* repair: auto | never */
			memcpy(field, &b, sizeof b);
			return 0;
		}
		if (k->offset == OFF(repair_auto))
			return st_err_set(err, ST_EX_DATAERR, "'%s': expected auto or never", v);
		if (!parse_bool(v, &b))
			return st_err_set(err, ST_EX_DATAERR, "'%s': expected true or false", v);
		memcpy(field, &b, sizeof b);
		return 0;
	}
	case T_U32: {
		uint64_t u;
		if (st_parse_u64(v, (uint64_t)k->min, (uint64_t)k->max, &u, &e) < 0)
			return st_err_set(err, ST_EX_DATAERR, "%s", e.msg);
		uint32_t u32 = (uint32_t)u;
		memcpy(field, &u32, sizeof u32);
		return 0;
	}
	case T_I32: {
		int64_t i;
		if (st_parse_i64(v, k->min, k->max, &i, &e) < 0)
			return st_err_set(err, ST_EX_DATAERR, "%s", e.msg);
		int32_t i32 = (int32_t)i;
		memcpy(field, &i32, sizeof i32);
		return 0;
	}
	case T_DURATION: {
		int64_t ms;
		if (st_parse_duration(v, k->min, k->max, &ms, &e) < 0)
			return st_err_set(err, ST_EX_DATAERR, "%s", e.msg);
		memcpy(field, &ms, sizeof ms);
		return 0;
	}
	case T_SIZE: {
		uint64_t n = 0;
		if (parse_size(v, k->min, k->max, &n, err) < 0)
			return -1;
		memcpy(field, &n, sizeof n);
		return 0;
	}
	case T_SHARE: {
		double d;
		size_t len = strlen(v);
		if (len > 1 && v[len - 1] == '%') {
			char num[32];
			if (len > sizeof num)
				return st_err_set(err, ST_EX_DATAERR, "'%s': expected a share like 10%%", v);
			memcpy(num, v, len - 1);
			num[len - 1] = '\0';
			if (st_parse_double(num, 0.001, 100, &d, &e) < 0)
				return st_err_set(err, ST_EX_DATAERR, "'%s': expected a share 0.001%%..100%%", v);
			d /= 100;
		} else if (st_parse_double(v, 0.00001, 1, &d, &e) < 0) {
			return st_err_set(err, ST_EX_DATAERR, "'%s': expected a share like 10%% or 0.1", v);
		}
		memcpy(field, &d, sizeof d);
		return 0;
	}
	case T_BINDLIST: {
		/* "ADDR:PORT" or several, comma-separated (environment and flags) */
		struct st_config tmp;
		size_t n = 0;
		const char *p = v;
		while (*p) {
			const char *comma = strchr(p, ',');
			size_t len = comma ? (size_t)(comma - p) : strlen(p);
			if (n == ST_BIND_MAX)
				return st_err_set(err, ST_EX_DATAERR, "more than %d addresses", ST_BIND_MAX);
			if (len == 0 || len >= sizeof tmp.listen.bind[0])
				return st_err_set(err, ST_EX_DATAERR, "bad address '%.*s'", (int)len, p);
			memcpy(tmp.listen.bind[n], p, len);
			tmp.listen.bind[n][len] = '\0';
			if (!bind_address_ok(tmp.listen.bind[n]))
				return st_err_set(err, ST_EX_DATAERR, "'%s': expected ADDR:PORT (port 0: any)",
				                  tmp.listen.bind[n]);
			n++;
			p += len + (comma ? 1 : 0);
		}
		if (n == 0)
			return st_err_set(err, ST_EX_DATAERR, "no address");
		memcpy(cfg->listen.bind, tmp.listen.bind, sizeof tmp.listen.bind);
		cfg->listen.nbind = n;
		return 0;
	}
	case T_TLSVER: {
		/* 1.1 and older are not offered at all: they lack Ed25519 and are deprecated */
		int ver = !strcmp(v, "1.3") ? 13 : !strcmp(v, "1.2") ? 12 : 0;
		if (!ver)
			return st_err_set(err, ST_EX_DATAERR, "'%s': expected 1.3 or 1.2", v);
		memcpy(field, &ver, sizeof ver);
		return 0;
	}
	}
	return st_err_set(err, ST_EX_SOFTWARE, "bad key type");
}

void st_config_init(struct st_config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	for (size_t i = 0; i < NKEYS; i++) {
		struct st_err err = {0};
		if (keys[i].def[0] || keys[i].type == T_STRING)
			set_value(cfg, &keys[i], keys[i].def, &err);
		cfg->origin_[i] = ST_ORIGIN_DEFAULT;
	}
}

void st_config_free(struct st_config *cfg)
{
	free(cfg->seeds);
	cfg->seeds = NULL;
	cfg->nseeds = 0;
}

const char *st_config_path(const struct st_config *cfg)
{
	return cfg->path_;
}

int st_config_set(struct st_config *cfg, const char *key, const char *value,
                  enum st_origin origin, struct st_err *err)
{
	const struct key *k = find_key(key);
	if (!k)
		return st_err_set(err, ST_EX_USAGE, "%s: unknown key", key);
	if (set_value(cfg, k, value, err) < 0)
		return st_err_prefix(err, "%s", key);
	cfg->origin_[k - keys] = (unsigned char)origin;
	return 0;
}

/* ---- the YAML file ---- */

struct doc {
	const char *name;
	yaml_document_t *d;
	struct st_config *cfg;
	bool seen[NKEYS];
};

static int node_err(struct doc *doc, const yaml_node_t *n, const char *key, struct st_err *err,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int node_err(struct doc *doc, const yaml_node_t *n, const char *key, struct st_err *err,
                    const char *fmt, ...)
{
	char msg[ST_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return st_err_set(err, ST_EX_DATAERR, "%s:%zu:%zu: %s%s%s", doc->name,
	                  n ? n->start_mark.line + 1 : 0, n ? n->start_mark.column + 1 : 0,
	                  key ? key : "", key ? ": " : "", msg);
}

/* A scalar's text; NULL for anything else, and for text holding a NUL ("\0" in
 * YAML), which C strings would silently cut short. */
static const char *scalar(const yaml_node_t *n)
{
	if (!n || n->type != YAML_SCALAR_NODE)
		return NULL;
	const char *v = (const char *)n->data.scalar.value;
	return strlen(v) == n->data.scalar.length ? v : NULL;
}

static int set_from_node(struct doc *doc, const char *name, const yaml_node_t *keynode,
                         const yaml_node_t *val, struct st_err *err)
{
	const struct key *k = find_key(name);
	size_t idx = (size_t)(k - keys);
	if (doc->seen[idx])
		return node_err(doc, keynode, name, err, "duplicate key");
	doc->seen[idx] = true;
	if (k->type == T_BINDLIST && val->type == YAML_SEQUENCE_NODE) {
		char joined[ST_BIND_MAX * 65 + 1] = "";
		size_t count = 0;
		for (yaml_node_item_t *it = val->data.sequence.items.start;
		     it < val->data.sequence.items.top; it++) {
			const yaml_node_t *item = yaml_document_get_node(doc->d, *it);
			const char *s = scalar(item);
			if (!s || strchr(s, ','))
				return node_err(doc, item, name, err, "expected ADDR:PORT");
			if (++count > ST_BIND_MAX)
				return node_err(doc, item, name, err, "more than %d addresses", ST_BIND_MAX);
			if (count > 1)
				strcat(joined, ",");
			if (strlen(s) > 64)
				return node_err(doc, item, name, err, "address too long");
			strcat(joined, s);
		}
		struct st_err e = {0};
		if (set_value(doc->cfg, k, joined, &e) < 0)
			return node_err(doc, val, name, err, "%s", e.msg);
	} else {
		const char *s = scalar(val);
		if (!s)
			return node_err(doc, val, name, err, "expected a single value, not %s",
			                val->type == YAML_MAPPING_NODE ? "a mapping"
			                : val->type == YAML_SCALAR_NODE ? "text holding a NUL byte"
			                                                : "a list");
		struct st_err e = {0};
		if (set_value(doc->cfg, k, s, &e) < 0)
			return node_err(doc, val, name, err, "%s", e.msg);
	}
	doc->cfg->origin_[idx] = ST_ORIGIN_FILE;
	return 0;
}

static int parse_seed(struct doc *doc, const yaml_node_t *m, struct st_seed_conf *sc,
                      struct st_err *err)
{
	if (m->type != YAML_MAPPING_NODE)
		return node_err(doc, m, "seeds", err, "each entry must be a mapping (url: or dns:)");
	memset(sc, 0, sizeof *sc);
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		const yaml_node_t *kn = yaml_document_get_node(doc->d, p->key);
		const yaml_node_t *vn = yaml_document_get_node(doc->d, p->value);
		const char *k = scalar(kn), *v = scalar(vn);
		if (!k)
			return node_err(doc, kn, "seeds", err, "keys must be plain words");
		char where[64];
		snprintf(where, sizeof where, "seeds.%s", k);
		if (!v)
			return node_err(doc, vn, where, err, "expected a single value");
		size_t vlen = strlen(v);
		if (strcmp(k, "url") == 0) {
			if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
				return node_err(doc, vn, where, err, "'%s': not an http:// or https:// URL", v);
			if (vlen >= sizeof sc->url)
				return node_err(doc, vn, where, err, "too long");
			memcpy(sc->url, v, vlen + 1);
		} else if (strcmp(k, "dns") == 0) {
			if (vlen == 0 || vlen >= sizeof sc->dns || strpbrk(v, " /:@"))
				return node_err(doc, vn, where, err, "'%s': not a DNS name", v);
			memcpy(sc->dns, v, vlen + 1);
		} else if (strcmp(k, "format") == 0) {
			if (strcmp(v, "text") && strcmp(v, "json") && strcmp(v, "bitcoin") && strcmp(v, "auto"))
				return node_err(doc, vn, where, err, "'%s': expected text, json or bitcoin", v);
			st_strlcpy(sc->format, strcmp(v, "auto") ? v : "", sizeof sc->format);
		} else if (strcmp(k, "port") == 0) {
			uint64_t port;
			struct st_err e = {0};
			if (st_parse_u64(v, 1, 65535, &port, &e) < 0)
				return node_err(doc, vn, where, err, "%s", e.msg);
			sc->port = (uint16_t)port;
		} else if (strcmp(k, "public_key") == 0) {
			if (vlen >= sizeof sc->public_key)
				return node_err(doc, vn, where, err, "too long");
			memcpy(sc->public_key, v, vlen + 1);
		} else {
			const char *known[] = {"url", "dns", "format", "port", "public_key"};
			const char *best = NULL;
			size_t bestd = 3;
			for (size_t i = 0; i < 5; i++)
				if (st_edit_distance(k, known[i]) < bestd) {
					bestd = st_edit_distance(k, known[i]);
					best = known[i];
				}
			if (best)
				return node_err(doc, kn, where, err, "unknown key (did you mean '%s'?)", best);
			return node_err(doc, kn, where, err, "unknown key (url, dns, format, port, public_key)");
		}
	}
	if (!sc->url[0] == !sc->dns[0])
		return node_err(doc, m, "seeds", err, "each entry needs exactly one of url: and dns:");
	return 0;
}

static int parse_seeds(struct doc *doc, const yaml_node_t *seq, struct st_err *err)
{
	if (seq->type != YAML_SEQUENCE_NODE)
		return node_err(doc, seq, "seeds", err, "expected a list");
	size_t n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
	if (n > ST_SEEDS_MAX)
		return node_err(doc, seq, "seeds", err, "more than %d entries", ST_SEEDS_MAX);
	struct st_seed_conf *list = n ? calloc(n, sizeof *list) : NULL;
	if (n && !list)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const yaml_node_t *m = yaml_document_get_node(doc->d, seq->data.sequence.items.start[i]);
		if (!m || parse_seed(doc, m, &list[i], err) < 0) {
			free(list);
			return -1;
		}
	}
	free(doc->cfg->seeds);
	doc->cfg->seeds = list;
	doc->cfg->nseeds = n;
	return 0;
}

static int walk(struct doc *doc, struct st_err *err)
{
	const yaml_node_t *root = yaml_document_get_root_node(doc->d);
	if (!root)
		return 0; /* an empty file: defaults */
	if (root->type == YAML_SCALAR_NODE && !root->data.scalar.length)
		return 0;
	if (root->type != YAML_MAPPING_NODE)
		return node_err(doc, root, NULL, err, "expected a mapping of keys at the top");
	bool seeds_seen = false, section_seen[ST_ARRAY_LEN(sections)] = {false};
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
	     p++) {
		const yaml_node_t *kn = yaml_document_get_node(doc->d, p->key);
		const yaml_node_t *vn = yaml_document_get_node(doc->d, p->value);
		const char *k = scalar(kn);
		char hint[64];
		if (!k || !vn)
			return node_err(doc, kn, NULL, err, "keys must be plain words");
		if (strcmp(k, "seeds") == 0) {
			if (seeds_seen)
				return node_err(doc, kn, "seeds", err, "duplicate key");
			seeds_seen = true;
			if (parse_seeds(doc, vn, err) < 0)
				return -1;
			continue;
		}
		if (find_key(k)) {
			if (set_from_node(doc, k, kn, vn, err) < 0)
				return -1;
			continue;
		}
		size_t s;
		for (s = 0; s < ST_ARRAY_LEN(sections); s++)
			if (strcmp(k, sections[s]) == 0)
				break;
		if (s == ST_ARRAY_LEN(sections)) {
			if (did_you_mean(NULL, k, hint, sizeof hint))
				return node_err(doc, kn, k, err, "unknown key (did you mean '%s'?)", hint);
			return node_err(doc, kn, k, err, "unknown key");
		}
		if (section_seen[s])
			return node_err(doc, kn, k, err, "duplicate key");
		section_seen[s] = true;
		if (vn->type == YAML_SCALAR_NODE && !vn->data.scalar.length)
			continue; /* "addrbook:" with nothing under it */
		if (vn->type != YAML_MAPPING_NODE)
			return node_err(doc, vn, k, err, "expected a mapping of keys");
		for (yaml_node_pair_t *q = vn->data.mapping.pairs.start; q < vn->data.mapping.pairs.top;
		     q++) {
			const yaml_node_t *kn2 = yaml_document_get_node(doc->d, q->key);
			const yaml_node_t *vn2 = yaml_document_get_node(doc->d, q->value);
			const char *k2 = scalar(kn2);
			if (!k2 || !vn2)
				return node_err(doc, kn2, k, err, "keys must be plain words");
			char full[128];
			snprintf(full, sizeof full, "%s.%s", k, k2);
			if (!find_key(full)) {
				if (did_you_mean(k, k2, hint, sizeof hint))
					return node_err(doc, kn2, full, err, "unknown key (did you mean '%s'?)",
					                hint);
				return node_err(doc, kn2, full, err, "unknown key");
			}
			if (set_from_node(doc, full, kn2, vn2, err) < 0)
				return -1;
		}
	}
	return 0;
}

/*
 * Nesting deeper than this is refused before a document is built: libyaml takes time
 * quadratic in the depth (40k levels of "[" took 5.5 s, of "{a: " 7.9 s) and no config
 * needs more than four (section, seeds, a seed, its keys).
 */
#define CONFIG_DEPTH_MAX 64

/* Walks text's events (cheap: nothing is kept) and refuses it past CONFIG_DEPTH_MAX,
 * naming where. A syntax error is left to the loader, which reports it the same way;
 * it stops there, within the depth allowed. */
static int check_depth(const char *name, const char *text, size_t len, struct st_err *err)
{
	yaml_parser_t parser;
	if (!yaml_parser_initialize(&parser))
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	int depth = 0, rc = 0;
	for (;;) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&parser, &ev))
			break;
		yaml_event_type_t type = ev.type;
		yaml_mark_t at = ev.start_mark;
		yaml_event_delete(&ev);
		if (type == YAML_STREAM_END_EVENT)
			break;
		if (type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT) {
			if (++depth > CONFIG_DEPTH_MAX) {
				rc = st_err_set(err, ST_EX_DATAERR,
				                "%s:%zu:%zu: nested deeper than %d levels", name,
				                at.line + 1, at.column + 1, CONFIG_DEPTH_MAX);
				break;
			}
		} else if (type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT) {
			depth--;
		}
	}
	yaml_parser_delete(&parser);
	return rc;
}

int st_config_parse(struct st_config *cfg, const char *name, const char *text, size_t len,
                    struct st_err *err)
{
	if (len > ST_CONFIG_FILE_MAX)
		return st_err_set(err, ST_EX_DATAERR, "%s: larger than %d bytes", name,
		                  ST_CONFIG_FILE_MAX);
	if (memchr(text, '\0', len))
		return st_err_set(err, ST_EX_DATAERR, "%s: NUL byte in the file", name);
	if (check_depth(name, text, len, err) < 0)
		return -1;
	yaml_parser_t parser;
	yaml_document_t d;
	if (!yaml_parser_initialize(&parser))
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	int rc;
	if (!yaml_parser_load(&parser, &d)) {
		rc = st_err_set(err, ST_EX_DATAERR, "%s:%zu:%zu: %s%s%s", name,
		                parser.problem_mark.line + 1, parser.problem_mark.column + 1,
		                parser.problem ? parser.problem : "bad YAML",
		                parser.context ? " " : "", parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		return rc;
	}
	struct doc doc = {.name = name, .d = &d, .cfg = cfg};
	rc = walk(&doc, err);
	if (rc == 0 && yaml_document_get_root_node(&d)) {
		yaml_document_t d2;
		if (!yaml_parser_load(&parser, &d2)) {
			rc = st_err_set(err, ST_EX_DATAERR, "%s:%zu:%zu: %s", name,
			                parser.problem_mark.line + 1, parser.problem_mark.column + 1,
			                parser.problem ? parser.problem : "bad YAML");
		} else {
			const yaml_node_t *r2 = yaml_document_get_root_node(&d2);
			if (r2)
				rc = node_err(&doc, r2, NULL, err, "more than one YAML document");
			yaml_document_delete(&d2);
		}
	}
	yaml_document_delete(&d);
	yaml_parser_delete(&parser);
	return rc;
}

static int load_file(struct st_config *cfg, const char *path, bool must_exist,
                     struct st_err *err)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		if (errno == ENOENT && !must_exist)
			return 0;
		return st_err_sys(err, errno == ENOENT ? ST_EX_NOINPUT : ST_EX_IOERR, "'%s'", path);
	}
	struct st_buf b;
	st_buf_init(&b, ST_CONFIG_FILE_MAX);
	char chunk[8192];
	size_t n;
	int rc = 0;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		if (st_buf_append(&b, chunk, n, err) < 0) {
			rc = st_err_set(err, ST_EX_DATAERR, "'%s': larger than %d bytes", path,
			                ST_CONFIG_FILE_MAX);
			break;
		}
	if (rc == 0 && ferror(f))
		rc = st_err_sys(err, ST_EX_IOERR, "'%s'", path);
	fclose(f);
	if (rc == 0)
		rc = st_config_parse(cfg, path, b.data ? b.data : "", b.len, err);
	if (rc == 0)
		st_strlcpy(cfg->path_, path, sizeof cfg->path_);
	st_buf_clear(&b);
	return rc;
}

static void env_name(const char *key, char *buf, size_t size)
{
	size_t i = 0;
	i += st_strlcpy(buf, "ST_", size);
	for (const char *k = key; *k && i + 1 < size; k++)
		buf[i++] = *k == '.' ? '_' : (char)toupper((unsigned char)*k);
	buf[i < size ? i : size - 1] = '\0';
}

int st_config_load(struct st_config *cfg, const char *path, struct st_err *err)
{
	const char *env_config = getenv("ST_CONFIG");
	if (path) {
		if (load_file(cfg, path, true, err) < 0)
			return -1;
	} else if (env_config && *env_config) {
		if (load_file(cfg, env_config, true, err) < 0)
			return -1;
	} else {
		char p[ST_PATH_MAX];
		const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
		if (xdg && *xdg)
			snprintf(p, sizeof p, "%s/spacetime/st.yaml", xdg);
		else if (home && *home)
			snprintf(p, sizeof p, "%s/.config/spacetime/st.yaml", home);
		else
			p[0] = '\0';
		struct stat st;
		if (p[0] && stat(p, &st) == 0) {
			if (load_file(cfg, p, true, err) < 0)
				return -1;
		} else if (load_file(cfg, "/etc/spacetime/st.yaml", false, err) < 0) {
			return -1;
		}
	}
	for (size_t i = 0; i < NKEYS; i++) {
		char name[96];
		env_name(keys[i].name, name, sizeof name);
		const char *v = getenv(name);
		if (!v)
			continue;
		if (st_config_set(cfg, keys[i].name, v, ST_ORIGIN_ENV, err) < 0)
			return st_err_prefix(err, "environment %s", name);
	}
	return 0;
}

int st_config_data_dir(struct st_config *cfg, const char *flag, struct st_err *err)
{
	if (flag) {
		if (st_config_set(cfg, "data_dir", flag, ST_ORIGIN_FLAG, err) < 0)
			return -1;
	}
	if (!cfg->data_dir[0]) {
		const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
		int n;
		if (xdg && *xdg)
			n = snprintf(cfg->data_dir, sizeof cfg->data_dir, "%s/spacetime", xdg);
		else if (home && *home)
			n = snprintf(cfg->data_dir, sizeof cfg->data_dir, "%s/.local/share/spacetime", home);
		else
			return st_err_set(err, ST_EX_USAGE,
			                  "no data directory: set --data-dir, ST_DATA_DIR or HOME");
		if (n < 0 || (size_t)n >= sizeof cfg->data_dir)
			return st_err_set(err, ST_EX_USAGE, "data directory path too long");
	}
	return 0;
}

/* ---- printing ---- */

static void print_quoted(FILE *out, const char *s)
{
	putc('"', out);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(out, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(out, "\\x%02x", (unsigned char)*s);
		else
			putc(*s, out);
	}
	putc('"', out);
}

static void print_value(FILE *out, const struct st_config *cfg, const struct key *k)
{
	const char *field = (const char *)cfg + k->offset;
	char b[64];
	switch (k->type) {
	case T_STRING:
		print_quoted(out, field);
		break;
	case T_BOOL: {
		bool v;
		memcpy(&v, field, sizeof v);
		if (k->offset == OFF(repair_auto))
			fputs(v ? "auto" : "never", out);
		else
			fputs(v ? "true" : "false", out);
		break;
	}
	case T_U32: {
		uint32_t v;
		memcpy(&v, field, sizeof v);
		fprintf(out, "%u", v);
		break;
	}
	case T_I32: {
		int32_t v;
		memcpy(&v, field, sizeof v);
		fprintf(out, "%d", v);
		break;
	}
	case T_DURATION: {
		int64_t v;
		memcpy(&v, field, sizeof v);
		st_format_duration(v, b, sizeof b);
		fputs(b, out);
		break;
	}
	case T_SIZE: {
		uint64_t v;
		memcpy(&v, field, sizeof v);
		if (v % (1 << 30) == 0)
			fprintf(out, "%lluGiB", (unsigned long long)(v >> 30));
		else if (v % (1 << 20) == 0)
			fprintf(out, "%lluMiB", (unsigned long long)(v >> 20));
		else if (v % 1024 == 0)
			fprintf(out, "%lluKiB", (unsigned long long)(v >> 10));
		else
			fprintf(out, "%llu", (unsigned long long)v);
		break;
	}
	case T_SHARE: {
		double v;
		memcpy(&v, field, sizeof v);
		fprintf(out, "%g%%", v * 100);
		break;
	}
	case T_TLSVER: {
		int v;
		memcpy(&v, field, sizeof v);
		fputs(v == 12 ? "\"1.2\"" : "\"1.3\"", out);
		break;
	}
	case T_BINDLIST:
		fputc('[', out);
		for (size_t i = 0; i < cfg->listen.nbind; i++) {
			if (i)
				fputs(", ", out);
			print_quoted(out, cfg->listen.bind[i]);
		}
		fputc(']', out);
		break;
	}
}

int st_config_print(const struct st_config *cfg, FILE *out, struct st_err *err)
{
	static const char *const origin_names[] = {"default", "file", "env", "flag"};
	fprintf(out, "# effective configuration; file: %s\n", cfg->path_[0] ? cfg->path_ : "(none)");
	char section[32] = "";
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];
		const char *dot = strchr(k->name, '.');
		const char *leaf = k->name;
		if (dot) {
			size_t slen = (size_t)(dot - k->name);
			if (strlen(section) != slen || strncmp(section, k->name, slen) != 0) {
				fprintf(out, "%.*s:\n", (int)slen, k->name);
				snprintf(section, sizeof section, "%.*s", (int)slen, k->name);
			}
			leaf = dot + 1;
			fputs("  ", out);
		}
		fprintf(out, "%s: ", leaf);
		print_value(out, cfg, k);
		char env[96];
		env_name(k->name, env, sizeof env);
		unsigned o = cfg->origin_[i] < 4 ? cfg->origin_[i] : 0;
		if (o == ST_ORIGIN_ENV)
			fprintf(out, "  # env %s\n", env);
		else
			fprintf(out, "  # %s\n", origin_names[o]);
	}
	if (cfg->nseeds) {
		fputs("seeds:  # file\n", out);
		for (size_t i = 0; i < cfg->nseeds; i++) {
			const struct st_seed_conf *s = &cfg->seeds[i];
			fputs(s->url[0] ? "  - url: " : "  - dns: ", out);
			print_quoted(out, s->url[0] ? s->url : s->dns);
			fputc('\n', out);
			if (s->format[0])
				fprintf(out, "    format: %s\n", s->format);
			if (s->port)
				fprintf(out, "    port: %u\n", s->port);
			if (s->public_key[0]) {
				fputs("    public_key: ", out);
				print_quoted(out, s->public_key);
				fputc('\n', out);
			}
		}
	} else {
		fputs("seeds: []  # default\n", out);
	}
	if (ferror(out))
		return st_err_set(err, ST_EX_IOERR, "write error");
	return 0;
}

int st_config_example(FILE *out, struct st_err *err)
{
	struct st_config def;
	st_config_init(&def);
	fputs("# st.yaml - configuration of the st programs; see st.yaml(5).\n"
	      "# Read from --config FILE, $ST_CONFIG, $XDG_CONFIG_HOME/spacetime/st.yaml or\n"
	      "# /etc/spacetime/st.yaml, first found. Every key is shown with its default,\n"
	      "# commented out: remove the '#' before a key (and its section) to set it.\n"
	      "# The environment overrides the file (the variable is named at each key),\n"
	      "# and a program's flags override both. 'PROG --print-config' shows the result.\n",
	      out);
	char section[32] = "";
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key *k = &keys[i];
		const char *dot = strchr(k->name, '.');
		const char *leaf = k->name, *indent = "";
		if (dot) {
			size_t slen = (size_t)(dot - k->name);
			if (strlen(section) != slen || strncmp(section, k->name, slen) != 0) {
				fprintf(out, "\n#%.*s:\n", (int)slen, k->name);
				snprintf(section, sizeof section, "%.*s", (int)slen, k->name);
			}
			leaf = dot + 1;
			indent = "  ";
		} else {
			fputc('\n', out);
		}
		char env[96];
		env_name(k->name, env, sizeof env);
		fprintf(out, "%s# %s (%s)\n#%s%s: ", dot ? "#  " : "", k->help, env, indent, leaf);
		print_value(out, &def, k);
		fputc('\n', out);
	}
	fputs("\n# Seeds for 'st-seed refresh': lists over HTTP(S) (format: auto, text, json or\n"
	      "# bitcoin; public_key: require URL.sig) and DNS names; port for bare addresses.\n"
	      "#seeds:\n"
	      "#  - url: \"https://seeds.example.net/peers.txt\"\n"
	      "#    format: auto\n"
	      "#    public_key: \"BASE64-KEY-FROM-st-seed-pubkey\"\n"
	      "#  - dns: \"seed.example.net\"\n"
	      "#    port: 7777\n",
	      out);
	st_config_free(&def);
	if (ferror(out))
		return st_err_set(err, ST_EX_IOERR, "write error");
	return 0;
}

void st_config_tell_repaired(const struct st_config *cfg, const struct st_err *damage, size_t kept,
                             size_t lost)
{
	if (!cfg->lock.alert)
		return;
	char msg[ST_ERR_MSG_MAX + 128];
	snprintf(msg, sizeof msg, "%s; repaired (repair: auto): %zu entries kept, %zu lines lost, "
	         "damaged files moved to *.bak", damage->msg, kept, lost);
	cfg->lock.alert(cfg->lock.ctx, msg);
}
