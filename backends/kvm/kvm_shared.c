/* SPDX-License-Identifier: MIT */
/*
 * KVM VMs that several sandboxes share (option share=N): each sandbox is a
 * vCPU of its own on a guest-physical window of its own (N * NUB_GPA_LIMIT,
 * core's NUB_VM_GPA_WINDOW), with memory slots numbered window * 32 + the
 * slot core chose. Creating a sandbox then creates no KVM VM: no
 * KVM_CREATE_VM, whose MMU-notifier registration walks every VMA of the
 * process, no per-VM kernel thread, and one VM's notifier instead of one
 * per sandbox called on every unmap in the process -- the costs that grow
 * with the number of live sandboxes (docs/performance.md, the scale row).
 *
 * KVM cannot destroy one vCPU, so a freed sandbox's vCPU is parked with
 * its kvm_run mapping and given to the next sandbox of that VM; its
 * window's slots are deleted first. A VM is destroyed when its last
 * sandbox goes, except the one most recently emptied, kept for the next
 * creation (a sandbox made and freed per request then makes no VM at all).
 *
 * Isolation between the sandboxes of one VM rests on what nub guests are
 * (guest ABI 2): guest code runs at CPL3 under page tables the host writes
 * and the guest can neither read nor write, mapping only pages of its own
 * window; it executes no instruction that changes CR3 or reaches physical
 * memory any other way. A vCPU taken over gets every register core sets
 * at a full reset plus its pending events cleared here.
 *
 * The list of VMs is the one piece of process-wide mutable state besides
 * kvm_system (kvm.c), under shared_lock; a VM's slots and vCPUs are only
 * touched by the thread that owns the nub_vm, as the ABI says.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <nub/guest_abi.h>

#include "kvm_internal.h"

/* Quirk KVM applies when a memory slot is deleted: zap every shadow page
 * of the VM (every sandbox of it would refault its working set each time
 * one is freed). Linux 6.12+ lets a VM turn it off (KVM_CAP_DISABLE_QUIRKS2);
 * where it cannot, sharing stays correct, only slower at frees. */
#ifndef KVM_CAP_DISABLE_QUIRKS2
#define KVM_CAP_DISABLE_QUIRKS2 213
#endif
#define KVM_QUIRK_SLOT_ZAP_ALL (1u << 7)
/* Shadow pages a shared VM may hold per window (4 KiB each). */
#define KVM_SHADOW_PAGES_PER_WINDOW 512u

struct kvm_parked {
	int fd;
	struct kvm_run *run;
	int ready; /* its CPUID set (a vCPU whose creation failed after it is not) */
};

struct kvm_host_vm {
	int fd;
	unsigned capacity;     /* windows (and vCPUs) it holds at most */
	unsigned used;         /* windows held by live sandboxes */
	unsigned vcpus;        /* vCPUs created (ids 0..vcpus-1) */
	unsigned char *window; /* capacity flags: window i in use */
	struct kvm_parked *parked;
	unsigned nparked;
	struct kvm_host_vm *next;
};

static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static struct kvm_host_vm *shared_vms; /* every VM with a free window or kept */
static struct kvm_host_vm *kept;       /* the empty one kept for the next creation */
static pid_t shared_pid;               /* the process the VMs belong to */

static void host_vm_free(struct kvm_host_vm *h, size_t run_size)
{
	for (unsigned i = 0; i < h->nparked; i++) {
		munmap(h->parked[i].run, run_size);
		close(h->parked[i].fd);
	}
	close(h->fd);
	free(h->parked);
	free(h->window);
	free(h);
}

