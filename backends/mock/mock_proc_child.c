/* SPDX-License-Identifier: MIT */
/*
 * The process vCPU's child side: everything that runs in the vCPU process,
 * forked by the host side (mock_proc_host.c). Guest code at CPL3 runs here
 * natively, with the guest's user pages mapped at their guest-virtual
 * addresses -- aliases of the regions' shared host pages (core allocates
 * them MAP_SHARED for this backend, NUB_CAP_SHARED_MEMORY), as the guest's
 * page tables and the regions' permissions say. In the manner of Solo5's
 * spt tender, every exit is a signal in the child:
 *
 *   SIGSEGV on a page the tables map to no memory (the doorbell) or to a
 *           read-only region  -> MMIO exit, the store decoded
 *                                (backends/common/x86_store.c);
 *   SIGSEGV/SIGILL/SIGFPE/SIGTRAP otherwise -> the guest exception, delivered
 *           as the CPU and the host's stub would: the frame on the exception
 *           stack (TSS IST1), CR2, CPL0, a store to the exception doorbell;
 *   SIGSYS  (seccomp: the guest's own system call) -> #UD, as on hardware
 *           with EFER.SCE clear;
 *   SIGURG  (nub's interrupt) -> CANCELLED.
 *
 * The child never leaves its signal handler except to run guest code: the
 * handler saves the guest's registers from the signal frame, posts the exit
 * in the page shared with the host (mock_proc_proto.h), waits (futex) for
 * the next run, writes the registers back into the frame and returns --
 * sigreturn loads them all, RIP and RSP included, and the guest continues.
 * The first entry is a signal the child sends itself.
 *
 * The child is a copy of the host process (fork), so a wild guest write
 * harms nothing of the host's; a seccomp filter lets only the backend's
 * code make system calls (a libc wrapper called after that traps as the
 * guest's own system call would). The
 * handler is entered with the guest's FS and GS bases (the guest may have
 * changed them: wrfsbase): it uses raw system calls, no libc and no
 * thread-local storage, and this file is built without the stack
 * protector, whose canary is read through FS. Only the set-up before
 * seccomp calls libc (getauxval, the signal handling calls).
 */
#include <asm/prctl.h>
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <nub/guest_abi.h>
#include <nub/vmem.h>

#include "mock.h"
#include "mock_proc_proto.h"
#include "x86_store.h"

#define PAGE          NUB_PAGE_SIZE
#define PFE_P         (1u << 0)
#define PFE_W         (1u << 1)
#define PFE_U         (1u << 2)
#define PFE_I         (1u << 4)
#define TSS_IST1      0x24
#define FP_MAGIC1     0x46505853u
#define XFEATURE_PKRU (1ull << 9)
#define HWCAP2_FSGS   (1u << 1)

/* ---- raw system calls (the child may have no usable TLS) ---- */

static long sys6(long n, long a, long b, long c, long d, long e, long f)
{
	long r;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;

	__asm__ volatile("syscall"
	                 : "=a"(r)
	                 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
	                 : "rcx", "r11", "memory");
	return r;
}

static long futex_wait(_Atomic uint32_t *w, uint32_t val, long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

	return sys6(SYS_futex, (long)w, FUTEX_WAIT, val, ms ? (long)&ts : 0, 0, 0);
}

static void futex_wake(_Atomic uint32_t *w)
{
	sys6(SYS_futex, (long)w, FUTEX_WAKE, 1, 0, 0, 0);
}

/* ---- the child: guest memory ---- */

static struct nub_vm *cvm;      /* the child's copy of the VM */
static struct proc_shared *csh; /* the shared page */
/* What the child has mapped for the guest, to unmap it all again: runs of
 * guest-virtual pages, merged when one continues the last (a guest writing
 * its heap page by page makes one run, not one per page). Grows by mmap:
 * a guest may write every page of a 1 GiB heap. */
struct run {
	uint64_t gva, len;
};
static struct run *runs;
static size_t nruns, runs_cap;
static int have_fsgsbase;
static uint32_t pkru_offset; /* of PKRU in an XSAVE image; 0: no PKRU */
static uint64_t map_floor;   /* vm.mmap_min_addr, rounded up to a page */
static uint64_t host_fs, host_gs;

