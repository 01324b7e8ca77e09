/* SPDX-License-Identifier: MIT */
/* Shared by the benchmarks: the clock and the one table-row format
 * (figure | value | floor or peer | ratio | count-or-time) bench/run.sh
 * collects. */
#ifndef NUB_BENCH_H
#define NUB_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* NUB_BENCH_BACKEND=kvm runs the guests on KVM (bench/run.sh does where
 * /dev/kvm works; the nested-KVM suites do); the default is the mock, which
 * runs the same ELFs in its vCPU process. */
static inline const char *bench_backend(void)
{
	const char *b = getenv("NUB_BENCH_BACKEND");

	return b && b[0] ? b : "mock";
}

/* NUB_BENCH_OPTIONS: the backend's option string (nub_config.
 * backend_options), NULL when unset or empty. */
static inline const char *bench_options(void)
{
	const char *o = getenv("NUB_BENCH_OPTIONS");

	return o && o[0] ? o : NULL;
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

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static inline double bench_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One of the things measured against each other, run `n` requests a round. */
#define BENCH_MAX_ROUNDS 15
struct bench_contender {
	const char *name; /* "nub..." for nub's own */
	double (*run)(void *ctx, int n);
	void *ctx;
	int n; /* requests per round */
	double sample[BENCH_MAX_ROUNDS];
};

/* Every contender once per round, in turn, so load and frequency changes
 * touch them alike; the median of the rounds in sample[0]. nub_only: the
 * peers are skipped (count-only runs). */
static inline void bench_measure(struct bench_contender *c, int nc, int rounds, int nub_only)
{
	for (int r = 0; r < rounds; r++)
		for (int i = 0; i < nc; i++)
			if (!nub_only || !strncmp(c[i].name, "nub", 3))
				c[i].sample[r] = c[i].run(c[i].ctx, c[i].n);
	for (int i = 0; i < nc; i++)
		c[i].sample[0] = bench_median(c[i].sample, rounds);
}

/* "figure vs peer" rows: c[0] (nub) against each of the others. */
static inline void bench_rows(const char *figure, const struct bench_contender *c, int nc,
                              int nub_only)
{
	char label[96];

	for (int i = 1; i < nc && !nub_only; i++) {
		snprintf(label, sizeof(label), "%s vs %s", figure, c[i].name);
		bench_row(bench_label(label), c[0].sample[0] / 1e3, "us", c[i].name,
		          c[i].sample[0] / 1e3, "time");
	}
}

/* Proportional set size of a process, in KiB (smaps_rollup); 0 if gone. */
static inline double bench_pss_kib(pid_t pid)
{
	char path[64], line[256];
	double kib = 0;

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Pss: %lf kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* This process and its children (the mock's vCPU processes). */
static inline double bench_tree_pss_kib(void)
{
	char path[64], buf[8192];
	double kib = bench_pss_kib(getpid());

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)getpid(), (int)getpid());
	FILE *f = fopen(path, "r");
	if (!f)
		return kib;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	for (char *p = strtok(buf, " \n"); p; p = strtok(NULL, " \n"))
		kib += bench_pss_kib((pid_t)atoi(p));
	return kib;
}

/* All of p to fd, or 0 when the pipe broke. */
static inline int bench_write_all(int fd, const void *p, size_t n)
{
	for (size_t d = 0; d < n;) {
		ssize_t w = write(fd, (const char *)p + d, n - d);
		if (w <= 0)
			return 0;
		d += (size_t)w;
	}
	return 1;
}

#endif
