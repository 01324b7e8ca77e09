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

/* Tell the successor of b b's current size; without one, b is the last
 * block (where nub_heap_grow extends the heap). */
static void block_sync_next(struct nub_heap *h, struct nub_heap_block *b)
{
	struct nub_heap_block *n = block_next(h, b);
	if (n)
		n->prev_size = block_size(b);
	else
		h->last = b;
}

static void used_add(struct nub_heap *h, uint64_t n)
{
	h->used += n;
	if (h->used > h->peak)
		h->peak = h->used;
}

/* ---- size classes ----
 * A free block of size s lives in list (fl, sl): below SMALL (256) one
 * list per 16-byte size (fl 0); above, NUB_HEAP_SL lists per power of two,
 * each a range of sizes. A bit per non-empty list (sl_map[fl]) and per
 * level with any (fl_map) find the first list whose blocks all fit a
 * request in two bit scans, so allocation and free cost the same however
 * many blocks the heap holds (a first-fit walk of one list made a program
 * with thousands of live blocks quadratic). */

#define SL_LOG 4
#define SMALL  (1u << (SL_LOG + 4)) /* 256: exact lists below */
_Static_assert(NUB_HEAP_SL == 1u << SL_LOG, "lists per level");
_Static_assert(NUB_HEAP_MAX >> (NUB_HEAP_FL - 1 + SL_LOG + 3) == 1, "levels cover NUB_HEAP_MAX");
_Static_assert(NUB_HEAP_FL <= 64, "fl_map bits");

static unsigned log2_floor(uint64_t v)
{
	return 63u - (unsigned)__builtin_clzll(v);
}

/* The list whose range contains size. */
static void class_of(uint64_t size, unsigned *fl, unsigned *sl)
{
	if (size < SMALL) {
		*fl = 0;
		*sl = (unsigned)(size >> 4);
		return;
	}
	unsigned f = log2_floor(size);
	*fl = f - (SL_LOG + 3);
	*sl = (unsigned)(size >> (f - SL_LOG)) & (NUB_HEAP_SL - 1);
}

/* The first list all of whose blocks are at least size: size rounded up to
 * its list's next boundary. size is far below 2^63 (a block size). */
static void class_fitting(uint64_t size, unsigned *fl, unsigned *sl)
{
	if (size >= SMALL)
		size += (1ull << (log2_floor(size) - SL_LOG)) - 1;
	class_of(size, fl, sl);
}

static void list_insert(struct nub_heap *h, struct nub_heap_block *b)
{
	unsigned fl, sl;
	class_of(block_size(b), &fl, &sl);
	struct nub_heap_block **head = &h->lists[fl][sl];
	b->prev_free = NULL;
	b->next_free = *head;
	if (*head)
		(*head)->prev_free = b;
	*head = b;
	h->fl_map |= 1ull << fl;
	h->sl_map[fl] |= 1u << sl;
}

static void list_remove(struct nub_heap *h, struct nub_heap_block *b)
{
	unsigned fl, sl;
	class_of(block_size(b), &fl, &sl);
	if (b->prev_free)
		b->prev_free->next_free = b->next_free;
	else
		h->lists[fl][sl] = b->next_free;
	if (b->next_free)
		b->next_free->prev_free = b->prev_free;
	if (!h->lists[fl][sl]) {
		h->sl_map[fl] &= ~(1u << sl);
		if (!h->sl_map[fl])
			h->fl_map &= ~(1ull << fl);
	}
}

/* The first block of need's own list that fits: its list holds sizes on
 * both sides of need (the lists above hold only larger ones). */
static struct nub_heap_block *list_find_in_own(const struct nub_heap *h, uint64_t need)
{
	unsigned fl, sl;
	class_of(need, &fl, &sl);
	if (fl >= NUB_HEAP_FL)
		return NULL;
	for (struct nub_heap_block *b = h->lists[fl][sl]; b; b = b->next_free) {
		if (block_size(b) >= need)
			return b;
	}
	return NULL;
}

/* A free block of at least `need` bytes, taken off its list; NULL if none.
 * The first list whose every block fits, found by the bitmaps; failing
 * that, a walk of need's own list, so a request as large as the largest
 * free block still succeeds (a heap's whole size in one malloc). */
static struct nub_heap_block *list_take_fitting(struct nub_heap *h, uint64_t need)
{
	unsigned fl, sl;
	struct nub_heap_block *b = NULL;
	class_fitting(need, &fl, &sl);
	if (fl < NUB_HEAP_FL) {
		uint32_t sls = h->sl_map[fl] & (~0u << sl);
		if (!sls) {
			uint64_t fls = fl + 1 < NUB_HEAP_FL ? h->fl_map & (~0ull << (fl + 1)) : 0;
			if (fls) {
				fl = (unsigned)__builtin_ctzll(fls);
				sls = h->sl_map[fl];
			}
		}
		if (sls)
			b = h->lists[fl][__builtin_ctz(sls)];
	}
	if (!b)
		b = list_find_in_own(h, need);
	if (b)
		list_remove(h, b);
	return b;
}

