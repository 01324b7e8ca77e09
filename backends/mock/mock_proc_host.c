/* SPDX-License-Identifier: MIT */
/*
 * The process vCPU's host side: what runs in the host process. It starts
 * the child (fork; the child side, mock_proc_child.c, takes over there),
 * hands it each run over the shared page (mock_proc_proto.h) and waits for
 * the exit, interrupts it, and kills it when the regions change or the VM
 * goes. Ordinary host code: libc, errno, the stack protector.
 */
#include "mock_proc.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nub/guest_abi.h>

#include "mock.h"
#include "mock_proc_proto.h"

#define SEL_KERNEL 0x08

struct mock_proc {
	pid_t pid;
	pid_t owner; /* the process that forked the vCPU process: its only driver */
	struct proc_shared *sh;
	uint32_t seq;
	int sync; /* what the child must re-map before the next run */
	uint64_t sync_gva;
	int exception_pending;    /* last exit was an exception: restore CS */
	struct mock_tables *seen; /* what the child last mapped from */
};

static void futex_wait(_Atomic uint32_t *w, uint32_t val, long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

	syscall(SYS_futex, w, FUTEX_WAIT, val, &ts, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *w)
{
	syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* The backend's code, the only code the child's seccomp filter lets make
 * system calls (the guest's get SIGSYS): the executable segment of this
 * module. */
static int text_range(uint64_t *lo, uint64_t *hi)
{
	Dl_info info;

	if (!dladdr((void *)text_range, &info) || !info.dli_fbase)
		return -1;
	const ElfW(Ehdr) *eh = info.dli_fbase;
	const ElfW(Phdr) *ph = (const ElfW(Phdr) *)((const uint8_t *)eh + eh->e_phoff);
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type != PT_LOAD || !(ph[i].p_flags & PF_X))
			continue;
		*lo = (uint64_t)info.dli_fbase + ph[i].p_vaddr;
		*hi = *lo + ph[i].p_memsz;
		return (*lo >> 32) == ((*hi - 1) >> 32) ? 0 : -1;
	}
	return -1;
}

static void proc_kill(struct mock_proc *p)
{
	if (p->pid > 0) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
	}
	if (p->sh)
		munmap(p->sh, PROC_PAGE);
	p->pid = 0;
	p->sh = NULL;
}

/* Wait until the child answered command `seq`; notices a dead child. */
static int await_child(struct mock_proc *p, char *err, size_t err_cap)
{
	proc_spin_while(&p->sh->seq_done, p->seq - 1);
	while (atomic_load(&p->sh->seq_done) != p->seq) {
		int status;
		uint32_t done = atomic_load(&p->sh->seq_done);
		if (done == p->seq)
			break;
		futex_wait(&p->sh->seq_done, done, 200);
		if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
			p->pid = 0;
			snprintf(err, err_cap, "the vCPU process died (%s %d)",
			         WIFSIGNALED(status) ? "signal" : "exit status",
			         WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
			return NUB_EBACKEND;
		}
	}
	return 0;
}

/* What the child is started with, found here before fork: the child of a
 * threaded process may make only async-signal-safe calls (no stdio, no
 * dladdr), and a failure is reported from here. */
static int start_args(struct proc_start *st, char *err, size_t err_cap)
{
	FILE *f = fopen("/proc/sys/vm/mmap_min_addr", "r");
	unsigned long long floor_v;

	st->map_floor = 0x10000; /* Linux's default */
	if (f && fscanf(f, "%llu", &floor_v) == 1)
		st->map_floor = (floor_v + PROC_PAGE - 1) & ~(uint64_t)(PROC_PAGE - 1);
	if (f)
		fclose(f);
	if (text_range(&st->text_lo, &st->text_hi)) {
		snprintf(err, err_cap, "cannot find the backend's code for seccomp");
		return NUB_ESYS;
	}
	st->host_pid = getpid();
	return 0;
}

