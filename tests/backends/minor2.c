/* SPDX-License-Identifier: MIT */
/* A backend built against ABI 1.2, before nub_vm_config had flags: like
 * KVM's of that minor it refuses any flag, so core must send it none. */
#include "fake_slots.h"

static int minor2_vm_create(const struct nub_vm_config *c, struct nub_vm **o, char *e, size_t n)
{
	if (c->flags) {
		snprintf(e, n, "vm_config flags 0x%x are reserved", c->flags);
		return NUB_EINVAL;
	}
	*o = (struct nub_vm *)1;
	return 0;
}

static const struct nub_backend_ops ops = {FAKE_OPS_INIT("minor2"), .abi_minor = 2,
                                           .vm_create = minor2_vm_create};
FAKE_ENTRY(ops)
