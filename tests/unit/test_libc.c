/* SPDX-License-Identifier: MIT */
/*
 * Real programs in the guest: the C library test guest (musl + the runtime's
 * C library flavour) and the JavaScript guest (Duktape on it), on the
 * backend under test: the mock by default, or a hypervisor
 * (NUB_TEST_SANDBOX_BACKEND=kvm, directly and in the nested VM).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nub/guest_abi.h>
#include <nub/nub.h>

#include "../../examples/js/js_abi.h"
#include "../../guest/tests/libc_test_ids.h"
#include "nub_test.h"

struct logs {
	char text[4096];
	size_t len;
};

static void on_log(void *user, int level, const char *msg, size_t len)
{
	struct logs *l = user;
	int n = snprintf(l->text + l->len, sizeof(l->text) - l->len, "%d:%.*s|", level, (int)len,
	                 msg);
	if (n > 0 && (size_t)n < sizeof(l->text) - l->len)
		l->len += (size_t)n;
}

static struct nub_sandbox *make(const char *elf, struct logs *logs, uint64_t timeout_us)
{
	const char *b = getenv("NUB_TEST_SANDBOX_BACKEND");
	struct nub_config cfg;
	struct nub_error err = {0};
	struct nub_sandbox *sb = NULL;
	char name[64];

	snprintf(name, sizeof(name), "%s.elf", elf);
	nub_config_init(&cfg);
	cfg.backend = b && b[0] ? b : "mock";
	cfg.heap_size = 16ull << 20;
	cfg.log_fn = on_log;
	cfg.log_user = logs;
	cfg.log_level = NUB_LOG_DEBUG;
	cfg.call_timeout_us = timeout_us;
	if (nub_sandbox_create_from_elf(&cfg, nub_test_path("NUB_GUEST_DIR", name), &sb, &err))
		fail_msg("create %s: %s", elf, err.msg);
	if (nub_sandbox_evolve(sb))
		fail_msg("evolve %s: %s", elf, nub_sandbox_last_error(sb));
	return sb;
}

/* Call; returns the status, out NUL-terminated. Fails on a call error. */
static int32_t call(struct nub_sandbox *sb, uint32_t fn, const void *in, size_t len, char *out,
                    size_t cap)
{
	int32_t status = -1;
	size_t n = 0;
	int rc = nub_sandbox_call(sb, fn, in, len, out, cap - 1, &n, &status);

	if (rc)
		fail_msg("call %u: %s (%s)", fn, nub_sandbox_last_error(sb), nub_strerror(rc));
	out[n] = '\0';
	return status;
}

static void expect_error(struct nub_sandbox *sb, uint32_t fn, const void *in, size_t len, int code,
                         const char *needle)
{
	char out[256];
	int32_t status;
	size_t n;
	int rc = nub_sandbox_call(sb, fn, in, len, out, sizeof(out), &n, &status);

	if (rc != code || !strstr(nub_sandbox_last_error(sb), needle))
		fail_msg("fn %u: got %s '%s', want %s '%s'", fn, nub_strerror(rc),
		         nub_sandbox_last_error(sb), nub_strerror(code), needle);
	assert_int_equal(nub_sandbox_restore(sb, NULL), 0);
}

static void test_libc_selftest(void **state)
{
	struct logs logs = {0};
	char out[256];
	(void)state;
	struct nub_sandbox *sb = make("libc_test", &logs, 0);

	assert_int_equal(call(sb, LIBC_SELFTEST, NULL, 0, out, sizeof(out)), 0);
	assert_string_equal(out, "ok");
	/* again after a restore: the C library's state comes back warm */
	assert_int_equal(nub_sandbox_restore(sb, NULL), 0);
	assert_int_equal(call(sb, LIBC_SELFTEST, NULL, 0, out, sizeof(out)), 0);
	assert_string_equal(out, "ok");
	nub_sandbox_free(sb);
}

static void test_libc_formats_and_parses(void **state)
{
	struct logs logs = {0};
	char out[256];
	double pi = 3.14159265358979;
	(void)state;
	struct nub_sandbox *sb = make("libc_test", &logs, 0);

	assert_int_equal(call(sb, LIBC_PRINTF, &pi, sizeof(pi), out, sizeof(out)), 0);
	assert_string_equal(out, "3.142 3.14159 3.141593e+00");
	assert_int_equal(call(sb, LIBC_STRTOD, "1e-3", 4, out, sizeof(out)), 0);
	assert_string_equal(out, "0.001");
	assert_int_equal(call(sb, LIBC_STRTOD, "0x1p-2", 6, out, sizeof(out)), 0);
	assert_string_equal(out, "0.25");
	nub_sandbox_free(sb);
}

