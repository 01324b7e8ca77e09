/* SPDX-License-Identifier: MIT */
/*
 * The exit loop: run the vCPU, decode each exit, serve the guest's ports,
 * and turn everything else into an error that names what happened.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <nub/guest_abi.h>

#include "error_internal.h"
#include "memory/view.h"
#include "sandbox/sandbox_internal.h"
#include "x86/cpu.h"

enum { EXIT_CONTINUE = 0, EXIT_DONE = 1 };

static int guest_fail(struct nub_sandbox *sb, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

int nub_sandbox_poison(struct nub_sandbox *sb, int code, const char *reason)
{
	snprintf(sb->poison_reason, sizeof(sb->poison_reason), "%s",
	         reason ? reason : nub_strerror(code));
	sb->poisoned = 1;
	return code;
}

/* A failure caused by the guest: message on the handle, sandbox poisoned. */
static int guest_fail(struct nub_sandbox *sb, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	nub_error_setv(&sb->err, code, fmt, ap);
	va_end(ap);
	return nub_sandbox_poison(sb, code, NULL);
}

/* Pop one message from the output buffer into sb->msg. */
static int pop_msg(struct nub_sandbox *sb, uint64_t *len, const char *what)
{
	int rc = nub_gbuf_pop(&sb->out, sb->msg, sb->msg_cap, len, &sb->err);
	char why[NUB_ERROR_MSG_MAX];

	if (!rc)
		return 0;
	memcpy(why, sb->err.msg, sizeof(why));
	return guest_fail(sb, rc == NUB_EEMPTY ? NUB_ECORRUPT : rc, "%s: %.200s", what, why);
}

static int serve_log(struct nub_sandbox *sb)
{
	struct nub_log_msg lm;
	uint64_t len;
	int rc = pop_msg(sb, &len, "guest log");

	if (rc)
		return rc;
	memcpy(&lm, sb->msg, len < sizeof(lm) ? len : sizeof(lm));
	if (len < sizeof(lm) || lm.len != len - sizeof(lm))
		return guest_fail(sb, NUB_ECORRUPT,
		                  "guest log: message of %llu bytes with length field %u",
		                  (unsigned long long)len, len < sizeof(lm) ? 0 : lm.len);
	if (sb->cfg.log_fn && lm.level <= sb->cfg.log_level && lm.level >= NUB_LOG_ERROR) {
		sb->in_callback++; /* the callback may not re-enter this sandbox */
		sb->cfg.log_fn(sb->cfg.log_user, (int)lm.level, (const char *)sb->msg + sizeof(lm),
		               lm.len);
		sb->in_callback--;
	}
	return EXIT_CONTINUE;
}

/* The host functions every host serves (guest_abi.h: nub_host_builtin). */
static int32_t builtin_clock(const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                             size_t *out_len)
{
	static const clockid_t clocks[8] = {CLOCK_REALTIME,
	                                    CLOCK_MONOTONIC,
	                                    -1,
	                                    -1,
	                                    CLOCK_MONOTONIC_RAW,
	                                    CLOCK_REALTIME_COARSE,
	                                    CLOCK_MONOTONIC_COARSE,
	                                    CLOCK_BOOTTIME};
	struct timespec ts;
	uint32_t id;
	int64_t v[2];

	if (in_len != sizeof(id) || cap < sizeof(v))
		return NUB_EINVAL;
	memcpy(&id, in, sizeof(id));
	if (id >= 8 || clocks[id] == (clockid_t)-1 || clock_gettime(clocks[id], &ts))
		return NUB_EINVAL;
	v[0] = ts.tv_sec;
	v[1] = ts.tv_nsec;
	memcpy(out, v, sizeof(v));
	*out_len = sizeof(v);
	return 0;
}

static int32_t builtin_random(const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                              size_t *out_len)
{
	uint32_t n;

	if (in_len != sizeof(n))
		return NUB_EINVAL;
	memcpy(&n, in, sizeof(n));
	if (n > NUB_HOST_RANDOM_MAX || n > cap)
		return NUB_EINVAL;
	if (getrandom(out, n, 0) != (ssize_t)n)
		return NUB_ESYS;
	*out_len = n;
	return 0;
}

