/* SPDX-License-Identifier: MIT */
/* The LOG doorbell: one line of guest text to the host's log callback,
 * with the guest function the host called (nub_log_line). */
#include <string.h>

#include "run/handlers.h"

int nub_run_serve_log(struct nub_run *r)
{
	struct nub_log_msg lm;
	uint64_t len;
	int rc = nub_run_pop(r, &len, "guest log");

	if (rc)
		return rc;
	memcpy(&lm, r->msg, len < sizeof(lm) ? len : sizeof(lm));
	if (len < sizeof(lm) || lm.len != len - sizeof(lm))
		return nub_run_fail(r, NUB_ECORRUPT,
		                    "guest log: message of %llu bytes with length field %u",
		                    (unsigned long long)len, len < sizeof(lm) ? 0 : lm.len);
	if (lm.level > r->log_level || lm.level < NUB_LOG_ERROR)
		return NUB_RUN_CONTINUE;
	struct nub_log_line line = {.level = (int)lm.level,
	                            .msg = (const char *)r->msg + sizeof(lm),
	                            .len = lm.len,
	                            .function = r->fn_name,
	                            .fn_id = r->fn_id};
	(*r->in_callback)++; /* the callback may not re-enter this sandbox */
	if (r->log_line_fn)
		r->log_line_fn(r->log_user, &line);
	else if (r->log_fn)
		r->log_fn(r->log_user, line.level, line.msg, line.len);
	(*r->in_callback)--;
	return NUB_RUN_CONTINUE;
}
