/* SPDX-License-Identifier: MIT */
/*
 * Typed calls: values of a small, self-describing encoding layered on the
 * byte calls, shared by hosts (nub_sandbox_call_typed) and guests
 * (nub_register_typed in nubguest.h). Header-only so that both sides, and a
 * guest built against the installed SDK, encode and check the same bytes.
 *
 * Encoding (little-endian): u8 count (<= NUB_TYPED_MAX_VALUES), then per
 * value a one-byte type tag and its payload: i32/u32/f32 4 bytes, i64/u64/f64
 * 8 bytes, bool 1 byte (0 or 1), str/bytes u32 length then that many bytes,
 * void nothing. A signature is the argument tags, '>', and the result tag:
 * "ilds>d" takes (i32, i64, f64, str) and returns an f64.
 *
 * Every decoded byte is untrusted: decoding checks each tag, length and
 * bool, and that the values use the bytes exactly.
 */
#ifndef NUB_TYPED_H
#define NUB_TYPED_H

#include "error.h"
#include <stddef.h>
#include <stdint.h>

/* No <string.h>: freestanding guests include this too. */
#define NUB_TYPED_COPY(d, s, n) __builtin_memcpy((d), (s), (n))

enum nub_type {
	NUB_T_VOID = 'v',
	NUB_T_I32 = 'i',
	NUB_T_I64 = 'l',
	NUB_T_U32 = 'u',
	NUB_T_U64 = 'q',
	NUB_T_F32 = 'f',
	NUB_T_F64 = 'd',
	NUB_T_BOOL = 'b',
	NUB_T_STR = 's',   /* bytes of text, not NUL-terminated */
	NUB_T_BYTES = 'y', /* bytes */
};

/** Most values in one message (arguments of a call). */
#define NUB_TYPED_MAX_VALUES 16u

/** One value. str and bytes point at memory the value does not own: the
 * caller's, or (decoded) the bytes decoded. */
struct nub_value {
	uint8_t type; /**< enum nub_type */
	union {
		int32_t i32;
		int64_t i64;
		uint32_t u32;
		uint64_t u64;
		float f32;
		double f64;
		uint8_t b; /**< 0 or 1 */
		struct {
			const void *p;
			uint32_t len;
		} buf; /**< str, bytes */
	} v;
};

/** The type's name ("i32", ... "bytes"), or "?" for an unknown tag. */
static inline const char *nub_type_name(uint8_t t)
{
	switch (t) {
	case NUB_T_VOID:
		return "void";
	case NUB_T_I32:
		return "i32";
	case NUB_T_I64:
		return "i64";
	case NUB_T_U32:
		return "u32";
	case NUB_T_U64:
		return "u64";
	case NUB_T_F32:
		return "f32";
	case NUB_T_F64:
		return "f64";
	case NUB_T_BOOL:
		return "bool";
	case NUB_T_STR:
		return "str";
	case NUB_T_BYTES:
		return "bytes";
	default:
		return "?";
	}
}

/* Payload bytes of a fixed-size type; 0 for void, -1 for str/bytes (a
 * length follows), -2 for an unknown tag. */
static inline int nub_typed_fixed_size(uint8_t t)
{
	switch (t) {
	case NUB_T_VOID:
		return 0;
	case NUB_T_BOOL:
		return 1;
	case NUB_T_I32:
	case NUB_T_U32:
	case NUB_T_F32:
		return 4;
	case NUB_T_I64:
	case NUB_T_U64:
	case NUB_T_F64:
		return 8;
	case NUB_T_STR:
	case NUB_T_BYTES:
		return -1;
	default:
		return -2;
	}
}

/**
 * Encode `n` values into buf (cap bytes); *len gets the bytes used.
 * @return 0; NUB_EINVAL for an unknown type, a bool other than 0/1 or more
 *         than NUB_TYPED_MAX_VALUES values; NUB_EFULL when buf is too small.
 */
