/* SPDX-License-Identifier: MIT */
/*
 * A fake /dev/mshv for testing the mshv backend without the Microsoft
 * Hypervisor. It implements the kernel interface the backend uses
 * (backends/mshv/mshv_uapi.h) with the kernel's argument checks (EINVAL for
 * non-zero reserved fields, bad sizes and flags; EEXIST for overlaps; ENOTTY
 * for an ioctl on the wrong kind of fd), keeps partition and VP state
 * (memory regions with their flags, registers), and answers MSHV_RUN_VP from
 * a script of guest actions. What it models and what it cannot is listed in
 * docs/mshv.md.
 *
 * Install it with the backend's test hook (mshv_test_hook.h). One instance
 * per process; all functions are thread-safe.
 */
#ifndef NUB_FAKE_MSHV_H
#define NUB_FAKE_MSHV_H

#include <stdint.h>

#include "../../backends/mshv/mshv_test_hook.h"
#include "../../backends/mshv/mshv_uapi.h"

/* The system-call table to install into the backend. */
const struct nub_mshv_sys *fake_mshv_sys(void);

/* Forget all partitions, fds, scripts and injected failures. */
void fake_mshv_reset(void);

/* Make open("/dev/mshv") fail with ENOENT (missing = 1) or succeed. */
void fake_mshv_set_device_missing(int missing);

/* Make the next ioctl with this request number fail with `err`, before any
 * other check. */
void fake_mshv_fail_next(unsigned long request, int err);

/* Number of fake fds currently open (device, partition and VP fds). */
int fake_mshv_open_fds(void);

/* Number of partitions created / currently alive. */
int fake_mshv_partitions_created(void);
int fake_mshv_partitions_alive(void);

/* Of the most recently created partition: */
int fake_mshv_initialized(void);
uint64_t fake_mshv_pt_flags(void);
/* Value of a partition property; 0 and *was_set = 0 if never set. */
uint64_t fake_mshv_property(uint32_t code, int *was_set);
/* Region containing gpa: 0 and *out filled, or -1. */
int fake_mshv_region_at(uint64_t gpa, struct nub_mshv_user_mem_region *out);
int fake_mshv_region_count(void);
/* VP 0's register `name`: 0 and *out, or -1 when unknown/never written. */
int fake_mshv_reg(uint32_t name, struct nub_hv_u128 *out);
/* Set a register of VP 0 as the guest would (e.g. before an OUT). */
void fake_mshv_set_reg(uint32_t name, uint64_t low, uint64_t high);
/* MSHV_RUN_VP calls that reached the fake (including interrupted ones). */
unsigned fake_mshv_run_calls(void);
/* Intercepts delivered again because RIP had not moved past the
 * instruction (what real hardware does if the VMM does not advance RIP). */
unsigned fake_mshv_redeliveries(void);
/* Whether a RUN_VP is currently blocked (guest spinning). */
int fake_mshv_run_blocked(void);

/* Widen the user-space gap before MSHV_RUN_VP "enters the kernel" to `us`
 * microseconds (0: none). A signal that lands in the gap is handled and
 * gone, as on a real system; one that lands after it stays pending and
 * interrupts the wait. fake_mshv_in_entry_window says a RUN_VP is in it. */
void fake_mshv_set_entry_delay_us(int us);
int fake_mshv_in_entry_window(void);

/* ---- the script of guest actions RUN_VP plays, in order ---- */

/* The guest executes IN (is_write = 0) or OUT (is_write = 1) on `port` with
 * `size` bytes; for OUT the guest's RAX holds `value` first. `instr_len` is
 * the instruction length the hypervisor reports. */
void fake_mshv_script_io(uint16_t port, uint8_t size, int is_write, uint64_t value,
                         uint8_t instr_len);
/* The guest executes HLT. */
void fake_mshv_script_halt(void);
/* The guest touches `gpa` (access: NUB_HV_INTERCEPT_ACCESS_*). Permitted
 * accesses to mapped memory produce no exit and the script continues;
 * unmapped ones give HVMSG_UNMAPPED_GPA, forbidden ones HVMSG_GPA_INTERCEPT. */
void fake_mshv_script_access(uint64_t gpa, uint8_t access);
/* The guest executes a store to `gpa` whose instruction the hypervisor
 * reports as `byte_count` bytes copied from `bytes` (at most 16 are copied;
 * a count below the instruction's length models a cut-off fetch, one above
 * 16 an invalid message). The guest's registers are whatever the VP holds
 * (fake_mshv_set_reg). Exits like a scripted write access, with
 * instruction_length 0 in the header (the processor reports no instruction
 * length for an EPT/NPT violation, so the backend must not use one); like
 * port I/O, the intercept is delivered again while RIP stays on the
 * instruction. Every intercept header carries the VP's CS, CPL, CR0.PE and
 * EFER.LMA. */
void fake_mshv_script_store(uint64_t gpa, const uint8_t *bytes, uint8_t byte_count);
/* Deliver this raw message. */
void fake_mshv_script_message(const struct nub_hv_message *msg);
/* Nothing scripted (or after the script ends) means the guest spins: RUN_VP
 * blocks in an interruptible wait until a signal arrives (then EINTR, like
 * the kernel) or 10 seconds pass (then ETIMEDOUT, which no kernel returns,
 * so a lost interrupt fails a test instead of hanging it). */

#endif
