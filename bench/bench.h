/* SPDX-License-Identifier: MIT */
/* Shared by the benchmarks: the clock and the one table-row format
 * (figure | value | floor or peer | ratio | count-or-time) bench/run.sh
 * collects. */
#ifndef NUB_BENCH_H
#define NUB_BENCH_H

#include <stdio.h>
#include <time.h>

static inline double bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static inline void bench_row(const char *figure, double value, const char *unit,
                             const char *floor_name, double floor, const char *kind)
{
	char v[40], f[64];

	snprintf(v, sizeof(v), "%.3g %s", value, unit);
	snprintf(f, sizeof(f), "%s %.3g %s", floor_name, floor, unit);
	printf("%-44s | %14s | %-30s | %8.2f | %s\n", figure, v, f, floor > 0 ? value / floor : 0,
	       kind);
}

#endif
