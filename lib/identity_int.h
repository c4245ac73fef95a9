/* identity_int.h - what other lib/ modules may see of struct st_key. */
#ifndef ST_IDENTITY_INT_H
#define ST_IDENTITY_INT_H

#include <openssl/evp.h>

#include "st/identity.h"

struct st_key {
	EVP_PKEY *pkey; /* an Ed25519 key, owned */
};

#endif