static int32_t call_builtin(uint32_t id, const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                            size_t *out_len)
{
	switch (id) {
	case NUB_HOST_FN_CLOCK:
		return builtin_clock(in, in_len, out, cap, out_len);
	case NUB_HOST_FN_RANDOM:
		return builtin_random(in, in_len, out, cap, out_len);
	default:
		return NUB_ENOTFOUND;
	}
}

static int serve_host_call(struct nub_sandbox *sb)
{
	struct nub_request req;
	struct nub_response resp = {0};
	struct nub_host_fn_slot *slot;
	uint8_t *reply = sb->msg + sizeof(resp);
	size_t reply_len = 0;
	uint64_t len;
	int rc = pop_msg(sb, &len, "host call");

	if (rc)
		return rc;
	memcpy(&req, sb->msg, len < sizeof(req) ? len : sizeof(req));
	if (len < sizeof(req) || req.len != len - sizeof(req))
		return guest_fail(sb, NUB_ECORRUPT,
		                  "host call: request of %llu bytes with length field %u",
		                  (unsigned long long)len, len < sizeof(req) ? 0 : req.len);
	sb->stats.host_calls++;
	/* The request is copied out of guest memory already: the guest cannot
	 * change it while the host function reads it. It moves to the tail of
	 * the staging buffer so the reply can be built at its head. */
	uint8_t *args = sb->msg + sb->msg_cap - req.len;
	const uint64_t cap = sb->msg_cap - req.len - sizeof(resp);
	memmove(args, sb->msg + sizeof(req), req.len);
	slot = req.fn_id < NUB_MAX_HOST_FNS ? &sb->host_fns[req.fn_id] : NULL;
	if (!slot) {
		resp.status = call_builtin(req.fn_id, args, req.len, reply, cap, &reply_len);
	} else if (!slot->fn) {
		resp.status = NUB_ENOTFOUND;
	} else {
		sb->in_callback++; /* the host function may not re-enter this sandbox */
		resp.status = slot->fn(slot->user, args, req.len, reply, cap, &reply_len);
		sb->in_callback--;
	}
	if (reply_len > cap)
		reply_len = 0, resp.status = NUB_ERANGE;
	resp.len = (uint32_t)reply_len;
	memcpy(sb->msg, &resp, sizeof(resp));
	rc = nub_gbuf_push(&sb->in, sb->msg, sizeof(resp) + reply_len, &sb->err);
	if (rc) {
		char why[NUB_ERROR_MSG_MAX];
		memcpy(why, sb->err.msg, sizeof(why));
		return guest_fail(sb, rc, "host call %u: response: %.200s", req.fn_id, why);
	}
	return EXIT_CONTINUE;
}

static int serve_abort(struct nub_sandbox *sb, uint32_t code)
{
	struct nub_abort_msg am;
	uint64_t len = 0;
	int have = nub_gbuf_pop(&sb->out, sb->msg, sb->msg_cap, &len, &sb->err) == 0;
	const char *text = "";
	int text_len = 0;

	if (have && len >= sizeof(am)) {
		memcpy(&am, sb->msg, sizeof(am));
		have = am.len == len - sizeof(am) && am.code == code;
	} else {
		have = 0;
	}
	if (have) {
		text = (const char *)sb->msg + sizeof(am);
		text_len = am.len > 160 ? 160 : (int)am.len;
	}
	return guest_fail(sb, NUB_EGUEST_ABORT, "guest abort: code 0x%x%s%.*s", code,
	                  text_len ? ": " : "", text_len, text);
}

