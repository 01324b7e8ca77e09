/* SPDX-License-Identifier: MIT */
/*
 * The EXCEPTION doorbell: the host's CPL0 stubs exit here with the frame at
 * the top of the exception stack. A write to a copy-on-write page is
 * resolved and the stub resumed; a system call goes on to the guest's entry
 * (syscall.c); anything else stops the guest with a message naming the
 * vector, the instruction or the host-owned page it touched.
 */
#include <string.h>

#include "image/symbols.h"
#include "run/handlers.h"
#include "x86/cpu.h"

#define PF_P    (1u << 0)
#define PF_W    (1u << 1)
#define PF_U    (1u << 2)
#define PF_RSVD (1u << 3)

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

static int page_fault(struct nub_run *r, const struct nub_exception_frame *f, uint64_t cr2)
{
	char bt[320];
	char at[NUB_SYMBOL_NAME_MAX + 32];
	const struct nub_layout *l = r->l;
	const uint64_t guard = l->scratch_gva + l->stack_guard_offset;
	const char *area = host_area(l, cr2);
	const int db = nub_layout_doorbell_before(cr2);

	/* The page after a doorbell: a store (or load) that ran past it, which
	 * here is what a vector or misaligned store to a doorbell does. */
	if (db >= 0 && (f->error_code & PF_U))
		return nub_run_fail(
		        r, NUB_EPORT,
		        "guest %s past doorbell offset 0x%llx at RIP 0x%llx%s, CR2 "
		        "0x%llx (wider than 8 bytes or not aligned): the doorbell "
		        "takes one aligned 8-byte store",
		        (f->error_code & PF_W) ? "stored" : "read",
		        (unsigned long long)(NUB_DOORBELL_GVA_OF(db) - NUB_DOORBELL_GVA),
		        (unsigned long long)f->rip, nub_run_where(r, f->rip, at, sizeof(at)),
		        (unsigned long long)cr2);
	if (cr2 >= guard && cr2 - guard < NUB_PAGE_SIZE)
		return nub_run_fail(r, NUB_EGUEST_FAULT,
		                    "guest stack overflow: #PF at RIP 0x%llx%s, CR2 0x%llx",
		                    (unsigned long long)f->rip,
		                    nub_run_where(r, f->rip, at, sizeof(at)),
		                    (unsigned long long)cr2);
	if (area && (f->error_code & PF_U))
		return nub_run_fail(r, NUB_EPRIVILEGED,
		                    "guest %s its %s at GVA 0x%llx (RIP 0x%llx%s): host-owned page",
		                    (f->error_code & PF_W) ? "wrote" : "accessed", area,
		                    (unsigned long long)cr2, (unsigned long long)f->rip,
		                    nub_run_where(r, f->rip, at, sizeof(at)));
	return nub_run_fail(r, NUB_EGUEST_FAULT,
	                    "guest fault: vector 14 (#PF page fault) error code 0x%llx at RIP "
	                    "0x%llx%s, CR2 0x%llx%s",
	                    (unsigned long long)f->error_code, (unsigned long long)f->rip,
	                    nub_run_where(r, f->rip, at, sizeof(at)), (unsigned long long)cr2,
	                    nub_run_backtrace(r, bt, sizeof(bt)));
}

static int report_fault(struct nub_run *r, const struct nub_exception_frame *f, uint64_t cr2)
{
	uint8_t insn[15] = {0};
	const char *name = NULL;
	char at[NUB_SYMBOL_NAME_MAX + 32], bt[320];

	if (f->vector == 14)
		return page_fault(r, f, cr2);
	if (f->vector == 13 || f->vector == 6) {
		uint64_t n = sizeof(insn);
		/* The bytes may end at an unmapped page: take what is there. */
		while (n && nub_view_read_gva(&r->view, f->rip, insn, n))
			n--;
		name = n ? nub_cpu_privileged_insn(insn, n) : NULL;
	}
	if (name && (f->cs & 3) == 3)
		return nub_run_fail(r, NUB_EPRIVILEGED,
		                    "guest executed a privileged instruction (%s) at RIP 0x%llx%s",
		                    name, (unsigned long long)f->rip,
		                    nub_run_where(r, f->rip, at, sizeof(at)));
	return nub_run_fail(r, NUB_EGUEST_FAULT,
	                    "guest fault: vector %llu (%s) error code 0x%llx at RIP 0x%llx%s, CR2 "
	                    "0x%llx%s",
	                    (unsigned long long)f->vector, nub_cpu_vector_name(f->vector),
	                    (unsigned long long)f->error_code, (unsigned long long)f->rip,
	                    nub_run_where(r, f->rip, at, sizeof(at)), (unsigned long long)cr2,
	                    nub_run_backtrace(r, bt, sizeof(bt)));
}

/* A write to a page the tables map copy-on-write: 1 when it was one and
 * is resolved (a private copy now mapped writable), 0 when it is not. */
static int resolve_cow(struct nub_run *r, const struct nub_exception_frame *f, uint64_t cr2)
{
	int rc;

	if (f->vector != 14 || (f->error_code & (PF_P | PF_W | PF_RSVD)) != (PF_P | PF_W))
		return 0;
	rc = nub_view_resolve_cow(&r->view, cr2, r->err);
	if (rc == 1) {
		r->stats->cow_faults++;
		nub_hot_add_bounded(r->hot, cr2, r->hot_limit);
		return 1;
	}
	if (rc < 0) {
		char why[NUB_ERROR_MSG_MAX];
		memcpy(why, r->err->msg, sizeof(why));
		return nub_run_fail(r, rc, "%.200s", why);
	}
	return 0;
}

int nub_run_exception(struct nub_run *r)
{
	struct nub_exception_frame f;
	struct nub_sregs sregs;
	int rc = nub_hv_get_sregs(r->hv, &sregs, r->err);

	if (rc)
		return rc;
	/* Only the host's stubs run at CPL0: a store from CPL3 is forged. */
	if (sregs.cs.selector & 3)
		return nub_run_fail(r, NUB_EPRIVILEGED,
		                    "guest stored to the exception doorbell from user mode");
	rc = nub_shmem_read(r->scratch, r->l->exn_stack_top_offset - sizeof(f), &f, sizeof(f),
	                    r->err);
	if (!rc)
		rc = resolve_cow(r, &f, sregs.cr2);
	if (!rc)
		rc = nub_run_reflect_syscall(r, &f, sregs.cr2);
	if (!rc && r->gdb)
		rc = nub_run_debug_stop(r, &f);
	if (rc)
		return rc < 0 ? rc : NUB_RUN_CONTINUE;
	/* A core dump or a debugger sees the guest as it faulted. */
	if (r->stop)
		nub_stop_capture(r->hv, &f, r->stop, NULL);
	return report_fault(r, &f, sregs.cr2);
}
