/* SPDX-License-Identifier: MIT */
/* The backend loader: every failure is a distinct error naming the file. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend_loader.h"
#include "backend/hv.h"
#include "nub_test.h"

static const char *test_backend(const char *name)
{
	static char path[4096];

	snprintf(path, sizeof(path), "%s/libnub-backend-%s.so",
	         nub_test_env("NUB_TEST_BACKEND_DIR"), name);
	return path;
}

static void expect_load_error(const char *spec, int code, const char *needle)
{
	struct nub_error err = {0};
	struct nub_backend *b = (struct nub_backend *)0x1;

	assert_nub_error(nub_backend_load(spec, &b, &err), code, &err, needle);
	assert_null(b);
}

static void test_not_found_by_path(void **state)
{
	(void)state;
	expect_load_error("/nonexistent/libnub-backend-x.so", NUB_ENOTFOUND,
	                  "/nonexistent/libnub-backend-x.so: backend not found");
}

static void test_not_found_by_name(void **state)
{
	(void)state;
	setenv("NUB_BACKEND_PATH", "/nonexistent-a:/nonexistent-b", 1);
	expect_load_error("nosuch", NUB_ENOTFOUND, "backend 'nosuch' not found");
	expect_load_error("nosuch", NUB_ENOTFOUND, "/nonexistent-a:/nonexistent-b");
	unsetenv("NUB_BACKEND_PATH");
}

static void test_search_order(void **state)
{
	static struct nub_backend_search s;
	const char *dir;
	size_t n = 1;

	(void)state;
	/* The variable's entries in order, empty ones skipped, then the
	 * configured directories, all of them. */
	setenv("NUB_BACKEND_PATH", "/a::/b:", 1);
	nub_backend_search_start(&s);
	assert_string_equal(nub_backend_search_next(&s), "/a");
	assert_false(s.in_dirs);
	assert_string_equal(nub_backend_search_next(&s), "/b");
	dir = nub_backend_search_next(&s);
	assert_true(s.in_dirs);
	assert_ptr_equal(dir, s.dirs.dir[0]);
	while (nub_backend_search_next(&s))
		n++;
	assert_int_equal(n, s.dirs.n);
	assert_null(nub_backend_search_next(&s));
	unsetenv("NUB_BACKEND_PATH");
}

static void test_bad_name(void **state)
{
	(void)state;
	expect_load_error("Bad Name!", NUB_EINVAL, "is not a name");
}

static void test_not_a_backend(void **state)
{
	(void)state;
	const char *p = test_backend("nosym");
	expect_load_error(p, NUB_ENOSYM, "symbol 'nub_backend_entry' missing");
	expect_load_error(p, NUB_ENOSYM, p);
}

static void test_not_a_shared_object(void **state)
{
	(void)state;
	/* A text file: dlopen fails, reported as not loadable, naming it. */
	const char *p = nub_test_path("NUB_SOURCE_DIR", "CMakeLists.txt");
	char copy[4096];
	snprintf(copy, sizeof(copy), "%s", p);
	expect_load_error(copy, NUB_ENOSYM, "cannot be loaded as a backend");
}

static void test_abi_major_mismatch(void **state)
{
	(void)state;
	char want[64];
	snprintf(want, sizeof(want), "backend ABI 2.7, this libnub speaks ABI %u.%u",
	         NUB_BACKEND_ABI_MAJOR, NUB_BACKEND_ABI_MINOR);
	expect_load_error(test_backend("oldmajor"), NUB_EABI, want);
}

static void test_table_too_short(void **state)
{
	(void)state;
	expect_load_error(test_backend("short"), NUB_ESHORT, "at least");
}

static void test_required_slot_null(void **state)
{
	(void)state;
	expect_load_error(test_backend("nullslot"), NUB_ESLOT,
	                  "required backend slot 'run_vcpu' is NULL");
}

static void test_entry_returns_null(void **state)
{
	const char *p = test_backend("nullentry");

	(void)state;
	expect_load_error(p, NUB_ENOSYM,
	                  "libnub-backend-nullentry.so: 'nub_backend_entry' returned NULL");
	expect_load_error(p, NUB_ENOSYM, p);
}

static void test_table_without_name(void **state)
{
	(void)state;
	expect_load_error(test_backend("noname"), NUB_ESLOT,
	                  "libnub-backend-noname.so: backend table has no name");
}

