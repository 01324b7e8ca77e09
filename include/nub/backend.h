/* SPDX-License-Identifier: MIT */
/**
 * @file backend.h
 * The backend ABI: the one table of function pointers through which libnub
 * drives a hypervisor. A backend is a shared object that exports
 *
 *     const struct nub_backend_ops *nub_backend_entry(void);
 *
 * and nothing else that core looks at. This header is all a third party
 * needs to write one; a backend does not link libnub.
 *
 * Versioning: `abi_major` changes only when an existing field changes
 * meaning or position (core refuses a different major). `abi_minor` grows
 * when slots are appended; core accepts any minor and treats slots beyond
 * `struct_size` as NULL. Fields are never removed or reordered.
 *
 * Errors: every slot returns 0 or a negative `enum nub_err` code. Slots that
 * take `char *err, size_t err_cap` write a NUL-terminated message into that
 * caller-owned buffer on failure (truncated to `err_cap`). A backend never
 * prints, exits, installs process-wide signal handlers that replace the
 * host's, or keeps global mutable state outside what a `struct nub_vm` owns
 * -- but for what it shares among its VMs on purpose (a cache of what the
 * machine can do; hypervisor VMs that several `struct nub_vm` share, each
 * on its own window, NUB_VM_GPA_WINDOW), which it locks, and which a VM's
 * slots may touch from any thread that owns that VM.
 *
 * Threading: one thread at a time calls a VM's slots, except `interrupt`,
 * which may be called from any thread at any time, including concurrently
 * with `run_vcpu` and before the first run. `probe` is thread-safe.
 */
#ifndef NUB_BACKEND_H
#define NUB_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "types.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NUB_BACKEND_ABI_MAJOR 1
#define NUB_BACKEND_ABI_MINOR 4
/** Name of the symbol every backend exports. */
#define NUB_BACKEND_ENTRY_SYMBOL "nub_backend_entry"

/** Capability bits in `nub_backend_ops.caps`. */
enum nub_backend_cap {
	/** map_region honours a mapping without NUB_MEM_WRITE at the hypervisor:
	 * guest writes there exit as NUB_EXIT_MMIO_WRITE. */
	NUB_CAP_READONLY_MEM = 1u << 0,
	/** Runs guests in hardware isolation. `auto` only picks backends with
	 * this bit; the mock lacks it. */
	NUB_CAP_HW_ISOLATION = 1u << 1,
	/* 1u << 2 was NUB_CAP_NATIVE_GUEST (removed; never reused). */
	/** The backend maps regions' host memory a second time (for instance
	 * in another process, by aliasing the pages): core then allocates every
	 * region MAP_SHARED. Without it scratch is private memory, which is
	 * cheaper to zero and fault back in. */
	NUB_CAP_SHARED_MEMORY = 1u << 3,
	/** Guest user code runs on the host CPU with the host's XCR0 and
	 * XSAVE state enabled (a KVM without VMX/SVM, such as kvm_pvm, or the
	 * mock's process vCPU): xgetbv at CPL3 reads the host's XCR0, a
	 * superset of what set_xcr0 set, and every XSAVE component the host
	 * enables is the guest's to write, so set_fpu must reset them all. A
	 * backend that can only tell on the machine sets it in the table its
	 * entry returns (computed once, before the first call returns). */
	NUB_CAP_HOST_XSTATE = 1u << 4,
	/** A guest's `syscall` does not enter CPL0: the vCPU jumps to LSTAR
	 * at CPL3, with RCX and R11 set as the instruction sets them and
	 * RFLAGS masked by SFMASK, whatever EFER.SCE says (the software KVM,
	 * kvm_pvm; the mock's process vCPU). Core then points LSTAR at the
	 * guest's own entry and a system call costs no exit. Without it core
	 * assumes the architecture's behaviour (CPL0 at LSTAR) and bounces
	 * through its own CPL0 code. A backend that cannot tell sets neither:
	 * claiming it where `syscall` enters CPL0 would run guest code there. */
	NUB_CAP_SYSCALL_AT_CPL3 = 1u << 5,
};

/** Access rights of a mapped region, as seen by the guest. */
enum nub_mem_flags {
	NUB_MEM_READ = 1u << 0,
	NUB_MEM_WRITE = 1u << 1,
	NUB_MEM_EXEC = 1u << 2,
};

/** Opaque per-VM backend state, owned by the backend. */
struct nub_vm;

/** Arguments of vm_create. */
/** Bits of nub_vm_config.flags (ABI 1.3): promises core makes about the
 * VM. Core sets them only for a backend whose abi_minor is 3 or more (one
 * built earlier may refuse flags it does not know); a backend may ignore
 * any of them and stay correct. */
