/* SPDX-License-Identifier: MIT */
/* Field-by-field conversions between the ABI's register structs and KVM's.
 * Written out by name (no memcpy between the two layouts) so that a change
 * in either struct is a compile error or a visible diff, never a silent
 * shift. */
#include <string.h>

#include "kvm_internal.h"

void kvm_convert_regs_from_nub(struct kvm_regs *k, const struct nub_regs *n)
{
	memset(k, 0, sizeof(*k));
	k->rax = n->rax;
	k->rbx = n->rbx;
	k->rcx = n->rcx;
	k->rdx = n->rdx;
	k->rsi = n->rsi;
	k->rdi = n->rdi;
	k->rsp = n->rsp;
	k->rbp = n->rbp;
	k->r8 = n->r8;
	k->r9 = n->r9;
	k->r10 = n->r10;
	k->r11 = n->r11;
	k->r12 = n->r12;
	k->r13 = n->r13;
	k->r14 = n->r14;
	k->r15 = n->r15;
	k->rip = n->rip;
	k->rflags = n->rflags;
}

void kvm_convert_regs_to_nub(struct nub_regs *n, const struct kvm_regs *k)
{
	memset(n, 0, sizeof(*n));
	n->rax = k->rax;
	n->rbx = k->rbx;
	n->rcx = k->rcx;
	n->rdx = k->rdx;
	n->rsi = k->rsi;
	n->rdi = k->rdi;
	n->rsp = k->rsp;
	n->rbp = k->rbp;
	n->r8 = k->r8;
	n->r9 = k->r9;
	n->r10 = k->r10;
	n->r11 = k->r11;
	n->r12 = k->r12;
	n->r13 = k->r13;
	n->r14 = k->r14;
	n->r15 = k->r15;
	n->rip = k->rip;
	n->rflags = k->rflags;
}

static void seg_from_nub(struct kvm_segment *k, const struct nub_segment *n)
{
	memset(k, 0, sizeof(*k));
	k->base = n->base;
	k->limit = n->limit;
	k->selector = n->selector;
	k->type = n->type;
	k->present = n->present;
	k->dpl = n->dpl;
	k->db = n->db;
	k->s = n->s;
	k->l = n->l;
	k->g = n->g;
	k->avl = n->avl;
	k->unusable = n->unusable;
}

static void seg_to_nub(struct nub_segment *n, const struct kvm_segment *k)
{
	memset(n, 0, sizeof(*n));
	n->base = k->base;
	n->limit = k->limit;
	n->selector = k->selector;
	n->type = k->type;
	n->present = k->present;
	n->dpl = k->dpl;
	n->db = k->db;
	n->s = k->s;
	n->l = k->l;
	n->g = k->g;
	n->avl = k->avl;
	n->unusable = k->unusable;
}

static void dtable_from_nub(struct kvm_dtable *k, const struct nub_dtable *n)
{
	memset(k, 0, sizeof(*k));
	k->base = n->base;
	k->limit = n->limit;
}

static void dtable_to_nub(struct nub_dtable *n, const struct kvm_dtable *k)
{
	memset(n, 0, sizeof(*n));
	n->base = k->base;
	n->limit = k->limit;
}

/* interrupt_bitmap stays zero: with no in-kernel irqchip a set bit would
 * inject an external interrupt the guest never asked for. */
void kvm_convert_sregs_from_nub(struct kvm_sregs *k, const struct nub_sregs *n)
{
	memset(k, 0, sizeof(*k));
	seg_from_nub(&k->cs, &n->cs);
	seg_from_nub(&k->ds, &n->ds);
	seg_from_nub(&k->es, &n->es);
	seg_from_nub(&k->fs, &n->fs);
	seg_from_nub(&k->gs, &n->gs);
	seg_from_nub(&k->ss, &n->ss);
	seg_from_nub(&k->tr, &n->tr);
	seg_from_nub(&k->ldt, &n->ldt);
	dtable_from_nub(&k->gdt, &n->gdt);
	dtable_from_nub(&k->idt, &n->idt);
	k->cr0 = n->cr0;
	k->cr2 = n->cr2;
	k->cr3 = n->cr3;
	k->cr4 = n->cr4;
	k->cr8 = n->cr8;
	k->efer = n->efer;
	k->apic_base = n->apic_base;
}

