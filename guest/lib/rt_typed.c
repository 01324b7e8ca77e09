/* SPDX-License-Identifier: MIT */
/*
 * Typed functions (nubguest.h: nub_register_typed): one byte-call entry for
 * all of them, which finds the function by the request's id, decodes the
 * arguments (include/nub/typed.h), checks them against the signature and
 * encodes the result. A request that does not match is answered with
 * NUB_EINVAL and the reason as text, before the function sees anything.
 */
#include <nubguest.h>

#include "rt.h"

/* `status` with the reason as the result's text. */
static int32_t refuse(int32_t status, uint8_t *out, uint32_t cap, uint32_t *out_len,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int32_t refuse(int32_t status, uint8_t *out, uint32_t cap, uint32_t *out_len,
                      const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = nub_vsnprintf((char *)out, cap, fmt, ap);
	va_end(ap);
	*out_len = n < 0 ? 0 : (uint32_t)n < cap ? (uint32_t)n : cap ? cap - 1 : 0;
	return status;
}

static int32_t typed_entry(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t cap,
                           uint32_t *out_len)
{
	const struct rt_fn *t = rt_current_fn();
	struct nub_value args[NUB_TYPED_MAX_VALUES], ret = {0};
	uint32_t n = 0, want = 0;
	size_t len = 0;
	int32_t status;
	int bad;

	if (!t || !t->typed)
		return NUB_ENOTFOUND;
	if (nub_typed_decode(in, in_len, args, NUB_TYPED_MAX_VALUES, &n))
		return refuse(NUB_EINVAL, out, cap, out_len, "arguments are not typed values");
	bad = nub_typed_mismatch(args, n, t->sig, &want);
	if (bad < 0)
		return refuse(NUB_EINVAL, out, cap, out_len,
		              "%u argument%s given, the function takes %u", n, n == 1 ? "" : "s",
		              want);
	if (bad)
		return refuse(NUB_EINVAL, out, cap, out_len,
		              "argument %d is %s, the function takes %s", bad,
		              nub_type_name(args[bad - 1].type),
		              nub_type_name((uint8_t)t->sig[bad - 1]));
	ret.type = (uint8_t)t->sig[want + 1];
	status = t->typed(args, n, &ret);
	if (status)
		return status;
	/* The program broke its own signature: not the caller's fault. */
	if (ret.type != (uint8_t)t->sig[want + 1])
		return refuse(NUB_ECORRUPT, out, cap, out_len,
		              "the function returned %s, its "
		              "signature says %s",
		              nub_type_name(ret.type), nub_type_name((uint8_t)t->sig[want + 1]));
	if (nub_typed_encode(&ret, 1, out, cap, &len))
		return NUB_EFULL;
	*out_len = (uint32_t)len;
	return 0;
}

int nub_register_typed(uint32_t id, const char *name, const char *sig, nub_typed_fn fn)
{
	if (!fn || !nub_typed_sig_ok(sig))
		return NUB_EINVAL;
	return rt_register(id, name, sig, fn, typed_entry);
}

int nub_call_host_typed(uint32_t fn_id, const struct nub_value *args, uint32_t nargs,
                        struct nub_value *ret, void *buf, uint32_t cap)
{
	size_t len = 0;
	uint32_t got = 0, n = 0;
	int rc;

	*ret = (struct nub_value){.type = NUB_T_VOID};
	rc = nub_typed_encode(args, nargs, buf, cap, &len);
	if (rc)
		return rc;
	rc = nub_call_host(fn_id, buf, (uint32_t)len, buf, cap, &got);
	if (rc == NUB_EINVAL || rc == NUB_ECORRUPT) { /* the host's reason, as text */
		ret->type = NUB_T_STR;
		ret->v.buf.p = buf;
		ret->v.buf.len = got < cap ? got : cap;
		return rc;
	}
	if (rc)
		return rc;
	if (nub_typed_decode(buf, got, ret, 1, &n) || n != 1) {
		*ret = (struct nub_value){.type = NUB_T_VOID};
		return NUB_ECORRUPT;
	}
	return 0;
}
