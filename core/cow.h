/* SPDX-License-Identifier: MIT */
/*
 * Copy-on-write, done by the host (guest ABI 2). A guest write to a CoW
 * page faults into a host stub, which exits; the host copies the page into
 * scratch, points the live page-table leaf at the copy (writable, CoW bit
 * clear) and resumes the stub, which returns to the faulting instruction.
 * The host, not the guest, allocates the copies, so nothing the guest can
 * write decides where the host writes.
 */
#ifndef NUB_CORE_COW_H
#define NUB_CORE_COW_H

#include <stdint.h>

#include <nub/error.h>
#include <nub/types.h>

#include "layout.h"
#include "shmem.h"

/* Bit i of a page bitmap (a snapshot's `present` map, a file's page map). */
static inline int nub_page_bit(const uint64_t *map, uint64_t i)
{
	return (int)((map[i / 64] >> (i % 64)) & 1);
}

struct nub_cow {
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
int nub_cow_resolve(const struct nub_cow *c, nub_gva_t addr, struct nub_error *err);

/* The working set: pages the guest wrote through CoW lately. Restore
 * copies them again before the guest runs (nub_cow_prefetch), which costs
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
int nub_cow_prefetch(const struct nub_cow *c, const struct nub_hot_set *h, struct nub_error *err);

/* Read `len` bytes of guest-virtual memory through the live page tables
 * (any privilege); NUB_ERANGE when a page is not mapped. */
int nub_cow_read_gva(const struct nub_cow *c, nub_gva_t gva, void *dst, uint64_t len);

/* Count the pages of [gva, gva+len) (page-aligned) that hold a non-zero
 * byte, wherever the live tables map them (snapshot or scratch copy): the
 * pages the guest has written, as far as anyone can tell (a prefetched
 * copy of a zero page is not one). Measured from the tables and the memory
 * itself, so the guest cannot misreport it.
 * NUB_ERANGE for an unmapped page, NUB_ECORRUPT for one mapping outside
 * guest memory. */
int nub_cow_count_written(const struct nub_cow *c, nub_gva_t gva, uint64_t len, uint64_t *pages);

#endif
