/* SPDX-License-Identifier: MIT */
/*
 * A gdb remote-protocol server for one sandbox (docs/debugging.md): gdb
 * connects over TCP on localhost, and each time the guest stops -- before
 * the first call, at a breakpoint, after a single step, at a fault -- the
 * exit loop hands the stop to nub_gdb_stop, which serves gdb until it
 * resumes the guest. Everything gdb sees goes through the guest's own
 * tables as a CPL3 guest sees it; what it writes goes to the guest's
 * registers and to pages that are the sandbox's own.
 *
 * Breakpoints are int3 bytes in the guest's private copies of its code
 * (nub_view_privatize_code). They are in memory only while the guest runs
 * (nub_gdb_arm before, nub_gdb_disarm at every stop and at the end of a
 * run), so neither gdb's reads, nor a core file, nor a snapshot or a
 * restore ever sees one.
 */
#ifndef NUB_CORE_DEBUG_GDB_H
#define NUB_CORE_DEBUG_GDB_H

#include <stdint.h>

#include <nub/error.h>
#include <nub/guest_abi.h>

#include "backend/hv.h"
#include "memory/view.h"

struct nub_gdb;

/* What a stop lets gdb reach. `frame` is the exception frame the host's
 * stub left at scratch offset `frame_off` (the guest's RIP, RSP, RFLAGS),
 * NULL when the guest stopped between calls (the vCPU's registers are the
 * guest's). */
struct nub_gdb_target {
	struct nub_hv *hv;
	const struct nub_view *view;
	struct nub_shmem *scratch;
	struct nub_exception_frame *frame;
	uint64_t frame_off;
	nub_gva_t entry_gva; /* the ELF's entry, for gdb's auxv (AT_ENTRY) */
};

/* How gdb resumed the guest. */
enum nub_gdb_resume {
	NUB_GDB_CONTINUE, /* run on; a fault is taken again, as a process's would */
	NUB_GDB_STEP,     /* run one instruction, then stop */
	NUB_GDB_DELIVER,  /* continue with the fault's signal: the call fails with it */
	NUB_GDB_DETACH,   /* run on, no debugger from now on */
	NUB_GDB_KILL,     /* stop the call */
};

/* Listen on 127.0.0.1:port (0: a free port the kernel picks). NUB_ESYS
 * naming the port and errno when it cannot. */
int nub_gdb_listen(uint16_t port, struct nub_gdb **out, struct nub_error *err);
/* The port listened on. */
uint16_t nub_gdb_port(const struct nub_gdb *g);
/* 1 while a gdb is connected. */
int nub_gdb_attached(const struct nub_gdb *g);
/* 1 while listening or connected: not yet detached. */
int nub_gdb_serving(const struct nub_gdb *g);
/* Wait for gdb to connect: 1 when it did, 0 when this server took its one
 * connection before (after a detach no other is taken), NUB_ESYS naming
 * errno when accept fails. */
int nub_gdb_accept(struct nub_gdb *g, struct nub_error *err);

/* The guest stopped with Linux signal `signo` (debug/stop.h); `swbreak`
 * when at one of gdb's breakpoints. Breakpoints must be disarmed. Serves
 * gdb until it resumes the guest: register writes are applied (frame and
 * vCPU), RFLAGS.TF set for a step and cleared otherwise. Returns 0 with
 * *how, or a negative code with err set when the guest's state could not
 * be read or written; a gdb that goes away is a detach. */
int nub_gdb_stop(struct nub_gdb *g, const struct nub_gdb_target *t, int signo, int swbreak,
                 enum nub_gdb_resume *how, struct nub_error *err);

/* 1 when `gva` holds one of gdb's breakpoints. */
int nub_gdb_is_breakpoint(const struct nub_gdb *g, nub_gva_t gva);
/* Write gdb's breakpoints into guest memory / put the bytes back. A
 * breakpoint whose page is no longer the sandbox's own is left out. */
void nub_gdb_arm(struct nub_gdb *g, const struct nub_view *v);
void nub_gdb_disarm(struct nub_gdb *g, const struct nub_view *v);

/* The guest ended for good: tell gdb (exit status 0, or killed by
 * `signo`) and close the connection. */
void nub_gdb_exited(struct nub_gdb *g, int signo);
void nub_gdb_free(struct nub_gdb *g);

#endif
