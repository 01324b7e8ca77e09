/* SPDX-License-Identifier: MIT */
/*
 * The mock backend: a VM without a hypervisor, a test double (it never
 * claims NUB_CAP_HW_ISOLATION, so `auto` never picks it). This file holds
 * the backend's slots: memory regions, registers, MSRs, XCR0 and debug
 * registers kept as the ABI says, and each run sent to one of two vCPUs.
 * Code at CPL3 (every nub guest), and the host's exception stub such code
 * enters on an exception exit, runs natively in the process vCPU
 * (mock_proc_host.c and the child it forks); other CPL0 code (the
 * conformance suite's hand-assembled tests, fuzz_mock_cpu) is interpreted
 * (mock_cpu.c).
 */
#include "mock.h"
#include "mock_proc.h"
#include "options.h"

#include <errno.h>
#include <nub/guest_abi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Power-on values of the vCPU state. */
static void mock_reset_state(struct nub_vm *vm)
{
	memset(&vm->regs, 0, sizeof(vm->regs));
	memset(&vm->sregs, 0, sizeof(vm->sregs));
	memset(&vm->fpu, 0, sizeof(vm->fpu));
	vm->regs.rflags = 2;
	vm->fpu.fcw = 0x37f;
	vm->fpu.mxcsr = 0x1f80;
	vm->xcr0 = 1;
	memset(&vm->dr, 0, sizeof(vm->dr));
	vm->dr.dr6 = 0xffff0ff0;
	vm->dr.dr7 = 0x400;
	vm->pending.active = 0;
}

static int mock_probe(char *err, size_t err_cap)
{
	(void)err;
	(void)err_cap;
	return 0;
}

/* An option refused: its key and value (clipped, it is the caller's, of any
 * length) and what is wanted instead. */
static int mock_refuse_option(const struct nub_option *o, const char *want, char *err,
                              size_t err_cap)
{
	snprintf(err, err_cap, "option %.*s=%.*s: %s", (int)o->key_len, o->key,
	         (int)(o->value_len < 20 ? o->value_len : 20), o->value ? o->value : "", want);
	return -1;
}

/* The window a VM gets when its config allows one and no option says:
 * not 0, so that every test on the mock runs core's window arithmetic
 * (hv.h), which a backend sharing one hypervisor VM among sandboxes needs. */
#define MOCK_DEFAULT_WINDOW 1u

/* Options, comma-separated: "budget=N" stops interpreting CPL0 code after
 * N instructions (fuzzing); "window=N" places the guest-physical window at
 * N * NUB_GPA_LIMIT (needs NUB_VM_GPA_WINDOW; 0 for the old placement).
 * Anything else is ignored. */
static int mock_parse_options(struct nub_vm *vm, const struct nub_vm_config *cfg, char *err,
                              size_t err_cap)
{
	const int windowed = (cfg->flags & NUB_VM_GPA_WINDOW) != 0;
	uint64_t window = windowed ? MOCK_DEFAULT_WINDOW : 0;
	struct nub_option o;

	for (const char *at = cfg->options; nub_option_next(&at, &o);) {
		if (nub_option_is(&o, "budget") && nub_option_u64(&o, 0, UINT64_MAX, &vm->budget))
			return mock_refuse_option(&o, "want a decimal count", err, err_cap);
		if (nub_option_is(&o, "window") &&
		    (nub_option_u64(&o, 0, NUB_GPA_WINDOW_MAX, &window) || (window && !windowed))) {
			char want[96];
			snprintf(want, sizeof(want),
			         "want 0 to %llu, and a core that asks for NUB_VM_GPA_WINDOW",
			         (unsigned long long)NUB_GPA_WINDOW_MAX);
			return mock_refuse_option(&o, want, err, err_cap);
		}
	}
	vm->gpa_base = window * NUB_GPA_LIMIT;
	return 0;
}

static int mock_get_gpa_base(struct nub_vm *vm, uint64_t *base, char *err, size_t err_cap)
{
	(void)err;
	(void)err_cap;
	*base = vm->gpa_base;
	return 0;
}

static int mock_vm_create(const struct nub_vm_config *cfg, struct nub_vm **out, char *err,
                          size_t err_cap)
{
	struct nub_vm *vm;

	if (!cfg || cfg->struct_size < offsetof(struct nub_vm_config, options)) {
		snprintf(err, err_cap, "vm_config too small");
		return NUB_EINVAL;
	}
	vm = calloc(1, sizeof(*vm));
	if (!vm) {
		snprintf(err, err_cap, "out of memory");
		return NUB_ENOMEM;
	}
	vm->mem_limit = cfg->mem_limit;
	atomic_init(&vm->interrupt_pending, 0);
	mock_reset_state(vm);
	if (mock_parse_options(vm, cfg, err, err_cap)) {
		free(vm);
		return NUB_EINVAL;
	}
	*out = vm;
	return 0;
}