static void test_probe_declines(void **state)
{
	(void)state;
	expect_load_error(test_backend("declines"), NUB_EPROBE,
	                  "libnub-backend-declines.so: backend 'declines' is not usable here: no "
	                  "hypervisor in this test");
}

static void test_newer_minor_accepted(void **state)
{
	(void)state;
	struct nub_error err = {0};
	struct nub_backend *b = NULL;

	assert_int_equal(nub_backend_load(test_backend("future"), &b, &err), 0);
	assert_string_equal(nub_hv_backend_name(b), "future");
	/* Core's copy stops at its own struct size: optional slots it knows
	 * but the backend did not set stay NULL. */
	assert_null(nub_backend_ops(b)->set_fpu);
	nub_backend_unref(b);
}

/* Core promises NUB_VM_MMIO_ENDS_AT_PAGE_END to a backend of ABI 1.3 or
 * later and NUB_VM_GPA_WINDOW to one of 1.4 or later, and sends a 1.2
 * backend (which may refuse any flag) none: each of these backends
 * refuses a VM whose flags are not exactly those of its minor. */
static void test_vm_flags_by_minor(void **state)
{
	(void)state;
	static const char *const names[] = {"flags", "minor3", "minor2"};
	struct nub_error err = {0};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct nub_backend *b = NULL;
		struct nub_hv *hv = NULL;
		assert_int_equal(nub_backend_load(test_backend(names[i]), &b, &err), 0);
		if (nub_hv_create(b, 1ull << 36, NULL, &hv, &err))
			fail_msg("%s: %s", names[i], err.msg);
		nub_hv_destroy(hv);
		nub_backend_unref(b);
	}
}

static void test_name_via_backend_path(void **state)
{
	(void)state;
	struct nub_error err = {0};
	struct nub_backend *b = NULL;

	setenv("NUB_BACKEND_PATH", nub_test_env("NUB_TEST_BACKEND_DIR"), 1);
	assert_int_equal(nub_backend_load("future", &b, &err), 0);
	assert_non_null(strstr(nub_backend_path(b), "libnub-backend-future.so"));
	nub_backend_unref(b);
	unsetenv("NUB_BACKEND_PATH");
}

static void test_mock_from_build_tree(void **state)
{
	(void)state;
	struct nub_error err = {0};
	struct nub_backend *b = NULL;

	assert_int_equal(nub_backend_load("mock", &b, &err), 0);
	assert_string_equal(nub_hv_backend_name(b), "mock");
	assert_false(nub_backend_ops(b)->caps & NUB_CAP_HW_ISOLATION);
	nub_backend_unref(b);
}

/* Whether the object at `path` is loaded in this process now. */
static int is_loaded(const char *path)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);

	if (h)
		dlclose(h);
	return h != NULL;
}

/* A backend outlives its last reference (its per-process state, a signal
 * handler it installed); a file that is not one does not stay. */
static void test_backend_stays_loaded_after_its_last_unref(void **state)
{
	struct nub_error err = {0};
	struct nub_backend *b = NULL;
	char path[4096];

	(void)state;
	snprintf(path, sizeof(path), "%s", test_backend("full"));
	assert_int_equal(nub_backend_load(path, &b, &err), 0);
	nub_backend_unref(b);
	assert_true(is_loaded(path));
	assert_int_equal(nub_backend_load(path, &b, &err), 0); /* and loads again */
	assert_string_equal(nub_hv_backend_name(b), "full");
	nub_backend_unref(b);

	const char *p = test_backend("nosym");
	expect_load_error(p, NUB_ENOSYM, "symbol 'nub_backend_entry' missing");
	assert_false(is_loaded(p));
	p = test_backend("oldmajor");
	expect_load_error(p, NUB_EABI, "backend ABI 2.7");
	assert_false(is_loaded(p));
}

static void test_spec_precedence(void **state)
{
	(void)state;
	unsetenv("NUB_BACKEND");
	assert_string_equal(nub_backend_choose_spec(NULL), "auto");
	assert_string_equal(nub_backend_choose_spec(""), "auto");
	setenv("NUB_BACKEND", "mock", 1);
	assert_string_equal(nub_backend_choose_spec(NULL), "mock");
	assert_string_equal(nub_backend_choose_spec("kvm"), "kvm"); /* config wins */
	unsetenv("NUB_BACKEND");
}

