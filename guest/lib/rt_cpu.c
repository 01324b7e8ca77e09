/* SPDX-License-Identifier: MIT */
/*
 * GDT, TSS, IDT and FPU/SSE setup.
 *
 * The permanent tables live in .bss so that a snapshot captured after init
 * contains them (scratch is not captured) and restored segment registers
 * stay valid. .bss is copy-on-write, so the first write to it faults, which
 * needs an IDT: setup first loads bootstrap tables built in two scratch
 * pages (their own IST stack included), then writes the .bss tables, taking
 * the CoW faults through the bootstrap IDT, then loads the .bss ones.
 * Setup runs on the exception stack (always writable scratch); IST1 of the
 * permanent TSS is that same stack, so nothing may fault between loading
 * the permanent tables and the entry code switching to the main stack:
 * every descriptor has its accessed bit preset and the TSS busy bit is set
 * in a page already copied, so the loads write nothing new.
 */
#include <stddef.h>

#include "nub_string.h"
#include "rt.h"

_Static_assert(offsetof(struct nub_peb, exn_stack_top_gva) == RT_PEB_EXN_STACK_TOP,
               "rt_entry.S reads exn_stack_top_gva at this offset");
_Static_assert(RT_NOTE_TYPE_ABI == NUB_NOTE_TYPE_ABI, "ELF note type in rt_entry.S");
_Static_assert(RT_GUEST_ABI_VERSION == NUB_GUEST_ABI_VERSION, "ELF note version in rt_entry.S");

struct rt_tss {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));
_Static_assert(sizeof(struct rt_tss) == 104, "64-bit TSS");

struct rt_gate {
	uint16_t off_lo, selector;
	uint8_t ist, attr;
	uint16_t off_mid;
	uint32_t off_hi, reserved;
};
_Static_assert(sizeof(struct rt_gate) == 16, "IDT gate");

struct rt_tables {
	uint64_t gdt[5]; /* null, code, data, TSS (two slots) */
	struct rt_tss tss;
	struct rt_gate idt[32];
};

struct rt_dtr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

static struct rt_tables rt_tables __attribute__((aligned(4096)));

#define GDT_CODE64 0x00af9b000000ffffull /* present, DPL0, exec/read, accessed, L */
#define GDT_DATA   0x00cf93000000ffffull /* present, DPL0, read/write, accessed */
#define TSS_BUSY   (1ull << 41)
#define GATE_INTR  0x8e /* present, DPL0, 64-bit interrupt gate */

#define CR0_MP      (1ull << 1)
#define CR0_EM      (1ull << 2)
#define CR0_TS      (1ull << 3)
#define CR0_NE      (1ull << 5)
#define CR0_WP      (1ull << 16)
#define CR4_OSFXSR  (1ull << 9)
#define CR4_OSXMM   (1ull << 10)
#define CR4_OSXSAVE (1ull << 18)

static void tables_build(struct rt_tables *t, uint64_t ist1_top)
{
	memset(t, 0, sizeof(*t));
	t->gdt[RT_SEL_CODE / 8] = GDT_CODE64;
	t->gdt[RT_SEL_DATA / 8] = GDT_DATA;
	uint64_t base = (uint64_t)&t->tss, limit = sizeof(t->tss) - 1;
	t->gdt[RT_SEL_TSS / 8] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) |
	                         (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
	t->gdt[RT_SEL_TSS / 8 + 1] = base >> 32;
	t->tss.ist[0] = ist1_top & ~15ull;
	t->tss.iomap_base = sizeof(t->tss); /* no I/O bitmap */
	for (unsigned v = 0; v < 32; v++) {
		uint64_t h = nub_rt_exn_stubs[v];
		t->idt[v] = (struct rt_gate){
		        .off_lo = (uint16_t)h,
		        .selector = RT_SEL_CODE,
		        .ist = 1,
		        .attr = GATE_INTR,
		        .off_mid = (uint16_t)(h >> 16),
		        .off_hi = (uint32_t)(h >> 32),
		};
	}
}

static void tables_load(struct rt_tables *t)
{
	struct rt_dtr gdtr = {sizeof(t->gdt) - 1, (uint64_t)t->gdt};
	struct rt_dtr idtr = {sizeof(t->idt) - 1, (uint64_t)t->idt};
	t->gdt[RT_SEL_TSS / 8] &= ~TSS_BUSY; /* ltr refuses a busy TSS */
	nub_rt_cpu_load(&gdtr, &idtr);
}