/* The function names the guest pushed before NUB_HALT_INIT_DONE. */
static int read_names(struct nub_sandbox *sb)
{
	struct nub_fn_entry e;
	uint64_t len;
	int rc;

	sb->names.n = 0;
	while ((rc = nub_gbuf_pop(&sb->out, sb->msg, sb->msg_cap, &len, &sb->err)) == 0) {
		if (len < sizeof(e))
			return guest_fail(sb, NUB_ECORRUPT,
			                  "init: function name entry of %llu bytes",
			                  (unsigned long long)len);
		memcpy(&e, sb->msg, sizeof(e));
		if (e.name_len != len - sizeof(e) || e.name_len == 0 ||
		    e.name_len > NUB_FN_NAME_MAX || sb->names.n == NUB_MAX_FN_NAMES)
			return guest_fail(sb, NUB_ECORRUPT,
			                  "init: bad function name entry (length %u, %u names)",
			                  e.name_len, sb->names.n);
		struct nub_fn_name *f = &sb->names.fn[sb->names.n++];
		f->id = e.id;
		memcpy(f->name, sb->msg + sizeof(e), e.name_len);
		f->name[e.name_len] = '\0';
	}
	if (rc != NUB_EEMPTY)
		return guest_fail(sb, rc, "init: function names: output buffer corrupt");
	return 0;
}

static int on_init_done(struct nub_sandbox *sb, enum nub_run_phase phase, uint64_t dispatch)
{
	int rc;

	if (phase != NUB_RUN_INIT)
		return guest_fail(sb, NUB_ECORRUPT, "guest signalled init done during a call");
	if (!dispatch || dispatch >= NUB_GVA_LIMIT)
		return guest_fail(sb, NUB_ECORRUPT,
		                  "init: dispatch address 0x%llx is not a guest address",
		                  (unsigned long long)dispatch);
	sb->dispatch_gva = dispatch;
	rc = read_names(sb);
	return rc ? rc : EXIT_DONE;
}

/* ---- exceptions: the host's CPL0 stubs exit here ---- */

void nub_sandbox_view(struct nub_sandbox *sb, struct nub_view *c)
{
	c->l = &sb->base->layout;
	c->snapshot = sb->current->mem;
	c->present = sb->current->present;
	c->visible_size = sb->current->visible_size;
	c->scratch = sb->scratch;
	c->next = &sb->cow_next;
}

/* What a host-owned GVA is, for messages; NULL for guest memory. */
static const char *host_area(const struct nub_layout *l, uint64_t gva)
{
	const uint64_t s = l->scratch_gva;

	if (gva >= l->sys_tables_gpa && gva - l->sys_tables_gpa < NUB_PAGE_SIZE)
		return "descriptor tables (GDT/TSS/IDT)";
	if (gva >= l->sys_stubs_gpa && gva - l->sys_stubs_gpa < NUB_PAGE_SIZE)
		return "exception stubs";
	if (gva >= s + l->pt_offset && gva - (s + l->pt_offset) < l->pt_reserve)
		return "page tables";
	if (gva >= s + l->exn_stack_guard_offset && gva < s + l->exn_stack_top_offset)
		return "exception stack";
	if (gva >= s + l->bookkeeping_offset && gva - s < l->scratch_size)
		return "bookkeeping page (read-only)";
	return NULL;
}

#define PF_P    (1u << 0)
#define PF_W    (1u << 1)
#define PF_U    (1u << 2)
#define PF_RSVD (1u << 3)

static int page_fault(struct nub_sandbox *sb, const struct nub_exception_frame *f, uint64_t cr2)
{
	const struct nub_layout *l = &sb->base->layout;
	const uint64_t guard = l->scratch_gva + l->stack_guard_offset;
	const char *area = host_area(l, cr2);

	if (cr2 >= guard && cr2 - guard < NUB_PAGE_SIZE)
		return guest_fail(sb, NUB_EGUEST_FAULT,
		                  "guest stack overflow: #PF at RIP 0x%llx, CR2 0x%llx",
		                  (unsigned long long)f->rip, (unsigned long long)cr2);
	if (area && (f->error_code & PF_U))
		return guest_fail(sb, NUB_EPRIVILEGED,
		                  "guest %s its %s at GVA 0x%llx (RIP 0x%llx): host-owned page",
		                  (f->error_code & PF_W) ? "wrote" : "accessed", area,
		                  (unsigned long long)cr2, (unsigned long long)f->rip);
	return guest_fail(sb, NUB_EGUEST_FAULT,
	                  "guest fault: vector 14 (#PF page fault) error code 0x%llx at RIP "
	                  "0x%llx, CR2 0x%llx",
	                  (unsigned long long)f->error_code, (unsigned long long)f->rip,
	                  (unsigned long long)cr2);
}

