/* util.c - bounded buffers, number and duration parsing, clocks, hashes, lines. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <time.h>

#include "st/util.h"

void st_buf_init(struct st_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

static int buf_reserve(struct st_buf *b, size_t extra, struct st_err *err)
{
	if (extra > b->max || b->len > b->max - extra)
		return st_err_set(err, ST_EX_DATAERR, "too large (more than %zu bytes)", b->max);
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	if (b->max < SIZE_MAX && cap > b->max + 1)
		cap = b->max + 1;
	char *p = realloc(b->data, cap);
	if (!p)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	b->data = p;
	b->cap = cap;
	return 0;
}

int st_buf_reserve(struct st_buf *b, size_t n, struct st_err *err)
{
	return buf_reserve(b, n, err);
}

int st_buf_append(struct st_buf *b, const void *p, size_t n, struct st_err *err)
{
	if (buf_reserve(b, n, err) < 0)
		return -1;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int st_buf_printf(struct st_buf *b, struct st_err *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return st_err_set(err, ST_EX_SOFTWARE, "bad format");
	if (buf_reserve(b, (size_t)n, err) < 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void st_buf_reset(struct st_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void st_buf_clear(struct st_buf *b)
{
	free(b->data);
	st_buf_init(b, b->max);
}

char *st_u64_digits(uint64_t v, unsigned base, char *buf, size_t size)
{
	char *c = buf + size - 1;
	*c = '\0';
	if (base == 10) { /* the common case, with a division the compiler makes a multiply */
		do {
			*--c = (char)('0' + v % 10);
			v /= 10;
		} while (v);
		return c;
	}
	do {
		*--c = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	return c;
}

size_t st_strlcpy(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);
	if (size) {
		size_t c = n < size - 1 ? n : size - 1;
		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return n;
}

size_t st_edit_distance(const char *a, const char *b)
{
	/* optimal string alignment: Levenshtein plus a swap of two neighbours
	 * ("lsit" is one slip from "list"), three rows of the matrix */
	size_t la = strlen(a), lb = strlen(b);
	if (la > 63 || lb > 63)
		return 99;
	size_t r0[64], r1[64], r2[64];
	size_t *prev2 = r0, *prev = r1, *row = r2;
	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
			size_t del = prev[j] + 1, ins = row[j - 1] + 1;
			size_t d = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    prev2[j - 2] + 1 < d)
				d = prev2[j - 2] + 1;
			row[j] = d;
		}
		size_t *t = prev2;
		prev2 = prev;
		prev = row;
		row = t;
	}
	return prev[lb];
}

/* strtoull/strtoll accept leading space, signs and "0x"; we want plain decimal. */
static bool plain_integer(const char *s, bool allow_minus)
{
	if (allow_minus && *s == '-')
		s++;
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

int st_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out, struct st_err *err)
{
	if (!s || !plain_integer(s, false))
		return st_err_set(err, ST_EX_USAGE, "'%s': not a number", s ? s : "");
	errno = 0;
	unsigned long long v = strtoull(s, NULL, 10);
	if (errno == ERANGE || v > max)
		return st_err_set(err, ST_EX_USAGE, "'%s': too large (%" PRIu64 "..%" PRIu64 ")", s,
		                  min, max);
	if (v < min)
		return st_err_set(err, ST_EX_USAGE, "'%s': too small (%" PRIu64 "..%" PRIu64 ")", s,
		                  min, max);
	*out = v;
	return 0;
}

int st_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out, struct st_err *err)
{
	if (!s || !plain_integer(s, true))
		return st_err_set(err, ST_EX_USAGE, "'%s': not a number", s ? s : "");
	errno = 0;
	long long v = strtoll(s, NULL, 10);
	if ((errno == ERANGE && v > 0) || v > max)
		return st_err_set(err, ST_EX_USAGE, "'%s': too large (%" PRId64 "..%" PRId64 ")", s,
		                  min, max);
	if (errno == ERANGE || v < min)
		return st_err_set(err, ST_EX_USAGE, "'%s': too small (%" PRId64 "..%" PRId64 ")", s,
		                  min, max);
	*out = v;
	return 0;
}