static uint64_t read_cr0(void)
{
	uint64_t v;
	__asm__ volatile("mov %%cr0, %0" : "=r"(v));
	return v;
}

static uint64_t read_cr4(void)
{
	uint64_t v;
	__asm__ volatile("mov %%cr4, %0" : "=r"(v));
	return v;
}

static void cpuid(uint32_t leaf, uint32_t *ecx)
{
	uint32_t a, b, d;
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(*ecx), "=d"(d) : "a"(leaf), "c"(0));
}

/* WP makes supervisor writes honour read-only (CoW) PTEs; SSE on; XSAVE
 * with x87|SSE(|AVX) when the CPU has it, so xgetbv works. */
static void fpu_enable(void)
{
	uint64_t cr0 = (read_cr0() | CR0_MP | CR0_NE | CR0_WP) & ~(CR0_EM | CR0_TS);
	__asm__ volatile("mov %0, %%cr0" : : "r"(cr0) : "memory");
	uint32_t ecx;
	cpuid(1, &ecx);
	uint64_t cr4 = read_cr4() | CR4_OSFXSR | CR4_OSXMM;
	if (ecx & (1u << 26))
		cr4 |= CR4_OSXSAVE;
	__asm__ volatile("mov %0, %%cr4" : : "r"(cr4) : "memory");
	if (cr4 & CR4_OSXSAVE) {
		uint64_t xcr0 = 3 | ((ecx & (1u << 28)) ? 4 : 0);
		__asm__ volatile("xsetbv"
		                 :
		                 : "c"(0), "a"((uint32_t)xcr0), "d"((uint32_t)(xcr0 >> 32)));
	}
	uint32_t mxcsr = 0x1f80;
	__asm__ volatile("fninit\n\tldmxcsr %0" : : "m"(mxcsr));
}

void nub_rt_cpu_setup(const struct nub_peb *peb)
{
	rt_wrmsr(RT_MSR_GS_BASE, (uint64_t)peb);
	if (peb->magic != NUB_PEB_MAGIC || peb->abi_version != NUB_GUEST_ABI_VERSION ||
	    peb->struct_size < sizeof(*peb))
		rt_abort_bare(NUB_ABORT_CORRUPT); /* its buffers cannot be trusted */
	fpu_enable();
	uint64_t boot;
	int rc = rt_scratch_alloc(peb, 2, &boot);
	if (rc)
		rt_abort(rc == NUB_EFULL ? NUB_ABORT_OOM : NUB_ABORT_CORRUPT,
		         "scratch allocator: no pages for the boot tables", 47);
	struct rt_tables *bt = rt_scratch_ptr(peb, boot);
	tables_build(bt, (uint64_t)bt + 2 * NUB_PAGE_SIZE);
	tables_load(bt);
	tables_build(&rt_tables, peb->exn_stack_top_gva);
	tables_load(&rt_tables);
}

/* Are the permanent tables loaded and the FPU on? (The host may restore
 * them with the rest of the captured vCPU state, or reset them.) */
static int cpu_ready(void)
{
	struct rt_dtr gdtr, idtr;
	uint16_t tr;
	__asm__ volatile("sgdt %0\n\tsidt %1\n\tstr %2" : "=m"(gdtr), "=m"(idtr), "=r"(tr));
	uint64_t cr0 = read_cr0(), cr4 = read_cr4();
	return gdtr.base == (uint64_t)rt_tables.gdt && gdtr.limit == sizeof(rt_tables.gdt) - 1 &&
	       idtr.base == (uint64_t)rt_tables.idt && idtr.limit == sizeof(rt_tables.idt) - 1 &&
	       tr == RT_SEL_TSS && (cr0 & (CR0_WP | CR0_MP | CR0_EM)) == (CR0_WP | CR0_MP) &&
	       (cr4 & (CR4_OSFXSR | CR4_OSXMM)) == (CR4_OSFXSR | CR4_OSXMM);
}

void nub_rt_cpu_ensure(const struct nub_peb *peb)
{
	rt_wrmsr(RT_MSR_GS_BASE, (uint64_t)peb);
	if (!cpu_ready())
		nub_rt_cpu_setup(peb);
}
