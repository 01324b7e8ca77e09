/* SPDX-License-Identifier: MIT */
/*
 * The sandbox handle and what the lifecycle's files share (core/sandbox/):
 * creation and evolve (sandbox.c), the configuration (config.c), calls
 * (call.c), state, resets and poisoning (state.c), and running the guest
 * with interrupts and timeouts (guest_run.c), on top of the exit loop
 * (core/run/).
 */
#ifndef NUB_CORE_SANDBOX_INTERNAL_H
#define NUB_CORE_SANDBOX_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>

#include <nub/nub.h>

#include "backend/hv.h"
#include "debug/stop.h"
#include "image/snapshot.h"
#include "memory/counter.h"
#include "memory/gbuf.h"
#include "memory/layout.h"
#include "memory/shmem.h"
#include "run/run.h"
#include "x86/cpu.h"

/* Runs of scratch the tables map writable (stack, buffers, exception
 * stack, ...): more and a restore always rewrites the tables. */
#define NUB_SANDBOX_WRITABLE_MAX NUB_SNAPSHOT_WRITABLE_MAX

/* The memory slots of a sandbox's VM: the host's mappings take the rest
 * (slot NUB_SANDBOX_SLOT_MAPPINGS + their index). */
enum { NUB_SANDBOX_SLOT_SNAPSHOT = 0, NUB_SANDBOX_SLOT_SCRATCH = 1, NUB_SANDBOX_SLOT_MAPPINGS = 2 };

/* A mapping of host memory or a file (mapping.c). */
struct nub_mapping {
	nub_gva_t gva; /* == its GPA */
	uint64_t size;
	uint32_t flags, tag;
	void *host;
	int file_fd;    /* a file's, -1 for host memory */
	void *file_map; /* nub's own mmap of the file (unmapped with the mapping) */
	int used;
};

struct nub_sandbox {
	struct nub_config cfg;
	char *backend_spec;
	char *backend_options;
	struct nub_snapshot *base;    /* restore(NULL) target */
	struct nub_snapshot *current; /* snapshot mapped in the VM */
	struct nub_shmem *scratch;
	struct nub_hv *hv;
	struct nub_gbuf in, out;
	struct nub_guest_counter counter;
	uint64_t generation;
	uint64_t cow_next;      /* scratch offset of the next free copy-on-write page */
	struct nub_hot_set hot; /* the guest's working set, copied at restore */
	int hot_copied;         /* the last prefetch left no page of `hot` CoW */
	/* Restores in place (state.c): scratch holds current's tables plus
	 * the copies in `copies`, and `writable` lists the rest of scratch the
	 * tables map writable. in_place is 0 until a full reset sets it up. */
	struct nub_copies copies;
	struct nub_range writable[NUB_SANDBOX_WRITABLE_MAX];
	unsigned nwritable;
	int in_place;
	int scratch_zero;   /* scratch is a fresh mapping nothing wrote yet */
	uint64_t cow_pages; /* pages the tables map copy-on-write after a full reset */
	nub_gva_t dispatch_gva;
	nub_gva_t fs_base;         /* the guest's thread pointer (NUB_DOORBELL_SET_FS) */
	struct nub_fn_names names; /* from init, or from the snapshot */
	int poisoned;
	/* > 0 while a host function or the log callback of this sandbox runs:
	 * calls into this sandbox from there are refused (NUB_ESTATE). */
	int in_callback;
	char poison_reason[96];
	int poison_code;
	struct nub_abort_record abort; /* the last run's guest abort, whole */
	/* Debugging (core_file.c): the last run's fault as the guest saw it,
	 * its message, where cores go (NULL: nowhere) and the guest ELF's
	 * path (NULL: made from a snapshot or a buffer). */
	struct nub_stop stop;
	char stop_why[NUB_ERROR_MSG_MAX];
	char *core_dir;
	char *elf_path;
	/* The debugger (debugger.c): the port asked for (0: none), the
	 * server from evolve on, and how many of the copies in `copies` are
	 * the code's (made at every full reset, not by copy-on-write). */
	uint32_t gdb_port;
	struct nub_gdb *gdb;
	uint64_t code_copies;
	struct nub_host_fn_slot host_fns[NUB_MAX_HOST_FNS];
	/* Typed host functions (host_fns.c): the byte slot's user points here. */
	struct nub_typed_host {
		const char *sig;
		nub_typed_host_fn fn;
		void *user;
	} typed_host[NUB_MAX_HOST_FNS];
	uint8_t *msg; /* message staging, max(input, output) bytes */
	uint64_t msg_cap;
	/* Interrupt protocol: `running` changes only under run_lock, and
	 * nub_sandbox_interrupt forwards to the backend only while it is set,
	 * so a request can neither be lost nor leak into the next call. */
	pthread_mutex_t run_lock;
	int running;
	atomic_int timed_out;
	struct nub_sandbox_stats stats;
	struct nub_sandbox_stats published; /* what metrics.c added to the process's */
	/* The call running (call.c), for log lines: its function. */
	uint32_t call_fn;
	const char *call_fn_name; /* NULL outside a call */
	struct nub_error err;
	struct nub_sandbox *parked_next;     /* in its snapshot's pool (pool.c) */
	pid_t vm_owner;                      /* the process that made or took its VM */
	long vm_forks;                       /* nub_sandbox_fork_count() then */
	struct nub_interrupt_handle *handle; /* made on first ask (guest_run.c) */
	struct nub_mapping maps[NUB_MAPPINGS_MAX];
	unsigned nmaps;                                /* used entries of maps */
	struct nub_view_extra extra[NUB_MAPPINGS_MAX]; /* the same, for the view */
	unsigned nextra;
};

