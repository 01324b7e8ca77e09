/* SPDX-License-Identifier: MIT */
/*
 * The trace hook (nub_config.trace_fn) as the lifecycle uses it: calls and
 * restores here, host calls and exits from the exit loop (run.h:
 * nub_trace_emit, which both use). The hook runs as a host function does:
 * the sandbox refuses to be re-entered from it.
 */
#include "sandbox/sandbox_internal.h"

void nub_sandbox_trace(struct nub_sandbox *sb, uint32_t kind, uint32_t id, const char *name,
                       int32_t rc)
{
	nub_trace_emit(sb->cfg.trace_fn, sb->cfg.trace_user, &sb->in_callback, kind, id, name, rc);
}
