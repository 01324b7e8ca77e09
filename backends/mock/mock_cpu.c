/* SPDX-License-Identifier: MIT */
/* Guest execution for the mock backend. */
#include <stdio.h>
#include <string.h>

#include "mock.h"

void mock_reset_state(struct nub_vm *vm)
{
	memset(&vm->regs, 0, sizeof(vm->regs));
	memset(&vm->sregs, 0, sizeof(vm->sregs));
	memset(&vm->fpu, 0, sizeof(vm->fpu));
	vm->regs.rflags = 2;
	vm->fpu.fcw = 0x37f;
	vm->fpu.mxcsr = 0x1f80;
	vm->xcr0 = 1;
}

int mock_cpu_run(struct nub_vm *vm, struct nub_exit *exit, char *err, size_t err_cap)
{
	(void)err;
	(void)err_cap;
	memset(exit, 0, sizeof(*exit));
	if (atomic_exchange(&vm->interrupt_pending, 0)) {
		exit->reason = NUB_EXIT_CANCELLED;
		return 0;
	}
	exit->reason = NUB_EXIT_INTERNAL;
	exit->rip = vm->regs.rip;
	snprintf(exit->detail, sizeof(exit->detail), "mock: cannot execute guest code yet");
	return 0;
}