static int host_vm_new(int kvm_fd, unsigned capacity, struct kvm_host_vm **out, char *err,
                       size_t err_cap)
{
	struct kvm_host_vm *h = calloc(1, sizeof(*h));
	struct kvm_enable_cap quirks = {.cap = KVM_CAP_DISABLE_QUIRKS2,
	                                .args = {KVM_QUIRK_SLOT_ZAP_ALL}};
	const unsigned long budget = (unsigned long)capacity * KVM_SHADOW_PAGES_PER_WINDOW;
	int rc;

	if (!h)
		return kvm_fail(err, err_cap, NUB_ENOMEM, "out of memory for a shared VM");
	h->window = calloc(capacity, 1);
	h->parked = calloc(capacity, sizeof(*h->parked));
	if (!h->window || !h->parked) {
		rc = kvm_fail(err, err_cap, NUB_ENOMEM, "out of memory for a shared VM");
		goto free_host;
	}
	h->fd = kvm_vm_fd_new(kvm_fd, err, err_cap);
	if (h->fd < 0) {
		rc = h->fd;
		goto free_host;
	}
	int supported = ioctl(h->fd, KVM_CHECK_EXTENSION, KVM_CAP_DISABLE_QUIRKS2);
	if (supported > 0 && (supported & KVM_QUIRK_SLOT_ZAP_ALL))
		(void)kvm_ioctl(h->fd, KVM_ENABLE_CAP, &quirks); /* only a speed-up */
	/* KVM sizes a VM's shadow-page budget from its memory slots, which
	 * here come and go with the sandboxes, while parked vCPUs keep their
	 * last roots: once the slots of a full VM were gone, the next vCPU to
	 * run found no page it could take (KVM_RUN: ENOSPC). A fixed budget
	 * per window instead; pages are only allocated as tables are shadowed,
	 * and a sandbox's tables are core's, bounded by its pt_reserve. */
	if (kvm_ioctl(h->fd, KVM_SET_NR_MMU_PAGES, (void *)(uintptr_t)budget) < 0) {
		rc = kvm_fail(err, err_cap, NUB_ESYS, "KVM_SET_NR_MMU_PAGES %lu: %s", budget,
		              strerror(errno));
		goto close_vm;
	}
	h->capacity = capacity;
	*out = h;
	return 0;
close_vm:
	close(h->fd);
free_host:
	free(h->parked);
	free(h->window);
	free(h);
	return rc;
}

/* A VM of this capacity with a free window, or a new one (listed). */
static int host_vm_with_room(int kvm_fd, unsigned capacity, struct kvm_host_vm **out, char *err,
                             size_t err_cap)
{
	for (struct kvm_host_vm *h = shared_vms; h; h = h->next)
		if (h->capacity == capacity && h->used < h->capacity) {
			*out = h;
			return 0;
		}
	int rc = host_vm_new(kvm_fd, capacity, out, err, err_cap);
	if (rc == 0) {
		(*out)->next = shared_vms;
		shared_vms = *out;
	}
	return rc;
}

static void host_vm_unlist(struct kvm_host_vm *h)
{
	for (struct kvm_host_vm **p = &shared_vms; *p; p = &(*p)->next)
		if (*p == h) {
			*p = h->next;
			return;
		}
}

/* A parked vCPU, or a new one (with its kvm_run mapped). *fresh: its
 * CPUID is still to be set. */
static int host_vm_vcpu(struct kvm_host_vm *h, size_t run_size, struct kvm_parked *out, int *fresh,
                        char *err, size_t err_cap)
{
	if (h->nparked) {
		*out = h->parked[--h->nparked];
		*fresh = !out->ready;
		return 0;
	}
	int rc = kvm_vcpu_new(h->fd, h->vcpus, run_size, &out->fd, &out->run, err, err_cap);
	if (rc)
		return rc;
	h->vcpus++;
	out->ready = 0;
	*fresh = 1;
	return 0;
}

/* A KVM VM serves only the process that made it (KVM fails every call
 * from another with EIO): after a fork the child's copies of the parent's
 * VMs are let go -- descriptors and mappings, never their sandboxes, which
 * stay the parent's -- and the child makes its own. */
