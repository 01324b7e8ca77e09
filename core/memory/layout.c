/* SPDX-License-Identifier: MIT */
#include "memory/layout.h"

#include <string.h>

#include "vmem.h"

#include "error_internal.h"

#define PAGE NUB_PAGE_SIZE
/* Tables a live guest may add beyond those the layout needs (mappings of
 * its own); a capture needing more fails with a clear error. */
#define PT_SLACK_TABLES 16u
/* Smallest allocator area: temporary CPU tables and a few CoW pages. */
#define ALLOC_MIN (16 * PAGE)

void nub_layout_config_default(struct nub_layout_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->heap_size = 1u << 20;
	cfg->input_size = 64u << 10;
	cfg->output_size = 64u << 10;
	cfg->stack_size = 64u << 10;
	cfg->exn_stack_size = 16u << 10;
	cfg->init_data_perms = NUB_VMEM_R;
}

/* Overflow-checked page rounding and addition, naming the field. */
struct acc {
	struct nub_error *err;
	int rc;
};

static uint64_t round_page(struct acc *a, uint64_t v, const char *field)
{
	uint64_t r;

	if (a->rc)
		return 0;
	if (__builtin_add_overflow(v, PAGE - 1, &r)) {
		a->rc = nub_error_set(a->err, NUB_EOVERFLOW, "%s 0x%llx overflows", field,
		                      (unsigned long long)v);
		return 0;
	}
	return r & ~(PAGE - 1);
}

static uint64_t add(struct acc *a, uint64_t x, uint64_t y, const char *field)
{
	uint64_t r;

	if (a->rc)
		return 0;
	if (__builtin_add_overflow(x, y, &r)) {
		a->rc = nub_error_set(a->err, NUB_EOVERFLOW, "%s 0x%llx overflows the layout",
		                      field, (unsigned long long)y);
		return 0;
	}
	return r;
}

static uint64_t tables_for(uint64_t va, uint64_t len)
{
	uint64_t end = va + len - 1, n = 0;

	for (int shift = 21; shift <= 39; shift += 9)
		n += (end >> shift) - (va >> shift) + 1;
	return n;
}

_Static_assert(NUB_DOORBELL_GPA + NUB_DOORBELL_COUNT * PAGE <= NUB_BASE_GPA,
               "doorbell pages below the first guest memory");
_Static_assert(NUB_DOORBELL_GVA_END <= NUB_GVA_LIMIT, "doorbell pages in the lower half");

int nub_layout_doorbell_at(nub_gpa_t gpa)
{
	/* Below NUB_DOORBELL_GPA the difference wraps to a huge page number. */
	uint64_t page = (gpa - NUB_DOORBELL_GPA) / PAGE;

	return page < NUB_DOORBELL_COUNT ? (int)page : -1;
}

static int doorbell_gva_page(nub_gva_t gva, unsigned parity)
{
	uint64_t page = (gva - NUB_DOORBELL_GVA) / PAGE;

	if (gva < NUB_DOORBELL_GVA || page >= 2 * NUB_DOORBELL_COUNT || page % 2 != parity)
		return -1;
	return (int)(page / 2);
}

int nub_layout_doorbell_before(nub_gva_t gva)
{
	return doorbell_gva_page(gva, 1);
}

int nub_layout_is_doorbell_page(nub_gva_t gva)
{
	return doorbell_gva_page(gva, 0) >= 0;
}

const char *nub_layout_doorbell_name(unsigned kind)
{
	static const char *const names[NUB_DOORBELL_COUNT] = {
	        [NUB_DOORBELL_INIT_DONE] = "init done", [NUB_DOORBELL_CALL_DONE] = "call done",
	        [NUB_DOORBELL_CALL_HOST] = "host call", [NUB_DOORBELL_LOG] = "log",
	        [NUB_DOORBELL_ABORT] = "abort",         [NUB_DOORBELL_EXCEPTION] = "exception",
	        [NUB_DOORBELL_SET_FS] = "set fs"};

	return kind < NUB_DOORBELL_COUNT ? names[kind] : "unknown doorbell";
}

uint64_t nub_layout_doorbell_offset(nub_gpa_t gpa)
{
	uint64_t rel = gpa - NUB_DOORBELL_GPA;

	return rel / PAGE * 2 * PAGE + rel % PAGE;
}

