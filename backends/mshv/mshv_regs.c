/* SPDX-License-Identifier: MIT */
/*
 * Registers through MSHV_ROOT_HVCALL: HVCALL_GET_VP_REGISTERS and
 * HVCALL_SET_VP_REGISTERS are rep hypercalls whose input is a 16-byte header
 * followed by one element per register (a u32 name to get, a 32-byte
 * hv_register_assoc to set); the get output is one 16-byte value per name.
 */
#include <errno.h>
#include <string.h>

#include "mshv_internal.h"

/* Enough for the largest group (FPU: 8 + 16 + 2). */
#define MSHV_MAX_REGS 32u

struct mshv_get_input {
	struct nub_hv_input_vp_registers_hdr hdr;
	uint32_t names[MSHV_MAX_REGS];
};

struct mshv_set_input {
	struct nub_hv_input_vp_registers_hdr hdr;
	struct nub_hv_register_assoc elements[MSHV_MAX_REGS];
};

static int mshv_hvcall(struct nub_vm *vm, int fd, const char *what, uint16_t code, uint16_t reps,
                       const void *in, size_t in_sz, void *out, size_t out_sz, char *err,
                       size_t err_cap)
{
	struct nub_mshv_root_hvcall args;

	memset(&args, 0, sizeof(args));
	args.code = code;
	args.reps = reps;
	args.in_sz = (uint16_t)in_sz;
	args.out_sz = (uint16_t)out_sz;
	args.in_ptr = (uint64_t)(uintptr_t)in;
	args.out_ptr = (uint64_t)(uintptr_t)out;
	if (vm->sys.ioctl(fd, NUB_MSHV_ROOT_HVCALL, &args) < 0)
		return mshv_fail(err, err_cap, NUB_ESYS, "MSHV_ROOT_HVCALL %s: %s (hv status 0x%x)",
		                 what, strerror(errno), args.status);
	if (reps && args.reps != reps)
		return mshv_fail(err, err_cap, NUB_ESYS,
		                 "MSHV_ROOT_HVCALL %s: completed %u of %u registers", what,
		                 args.reps, reps);
	return 0;
}

int mshv_set_partition_property(struct nub_vm *vm, uint32_t code, uint64_t value, char *err,
                                size_t err_cap)
{
	struct nub_hv_input_set_partition_property in;

	memset(&in, 0, sizeof(in));
	in.property_code = code;
	in.property_value = value;
	return mshv_hvcall(vm, vm->pt_fd, "HVCALL_SET_PARTITION_PROPERTY",
	                   NUB_HVCALL_SET_PARTITION_PROPERTY, 0, &in, sizeof(in), NULL, 0, err,
	                   err_cap);
}

int mshv_get_registers(struct nub_vm *vm, struct nub_hv_register_assoc *assocs, uint16_t count,
                       char *err, size_t err_cap)
{
	struct mshv_get_input in;
	union nub_hv_register_value out[MSHV_MAX_REGS];
	int rc;

	if (count == 0 || count > MSHV_MAX_REGS)
		return mshv_fail(err, err_cap, NUB_EINVAL, "%u registers requested", count);
	memset(&in, 0, sizeof(in));
	memset(out, 0, sizeof(out));
	for (uint16_t i = 0; i < count; i++)
		in.names[i] = assocs[i].name;
	rc = mshv_hvcall(vm, vm->vp_fd, "HVCALL_GET_VP_REGISTERS", NUB_HVCALL_GET_VP_REGISTERS,
	                 count, &in, sizeof(in.hdr) + count * sizeof(in.names[0]), out,
	                 count * sizeof(out[0]), err, err_cap);
	if (rc)
		return rc;
	for (uint16_t i = 0; i < count; i++)
		assocs[i].value = out[i];
	return 0;
}

int mshv_set_registers(struct nub_vm *vm, const struct nub_hv_register_assoc *assocs,
                       uint16_t count, char *err, size_t err_cap)
{
	struct mshv_set_input in;

	if (count == 0 || count > MSHV_MAX_REGS)
		return mshv_fail(err, err_cap, NUB_EINVAL, "%u registers to set", count);
	memset(&in, 0, sizeof(in));
	memcpy(in.elements, assocs, count * sizeof(assocs[0]));
	return mshv_hvcall(vm, vm->vp_fd, "HVCALL_SET_VP_REGISTERS", NUB_HVCALL_SET_VP_REGISTERS,
	                   count, &in, sizeof(in.hdr) + count * sizeof(in.elements[0]), NULL, 0,
	                   err, err_cap);
}

