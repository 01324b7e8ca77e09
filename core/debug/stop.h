/* SPDX-License-Identifier: MIT */
/*
 * The guest as it was when it stopped: what a core dump records. At an
 * exception the host's CPL0 stub is
 * running, so the vCPU's RIP, RSP and RFLAGS are the stub's: the guest's
 * are in the exception frame, every other register is the guest's (the
 * stub changes none). Between calls the vCPU's registers are the guest's.
 */
#ifndef NUB_CORE_DEBUG_STOP_H
#define NUB_CORE_DEBUG_STOP_H

#include <stdint.h>

#include <nub/backend.h>
#include <nub/error.h>
#include <nub/guest_abi.h>

#include "backend/hv.h"

/* Linux's numbers, which gdb expects in a core and in a stop reply. */
enum nub_stop_signal {
	NUB_SIG_TRAP = 5,
	NUB_SIG_ILL = 4,
	NUB_SIG_FPE = 8,
	NUB_SIG_BUS = 7,
	NUB_SIG_SEGV = 11,
	NUB_SIG_ABRT = 6,
};

struct nub_stop {
	int have;
	struct nub_regs regs; /* the guest's */
	uint64_t cs, ss, fs_base, gs_base;
	struct nub_fpu fpu;
	int have_fpu;
	int signo; /* enum nub_stop_signal; 0 between calls */
};

/* The signal a process would get for exception `vector`. */
int nub_stop_signal_of(uint64_t vector);

/* Read the guest's state from the vCPU; `f` is the exception frame when
 * it stopped at one (NULL: between calls). The FPU state is
 * left out (have_fpu 0) on a backend that cannot read it. */
int nub_stop_capture(struct nub_hv *hv, const struct nub_exception_frame *f, struct nub_stop *out,
                     struct nub_error *err);

#endif
