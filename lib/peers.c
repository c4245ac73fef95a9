/* peers.c - the peers and bans tables: reputation, automatic bans, lookups by id and address. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include "st/map.h"
#include "st/peers.h"
#include "st/store.h"
#include "st/util.h"
#include "peers_int.h"



struct st_peerbook {
	struct st_config cfg;
	struct st_store *peers_store, *bans_store;
	bool writable;
	uint64_t key;
	struct st_peer *p;
	size_t np, pcap;
	struct st_map by_id;        /* node id -> peer slot (deleted peers too) */
	struct st_map by_ep;        /* endpoint -> the slot of its newest owner that holds it */
	struct st_ban *b;
	size_t nb, bcap;
	struct st_map ban_idx;      /* target -> ban slot (deleted bans too) */
	bool bits4[33], bits6[129]; /* prefix lengths that have a ban */
	bool derived_bans;          /* a ban slot on a derived id ("ep-...") was ever made */
	bool packed, vbans;         /* ST_PEERBOOK_PACKED, ST_PEERBOOK_VERDICTS (see below) */
	size_t changes_peers, changes_bans;
	unsigned flags;             /* as opened */
	/* lazy: only the bans journal is in memory, the snapshot is searched through
	 * its index; bans read from it join b[] as they are looked up */
	bool bans_lazy;
	struct bans_index bix;
	/* lazy peers: the snapshot is searched through peers.index for the endpoint a
	 * check asks about; the journal's lines are kept (read once, under the lock) to
	 * be replayed over the few snapshot lines found */
	bool peers_lazy;
	struct peers_index pix;
	struct st_buf pjour;
	/* st_peerbook_open_for: the ids and endpoints whose snapshot lines are read (during
	 * the open only), and whether only those were (the peers are part of the table) */
	const struct st_peerbook_want *want;
	bool peers_part;
	/* packed: no p[]; slot i's record is packed at arena + off[i] (see pack_peer), a
	 * record replaced is packed anew at the end */
	uint8_t *arena;
	size_t alen, acap;
	size_t *off;
	/* vbans: no b[]; ban slot i is vb[i], its target in varena */
	struct vban *vb;
	char *varena;
	size_t valen, vacap;
};

/* A ban as a verdict needs it (ST_PEERBOOK_VERDICTS): 16 bytes and its target. */
struct vban {
	int64_t expires;
	uint32_t target;  /* offset in varena */
	uint8_t flags;    /* VB_NET, VB_DELETED */
};
#define VB_NET 1u
#define VB_DELETED 2u

/* ---- indexes ---- */

static bool in_force(const struct st_ban *b, int64_t now)
{
	return !b->deleted && (!b->expires || b->expires > now);
}

static bool holds(const struct st_peer *p, const struct st_endpoint *ep)
{
	for (size_t k = 0; k < p->neps; k++)
		if (st_endpoint_equal(&p->eps[k], ep))
			return true;
	return false;
}

/*
 * A packed record (ST_PEERBOOK_PACKED): what a list needs of a peer in some 50 bytes
 * instead of a struct st_peer's 400. Its flags (PK_DELETED, PK_VERIFIED), the number of
 * endpoints, the reputation and last_seen as they are (the sort keys, read in place),
 * the id and a NUL; each endpoint as its family (PK_FULL: all 16 address bytes follow,
 * else 4), its port and its address; the user agent and a NUL; then how long before
 * last_seen first_seen was, successes, failures, consecutive failures and version as varints (the signed ones
 * zigzagged). Unpacking gives back the struct exactly.
 */
#define PK_DELETED 1u
#define PK_VERIFIED 2u
#define PK_FULL 0x80u
#define PK_REP 2  /* where the reputation is (4 bytes) */
#define PK_SEEN 6 /* where last_seen is (8 bytes) */
#define PK_ID 14  /* where the id starts */
#define PK_MAX (PK_ID + ST_NODE_ID_MAX + 1 + ST_PEER_ENDPOINTS * 19 + ST_UA_MAX + 1 + 5 * 10)

static size_t put_varint(uint8_t *b, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		b[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	b[n++] = (uint8_t)v;
	return n;
}

static uint64_t get_varint(const uint8_t **b)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		uint8_t c = *(*b)++;
		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			break;
	}
	return v;
}

static uint64_t zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (v < 0 ? UINT64_MAX : 0);
}

static int64_t unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* Packs p into b (PK_MAX bytes). Returns the length. */
static size_t pack_peer(const struct st_peer *p, uint8_t *b)
{
	b[0] = (uint8_t)((p->deleted ? PK_DELETED : 0) | (p->verified ? PK_VERIFIED : 0));
	b[1] = (uint8_t)p->neps;
	memcpy(b + PK_REP, &p->reputation, 4);
	memcpy(b + PK_SEEN, &p->last_seen, 8);
	size_t n = PK_ID, l = strlen(p->id);
	memcpy(b + n, p->id, l + 1);
	n += l + 1;
	for (size_t k = 0; k < p->neps; k++) {
		const struct st_endpoint *ep = &p->eps[k];
		bool full = ep->family != ST_AF_INET;
		for (size_t j = 4; j < 16 && !full; j++)
			full = ep->addr[j] != 0;
		b[n++] = (uint8_t)(ep->family | (full ? PK_FULL : 0));
		b[n++] = (uint8_t)(ep->port >> 8);
		b[n++] = (uint8_t)ep->port;
		memcpy(b + n, ep->addr, full ? 16 : 4);
		n += full ? 16 : 4;
	}
	l = strlen(p->user_agent);
	memcpy(b + n, p->user_agent, l + 1);
	n += l + 1;
	n += put_varint(b + n, zigzag((int64_t)((uint64_t)p->last_seen - (uint64_t)p->first_seen)));
	n += put_varint(b + n, p->successes);
	n += put_varint(b + n, p->failures);
	n += put_varint(b + n, p->consecutive_failures);
	n += put_varint(b + n, zigzag(p->version));
	return n;
}

/* The packed endpoint at c into ep; returns where it ends. */
static const uint8_t *unpack_ep(const uint8_t *c, struct st_endpoint *ep)
{
	memset(ep, 0, sizeof *ep);
	bool full = c[0] & PK_FULL;
	ep->family = (uint8_t)(c[0] & ~PK_FULL);
	ep->port = (uint16_t)(c[1] << 8 | c[2]);
	memcpy(ep->addr, c + 3, full ? 16 : 4);
	return c + 3 + (full ? 16 : 4);
}

/* The endpoints of the packed record at b into eps; returns where they end. */
static const uint8_t *unpack_eps(const uint8_t *b, struct st_endpoint *eps, size_t *neps)
{
	*neps = b[1];
	const uint8_t *c = b + PK_ID;
	c += strlen((const char *)c) + 1;
	for (size_t k = 0; k < *neps; k++)
		c = unpack_ep(c, &eps[k]);
	return c;
}

static void unpack_peer(const uint8_t *b, struct st_peer *p)
{
	memset(p, 0, sizeof *p);
	p->deleted = b[0] & PK_DELETED;
	p->verified = b[0] & PK_VERIFIED;
	memcpy(&p->reputation, b + PK_REP, 4);
	memcpy(&p->last_seen, b + PK_SEEN, 8);
	st_strlcpy(p->id, (const char *)b + PK_ID, sizeof p->id);
	const uint8_t *c = unpack_eps(b, p->eps, &p->neps);
	st_strlcpy(p->user_agent, (const char *)c, sizeof p->user_agent);
	c += strlen((const char *)c) + 1;
	p->first_seen = (int64_t)((uint64_t)p->last_seen - (uint64_t)unzigzag(get_varint(&c)));
	p->successes = (uint32_t)get_varint(&c);
	p->failures = (uint32_t)get_varint(&c);
	p->consecutive_failures = (uint32_t)get_varint(&c);
	p->version = (int32_t)unzigzag(get_varint(&c));
}

static uint8_t *packed_at(const struct st_peerbook *pb, size_t i)
{
	return pb->arena + pb->off[i];
}

/* The id of slot i, in either kind of book. */
static const char *slot_id(const struct st_peerbook *pb, size_t i)
{
	return pb->packed ? (const char *)packed_at(pb, i) + PK_ID : pb->p[i].id;
}

static bool slot_deleted(const struct st_peerbook *pb, size_t i)
{
	return pb->packed ? packed_at(pb, i)[0] & PK_DELETED : pb->p[i].deleted;
}

static void slot_delete(struct st_peerbook *pb, size_t i)
{
	if (pb->packed)
		packed_at(pb, i)[0] |= PK_DELETED;
	else
		pb->p[i].deleted = true;
}

/* The endpoints of slot i: a pointer to them (eps, filled, for a packed book). */
static const struct st_endpoint *slot_eps(const struct st_peerbook *pb, size_t i,
                                          struct st_endpoint *eps, size_t *neps)
{
	if (!pb->packed) {
		*neps = pb->p[i].neps;
		return pb->p[i].eps;
	}
	unpack_eps(packed_at(pb, i), eps, neps);
	return eps;
}

static bool slot_holds(const struct st_peerbook *pb, size_t i, const struct st_endpoint *ep)
{
	if (!pb->packed)
		return holds(&pb->p[i], ep);
	/* compared packed, as st_endpoint_equal compares (a v4 address by its 4 bytes) */
	const uint8_t *b = packed_at(pb, i), *c = b + PK_ID;
	c += strlen((const char *)c) + 1;
	static const uint8_t zero[12];
	size_t alen = ep->family == ST_AF_INET ? 4 : 16;
	for (size_t k = 0; k < b[1]; k++) {
		bool full = c[0] & PK_FULL;
		size_t n = full ? alen : 4; /* the bytes packed to compare; the rest are 0 */
		if ((c[0] & ~PK_FULL) == ep->family && (c[1] << 8 | c[2]) == ep->port &&
		    !memcmp(c + 3, ep->addr, n) && (n == alen || !memcmp(ep->addr + 4, zero, 12)))
			return true;
		c += 3 + (full ? 16 : 4);
	}
	return false;
}

