/* schema.c - the record kinds: the one place their fields and order are written down. */
#include <string.h>

#include "st/schema.h"
#include "st/util.h"

#define SCHEMA(name, kind, ...)                                              \
	static const struct st_field name##_fields[] = {__VA_ARGS__};            \
	const struct st_schema st_schema_##name = {kind, name##_fields,          \
	                                           ST_ARRAY_LEN(name##_fields)}

SCHEMA(address, "address",
       {"endpoint", ST_FIELD_ENDPOINT}, {"quality", ST_FIELD_DOUBLE}, {"successes", ST_FIELD_INT},
       {"failures", ST_FIELD_INT}, {"consecutive_failures", ST_FIELD_INT},
       {"attempts", ST_FIELD_INT}, {"first_seen", ST_FIELD_TIME}, {"last_seen", ST_FIELD_TIME},
       {"last_attempt", ST_FIELD_TIME}, {"last_success", ST_FIELD_TIME},
       {"class", ST_FIELD_STR}, {"pinned", ST_FIELD_BOOL}, {"source", ST_FIELD_STR});

SCHEMA(dial, "dial",
       {"endpoint", ST_FIELD_ENDPOINT}, {"status", ST_FIELD_STR}, {"node_id", ST_FIELD_STR},
       {"verified", ST_FIELD_BOOL}, {"version", ST_FIELD_INT}, {"user_agent", ST_FIELD_STR},
       {"rtt_ms", ST_FIELD_INT}, {"error", ST_FIELD_STR});

SCHEMA(gossip, "gossip",
       {"endpoint", ST_FIELD_ENDPOINT}, {"source", ST_FIELD_STR}, {"node_id", ST_FIELD_STR});

SCHEMA(inbound, "inbound",
       {"endpoint", ST_FIELD_ENDPOINT}, {"peer", ST_FIELD_ENDPOINT}, {"status", ST_FIELD_STR},
       {"node_id", ST_FIELD_STR}, {"verified", ST_FIELD_BOOL}, {"version", ST_FIELD_INT},
       {"user_agent", ST_FIELD_STR}, {"listen_port", ST_FIELD_INT},
       {"duration_ms", ST_FIELD_INT}, {"getpeers", ST_FIELD_INT}, {"error", ST_FIELD_STR});

SCHEMA(peer, "peer",
       {"endpoint", ST_FIELD_ENDPOINT}, {"node_id", ST_FIELD_STR}, {"reputation", ST_FIELD_INT},
       {"successes", ST_FIELD_INT}, {"failures", ST_FIELD_INT},
       {"consecutive_failures", ST_FIELD_INT}, {"banned", ST_FIELD_BOOL},
       {"version", ST_FIELD_INT}, {"user_agent", ST_FIELD_STR}, {"verified", ST_FIELD_BOOL},
       {"first_seen", ST_FIELD_TIME}, {"last_seen", ST_FIELD_TIME}, {"endpoints", ST_FIELD_STR});

SCHEMA(ban, "ban",
       {"target", ST_FIELD_STR}, {"kind", ST_FIELD_STR}, {"created", ST_FIELD_TIME},
       {"expires", ST_FIELD_TIME}, {"origin", ST_FIELD_STR}, {"reason", ST_FIELD_STR});

SCHEMA(change, "change",
       {"node_id", ST_FIELD_STR}, {"endpoint", ST_FIELD_ENDPOINT}, {"change", ST_FIELD_STR},
       {"reputation", ST_FIELD_INT}, {"detail", ST_FIELD_STR});

SCHEMA(seed, "seed",
       {"seed", ST_FIELD_STR}, {"status", ST_FIELD_STR}, {"endpoints", ST_FIELD_INT},
       {"added", ST_FIELD_INT}, {"rejected", ST_FIELD_INT}, {"error", ST_FIELD_STR});

SCHEMA(stat, "stat",
       {"metric", ST_FIELD_STR}, {"key", ST_FIELD_STR}, {"value", ST_FIELD_INT});

SCHEMA(crawl, "crawl",
       {"endpoint", ST_FIELD_ENDPOINT}, {"reachable", ST_FIELD_BOOL}, {"status", ST_FIELD_STR},
       {"node_id", ST_FIELD_STR}, {"verified", ST_FIELD_BOOL}, {"version", ST_FIELD_INT},
       {"user_agent", ST_FIELD_STR}, {"services", ST_FIELD_STR}, {"rtt_ms", ST_FIELD_INT},
       {"peers_offered", ST_FIELD_INT}, {"learned", ST_FIELD_INT},
       {"first_seen", ST_FIELD_TIME}, {"last_seen", ST_FIELD_TIME}, {"error", ST_FIELD_STR});

SCHEMA(uptime, "uptime",
       {"endpoint", ST_FIELD_ENDPOINT}, {"good", ST_FIELD_BOOL}, {"last_success", ST_FIELD_TIME},
       {"uptime_2h", ST_FIELD_DOUBLE}, {"uptime_8h", ST_FIELD_DOUBLE},
       {"uptime_1d", ST_FIELD_DOUBLE}, {"uptime_7d", ST_FIELD_DOUBLE},
       {"uptime_30d", ST_FIELD_DOUBLE}, {"blocks", ST_FIELD_INT}, {"services", ST_FIELD_STR},
       {"version", ST_FIELD_INT}, {"user_agent", ST_FIELD_STR}, {"attempts", ST_FIELD_INT},
       {"successes", ST_FIELD_INT}, {"node_id", ST_FIELD_STR}, {"verified", ST_FIELD_BOOL});

SCHEMA(summary, "summary",
       {"metric", ST_FIELD_STR}, {"key", ST_FIELD_STR}, {"value", ST_FIELD_INT});

int st_schema_find(const struct st_schema *s, const char *key)
{
	for (size_t i = 0; i < s->nfields; i++)
		if (strcmp(s->fields[i].key, key) == 0)
			return (int)i;
	return -1;
}