uint64_t nub_layout_pt_bytes(uint64_t snapshot_size, uint64_t scratch_size)
{
	uint64_t n = 1; /* PML4 */

	n += tables_for(NUB_BASE_GPA, snapshot_size);
	n += tables_for(NUB_SCRATCH_GVA_END - scratch_size, scratch_size);
	n += tables_for(NUB_DOORBELL_GVA, NUB_DOORBELL_GVA_END - NUB_DOORBELL_GVA);
	return n * PAGE;
}

/* Each size on its own: at least its minimum, and no larger than the
 * guest-physical space (so a size too big for any layout is named as the
 * field the caller set, not as a sum computed from it). */
static int check_nonzero(const struct nub_layout_config *cfg, struct nub_error *err)
{
	const struct {
		const char *name;
		uint64_t v, min;
	} f[] = {
	        {"heap_size", cfg->heap_size, 0},
	        {"scratch_size", cfg->scratch_size, 0},
	        {"input_size", cfg->input_size, 256},
	        {"output_size", cfg->output_size, 256},
	        {"stack_size", cfg->stack_size, PAGE},
	        {"exn_stack_size", cfg->exn_stack_size, PAGE},
	        {"init_data_size", cfg->init_data_size, 0},
	        {"args_size", cfg->args_size, 0},
	        {"files_size", cfg->files_size, 0},
	};

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		if (f[i].v < f[i].min)
			return nub_error_set(err, NUB_EINVAL, "%s %llu is below the minimum %llu",
			                     f[i].name, (unsigned long long)f[i].v,
			                     (unsigned long long)f[i].min);
		if (f[i].v > NUB_GPA_LIMIT)
			return nub_error_set(
			        err, NUB_EOVERFLOW,
			        "%s 0x%llx exceeds the 0x%llx-byte guest-physical space", f[i].name,
			        (unsigned long long)f[i].v, (unsigned long long)NUB_GPA_LIMIT);
	}
	if (cfg->init_data_perms & ~(uint32_t)(NUB_VMEM_R | NUB_VMEM_W | NUB_VMEM_X))
		return nub_error_set(err, NUB_EINVAL, "init_data_perms 0x%x has unknown bits",
		                     cfg->init_data_perms);
	return 0;
}

static void snapshot_part(const struct nub_layout_config *cfg, uint64_t image_size,
                          struct nub_layout *l, struct acc *a)
{
	l->peb_gpa = NUB_BASE_GPA;
	l->sys_tables_gpa = l->peb_gpa + PAGE;
	l->sys_stubs_gpa = l->sys_tables_gpa + PAGE;
	l->image_gpa = add(a, l->sys_stubs_gpa, PAGE, "image");
	l->image_size = round_page(a, image_size, "image_size");
	l->init_data_gpa = add(a, l->image_gpa, l->image_size, "image_size");
	l->init_data_size = cfg->init_data_size;
	l->args_gpa = add(a, l->init_data_gpa, round_page(a, cfg->init_data_size, "init_data_size"),
	                  "init_data_size");
	l->args_size = cfg->args_size;
	l->files_gpa = add(a, l->args_gpa, round_page(a, cfg->args_size, "args_size"), "args_size");
	l->files_size = cfg->files_size;
	l->heap_gpa =
	        add(a, l->files_gpa, round_page(a, cfg->files_size, "files_size"), "files_size");
	l->heap_size = round_page(a, cfg->heap_size, "heap_size");
	l->snapshot_size = add(a, l->heap_gpa, l->heap_size, "heap_size") - NUB_BASE_GPA;
}

/* Scratch from its base up: tables, buffers, allocator area, guard, stack,
 * guard, exception stack, bookkeeping page. */
