/* fuzz_cert.c - the certificate-to-id path a TLS handshake takes (st_tls_cert_data_id):
 * bytes (PEM or DER) give an id or a refusal, never a crash; an id given is canonical,
 * and is the id st-keygen --show gives for the same bytes. */
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>

#include "st/endpoint.h"
#include "st/identity.h"
#include "st/tls.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

/* A fixed clock, so that a run is repeatable: 2030-01-01. */
#define NOW 1893456000

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	char id[ST_ID_STRLEN], back[ST_ID_STRLEN], shown[ST_ID_STRLEN];
	struct st_err err;
	enum st_tls_verdict v = ST_TLS_OK;
	if (st_tls_cert_data_id(data, size, NOW, id, sizeof id, &v, &err) == 0) {
		if (v != ST_TLS_OK || strlen(id) != ST_ID_LEN || !st_node_id_valid(id, strlen(id)) ||
		    st_identity_id_parse(id, strlen(id), back, sizeof back, &err) != 0 ||
		    strcmp(id, back) != 0)
			abort();
		/* what the handshake accepts, --show reads alike (it checks no dates) */
		if (st_identity_data_id(data, size, "fuzz", shown, sizeof shown, &err) != 0 ||
		    strcmp(id, shown) != 0)
			abort();
	} else if (err.code != ST_EX_DATAERR || v == ST_TLS_OK || v == ST_TLS_PIN_MISMATCH ||
	           !err.msg[0]) {
		abort();
	}
	if (ERR_peek_error()) /* a refusal leaves nothing for the next connection to trip on */
		abort();
	return 0;
}
