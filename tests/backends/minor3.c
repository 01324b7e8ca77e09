/* SPDX-License-Identifier: MIT */
/* A backend built against ABI 1.3, before NUB_VM_GPA_WINDOW: like KVM's of
 * that minor it refuses any flag but NUB_VM_MMIO_ENDS_AT_PAGE_END, and
 * insists on that one. */
#include "fake_slots.h"

static int minor3_vm_create(const struct nub_vm_config *c, struct nub_vm **o, char *e, size_t n)
{
	if (c->flags != NUB_VM_MMIO_ENDS_AT_PAGE_END) {
		snprintf(e, n, "vm_config flags 0x%x, want 0x%x", c->flags,
		         (unsigned)NUB_VM_MMIO_ENDS_AT_PAGE_END);
		return NUB_EINVAL;
	}
	*o = (struct nub_vm *)1;
	return 0;
}

static const struct nub_backend_ops ops = {FAKE_OPS_INIT("minor3"), .abi_minor = 3,
                                           .vm_create = minor3_vm_create};
FAKE_ENTRY(ops)