static void scratch_part(const struct nub_layout_config *cfg, struct nub_layout *l, struct acc *a)
{
	uint64_t fixed, alloc, top_part, writable;

	l->pt_offset = 0;
	l->pt_reserve = cfg->pt_reserve ? round_page(a, cfg->pt_reserve, "pt_reserve")
	                                : 0; /* computed once the scratch size is known */
	l->input_size = round_page(a, cfg->input_size, "input_size");
	l->output_size = round_page(a, cfg->output_size, "output_size");
	l->stack_size = round_page(a, cfg->stack_size, "stack_size");
	l->exn_stack_size = round_page(a, cfg->exn_stack_size, "exn_stack_size");
	top_part = add(a, add(a, l->stack_size, l->exn_stack_size, "stack_size"), 3 * PAGE,
	               "exn_stack_size");
	/* Default allocator area: room to copy every snapshot page once, and
	 * for the table a split of each large page takes (one per 512 pages):
	 * what restores in place need to keep going (core/sandbox/state.c);
	 * without it a heap past ~30 MiB got a full restore every time. */
	/* The file tree is mapped read-only, never copied: no room for it. */
	writable = l->snapshot_size - round_page(a, l->files_size, "files_size");
	alloc = add(a, writable, ALLOC_MIN, "heap_size");
	alloc = add(a, alloc, (writable / PAGE + 511) / 512 * PAGE, "heap_size");
	if (!l->pt_reserve) {
		uint64_t guess = add(a, add(a, top_part, alloc, "scratch"),
		                     l->input_size + l->output_size, "input_size");
		uint64_t s = cfg->scratch_size ? cfg->scratch_size : guess;
		/* Tables for the final scratch size; a larger scratch needs at
		 * most a few more, hence the slack. */
		l->pt_reserve = nub_layout_pt_bytes(l->snapshot_size, s + (64u << 20)) +
		                PT_SLACK_TABLES * PAGE;
	}
	fixed = add(a, add(a, l->pt_reserve, l->input_size, "pt_reserve"), l->output_size,
	            "output_size");
	fixed = add(a, fixed, top_part, "stack_size");
	if (cfg->scratch_size) {
		l->scratch_size = cfg->scratch_size;
		if (!a->rc && (cfg->scratch_size % PAGE || cfg->scratch_size < fixed + ALLOC_MIN))
			a->rc = nub_error_set(a->err, NUB_EINVAL,
			                      "scratch_size 0x%llx must be a page multiple of at "
			                      "least 0x%llx (tables+input+output+stacks+0x%llx)",
			                      (unsigned long long)cfg->scratch_size,
			                      (unsigned long long)(fixed + ALLOC_MIN),
			                      (unsigned long long)ALLOC_MIN);
	} else {
		l->scratch_size = add(a, fixed, alloc, "scratch_size");
	}
	l->input_offset = l->pt_offset + l->pt_reserve;
	l->output_offset = l->input_offset + l->input_size;
	l->alloc_offset = l->output_offset + l->output_size;
	l->bookkeeping_offset = l->scratch_size - NUB_SCRATCH_BOOKKEEPING_SIZE;
	l->exn_stack_top_offset = l->bookkeeping_offset;
	l->exn_stack_guard_offset = l->exn_stack_top_offset - l->exn_stack_size - PAGE;
	l->stack_top_offset = l->exn_stack_guard_offset;
	l->stack_guard_offset = l->stack_top_offset - l->stack_size - PAGE;
	l->alloc_limit_offset = l->stack_guard_offset;
}

int nub_layout_compute(const struct nub_layout_config *cfg, uint64_t image_size,
                       struct nub_layout *out, struct nub_error *err)
{
	struct acc a = {.err = err};
	struct nub_layout l;
	int rc = check_nonzero(cfg, err);

	if (rc)
		return rc;
	if (image_size == 0)
		return nub_error_set(err, NUB_EINVAL, "image_size is 0");
	memset(&l, 0, sizeof(l));
	snapshot_part(cfg, image_size, &l, &a);
	scratch_part(cfg, &l, &a);
	if (a.rc)
		return a.rc;
	if (l.scratch_size > NUB_GPA_LIMIT / 2 ||
	    NUB_BASE_GPA + l.snapshot_size > NUB_GPA_LIMIT - l.scratch_size)
		return nub_error_set(
		        err, NUB_EOVERFLOW,
		        "snapshot (0x%llx bytes) and scratch (0x%llx bytes) do not fit "
		        "the 0x%llx-byte guest-physical space",
		        (unsigned long long)l.snapshot_size, (unsigned long long)l.scratch_size,
		        (unsigned long long)NUB_GPA_LIMIT);
	l.scratch_gpa = NUB_GPA_LIMIT - l.scratch_size;
	l.scratch_gva = NUB_SCRATCH_GVA_END - l.scratch_size;
	l.pt_gpa = l.scratch_gpa + l.pt_offset;
	*out = l;
	return 0;
}