/* Packs in as slot i's record (a new one at the arena's end). Returns 0 or -1. */
static int pack_slot(struct st_peerbook *pb, size_t i, const struct st_peer *in)
{
	if (pb->acap - pb->alen < PK_MAX) {
		size_t cap = pb->acap ? pb->acap * 2 : (size_t)64 << 10;
		uint8_t *a = realloc(pb->arena, cap);
		if (!a)
			return -1;
		pb->arena = a;
		pb->acap = cap;
	}
	pb->off[i] = pb->alen;
	pb->alen += pack_peer(in, pb->arena + pb->alen);
	return 0;
}

static uint64_t id_hash(const struct st_peerbook *pb, const char *id)
{
	return st_hash64(id, strlen(id), pb->key);
}

static bool id_eq(const void *ctx, uint32_t slot, const void *key)
{
	const struct st_peerbook *pb = ctx;
	return strcmp(slot_id(pb, slot), key) == 0;
}

/* The slot of id, deleted or not: 1 with *slot set, or 0. */
static int find_slot(const struct st_peerbook *pb, const char *id, uint32_t *slot)
{
	return st_map_find(&pb->by_id, id_hash(pb, id), id_eq, pb, id, slot);
}

/* A peer by id, deleted or not (never in a packed book), or NULL. */
static struct st_peer *find_id(const struct st_peerbook *pb, const char *id)
{
	uint32_t slot;
	return !pb->packed && st_map_find(&pb->by_id, id_hash(pb, id), id_eq, pb, id, &slot) ? &pb->p[slot] : NULL;
}

#define ANY_OWNER UINT32_MAX

/* The ceiling on a lazy book's kept peers journal (compaction keeps one far smaller). */
#define PJOUR_MAX ((size_t)256 << 20)

/* An endpoint's entry: the one whose owner holds ep (and is owner, unless ANY_OWNER). */
struct ep_key {
	const struct st_endpoint *ep;
	uint32_t owner;
};

static bool ep_eq(const void *ctx, uint32_t slot, const void *key)
{
	const struct st_peerbook *pb = ctx;
	const struct ep_key *k = key;
	return (k->owner == ANY_OWNER || k->owner == slot) && slot_holds(pb, slot, k->ep);
}

/* Points each endpoint of peer slot i, whose record is p, at it (the newest owner wins),
 * their hashes in eph when known (NULL: computed). Returns 0 or -1. */
static int index_eps(struct st_peerbook *pb, uint32_t i, const struct st_peer *p,
                     const uint64_t *eph)
{
	for (size_t k = 0; k < p->neps; k++) {
		struct ep_key key = {&p->eps[k], ANY_OWNER};
		uint64_t h = eph ? eph[k] : st_endpoint_hash(&p->eps[k], pb->key);
		if (st_map_put(&pb->by_ep, h, ep_eq, pb, &key, i) < 0)
			return -1;
	}
	return 0;
}

/* Forgets the endpoints peer slot i holds and next does not, where i owns them. */
static void unindex_dropped(struct st_peerbook *pb, uint32_t i, const struct st_peer *next)
{
	struct st_endpoint buf[ST_PEER_ENDPOINTS];
	size_t n;
	const struct st_endpoint *eps = slot_eps(pb, i, buf, &n);
	for (size_t k = 0; k < n; k++) {
		if (holds(next, &eps[k]))
			continue;
		struct ep_key key = {&eps[k], i};
		st_map_del(&pb->by_ep, st_endpoint_hash(&eps[k], pb->key), ep_eq, pb, &key);
	}
}

/* The slot of the peer last seen at ep (not deleted): 1 with *slot set, or 0. */
static int at_slot(const struct st_peerbook *pb, const struct st_endpoint *ep, uint32_t *slot)
{
	struct ep_key key = {ep, ANY_OWNER};
	if (!st_map_find(&pb->by_ep, st_endpoint_hash(ep, pb->key), ep_eq, pb, &key, slot))
		return 0;
	return !slot_deleted(pb, *slot);
}

const struct st_peer *st_peers_at(const struct st_peerbook *pb, const struct st_endpoint *ep)
{
	uint32_t slot;
	return !pb->packed && at_slot(pb, ep, &slot) ? &pb->p[slot] : NULL;
}

/* Puts in, whose id the book does not hold, in a new slot; idh is its id's hash, eph its
 * endpoints' (NULL: computed). Returns 0 with *slot set, or -1 (out of memory). */
static int append_peer(struct st_peerbook *pb, const struct st_peer *in, uint64_t idh,
                       const uint64_t *eph, uint32_t *slot)
{
	if (pb->np >= ST_MAP_VALUE_MAX)
		return -1;
	uint32_t i = (uint32_t)pb->np;
	if (pb->packed) {
		if (!pb->off || pb->np == pb->pcap) {
			size_t cap = pb->pcap ? pb->pcap * 2 : 256;
			size_t *no = realloc(pb->off, cap * sizeof *no);
			if (!no)
				return -1;
			pb->off = no;
			pb->pcap = cap;
		}
		if (pack_slot(pb, i, in) < 0)
			return -1;
	} else {
		/* !p: for the analyzer, which cannot see that np <= pcap */
		if (!pb->p || pb->np == pb->pcap) {
			size_t cap = pb->pcap ? pb->pcap * 2 : 256;
			struct st_peer *np = realloc(pb->p, cap * sizeof *np);
			if (!np)
				return -1;
			pb->p = np;
			pb->pcap = cap;
		}
		pb->p[i] = *in;
	}
	if (st_map_add(&pb->by_id, idh, i) < 0)
		return -1;
	pb->np++;
	*slot = i;
	return index_eps(pb, i, in, eph);
}

/* Puts in in the book, in the slot of its id or a new one. Returns 0 with *slot set,
 * or -1 (out of memory). */
static int insert_peer(struct st_peerbook *pb, const struct st_peer *in, uint32_t *slot)
{
	if (!find_slot(pb, in->id, slot))
		return append_peer(pb, in, id_hash(pb, in->id), NULL, slot);
	unindex_dropped(pb, *slot, in);
	if (pb->packed) {
		if (pack_slot(pb, *slot, in) < 0)
			return -1;
	} else {
		pb->p[*slot] = *in;
	}
	return index_eps(pb, *slot, in, NULL);
}

/* ---- loading ---- */

struct load {
	struct st_peerbook *pb;
	bool bans, journal;
	const char *path;
};

static const char *ban_target(const struct st_peerbook *pb, uint32_t slot)
{
	return pb->vbans ? pb->varena + pb->vb[slot].target : pb->b[slot].target;
}

static bool ban_eq(const void *ctx, uint32_t slot, const void *key)
{
	const struct st_peerbook *pb = ctx;
	return strcmp(ban_target(pb, slot), key) == 0;
}

/* The slot of target's ban, deleted or not: 1 with *slot set, or 0. */
static int ban_find(const struct st_peerbook *pb, const char *target, uint32_t *slot)
{
	return st_map_find(&pb->ban_idx, id_hash(pb, target), ban_eq, pb, target, slot);
}

/* The ban on target (never in a verdicts book), deleted or not, for reuse. */
static struct st_ban *ban_slot(const struct st_peerbook *pb, const char *target)
{
	uint32_t slot;
	return !pb->vbans && ban_find(pb, target, &slot) ? &pb->b[slot] : NULL;
}

static struct st_ban *find_ban(const struct st_peerbook *pb, const char *target)
{
	struct st_ban *b = ban_slot(pb, target);
	return b && !b->deleted ? b : NULL;
}

/* Whether a ban on target (net: on an address or subnet, else on an id) is in force at
 * now, in either kind of book: 1 with *slot set, or 0. */
static int live_ban(const struct st_peerbook *pb, const char *target, bool net, int64_t now,
                    uint32_t *slot)
{
	if (!ban_find(pb, target, slot))
		return 0;
	if (pb->vbans) {
		const struct vban *v = &pb->vb[*slot];
		return !(v->flags & VB_DELETED) && !(v->flags & VB_NET) == !net &&
		       (!v->expires || v->expires > now);
	}
	const struct st_ban *b = &pb->b[*slot];
	return b->is_net == net && in_force(b, now);
}

static const struct st_ban *id_ban(const struct st_peerbook *pb, const char *id, int64_t now)
{
	uint32_t slot;
	return !pb->vbans && live_ban(pb, id, false, now, &slot) ? &pb->b[slot] : NULL;
}

/* Marks ban slot i lifted. */
static void ban_delete(struct st_peerbook *pb, uint32_t i)
{
	if (pb->vbans)
		pb->vb[i].flags |= VB_DELETED;
	else
		pb->b[i].deleted = true;
}

/* b into a verdicts book's slot i (new: its target too). Returns 0 or -1. */
static int put_vban(struct st_peerbook *pb, uint32_t i, const struct st_ban *b, bool fresh)
{
	if (fresh) {
		size_t l = strlen(b->target) + 1;
		if (pb->valen + l > UINT32_MAX)
			return -1;
		if (pb->vacap - pb->valen < l) {
			size_t cap = pb->vacap ? pb->vacap * 2 : (size_t)16 << 10;
			char *a = realloc(pb->varena, cap);
			if (!a)
				return -1;
			pb->varena = a;
			pb->vacap = cap;
		}
		memcpy(pb->varena + pb->valen, b->target, l);
		pb->vb[i].target = (uint32_t)pb->valen;
		pb->valen += l;
	}
	pb->vb[i].expires = b->expires;
	pb->vb[i].flags = (uint8_t)((b->is_net ? VB_NET : 0) | (b->deleted ? VB_DELETED : 0));
	return 0;
}

/* Puts b in the book, in its target's slot or a new one. Returns 0 with *slot set, or -1
 * (out of memory). */
