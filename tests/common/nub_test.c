/* SPDX-License-Identifier: MIT */
#include "nub_test.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *nub_test_env(const char *name)
{
	const char *v = getenv(name);

	if (!v || !v[0])
		fail_msg("environment variable %s not set (run through ctest)", name);
	return v;
}

const char *nub_test_path(const char *env, const char *rel)
{
	static _Thread_local char buf[4096];

	snprintf(buf, sizeof(buf), "%s/%s", nub_test_env(env), rel);
	return buf;
}

uint8_t *nub_test_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b;
	long n;

	if (!f)
		fail_msg("%s: cannot open", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = malloc(n > 0 ? (size_t)n : 1);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return b;
}

/* The calibration loop: a chain of dependent multiply-adds the compiler
 * cannot shorten. CALIBRATION_NOMINAL_NS is what it takes on the project's
 * reference machine (a 2026 x86-64 server core, measured there); a faster
 * machine gets scale 1, never less. */
#define CALIBRATION_ITERATIONS 4000000u
#define CALIBRATION_NOMINAL_NS 6000000.0

static double scale_value = 1.0;
static pthread_once_t scale_once = PTHREAD_ONCE_INIT;

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void scale_measure(void)
{
	const char *env = getenv("NUB_TEST_TIME_SCALE");
	volatile uint64_t sink;
	uint64_t x = 1;
	double best = 0;

	if (env && env[0] && atof(env) >= 1.0) {
		scale_value = atof(env);
		return;
	}
	/* Best of three: a preempted round measures the machine's load, not
	 * its speed, and only the speed is wanted here. */
	for (int round = 0; round < 3; round++) {
		double t = now_ns();
		for (uint32_t i = 0; i < CALIBRATION_ITERATIONS; i++)
			x = x * 6364136223846793005ull + 1442695040888963407ull;
		sink = x;
		t = now_ns() - t;
		if (round == 0 || t < best)
			best = t;
	}
	(void)sink;
	scale_value = best / CALIBRATION_NOMINAL_NS;
	if (scale_value < 1.0)
		scale_value = 1.0;
}

double nub_test_time_scale(void)
{
	pthread_once(&scale_once, scale_measure);
	return scale_value;
}

uint64_t nub_test_timeout_us(uint64_t nominal_us)
{
	return (uint64_t)((double)nominal_us * nub_test_time_scale());
}

void nub_test_tmpdir(char *buf, size_t cap, const char *tag)
{
	int n = snprintf(buf, cap, "/tmp/nub-%s-XXXXXX", tag);

	if (n < 0 || (size_t)n >= cap || !mkdtemp(buf))
		fail_msg("cannot make a temporary directory for %s", tag);
}

int nub_test_rmtree(const char *path)
{
	char cmd[600];
	int n = snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);

	return n < 0 || (size_t)n >= sizeof(cmd) || strchr(path, '\'') || system(cmd) ? -1 : 0;
}

void nub_test_write_file(const char *dir, const char *name, const void *p, size_t n)
{
	char path[4096];
	FILE *f = NULL;
	int len = snprintf(path, sizeof(path), "%s/%s", dir, name);

	if (len < 0 || (size_t)len >= sizeof(path) || !(f = fopen(path, "wb")))
		fail_msg("cannot create %s/%s", dir, name);
	if (fwrite(p, 1, n, f) != n)
		fail_msg("cannot write %s", path);
	fclose(f);
}

void nub_test_in_child(int (*fn)(void *arg), void *arg)
{
	int status = 0;

	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int rc = fn(arg);
		fflush(NULL);
		_exit(rc);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}