static int proc_start(struct nub_vm *vm, char *err, size_t err_cap)
{
	struct mock_proc *p = vm->proc;
	struct proc_start st;
	int rc;

	if ((rc = start_args(&st, err, err_cap)))
		return rc;
	p->sh = mmap(NULL, PROC_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	st.alt_stack = mmap(NULL, PROC_ALT_STACK, PROT_READ | PROT_WRITE,
	                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p->sh == MAP_FAILED || st.alt_stack == MAP_FAILED) {
		if (st.alt_stack != MAP_FAILED)
			munmap(st.alt_stack, PROC_ALT_STACK);
		p->sh = NULL;
		snprintf(err, err_cap, "mmap: %s", strerror(errno));
		return NUB_ESYS;
	}
	p->sh->cr3 = vm->sregs.cr3;
	p->sh->gpa_base = vm->gpa_base;
	p->sh->tss_gva = vm->sregs.tr.base;
	p->seq = 0;
	p->owner = getpid();
	p->pid = fork();
	if (p->pid == 0)
		mock_proc_child_main(vm, p->sh, &st);
	munmap(st.alt_stack, PROC_ALT_STACK);
	if (p->pid < 0) {
		p->pid = 0;
		snprintf(err, err_cap, "fork: %s", strerror(errno));
		munmap(p->sh, PROC_PAGE);
		p->sh = NULL;
		return NUB_ESYS;
	}
	while (!atomic_load(&p->sh->ready)) {
		int status;
		futex_wait(&p->sh->ready, 0, 200);
		if (!atomic_load(&p->sh->ready) && waitpid(p->pid, &status, WNOHANG) == p->pid) {
			p->pid = 0;
			snprintf(err, err_cap, "the vCPU process failed to start (%s %d)",
			         WIFSIGNALED(status) ? "signal" : "exit status",
			         WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
			proc_kill(p);
			return NUB_ESYS;
		}
	}
	/* It mapped the guest's pages itself; it needs the registers. */
	p->sync = PROC_SYNC_NONE;
	mock_tables_record(p->seen, vm);
	vm->proc_regs_dirty = vm->proc_fpu_dirty = vm->proc_sregs_dirty = 1;
	return 0;
}

/* The run command: the vCPU state as the child needs it, and what it must
 * re-map first. */
static void run_command_fill(struct nub_vm *vm, struct mock_proc *p)
{
	struct proc_shared *sh = p->sh;

	/* Still in the stub (the host did not load a user CS): its iretq. */
	sh->iret = p->exception_pending && !(vm->sregs.cs.selector & 3);
	if (p->exception_pending) {
		vm->sregs.cs.selector = NUB_SEL_USER_CODE; /* the stub's iretq */
		p->exception_pending = 0;
	}
	sh->fs_base = vm->sregs.fs.base;
	sh->gs_base = vm->sregs.gs.base;
	sh->cr3 = vm->sregs.cr3;
	sh->gpa_base = vm->gpa_base;
	sh->tss_gva = vm->sregs.tr.base;
	sh->lstar = mock_msr_value(vm, 0xc0000082);  /* LSTAR */
	sh->sfmask = mock_msr_value(vm, 0xc0000084); /* SFMASK */
	sh->sync = (uint32_t)p->sync;
	sh->sync_gva = p->sync_gva;
	if (p->sync == PROC_SYNC_ALL)
		mock_tables_record(p->seen, vm);
	else if (p->sync == PROC_SYNC_PAGE)
		mock_tables_forget(p->seen);
	p->sync = PROC_SYNC_NONE;
	sh->regs = vm->regs;
	sh->regs_dirty = vm->proc_regs_dirty;
	sh->fpu = vm->fpu;
	sh->fpu_dirty = vm->proc_fpu_dirty;
	sh->sel[0] = vm->sregs.ds.selector;
	sh->sel[1] = vm->sregs.es.selector;
	sh->sel[2] = vm->sregs.fs.selector;
	sh->sel[3] = vm->sregs.gs.selector;
	sh->sregs_dirty = vm->proc_sregs_dirty;
	vm->proc_regs_dirty = vm->proc_fpu_dirty = vm->proc_sregs_dirty = 0;
	sh->exception = 0;
	memset(&sh->exit, 0, sizeof(sh->exit));
	sh->cmd = PROC_CMD_RUN;
}

/* The child's answer: the vCPU state back into the VM, and the exit. */
static void run_answer_take(struct nub_vm *vm, struct mock_proc *p, struct nub_exit *exit)
{
	struct proc_shared *sh = p->sh;

	vm->regs = sh->regs;
	vm->fpu = sh->fpu;
	vm->sregs.fs.base = sh->fs_base;
	vm->sregs.gs.base = sh->gs_base;
	vm->sregs.ds.selector = sh->sel[0];
	vm->sregs.es.selector = sh->sel[1];
	vm->sregs.fs.selector = sh->sel[2];
	vm->sregs.gs.selector = sh->sel[3];
	*exit = sh->exit;
	if (exit->reason == NUB_EXIT_CANCELLED)
		atomic_store(&vm->interrupt_pending, 0); /* consumed by the child */
	exit->rip = sh->regs.rip;
	if (sh->exception) {
		vm->sregs.cr2 = sh->cr2;
		vm->sregs.cs.selector = SEL_KERNEL; /* in the host's stub */
		p->exception_pending = 1;
		p->sync = PROC_SYNC_PAGE; /* the host may resolve a CoW fault there */
		p->sync_gva = sh->cr2;
	}
}

int mock_proc_run(struct nub_vm *vm, struct nub_exit *exit, char *err, size_t err_cap)
{
	struct mock_proc *p = vm->proc;
	struct proc_shared *sh;
	int rc;

	if (!p) {
		p = vm->proc = calloc(1, sizeof(*p));
		if (!p) {
			snprintf(err, err_cap, "out of memory");
			return NUB_ENOMEM;
		}
		p->sync = PROC_SYNC_ALL;
		p->seen = mock_tables_new(); /* NULL: every set_sregs re-maps */
	}
	memset(exit, 0, sizeof(*exit));
	if (atomic_exchange(&vm->interrupt_pending, 0)) {
		if (p->sh)
			atomic_store(&p->sh->cancel, 0); /* consumed here */
		exit->reason = NUB_EXIT_CANCELLED;
		return 0;
	}
	if (!p->pid && (rc = proc_start(vm, err, err_cap)))
		return rc;
	/* Two processes driving one vCPU process would corrupt each other's
	 * runs: a VM made before a fork runs only where it was made. */
	if (p->owner != getpid()) {
		snprintf(err, err_cap,
		         "this VM's vCPU process belongs to process %d (the VM was made before a "
		         "fork); make the sandbox in this process",
		         (int)p->owner);
		return NUB_ESTATE;
	}
	sh = p->sh;
	run_command_fill(vm, p);
	p->seq++;
	atomic_store(&sh->seq_cmd, p->seq);
	futex_wake(&sh->seq_cmd);
	rc = await_child(p, err, err_cap);
	if (rc) {
		proc_kill(p);
		return rc;
	}
	run_answer_take(vm, p, exit);
	return 0;
}

int mock_proc_interrupt(struct nub_vm *vm)
{
	struct mock_proc *p = vm->proc;

	if (p && p->sh) {
		atomic_store(&p->sh->cancel, 1);
		if (atomic_load(&p->sh->in_guest) && p->pid > 0 && kill(p->pid, SIGURG) &&
		    errno != ESRCH)
			return NUB_ESYS;
	}
	return 0;
}

void mock_proc_clear_interrupt(struct nub_vm *vm)
{
	if (vm->proc && vm->proc->sh)
		atomic_store(&vm->proc->sh->cancel, 0);
}

void mock_proc_sregs_set(struct nub_vm *vm, const struct nub_sregs *s)
{
	if (vm->proc && !mock_tables_unchanged(vm->proc->seen, vm, s))
		vm->proc->sync = PROC_SYNC_ALL;
}

void mock_proc_memory_changed(struct nub_vm *vm)
{
	/* The child has the regions it was forked with: start a new one. */
	if (vm->proc && vm->proc->pid) {
		proc_kill(vm->proc);
		vm->proc->sync = PROC_SYNC_ALL;
		vm->proc_regs_dirty = vm->proc_fpu_dirty = vm->proc_sregs_dirty = 1;
	}
}

void mock_proc_destroy(struct nub_vm *vm)
{
	struct mock_proc *p = vm->proc;

	if (!p)
		return;
	/* A VM freed in a forked child of its host (a pool's copy, an
	 * inherited sandbox): the vCPU process is the host's; let go of the
	 * child's copy of its page, never command or kill it. */
	if (p->owner != getpid()) {
		if (p->sh)
			munmap(p->sh, PROC_PAGE);
		mock_tables_free(p->seen);
		free(p);
		vm->proc = NULL;
		return;
	}
	if (p->pid > 0 && p->sh) {
		p->sh->cmd = PROC_CMD_QUIT;
		atomic_store(&p->sh->seq_cmd, ++p->seq);
		futex_wake(&p->sh->seq_cmd);
	}
	proc_kill(p);
	mock_tables_free(p->seen);
	free(p);
	vm->proc = NULL;
}
