/* SPDX-License-Identifier: MIT */
/* The bare flavour's memcmp and strlen (memcpy, memmove and memset are
 * both flavours': memcopy.c). Built with -fno-builtin
 * -fno-tree-loop-distribute-patterns so that gcc cannot recognise these
 * loops and turn them into calls to themselves. */
#include "nub_string.h"

#include <stdint.h>

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	for (; n; n--, x++, y++) {
		if (*x != *y)
			return *x < *y ? -1 : 1;
	}
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}