static void test_libc_stdout_is_the_log(void **state)
{
	struct logs logs = {0};
	char out[64];
	(void)state;
	struct nub_sandbox *sb = make("libc_test", &logs, 0);

	logs.len = 0;
	assert_int_equal(call(sb, LIBC_PUTS, "hello, log", 10, out, sizeof(out)), 0);
	assert_string_equal(logs.text, "3:hello, log|");
	nub_sandbox_free(sb);
}

static void test_libc_time_and_state(void **state)
{
	struct logs logs = {0};
	char out[64];
	int64_t t;
	uint64_t c;
	(void)state;
	struct nub_sandbox *sb = make("libc_test", &logs, 0);

	assert_int_equal(call(sb, LIBC_TIME, NULL, 0, out, sizeof(out)), 0);
	memcpy(&t, out, sizeof(t));
	assert_true(llabs(t - (int64_t)time(NULL)) <= 5);
	/* static state lives across calls, a restore brings back the snapshot's */
	for (uint64_t want = 1; want <= 3; want++) {
		assert_int_equal(call(sb, LIBC_COUNT, NULL, 0, out, sizeof(out)), 0);
		memcpy(&c, out, sizeof(c));
		assert_int_equal(c, want);
	}
	assert_int_equal(nub_sandbox_restore(sb, NULL), 0);
	assert_int_equal(call(sb, LIBC_COUNT, NULL, 0, out, sizeof(out)), 0);
	memcpy(&c, out, sizeof(c));
	assert_int_equal(c, 1);
	nub_sandbox_free(sb);
}

static void test_libc_memory(void **state)
{
	struct logs logs = {0};
	char out[64];
	uint64_t big = 1ull << 40, some = 8ull << 20;
	(void)state;
	struct nub_sandbox *sb = make("libc_test", &logs, 0);

	assert_int_equal(call(sb, LIBC_MALLOC, &big, sizeof(big), out, sizeof(out)), 0);
	assert_string_equal(out, "NULL");
	assert_int_equal(call(sb, LIBC_MALLOC, &some, sizeof(some), out, sizeof(out)), 0);
	assert_string_equal(out, "ok");
	/* freed memory is handed out again (and cleared) */
	assert_int_equal(call(sb, LIBC_MALLOC, &some, sizeof(some), out, sizeof(out)), 0);
	assert_string_equal(out, "ok");
	nub_sandbox_free(sb);
}

static void test_libc_exit_and_abort_end_the_call(void **state)
{
	struct logs logs = {0};
	char out[64];
	uint8_t code = 3;
	(void)state;
	struct nub_sandbox *sb = make("libc_test", &logs, 0);

	expect_error(sb, LIBC_EXIT, &code, 1, NUB_EGUEST_ABORT, "exit(3)");
	expect_error(sb, LIBC_ABORT, NULL, 0, NUB_EGUEST_ABORT, "killed by signal 6");
	/* a system call on a stack that is not there faults in the entry */
	expect_error(sb, LIBC_BAD_STACK, NULL, 0, NUB_EGUEST_FAULT, "CR2 0xf78");
	assert_int_equal(call(sb, LIBC_SELFTEST, NULL, 0, out, sizeof(out)), 0);
	assert_string_equal(out, "ok");
	nub_sandbox_free(sb);
}

/* A C library's system calls never leave the VM: a call that makes 2,000
 * of them costs the one exit that ends it (the backend's LSTAR is the
 * entry, or the host's CPL0 bounce sends them there), on every backend --
 * and the first time, one per page it writes first. */
static void test_libc_system_calls_are_not_exits(void **state)
{
	struct logs logs = {0};
	struct nub_sandbox_stats before, after;
	uint32_t n = 2000;
	int64_t pid = 0;
	int32_t status = -1;
	size_t len = 0;
	(void)state;
	struct nub_sandbox *sb = make("libc_test", &logs, 0);

	for (int round = 0; round < 2; round++) {
		nub_sandbox_stats(sb, &before);
		assert_int_equal(nub_sandbox_call(sb, LIBC_SYSCALLS, &n, sizeof(n), &pid,
		                                  sizeof(pid), &len, &status),
		                 0);
		nub_sandbox_stats(sb, &after);
		assert_int_equal(status, 0);
		assert_int_equal(len, sizeof(pid));
		assert_true(pid > 0);
		/* The exit that ends the call, and one for each page the call
		 * wrote first (none once the restore has kept them). */
		assert_int_equal(after.vm_exits - before.vm_exits,
		                 1 + after.cow_faults - before.cow_faults);
		if (round)
			assert_int_equal(after.cow_faults, before.cow_faults);
		assert_int_equal(nub_sandbox_restore(sb, NULL), 0); /* and after a restore */
	}
	nub_sandbox_free(sb);
}

