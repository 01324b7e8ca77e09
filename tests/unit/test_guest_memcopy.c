/* SPDX-License-Identifier: MIT */
/* The guest runtime's memcpy, memmove and memset (guest/lib/memcopy.c),
 * compiled for the host under other names and checked byte for byte
 * against plain loops: every size to past the string-instruction
 * threshold, every alignment of both ends, overlap both ways, and the
 * bytes around the destination untouched. */
#include <stdint.h>
#include <string.h>

#include "nub_test.h"

void *rt_memcpy(void *dst, const void *src, size_t n);
void *rt_memmove(void *dst, const void *src, size_t n);
void *rt_memset(void *dst, int c, size_t n);
#define memcpy  rt_memcpy
#define memmove rt_memmove
#define memset  rt_memset
#include "../../guest/lib/memcopy.c"
#undef memcpy
#undef memmove
#undef memset

#define MAXN 600
#define PAD  32

static uint8_t src[MAXN + 2 * PAD], dst[MAXN + 2 * PAD], want[MAXN + 2 * PAD];

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 131u + (i >> 8));
}

static void test_memcpy_all_sizes_and_alignments(void **state)
{
	(void)state;
	for (size_t n = 0; n <= MAXN; n++) {
		for (size_t so = 0; so < 8; so++) {
			for (size_t dof = 0; dof < 8; dof++) {
				fill(src, sizeof(src), (unsigned)n);
				fill(dst, sizeof(dst), 7);
				fill(want, sizeof(want), 7);
				for (size_t i = 0; i < n; i++)
					want[PAD + dof + i] = src[PAD + so + i];
				assert_ptr_equal(rt_memcpy(dst + PAD + dof, src + PAD + so, n),
				                 dst + PAD + dof);
				assert_memory_equal(dst, want, sizeof(dst));
			}
		}
	}
}

static void test_memmove_overlapping_both_ways(void **state)
{
	(void)state;
	for (size_t n = 0; n <= MAXN - 2 * PAD; n += (n < 40 ? 1 : 7)) {
		for (int shift = -20; shift <= 20; shift++) {
			fill(dst, sizeof(dst), (unsigned)n);
			memcpy(want, dst, sizeof(want));
			size_t from = 2 * PAD, to = (size_t)((long)from + shift);
			for (size_t i = 0; i < n; i++) /* through a copy: what memmove means */
				src[i] = dst[from + i];
			for (size_t i = 0; i < n; i++)
				want[to + i] = src[i];
			assert_ptr_equal(rt_memmove(dst + to, dst + from, n), dst + to);
			assert_memory_equal(dst, want, sizeof(dst));
		}
	}
}

static void test_memset_all_sizes_and_alignments(void **state)
{
	(void)state;
	for (size_t n = 0; n <= MAXN; n++) {
		for (size_t dof = 0; dof < 8; dof++) {
			fill(dst, sizeof(dst), 3);
			fill(want, sizeof(want), 3);
			for (size_t i = 0; i < n; i++)
				want[PAD + dof + i] = 0xc5;
			assert_ptr_equal(rt_memset(dst + PAD + dof, 0x1c5, n), dst + PAD + dof);
			assert_memory_equal(dst, want, sizeof(dst));
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_memcpy_all_sizes_and_alignments),
	        cmocka_unit_test(test_memmove_overlapping_both_ways),
	        cmocka_unit_test(test_memset_all_sizes_and_alignments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
