/* SPDX-License-Identifier: MIT */
/*
 * The C allocation functions of both runtime flavours, over one heap
 * (heap.c). The bare flavour gives it the PEB's heap range once; the C
 * library flavour (instead of musl's malloc, which made a JSON-heavy
 * Duktape request 1.25x slower natively) starts it at the program break
 * and moves the break as it needs (rt_heap_more).
 *
 * As C says: NULL (not an abort) when the heap cannot satisfy a request, so
 * a guest library that handles out-of-memory can; calloc checks n * size
 * for overflow; realloc leaves the block untouched when it fails. Only a
 * corrupt heap or a pointer that is not a live block stops the guest.
 * Guests are single-threaded: no locks.
 */
#include <nubguest.h>

#include "heap.h"
#include "nub_string.h"
#include "rt.h"

/* The C library's names beyond nubguest.h's (<stdlib.h>, <malloc.h>). */
void *aligned_alloc(size_t align, size_t size);
int posix_memalign(void **out, size_t align, size_t size);
void *memalign(size_t align, size_t size);
size_t malloc_usable_size(void *p);

#define RT_EINVAL 22 /* Linux's numbers, which musl's errno.h has */
#define RT_ENOMEM 12

struct nub_heap rt_heap RT_HOT;

/* Make room for a request of `size` bytes (align included) and say whether
 * retrying can succeed. */
static int heap_more(size_t size)
{
	if (rt_heap_more(&rt_heap, size) == 0)
		return 1;
	rt_heap_none();
	return 0;
}

void *malloc(size_t size)
{
	void *p;
	while (!(p = nub_heap_alloc(&rt_heap, size))) {
		if (!heap_more(size))
			return NULL;
	}
	return p;
}

void *calloc(size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size) {
		rt_heap_none();
		return NULL;
	}
	void *p;
	while (!(p = nub_heap_calloc(&rt_heap, n, size))) {
		if (!heap_more(n * size))
			return NULL;
	}
	return p;
}

void *realloc(void *p, size_t size)
{
	for (;;) {
		int err;
		void *q = nub_heap_realloc(&rt_heap, p, size, &err);
		if (!err)
			return q;
		if (err != NUB_EFULL)
			nub_abortf(NUB_ABORT_CORRUPT, "realloc(%p): not a live heap block", p);
		if (!heap_more(size))
			return NULL;
	}
}

void free(void *p)
{
	if (nub_heap_free(&rt_heap, p))
		nub_abortf(NUB_ABORT_CORRUPT, "free(%p): not a live heap block", p);
}

void *aligned_alloc(size_t align, size_t size)
{
	if (!align || (align & (align - 1)))
		return NULL;
	if (size > SIZE_MAX - align) {
		rt_heap_none();
		return NULL;
	}
	void *p;
	while (!(p = nub_heap_alloc_aligned(&rt_heap, align, size))) {
		if (!heap_more(size + align))
			return NULL;
	}
	return p;
}

int posix_memalign(void **out, size_t align, size_t size)
{
	if (align < sizeof(void *) || (align & (align - 1)))
		return RT_EINVAL;
	void *p = aligned_alloc(align, size);
	if (!p)
		return RT_ENOMEM;
	*out = p;
	return 0;
}

void *memalign(size_t align, size_t size)
{
	return aligned_alloc(align, size);
}

size_t malloc_usable_size(void *p)
{
	return p ? nub_heap_usable_size(&rt_heap, p) : 0;
}
