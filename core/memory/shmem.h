/* SPDX-License-Identifier: MIT */
/*
 * Guest memory regions: anonymous mappings with a PROT_NONE guard page on
 * each side, reference-counted, and the one family of bounds-checked
 * accessors through which the host touches guest-writable memory.
 */
#ifndef NUB_CORE_SHMEM_H
#define NUB_CORE_SHMEM_H

#include <stddef.h>
#include <stdint.h>

#include <nub/error.h>

/* Largest region nub creates (a snapshot or a scratch). */
#define NUB_SHMEM_MAX (64ull << 30)

struct nub_shmem;

/* A region of `size` bytes (page multiple, 1..NUB_SHMEM_MAX), zeroed, with
 * one reference, private to this process: a forked child does not inherit
 * it (MADV_DONTFORK). NUB_EINVAL / NUB_EOVERFLOW / NUB_ESYS (mmap)
 * otherwise. */
int nub_shmem_create(uint64_t size, struct nub_shmem **out, struct nub_error *err);
/* The same, MAP_SHARED: a backend may map the pages a second time (the
 * mock's vCPU process aliases them at their guest addresses), and a forked
 * child shares them. Snapshots are always shared (a child makes sandboxes
 * from its parent's snapshots, and fork() leaves a shared mapping's pages
 * and KVM's view of them alone); scratch is when the backend asks
 * (NUB_CAP_SHARED_MEMORY), since zeroing shared pages (MADV_REMOVE) and
 * faulting them back cost more than private ones. */
int nub_shmem_create_shared(uint64_t size, struct nub_shmem **out, struct nub_error *err);
struct nub_shmem *nub_shmem_ref(struct nub_shmem *m);
/* Drop a reference; the last one unmaps (once). NULL accepted. */
void nub_shmem_unref(struct nub_shmem *m);

/* Base address, for handing to a hypervisor, and for trusted host reads of
 * sealed (immutable, host-built) regions. */
void *nub_shmem_host(const struct nub_shmem *m);
uint64_t nub_shmem_size(const struct nub_shmem *m);

/* Make the region immutable: the host mapping becomes read-only and every
 * later write through the accessors fails with NUB_ESTATE. */
int nub_shmem_seal(struct nub_shmem *m, struct nub_error *err);
int nub_shmem_is_sealed(const struct nub_shmem *m);

/*
 * Bounds-checked copies. Guest memory can change under the host at any
 * time, so copies are volatile, word at a time, and each byte is read once:
 * the caller validates the copy, never guest memory directly. NUB_ERANGE
 * (naming offset, length and size) when [off, off+len) is not inside.
 */
int nub_shmem_read(const struct nub_shmem *m, uint64_t off, void *dst, uint64_t len,
                   struct nub_error *err);
int nub_shmem_write(struct nub_shmem *m, uint64_t off, const void *src, uint64_t len,
                    struct nub_error *err);
/* 1 when every byte of [off, off+len) is zero, 0 when one is not (read
 * once, volatile, like the copies; a guest may change it right after, so
 * this is a measurement, not something to validate against); NUB_ERANGE as
 * above. */
int nub_shmem_is_zero(const struct nub_shmem *m, uint64_t off, uint64_t len, struct nub_error *err);
int nub_shmem_read_u64(const struct nub_shmem *m, uint64_t off, uint64_t *v, struct nub_error *err);
int nub_shmem_write_u64(struct nub_shmem *m, uint64_t off, uint64_t v, struct nub_error *err);
int nub_shmem_read_u32(const struct nub_shmem *m, uint64_t off, uint32_t *v, struct nub_error *err);
int nub_shmem_write_u32(struct nub_shmem *m, uint64_t off, uint32_t v, struct nub_error *err);

enum nub_zero_method {
	NUB_ZERO_NONE = 0,
	NUB_ZERO_MADVISE = 1, /* whole pages dropped: refaulted as zero pages */
	NUB_ZERO_MEMSET = 2,  /* partial pages, or madvise refused */
};

/* Zero [off, off+len): madvise (DONTNEED, or REMOVE when shared) for whole pages (cost is
 * proportional to pages the guest touched), memset for the rest. *used
 * (may be NULL) says which method did the bulk of it. */
int nub_shmem_zero(struct nub_shmem *m, uint64_t off, uint64_t len, enum nub_zero_method *used,
                   struct nub_error *err);

/* Zero [off, off+len) with stores, keeping the pages resident: for pages
 * the host rewrites right away, where madvise would only buy a refault. */
int nub_shmem_clear(struct nub_shmem *m, uint64_t off, uint64_t len, struct nub_error *err);

/* Zero the pages of [off, off+len) (page-aligned) that hold a non-zero
 * byte, with stores, and leave the others alone: a page the guest wrote
 * stays resident and mapped (no refault, no shadow-MMU rebuild), one it
 * never wrote is only read. Only while no vCPU runs on this memory. Adds
 * the pages it zeroed to *cleared. NUB_ERANGE for a range out of bounds
 * or not page-aligned. */
int nub_shmem_clear_written(struct nub_shmem *m, uint64_t off, uint64_t len, uint64_t *cleared,
                            struct nub_error *err);

/* Which loads nub_shmem_clear_written finds non-zero bytes with, for tests
 * of each: 1 AVX2 where the CPU has it, 0 SSE2, -1 what the CPU has (the
 * default). Returns 1 when AVX2 is now used, 0 when not, -1 for the
 * default. */
int nub_shmem_scan_use(int avx2);

#endif