static int report_fault(struct nub_sandbox *sb, const struct nub_view *c,
                        const struct nub_exception_frame *f, uint64_t cr2)
{
	uint8_t insn[15] = {0};
	const char *name = NULL;

	if (f->vector == 14)
		return page_fault(sb, f, cr2);
	if (f->vector == 13 || f->vector == 6) {
		uint64_t n = sizeof(insn);
		/* The bytes may end at an unmapped page: take what is there. */
		while (n && nub_view_read_gva(c, f->rip, insn, n))
			n--;
		name = n ? nub_cpu_privileged_insn(insn, n) : NULL;
	}
	if (name && (f->cs & 3) == 3)
		return guest_fail(sb, NUB_EPRIVILEGED,
		                  "guest executed a privileged instruction (%s) at RIP 0x%llx",
		                  name, (unsigned long long)f->rip);
	return guest_fail(sb, NUB_EGUEST_FAULT,
	                  "guest fault: vector %llu (%s) error code 0x%llx at RIP 0x%llx, CR2 "
	                  "0x%llx",
	                  (unsigned long long)f->vector, nub_cpu_vector_name(f->vector),
	                  (unsigned long long)f->error_code, (unsigned long long)f->rip,
	                  (unsigned long long)cr2);
}

/* How the CPU delivered a `syscall` (guest_abi.h: NUB_NOTE_TYPE_SYSCALL):
 * as #UD at the instruction (hardware, EFER.SCE clear; the mock), or by
 * jumping to LSTAR, the gate on the stub page, without leaving CPL3 (the
 * software KVM), where fetching that supervisor page faults with RCX and
 * R11 already set. 0: not a system call. */
enum { NOT_SYSCALL, SYSCALL_UD, SYSCALL_AT_GATE };

static int syscall_kind(const struct nub_sandbox *sb, const struct nub_view *c,
                        const struct nub_exception_frame *f, uint64_t cr2)
{
	const uint64_t gate = sb->base->layout.sys_stubs_gpa + NUB_CPU_GATE_OFFSET;
	uint8_t insn[2];

	if ((f->cs & 3) != 3)
		return NOT_SYSCALL;
	if (f->vector == 14 && f->rip == gate && cr2 == gate)
		return SYSCALL_AT_GATE;
	if (f->vector == 6 && !nub_view_read_gva(c, f->rip, insn, 2) && insn[0] == 0x0f &&
	    insn[1] == 0x05)
		return SYSCALL_UD;
	return NOT_SYSCALL;
}

/* Continue at the guest's system-call entry, at CPL3, with RCX and R11 as
 * the instruction itself sets them. 1 when it was a system call and was
 * sent on, 0 when the exception is something else. */
static int reflect_syscall(struct nub_sandbox *sb, const struct nub_view *c,
                           struct nub_exception_frame *f, uint64_t cr2)
{
	const struct nub_layout *l = &sb->base->layout;
	const nub_gva_t entry = sb->current->syscall_gva;
	const int kind = syscall_kind(sb, c, f, cr2);
	struct nub_regs regs;
	int rc;

	if (kind == NOT_SYSCALL)
		return 0;
	rc = nub_hv_get_regs(sb->hv, &regs, &sb->err);
	if (rc)
		return rc;
	if (!entry)
		return guest_fail(sb, NUB_EGUEST_FAULT,
		                  "guest made system call %llu (syscall at RIP 0x%llx), but it has "
		                  "no system-call entry: link it with the nub C library "
		                  "(nubguest-libc) or serve it in the guest",
		                  (unsigned long long)regs.rax,
		                  (unsigned long long)(kind == SYSCALL_UD ? f->rip : regs.rcx - 2));
	if (kind == SYSCALL_UD) {
		regs.rcx = f->rip + 2;
		regs.r11 = f->rflags;
		rc = nub_hv_set_regs(sb->hv, &regs, &sb->err);
	}
	f->rip = entry; /* where the stub's iretq goes */
	if (!rc)
		rc = nub_shmem_write(sb->scratch, l->exn_stack_top_offset - sizeof(*f), f,
		                     sizeof(*f), &sb->err);
	return rc ? rc : 1;
}

