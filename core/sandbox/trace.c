/* SPDX-License-Identifier: MIT */
/*
 * The trace hook (nub_config.trace_fn) as the lifecycle uses it: calls and
 * restores here, host calls and exits from the exit loop (run.h: trace).
 * The hook runs as a host function does: the sandbox refuses to be
 * re-entered from it.
 */
#include <string.h>

#include "sandbox/sandbox_internal.h"

void nub_sandbox_trace(struct nub_sandbox *sb, uint32_t kind, uint32_t id, const char *name,
                       int32_t rc)
{
	struct nub_trace_event ev = {.kind = kind, .id = id, .time_ns = 0, .name = name, .rc = rc};

	if (!sb->cfg.trace_fn)
		return;
	ev.time_ns = nub_run_now_ns();
	sb->in_callback++;
	sb->cfg.trace_fn(sb->cfg.trace_user, &ev);
	sb->in_callback--;
}

const char *nub_sandbox_fn_name(const struct nub_sandbox *sb, uint32_t id, char *buf, size_t cap)
{
	size_t len;

	buf[0] = '\0';
	for (uint32_t i = 0; i < sb->names.n && i < NUB_MAX_FN_NAMES; i++) {
		if (sb->names.fn[i].id != id)
			continue;
		nub_fn_name_parts(&sb->names.fn[i], &len);
		snprintf(buf, cap, "%.*s", (int)len, sb->names.fn[i].name);
		break;
	}
	return buf;
}
