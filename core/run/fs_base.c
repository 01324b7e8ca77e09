/* SPDX-License-Identifier: MIT */
/* The SET_FS doorbell: the guest's thread pointer (a C library's), set now
 * and kept by the lifecycle for snapshots and restores. */
#include "run/handlers.h"

int nub_run_set_fs(struct nub_run *r, uint64_t base)
{
	struct nub_sregs sregs;
	int rc;

	if (base >= NUB_GVA_LIMIT)
		return nub_run_fail(r, NUB_EINVAL,
		                    "guest asked for FS base 0x%llx: not a lower-half address",
		                    (unsigned long long)base);
	rc = nub_hv_get_sregs(r->hv, &sregs, r->err);
	if (rc)
		return rc;
	sregs.fs.base = base;
	rc = nub_hv_set_sregs(r->hv, &sregs, r->err);
	if (rc)
		return rc;
	r->fs_base = base;
	return NUB_RUN_CONTINUE;
}
