/* SPDX-License-Identifier: MIT */
/* The guest heap (guest/lib/heap.c), compiled for the host: the same source
 * the guest runtime links, checked against a shadow model. */
#include <stdlib.h>
#include <string.h>

#include "../../guest/lib/heap.c"
#include "nub_test.h"

#define ARENA 65536

static _Alignas(16) uint8_t arena[ARENA + 64];

static void heap_fresh(struct nub_heap *h)
{
	memset(arena, 0xa5, sizeof(arena));
	assert_int_equal(nub_heap_init(h, arena, ARENA), 0);
}

static void assert_whole_heap_free(const struct nub_heap *h, size_t arena_len)
{
	struct nub_heap_stats st;
	assert_int_equal(nub_heap_check(h, &st), 0);
	assert_int_equal(st.blocks, 1);
	assert_int_equal(st.free_blocks, 1);
	assert_int_equal(st.free_bytes, arena_len);
	assert_int_equal(st.used_bytes, 0);
}

static void test_used_and_peak(void **state)
{
	struct nub_heap h;
	int err;

	(void)state;
	heap_fresh(&h);
	assert_int_equal(nub_heap_used(&h), 0);
	void *a = nub_heap_alloc(&h, 100);  /* 100 + 16 rounded to 16: 128 */
	void *b = nub_heap_alloc(&h, 1000); /* 1024 */
	assert_int_equal(nub_heap_used(&h), 128 + 1024);
	a = nub_heap_realloc(&h, a, 2000, &err); /* moves: 2016 */
	assert_int_equal(err, 0);
	assert_int_equal(nub_heap_used(&h), 2016 + 1024);
	assert_int_equal(nub_heap_free(&h, b), 0);
	assert_int_equal(nub_heap_used(&h), 2016);
	a = nub_heap_realloc(&h, a, 10, &err); /* shrinks in place: 32 */
	assert_int_equal(nub_heap_used(&h), 32);
	assert_int_equal(nub_heap_peak(&h), 128 + 1024 + 2016); /* during the move */
	assert_int_equal(nub_heap_check(&h, NULL), 0);
	assert_int_equal(nub_heap_free(&h, a), 0);
	assert_int_equal(nub_heap_used(&h), 0);
	assert_int_equal(nub_heap_peak(&h), 128 + 1024 + 2016); /* during the move */
}

static void test_init_rejects_tiny(void **state)
{
	(void)state;
	struct nub_heap h;
	assert_int_equal(nub_heap_init(&h, arena, 16), NUB_EINVAL);
	assert_null(nub_heap_alloc(&h, 1));
	assert_int_equal(nub_heap_check(&h, NULL), 0);
	/* Misaligned start is trimmed, not refused. */
	assert_int_equal(nub_heap_init(&h, arena + 3, 1000), 0);
	assert_int_equal((uintptr_t)h.base % NUB_HEAP_ALIGN, 0);
	assert_true(h.base >= (uintptr_t)arena + 3 && h.end <= (uintptr_t)arena + 1003);
}

static void test_alloc_aligned_and_disjoint(void **state)
{
	(void)state;
	struct nub_heap h;
	heap_fresh(&h);
	uint8_t *a = nub_heap_alloc(&h, 1), *b = nub_heap_alloc(&h, 100),
	        *c = nub_heap_alloc(&h, 0);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	for (uint8_t *p = a; p; p = p == a ? b : p == b ? c : NULL)
		assert_int_equal((uintptr_t)p % NUB_HEAP_ALIGN, 0);
	assert_true(b >= a + nub_heap_usable_size(&h, a));
	assert_true(c >= b + 100);
	assert_true(nub_heap_usable_size(&h, b) >= 100);
	assert_int_equal(nub_heap_check(&h, NULL), 0);
	assert_int_equal(nub_heap_free(&h, b), 0);
	assert_int_equal(nub_heap_free(&h, a), 0);
	assert_int_equal(nub_heap_free(&h, c), 0);
	assert_whole_heap_free(&h, ARENA);
}

