/* SPDX-License-Identifier: MIT */
/* The ABORT doorbell: the guest stops itself with a code and, when it
 * could push it, a message: cut to what the error message holds, and kept
 * whole for nub_sandbox_abort_info. */
#include <string.h>

#include "run/handlers.h"

int nub_run_serve_abort(struct nub_run *r, uint32_t code)
{
	struct nub_abort_msg am;
	uint64_t len = 0;
	int have = nub_gbuf_pop(r->out, r->msg, r->msg_cap, &len, r->err) == 0;
	const char *text = "";
	int text_len = 0;

	if (have && len >= sizeof(am)) {
		memcpy(&am, r->msg, sizeof(am));
		have = am.len == len - sizeof(am) && am.code == code;
	} else {
		have = 0;
	}
	if (have) {
		text = (const char *)r->msg + sizeof(am);
		text_len = am.len > 160 ? 160 : (int)am.len;
	}
	if (r->abort) {
		r->abort->have = 1;
		r->abort->code = code;
		r->abort->len =
		        have ? (am.len < NUB_ABORT_TEXT_MAX ? am.len : NUB_ABORT_TEXT_MAX) : 0;
		memcpy(r->abort->text, text, r->abort->len);
	}
	char bt[320];
	/* A core file or a backtrace sees the guest where it aborted. */
	if (r->stop && !nub_stop_capture(r->hv, NULL, r->stop, NULL))
		r->stop->signo = NUB_SIG_ABRT;
	return nub_run_fail(r, NUB_EGUEST_ABORT, "guest abort: code 0x%x%s%.*s%s", code,
	                    text_len ? ": " : "", text_len, text,
	                    nub_run_backtrace(r, bt, sizeof(bt)));
}
