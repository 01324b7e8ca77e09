/* SPDX-License-Identifier: MIT */
/*
 * The process vCPU's child side: what a signal in the vCPU process means
 * (the table in mock_proc_child.c) -- an MMIO exit with the store decoded,
 * a guest exception delivered as the CPU and the host's stub would, a
 * stale page re-mapped, a cancel -- and the stub's iretq when the guest
 * resumes. Runs in the signal handler: the exits' details are formatted
 * here without libc.
 */
#include <errno.h>

#include "vmem.h"
#include <nub/guest_abi.h>

#include <linux/audit.h>

#include "mock_proc_child.h"
#include "x86_store.h"

#define PAGE     NUB_PAGE_SIZE
#define PFE_P    (1u << 0)
#define PFE_W    (1u << 1)
#define PFE_U    (1u << 2)
#define PFE_I    (1u << 4)
#define TSS_IST1 0x24

/* Text into the exit's detail, without libc (the child's FS may be the
 * guest's). */
struct detail {
	char *d;
	size_t n, cap;
};

static void detail_str(struct detail *t, const char *s)
{
	while (*s && t->n + 1 < t->cap)
		t->d[t->n++] = *s++;
	t->d[t->n] = '\0';
}

static void detail_num(struct detail *t, uint64_t v, unsigned base)
{
	static const char digits[] = "0123456789abcdef";
	char buf[24];
	unsigned k = 0;

	do
		buf[k++] = digits[v % base];
	while ((v /= base) && k < sizeof(buf));
	if (base == 16)
		detail_str(t, "0x");
	while (k && t->n + 1 < t->cap)
		t->d[t->n++] = buf[--k];
	t->d[t->n] = '\0';
}

static void exit_internal(const char *what, uint64_t addr)
{
	struct detail t = {child_sh->exit.detail, 0, sizeof(child_sh->exit.detail)};

	child_sh->exit.reason = NUB_EXIT_INTERNAL;
	detail_str(&t, what);
	detail_num(&t, addr, 16);
}

/* The name of the errnos mapping can fail with (a libc-free strerror). */
static const char *errno_name(int e)
{
	switch (e) {
	case ENOMEM:
		return "ENOMEM: out of memory, or more mappings than vm.max_map_count";
	case EEXIST:
		return "EEXIST: the vCPU process has its own mapping there";
	case EINVAL:
		return "EINVAL";
	case EFAULT:
		return "EFAULT";
	case EAGAIN:
		return "EAGAIN";
	case EPERM:
		return "EPERM";
	case EACCES:
		return "EACCES";
	default:
		return "errno";
	}
}

/* A guest page the child could not map: the backend's failure, with the
 * system call's errno and how many runs the child has mapped. */
static void exit_map_failed(uint64_t addr, int e)
{
	struct detail t = {child_sh->exit.detail, 0, sizeof(child_sh->exit.detail)};

	child_sh->exit.reason = NUB_EXIT_INTERNAL;
	child_sh->exit.hw_reason = (uint64_t)e;
	detail_str(&t, "cannot map guest page ");
	detail_num(&t, addr, 16);
	detail_str(&t, ": errno ");
	detail_num(&t, (uint64_t)e, 10);
	detail_str(&t, " (");
	detail_str(&t, errno_name(e));
	detail_str(&t, "), ");
	detail_num(&t, child_runs_mapped(), 10);
	detail_str(&t, " runs mapped");
}

/* Deliver a guest exception: what the CPU pushes on the IST1 stack and
 * what the host's stub adds, then the stub's exception-doorbell store. */