static void mock_vm_destroy(struct nub_vm *vm)
{
	if (!vm)
		return;
	mock_proc_destroy(vm);
	free(vm);
}

static int mock_map_region(struct nub_vm *vm, const struct nub_region *r, char *err, size_t err_cap)
{
	if (r->slot >= MOCK_MAX_SLOTS || vm->regions[r->slot].size) {
		snprintf(err, err_cap, "slot %u invalid or in use", r->slot);
		return NUB_EINVAL;
	}
	for (unsigned i = 0; i < MOCK_MAX_SLOTS; i++) {
		const struct nub_region *o = &vm->regions[i];
		if (o->size && r->gpa < o->gpa + o->size && o->gpa < r->gpa + r->size) {
			snprintf(err, err_cap, "region [0x%llx,+0x%llx) overlaps slot %u",
			         (unsigned long long)r->gpa, (unsigned long long)r->size, i);
			return NUB_EINVAL;
		}
	}
	vm->regions[r->slot] = *r;
	mock_proc_memory_changed(vm);
	return 0;
}

static int mock_unmap_region(struct nub_vm *vm, uint32_t slot, char *err, size_t err_cap)
{
	if (slot >= MOCK_MAX_SLOTS || !vm->regions[slot].size) {
		snprintf(err, err_cap, "slot %u not mapped", slot);
		return NUB_EINVAL;
	}
	memset(&vm->regions[slot], 0, sizeof(vm->regions[slot]));
	mock_proc_memory_changed(vm);
	return 0;
}

#define MOCK_COPY_SLOT(fn, field, type, dir_in)                                                    \
	static int fn(struct nub_vm *vm, type *v, char *err, size_t err_cap)                       \
	{                                                                                          \
		(void)err;                                                                         \
		(void)err_cap;                                                                     \
		if (dir_in)                                                                        \
			memcpy(&vm->field, v, sizeof(vm->field));                                  \
		else                                                                               \
			memcpy((void *)v, &vm->field, sizeof(vm->field));                          \
		return 0;                                                                          \
	}

MOCK_COPY_SLOT(mock_set_regs_, regs, struct nub_regs, 1)
MOCK_COPY_SLOT(mock_get_regs, regs, struct nub_regs, 0)
MOCK_COPY_SLOT(mock_set_sregs_, sregs, struct nub_sregs, 1)
MOCK_COPY_SLOT(mock_get_sregs, sregs, struct nub_sregs, 0)
MOCK_COPY_SLOT(mock_set_fpu_, fpu, struct nub_fpu, 1)
MOCK_COPY_SLOT(mock_get_fpu, fpu, struct nub_fpu, 0)
MOCK_COPY_SLOT(mock_set_debugregs_, dr, struct nub_debugregs, 1)
MOCK_COPY_SLOT(mock_get_debugregs, dr, struct nub_debugregs, 0)

static int mock_set_regs(struct nub_vm *vm, const struct nub_regs *r, char *e, size_t c)
{
	vm->pending.active = 0; /* a new RIP abandons an unfinished in/read */
	vm->proc_regs_dirty = 1;
	return mock_set_regs_(vm, (struct nub_regs *)r, e, c);
}

static int mock_set_sregs(struct nub_vm *vm, const struct nub_sregs *s, char *e, size_t c)
{
	mock_proc_sregs_set(vm, s);
	vm->proc_sregs_dirty = 1;
	return mock_set_sregs_(vm, (struct nub_sregs *)s, e, c);
}

static int mock_set_fpu(struct nub_vm *vm, const struct nub_fpu *f, char *e, size_t c)
{
	vm->proc_fpu_dirty = 1;
	return mock_set_fpu_(vm, (struct nub_fpu *)f, e, c);
}

static int mock_set_debugregs(struct nub_vm *vm, const struct nub_debugregs *d, char *e, size_t c)
{
	/* As the CPU: the upper halves of DR6/DR7 must be zero. */
	if ((d->dr6 >> 32) || (d->dr7 >> 32)) {
		snprintf(e, c, "DR6/DR7 upper halves must be zero");
		return NUB_EINVAL;
	}
	return mock_set_debugregs_(vm, (struct nub_debugregs *)d, e, c);
}

