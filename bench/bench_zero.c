/* SPDX-License-Identifier: MIT */
/* Zeroing a 64 MiB scratch with 1%, 10% and 100% of its pages touched:
 * madvise(MADV_DONTNEED) through nub_shmem_zero vs memset, beside a plain
 * memset of 64 MiB (the floor). madvise pays per touched page (plus the
 * refault the next use takes); memset pays for all 64 MiB every time. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "memory/shmem.h"

#define SIZE  (64ull << 20)
#define PAGES (SIZE / 4096)

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void touch(struct nub_shmem *m, unsigned pct)
{
	uint8_t *p = nub_shmem_host(m);
	uint64_t step = 100 / pct;

	for (uint64_t i = 0; i < PAGES; i += step)
		p[i * 4096] = 1;
}

static void row(const char *what, unsigned pct, double us, double floor)
{
	char name[64], v[32], f[48];

	snprintf(name, sizeof(name), "zero 64 MiB, %u%% touched, %s", pct, what);
	snprintf(v, sizeof(v), "%.1f us", us);
	snprintf(f, sizeof(f), "memset 64 MiB %.1f us", floor);
	printf("%-44s | %14s | %-30s | %8.2f | time\n", name, v, f, us / floor);
}

int main(int argc, char **argv)
{
	int iters = argc > 1 && !strcmp(argv[1], "--short") ? 2 : 10;
	static const unsigned pcts[] = {1, 10, 100};
	struct nub_shmem *m;
	double floor = 0;

	if (nub_shmem_create(SIZE, &m, NULL))
		return 1;
	for (int i = 0; i < iters; i++) {
		double t = now_us();
		memset(nub_shmem_host(m), 0, SIZE);
		floor += now_us() - t;
	}
	floor /= iters;
	for (size_t k = 0; k < 3; k++) {
		double mad = 0, mem = 0;
		for (int i = 0; i < iters; i++) {
			enum nub_zero_method how;
			touch(m, pcts[k]);
			double t = now_us();
			nub_shmem_zero(m, 0, SIZE, &how, NULL);
			mad += now_us() - t;
			touch(m, pcts[k]);
			t = now_us();
			memset(nub_shmem_host(m), 0, SIZE);
			mem += now_us() - t;
		}
		row("madvise", pcts[k], mad / iters, floor);
		row("memset", pcts[k], mem / iters, floor);
	}
	nub_shmem_unref(m);
	return 0;
}