int nub_heap_init(struct nub_heap *h, void *mem, size_t len)
{
	uintptr_t start = (uintptr_t)mem;
	uintptr_t base = (start + NUB_HEAP_ALIGN - 1) & ~(uintptr_t)(NUB_HEAP_ALIGN - 1);
	memset(h, 0, sizeof(*h));
	if (base < start || len < base - start || len - (base - start) < MIN_BLOCK)
		return NUB_EINVAL;
	uint64_t room = len - (base - start);
	if (room > NUB_HEAP_MAX)
		room = NUB_HEAP_MAX;
	uintptr_t end = (base + room) & ~(uintptr_t)(NUB_HEAP_ALIGN - 1);
	if (end < base || end - base < MIN_BLOCK)
		return NUB_EINVAL;
	struct nub_heap_block *b = (struct nub_heap_block *)base;
	b->size = end - base;
	b->prev_size = 0;
	h->base = base;
	h->end = end;
	h->last = b;
	list_insert(h, b);
	return 0;
}

int nub_heap_grow(struct nub_heap *h, size_t len)
{
	if (!h->base)
		return NUB_EINVAL;
	if (len > NUB_HEAP_MAX)
		len = NUB_HEAP_MAX;
	uintptr_t end = (h->base + len) & ~(uintptr_t)(NUB_HEAP_ALIGN - 1);
	if (end == h->end)
		return 0;
	if (end < h->end || (block_used(h->last) && end - h->end < MIN_BLOCK))
		return NUB_EINVAL;
	struct nub_heap_block *b = h->last;
	uint64_t more = end - h->end;
	if (block_used(b)) {
		b = (struct nub_heap_block *)h->end;
		b->size = more;
		b->prev_size = block_size(h->last);
	} else {
		list_remove(h, b);
		b->size += more;
	}
	h->end = end;
	h->last = b;
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
	struct nub_heap_block *b = list_take_fitting(h, need);
	if (!b)
		return NULL;
	b->size |= USED;
	block_split(h, b, need);
	used_add(h, block_size(b));
	return (uint8_t *)b + HDR;
}

void *nub_heap_alloc_aligned(struct nub_heap *h, size_t align, size_t size)
{
	if (!align || (align & (align - 1)))
		return NULL;
	if (align <= NUB_HEAP_ALIGN)
		return nub_heap_alloc(h, size);
	if (size > SIZE_MAX - align - MIN_BLOCK)
		return NULL;
	/* Room to cut a free block of at least MIN_BLOCK off the front. */
	uint8_t *p = nub_heap_alloc(h, size + align + MIN_BLOCK);
	if (!p)
		return NULL;
	uintptr_t a = (uintptr_t)p, q = (a + align - 1) & ~(uintptr_t)(align - 1);
	struct nub_heap_block *c = (struct nub_heap_block *)(q - HDR);
	if (q != a) {
		if (q - a < MIN_BLOCK) {
			q += align;
			c = (struct nub_heap_block *)(q - HDR);
		}
		struct nub_heap_block *b = (struct nub_heap_block *)(a - HDR);
		uint64_t front = q - a;
		c->size = (block_size(b) - front) | USED;
		c->prev_size = front;
		block_sync_next(h, c);
		b->size = front | USED;
		nub_heap_free(h, p); /* the front, merged with a free predecessor */
	}
	uint64_t before = block_size(c);
	block_split(h, c, request_size(size)); /* the tail back to the heap */
	h->used -= before - block_size(c);
	return (void *)q;
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
		if (a + size == h->end && (uintptr_t)h->last != a)
			return NUB_ECORRUPT;
		a += size;
	}
	return a == h->end ? 0 : NUB_ECORRUPT;
}

/* Every list: its blocks free, inside the heap, of its size class, linked
 * both ways; its bits set exactly when it is non-empty; as many blocks as
 * the walk found free. */
static int check_lists(const struct nub_heap *h, const struct nub_heap_stats *st)
{
	size_t n = 0;
	for (unsigned fl = 0; fl < NUB_HEAP_FL; fl++) {
		if (!!(h->fl_map & (1ull << fl)) != !!h->sl_map[fl])
			return NUB_ECORRUPT;
		for (unsigned sl = 0; sl < NUB_HEAP_SL; sl++) {
			const struct nub_heap_block *b = h->lists[fl][sl], *prev = NULL;
			if (!!(h->sl_map[fl] & (1u << sl)) != !!b)
				return NUB_ECORRUPT;
			for (; b; prev = b, b = b->next_free) {
				uintptr_t a = (uintptr_t)b;
				unsigned f, l;
				if (a < h->base || a >= h->end || (a & (NUB_HEAP_ALIGN - 1)) ||
				    block_used(b) || b->prev_free != prev || ++n > st->free_blocks)
					return NUB_ECORRUPT;
				class_of(block_size(b), &f, &l);
				if (f != fl || l != sl)
					return NUB_ECORRUPT;
			}
		}
	}
	return n == st->free_blocks ? 0 : NUB_ECORRUPT;
}

int nub_heap_check(const struct nub_heap *h, struct nub_heap_stats *stats)
{
	struct nub_heap_stats st = {0};
	int rc = check_walk(h, &st);
	if (!rc)
		rc = check_lists(h, &st);
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