static void test_exhaustion_and_reuse(void **state)
{
	(void)state;
	struct nub_heap h;
	heap_fresh(&h);
	assert_null(nub_heap_alloc(&h, ARENA));    /* header does not fit */
	assert_null(nub_heap_alloc(&h, SIZE_MAX)); /* no overflow */
	assert_null(nub_heap_calloc(&h, SIZE_MAX / 2, 3));
	void *all = nub_heap_alloc(&h, ARENA - 16); /* exactly everything */
	assert_non_null(all);
	assert_null(nub_heap_alloc(&h, 1));
	assert_int_equal(nub_heap_free(&h, all), 0);
	assert_whole_heap_free(&h, ARENA);
	uint8_t *z = nub_heap_calloc(&h, 100, 10);
	assert_non_null(z);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(z[i], 0);
}

static void test_free_rejects_bad_pointers(void **state)
{
	(void)state;
	struct nub_heap h;
	heap_fresh(&h);
	uint8_t *a = nub_heap_alloc(&h, 64);
	uint8_t *b = nub_heap_alloc(&h, 64);
	assert_int_equal(nub_heap_free(&h, a + 16), NUB_EINVAL); /* interior */
	assert_int_equal(nub_heap_free(&h, a + 1), NUB_EINVAL);  /* misaligned */
	assert_int_equal(nub_heap_free(&h, arena + ARENA + 32), NUB_EINVAL);
	uint8_t local[64];
	assert_int_equal(nub_heap_free(&h, local), NUB_EINVAL);
	assert_int_equal(nub_heap_free(&h, NULL), 0);
	assert_int_equal(nub_heap_free(&h, a), 0);
	assert_int_equal(nub_heap_free(&h, a), NUB_EINVAL); /* double free */
	/* A smashed header is caught, and nothing changes. */
	uint64_t saved;
	memcpy(&saved, b - 16, 8);
	memset(b - 16, 0x41, 8);
	assert_int_equal(nub_heap_free(&h, b), NUB_EINVAL);
	int err;
	assert_null(nub_heap_realloc(&h, b, 10, &err));
	assert_int_equal(err, NUB_EINVAL);
	assert_int_equal(nub_heap_check(&h, NULL), NUB_ECORRUPT);
	memcpy(b - 16, &saved, 8);
	assert_int_equal(nub_heap_free(&h, b), 0);
	assert_whole_heap_free(&h, ARENA);
}

static void test_coalesce_both_sides(void **state)
{
	(void)state;
	struct nub_heap h;
	heap_fresh(&h);
	void *p[5];
	for (int i = 0; i < 5; i++)
		p[i] = nub_heap_alloc(&h, 200);
	struct nub_heap_stats st;
	/* Free 1 and 3, then 2: one block spanning 1..3 must result. */
	nub_heap_free(&h, p[1]);
	nub_heap_free(&h, p[3]);
	assert_int_equal(nub_heap_check(&h, &st), 0);
	assert_int_equal(st.free_blocks, 3);
	nub_heap_free(&h, p[2]);
	assert_int_equal(nub_heap_check(&h, &st), 0);
	assert_int_equal(st.free_blocks, 2);
	/* The merged hole fits what the three held, in place. */
	void *big = nub_heap_alloc(&h, 3 * 200 + 2 * 16);
	assert_ptr_equal(big, p[1]);
	nub_heap_free(&h, big);
	for (int i = 0; i < 5; i += 2)
		nub_heap_free(&h, p[i]);
	assert_whole_heap_free(&h, ARENA);
}

