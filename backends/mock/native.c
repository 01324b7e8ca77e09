/* SPDX-License-Identifier: MIT */
/*
 * Native guest execution for the mock backend (see native.h). The host side
 * (mock_native_run) and the guest thread hand control back and forth under
 * one mutex: exactly one of them runs at a time, as with a real vCPU.
 */
#include "native.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nub/guest_abi.h>
#include <nub/vmem.h>

#include "mock.h"
#include "native_rt.h"

#define PAGE NUB_PAGE_SIZE
#define PF_P (1u << 0)
#define PF_W (1u << 1)
#define PF_U (1u << 2)

enum job { JOB_NONE, JOB_INIT, JOB_DISPATCH, JOB_QUIT };

struct mock_native {
	struct nub_vm *vm;
	const struct mock_native_prog *prog;
	pthread_t thread;
	int thread_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int guest_turn; /* 1: guest thread runs; 0: host runs */
	enum job job;   /* job to start when the guest thread is not suspended */
	int suspended;  /* guest thread waits inside a port exit */
	int abandon;    /* unwind the suspended job instead of resuming it */
	jmp_buf job_env;
	struct nub_exit exit; /* posted by the guest thread */
	struct mock_native_rt rt;
};

/* The native guest currently running on this thread (guest threads only). */
static _Thread_local struct mock_native *cur;

struct mock_native_rt *mock_native_rt_current(void)
{
	return &cur->rt;
}

/* ---- memory, as the guest sees it ---- */

/* The guest never edits tables under ABI 2: the host does (CoW). */
static int ops_alloc(void *ctx, nub_gpa_t *table)
{
	(void)ctx;
	(void)table;
	return NUB_EUNSUPPORTED;
}

static void live_ops(struct nub_vm *vm, struct nub_vmem_ops *ops)
{
	ops->ctx = vm;
	ops->read_entry = mock_read_entry;
	ops->write_entry = mock_write_entry;
	ops->alloc_table = ops_alloc;
	ops->root = vm->sregs.cr3 & NUB_PTE_ADDR_MASK;
}

void mock_native_translate(nub_gva_t gva, struct nub_vmem_mapping *m)
{
	struct nub_vmem_ops ops;

	live_ops(cur->vm, &ops);
	if (nub_vmem_translate(&ops, gva, m))
		m->kind = NUB_VMEM_UNMAPPED;
}

/* Post an exit to the host and wait until it runs us again. */
static void post_and_wait(const struct nub_exit *ex)
{
	struct mock_native *n = cur;

	pthread_mutex_lock(&n->mu);
	n->exit = *ex;
	n->vm->regs.rip = MOCK_NATIVE_RESUME_RIP;
	n->suspended = 1;
	n->guest_turn = 0;
	pthread_cond_broadcast(&n->cv);
	while (!n->guest_turn)
		pthread_cond_wait(&n->cv, &n->mu);
	n->suspended = 0;
	if (n->abandon) {
		n->abandon = 0;
		pthread_mutex_unlock(&n->mu);
		longjmp(n->job_env, 1);
	}
	pthread_mutex_unlock(&n->mu);
}

void mock_native_poll(void)
{
	if (atomic_exchange(&cur->vm->interrupt_pending, 0)) {
		struct nub_exit ex = {.reason = NUB_EXIT_CANCELLED};
		post_and_wait(&ex);
	}
}

void mock_native_doorbell(unsigned offset, uint64_t value)
{
	struct nub_exit ex = {.reason = NUB_EXIT_MMIO_WRITE,
	                      .size = 8,
	                      .gpa = NUB_DOORBELL_GPA + offset,
	                      .data = value};

	mock_native_poll();
	post_and_wait(&ex);
}

/* A store the CPU makes at CPL0 (the exception frame): present pages only,
 * any privilege. */
static int sys_write(nub_gva_t gva, const void *src, size_t len)
{
	struct nub_vmem_mapping m;
	struct nub_region *r;

	mock_native_translate(gva, &m);
	if (m.kind == NUB_VMEM_UNMAPPED || (gva & (PAGE - 1)) + len > PAGE)
		return -1;
	r = mock_region_of(cur->vm, m.gpa + (gva & (PAGE - 1)), len);
	if (!r || !(r->flags & NUB_MEM_WRITE))
		return -1;
	memcpy((uint8_t *)r->host + (m.gpa + (gva & (PAGE - 1)) - r->gpa), src, len);
	return 0;
}

/* Deliver an exception as the CPU and the host's stub do: the frame at the
 * top of the exception stack (IST1), CR2, CPL0, then the stub's store to
 * the exception doorbell. Returns when the host resumed the stub (it
 * resolved the fault); the stub's iretq is the return to CPL3. */
