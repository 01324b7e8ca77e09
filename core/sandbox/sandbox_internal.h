/* SPDX-License-Identifier: MIT */
/* The sandbox handle, shared by sandbox.c (lifecycle) and run.c (the exit
 * loop). */
#ifndef NUB_CORE_SANDBOX_INTERNAL_H
#define NUB_CORE_SANDBOX_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>

#include <nub/nub.h>

#include "backend/hv.h"
#include "image/snapshot.h"
#include "memory/counter.h"
#include "memory/gbuf.h"
#include "memory/shmem.h"

struct nub_host_fn_slot {
	nub_host_fn fn;
	void *user;
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
	nub_gva_t dispatch_gva;
	nub_gva_t fs_base;         /* the guest's thread pointer (NUB_DOORBELL_SET_FS) */
	struct nub_fn_names names; /* from init, or from the snapshot */
	int poisoned;
	/* > 0 while a host function or the log callback of this sandbox runs:
	 * calls into this sandbox from there are refused (NUB_ESTATE). */
	int in_callback;
	char poison_reason[96];
	struct nub_host_fn_slot host_fns[NUB_MAX_HOST_FNS];
	uint8_t *msg; /* message staging, max(input, output) bytes */
	uint64_t msg_cap;
	/* Interrupt protocol: `running` changes only under run_lock, and
	 * nub_sandbox_interrupt forwards to the backend only while it is set,
	 * so a request can neither be lost nor leak into the next call. */
	pthread_mutex_t run_lock;
	int running;
	atomic_int timed_out;
	struct nub_sandbox_stats stats;
	struct nub_error err;
};

struct nub_view;
/* The copy-on-write view of the snapshot mapped now (sb->current) and the
 * sandbox's scratch: for resolving faults, prefetching the working set and
 * measuring the heap. */
void nub_sandbox_view(struct nub_sandbox *sb, struct nub_view *c);

/* The one place a sandbox is poisoned (until restore): `reason` for the
 * "poisoned" message, NULL for code's name. Returns code. */
int nub_sandbox_poison(struct nub_sandbox *sb, int code, const char *reason);

enum nub_run_phase { NUB_RUN_INIT, NUB_RUN_CALL };

/* Run the vCPU until the guest halts for `phase`, serving host calls,
 * logs and aborts. Poisons the sandbox on any guest-caused failure. */
int nub_sandbox_run(struct nub_sandbox *sb, enum nub_run_phase phase);

#endif
