/* SPDX-License-Identifier: MIT */
/*
 * Page-table figures: pages mapped per second, and pages translated per
 * second (through the run iterator and page by page), for 1, 64 and 1024 MiB
 * ranges, beside the floor: a memset of the table bytes those ranges need.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "vmem.h"

#include "memory/vmem_host.h"

static void bench_size(uint64_t mib, int iters)
{
	const uint64_t len = mib << 20, pages = len / 4096;
	struct nub_vmem_mapping m = {.gva = 0x40000000,
	                             .gpa = 0x100000000ull,
	                             .len = len,
	                             .kind = NUB_VMEM_COW,
	                             .perms = NUB_VMEM_X};
	struct nub_vmem_buf buf;
	struct nub_vmem_ops ops;
	double map_ns = 0, iter_ns = 0, xlate_ns = 0, floor_ns = 0;
	char name[64];
	uint64_t table_bytes = 0;

	for (int i = 0; i < iters; i++) {
		nub_vmem_buf_init(&buf, 0x1000000, 64u << 20, NULL);
		nub_vmem_buf_ops(&buf, &ops);
		double t = bench_now_ns();
		nub_vmem_map(&ops, &m);
		map_ns += bench_now_ns() - t;
		table_bytes = nub_vmem_buf_used(&buf);

		struct nub_vmem_iter it;
		struct nub_vmem_mapping run;
		t = bench_now_ns();
		nub_vmem_iter_init(&it, &ops, 0, 1ull << 47);
		while (nub_vmem_iter_next(&it, &run) == 1)
			;
		iter_ns += bench_now_ns() - t;

		uint64_t step = pages > 4096 ? pages / 4096 : 1, n = 0;
		t = bench_now_ns();
		for (uint64_t p = 0; p < pages; p += step, n++) {
			struct nub_vmem_mapping one;
			nub_vmem_translate(&ops, m.gva + p * 4096, &one);
		}
		xlate_ns += (bench_now_ns() - t) * (double)pages / (double)n;

		void *scratch = malloc(table_bytes);
		t = bench_now_ns();
		memset(scratch, 0x5a, table_bytes);
		__asm__ volatile("" ::"r"(scratch) : "memory");
		floor_ns += bench_now_ns() - t;
		free(scratch);
		nub_vmem_buf_free(&buf);
	}
	double floor_rate = (double)pages / (floor_ns / iters) * 1e3; /* pages per us */
	snprintf(name, sizeof(name), "vmem map, %llu MiB (%llu KiB of tables)",
	         (unsigned long long)mib, (unsigned long long)(table_bytes >> 10));
	bench_row(name, (double)pages / (map_ns / iters) * 1e3, "Mpages/s", "memset tables",
	          floor_rate, "time");
	snprintf(name, sizeof(name), "vmem iterate runs, %llu MiB", (unsigned long long)mib);
	bench_row(name, (double)pages / (iter_ns / iters) * 1e3, "Mpages/s", "memset tables",
	          floor_rate, "time");
	snprintf(name, sizeof(name), "vmem translate per page, %llu MiB", (unsigned long long)mib);
	bench_row(name, (double)pages / (xlate_ns / iters) * 1e3, "Mpages/s", "memset tables",
	          floor_rate, "time");
}

int main(int argc, char **argv)
{
	int short_mode = argc > 1 && !strcmp(argv[1], "--short");

	bench_size(1, short_mode ? 2 : 200);
	bench_size(64, short_mode ? 1 : 20);
	bench_size(1024, short_mode ? 1 : 3);
	return 0;
}