static int on_exception(struct nub_sandbox *sb)
{
	const struct nub_layout *l = &sb->base->layout;
	struct nub_exception_frame f;
	struct nub_sregs sregs;
	struct nub_view c;
	int rc = nub_hv_get_sregs(sb->hv, &sregs, &sb->err);

	if (rc)
		return rc;
	/* Only the host's stubs run at CPL0: a store from CPL3 is forged. */
	if (sregs.cs.selector & 3)
		return guest_fail(sb, NUB_EPRIVILEGED,
		                  "guest stored to the exception doorbell from user mode");
	rc = nub_shmem_read(sb->scratch, l->exn_stack_top_offset - sizeof(f), &f, sizeof(f),
	                    &sb->err);
	if (rc)
		return rc;
	nub_sandbox_view(sb, &c);
	if (f.vector == 14 && (f.error_code & (PF_P | PF_W | PF_RSVD)) == (PF_P | PF_W)) {
		rc = nub_view_resolve_cow(&c, sregs.cr2, &sb->err);
		if (rc == 1) {
			sb->stats.cow_faults++;
			nub_hot_add(&sb->hot, sregs.cr2);
			return EXIT_CONTINUE;
		}
		if (rc < 0) {
			char why[NUB_ERROR_MSG_MAX];
			memcpy(why, sb->err.msg, sizeof(why));
			return guest_fail(sb, rc, "%.200s", why);
		}
	}
	rc = reflect_syscall(sb, &c, &f, sregs.cr2);
	if (rc)
		return rc < 0 ? rc : EXIT_CONTINUE;
	return report_fault(sb, &c, &f, sregs.cr2);
}

/* The guest's thread pointer: set now, kept for snapshots and restores. */
static int set_fs(struct nub_sandbox *sb, uint64_t base)
{
	struct nub_sregs sregs;
	int rc;

	if (base >= NUB_GVA_LIMIT)
		return guest_fail(sb, NUB_EINVAL,
		                  "guest asked for FS base 0x%llx: not a lower-half address",
		                  (unsigned long long)base);
	rc = nub_hv_get_sregs(sb->hv, &sregs, &sb->err);
	if (rc)
		return rc;
	sregs.fs.base = base;
	rc = nub_hv_set_sregs(sb->hv, &sregs, &sb->err);
	if (rc)
		return rc;
	sb->fs_base = base;
	return EXIT_CONTINUE;
}

/* The doorbell takes one kind of access (guest_abi.h): one aligned 8-byte
 * store, by one instruction that stores nothing else. Anything else is
 * refused before it is served: a narrower store would be read as a value
 * it is not (a 1-byte store to SET_FS as FS base 0x41), a wider one rings
 * two doorbells at once, a read (a load, or the read half of lock xadd)
 * has no value to return. Backends report a store's whole size (KVM
 * gathers the 8-byte pieces of a vector store; the mock and MSHV decode the
 * instruction and report 0 for one they cannot complete). A string store
 * (stos/movs) writes 8 bytes per element and moves RDI past the element: KVM
 * emulates it and reports RDI moved, the mock and MSHV do not decode it. */
static int check_doorbell(struct nub_sandbox *sb, const struct nub_exit *ex, uint64_t off)
{
	const uint64_t gva = NUB_DOORBELL_GVA + off;
	struct nub_regs regs;
	int rc;

	if (ex->reason == NUB_EXIT_MMIO_READ)
		return guest_fail(sb, NUB_EPORT,
		                  "guest read doorbell offset 0x%llx at RIP 0x%llx (a load or a "
		                  "read-modify-write): the doorbell takes one aligned 8-byte store",
		                  (unsigned long long)off, (unsigned long long)ex->rip);
	if (ex->size == 0)
		return guest_fail(sb, NUB_EPORT,
		                  "guest stored to doorbell offset 0x%llx at RIP 0x%llx with an "
		                  "instruction that is not a plain store (vector, string or "
		                  "read-modify-write): the doorbell takes one aligned 8-byte store",
		                  (unsigned long long)off, (unsigned long long)ex->rip);
	if (ex->size != 8 || off % 8)
		return guest_fail(sb, NUB_EPORT,
		                  "guest stored %u byte%s to doorbell offset 0x%llx at RIP 0x%llx: "
		                  "the doorbell takes one aligned 8-byte store",
		                  ex->size, ex->size == 1 ? "" : "s", (unsigned long long)off,
		                  (unsigned long long)ex->rip);
	if (off == NUB_DOORBELL_EXCEPTION)
		return 0; /* the host's stub, or a forgery on_exception refuses */
	rc = nub_hv_get_regs(sb->hv, &regs, &sb->err);
	if (rc)
		return rc;
	if (regs.rdi == gva + 8 || regs.rdi == gva - 8)
		return guest_fail(
		        sb, NUB_EPORT,
		        "guest rang doorbell offset 0x%llx with a string store (stos/movs) "
		        "at RIP 0x%llx: the doorbell takes one aligned 8-byte store",
		        (unsigned long long)off, (unsigned long long)ex->rip);
	return 0;
}