void kvm_convert_sregs_to_nub(struct nub_sregs *n, const struct kvm_sregs *k)
{
	memset(n, 0, sizeof(*n));
	seg_to_nub(&n->cs, &k->cs);
	seg_to_nub(&n->ds, &k->ds);
	seg_to_nub(&n->es, &k->es);
	seg_to_nub(&n->fs, &k->fs);
	seg_to_nub(&n->gs, &k->gs);
	seg_to_nub(&n->ss, &k->ss);
	seg_to_nub(&n->tr, &k->tr);
	seg_to_nub(&n->ldt, &k->ldt);
	dtable_to_nub(&n->gdt, &k->gdt);
	dtable_to_nub(&n->idt, &k->idt);
	n->cr0 = k->cr0;
	n->cr2 = k->cr2;
	n->cr3 = k->cr3;
	n->cr4 = k->cr4;
	n->cr8 = k->cr8;
	n->efer = k->efer;
	n->apic_base = k->apic_base;
}

/* The legacy (FXSAVE) area at the start of an XSAVE buffer, 64-bit form.
 * KVM_{GET,SET}_FPU do not carry MXCSR, so the backend moves FPU state
 * through KVM_{GET,SET}_XSAVE and this layout instead. */
enum {
	FX_FCW = 0,
	FX_FSW = 2,
	FX_FTW = 4,
	FX_FOP = 6,
	FX_FIP = 8,
	FX_FDP = 16,
	FX_MXCSR = 24,
	FX_ST = 32,
	FX_XMM = 160,
};

void kvm_convert_fpu_to_fxsave(uint8_t *fx, const struct nub_fpu *n)
{
	memcpy(fx + FX_FCW, &n->fcw, 2);
	memcpy(fx + FX_FSW, &n->fsw, 2);
	fx[FX_FTW] = n->ftwx;
	memcpy(fx + FX_FOP, &n->last_opcode, 2);
	memcpy(fx + FX_FIP, &n->last_ip, 8);
	memcpy(fx + FX_FDP, &n->last_dp, 8);
	memcpy(fx + FX_MXCSR, &n->mxcsr, 4);
	memcpy(fx + FX_ST, n->fpr, sizeof(n->fpr));
	memcpy(fx + FX_XMM, n->xmm, sizeof(n->xmm));
}

void kvm_convert_fpu_from_fxsave(struct nub_fpu *n, const uint8_t *fx)
{
	memset(n, 0, sizeof(*n));
	memcpy(&n->fcw, fx + FX_FCW, 2);
	memcpy(&n->fsw, fx + FX_FSW, 2);
	n->ftwx = fx[FX_FTW];
	memcpy(&n->last_opcode, fx + FX_FOP, 2);
	memcpy(&n->last_ip, fx + FX_FIP, 8);
	memcpy(&n->last_dp, fx + FX_FDP, 8);
	memcpy(&n->mxcsr, fx + FX_MXCSR, 4);
	memcpy(n->fpr, fx + FX_ST, sizeof(n->fpr));
	memcpy(n->xmm, fx + FX_XMM, sizeof(n->xmm));
}

_Static_assert(FX_XMM + sizeof(((struct nub_fpu *)0)->xmm) <= KVM_FXSAVE_SIZE,
               "FXSAVE layout overflows its 512 bytes");

void kvm_convert_fpu_to_xsave(uint8_t *xsave, const struct nub_fpu *n, uint64_t xfeatures)
{
	uint64_t bv = xfeatures | KVM_XSTATE_X87_SSE;

	kvm_convert_fpu_to_fxsave(xsave, n);
	memcpy(xsave + KVM_XSAVE_HDR_XSTATE_BV, &bv, sizeof(bv));
}
