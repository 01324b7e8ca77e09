/* SPDX-License-Identifier: MIT */
/**
 * @file heap.h
 * The guest heap: an allocator with boundary tags over one caller-supplied
 * memory range, which may grow at its end. Free blocks are kept on
 * segregated lists by size (exact 16-byte classes below 256 bytes, then
 * NUB_HEAP_SL per power of two) with a bitmap of the non-empty ones, so
 * allocation and free take constant time whatever the heap holds (a good
 * fit, as TLSF does it); free blocks are merged with free neighbours at
 * once, so freeing everything always leaves a single free block. It is
 * both flavours' malloc: the bare runtime's over the PEB's heap, the C
 * library one's (instead of musl's) over the program break. Compiles freestanding (guest) and
 * hosted (unit tests); does no I/O and never aborts: the guest runtime
 * turns NULL / error returns into aborts.
 *
 * Layout: every block starts with a 16-byte header {size | used bit,
 * size of the physically previous block (0 for the first)}; payloads are
 * 16-byte aligned; a free block keeps its list links in its payload.
 */
#ifndef NUB_GUEST_HEAP_H
#define NUB_GUEST_HEAP_H

#include <stddef.h>
#include <stdint.h>

/** Alignment of every pointer the heap returns. */
#define NUB_HEAP_ALIGN 16u

struct nub_heap_block;

/** Free lists per power of two (second level). */
#define NUB_HEAP_SL 16u
/** Powers of two (first level): blocks up to NUB_HEAP_MAX. */
#define NUB_HEAP_FL 33u
/** The largest heap: a longer range is trimmed to this. */
#define NUB_HEAP_MAX (1ull << 39)

/** Heap state; zero-initialised storage is an empty, unusable heap. */
struct nub_heap {
	uintptr_t base, end;          /* block range, NUB_HEAP_ALIGN-aligned */
	struct nub_heap_block *last;  /* the block that ends at `end` */
	uint64_t fl_map;              /* bit fl: some list of level fl non-empty */
	uint32_t sl_map[NUB_HEAP_FL]; /* bit sl: lists[fl][sl] non-empty */
	struct nub_heap_block *lists[NUB_HEAP_FL][NUB_HEAP_SL];
	size_t used, peak; /* bytes in used blocks (headers included), now / highest */
};

/** Counters from nub_heap_check(). */
struct nub_heap_stats {
	size_t blocks, free_blocks; /* all blocks / free ones */
	size_t used_bytes;          /* payload capacity of used blocks */
	size_t free_bytes;          /* whole free blocks, headers included */
	size_t largest_free;        /* payload capacity of the largest free block */
};

/**
 * Make [mem, mem+len) a heap. The range is trimmed to NUB_HEAP_ALIGN.
 * @return 0, or NUB_EINVAL when less than one minimal block fits (h is
 *         then an empty heap on which every allocation fails).
 */
int nub_heap_init(struct nub_heap *h, void *mem, size_t len);

/** Allocate `size` bytes (size 0 gives a unique minimal block).
 * @return the block, or NULL when no free block is large enough. */
void *nub_heap_alloc(struct nub_heap *h, size_t size);

/**
 * Extend the heap to [base, base+len): the new bytes (which the caller
 * has made usable) join the last block when it is free, else become one.
 * @return 0 (also when len adds nothing), or NUB_EINVAL when h is empty,
 *         len would shrink the heap, or adds less than a minimal block
 *         after a used one.
 */
int nub_heap_grow(struct nub_heap *h, size_t len);

/** Allocate `size` bytes at a multiple of `align` (a power of two).
 * @return the block (freed with nub_heap_free), or NULL when align is not
 *         a power of two or no free block is large enough. */
void *nub_heap_alloc_aligned(struct nub_heap *h, size_t align, size_t size);

/** Allocate n*size zeroed bytes; NULL on overflow or exhaustion. */
void *nub_heap_calloc(struct nub_heap *h, size_t n, size_t size);

/**
 * Resize `p` (NULL: allocate) to `size` bytes, in place when the block or
 * its free successor allows, else by moving; contents up to the smaller size
 * are kept. Size 0 frees p and returns NULL with *err 0.
 * @param err  set to 0, NUB_EFULL (no memory: p untouched, NULL returned) or
 *             NUB_EINVAL (p is not a live block: NULL returned). May be NULL.
 */
void *nub_heap_realloc(struct nub_heap *h, void *p, size_t size, int *err);

/** Free `p` (NULL is a no-op).
 * @return 0, or NUB_EINVAL when p is not a live block of this heap (double
 *         free, foreign or interior pointer, corrupted header): nothing is
 *         changed then. */
int nub_heap_free(struct nub_heap *h, void *p);

/** Usable size of live block `p`, 0 if p is not a live block. */
size_t nub_heap_usable_size(const struct nub_heap *h, const void *p);

/** Bytes in used blocks (headers included) now, and the most there have
 * been since nub_heap_init(). */
size_t nub_heap_used(const struct nub_heap *h);
size_t nub_heap_peak(const struct nub_heap *h);

/**
 * Walk the whole heap and its free list and verify every invariant (sizes,
 * back-links, no two adjacent free blocks, list and walk agree, the used
 * count matches the blocks).
 * @return 0 with *stats filled (stats may be NULL), or NUB_ECORRUPT.
 */
int nub_heap_check(const struct nub_heap *h, struct nub_heap_stats *stats);

#endif
