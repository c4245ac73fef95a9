/* seed_parse.c - seed list formats: text, Bitcoin-style seed files and JSON. */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "st/seed.h"

static const char *const format_names[] = {"auto", "text", "json", "bitcoin"};

int st_seed_format_parse(const char *s, enum st_seed_format *out, struct st_err *err)
{
	for (size_t i = 0; i < ST_ARRAY_LEN(format_names); i++)
		if (strcmp(s, format_names[i]) == 0) {
			*out = (enum st_seed_format)i;
			return 0;
		}
	return st_err_set(err, ST_EX_USAGE, "'%s': expected auto, text, json or bitcoin", s);
}

const char *st_seed_format_name(enum st_seed_format f)
{
	return (size_t)f < ST_ARRAY_LEN(format_names) ? format_names[f] : "?";
}

/* ---- the list: endpoints in order, each once ---- */

/* Node ids live apart from the entries, which stay small (a list rarely names ids, and
 * a million entries of 150 bytes each were most of a big list's cost), in blocks that
 * never move, so an entry's pointer stays valid as the list grows. */
#define IDS_BLOCK 65536

struct st_seed_ids {
	struct st_seed_ids *next;
	size_t used;
	char text[IDS_BLOCK];
};

static const char *keep_id(struct st_seed_list *l, const char *id)
{
	if (!id[0])
		return "";
	size_t n = strnlen(id, ST_NODE_ID_MAX) + 1; /* cut as the fixed field it replaces was */
	if (!l->ids_ || IDS_BLOCK - l->ids_->used < n) {
		struct st_seed_ids *b = malloc(sizeof *b);
		if (!b)
			return NULL;
		b->next = l->ids_;
		b->used = 0;
		l->ids_ = b;
	}
	char *at = l->ids_->text + l->ids_->used;
	memcpy(at, id, n - 1);
	at[n - 1] = '\0';
	l->ids_->used += n;
	return at;
}

void st_seed_list_clear(struct st_seed_list *l)
{
	while (l->ids_) {
		struct st_seed_ids *next = l->ids_->next;
		free(l->ids_);
		l->ids_ = next;
	}
	free(l->v);
	st_map_clear(&l->index_);
	*l = (struct st_seed_list){0};
}

/* An endpoint's map key. An IPv4 endpoint is its own key (the top bit set, the port, the
 * address), so a lookup compares the map's own slots and never reads the entry it names:
 * over a million entries that read is a cache miss per probe. Anything else is hashed,
 * its top bit clear so that it never equals an IPv4 key, and compared by index_eq. */
static uint64_t v4_key(const struct st_endpoint *ep)
{
	return 1ULL << 63 | (uint64_t)ep->port << 32 | (uint64_t)ep->addr[0] << 24 |
	       (uint64_t)ep->addr[1] << 16 | (uint64_t)ep->addr[2] << 8 | ep->addr[3];
}

static bool ep_direct(const struct st_endpoint *ep, uint64_t *key)
{
	static const uint8_t zero[12];
	if (ep->family != ST_AF_INET || memcmp(ep->addr + 4, zero, sizeof zero) != 0)
		return false;
	*key = v4_key(ep);
	return true;
}

static uint64_t ep_hash(const struct st_endpoint *ep)
{
	uint8_t k[19];
	k[0] = ep->family;
	k[1] = (uint8_t)(ep->port >> 8);
	k[2] = (uint8_t)ep->port;
	memcpy(k + 3, ep->addr, 16);
	return st_hash64(k, sizeof k, 0x5eedULL) & ~(1ULL << 63);
}

static bool ep_equal(const struct st_endpoint *a, const struct st_endpoint *b)
{
	return a->family == b->family && a->port == b->port && memcmp(a->addr, b->addr, 16) == 0;
}

static bool index_eq(const void *ctx, uint32_t k, const void *key)
{
	const struct st_seed_list *l = ctx;
	return ep_equal(&l->v[k].ep, key);
}

