/* SPDX-License-Identifier: MIT */
/* mem* declarations for code compiled both for the guest (freestanding:
 * the runtime's own string.c) and for host unit tests (libc). */
#ifndef NUB_GUEST_STRING_H
#define NUB_GUEST_STRING_H

#include <stddef.h>

#if __STDC_HOSTED__
#include <string.h>
#else
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
#endif

#endif
