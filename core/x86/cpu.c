/* SPDX-License-Identifier: MIT */
/*
 * The vCPU state the host owns under guest ABI 2: descriptor tables, the
 * CPL0 exception stubs, the initial registers of a guest at CPL3, and the
 * clean values restore writes back.
 *
 * Why the host owns CPL0: a guest at CPL3 cannot touch its page tables,
 * descriptor tables or control registers, and on a software KVM (kvm_pvm)
 * CPL0 code is emulated one instruction at a time, so the less of it the
 * better. The stubs are five instructions: push the vector, store to the
 * exception doorbell (an exit), drop the vector and error code, iretq. The
 * host does the real work (copy-on-write, fault reports) on that exit.
 */
#include "x86/cpu.h"

#include <string.h>

#include <nub/guest_abi.h>

#define PAGE NUB_PAGE_SIZE

/* Descriptors with their accessed bits preset, so the CPU never writes the
 * GDT (it lives in the read-only snapshot). */
#define GDT_KERNEL_CODE 0x00af9b000000ffffull /* P, DPL0, code r/x, A, L */
#define GDT_KERNEL_DATA 0x00cf93000000ffffull /* P, DPL0, data r/w, A */
#define GDT_USER_CODE32 0x00cffb000000ffffull /* P, DPL3, code r/x, A, D */
#define GDT_USER_DATA   0x00cff3000000ffffull /* P, DPL3, data r/w, A */
#define GDT_USER_CODE   0x00affb000000ffffull /* P, DPL3, code r/x, A, L */
#define TSS_TYPE_BUSY   0xbull
#define GATE_INTR_DPL0  0x8e
#define MSR_STAR        0xc0000081u
#define MSR_LSTAR       0xc0000082u
#define MSR_SFMASK      0xc0000084u
#define MSR_FS_BASE     0xc0000100u

/* Vectors for which the CPU pushes an error code. */
#define ERR_VECTORS                                                                                \
	((1u << 8) | (1u << 10) | (1u << 11) | (1u << 12) | (1u << 13) | (1u << 14) | (1u << 17) | \
	 (1u << 21) | (1u << 29) | (1u << 30))

struct tss64 {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));
_Static_assert(sizeof(struct tss64) == NUB_CPU_TSS_SIZE, "64-bit TSS");

struct gate {
	uint16_t off_lo, selector;
	uint8_t ist, attr;
	uint16_t off_mid;
	uint32_t off_hi, reserved;
};
_Static_assert(sizeof(struct gate) == 16, "IDT gate");
_Static_assert(NUB_CPU_IDT_OFFSET + NUB_CPU_VECTORS * sizeof(struct gate) <= PAGE, "IDT fits");
_Static_assert(NUB_CPU_TSS_OFFSET + NUB_CPU_TSS_SIZE <= NUB_CPU_IDT_OFFSET, "TSS fits");
_Static_assert(NUB_CPU_GDT_ENTRIES * 8 <= NUB_CPU_TSS_OFFSET, "GDT fits");
_Static_assert(sizeof(struct nub_exception_frame) == 56, "exception frame");
_Static_assert(sizeof(struct nub_peb) <= NUB_CPU_CLEAN_XSAVE_OFFSET, "PEB below the image");
_Static_assert(NUB_CPU_CLEAN_XSAVE_OFFSET % 64 == 0, "XRSTOR takes a 64-byte aligned image");
_Static_assert(NUB_CPU_CLEAN_XSAVE_OFFSET + NUB_CPU_CLEAN_XSAVE_MAX <= NUB_CPU_ENTRY_STUB_OFFSET,
               "image fits");
_Static_assert(NUB_CPU_ENTRY_STUB_OFFSET + 64 <= PAGE, "stub fits");

static void put(uint8_t *code, unsigned *at, const uint8_t *bytes, unsigned n)
{
	memcpy(code + *at, bytes, n);
	*at += n;
}

/* Stub v at v * NUB_CPU_STUB_SIZE: [push $0;] push $v; jmp common. */
static void stub_write(uint8_t *code, unsigned v, unsigned common)
{
	unsigned at = v * NUB_CPU_STUB_SIZE;

	if (!(ERR_VECTORS & (1u << v)))
		put(code, &at, (const uint8_t[]){0x6a, 0x00}, 2); /* push $0 */
	put(code, &at, (const uint8_t[]){0x6a, (uint8_t)v}, 2);   /* push $v */
	int32_t rel = (int32_t)common - (int32_t)(at + 5);
	uint8_t jmp[5] = {0xe9};
	memcpy(jmp + 1, &rel, 4);
	put(code, &at, jmp, 5);
}

