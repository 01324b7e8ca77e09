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

#include "vmem.h"

#include "memory/layout.h"
#include "memory/shmem.h"

/* Bit i of a page bitmap (a snapshot's `present` map, a file's page map). */
static inline int nub_page_bit(const uint64_t *map, uint64_t i)
{
	return (int)((map[i / 64] >> (i % 64)) & 1);
}

/* The copies the host made since the snapshot's tables were last written
 * into scratch: where each copy is (scratch offset) and what it copies (an
 * offset in the snapshot's visible part, or NUB_COPY_ZERO for a page the
 * snapshot knows to be zero). A restore to the same snapshot keeps the
 * live tables and puts every copy back to its source in place, instead of
 * making the guest fault for each again. `lost` is set when one could not
 * be recorded or has no source in the snapshot (then the next restore
 * rewrites the tables). */
#define NUB_COPY_ZERO UINT64_MAX
struct nub_copy {
	uint64_t src_off, copy_off;
};
struct nub_copies {
	struct nub_copy *v;
	uint64_t n, cap;
	int lost;
};

void nub_copies_clear(struct nub_copies *k);
void nub_copies_free(struct nub_copies *k);

/* Guest memory beyond the snapshot and scratch: the host's mappings
 * (host memory a copy-on-write mapping's copies come from). */
struct nub_view_extra {
	nub_gpa_t gpa;
	uint64_t size;
	const void *host;
};

/* The view of one sandbox, built by the lifecycle (nub_sandbox_view). */
struct nub_view {
	const struct nub_layout *l;
	const struct nub_shmem *snapshot; /* the mapped snapshot: visible part first */
	const uint64_t *present;          /* its page bitmap (struct nub_snapshot) */
	uint64_t visible_size;
	struct nub_shmem *scratch;
	uint64_t *next;            /* scratch offset of the next free page; advanced here */
	struct nub_copies *copies; /* every copy made is added; NULL: none kept */
	const struct nub_view_extra *extra;
	unsigned nextra;
	nub_gpa_t gpa_base; /* the VM's window (hv.h); the live tables hold it */
};

/* Map [m->gva, +m->len) in the live tables as `m` says, tables taken from
 * the copy area like copies are. NUB_EFULL when it has no page left;
 * other negative codes for tables that cannot be followed. */
int nub_view_map(const struct nub_view *c, const struct nub_vmem_mapping *m, struct nub_error *err);
/* Remove the leaves of [gva, +len) from the live tables. */
int nub_view_unmap(const struct nub_view *c, nub_gva_t gva, uint64_t len, struct nub_error *err);

/* Resolve a write fault at `addr`: 1 when the page was CoW and now is a
 * private writable copy; 0 when it is not a CoW page (a real fault);
 * NUB_EFULL when scratch has no page left for the copy (or a table split);
 * other negative codes for tables that cannot be followed. */
int nub_view_resolve_cow(const struct nub_view *c, nub_gva_t addr, struct nub_error *err);

/* The working set: pages the guest wrote through CoW lately. Restore
 * copies them again before the guest runs (nub_view_prefetch), which costs
 * a 4 KiB copy each instead of an exit each (~25 us on the software KVM).
 * Round-robin replacement when full. 512 pages (2 MiB of copies at most):
 * an interpreter's first call writes ~150 (CPython's exec), which a set of
 * 32 could never hold. */
#define NUB_HOT_MAX 512u
struct nub_hot_set {
	nub_gva_t page[NUB_HOT_MAX];
	unsigned n, next;
};

void nub_hot_add(struct nub_hot_set *h, nub_gva_t page);

/* What init may put in the set: its last pages written, the ones the first
 * calls most likely write again (the heap's top, the stack). Init writes
 * far more pages than calls do again, and every page in the set is copied
 * ahead by every restore. */
#define NUB_HOT_INIT_MAX 32u

/* nub_hot_add, replacing round-robin among the first `limit` slots once
 * `limit` are taken (limit <= NUB_HOT_MAX). */
void nub_hot_add_bounded(struct nub_hot_set *h, nub_gva_t page, unsigned limit);

