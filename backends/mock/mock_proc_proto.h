/* SPDX-License-Identifier: MIT */
/*
 * What the two sides of the process vCPU agree on: the host side (in the
 * host process) and the child side (the forked vCPU process, whose code
 * runs in a signal handler). The page they share, the commands, what the
 * child re-maps before a run.
 *
 * A command: the host fills the page, stores seq_cmd + 1 and wakes the
 * child; the child applies it, runs the guest until an exit, fills the page
 * and stores seq_done = seq_cmd, waking the host. Both wait by spinning
 * briefly (proc_spin_while) and then on the futex word. An interrupt is a
 * Dekker pair: the host sets `cancel` and sends SIGURG if `in_guest`; the
 * child sets `in_guest` and then checks `cancel` before entering the guest.
 *
 * Both sides include this header: it holds data layout, constants and the
 * spin-wait, which is atomics and `pause` only (no call, no system call:
 * safe in the child's signal handler).
 */
#ifndef NUB_MOCK_PROC_PROTO_H
#define NUB_MOCK_PROC_PROTO_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include <nub/backend.h>

#define PROC_PAGE        NUB_PAGE_SIZE
#define PROC_ALT_STACK   (64u << 10) /* the child's signal stack */
#define PROC_CMD_RUN     1
#define PROC_CMD_QUIT    2
#define PROC_SYNC_NONE   0     /* the child's mappings are current */
#define PROC_SYNC_PAGE   1     /* re-map the page at sync_gva (a resolved fault) */
#define PROC_SYNC_ALL    2     /* re-map everything (CR3 or the tables changed) */
#define PROC_SPIN_ROUNDS 4000u /* ~10-40 us of pause */

/* The page parent and child share. seq_cmd/seq_done are futex words. */
struct proc_shared {
	_Atomic uint32_t seq_cmd;  /* parent: +1 per command */
	_Atomic uint32_t seq_done; /* child: the command it has answered */
	_Atomic uint32_t ready;    /* child: set up and waiting for commands */
	_Atomic int cancel;        /* an interrupt is pending */
	_Atomic int in_guest;      /* the child is running guest code */
	uint32_t cmd;
	uint32_t sync;
	uint64_t sync_gva;
	uint64_t advance; /* bytes to skip at resume: a completed store */
	int regs_dirty, fpu_dirty, sregs_dirty;
	uint16_t sel[4]; /* DS, ES, FS, GS: the guest's, both ways */
	struct nub_regs regs;
	struct nub_fpu fpu;
	uint64_t cr3, tss_gva;
	uint64_t gpa_base;      /* the VM's window: where the exception doorbell is */
	uint64_t lstar, sfmask; /* where a `syscall` jumps, at CPL3, and the flags it clears */
	struct nub_exit exit;
	uint64_t cr2;
	int exception;             /* the exit is the exception doorbell */
	int iret;                  /* resume as the stub's iretq: RIP, RFLAGS, RSP from the frame */
	uint64_t fs_base, gs_base; /* the guest's, both ways */
};
_Static_assert(sizeof(struct proc_shared) <= PROC_PAGE, "one page");

struct nub_vm;

/* What the host hands the child at fork. */
struct proc_start {
	uint64_t text_lo, text_hi; /* the backend's code: the only code allowed system calls */
	uint64_t map_floor;        /* vm.mmap_min_addr, rounded up to a page */
	void *alt_stack;           /* PROC_ALT_STACK bytes, the signal handler's stack */
	pid_t host_pid;            /* the host process: when it is gone, the child exits */
};

/* The child side's entry in the forked child (mock_proc_child.c): sets up
 * the signal handler and seccomp, and from then on runs the guest from the
 * handler. Never returns. */
_Noreturn void mock_proc_child_main(struct nub_vm *vm, struct proc_shared *sh,
                                    const struct proc_start *st);

/* Spin briefly for `w` to leave `val` before sleeping on it: an exit and
 * its answer usually take microseconds, a futex sleep and wake-up across
 * processes several times that. Returns 1 if it changed. */
static inline int proc_spin_while(_Atomic uint32_t *w, uint32_t val)
{
	for (unsigned i = 0; i < PROC_SPIN_ROUNDS; i++) {
		if (atomic_load_explicit(w, memory_order_acquire) != val)
			return 1;
		__asm__ volatile("pause");
	}
	return 0;
}

#endif