/* common: movabs %rax, the EXCEPTION doorbell; add $16, %rsp; iretq. The
 * stored value is meaningless (RAX is the guest's, left untouched); the
 * host reads the frame at the top of the exception stack. */
static void common_write(uint8_t *code, unsigned at)
{
	uint64_t db = NUB_DOORBELL_GVA_OF(NUB_DOORBELL_EXCEPTION);
	uint8_t mov[10] = {0x48, 0xa3};

	memcpy(mov + 2, &db, 8);
	put(code, &at, mov, 10);
	put(code, &at, (const uint8_t[]){0x48, 0x83, 0xc4, 0x10}, 4); /* add $16, %rsp */
	put(code, &at, (const uint8_t[]){0x48, 0xcf}, 2);             /* iretq */
}

/* The system-call gate (LSTAR when the CPU enters CPL0 for a `syscall`,
 * EFER.SCE set): `int $NUB_CPU_SYSCALL_VECTOR`, which switches to the
 * exception stack (IST1) before anything is pushed -- RSP is still the
 * guest's here, and nothing may be stored through it at CPL0. A CPU that
 * jumps to LSTAR at CPL3 instead faults fetching this supervisor page, and
 * the host sends the call on (core/run/syscall.c). */
static void gate_write(uint8_t *stubs)
{
	put(stubs, &(unsigned){NUB_CPU_GATE_OFFSET},
	    (const uint8_t[]){0xcd, (uint8_t)NUB_CPU_SYSCALL_VECTOR}, 2);
}

/* The bounce, on the exception stack with the int's frame (RIP, CS,
 * RFLAGS, RSP, SS; the bookkeeping page starts right above it): make it
 * return to the guest's entry at CPL3, with the guest's RSP and its flags
 * as `syscall` saved them in R11, RCX untouched (the address after the
 * instruction), and iretq. Only the frame and the host-written entry word
 * are touched; no guest register but what `syscall` itself set changes.
 *   pushq D(%rsp)            the entry (NUB_SCRATCH_TOP_SYSCALL_ENTRY)
 *   popq (%rsp)              into the frame's RIP
 *   movq $USER_CODE, 8(%rsp)
 *   movq %r11, 16(%rsp)      RFLAGS
 *   movq $USER_DATA, 32(%rsp)
 *   iretq */
static void bounce_write(const struct nub_layout *l, uint8_t *stubs, uint8_t *tables)
{
	const int32_t d =
	        5 * 8 + (int32_t)(NUB_SCRATCH_BOOKKEEPING_SIZE - NUB_SCRATCH_TOP_SYSCALL_ENTRY);
	unsigned at = NUB_CPU_BOUNCE_OFFSET;
	uint8_t push[7] = {0xff, 0xb4, 0x24};
	uint8_t cs[9] = {0x48, 0xc7, 0x44, 0x24, 0x08}, ss[9] = {0x48, 0xc7, 0x44, 0x24, 0x20};
	const uint32_t ucode = NUB_SEL_USER_CODE, udata = NUB_SEL_USER_DATA;
	struct gate g;

	memcpy(push + 3, &d, 4);
	memcpy(cs + 5, &ucode, 4);
	memcpy(ss + 5, &udata, 4);
	put(stubs, &at, push, 7);
	put(stubs, &at, (const uint8_t[]){0x8f, 0x04, 0x24}, 3);
	put(stubs, &at, cs, 9);
	put(stubs, &at, (const uint8_t[]){0x4c, 0x89, 0x5c, 0x24, 0x10}, 5);
	put(stubs, &at, ss, 9);
	put(stubs, &at, (const uint8_t[]){0x48, 0xcf}, 2);
	/* Point the vector's gate at the bounce (same gate otherwise). */
	uint8_t *idt = tables + NUB_CPU_IDT_OFFSET + NUB_CPU_SYSCALL_VECTOR * sizeof(g);
	memcpy(&g, idt, sizeof(g));
	const uint64_t h = l->sys_stubs_gpa + NUB_CPU_BOUNCE_OFFSET;
	g.off_lo = (uint16_t)h;
	g.off_mid = (uint16_t)(h >> 16);
	g.off_hi = (uint32_t)(h >> 32);
	memcpy(idt, &g, sizeof(g));
}

