/* SPDX-License-Identifier: MIT */
/* The last fault's or abort's whole backtrace (nub_sandbox_backtrace). */
#include <stdio.h>
#include <stdlib.h>

#include "debug/backtrace.h"
#include "image/symbols.h"
#include "sandbox/sandbox_internal.h"

static int sandbox_backtrace(struct nub_sandbox *sb, struct nub_frame *frames, size_t cap,
                             size_t *n)
{
	const struct nub_layout *l = &sb->base->layout;
	struct nub_view v;
	uint64_t *pcs;
	unsigned got;

	if (!frames || !n || !cap)
		return nub_sandbox_fail(sb, NUB_EINVAL, "backtrace: NULL argument or no room");
	*n = 0;
	if (nub_sandbox_foreign(sb, "backtrace"))
		return NUB_ESTATE;
	if (!nub_sandbox_has_stop(sb))
		return nub_sandbox_fail(sb, NUB_ENOTFOUND,
		                        "backtrace: the last call did not stop at a fault or an "
		                        "abort (or the sandbox was restored since)");
	if (cap > 4096)
		cap = 4096;
	pcs = malloc(cap * sizeof(*pcs));
	if (!pcs)
		return nub_sandbox_fail(sb, NUB_ENOMEM, "backtrace: out of memory");
	nub_sandbox_view(sb, &v);
	got = nub_backtrace_walk(&v, sb->stop.regs.rip, sb->stop.regs.rbp, l->image_gpa,
	                         l->image_size, pcs, (unsigned)cap);
	for (unsigned i = 0; i < got; i++) {
		frames[i].pc = pcs[i];
		/* A return address's line is the call before it. */
		nub_symbols_describe_at(sb->current->syms, l->image_gpa, l->image_size,
		                        i ? pcs[i] - 1 : pcs[i], frames[i].function,
		                        sizeof(frames[i].function));
	}
	free(pcs);
	*n = got;
	return 0;
}

int nub_sandbox_backtrace(struct nub_sandbox *sb, struct nub_frame *frames, size_t cap, size_t *n)
{
	if (!sb)
		return NUB_EINVAL;
	return nub_sandbox_result(sb, sandbox_backtrace(sb, frames, cap, n));
}
