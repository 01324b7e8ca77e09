/* SPDX-License-Identifier: MIT */
/*
 * The process vCPU's child side, shared by its files and by no host code:
 * mock_proc_child.c (the signal handler, registers, the command loop, the
 * set-up after fork), mock_proc_child_map.c (guest memory),
 * mock_proc_child_exit.c (what a signal means). All of it runs in the vCPU
 * process's signal handler, entered with the guest's FS: raw system calls,
 * no libc, no thread-local storage (CTest's unit.mock_child_discipline
 * checks the objects).
 */
#ifndef NUB_MOCK_PROC_CHILD_H
#define NUB_MOCK_PROC_CHILD_H

#include <linux/futex.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>

#include "vmem.h"

#include "mock_proc_proto.h"

extern struct nub_vm *child_vm;      /* the child's copy of the VM */
extern struct proc_shared *child_sh; /* the page shared with the host */
extern uint64_t child_map_floor;     /* vm.mmap_min_addr, rounded up to a page */
extern const int child_greg_of[16];  /* x86 register number -> gregs[] of a signal frame */

/* ---- raw system calls: libc's wrappers set errno, which is thread-local ---- */

static inline long sys6(long n, long a, long b, long c, long d, long e, long f)
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

static inline long futex_wait(_Atomic uint32_t *w, uint32_t val, long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

	return sys6(SYS_futex, (long)w, FUTEX_WAIT, val, ms ? (long)&ts : 0, 0, 0);
}

static inline void futex_wake(_Atomic uint32_t *w)
{
	sys6(SYS_futex, (long)w, FUTEX_WAKE, 1, 0, 0, 0);
}

/* The errno a raw system call's result carries, or 0. */
static inline long sys_error(long r)
{
	return r < 0 && r > -4096L ? -r : 0;
}

/* memcpy without libc; volatile, so that the compiler does not make the
 * loop a call to memcpy. */
static inline void child_copy(void *d, const void *s, size_t n)
{
	volatile uint8_t *dd = d;
	const uint8_t *ss = s;

	while (n--)
		*dd++ = *ss++;
}

/* ---- guest memory (mock_proc_child_map.c) ---- */

/* vmem callbacks over the child's copy of the regions, at the guest's CR3. */
void child_vmem_ops(struct nub_vmem_ops *ops);
uint8_t *child_host_of(nub_gpa_t gpa, uint64_t len, int *writable);
void child_map_all(void);
int child_map_page(uint64_t gva);
int child_guest_rw(uint64_t gva, void *buf, uint64_t len, int write);
size_t child_runs_mapped(void);

/* ---- exits (mock_proc_child_exit.c) ---- */

int child_classify(int sig, const siginfo_t *si, ucontext_t *uc);
void child_iret_load(ucontext_t *uc);

#endif