static void test_auto_never_picks_mock(void **state)
{
	(void)state;
	struct nub_error err = {0};
	struct nub_backend *b = NULL;

	/* Even with only the mock findable, auto must refuse rather than
	 * pretend to isolate. On a host with KVM this may succeed with kvm. */
	int rc = nub_backend_load("auto", &b, &err);
	if (rc == 0) {
		assert_true(nub_backend_ops(b)->caps & NUB_CAP_HW_ISOLATION);
		assert_string_not_equal(nub_hv_backend_name(b), "mock");
		nub_backend_unref(b);
	} else {
		assert_nub_error(rc, NUB_EPROBE, &err, "no usable backend (auto tried kvm, mshv)");
	}
}

static void test_hv_wrapper_checks_and_injection(void **state)
{
	(void)state;
	struct nub_error err = {0};
	struct nub_backend *b = NULL;
	struct nub_hv *hv = NULL;
	static char page[8192] __attribute__((aligned(4096)));
	struct nub_region r = {.slot = 0,
	                       .flags = NUB_MEM_READ | NUB_MEM_WRITE,
	                       .gpa = 0x1000,
	                       .size = 4096,
	                       .host = page};
	struct nub_exit ex;

	assert_int_equal(nub_backend_load("mock", &b, &err), 0);
	assert_int_equal(nub_hv_create(b, 1ull << 36, NULL, &hv, &err), 0);
	nub_backend_unref(b); /* hv keeps its own reference */

	struct nub_region bad = r;
	bad.gpa = 0x1001;
	/* Core's own checks name backend and slot, as backends' messages get. */
	assert_nub_error(nub_hv_map_region(hv, &bad, &err), NUB_EINVAL, &err,
	                 "mock: map_region: gpa 0x1001 size 0x1000 host");
	assert_non_null(strstr(err.msg, "not page-aligned"));
	bad = r;
	bad.gpa = (1ull << 36) - 4096;
	bad.size = 8192;
	assert_nub_error(nub_hv_map_region(hv, &bad, &err), NUB_ERANGE, &err,
	                 "mock: map_region: [0xffffff000, +0x2000) beyond GPA limit");
	bad = r;
	bad.slot = 99;
	assert_nub_error(nub_hv_map_region(hv, &bad, &err), NUB_EINVAL, &err,
	                 "mock: map_region: slot 99 invalid or in use");

	assert_int_equal(nub_hv_map_region(hv, &r, &err), 0);
	assert_nub_error(nub_hv_map_region(hv, &r, &err), NUB_EINVAL, &err,
	                 "mock: map_region: slot 0 invalid or in use");
	assert_nub_error(nub_hv_unmap_region(hv, 5, &err), NUB_EINVAL, &err,
	                 "mock: unmap_region: slot 5 not mapped");
	assert_nub_error(nub_hv_set_regs(hv, NULL, &err), NUB_EINVAL, &err,
	                 "mock: set_regs: NULL argument");

	nub_hv_inject_fault(hv, NUB_HV_SLOT_RUN, NUB_ESYS, 1);
	nub_hv_interrupt(hv);
	assert_int_equal(nub_hv_run(hv, &ex, &err), 0); /* first call passes */
	assert_int_equal(ex.reason, NUB_EXIT_CANCELLED);
	assert_nub_error(nub_hv_run(hv, &ex, &err), NUB_ESYS, &err, "mock: run_vcpu: injected");

	assert_int_equal(nub_hv_unmap_region(hv, 0, &err), 0);
	nub_hv_destroy(hv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_not_found_by_path),
	        cmocka_unit_test(test_not_found_by_name),
	        cmocka_unit_test(test_search_order),
	        cmocka_unit_test(test_bad_name),
	        cmocka_unit_test(test_not_a_backend),
	        cmocka_unit_test(test_not_a_shared_object),
	        cmocka_unit_test(test_abi_major_mismatch),
	        cmocka_unit_test(test_table_too_short),
	        cmocka_unit_test(test_required_slot_null),
	        cmocka_unit_test(test_entry_returns_null),
	        cmocka_unit_test(test_table_without_name),
	        cmocka_unit_test(test_probe_declines),
	        cmocka_unit_test(test_newer_minor_accepted),
	        cmocka_unit_test(test_name_via_backend_path),
	        cmocka_unit_test(test_mock_from_build_tree),
	        cmocka_unit_test(test_backend_stays_loaded_after_its_last_unref),
	        cmocka_unit_test(test_vm_flags_by_minor),
	        cmocka_unit_test(test_spec_precedence),
	        cmocka_unit_test(test_auto_never_picks_mock),
	        cmocka_unit_test(test_hv_wrapper_checks_and_injection),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
