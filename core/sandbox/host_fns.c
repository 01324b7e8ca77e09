/* SPDX-License-Identifier: MIT */
/*
 * The host functions a sandbox provides, and the contract a snapshot
 * records: a snapshot captured after init needs every host function the
 * sandbox it came from registered (the guest may have kept their ids), so a
 * sandbox made from it, or restored to it, that lacks one is refused at
 * evolve / restore, naming each missing id -- not when the guest first calls
 * it, which may be in production, hours later.
 */
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

	for (uint32_t id = 0; id < NUB_MAX_HOST_FNS; id++) {
		if (!(snap->host_fns[id / 64] >> (id % 64) & 1) || sb->host_fns[id].fn)
			continue;
		if (missing++ < 16 && used < sizeof(ids)) {
			int n = snprintf(ids + used, sizeof(ids) - used, "%s%u", used ? ", " : "",
			                 id);
			used += n > 0 ? (size_t)n : 0;
		}
	}
	if (!missing)
		return 0;
	return nub_sandbox_fail(sb, NUB_EMISMATCH,
	                        "%s: the snapshot needs host function%s %s%s, which this sandbox "
	                        "does not register (nub_sandbox_register before evolve)",
	                        what, missing > 1 ? "s" : "", ids, missing > 16 ? ", ..." : "");
}