static int put_ban(struct st_peerbook *pb, const struct st_ban *b, uint32_t *slot)
{
	if (ban_find(pb, b->target, slot)) {
		if (pb->vbans) {
			struct st_ban t = *b;
			t.deleted = false;
			return put_vban(pb, *slot, &t, false);
		}
		pb->b[*slot] = *b;
		pb->b[*slot].deleted = false;
		return 0;
	}
	if (pb->nb >= ST_MAP_VALUE_MAX)
		return -1;
	uint32_t i = (uint32_t)pb->nb;
	if (pb->vbans) {
		if (!pb->vb || pb->nb == pb->bcap) {
			size_t cap = pb->bcap ? pb->bcap * 2 : 64;
			struct vban *nv = realloc(pb->vb, cap * sizeof *nv);
			if (!nv)
				return -1;
			pb->vb = nv;
			pb->bcap = cap;
		}
		if (put_vban(pb, i, b, true) < 0)
			return -1;
	} else {
		if (!pb->b || pb->nb == pb->bcap) {
			size_t cap = pb->bcap ? pb->bcap * 2 : 64;
			struct st_ban *nb = realloc(pb->b, cap * sizeof *nb);
			if (!nb)
				return -1;
			pb->b = nb;
			pb->bcap = cap;
		}
		pb->b[i] = *b;
	}
	if (st_map_add(&pb->ban_idx, id_hash(pb, b->target), i) < 0)
		return -1;
	pb->nb++;
	*slot = i;
	if (b->is_net) {
		if (b->net.net.family == ST_AF_INET)
			pb->bits4[b->net.bits] = true;
		else
			pb->bits6[b->net.bits] = true;
	} else if (strncmp(b->target, "ep-", 3) == 0) {
		pb->derived_bans = true;
	}
	return 0;
}

static int load_line(void *vctx, const char *line, size_t len, unsigned long lineno,
                     struct st_err *err)
{
	struct load *l = vctx;
	struct st_peerbook *pb = l->pb;
	if (l->journal) {
		if (len > 4 && memcmp(line, "del\t", 4) == 0) {
			char key[ST_BAN_TARGET_MAX + 1];
			snprintf(key, sizeof key, "%.*s", (int)(len - 4), line + 4);
			if (l->bans) {
				struct st_ban t;
				uint32_t slot;
				if (ban_find(pb, key, &slot) && !(pb->vbans ? pb->vb[slot].flags & VB_DELETED
				                                             : pb->b[slot].deleted))
					ban_delete(pb, slot);
				else if (pb->bans_lazy && pb_ban_target_parse(&t, key, NULL) == 0) {
					/* the ban it lifts may be in the snapshot, not read: a tombstone
					 * that keeps a lookup from finding it there */
					t.deleted = true;
					if (put_ban(pb, &t, &slot) < 0)
						return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
				}
			} else {
				uint32_t slot;
				if (find_slot(pb, key, &slot)) {
					slot_delete(pb, slot);
				} else if (pb->want) {
					/* a partial book: the peer may be in the snapshot, not read; a
					 * tombstone keeps its compaction from writing it (see
					 * rewrite_part) */
					struct st_peer t;
					memset(&t, 0, sizeof t);
					st_strlcpy(t.id, key, sizeof t.id);
					t.deleted = true;
					if (append_peer(pb, &t, id_hash(pb, t.id), NULL, &slot) < 0)
						return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
				}
			}
			return 0;
		}
		if (len < 4 || memcmp(line, "put\t", 4) != 0)
			return st_err_set(err, ST_EX_DATAERR, "%s:%lu: unknown journal entry", l->path, lineno);
		line += 4;
		len -= 4;
	}
	/* a snapshot is written from one entry per key: a second line for one is
	 * damage, never a silent choice between the two */
	if (l->bans) {
		struct st_ban b;
		if (pb_ban_parse(&b, line, len, err) < 0)
			return st_err_prefix(err, "%s:%lu", l->path, lineno);
		uint32_t slot;
		if (!l->journal && ban_find(pb, b.target, &slot))
			return st_err_set(err, ST_EX_DATAERR, "%s:%lu: a second line for '%s'", l->path,
			                  lineno, b.target);
		if (put_ban(pb, &b, &slot) < 0)
			return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	} else {
		struct st_peer p;
		if (pb_peer_parse(&p, line, len, err) < 0)
			return st_err_prefix(err, "%s:%lu", l->path, lineno);
		uint32_t slot;
		if (!l->journal && find_slot(pb, p.id, &slot))
			return st_err_set(err, ST_EX_DATAERR, "%s:%lu: a second line for '%s'", l->path,
			                  lineno, p.id);
		if (insert_peer(pb, &p, &slot) < 0)
			return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	}
	return 0;
}

/* Room for a record a snapshot line in the table's array and maps, made at once rather
 * than by doubling and rehashing as the lines come. Returns 0 or -1. */
static int reserve(struct st_peerbook *pb, struct st_store *s, bool bans, struct st_err *err)
{
	const char *body;
	size_t len;
	if (st_store_snapshot(s, &body, &len, NULL, err) < 0)
		return -1;
	/* counted as the reading that follows goes: giving the pages back behind it, so the
	 * whole file is never in the process at once */
	size_t n = st_store_snapshot_lines(s);
	if (n < 256 || n >= ST_MAP_VALUE_MAX)
		return 0;
	n += n / 16; /* and some for the journal */
	/* a map sized for 3/4 of n is the size it would have grown to (see map.c) */
	size_t mn = n - n / 4;
	if (bans && pb->vbans) {
		if (n > pb->bcap) {
			struct vban *v = realloc(pb->vb, n * sizeof *v);
			if (!v)
				return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
			pb->vb = v;
			pb->bcap = n;
		}
		return st_map_reserve(&pb->ban_idx, mn) < 0
		               ? st_err_set(err, ST_EX_SOFTWARE, "out of memory")
		               : 0;
	}
	if (bans) {
		if (n > pb->bcap) {
			struct st_ban *b = realloc(pb->b, n * sizeof *b);
			if (!b)
				return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
			pb->b = b;
			pb->bcap = n;
		}
		return st_map_reserve(&pb->ban_idx, mn) < 0
		               ? st_err_set(err, ST_EX_SOFTWARE, "out of memory")
		               : 0;
	}
	if (pb->packed && n > pb->pcap) {
		size_t *o = realloc(pb->off, n * sizeof *o);
		if (!o)
			return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
		pb->off = o;
		pb->pcap = n;
		/* records are about as long as their lines: room made at once is not copied as
		 * it grows, and what is never written is never in memory */
		size_t cap = len + len / 8 + PK_MAX;
		uint8_t *a = cap > pb->acap ? realloc(pb->arena, cap) : pb->arena;
		if (!a)
			return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
		pb->arena = a;
		pb->acap = cap > pb->acap ? cap : pb->acap;
	} else if (!pb->packed && n > pb->pcap) {
		struct st_peer *p = realloc(pb->p, n * sizeof *p);
		if (!p)
			return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
		pb->p = p;
		pb->pcap = n;
	}
	return st_map_reserve(&pb->by_id, mn) < 0 || st_map_reserve(&pb->by_ep, mn) < 0
	               ? st_err_set(err, ST_EX_SOFTWARE, "out of memory")
	               : 0;
}

/*
 * A peers snapshot is put in the book a few lines behind its reading: each line is
 * parsed and hashed, the map slots it will need are asked for (st_map_prefetch), and it
 * goes in PIPE lines later, by then in cache (over a million peers each slot is a cache
 * miss). The lines go in in file order with load_line's checks, and a damaged line is
 * told only after the lines before it went in, so the first damage is the one told.
 */
#define PIPE 16

struct pending {
	struct st_peer p;
	uint64_t idh, eph[ST_PEER_ENDPOINTS];
	unsigned long lineno;
};

struct snap_load {
	struct load l;
	struct pending q[PIPE];
	size_t head, n; /* the oldest pending line, how many */
	bool failed;    /* the callback failed: what it said is the error */
};

/* Puts the oldest pending line in the book. 0 or -1. */
static int settle_one(struct snap_load *sl, struct st_err *err)
{
	struct st_peerbook *pb = sl->l.pb;
	const struct pending *e = &sl->q[sl->head];
	sl->head = (sl->head + 1) % PIPE;
	sl->n--;
	uint32_t slot;
	if (st_map_find(&pb->by_id, e->idh, id_eq, pb, e->p.id, &slot))
		return st_err_set(err, ST_EX_DATAERR, "%s:%lu: a second line for '%s'", sl->l.path,
		                  e->lineno, e->p.id);
	return append_peer(pb, &e->p, e->idh, e->eph, &slot) == 0 ? 0
	                                             : st_err_set(err, ST_EX_SOFTWARE, "out of memory");
}

static int settle(struct snap_load *sl, struct st_err *err)
{
	while (sl->n)
		if (settle_one(sl, err) < 0)
			return -1;
	return 0;
}

static int load_snapshot_peer(void *vctx, const char *line, size_t len, unsigned long lineno,
                              struct st_err *err)
{
	struct snap_load *sl = vctx;
	struct st_peerbook *pb = sl->l.pb;
	sl->failed = true;
	if (sl->n == PIPE && settle_one(sl, err) < 0)
		return -1;
	struct pending *e = &sl->q[(sl->head + sl->n) % PIPE];
	struct st_err perr = {0};
	if (pb_peer_parse(&e->p, line, len, &perr) < 0) {
		if (settle(sl, err) < 0) /* a line before it was damaged: that is told */
			return -1;
		if (err)
			*err = perr;
		return st_err_prefix(err, "%s:%lu", sl->l.path, lineno);
	}
	e->lineno = lineno;
	e->idh = id_hash(pb, e->p.id);
	st_map_prefetch(&pb->by_id, e->idh);
	for (size_t k = 0; k < e->p.neps; k++) {
		e->eph[k] = st_endpoint_hash(&e->p.eps[k], pb->key);
		st_map_prefetch(&pb->by_ep, e->eph[k]);
	}
	sl->n++;
	sl->failed = false;
	return 0;
}

