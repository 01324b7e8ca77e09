/* SPDX-License-Identifier: MIT */
/*
 * A minimal third-party backend, the one docs/writing-a-backend.md walks
 * through. It keeps memory regions and registers as a real backend must,
 * and its "vCPU" executes nothing: every run ends in a halt (or a
 * cancellation when interrupted). Start a real backend from here by
 * replacing run_vcpu with a hypervisor's run loop.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nub/backend.h>

struct nub_vm {
	struct nub_region regions[32];
	struct nub_regs regs;
	struct nub_sregs sregs;
	atomic_int interrupt_pending;
};

static int ex_probe(char *err, size_t err_cap)
{
	(void)err;
	(void)err_cap;
	return 0; /* a real backend checks for its device here */
}

static int ex_vm_create(const struct nub_vm_config *cfg, struct nub_vm **out, char *err,
                        size_t err_cap)
{
	(void)cfg;
	*out = calloc(1, sizeof(**out));
	if (!*out) {
		snprintf(err, err_cap, "example: out of memory");
		return NUB_ENOMEM;
	}
	atomic_init(&(*out)->interrupt_pending, 0);
	return 0;
}

static void ex_vm_destroy(struct nub_vm *vm)
{
	free(vm);
}

static int ex_map_region(struct nub_vm *vm, const struct nub_region *r, char *err, size_t err_cap)
{
	if (r->slot >= 32 || vm->regions[r->slot].size) {
		snprintf(err, err_cap, "example: slot %u invalid or in use", r->slot);
		return NUB_EINVAL;
	}
	vm->regions[r->slot] = *r;
	return 0;
}

static int ex_unmap_region(struct nub_vm *vm, uint32_t slot, char *err, size_t err_cap)
{
	if (slot >= 32 || !vm->regions[slot].size) {
		snprintf(err, err_cap, "example: slot %u not mapped", slot);
		return NUB_EINVAL;
	}
	memset(&vm->regions[slot], 0, sizeof(vm->regions[slot]));
	return 0;
}

static int ex_set_regs(struct nub_vm *vm, const struct nub_regs *r, char *err, size_t err_cap)
{
	(void)err;
	(void)err_cap;
	vm->regs = *r;
	return 0;
}

static int ex_get_regs(struct nub_vm *vm, struct nub_regs *r, char *err, size_t err_cap)
{
	(void)err;
	(void)err_cap;
	*r = vm->regs;
	return 0;
}

static int ex_set_sregs(struct nub_vm *vm, const struct nub_sregs *s, char *err, size_t err_cap)
{
	(void)err;
	(void)err_cap;
	vm->sregs = *s;
	return 0;
}

static int ex_get_sregs(struct nub_vm *vm, struct nub_sregs *s, char *err, size_t err_cap)
{
	(void)err;
	(void)err_cap;
	*s = vm->sregs;
	return 0;
}

static int ex_run_vcpu(struct nub_vm *vm, struct nub_exit *exit, char *err, size_t err_cap)
{
	(void)err;
	(void)err_cap;
	memset(exit, 0, sizeof(*exit));
	exit->rip = vm->regs.rip;
	/* Consume a pending interrupt first: the ABI says one is never lost. */
	exit->reason =
	        atomic_exchange(&vm->interrupt_pending, 0) ? NUB_EXIT_CANCELLED : NUB_EXIT_HLT;
	return 0;
}

static int ex_interrupt(struct nub_vm *vm)
{
	atomic_store(&vm->interrupt_pending, 1);
	return 0;
}

static void ex_clear_interrupt(struct nub_vm *vm)
{
	atomic_store(&vm->interrupt_pending, 0);
}

static const struct nub_backend_ops example_ops = {
        .abi_major = NUB_BACKEND_ABI_MAJOR,
        .abi_minor = NUB_BACKEND_ABI_MINOR,
        .struct_size = sizeof(struct nub_backend_ops),
        .caps = 0, /* no read-only memory, no isolation: never chosen by auto */
        .name = "example",
        .probe = ex_probe,
        .vm_create = ex_vm_create,
        .vm_destroy = ex_vm_destroy,
        .map_region = ex_map_region,
        .unmap_region = ex_unmap_region,
        .set_regs = ex_set_regs,
        .get_regs = ex_get_regs,
        .set_sregs = ex_set_sregs,
        .get_sregs = ex_get_sregs,
        .run_vcpu = ex_run_vcpu,
        .interrupt = ex_interrupt,
        .clear_interrupt = ex_clear_interrupt,
};

NUB_BACKEND_EXPORT const struct nub_backend_ops *nub_backend_entry(void)
{
	return &example_ops;
}
