/* SPDX-License-Identifier: MIT */
/* Exception handling: copy-on-write faults are resolved and returned from;
 * everything else aborts with a fault record. Runs on IST1 and writes only
 * scratch (stack, allocator, page tables, output buffer): a write to a
 * copy-on-write global here would fault recursively. */
#include "nub_string.h"
#include "rt.h"

#define PF_P    (1u << 0)
#define PF_W    (1u << 1)
#define PF_RSVD (1u << 3)
#define PF_I    (1u << 4)

static uint64_t read_cr2(void)
{
	uint64_t v;
	__asm__ volatile("mov %%cr2, %0" : "=r"(v));
	return v;
}

/* 1 if the fault was a write to a CoW page and has been resolved. */
static int cow_resolve(const struct nub_peb *peb, uint64_t cr2, uint64_t err)
{
	if ((err & (PF_P | PF_W | PF_RSVD | PF_I)) != (PF_P | PF_W))
		return 0;
	struct nub_vmem_ops ops;
	rt_vmem_ops(peb, &ops);
	nub_gva_t page = cr2 & ~(NUB_PAGE_SIZE - 1);
	struct nub_vmem_mapping m;
	if (nub_vmem_translate(&ops, page, &m) || m.kind != NUB_VMEM_COW)
		return 0;
	uint64_t gpa;
	int rc = rt_scratch_alloc(peb, 1, &gpa);
	if (rc)
		rt_abort(rc == NUB_EFULL ? NUB_ABORT_OOM : NUB_ABORT_CORRUPT,
		         "copy-on-write: no scratch page", 30);
	memcpy(rt_scratch_ptr(peb, gpa), (const void *)page, NUB_PAGE_SIZE);
	struct nub_vmem_mapping w = {
	        .gva = page,
	        .gpa = gpa,
	        .len = NUB_PAGE_SIZE,
	        .kind = NUB_VMEM_BASIC,
	        .perms = NUB_VMEM_R | NUB_VMEM_W | (m.perms & (NUB_VMEM_X | NUB_VMEM_USER)),
	};
	rc = nub_vmem_map(&ops, &w);
	if (rc)
		rt_abort(rc == NUB_EFULL ? NUB_ABORT_OOM : NUB_ABORT_CORRUPT,
		         "copy-on-write: remapping the page failed", 40);
	__asm__ volatile("invlpg (%0)" : : "r"(page) : "memory");
	return 1;
}

static int in_stack_guard(const struct nub_peb *peb, uint64_t addr)
{
	uint64_t top = peb->stack_top_gva, size = peb->stack_size;
	if (size > top || top - size < NUB_PAGE_SIZE)
		return 0;
	uint64_t guard = top - size - NUB_PAGE_SIZE;
	return addr >= guard && addr - guard < NUB_PAGE_SIZE;
}

void nub_rt_exception(struct rt_frame *f)
{
	const struct nub_peb *peb = rt_peb();
	uint64_t cr2 = f->vector == 14 ? read_cr2() : 0;
	if (f->vector == 14 && cow_resolve(peb, cr2, f->error_code))
		return;
	struct nub_fault_record rec = {
	        .vector = f->vector,
	        .error_code = f->error_code,
	        .rip = f->rip,
	        .cr2 = cr2,
	        .rsp = f->rsp,
	};
	uint32_t code = NUB_ABORT_FAULT;
	if (f->vector == 14 && in_stack_guard(peb, cr2))
		code = NUB_ABORT_STACK_OVERFLOW;
	rt_abort(code, &rec, sizeof(rec));
}