/* Reads the peers snapshot through load_snapshot_peer. 0 or -1. */
static int load_peers_snapshot(struct st_peerbook *pb, struct st_store *s, struct st_err *err)
{
	struct snap_load *sl = malloc(sizeof *sl);
	if (!sl)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	sl->l = (struct load){pb, false, false, st_store_path(s)};
	sl->head = sl->n = 0;
	sl->failed = false;
	int rc = st_store_read_snapshot(s, load_snapshot_peer, sl, err);
	if (rc == 0) {
		rc = settle(sl, err);
	} else if (!sl->failed) {
		/* the store found damage after the pending lines: theirs comes first */
		struct st_err serr = {0};
		if (settle(sl, &serr) < 0 && err)
			*err = serr;
	}
	free(sl);
	return rc != 0 ? -1 : 0;
}

static int load_table(struct st_peerbook *pb, struct st_store *s, bool bans, struct st_err *err)
{
	if (reserve(pb, s, bans, err) < 0)
		return -1;
	char jpath[ST_PATH_MAX + 32];
	snprintf(jpath, sizeof jpath, "%s/%s.journal", pb->cfg.data_dir, bans ? "bans" : "peers");
	struct load snap = {pb, bans, false, st_store_path(s)}, jour = {pb, bans, true, jpath};
	if ((bans ? st_store_read_snapshot(s, load_line, &snap, err) != 0
	          : load_peers_snapshot(pb, s, err) != 0) ||
	    st_store_read_journal(s, load_line, &jour, err) != 0)
		return -1;
	return 0;
}

/* A lazy book's peers journal line: loaded (so damage is told as a full load tells
 * it) and kept for lazy_owner. */
static int keep_journal_line(void *vctx, const char *line, size_t len, unsigned long lineno,
                             struct st_err *err)
{
	struct load *l = vctx;
	if (load_line(vctx, line, len, lineno, err) < 0)
		return -1;
	if (st_buf_append(&l->pb->pjour, line, len, err) < 0 ||
	    st_buf_append(&l->pb->pjour, "\n", 1, err) < 0)
		return st_err_prefix(err, "%s", l->path);
	return 0;
}

/* Forgets every peer read: the book holds no peers table. */
static void reset_peers(struct st_peerbook *pb)
{
	free(pb->p);
	pb->p = NULL;
	pb->np = pb->pcap = 0;
	st_map_clear(&pb->by_id);
	st_map_clear(&pb->by_ep);
	st_map_init(&pb->by_id);
	st_map_init(&pb->by_ep);
	pb->peers_part = false;
}

/* load_part reads the table whole unless it holds this many bytes per id and endpoint
 * asked about: some ten lines of a typical table. */
#define PART_BYTES_PER_KEY 800

/* load_part gives back the pages it read of the index every this many searches, and
 * of the snapshot every this many bytes of the lines it reads. */
#define RELEASE_KEYS 16
#define RELEASE_BYTES ((size_t)4 << 20)

/* The offsets of the snapshot lines peers.index finds, for load_part. */
struct offsets {
	size_t *v, n, cap;
	const char *body;
};

static int collect_line(void *ctx, const char *line, size_t len, struct st_err *err)
{
	(void)len;
	struct offsets *o = ctx;
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 64;
		size_t *v = realloc(o->v, cap * sizeof *v);
		if (!v)
			return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
		o->v = v;
		o->cap = cap;
	}
	o->v[o->n++] = (size_t)(line - o->body);
	return 0;
}

/* An id or endpoint load_part searches for: its key in peers.index, and which it is. */
struct want_key {
	uint32_t key;
	size_t i; /* ids first, then endpoints */
};

static int want_cmp(const void *x, const void *y)
{
	const struct want_key *a = x, *b = y;
	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	return a->i < b->i ? -1 : a->i > b->i;
}

static int off_cmp(const void *x, const void *y)
{
	size_t a = *(const size_t *)x, b = *(const size_t *)y;
	return a < b ? -1 : a > b;
}

/*
 * st_peerbook_open_for: of the peers snapshot, the lines of the wanted ids and every
 * line that holds a wanted endpoint, in file order, then the whole journal. That is
 * the whole table as far as those ids and endpoints go: a peer's record is its
 * snapshot line and its journal lines; an endpoint's owner is moved only by the
 * snapshot lines that hold it and by journal lines, and a peer owns an endpoint only
 * while its record holds it. Returns 0, 1 when the index cannot serve (the caller
 * reads the table whole), or -1.
 */
static int load_part(struct st_peerbook *pb, struct st_store *s, struct st_err *err)
{
	struct peers_index ix;
	int rc = peers_index_open(&ix, s, err);
	if (rc <= 0)
		return rc < 0 ? -1 : 1;
	const struct st_peerbook_want *w = pb->want;
	/* a search of the index costs what reading some ten lines does (each step checks
	 * three entries): a batch that names many peers for the table's size reads it
	 * whole, as it always did */
	if ((w->nids + w->neps) * PART_BYTES_PER_KEY > ix.len)
		return 1;
	struct offsets o = {NULL, 0, 0, ix.body};
	/* the searches in key order: each starts where the one before ended, and they
	 * sweep the index once instead of jumping about it (a cache miss a step) */
	size_t nk = w->nids + w->neps;
	struct want_key *k = malloc((nk + 1) * sizeof *k);
	if (!k)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	for (size_t i = 0; i < w->nids; i++)
		k[i] = (struct want_key){peers_index_id_key(w->ids[i]), i};
	for (size_t i = 0; i < w->neps; i++)
		k[w->nids + i] = (struct want_key){peers_index_key(&w->eps[i]), w->nids + i};
	qsort(k, nk, sizeof *k, want_cmp);
	size_t from = 0;
	rc = 0;
	for (size_t i = 0; rc == 0 && i < nk; i++) {
		/* the sweep goes one way: the pages behind it are given back as it goes, so a
		 * large index is never in the process whole (the snapshot lines it checks lie
		 * anywhere: giving those back as often costs more than they weigh) */
		if (i % RELEASE_KEYS == RELEASE_KEYS - 1)
			st_store_aux_release(s, "index");
		size_t j = k[i].i;
		rc = j < w->nids ? peers_index_each_from(&ix, NULL, w->ids[j], &from, collect_line, &o,
		                                         err)
		                 : peers_index_each_from(&ix, &w->eps[j - w->nids], NULL, &from,
		                                         collect_line, &o, err);
	}
	free(k);
	if (rc == 0 && o.n)
		qsort(o.v, o.n, sizeof *o.v, off_cmp);
	struct load snap = {pb, false, false, st_store_path(s)};
	size_t released = 0;
	for (size_t i = 0; rc == 0 && i < o.n; i++) {
		if (o.v[i] - released >= RELEASE_BYTES) { /* in file order: the same */
			st_store_snapshot_release(s);
			released = o.v[i];
		}
		if (i && o.v[i] == o.v[i - 1])
			continue;
		const char *line = ix.body + o.v[i];
		const char *nl = memchr(line, '\n', ix.len - o.v[i]);
		size_t n = nl ? (size_t)(nl - line) : ix.len - o.v[i];
		struct st_err lerr = {0};
		if (load_line(&snap, line, n, 0, &lerr) < 0)
			rc = lerr.code == ST_EX_SOFTWARE ? st_err_set(err, lerr.code, "%s", lerr.msg) : 1;
	}
	free(o.v);
	/* what was read is in the book: the searches and the lines read leave no pages of
	 * the index or the snapshot in the process (a compaction streams them again) */
	st_store_aux_release(s, "index");
	st_store_snapshot_release(s);
	if (rc != 0) { /* damage is told, and repaired, as a whole read tells it */
		reset_peers(pb);
		return rc;
	}
	char jpath[ST_PATH_MAX + 32];
	snprintf(jpath, sizeof jpath, "%s/peers.journal", pb->cfg.data_dir);
	struct load jour = {pb, false, true, jpath};
	if (st_store_read_journal(s, load_line, &jour, err) != 0)
		return -1;
	pb->peers_part = true;
	return 0;
}

/* Opens and loads one table. */
static int open_table(struct st_peerbook *pb, struct st_store **s, const char *name,
                      unsigned sflags, struct st_err *err)
{
	/* a reader creates nothing: a missing table reads as empty (see store.h) */
	if (st_store_open_wait(s, pb->cfg.data_dir, name, ST_PEERS_FORMAT_VERSION, sflags,
	                       &pb->cfg.lock, err) < 0)
		return -1;
	bool bans = strcmp(name, "bans") == 0;
	if (bans && (pb->flags & ST_PEERBOOK_LAZY) && !pb->writable) {
		int rc = bans_index_open(&pb->bix, *s, err);
		if (rc < 0)
			return -1;
		if (rc == 1) { /* the journal whole, under the lock; the snapshot as needed */
			char jpath[ST_PATH_MAX + 32];
			snprintf(jpath, sizeof jpath, "%s/bans.journal", pb->cfg.data_dir);
			struct load jour = {pb, true, true, jpath};
			pb->bans_lazy = true;
			return st_store_read_journal(*s, load_line, &jour, err) != 0 ? -1 : 0;
		}
	}
	if (!bans && pb->want) {
		int rc = load_part(pb, *s, err);
		if (rc <= 0)
			return rc;
	}
	if (!bans && (pb->flags & ST_PEERBOOK_LAZY) && !pb->writable) {
		int rc = peers_index_open(&pb->pix, *s, err);
		if (rc < 0)
			return -1;
		if (rc == 1) {
			char jpath[ST_PATH_MAX + 32];
			snprintf(jpath, sizeof jpath, "%s/peers.journal", pb->cfg.data_dir);
			struct load jour = {pb, false, true, jpath};
			pb->peers_lazy = true;
			return st_store_read_journal(*s, keep_journal_line, &jour, err) != 0 ? -1 : 0;
		}
	}
	return load_table(pb, *s, bans, err);
}

