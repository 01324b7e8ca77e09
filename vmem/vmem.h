/* SPDX-License-Identifier: MIT */
/**
 * @file vmem.h
 * x86-64 4-level page tables: one implementation used to build tables in a
 * host buffer (new snapshots), to walk tables living in guest memory
 * (capture, copy-on-write, the heap measure, tests), and inside the mock's
 * vCPU process, in its signal handler, to map guest pages. Freestanding:
 * needs only <stdint.h> and <stddef.h>, references no symbol.
 *
 * Internal to nub: the ground floor core and the in-tree backends share
 * (vmem/, one library target); not installed, and not part of libnub's
 * API. A backend written from the installed headers does not need it.
 *
 * All table storage is reached through `struct nub_vmem_ops`, so the same
 * code works wherever the tables are. Tables are addressed by GPA.
 */
#ifndef NUB_VMEM_H
#define NUB_VMEM_H

#include <stddef.h>
#include <stdint.h>

#include <nub/error.h>
#include <nub/types.h>

/** Kind of a mapping. */
enum nub_vmem_kind {
	NUB_VMEM_UNMAPPED = 0,
	NUB_VMEM_BASIC = 1, /**< present; writable iff NUB_VMEM_W */
	NUB_VMEM_COW = 2,   /**< present, read-only, PTE bit 9 set; never writable */
};

/** Permission bits of a mapping. */
enum nub_vmem_perm {
	NUB_VMEM_R = 1u << 0, /**< implied by BASIC and COW */
	NUB_VMEM_W = 1u << 1, /**< BASIC only */
	NUB_VMEM_X = 1u << 2, /**< clear: NX set in the leaf */
	NUB_VMEM_USER = 1u << 3,
};

/**
 * Where the tables live. Every callback returns 0 or a negative nub error.
 * `read_entry` of a table GPA the context cannot resolve must set *entry to
 * 0 ("not present") and return 0, never fault; `write_entry` to such a GPA
 * returns NUB_ERANGE. `alloc_table` returns the GPA of a zeroed 4 KiB page.
 */
struct nub_vmem_ops {
	void *ctx;
	int (*read_entry)(void *ctx, nub_gpa_t table, unsigned index, uint64_t *entry);
	int (*write_entry)(void *ctx, nub_gpa_t table, unsigned index, uint64_t entry);
	int (*alloc_table)(void *ctx, nub_gpa_t *table);
	nub_gpa_t root; /**< GPA of the PML4 */
};

/** A page-aligned range of virtual memory and what it maps to. */
struct nub_vmem_mapping {
	nub_gva_t gva;
	nub_gpa_t gpa;  /**< ignored for NUB_VMEM_UNMAPPED */
	uint64_t len;   /**< bytes, page multiple, > 0 */
	uint32_t kind;  /**< enum nub_vmem_kind */
	uint32_t perms; /**< enum nub_vmem_perm */
};

/**
 * Map [gva, gva+len) to [gpa, gpa+len) with 4 KiB leaves, allocating
 * intermediate tables on demand and replacing existing leaves. Errors:
 * NUB_EINVAL (unaligned, zero length, COW with W, bad kind), NUB_ERANGE
 * (wraps, or beyond the 48-bit canonical lower half or 52-bit GPA),
 * allocator/write errors as returned by ops. All checks happen before the
 * first write; on an allocator failure mid-way the leaves written so far
 * describe exactly what was mapped (never a half-written entry).
 */
int nub_vmem_map(const struct nub_vmem_ops *ops, const struct nub_vmem_mapping *m);

/** Remove the leaves of [gva, gva+len); tables are not freed. */
int nub_vmem_unmap(const struct nub_vmem_ops *ops, nub_gva_t gva, uint64_t len);

/** Translate one GVA. *m receives the page containing gva (len 4096) with
 * its kind and perms; kind NUB_VMEM_UNMAPPED when not present. */
int nub_vmem_translate(const struct nub_vmem_ops *ops, nub_gva_t gva, struct nub_vmem_mapping *m);

/** Iterator over the mapped runs of a GVA range; no allocation. */
struct nub_vmem_iter {
	const struct nub_vmem_ops *ops;
	nub_gva_t next, end;
	int error;
};

/** Start iterating over [gva, gva+len). */
void nub_vmem_iter_init(struct nub_vmem_iter *it, const struct nub_vmem_ops *ops, nub_gva_t gva,
                        uint64_t len);

/**
 * Next coalesced run, in increasing GVA order: consecutive pages whose GPAs
 * are consecutive and whose kind and perms are equal. Returns 1 with *run
 * filled, 0 at the end, or a negative error (also left in it->error).
 */
int nub_vmem_iter_next(struct nub_vmem_iter *it, struct nub_vmem_mapping *run);

/* ---- several roots over the same table storage ---- */

/** A sub-table reached from a later root that an earlier root (or an
 * earlier entry of the same root) already reaches: shared, not walked
 * again. */
struct nub_vmem_shared {
	unsigned root;  /**< index of the root reaching it again */
	unsigned owner; /**< index of the root that reached it first */
	int level;      /**< 2: PDPT, 1: PD, 0: page table */
	nub_gva_t gva;  /**< first address it covers under `root` */
	nub_gpa_t table;
};

/**
 * Called for each leaf run (`run` non-NULL; coalesced as by the iterator
 * within one table walk) and each shared sub-table (`shared` non-NULL), in
 * root order and increasing GVA. A non-zero return stops the walk and is
 * returned.
 */
typedef int (*nub_vmem_walk_fn)(void *user, unsigned root, const struct nub_vmem_mapping *run,
                                const struct nub_vmem_shared *shared);

/**
 * Walk `n` roots (all readable through `ops`; ops->root is ignored).
 * `seen`/`seen_cap` is caller-provided scratch (no allocation): one slot per
 * distinct sub-table; NUB_EFULL when it is too small.
 */
int nub_vmem_walk_roots(const struct nub_vmem_ops *ops, const nub_gpa_t *roots, unsigned n,
                        struct nub_vmem_shared *seen, size_t seen_cap, nub_vmem_walk_fn fn,
                        void *user);

/**
 * Make the entry covering `gva` at `level` (2: PML4 entry -> PDPT, 1: PDPT
 * entry -> PD, 0: PD entry -> page table) in the tables rooted at
 * ops->root point to the existing sub-table `table`, allocating the
 * intermediate tables above it. Shares the sub-table instead of copying
 * it. NUB_EINVAL for a bad level or a gva not aligned to the span the
 * sub-table covers.
 */
int nub_vmem_link_table(const struct nub_vmem_ops *ops, nub_gva_t gva, int level, nub_gpa_t table);

#endif
