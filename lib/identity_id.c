/* identity_id.c - node ids: the text form of an Ed25519 public key (st-protocol(7)). */
#include <ctype.h>
#include <openssl/sha.h>
#include <string.h>

#include "st/identity.h"

/* RFC 4648 base32, lowercase. */
static const char B32[] = "abcdefghijklmnopqrstuvwxyz234567";
#define PREFIX "st1"
#define HRP "st"
#define NDATA 32  /* 160 bits of payload, 5 per character */
#define NCHECK 6
#define BECH32M_CONST 0x2bc830a3u

/* The BCH checksum of bech32m (BIP 350) over 5-bit values: it detects any
 * error in up to 4 characters of an id this short. */
static uint32_t polymod(const unsigned char *v, size_t n)
{
	static const uint32_t gen[5] = {0x3b6a57b2u, 0x26508e6du, 0x1ea119fau, 0x3d4233ddu,
	                                0x2a1462b3u};
	uint32_t chk = 1;
	for (size_t i = 0; i < n; i++) {
		uint32_t b = chk >> 25;
		chk = ((chk & 0x1ffffffu) << 5) ^ v[i];
		for (int j = 0; j < 5; j++)
			if ((b >> j) & 1)
				chk ^= gen[j];
	}
	return chk;
}

/* hrp expanded as bech32 does, then the data values, then room for the check */
static size_t check_input(unsigned char *v, const unsigned char *data)
{
	size_t n = 0, h = strlen(HRP);
	for (size_t i = 0; i < h; i++)
		v[n++] = (unsigned char)(HRP[i] >> 5);
	v[n++] = 0;
	for (size_t i = 0; i < h; i++)
		v[n++] = (unsigned char)(HRP[i] & 31);
	memcpy(v + n, data, NDATA);
	return n + NDATA;
}

static void payload_values(const unsigned char *payload, unsigned char *v)
{
	unsigned acc = 0, bits = 0;
	size_t n = 0;
	for (size_t i = 0; i < ST_ID_PAYLOAD_LEN; i++) {
		acc = (acc << 8) | payload[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			v[n++] = (unsigned char)((acc >> bits) & 31);
		}
	}
}

int st_identity_id_from_raw(const unsigned char *raw, size_t len, char *out, size_t size,
                            struct st_err *err)
{
	if (len != ST_ID_PUBKEY_LEN)
		return st_err_set(err, ST_EX_DATAERR, "not a 32-byte Ed25519 public key");
	if (size < ST_ID_STRLEN)
		return st_err_set(err, ST_EX_SOFTWARE, "node id buffer too small");
	/* The id is of the DER SubjectPublicKeyInfo, as protocol.md decides: for
	 * Ed25519 (RFC 8410, no parameters) that is a fixed prefix and the raw key,
	 * so every encoding of one key in a certificate gives one id. */
	unsigned char spki[ST_ID_SPKI_LEN];
	memcpy(spki, ST_ID_SPKI_PREFIX, ST_ID_SPKI_LEN - ST_ID_PUBKEY_LEN);
	memcpy(spki + ST_ID_SPKI_LEN - ST_ID_PUBKEY_LEN, raw, ST_ID_PUBKEY_LEN);
	unsigned char h[SHA256_DIGEST_LENGTH];
	SHA256(spki, sizeof spki, h);
	unsigned char v[8 + NDATA + NCHECK] = {0};
	unsigned char data[NDATA];
	payload_values(h, data);
	size_t n = check_input(v, data);
	uint32_t mod = polymod(v, n + NCHECK) ^ BECH32M_CONST;
	size_t o = 0;
	memcpy(out, PREFIX, strlen(PREFIX));
	o += strlen(PREFIX);
	for (size_t i = 0; i < NDATA; i++)
		out[o++] = B32[data[i]];
	for (size_t i = 0; i < NCHECK; i++)
		out[o++] = B32[(mod >> (5 * (NCHECK - 1 - i))) & 31];
	out[o] = '\0';
	return 0;
}

/* At most 60 bytes of what was typed, for a message: not NUL-ended, maybe not printable. */
static const char *shown(const char *text, size_t len, char *buf, size_t size)
{
	size_t n = 0;
	for (size_t i = 0; i < len && n + 4 < size; i++)
		buf[n++] = isprint((unsigned char)text[i]) ? text[i] : '?';
	buf[n] = '\0';
	if (n < len)
		memcpy(buf + n, "...", 4);
	return buf;
}

int st_identity_id_parse(const char *text, size_t len, char *out, size_t size,
                         struct st_err *err)
{
	char sb[64];
	if (size < ST_ID_STRLEN)
		return st_err_set(err, ST_EX_SOFTWARE, "node id buffer too small");
	char c[ST_ID_LEN + 1];
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)text[i];
		if (ch == '-' || isspace(ch))
			continue;
		if (n == sizeof c)
			return st_err_set(err, ST_EX_DATAERR, "bad node id '%s': too long",
			                  shown(text, len, sb, sizeof sb));
		c[n++] = (char)tolower(ch);
	}
	if (n < strlen(PREFIX) || memcmp(c, PREFIX, strlen(PREFIX)) != 0)
		return st_err_set(err, ST_EX_DATAERR, "bad node id '%s': not an st1 id",
		                  shown(text, len, sb, sizeof sb));
	if (n != ST_ID_LEN)
		return st_err_set(err, ST_EX_DATAERR, "bad node id '%s': %s",
		                  shown(text, len, sb, sizeof sb),
		                  n < ST_ID_LEN ? "too short" : "too long");
	unsigned char vals[NDATA + NCHECK];
	for (size_t i = 0; i < NDATA + NCHECK; i++) {
		const char *p = c[3 + i] ? strchr(B32, c[3 + i]) : NULL;
		if (!p)
			return st_err_set(err, ST_EX_DATAERR, "bad node id '%s': '%c' is not base32",
			                  shown(text, len, sb, sizeof sb),
			                  isprint((unsigned char)c[3 + i]) ? c[3 + i] : '?');
		vals[i] = (unsigned char)(p - B32);
	}
	unsigned char v[8 + NDATA + NCHECK];
	size_t m = check_input(v, vals);
	memcpy(v + m, vals + NDATA, NCHECK);
	if (polymod(v, m + NCHECK) != BECH32M_CONST)
		return st_err_set(err, ST_EX_DATAERR, "bad node id '%s': wrong check characters",
		                  shown(text, len, sb, sizeof sb));
	/* 32 characters carry exactly 160 bits: nothing is left over to be non-zero */
	memcpy(out, c, ST_ID_LEN);
	out[ST_ID_LEN] = '\0';
	return 0;
}
