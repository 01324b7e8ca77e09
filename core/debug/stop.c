/* SPDX-License-Identifier: MIT */
/* The guest's state when it stopped, read from the vCPU (stop.h). */
#include <string.h>

#include "debug/stop.h"

int nub_stop_signal_of(uint64_t vector)
{
	switch (vector) {
	case 1:
	case 3:
		return NUB_SIG_TRAP;
	case 0:
	case 16:
	case 19:
		return NUB_SIG_FPE;
	case 6:
		return NUB_SIG_ILL;
	case 17:
		return NUB_SIG_BUS;
	default:
		return NUB_SIG_SEGV;
	}
}

int nub_stop_capture(struct nub_hv *hv, const struct nub_exception_frame *f, struct nub_stop *out,
                     struct nub_error *err)
{
	struct nub_sregs sregs;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = nub_hv_get_regs(hv, &out->regs, err);
	if (!rc)
		rc = nub_hv_get_sregs(hv, &sregs, err);
	if (rc)
		return rc;
	out->cs = sregs.cs.selector;
	out->ss = sregs.ss.selector;
	out->fs_base = sregs.fs.base;
	out->gs_base = sregs.gs.base;
	if (f) {
		out->regs.rip = f->rip;
		out->regs.rsp = f->rsp;
		out->regs.rflags = f->rflags;
		out->cs = f->cs;
		out->ss = f->ss;
		out->signo = nub_stop_signal_of(f->vector);
	}
	out->have_fpu = nub_hv_has(hv, NUB_HV_SLOT_GET_FPU) && !nub_hv_get_fpu(hv, &out->fpu, NULL);
	out->have = 1;
	return 0;
}
