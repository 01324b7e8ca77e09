/* SPDX-License-Identifier: MIT */
/*
 * An exception while gdb is attached (debug/gdb.h): a breakpoint, the
 * trap after a single step, or a fault, each a stop gdb is told about and
 * serves until it resumes the guest. The host's IDT gates are DPL0, so on
 * a CPU a CPL3 int3 is #GP with an error code naming an IDT entry, at the
 * int3 itself (0x1a, entry 3, on the mock as the SDM has it; nested
 * hardware KVM here reports 0x32); the software KVM raises #BP after it.
 * Each is one stop at the int3's address: a #GP naming the IDT at an int3
 * byte, or a #BP after one. A #DB is vector 1 after the
 * stepped instruction.
 */
#include "debug/gdb.h"
#include "run/handlers.h"

#define GP_IDT 0x2 /* #GP error code: the selector names an IDT entry */
#define INT3   0xcc

static int int3_byte(const struct nub_run *r, uint64_t at)
{
	uint8_t b;

	return !nub_view_read_gva(&r->view, at, &b, 1) && b == INT3;
}

/* The address of the int3 that raised `f`, or 0 when it is none. Nested
 * hardware KVM (QEMU's SVM) pushes the int3's address for its #GP, but
 * the address after it when the int3 follows a single step: an int3 of
 * gdb's just before RIP is taken too. */
static uint64_t int3_at(const struct nub_run *r, const struct nub_exception_frame *f)
{
	if ((f->cs & 3) != 3 || f->rip == 0)
		return 0;
	if (f->vector == 13 && (f->error_code & GP_IDT)) {
		if (int3_byte(r, f->rip))
			return f->rip;
		if (nub_gdb_is_breakpoint(r->gdb, f->rip - 1) && int3_byte(r, f->rip - 1))
			return f->rip - 1;
		return 0;
	}
	return f->vector == 3 && int3_byte(r, f->rip - 1) ? f->rip - 1 : 0;
}

int nub_run_debug_stop(struct nub_run *r, struct nub_exception_frame *f)
{
	const uint64_t bp = int3_at(r, f);
	const int trap = bp || f->vector == 1 || f->vector == 3;
	const int swbreak = bp && nub_gdb_is_breakpoint(r->gdb, bp);
	struct nub_gdb_target t = {
	        .hv = r->hv,
	        .view = &r->view,
	        .scratch = r->scratch,
	        .frame = f,
	        .frame_off = r->l->exn_stack_top_offset - sizeof(*f),
	        .entry_gva = r->entry_gva,
	};
	enum nub_gdb_resume how;
	int signo = trap ? NUB_SIG_TRAP : nub_stop_signal_of(f->vector), rc;

	/* At gdb's breakpoint the guest resumes with the instruction it
	 * replaced; the guest's own int3 stops after it, as a process's would. */
	if (bp)
		f->rip = swbreak ? bp : bp + 1;
	nub_gdb_disarm(r->gdb, &r->view);
	rc = nub_gdb_stop(r->gdb, &t, signo, swbreak, &how, r->err);
	if (rc)
		return rc;
	switch (how) {
	case NUB_GDB_KILL:
		return nub_run_fail(r, NUB_ECANCELLED, "call killed by the debugger");
	case NUB_GDB_DELIVER:
		nub_gdb_exited(r->gdb, signo);
		return 0; /* the fault ends the call as without a debugger */
	default:
		nub_gdb_arm(r->gdb, &r->view);
		return 1;
	}
}