void nub_layout_fill_peb(const struct nub_layout *l, struct nub_peb *peb)
{
	memset(peb, 0, sizeof(*peb));
	peb->magic = NUB_PEB_MAGIC;
	peb->abi_version = NUB_GUEST_ABI_VERSION;
	peb->struct_size = sizeof(*peb);
	peb->snapshot_gva = NUB_BASE_GPA;
	peb->snapshot_size = l->snapshot_size;
	peb->image_gva = l->image_gpa;
	peb->image_size = l->image_size;
	peb->init_data_gva = l->init_data_size ? l->init_data_gpa : 0;
	peb->init_data_size = l->init_data_size;
	peb->heap_gva = l->heap_gpa;
	peb->args_gva = l->args_size ? l->args_gpa : 0;
	peb->args_size = l->args_size;
	peb->files_gva = l->files_size ? l->files_gpa : 0;
	peb->files_size = l->files_size;
	peb->heap_size = l->heap_size;
	peb->scratch_gpa = l->scratch_gpa;
	peb->scratch_gva = l->scratch_gva;
	peb->scratch_size = l->scratch_size;
	peb->input_gva = l->scratch_gva + l->input_offset;
	peb->input_size = l->input_size;
	peb->output_gva = l->scratch_gva + l->output_offset;
	peb->output_size = l->output_size;
	peb->stack_top_gva = l->scratch_gva + l->stack_top_offset;
	peb->stack_size = l->stack_size;
	peb->exn_stack_top_gva = l->scratch_gva + l->exn_stack_top_offset;
	peb->exn_stack_size = l->exn_stack_size;
	peb->pt_gpa = l->pt_gpa;
	peb->pt_size = l->pt_reserve;
	peb->alloc_gpa = l->scratch_gpa + l->alloc_offset;
}

static void line(FILE *f, const char *what, uint64_t gpa, uint64_t gva, uint64_t size)
{
	fprintf(f, "  %-22s gpa 0x%011llx  gva 0x%012llx  size 0x%llx (%llu KiB)\n", what,
	        (unsigned long long)gpa, (unsigned long long)gva, (unsigned long long)size,
	        (unsigned long long)(size >> 10));
}

void nub_layout_print(const struct nub_layout *l, FILE *f)
{
	const uint64_t s = l->scratch_gpa, v = l->scratch_gva;

	fprintf(f, "snapshot region (shared, read-only at the hypervisor):\n");
	line(f, "PEB", l->peb_gpa, l->peb_gpa, PAGE);
	line(f, "GDT/TSS/IDT (supv.)", l->sys_tables_gpa, l->sys_tables_gpa, PAGE);
	line(f, "exception stubs (CPL0)", l->sys_stubs_gpa, l->sys_stubs_gpa, PAGE);
	line(f, "ELF image", l->image_gpa, l->image_gpa, l->image_size);
	line(f, "init data", l->init_data_gpa, l->init_data_gpa, l->init_data_size);
	if (l->args_size)
		line(f, "args, environment", l->args_gpa, l->args_gpa, l->args_size);
	if (l->files_size)
		line(f, "file tree (read-only)", l->files_gpa, l->files_gpa, l->files_size);
	line(f, "heap", l->heap_gpa, l->heap_gpa, l->heap_size);
	fprintf(f, "scratch region (private), 0x%llx bytes:\n",
	        (unsigned long long)l->scratch_size);
	line(f, "page tables (supv.)", s + l->pt_offset, v + l->pt_offset, l->pt_reserve);
	line(f, "input buffer", s + l->input_offset, v + l->input_offset, l->input_size);
	line(f, "output buffer", s + l->output_offset, v + l->output_offset, l->output_size);
	line(f, "allocator (CoW pages)", s + l->alloc_offset, v + l->alloc_offset,
	     l->alloc_limit_offset - l->alloc_offset);
	line(f, "stack guard", s + l->stack_guard_offset, v + l->stack_guard_offset, PAGE);
	line(f, "stack", s + l->stack_guard_offset + PAGE, v + l->stack_guard_offset + PAGE,
	     l->stack_size);
	line(f, "exception stack guard", s + l->exn_stack_guard_offset,
	     v + l->exn_stack_guard_offset, PAGE);
	line(f, "exception stack (supv.)", s + l->exn_stack_guard_offset + PAGE,
	     v + l->exn_stack_guard_offset + PAGE, l->exn_stack_size);
	line(f, "bookkeeping (read-only)", s + l->bookkeeping_offset, v + l->bookkeeping_offset,
	     PAGE);
	fprintf(f, "doorbells (no memory; every store exits; each page's last 8 bytes):\n");
	for (unsigned k = 0; k < NUB_DOORBELL_COUNT; k++)
		line(f, nub_layout_doorbell_name(k), NUB_DOORBELL_GPA_OF(k) - NUB_DOORBELL_SLOT,
		     NUB_DOORBELL_GVA_OF(k) - NUB_DOORBELL_SLOT, PAGE);
}
