/* SPDX-License-Identifier: MIT */
/* Shared helpers for cmocka tests. */
#ifndef NUB_TEST_H
#define NUB_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <nub/error.h>

/* Value of a required environment variable set by CTest (fails the test
 * when missing, so a test can never silently skip its subject). */
const char *nub_test_env(const char *name);

/* Path "<$env>/<rel>" in a static per-thread buffer. */
const char *nub_test_path(const char *env, const char *rel);

/* The whole file at `path`, in memory from malloc (the caller frees it);
 * its length in *len. Fails the test when it cannot be read. */
uint8_t *nub_test_slurp(const char *path, size_t *len);

/* A fresh directory "/tmp/nub-<tag>-XXXXXX" (mkdtemp) into buf; fails the
 * test when it cannot be made. nub_test_rmtree removes a tree (rm -rf)
 * and returns 0, or -1 when it could not. */
void nub_test_tmpdir(char *buf, size_t cap, const char *tag);
int nub_test_rmtree(const char *path);
/* Write `n` bytes to "<dir>/<name>" (a new file); fails the test if it
 * cannot. */
void nub_test_write_file(const char *dir, const char *name, const void *p, size_t n);

/* Run fn(arg) in a forked child -- stdio flushed before the fork and
 * before the child's _exit, which flushes nothing -- and fail the test
 * unless the child exits with status 0 (what fn returned). For what must
 * happen in another process: one with a copy of this one's sandboxes,
 * or limits this process must not keep. */
void nub_test_in_child(int (*fn)(void *arg), void *arg);

/* How many times slower than a nominal machine this one runs plain code,
 * measured once per process by timing a fixed loop (under nested
 * emulation the test program runs emulated too, so the loop sees the
 * slowdown its guests see); at least 1. NUB_TEST_TIME_SCALE (a number)
 * overrides the measurement. */
double nub_test_time_scale(void);

/* A deadline for work that takes at most `nominal_us` on a nominal machine
 * (timeouts that must not fire): scaled by nub_test_time_scale(). Tests whose
 * verdict is "the timeout fired" need no scaling: a deadline that fires
 * early is still a deadline. */
uint64_t nub_test_timeout_us(uint64_t nominal_us);

/* Assert that rc equals want and that err->msg contains `needle`. */
#define assert_nub_error(rc, want, err, needle)                                                    \
	do {                                                                                       \
		int rc_ = (rc);                                                                    \
		if (rc_ != (want))                                                                 \
			fail_msg("expected %s, got %s (%d): %s", nub_strerror(want),               \
			         nub_strerror(rc_), rc_, (err)->msg);                              \
		if (!strstr((err)->msg, (needle)))                                                 \
			fail_msg("message '%s' lacks '%s'", (err)->msg, (needle));                 \
	} while (0)

#endif
