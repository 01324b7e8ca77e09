/* SPDX-License-Identifier: MIT */
/*
 * vCPU state the host owns (guest ABI 2): the GDT/TSS/IDT page and the CPL0
 * exception stubs written into every new snapshot, the initial registers of
 * a guest at CPL3, the clean values restore writes back, and names for
 * what a faulting guest did.
 */
#ifndef NUB_CORE_CPU_H
#define NUB_CORE_CPU_H

#include <stddef.h>
#include <stdint.h>

#include <nub/backend.h>

#include "memory/layout.h"

#define NUB_CPU_VECTORS     32u
#define NUB_CPU_GDT_ENTRIES 8u /* null, kcode, kdata, ucode32, udata, ucode, TSS x2 */
#define NUB_CPU_TSS_OFFSET  0x100u
#define NUB_CPU_TSS_SIZE    104u
#define NUB_CPU_IDT_OFFSET  0x200u
#define NUB_CPU_STUB_SIZE   16u
/* The system-call gate on the stub page (after the stubs and their common
 * tail): LSTAR's value (see nub_cpu_build_system_pages). */
#define NUB_CPU_GATE_OFFSET 0x240u
/* The CPL0 bounce a `syscall` takes on a CPU that enters CPL0 for it: the
 * gate raises this vector, whose IDT entry is the bounce code at
 * NUB_CPU_BOUNCE_OFFSET instead of an exception stub (the CPU never raises
 * vector 15, and `int $15` from CPL3 is #GP: its gate is DPL0). */
#define NUB_CPU_SYSCALL_VECTOR 15u
#define NUB_CPU_BOUNCE_OFFSET  0x260u
#define NUB_CPU_CLEAN_MSRS     11u
/* On the PEB page (user, read-only, executable), after struct nub_peb: an
 * XSAVE image of the initial vector state (legacy area and header; every
 * component's XSTATE_BV bit clear, so XRSTOR initialises it without reading
 * it), room to its largest size without AMX (NUB_CPU_CLEAN_XSAVE_MAX: the
 * standard form up to PKRU), and the entry stub every entry runs first
 * (nub_cpu_entry_regs). */
#define NUB_CPU_CLEAN_XSAVE_OFFSET 0x200u
#define NUB_CPU_CLEAN_XSAVE_MAX    2696u
#define NUB_CPU_ENTRY_STUB_OFFSET  0xe00u

/* Fill the system tables page (GDT at 0, TSS, IDT) and the stub page for
 * layout `l`; each buffer is one page. */
void nub_cpu_build_system_pages(const struct nub_layout *l, uint8_t *tables, uint8_t *stubs);

/* Write the clean XSAVE image and the entry stub into the PEB page (one
 * page; the PEB itself, below NUB_CPU_CLEAN_XSAVE_OFFSET, is left alone).
 * The stub, at CPL3 with R11 = the entry: XRSTOR of every user XSAVE
 * component but AMX's from the image (x87, SSE, AVX, AVX-512, PKRU: the
 * state the guest's last request left in them, whichever the CPU it runs
 * on enables), RAX, RDX and R11 back to 0, then on to the entry with flags
 * and every other register untouched -- so a restore in place need not
 * write the vCPU's XSAVE state (one vCPU ioctl less per request). */
void nub_cpu_build_entry_stub(uint8_t *peb_page);

/* A flat long-mode segment: 64-bit code (L=1) or 32-bit-sized data,
 * base 0, 4 GiB limit, accessed. Also for tests and benches that set up a
 * bare VM. */
struct nub_segment nub_cpu_flat_segment(uint16_t selector, int code, uint8_t dpl);

/* Where a guest's `syscall` goes. Without an entry (a guest that serves
 * none): EFER.SCE clear and LSTAR the gate, so the instruction is #UD, or a
 * fault on the gate where the CPU jumps to LSTAR at CPL3 -- an exit either
 * way, and the host stops the guest. With one: EFER.SCE set, and LSTAR the
 * entry itself on a CPU whose `syscall` stays at CPL3 (the backend says
 * so: NUB_CAP_SYSCALL_AT_CPL3), else the gate, whose CPL0 bounce continues
 * at the entry (the bookkeeping word NUB_SCRATCH_TOP_SYSCALL_ENTRY) on the
 * exception stack, touching nothing the guest controls. No exit at all. */
struct nub_cpu_syscall {
	nub_gva_t entry; /* 0: none */
	int at_cpl3;
};

/* The registers of an entry at CPL3 (the ELF entry, or the dispatch entry
 * for each call): RIP = the entry stub on the PEB page, R11 = `entry`, RSP
 * = the main stack's top, RDI = the PEB, RFLAGS = 2, the rest 0. */
void nub_cpu_entry_regs(const struct nub_layout *l, nub_gva_t entry, struct nub_regs *regs);

/* Registers for the guest's first instruction at CPL3: the entry stub on
 * the PEB page, with R11 = `entry` (the ELF entry or the dispatch entry),
 * which the stub continues at; FS based at fs_base (the guest's thread
 * pointer, 0 before it sets one). CR4.OSXSAVE is set so the stub's XRSTOR
 * runs where the guest has nub's CR4 (hardware KVM: XCR0 is x87 | SSE). */
void nub_cpu_initial_state(const struct nub_layout *l, nub_gva_t entry, nub_gva_t fs_base,
                           const struct nub_cpu_syscall *sys, struct nub_regs *regs,
                           struct nub_sregs *sregs);
void nub_cpu_initial_fpu(struct nub_fpu *fpu);

/* The MSRs restore resets, with their clean values for layout `l`, the
 * guest's FS base and its system calls (LSTAR, STAR, SFMASK). Fills out;
 * returns the count. */
uint32_t nub_cpu_clean_msrs(const struct nub_layout *l, uint64_t fs_base,
                            const struct nub_cpu_syscall *sys,
                            struct nub_msr out[NUB_CPU_CLEAN_MSRS]);

/* Debug registers at reset: no breakpoints. */
void nub_cpu_clean_debugregs(struct nub_debugregs *dr);

/* "#PF page fault" etc. */
const char *nub_cpu_vector_name(uint64_t vector);

/* The name of the privileged instruction `bytes` starts with, or NULL. */
const char *nub_cpu_privileged_insn(const uint8_t *bytes, size_t n);

#endif
