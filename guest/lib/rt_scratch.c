/* SPDX-License-Identifier: MIT */
/* The scratch page allocator and the vmem context for the live page
 * tables. Bookkeeping words hold GPAs; scratch is mapped linearly, so a
 * scratch GPA is reached at scratch_gva + (gpa - scratch_gpa). Nothing here
 * writes outside scratch: it runs inside the copy-on-write fault handler. */
#include <nub/error.h>

#include "nub_string.h"
#include "rt.h"

void *rt_scratch_ptr(const struct nub_peb *peb, uint64_t gpa)
{
	return (void *)(peb->scratch_gva + (gpa - peb->scratch_gpa));
}

volatile uint64_t *rt_scratch_word(const struct nub_peb *peb, unsigned top_offset)
{
	return (volatile uint64_t *)(peb->scratch_gva + peb->scratch_size - top_offset);
}

int rt_scratch_alloc(const struct nub_peb *peb, unsigned n, uint64_t *gpa)
{
	volatile uint64_t *cursor = rt_scratch_word(peb, NUB_SCRATCH_TOP_ALLOCATOR);
	uint64_t cur = *cursor;
	uint64_t limit = *rt_scratch_word(peb, NUB_SCRATCH_TOP_ALLOC_LIMIT);
	uint64_t top = peb->scratch_gpa + peb->scratch_size - NUB_SCRATCH_BOOKKEEPING_SIZE;
	if ((cur & (NUB_PAGE_SIZE - 1)) || cur < peb->scratch_gpa || limit > top || cur > limit)
		return NUB_ECORRUPT;
	uint64_t bytes = (uint64_t)n * NUB_PAGE_SIZE;
	if (limit - cur < bytes)
		return NUB_EFULL;
	*cursor = cur + bytes;
	memset(rt_scratch_ptr(peb, cur), 0, bytes);
	*gpa = cur;
	return 0;
}

/* Page-table GPA -> pointer, or NULL if the table is not inside scratch. */
static uint64_t *table_ptr(const struct nub_peb *peb, nub_gpa_t table, unsigned index)
{
	if (table < peb->scratch_gpa || table - peb->scratch_gpa >= peb->scratch_size ||
	    (table & (NUB_PAGE_SIZE - 1)) || index >= 512)
		return NULL;
	return (uint64_t *)rt_scratch_ptr(peb, table) + index;
}

static int vm_read_entry(void *ctx, nub_gpa_t table, unsigned index, uint64_t *entry)
{
	uint64_t *p = table_ptr(ctx, table, index);
	*entry = p ? *(volatile uint64_t *)p : 0;
	return 0;
}

static int vm_write_entry(void *ctx, nub_gpa_t table, unsigned index, uint64_t entry)
{
	uint64_t *p = table_ptr(ctx, table, index);
	if (!p)
		return NUB_ERANGE;
	*(volatile uint64_t *)p = entry;
	return 0;
}

static int vm_alloc_table(void *ctx, nub_gpa_t *table)
{
	return rt_scratch_alloc(ctx, 1, table);
}

void rt_vmem_ops(const struct nub_peb *peb, struct nub_vmem_ops *ops)
{
	uint64_t cr3;
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	ops->ctx = (void *)peb;
	ops->read_entry = vm_read_entry;
	ops->write_entry = vm_write_entry;
	ops->alloc_table = vm_alloc_table;
	ops->root = cr3 & NUB_PTE_ADDR_MASK;
}
