/* SPDX-License-Identifier: MIT */
/* The mock's VM, shared by the files of the backend that run in the host
 * process (mock.c, mock_cpu.c, mock_proc_host.c); the process vCPU's child
 * has a copy of it (fork) and reads its regions through mock_mem.c. */
#ifndef NUB_MOCK_H
#define NUB_MOCK_H

#include <stdatomic.h>

#include <nub/backend.h>

#define MOCK_MAX_SLOTS 32u

struct mock_proc;

#define MOCK_MAX_MSRS 64

struct nub_vm {
	uint64_t mem_limit;
	uint64_t gpa_base; /* the guest-physical window (options: window=N) */
	struct nub_region regions[MOCK_MAX_SLOTS]; /* size 0: slot unused */
	struct nub_regs regs;
	struct nub_sregs sregs;
	struct nub_fpu fpu;
	uint64_t xcr0;
	struct nub_debugregs dr;
	/* MSRs the host wrote (the mock models no MSR behaviour: it keeps
	 * values so core's resets can be observed). */
	struct nub_msr msrs[MOCK_MAX_MSRS];
	unsigned nmsrs;
	atomic_int interrupt_pending;
	struct mock_proc *proc; /* the process vCPU (CPL3 guests), or NULL */
	int proc_regs_dirty;    /* registers/FPU/segments set since its last run */
	int proc_fpu_dirty;
	int proc_sregs_dirty;
	uint64_t budget; /* instructions per run, 0: unlimited */
	/* An interpreted in/MMIO read waiting for core's value. */
	struct {
		int active;
		unsigned reg, size;
		uint64_t rip_after;
	} pending;
};

/* The value the host last wrote to MSR `index`, 0 if it never did. */
uint64_t mock_msr_value(const struct nub_vm *vm, uint32_t index);

/* The region holding [gpa, gpa+len), or NULL. */
struct nub_region *mock_region_of(struct nub_vm *vm, nub_gpa_t gpa, uint64_t len);
/* vmem ops callbacks over the VM's regions (ctx = vm): an entry outside
 * every region reads as 0; writes need a writable region. */
int mock_read_entry(void *ctx, nub_gpa_t table, unsigned index, uint64_t *entry);
int mock_write_entry(void *ctx, nub_gpa_t table, unsigned index, uint64_t entry);

/* Interpret CPL0 code until an exit (mock_cpu.c). */
int mock_cpu_run(struct nub_vm *vm, struct nub_exit *exit, char *err, size_t err_cap);

#endif
