/* SPDX-License-Identifier: MIT */
/* State shared by the files of the KVM backend. Nothing here is visible
 * outside libnub-backend-kvm.so (built with -fvisibility=hidden). */
#ifndef NUB_KVM_INTERNAL_H
#define NUB_KVM_INTERNAL_H

#include <linux/kvm.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <nub/backend.h>

#define KVM_DEV "/dev/kvm"

/* Slots core may use (it allocates ids < 32). */
#define KVM_NUB_MAX_SLOTS 32u
/* The guest page size the MMIO fast path (NUB_VM_MMIO_ENDS_AT_PAGE_END) means. */
#define KVM_PAGE_SIZE 4096u

/* What the previous exit left for the next KVM_RUN to complete. */
enum kvm_pending {
	KVM_PENDING_NONE = 0,
	/* IO_IN / MMIO_READ: copy exit->data into kvm_run before entering. */
	KVM_PENDING_IN_DATA,
	/* KVM completes the access (IO_OUT, or an IN whose data is now in
	 * kvm_run) only inside the next KVM_RUN: it advances RIP past an OUT
	 * there. Register access completes it first, so the ABI's "RIP already
	 * past the OUT" holds for anything core can observe. MMIO writes are
	 * completed before run_vcpu returns (kvm_gather_write). */
	KVM_PENDING_FINISH,
};

/* Bound on the completions one instruction's accesses can need. */
#define KVM_MAX_COMPLETIONS 4096u

struct kvm_slot {
	int used;
	uint32_t flags;
	uint64_t gpa, size;
	void *host;
};

struct nub_vm {
	int vm_fd;
	int vcpu_fd;
	struct kvm_run *run;
	size_t run_size;
	int has_xcrs;
	int has_xsave;
	int has_sync_regs;
	int has_sync_sregs; /* KVM_SYNC_X86_SREGS among the sync fields */
	/* The sregs last given to KVM (by ioctl or the sync page): a set that
	 * changes only segments goes through the sync page (see kvm_regs.c). */
	struct kvm_sregs sregs_set;
	int sregs_known;
	int signo;          /* kick signal, SIGRTMIN..SIGRTMAX */
	uint64_t xfeatures; /* user XSAVE components of the vCPU (CPUID 0xD.0) */
	size_t xsave_size;  /* bytes of KVM's XSAVE buffer (KVM_CAP_XSAVE2) */

	/* Interrupt protocol state (see kvm_run.c). */
	atomic_int requested;
	atomic_int run_tid;
	atomic_int kickers;
	atomic_uint kicks_sent;
	unsigned kicks_drained;

	/* Signal mask last given to KVM_SET_SIGNAL_MASK (kernel sigset: 64 bits). */
	uint64_t kvm_sigmask;
	int kvm_sigmask_set;

	enum kvm_pending pending;
	uint32_t pending_size; /* bytes of the pending IN/MMIO read */
	uint32_t config_flags; /* nub_vm_config.flags (enum nub_vm_flag) */
	uint64_t gpa_base;     /* the guest-physical window (option window=N) */
	/* A VM shared with other sandboxes (option share=N, kvm_shared.c):
	 * vm_fd is its, this sandbox holds window `window`; NULL: its own VM. */
	struct kvm_host_vm *host;
	unsigned window;
	int owner_pid;  /* the process whose VM `host` is */
	int vcpu_ready; /* its CPUID set: a parked vCPU can be reused as it is */

	struct kvm_slot slots[KVM_NUB_MAX_SLOTS];
};

/* A failed call that made a descriptor: EMFILE names the open-file limit. */
int kvm_fail_fd(char *err, size_t err_cap, const char *what, int e);
/* A new KVM VM's descriptor, or a negative nub error. */
int kvm_vm_fd_new(int kvm_fd, char *err, size_t err_cap);
/* vCPU `id` of the VM and its kvm_run mapping (`run_size` bytes); 0, or a
 * negative nub error with nothing left open. */
int kvm_vcpu_new(int vm_fd, unsigned id, size_t run_size, int *fd, struct kvm_run **run, char *err,
                 size_t err_cap);

/* A destroyed VM's descriptor, closed by the backend's thread (or here,
 * when it cannot be queued); its vCPU must be gone already (kvm_reap.c).
 * Drain: wait until every queued descriptor is closed. */
void kvm_reap_close(int fd);
void kvm_reap_drain(void);