static void deliver(const ucontext_t *uc, uint64_t vector, uint64_t error, uint64_t cr2,
                    uint64_t rip)
{
	uint64_t ist1 = 0;
	struct nub_exception_frame f = {
	        .vector = vector,
	        .error_code = error,
	        .rip = rip,
	        .cs = NUB_SEL_USER_CODE,
	        .rflags = (uint64_t)uc->uc_mcontext.gregs[REG_EFL],
	        .rsp = (uint64_t)uc->uc_mcontext.gregs[REG_RSP],
	        .ss = NUB_SEL_USER_DATA,
	};

	if (child_guest_rw(child_sh->tss_gva + TSS_IST1, &ist1, 8, 0) ||
	    child_guest_rw(ist1 - sizeof(f), &f, sizeof(f), 1)) {
		child_sh->exit.reason = NUB_EXIT_SHUTDOWN; /* no usable TSS or stack */
		child_copy(child_sh->exit.detail, "exception with no usable exception stack",
		           sizeof("exception with no usable exception stack"));
		return;
	}
	child_sh->regs.rip = rip;
	child_sh->cr2 = cr2;
	child_sh->exception = 1;
	child_sh->exit.reason = NUB_EXIT_MMIO_WRITE;
	child_sh->exit.gpa = child_sh->gpa_base + NUB_DOORBELL_GPA_OF(NUB_DOORBELL_EXCEPTION);
	child_sh->exit.size = 8;
	child_sh->exit.data = child_sh->regs.rax;
}

/* A store the tables allow to memory that is not there (the doorbell) or
 * read-only at the hypervisor: an MMIO exit with the decoded store. */
static void mmio(const ucontext_t *uc, nub_gpa_t gpa, int write)
{
	uint64_t gprs[16];
	uint8_t insn[15];
	size_t n = 0;
	struct nub_x86_store st;
	uint64_t rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];

	for (unsigned i = 0; i < 16; i++)
		gprs[i] = (uint64_t)uc->uc_mcontext.gregs[child_greg_of[i]];
	/* The instruction is guest code mapped here: read what is mapped. */
	while (n < sizeof(insn) && !child_guest_rw(rip + n, &insn[n], 1, 0))
		n++;
	child_sh->exit.gpa = gpa;
	if (write && nub_x86_decode_store(insn, n, gprs, &st) == NUB_X86_DECODE_OK) {
		child_sh->exit.reason = NUB_EXIT_MMIO_WRITE;
		child_sh->exit.size = st.size;
		child_sh->exit.data = st.data;
		child_sh->advance = st.len;
		return;
	}
	child_sh->exit.reason = write ? NUB_EXIT_MMIO_WRITE : NUB_EXIT_MMIO_READ;
	child_sh->exit.size = 0; /* not a plain store: cannot be completed */
}

/* #PF: the guest's own fault, or a hypervisor-level one (MMIO). */
static int page_fault(const ucontext_t *uc, uint64_t addr, uint64_t err)
{
	struct nub_vmem_ops ops;
	struct nub_vmem_mapping m;
	int write = (err & PFE_W) != 0, fetch = (err & PFE_I) != 0;
	uint64_t rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];

	child_vmem_ops(&ops);
	if (nub_vmem_translate(&ops, addr & ~(PAGE - 1), &m) || m.kind == NUB_VMEM_UNMAPPED) {
		deliver(uc, 14, PFE_U | (err & (PFE_W | PFE_I)), addr, rip);
		return 0;
	}
	int allowed = (m.perms & NUB_VMEM_USER) && (!write || m.kind == NUB_VMEM_BASIC) &&
	              (!write || (m.perms & NUB_VMEM_W)) && (!fetch || (m.perms & NUB_VMEM_X));
	if (!allowed) {
		deliver(uc, 14, PFE_P | PFE_U | (err & (PFE_W | PFE_I)), addr, rip);
		return 0;
	}
	int writable;
	nub_gpa_t gpa = m.gpa + (addr & (PAGE - 1));
	if (!child_host_of(gpa, 1, &writable) || (write && !writable)) {
		mmio(uc, gpa, write);
		return 0;
	}
	if (addr < child_map_floor) {
		exit_internal("guest page below vm.mmap_min_addr at ", addr);
		return 0;
	}
	/* Stale: the tables changed under us. Map the page and retry once;
	 * a page that cannot be mapped is the backend's failure, not the
	 * guest's (never a retry loop). */
	int e = child_map_page(addr);
	if (e) {
		if (e == 1) /* the tables changed again: not mappable after all */
			exit_internal("guest page not mappable after a table change at ", addr);
		else
			exit_map_failed(addr, e);
		return 0;
	}
	return 1;
}