static int open_book(struct st_peerbook **out, const struct st_config *cfg, unsigned flags,
                     const struct st_peerbook_want *want, struct st_err *err)
{
	*out = NULL;
	struct st_peerbook *pb = calloc(1, sizeof *pb);
	if (!pb)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	pb->cfg = *cfg;
	pb->cfg.seeds = NULL;
	pb->cfg.nseeds = 0;
	pb->key = (uint64_t)st_monotonic_ms() * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)pb;
	pb->flags = flags;
	unsigned sflags = flags & ~(ST_PEERBOOK_BANS_ONLY | ST_PEERBOOK_LAZY | ST_PEERBOOK_PACKED |
	                            ST_PEERBOOK_VERDICTS);
	pb->writable = sflags & ST_STORE_WRITE;
	pb->packed = flags & ST_PEERBOOK_PACKED;
	pb->vbans = flags & ST_PEERBOOK_VERDICTS;
	if ((pb->packed || pb->vbans) && (pb->writable || want || (flags & ST_PEERBOOK_LAZY))) {
		free(pb);
		return st_err_set(err, ST_EX_SOFTWARE, "a packed peer book is read whole, read-only");
	}
	st_map_init(&pb->by_id);
	st_map_init(&pb->by_ep);
	st_map_init(&pb->ban_idx);
	st_buf_init(&pb->pjour, PJOUR_MAX);
	pb->want = want;
	if (open_table(pb, &pb->bans_store, "bans", sflags, err) < 0 ||
	    (!(flags & ST_PEERBOOK_BANS_ONLY) &&
	     open_table(pb, &pb->peers_store, "peers", sflags, err) < 0)) {
		st_peerbook_free(pb);
		/* repair: auto, as for the address book: repaired once, told, opened again */
		if (cfg->repair_auto && err && err->code == ST_EX_DATAERR &&
		    !strstr(err->msg, "is newer than")) {
			struct st_config once = *cfg;
			once.repair_auto = false;
			size_t kept, lost;
			struct st_err rerr = {0};
			if (st_peerbook_fsck(&once, true, &kept, &lost, &rerr) > 0) {
				st_config_tell_repaired(cfg, err, kept, lost);
				return open_book(out, &once, flags, want, err);
			}
		}
		return -1;
	}
	pb->want = NULL;
	/* a packed book is read, never searched by id: its largest map goes before the
	 * caller sorts and prints */
	if (pb->packed)
		st_map_clear(&pb->by_id);
	/* a reader keeps what it read and lets go of the locks at once */
	if (!pb->writable)
		st_peerbook_unlock(pb, err);
	*out = pb;
	return 0;
}

int st_peerbook_open(struct st_peerbook **out, const struct st_config *cfg, unsigned flags,
                     struct st_err *err)
{
	return open_book(out, cfg, flags, NULL, err);
}

int st_peerbook_open_for(struct st_peerbook **out, const struct st_config *cfg, unsigned flags,
                         const struct st_peerbook_want *want, struct st_err *err)
{
	if (flags & (ST_PEERBOOK_LAZY | ST_PEERBOOK_BANS_ONLY)) {
		*out = NULL;
		return st_err_set(err, ST_EX_SOFTWARE, "st_peerbook_open_for takes no lazy flags");
	}
	return open_book(out, cfg, flags, want, err);
}

bool st_peerbook_partial(const struct st_peerbook *pb)
{
	return pb->peers_part;
}

void st_peerbook_free(struct st_peerbook *pb)
{
	if (!pb)
		return;
	st_store_close(pb->peers_store);
	st_store_close(pb->bans_store);
	free(pb->p);
	free(pb->arena);
	free(pb->off);
	free(pb->b);
	free(pb->vb);
	free(pb->varena);
	st_map_clear(&pb->by_id);
	st_map_clear(&pb->by_ep);
	st_map_clear(&pb->ban_idx);
	st_buf_clear(&pb->pjour);
	free(pb);
}

int st_peerbook_unlock(struct st_peerbook *pb, struct st_err *err)
{
	if (pb->writable)
		return st_err_set(err, ST_EX_SOFTWARE, "a writable peer book keeps its locks");
	if (pb->peers_lazy) { /* its snapshot stays mapped too */
		if (st_store_unlock(pb->peers_store, err) < 0)
			return -1;
	} else {
		st_store_close(pb->peers_store);
		pb->peers_store = NULL;
	}
	if (pb->bans_lazy) /* the snapshot stays mapped: lookups read it; a rewrite renames */
		return st_store_unlock(pb->bans_store, err);
	st_store_close(pb->bans_store);
	pb->bans_store = NULL;
	return 0;
}

/* p's line into a new peers snapshot, and its index entries (its endpoints and its id,
 * at the line's offset) into ix at *nix, which has room for them. 0 or -1. */
static int write_peer(struct st_store_writer *w, const struct st_peer *p,
                      struct peers_index_entry *ix, size_t *nix, struct st_err *err)
{
	char line[1024];
	size_t len = pb_peer_format(p, line, sizeof line);
	uint64_t off = st_store_writer_offset(w);
	for (size_t k = 0; k < p->neps; k++)
		ix[(*nix)++] = (struct peers_index_entry){peers_index_key(&p->eps[k]), off};
	ix[(*nix)++] = (struct peers_index_entry){peers_index_id_key(p->id), off};
	return st_store_writer_line(w, line, len < sizeof line ? len : sizeof line - 1, err);
}

static int rewrite(struct st_peerbook *pb, bool bans, struct st_err *err)
{
	struct st_store *s = bans ? pb->bans_store : pb->peers_store;
	struct st_store_writer *w;
	/* peers.index from what is written, not from reading the new snapshot again */
	struct peers_index_entry *ix = NULL;
	size_t nix = 0;
	if (!bans) {
		size_t want = 1;
		for (size_t i = 0; i < pb->np; i++)
			want += pb->p[i].deleted ? 0 : pb->p[i].neps + 1;
		if (!(ix = malloc(want * sizeof *ix)))
			return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	}
	if (st_store_rewrite_begin(s, &w, err) < 0) {
		free(ix);
		return -1;
	}
	char line[1024];
	int64_t now = st_now();
	size_t n = bans ? pb->nb : pb->np;
	for (size_t i = 0; i < n; i++) {
		int rc;
		if (bans) {
			const struct st_ban *b = &pb->b[i];
			if (b->deleted || (b->expires && b->expires <= now))
				continue; /* expired bans are swept at compaction */
			size_t len = pb_ban_format(b, line, sizeof line);
			rc = st_store_writer_line(w, line, len < sizeof line ? len : sizeof line - 1, err);
		} else {
			if (pb->p[i].deleted)
				continue;
			rc = write_peer(w, &pb->p[i], ix, &nix, err);
		}
		if (rc < 0) {
			st_store_rewrite_abort(w);
			free(ix);
			return -1;
		}
	}
	if (st_store_rewrite_commit(w, err) < 0) {
		free(ix);
		return -1;
	}
	int rc = bans ? bans_index_write(s, err) : peers_index_write_entries(s, ix, nix, err);
	free(ix);
	return rc;
}

/* A partial book's compaction (see rewrite_part), as the old snapshot is read. */
struct part_rewrite {
	struct st_peerbook *pb;
	struct st_store_writer *w;
	bool *written;                 /* per slot: its line is in the new snapshot */
	struct peers_index_entry *ix;  /* the new snapshot's index entries */
	size_t nix, cap;
	const char *path;
};

/* The new snapshot's line for p, and its index entries. 0 or -1. */
static int part_put(struct part_rewrite *r, const struct st_peer *p, struct st_err *err)
{
	if (r->cap - r->nix < ST_PEER_ENDPOINTS + 1) {
		size_t cap = r->cap ? r->cap * 2 : 4096;
		struct peers_index_entry *v = realloc(r->ix, cap * sizeof *v);
		if (!v)
			return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
		r->ix = v;
		r->cap = cap;
	}
	return write_peer(r->w, p, r->ix, &r->nix, err);
}

static int part_line(void *vctx, const char *line, size_t len, unsigned long lineno,
                     struct st_err *err)
{
	struct part_rewrite *r = vctx;
	struct st_peerbook *pb = r->pb;
	struct st_peer p;
	if (pb_peer_parse(&p, line, len, err) < 0)
		return st_err_prefix(err, "%s:%lu", r->path, lineno);
	struct st_peer *m = find_id(pb, p.id);
	size_t i = m ? (size_t)(m - pb->p) : 0;
	if (m && r->written[i])
		return st_err_set(err, ST_EX_DATAERR, "%s:%lu: a second line for '%s'", r->path,
		                  lineno, p.id);
	if (m)
		r->written[i] = true;
	if (m && m->deleted)
		return 0;
	return part_put(r, m ? m : &p, err);
}

/*
 * The compaction of a book that read part of the peers table (st_peerbook_open_for),
 * without reading it whole into memory: the old snapshot is read line by line and
 * each line written again as the book has it (its journal lines, all of them in
 * memory, change it or remove it), then the peers the snapshot does not hold, in the
 * order the book made them. That is the order and the lines rewrite writes from a
 * whole book: there, too, the snapshot's peers come first in file order and the
 * journal's new ones after. 0 or -1.
 */
static int rewrite_part(struct st_peerbook *pb, struct st_err *err)
{
	struct st_store *s = pb->peers_store;
	struct part_rewrite r = {pb, NULL, calloc(pb->np + 1, sizeof(bool)), NULL, 0, 0,
	                         st_store_path(s)};
	if (!r.written)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	/* room for a line's endpoint and id per snapshot line, made at once */
	size_t lines = st_store_snapshot_lines(s);
	int rc = 0;
	r.cap = (lines + pb->np) * 2 + ST_PEER_ENDPOINTS + 1;
	if (rc == 0 && !(r.ix = malloc(r.cap * sizeof *r.ix)))
		rc = st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	if (rc == 0)
		rc = st_store_rewrite_begin(s, &r.w, err);
	if (rc == 0) {
		rc = st_store_read_snapshot(s, part_line, &r, err) != 0 ? -1 : 0;
		for (size_t i = 0; rc == 0 && i < pb->np; i++)
			if (!r.written[i] && !pb->p[i].deleted)
				rc = part_put(&r, &pb->p[i], err);
		if (rc < 0)
			st_store_rewrite_abort(r.w);
		else
			rc = st_store_rewrite_commit(r.w, err);
	}
	if (rc == 0)
		rc = peers_index_write_entries(s, r.ix, r.nix, err);
	free(r.written);
	free(r.ix);
	return rc;
}