/* st_seed_list_add with the endpoint's key h, direct when ep_direct made it. */
static int list_add(struct st_seed_list *l, const struct st_endpoint *ep, uint64_t h,
                    bool direct, const char *node_id, struct st_err *err)
{
	if (l->n >= ST_MAP_VALUE_MAX)
		return st_err_set(err, ST_EX_DATAERR, "too many endpoints in one list");
	if (l->n == l->cap) { /* room first: the index never names an entry not there */
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct st_seed_entry *v = realloc(l->v, cap * sizeof *v);
		if (!v)
			return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
		l->v = v;
		l->cap = cap;
	}
	struct st_seed_entry *e = &l->v[l->n];
	e->ep = *ep; /* not counted until it is in the index */
	int rc = st_map_insert(&l->index_, h, direct ? NULL : index_eq, l, ep, (uint32_t)l->n, NULL);
	if (rc < 0)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	if (rc == 1) {
		l->duplicates++;
		return 0;
	}
	if (!(e->node_id = keep_id(l, node_id ? node_id : ""))) {
		st_map_del(&l->index_, h, direct ? NULL : index_eq, l, ep);
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	}
	l->n++;
	return 1;
}

int st_seed_list_add(struct st_seed_list *l, const struct st_endpoint *ep, const char *node_id,
                     struct st_err *err)
{
	uint64_t h;
	bool direct = ep_direct(ep, &h);
	if (!direct)
		h = ep_hash(ep);
	return list_add(l, ep, h, direct, node_id, err);
}

/* ---- one item: a line of a text list, or a string of a JSON list ---- */

/* A text list's IPv4 endpoints join the list PIPE lines behind their reading, their
 * index slots prefetched when read, so that over a million entries the index's cache
 * misses overlap instead of stalling one by one. Anything that could see the list or
 * tell of a line (another kind of endpoint, a bad line, a host name) first puts the
 * pending ones in, so the list, the order and what is told stay as they were. */
#define PIPE 16

struct pending {
	struct st_endpoint ep;
	uint64_t key;                /* its direct key (ep_direct) */
	char id[ST_NODE_ID_MAX + 1];
};

struct parse {
	struct st_seed_list *l;
	const struct st_seed_sink *sink;
	uint16_t default_port;
	bool onion_is_bad;   /* text format: only IP endpoints belong */
	bool pipe;           /* text format: IPv4 endpoints wait in q */
	bool failed;         /* an add failed (memory): parsing stops */
	struct pending q[PIPE];
	size_t head, n;      /* the oldest pending endpoint, how many */
};

/* Adds the oldest pending endpoint. 0 or -1. */
static int settle_one(struct parse *p)
{
	const struct pending *e = &p->q[p->head];
	p->head = (p->head + 1) % PIPE;
	p->n--;
	if (list_add(p->l, &e->ep, e->key, true, e->id, NULL) < 0) {
		p->failed = true;
		return -1;
	}
	return 0;
}

/* Adds every pending endpoint. 0 or -1. */
static int settle(struct parse *p)
{
	while (p->n)
		if (settle_one(p) < 0)
			return -1;
	return 0;
}

/* An IPv4 endpoint of a text list, its direct key known, into the pipe. 0 or -1 (memory). */
static int add_direct(struct parse *p, const struct st_endpoint *ep, uint64_t key, const char *id)
{
	if (p->n == PIPE && settle_one(p) < 0)
		return -1;
	struct pending *e = &p->q[(p->head + p->n) % PIPE];
	e->ep = *ep;
	e->key = key;
	if (id[0])
		st_strlcpy(e->id, id, sizeof e->id);
	else
		e->id[0] = '\0'; /* most lines name no id */
	st_map_prefetch(&p->l->index_, key);
	p->n++;
	return 0;
}

/* st_seed_list_add, deferred for an IPv4 endpoint of a text list. 0 or -1 (memory). */
static int add(struct parse *p, const struct st_endpoint *ep, const char *id)
{
	uint64_t key;
	if (!p->pipe || !ep_direct(ep, &key)) {
		if (settle(p) < 0 || st_seed_list_add(p->l, ep, id, NULL) < 0)
			return p->failed = true, -1;
		return 0;
	}
	return add_direct(p, ep, key, id);
}

static void report(struct parse *p, const char *where, const char *reason)
{
	if (settle(p) < 0) /* out of memory before this line: it is not told */
		return;
	p->l->bad++;
	if (p->sink && p->sink->bad)
		p->sink->bad(p->sink->ctx, where, reason);
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);
	return len >= n && strncasecmp(s + len - n, suffix, n) == 0;
}

/* A DNS host name: labels of letters, digits and '-', at least one letter somewhere. */
static bool is_host_name(const char *s, size_t len)
{
	bool letter = false;
	if (!len || len > ST_SEED_HOST_MAX || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (isalpha(c))
			letter = true;
		else if (!isdigit(c) && c != '-' && c != '.')
			return false;
	}
	return letter;
}

