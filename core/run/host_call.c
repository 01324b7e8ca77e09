/* SPDX-License-Identifier: MIT */
/* The CALL_HOST doorbell: a host function (the program's, or a built-in)
 * called with a request the guest pushed; its response is pushed on the
 * input buffer before the guest resumes. */
#include <string.h>

#include "run/handlers.h"

int nub_run_serve_host_call(struct nub_run *r)
{
	struct nub_request req;
	struct nub_response resp = {0};
	const struct nub_host_fn_slot *slot;
	uint8_t *reply = r->msg + sizeof(resp);
	size_t reply_len = 0;
	uint64_t len;
	int rc = nub_run_pop(r, &len, "host call");

	if (rc)
		return rc;
	memcpy(&req, r->msg, len < sizeof(req) ? len : sizeof(req));
	if (len < sizeof(req) || req.len != len - sizeof(req))
		return nub_run_fail(r, NUB_ECORRUPT,
		                    "host call: request of %llu bytes with length field %u",
		                    (unsigned long long)len, len < sizeof(req) ? 0 : req.len);
	r->stats->host_calls++;
	/* The request is copied out of guest memory already: the guest cannot
	 * change it while the host function reads it. It moves to the tail of
	 * the staging buffer so the reply can be built at its head. */
	uint8_t *args = r->msg + r->msg_cap - req.len;
	const uint64_t cap = r->msg_cap - req.len - sizeof(resp);
	memmove(args, r->msg + sizeof(req), req.len);
	slot = req.fn_id < NUB_MAX_HOST_FNS ? &r->host_fns[req.fn_id] : NULL;
	if (!slot) {
		resp.status =
		        nub_run_call_builtin(req.fn_id, args, req.len, reply, cap, &reply_len);
	} else if (!slot->fn) {
		resp.status = NUB_ENOTFOUND;
	} else {
		const uint64_t t0 = nub_run_now_ns();
		nub_run_trace(r, NUB_TRACE_HOST_CALL_BEGIN, req.fn_id, NULL, 0);
		(*r->in_callback)++; /* the host function may not re-enter this sandbox */
		resp.status = slot->fn(slot->user, args, req.len, reply, cap, &reply_len);
		(*r->in_callback)--;
		const uint64_t ns = nub_run_now_ns() - t0;
		r->stats->host_call_ns += ns;
		if (ns > r->stats->host_call_ns_max)
			r->stats->host_call_ns_max = ns;
		nub_run_trace(r, NUB_TRACE_HOST_CALL_END, req.fn_id, NULL, resp.status);
	}
	if (reply_len > cap)
		reply_len = 0, resp.status = NUB_ERANGE;
	resp.len = (uint32_t)reply_len;
	memcpy(r->msg, &resp, sizeof(resp));
	rc = nub_gbuf_push(r->in, r->msg, sizeof(resp) + reply_len, r->err);
	if (rc) {
		char why[NUB_ERROR_MSG_MAX];
		memcpy(why, r->err->msg, sizeof(why));
		return nub_run_fail(r, rc, "host call %u: response: %.200s", req.fn_id, why);
	}
	return NUB_RUN_CONTINUE;
}
