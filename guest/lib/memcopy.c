/* SPDX-License-Identifier: MIT */
/*
 * memcpy, memmove and memset of both runtime flavours (instead of musl's,
 * whose memcpy is a `rep movsq` for every size: 16% of a JSON-heavy
 * Duktape request). Small sizes, the common case in interpreters, take a
 * few overlapping general-register moves; large ones the CPU's fast string
 * instructions. General registers only: the runtime's system-call path
 * calls these, and a guest's `syscall` must find its vector registers as
 * it left them. Built with -fno-builtin -fno-tree-loop-distribute-patterns
 * so that gcc cannot turn these loops into calls to themselves.
 */
#include <stdint.h>

#include "nub_string.h"

typedef uint64_t __attribute__((may_alias, aligned(1))) u64_any;
typedef uint32_t __attribute__((may_alias, aligned(1))) u32_any;

#define MOVS_FROM 256 /* rep movsb/stosb wins from about here */

/* n <= 16: the first and last 8 (4, 1) bytes, overlapping in the middle. */
static void copy_small(unsigned char *d, const unsigned char *s, size_t n)
{
	if (n >= 8) {
		uint64_t a = *(const u64_any *)s, b = *(const u64_any *)(s + n - 8);
		*(u64_any *)d = a;
		*(u64_any *)(d + n - 8) = b;
	} else if (n >= 4) {
		uint32_t a = *(const u32_any *)s, b = *(const u32_any *)(s + n - 4);
		*(u32_any *)d = a;
		*(u32_any *)(d + n - 4) = b;
	} else if (n) {
		unsigned char a = s[0], b = s[n / 2], c = s[n - 1];
		d[0] = a;
		d[n / 2] = b;
		d[n - 1] = c;
	}
}

void *memcpy(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	if (n <= 16) {
		copy_small(d, s, n);
	} else if (n < MOVS_FROM) {
		/* The last 16 bytes are read first: 16-byte steps, then them. */
		uint64_t t0 = *(const u64_any *)(s + n - 16), t1 = *(const u64_any *)(s + n - 8);
		for (size_t i = 0; i + 16 <= n; i += 16) {
			uint64_t a = *(const u64_any *)(s + i), b = *(const u64_any *)(s + i + 8);
			*(u64_any *)(d + i) = a;
			*(u64_any *)(d + i + 8) = b;
		}
		*(u64_any *)(d + n - 16) = t0;
		*(u64_any *)(d + n - 8) = t1;
	} else {
		__asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
	}
	return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
	if ((uintptr_t)dst - (uintptr_t)src >= n)
		return memcpy(dst, src, n); /* no overlap, or dst below src */
	if (n <= 16) {
		copy_small(dst, src, n); /* reads everything before it writes */
		return dst;
	}
	unsigned char *d = (unsigned char *)dst + n;
	const unsigned char *s = (const unsigned char *)src + n;
	for (; n >= 8; n -= 8) {
		d -= 8;
		s -= 8;
		*(u64_any *)d = *(const u64_any *)s;
	}
	while (n--)
		*--d = *--s;
	return dst;
}

void *memset(void *dst, int c, size_t n)
{
	unsigned char *d = dst;
	uint64_t v = 0x0101010101010101ull * (unsigned char)c;

	if (n <= 16) {
		if (n >= 8) {
			*(u64_any *)d = v;
			*(u64_any *)(d + n - 8) = v;
		} else if (n >= 4) {
			*(u32_any *)d = (uint32_t)v;
			*(u32_any *)(d + n - 4) = (uint32_t)v;
		} else if (n) {
			d[0] = d[n / 2] = d[n - 1] = (unsigned char)c;
		}
	} else if (n < MOVS_FROM) {
		for (size_t i = 0; i + 8 <= n; i += 8)
			*(u64_any *)(d + i) = v;
		*(u64_any *)(d + n - 8) = v;
	} else {
		__asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
	}
	return dst;
}
