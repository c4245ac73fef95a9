/* crawl_seeds.c - the export: chosen nodes as a seed list st-seed reads (text or JSON). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "st/crawl.h"
#include "st/seed.h"

int st_crawl_seed_list(const struct st_crawl_state *cs, const size_t *idx, size_t n, bool json,
                       int64_t now, struct st_buf *out, struct st_err *err)
{
	char ep[ST_ENDPOINT_STRLEN];
	if (!json) {
		/* st-seed's text form: comments, then ID@ENDPOINT (or ENDPOINT) per line */
		if (st_buf_printf(out, err, "# st-crawl seeds: %zu nodes, generated %lld\n", n,
		                  (long long)now) < 0)
			return -1;
		for (size_t i = 0; i < n; i++) {
			const struct st_crawl_node *nd = &cs->v[idx[i]];
			st_endpoint_format(&nd->ep, ep, sizeof ep);
			if (st_buf_printf(out, err, "%s%s%s\n", nd->node_id, nd->node_id[0] ? "@" : "", ep) < 0)
				return -1;
		}
		return 0;
	}
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++) {
		const struct st_crawl_node *nd = &cs->v[idx[i]];
		char addr[ST_ENDPOINT_STRLEN];
		st_addr_format(&nd->ep, addr, sizeof addr);
		json_t *o = json_pack("{s:s, s:i}", "address", addr, "port", (json_int_t)nd->ep.port);
		if (o && nd->node_id[0])
			json_object_set_new(o, "node_id", json_string(nd->node_id));
		if (!o || json_array_append_new(a, o) < 0) {
			json_decref(a);
			a = NULL;
		}
	}
	char *text = a ? json_dumps(a, JSON_COMPACT) : NULL;
	json_decref(a);
	if (!text)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	int rc = st_buf_append(out, text, strlen(text), err);
	if (rc == 0)
		rc = st_buf_append(out, "\n", 1, err);
	free(text);
	return rc;
}