static int on_doorbell(struct nub_sandbox *sb, enum nub_run_phase phase, const struct nub_exit *ex)
{
	uint64_t off = ex->gpa - NUB_DOORBELL_GPA;
	int rc = check_doorbell(sb, ex, off);

	if (rc)
		return rc;
	switch (off) {
	case NUB_DOORBELL_INIT_DONE:
		return on_init_done(sb, phase, ex->data);
	case NUB_DOORBELL_CALL_DONE:
		if (phase == NUB_RUN_CALL)
			return EXIT_DONE;
		return guest_fail(sb, NUB_ECORRUPT, "guest signalled a call done during init");
	case NUB_DOORBELL_CALL_HOST:
		return serve_host_call(sb);
	case NUB_DOORBELL_LOG:
		return serve_log(sb);
	case NUB_DOORBELL_ABORT:
		return serve_abort(sb, (uint32_t)ex->data);
	case NUB_DOORBELL_EXCEPTION:
		return on_exception(sb);
	case NUB_DOORBELL_SET_FS:
		return set_fs(sb, ex->data);
	default:
		return guest_fail(
		        sb, NUB_EPORT,
		        "guest stored 0x%llx at unknown doorbell offset 0x%llx at RIP 0x%llx",
		        (unsigned long long)ex->data, (unsigned long long)off,
		        (unsigned long long)ex->rip);
	}
}

static int on_exit(struct nub_sandbox *sb, enum nub_run_phase phase, const struct nub_exit *ex)
{
	switch (ex->reason) {
	case NUB_EXIT_MMIO_WRITE:
	case NUB_EXIT_MMIO_READ:
		if (ex->gpa - NUB_DOORBELL_GPA < NUB_PAGE_SIZE)
			return on_doorbell(sb, phase, ex);
		return guest_fail(sb, NUB_EMMIO,
		                  "guest %s %u bytes at GPA 0x%llx (unmapped or read-only) at "
		                  "RIP 0x%llx",
		                  ex->reason == NUB_EXIT_MMIO_WRITE ? "wrote" : "read", ex->size,
		                  (unsigned long long)ex->gpa, (unsigned long long)ex->rip);
	case NUB_EXIT_IO_OUT:
	case NUB_EXIT_IO_IN:
		/* CPL3 cannot reach a port (no I/O bitmap, IOPL 0): a backend
		 * that reports one let the guest through. */
		return guest_fail(sb, NUB_EPORT, "guest %s I/O port 0x%x at RIP 0x%llx",
		                  ex->reason == NUB_EXIT_IO_OUT ? "wrote to" : "read from",
		                  ex->port, (unsigned long long)ex->rip);
	case NUB_EXIT_HLT:
		return guest_fail(sb, NUB_ECORRUPT, "guest halted the vCPU at RIP 0x%llx",
		                  (unsigned long long)ex->rip);
	case NUB_EXIT_SHUTDOWN:
		/* The detail is the backend's text: core names the backend. */
		return guest_fail(sb, NUB_ETRIPLE_FAULT,
		                  "guest triple-faulted (RIP 0x%llx%s%s%s%s)",
		                  (unsigned long long)ex->rip, ex->detail[0] ? ", " : "",
		                  ex->detail[0] ? nub_hv_ops(sb->hv)->name : "",
		                  ex->detail[0] ? ": " : "", ex->detail);
	case NUB_EXIT_CANCELLED:
		if (atomic_load(&sb->timed_out))
			return guest_fail(sb, NUB_ETIMEDOUT, "call exceeded its timeout of %llu us",
			                  (unsigned long long)sb->cfg.call_timeout_us);
		return guest_fail(sb, NUB_ECANCELLED, "call interrupted");
	default:
		return guest_fail(sb, NUB_EBACKEND, "%s: run_vcpu: exit %u (hw reason 0x%llx): %s",
		                  nub_hv_ops(sb->hv)->name, ex->reason,
		                  (unsigned long long)ex->hw_reason, ex->detail);
	}
}

