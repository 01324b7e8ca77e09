/* SPDX-License-Identifier: MIT */
/*
 * A sandbox with a debugger (nub_config.gdb_port, docs/debugging.md): the
 * gdb server (debug/gdb.h) listens from evolve on, the first call waits
 * for gdb and stops before the guest runs, and every full reset gives
 * the guest's code private copies where breakpoints can go. Those copies
 * are made before the guest first runs on the tables that map them, and
 * land at the same scratch pages every time (the first pages handed out
 * after a reset), so no CPU or shadow MMU ever holds a translation of the
 * code to the shared snapshot that the copies would leave stale; and a
 * debugged sandbox never takes or gives a pooled VM, whose translations
 * are another's.
 */
#include <stdlib.h>
#include <string.h>

#include "error_internal.h"
#include "sandbox/sandbox_internal.h"

int nub_sandbox_debugger_config(struct nub_sandbox *sb, const struct nub_config *cfg,
                                struct nub_error *err)
{
	const char *env = cfg->gdb_port ? NULL : getenv("NUB_GDB_PORT");
	char *end;
	unsigned long v;

	sb->gdb_port = cfg->gdb_port;
	if (!env || !env[0])
		return 0;
	v = strtoul(env, &end, 10);
	if (*end || env[0] == '-' || env[0] == '+' || v > 65535)
		return nub_error_set(err, NUB_EINVAL,
		                     "NUB_GDB_PORT '%.32s' is not a TCP port (0: any free port)",
		                     env);
	sb->gdb_port = v ? (uint32_t)v : NUB_GDB_PORT_ANY;
	return 0;
}

int nub_sandbox_debugger_listen(struct nub_sandbox *sb)
{
	if (!sb->gdb_port || sb->gdb)
		return 0;
	return nub_gdb_listen(sb->gdb_port == NUB_GDB_PORT_ANY ? 0 : (uint16_t)sb->gdb_port,
	                      &sb->gdb, &sb->err);
}

int nub_sandbox_debugger_privatize(struct nub_sandbox *sb)
{
	struct nub_view v;
	int64_t n;

	sb->code_copies = 0;
	if (!sb->gdb_port)
		return 0;
	nub_sandbox_view(sb, &v);
	n = nub_view_privatize_code(&v, &sb->err);
	if (n < 0)
		return (int)n;
	sb->code_copies = (uint64_t)n;
	return 0;
}

struct nub_gdb *nub_sandbox_debugger(const struct nub_sandbox *sb)
{
	return nub_gdb_attached(sb->gdb) ? sb->gdb : NULL;
}

/* The first call: gdb connects and sees the guest at the call's entry. */
static int first_stop(struct nub_sandbox *sb)
{
	struct nub_gdb_target t = {
	        .hv = sb->hv, .scratch = sb->scratch, .entry_gva = sb->current->entry_gva};
	enum nub_gdb_resume how;
	struct nub_view v;
	int rc = nub_gdb_accept(sb->gdb, &sb->err);

	if (rc <= 0)
		return rc; /* failed, or gdb came at an earlier call */
	nub_sandbox_view(sb, &v);
	t.view = &v;
	rc = nub_gdb_stop(sb->gdb, &t, NUB_SIG_TRAP, 0, &how, &sb->err);
	if (!rc && how == NUB_GDB_KILL)
		rc = nub_sandbox_fail(sb, NUB_ECANCELLED, "call killed by the debugger");
	return rc;
}

int nub_sandbox_debugger_enter(struct nub_sandbox *sb, enum nub_run_phase phase)
{
	if (phase != NUB_RUN_CALL || !sb->gdb)
		return 0;
	return first_stop(sb);
}

void nub_sandbox_debugger_free(struct nub_sandbox *sb)
{
	nub_gdb_exited(sb->gdb, 0);
	nub_gdb_free(sb->gdb);
	sb->gdb = NULL;
}

unsigned nub_sandbox_gdb_port(const struct nub_sandbox *sb)
{
	return sb && nub_gdb_serving(sb->gdb) ? nub_gdb_port(sb->gdb) : 0;
}