/* getenv and environ in a call (they faulted: musl kept the environment on
 * the start-up stack, which calls reuse), and time conversion as C says. */
static void test_libc_environment_and_time_conversion(void **state)
{
	struct logs logs = {0};
	char out[256];
	int64_t t = 1700000000; /* 2023-11-14 22:13:20 UTC */
	(void)state;
	struct nub_sandbox *sb = make("libc_test", &logs, 0);

	for (int round = 0; round < 2; round++) {
		assert_int_equal(call(sb, LIBC_ENV, NULL, 0, out, sizeof(out)), 0);
		assert_string_equal(out, "ok");
		assert_int_equal(call(sb, LIBC_TIME_CONV, &t, sizeof(t), out, sizeof(out)), 0);
		assert_string_equal(out,
		                    "2023-11-14 22:13:20|2023-11-14 23:13:20|2023-11-14 22:13:20");
		assert_int_equal(nub_sandbox_restore(sb, NULL), 0);
	}
	nub_sandbox_free(sb);
}

static void rand_draw(struct nub_sandbox *sb, int32_t v[8])
{
	char out[64];
	assert_int_equal(call(sb, LIBC_RAND, NULL, 0, out, sizeof(out)), 0);
	memcpy(v, out, 8 * sizeof(int32_t));
}

static int same_draw(const int32_t a[8], const int32_t b[8], int from, int to)
{
	return !memcmp(a + from, b + from, (size_t)(to - from) * sizeof(int32_t));
}

/* A snapshot holds the C library's generators; every restore and every
 * sandbox of the snapshot reseeds them (rand, random, lrand48), while calls
 * without a restore go on with the sequence. */
static void test_libc_fresh_random_after_restore(void **state)
{
	struct logs logs = {0};
	struct nub_snapshot *snap = NULL;
	struct nub_error err = {0};
	int32_t a[8], b[8], c[8], d[8];
	(void)state;
	struct nub_sandbox *sb = make("libc_test", &logs, 0);

	rand_draw(sb, a);
	rand_draw(sb, b);
	assert_false(same_draw(a, b, 0, 4)); /* the sequence goes on */
	assert_int_equal(nub_sandbox_restore(sb, NULL), 0);
	rand_draw(sb, c);
	for (int g = 0; g < 3; g++) { /* rand, random, lrand48: each reseeded */
		int from = g == 0 ? 0 : g == 1 ? 4 : 6, to = g == 0 ? 4 : g == 1 ? 6 : 8;
		if (same_draw(a, c, from, to))
			fail_msg("generator %d replays its sequence after a restore", g);
	}
	assert_int_equal(nub_sandbox_snapshot(sb, &snap), 0);
	struct nub_config cfg;
	nub_config_init(&cfg);
	const char *be = getenv("NUB_TEST_SANDBOX_BACKEND");
	cfg.backend = be && be[0] ? be : "mock";
	struct nub_sandbox *sb2 = NULL;
	if (nub_sandbox_create_from_snapshot(&cfg, snap, &sb2, &err) || nub_sandbox_evolve(sb2))
		fail_msg("second sandbox: %s", err.msg);
	rand_draw(sb2, d);
	assert_false(same_draw(c, d, 0, 8));
	assert_false(same_draw(a, d, 0, 8));
	nub_sandbox_free(sb2);
	nub_snapshot_unref(snap);
	nub_sandbox_free(sb);
}

/* ---- JavaScript ---- */

static int32_t upper(void *user, const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                     size_t *out_len)
{
	const uint8_t *nul = memchr(in, 0, in_len);
	(void)user;
	if (!nul || strcmp((const char *)in, "upper"))
		return NUB_ENOTFOUND;
	size_t n = in_len - (size_t)(nul + 1 - in);
	if (n > cap)
		return NUB_EFULL;
	for (size_t i = 0; i < n; i++)
		out[i] = (nul[1 + i] >= 'a' && nul[1 + i] <= 'z') ? nul[1 + i] - 32 : nul[1 + i];
	*out_len = n;
	return 0;
}

