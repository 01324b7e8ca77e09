/* SPDX-License-Identifier: MIT */
/*
 * The guest memory view: guest memory as the live page tables map it, over
 * the snapshot mapped now and the sandbox's scratch. Through it the host
 * does copy-on-write (guest ABI 2: a guest write to a CoW page faults into
 * a host stub, which exits; the host copies the page into scratch, points
 * the live leaf at the copy, writable, and resumes the stub, which returns
 * to the faulting instruction), copies the working set back at restore,
 * reads guest-virtual bytes (instructions it names) and measures the heap.
 * The host, not the guest, allocates the copies, so nothing the guest can
 * write decides where the host writes.
 */
#ifndef NUB_CORE_MEMORY_VIEW_H
#define NUB_CORE_MEMORY_VIEW_H

#include <stdint.h>

#include <nub/error.h>
#include <nub/types.h>

#include "memory/layout.h"
#include "memory/shmem.h"

/* Bit i of a page bitmap (a snapshot's `present` map, a file's page map). */
static inline int nub_page_bit(const uint64_t *map, uint64_t i)
{
	return (int)((map[i / 64] >> (i % 64)) & 1);
}

/* The view of one sandbox, built by the lifecycle (nub_sandbox_view). */
struct nub_view {
	const struct nub_layout *l;
	const struct nub_shmem *snapshot; /* the mapped snapshot: visible part first */
	const uint64_t *present;          /* its page bitmap (struct nub_snapshot) */
	uint64_t visible_size;
	struct nub_shmem *scratch;
	uint64_t *next; /* scratch offset of the next free page; advanced here */
};

/* Resolve a write fault at `addr`: 1 when the page was CoW and now is a
 * private writable copy; 0 when it is not a CoW page (a real fault);
 * NUB_EFULL when scratch has no page left for the copy (or a table split);
 * other negative codes for tables that cannot be followed. */
int nub_view_resolve_cow(const struct nub_view *c, nub_gva_t addr, struct nub_error *err);

/* The working set: pages the guest wrote through CoW lately. Restore
 * copies them again before the guest runs (nub_view_prefetch), which costs
 * a 4 KiB copy each instead of an exit each (~25 us on the software KVM).
 * Round-robin replacement when full. */
#define NUB_HOT_MAX 32u
struct nub_hot_set {
	nub_gva_t page[NUB_HOT_MAX];
	unsigned n, next;
};

void nub_hot_add(struct nub_hot_set *h, nub_gva_t page);

/* Resolve every CoW page of `h` now; pages no longer CoW are skipped, and
 * it stops quietly when scratch is full (the guest then faults for the
 * rest). Returns the number copied, or a negative code for tables that
 * cannot be followed. */
int nub_view_prefetch(const struct nub_view *c, const struct nub_hot_set *h, struct nub_error *err);

/* Read `len` bytes of guest-virtual memory through the live page tables
 * (any privilege); NUB_ERANGE when a page is not mapped. */
int nub_view_read_gva(const struct nub_view *c, nub_gva_t gva, void *dst, uint64_t len);

/* Count the pages of [gva, gva+len) (page-aligned) that hold a non-zero
 * byte, wherever the live tables map them (snapshot or scratch copy): the
 * pages the guest has written, as far as anyone can tell (a prefetched
 * copy of a zero page is not one). Measured from the tables and the memory
 * itself, so the guest cannot misreport it.
 * NUB_ERANGE for an unmapped page, NUB_ECORRUPT for one mapping outside
 * guest memory. */
int nub_view_count_written(const struct nub_view *c, nub_gva_t gva, uint64_t len, uint64_t *pages);

#endif