static void copy(void *d, const void *s, size_t n)
{
	volatile uint8_t *dd = d;
	const uint8_t *ss = s;

	while (n--)
		*dd++ = *ss++;
}

static void child_ops(struct nub_vmem_ops *ops)
{
	ops->ctx = cvm;
	ops->read_entry = mock_read_entry;
	ops->write_entry = mock_write_entry;
	ops->alloc_table = NULL;
	ops->root = csh->cr3 & NUB_PTE_ADDR_MASK;
}

/* Host address of `len` bytes at guest-physical `gpa` (one region). */
static uint8_t *host_of(nub_gpa_t gpa, uint64_t len, int *writable)
{
	struct nub_region *r = mock_region_of(cvm, gpa, len);

	if (!r)
		return NULL;
	if (writable)
		*writable = (r->flags & NUB_MEM_WRITE) != 0;
	return (uint8_t *)r->host + (gpa - r->gpa);
}

static long sys_error(long r)
{
	return r < 0 && r > -4096L ? -r : 0;
}

/* Remember [gva, +len) as mapped. 0, or an errno. */
static int runs_add(uint64_t gva, uint64_t len)
{
	if (nruns && runs[nruns - 1].gva + runs[nruns - 1].len == gva) {
		runs[nruns - 1].len += len;
		return 0;
	}
	if (nruns == runs_cap) {
		size_t cap = runs_cap ? runs_cap * 2 : 4096;
		long r = sys6(SYS_mmap, 0, (long)(cap * sizeof(*runs)), PROT_READ | PROT_WRITE,
		              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (sys_error(r))
			return (int)sys_error(r);
		copy((void *)r, runs, nruns * sizeof(*runs));
		if (runs)
			sys6(SYS_munmap, (long)runs, (long)(runs_cap * sizeof(*runs)), 0, 0, 0, 0);
		runs = (struct run *)r;
		runs_cap = cap;
	}
	runs[nruns].gva = gva;
	runs[nruns++].len = len;
	return 0;
}

/* Alias [gpa, +len) at gva with the guest's permissions. Pages below the
 * lowest address Linux lets a process map stay unmapped (an access there
 * is reported as an internal error naming it). Returns 0 when mapped, 1
 * when the guest may not have it mapped here (no memory: an MMIO page;
 * supervisor; below the floor), or the errno of the system call that
 * failed. */
static int map_run(uint64_t gva, nub_gpa_t gpa, uint64_t len, uint32_t kind, uint32_t perms)
{
	int writable;
	uint8_t *host = host_of(gpa, len, &writable);
	long prot = PROT_READ, r;
	int e;

	if (!host || !(perms & NUB_VMEM_USER))
		return 1;
	if (gva < map_floor) { /* Linux maps nothing below vm.mmap_min_addr */
		uint64_t skip = map_floor - gva;
		if (skip >= len)
			return 1;
		gva += skip, gpa += skip, host += skip, len -= skip;
	}
	if (kind == NUB_VMEM_BASIC && (perms & NUB_VMEM_W) && writable)
		prot |= PROT_WRITE;
	if (perms & NUB_VMEM_X)
		prot |= PROT_EXEC;
	/* Reserve first: never replace a mapping of the child's own. */
	r = sys6(SYS_mmap, (long)gva, (long)len, PROT_NONE,
	         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (r != (long)gva) {
		if (!sys_error(r)) /* an address, not an error: an old kernel */
			sys6(SYS_munmap, r, (long)len, 0, 0, 0, 0);
		return sys_error(r) ? (int)sys_error(r) : EEXIST;
	}
	r = sys6(SYS_mremap, (long)host, 0, (long)len, MREMAP_MAYMOVE | MREMAP_FIXED, (long)gva, 0);
	if (r == (long)gva)
		r = sys6(SYS_mprotect, (long)gva, (long)len, prot, 0, 0, 0);
	e = (int)sys_error(r);
	if (!e)
		e = runs_add(gva, len);
	if (e)
		sys6(SYS_munmap, (long)gva, (long)len, 0, 0, 0, 0);
	return e;
}

static void unmap_all(void)
{
	for (size_t i = 0; i < nruns; i++)
		sys6(SYS_munmap, (long)runs[i].gva, (long)runs[i].len, 0, 0, 0, 0);
	nruns = 0;
}

/* Everything the tables map, again. A page that fails here faults when
 * the guest touches it, and map_page names the failure then. */
static void map_all(void)
{
	struct nub_vmem_ops ops;
	struct nub_vmem_iter it;
	struct nub_vmem_mapping run;

	unmap_all();
	child_ops(&ops);
	nub_vmem_iter_init(&it, &ops, 0, NUB_GVA_LIMIT);
	while (nub_vmem_iter_next(&it, &run) == 1) {
		if (mock_region_of(cvm, run.gpa, run.len)) {
			map_run(run.gva, run.gpa, run.len, run.kind, run.perms);
			continue;
		}
		for (uint64_t off = 0; off < run.len; off += PAGE) /* crosses regions */
			map_run(run.gva + off, run.gpa + off, PAGE, run.kind, run.perms);
	}
}

/* Map the one page at gva as the tables say now: map_run's result. */
static int map_page(uint64_t gva)
{
	struct nub_vmem_ops ops;
	struct nub_vmem_mapping m;

	gva &= ~(PAGE - 1);
	sys6(SYS_munmap, (long)gva, PAGE, 0, 0, 0, 0);
	child_ops(&ops);
	if (!nub_vmem_translate(&ops, gva, &m) && m.kind != NUB_VMEM_UNMAPPED)
		return map_run(gva, m.gpa, PAGE, m.kind, m.perms);
	return 1;
}

/* Guest-virtual bytes through the tables, at any privilege (the CPU's own
 * accesses: the TSS, the exception frame). */
static int guest_rw(uint64_t gva, void *buf, uint64_t len, int write)
{
	struct nub_vmem_ops ops;
	struct nub_vmem_mapping m;
	int writable;

	child_ops(&ops);
	if ((gva & (PAGE - 1)) + len > PAGE || nub_vmem_translate(&ops, gva, &m) ||
	    m.kind == NUB_VMEM_UNMAPPED)
		return -1;
	uint8_t *h = host_of(m.gpa + (gva & (PAGE - 1)), len, &writable);
	if (!h || (write && !writable))
		return -1;
	if (write)
		copy(h, buf, len);
	else
		copy(buf, h, len);
	return 0;
}

/* ---- the child: registers ---- */

static const int greg_of[16] = {REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP,
                                REG_RSI, REG_RDI, REG_R8,  REG_R9,  REG_R10, REG_R11,
                                REG_R12, REG_R13, REG_R14, REG_R15};

static uint64_t *nub_reg(struct nub_regs *r, unsigned n)
{
	uint64_t *const map[16] = {&r->rax, &r->rcx, &r->rdx, &r->rbx, &r->rsp, &r->rbp,
	                           &r->rsi, &r->rdi, &r->r8,  &r->r9,  &r->r10, &r->r11,
	                           &r->r12, &r->r13, &r->r14, &r->r15};
	return map[n];
}

static void regs_save(const ucontext_t *uc)
{
	for (unsigned i = 0; i < 16; i++)
		*nub_reg(&csh->regs, i) = (uint64_t)uc->uc_mcontext.gregs[greg_of[i]];
	csh->regs.rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
	csh->regs.rflags = (uint64_t)uc->uc_mcontext.gregs[REG_EFL];
	const uint8_t *fx = (const uint8_t *)uc->uc_mcontext.fpregs;
	if (fx) {
		copy(&csh->fpu.fcw, fx + 0, 2);
		copy(&csh->fpu.fsw, fx + 2, 2);
		csh->fpu.ftwx = fx[4];
		copy(&csh->fpu.last_opcode, fx + 6, 2);
		copy(&csh->fpu.last_ip, fx + 8, 8);
		copy(&csh->fpu.last_dp, fx + 16, 8);
		copy(&csh->fpu.mxcsr, fx + 24, 4);
		copy(csh->fpu.fpr, fx + 32, sizeof(csh->fpu.fpr));
		copy(csh->fpu.xmm, fx + 160, sizeof(csh->fpu.xmm));
	}
}

/* The FPU as set_fpu says: x87/SSE from the record, every other XSAVE
 * component (AVX, ...) to its initial state, through the signal frame. */
static void fpu_load(ucontext_t *uc)
{
	uint8_t *fx = (uint8_t *)uc->uc_mcontext.fpregs;
	uint32_t magic;

	if (!fx)
		return;
	copy(fx + 0, &csh->fpu.fcw, 2);
	copy(fx + 2, &csh->fpu.fsw, 2);
	fx[4] = csh->fpu.ftwx;
	copy(fx + 6, &csh->fpu.last_opcode, 2);
	copy(fx + 8, &csh->fpu.last_ip, 8);
	copy(fx + 16, &csh->fpu.last_dp, 8);
	copy(fx + 24, &csh->fpu.mxcsr, 4);
	copy(fx + 32, csh->fpu.fpr, sizeof(csh->fpu.fpr));
	copy(fx + 160, csh->fpu.xmm, sizeof(csh->fpu.xmm));
	copy(&magic, fx + 464, 4); /* struct _fpx_sw_bytes: an XSAVE frame */
	if (magic == FP_MAGIC1) {
		/* x87/SSE only, every other component initialised by the
		 * kernel's XRSTOR at sigreturn -- but PKRU, which Linux takes
		 * from the frame when it is there: 0, its initial value. */
		uint64_t bv = 3, saved;
		uint32_t size, zero = 0;
		copy(&saved, fx + 464 + 8, 8);
		copy(&size, fx + 464 + 16, 4);
		if (pkru_offset && (saved & XFEATURE_PKRU) && pkru_offset + 4 <= size) {
			copy(fx + pkru_offset, &zero, 4);
			bv |= XFEATURE_PKRU;
		}
		copy(fx + 512, &bv, 8);
	}
}

/* The selectors of DS, ES, FS, GS as the guest left them, and loading
 * them back (a 64-bit sigreturn restores neither; loading FS or GS clears
 * its base, which the caller sets after). */
static void selectors_save(uint16_t sel[4])
{
	__asm__ volatile("mov %%ds, %0\n\tmov %%es, %1\n\tmov %%fs, %2\n\tmov %%gs, %3"
	                 : "=r"(sel[0]), "=r"(sel[1]), "=r"(sel[2]), "=r"(sel[3]));
}

static void selectors_load(const uint16_t sel[4])
{
	__asm__ volatile("mov %0, %%ds\n\tmov %1, %%es\n\tmov %2, %%fs\n\tmov %3, %%gs"
	                 :
	                 : "r"(sel[0]), "r"(sel[1]), "r"(sel[2]), "r"(sel[3])
	                 : "memory");
}

static void regs_load(ucontext_t *uc)
{
	for (unsigned i = 0; i < 16; i++)
		uc->uc_mcontext.gregs[greg_of[i]] = (greg_t)*nub_reg(&csh->regs, i);
	uc->uc_mcontext.gregs[REG_RIP] = (greg_t)csh->regs.rip;
	uc->uc_mcontext.gregs[REG_EFL] = (greg_t)csh->regs.rflags;
}

/* FS/GS: the guest's while it runs, the child's own (TLS) in the handler. */
static uint64_t rdbase(int gs)
{
	uint64_t v = 0;
	if (!have_fsgsbase) {
		sys6(SYS_arch_prctl, gs ? ARCH_GET_GS : ARCH_GET_FS, (long)&v, 0, 0, 0, 0);
		return v;
	}
	if (gs)
		__asm__ volatile("rdgsbase %0" : "=r"(v));
	else
		__asm__ volatile("rdfsbase %0" : "=r"(v));
	return v;
}

static void wrbase(int gs, uint64_t v)
{
	if (!have_fsgsbase) { /* older CPUs: the system call (this file's code may) */
		sys6(SYS_arch_prctl, gs ? ARCH_SET_GS : ARCH_SET_FS, (long)v, 0, 0, 0, 0);
		return;
	}
	if (gs)
		__asm__ volatile("wrgsbase %0" : : "r"(v));
	else
		__asm__ volatile("wrfsbase %0" : : "r"(v));
}

/* Where PKRU sits in a standard-format XSAVE image (CPUID 0xD.9), when the
 * OS has protection keys on (CPUID 7.0 ECX.OSPKE); else 0. */
static uint32_t xsave_pkru_offset(void)
{
	uint32_t a, b, c, d;

	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
	if (a < 0xd)
		return 0;
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
	if (!(c & (1u << 4)))
		return 0;
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0xd), "c"(9));
	return a >= 4 ? b : 0;
}