void nub_cpu_build_system_pages(const struct nub_layout *l, uint8_t *tables, uint8_t *stubs)
{
	uint64_t *gdt = (uint64_t *)tables;
	struct tss64 tss;
	const uint64_t exn_top = l->scratch_gva + l->exn_stack_top_offset;
	const uint64_t tss_gva = l->sys_tables_gpa + NUB_CPU_TSS_OFFSET;
	const unsigned common = NUB_CPU_VECTORS * NUB_CPU_STUB_SIZE;

	memset(tables, 0, PAGE);
	memset(stubs, 0xcc, PAGE); /* int3 (at CPL0: never reached) */
	gdt[NUB_SEL_KERNEL_CODE >> 3] = GDT_KERNEL_CODE;
	gdt[NUB_SEL_KERNEL_DATA >> 3] = GDT_KERNEL_DATA;
	gdt[NUB_SEL_USER_CODE32 >> 3] = GDT_USER_CODE32;
	gdt[NUB_SEL_USER_DATA >> 3] = GDT_USER_DATA;
	gdt[NUB_SEL_USER_CODE >> 3] = GDT_USER_CODE;
	gdt[NUB_SEL_TSS >> 3] = (uint64_t)(NUB_CPU_TSS_SIZE - 1) | ((tss_gva & 0xffffff) << 16) |
	                        (TSS_TYPE_BUSY << 40) | (1ull << 47) |
	                        (((tss_gva >> 24) & 0xff) << 56);
	gdt[(NUB_SEL_TSS >> 3) + 1] = tss_gva >> 32;

	/* RSP0 and IST1 are the exception stack: every exception, from CPL3
	 * or not, starts its frame at the same place, where the host reads
	 * it. No I/O bitmap: every port faults at CPL3. */
	memset(&tss, 0, sizeof(tss));
	tss.rsp[0] = exn_top;
	tss.ist[0] = exn_top;
	tss.iomap_base = NUB_CPU_TSS_SIZE;
	memcpy(tables + NUB_CPU_TSS_OFFSET, &tss, sizeof(tss));

	for (unsigned v = 0; v < NUB_CPU_VECTORS; v++) {
		uint64_t h = l->sys_stubs_gpa + v * NUB_CPU_STUB_SIZE;
		struct gate g = {
		        .off_lo = (uint16_t)h,
		        .selector = NUB_SEL_KERNEL_CODE,
		        .ist = 1,
		        .attr = GATE_INTR_DPL0, /* `int n` from CPL3 is #GP */
		        .off_mid = (uint16_t)(h >> 16),
		        .off_hi = (uint32_t)(h >> 32),
		};
		memcpy(tables + NUB_CPU_IDT_OFFSET + v * sizeof(g), &g, sizeof(g));
		stub_write(stubs, v, common);
	}
	common_write(stubs, common);
	gate_write(stubs);
	bounce_write(l, stubs, tables);
}

void nub_cpu_build_entry_stub(uint8_t *peb_page)
{
	uint8_t *img = peb_page + NUB_CPU_CLEAN_XSAVE_OFFSET;
	unsigned at = NUB_CPU_ENTRY_STUB_OFFSET;
	uint8_t xrstor[8] = {0x48, 0x0f, 0xae, 0x2d}; /* xrstor64 disp32(%rip) */
	struct nub_fpu fpu;

	/* The legacy area's FCW and MXCSR as set_fpu's reset writes them;
	 * the header's XSTATE_BV and XCOMP_BV stay 0 (initialise every
	 * component). MXCSR is loaded whatever XSTATE_BV says. */
	nub_cpu_initial_fpu(&fpu);
	memset(img, 0, NUB_CPU_ENTRY_STUB_OFFSET - NUB_CPU_CLEAN_XSAVE_OFFSET);
	memcpy(img, &fpu.fcw, sizeof(fpu.fcw));
	memcpy(img + 24, &fpu.mxcsr, sizeof(fpu.mxcsr));
	memset(peb_page + at, 0xcc, PAGE - at);
	/* mov $0xfff9ffff, %eax; mov $-1, %edx: RFBM = XCR0 without AMX's
	 * tile config and data (bits 17-18), which XFD may guard. */
	put(peb_page, &at, (const uint8_t[]){0xb8, 0xff, 0xff, 0xf9, 0xff}, 5);
	put(peb_page, &at, (const uint8_t[]){0xba, 0xff, 0xff, 0xff, 0xff}, 5);
	const int32_t disp = (int32_t)NUB_CPU_CLEAN_XSAVE_OFFSET - (int32_t)(at + sizeof(xrstor));
	memcpy(xrstor + 4, &disp, 4);
	put(peb_page, &at, xrstor, sizeof(xrstor));
	put(peb_page, &at, (const uint8_t[]){0x41, 0x53}, 2); /* push %r11 */
	/* mov $0 (not xor: the flags stay as the host set them) to eax, edx,
	 * r11d; ret */
	put(peb_page, &at, (const uint8_t[]){0xb8, 0, 0, 0, 0, 0xba, 0, 0, 0, 0}, 10);
	put(peb_page, &at, (const uint8_t[]){0x41, 0xbb, 0, 0, 0, 0, 0xc3}, 7);
}