enum nub_vm_flag {
	/** An MMIO write that ends at the last byte of a page is the whole of
	 * what its instruction writes to memory no region backs: core maps
	 * every such page (a doorbell, guest_abi.h) at a guest-virtual page
	 * whose successor is unmapped, so an access cannot run on into another
	 * one (it faults instead). A backend whose hypervisor hands a wide
	 * store over in pieces may then report such a write as soon as it
	 * arrives, without running the vCPU again to look for a next piece,
	 * and treat it as leaving nothing to complete (KVM: no second
	 * KVM_RUN per doorbell). */
	NUB_VM_MMIO_ENDS_AT_PAGE_END = 1u << 0,
	/** (ABI 1.4) Core can run the VM's guest at any guest-physical window
	 * the backend chooses and reports with get_gpa_base: it adds the
	 * window's base to every guest-physical address it hands over (region
	 * GPAs, CR3, the addresses in the page tables it writes) and subtracts
	 * it from every one it gets back (MMIO exits, CR3 read back). Without
	 * it a backend must place the VM at base 0. What it is for: a backend
	 * that runs several sandboxes in one hypervisor VM, each vCPU on its
	 * own window, so that creating one does not create a VM. */
	NUB_VM_GPA_WINDOW = 1u << 1,
};

struct nub_vm_config {
	uint32_t struct_size; /**< sizeof(struct nub_vm_config) of the caller */
	uint32_t flags;       /**< enum nub_vm_flag bits; 0 for backends before ABI 1.3 */
	uint64_t mem_limit;   /**< highest GPA + 1 core will map (relative to the
	                           window, NUB_VM_GPA_WINDOW) */
	/** Opaque per-backend option string (may be NULL), passed verbatim
	 * from nub_config.backend_options; each backend documents its own. */
	const char *options;
};

/** A guest-physical region backed by host memory. */
struct nub_region {
	uint32_t slot;  /**< core-chosen id, < 32, unique per VM */
	uint32_t flags; /**< enum nub_mem_flags */
	nub_gpa_t gpa;  /**< page-aligned */
	uint64_t size;  /**< page-aligned, > 0 */
	void *host;     /**< page-aligned host mapping, owned by core, valid until
	                     unmap_region or vm_destroy */
};

/** General-purpose registers. */
struct nub_regs {
	uint64_t rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rip, rflags;
};

/** A segment register in its descriptor-cache form. */
struct nub_segment {
	uint64_t base;
	uint32_t limit;
	uint16_t selector;
	uint8_t type, present, dpl, db, s, l, g, avl, unusable;
	uint8_t pad_;
};

/** GDTR or IDTR. */
struct nub_dtable {
	uint64_t base;
	uint16_t limit;
	uint16_t pad_[3];
};

/** System registers. */
struct nub_sregs {
	struct nub_segment cs, ds, es, fs, gs, ss, tr, ldt;
	struct nub_dtable gdt, idt;
	uint64_t cr0, cr2, cr3, cr4, cr8, efer, apic_base;
};

/** x87/SSE state in FXSAVE terms. */
struct nub_fpu {
	uint8_t fpr[8][16];
	uint16_t fcw, fsw;
	uint8_t ftwx, pad0_;
	uint16_t last_opcode;
	uint64_t last_ip, last_dp;
	uint8_t xmm[16][16];
	uint32_t mxcsr;
	uint32_t pad1_;
};

/** One model-specific register. */
struct nub_msr {
	uint32_t index;
	uint32_t pad_;
	uint64_t value;
};

/** Debug registers DR0-DR3, DR6, DR7. */
struct nub_debugregs {
	uint64_t db[4];
	uint64_t dr6, dr7;
};

/** Why run_vcpu returned. */
enum nub_exit_reason {
	NUB_EXIT_NONE = 0,
	NUB_EXIT_IO_OUT = 1,     /**< port, size, data */
	NUB_EXIT_IO_IN = 2,      /**< port, size; core sets data before rerun */
	NUB_EXIT_HLT = 3,        /**< the guest executed hlt */
	NUB_EXIT_MMIO_READ = 4,  /**< gpa, size; core sets data before rerun */
	NUB_EXIT_MMIO_WRITE = 5, /**< gpa, size, data */
	NUB_EXIT_SHUTDOWN = 6,   /**< triple fault */
	NUB_EXIT_CANCELLED = 7,  /**< interrupt() stopped the run */
	NUB_EXIT_INTERNAL = 8,   /**< entry failure or hypervisor error: hw_reason, detail */
};

