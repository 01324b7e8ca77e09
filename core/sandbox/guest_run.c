/* SPDX-License-Identifier: MIT */
/*
 * Running the guest from the lifecycle: the run context handed to the exit
 * loop (core/run/), the interrupt API and the call's deadline around it
 * (timeout.c), and what a failed run means -- the sandbox is poisoned
 * until a restore.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/sandbox_internal.h"

/* 1 when a call was running and the backend was asked to stop it. */
static int interrupt_running(struct nub_sandbox *sb)
{
	int rc = 0;

	pthread_mutex_lock(&sb->run_lock);
	if (sb->running)
		rc = nub_hv_interrupt(sb->hv);
	if (sb->running && !rc)
		rc = 1;
	pthread_mutex_unlock(&sb->run_lock);
	return rc;
}

int nub_sandbox_interrupt(struct nub_sandbox *sb)
{
	int rc;

	if (!sb)
		return NUB_EINVAL;
	rc = interrupt_running(sb);
	return rc < 0 ? rc : 0;
}

/* The handle outlives the sandbox: `lock` orders a kill against the free
 * that clears `sb`, so a kill either finds the sandbox whole or not at
 * all. The sandbox holds one reference, each caller one more. */
struct nub_interrupt_handle {
	atomic_int refs;
	pthread_mutex_t lock;
	struct nub_sandbox *sb;
};

struct nub_interrupt_handle *nub_sandbox_interrupt_handle(struct nub_sandbox *sb)
{
	struct nub_interrupt_handle *h;

	if (!sb)
		return NULL;
	if (!sb->handle) {
		h = calloc(1, sizeof(*h));
		if (!h)
			return NULL;
		atomic_init(&h->refs, 1); /* the sandbox's */
		pthread_mutex_init(&h->lock, NULL);
		h->sb = sb;
		sb->handle = h;
	}
	atomic_fetch_add(&sb->handle->refs, 1);
	return sb->handle;
}

int nub_interrupt_handle_kill(struct nub_interrupt_handle *h)
{
	int rc;

	if (!h)
		return NUB_EINVAL;
	pthread_mutex_lock(&h->lock);
	rc = h->sb ? interrupt_running(h->sb) : NUB_ENOTFOUND;
	pthread_mutex_unlock(&h->lock);
	return rc;
}

void nub_interrupt_handle_release(struct nub_interrupt_handle *h)
{
	if (!h || atomic_fetch_sub(&h->refs, 1) != 1)
		return;
	pthread_mutex_destroy(&h->lock);
	free(h);
}

void nub_sandbox_handle_detach(struct nub_sandbox *sb)
{
	struct nub_interrupt_handle *h = sb->handle;

	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	h->sb = NULL;
	pthread_mutex_unlock(&h->lock);
	sb->handle = NULL;
	nub_interrupt_handle_release(h);
}

static void run_begin(struct nub_sandbox *sb)
{
	pthread_mutex_lock(&sb->run_lock);
	sb->running = 1;
	atomic_store(&sb->timed_out, 0);
	pthread_mutex_unlock(&sb->run_lock);
}

static void run_end(struct nub_sandbox *sb)
{
	pthread_mutex_lock(&sb->run_lock);
	sb->running = 0;
	/* A request that arrived after the last exit must not cancel the
	 * next call. */
	nub_hv_clear_interrupt(sb->hv);
	pthread_mutex_unlock(&sb->run_lock);
}

/* The narrow context the loop runs with: this sandbox's parts, no more. */
static void run_context(struct nub_sandbox *sb, enum nub_run_phase phase, struct nub_run *r)
{
	memset(r, 0, sizeof(*r));
	r->hv = sb->hv;
	r->l = &sb->base->layout;
	nub_sandbox_view(sb, &r->view);
	r->scratch = sb->scratch;
	r->in = &sb->in;
	r->out = &sb->out;
	r->msg = sb->msg;
	r->msg_cap = sb->msg_cap;
	r->host_fns = sb->host_fns;
	r->log_fn = sb->cfg.log_fn;
	r->log_line_fn = sb->cfg.log_line_fn;
	r->trace_fn = sb->cfg.trace_fn;
	r->trace_user = sb->cfg.trace_user;
	r->fn_id = phase == NUB_RUN_CALL ? sb->call_fn : 0;
	r->fn_name = phase == NUB_RUN_INIT                     ? "init"
	             : sb->call_fn_name && sb->call_fn_name[0] ? sb->call_fn_name
	                                                       : NULL;
	r->log_user = sb->cfg.log_user;
	r->log_level = sb->cfg.log_level;
	r->in_callback = &sb->in_callback;
	r->syscall_gva = sb->current->syscall_gva;
	r->syms = sb->current->syms;
	r->hot = &sb->hot;
	r->hot_limit = phase == NUB_RUN_CALL ? NUB_HOT_MAX : NUB_HOT_INIT_MAX;
	r->timed_out = &sb->timed_out;
	r->timeout_us = sb->cfg.call_timeout_us;
	r->dispatch_gva = sb->dispatch_gva;
	r->fs_base = sb->fs_base;
	r->names = &sb->names;
	r->stats = &sb->stats;
	r->abort = &sb->abort;
	r->stop = &sb->stop;
	r->gdb = nub_sandbox_debugger(sb);
	r->entry_gva = sb->current->entry_gva;
	r->err = &sb->err;
}

int nub_sandbox_run(struct nub_sandbox *sb, enum nub_run_phase phase)
{
	enum nub_run_outcome outcome = NUB_RUN_DONE;
	struct nub_deadline deadline = {0};
	struct nub_run r;
	int rc;

	run_begin(sb);
	sb->abort.have = 0; /* it and the stop describe the last run only */
	sb->stop.have = 0;
	/* A guest a debugger holds at a breakpoint is not late. */
	if (sb->cfg.call_timeout_us && !sb->gdb_port &&
	    nub_deadline_arm(&deadline, sb, sb->cfg.call_timeout_us)) {
		rc = nub_sandbox_poison(
		        sb, nub_sandbox_fail(sb, NUB_ESYS, "call: cannot start the timeout thread"),
		        NULL);
		goto stop;
	}
	rc = nub_sandbox_debugger_enter(sb, phase);
	if (rc) {
		nub_sandbox_poison(sb, rc, NULL);
		goto stop;
	}
	run_context(sb, phase, &r);
	nub_gdb_arm(r.gdb, &r.view);
	rc = nub_run_loop(&r, phase, &outcome);
	nub_gdb_disarm(r.gdb, &r.view); /* no snapshot, core or restore sees one */
	sb->dispatch_gva = r.dispatch_gva;
	sb->fs_base = r.fs_base;
	if (outcome == NUB_RUN_GUEST)
		nub_sandbox_core_on_fault(sb);
	if (outcome != NUB_RUN_DONE)
		nub_sandbox_poison(sb, rc, outcome == NUB_RUN_BACKEND ? "backend failure" : NULL);
stop:
	nub_deadline_disarm(&deadline);
	run_end(sb);
	return rc;
}
