/* SPDX-License-Identifier: MIT */
/*
 * The pool of freed VMs (nub_snapshot_set_pool): a sandbox freed while it
 * holds a snapshot's state is reset to it in place and parked in that
 * snapshot's pool whole -- VM, scratch, live page tables, the copies the
 * host made -- and the next evolve of a sandbox from the snapshot takes
 * its VM as it is. Creating a VM costs milliseconds on the software KVM (the VM, the
 * vCPU, its CPUID and memory slots, then a shadow page fault for every page
 * the first call touches); a reset in place costs what a restore does.
 *
 * Isolation: what moves to the new sandbox is only what a restore already
 * resets between two requests of one sandbox (memory, vCPU state, seed),
 * and it was reset before it parked: a parked VM holds nothing of its last
 * user however long it waits (a host core dump shows none of it);
 * the shell with the last user's configuration, host functions, counters
 * and errors is freed. A poisoned sandbox (a failed call, a failed reset,
 * a backend failure) is never parked.
 *
 * A VM is its process's: a forked child has copies of the parent's
 * sandboxes and pool entries, whose hypervisor handles are the parent's
 * (KVM refuses another process's VM; the mock's vCPU process is the
 * parent's child, and its memory is shared with it), so the child never
 * takes one, resets one to park it, nor frees a parked one: they stay the
 * parent's.
 */
#include <stdlib.h>
#include <string.h>

#include <nub/nub.h>

#include "sandbox/sandbox_internal.h"

static int same_string(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* Detach and free every parked sandbox past the first `keep`. */
static void pool_trim(struct nub_snapshot *snap, unsigned keep)
{
	struct nub_snapshot_pool *p = &snap->pool;
	struct nub_sandbox *drop = NULL, **at;

	pthread_mutex_lock(&p->lock);
	at = (struct nub_sandbox **)&p->parked;
	for (unsigned i = 0; *at && i < keep; i++)
		at = &(*at)->parked_next;
	drop = *at;
	*at = NULL;
	p->n = p->n < keep ? p->n : keep;
	pthread_mutex_unlock(&p->lock);
	while (drop) {
		struct nub_sandbox *next = drop->parked_next;
		nub_sandbox_destroy(drop); /* holds no snapshot references */
		drop = next;
	}
}

static void pool_drain(struct nub_snapshot *snap)
{
	pool_trim(snap, 0);
}

int nub_snapshot_set_pool(struct nub_snapshot *snap, unsigned max_vms)
{
	if (!snap || max_vms > NUB_SNAPSHOT_POOL_MAX)
		return NUB_EINVAL;
	pthread_mutex_lock(&snap->pool.lock);
	snap->pool.max = max_vms;
	pthread_mutex_unlock(&snap->pool.lock);
	pool_trim(snap, max_vms);
	return 0;
}

int nub_sandbox_holds_base_state(const struct nub_sandbox *sb)
{
	return sb->hv && !sb->poisoned && !sb->running && sb->base && sb->current == sb->base;
}

/* Room in the pool now; park looks again under the lock. */
static int pool_has_room(struct nub_snapshot_pool *p)
{
	pthread_mutex_lock(&p->lock);
	int room = p->n < p->max;
	pthread_mutex_unlock(&p->lock);
	return room;
}

/* Reset `sb` to its base before it parks: the freeing thread pays the
 * restore the next evolve would have paid, and the VM waits clean. The
 * trace hook is the last user's, who is freeing the sandbox: it is not
 * told. 1 when reset; else the sandbox is poisoned (and freed). */
static int pool_scrub(struct nub_sandbox *sb)
{
	sb->cfg.trace_fn = NULL;
	int rc = nub_sandbox_reset(sb, sb->base);

	nub_sandbox_publish_stats(sb); /* the restore counts in the process's */
	return rc == 0;
}

int nub_sandbox_park(struct nub_sandbox *sb)
{
	struct nub_snapshot *snap = sb->base;
	struct nub_snapshot_pool *p;

	/* A debugged sandbox's tables map private copies of the code. */
	if (!nub_sandbox_holds_base_state(sb) || sb->gdb_port || !nub_sandbox_vm_is_ours(sb))
		return 0;
	p = &snap->pool;
	if (!pool_has_room(p) || !pool_scrub(sb))
		return 0;
	pthread_mutex_lock(&p->lock);
	if (p->n >= p->max) {
		pthread_mutex_unlock(&p->lock);
		return 0;
	}
	/* The pool's entries hold no reference: the snapshot drains them
	 * before it goes (see struct nub_snapshot_pool). */
	p->drain = pool_drain;
	sb->base = sb->current = NULL;
	sb->parked_next = p->parked;
	p->parked = sb;
	p->n++;
	pthread_mutex_unlock(&p->lock);
	nub_snapshot_unref(snap); /* base's: current's still holds it */
	nub_snapshot_unref(snap); /* may be the last: drains the pool, this one too */
	return 1;
}

static struct nub_sandbox *pool_take(struct nub_snapshot *snap, const struct nub_sandbox *like)
{
	struct nub_snapshot_pool *p = &snap->pool;
	struct nub_sandbox *got = NULL, **at;

	pthread_mutex_lock(&p->lock);
	for (at = (struct nub_sandbox **)&p->parked; *at; at = &(*at)->parked_next) {
		if (nub_sandbox_vm_is_ours(*at) &&
		    same_string((*at)->backend_spec, like->backend_spec) &&
		    same_string((*at)->backend_options, like->backend_options)) {
			got = *at;
			*at = got->parked_next;
			p->n--;
			break;
		}
	}
	pthread_mutex_unlock(&p->lock);
	return got;
}

/* Move the VM and what describes its memory from `from` (parked) to `sb`;
 * every field create_vm and the reset before parking set up. `from` keeps
 * nothing. */
static void move_vm(struct nub_sandbox *sb, struct nub_sandbox *from)
{
	sb->hv = from->hv;
	sb->vm_owner = from->vm_owner;
	sb->vm_forks = from->vm_forks;
	sb->scratch = from->scratch;
	sb->in = from->in;
	sb->out = from->out;
	/* The host's counter is the sandbox's, not the VM's: the new one
	 * starts at 0, which the reset that follows writes for the guest. */
	nub_counter_init(&sb->counter, sb->scratch, sb->base->layout.scratch_size);
	sb->msg = from->msg;
	sb->msg_cap = from->msg_cap;
	sb->copies = from->copies;
	memcpy(sb->writable, from->writable, sizeof(sb->writable));
	sb->nwritable = from->nwritable;
	sb->in_place = from->in_place;
	sb->cow_pages = from->cow_pages;
	sb->cow_next = from->cow_next;
	sb->current = nub_snapshot_ref(sb->base); /* what the VM maps */
	from->hv = NULL;
	from->scratch = NULL;
	from->msg = NULL;
	memset(&from->copies, 0, sizeof(from->copies));
}

int nub_sandbox_unpark(struct nub_sandbox *sb)
{
	struct nub_sandbox *from = sb->gdb_port ? NULL : pool_take(sb->base, sb);

	if (!from)
		return 0;
	move_vm(sb, from);
	nub_sandbox_destroy(from);
	sb->stats.vms_recycled = 1;
	return 1;
}
