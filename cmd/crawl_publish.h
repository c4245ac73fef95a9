/* crawl_publish.h - st-crawl's options, and its commands that read the state (cmd/crawl_publish.c). */
#ifndef ST_CRAWL_PUBLISH_H
#define ST_CRAWL_PUBLISH_H

#include <stdbool.h>
#include <stdint.h>

#include "st/cli.h"
#include "st/crawl.h"
#include "st/record.h"

/* What the options of every st-crawl command set (cmd/st-crawl.c parses them). */
struct crawl_opts {
	const char *state;
	bool allow_private, update, good, strict;
	uint64_t max_nodes, getpeers, max_asks, n, per_group, port, rate;
	int64_t max_time, ask_interval, retest, every, ttl, reload;
	double min_uptime;
	bool json_list;
	const char *out, *key, *zone, *bind, *ns, *mbox;
	char state_buf[ST_PATH_MAX + 8];
};

/* Loads o->state into cs, or reports why and exits. */
void crawl_load_state(struct st_cli *cli, const struct crawl_opts *o, struct st_crawl_state *cs);
/* Service bits as 16 hex digits. */
void crawl_print_services(struct st_printer *p, const char *key, uint64_t s);

/* The commands; each returns the exit status. */
int crawl_dump(struct st_cli *cli, const struct crawl_opts *o);
int crawl_export(struct st_cli *cli, const struct crawl_opts *o);
int crawl_serve_dns(struct st_cli *cli, const struct crawl_opts *o);

#endif