static inline int nub_typed_encode(const struct nub_value *vals, uint32_t n, uint8_t *buf,
                                   size_t cap, size_t *len)
{
	size_t at = 1;

	if (n > NUB_TYPED_MAX_VALUES)
		return NUB_EINVAL;
	if (cap < 1)
		return NUB_EFULL;
	buf[0] = (uint8_t)n;
	for (uint32_t i = 0; i < n; i++) {
		int size = nub_typed_fixed_size(vals[i].type);
		size_t need = size >= 0 ? (size_t)size : 4 + (size_t)vals[i].v.buf.len;
		if (size == -2 || (vals[i].type == NUB_T_BOOL && vals[i].v.b > 1))
			return NUB_EINVAL;
		if (cap - at < 1 + need)
			return NUB_EFULL;
		buf[at++] = vals[i].type;
		if (size >= 0) {
			NUB_TYPED_COPY(buf + at, &vals[i].v, (size_t)size);
		} else {
			NUB_TYPED_COPY(buf + at, &vals[i].v.buf.len, 4);
			if (vals[i].v.buf.len)
				NUB_TYPED_COPY(buf + at + 4, vals[i].v.buf.p, vals[i].v.buf.len);
		}
		at += need;
	}
	*len = at;
	return 0;
}

/**
 * Decode buf (len bytes, untrusted) into at most `max` values; *n gets
 * their number. str/bytes values point into buf.
 * @return 0; NUB_ECORRUPT for an unknown tag, a bool other than 0/1, a
 *         length past the end, bytes left over, or more than `max` values.
 */
static inline int nub_typed_decode(const uint8_t *buf, size_t len, struct nub_value *vals,
                                   uint32_t max, uint32_t *n)
{
	size_t at = 1;
	uint32_t count;

	if (len < 1 || buf[0] > max || buf[0] > NUB_TYPED_MAX_VALUES)
		return NUB_ECORRUPT;
	count = buf[0];
	for (uint32_t i = 0; i < count; i++) {
		if (at >= len)
			return NUB_ECORRUPT;
		uint8_t t = buf[at++];
		int size = nub_typed_fixed_size(t);
		vals[i] = (struct nub_value){0};
		vals[i].type = t;
		if (size == -2)
			return NUB_ECORRUPT;
		if (size >= 0) {
			if (len - at < (size_t)size)
				return NUB_ECORRUPT;
			NUB_TYPED_COPY(&vals[i].v, buf + at, (size_t)size);
			if (t == NUB_T_BOOL && vals[i].v.b > 1)
				return NUB_ECORRUPT;
			at += (size_t)size;
			continue;
		}
		uint32_t l;
		if (len - at < 4)
			return NUB_ECORRUPT;
		NUB_TYPED_COPY(&l, buf + at, 4);
		at += 4;
		if (len - at < l)
			return NUB_ECORRUPT;
		vals[i].v.buf.p = buf + at;
		vals[i].v.buf.len = l;
		at += l;
	}
	if (at != len)
		return NUB_ECORRUPT;
	*n = count;
	return 0;
}

/**
 * Whether signature `sig` ("ilds>d") is well formed: known argument tags
 * (not void), at most NUB_TYPED_MAX_VALUES of them, '>', one result tag.
 */
static inline int nub_typed_sig_ok(const char *sig)
{
	const char *gt = sig;
	while (gt && *gt && *gt != '>')
		gt++;
	if (gt && !*gt)
		gt = NULL;

	if (!gt || gt - sig > (ptrdiff_t)NUB_TYPED_MAX_VALUES || !gt[1] || gt[2] ||
	    nub_typed_fixed_size((uint8_t)gt[1]) == -2)
		return 0;
	for (const char *p = sig; p < gt; p++)
		if (*p == NUB_T_VOID || nub_typed_fixed_size((uint8_t)*p) == -2)
			return 0;
	return 1;
}

/**
 * How `n` values differ from the arguments of (well-formed) signature
 * `sig`: 0 when they match; -1 when their number differs (*want = the
 * signature's); else the 1-based position of the first of another type.
 * Both sides of a typed call check with it and name the result.
 */
static inline int nub_typed_mismatch(const struct nub_value *vals, uint32_t n, const char *sig,
                                     uint32_t *want)
{
	uint32_t takes = 0;

	while (sig[takes] != '>')
		takes++;
	*want = takes;
	if (n != takes)
		return -1;
	for (uint32_t i = 0; i < n; i++)
		if (vals[i].type != (uint8_t)sig[i])
			return (int)i + 1;
	return 0;
}

#endif
