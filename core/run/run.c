/* SPDX-License-Identifier: MIT */
/*
 * The exit loop: run the vCPU, classify each exit, hand each doorbell to its
 * handler (handlers.h), and turn everything else into a failure that names
 * what happened. Failures are returned, classified as the guest's or the
 * backend's; what they mean for the sandbox is the lifecycle's business.
 */
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "debug/backtrace.h"
#include "error_internal.h"
#include "image/symbols.h"
#include "run/handlers.h"

const char *nub_run_symbol(const struct nub_run *r, uint64_t rip, char *buf, size_t cap)
{
	nub_symbols_describe_at(r->syms, r->l->image_gpa, r->l->image_size, rip, buf, cap);
	return buf;
}

const char *nub_run_where(const struct nub_run *r, uint64_t rip, char *buf, size_t cap)
{
	char sym[NUB_SYMBOL_NAME_MAX + 24];

	if (nub_run_symbol(r, rip, sym, sizeof(sym))[0])
		snprintf(buf, cap, " (%s)", sym);
	else
		buf[0] = '\0';
	return buf;
}

uint64_t nub_run_now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

void nub_trace_emit(nub_trace_fn fn, void *user, int *in_callback, uint32_t kind, uint32_t id,
                    const char *name, int32_t rc)
{
	struct nub_trace_event ev = {.kind = kind, .id = id, .name = name, .rc = rc};

	if (!fn)
		return;
	ev.time_ns = nub_run_now_ns();
	(*in_callback)++;
	fn(user, &ev);
	(*in_callback)--;
}

void nub_run_trace(struct nub_run *r, uint32_t kind, uint32_t id, const char *name, int32_t rc)
{
	nub_trace_emit(r->trace_fn, r->trace_user, r->in_callback, kind, id, name, rc);
}

/* What an exit was, for its trace event. */
static const char *exit_name(const struct nub_exit *ex)
{
	const int db = nub_layout_doorbell_at(ex->gpa);

	switch (ex->reason) {
	case NUB_EXIT_MMIO_WRITE:
	case NUB_EXIT_MMIO_READ:
		if (db >= 0 && ex->gpa == NUB_DOORBELL_GPA_OF(db))
			return nub_layout_doorbell_name((unsigned)db);
		return "memory access";
	case NUB_EXIT_IO_OUT:
	case NUB_EXIT_IO_IN:
		return "port";
	case NUB_EXIT_HLT:
		return "hlt";
	case NUB_EXIT_SHUTDOWN:
		return "shutdown";
	case NUB_EXIT_CANCELLED:
		return "cancelled";
	default:
		return "other";
	}
}

const char *nub_run_backtrace(struct nub_run *r, char *buf, size_t cap)
{
	struct nub_regs regs;
	char at[NUB_SYMBOL_NAME_MAX + 32];
	uint64_t pcs[NUB_BACKTRACE_SHOWN + 1];
	size_t used = 0;

	buf[0] = '\0';
	if (!r->syms || nub_hv_get_regs(r->hv, &regs, NULL))
		return buf;
	unsigned n = nub_backtrace_walk(&r->view, regs.rip, regs.rbp, r->l->image_gpa,
	                                r->l->image_size, pcs, NUB_BACKTRACE_SHOWN + 1);
	for (unsigned i = 1; i < n; i++) {
		/* The call before the return address: the caller's line. */
		if (!nub_run_symbol(r, pcs[i] - 1, at, sizeof(at))[0])
			break;
		int k = snprintf(buf + used, cap - used, "%s%s", used ? " < " : "; called from ",
		                 at);
		if (k < 0 || (size_t)k >= cap - used)
			break;
		used += (size_t)k;
	}
	return buf;
}

int nub_run_fail(struct nub_run *r, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	nub_error_setv(r->err, code, fmt, ap);
	va_end(ap);
	r->guest_failed = 1;
	return code;
}

int nub_run_pop(struct nub_run *r, uint64_t *len, const char *what)
{
	int rc = nub_gbuf_pop(r->out, r->msg, r->msg_cap, len, r->err);
	char why[NUB_ERROR_MSG_MAX];

	if (!rc)
		return 0;
	memcpy(why, r->err->msg, sizeof(why));
	return nub_run_fail(r, rc == NUB_EEMPTY ? NUB_ECORRUPT : rc, "%s: %.200s", what, why);
}

