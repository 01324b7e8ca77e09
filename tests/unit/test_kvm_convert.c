/* SPDX-License-Identifier: MIT */
/* The KVM backend's register conversions, compiled in from the backend's
 * source (they make no system calls), checked field by field by name so a
 * swapped pair cannot hide behind a successful round trip. */
#include <string.h>

#include "../../backends/kvm/kvm_convert.c"
#include "nub_test.h"

static void fill_segment(struct nub_segment *s, unsigned k)
{
	s->base = 0x1000000000ull * k + 0x111;
	s->limit = 0x10000u * k + 0x22;
	s->selector = (uint16_t)(0x100 * k + 0x3);
	s->type = (uint8_t)(k + 1);
	s->present = (uint8_t)(k + 2);
	s->dpl = (uint8_t)(k + 3);
	s->db = (uint8_t)(k + 4);
	s->s = (uint8_t)(k + 5);
	s->l = (uint8_t)(k + 6);
	s->g = (uint8_t)(k + 7);
	s->avl = (uint8_t)(k + 8);
	s->unusable = (uint8_t)(k + 9);
}

static void check_segment(const struct kvm_segment *k, const struct nub_segment *n)
{
	assert_int_equal(k->base, n->base);
	assert_int_equal(k->limit, n->limit);
	assert_int_equal(k->selector, n->selector);
	assert_int_equal(k->type, n->type);
	assert_int_equal(k->present, n->present);
	assert_int_equal(k->dpl, n->dpl);
	assert_int_equal(k->db, n->db);
	assert_int_equal(k->s, n->s);
	assert_int_equal(k->l, n->l);
	assert_int_equal(k->g, n->g);
	assert_int_equal(k->avl, n->avl);
	assert_int_equal(k->unusable, n->unusable);
	assert_int_equal(k->padding, 0);
}

static void test_sregs_by_name(void **state)
{
	struct nub_sregs n, back;
	struct kvm_sregs k;
	struct nub_segment *segs[] = {&n.cs, &n.ds, &n.es, &n.fs, &n.gs, &n.ss, &n.tr, &n.ldt};

	(void)state;
	memset(&n, 0, sizeof(n));
	for (unsigned i = 0; i < 8; i++)
		fill_segment(segs[i], i + 1);
	n.gdt = (struct nub_dtable){.base = 0xAAAA000, .limit = 0x17};
	n.idt = (struct nub_dtable){.base = 0xBBBB000, .limit = 0xFFF};
	n.cr0 = 0x80050033;
	n.cr2 = 0xC2;
	n.cr3 = 0xC3000;
	n.cr4 = 0x40620;
	n.cr8 = 0x8;
	n.efer = 0xD01;
	n.apic_base = 0xFEE00900;
	memset(&k, 0xFF, sizeof(k));
	kvm_convert_sregs_from_nub(&k, &n);
	check_segment(&k.cs, &n.cs);
	check_segment(&k.ds, &n.ds);
	check_segment(&k.es, &n.es);
	check_segment(&k.fs, &n.fs);
	check_segment(&k.gs, &n.gs);
	check_segment(&k.ss, &n.ss);
	check_segment(&k.tr, &n.tr);
	check_segment(&k.ldt, &n.ldt);
	assert_int_equal(k.gdt.base, 0xAAAA000);
	assert_int_equal(k.gdt.limit, 0x17);
	assert_int_equal(k.idt.base, 0xBBBB000);
	assert_int_equal(k.idt.limit, 0xFFF);
	assert_int_equal(k.cr0, n.cr0);
	assert_int_equal(k.cr2, n.cr2);
	assert_int_equal(k.cr3, n.cr3);
	assert_int_equal(k.cr4, n.cr4);
	assert_int_equal(k.cr8, n.cr8);
	assert_int_equal(k.efer, n.efer);
	assert_int_equal(k.apic_base, n.apic_base);
	/* No injected interrupts from stale bytes. */
	for (size_t i = 0; i < sizeof(k.interrupt_bitmap) / sizeof(k.interrupt_bitmap[0]); i++)
		assert_int_equal(k.interrupt_bitmap[i], 0);
	memset(&back, 0xFF, sizeof(back));
	kvm_convert_sregs_to_nub(&back, &k);
	assert_memory_equal(&back, &n, sizeof(n));
}

