/* SPDX-License-Identifier: MIT */
/* Internal helpers for filling a struct nub_error. */
#ifndef NUB_CORE_ERROR_INTERNAL_H
#define NUB_CORE_ERROR_INTERNAL_H

#include <stdarg.h>

#include <nub/error.h>

/* Store code and a printf-style message in *err (if non-NULL); returns code
 * so callers can write `return nub_error_set(err, NUB_EINVAL, ...)`. */
int nub_error_set(struct nub_error *err, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* nub_error_set with a va_list. */
int nub_error_setv(struct nub_error *err, int code, const char *fmt, va_list ap)
        __attribute__((format(printf, 3, 0)));

/* Prepend "prefix: " to the message already in *err; returns err->code. */
int nub_error_prefix(struct nub_error *err, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/* Whether code is 0 or one of enum nub_err. */
int nub_error_valid_code(int code);

#endif
