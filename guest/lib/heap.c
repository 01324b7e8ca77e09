/* SPDX-License-Identifier: MIT */
#include "heap.h"

#include <nub/error.h>

#include "nub_string.h"

#define HDR       16u
#define MIN_BLOCK 32u /* header + the two free-list links */
#define USED      1ull

struct nub_heap_block {
	uint64_t size; /* whole block incl. header; bit 0: used */
	uint64_t prev_size;
	/* free blocks only: */
	struct nub_heap_block *next_free, *prev_free;
};

static uint64_t block_size(const struct nub_heap_block *b)
{
	return b->size & ~USED;
}

static int block_used(const struct nub_heap_block *b)
{
	return (b->size & USED) != 0;
}

static struct nub_heap_block *block_next(const struct nub_heap *h, struct nub_heap_block *b)
{
	uintptr_t n = (uintptr_t)b + block_size(b);
	return n < h->end ? (struct nub_heap_block *)n : NULL;
}

static struct nub_heap_block *block_prev(struct nub_heap_block *b)
{
	return b->prev_size ? (struct nub_heap_block *)((uintptr_t)b - b->prev_size) : NULL;
}

/* Tell the successor of b (if any) b's current size. */
static void block_sync_next(const struct nub_heap *h, struct nub_heap_block *b)
{
	struct nub_heap_block *n = block_next(h, b);
	if (n)
		n->prev_size = block_size(b);
}

static void used_add(struct nub_heap *h, uint64_t n)
{
	h->used += n;
	if (h->used > h->peak)
		h->peak = h->used;
}

static void list_insert(struct nub_heap *h, struct nub_heap_block *b)
{
	b->prev_free = NULL;
	b->next_free = h->free_list;
	if (h->free_list)
		h->free_list->prev_free = b;
	h->free_list = b;
}

static void list_remove(struct nub_heap *h, struct nub_heap_block *b)
{
	if (b->prev_free)
		b->prev_free->next_free = b->next_free;
	else
		h->free_list = b->next_free;
	if (b->next_free)
		b->next_free->prev_free = b->prev_free;
}

int nub_heap_init(struct nub_heap *h, void *mem, size_t len)
{
	uintptr_t start = (uintptr_t)mem;
	uintptr_t base = (start + NUB_HEAP_ALIGN - 1) & ~(uintptr_t)(NUB_HEAP_ALIGN - 1);
	h->base = h->end = 0;
	h->free_list = NULL;
	h->used = h->peak = 0;
	if (base < start || len < base - start || len - (base - start) < MIN_BLOCK)
		return NUB_EINVAL;
	uintptr_t end = (base + (len - (base - start))) & ~(uintptr_t)(NUB_HEAP_ALIGN - 1);
	if (end < base || end - base < MIN_BLOCK)
		return NUB_EINVAL;
	struct nub_heap_block *b = (struct nub_heap_block *)base;
	b->size = end - base;
	b->prev_size = 0;
	h->base = base;
	h->end = end;
	list_insert(h, b);
	return 0;
}

/* Block size needed for a payload of `size` bytes; 0 on overflow. */
static uint64_t request_size(size_t size)
{
	if (size > SIZE_MAX - HDR - NUB_HEAP_ALIGN)
		return 0;
	uint64_t need =
	        ((uint64_t)size + HDR + NUB_HEAP_ALIGN - 1) & ~(uint64_t)(NUB_HEAP_ALIGN - 1);
	return need < MIN_BLOCK ? MIN_BLOCK : need;
}

/* Cut used block b down to `need` bytes when the rest makes a block; the
 * rest is freed and merged with a free successor. */
static void block_split(struct nub_heap *h, struct nub_heap_block *b, uint64_t need)
{
	uint64_t size = block_size(b);
	if (size - need < MIN_BLOCK)
		return;
	struct nub_heap_block *rest = (struct nub_heap_block *)((uintptr_t)b + need);
	rest->size = size - need;
	rest->prev_size = need;
	b->size = need | USED;
	struct nub_heap_block *after = block_next(h, rest);
	if (after && !block_used(after)) {
		list_remove(h, after);
		rest->size += block_size(after);
	}
	block_sync_next(h, rest);
	list_insert(h, rest);
}

void *nub_heap_alloc(struct nub_heap *h, size_t size)
{
	uint64_t need = request_size(size);
	if (!need)
		return NULL;
	for (struct nub_heap_block *b = h->free_list; b; b = b->next_free) {
		if (block_size(b) < need)
			continue;
		list_remove(h, b);
		b->size |= USED;
		block_split(h, b, need);
		used_add(h, block_size(b));
		return (uint8_t *)b + HDR;
	}
	return NULL;
}

void *nub_heap_calloc(struct nub_heap *h, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	void *p = nub_heap_alloc(h, n * size);
	if (p)
		memset(p, 0, n * size);
	return p;
}

/* The live block whose payload is p, or NULL when p is not one. Checks
 * everything reachable from the header without walking the heap. */