struct nub_segment nub_cpu_flat_segment(uint16_t selector, int code, uint8_t dpl)
{
	return (struct nub_segment){.limit = 0xffffffff,
	                            .selector = selector,
	                            .type = code ? 0xb : 0x3, /* r/x or r/w, accessed */
	                            .present = 1,
	                            .dpl = dpl,
	                            .s = 1,
	                            .l = code ? 1 : 0,
	                            .db = code ? 0 : 1,
	                            .g = 1};
}

void nub_cpu_entry_regs(const struct nub_layout *l, nub_gva_t entry, struct nub_regs *regs)
{
	memset(regs, 0, sizeof(*regs));
	regs->rip = l->peb_gpa + NUB_CPU_ENTRY_STUB_OFFSET;
	regs->r11 = entry; /* where the stub continues */
	regs->rsp = l->scratch_gva + l->stack_top_offset;
	regs->rdi = l->peb_gpa; /* identity-mapped */
	regs->rflags = 2;       /* IF=0, IOPL=0: cli/sti/in/out fault at CPL3 */
}

void nub_cpu_initial_state(const struct nub_layout *l, nub_gva_t entry, nub_gva_t fs_base,
                           const struct nub_cpu_syscall *sys, struct nub_regs *regs,
                           struct nub_sregs *sregs)
{
	const uint64_t tss_gva = l->sys_tables_gpa + NUB_CPU_TSS_OFFSET;

	nub_cpu_entry_regs(l, entry, regs);

	memset(sregs, 0, sizeof(*sregs));
	sregs->cs = nub_cpu_flat_segment(NUB_SEL_USER_CODE, 1, 3);
	sregs->ss = nub_cpu_flat_segment(NUB_SEL_USER_DATA, 0, 3);
	sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss;
	sregs->fs.base = fs_base;
	sregs->tr = (struct nub_segment){.base = tss_gva,
	                                 .limit = NUB_CPU_TSS_SIZE - 1,
	                                 .selector = NUB_SEL_TSS,
	                                 .type = TSS_TYPE_BUSY,
	                                 .present = 1};
	sregs->ldt = (struct nub_segment){.type = 0x2, .unusable = 1};
	sregs->gdt.base = l->sys_tables_gpa;
	sregs->gdt.limit = NUB_CPU_GDT_ENTRIES * 8 - 1;
	sregs->idt.base = l->sys_tables_gpa + NUB_CPU_IDT_OFFSET;
	sregs->idt.limit = NUB_CPU_VECTORS * 16 - 1;
	sregs->cr0 = 0x80050033; /* PG | WP | NE | ET | MP | PE */
	sregs->cr4 = 0x40620;    /* OSXSAVE | OSXMMEXCPT | OSFXSR | PAE */
	sregs->efer = 0xd00;     /* NXE | LMA | LME */
	if (sys && sys->entry)
		sregs->efer |= 1; /* SCE: `syscall` goes to LSTAR (nub_cpu_syscall) */
	sregs->cr3 = l->pt_gpa;
	sregs->apic_base = 0xfee00900;
}

void nub_cpu_initial_fpu(struct nub_fpu *fpu)
{
	memset(fpu, 0, sizeof(*fpu));
	fpu->fcw = 0x37f;
	fpu->mxcsr = 0x1f80;
}

/* MSRs a guest could change if it ever ran at CPL0, with their reset
 * values; restore writes them all (defence in depth: ABI-2 guests cannot
 * execute wrmsr). Not the TSC: KVM reads a host write close to the current
 * value as "keep the vCPUs in sync" and ignores it, and the software KVM
 * runs CPL3 on the host's own TSC; a CPL3 guest cannot write it either. */