static void test_realloc_in_place_and_move(void **state)
{
	(void)state;
	struct nub_heap h;
	heap_fresh(&h);
	int err;
	uint8_t *a = nub_heap_realloc(&h, NULL, 100, &err);
	assert_non_null(a);
	memset(a, 7, 100);
	/* Grows into the free successor without moving. */
	uint8_t *a2 = nub_heap_realloc(&h, a, 1000, &err);
	assert_ptr_equal(a2, a);
	for (int i = 0; i < 100; i++)
		assert_int_equal(a2[i], 7);
	memset(a2, 8, 1000);
	uint8_t *blocker = nub_heap_alloc(&h, 16);
	/* Cannot grow in place any more: moves, keeps contents. */
	uint8_t *a3 = nub_heap_realloc(&h, a2, 5000, &err);
	assert_int_equal(err, 0);
	assert_ptr_not_equal(a3, a2);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(a3[i], 8);
	/* Shrinks in place. */
	assert_ptr_equal(nub_heap_realloc(&h, a3, 10, &err), a3);
	assert_int_equal(nub_heap_check(&h, NULL), 0);
	/* Too big: NULL, EFULL, original untouched. */
	assert_null(nub_heap_realloc(&h, a3, ARENA * 2, &err));
	assert_int_equal(err, NUB_EFULL);
	assert_int_equal(a3[9], 8);
	/* Size 0 frees. */
	assert_null(nub_heap_realloc(&h, a3, 0, &err));
	assert_int_equal(err, 0);
	nub_heap_free(&h, blocker);
	assert_whole_heap_free(&h, ARENA);
}

/* The heap grows at its end: the new bytes join a free last block, or
 * follow a used one as a new block; it never shrinks. */
static void test_grow(void **state)
{
	struct nub_heap h;
	(void)state;
	memset(arena, 0xa5, sizeof(arena));
	assert_int_equal(nub_heap_init(&h, arena, 4096), 0);
	assert_int_equal(nub_heap_grow(&h, 4096), 0); /* nothing added */
	assert_int_equal(nub_heap_grow(&h, 2048), NUB_EINVAL);
	assert_int_equal(nub_heap_grow(&h, 8192), 0); /* free last block grows */
	assert_whole_heap_free(&h, 8192);
	void *a = nub_heap_alloc(&h, 8192 - 16); /* the whole heap, used */
	assert_non_null(a);
	assert_null(nub_heap_alloc(&h, 1));
	assert_int_equal(nub_heap_grow(&h, 8192 + 16), NUB_EINVAL); /* < a block */
	assert_int_equal(nub_heap_grow(&h, 16384), 0);
	void *b = nub_heap_alloc(&h, 4000);
	assert_non_null(b);
	assert_true((uint8_t *)b >= arena + 8192);
	assert_int_equal(nub_heap_check(&h, NULL), 0);
	assert_int_equal(nub_heap_free(&h, a), 0);
	assert_int_equal(nub_heap_free(&h, b), 0);
	assert_whole_heap_free(&h, 16384);
	struct nub_heap empty = {0};
	assert_int_equal(nub_heap_grow(&empty, 4096), NUB_EINVAL);
}

/* Aligned blocks: at the alignment, as large as asked, freed like any
 * other; the slack before and after them goes back to the heap. */
static void test_alloc_aligned(void **state)
{
	struct nub_heap h;
	(void)state;
	heap_fresh(&h);
	assert_null(nub_heap_alloc_aligned(&h, 48, 10));
	assert_null(nub_heap_alloc_aligned(&h, 0, 10));
	void *small = nub_heap_alloc(&h, 10); /* the next block is not aligned */
	size_t aligns[] = {16, 32, 64, 256, 4096};
	void *p[5];
	for (int i = 0; i < 5; i++) {
		p[i] = nub_heap_alloc_aligned(&h, aligns[i], 100 * (size_t)(i + 1));
		assert_non_null(p[i]);
		assert_int_equal((uintptr_t)p[i] % aligns[i], 0);
		assert_true(nub_heap_usable_size(&h, p[i]) >= 100 * (size_t)(i + 1));
		memset(p[i], i, 100 * (size_t)(i + 1));
		assert_int_equal(nub_heap_check(&h, NULL), 0);
	}
	/* no more used than the blocks themselves: the slack was given back */
	struct nub_heap_stats st;
	assert_int_equal(nub_heap_check(&h, &st), 0);
	assert_int_equal(st.blocks - st.free_blocks, 6);
	for (int i = 0; i < 5; i++)
		assert_int_equal(nub_heap_free(&h, p[i]), 0);
	assert_int_equal(nub_heap_free(&h, small), 0);
	assert_whole_heap_free(&h, ARENA);
}

