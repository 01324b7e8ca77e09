/* SPDX-License-Identifier: MIT */
/* The guest's frame-pointer chain (backtrace.h). */
#include "debug/backtrace.h"

unsigned nub_backtrace_walk(const struct nub_view *v, uint64_t rip, uint64_t rbp, uint64_t lo,
                            uint64_t size, uint64_t *pcs, unsigned cap)
{
	uint64_t fp = rbp, frame[2];
	unsigned n = 0;

	if (!cap)
		return 0;
	pcs[n++] = rip;
	while (n < cap && fp && !(fp & 7)) {
		if (nub_view_read_gva(v, fp, frame, sizeof(frame)))
			break;
		if (frame[1] < lo || frame[1] - lo >= size)
			break;
		pcs[n++] = frame[1];
		if (frame[0] <= fp)
			break;
		fp = frame[0];
	}
	return n;
}
