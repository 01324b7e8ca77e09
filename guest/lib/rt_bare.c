/* SPDX-License-Identifier: MIT */
/*
 * The bare flavour of the runtime (libnubguest.a): no C library. The heap is
 * one first-fit allocator (heap.c) over the PEB's heap range, behind the
 * C names malloc, calloc, realloc and free.
 */
#include <nubguest.h>

#include "heap.h"
#include "rt.h"

static struct nub_heap rt_heap RT_HOT;

void rt_heap_setup(const struct nub_peb *peb)
{
	/* An empty heap (size 0) is allowed: every allocation then fails. */
	nub_heap_init(&rt_heap, (void *)peb->heap_gva, peb->heap_size);
}

_Noreturn void rt_start(const struct nub_peb *peb)
{
	rt_init_finish(peb);
}

void rt_after_call(void)
{
}

void rt_reseed(const uint8_t seed[NUB_RESTORE_SEED_SIZE])
{
	(void)seed; /* no random state of its own */
}

void *rt_area_alloc(size_t size)
{
	return nub_heap_alloc(&rt_heap, size);
}

int rt_area_free(void *p)
{
	return nub_heap_free(&rt_heap, p);
}

/* The C library's allocation functions, as C says: NULL (not an abort)
 * when the heap cannot satisfy a request, so a guest library that handles
 * out-of-memory can; calloc checks n * size for overflow; realloc leaves
 * the block untouched when it fails. Only a corrupt heap or a pointer that
 * is not a live block stops the guest. */
void *malloc(size_t size)
{
	return nub_heap_alloc(&rt_heap, size);
}

void *calloc(size_t n, size_t size)
{
	return nub_heap_calloc(&rt_heap, n, size);
}

void *realloc(void *p, size_t size)
{
	int err;
	void *q = nub_heap_realloc(&rt_heap, p, size, &err);
	if (err == NUB_EFULL)
		return NULL;
	if (err)
		nub_abortf(NUB_ABORT_CORRUPT, "realloc(%p): not a live heap block", p);
	return q;
}

void free(void *p)
{
	if (nub_heap_free(&rt_heap, p))
		nub_abortf(NUB_ABORT_CORRUPT, "free(%p): not a live heap block", p);
}

void nub_guest_heap_usage(struct nub_guest_heap_usage *u)
{
	u->heap_size = rt_heap.end - rt_heap.base;
	u->used = nub_heap_used(&rt_heap);
	u->peak = nub_heap_peak(&rt_heap);
}