/**
 * The exit record, written by run_vcpu. It is in/out: for IO_IN and
 * MMIO_READ core writes the value the guest reads into `data` and calls
 * run_vcpu again with the same record; the backend completes the access
 * before resuming the guest. For IO_OUT the backend has already advanced RIP
 * past the instruction when run_vcpu returns (hypervisors that do not do
 * this themselves must do it inside the backend).
 */
struct nub_exit {
	uint32_t reason; /**< enum nub_exit_reason */
	uint32_t size;   /**< access size in bytes: 1, 2, 4 (I/O) or up to 8 (MMIO) */
	uint16_t port;   /**< I/O port */
	uint16_t pad_[3];
	nub_gpa_t gpa;      /**< MMIO address */
	uint64_t data;      /**< little-endian access data */
	uint64_t rip;       /**< guest RIP at the exit, when known, else 0 */
	uint64_t hw_reason; /**< backend-specific code for INTERNAL */
	char detail[128];   /**< NUL-terminated text for INTERNAL */
};

/**
 * The backend's table. Only ever appended to; a static test pins every
 * offset. Slots marked "required" must be non-NULL; core refuses the
 * backend otherwise. A NULL optional slot means "unsupported" and makes the
 * core call that needs it fail with NUB_EUNSUPPORTED.
 */
struct nub_backend_ops {
	uint32_t abi_major;   /**< NUB_BACKEND_ABI_MAJOR the backend was built with */
	uint32_t abi_minor;   /**< NUB_BACKEND_ABI_MINOR the backend was built with */
	uint32_t struct_size; /**< sizeof(struct nub_backend_ops) at build time */
	uint32_t caps;        /**< enum nub_backend_cap bits */
	const char *name;     /**< short name ("kvm"); static storage */

	/** Required. Whether the backend can run VMs on this machine. Returns 0,
	 * or NUB_EPROBE with the reason in err ("/dev/kvm: No such file or
	 * directory"). On success it may leave a short note about what it found
	 * in err ("software KVM: pvm"), which `nub backends` shows; an empty
	 * string means nothing to say. Must not leave anything open. */
	int (*probe)(char *err, size_t err_cap);

	/** Required. Create a VM with one vCPU. On success *out owns every
	 * resource (fds, mappings); on failure nothing is left allocated. */
	int (*vm_create)(const struct nub_vm_config *cfg, struct nub_vm **out, char *err,
	                 size_t err_cap);

	/** Required. Release everything the VM owns. NULL is accepted. Never
	 * fails. Host memory passed to map_region stays owned by core. */
	void (*vm_destroy)(struct nub_vm *vm);

	/** Required. Map host memory at a GPA. Errors: NUB_EINVAL (alignment,
	 * slot in use, overlap), NUB_EUNSUPPORTED (read-only requested without
	 * NUB_CAP_READONLY_MEM), NUB_ESYS. */
	int (*map_region)(struct nub_vm *vm, const struct nub_region *region, char *err,
	                  size_t err_cap);

	/** Required. Remove the mapping in `slot`. NUB_EINVAL if unused. */
	int (*unmap_region)(struct nub_vm *vm, uint32_t slot, char *err, size_t err_cap);

	/** Required. Register access. */
	int (*set_regs)(struct nub_vm *vm, const struct nub_regs *regs, char *err, size_t err_cap);
	int (*get_regs)(struct nub_vm *vm, struct nub_regs *regs, char *err, size_t err_cap);
	int (*set_sregs)(struct nub_vm *vm, const struct nub_sregs *sregs, char *err,
	                 size_t err_cap);
	int (*get_sregs)(struct nub_vm *vm, struct nub_sregs *sregs, char *err, size_t err_cap);

	/** Required. Run the vCPU until the next exit and describe it in *exit.
	 * Returns 0 whenever *exit is valid (including CANCELLED, SHUTDOWN and
	 * INTERNAL); a negative code only when the backend itself failed. */
	int (*run_vcpu)(struct nub_vm *vm, struct nub_exit *exit, char *err, size_t err_cap);

	/** Required. Make the current or next run_vcpu return
	 * NUB_EXIT_CANCELLED. Any thread, any time; never lost: a request that
	 * races with guest entry still stops that run. The request is consumed
	 * by the run it stops. Returns 0 or NUB_ESYS. */
	int (*interrupt)(struct nub_vm *vm);

	/** Required. Drop a pending interrupt request that no run consumed
	 * (core calls this before starting a new call). */
	void (*clear_interrupt)(struct nub_vm *vm);

