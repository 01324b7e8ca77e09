/* SPDX-License-Identifier: MIT */
/*
 * The host functions a sandbox provides, and the contract a snapshot
 * records: a snapshot captured after init needs every host function the
 * sandbox it came from registered (the guest may have kept their ids), so a
 * sandbox made from it, or restored to it, that lacks one is refused at
 * evolve / restore, naming each missing id -- not when the guest first calls
 * it, which may be in production, hours later.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sandbox/sandbox_internal.h"

_Static_assert(NUB_MAX_HOST_FNS == NUB_SNAPSHOT_HOST_FNS, "one id space");

static int sandbox_register(struct nub_sandbox *sb, uint32_t id, nub_host_fn fn, void *user)
{
	if (!fn || id >= NUB_MAX_HOST_FNS)
		return nub_sandbox_fail(sb, NUB_EINVAL, "register: host function %u %s", id,
		                        fn ? "id out of range" : "is NULL");
	sb->host_fns[id].fn = fn;
	sb->host_fns[id].user = user;
	return 0;
}

int nub_sandbox_register(struct nub_sandbox *sb, uint32_t id, nub_host_fn fn, void *user)
{
	if (!sb)
		return NUB_EINVAL;
	return nub_sandbox_result(sb, sandbox_register(sb, id, fn, user));
}

/* "<reason>" as the answer's text, with `status`. */
static int32_t typed_refuse(int32_t status, uint8_t *out, size_t cap, size_t *out_len,
                            const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int32_t typed_refuse(int32_t status, uint8_t *out, size_t cap, size_t *out_len,
                            const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf((char *)out, cap, fmt, ap);
	va_end(ap);
	*out_len = n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap ? cap - 1 : 0;
	return status;
}

/* The byte host function behind every typed one: the guest's values
 * (untrusted) decoded and checked against the signature, the result
 * encoded. */
static int32_t typed_host_entry(void *user, const uint8_t *in, size_t in_len, uint8_t *out,
                                size_t cap, size_t *out_len)
{
	const struct nub_typed_host *t = user;
	struct nub_value args[NUB_TYPED_MAX_VALUES], ret = {0};
	uint32_t n = 0, want = 0;
	size_t len = 0;
	int32_t status;
	int bad;

	if (nub_typed_decode(in, in_len, args, NUB_TYPED_MAX_VALUES, &n))
		return typed_refuse(NUB_EINVAL, out, cap, out_len,
		                    "arguments are not typed values");
	bad = nub_typed_mismatch(args, n, t->sig, &want);
	if (bad < 0)
		return typed_refuse(NUB_EINVAL, out, cap, out_len,
		                    "%u argument%s given, the function takes %u", n,
		                    n == 1 ? "" : "s", want);
	if (bad)
		return typed_refuse(NUB_EINVAL, out, cap, out_len,
		                    "argument %d is %s, the function takes %s", bad,
		                    nub_type_name(args[bad - 1].type),
		                    nub_type_name((uint8_t)t->sig[bad - 1]));
	ret.type = (uint8_t)t->sig[want + 1];
	status = t->fn(t->user, args, n, &ret);
	if (status)
		return status;
	if (ret.type != (uint8_t)t->sig[want + 1])
		return typed_refuse(NUB_ECORRUPT, out, cap, out_len,
		                    "the host function returned %s, its signature says %s",
		                    nub_type_name(ret.type),
		                    nub_type_name((uint8_t)t->sig[want + 1]));
	if (nub_typed_encode(&ret, 1, out, cap, &len))
		return NUB_EFULL;
	*out_len = len;
	return 0;
}

static int sandbox_register_typed(struct nub_sandbox *sb, uint32_t id, const char *sig,
                                  nub_typed_host_fn fn, void *user)
{
	if (!fn || id >= NUB_MAX_HOST_FNS || !nub_typed_sig_ok(sig))
		return nub_sandbox_fail(sb, NUB_EINVAL, "register_typed: host function %u: %s", id,
		                        !fn                      ? "is NULL"
		                        : id >= NUB_MAX_HOST_FNS ? "id out of range"
		                                                 : "malformed signature");
	sb->typed_host[id] = (struct nub_typed_host){sig, fn, user};
	return sandbox_register(sb, id, typed_host_entry, &sb->typed_host[id]);
}

int nub_sandbox_register_typed(struct nub_sandbox *sb, uint32_t id, const char *sig,
                               nub_typed_host_fn fn, void *user)
{
	if (!sb)
		return NUB_EINVAL;
	return nub_sandbox_result(sb, sandbox_register_typed(sb, id, sig, fn, user));
}

void nub_sandbox_host_fn_bits(const struct nub_sandbox *sb, uint64_t *bits)
{
	memset(bits, 0, NUB_SNAPSHOT_HOST_FN_WORDS * sizeof(*bits));
	for (uint32_t id = 0; id < NUB_MAX_HOST_FNS; id++)
		if (sb->host_fns[id].fn)
			bits[id / 64] |= 1ull << (id % 64);
}

int nub_sandbox_check_host_fns(struct nub_sandbox *sb, const struct nub_snapshot *snap,
                               const char *what)
{
	char ids[160];
	size_t used = 0;
	unsigned missing = 0;

	_Static_assert(NUB_SNAPSHOT_HOST_FN_WORDS * 64 == NUB_MAX_HOST_FNS,
	               "a bit of the snapshot's set per host function id");
	/* The set bits only: every restore checks, and most snapshots need
	 * none or a few of the 256 ids. */
	for (uint32_t w = 0; w < NUB_SNAPSHOT_HOST_FN_WORDS; w++)
		for (uint64_t need = snap->host_fns[w]; need; need &= need - 1) {
			uint32_t id = w * 64 + (uint32_t)__builtin_ctzll(need);
			if (sb->host_fns[id].fn || missing++ >= 16 || used >= sizeof(ids))
				continue; /* registered, or past what the message names */
			int n = snprintf(ids + used, sizeof(ids) - used, "%s%u", used ? ", " : "",
			                 id);
			used += n > 0 ? (size_t)n : 0;
		}
	if (!missing)
		return 0;
	return nub_sandbox_fail(sb, NUB_EMISMATCH,
	                        "%s: the snapshot needs host function%s %s%s, which this sandbox "
	                        "does not register (nub_sandbox_register before evolve)",
	                        what, missing > 1 ? "s" : "", ids, missing > 16 ? ", ..." : "");
}
