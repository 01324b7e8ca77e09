/* SPDX-License-Identifier: MIT */
/*
 * The mock backend's native guest: the guest runtime's dispatch, host-call,
 * log, abort and copy-on-write logic compiled for the host, running on the
 * VM's real guest memory. Every access goes through the live page tables
 * in scratch (the same core/vmem.c the real guest uses), CoW faults are
 * taken by the same rules, and the regions' hypervisor permissions are
 * enforced (a write to the read-only snapshot slot is an MMIO exit). Guest
 * code runs on its own thread so that a port exit can suspend it in the
 * middle of a function, as a VM exit does.
 *
 * Selected with the backend option string "native=<program>", where the
 * program is one of the built-in native guests (hello, calc, tests).
 */
#ifndef NUB_MOCK_NATIVE_H
#define NUB_MOCK_NATIVE_H

#include <stddef.h>
#include <stdint.h>

#include <nub/types.h>

struct nub_vm;
struct nub_exit;

/* Attach a native guest named by `options` ("native=NAME"); 0 if options
 * names none (the interpreter runs instead). */
int mock_native_attach(struct nub_vm *vm, const char *options, char *err, size_t err_cap);
void mock_native_detach(struct nub_vm *vm);
/* run_vcpu for a VM with a native guest. */
int mock_native_run(struct nub_vm *vm, struct nub_exit *exit, char *err, size_t err_cap);

/* RIP values the native guest reports: dispatch entry, and "suspended in
 * a port exit" (the host resumes by running again without changing RIP).
 * Any other RIP starts the guest's init. */
#define MOCK_NATIVE_DISPATCH_RIP 0x00007f6e61740000ull
#define MOCK_NATIVE_RESUME_RIP   0x00007f6e61741000ull

/* ---- what native guest programs call (guest thread only) ---- */

/* Copy to/from guest-virtual memory as the guest would: page-table walk,
 * CoW on write resolved by the host, faults delivered as exceptions. Return only on
 * success (a fault ends the guest's job). */
void mock_native_read(nub_gva_t gva, void *dst, size_t len);
void mock_native_write(nub_gva_t gva, const void *src, size_t len);
/* Raise a guest exception (as the CPU would) with this vector/error/CR2. */
_Noreturn void mock_native_fault(uint64_t vector, uint64_t error_code, uint64_t cr2);
/* A doorbell store (guest_abi.h) — suspends the guest thread until the
 * host resumes. */
void mock_native_doorbell(unsigned offset, uint64_t value);
/* A point where an interrupt may stop a guest that never exits otherwise. */
void mock_native_poll(void);
/* The PEB the host wrote, copied (validated magic). */
const struct nub_peb *mock_native_peb(void);

/* A native guest program: its registration function (nub_guest_main). */
struct mock_native_prog {
	const char *name;
	void (*main)(void);
};
extern const struct mock_native_prog mock_native_progs[];
extern const size_t mock_native_prog_count;

#endif