static const struct nub_msr clean_msrs[NUB_CPU_CLEAN_MSRS] = {
        {.index = 0x00000174},                                 /* SYSENTER_CS */
        {.index = 0x00000175},                                 /* SYSENTER_ESP */
        {.index = 0x00000176},                                 /* SYSENTER_EIP */
        {.index = 0x00000277, .value = 0x0007040600070406ull}, /* PAT (power-on) */
        {.index = MSR_STAR},
        {.index = MSR_LSTAR},
        {.index = 0xc0000083}, /* CSTAR */
        {.index = MSR_SFMASK},
        {.index = MSR_FS_BASE},
        {.index = 0xc0000101}, /* GS_BASE */
        {.index = 0xc0000102}, /* KERNEL_GS_BASE */
};

uint32_t nub_cpu_clean_msrs(const struct nub_layout *l, uint64_t fs_base,
                            const struct nub_cpu_syscall *sys,
                            struct nub_msr out[NUB_CPU_CLEAN_MSRS])
{
	const int direct = sys && sys->entry && sys->at_cpl3;

	memcpy(out, clean_msrs, sizeof(clean_msrs));
	for (unsigned i = 0; i < NUB_CPU_CLEAN_MSRS; i++) {
		switch (out[i].index) {
		case MSR_LSTAR:
			out[i].value = direct ? sys->entry : l->sys_stubs_gpa + NUB_CPU_GATE_OFFSET;
			break;
		case MSR_STAR: /* CPL0 CS/SS 0x08/0x10; sysret's base 0x1b */
			out[i].value = (uint64_t)NUB_SEL_USER_CODE32 << 48 |
			               (uint64_t)NUB_SEL_KERNEL_CODE << 32;
			break;
		case MSR_SFMASK: /* as a kernel clears them: TF, IF, DF, IOPL, NT, AC */
			out[i].value = 0x47700;
			break;
		case MSR_FS_BASE:
			out[i].value = fs_base;
			break;
		default:
			break;
		}
	}
	return NUB_CPU_CLEAN_MSRS;
}

void nub_cpu_clean_debugregs(struct nub_debugregs *dr)
{
	memset(dr, 0, sizeof(*dr));
	dr->dr6 = 0xffff0ff0;
	dr->dr7 = 0x400;
}

const char *nub_cpu_vector_name(uint64_t vector)
{
	static const char *const names[NUB_CPU_VECTORS] = {"#DE divide error",
	                                                   "#DB debug",
	                                                   "NMI",
	                                                   "#BP breakpoint",
	                                                   "#OF overflow",
	                                                   "#BR bound range",
	                                                   "#UD invalid opcode",
	                                                   "#NM device not available",
	                                                   "#DF double fault",
	                                                   "coprocessor segment overrun",
	                                                   "#TS invalid TSS",
	                                                   "#NP segment not present",
	                                                   "#SS stack fault",
	                                                   "#GP general protection",
	                                                   "#PF page fault",
	                                                   "reserved 15",
	                                                   "#MF x87 error",
	                                                   "#AC alignment check",
	                                                   "#MC machine check",
	                                                   "#XM SIMD exception",
	                                                   "#VE virtualization",
	                                                   "#CP control protection"};

	if (vector < NUB_CPU_VECTORS && names[vector])
		return names[vector];
	return "reserved";
}

/* Skip legacy prefixes and REX; returns the opcode's index or n. */
static size_t skip_prefixes(const uint8_t *b, size_t n)
{
	size_t i = 0;

	while (i < n && (b[i] == 0x66 || b[i] == 0x67 || b[i] == 0xf2 || b[i] == 0xf3 ||
	                 b[i] == 0x2e || b[i] == 0x3e || b[i] == 0x26 || b[i] == 0x36 ||
	                 b[i] == 0x64 || b[i] == 0x65 || (b[i] & 0xf0) == 0x40))
		i++;
	return i;
}

/* 0F 01 with a register ModRM (mod 11): one instruction per byte, or a
 * group by reg for lmsw and smsw. Names only what a CPL3 guest is refused
 * (#GP or #UD): system instructions, virtualisation instructions, and
 * those a host's CR4 (UMIP) makes privileged. */
