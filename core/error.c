/* SPDX-License-Identifier: MIT */
#include "error_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const err_names[] = {
        "NUB_OK",           "NUB_EINVAL",        "NUB_ENOMEM",      "NUB_ERANGE",
        "NUB_EOVERFLOW",    "NUB_ENOTFOUND",     "NUB_ENOSYM",      "NUB_EABI",
        "NUB_ESHORT",       "NUB_ESLOT",         "NUB_EPROBE",      "NUB_EUNSUPPORTED",
        "NUB_ESYS",         "NUB_ECORRUPT",      "NUB_EELF",        "NUB_EFULL",
        "NUB_EEMPTY",       "NUB_ESTATE",        "NUB_EPOISONED",   "NUB_EGUEST_ABORT",
        "NUB_EGUEST_FAULT", "NUB_ETRIPLE_FAULT", "NUB_EMMIO",       "NUB_EPORT",
        "NUB_ECANCELLED",   "NUB_ETIMEDOUT",     "NUB_EBACKEND",    "NUB_EMISMATCH",
        "NUB_EHOST_FN",     "NUB_EIO",           "NUB_EPRIVILEGED",
};

_Static_assert(sizeof(err_names) / sizeof(err_names[0]) == (size_t)(-NUB_ERR_MIN_) + 1,
               "every error code has a name");

const char *nub_strerror(int code)
{
	if (code > 0 || code < NUB_ERR_MIN_)
		return "NUB_E?";
	return err_names[-code];
}

int nub_error_valid_code(int code)
{
	return code <= 0 && code >= NUB_ERR_MIN_;
}

int nub_error_setv(struct nub_error *err, int code, const char *fmt, va_list ap)
{
	if (!err)
		return code;
	err->code = code;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	return code;
}

int nub_error_set(struct nub_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	nub_error_setv(err, code, fmt, ap);
	va_end(ap);
	return code;
}

int nub_error_prefix(struct nub_error *err, const char *fmt, ...)
{
	char prefix[NUB_ERROR_MSG_MAX];
	const size_t cap = sizeof(err->msg);
	size_t plen, olen;
	va_list ap;

	if (!err)
		return 0;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	/* "prefix: old", truncated to the buffer; the old text moves first. */
	plen = strnlen(prefix, cap - 3);
	olen = strnlen(err->msg, cap - 1);
	if (olen > cap - 1 - plen - 2)
		olen = cap - 1 - plen - 2;
	memmove(err->msg + plen + 2, err->msg, olen);
	memcpy(err->msg, prefix, plen);
	err->msg[plen] = ':';
	err->msg[plen + 1] = ' ';
	err->msg[plen + 2 + olen] = '\0';
	return err->code;
}