static struct nub_heap_block *block_of(const struct nub_heap *h, const void *p)
{
	uintptr_t a = (uintptr_t)p;
	if (a < h->base + HDR || a >= h->end || (a & (NUB_HEAP_ALIGN - 1)))
		return NULL;
	struct nub_heap_block *b = (struct nub_heap_block *)(a - HDR);
	uint64_t size = block_size(b);
	if (!block_used(b) || size < MIN_BLOCK || (size & (NUB_HEAP_ALIGN - 1)) ||
	    size > h->end - (uintptr_t)b)
		return NULL;
	if (b->prev_size > (uintptr_t)b - h->base || (b->prev_size & (NUB_HEAP_ALIGN - 1)) ||
	    ((uintptr_t)b != h->base && b->prev_size < MIN_BLOCK) ||
	    ((uintptr_t)b == h->base && b->prev_size != 0))
		return NULL;
	struct nub_heap_block *prev = block_prev(b);
	if (prev && block_size(prev) != b->prev_size)
		return NULL;
	struct nub_heap_block *next = block_next(h, b);
	if (next && next->prev_size != size)
		return NULL;
	return b;
}

size_t nub_heap_usable_size(const struct nub_heap *h, const void *p)
{
	const struct nub_heap_block *b = block_of(h, p);
	return b ? block_size(b) - HDR : 0;
}

int nub_heap_free(struct nub_heap *h, void *p)
{
	if (!p)
		return 0;
	struct nub_heap_block *b = block_of(h, p);
	if (!b)
		return NUB_EINVAL;
	h->used -= block_size(b);
	b->size &= ~USED;
	struct nub_heap_block *next = block_next(h, b);
	if (next && !block_used(next)) {
		list_remove(h, next);
		b->size += block_size(next);
	}
	struct nub_heap_block *prev = block_prev(b);
	if (prev && !block_used(prev)) {
		list_remove(h, prev);
		prev->size += block_size(b);
		b = prev;
	}
	block_sync_next(h, b);
	list_insert(h, b);
	return 0;
}

/* Grow used block b in place to `need` bytes by taking its free successor. */
static int block_grow(struct nub_heap *h, struct nub_heap_block *b, uint64_t need)
{
	struct nub_heap_block *next = block_next(h, b);
	if (!next || block_used(next) || block_size(b) + block_size(next) < need)
		return 0;
	list_remove(h, next);
	b->size += block_size(next);
	block_sync_next(h, b);
	block_split(h, b, need);
	return 1;
}

void *nub_heap_realloc(struct nub_heap *h, void *p, size_t size, int *err)
{
	int dummy;
	if (!err)
		err = &dummy;
	*err = 0;
	if (!p) {
		void *q = nub_heap_alloc(h, size);
		*err = q ? 0 : NUB_EFULL;
		return q;
	}
	struct nub_heap_block *b = block_of(h, p);
	if (!b) {
		*err = NUB_EINVAL;
		return NULL;
	}
	if (size == 0) {
		nub_heap_free(h, p);
		return NULL;
	}
	uint64_t need = request_size(size);
	if (!need) {
		*err = NUB_EFULL;
		return NULL;
	}
	uint64_t old = block_size(b);
	if (need <= old || block_grow(h, b, need)) {
		if (need <= old)
			block_split(h, b, need);
		h->used -= old;
		used_add(h, block_size(b));
		return p;
	}
	void *q = nub_heap_alloc(h, size);
	if (!q) {
		*err = NUB_EFULL;
		return NULL;
	}
	memcpy(q, p, block_size(b) - HDR);
	nub_heap_free(h, p);
	return q;
}

static int check_walk(const struct nub_heap *h, struct nub_heap_stats *st)
{
	uint64_t prev_size = 0;
	int prev_free = 0;
	uintptr_t a = h->base;
	while (a < h->end) {
		const struct nub_heap_block *b = (const struct nub_heap_block *)a;
		uint64_t size = block_size(b);
		if (size < MIN_BLOCK || (size & (NUB_HEAP_ALIGN - 1)) || size > h->end - a ||
		    b->prev_size != prev_size)
			return NUB_ECORRUPT;
		st->blocks++;
		if (block_used(b)) {
			st->used_bytes += size - HDR;
			prev_free = 0;
		} else {
			if (prev_free)
				return NUB_ECORRUPT; /* should have been merged */
			st->free_blocks++;
			st->free_bytes += size;
			if (size - HDR > st->largest_free)
				st->largest_free = size - HDR;
			prev_free = 1;
		}
		prev_size = size;
		a += size;
	}
	return a == h->end ? 0 : NUB_ECORRUPT;
}

static int check_list(const struct nub_heap *h, const struct nub_heap_stats *st)
{
	size_t n = 0;
	const struct nub_heap_block *prev = NULL;
	for (const struct nub_heap_block *b = h->free_list; b; b = b->next_free) {
		uintptr_t a = (uintptr_t)b;
		if (a < h->base || a >= h->end || (a & (NUB_HEAP_ALIGN - 1)) || block_used(b) ||
		    b->prev_free != prev || ++n > st->free_blocks)
			return NUB_ECORRUPT;
		prev = b;
	}
	return n == st->free_blocks ? 0 : NUB_ECORRUPT;
}

int nub_heap_check(const struct nub_heap *h, struct nub_heap_stats *stats)
{
	struct nub_heap_stats st = {0};
	int rc = check_walk(h, &st);
	if (!rc)
		rc = check_list(h, &st);
	if (!rc && st.used_bytes + HDR * (st.blocks - st.free_blocks) != h->used)
		rc = NUB_ECORRUPT;
	if (!rc && stats)
		*stats = st;
	return rc;
}

size_t nub_heap_used(const struct nub_heap *h)
{
	return h->used;
}

size_t nub_heap_peak(const struct nub_heap *h)
{
	return h->peak;
}