int st_parse_double(const char *s, double min, double max, double *out, struct st_err *err)
{
	if (!s || !*s || isspace((unsigned char)*s))
		return st_err_set(err, ST_EX_USAGE, "'%s': not a number", s ? s : "");
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (*end || errno == ERANGE || !isfinite(v) || (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')))
		return st_err_set(err, ST_EX_USAGE, "'%s': not a number", s);
	if (v < min)
		return st_err_set(err, ST_EX_USAGE, "'%s': too small (%g..%g)", s, min, max);
	if (v > max)
		return st_err_set(err, ST_EX_USAGE, "'%s': too large (%g..%g)", s, min, max);
	*out = v;
	return 0;
}

static const struct {
	const char *suffix;
	int64_t ms;
} duration_units[] = {
	{"w", 7 * 86400000LL}, {"d", 86400000LL}, {"h", 3600000LL},
	{"m", 60000LL},        {"s", 1000LL},     {"ms", 1LL},
};

int st_parse_duration(const char *s, int64_t min_ms, int64_t max_ms, int64_t *out_ms,
                      struct st_err *err)
{
	char minb[32], maxb[32];
	st_format_duration(min_ms, minb, sizeof minb);
	st_format_duration(max_ms, maxb, sizeof maxb);
	const char *p = s ? s : "";
	size_t digits = 0;
	while (isdigit((unsigned char)p[digits]))
		digits++;
	if (digits == 0 || digits > 15)
		return st_err_set(err, ST_EX_USAGE,
		                  "'%s': not a duration (like 90s, 10m, 24h, 30d)", p);
	const char *unit = p + digits;
	int64_t mult = 0;
	if (*unit == '\0')
		mult = 1000;
	for (size_t i = 0; i < ST_ARRAY_LEN(duration_units) && !mult; i++)
		if (strcmp(unit, duration_units[i].suffix) == 0)
			mult = duration_units[i].ms;
	if (!mult)
		return st_err_set(err, ST_EX_USAGE,
		                  "'%s': not a duration (like 90s, 10m, 24h, 30d)", p);
	int64_t n = strtoll(p, NULL, 10);
	if (n > INT64_MAX / mult)
		return st_err_set(err, ST_EX_USAGE, "'%s': too large (%s..%s)", p, minb, maxb);
	int64_t v = n * mult;
	if (v < min_ms)
		return st_err_set(err, ST_EX_USAGE, "'%s': too small (%s..%s)", p, minb, maxb);
	if (v > max_ms)
		return st_err_set(err, ST_EX_USAGE, "'%s': too large (%s..%s)", p, minb, maxb);
	*out_ms = v;
	return 0;
}

size_t st_format_duration(int64_t ms, char *buf, size_t size)
{
	int n;
	if (ms == 0) {
		n = snprintf(buf, size, "0s");
	} else {
		size_t i = 0;
		while (i + 1 < ST_ARRAY_LEN(duration_units) && ms % duration_units[i].ms != 0)
			i++;
		n = snprintf(buf, size, "%" PRId64 "%s", ms / duration_units[i].ms,
		             duration_units[i].suffix);
	}
	return n < 0 ? 0 : (size_t)n;
}

size_t st_format_age(int64_t t, int64_t now, char *buf, size_t size)
{
	int n;
	if (t == 0) {
		n = snprintf(buf, size, "never");
	} else {
		int64_t d = now - t;
		bool future = d < 0;
		if (future)
			d = -d;
		const char *unit = "s";
		int64_t v = d;
		if (d >= 2 * 86400) {
			v = d / 86400;
			unit = "d";
		} else if (d >= 2 * 3600) {
			v = d / 3600;
			unit = "h";
		} else if (d >= 2 * 60) {
			v = d / 60;
			unit = "m";
		}
		if (d == 0)
			n = snprintf(buf, size, "now");
		else if (future)
			n = snprintf(buf, size, "in %" PRId64 "%s", v, unit);
		else
			n = snprintf(buf, size, "%" PRId64 "%s ago", v, unit);
	}
	return n < 0 ? 0 : (size_t)n;
}

int64_t st_now(void)
{
	const char *fake = getenv("ST_FAKE_NOW");
	if (fake && *fake) {
		char *end;
		long long v = strtoll(fake, &end, 10);
		if (*end == '\0' && v > 0)
			return (int64_t)v;
	}
	return (int64_t)time(NULL);
}

int64_t st_monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* SipHash-2-4 with the 128-bit key (key, key ^ a constant). */
#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                        \
	do {                                                                            \
		v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);               \
		v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                                  \
		v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                                  \
		v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);               \
	} while (0)