static const char *decode_0f01_reg(uint8_t modrm)
{
	static const struct {
		uint8_t modrm;
		const char *name;
	} insns[] = {
	        {0xc1, "vmcall"},  {0xc2, "vmlaunch"}, {0xc3, "vmresume"}, {0xc4, "vmxoff"},
	        {0xc8, "monitor"}, {0xc9, "mwait"},    {0xca, "clac"},     {0xcb, "stac"},
	        {0xcf, "encls"},   {0xd1, "xsetbv"},   {0xd8, "vmrun"},    {0xd9, "vmmcall"},
	        {0xda, "vmload"},  {0xdb, "vmsave"},   {0xdc, "stgi"},     {0xdd, "clgi"},
	        {0xde, "skinit"},  {0xdf, "invlpga"},  {0xf8, "swapgs"},   {0xfa, "monitorx"},
	        {0xfb, "mwaitx"},  {0xfe, "invlpgb"},  {0xff, "tlbsync"},
	};
	unsigned reg = (modrm >> 3) & 7;

	if (reg == 4)
		return "smsw";
	if (reg == 6)
		return "lmsw";
	for (size_t i = 0; i < sizeof(insns) / sizeof(insns[0]); i++)
		if (insns[i].modrm == modrm)
			return insns[i].name;
	return NULL;
}

/* 0F 00 and 0F 01 with a memory ModRM: groups by reg. */
static const char *decode_group(uint8_t op, uint8_t modrm)
{
	static const char *const g6[8] = {"sldt", "str", "lldt", "ltr", NULL, NULL, NULL, NULL};
	static const char *const g7[8] = {"sgdt", "sidt", "lgdt", "lidt",
	                                  "smsw", NULL,   "lmsw", "invlpg"};
	unsigned reg = (modrm >> 3) & 7;

	if (op == 0x00)
		return g6[reg]; /* both operand kinds */
	return (modrm >> 6) == 3 ? decode_0f01_reg(modrm) : g7[reg];
}

static const char *decode_0f(const uint8_t *b, size_t n)
{
	if (n < 1)
		return NULL;
	switch (b[0]) {
	case 0x00:
	case 0x01:
		return n >= 2 ? decode_group(b[0], b[1]) : NULL;
	case 0x06:
		return "clts";
	case 0x07:
		return "sysret";
	case 0x08:
		return "invd";
	case 0x09:
		return "wbinvd";
	case 0x20:
	case 0x22:
		return "mov to/from a control register";
	case 0x21:
	case 0x23:
		return "mov to/from a debug register";
	case 0x30:
		return "wrmsr";
	case 0x32:
		return "rdmsr";
	case 0x33:
		return "rdpmc";
	case 0x34:
		return "sysenter";
	case 0x35:
		return "sysexit";
	case 0x37:
		return "getsec";
	case 0x78:
		return "vmread";
	case 0x79:
		return "vmwrite";
	case 0x38: /* 66 0F 38 80-82 */
		if (n >= 2 && b[1] >= 0x80 && b[1] <= 0x82)
			return b[1] == 0x80 ? "invept" : b[1] == 0x81 ? "invvpid" : "invpcid";
		return NULL;
	case 0xc7: /* VMX group 9 with a memory operand */
		if (n >= 2 && (b[1] >> 6) != 3 && ((b[1] >> 3) & 7) >= 6)
			return ((b[1] >> 3) & 7) == 7 ? "vmptrst" : "vmptrld/vmclear/vmxon";
		return NULL;
	default:
		return NULL;
	}
}

const char *nub_cpu_privileged_insn(const uint8_t *bytes, size_t n)
{
	size_t i = skip_prefixes(bytes, n);

	if (i >= n)
		return NULL;
	switch (bytes[i]) {
	case 0xf4:
		return "hlt";
	case 0xfa:
		return "cli";
	case 0xfb:
		return "sti";
	case 0xe4:
	case 0xe5:
	case 0xec:
	case 0xed:
		return "in";
	case 0xe6:
	case 0xe7:
	case 0xee:
	case 0xef:
		return "out";
	case 0x6c:
	case 0x6d:
		return "ins";
	case 0x6e:
	case 0x6f:
		return "outs";
	case 0xcd:
		return "int n";
	case 0xcc:
		return "int3"; /* a DPL0 gate: #GP where the CPU checks it */
	case 0x0f:
		return decode_0f(bytes + i + 1, n - i - 1);
	default:
		return NULL;
	}
}