/* Parses "[ID@]ENDPOINT", "[ID@]HOST[:PORT]" or a bare address; -1 only on memory. */
static int parse_item(struct parse *p, const char *s, size_t len, const char *where)
{
	struct st_endpoint ep;
	char id[ST_NODE_ID_MAX + 1];
	struct st_err e; /* not = {0}: half a kilobyte to clear a line */
	e.code = 0;
	e.msg[0] = '\0';
	if (st_endpoint_parse_id(&ep, id, sizeof id, s, len, &e) == 0)
		return add(p, &ep, id);

	/* not IP:PORT - split off an id and a port to see what else it is */
	const char *at = memchr(s, '@', len);
	const char *host = at ? at + 1 : s;
	size_t hlen = len - (size_t)(host - s);
	char idbuf[ST_NODE_ID_MAX + 1] = "";
	if (at) {
		size_t ilen = (size_t)(at - s);
		if (!ilen || ilen > ST_NODE_ID_MAX) {
			report(p, where, "bad node id");
			return 0;
		}
		memcpy(idbuf, s, ilen);
		idbuf[ilen] = '\0';
	}
	const char *colon = hlen && host[0] != '[' ? memchr(host, ':', hlen) : NULL;
	if (colon && memchr(colon + 1, ':', hlen - (size_t)(colon + 1 - host)))
		colon = NULL; /* a bare IPv6 address */
	size_t namelen = colon ? (size_t)(colon - host) : hlen;
	/* before the port: Bitcoin's i2p lines carry port 0 */
	if (ends_with(host, namelen, ".onion") || ends_with(host, namelen, ".i2p")) {
		if (p->onion_is_bad)
			report(p, where, "an onion or i2p address (not for a text list)");
		else
			p->l->skipped++;
		return 0;
	}
	uint16_t port = p->default_port;
	if (colon) {
		char pbuf[8];
		size_t plen = hlen - namelen - 1;
		uint64_t v;
		if (!plen || plen >= sizeof pbuf) {
			report(p, where, "bad port");
			return 0;
		}
		memcpy(pbuf, colon + 1, plen);
		pbuf[plen] = '\0';
		if (st_parse_u64(pbuf, 1, 65535, &v, &e) < 0) {
			char why[ST_ERR_MSG_MAX + 16];
			snprintf(why, sizeof why, "bad port %s", e.msg);
			report(p, where, why);
			return 0;
		}
		port = (uint16_t)v;
	}
	if (!colon && st_addr_parse(&ep, host, hlen, NULL) == 0) {
		ep.port = port;
		return add(p, &ep, idbuf);
	}
	if (is_host_name(host, namelen)) {
		char name[ST_SEED_HOST_MAX + 1];
		memcpy(name, host, namelen);
		name[namelen] = '\0';
		if (p->sink && p->sink->host && ++p->l->hosts > ST_SEED_NAMES_MAX) {
			report(p, where, "too many host names in one list");
			return 0;
		}
		if (!p->sink || !p->sink->host) {
			char why[ST_SEED_HOST_MAX + 64];
			snprintf(why, sizeof why, "host name '%s' (resolved only with --resolve)", name);
			report(p, where, why);
			return 0;
		}
		if (settle(p) < 0) /* the sink may add to the list: what came before goes first */
			return -1;
		if (p->sink->host(p->sink->ctx, p->l, name, port, idbuf, &e) < 0) {
			if (e.code == ST_EX_SOFTWARE)
				return -1;
			report(p, where, e.msg);
		}
		return 0;
	}
	/* say what the endpoint parser found wrong */
	st_endpoint_parse_id(&ep, id, sizeof id, s, len, &e);
	report(p, where, e.msg);
	return 0;
}

/* ---- text and Bitcoin-style lists ---- */

/* A line number as text, counted up in place: "%lu" of each line without a division. */
struct lineno {
	char *start;   /* the digits, up to the NUL at the end of text */
	char text[24]; /* a 64-bit count has at most 20 digits */
};

static void lineno_next(struct lineno *n)
{
	char *c = n->text + sizeof n->text - 1;
	while (c > n->start && c[-1] == '9')
		*--c = '0';
	if (c > n->start)
		c[-1]++;
	else
		*--n->start = '1'; /* 9...9 becomes 10...0 */
}

