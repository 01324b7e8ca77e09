/* SPDX-License-Identifier: MIT */
/*
 * Running the vCPU and interrupting it.
 *
 * Kick signal. A thread inside KVM_RUN only leaves it early for a signal.
 * The backend never installs a handler: during run_vcpu the kick signal
 * (vm->signo, SIGRTMIN+2 unless options say "signal=N") is BLOCKED in the
 * calling thread, and KVM_SET_SIGNAL_MASK gives KVM the caller's own mask
 * minus that signal, so the signal is unblocked only while the thread is
 * inside KVM_RUN. A kick that arrives outside KVM_RUN stays pending and makes
 * the next KVM_RUN return EINTR before the guest runs; KVM never dequeues it,
 * so run_vcpu eats every kick with sigtimedwait before it restores the
 * caller's mask. The host's disposition of the signal (default, ignored or
 * its own handler) never comes into play: blocked signals are queued even
 * when ignored, and none of ours is ever delivered. The only state outside
 * the VM is the signal number itself, which the host must not use for
 * anything else on threads that call run_vcpu.
 *
 * Interrupt protocol (all atomics sequentially consistent):
 *   run_vcpu, on the vCPU thread, around every KVM_RUN:
 *     R1  run_tid := my tid
 *     R2  if requested: leave the window (R4) and return CANCELLED
 *     R3  ioctl(KVM_RUN)
 *     R4  run_tid := 0; wait until kickers == 0; eat pending kicks
 *     R5  EINTR: if exchange(requested, 0) return CANCELLED, else it was a
 *         signal for someone else: enter again
 *   interrupt, on any thread:
 *     I1  requested := 1; kvm_run->immediate_exit := 1
 *     I2  kickers += 1
 *     I3  t := run_tid; if t != 0: tgkill(t, signo)
 *     I4  kickers -= 1
 * Never lost: R1;R2 and I1;I3 are the two halves of Dekker's pattern, so
 * either R2 sees the request or I3 sees the thread in its window and sends
 * a kick, which is blocked outside KVM_RUN and so cannot be missed by it. A
 * kick that lands after a real exit is eaten in R4; the request stays set
 * and stops the next run at R2 ("consumed by the run it stops").
 * Never stray: R4's store and load against I2;I3 are Dekker's pattern
 * again: a kicker that read the old tid is waited for, so no kick reaches
 * the thread after run_vcpu unblocked the signal.
 * immediate_exit only makes a kick that races with entry cheaper (KVM
 * checks it before entering the guest); correctness rests on the signal.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "kvm_internal.h"

static void kvm_set_immediate_exit(struct nub_vm *vm, uint8_t v)
{
	__atomic_store_n(&vm->run->immediate_exit, v, __ATOMIC_SEQ_CST);
}

/* ---- interrupt ---- */

int kvm_interrupt(struct nub_vm *vm)
{
	int rc = 0;

	if (!vm)
		return NUB_EINVAL;
	atomic_store(&vm->requested, 1);
	kvm_set_immediate_exit(vm, 1);
	atomic_fetch_add(&vm->kickers, 1);
	int tid = atomic_load(&vm->run_tid);
	if (tid) {
		atomic_fetch_add(&vm->kicks_sent, 1);
		if (syscall(SYS_tgkill, (long)getpid(), (long)tid, (long)vm->signo) < 0 &&
		    errno != ESRCH)
			rc = NUB_ESYS;
	}
	atomic_fetch_sub(&vm->kickers, 1);
	return rc;
}

void kvm_clear_interrupt(struct nub_vm *vm)
{
	if (!vm)
		return;
	atomic_store(&vm->requested, 0);
	kvm_set_immediate_exit(vm, 0);
}

/* ---- the signal window ---- */

/* R4: after this no kick for this VM can reach the thread. */
static void kvm_leave_window(struct nub_vm *vm)
{
	atomic_store(&vm->run_tid, 0);
	while (atomic_load(&vm->kickers))
		sched_yield();
	unsigned sent = atomic_load(&vm->kicks_sent);
	if (sent == vm->kicks_drained)
		return;
	vm->kicks_drained = sent;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, vm->signo);
	const struct timespec zero = {0, 0};
	for (;;) {
		int r = sigtimedwait(&set, NULL, &zero);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
	}
}

