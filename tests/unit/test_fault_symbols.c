/* SPDX-License-Identifier: MIT */
/*
 * Symbolized faults: a guest fault's message names the function and the
 * offset the RIP is at, from the guest ELF's symbol table, and the callers
 * (the frame-pointer chain), on the backend under test; a snapshot loaded from a file (which
 * carries no symbols) still says the address. The lookup on its own: inside a function, before the
 * first, in a gap between two, past the last. Aborts name their callers
 * too, and nub_sandbox_backtrace gives the whole chain.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nub/nub.h>

#include "../../guest/tests/test_guest_ids.h"
#include "image/symbols.h"
#include "nub_test.h"
#include "nub_test_sandbox.h"

static const char *fault_message(struct nub_sandbox *sb, uint32_t fn)
{
	int rc = 0;

	nub_test_try_call(sb, fn, NULL, 0, NULL, 0, &rc);
	assert_true(rc == NUB_EGUEST_FAULT || rc == NUB_EPRIVILEGED);
	return nub_sandbox_last_error(sb);
}

static void expect_has(const char *msg, const char *part)
{
	if (!strstr(msg, part))
		fail_msg("\"%s\" lacks \"%s\"", msg, part);
}

static void test_faults_name_the_function(void **state)
{
	struct nub_sandbox *sb = nub_test_sandbox("test_guest", NULL);
	(void)state;

	expect_has(fault_message(sb, NUB_TG_NULL_DEREF), "(null_deref+0x");
	expect_has(nub_sandbox_last_error(sb),
	           "guest fault: vector 14 (#PF page fault) error code");
	expect_has(nub_sandbox_last_error(sb), "), CR2 0x0");
	/* The frame-pointer chain: the runtime's dispatch called it. */
	expect_has(nub_sandbox_last_error(sb), "; called from nub_rt_dispatch+0x");
	assert_int_equal(nub_sandbox_restore(sb, NULL), 0);
	expect_has(fault_message(sb, NUB_TG_PRIVILEGED), "(privileged+0x");
	nub_sandbox_free(sb);
}

/* An abort names its callers too; nub_sandbox_backtrace gives the whole
 * chain of the last fault or abort, and refuses when there is none. */
