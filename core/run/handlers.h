/* SPDX-License-Identifier: MIT */
/*
 * What the exit loop's handlers share (core/run/ only): one handler a
 * doorbell, each in a file of its own -- host calls (host_call.c, with the
 * built-in host functions in builtins.c), logs (log.c), aborts (abort.c),
 * the end of init with the function names (init_done.c), the FS base
 * (fs_base.c), exceptions (exception.c), the system calls they carry
 * (syscall.c) and the stops a debugger serves (debug_stop.c).
 */
#ifndef NUB_CORE_RUN_HANDLERS_H
#define NUB_CORE_RUN_HANDLERS_H

#include <stddef.h>
#include <stdint.h>

#include <nub/guest_abi.h>

#include "run/run.h"

/* A handler's result: go on running, or the phase is over; a negative code
 * is a failure (message in r->err). */
enum { NUB_RUN_CONTINUE = 0, NUB_RUN_PHASE_DONE = 1 };

/* "function+0xN" when guest address rip is inside one of the ELF's
 * functions (run.h: syms), else "": in buf, which it returns. _where
 * gives it as " (function+0xN)", for after an address in a message. */
const char *nub_run_symbol(const struct nub_run *r, uint64_t rip, char *buf, size_t cap);
const char *nub_run_where(const struct nub_run *r, uint64_t rip, char *buf, size_t cap);

/* A trace event to r->trace_fn, if any (the hook may not re-enter the
 * sandbox). */
void nub_run_trace(struct nub_run *r, uint32_t kind, uint32_t id, const char *name, int32_t rc);

/* "; called from f+0x1 < g+0x2 ...": the guest's frame-pointer chain from
 * the vCPU's RBP (debug/backtrace.h), at most NUB_BACKTRACE_SHOWN callers,
 * up to the first return address with no symbol; "" when there is none
 * to show. In buf, which it returns. */
#define NUB_BACKTRACE_SHOWN 6
const char *nub_run_backtrace(struct nub_run *r, char *buf, size_t cap);

/* A failure the guest caused: the message in r->err, marked the guest's.
 * Returns code. */
int nub_run_fail(struct nub_run *r, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Pop one message from the output buffer into r->msg; a guest failure
 * naming `what` when there is none or it is corrupt. */
int nub_run_pop(struct nub_run *r, uint64_t *len, const char *what);

int nub_run_serve_host_call(struct nub_run *r);
int nub_run_serve_log(struct nub_run *r);
int nub_run_serve_abort(struct nub_run *r, uint32_t code);
int nub_run_init_done(struct nub_run *r, enum nub_run_phase phase, uint64_t dispatch);
int nub_run_set_fs(struct nub_run *r, uint64_t base);
int nub_run_exception(struct nub_run *r);

/* A system call the exception carries (syscall.c): 1 when it was one and
 * was sent on to the guest's entry (the frame rewritten), 0 when the
 * exception is something else, or a negative failure. */
int nub_run_reflect_syscall(struct nub_run *r, struct nub_exception_frame *f, uint64_t cr2);

/* An exception while a debugger is attached (debug_stop.c): 1 when gdb
 * resumed the guest (the frame and registers as it left them), 0 when the
 * fault is to end the call as it would without a debugger, or a negative
 * failure. */
int nub_run_debug_stop(struct nub_run *r, struct nub_exception_frame *f);

/* The host functions every host serves (builtins.c, guest_abi.h:
 * nub_host_builtin): the status for the guest; NUB_ENOTFOUND for an id
 * that is none of them. */
int32_t nub_run_call_builtin(uint32_t id, const uint8_t *in, size_t in_len, uint8_t *out,
                             size_t cap, size_t *out_len);

#endif