static void deliver_exception(uint64_t vector, uint64_t error_code, uint64_t cr2)
{
	const struct nub_peb *peb = &cur->rt.peb;
	struct nub_exception_frame f = {.vector = vector,
	                                .error_code = error_code,
	                                .rip = MOCK_NATIVE_DISPATCH_RIP,
	                                .cs = NUB_SEL_USER_CODE,
	                                .rflags = 2,
	                                .rsp = peb->stack_top_gva,
	                                .ss = NUB_SEL_USER_DATA};
	struct nub_exit ex = {.reason = NUB_EXIT_MMIO_WRITE,
	                      .size = 8,
	                      .gpa = NUB_DOORBELL_GPA + NUB_DOORBELL_EXCEPTION};

	if (!cur->rt.peb_ok || sys_write(peb->exn_stack_top_gva - sizeof(f), &f, sizeof(f)))
		mock_native_shutdown(); /* no usable exception stack: triple fault */
	cur->vm->sregs.cr2 = cr2;
	cur->vm->sregs.cs.selector = NUB_SEL_KERNEL_CODE;
	post_and_wait(&ex);
	cur->vm->sregs.cs.selector = NUB_SEL_USER_CODE;
}

static void mmio_exit(uint32_t reason, nub_gpa_t gpa, uint32_t size)
{
	struct nub_exit ex = {.reason = reason, .size = size, .gpa = gpa};

	post_and_wait(&ex);
}

void mock_native_read(nub_gva_t gva, void *dst, size_t len)
{
	uint8_t *d = dst;

	mock_native_poll();
	while (len) {
		struct nub_vmem_mapping m;
		uint64_t in_page = PAGE - (gva & (PAGE - 1));
		size_t n = len < in_page ? len : (size_t)in_page;
		struct nub_region *r;

		mock_native_translate(gva, &m);
		if (m.kind == NUB_VMEM_UNMAPPED)
			mock_native_fault(14, PF_U, gva);
		if (!(m.perms & NUB_VMEM_USER))
			mock_native_fault(14, PF_P | PF_U, gva);
		nub_gpa_t gpa = m.gpa + (gva & (PAGE - 1));
		r = mock_region_of(cur->vm, gpa, n);
		if (!r) {
			mmio_exit(NUB_EXIT_MMIO_READ, gpa, n > 8 ? 8 : (uint32_t)n);
			memset(d, 0, n);
		} else {
			memcpy(d, (uint8_t *)r->host + (gpa - r->gpa), n);
		}
		d += n;
		gva += n;
		len -= n;
	}
}

void mock_native_write(nub_gva_t gva, const void *src, size_t len)
{
	const uint8_t *s = src;

	mock_native_poll();
	while (len) {
		struct nub_vmem_mapping m;
		uint64_t in_page = PAGE - (gva & (PAGE - 1));
		size_t n = len < in_page ? len : (size_t)in_page;
		struct nub_region *r;

		mock_native_translate(gva, &m);
		if (m.kind == NUB_VMEM_UNMAPPED)
			mock_native_fault(14, PF_W | PF_U, gva);
		if (!(m.perms & NUB_VMEM_USER) ||
		    (m.kind != NUB_VMEM_COW && !(m.perms & NUB_VMEM_W)))
			mock_native_fault(14, PF_P | PF_W | PF_U, gva);
		if (m.kind == NUB_VMEM_COW) {
			/* A write fault the host resolves (or stops the guest). */
			deliver_exception(14, PF_P | PF_W | PF_U, gva);
			continue;
		}
		nub_gpa_t gpa = m.gpa + (gva & (PAGE - 1));
		r = mock_region_of(cur->vm, gpa, n);
		if (!r || !(r->flags & NUB_MEM_WRITE))
			/* Unmapped, or read-only at the hypervisor (the snapshot):
			 * the write never reaches memory. */
			mmio_exit(NUB_EXIT_MMIO_WRITE, gpa, n > 8 ? 8 : (uint32_t)n);
		else
			memcpy((uint8_t *)r->host + (gpa - r->gpa), s, n);
		s += n;
		gva += n;
		len -= n;
	}
}

_Noreturn void mock_native_shutdown(void)
{
	struct nub_exit ex = {.reason = NUB_EXIT_SHUTDOWN};

	snprintf(ex.detail, sizeof(ex.detail), "native guest faulted while reporting a fault");
	for (;;)
		post_and_wait(&ex);
}

_Noreturn void mock_native_fault(uint64_t vector, uint64_t error_code, uint64_t cr2)
{
	/* The host resumes only faults it resolved, which these are not. */
	for (;;)
		deliver_exception(vector, error_code, cr2);
}

