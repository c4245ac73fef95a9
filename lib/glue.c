/* glue.c - one connection result applied to both books, as the seed design's flow does. */
#include <string.h>

#include "st/addrbook.h"
#include "st/peers.h"

int st_glue_apply(struct st_addrbook *ab, struct st_peerbook *pb, const struct st_conn_result *r,
                  int64_t now, struct st_peer_change *change, struct st_err *err)
{
	memset(change, 0, sizeof *change);
	if (r->status == ST_STATUS_BANNED || r->status == ST_STATUS_SHUTDOWN ||
	    r->status == ST_STATUS_REFUSED_LIMIT || r->status == ST_STATUS_IDENTITY_CHANGED)
		return 0; /* never dialed, or refused by us (the operator decides): nothing learned */
	bool ok = st_status_is_success(r->status);
	if (ab && st_addrbook_record(ab, &r->ep, ok, now, err) < 0)
		return -1;
	if (!pb)
		return 0;
	const char *id = r->node_id && r->node_id[0] ? r->node_id : NULL;
	if (ok) {
		if (!id)
			return 0;
		if (st_peers_seen(pb, id, &r->ep, r->version, r->user_agent, r->verified, now, change,
		                  err) < 0)
			return -1;
		if (change->claim_ignored)
			return 0;
		return st_peers_success(pb, id, now, err) < 0 ? -1 : 0;
	}
	if (id && r->verified) { /* proven by its certificate: the failure is that peer's */
		if (st_peers_seen(pb, id, &r->ep, r->version, r->user_agent, true, now, change, err) < 0)
			return -1;
	} else if (id) {
		const struct st_peer *p = st_peers_get(pb, id);
		if (p && p->verified)
			return 0; /* an unproven claim of a verified id: not held against it */
	}
	if (!id) { /* the id we last saw at this endpoint */
		const struct st_peer *p = st_peers_at(pb, &r->ep);
		if (!p)
			return 0;
		id = p->id;
	}
	char pid[ST_NODE_ID_MAX + 1];
	strncpy(pid, id, sizeof pid - 1);
	pid[sizeof pid - 1] = '\0';
	return st_peers_failure(pb, pid, 1, now, change, err) < 0 ? -1 : 0;
}