/* ---- the child: exits ---- */

static uint32_t cur_seq; /* the command the child is answering */
static pid_t host_pid;   /* the host process; gone: the child exits */

static void post_exit(void)
{
	atomic_store(&csh->in_guest, 0);
	atomic_store(&csh->seq_done, cur_seq);
	futex_wake(&csh->seq_done);
}

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
	struct detail t = {csh->exit.detail, 0, sizeof(csh->exit.detail)};

	csh->exit.reason = NUB_EXIT_INTERNAL;
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
	struct detail t = {csh->exit.detail, 0, sizeof(csh->exit.detail)};

	csh->exit.reason = NUB_EXIT_INTERNAL;
	csh->exit.hw_reason = (uint64_t)e;
	detail_str(&t, "cannot map guest page ");
	detail_num(&t, addr, 16);
	detail_str(&t, ": errno ");
	detail_num(&t, (uint64_t)e, 10);
	detail_str(&t, " (");
	detail_str(&t, errno_name(e));
	detail_str(&t, "), ");
	detail_num(&t, nruns, 10);
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

	if (guest_rw(csh->tss_gva + TSS_IST1, &ist1, 8, 0) ||
	    guest_rw(ist1 - sizeof(f), &f, sizeof(f), 1)) {
		csh->exit.reason = NUB_EXIT_SHUTDOWN; /* no usable TSS or stack */
		copy(csh->exit.detail, "exception with no usable exception stack",
		     sizeof("exception with no usable exception stack"));
		return;
	}
	csh->regs.rip = rip;
	csh->cr2 = cr2;
	csh->exception = 1;
	csh->exit.reason = NUB_EXIT_MMIO_WRITE;
	csh->exit.gpa = NUB_DOORBELL_GPA + NUB_DOORBELL_EXCEPTION;
	csh->exit.size = 8;
	csh->exit.data = csh->regs.rax;
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
		gprs[i] = (uint64_t)uc->uc_mcontext.gregs[greg_of[i]];
	/* The instruction is guest code mapped here: read what is mapped. */
	while (n < sizeof(insn) && !guest_rw(rip + n, &insn[n], 1, 0))
		n++;
	csh->exit.gpa = gpa;
	if (write && nub_x86_decode_store(insn, n, gprs, &st) == NUB_X86_DECODE_OK) {
		csh->exit.reason = NUB_EXIT_MMIO_WRITE;
		csh->exit.size = st.size;
		csh->exit.data = st.data;
		csh->advance = st.len;
		return;
	}
	csh->exit.reason = write ? NUB_EXIT_MMIO_WRITE : NUB_EXIT_MMIO_READ;
	csh->exit.size = 0; /* not a plain store: cannot be completed */
}