/* Give KVM the signal mask for KVM_RUN: the caller's mask without the kick
 * signal. Only when it changed (one ioctl per new thread mask). */
static int kvm_update_run_mask(struct nub_vm *vm, const sigset_t *caller, char *err, size_t err_cap)
{
	uint64_t mask;
	_Alignas(8) uint8_t buf[sizeof(struct kvm_signal_mask) + sizeof(mask)];
	struct kvm_signal_mask hdr = {.len = sizeof(mask)};

	/* The kernel's sigset is 64 bits, signal n at bit n-1; glibc's
	 * sigset_t begins with exactly that word on x86-64 Linux. */
	memcpy(&mask, caller, sizeof(mask));
	mask &= ~(1ull << (vm->signo - 1));
	if (vm->kvm_sigmask_set && vm->kvm_sigmask == mask)
		return 0;
	memcpy(buf, &hdr, sizeof(hdr));
	memcpy(buf + sizeof(hdr), &mask, sizeof(mask));
	if (kvm_ioctl(vm->vcpu_fd, KVM_SET_SIGNAL_MASK, buf) < 0)
		return kvm_fail(err, err_cap, NUB_ESYS, "KVM_SET_SIGNAL_MASK: %s", strerror(errno));
	vm->kvm_sigmask = mask;
	vm->kvm_sigmask_set = 1;
	return 0;
}

/* ---- completing accesses ---- */

/* Copy the value core supplied for an IO_IN / MMIO_READ into kvm_run, where
 * KVM picks it up when it completes the instruction. */
static void kvm_supply_in_data(struct nub_vm *vm, uint64_t data)
{
	struct kvm_run *run = vm->run;

	if (run->exit_reason == KVM_EXIT_IO)
		memcpy((uint8_t *)run + run->io.data_offset, &data, vm->pending_size);
	else
		memcpy(run->mmio.data, &data, vm->pending_size);
	vm->pending = KVM_PENDING_FINISH;
}

/* One KVM_RUN with immediate_exit set: KVM finishes the access the last
 * exit left (advancing RIP, writing RAX for IN) and returns EINTR before the
 * guest executes anything -- or, when the instruction makes another access
 * (the next 8-byte piece of a wider MMIO store, the write half of a
 * read-modify-write), returns 0 with that access as a new exit. Returns 1
 * for EINTR, 0 for a new exit, or a negative error. */
static int kvm_complete_once(struct nub_vm *vm, char *err, size_t err_cap)
{
	kvm_set_immediate_exit(vm, 1);
	int r = ioctl(vm->vcpu_fd, KVM_RUN, 0);
	int e = errno;
	/* A concurrent interrupt's immediate_exit may be lost here; its
	 * `requested` is not, and R2 of the next run sees it. */
	kvm_set_immediate_exit(vm, 0);
	vm->pending = KVM_PENDING_NONE;
	if (r == 0)
		return 0;
	if (e != EINTR)
		return kvm_fail(err, err_cap, NUB_ESYS, "KVM_RUN completing an access: %s",
		                strerror(e));
	return 1;
}

/* What the exit now in kvm_run leaves for the next KVM_RUN: a read waits
 * for its data, a write or OUT for its completion. 0 when it is not an
 * access at all. */
static int kvm_note_access(struct nub_vm *vm)
{
	const struct kvm_run *run = vm->run;

	if (run->exit_reason == KVM_EXIT_MMIO && run->mmio.len <= sizeof(run->mmio.data)) {
		vm->pending_size = run->mmio.len;
		vm->pending = run->mmio.is_write ? KVM_PENDING_FINISH : KVM_PENDING_IN_DATA;
		return 1;
	}
	if (run->exit_reason == KVM_EXIT_IO && run->io.count == 1 && run->io.size <= 4) {
		vm->pending_size = run->io.size;
		vm->pending = run->io.direction == KVM_EXIT_IO_OUT ? KVM_PENDING_FINISH
		                                                   : KVM_PENDING_IN_DATA;
		return 1;
	}
	return 0;
}