/* Resolve every CoW page of `h` now; pages no longer CoW are skipped, and
 * it stops quietly when scratch is full (the guest then faults for the
 * rest). *all: 1 when no page of `h` is left copy-on-write. Returns the
 * number copied, or a negative code for tables that cannot be followed. */
int nub_view_prefetch(const struct nub_view *c, const struct nub_hot_set *h, int *all,
                      struct nub_error *err);

/* Put every copy of `k` back to its source (the snapshot's bytes, or
 * zeros): the state a fresh copy would have. Returns the number of pages
 * written; NUB_ECORRUPT for a record outside the snapshot or scratch. */
int64_t nub_view_refresh_copies(const struct nub_view *c, const struct nub_copies *k,
                                struct nub_error *err);

/* How many pages the live tables map copy-on-write now: at most that many
 * more copies can be made (each page is copied once, then mapped to its
 * copy). A negative code for tables that cannot be followed. */
int64_t nub_view_count_cow(const struct nub_view *c);

/* The parts of scratch the live tables map writable -- to the guest or to
 * the CPU at CPL0 (exception frames) -- apart from the `nskip` ranges of
 * `skip` (what the host owns: the tables themselves, mapped for CPL0, and
 * the copies): what a restore that keeps the tables must clear. Written
 * to `out` as page-aligned [off, off+len) runs, merged, in GVA order;
 * NUB_EFULL when more than `cap` runs. Returns the number of runs. */
struct nub_range {
	uint64_t off, len;
};
int nub_view_writable_scratch(const struct nub_view *c, const struct nub_range *skip,
                              unsigned nskip, struct nub_range *out, unsigned cap);

/* Read `len` bytes of guest-virtual memory through the live page tables
 * (any privilege); NUB_ERANGE when a page is not mapped. */
int nub_view_read_gva(const struct nub_view *c, nub_gva_t gva, void *dst, uint64_t len);

/* Call fn for each run the live tables map in [gva, gva+len), in GVA
 * order, as nub_vmem_iter_next coalesces them; a non-zero return of fn
 * stops the walk and is returned, as is a negative code for tables that
 * cannot be followed. */
typedef int (*nub_view_run_fn)(void *user, const struct nub_vmem_mapping *run);
int nub_view_runs(const struct nub_view *c, nub_gva_t gva, uint64_t len, nub_view_run_fn fn,
                  void *user);

/* Count the pages of [gva, gva+len) (page-aligned) that hold a non-zero
 * byte, wherever the live tables map them (snapshot or scratch copy): the
 * pages the guest has written, as far as anyone can tell (a prefetched
 * copy of a zero page is not one). Measured from the tables and the memory
 * itself, so the guest cannot misreport it.
 * NUB_ERANGE for an unmapped page, NUB_ECORRUPT for one mapping outside
 * guest memory. */
int nub_view_count_written(const struct nub_view *c, nub_gva_t gva, uint64_t len, uint64_t *pages);

#endif

/* What a debugger reads and writes: the guest's memory as a CPL3 guest
 * sees it (never a page the host owns). Writes go only to pages that are
 * the sandbox's own (scratch): never to the snapshot several sandboxes
 * share, nor to a copy-on-write page not copied yet (its copy would be
 * made behind the back of a CPU that may hold the old translation).
 * NUB_ERANGE for an unmapped or supervisor page, NUB_ESTATE for a page
 * not the sandbox's own. */
int nub_view_read_user(const struct nub_view *c, nub_gva_t gva, void *dst, uint64_t len);
int nub_view_write_user(const struct nub_view *c, nub_gva_t gva, const void *src, uint64_t len);

/* Give every executable CPL3 page that maps the snapshot a private copy
 * in scratch (recorded in c->copies, so restores in place refresh it),
 * mapped as before: where a debugger's breakpoints can go. Only before the
 * guest first runs on these tables: a CPU or shadow MMU that has used the
 * old mapping may keep using it. Returns the pages copied, or a negative
 * code with err set (NUB_EFULL: no scratch left). */
int64_t nub_view_privatize_code(const struct nub_view *c, struct nub_error *err);
