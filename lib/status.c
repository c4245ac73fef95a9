/* status.c - the names of connection statuses. */
#include <string.h>

#include "st/status.h"
#include "st/util.h"

static const char *const names[ST_STATUS__COUNT] = {
	[ST_STATUS_OK] = "ok",
	[ST_STATUS_REFUSED] = "refused",
	[ST_STATUS_TIMEOUT] = "timeout",
	[ST_STATUS_UNREACHABLE] = "unreachable",
	[ST_STATUS_PROTOCOL_ERROR] = "protocol-error",
	[ST_STATUS_VERSION_MISMATCH] = "version-mismatch",
	[ST_STATUS_SELF] = "self",
	[ST_STATUS_PEER_ERROR] = "peer-error",
	[ST_STATUS_BANNED] = "banned",
	[ST_STATUS_IDLE] = "idle",
	[ST_STATUS_REFUSED_LIMIT] = "refused-limit",
	[ST_STATUS_SHUTDOWN] = "shutdown",
	[ST_STATUS_TLS_ERROR] = "tls-error",
	[ST_STATUS_IDENTITY_MISMATCH] = "identity-mismatch",
	[ST_STATUS_IDENTITY_CHANGED] = "identity-changed",
};

const char *st_status_name(enum st_status s)
{
	return (unsigned)s < ST_STATUS__COUNT ? names[s] : "unknown";
}

int st_status_parse(const char *name, enum st_status *out)
{
	for (size_t i = 0; i < ST_STATUS__COUNT; i++)
		if (strcmp(names[i], name) == 0) {
			*out = (enum st_status)i;
			return 0;
		}
	return -1;
}

int st_status_is_success(enum st_status s)
{
	return s == ST_STATUS_OK || s == ST_STATUS_IDLE;
}