/* Abandon whatever access the last exit left unfinished: supply 0 for every
 * read and run every remaining piece to its end, with the guest never
 * resuming. Register access needs this first, so state is observed after
 * the instruction and KVM cannot later write a stale emulation result over
 * registers core sets now; a restore after any guest-made exit (a lock xadd
 * or a vector store on the doorbell) must not fail on it. One instruction
 * makes a bounded number of accesses (an FXSAVE to MMIO: 64 pieces). */
int kvm_complete_pending(struct nub_vm *vm, char *err, size_t err_cap)
{
	for (unsigned n = 0; n < KVM_MAX_COMPLETIONS; n++) {
		if (vm->pending == KVM_PENDING_NONE)
			return 0;
		if (vm->pending == KVM_PENDING_IN_DATA)
			kvm_supply_in_data(vm, 0);
		int rc = kvm_complete_once(vm, err, err_cap);
		if (rc)
			return rc < 0 ? rc : 0;
		if (!kvm_note_access(vm))
			return kvm_fail(err, err_cap, NUB_EBACKEND,
			                "completing a pending access produced exit %u",
			                vm->run->exit_reason);
	}
	return kvm_fail(err, err_cap, NUB_EBACKEND, "an access still pending after %u completions",
	                KVM_MAX_COMPLETIONS);
}

/* ---- decoding exits ---- */

