/* fuzz_identity.c - certificate and key bytes to a node id, and node id parsing: an id
 * that parses prints back the same, and every id derived from bytes parses. */
#include <stdlib.h>
#include <string.h>

#include "st/endpoint.h"
#include "st/identity.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char id[ST_ID_STRLEN], back[ST_ID_STRLEN];
	struct st_err err;
	/* a certificate (PEM or DER) or a PEM key */
	if (st_identity_data_id(data, size, "fuzz", id, sizeof id, &err) == 0) {
		if (strlen(id) != ST_ID_LEN || !st_node_id_valid(id, strlen(id)) ||
		    st_identity_id_parse(id, strlen(id), back, sizeof back, &err) != 0 ||
		    strcmp(id, back) != 0)
			abort();
	} else if (err.code != ST_EX_DATAERR) {
		abort();
	}
	/* 32 bytes as a raw public key */
	if (size >= ST_ID_PUBKEY_LEN) {
		if (st_identity_id_from_raw(data, ST_ID_PUBKEY_LEN, id, sizeof id, &err) != 0 ||
		    st_identity_id_parse(id, strlen(id), back, sizeof back, &err) != 0 ||
		    strcmp(id, back) != 0)
			abort();
	}
	/* the bytes as a typed id: what parses is canonical and parses again to itself */
	if (st_identity_id_parse((const char *)data, size, id, sizeof id, &err) == 0) {
		if (strlen(id) != ST_ID_LEN || !st_node_id_valid(id, strlen(id)) ||
		    st_identity_id_parse(id, strlen(id), back, sizeof back, &err) != 0 ||
		    strcmp(id, back) != 0)
			abort();
	} else if (err.code != ST_EX_DATAERR) {
		abort();
	}
	return 0;
}