/* #PF: the guest's own fault, or a hypervisor-level one (MMIO). */
static int page_fault(const ucontext_t *uc, uint64_t addr, uint64_t err)
{
	struct nub_vmem_ops ops;
	struct nub_vmem_mapping m;
	int write = (err & PFE_W) != 0, fetch = (err & PFE_I) != 0;
	uint64_t rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];

	child_ops(&ops);
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
	if (!host_of(gpa, 1, &writable) || (write && !writable)) {
		mmio(uc, gpa, write);
		return 0;
	}
	if (addr < map_floor) {
		exit_internal("guest page below vm.mmap_min_addr at ", addr);
		return 0;
	}
	/* Stale: the tables changed under us. Map the page and retry once;
	 * a page that cannot be mapped is the backend's failure, not the
	 * guest's (never a retry loop). */
	int e = map_page(addr);
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
static int classify(int sig, const siginfo_t *si, const ucontext_t *uc)
{
	uint64_t trap = (uint64_t)uc->uc_mcontext.gregs[REG_TRAPNO];
	uint64_t err = (uint64_t)uc->uc_mcontext.gregs[REG_ERR];
	uint64_t rip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];

	switch (sig) {
	case SIGURG:
		if (!atomic_exchange(&csh->cancel, 0))
			return 1; /* a stale kick: the request was withdrawn */
		csh->exit.reason = NUB_EXIT_CANCELLED;
		return 0;
	case SIGSYS: /* the guest's syscall (0f 05) or int 0x80 (cd 80): #UD */
		deliver(uc, 6, 0, 0, rip - 2);
		return 0;
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
		deliver(uc, trap == 1 ? 1 : 3, 0, 0, trap == 3 ? rip - 1 : rip);
		return 0;
	default:
		exit_internal("unexpected signal in the vCPU process, RIP ", rip);
		return 0;
	}
}

