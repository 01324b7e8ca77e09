/* SPDX-License-Identifier: MIT */
/*
 * Typed arguments and results for `nub run --call` (a function the guest
 * registered with a signature, published at init:
 * nub_sandbox_function_signature). Each word is a value of the signature's
 * type at its position, or `TYPE:VALUE` naming its type itself (i32, i64,
 * u32, u64, f32, f64, bool, s, bytes -- hex): the guest checks the types,
 * so a named type the function does not take is refused there, by name.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_typed.h"

static const struct {
	const char *prefix;
	uint8_t type;
} prefixes[] = {
        {"i32:", NUB_T_I32},   {"i64:", NUB_T_I64}, {"u32:", NUB_T_U32},
        {"u64:", NUB_T_U64},   {"f32:", NUB_T_F32}, {"f64:", NUB_T_F64},
        {"bool:", NUB_T_BOOL}, {"s:", NUB_T_STR},   {"bytes:", NUB_T_BYTES},
};

static int bad(const char *word, const char *why)
{
	fprintf(stderr, "nub run: typed argument '%s': %s\n", word, why);
	return -1;
}

static int parse_int(const char *word, const char *v, uint8_t t, struct nub_value *out)
{
	char *end;
	errno = 0;
	if (t == NUB_T_U32 || t == NUB_T_U64) {
		unsigned long long u = v[0] == '-' ? (errno = ERANGE, 0) : strtoull(v, &end, 0);
		if (errno || !*v || *end || (t == NUB_T_U32 && u > UINT32_MAX))
			return bad(word, t == NUB_T_U32 ? "not a u32" : "not a u64");
		if (t == NUB_T_U32)
			out->v.u32 = (uint32_t)u;
		else
			out->v.u64 = u;
		return 0;
	}
	long long s = strtoll(v, &end, 0);
	if (errno || !*v || *end || (t == NUB_T_I32 && (s < INT32_MIN || s > INT32_MAX)))
		return bad(word, t == NUB_T_I32 ? "not an i32" : "not an i64");
	if (t == NUB_T_I32)
		out->v.i32 = (int32_t)s;
	else
		out->v.i64 = s;
	return 0;
}

const char *cli_hex_decode(const char *h, uint8_t *dst, size_t cap, size_t *n)
{
	size_t len = strlen(h);

	if (len % 2)
		return "hex of an odd length";
	if (len / 2 > cap)
		return "too many bytes";
	for (size_t i = 0; i < len; i += 2) {
		char pair[3] = {h[i], h[i + 1], 0}, *end;
		dst[i / 2] = (uint8_t)strtoul(pair, &end, 16);
		if (*end)
			return "not hex";
	}
	*n = len / 2;
	return NULL;
}

/* Hex bytes into the pool. */
static int parse_bytes(const char *word, const char *v, struct cli_pool *pool,
                       struct nub_value *out)
{
	uint8_t *p = pool->bytes + pool->used;
	size_t n = 0;
	const char *why = cli_hex_decode(v, p, sizeof(pool->bytes) - pool->used, &n);

	if (why)
		return bad(word, why);
	pool->used += n;
	out->v.buf.p = p;
	out->v.buf.len = (uint32_t)n;
	return 0;
}

static int parse_value(const char *word, const char *v, uint8_t t, struct cli_pool *pool,
                       struct nub_value *out)
{
	char *end;

	*out = (struct nub_value){.type = t};
	switch (t) {
	case NUB_T_I32:
	case NUB_T_I64:
	case NUB_T_U32:
	case NUB_T_U64:
		return parse_int(word, v, t, out);
	case NUB_T_F32:
	case NUB_T_F64: {
		errno = 0;
		double d = strtod(v, &end);
		if (errno || !*v || *end)
			return bad(word, "not a number");
		if (t == NUB_T_F32)
			out->v.f32 = (float)d;
		else
			out->v.f64 = d;
		return 0;
	}
	case NUB_T_BOOL:
		if (strcmp(v, "true") && strcmp(v, "false") && strcmp(v, "1") && strcmp(v, "0"))
			return bad(word, "not a bool (true, false, 1, 0)");
		out->v.b = !strcmp(v, "true") || !strcmp(v, "1");
		return 0;
	case NUB_T_STR:
		out->v.buf.p = v;
		out->v.buf.len = (uint32_t)strlen(v);
		return 0;
	case NUB_T_BYTES:
		return parse_bytes(word, v, pool, out);
	default:
		return bad(word, "no such type");
	}
}

int cli_typed_args(const char *sig, const char *const *words, size_t n, struct nub_value *vals,
                   struct cli_pool *pool)
{
	size_t takes = (size_t)(strchr(sig, '>') - sig);

	if (n > NUB_TYPED_MAX_VALUES)
		return bad(words[NUB_TYPED_MAX_VALUES], "more than 16 values");
	for (size_t i = 0; i < n; i++) {
		const char *v = words[i];
		uint8_t t = i < takes ? (uint8_t)sig[i] : 0;
		for (size_t k = 0; k < sizeof(prefixes) / sizeof(prefixes[0]); k++) {
			size_t l = strlen(prefixes[k].prefix);
			if (!strncmp(v, prefixes[k].prefix, l)) {
				t = prefixes[k].type;
				v += l;
				break;
			}
		}
		if (!t)
			return bad(words[i], "past the function's arguments, and no TYPE: prefix");
		if (parse_value(words[i], v, t, pool, &vals[i]))
			return -1;
	}
	return 0;
}

/* Length of the well-formed UTF-8 sequence at p (of n bytes), or 0. */
static uint32_t utf8_len(const uint8_t *p, uint32_t n)
{
	uint32_t len = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 ? 2 : 0;

	if (!len || len > n)
		return 0;
	for (uint32_t i = 1; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

/* A str result quoted, controls, quote, backslash and bytes that are not
 * UTF-8 escaped: it came from the guest and goes to a terminal. */
static void print_str(const uint8_t *p, uint32_t n)
{
	printf(" \"");
	for (uint32_t i = 0; i < n; i++) {
		uint32_t u = p[i] >= 0x80 ? utf8_len(p + i, n - i) : 0;
		if (u) {
			fwrite(p + i, 1, u, stdout);
			i += u - 1;
		} else if (p[i] < 0x20 || p[i] >= 0x7f || p[i] == '"' || p[i] == '\\') {
			printf("\\x%02x", p[i]);
		} else {
			putchar(p[i]);
		}
	}
	printf("\"");
}

void cli_typed_print(int32_t status, const struct nub_value *v)
{
	printf("status %d, %s", status, nub_type_name(v->type));
	switch (v->type) {
	case NUB_T_I32:
		printf(" %d", v->v.i32);
		break;
	case NUB_T_I64:
		printf(" %lld", (long long)v->v.i64);
		break;
	case NUB_T_U32:
		printf(" %u", v->v.u32);
		break;
	case NUB_T_U64:
		printf(" %llu", (unsigned long long)v->v.u64);
		break;
	case NUB_T_F32:
		printf(" %.9g", (double)v->v.f32);
		break;
	case NUB_T_F64:
		printf(" %.17g", v->v.f64);
		break;
	case NUB_T_BOOL:
		printf(" %s", v->v.b ? "true" : "false");
		break;
	case NUB_T_STR:
		print_str(v->v.buf.p, v->v.buf.len);
		break;
	case NUB_T_BYTES:
		printf(" ");
		for (uint32_t i = 0; i < v->v.buf.len && i < 256; i++)
			printf("%02x", ((const uint8_t *)v->v.buf.p)[i]);
		break;
	default:
		break;
	}
	printf("\n");
}