static void forget_other_process(size_t run_size)
{
	if (shared_pid == getpid())
		return;
	while (shared_vms) {
		struct kvm_host_vm *h = shared_vms;
		shared_vms = h->next;
		host_vm_free(h, run_size);
	}
	kept = NULL;
	shared_pid = getpid();
}

int kvm_shared_attach(struct nub_vm *vm, int kvm_fd, unsigned capacity, int *fresh, char *err,
                      size_t err_cap)
{
	struct kvm_host_vm *h = NULL;
	struct kvm_parked v = {-1, NULL, 0};
	unsigned w = 0;
	int rc;

	pthread_mutex_lock(&shared_lock);
	forget_other_process(vm->run_size);
	rc = host_vm_with_room(kvm_fd, capacity, &h, err, err_cap);
	if (rc == 0) {
		rc = host_vm_vcpu(h, vm->run_size, &v, fresh, err, err_cap);
		if (rc && h->vcpus == 0 && h != kept) {
			/* Made for this sandbox and still empty (its vCPU found
			 * no descriptor): it would hold one, and be taken
			 * before a VM with a parked vCPU, so that the next
			 * creation failed again after a free at the limit. */
			host_vm_unlist(h);
			host_vm_free(h, vm->run_size);
		}
	}
	if (rc == 0) {
		while (h->window[w])
			w++;
		h->window[w] = 1;
		h->used++;
		if (h == kept)
			kept = NULL;
		vm->host = h;
		vm->window = w;
		vm->vm_fd = h->fd;
		vm->vcpu_fd = v.fd;
		vm->run = v.run;
		vm->gpa_base = (uint64_t)w * NUB_GPA_LIMIT;
		vm->owner_pid = (int)shared_pid;
	}
	pthread_mutex_unlock(&shared_lock);
	return rc;
}

/* Nothing the last sandbox left pending reaches the next: no exception,
 * interrupt or NMI to deliver. (Every register core resets itself.) */
static void vcpu_clear_events(int vcpu_fd)
{
	struct kvm_vcpu_events ev;

	memset(&ev, 0, sizeof(ev));
	(void)kvm_ioctl(vcpu_fd, KVM_SET_VCPU_EVENTS, &ev);
}

void kvm_shared_detach(struct nub_vm *vm)
{
	struct kvm_host_vm *h = vm->host, *drop = NULL;

	/* A parent's sandbox freed in a forked child: its VM is the parent's
	 * (and forget_other_process may have let the child's copy go). */
	if (vm->owner_pid != (int)getpid()) {
		munmap(vm->run, vm->run_size);
		close(vm->vcpu_fd);
		return;
	}
	vcpu_clear_events(vm->vcpu_fd);
	/* (kvm_valid_regs: the next vm_create sets it.) */
	vm->run->immediate_exit = 0;
	vm->run->kvm_dirty_regs = 0;
	pthread_mutex_lock(&shared_lock);
	h->parked[h->nparked++] = (struct kvm_parked){vm->vcpu_fd, vm->run, vm->vcpu_ready};
	h->window[vm->window] = 0;
	if (--h->used == 0) {
		/* Keep this one for the next creation; the one kept before goes. */
		if (kept && kept != h) {
			drop = kept;
			host_vm_unlist(drop);
		}
		kept = h;
	}
	pthread_mutex_unlock(&shared_lock);
	if (drop)
		host_vm_free(drop, vm->run_size);
}

unsigned kvm_shared_capacity_max(unsigned phys_bits, int kvm_fd)
{
	int vcpus = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	int slots = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
	uint64_t windows =
	        phys_bits >= 52 ? NUB_GPA_WINDOW_MAX + 1 : (1ull << phys_bits) / NUB_GPA_LIMIT;
	uint64_t cap = windows;

	if (vcpus > 0 && (uint64_t)vcpus < cap)
		cap = (uint64_t)vcpus;
	if (slots > 0 && (uint64_t)slots / KVM_NUB_MAX_SLOTS < cap)
		cap = (uint64_t)slots / KVM_NUB_MAX_SLOTS;
	return (unsigned)cap;
}