/* ---- struct nub_regs ---- */

struct mshv_reg64_map {
	uint32_t name;
	size_t offset;
};

#define GP(reg, field)                                                                             \
	{                                                                                          \
		NUB_HV_X64_REGISTER_##reg, offsetof(struct nub_regs, field)                        \
	}
static const struct mshv_reg64_map gp_map[] = {
        GP(RAX, rax),
        GP(RBX, rbx),
        GP(RCX, rcx),
        GP(RDX, rdx),
        GP(RSI, rsi),
        GP(RDI, rdi),
        GP(RSP, rsp),
        GP(RBP, rbp),
        {NUB_HV_X64_REGISTER_R8 + 0, offsetof(struct nub_regs, r8)},
        {NUB_HV_X64_REGISTER_R8 + 1, offsetof(struct nub_regs, r9)},
        {NUB_HV_X64_REGISTER_R8 + 2, offsetof(struct nub_regs, r10)},
        {NUB_HV_X64_REGISTER_R8 + 3, offsetof(struct nub_regs, r11)},
        {NUB_HV_X64_REGISTER_R8 + 4, offsetof(struct nub_regs, r12)},
        {NUB_HV_X64_REGISTER_R8 + 5, offsetof(struct nub_regs, r13)},
        {NUB_HV_X64_REGISTER_R8 + 6, offsetof(struct nub_regs, r14)},
        {NUB_HV_X64_REGISTER_R8 + 7, offsetof(struct nub_regs, r15)},
        GP(RIP, rip),
        GP(RFLAGS, rflags),
};
#undef GP
#define GP_COUNT (sizeof(gp_map) / sizeof(gp_map[0]))

int mshv_set_regs(struct nub_vm *vm, const struct nub_regs *regs, char *err, size_t err_cap)
{
	struct nub_hv_register_assoc a[GP_COUNT];

	memset(a, 0, sizeof(a));
	for (size_t i = 0; i < GP_COUNT; i++) {
		a[i].name = gp_map[i].name;
		memcpy(&a[i].value.reg64, (const char *)regs + gp_map[i].offset, sizeof(uint64_t));
	}
	/* New register state supersedes an I/O completion still owed to the
	 * guest (core restarting the vCPU elsewhere). */
	vm->pending.kind = MSHV_PENDING_NONE;
	return mshv_set_registers(vm, a, GP_COUNT, err, err_cap);
}

int mshv_get_regs(struct nub_vm *vm, struct nub_regs *regs, char *err, size_t err_cap)
{
	struct nub_hv_register_assoc a[GP_COUNT];
	int rc;

	memset(a, 0, sizeof(a));
	for (size_t i = 0; i < GP_COUNT; i++)
		a[i].name = gp_map[i].name;
	rc = mshv_get_registers(vm, a, GP_COUNT, err, err_cap);
	if (rc)
		return rc;
	for (size_t i = 0; i < GP_COUNT; i++)
		memcpy((char *)regs + gp_map[i].offset, &a[i].value.reg64, sizeof(uint64_t));
	/* A reported MMIO store is complete as far as the guest is concerned:
	 * show RIP after it (as KVM does), so that get/modify/set_regs does
	 * not run the store again. The hypervisor's RIP moves on the next run. */
	if (vm->pending.kind == MSHV_PENDING_MMIO_WRITE)
		regs->rip = vm->pending.next_rip;
	return 0;
}

/* ---- struct nub_sregs ---- */

#define SEG(reg, field)                                                                            \
	{                                                                                          \
		NUB_HV_X64_REGISTER_##reg, offsetof(struct nub_sregs, field)                       \
	}
static const struct mshv_reg64_map seg_map[] = {
        SEG(CS, cs), SEG(DS, ds), SEG(ES, es), SEG(FS, fs),
        SEG(GS, gs), SEG(SS, ss), SEG(TR, tr), SEG(LDTR, ldt),
};
static const struct mshv_reg64_map dt_map[] = {SEG(GDTR, gdt), SEG(IDTR, idt)};
static const struct mshv_reg64_map cr_map[] = {
        SEG(CR0, cr0),
        SEG(CR2, cr2),
        SEG(CR3, cr3),
        SEG(CR4, cr4),
        SEG(CR8, cr8),
        SEG(EFER, efer),
        SEG(APIC_BASE, apic_base),
};
#undef SEG
#define SEG_COUNT (sizeof(seg_map) / sizeof(seg_map[0]))
#define DT_COUNT  (sizeof(dt_map) / sizeof(dt_map[0]))
#define CR_COUNT  (sizeof(cr_map) / sizeof(cr_map[0]))
#define SREGS_N   (SEG_COUNT + DT_COUNT + CR_COUNT)

