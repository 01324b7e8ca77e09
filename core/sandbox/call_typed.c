/* SPDX-License-Identifier: MIT */
/*
 * Typed calls, host side (nub_sandbox_call_typed): the values encoded
 * (include/nub/typed.h), one byte call, the one result value decoded --
 * untrusted, as everything the guest answers. The guest checks the values
 * against the function's signature (guest/lib/rt_typed.c); its refusal
 * comes back as status NUB_EINVAL with the reason as text, made here into
 * an error naming the function.
 */
#include <string.h>

#include "sandbox/sandbox_internal.h"

static int typed_refused(struct nub_sandbox *sb, uint32_t fn_id, int code, const uint8_t *text,
                         size_t len, const char *what)
{
	/* A typed function may return these statuses itself, without text. */
	if (!len)
		return nub_sandbox_fail(sb, code, "call_typed: function %u returned %s", fn_id,
		                        nub_strerror(code));
	return nub_sandbox_fail(sb, code, "call_typed: function %u%s: %.*s", fn_id, what,
	                        (int)(len > 200 ? 200 : len), (const char *)text);
}

static int sandbox_call_typed(struct nub_sandbox *sb, uint32_t fn_id, const struct nub_value *args,
                              uint32_t nargs, struct nub_value *ret, uint8_t *buf, size_t cap,
                              int32_t *status)
{
	size_t len = 0, got = 0;
	uint32_t n = 0;
	int rc;

	if (!ret || !status || (!buf && cap) || (!args && nargs))
		return nub_sandbox_fail(sb, NUB_EINVAL, "call_typed: NULL argument");
	*ret = (struct nub_value){.type = NUB_T_VOID};
	*status = 0;
	rc = nub_typed_encode(args, nargs, buf, cap, &len);
	if (rc)
		return nub_sandbox_fail(sb, rc, "call_typed: function %u: %s", fn_id,
		                        rc == NUB_EFULL ? "the buffer cannot hold the arguments"
		                                        : "an argument cannot be encoded (type, "
		                                          "bool value, or more than 16 values)");
	rc = nub_sandbox_call(sb, fn_id, buf, len, buf, cap, &got, status);
	if (rc)
		return rc;
	if (*status == NUB_EINVAL)
		return typed_refused(sb, fn_id, NUB_EINVAL, buf, got, "");
	if (*status == NUB_ECORRUPT)
		return typed_refused(sb, fn_id, NUB_ECORRUPT, buf, got, " broke its signature");
	if (*status == NUB_ENOTFOUND)
		return nub_sandbox_fail(sb, NUB_ENOTFOUND, "call_typed: no function %u", fn_id);
	if (*status)
		return 0;
	if (got > cap)
		return nub_sandbox_fail(sb, NUB_ERANGE,
		                        "call_typed: function %u: result of %zu bytes, the buffer "
		                        "holds %zu",
		                        fn_id, got, cap);
	if (nub_typed_decode(buf, got, ret, 1, &n) || n != 1)
		return nub_sandbox_fail(
		        sb, NUB_ECORRUPT,
		        "call_typed: function %u: its result is not one typed value", fn_id);
	return 0;
}

int nub_sandbox_call_typed(struct nub_sandbox *sb, uint32_t fn_id, const struct nub_value *args,
                           uint32_t nargs, struct nub_value *ret, void *buf, size_t cap,
                           int32_t *status)
{
	if (!sb)
		return NUB_EINVAL;
	return nub_sandbox_result(
	        sb, sandbox_call_typed(sb, fn_id, args, nargs, ret, buf, cap, status));
}