/* A doorbell takes one kind of access (guest_abi.h): one 8-byte store at
 * the doorbell, by one instruction that stores nothing else. Anything else
 * is refused before it is served: a narrower store would be read as a
 * value it is not (a 1-byte store to SET_FS as FS base 0x41), a read (a
 * load, or the read half of lock xadd) has no value to return, a store
 * elsewhere on a doorbell's page is no doorbell. A wider store, or one not
 * aligned, runs onto the unmapped page after the doorbell and faults
 * (exception.c names it) -- where a backend decodes the instruction instead
 * (the mock, MSHV) it reports the size, or 0 for one it cannot complete. A
 * string store (stos/movs) writes 8 bytes per element and moves RDI past
 * the element: KVM emulates it and reports RDI moved, the mock and MSHV do
 * not decode it. Messages name the address by its offset from
 * NUB_DOORBELL_GVA, as the guest would have computed it. */
static int check_doorbell(struct nub_run *r, const struct nub_exit *ex, unsigned kind)
{
	const uint64_t off = nub_layout_doorbell_offset(ex->gpa);
	const uint64_t gva = NUB_DOORBELL_GVA + off;
	struct nub_regs regs;
	int rc;

	if (ex->reason == NUB_EXIT_MMIO_READ)
		return nub_run_fail(
		        r, NUB_EPORT,
		        "guest read doorbell offset 0x%llx at RIP 0x%llx (a load or a "
		        "read-modify-write): the doorbell takes one aligned 8-byte store",
		        (unsigned long long)off, (unsigned long long)ex->rip);
	if (ex->size == 0)
		return nub_run_fail(
		        r, NUB_EPORT,
		        "guest stored to doorbell offset 0x%llx at RIP 0x%llx with an "
		        "instruction that is not a plain store (vector, string or "
		        "read-modify-write): the doorbell takes one aligned 8-byte store",
		        (unsigned long long)off, (unsigned long long)ex->rip);
	if (ex->size != 8 || off % 8)
		return nub_run_fail(
		        r, NUB_EPORT,
		        "guest stored %u byte%s to doorbell offset 0x%llx at RIP 0x%llx: "
		        "the doorbell takes one aligned 8-byte store",
		        ex->size, ex->size == 1 ? "" : "s", (unsigned long long)off,
		        (unsigned long long)ex->rip);
	if (ex->gpa != NUB_DOORBELL_GPA_OF(kind))
		return nub_run_fail(
		        r, NUB_EPORT,
		        "guest stored 0x%llx at unknown doorbell offset 0x%llx at RIP 0x%llx "
		        "(the %s doorbell is offset 0x%llx)",
		        (unsigned long long)ex->data, (unsigned long long)off,
		        (unsigned long long)ex->rip, nub_layout_doorbell_name(kind),
		        (unsigned long long)(NUB_DOORBELL_GVA_OF(kind) - NUB_DOORBELL_GVA));
	if (kind == NUB_DOORBELL_EXCEPTION)
		return 0; /* the host's stub, or a forgery on_exception refuses */
	rc = nub_hv_get_regs(r->hv, &regs, r->err);
	if (rc)
		return rc;
	if (regs.rdi == gva + 8 || regs.rdi == gva - 8)
		return nub_run_fail(
		        r, NUB_EPORT,
		        "guest rang doorbell offset 0x%llx with a string store (stos/movs) "
		        "at RIP 0x%llx: the doorbell takes one aligned 8-byte store",
		        (unsigned long long)off, (unsigned long long)ex->rip);
	return 0;
}

static int on_doorbell(struct nub_run *r, enum nub_run_phase phase, const struct nub_exit *ex,
                       unsigned kind)
{
	int rc = check_doorbell(r, ex, kind);

	if (rc)
		return rc;
	switch (kind) {
	case NUB_DOORBELL_INIT_DONE:
		return nub_run_init_done(r, phase, ex->data);
	case NUB_DOORBELL_CALL_DONE:
		if (phase == NUB_RUN_CALL)
			return NUB_RUN_PHASE_DONE;
		return nub_run_fail(r, NUB_ECORRUPT, "guest signalled a call done during init");
	case NUB_DOORBELL_CALL_HOST:
		return nub_run_serve_host_call(r);
	case NUB_DOORBELL_LOG:
		return nub_run_serve_log(r);
	case NUB_DOORBELL_ABORT:
		return nub_run_serve_abort(r, (uint32_t)ex->data);
	case NUB_DOORBELL_EXCEPTION:
		return nub_run_exception(r);
	default: /* NUB_DOORBELL_SET_FS, the last */
		return nub_run_set_fs(r, ex->data);
	}
}

