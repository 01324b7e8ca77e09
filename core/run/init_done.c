/* SPDX-License-Identifier: MIT */
/* The INIT_DONE doorbell: the end of the guest's initialisation, with its
 * dispatch entry and the names of the functions it registered. */
#include <string.h>

#include "run/handlers.h"

/* The function names the guest pushed before NUB_DOORBELL_INIT_DONE. */
static int read_names(struct nub_run *r)
{
	struct nub_fn_entry e;
	uint64_t len;
	int rc;

	r->names->n = 0;
	while ((rc = nub_gbuf_pop(r->out, r->msg, r->msg_cap, &len, r->err)) == 0) {
		if (len < sizeof(e))
			return nub_run_fail(r, NUB_ECORRUPT,
			                    "init: function name entry of %llu bytes",
			                    (unsigned long long)len);
		memcpy(&e, r->msg, sizeof(e));
		if (e.name_len != len - sizeof(e) || e.name_len == 0 ||
		    e.name_len > NUB_FN_NAME_MAX || r->names->n == NUB_MAX_FN_NAMES)
			return nub_run_fail(r, NUB_ECORRUPT,
			                    "init: bad function name entry (length %u, %u names)",
			                    e.name_len, r->names->n);
		struct nub_fn_name *f = &r->names->fn[r->names->n++];
		f->id = e.id;
		memcpy(f->name, r->msg + sizeof(e), e.name_len);
		f->name[e.name_len] = '\0';
		const char *colon = memchr(f->name, ':', e.name_len);
		if (colon && !nub_typed_sig_ok(colon + 1))
			return nub_run_fail(r, NUB_ECORRUPT,
			                    "init: function %u: malformed signature '%s'", e.id,
			                    colon + 1);
	}
	if (rc != NUB_EEMPTY)
		return nub_run_fail(r, rc, "init: function names: output buffer corrupt");
	return 0;
}

int nub_run_init_done(struct nub_run *r, enum nub_run_phase phase, uint64_t dispatch)
{
	int rc;

	if (phase != NUB_RUN_INIT)
		return nub_run_fail(r, NUB_ECORRUPT, "guest signalled init done during a call");
	if (!dispatch || dispatch >= NUB_GVA_LIMIT)
		return nub_run_fail(r, NUB_ECORRUPT,
		                    "init: dispatch address 0x%llx is not a guest address",
		                    (unsigned long long)dispatch);
	r->dispatch_gva = dispatch;
	rc = read_names(r);
	return rc ? rc : NUB_RUN_PHASE_DONE;
}