static int mock_set_xcr0(struct nub_vm *vm, uint64_t xcr0, char *err, size_t err_cap)
{
	/* x87 state must stay enabled, as on real hardware (#GP otherwise). */
	if (!(xcr0 & 1)) {
		snprintf(err, err_cap, "XCR0 0x%llx lacks x87 bit", (unsigned long long)xcr0);
		return NUB_EINVAL;
	}
	vm->xcr0 = xcr0;
	return 0;
}

static int mock_get_xcr0(struct nub_vm *vm, uint64_t *xcr0, char *err, size_t err_cap)
{
	(void)err;
	(void)err_cap;
	*xcr0 = vm->xcr0;
	return 0;
}

static struct nub_msr *msr_find(struct nub_vm *vm, uint32_t index)
{
	for (unsigned i = 0; i < vm->nmsrs; i++)
		if (vm->msrs[i].index == index)
			return &vm->msrs[i];
	return NULL;
}

static int mock_set_msrs(struct nub_vm *vm, const struct nub_msr *msrs, uint32_t count, char *err,
                         size_t err_cap)
{
	for (uint32_t i = 0; i < count; i++) {
		struct nub_msr *m = msr_find(vm, msrs[i].index);
		if (!m && vm->nmsrs == MOCK_MAX_MSRS) {
			snprintf(err, err_cap, "more than %u distinct MSRs", MOCK_MAX_MSRS);
			return NUB_EFULL;
		}
		if (!m)
			m = &vm->msrs[vm->nmsrs++];
		*m = msrs[i];
	}
	return 0;
}

uint64_t mock_msr_value(const struct nub_vm *vm, uint32_t index)
{
	for (unsigned i = 0; i < vm->nmsrs; i++)
		if (vm->msrs[i].index == index)
			return vm->msrs[i].value;
	return 0;
}

/* An MSR never written reads as 0. */
static int mock_get_msrs(struct nub_vm *vm, struct nub_msr *msrs, uint32_t count, char *err,
                         size_t err_cap)
{
	(void)err;
	(void)err_cap;
	for (uint32_t i = 0; i < count; i++) {
		const struct nub_msr *m = msr_find(vm, msrs[i].index);
		msrs[i].value = m ? m->value : 0;
	}
	return 0;
}

static int mock_interrupt(struct nub_vm *vm)
{
	atomic_store(&vm->interrupt_pending, 1);
	return mock_proc_interrupt(vm);
}

static void mock_clear_interrupt(struct nub_vm *vm)
{
	atomic_store(&vm->interrupt_pending, 0);
	mock_proc_clear_interrupt(vm);
}

static int mock_run_vcpu(struct nub_vm *vm, struct nub_exit *exit, char *err, size_t err_cap)
{
	/* Guests at CPL3 (every nub guest) run natively in a child process;
	 * CPL0 code (the conformance suite's) is interpreted. */
	if ((vm->sregs.cs.selector & 3) == 3 || (vm->proc && vm->sregs.cs.selector == 0x08))
		return mock_proc_run(vm, exit, err, err_cap);
	return mock_cpu_run(vm, exit, err, err_cap);
}

static const struct nub_backend_ops mock_ops = {
        .abi_major = NUB_BACKEND_ABI_MAJOR,
        .abi_minor = NUB_BACKEND_ABI_MINOR,
        .struct_size = sizeof(struct nub_backend_ops),
        .caps = NUB_CAP_READONLY_MEM | NUB_CAP_SHARED_MEMORY | NUB_CAP_HOST_XSTATE |
                NUB_CAP_SYSCALL_AT_CPL3,
        .name = "mock",
        .probe = mock_probe,
        .vm_create = mock_vm_create,
        .vm_destroy = mock_vm_destroy,
        .map_region = mock_map_region,
        .unmap_region = mock_unmap_region,
        .set_regs = mock_set_regs,
        .get_regs = mock_get_regs,
        .set_sregs = mock_set_sregs,
        .get_sregs = mock_get_sregs,
        .run_vcpu = mock_run_vcpu,
        .interrupt = mock_interrupt,
        .clear_interrupt = mock_clear_interrupt,
        .set_fpu = mock_set_fpu,
        .get_fpu = mock_get_fpu,
        .set_xcr0 = mock_set_xcr0,
        .get_xcr0 = mock_get_xcr0,
        .set_msrs = mock_set_msrs,
        .get_msrs = mock_get_msrs,
        .set_debugregs = mock_set_debugregs,
        .get_debugregs = mock_get_debugregs,
        .get_gpa_base = mock_get_gpa_base,
};

NUB_BACKEND_EXPORT const struct nub_backend_ops *nub_backend_entry(void)
{
	return &mock_ops;
}
