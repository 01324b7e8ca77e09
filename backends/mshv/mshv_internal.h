/* SPDX-License-Identifier: MIT */
/* Internals shared by the mshv backend's source files. */
#ifndef NUB_MSHV_INTERNAL_H
#define NUB_MSHV_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <nub/backend.h>

#include "mshv_test_hook.h"
#include "mshv_uapi.h"
#include "x86_store.h"

#define MSHV_DEV       "/dev/mshv"
#define MSHV_MAX_SLOTS 32u

struct mshv_slot {
	int used;
	uint32_t nub_flags;
	struct nub_mshv_user_mem_region region; /* as passed to the kernel */
};

/* What the next run_vcpu must finish before resuming the guest. */
enum mshv_pending_kind {
	MSHV_PENDING_NONE,
	MSHV_PENDING_IO_IN,      /* write exit->data into RAX, then advance RIP */
	MSHV_PENDING_MMIO_WRITE, /* a decoded register store: advance RIP */
	MSHV_PENDING_MMIO,       /* any other MMIO exit: cannot be completed */
};

struct mshv_pending {
	enum mshv_pending_kind kind;
	uint32_t size;
	uint64_t rax;      /* RAX when the IN was intercepted */
	uint64_t next_rip; /* RIP after the IN or the store */
	/* MSHV_PENDING_MMIO: why it cannot be completed (for the error; sized
	 * so the longest text, with 16 instruction bytes, fits). */
	char why[192];
};

struct nub_vm {
	struct nub_mshv_sys sys; /* the table this VM was created with */
	int pt_fd;
	int vp_fd;
	int signo; /* signal that kicks the vCPU thread out of MSHV_RUN_VP */
	struct mshv_slot slots[MSHV_MAX_SLOTS];
	struct mshv_pending pending;
	/* Interrupt protocol (see mshv_run.c): */
	atomic_int cancel;  /* a request no run has consumed yet */
	atomic_int run_tid; /* thread inside run_vcpu's entry window/ioctl, or 0 */
};

/* Format a message into err (if any) and return code. */
int mshv_fail(char *err, size_t err_cap, int code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* The current system-call table (the real one unless a test replaced it). */
const struct nub_mshv_sys *mshv_sys_current(void);

/* Register access through MSHV_ROOT_HVCALL on the VP fd. */
int mshv_get_registers(struct nub_vm *vm, struct nub_hv_register_assoc *assocs, uint16_t count,
                       char *err, size_t err_cap);
int mshv_set_registers(struct nub_vm *vm, const struct nub_hv_register_assoc *assocs,
                       uint16_t count, char *err, size_t err_cap);
/* HVCALL_SET_PARTITION_PROPERTY on the partition fd. */
int mshv_set_partition_property(struct nub_vm *vm, uint32_t code, uint64_t value, char *err,
                                size_t err_cap);

/* ops slots implemented in mshv_regs.c */
int mshv_set_regs(struct nub_vm *vm, const struct nub_regs *regs, char *err, size_t err_cap);
int mshv_get_regs(struct nub_vm *vm, struct nub_regs *regs, char *err, size_t err_cap);
int mshv_set_sregs(struct nub_vm *vm, const struct nub_sregs *sregs, char *err, size_t err_cap);
int mshv_get_sregs(struct nub_vm *vm, struct nub_sregs *sregs, char *err, size_t err_cap);
int mshv_set_fpu(struct nub_vm *vm, const struct nub_fpu *fpu, char *err, size_t err_cap);
int mshv_get_fpu(struct nub_vm *vm, struct nub_fpu *fpu, char *err, size_t err_cap);

/* Stores are decoded by backends/common/x86_store.c (shared with the mock). */

/* ops slots implemented in mshv_run.c */
int mshv_run_vcpu(struct nub_vm *vm, struct nub_exit *exit, char *err, size_t err_cap);
int mshv_interrupt(struct nub_vm *vm);
void mshv_clear_interrupt(struct nub_vm *vm);
/* Make sure `signo` has a handler so it interrupts MSHV_RUN_VP. */
int mshv_signal_prepare(int signo, char *err, size_t err_cap);

#endif
