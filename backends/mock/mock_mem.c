/* SPDX-License-Identifier: MIT */
/* Guest-physical memory of a mock VM: its regions, bounds-checked, and the
 * page-table entries in them. Called by the interpreter in the host process
 * and by the process vCPU's child in its signal handler, so it is built
 * with the child's code (CMakeLists.txt: no stack protector, checked). */
#include "mock.h"

struct nub_region *mock_region_of(struct nub_vm *vm, nub_gpa_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < MOCK_MAX_SLOTS; i++) {
		struct nub_region *r = &vm->regions[i];
		if (r->size && len <= r->size && gpa >= r->gpa && gpa - r->gpa <= r->size - len)
			return r;
	}
	return NULL;
}

int mock_read_entry(void *ctx, nub_gpa_t table, unsigned index, uint64_t *entry)
{
	nub_gpa_t gpa = table + (uint64_t)index * 8;
	struct nub_region *r = mock_region_of(ctx, gpa, 8);

	*entry = r ? *(volatile uint64_t *)((uint8_t *)r->host + (gpa - r->gpa)) : 0;
	return 0;
}

int mock_write_entry(void *ctx, nub_gpa_t table, unsigned index, uint64_t entry)
{
	nub_gpa_t gpa = table + (uint64_t)index * 8;
	struct nub_region *r = mock_region_of(ctx, gpa, 8);

	if (!r || !(r->flags & NUB_MEM_WRITE))
		return NUB_ERANGE;
	*(volatile uint64_t *)((uint8_t *)r->host + (gpa - r->gpa)) = entry;
	return 0;
}