/* The hypervisor has no "unusable" attribute: an unusable segment is sent
 * as not present, and a not-present one reads back as unusable. */
static uint16_t mshv_seg_attributes(const struct nub_segment *s)
{
	unsigned present = s->present && !s->unusable;

	return (uint16_t)(((s->type & 0xFu) << NUB_HV_SEG_TYPE_SHIFT) |
	                  ((s->s & 1u) << NUB_HV_SEG_S_SHIFT) |
	                  ((s->dpl & 3u) << NUB_HV_SEG_DPL_SHIFT) |
	                  (present << NUB_HV_SEG_PRESENT_SHIFT) |
	                  ((s->avl & 1u) << NUB_HV_SEG_AVL_SHIFT) |
	                  ((s->l & 1u) << NUB_HV_SEG_L_SHIFT) |
	                  ((s->db & 1u) << NUB_HV_SEG_DB_SHIFT) |
	                  ((s->g & 1u) << NUB_HV_SEG_G_SHIFT));
}

static void mshv_seg_from_hv(struct nub_segment *s, const struct nub_hv_x64_segment_register *h)
{
	unsigned a = h->attributes;

	memset(s, 0, sizeof(*s));
	s->base = h->base;
	s->limit = h->limit;
	s->selector = h->selector;
	s->type = (a >> NUB_HV_SEG_TYPE_SHIFT) & 0xFu;
	s->s = (a >> NUB_HV_SEG_S_SHIFT) & 1u;
	s->dpl = (a >> NUB_HV_SEG_DPL_SHIFT) & 3u;
	s->present = (a >> NUB_HV_SEG_PRESENT_SHIFT) & 1u;
	s->avl = (a >> NUB_HV_SEG_AVL_SHIFT) & 1u;
	s->l = (a >> NUB_HV_SEG_L_SHIFT) & 1u;
	s->db = (a >> NUB_HV_SEG_DB_SHIFT) & 1u;
	s->g = (a >> NUB_HV_SEG_G_SHIFT) & 1u;
	s->unusable = !s->present;
}

static void mshv_sregs_names(struct nub_hv_register_assoc *a)
{
	size_t n = 0;

	memset(a, 0, SREGS_N * sizeof(*a));
	for (size_t i = 0; i < SEG_COUNT; i++)
		a[n++].name = seg_map[i].name;
	for (size_t i = 0; i < DT_COUNT; i++)
		a[n++].name = dt_map[i].name;
	for (size_t i = 0; i < CR_COUNT; i++)
		a[n++].name = cr_map[i].name;
}

int mshv_set_sregs(struct nub_vm *vm, const struct nub_sregs *sregs, char *err, size_t err_cap)
{
	struct nub_hv_register_assoc a[SREGS_N];
	const char *base = (const char *)sregs;
	size_t n = 0;

	mshv_sregs_names(a);
	for (size_t i = 0; i < SEG_COUNT; i++, n++) {
		const struct nub_segment *s = (const void *)(base + seg_map[i].offset);
		a[n].value.segment.base = s->base;
		a[n].value.segment.limit = s->limit;
		a[n].value.segment.selector = s->selector;
		a[n].value.segment.attributes = mshv_seg_attributes(s);
	}
	for (size_t i = 0; i < DT_COUNT; i++, n++) {
		const struct nub_dtable *d = (const void *)(base + dt_map[i].offset);
		a[n].value.table.base = d->base;
		a[n].value.table.limit = d->limit;
	}
	for (size_t i = 0; i < CR_COUNT; i++, n++)
		memcpy(&a[n].value.reg64, base + cr_map[i].offset, sizeof(uint64_t));
	/* A pending IN is abandoned; a reported store still moves RIP past
	 * itself (set_regs, which sets RIP, drops that too). */
	if (vm->pending.kind != MSHV_PENDING_MMIO_WRITE)
		vm->pending.kind = MSHV_PENDING_NONE;
	return mshv_set_registers(vm, a, SREGS_N, err, err_cap);
}

