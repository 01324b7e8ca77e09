/* SPDX-License-Identifier: MIT */
/* Shared by the benchmarks: the clock and the one table-row format
 * (figure | value | floor or peer | ratio | count-or-time) bench/run.sh
 * collects. */
#ifndef NUB_BENCH_H
#define NUB_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* NUB_BENCH_BACKEND=kvm runs the guests on KVM (bench/run.sh does where
 * /dev/kvm works; the nested-KVM suites do); the default is the mock, which
 * runs the same ELFs in its vCPU process. */
static inline const char *bench_backend(void)
{
	const char *b = getenv("NUB_BENCH_BACKEND");

	return b && b[0] ? b : "mock";
}

/* "what (backend)" for a row's label (static storage). */
static inline const char *bench_label(const char *what)
{
	static char buf[128];

	snprintf(buf, sizeof(buf), "%s (%s)", what, bench_backend());
	return buf;
}

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
	printf("%-60s | %14s | %-30s | %8.2f | %s\n", figure, v, f, floor > 0 ? value / floor : 0,
	       kind);
}

#endif