static int parse_lines(struct parse *p, const char *body, size_t len, struct st_err *err)
{
	struct lineno ln;
	ln.text[sizeof ln.text - 1] = '\0';
	ln.start = ln.text + sizeof ln.text - 1;
	for (size_t pos = 0; pos < len;) {
		const char *line = body + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos;
		pos += n + (nl ? 1 : 0);
		lineno_next(&ln);
		const char *where = ln.start;
		if (n > ST_LINE_MAX) {
			report(p, where, "line too long");
			continue;
		}
		/* most lines are a plain "a.b.c.d:port": nothing to cut, trim or warn of */
		struct st_endpoint ep;
		if (st_endpoint_parse_v4(&ep, line, n) == 0) {
			if (add_direct(p, &ep, v4_key(&ep), "") < 0)
				return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
			continue;
		}
		/* a comment may follow the entry after a blank */
		for (size_t i = 0; i < n; i++)
			if (line[i] == '#' && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) {
				n = i;
				break;
			}
		while (n && isspace((unsigned char)line[n - 1]))
			n--;
		while (n && isspace((unsigned char)*line)) {
			line++;
			n--;
		}
		if (!n)
			continue;
		if (memchr(line, ' ', n) || memchr(line, '\t', n)) {
			report(p, where, "more than one word");
			continue;
		}
		if (memchr(line, '\0', n)) {
			report(p, where, "a NUL byte");
			continue;
		}
		if (parse_item(p, line, n, where) < 0 || p->failed)
			return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	}
	if (settle(p) < 0 || p->failed)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	return 0;
}

/* ---- JSON lists ---- */

/* The member of obj named one of names, case-insensitively, or NULL. */
static json_t *member(json_t *obj, const char *const *names)
{
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v) {
		for (size_t i = 0; names[i]; i++)
			if (strcasecmp(k, names[i]) == 0)
				return v;
	}
	return NULL;
}

/* The array of endpoints in a JSON document, or NULL. */
static json_t *find_array(json_t *root)
{
	static const char *const keys[] = {"peers", "nodes", "seeds", "addresses", NULL};
	if (json_is_array(root))
		return root;
	if (!json_is_object(root))
		return NULL;
	json_t *a = member(root, keys);
	if (json_is_array(a))
		return a;
	json_t *only = NULL;
	const char *k;
	json_t *v;
	json_object_foreach(root, k, v) {
		if (json_is_array(v)) {
			if (only)
				return NULL;
			only = v;
		}
	}
	return only;
}

static int parse_json_object(struct parse *p, json_t *it, const char *where)
{
	static const char *const addr_keys[] = {"address", "host", "ip", "endpoint", NULL};
	static const char *const port_keys[] = {"port", NULL};
	static const char *const id_keys[] = {"node_id", "nodeid", "id", NULL};
	json_t *a = member(it, addr_keys), *port = member(it, port_keys), *id = member(it, id_keys);
	if (!json_is_string(a)) {
		report(p, where, "no address (address, host or ip)");
		return 0;
	}
	const char *addr = json_string_value(a);
	char text[ST_NODE_ID_MAX + ST_SEED_HOST_MAX + 16];
	size_t k = 0;
	if (json_is_string(id) && json_string_length(id)) {
		if (json_string_length(id) > ST_NODE_ID_MAX) {
			report(p, where, "bad node id (too long)");
			return 0;
		}
		k = (size_t)snprintf(text, sizeof text, "%s@", json_string_value(id));
	}
	if (strlen(addr) > ST_SEED_HOST_MAX) {
		report(p, where, "address too long");
		return 0;
	}
	if (port && !json_is_null(port)) {
		long long v;
		if (json_is_integer(port)) {
			v = json_integer_value(port);
		} else if (json_is_string(port)) {
			char *end;
			v = strtoll(json_string_value(port), &end, 10);
			if (*end || end == json_string_value(port))
				v = -1;
		} else {
			v = -1;
		}
		if (v < 1 || v > 65535) {
			report(p, where, "bad port");
			return 0;
		}
		bool v6 = strchr(addr, ':') && addr[0] != '[';
		k += (size_t)snprintf(text + k, sizeof text - k, v6 ? "[%s]:%lld" : "%s:%lld", addr, v);
	} else {
		k += (size_t)snprintf(text + k, sizeof text - k, "%s", addr);
	}
	if (k >= sizeof text) {
		report(p, where, "address too long");
		return 0;
	}
	return parse_item(p, text, k, where);
}