uint64_t st_hash64(const void *p, size_t n, uint64_t key)
{
	const unsigned char *in = p;
	uint64_t k0 = key, k1 = key ^ 0x9e3779b97f4a7c15ULL;
	uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
	uint64_t b = (uint64_t)n << 56;
	size_t left = n & 7;
	const unsigned char *end = in + n - left;
	for (; in != end; in += 8) {
		uint64_t m;
		memcpy(&m, in, 8);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (size_t i = 0; i < left; i++)
		b |= (uint64_t)in[i] << (8 * i);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* CRC-32C (Castagnoli), reflected polynomial 0x82F63B78. */
static const uint32_t crc32c_table[256] = {
	0x00000000u, 0xf26b8303u, 0xe13b70f7u, 0x1350f3f4u, 0xc79a971fu, 0x35f1141cu,
	0x26a1e7e8u, 0xd4ca64ebu, 0x8ad958cfu, 0x78b2dbccu, 0x6be22838u, 0x9989ab3bu,
	0x4d43cfd0u, 0xbf284cd3u, 0xac78bf27u, 0x5e133c24u, 0x105ec76fu, 0xe235446cu,
	0xf165b798u, 0x030e349bu, 0xd7c45070u, 0x25afd373u, 0x36ff2087u, 0xc494a384u,
	0x9a879fa0u, 0x68ec1ca3u, 0x7bbcef57u, 0x89d76c54u, 0x5d1d08bfu, 0xaf768bbcu,
	0xbc267848u, 0x4e4dfb4bu, 0x20bd8edeu, 0xd2d60dddu, 0xc186fe29u, 0x33ed7d2au,
	0xe72719c1u, 0x154c9ac2u, 0x061c6936u, 0xf477ea35u, 0xaa64d611u, 0x580f5512u,
	0x4b5fa6e6u, 0xb93425e5u, 0x6dfe410eu, 0x9f95c20du, 0x8cc531f9u, 0x7eaeb2fau,
	0x30e349b1u, 0xc288cab2u, 0xd1d83946u, 0x23b3ba45u, 0xf779deaeu, 0x05125dadu,
	0x1642ae59u, 0xe4292d5au, 0xba3a117eu, 0x4851927du, 0x5b016189u, 0xa96ae28au,
	0x7da08661u, 0x8fcb0562u, 0x9c9bf696u, 0x6ef07595u, 0x417b1dbcu, 0xb3109ebfu,
	0xa0406d4bu, 0x522bee48u, 0x86e18aa3u, 0x748a09a0u, 0x67dafa54u, 0x95b17957u,
	0xcba24573u, 0x39c9c670u, 0x2a993584u, 0xd8f2b687u, 0x0c38d26cu, 0xfe53516fu,
	0xed03a29bu, 0x1f682198u, 0x5125dad3u, 0xa34e59d0u, 0xb01eaa24u, 0x42752927u,
	0x96bf4dccu, 0x64d4cecfu, 0x77843d3bu, 0x85efbe38u, 0xdbfc821cu, 0x2997011fu,
	0x3ac7f2ebu, 0xc8ac71e8u, 0x1c661503u, 0xee0d9600u, 0xfd5d65f4u, 0x0f36e6f7u,
	0x61c69362u, 0x93ad1061u, 0x80fde395u, 0x72966096u, 0xa65c047du, 0x5437877eu,
	0x4767748au, 0xb50cf789u, 0xeb1fcbadu, 0x197448aeu, 0x0a24bb5au, 0xf84f3859u,
	0x2c855cb2u, 0xdeeedfb1u, 0xcdbe2c45u, 0x3fd5af46u, 0x7198540du, 0x83f3d70eu,
	0x90a324fau, 0x62c8a7f9u, 0xb602c312u, 0x44694011u, 0x5739b3e5u, 0xa55230e6u,
	0xfb410cc2u, 0x092a8fc1u, 0x1a7a7c35u, 0xe811ff36u, 0x3cdb9bddu, 0xceb018deu,
	0xdde0eb2au, 0x2f8b6829u, 0x82f63b78u, 0x709db87bu, 0x63cd4b8fu, 0x91a6c88cu,
	0x456cac67u, 0xb7072f64u, 0xa457dc90u, 0x563c5f93u, 0x082f63b7u, 0xfa44e0b4u,
	0xe9141340u, 0x1b7f9043u, 0xcfb5f4a8u, 0x3dde77abu, 0x2e8e845fu, 0xdce5075cu,
	0x92a8fc17u, 0x60c37f14u, 0x73938ce0u, 0x81f80fe3u, 0x55326b08u, 0xa759e80bu,
	0xb4091bffu, 0x466298fcu, 0x1871a4d8u, 0xea1a27dbu, 0xf94ad42fu, 0x0b21572cu,
	0xdfeb33c7u, 0x2d80b0c4u, 0x3ed04330u, 0xccbbc033u, 0xa24bb5a6u, 0x502036a5u,
	0x4370c551u, 0xb11b4652u, 0x65d122b9u, 0x97baa1bau, 0x84ea524eu, 0x7681d14du,
	0x2892ed69u, 0xdaf96e6au, 0xc9a99d9eu, 0x3bc21e9du, 0xef087a76u, 0x1d63f975u,
	0x0e330a81u, 0xfc588982u, 0xb21572c9u, 0x407ef1cau, 0x532e023eu, 0xa145813du,
	0x758fe5d6u, 0x87e466d5u, 0x94b49521u, 0x66df1622u, 0x38cc2a06u, 0xcaa7a905u,
	0xd9f75af1u, 0x2b9cd9f2u, 0xff56bd19u, 0x0d3d3e1au, 0x1e6dcdeeu, 0xec064eedu,
	0xc38d26c4u, 0x31e6a5c7u, 0x22b65633u, 0xd0ddd530u, 0x0417b1dbu, 0xf67c32d8u,
	0xe52cc12cu, 0x1747422fu, 0x49547e0bu, 0xbb3ffd08u, 0xa86f0efcu, 0x5a048dffu,
	0x8ecee914u, 0x7ca56a17u, 0x6ff599e3u, 0x9d9e1ae0u, 0xd3d3e1abu, 0x21b862a8u,
	0x32e8915cu, 0xc083125fu, 0x144976b4u, 0xe622f5b7u, 0xf5720643u, 0x07198540u,
	0x590ab964u, 0xab613a67u, 0xb831c993u, 0x4a5a4a90u, 0x9e902e7bu, 0x6cfbad78u,
	0x7fab5e8cu, 0x8dc0dd8fu, 0xe330a81au, 0x115b2b19u, 0x020bd8edu, 0xf0605beeu,
	0x24aa3f05u, 0xd6c1bc06u, 0xc5914ff2u, 0x37faccf1u, 0x69e9f0d5u, 0x9b8273d6u,
	0x88d28022u, 0x7ab90321u, 0xae7367cau, 0x5c18e4c9u, 0x4f48173du, 0xbd23943eu,
	0xf36e6f75u, 0x0105ec76u, 0x12551f82u, 0xe03e9c81u, 0x34f4f86au, 0xc69f7b69u,
	0xd5cf889du, 0x27a40b9eu, 0x79b737bau, 0x8bdcb4b9u, 0x988c474du, 0x6ae7c44eu,
	0xbe2da0a5u, 0x4c4623a6u, 0x5f16d052u, 0xad7d5351u,
};

#if defined(__x86_64__)
#include <nmmintrin.h>

/* SSE 4.2 computes this very polynomial, eight bytes an instruction: every
 * journal line is checksummed when written and again when read. */
__attribute__((target("sse4.2"))) static uint32_t crc32c_sse42(uint32_t crc, const unsigned char *s,
                                                               size_t n)
{
	uint64_t c = crc;
	for (; n >= 8; s += 8, n -= 8) {
		uint64_t w;
		memcpy(&w, s, sizeof w);
		c = _mm_crc32_u64(c, w);
	}
	uint32_t c32 = (uint32_t)c;
	while (n--)
		c32 = _mm_crc32_u8(c32, *s++);
	return c32;
}
#endif

uint32_t st_crc32c(uint32_t crc, const void *p, size_t n)
{
	const unsigned char *s = p;
	crc = ~crc;
#if defined(__x86_64__)
	if (__builtin_cpu_supports("sse4.2"))
		return ~crc32c_sse42(crc, s, n);
#endif
	while (n--)
		crc = crc32c_table[(crc ^ *s++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

int st_read_line(FILE *in, struct st_buf *b, struct st_err *err)
{
	st_buf_reset(b);
	bool overlong = false;
	for (;;) {
		int c = getc(in);
		if (c == EOF) {
			if (ferror(in))
				return st_err_sys(err, ST_EX_IOERR, "read error");
			if (overlong)
				break;
			return b->len ? 1 : 0;
		}
		if (c == '\n')
			break;
		if (overlong)
			continue;
		char ch = (char)c;
		if (b->len >= ST_LINE_MAX || st_buf_append(b, &ch, 1, NULL) < 0)
			overlong = true;
	}
	if (overlong)
		return st_err_set(err, ST_EX_DATAERR, "line longer than %d bytes", ST_LINE_MAX);
	return 1;
}

bool st_is_regular_file(FILE *f)
{
	struct stat st;
	return fileno(f) >= 0 && fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode);
}

int st_slurp(FILE *f, size_t max, char **out, size_t *len, struct st_err *err)
{
	size_t cap = 65536, n = 0;
	char *b = malloc(cap + 1);
	if (!b)
		return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
	for (;;) {
		size_t got = fread(b + n, 1, cap - n, f);
		n += got;
		if (got == 0) {
			if (ferror(f)) {
				free(b);
				return st_err_sys(err, ST_EX_IOERR, "read error");
			}
			break;
		}
		if (n > max) {
			free(b);
			return st_err_set(err, ST_EX_DATAERR, "input larger than %zu bytes", max);
		}
		if (n == cap) {
			char *nb = realloc(b, cap * 2 + 1);
			if (!nb) {
				free(b);
				return st_err_set(err, ST_EX_SOFTWARE, "out of memory");
			}
			b = nb;
			cap *= 2;
		}
	}
	b[n] = '\0';
	*out = b;
	*len = n;
	return 0;
}
