/* SPDX-License-Identifier: MIT */
/*
 * The bare flavour of the runtime (libnubguest.a): no C library. malloc and
 * its family (malloc.c) have the whole PEB's heap range from the start.
 */
#include <nubguest.h>

#include "heap.h"
#include "rt.h"

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

int rt_heap_more(struct nub_heap *h, size_t size)
{
	(void)h;
	(void)size;
	return -1; /* the PEB's range, all of it the heap's from the start */
}

void rt_heap_none(void)
{
}

void nub_guest_heap_usage(struct nub_guest_heap_usage *u)
{
	u->heap_size = rt_heap.end - rt_heap.base;
	u->used = nub_heap_used(&rt_heap);
	u->peak = nub_heap_peak(&rt_heap);
}