static int parse_json(struct parse *p, const char *body, size_t len, struct st_err *err)
{
	json_error_t jerr;
	json_t *root = json_loadb(body, len, 0, &jerr);
	if (!root)
		return st_err_set(err, ST_EX_DATAERR, "json line %d column %d: %s", jerr.line,
		                  jerr.column, jerr.text);
	json_t *arr = find_array(root);
	if (!arr) {
		json_decref(root);
		return st_err_set(err, ST_EX_DATAERR, "json: no list of endpoints in it");
	}
	size_t i;
	json_t *it;
	int rc = 0;
	json_array_foreach(arr, i, it) {
		char where[32];
		snprintf(where, sizeof where, "item %zu", i + 1);
		if (json_is_string(it)) {
			const char *s = json_string_value(it);
			size_t n = json_string_length(it);
			if (!n || memchr(s, ' ', n) || memchr(s, '\0', n))
				report(p, where, "not an endpoint");
			else
				rc = parse_item(p, s, n, where);
		} else if (json_is_object(it)) {
			rc = parse_json_object(p, it, where);
		} else {
			report(p, where, "neither a string nor an object");
		}
		if (rc < 0)
			break;
	}
	json_decref(root);
	return rc < 0 ? st_err_set(err, ST_EX_SOFTWARE, "out of memory") : 0;
}

static bool looks_like_json(const char *body, size_t len, const char *content_type)
{
	if (content_type && strstr(content_type, "json"))
		return true;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)body[i];
		if (isspace(c))
			continue;
		return c == '[' || c == '{';
	}
	return false;
}

/* True when the body does not open like JSON, or its first line is an endpoint. */
static bool first_line_is_text(const char *body, size_t len)
{
	size_t i = 0;
	while (i < len && isspace((unsigned char)body[i]))
		i++;
	if (i == len || (body[i] != '[' && body[i] != '{'))
		return true;
	const char *nl = memchr(body + i, '\n', len - i);
	size_t n = (nl ? (size_t)(nl - body) : len) - i;
	while (n && isspace((unsigned char)body[i + n - 1]))
		n--;
	struct st_endpoint ep;
	char id[ST_NODE_ID_MAX + 1];
	return st_endpoint_parse_id(&ep, id, sizeof id, body + i, n, NULL) == 0;
}

/* The most lines a text list's index is sized for up front (more grow it as they come). */
#define RESERVE_MAX ((size_t)1 << 21)

int st_seed_parse(struct st_seed_list *l, const char *body, size_t len, enum st_seed_format fmt,
                  const char *content_type, uint16_t default_port, const struct st_seed_sink *sink,
                  struct st_err *err)
{
	struct parse p = {.l = l, .sink = sink, .default_port = default_port,
	                  .onion_is_bad = fmt == ST_SEED_TEXT};
	if (fmt == ST_SEED_JSON || (fmt == ST_SEED_AUTO && looks_like_json(body, len, content_type))) {
		l->format = ST_SEED_JSON;
		struct st_err jerr = {0};
		if (parse_json(&p, body, len, &jerr) == 0)
			return 0;
		/* a guess, not a choice: "[2001:db8::1]:7777" starts a text list too, and
		 * servers call text lists JSON; broken JSON stays a JSON error */
		if (fmt == ST_SEED_JSON || jerr.code == ST_EX_SOFTWARE || l->n || l->bad ||
		    !first_line_is_text(body, len)) {
			if (err)
				*err = jerr;
			return -1;
		}
	}
	/* room in the index for an endpoint a line (up to RESERVE_MAX), made at once
	 * rather than by rehashing a growing table a score of times */
	size_t lines = 0;
	for (const char *c = body, *end = body + len; c < end && lines < RESERVE_MAX; lines++) {
		const char *nl = memchr(c, '\n', (size_t)(end - c));
		c = nl ? nl + 1 : end;
	}
	if (st_map_reserve(&l->index_, l->n + lines) < 0)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	p.pipe = true;
	int rc = parse_lines(&p, body, len, err);
	/* an onion or i2p line tells a Bitcoin-style seed file */
	l->format = fmt != ST_SEED_AUTO ? fmt : l->skipped ? ST_SEED_BITCOIN : ST_SEED_TEXT;
	return rc;
}