int mshv_get_sregs(struct nub_vm *vm, struct nub_sregs *sregs, char *err, size_t err_cap)
{
	struct nub_hv_register_assoc a[SREGS_N];
	char *base = (char *)sregs;
	size_t n = 0;
	int rc;

	mshv_sregs_names(a);
	rc = mshv_get_registers(vm, a, SREGS_N, err, err_cap);
	if (rc)
		return rc;
	memset(sregs, 0, sizeof(*sregs));
	for (size_t i = 0; i < SEG_COUNT; i++, n++)
		mshv_seg_from_hv((struct nub_segment *)(void *)(base + seg_map[i].offset),
		                 &a[n].value.segment);
	for (size_t i = 0; i < DT_COUNT; i++, n++) {
		struct nub_dtable *d = (void *)(base + dt_map[i].offset);
		d->base = a[n].value.table.base;
		d->limit = a[n].value.table.limit;
	}
	for (size_t i = 0; i < CR_COUNT; i++, n++)
		memcpy(base + cr_map[i].offset, &a[n].value.reg64, sizeof(uint64_t));
	return 0;
}

/* ---- struct nub_fpu: FP_MMX0-7, XMM0-15, FP and XMM control/status ---- */

#define FPU_N (8u + 16u + 2u)

static void mshv_fpu_names(struct nub_hv_register_assoc *a)
{
	memset(a, 0, FPU_N * sizeof(*a));
	for (uint32_t i = 0; i < 8; i++)
		a[i].name = NUB_HV_X64_REGISTER_FP_MMX0 + i;
	for (uint32_t i = 0; i < 16; i++)
		a[8 + i].name = NUB_HV_X64_REGISTER_XMM0 + i;
	a[24].name = NUB_HV_X64_REGISTER_FP_CONTROL_STATUS;
	a[25].name = NUB_HV_X64_REGISTER_XMM_CONTROL_STATUS;
}

int mshv_set_fpu(struct nub_vm *vm, const struct nub_fpu *fpu, char *err, size_t err_cap)
{
	struct nub_hv_register_assoc a[FPU_N];

	mshv_fpu_names(a);
	for (unsigned i = 0; i < 8; i++)
		memcpy(&a[i].value.reg128, fpu->fpr[i], 16);
	for (unsigned i = 0; i < 16; i++)
		memcpy(&a[8 + i].value.reg128, fpu->xmm[i], 16);
	a[24].value.fp_control_status.fp_control = fpu->fcw;
	a[24].value.fp_control_status.fp_status = fpu->fsw;
	a[24].value.fp_control_status.fp_tag = fpu->ftwx;
	a[24].value.fp_control_status.last_fp_op = fpu->last_opcode;
	a[24].value.fp_control_status.last_fp_rip = fpu->last_ip;
	a[25].value.xmm_control_status.last_fp_rdp = fpu->last_dp;
	a[25].value.xmm_control_status.xmm_status_control = fpu->mxcsr;
	/* Mask 0: the hypervisor keeps the processor's MXCSR_MASK. */
	a[25].value.xmm_control_status.xmm_status_control_mask = 0;
	return mshv_set_registers(vm, a, FPU_N, err, err_cap);
}

int mshv_get_fpu(struct nub_vm *vm, struct nub_fpu *fpu, char *err, size_t err_cap)
{
	struct nub_hv_register_assoc a[FPU_N];
	int rc;

	mshv_fpu_names(a);
	rc = mshv_get_registers(vm, a, FPU_N, err, err_cap);
	if (rc)
		return rc;
	memset(fpu, 0, sizeof(*fpu));
	for (unsigned i = 0; i < 8; i++)
		memcpy(fpu->fpr[i], &a[i].value.reg128, 16);
	for (unsigned i = 0; i < 16; i++)
		memcpy(fpu->xmm[i], &a[8 + i].value.reg128, 16);
	fpu->fcw = a[24].value.fp_control_status.fp_control;
	fpu->fsw = a[24].value.fp_control_status.fp_status;
	fpu->ftwx = a[24].value.fp_control_status.fp_tag;
	fpu->last_opcode = a[24].value.fp_control_status.last_fp_op;
	fpu->last_ip = a[24].value.fp_control_status.last_fp_rip;
	fpu->last_dp = a[25].value.xmm_control_status.last_fp_rdp;
	fpu->mxcsr = a[25].value.xmm_control_status.xmm_status_control;
	return 0;
}
