/* SPDX-License-Identifier: MIT */
/**
 * @file format.h
 * The runtime's printf subset (see nub_vsnprintf in nubguest.h). Compiles
 * freestanding (guest) and hosted (unit tests against libc's snprintf).
 */
#ifndef NUB_GUEST_FORMAT_H
#define NUB_GUEST_FORMAT_H

#include <stdarg.h>
#include <stddef.h>

int nub_vsnprintf(char *buf, size_t cap, const char *fmt, va_list ap)
        __attribute__((format(printf, 3, 0)));
int nub_snprintf(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
