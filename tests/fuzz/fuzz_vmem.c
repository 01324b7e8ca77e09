/* SPDX-License-Identifier: MIT */
/*
 * Fuzz vmem: bytes decode into map/unmap/translate operations on a table
 * buffer inside a small window of the address space (two windows straddling
 * a 1 GiB and a 512 GiB boundary), checked against a flat model. Any
 * mismatch aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmem.h"
#include <nub/guest_abi.h>

#include "memory/vmem_host.h"

#define PAGE      NUB_PAGE_SIZE
#define WIN_PAGES 1024u

static const uint64_t windows[2] = {0x40000000ull - 512 * PAGE, 0x8000000000ull - 512 * PAGE};

struct model_entry {
	uint64_t pa;
	uint32_t kind, perms;
};

static struct model_entry model[2][WIN_PAGES];

static uint64_t take(const uint8_t **p, size_t *n, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes && *n; i++, (*p)++, (*n)--)
		v |= (uint64_t) * *p << (8 * i);
	return v;
}

static void check_page(const struct nub_vmem_ops *ops, unsigned w, unsigned page)
{
	struct nub_vmem_mapping t;
	const struct model_entry *e = &model[w][page];

	if (nub_vmem_translate(ops, windows[w] + (uint64_t)page * PAGE, &t))
		abort();
	if (t.kind != e->kind)
		abort();
	if (e->kind != NUB_VMEM_UNMAPPED && (t.gpa != e->pa || t.perms != e->perms))
		abort();
}

static void check_runs(const struct nub_vmem_ops *ops)
{
	for (unsigned w = 0; w < 2; w++) {
		struct nub_vmem_iter it;
		struct nub_vmem_mapping run;
		unsigned next = 0;
		nub_vmem_iter_init(&it, ops, windows[w], WIN_PAGES * PAGE);
		while (nub_vmem_iter_next(&it, &run) == 1) {
			unsigned first = (unsigned)((run.gva - windows[w]) / PAGE);
			for (unsigned p = next; p < first; p++)
				if (model[w][p].kind != NUB_VMEM_UNMAPPED)
					abort();
			for (unsigned p = first; p < first + run.len / PAGE; p++) {
				const struct model_entry *e = &model[w][p];
				if (e->kind != run.kind || e->perms != run.perms ||
				    e->pa != run.gpa + (uint64_t)(p - first) * PAGE)
					abort();
			}
			next = first + (unsigned)(run.len / PAGE);
		}
		for (unsigned p = next; p < WIN_PAGES; p++)
			if (model[w][p].kind != NUB_VMEM_UNMAPPED)
				abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nub_vmem_buf buf;
	struct nub_vmem_ops ops;

	memset(model, 0, sizeof(model));
	if (nub_vmem_buf_init(&buf, 0x100000, 64 * PAGE, NULL))
		abort();
	nub_vmem_buf_ops(&buf, &ops);
	while (size >= 6) {
		uint64_t op = take(&data, &size, 1);
		unsigned w = op & 1;
		unsigned first = (unsigned)take(&data, &size, 2) % WIN_PAGES;
		unsigned count = 1 + (unsigned)take(&data, &size, 1) % 64;
		uint64_t pa = (take(&data, &size, 2) & 0xfff) * PAGE;
		struct nub_vmem_mapping m = {.gva = windows[w] + (uint64_t)first * PAGE, .gpa = pa};
		if (first + count > WIN_PAGES)
			count = WIN_PAGES - first;
		m.len = (uint64_t)count * PAGE;
		m.kind = (op >> 1) % 3;
		m.perms = (uint32_t)((op >> 3) & (NUB_VMEM_W | NUB_VMEM_X | NUB_VMEM_USER));
		if (m.kind == NUB_VMEM_COW)
			m.perms &= ~NUB_VMEM_W;
		if (nub_vmem_map(&ops, &m) == 0) {
			for (unsigned p = 0; p < count; p++) {
				struct model_entry *e = &model[w][first + p];
				e->kind = m.kind;
				e->pa = pa + (uint64_t)p * PAGE;
				e->perms = m.perms | NUB_VMEM_R;
			}
		} else {
			/* Every decoded mapping is valid and the two windows
			 * need at most 13 of the 64 tables: a refusal is a bug. */
			abort();
		}
		check_page(&ops, w, first);
		check_page(&ops, w, (first + count - 1) % WIN_PAGES);
	}
	check_runs(&ops);
	nub_vmem_buf_free(&buf);
	return 0;
}