/* The host's stub returns with iretq: where to, with which flags and stack,
 * is the frame's (the host may have changed it, e.g. to send a system call
 * to the guest's entry). */
static void iret_load(ucontext_t *uc)
{
	uint64_t ist1 = 0, f[5]; /* rip, cs, rflags, rsp, ss */

	if (guest_rw(csh->tss_gva + TSS_IST1, &ist1, 8, 0) ||
	    guest_rw(ist1 - sizeof(f), f, sizeof(f), 0))
		return; /* deliver() wrote it there; nothing can have moved it */
	uc->uc_mcontext.gregs[REG_RIP] = (greg_t)f[0];
	uc->uc_mcontext.gregs[REG_EFL] = (greg_t)f[2];
	uc->uc_mcontext.gregs[REG_RSP] = (greg_t)f[3];
}

/* Wait for the parent's next command; apply it. Returns when the guest is
 * to run. */
static void await_run(ucontext_t *uc)
{
	for (;;) {
		proc_spin_while(&csh->seq_cmd, cur_seq);
		while (atomic_load(&csh->seq_cmd) == cur_seq) {
			futex_wait(&csh->seq_cmd, cur_seq, 1000);
			if (sys6(SYS_getppid, 0, 0, 0, 0, 0, 0) != host_pid)
				sys6(SYS_exit_group, 0, 0, 0, 0, 0, 0);
		}
		cur_seq = atomic_load(&csh->seq_cmd);
		if (csh->cmd == PROC_CMD_QUIT)
			sys6(SYS_exit_group, 0, 0, 0, 0, 0, 0);
		if (csh->sync == PROC_SYNC_ALL)
			map_all();
		else if (csh->sync == PROC_SYNC_PAGE)
			map_page(csh->sync_gva);
		csh->sync = PROC_SYNC_NONE;
		if (csh->regs_dirty) {
			regs_load(uc);
			csh->regs_dirty = 0;
			csh->advance = 0;
		}
		if (csh->fpu_dirty) {
			fpu_load(uc);
			csh->fpu_dirty = 0;
		}
		if (csh->sregs_dirty) {
			selectors_load(csh->sel);
			csh->sregs_dirty = 0;
		}
		uc->uc_mcontext.gregs[REG_RIP] += (greg_t)csh->advance;
		csh->advance = 0;
		if (csh->iret) {
			iret_load(uc);
			csh->iret = 0;
		}
		/* Dekker with mock_proc_interrupt: either this sees the request,
		 * or the interrupter sees in_guest and sends its kick. */
		atomic_store(&csh->in_guest, 1);
		if (atomic_exchange(&csh->cancel, 0)) {
			regs_save(uc);
			csh->exit.reason = NUB_EXIT_CANCELLED;
			post_exit();
			continue;
		}
		return;
	}
}

