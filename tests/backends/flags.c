/* SPDX-License-Identifier: MIT */
/* A backend of this minor that insists on core's promises in
 * nub_vm_config.flags: every VM core creates comes with
 * NUB_VM_MMIO_ENDS_AT_PAGE_END and NUB_VM_GPA_WINDOW. */
#include "fake_slots.h"

static int flags_vm_create(const struct nub_vm_config *c, struct nub_vm **o, char *e, size_t n)
{
	const uint32_t want = NUB_VM_MMIO_ENDS_AT_PAGE_END | NUB_VM_GPA_WINDOW;

	if (c->flags != want) {
		snprintf(e, n, "vm_config flags 0x%x, want 0x%x", c->flags, (unsigned)want);
		return NUB_EINVAL;
	}
	*o = (struct nub_vm *)1;
	return 0;
}

static const struct nub_backend_ops ops = {FAKE_OPS_INIT("flags"), .vm_create = flags_vm_create};
FAKE_ENTRY(ops)
