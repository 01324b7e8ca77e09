/* SPDX-License-Identifier: MIT */
/*
 * System calls the CPU could not send to the guest's entry itself
 * (guest_abi.h: NUB_NOTE_TYPE_SYSCALL). Normally none reach the host: the
 * vCPU's LSTAR is the entry (NUB_CAP_SYSCALL_AT_CPL3) or the host's CPL0
 * bounce, which continues there (x86/cpu.h: struct nub_cpu_syscall). Left
 * here: a `syscall` raised as #UD at the instruction (EFER.SCE clear), and
 * one that jumped to the gate on the stub page at CPL3 (a CPU that stays at
 * CPL3 whose backend does not say so), where fetching that supervisor page
 * faults with RCX and R11 already set. The exception frame is rewritten so
 * the stub's iretq continues at the guest's entry; a guest without an
 * entry is stopped.
 */
#include "run/handlers.h"
#include "x86/cpu.h"

enum { NOT_SYSCALL, SYSCALL_UD, SYSCALL_AT_GATE };

static int syscall_kind(const struct nub_run *r, const struct nub_exception_frame *f, uint64_t cr2)
{
	const uint64_t gate = r->l->sys_stubs_gpa + NUB_CPU_GATE_OFFSET;
	uint8_t insn[2];

	if ((f->cs & 3) != 3)
		return NOT_SYSCALL;
	if (f->vector == 14 && f->rip == gate && cr2 == gate)
		return SYSCALL_AT_GATE;
	if (f->vector == 6 && !nub_view_read_gva(&r->view, f->rip, insn, 2) && insn[0] == 0x0f &&
	    insn[1] == 0x05)
		return SYSCALL_UD;
	return NOT_SYSCALL;
}

/* Continue at the guest's system-call entry, at CPL3, with RCX and R11 as
 * the instruction itself sets them. */
int nub_run_reflect_syscall(struct nub_run *r, struct nub_exception_frame *f, uint64_t cr2)
{
	const int kind = syscall_kind(r, f, cr2);
	struct nub_regs regs;
	int rc;

	if (kind == NOT_SYSCALL)
		return 0;
	rc = nub_hv_get_regs(r->hv, &regs, r->err);
	if (rc)
		return rc;
	if (!r->syscall_gva)
		return nub_run_fail(
		        r, NUB_EGUEST_FAULT,
		        "guest made system call %llu (syscall at RIP 0x%llx), but it has "
		        "no system-call entry: link it with the nub C library "
		        "(nubguest-libc) or serve it in the guest",
		        (unsigned long long)regs.rax,
		        (unsigned long long)(kind == SYSCALL_UD ? f->rip : regs.rcx - 2));
	if (kind == SYSCALL_UD) {
		regs.rcx = f->rip + 2;
		regs.r11 = f->rflags;
		rc = nub_hv_set_regs(r->hv, &regs, r->err);
	}
	f->rip = r->syscall_gva; /* where the stub's iretq goes */
	if (!rc)
		rc = nub_shmem_write(r->scratch, r->l->exn_stack_top_offset - sizeof(*f), f,
		                     sizeof(*f), r->err);
	return rc ? rc : 1;
}