/* The exit for a signal. Returns 1 when the guest just continues. */
/* A system call from the guest (seccomp's SIGSYS, RIP after the
 * instruction). `syscall` does what it does on the software KVM
 * (NUB_CAP_SYSCALL_AT_CPL3): RCX = the next instruction, R11 = RFLAGS,
 * RFLAGS &= ~SFMASK, jump to LSTAR, all at CPL3 and without an exit (where
 * LSTAR is no user code, the fetch there faults and that is the exit).
 * `int $0x80` (the i386 entry) is what it is at CPL3 on a VM whose IDT
 * gates are DPL0: #GP with the IDT error code, at the instruction. */
static int guest_syscall(const siginfo_t *si, ucontext_t *uc)
{
	greg_t *g = uc->uc_mcontext.gregs;
	uint64_t rip = (uint64_t)g[REG_RIP];

	if (si->si_arch != AUDIT_ARCH_X86_64) {
		deliver(uc, 13, 0x80u << 3 | 2u, 0, rip - 2);
		return 0;
	}
	g[REG_RCX] = (greg_t)rip;
	g[REG_R11] = g[REG_EFL];
	g[REG_EFL] = (greg_t)((uint64_t)g[REG_EFL] & ~child_sh->sfmask);
	g[REG_RIP] = (greg_t)child_sh->lstar;
	return 1;
}

int child_classify(int sig, const siginfo_t *si, ucontext_t *uc)
{
	uint64_t trap = (uint64_t)uc->uc_mcontext.gregs[REG_TRAPNO];
	uint64_t err = (uint64_t)uc->uc_mcontext.gregs[REG_ERR];
	uint64_t rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];

	switch (sig) {
	case SIGURG:
		if (!atomic_exchange(&child_sh->cancel, 0))
			return 1; /* a stale kick: the request was withdrawn */
		child_sh->exit.reason = NUB_EXIT_CANCELLED;
		return 0;
	case SIGSYS: /* the guest's syscall (0f 05) or int 0x80 (cd 80) */
		return guest_syscall(si, uc);
	case SIGSEGV:
	case SIGBUS:
		if (trap == 14)
			return page_fault(uc, (uint64_t)si->si_addr, err);
		deliver(uc, trap == 17 ? 17 : 13, trap == 14 ? 0 : err, 0, rip);
		return 0;
	case SIGILL:
		deliver(uc, 6, 0, 0, rip);
		return 0;
	case SIGFPE:
		deliver(uc, trap == 16 ? 16 : trap == 19 ? 19 : 0, 0, 0, rip);
		return 0;
	case SIGTRAP:
		if (trap == 3) {
			/* The host's gates are DPL0: on a CPU, int3 (cc) or int $3
			 * (cd 03) at CPL3 is #GP naming IDT entry 3, at the
			 * instruction; Linux reports #BP after it. */
			uint8_t op = 0;
			child_guest_rw(rip - 1, &op, 1, 0);
			deliver(uc, 13, 3 << 3 | 2, 0, op == 0xcc ? rip - 1 : rip - 2);
			return 0;
		}
		deliver(uc, 1, 0, 0, rip);
		return 0;
	default:
		exit_internal("unexpected signal in the vCPU process, RIP ", rip);
		return 0;
	}
}

/* The host's stub returns with iretq: where to, with which flags and stack,
 * is the frame's (the host may have changed it, e.g. to send a system call
 * to the guest's entry). */
void child_iret_load(ucontext_t *uc)
{
	uint64_t ist1 = 0, f[5]; /* rip, cs, rflags, rsp, ss */

	if (child_guest_rw(child_sh->tss_gva + TSS_IST1, &ist1, 8, 0) ||
	    child_guest_rw(ist1 - sizeof(f), f, sizeof(f), 0))
		return; /* deliver() wrote it there; nothing can have moved it */
	uc->uc_mcontext.gregs[REG_RIP] = (greg_t)f[0];
	uc->uc_mcontext.gregs[REG_EFL] = (greg_t)f[2];
	uc->uc_mcontext.gregs[REG_RSP] = (greg_t)f[3];
}