/* A request as large as the largest free block succeeds, though the size
 * classes round requests up (the walk of the request's own list). */
static void test_largest_block_in_one_request(void **state)
{
	struct nub_heap h;
	(void)state;
	heap_fresh(&h);
	void *all = nub_heap_alloc(&h, ARENA - 16);
	assert_non_null(all);
	assert_int_equal(nub_heap_free(&h, all), 0);
	void *a = nub_heap_alloc(&h, 1000), *b = nub_heap_alloc(&h, 1000);
	assert_int_equal(nub_heap_free(&h, a), 0);
	void *again = nub_heap_alloc(&h, 1000); /* exactly the freed block */
	assert_ptr_equal(again, a);
	assert_int_equal(nub_heap_free(&h, again), 0);
	assert_int_equal(nub_heap_free(&h, b), 0);
	assert_whole_heap_free(&h, ARENA);
}

struct shadow {
	uint8_t *p;
	size_t len;
	uint8_t fill;
};

static int shadow_intact(const struct shadow *s)
{
	for (size_t i = 0; i < s->len; i++) {
		if (s->p[i] != s->fill)
			return 0;
	}
	return 1;
}

/* Random operations against a model: blocks never overlap, contents
 * survive, invariants hold after every step, and freeing everything always
 * gives back the whole heap. */
static void test_random_against_model(void **state)
{
	(void)state;
	struct nub_heap h;
	memset(arena, 0xa5, sizeof(arena));
	assert_int_equal(nub_heap_init(&h, arena, ARENA / 4), 0); /* grown below */
	size_t len_now = ARENA / 4;
	struct shadow s[64] = {0};
	unsigned seed = 12345;
	for (int round = 0; round < 20000; round++) {
		seed = seed * 1103515245u + 12345u;
		struct shadow *x = &s[(seed >> 8) % 64];
		size_t len = (seed >> 16) % ((seed & 0x80) ? 2048 : 256);
		if (round % 2000 == 1999 && len_now < ARENA) {
			len_now += ARENA / 8;
			assert_int_equal(nub_heap_grow(&h, len_now), 0);
		}
		if (x->p) {
			assert_true(shadow_intact(x));
			if (seed & 1) {
				assert_int_equal(nub_heap_free(&h, x->p), 0);
				x->p = NULL;
				continue;
			}
			int err;
			uint8_t *q = nub_heap_realloc(&h, x->p, len ? len : 1, &err);
			if (!q) {
				assert_int_equal(err, NUB_EFULL);
				continue;
			}
			for (size_t i = 0; i < (x->len < len ? x->len : len); i++)
				assert_int_equal(q[i], x->fill);
			x->p = q;
		} else {
			x->p = (seed & 6) == 6
			               ? nub_heap_alloc_aligned(&h, 64u << (seed >> 29), len)
			               : nub_heap_alloc(&h, len);
			if (!x->p)
				continue;
		}
		x->len = len;
		x->fill = (uint8_t)(seed >> 3);
		assert_true(nub_heap_usable_size(&h, x->p) >= len);
		memset(x->p, x->fill, len);
		assert_int_equal(nub_heap_check(&h, NULL), 0);
	}
	for (int i = 0; i < 64; i++) {
		if (s[i].p) {
			assert_true(shadow_intact(&s[i]));
			assert_int_equal(nub_heap_free(&h, s[i].p), 0);
		}
	}
	assert_whole_heap_free(&h, ARENA);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_init_rejects_tiny),
	        cmocka_unit_test(test_used_and_peak),
	        cmocka_unit_test(test_alloc_aligned_and_disjoint),
	        cmocka_unit_test(test_exhaustion_and_reuse),
	        cmocka_unit_test(test_free_rejects_bad_pointers),
	        cmocka_unit_test(test_coalesce_both_sides),
	        cmocka_unit_test(test_realloc_in_place_and_move),
	        cmocka_unit_test(test_grow),
	        cmocka_unit_test(test_alloc_aligned),
	        cmocka_unit_test(test_largest_block_in_one_request),
	        cmocka_unit_test(test_random_against_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