	/* ---- optional slots (ABI 1.0) ----
	 * Core calls the setters when it resets a vCPU (skipping a NULL one).
	 * The getters are for reading back: nub-conformance and nub's tests
	 * check with them what the setters wrote, and core calls get_fpu only
	 * to record a faulting guest's vector state in its core file (a
	 * backend without it gives cores with no FPU note). Provide them with
	 * their setters. */

	/** Optional (NULL: unsupported). FPU/SSE state including MXCSR. Setting
	 * also puts every other user XSAVE component the guest could have
	 * written (AVX upper halves, AVX-512, PKRU, AMX tiles, ... -- on a
	 * backend that runs guest user code with the host's XCR0, every one
	 * the host enables) in its initial state, so a restore leaves no
	 * vector state or protection keys behind (PKRU 0); getting reads
	 * x87/SSE only. get_fpu: conformance-only. */
	int (*set_fpu)(struct nub_vm *vm, const struct nub_fpu *fpu, char *err, size_t err_cap);
	int (*get_fpu)(struct nub_vm *vm, struct nub_fpu *fpu, char *err, size_t err_cap);

	/** Optional. Extended control register XCR0. get_xcr0:
	 * conformance-only. */
	int (*set_xcr0)(struct nub_vm *vm, uint64_t xcr0, char *err, size_t err_cap);
	int (*get_xcr0)(struct nub_vm *vm, uint64_t *xcr0, char *err, size_t err_cap);

	/** Optional. Read or write `count` MSRs; `msrs[i].index` chooses each.
	 * get_msrs: conformance-only. */
	int (*set_msrs)(struct nub_vm *vm, const struct nub_msr *msrs, uint32_t count, char *err,
	                size_t err_cap);
	int (*get_msrs)(struct nub_vm *vm, struct nub_msr *msrs, uint32_t count, char *err,
	                size_t err_cap);

	/** Reserved: core never calls it, and no in-tree backend sets it
	 * (leave it NULL). Meant to fill `bitmap` (one bit per page of the
	 * slot, LSB first) with pages written since the last call and clear
	 * the log; nothing in core tracks dirty pages that way. The field
	 * keeps its offset forever (the table is only appended to); it is not
	 * reused for another slot. */
	int (*get_dirty_log)(struct nub_vm *vm, uint32_t slot, uint64_t *bitmap, size_t words,
	                     char *err, size_t err_cap);

	/* ---- optional slots (ABI 1.1) ---- */

	/** Optional. Debug registers; restore writes the reset values (DR0-3
	 * zero, DR6 0xffff0ff0, DR7 0x400). NUB_EINVAL for values the CPU
	 * refuses (upper halves of DR6/DR7 set). get_debugregs:
	 * conformance-only. */
	int (*set_debugregs)(struct nub_vm *vm, const struct nub_debugregs *dr, char *err,
	                     size_t err_cap);
	int (*get_debugregs)(struct nub_vm *vm, struct nub_debugregs *dr, char *err,
	                     size_t err_cap);

	/* ---- optional slots (ABI 1.4) ---- */

	/** Optional (NULL: the window starts at 0). Where this VM's
	 * guest-physical window starts: the guest sees core's GPA g at
	 * `*base + g` (regions, CR3, page-table entries; guest_abi.h's GPAs
	 * are relative to it). Only with NUB_VM_GPA_WINDOW in the config; a
	 * multiple of NUB_GPA_LIMIT up to NUB_GPA_WINDOW_MAX * NUB_GPA_LIMIT
	 * (guest_abi.h: the window below 2^52), or core refuses the VM
	 * (NUB_EBACKEND naming the base). Called
	 * once, right after vm_create; the base never changes. */
	int (*get_gpa_base)(struct nub_vm *vm, uint64_t *base, char *err, size_t err_cap);
};

/** Signature of the exported entry symbol. */
typedef const struct nub_backend_ops *(*nub_backend_entry_fn)(void);

/** Put before the backend's definition of nub_backend_entry so it stays
 * visible when the backend is built with -fvisibility=hidden. */
#define NUB_BACKEND_EXPORT __attribute__((visibility("default")))

/** The entry point every backend defines: returns its static table, which
 * must stay valid while the shared object is loaded. */
NUB_BACKEND_EXPORT const struct nub_backend_ops *nub_backend_entry(void);

/** Bytes of the table that hold the required slots; a shorter table is
 * refused with NUB_ESHORT. */
#define NUB_BACKEND_OPS_MIN_SIZE                                                                   \
	(offsetof(struct nub_backend_ops, clear_interrupt) + sizeof(void (*)(void)))

#ifdef __cplusplus
}
#endif
#endif