static int32_t js(struct nub_sandbox *sb, const char *src, char *out, size_t cap)
{
	return call(sb, JS_FN_EVAL, src, strlen(src), out, cap);
}

static void test_js_eval(void **state)
{
	struct logs logs = {0};
	char out[512];
	(void)state;
	struct nub_sandbox *sb = make("js", &logs, 0);

	assert_int_equal(nub_sandbox_register(sb, JS_HOST_CALL, upper, NULL), 0);
	assert_int_equal(js(sb, "1+2", out, sizeof(out)), 0);
	assert_string_equal(out, "3");
	assert_int_equal(js(sb, "JSON.stringify({a: [1, 2].map(function (x) { return x * 3; })})",
	                    out, sizeof(out)),
	                 0);
	assert_string_equal(out, "{\"a\":[3,6]}");
	assert_int_equal(js(sb, "Math.sqrt(2).toFixed(4) + ' ' + (0.1 + 0.2)", out, sizeof(out)),
	                 0);
	assert_string_equal(out, "1.4142 0.30000000000000004");
	assert_int_equal(js(sb, "host.call('upper', 'from js')", out, sizeof(out)), 0);
	assert_string_equal(out, "FROM JS");
	logs.len = 0;
	assert_int_equal(js(sb, "console.log('a', 1, true); 'done'", out, sizeof(out)), 0);
	assert_string_equal(logs.text, "3:a 1 true|");
	assert_int_equal(js(sb, "Date.now() > 1.7e12", out, sizeof(out)), 0);
	assert_string_equal(out, "true");
	nub_sandbox_free(sb);
}

static void test_js_errors_and_recovery(void **state)
{
	struct logs logs = {0};
	char out[512];
	(void)state;
	/* No call timeout here: how long running out of heap takes depends on
	 * the machine (seconds under nested emulation). */
	struct nub_sandbox *sb = make("js", &logs, 0);

	/* a throw is an answer, not a failure of the sandbox */
	assert_int_equal(js(sb, "throw new TypeError('boom')", out, sizeof(out)), JS_STATUS_THROWN);
	assert_non_null(strstr(out, "TypeError: boom"));
	assert_int_equal(js(sb, "host.call('nosuch', 'x')", out, sizeof(out)), JS_STATUS_THROWN);
	assert_non_null(strstr(out, "host.call('nosuch') failed"));
	/* global state persists until a restore */
	assert_int_equal(js(sb, "var g = 41; g", out, sizeof(out)), 0);
	assert_int_equal(js(sb, "++g", out, sizeof(out)), 0);
	assert_string_equal(out, "42");
	assert_int_equal(nub_sandbox_restore(sb, NULL), 0);
	assert_int_equal(js(sb, "typeof g", out, sizeof(out)), 0);
	assert_string_equal(out, "undefined");
	/* exhausting the heap is an error in the script */
	assert_int_equal(js(sb, "var a = []; while (true) a.push('x'.repeat(100000) + a.length);",
	                    out, sizeof(out)),
	                 JS_STATUS_THROWN);
	assert_non_null(strstr(out, "alloc failed"));
	assert_int_equal(nub_sandbox_restore(sb, NULL), 0);
	assert_int_equal(js(sb, "1+2", out, sizeof(out)), 0);
	nub_sandbox_free(sb);
	/* An endless loop is ended by the call timeout, whatever its length;
	 * the call after the restore must fit in it: scaled to this machine. */
	sb = make("js", &logs, nub_test_timeout_us(2 * 1000 * 1000));
	expect_error(sb, JS_FN_EVAL, "for (;;) {}", 11, NUB_ETIMEDOUT, "timeout");
	assert_int_equal(js(sb, "1+2", out, sizeof(out)), 0);
	assert_string_equal(out, "3");
	nub_sandbox_free(sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_libc_selftest),
	        cmocka_unit_test(test_libc_formats_and_parses),
	        cmocka_unit_test(test_libc_stdout_is_the_log),
	        cmocka_unit_test(test_libc_time_and_state),
	        cmocka_unit_test(test_libc_memory),
	        cmocka_unit_test(test_libc_exit_and_abort_end_the_call),
	        cmocka_unit_test(test_libc_system_calls_are_not_exits),
	        cmocka_unit_test(test_libc_environment_and_time_conversion),
	        cmocka_unit_test(test_libc_fresh_random_after_restore),
	        cmocka_unit_test(test_js_eval),
	        cmocka_unit_test(test_js_errors_and_recovery),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