/* ---- interrupt and timeout ---- */

int nub_sandbox_interrupt(struct nub_sandbox *sb)
{
	int rc = 0;

	if (!sb)
		return NUB_EINVAL;
	pthread_mutex_lock(&sb->run_lock);
	if (sb->running)
		rc = nub_hv_interrupt(sb->hv);
	pthread_mutex_unlock(&sb->run_lock);
	return rc;
}

static void run_begin(struct nub_sandbox *sb)
{
	pthread_mutex_lock(&sb->run_lock);
	sb->running = 1;
	atomic_store(&sb->timed_out, 0);
	pthread_mutex_unlock(&sb->run_lock);
}

static void run_end(struct nub_sandbox *sb)
{
	pthread_mutex_lock(&sb->run_lock);
	sb->running = 0;
	/* A request that arrived after the last exit must not cancel the
	 * next call. */
	nub_hv_clear_interrupt(sb->hv);
	pthread_mutex_unlock(&sb->run_lock);
}

struct watchdog {
	struct nub_sandbox *sb;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;
	int started;
};

static void *watchdog_main(void *arg)
{
	struct watchdog *w = arg;
	struct timespec deadline;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	uint64_t ns = (uint64_t)deadline.tv_nsec + (w->sb->cfg.call_timeout_us % 1000000) * 1000;
	deadline.tv_sec += (time_t)(w->sb->cfg.call_timeout_us / 1000000 + ns / 1000000000);
	deadline.tv_nsec = (long)(ns % 1000000000);
	pthread_mutex_lock(&w->lock);
	while (!w->done && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&w->cond, &w->lock, &deadline);
	pthread_mutex_unlock(&w->lock);
	if (rc == ETIMEDOUT) {
		atomic_store(&w->sb->timed_out, 1);
		nub_sandbox_interrupt(w->sb);
	}
	return NULL;
}

static void watchdog_start(struct watchdog *w, struct nub_sandbox *sb)
{
	pthread_condattr_t ca;

	memset(w, 0, sizeof(*w));
	if (!sb->cfg.call_timeout_us)
		return;
	w->sb = sb;
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	w->started = pthread_create(&w->thread, NULL, watchdog_main, w) == 0;
}

static void watchdog_stop(struct watchdog *w)
{
	if (!w->sb)
		return;
	if (w->started) {
		pthread_mutex_lock(&w->lock);
		w->done = 1;
		pthread_cond_signal(&w->cond);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->thread, NULL);
	}
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
}

/* ---- the loop ---- */

int nub_sandbox_run(struct nub_sandbox *sb, enum nub_run_phase phase)
{
	struct nub_exit ex;
	struct watchdog wd;
	int rc;

	memset(&ex, 0, sizeof(ex));
	run_begin(sb);
	watchdog_start(&wd, sb);
	if (sb->cfg.call_timeout_us && !wd.started) {
		rc = guest_fail(sb, NUB_ESYS, "call: cannot start the timeout thread");
		goto stop;
	}
	do {
		rc = nub_hv_run(sb->hv, &ex, &sb->err);
		if (rc) {
			nub_sandbox_poison(sb, rc, "backend failure");
			break;
		}
		sb->stats.vm_exits++;
		rc = on_exit(sb, phase, &ex);
	} while (rc == EXIT_CONTINUE);
	if (rc == EXIT_DONE)
		rc = 0;
stop:
	watchdog_stop(&wd);
	run_end(sb);
	return rc;
}
