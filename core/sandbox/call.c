/* SPDX-License-Identifier: MIT */
/* A guest call: the request pushed, the registers for the dispatch entry,
 * the run, the response popped. */
#include <string.h>

#include <nub/guest_abi.h>
#include <nub/nub.h>

#include "sandbox/sandbox_internal.h"

static int push_request(struct nub_sandbox *sb, uint32_t fn_id, const void *in, size_t len)
{
	struct nub_request req = {.fn_id = fn_id, .flags = 0, .len = (uint32_t)len};
	int rc;

	if (len > sb->msg_cap - sizeof(req))
		return nub_sandbox_fail(sb, NUB_ERANGE,
		                        "call: %zu input bytes exceed the input buffer", len);
	memcpy(sb->msg, &req, sizeof(req));
	if (len)
		memcpy(sb->msg + sizeof(req), in, len);
	rc = nub_gbuf_clear(&sb->in, &sb->err);
	if (!rc)
		rc = nub_gbuf_clear(&sb->out, &sb->err);
	if (!rc)
		rc = nub_gbuf_push(&sb->in, sb->msg, sizeof(req) + len, &sb->err);
	return rc;
}

static int call_regs(struct nub_sandbox *sb)
{
	struct nub_regs regs;

	/* Through the entry stub: every call starts with the vector state
	 * initialised, by the guest's CPU, not by a vCPU write. */
	nub_cpu_entry_regs(&sb->base->layout, sb->dispatch_gva, &regs);
	return nub_hv_set_regs(sb->hv, &regs, &sb->err);
}

static int pop_response(struct nub_sandbox *sb, void *out, size_t cap, size_t *out_len,
                        int32_t *status)
{
	struct nub_response resp;
	uint64_t len = 0;
	int rc = nub_gbuf_pop(&sb->out, sb->msg, sb->msg_cap, &len, &sb->err);

	if (rc == NUB_EEMPTY)
		return nub_sandbox_poison(
		        sb,
		        nub_sandbox_fail(sb, NUB_ECORRUPT,
		                         "call: the guest signalled call done without a response "
		                         "(output buffer empty)"),
		        NULL);
	if (rc)
		return nub_sandbox_poison(sb, rc, NULL);
	if (len < sizeof(resp))
		return nub_sandbox_poison(
		        sb,
		        nub_sandbox_fail(sb, NUB_ECORRUPT,
		                         "call: response of %llu bytes is shorter than its header",
		                         (unsigned long long)len),
		        NULL);
	memcpy(&resp, sb->msg, sizeof(resp));
	if (resp.len != len - sizeof(resp))
		return nub_sandbox_poison(
		        sb,
		        nub_sandbox_fail(sb, NUB_ECORRUPT,
		                         "call: response says %u bytes, message holds %llu",
		                         resp.len, (unsigned long long)(len - sizeof(resp))),
		        NULL);
	if (status)
		*status = resp.status;
	if (out_len)
		*out_len = resp.len;
	if (resp.len > cap)
		return nub_sandbox_fail(sb, NUB_ERANGE,
		                        "call: result of %u bytes exceeds out_cap %zu", resp.len,
		                        cap);
	if (resp.len)
		memcpy(out, sb->msg + sizeof(resp), resp.len);
	return 0;
}

static int sandbox_call(struct nub_sandbox *sb, uint32_t fn_id, const void *in, size_t in_len,
                        void *out, size_t out_cap, size_t *out_len, int32_t *status)
{
	int rc;

	if (nub_sandbox_check_usable(sb, "call"))
		return NUB_ESTATE;
	if (!sb->hv || !sb->dispatch_gva)
		return nub_sandbox_fail(sb, NUB_ESTATE, "call: sandbox not evolved");
	if (sb->poisoned)
		return nub_sandbox_fail(sb, NUB_EPOISONED,
		                        "call: sandbox poisoned, restore first (%s)",
		                        sb->poison_reason);
	if ((in_len && !in) || (out_cap && !out))
		return nub_sandbox_fail(sb, NUB_EINVAL, "call: NULL buffer with nonzero length");
	rc = push_request(sb, fn_id, in, in_len);
	if (!rc)
		rc = call_regs(sb);
	if (rc)
		return rc;
	sb->stats.calls++;
	char name[NUB_FN_NAME_MAX + 1] = "";
	/* Only the trace hook and log lines read the function's name. */
	if (sb->cfg.trace_fn || sb->cfg.log_line_fn)
		nub_sandbox_fn_name(sb, fn_id, name, sizeof(name));
	const uint64_t t0 = nub_run_now_ns();
	nub_sandbox_trace(sb, NUB_TRACE_CALL_BEGIN, fn_id, name[0] ? name : NULL, 0);
	sb->call_fn = fn_id;
	sb->call_fn_name = name;
	rc = nub_sandbox_run(sb, NUB_RUN_CALL);
	sb->call_fn_name = NULL;
	if (!rc)
		rc = pop_response(sb, out, out_cap, out_len, status);
	nub_sandbox_call_done(sb, rc, t0);
	nub_sandbox_trace(sb, NUB_TRACE_CALL_END, fn_id, name[0] ? name : NULL, rc);
	return rc;
}

int nub_sandbox_call(struct nub_sandbox *sb, uint32_t fn_id, const void *in, size_t in_len,
                     void *out, size_t out_cap, size_t *out_len, int32_t *status)
{
	if (!sb)
		return NUB_EINVAL;
	return nub_sandbox_result(
	        sb, sandbox_call(sb, fn_id, in, in_len, out, out_cap, out_len, status));
}
