/* SPDX-License-Identifier: MIT */
/*
 * What the vCPU process last mapped from: a copy of every page of the
 * guest's page tables (and CR3, CR0, CR4, EFER) at the moment the host
 * last told the child to map from them. Re-mapping everything costs the
 * child a few hundred system calls; a restore in place writes the segments
 * and never a table, so a set_sregs that finds the tables as the child saw
 * them leaves its mappings alone. The comparison is on the bytes of every
 * table page reachable from CR3, visited in the same order: equal bytes,
 * equal mappings. A page the child re-maps alone (a resolved fault) makes
 * the record stale until the next full re-map: in the common loop of calls
 * and restores in place a call faults on no page at all.
 */
#include <stdlib.h>
#include <string.h>

#include <nub/guest_abi.h>

#include "mock.h"
#include "mock_proc.h"

#define PAGE NUB_PAGE_SIZE
/* More table pages than this: not recorded, every set_sregs re-maps. */
#define MOCK_TABLES_MAX 4096u

struct mock_tables {
	uint64_t cr0, cr3, cr4, efer;
	size_t n, cap;
	uint64_t *gpa;  /* table pages in visiting order */
	uint8_t *bytes; /* n pages */
	int valid;
};

/* The host bytes of the table page at gpa, or NULL (outside every region:
 * it reads as zeros, as mock_read_entry reads it). */
static const uint8_t *table_page(struct nub_vm *vm, uint64_t gpa)
{
	struct nub_region *r = mock_region_of(vm, gpa, PAGE);

	return r ? (const uint8_t *)r->host + (gpa - r->gpa) : NULL;
}

typedef int (*visit_fn)(struct mock_tables *t, size_t i, uint64_t gpa, const uint8_t *page);

/* Visit each table page reachable from cr3, depth first; 0, or the first
 * non-zero a visit returned (-1: too many pages). */
static int walk(struct nub_vm *vm, struct mock_tables *t, uint64_t table, int level, size_t *i,
                visit_fn visit)
{
	const uint8_t *page = table_page(vm, table);
	int rc;

	if (*i >= MOCK_TABLES_MAX)
		return -1;
	rc = visit(t, (*i)++, table, page);
	if (rc || !page || level == 1)
		return rc;
	for (unsigned k = 0; k < PAGE / 8; k++) {
		uint64_t e;
		memcpy(&e, page + 8 * k, 8);
		if (!(e & NUB_PTE_P) || (level < 4 && (e & NUB_PTE_PS)))
			continue;
		rc = walk(vm, t, e & NUB_PTE_ADDR_MASK, level - 1, i, visit);
		if (rc)
			return rc;
	}
	return 0;
}

static int visit_record(struct mock_tables *t, size_t i, uint64_t gpa, const uint8_t *page)
{
	if (i == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		uint64_t *g = realloc(t->gpa, cap * sizeof(*g));
		if (!g)
			return -1;
		t->gpa = g;
		uint8_t *b = realloc(t->bytes, cap * PAGE);
		if (!b)
			return -1;
		t->bytes = b;
		t->cap = cap;
	}
	t->gpa[i] = gpa;
	if (page)
		memcpy(t->bytes + i * PAGE, page, PAGE);
	else
		memset(t->bytes + i * PAGE, 0, PAGE);
	t->n = i + 1;
	return 0;
}

static int visit_compare(struct mock_tables *t, size_t i, uint64_t gpa, const uint8_t *page)
{
	static const uint8_t zero[PAGE];

	if (i >= t->n || t->gpa[i] != gpa)
		return 1;
	return memcmp(t->bytes + i * PAGE, page ? page : zero, PAGE) != 0;
}

struct mock_tables *mock_tables_new(void)
{
	return calloc(1, sizeof(struct mock_tables));
}

void mock_tables_free(struct mock_tables *t)
{
	if (!t)
		return;
	free(t->gpa);
	free(t->bytes);
	free(t);
}

void mock_tables_record(struct mock_tables *t, struct nub_vm *vm)
{
	size_t i = 0;

	if (!t)
		return;
	t->n = 0;
	t->cr0 = vm->sregs.cr0;
	t->cr3 = vm->sregs.cr3;
	t->cr4 = vm->sregs.cr4;
	t->efer = vm->sregs.efer;
	t->valid = walk(vm, t, vm->sregs.cr3 & NUB_PTE_ADDR_MASK, 4, &i, visit_record) == 0;
}

void mock_tables_forget(struct mock_tables *t)
{
	if (t)
		t->valid = 0;
}

int mock_tables_unchanged(struct mock_tables *t, struct nub_vm *vm, const struct nub_sregs *s)
{
	size_t i = 0;

	if (!t || !t->valid || s->cr0 != t->cr0 || s->cr3 != t->cr3 || s->cr4 != t->cr4 ||
	    s->efer != t->efer)
		return 0;
	return walk(vm, t, s->cr3 & NUB_PTE_ADDR_MASK, 4, &i, visit_compare) == 0 && i == t->n;
}