static void on_signal(int sig, siginfo_t *si, void *ucv);

/* The handler's entry: the kernel clears DF and TF for a handler, not AC,
 * and a guest that set it (alignment checks at CPL3) would make the
 * compiled handler fault before its first statement -- sanitizer
 * instrumentation included. The guest's RFLAGS are in the frame and come
 * back at sigreturn. */
void nub_mock_signal_entry(int sig, siginfo_t *si, void *ucv);
__asm__(".pushsection .text\n\t"
        ".hidden nub_mock_signal_entry\n\t"
        ".type nub_mock_signal_entry, @function\n"
        "nub_mock_signal_entry:\n\t"
        "pushfq\n\t"
        "andq $~0x40000, (%rsp)\n\t"
        "popfq\n\t"
        "jmp on_signal\n\t"
        ".size nub_mock_signal_entry, . - nub_mock_signal_entry\n\t"
        ".popsection");

__attribute__((used)) static void on_signal(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	uint64_t guest_fs = rdbase(0), guest_gs = rdbase(1);
	uint16_t guest_sel[4];

	selectors_save(guest_sel);
	wrbase(0, host_fs);
	wrbase(1, host_gs);
	if (sig == SIGUSR2 && !atomic_load(&csh->ready)) {
		atomic_store(&csh->ready, 1); /* the first entry */
		futex_wake(&csh->ready);
	} else {
		csh->exception = 0;
		csh->advance = 0;
		if (classify(sig, si, uc))
			goto resume;
		uint64_t frame_rip = csh->regs.rip;
		regs_save(uc);
		csh->fs_base = guest_fs;
		csh->gs_base = guest_gs;
		for (unsigned i = 0; i < 4; i++)
			csh->sel[i] = guest_sel[i];
		if (csh->exception)
			csh->regs.rip = frame_rip; /* where the exception happened */
		/* A completed store: RIP is reported past it, as KVM does. */
		csh->regs.rip += csh->advance;
		post_exit();
	}
	await_run(uc);
	guest_fs = csh->fs_base;
	guest_gs = csh->gs_base;
resume:
	wrbase(0, guest_fs);
	wrbase(1, guest_gs);
}