static void test_abort_and_the_whole_backtrace(void **state)
{
	struct nub_sandbox *sb = nub_test_sandbox("test_guest", NULL);
	struct nub_frame f[64];
	uint8_t out[16];
	size_t n = 0;
	int rc = 0;
	(void)state;

	assert_int_equal(nub_sandbox_backtrace(sb, f, 64, &n), NUB_ENOTFOUND);
	expect_has(nub_sandbox_last_error(sb), "backtrace: the last call did not stop at a fault");
	nub_test_try_call(sb, NUB_TG_ABORT, "\x2a\0\0\0why", 7, out, sizeof(out), &rc);
	assert_int_equal(rc, NUB_EGUEST_ABORT);
	expect_has(nub_sandbox_last_error(sb), "guest abort: code 0x2a: why; called from ");
	expect_has(nub_sandbox_last_error(sb), " < do_abort+0x");
	assert_int_equal(nub_sandbox_backtrace(sb, f, 64, &n), 0);
	assert_true(n >= 3);
	assert_true(f[0].function[0] != 0); /* in the runtime, at the doorbell */
	int saw = 0;
	for (size_t i = 1; i < n; i++)
		saw |= !strncmp(f[i].function, "do_abort+0x", 11);
	assert_true(saw);
	assert_int_equal(nub_sandbox_restore(sb, NULL), 0);
	assert_int_equal(nub_sandbox_backtrace(sb, f, 64, &n), NUB_ENOTFOUND);
	fault_message(sb, NUB_TG_NULL_DEREF);
	assert_int_equal(nub_sandbox_backtrace(sb, f, 64, &n), 0);
	expect_has(f[0].function, "null_deref+0x");
	assert_true(n >= 2);
	expect_has(f[1].function, "nub_rt_dispatch+0x");
	/* A caller's room is respected. */
	assert_int_equal(nub_sandbox_backtrace(sb, f, 1, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(nub_sandbox_backtrace(sb, f, 0, &n), NUB_EINVAL);
	assert_int_equal(nub_sandbox_backtrace(sb, NULL, 4, &n), NUB_EINVAL);
	nub_sandbox_free(sb);
}

static void test_a_file_snapshot_keeps_the_symbols(void **state)
{
	struct nub_sandbox *sb = nub_test_sandbox("test_guest", NULL), *back;
	struct nub_snapshot *snap;
	struct nub_config cfg;
	struct nub_error err = {0};
	char dir[256], path[300];
	(void)state;

	nub_test_tmpdir(dir, sizeof(dir), "syms");
	snprintf(path, sizeof(path), "%s/s.snap", dir);
	assert_int_equal(nub_sandbox_snapshot(sb, &snap), 0);
	assert_int_equal(nub_snapshot_save(snap, path, &err), 0);
	nub_config_init(&cfg);
	nub_test_use_backend(&cfg);
	assert_int_equal(nub_sandbox_create_from_file(&cfg, path, &back, &err), 0);
	assert_int_equal(nub_sandbox_evolve(back), 0);
	const char *msg = fault_message(back, NUB_TG_NULL_DEREF);
	expect_has(msg, "error code 0x4 at RIP 0x");
	expect_has(msg, "(null_deref+0x");
	expect_has(msg, "; called from nub_rt_dispatch+0x");
	nub_sandbox_free(back);
	nub_sandbox_free(sb);
	nub_snapshot_unref(snap);
	nub_test_rmtree(dir);
}

/* A timeout says where the loop was when the backend knew the RIP (KVM
 * may stop a call before the guest ran again: then no place is named). */
static void test_timeout_names_the_loop(void **state)
{
	struct nub_snapshot *snap = nub_test_snapshot_after_init("test_guest");
	struct nub_config cfg;
	struct nub_error err = {0};
	struct nub_sandbox *sb;
	int rc = 0;
	(void)state;

	nub_config_init(&cfg);
	nub_test_use_backend(&cfg);
	cfg.call_timeout_us = 200 * 1000;
	assert_int_equal(nub_sandbox_create_from_snapshot(&cfg, snap, &sb, &err), 0);
	assert_int_equal(nub_sandbox_evolve(sb), 0);
	nub_test_try_call(sb, NUB_TG_SPIN, NULL, 0, NULL, 0, &rc);
	assert_int_equal(rc, NUB_ETIMEDOUT);
	const char *msg = nub_sandbox_last_error(sb);
	expect_has(msg, "call exceeded its timeout of 200000 us");
	if (strstr(msg, ", stopped in "))
		expect_has(msg, ", stopped in spin+0x");
	nub_sandbox_free(sb);
	nub_snapshot_unref(snap);
}

static void test_lookup(void **state)
{
	struct nub_symbol e[] = {{0x100, 0x10, 0}, {0x200, 0x20, 2}};
	char names[] = "f\0g";
	struct nub_symbols s = {.n = 2, .e = e, .names = names};
	char buf[64];
	(void)state;

	nub_symbols_describe(&s, 0x105, buf, sizeof(buf));
	assert_string_equal(buf, "f+0x5");
	nub_symbols_describe(&s, 0x21f, buf, sizeof(buf));
	assert_string_equal(buf, "g+0x1f");
	nub_symbols_describe(&s, 0xff, buf, sizeof(buf));
	assert_string_equal(buf, "");
	nub_symbols_describe(&s, 0x110, buf, sizeof(buf)); /* the gap after f */
	assert_string_equal(buf, "");
	nub_symbols_describe(&s, 0x220, buf, sizeof(buf));
	assert_string_equal(buf, "");
	nub_symbols_describe(NULL, 0x105, buf, sizeof(buf));
	assert_string_equal(buf, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_faults_name_the_function),
	        cmocka_unit_test(test_abort_and_the_whole_backtrace),
	        cmocka_unit_test(test_a_file_snapshot_keeps_the_symbols),
	        cmocka_unit_test(test_timeout_names_the_loop),
	        cmocka_unit_test(test_lookup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