/* Shared VMs (kvm_shared.c). Attach: a vCPU and a window of a VM holding
 * at most `capacity` sandboxes (one made when none has room); sets vm_fd,
 * vcpu_fd, run, host, window, gpa_base; *fresh when the vCPU never ran.
 * Detach (the window's slots already deleted): park the vCPU, free the
 * window, maybe destroy the VM. Capacity max: what KVM and the vCPUs'
 * address width allow. */
int kvm_shared_attach(struct nub_vm *vm, int kvm_fd, unsigned capacity, int *fresh, char *err,
                      size_t err_cap);
void kvm_shared_detach(struct nub_vm *vm);
unsigned kvm_shared_capacity_max(unsigned phys_bits, int kvm_fd);

/* snprintf into err (when err_cap > 0) and return code. */
int kvm_fail(char *err, size_t err_cap, int code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* ioctl retried on EINTR for the state calls (never KVM_RUN). */
int kvm_ioctl(int fd, unsigned long req, void *arg);

/* Finish (or abandon) any access the previous exit left pending (kvm_run.c). */
int kvm_complete_pending(struct nub_vm *vm, char *err, size_t err_cap);

/* Registers (kvm_regs.c). */
int kvm_set_regs(struct nub_vm *vm, const struct nub_regs *regs, char *err, size_t err_cap);
int kvm_get_regs(struct nub_vm *vm, struct nub_regs *regs, char *err, size_t err_cap);
int kvm_set_sregs(struct nub_vm *vm, const struct nub_sregs *sregs, char *err, size_t err_cap);
int kvm_get_sregs(struct nub_vm *vm, struct nub_sregs *sregs, char *err, size_t err_cap);
int kvm_set_fpu(struct nub_vm *vm, const struct nub_fpu *fpu, char *err, size_t err_cap);
int kvm_get_fpu(struct nub_vm *vm, struct nub_fpu *fpu, char *err, size_t err_cap);
int kvm_set_xcr0(struct nub_vm *vm, uint64_t xcr0, char *err, size_t err_cap);
int kvm_get_xcr0(struct nub_vm *vm, uint64_t *xcr0, char *err, size_t err_cap);
int kvm_set_msrs(struct nub_vm *vm, const struct nub_msr *msrs, uint32_t count, char *err,
                 size_t err_cap);
int kvm_get_msrs(struct nub_vm *vm, struct nub_msr *msrs, uint32_t count, char *err,
                 size_t err_cap);
int kvm_set_debugregs(struct nub_vm *vm, const struct nub_debugregs *dr, char *err, size_t err_cap);
int kvm_get_debugregs(struct nub_vm *vm, struct nub_debugregs *dr, char *err, size_t err_cap);

/* Pure conversions between the ABI's structs and KVM's (kvm_convert.c;
 * no system calls, so tests/unit/test_kvm_convert.c compiles it in). */
void kvm_convert_regs_from_nub(struct kvm_regs *k, const struct nub_regs *n);
void kvm_convert_regs_to_nub(struct nub_regs *n, const struct kvm_regs *k);
void kvm_convert_sregs_from_nub(struct kvm_sregs *k, const struct nub_sregs *n);
void kvm_convert_sregs_to_nub(struct nub_sregs *n, const struct kvm_sregs *k);
/* Bytes of the FXSAVE (legacy) area that starts an XSAVE buffer. */
#define KVM_FXSAVE_SIZE 512u
/* XSAVE header: XSTATE_BV at this offset; bits 0 (x87) and 1 (SSE). */
#define KVM_XSAVE_HDR_XSTATE_BV 512u
#define KVM_XSTATE_X87_SSE      0x3ull
/* Fill a zeroed XSAVE buffer (standard format) with `n` in its legacy area
 * and every component of `xfeatures` present in its initial state: all
 * bytes zero (PKRU 0 included) but x87/SSE, which come from `n`. */
void kvm_convert_fpu_to_xsave(uint8_t *xsave, const struct nub_fpu *n, uint64_t xfeatures);
/* Write / read `n` into / from a 512-byte FXSAVE area. */
void kvm_convert_fpu_to_fxsave(uint8_t *fx, const struct nub_fpu *n);
void kvm_convert_fpu_from_fxsave(struct nub_fpu *n, const uint8_t *fx);

/* Run and interrupt (kvm_run.c). */
int kvm_run_vcpu(struct nub_vm *vm, struct nub_exit *exit, char *err, size_t err_cap);
int kvm_interrupt(struct nub_vm *vm);
void kvm_clear_interrupt(struct nub_vm *vm);

#endif