/* A writer leaves the indexes for its snapshots: the first write after a table was
 * written by hand or by an older program builds them (once per snapshot; a peers.index
 * without id entries, as older programs wrote it, once more). */
static int ensure_index(struct st_peerbook *pb, struct st_err *err)
{
	struct bans_index ix;
	struct peers_index pix;
	int rc = 0;
	if (pb->bans_store && st_store_snapshot_bytes(pb->bans_store)) {
		rc = bans_index_open(&ix, pb->bans_store, err);
		rc = rc != 0 ? (rc < 0 ? -1 : 0) : bans_index_write(pb->bans_store, err);
	}
	if (rc == 0 && pb->peers_store && st_store_snapshot_bytes(pb->peers_store)) {
		rc = peers_index_open(&pix, pb->peers_store, err);
		rc = rc < 0 ? -1 : rc == 1 ? 0 : peers_index_write(pb->peers_store, err);
	}
	return rc;
}

int st_peerbook_close(struct st_peerbook *pb, struct st_err *err)
{
	if (!pb)
		return 0;
	int rc = 0;
	bool repair = false;
	struct st_err damage = {0};
	if (pb->writable) {
		/* both journals first, then the compactions: a run that fails before
		 * any snapshot is replaced is rolled back whole, so it counts for nothing */
		bool peers = pb->changes_peers && pb->peers_store, bans = pb->changes_bans;
		if (peers)
			rc = st_store_sync(pb->peers_store, err);
		if (rc == 0 && bans)
			rc = st_store_sync(pb->bans_store, err);
		bool compacted = false;
		if (rc == 0 && peers && st_store_wants_compaction(pb->peers_store)) {
			/* a compaction writes every peer: a book that read part of the table
			 * streams the rest from the old snapshot */
			rc = pb->peers_part ? rewrite_part(pb, err) : rewrite(pb, false, err);
			compacted = rc == 0;
			/* damage on a line this partial book never read: a whole read would have
			 * met it at its open and, with repair: auto, repaired it there. The journal
			 * is synced, so this run's changes are kept, and the table is repaired
			 * as that open would have (below), not rolled back run after run */
			if (rc < 0 && pb->peers_part && pb->cfg.repair_auto && err &&
			    err->code == ST_EX_DATAERR && !strstr(err->msg, "is newer than")) {
				damage = *err;
				repair = true;
				rc = 0;
			}
		}
		if (rc == 0 && bans && st_store_wants_compaction(pb->bans_store))
			rc = rewrite(pb, true, err);
		if (rc < 0) {
			/* a peers snapshot already replaced holds its changes for good; the
			 * bans' are undone with the rest (see st-files(5)) */
			if (pb->peers_store && !compacted)
				st_store_rollback(pb->peers_store, NULL);
			st_store_rollback(pb->bans_store, NULL);
		}
		if (rc == 0 && !repair)
			rc = ensure_index(pb, err);
	}
	struct st_config cfg = pb->cfg;
	st_peerbook_free(pb); /* the locks go: the repair takes them again */
	if (rc == 0 && repair) {
		cfg.repair_auto = false;
		size_t kept, lost;
		int r = st_peerbook_fsck(&cfg, true, &kept, &lost, err);
		if (r > 0)
			st_config_tell_repaired(&cfg, &damage, kept, lost);
		else if (r < 0)
			rc = -1; /* 0: another writer repaired it first */
	}
	return rc;
}

/* ---- changes ---- */

static int journal(struct st_peerbook *pb, bool bans, const char *op, const char *body,
                   struct st_err *err)
{
	struct st_store *s = bans ? pb->bans_store : pb->peers_store;
	if (!pb->writable || !s)
		return st_err_set(err, ST_EX_SOFTWARE, "the peer book was opened read-only");
	char line[1100];
	int n = snprintf(line, sizeof line, "%s\t%s", op, body);
	if (bans)
		pb->changes_bans++;
	else
		pb->changes_peers++;
	return st_store_append(s, line,
	                       (size_t)n < sizeof line ? (size_t)n : sizeof line - 1, err);
}

static int put_peer_journal(struct st_peerbook *pb, const struct st_peer *p, struct st_err *err)
{
	char line[1024];
	pb_peer_format(p, line, sizeof line);
	return journal(pb, false, "put", line, err);
}

const struct st_peer *st_peers_get(const struct st_peerbook *pb, const char *id)
{
	const struct st_peer *p = find_id(pb, id);
	return p && !p->deleted ? p : NULL;
}

size_t st_peers_slots(const struct st_peerbook *pb)
{
	return pb->np;
}

const struct st_peer *st_peers_slot(const struct st_peerbook *pb, size_t i)
{
	return !pb->packed && i < pb->np && !pb->p[i].deleted ? &pb->p[i] : NULL;
}

int st_peers_read(const struct st_peerbook *pb, size_t i, struct st_peer *out)
{
	if (i >= pb->np || slot_deleted(pb, i))
		return 0;
	if (pb->packed)
		unpack_peer(packed_at(pb, i), out);
	else
		*out = pb->p[i];
	return 1;
}

/* The sort keys of slot i, read in place. */
static void slot_keys(const struct st_peerbook *pb, size_t i, int32_t *rep, int64_t *seen)
{
	if (pb->packed) {
		const uint8_t *b = packed_at(pb, i);
		memcpy(rep, b + PK_REP, 4);
		memcpy(seen, b + PK_SEEN, 8);
	} else {
		*rep = pb->p[i].reputation;
		*seen = pb->p[i].last_seen;
	}
}

struct sort_ctx {
	const struct st_peerbook *pb;
	enum st_peers_order order;
};

static int slot_cmp(const void *x, const void *y, void *vctx)
{
	const struct sort_ctx *c = vctx;
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
	if (c->order != ST_PEERS_BY_ID) {
		int32_t ra, rb;
		int64_t sa, sb;
		slot_keys(c->pb, a, &ra, &sa);
		slot_keys(c->pb, b, &rb, &sb);
		if (c->order == ST_PEERS_BY_REPUTATION && ra != rb)
			return ra > rb ? -1 : 1;
		if (c->order == ST_PEERS_BY_LAST_SEEN && sa != sb)
			return sa > sb ? -1 : 1;
	}
	return strcmp(slot_id(c->pb, a), slot_id(c->pb, b));
}

int st_peers_sorted(const struct st_peerbook *pb, enum st_peers_order order, uint32_t **out,
                    size_t *n, struct st_err *err)
{
	*n = 0;
	uint32_t *v = malloc((pb->np + 1) * sizeof *v);
	*out = v;
	if (!v)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	for (size_t i = 0; i < pb->np; i++)
		if (!slot_deleted(pb, i))
			v[(*n)++] = (uint32_t)i;
	struct sort_ctx c = {pb, order};
	qsort_r(v, *n, sizeof *v, slot_cmp, &c);
	return 0;
}

void st_peers_prefetch_slot(const struct st_peerbook *pb, size_t i, bool deep)
{
	if (i >= pb->np)
		return;
	if (!pb->packed) {
		if (deep)
			st_peers_prefetch(pb, &pb->p[i]);
		else
			__builtin_prefetch(&pb->p[i]);
		return;
	}
	const uint8_t *b = packed_at(pb, i);
	__builtin_prefetch(b);
	__builtin_prefetch(b + 64);
	if (!deep)
		return;
	const char *id = (const char *)b + PK_ID;
	size_t l = strlen(id);
	st_map_prefetch(&pb->ban_idx, st_hash64(id, l, pb->key));
	if (!b[1])
		return;
	struct st_endpoint ep;
	unpack_ep(b + PK_ID + l + 1, &ep);
	st_map_prefetch(&pb->by_ep, st_endpoint_hash(&ep, pb->key));
}

void st_peers_derived_id(const struct st_endpoint *ep, char *buf, size_t size)
{
	uint8_t b[19];
	b[0] = ep->family;
	b[1] = (uint8_t)(ep->port >> 8);
	b[2] = (uint8_t)ep->port;
	memcpy(b + 3, ep->addr, 16);
	/* "ep-%016" PRIx64, by hand: a list asks it of every peer */
	uint64_t h = st_hash64(b, sizeof b, 0x73742d6964ULL);
	char id[20] = "ep-";
	for (int i = 0; i < 16; i++)
		id[3 + i] = "0123456789abcdef"[h >> (60 - 4 * i) & 0xf];
	id[19] = '\0';
	st_strlcpy(buf, id, size);
}

const struct st_peer *st_peers_verified_at(const struct st_peerbook *pb,
                                           const struct st_endpoint *ep)
{
	const struct st_peer *at = st_peers_at(pb, ep);
	return at && at->verified ? at : NULL;
}