static void kvm_exit_internal(struct nub_exit *exit, uint64_t hw_reason, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void kvm_exit_internal(struct nub_exit *exit, uint64_t hw_reason, const char *fmt, ...)
{
	va_list ap;

	exit->reason = NUB_EXIT_INTERNAL;
	exit->hw_reason = hw_reason;
	va_start(ap, fmt);
	vsnprintf(exit->detail, sizeof(exit->detail), fmt, ap);
	va_end(ap);
}

static void kvm_decode_io(struct nub_vm *vm, struct nub_exit *exit)
{
	struct kvm_run *run = vm->run;
	uint32_t size = run->io.size;

	exit->port = run->io.port;
	exit->size = size;
	if (run->io.count != 1 || (size != 1 && size != 2 && size != 4) ||
	    run->io.data_offset > vm->run_size - size) {
		kvm_exit_internal(
		        exit, KVM_EXIT_IO,
		        "KVM_EXIT_IO: string or rep port I/O (port 0x%x size %u count %u)",
		        run->io.port, size, run->io.count);
		return;
	}
	vm->pending_size = size;
	if (run->io.direction == KVM_EXIT_IO_OUT) {
		exit->reason = NUB_EXIT_IO_OUT;
		memcpy(&exit->data, (uint8_t *)run + run->io.data_offset, size);
		vm->pending = KVM_PENDING_FINISH;
	} else {
		exit->reason = NUB_EXIT_IO_IN;
		vm->pending = KVM_PENDING_IN_DATA;
	}
}

/* An MMIO write wider than 8 bytes (a vector store) reaches us in 8-byte
 * pieces, one per KVM_RUN, after KVM has emulated the whole instruction.
 * Take the rest now, with the guest held (immediate_exit), and report the
 * access's whole size: core sees what the guest did (the doorbell takes only
 * 8-byte stores), and no piece is left over for the next run to report --
 * in the next call, or at a restore. A second access of another kind (the
 * instruction also reads MMIO) leaves the size unknown (0) and its
 * completion pending. Returns 0 or a negative error. */
static int kvm_gather_write(struct nub_vm *vm, struct nub_exit *exit, char *err, size_t err_cap)
{
	const struct kvm_run *run = vm->run;

	for (unsigned n = 0; n < KVM_MAX_COMPLETIONS; n++) {
		int rc = kvm_complete_once(vm, err, err_cap);
		if (rc)
			return rc < 0 ? rc : 0;
		if (!kvm_note_access(vm))
			return kvm_fail(err, err_cap, NUB_EBACKEND,
			                "completing an MMIO store at GPA 0x%llx produced exit %u",
			                (unsigned long long)exit->gpa, run->exit_reason);
		if (run->exit_reason != KVM_EXIT_MMIO || !run->mmio.is_write ||
		    run->mmio.phys_addr != exit->gpa + exit->size) {
			exit->size = 0; /* more than a store: left pending */
			return 0;
		}
		exit->size += run->mmio.len;
	}
	return kvm_fail(err, err_cap, NUB_EBACKEND,
	                "MMIO store at GPA 0x%llx still has pieces after %u completions",
	                (unsigned long long)exit->gpa, KVM_MAX_COMPLETIONS);
}

static int kvm_decode_mmio(struct nub_vm *vm, struct nub_exit *exit, char *err, size_t err_cap)
{
	struct kvm_run *run = vm->run;
	uint32_t len = run->mmio.len;

	exit->gpa = run->mmio.phys_addr;
	exit->size = len;
	if (len == 0 || len > sizeof(run->mmio.data)) {
		kvm_exit_internal(exit, KVM_EXIT_MMIO, "KVM_EXIT_MMIO: bad length %u at 0x%llx",
		                  len, (unsigned long long)run->mmio.phys_addr);
		return 0;
	}
	vm->pending_size = len;
	if (!run->mmio.is_write) {
		exit->reason = NUB_EXIT_MMIO_READ;
		vm->pending = KVM_PENDING_IN_DATA;
		return 0;
	}
	/* KVM has already advanced RIP past a write. */
	exit->reason = NUB_EXIT_MMIO_WRITE;
	memcpy(&exit->data, run->mmio.data, len);
	if ((vm->config_flags & NUB_VM_MMIO_ENDS_AT_PAGE_END) &&
	    (exit->gpa + len) % KVM_PAGE_SIZE == 0) {
		/* Core's promise: nothing can follow a write that ends at a
		 * page's end (a wider store faults on the next GVA page before
		 * KVM exits at all), so this is the whole store. What KVM does
		 * for it at the next KVM_RUN only steps past its one piece: no
		 * run with immediate_exit is needed first, now or before
		 * registers are set (the guest's one exit per doorbell). */
		vm->pending = KVM_PENDING_NONE;
		return 0;
	}
	vm->pending = KVM_PENDING_FINISH;
	return kvm_gather_write(vm, exit, err, err_cap);
}

static const char *kvm_suberror_name(uint32_t s)
{
	switch (s) {
	case KVM_INTERNAL_ERROR_EMULATION:
		return "emulation failure";
	case KVM_INTERNAL_ERROR_SIMUL_EX:
		return "simultaneous exceptions";
	case KVM_INTERNAL_ERROR_DELIVERY_EV:
		return "event delivery failed";
	case KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON:
		return "unexpected exit reason";
	default:
		return "unknown suberror";
	}
}

static void kvm_decode_internal_error(const struct kvm_run *run, struct nub_exit *exit)
{
	uint32_t n = run->internal.ndata;
	int used;

	kvm_exit_internal(exit, run->internal.suberror,
	                  "KVM_EXIT_INTERNAL_ERROR suberror %u (%s), ndata %u",
	                  run->internal.suberror, kvm_suberror_name(run->internal.suberror), n);
	used = (int)strlen(exit->detail);
	for (uint32_t i = 0; i < n && i < 4; i++) {
		int w = snprintf(exit->detail + used, sizeof(exit->detail) - (size_t)used,
		                 "%s0x%llx", i ? " " : ": ",
		                 (unsigned long long)run->internal.data[i]);
		if (w < 0 || (size_t)(used + w) >= sizeof(exit->detail))
			break;
		used += w;
	}
}

static int kvm_decode_exit(struct nub_vm *vm, struct nub_exit *exit, char *err, size_t err_cap)
{
	struct kvm_run *run = vm->run;

	if (vm->has_sync_regs)
		exit->rip = run->s.regs.regs.rip;
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		kvm_decode_io(vm, exit);
		return 0;
	case KVM_EXIT_MMIO:
		return kvm_decode_mmio(vm, exit, err, err_cap);
	case KVM_EXIT_HLT:
		exit->reason = NUB_EXIT_HLT;
		return 0;
	case KVM_EXIT_SHUTDOWN:
		exit->reason = NUB_EXIT_SHUTDOWN;
		exit->hw_reason = KVM_EXIT_SHUTDOWN;
		return 0;
	case KVM_EXIT_FAIL_ENTRY:
		kvm_exit_internal(
		        exit, run->fail_entry.hardware_entry_failure_reason,
		        "KVM_EXIT_FAIL_ENTRY: hardware entry failure reason 0x%llx on cpu %u",
		        (unsigned long long)run->fail_entry.hardware_entry_failure_reason,
		        run->fail_entry.cpu);
		return 0;
	case KVM_EXIT_INTERNAL_ERROR:
		kvm_decode_internal_error(run, exit);
		return 0;
	case KVM_EXIT_UNKNOWN:
		kvm_exit_internal(exit, run->hw.hardware_exit_reason,
		                  "KVM_EXIT_UNKNOWN: hardware exit reason 0x%llx",
		                  (unsigned long long)run->hw.hardware_exit_reason);
		return 0;
	default:
		kvm_exit_internal(exit, run->exit_reason, "unhandled KVM exit reason %u",
		                  run->exit_reason);
		return 0;
	}
}