/* ---- errors on the handle (sandbox.c) ---- */

/* Set the handle's error; returns code. */
int nub_sandbox_fail(struct nub_sandbox *sb, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* A public call's result: on success the handle's error is cleared, so
 * nub_sandbox_last_error() always describes the last call. */
int nub_sandbox_result(struct nub_sandbox *sb, int rc);
/* NUB_ESTATE naming `what` when called from one of this sandbox's own host
 * functions or its log callback (their exit owns the buffers); else 0. */
int nub_sandbox_reentered(struct nub_sandbox *sb, const char *what);
/* The forks this process and its ancestors made since libnub started
 * counting (a pthread_atfork handler), or -1 when it could not count. */
long nub_sandbox_fork_count(void);
/* Record that this process made sb's VM. */
void nub_sandbox_own_vm(struct nub_sandbox *sb);
/* 1 unless sb's VM is another process's: a forked child's copy of a
 * sandbox made before the fork, whose hypervisor handles and (on the mock)
 * guest memory are its parent's. No system call. */
int nub_sandbox_vm_is_ours(const struct nub_sandbox *sb);
/* NUB_ESTATE with a message naming the VM's process when `what` would
 * touch a VM that is another process's; else 0. */
int nub_sandbox_foreign(struct nub_sandbox *sb, const char *what);
/* Both refusals, in that order: what every call that runs the VM or
 * replaces its state (call, restore, snapshot, mapping) checks first. */
int nub_sandbox_check_usable(struct nub_sandbox *sb, const char *what);

/* A versioned struct for a caller that knows `dst_size` bytes of it:
 * what both know copied, the caller's bytes past ours zeroed. */
void nub_sandbox_copy_sized(void *dst, size_t dst_size, const void *src, size_t src_size);

/* ---- configuration (config.c) ---- */

/* The caller's config, normalised to this libnub's size, and checked. */
int nub_sandbox_config_take(const struct nub_config *cfg, struct nub_config *out,
                            struct nub_error *err);
void nub_sandbox_layout_config(const struct nub_config *cfg, struct nub_layout_config *lc);

/* ---- state (state.c) ---- */

/* The one place a sandbox is poisoned (until a reset clears it): `reason`
 * for the "poisoned" message, NULL for code's name. Returns code. */
int nub_sandbox_poison(struct nub_sandbox *sb, int code, const char *reason);
/* The guest memory view of the snapshot mapped now (sb->current) and the
 * sandbox's scratch. */
void nub_sandbox_view(struct nub_sandbox *sb, struct nub_view *v);
/* Where `snap`'s system calls go on this sandbox's backend. */
void nub_sandbox_syscall(const struct nub_sandbox *sb, const struct nub_snapshot *snap,
                         struct nub_cpu_syscall *sys);
/* Put the sandbox in `snap`'s state: memory, vCPU, working set, seed;
 * clears poisoning. */
int nub_sandbox_reset(struct nub_sandbox *sb, struct nub_snapshot *snap);
/* NUB_RESTORE_SEED_SIZE fresh bytes from the kernel's CSPRNG for a reset's
 * guest seed (seed.c): 0, or NUB_ESYS with errno set. */
int nub_sandbox_seed_draw(uint8_t *out);
/* Take over a VM that was reset to `snap` when it was parked and has not
 * run since (pool.c): set what the sandbox itself holds -- the counter the
 * guest reads, the working set, what it knows of `snap`. Poisons on
 * failure, as a reset does. */
int nub_sandbox_adopt(struct nub_sandbox *sb, struct nub_snapshot *snap);

/* ---- the host's mappings (mapping.c) ---- */

/* Remove every mapping: their slots, their page-table leaves (the caller
 * rewrites the tables: a full reset), their records and what the guest is
 * told. For reset and free; never fails in a way that leaves one mapped
 * at the hypervisor (the VM is poisoned otherwise). */
int nub_sandbox_unmap_all(struct nub_sandbox *sb);

/* ---- the pool of freed VMs (pool.c) ---- */

/* An evolved, unpoisoned sandbox whose last reset was to its base: what it
 * holds is its base's state, so its VM may be parked and its working set
 * taught to the base. */
int nub_sandbox_holds_base_state(const struct nub_sandbox *sb);

/* Park `sb` in its snapshot's pool when it can be reused (see
 * nub_snapshot_set_pool), reset to its base first; 1 when parked (the
 * caller must not free it), else 0. */
int nub_sandbox_park(struct nub_sandbox *sb);
/* Give `sb` (not evolved) the VM of a sandbox parked in sb->base's pool
 * with the same backend spec and options: 1 when it got one (in sb->base's
 * state: nub_sandbox_adopt it next), 0 when the pool had none. */
int nub_sandbox_unpark(struct nub_sandbox *sb);
/* Free what a sandbox holds, parked or not (sandbox.c). */
void nub_sandbox_destroy(struct nub_sandbox *sb);

/* ---- running the guest (guest_run.c) ---- */

/* Detach the sandbox's interrupt handle (free): kills through it from
 * then on find nothing, and wait for one in progress to finish. */
void nub_sandbox_handle_detach(struct nub_sandbox *sb);

/* The host functions a sandbox provides (host_fns.c): a bit per id
 * registered, NUB_SNAPSHOT_HOST_FN_WORDS words into `bits`; and whether it
 * provides every one `snap` needs -- 0, or NUB_EMISMATCH with the missing
 * ids named in the message ("<what>: ..."). */
void nub_sandbox_host_fn_bits(const struct nub_sandbox *sb, uint64_t *bits);
int nub_sandbox_check_host_fns(struct nub_sandbox *sb, const struct nub_snapshot *snap,
                               const char *what);

/* ---- core files (core_file.c) ---- */

/* After a run the guest failed: when it stopped at a fault, keep the
 * fault's message for nub_sandbox_core_dump and, when a core directory is
 * configured, write its core there and name it (or why there is none) at
 * the end of the error message. */
void nub_sandbox_core_on_fault(struct nub_sandbox *sb);
/* 1 while sb->stop describes where the last call stopped at a fault or an
 * abort (until a restore): what cores and backtraces read. */
int nub_sandbox_has_stop(const struct nub_sandbox *sb);

/* ---- the call timeout (timeout.c) ---- */

/* A running call's deadline, on its run's stack. */
struct nub_deadline {
	struct nub_sandbox *sb;
	uint64_t at_ns; /* nub_run_now_ns */
	int armed, fired;
	struct nub_deadline *next;
};
/* Interrupt `sb` (timed_out set) unless disarmed within timeout_us.
 * NUB_ESYS when the process's timer thread cannot start. */
int nub_deadline_arm(struct nub_deadline *d, struct nub_sandbox *sb, uint64_t timeout_us);
void nub_deadline_disarm(struct nub_deadline *d);

/* ---- metrics and traces (metrics.c, trace.c) ---- */

/* A call ended with rc after starting at t0 (nub_run_now_ns): its time,
 * its error's kind. */
void nub_sandbox_call_done(struct nub_sandbox *sb, int rc, uint64_t t0);
/* A restore that started at t0 ended. */
void nub_sandbox_restore_done(struct nub_sandbox *sb, uint64_t t0);
/* Add what the counters gained since the last time to the process's. */
void nub_sandbox_publish_stats(struct nub_sandbox *sb);
/* A trace event to the config's trace_fn, if any (never re-entering). */
void nub_sandbox_trace(struct nub_sandbox *sb, uint32_t kind, uint32_t id, const char *name,
                       int32_t rc);
/* The registered name of guest function `id`, "" when unnamed, in buf
 * (sandbox.c, beside the public lookups). */
const char *nub_sandbox_fn_name(const struct nub_sandbox *sb, uint32_t id, char *buf, size_t cap);

/* ---- the debugger (debugger.c) ---- */

/* The port from the config or $NUB_GDB_PORT, at creation: NUB_EINVAL
 * naming a variable that is not a port. */
int nub_sandbox_debugger_config(struct nub_sandbox *sb, const struct nub_config *cfg,
                                struct nub_error *err);
/* Listen, at evolve, when a port is configured. */
int nub_sandbox_debugger_listen(struct nub_sandbox *sb);
/* After a full reset wrote the tables, before the guest runs on them:
 * the code's private copies, when a debugger is configured. */
int nub_sandbox_debugger_privatize(struct nub_sandbox *sb);
/* Before a call runs: the first waits for gdb and stops there. A gdb
 * that kills the guest there fails the call (poisoned). */
int nub_sandbox_debugger_enter(struct nub_sandbox *sb, enum nub_run_phase phase);
/* The server while a gdb is attached, else NULL. */
struct nub_gdb *nub_sandbox_debugger(const struct nub_sandbox *sb);
/* At free: gdb is told the guest exited. */
void nub_sandbox_debugger_free(struct nub_sandbox *sb);

/* Run the exit loop until the guest ends `phase`, with the call timeout's
 * watchdog and the interrupt protocol around it. Any failure poisons the
 * sandbox. */
int nub_sandbox_run(struct nub_sandbox *sb, enum nub_run_phase phase);

#endif