int st_peers_seen(struct st_peerbook *pb, const char *id, const struct st_endpoint *ep,
                  int32_t version, const char *user_agent, bool verified, int64_t now,
                  struct st_peer_change *change, struct st_err *err)
{
	memset(change, 0, sizeof *change);
	/* the id becomes a field of a stored line: nothing that could break one */
	if (!st_node_id_valid(id, strlen(id)))
		return st_err_set(err, ST_EX_DATAERR, "bad node id (1..%d of A-Z a-z 0-9 . _ -)",
		                  ST_NODE_ID_MAX);
	const struct st_peer *at = ep ? st_peers_at(pb, ep) : NULL;
	if (at && strcmp(at->id, id) != 0 && at->verified && verified) {
		change->changed_id = true; /* like ssh's known_hosts: worth a word */
		st_strlcpy(change->previous_id, at->id, sizeof change->previous_id);
	}
	const struct st_peer *p = find_id(pb, id);
	if (p && !p->deleted && p->verified && !verified) {
		/* anyone can claim an id without TLS: a proven peer's record is not
		 * theirs to move, rename or vouch for */
		change->claim_ignored = true;
		return 0;
	}
	/* and a claim does not take an endpoint from the peer that proved it holds it */
	bool keep_ep = at && at->verified && !verified && strcmp(at->id, id) != 0;
	if (keep_ep) {
		change->endpoint_kept = true;
		st_strlcpy(change->previous_id, at->id, sizeof change->previous_id);
	}
	struct st_peer u;
	if (!p || p->deleted) {
		memset(&u, 0, sizeof u);
		st_strlcpy(u.id, id, sizeof u.id);
		u.first_seen = now;
		change->added = true;
	} else {
		u = *p;
	}
	if (verified && !u.verified && !change->added) {
		/* first proof of an id claimed before: what the claims gathered (endpoints,
		 * reputation, counts) may be an impostor's, so the record starts afresh */
		memset(&u, 0, sizeof u);
		st_strlcpy(u.id, id, sizeof u.id);
		u.first_seen = now;
	}
	u.deleted = false;
	u.last_seen = now;
	if (version)
		u.version = version;
	if (user_agent && user_agent[0])
		st_strlcpy(u.user_agent, user_agent, sizeof u.user_agent);
	for (char *c = u.user_agent; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	u.verified = u.verified || (verified && pb_provable_id(id)); /* never stored as a lie */
	if (ep && !keep_ep) {
		size_t k;
		for (k = 0; k < u.neps && !st_endpoint_equal(&u.eps[k], ep); k++)
			;
		if (k == u.neps) {
			if (!change->added)
				change->new_endpoint = true;
			if (u.neps == ST_PEER_ENDPOINTS)
				u.neps--;
			k = u.neps++;
		}
		memmove(&u.eps[1], &u.eps[0], k * sizeof u.eps[0]); /* newest first */
		u.eps[0] = *ep;
	}
	uint32_t slot;
	if (insert_peer(pb, &u, &slot) < 0)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	return put_peer_journal(pb, &pb->p[slot], err);
}

int st_peers_success(struct st_peerbook *pb, const char *id, int64_t now, struct st_err *err)
{
	struct st_peer *p = find_id(pb, id);
	if (!p || p->deleted)
		return 0;
	p->successes++;
	p->consecutive_failures = 0;
	p->reputation += pb->cfg.peers.success_delta;
	p->last_seen = now;
	return put_peer_journal(pb, p, err) < 0 ? -1 : 1;
}

int st_peers_failure(struct st_peerbook *pb, const char *id, int32_t weight, int64_t now,
                     struct st_peer_change *change, struct st_err *err)
{
	memset(change, 0, sizeof *change);
	struct st_peer *p = find_id(pb, id);
	if (!p || p->deleted)
		return 0;
	p->failures++;
	p->consecutive_failures++;
	p->reputation += weight * pb->cfg.peers.failure_delta;
	if (put_peer_journal(pb, p, err) < 0)
		return -1;
	char reason[ST_BAN_REASON_MAX + 1] = "";
	if (p->reputation <= pb->cfg.peers.blacklist_threshold)
		snprintf(reason, sizeof reason, "reputation %d <= %d", p->reputation,
		         pb->cfg.peers.blacklist_threshold);
	else if (p->consecutive_failures >= pb->cfg.peers.max_failures)
		snprintf(reason, sizeof reason, "%u consecutive failures", p->consecutive_failures);
	if (reason[0] && !id_ban(pb, id, now)) {
		char pid[ST_NODE_ID_MAX + 1];
		st_strlcpy(pid, p->id, sizeof pid);
		if (st_bans_add(pb, pid, now + pb->cfg.peers.ban_duration / 1000, true, reason, now,
		                &change->ban, err) < 0)
			return -1;
		change->banned = true;
	}
	return 1;
}

int st_peers_remove(struct st_peerbook *pb, const char *id, struct st_err *err)
{
	struct st_peer *p = find_id(pb, id);
	if (!p || p->deleted)
		return 0;
	p->deleted = true;
	return journal(pb, false, "del", id, err) < 0 ? -1 : 1;
}

int st_bans_add(struct st_peerbook *pb, const char *target, int64_t expires, bool automatic,
                const char *reason, int64_t now, const struct st_ban **out, struct st_err *err)
{
	struct st_ban b;
	if (pb_ban_target_parse(&b, target, err) < 0)
		return -1;
	struct st_ban *old = find_ban(pb, b.target);
	bool live = old && (!old->expires || old->expires > now);
	if (live && (!old->expires || (expires && old->expires >= expires))) {
		if (out) /* a ban only ever extends: the existing one already lasts longer */
			*out = old;
		return 0;
	}
	b.created = live ? old->created : now;
	b.expires = expires;
	b.automatic = automatic;
	st_strlcpy(b.reason, reason ? reason : "", sizeof b.reason);
	for (char *c = b.reason; *c; c++)
		if (*c == '\t' || *c == '\n')
			*c = ' ';
	uint32_t i;
	if (pb->vbans || put_ban(pb, &b, &i) < 0)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	const struct st_ban *slot = &pb->b[i];
	if (out)
		*out = slot;
	char line[600];
	pb_ban_format(slot, line, sizeof line);
	return journal(pb, true, "put", line, err);
}

int st_bans_remove(struct st_peerbook *pb, const char *target, struct st_err *err)
{
	struct st_ban b;
	if (pb_ban_target_parse(&b, target, err) < 0)
		return -1;
	struct st_ban *old = find_ban(pb, b.target);
	if (!old)
		return 0;
	old->deleted = true;
	return journal(pb, true, "del", b.target, err) < 0 ? -1 : 1;
}

/* The target of the ban on addr's first bits bits: "1.2.3.0/24", or "1.2.3.4" for all. */
static void prefix_key(const struct st_endpoint *addr, int bits, char *key, size_t size)
{
	struct st_cidr c = {.net = *addr, .bits = (uint8_t)bits};
	c.net.port = 0;
	for (unsigned i = 0; i < 16; i++) {
		unsigned lo = i * 8;
		unsigned keep = lo >= (unsigned)bits ? 0 : (unsigned)bits - lo >= 8 ? 8 : (unsigned)bits - lo;
		c.net.addr[i] &= (uint8_t)(0xffu << (8 - keep));
	}
	st_cidr_format(&c, key, size);
}

/* The most specific ban in force on a prefix of addr no longer than max_bits: 1 with
 * *slot set, or 0. */
static int net_ban(const struct st_peerbook *pb, const struct st_endpoint *addr,
                   unsigned max_bits, int64_t now, uint32_t *slot)
{
	bool v4 = addr->family == ST_AF_INET;
	const bool *present = v4 ? pb->bits4 : pb->bits6;
	for (int bits = (int)max_bits; bits >= 0; bits--) {
		if (!present[bits])
			continue;
		char key[ST_CIDR_STRLEN];
		prefix_key(addr, bits, key, sizeof key);
		if (live_ban(pb, key, true, now, slot))
			return 1;
	}
	return 0;
}

static bool id_ok(const char *s, size_t len)
{
	if (!len || len > ST_NODE_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

void st_ban_query_set(struct st_ban_query *q, const struct st_endpoint *ep, const char *id)
{
	memset(q, 0, sizeof *q);
	if (id && id_ok(id, strlen(id)))
		st_strlcpy(q->id, id, sizeof q->id);
	if (ep) {
		q->has_net = true;
		q->net.net = *ep;
		q->net.net.port = 0;
		q->net.bits = ep->family == ST_AF_INET ? 32 : 128;
		q->port = ep->port;
	}
}

int st_ban_query_parse(struct st_ban_query *q, const char *target, struct st_err *err)
{
	memset(q, 0, sizeof *q);
	size_t len = strlen(target);
	const char *colon = strchr(target, ':');
	bool one_colon = colon && !strchr(colon + 1, ':');
	/* ID@endpoint, [v6]:port or a.b.c.d:port: an endpoint */
	if (strchr(target, '@') || (target[0] == '[' && strstr(target, "]:")) ||
	    (one_colon && !strchr(target, '/'))) {
		struct st_endpoint ep;
		char id[ST_NODE_ID_MAX + 1];
		if (st_endpoint_parse_id(&ep, id, sizeof id, target, len, err) < 0)
			return st_err_prefix(err, "'%s'", target);
		st_ban_query_set(q, &ep, id);
		return 0;
	}
	struct st_ban b;
	if (pb_ban_target_parse(&b, target, err) < 0)
		return -1;
	if (b.is_net) {
		q->has_net = true;
		q->net = b.net;
	} else {
		st_strlcpy(q->id, b.target, sizeof q->id);
	}
	return 0;
}

/* The verdict, with the id of the peer at q's endpoint given (owner) or, NULL, found. */
static int verdict_slot(const struct st_peerbook *pb, const struct st_ban_query *q, int64_t now,
                        const char *owner, uint32_t *slot)
{
	if (q->id[0] && live_ban(pb, q->id, false, now, slot))
		return 1;
	if (!q->has_net)
		return 0;
	/* an address: any ban covering it; a subnet: a ban covering all of it */
	if (net_ban(pb, &q->net.net, q->net.bits, now, slot))
		return 1;
	if (!q->port)
		return 0;
	struct st_endpoint ep = q->net.net;
	ep.port = q->port;
	uint32_t at;
	const char *who = owner ? owner : at_slot(pb, &ep, &at) ? slot_id(pb, at) : "";
	/* (the id asked about, asked again, would say no again) */
	if (who[0] && strcmp(who, q->id) != 0 && live_ban(pb, who, false, now, slot))
		return 1;
	if (!pb->derived_bans) /* no slot a derived id could find */
		return 0;
	char derived[ST_NODE_ID_MAX + 1];
	st_peers_derived_id(&ep, derived, sizeof derived);
	return live_ban(pb, derived, false, now, slot);
}

static const struct st_ban *verdict(const struct st_peerbook *pb, const struct st_ban_query *q,
                                    int64_t now, const char *owner)
{
	uint32_t slot;
	return verdict_slot(pb, q, now, owner, &slot) && !pb->vbans ? &pb->b[slot] : NULL;
}

bool st_bans_banned(const struct st_peerbook *pb, const struct st_ban_query *q, int64_t now)
{
	uint32_t slot;
	return verdict_slot(pb, q, now, NULL, &slot);
}

void st_peers_prefetch(const struct st_peerbook *pb, const struct st_peer *x)
{
	__builtin_prefetch(x);
	__builtin_prefetch(x->eps);
	st_map_prefetch(&pb->ban_idx, id_hash(pb, x->id));
	if (x->neps)
		st_map_prefetch(&pb->by_ep, st_endpoint_hash(&x->eps[0], pb->key));
}

const struct st_ban *st_bans_verdict(const struct st_peerbook *pb, const struct st_ban_query *q,
                                     int64_t now)
{
	return verdict(pb, q, now, NULL);
}

/* A lazy book found its index inconsistent: it is read whole instead, as if opened
 * without ST_PEERBOOK_LAZY (same answers, same damage reports and repairs). */
static int reload_full(struct st_peerbook *pb, struct st_err *err)
{
	struct st_peerbook *full;
	if (st_peerbook_open(&full, &pb->cfg, pb->flags & ~ST_PEERBOOK_LAZY, err) < 0 || !full)
		return -1;
	struct st_peerbook t = *pb;
	*pb = *full;
	*full = t;
	st_peerbook_free(full);
	return 0;
}

/* Brings target's ban from a lazy book's snapshot into memory, unless the journal
 * (or an earlier lookup) already said what it is. Returns 0 or -1. */
static int adopt(struct st_peerbook *pb, const char *target, struct st_err *err)
{
	uint32_t slot;
	if (!pb->bans_lazy || ban_find(pb, target, &slot))
		return 0;
	const char *line;
	size_t n;
	int rc = bans_index_find(&pb->bix, target, &line, &n);
	if (rc == 0)
		return 0;
	struct st_ban b;
	if (rc < 0 || pb_ban_parse(&b, line, n, NULL) < 0 || strcmp(b.target, target) != 0)
		return reload_full(pb, err); /* not what the index claims: trust no part of it */
	return put_ban(pb, &b, &slot) == 0 ? 0 : st_err_set(err, ST_EX_SOFTWARE, "out of memory");
}

static int adopt_peer(void *ctx, const char *line, size_t len, struct st_err *err)
{
	return load_line(ctx, line, len, 0, err);
}

/*
 * A lazy book: the id of the peer st_peers_at would find at ep in the whole table
 * (into id, "" for none). Only the snapshot lines that hold ep and the journal's
 * lines can move ep's owner, so those, in that order, are loaded into a book of
 * their own and asked. Returns 0, 1 when the index failed us (pb is read whole
 * now and answers itself), or -1.
 */
static int lazy_owner(struct st_peerbook *pb, const struct st_endpoint *ep, char *id, size_t size,
                      struct st_err *err)
{
	struct st_peerbook *t = calloc(1, sizeof *t);
	if (!t)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	t->key = pb->key;
	st_map_init(&t->by_id);
	st_map_init(&t->by_ep);
	st_map_init(&t->ban_idx);
	st_buf_init(&t->pjour, 0);
	char jpath[ST_PATH_MAX + 32];
	snprintf(jpath, sizeof jpath, "%s/peers.journal", pb->cfg.data_dir);
	struct load snap = {t, false, false, st_store_path(pb->peers_store)},
	            jour = {t, false, true, jpath};
	int rc = peers_index_each(&pb->pix, ep, adopt_peer, &snap, err);
	unsigned long lineno = 0;
	for (size_t at = 0; rc == 0 && at < pb->pjour.len;) {
		const char *line = pb->pjour.data + at;
		const char *nl = memchr(line, '\n', pb->pjour.len - at);
		size_t n = nl ? (size_t)(nl - line) : pb->pjour.len - at;
		rc = load_line(&jour, line, n, ++lineno, err);
		at += n + 1;
	}
	const struct st_peer *p = rc == 0 ? st_peers_at(t, ep) : NULL;
	st_strlcpy(id, p ? p->id : "", size);
	st_peerbook_free(t);
	if (rc == 1)
		return reload_full(pb, err) < 0 ? -1 : 1;
	return rc;
}

int st_bans_lookup(struct st_peerbook *pb, const struct st_ban_query *q, int64_t now,
                   const struct st_ban **out, struct st_err *err)
{
	*out = NULL;
	char owner[ST_NODE_ID_MAX + 1] = "";
	if (q->has_net && q->port && pb->peers_lazy) {
		struct st_endpoint at = q->net.net;
		at.port = q->port;
		if (lazy_owner(pb, &at, owner, sizeof owner, err) < 0)
			return -1;
	}
	/* every ban st_bans_verdict may ask about, into memory first */
	if (q->id[0] && adopt(pb, q->id, err) < 0)
		return -1;
	char key[ST_BAN_TARGET_MAX + 1];
	for (int bits = q->has_net ? q->net.bits : -1; bits >= 0 && pb->bans_lazy; bits--) {
		prefix_key(&q->net.net, bits, key, sizeof key);
		if (adopt(pb, key, err) < 0)
			return -1;
	}
	if (q->has_net && q->port && pb->bans_lazy) {
		struct st_endpoint ep = q->net.net;
		ep.port = q->port;
		const struct st_peer *p = pb->peers_lazy ? NULL : st_peers_at(pb, &ep);
		const char *who = pb->peers_lazy ? owner : p ? p->id : "";
		if (who[0]) {
			st_strlcpy(key, who, sizeof key);
			if (adopt(pb, key, err) < 0)
				return -1;
		}
		st_peers_derived_id(&ep, key, sizeof key);
		if (adopt(pb, key, err) < 0)
			return -1;
	}
	*out = verdict(pb, q, now, pb->peers_lazy ? owner : NULL);
	return 0;
}

size_t st_bans_slots(const struct st_peerbook *pb)
{
	return pb->nb;
}

const struct st_ban *st_bans_slot(const struct st_peerbook *pb, size_t i, int64_t now)
{
	return !pb->vbans && i < pb->nb && in_force(&pb->b[i], now) ? &pb->b[i] : NULL;
}

/* ---- fsck ---- */

/*
 * Salvages one file of a table: every whole line that parses (a journal line
 * also needs its checksum) is loaded, the rest is counted in *lost. A line
 * broken from outside, a flipped byte, a cut tail: each costs its own line only.
 */
static void salvage_file(struct st_peerbook *pb, const char *path, bool bans, bool journal,
                         size_t *lost)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	struct st_buf line;
	st_buf_init(&line, ST_LINE_MAX);
	struct load l = {pb, bans, journal, path};
	unsigned long lineno = 0;
	int rc;
	while ((rc = st_read_line(f, &line, NULL)) != 0) {
		lineno++;
		if (rc < 0) {
			(*lost)++;
			continue;
		}
		const char *p = line.data ? line.data : "";
		size_t n = line.len;
		if (!n || p[0] == '#' || memchr(p, '\0', n))
			continue; /* headers, batch marks, blanks */
		if (journal) {
			uint32_t want;
			if (n < 10 || p[n - 10] != '\t' || p[n - 9] != '#' ||
			    sscanf(p + n - 8, "%8x", &want) != 1 || st_crc32c(0, p, n - 10) != want) {
				(*lost)++;
				continue;
			}
			n -= 10;
		}
		struct st_err lerr = {0};
		if (load_line(&l, p, n, lineno, &lerr) != 0)
			(*lost)++;
	}
	st_buf_clear(&line);
	fclose(f);
}

int st_peerbook_fsck(const struct st_config *cfg, bool repair, size_t *kept, size_t *lost,
                     struct st_err *err)
{
	*kept = *lost = 0;
	struct st_peerbook *pb;
	if (st_peerbook_open(&pb, cfg, ST_STORE_READ, err) == 0 && pb) {
		for (size_t i = 0; i < pb->np; i++)
			*kept += !pb->p[i].deleted;
		for (size_t i = 0; i < pb->nb; i++)
			*kept += !pb->b[i].deleted;
		st_peerbook_free(pb);
		return 0;
	}
	if (!repair || err->code != ST_EX_DATAERR || strstr(err->msg, "is newer than"))
		return -1;
	pb = calloc(1, sizeof *pb);
	if (!pb)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	pb->cfg = *cfg;
	pb->cfg.seeds = NULL;
	pb->cfg.nseeds = 0;
	pb->writable = true;
	pb->key = (uint64_t)st_monotonic_ms() * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)pb;
	st_map_init(&pb->by_id);
	st_map_init(&pb->by_ep);
	st_map_init(&pb->ban_idx);
	int rc = 0;
	/* both locks, in st_peerbook_open's order, held from reading to rewriting */
	struct st_store *held[2] = {NULL, NULL};
	static const char *const names[2] = {"bans", "peers"};
	for (int t = 0; t < 2 && rc == 0; t++)
		rc = st_store_open_wait(&held[t], cfg->data_dir, names[t], ST_PEERS_FORMAT_VERSION,
		                        ST_STORE_WRITE | ST_STORE_NOLOAD, &cfg->lock, err);
	for (int t = 0; t < 2 && rc == 0; t++) {
		char path[ST_PATH_MAX + 32];
		snprintf(path, sizeof path, "%s/%s.tsv", cfg->data_dir, names[t]);
		salvage_file(pb, path, t == 0, false, lost);
		snprintf(path, sizeof path, "%s/%s.journal", cfg->data_dir, names[t]);
		salvage_file(pb, path, t == 0, true, lost);
	}
	for (int t = 0; t < 2 && rc == 0; t++) {
		if (t == 0)
			pb->bans_store = held[0];
		else
			pb->peers_store = held[1];
		held[t] = NULL;
		rc = st_store_move_aside(t == 0 ? pb->bans_store : pb->peers_store, err);
		if (rc == 0)
			rc = rewrite(pb, t == 0, err);
	}
	for (size_t i = 0; i < pb->np; i++)
		*kept += !pb->p[i].deleted;
	for (size_t i = 0; i < pb->nb; i++)
		*kept += !pb->b[i].deleted;
	st_store_close(held[0]);
	st_store_close(held[1]);
	st_peerbook_free(pb);
	return rc < 0 ? -1 : 1;
}
