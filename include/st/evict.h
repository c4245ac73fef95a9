/* evict.h - which inbound connection a full listener closes for a newcomer. No I/O. */
#ifndef ST_EVICT_H
#define ST_EVICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One open inbound connection, as the listener sees it. */
struct st_evict_cand {
	size_t slot;          /* the caller's: returned when this one is picked */
	uint64_t group;       /* st_endpoint_group_key of its address (/16, /32) */
	int64_t connected_ms; /* when it was accepted: the smaller, the longer connected */
	int64_t rtt_us;       /* the lowest round trip seen (the kernel's TCP_INFO); < 0 unknown */
};

#define ST_EVICT_PROTECT_GROUPS 4 /* one each from this many groups, picked by keyed hash */
#define ST_EVICT_PROTECT_RTT 8    /* the lowest round trips */

/*
 * The connection to close so a newcomer can have its slot, as Bitcoin Core's
 * SelectNodeToEvict picks among inbound peers: protect one connection from each of
 * ST_EVICT_PROTECT_GROUPS groups (those whose hash under key is highest: key is random
 * per process, so an attacker cannot know which groups are safe), the
 * ST_EVICT_PROTECT_RTT lowest round trips, then the longest-connected half of the rest;
 * of what is left, take the group with the most connections (a tie: the one with the
 * most recent arrival) and close its most recent arrival. An attacker filling the
 * listener from few groups is what gets evicted; to protect its connections it needs
 * many groups, low latency and time.
 * Reorders c. Returns the slot, or -1 when every candidate is protected (then refuse
 * the newcomer instead).
 */
long st_evict_pick(struct st_evict_cand *c, size_t n, uint64_t key);

#endif