static int on_exit(struct nub_run *r, enum nub_run_phase phase, const struct nub_exit *ex)
{
	char at[NUB_SYMBOL_NAME_MAX + 32];
	int db;
	switch (ex->reason) {
	case NUB_EXIT_MMIO_WRITE:
	case NUB_EXIT_MMIO_READ:
		db = nub_layout_doorbell_at(ex->gpa);
		if (db >= 0)
			return on_doorbell(r, phase, ex, (unsigned)db);
		return nub_run_fail(r, NUB_EMMIO,
		                    "guest %s %u bytes at GPA 0x%llx (unmapped or read-only) at "
		                    "RIP 0x%llx",
		                    ex->reason == NUB_EXIT_MMIO_WRITE ? "wrote" : "read", ex->size,
		                    (unsigned long long)ex->gpa, (unsigned long long)ex->rip);
	case NUB_EXIT_IO_OUT:
	case NUB_EXIT_IO_IN:
		/* CPL3 cannot reach a port (no I/O bitmap, IOPL 0): a backend
		 * that reports one let the guest through. */
		return nub_run_fail(r, NUB_EPORT, "guest %s I/O port 0x%x at RIP 0x%llx",
		                    ex->reason == NUB_EXIT_IO_OUT ? "wrote to" : "read from",
		                    ex->port, (unsigned long long)ex->rip);
	case NUB_EXIT_HLT:
		return nub_run_fail(r, NUB_ECORRUPT, "guest halted the vCPU at RIP 0x%llx",
		                    (unsigned long long)ex->rip);
	case NUB_EXIT_SHUTDOWN:
		/* The detail is the backend's text: core names the backend. */
		return nub_run_fail(r, NUB_ETRIPLE_FAULT,
		                    "guest triple-faulted (RIP 0x%llx%s%s%s%s)",
		                    (unsigned long long)ex->rip, ex->detail[0] ? ", " : "",
		                    ex->detail[0] ? nub_hv_name(r->hv) : "",
		                    ex->detail[0] ? ": " : "", ex->detail);
	case NUB_EXIT_CANCELLED:
		/* Where the endless loop was, when the backend knows the RIP. */
		nub_run_symbol(r, ex->rip, at, sizeof(at));
		if (r->timed_out && atomic_load(r->timed_out))
			return nub_run_fail(r, NUB_ETIMEDOUT,
			                    "call exceeded its timeout of %llu us%s%s",
			                    (unsigned long long)r->timeout_us,
			                    at[0] ? ", stopped in " : "", at);
		return nub_run_fail(r, NUB_ECANCELLED, "call interrupted");
	default:
		return nub_run_fail(r, NUB_EBACKEND, "%s: run_vcpu: exit %u (hw reason 0x%llx): %s",
		                    nub_hv_name(r->hv), ex->reason,
		                    (unsigned long long)ex->hw_reason, ex->detail);
	}
}

int nub_run_loop(struct nub_run *r, enum nub_run_phase phase, enum nub_run_outcome *outcome)
{
	struct nub_exit ex;
	int rc;

	memset(&ex, 0, sizeof(ex));
	r->guest_failed = 0;
	do {
		rc = nub_hv_run(r->hv, &ex, r->err);
		if (rc)
			break;
		r->stats->vm_exits++;
		if (r->trace_fn)
			nub_run_trace(r, NUB_TRACE_EXIT, ex.reason, exit_name(&ex), 0);
		rc = on_exit(r, phase, &ex);
	} while (rc == NUB_RUN_CONTINUE);
	if (rc == NUB_RUN_PHASE_DONE)
		rc = 0;
	*outcome = rc == 0 ? NUB_RUN_DONE : r->guest_failed ? NUB_RUN_GUEST : NUB_RUN_BACKEND;
	return rc;
}