/* ---- run ---- */

/* The calling thread's id for R1, asked of the kernel once per thread, not
 * once per run. A forked child's one thread starts with a copy of the
 * forking thread's cache, which names a thread of the parent: the atfork
 * handler, which runs in that thread, forgets it. */
static _Thread_local int kvm_cached_tid;
static int kvm_tid_uncached; /* the handler could not be registered */
static pthread_once_t kvm_tid_once = PTHREAD_ONCE_INIT;

static void kvm_tid_forget(void)
{
	kvm_cached_tid = 0;
}

static void kvm_tid_watch(void)
{
	kvm_tid_uncached = pthread_atfork(NULL, NULL, kvm_tid_forget) != 0;
}

static int kvm_thread_id(void)
{
	pthread_once(&kvm_tid_once, kvm_tid_watch);
	if (kvm_cached_tid)
		return kvm_cached_tid;
	int tid = (int)syscall(SYS_gettid);
	if (!kvm_tid_uncached)
		kvm_cached_tid = tid;
	return tid;
}

/* The R1..R5 loop. Returns 0 with *exit filled or a negative error. */
static int kvm_run_loop(struct nub_vm *vm, struct nub_exit *exit, char *err, size_t err_cap)
{
	int tid = kvm_thread_id();

	for (;;) {
		atomic_store(&vm->run_tid, tid);
		if (atomic_load(&vm->requested)) {
			kvm_leave_window(vm);
			break;
		}
		int r = ioctl(vm->vcpu_fd, KVM_RUN, 0);
		int e = errno;
		kvm_leave_window(vm);
		if (r == 0) {
			vm->pending = KVM_PENDING_NONE;
			return kvm_decode_exit(vm, exit, err, err_cap);
		}
		if (e != EINTR)
			return kvm_fail(err, err_cap, NUB_ESYS, "KVM_RUN: %s", strerror(e));
		/* KVM finished any pending access before it looked at signals. */
		vm->pending = KVM_PENDING_NONE;
		if (atomic_exchange(&vm->requested, 0)) {
			kvm_set_immediate_exit(vm, 0);
			/* KVM stores the synced registers on EINTR too. */
			if (vm->has_sync_regs)
				exit->rip = vm->run->s.regs.regs.rip;
			exit->reason = NUB_EXIT_CANCELLED;
			return 0;
		}
		kvm_set_immediate_exit(vm, 0);
	}
	/* Stopped at R2, before entering: the guest did not run. */
	atomic_store(&vm->requested, 0);
	kvm_set_immediate_exit(vm, 0);
	exit->reason = NUB_EXIT_CANCELLED;
	return 0;
}

int kvm_run_vcpu(struct nub_vm *vm, struct nub_exit *exit, char *err, size_t err_cap)
{
	sigset_t kick, caller;
	int rc;

	if (!vm || !exit)
		return kvm_fail(err, err_cap, NUB_EINVAL, "NULL argument");
	if (vm->pending == KVM_PENDING_IN_DATA)
		kvm_supply_in_data(vm, exit->data);
	memset(exit, 0, sizeof(*exit));
	sigemptyset(&kick);
	sigaddset(&kick, vm->signo);
	rc = pthread_sigmask(SIG_BLOCK, &kick, &caller);
	if (rc)
		return kvm_fail(err, err_cap, NUB_ESYS, "pthread_sigmask: %s", strerror(rc));
	rc = kvm_update_run_mask(vm, &caller, err, err_cap);
	if (rc == 0)
		rc = kvm_run_loop(vm, exit, err, err_cap);
	pthread_sigmask(SIG_SETMASK, &caller, NULL);
	return rc;
}
