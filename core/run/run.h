/* SPDX-License-Identifier: MIT */
/*
 * The exit loop, one floor below the sandbox lifecycle: run the vCPU until
 * the guest ends the phase, serve every doorbell on the way (each handler
 * in a file of its own), and classify everything else as a failure whose
 * message names what happened. It knows only the narrow run context below,
 * never the sandbox: the lifecycle builds the context, decides what a
 * failure means (it poisons the sandbox), and owns interrupts and timeouts.
 */
#ifndef NUB_CORE_RUN_RUN_H
#define NUB_CORE_RUN_RUN_H

#include <stdatomic.h>
#include <stdint.h>

#include <nub/nub.h>

#include "backend/hv.h"
#include "debug/gdb.h"
#include "debug/stop.h"
#include "image/snapshot.h"
#include "memory/gbuf.h"
#include "memory/view.h"

/* A host function the program registered (nub_sandbox_register). */
struct nub_host_fn_slot {
	nub_host_fn fn;
	void *user;
};

enum nub_run_phase { NUB_RUN_INIT, NUB_RUN_CALL };

/* What the loop needs, and what it reports back. Pointers are the
 * lifecycle's and outlive the run. */
/* A guest abort as the guest reported it, its text whole (up to
 * NUB_ABORT_TEXT_MAX bytes), not cut to the error message. */
struct nub_abort_record {
	int have;
	uint32_t code;
	uint32_t len;
	char text[NUB_ABORT_TEXT_MAX];
};

struct nub_run {
	struct nub_hv *hv;
	const struct nub_layout *l;
	struct nub_view view;      /* guest memory through the live tables */
	struct nub_shmem *scratch; /* the exception frame lives there */
	struct nub_gbuf *in, *out; /* the message stacks */
	uint8_t *msg;              /* staging for one message */
	uint64_t msg_cap;
	const struct nub_host_fn_slot *host_fns; /* NUB_MAX_HOST_FNS of them */
	nub_log_fn log_fn;                       /* NULL: logs dropped */
	nub_log_line_fn log_line_fn;             /* instead of log_fn when set */
	void *log_user;
	const char *fn_name; /* the guest function called ("init"); NULL: unnamed */
	uint32_t fn_id;
	nub_trace_fn trace_fn; /* NULL: no trace events */
	void *trace_user;
	uint32_t log_level;
	int *in_callback;               /* > 0 while a host function or log callback runs */
	nub_gva_t syscall_gva;          /* the guest's system-call entry; 0: none */
	const struct nub_symbols *syms; /* the guest ELF's functions, for messages; may be NULL */
	struct nub_hot_set *hot;        /* copy-on-write pages are added */
	unsigned hot_limit;             /* of them: NUB_HOT_INIT_MAX during init */
	const atomic_int *timed_out;    /* set by the lifecycle's watchdog before it interrupts */
	uint64_t timeout_us;            /* for the message */
	struct nub_gdb *gdb;            /* a debugger attached; NULL: none */
	nub_gva_t entry_gva;            /* the ELF's entry, for the debugger */
	/* written by the loop: */
	nub_gva_t dispatch_gva;          /* INIT_DONE */
	nub_gva_t fs_base;               /* SET_FS */
	struct nub_fn_names *names;      /* INIT_DONE */
	struct nub_sandbox_stats *stats; /* vm_exits, host_calls, cow_faults */
	struct nub_abort_record *abort;  /* ABORT: the code and the whole text */
	struct nub_stop *stop;           /* a fault: the guest's state; NULL: not kept */
	struct nub_error *err;
	int guest_failed; /* the loop's own: a failure the guest caused */
};

/* How a run ended. */
enum nub_run_outcome {
	NUB_RUN_DONE = 0,    /* the guest ended the phase (init done, call done) */
	NUB_RUN_GUEST = 1,   /* the guest did something that stops it: a fault, an
	                        abort, a refused access, cancellation, timeout */
	NUB_RUN_BACKEND = 2, /* the backend failed (its message in err) */
};

/* CLOCK_MONOTONIC in nanoseconds: the clock of durations and traces. */
uint64_t nub_run_now_ns(void);
/* One trace event to `fn` (NULL: none), stamped now, with *in_callback
 * raised around it so the hook cannot re-enter its sandbox. */
void nub_trace_emit(nub_trace_fn fn, void *user, int *in_callback, uint32_t kind, uint32_t id,
                    const char *name, int32_t rc);

/* Run until the guest ends `phase`. Returns 0 (outcome DONE) or the
 * failure's negative code with its message in r->err; *outcome says which
 * side failed. The loop never poisons anything: that is the caller's. */
int nub_run_loop(struct nub_run *r, enum nub_run_phase phase, enum nub_run_outcome *outcome);

#endif