/* ---- the guest thread ---- */

static void run_job(struct mock_native *n, enum job job)
{
	if (job == JOB_INIT)
		mock_native_rt_init(&n->rt, n->vm->regs.rdi, n->prog->main);
	else
		mock_native_rt_dispatch(&n->rt, n->vm->regs.rdi, n->prog->main);
	/* Jobs end in a port exit the host never resumes; reaching here means
	 * the host ran us again without resetting RIP. */
	for (;;)
		mock_native_doorbell(NUB_DOORBELL_ABORT, NUB_ABORT_BAD_REQUEST);
}

static void *guest_thread(void *arg)
{
	struct mock_native *n = arg;
	enum job job;

	cur = n;
	for (;;) {
		pthread_mutex_lock(&n->mu);
		while (!n->guest_turn)
			pthread_cond_wait(&n->cv, &n->mu);
		job = n->job;
		n->job = JOB_NONE;
		pthread_mutex_unlock(&n->mu);
		if (job == JOB_QUIT)
			break;
		if (setjmp(n->job_env) == 0)
			run_job(n, job);
		/* Unwound: the host chose a new job (or quit) before waking us. */
		pthread_mutex_lock(&n->mu);
		if (n->job == JOB_NONE) {
			/* Nothing new: hand the CPU back as if halted. */
			n->guest_turn = 0;
			pthread_cond_broadcast(&n->cv);
		}
		pthread_mutex_unlock(&n->mu);
	}
	mock_native_rt_free(&n->rt);
	return NULL;
}

/* ---- host side ---- */

static enum job job_for_rip(uint64_t rip)
{
	return rip == MOCK_NATIVE_DISPATCH_RIP ? JOB_DISPATCH : JOB_INIT;
}

int mock_native_run(struct nub_vm *vm, struct nub_exit *exit, char *err, size_t err_cap)
{
	struct mock_native *n = vm->native;

	memset(exit, 0, sizeof(*exit));
	if (atomic_exchange(&vm->interrupt_pending, 0)) {
		exit->reason = NUB_EXIT_CANCELLED;
		return 0;
	}
	pthread_mutex_lock(&n->mu);
	if (!n->thread_started) {
		if (pthread_create(&n->thread, NULL, guest_thread, n)) {
			pthread_mutex_unlock(&n->mu);
			snprintf(err, err_cap, "mock: cannot start the native guest thread");
			return NUB_ESYS;
		}
		n->thread_started = 1;
	}
	if (!n->suspended || vm->regs.rip != MOCK_NATIVE_RESUME_RIP) {
		n->abandon = n->suspended;
		n->job = job_for_rip(vm->regs.rip);
	}
	n->guest_turn = 1;
	pthread_cond_broadcast(&n->cv);
	while (n->guest_turn)
		pthread_cond_wait(&n->cv, &n->mu);
	*exit = n->exit;
	exit->rip = vm->regs.rip;
	pthread_mutex_unlock(&n->mu);
	return 0;
}

int mock_native_attach(struct nub_vm *vm, const char *options, char *err, size_t err_cap)
{
	const char *name;
	struct mock_native *n;

	if (!options || strncmp(options, "native=", 7))
		return 0;
	name = options + 7;
	for (size_t i = 0; i < mock_native_prog_count; i++) {
		if (strcmp(mock_native_progs[i].name, name))
			continue;
		n = calloc(1, sizeof(*n));
		if (!n) {
			snprintf(err, err_cap, "mock: out of memory");
			return NUB_ENOMEM;
		}
		n->vm = vm;
		n->prog = &mock_native_progs[i];
		pthread_mutex_init(&n->mu, NULL);
		pthread_cond_init(&n->cv, NULL);
		vm->native = n;
		return 0;
	}
	snprintf(err, err_cap, "mock: no native guest named '%s'", name);
	return NUB_ENOTFOUND;
}

void mock_native_detach(struct nub_vm *vm)
{
	struct mock_native *n = vm->native;

	if (!n)
		return;
	if (n->thread_started) {
		pthread_mutex_lock(&n->mu);
		n->job = JOB_QUIT;
		n->abandon = n->suspended;
		n->guest_turn = 1;
		pthread_cond_broadcast(&n->cv);
		pthread_mutex_unlock(&n->mu);
		pthread_join(n->thread, NULL);
	} else {
		mock_native_rt_free(&n->rt);
	}
	pthread_cond_destroy(&n->cv);
	pthread_mutex_destroy(&n->mu);
	free(n);
	vm->native = NULL;
}