static void test_regs_by_name(void **state)
{
	struct nub_regs n, back;
	struct kvm_regs k;
	uint64_t *w = (uint64_t *)&n;

	(void)state;
	for (size_t i = 0; i < sizeof(n) / sizeof(uint64_t); i++)
		w[i] = 0x0101010101010101ull * (i + 1);
	kvm_convert_regs_from_nub(&k, &n);
	assert_int_equal(k.rax, n.rax);
	assert_int_equal(k.rbx, n.rbx);
	assert_int_equal(k.rcx, n.rcx);
	assert_int_equal(k.rdx, n.rdx);
	assert_int_equal(k.rsi, n.rsi);
	assert_int_equal(k.rdi, n.rdi);
	assert_int_equal(k.rsp, n.rsp);
	assert_int_equal(k.rbp, n.rbp);
	assert_int_equal(k.r8, n.r8);
	assert_int_equal(k.r9, n.r9);
	assert_int_equal(k.r10, n.r10);
	assert_int_equal(k.r11, n.r11);
	assert_int_equal(k.r12, n.r12);
	assert_int_equal(k.r13, n.r13);
	assert_int_equal(k.r14, n.r14);
	assert_int_equal(k.r15, n.r15);
	assert_int_equal(k.rip, n.rip);
	assert_int_equal(k.rflags, n.rflags);
	kvm_convert_regs_to_nub(&back, &k);
	assert_memory_equal(&back, &n, sizeof(n));
}

static void test_fpu_fxsave_layout(void **state)
{
	struct nub_fpu n, back;
	uint8_t fx[KVM_FXSAVE_SIZE];
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;

	(void)state;
	memset(&n, 0, sizeof(n));
	for (int i = 0; i < 8; i++)
		memset(n.fpr[i], 0x10 + i, sizeof(n.fpr[i]));
	for (int i = 0; i < 16; i++)
		memset(n.xmm[i], 0x40 + i, sizeof(n.xmm[i]));
	n.fcw = 0x37F;
	n.fsw = 0x1234;
	n.ftwx = 0xA5;
	n.last_opcode = 0x7FF;
	n.last_ip = 0x1111222233334444ull;
	n.last_dp = 0x5555666677778888ull;
	n.mxcsr = 0x3F80;
	memset(fx, 0xEE, sizeof(fx));
	kvm_convert_fpu_to_fxsave(fx, &n);
	/* Offsets from the FXSAVE64 layout (Intel SDM vol. 1, 10.5.1). */
	memcpy(&u16, fx + 0, 2);
	assert_int_equal(u16, 0x37F);
	memcpy(&u16, fx + 2, 2);
	assert_int_equal(u16, 0x1234);
	assert_int_equal(fx[4], 0xA5);
	assert_int_equal(fx[5], 0xEE); /* reserved byte untouched */
	memcpy(&u16, fx + 6, 2);
	assert_int_equal(u16, 0x7FF);
	memcpy(&u64, fx + 8, 8);
	assert_int_equal(u64, n.last_ip);
	memcpy(&u64, fx + 16, 8);
	assert_int_equal(u64, n.last_dp);
	memcpy(&u32, fx + 24, 4);
	assert_int_equal(u32, 0x3F80);
	memcpy(&u32, fx + 28, 4);
	assert_int_equal(u32, 0xEEEEEEEE); /* MXCSR_MASK is the CPU's, untouched */
	assert_memory_equal(fx + 32, n.fpr, sizeof(n.fpr));
	assert_memory_equal(fx + 160, n.xmm, sizeof(n.xmm));
	assert_int_equal(fx[416], 0xEE);
	memset(&back, 0xFF, sizeof(back));
	kvm_convert_fpu_from_fxsave(&back, fx);
	assert_memory_equal(&back, &n, sizeof(n));
}

/* The image set_fpu writes: every component of the vCPU in XSTATE_BV
 * (PKRU included: KVM keeps the old PKRU for an image without its bit), in
 * its initial state (zero bytes), and x87/SSE from the record. */
static void test_fpu_xsave_image_covers_every_component(void **state)
{
	static uint8_t x[4096];
	struct nub_fpu n;
	uint64_t bv;

	(void)state;
	memset(&n, 0, sizeof(n));
	n.fcw = 0x37f;
	n.mxcsr = 0x1f80;
	memset(x, 0, sizeof(x));
	kvm_convert_fpu_to_xsave(x, &n, 0x602e7); /* x87 SSE AVX opmask ZMM PKRU AMX */
	memcpy(&bv, x + KVM_XSAVE_HDR_XSTATE_BV, 8);
	assert_int_equal(bv, 0x602e7);
	uint16_t fcw;
	uint32_t mxcsr;
	memcpy(&fcw, x, 2);
	memcpy(&mxcsr, x + 24, 4);
	assert_int_equal(fcw, 0x37f);
	assert_int_equal(mxcsr, 0x1f80);
	for (size_t i = KVM_XSAVE_HDR_XSTATE_BV + 8; i < sizeof(x); i++)
		if (x[i])
			fail_msg("byte %zu of the image is 0x%x: components must be initial", i,
			         x[i]);
	/* A vCPU without extended components still gets x87 and SSE. */
	memset(x, 0, sizeof(x));
	kvm_convert_fpu_to_xsave(x, &n, 0);
	memcpy(&bv, x + KVM_XSAVE_HDR_XSTATE_BV, 8);
	assert_int_equal(bv, KVM_XSTATE_X87_SSE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_sregs_by_name),
	        cmocka_unit_test(test_regs_by_name),
	        cmocka_unit_test(test_fpu_fxsave_layout),
	        cmocka_unit_test(test_fpu_xsave_image_covers_every_component),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