static int seccomp_confine(uint64_t lo, uint64_t hi)
{
	struct sock_filter f[] = {
	        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
	        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
	        /* The return from our handler goes through libc's restorer. */
	        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_rt_sigreturn, 0, 1),
	        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	        BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	                 offsetof(struct seccomp_data, instruction_pointer) + 4),
	        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)(lo >> 32), 1, 0),
	        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
	        BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	                 offsetof(struct seccomp_data, instruction_pointer)),
	        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (uint32_t)lo, 1, 0),
	        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
	        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (uint32_t)hi, 0, 1),
	        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
	        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {sizeof(f) / sizeof(f[0]), f};

	if (sys6(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0))
		return -1;
	return (int)sys6(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, (long)&prog, 0, 0, 0);
}

_Noreturn void mock_proc_child_main(struct nub_vm *vm, struct proc_shared *sh,
                                    const struct proc_start *st)
{
	static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE,
	                           SIGTRAP, SIGSYS, SIGURG, SIGUSR2};
	struct sigaction sa;
	stack_t ss = {.ss_sp = st->alt_stack, .ss_size = PROC_ALT_STACK};

	cvm = vm;
	csh = sh;
	/* Never outlive the host process: await_run checks the parent while
	 * it waits (PR_SET_PDEATHSIG would fire when the *thread* that forked
	 * ends, and calls come from any thread). */
	host_pid = st->host_pid;
	map_floor = st->map_floor;
	have_fsgsbase = (getauxval(AT_HWCAP2) & HWCAP2_FSGS) != 0;
	pkru_offset = xsave_pkru_offset();
	host_fs = rdbase(0);
	host_gs = rdbase(1);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = nub_mock_signal_entry;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask); /* one handler at a time */
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&sa.sa_mask, sigs[i]);
	if (sigaltstack(&ss, NULL))
		sys6(SYS_exit_group, 101, 0, 0, 0, 0, 0);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL))
			sys6(SYS_exit_group, 102, 0, 0, 0, 0, 0);
	sigset_t all;
	sigemptyset(&all);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&all, sigs[i]);
	sigprocmask(SIG_UNBLOCK, &all, NULL);
	map_all();
	if (seccomp_confine(st->text_lo, st->text_hi))
		sys6(SYS_exit_group, 103, 0, 0, 0, 0, 0);
	sys6(SYS_kill, sys6(SYS_getpid, 0, 0, 0, 0, 0, 0), SIGUSR2, 0, 0, 0, 0);
	/* Not reached: the handler runs the guest from here on, and exits. */
	sys6(SYS_exit_group, 104, 0, 0, 0, 0, 0);
	for (;;)
		;
}
