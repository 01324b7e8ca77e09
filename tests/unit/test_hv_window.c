/* SPDX-License-Identifier: MIT */
/* A VM at a guest-physical window (ABI 1.4, NUB_VM_GPA_WINDOW): core adds
 * the base the backend reports to every GPA it hands over (regions, CR3,
 * the entries of the tables it writes) and takes it off every one it gets
 * back (CR3, MMIO exits, entries it reads), so that everything above
 * core/backend/hv.c and the resolver sees addresses relative to 0. A base
 * core cannot use is refused naming it. The mock places its VMs at a
 * window unless told otherwise, so every mock test runs this path; these
 * are the pieces one by one, on a test backend that records what it got. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include <nub/guest_abi.h>

#include "backend/backend_loader.h"
#include "backend/hv.h"
#include "memory/vmem_host.h"
#include "nub_test.h"

struct window_seen {
	uint64_t base, region_gpa, cr3;
};

static const char *backend_path(const char *dir_var, const char *name)
{
	static char path[4096];

	snprintf(path, sizeof(path), "%s/libnub-backend-%s.so", nub_test_env(dir_var), name);
	return path;
}

static struct nub_backend *load(const char *dir_var, const char *name)
{
	struct nub_error err = {0};
	struct nub_backend *b = NULL;

	if (nub_backend_load(backend_path(dir_var, name), &b, &err))
		fail_msg("load %s: %s", name, err.msg);
	return b;
}

/* What the window test backend last saw (its exported record). */
static const struct window_seen *seen(void)
{
	void *dl = dlopen(backend_path("NUB_TEST_BACKEND_DIR", "window"), RTLD_NOW | RTLD_NOLOAD);
	const struct window_seen *s;

	assert_non_null(dl);
	s = dlsym(dl, "window_seen");
	dlclose(dl);
	assert_non_null(s);
	return s;
}

static void test_addresses_are_moved_to_the_window(void **state)
{
	static char page[4096] __attribute__((aligned(4096)));
	const uint64_t base = 2 * NUB_GPA_LIMIT;
	struct nub_backend *b = load("NUB_TEST_BACKEND_DIR", "window");
	struct nub_error err = {0};
	struct nub_hv *hv = NULL;
	struct nub_region r = {.slot = 1,
	                       .flags = NUB_MEM_READ | NUB_MEM_WRITE,
	                       .gpa = 0x10000,
	                       .size = sizeof(page),
	                       .host = page};
	struct nub_sregs s = {.cr3 = 0x5000};
	struct nub_exit ex = {0};

	(void)state;
	assert_int_equal(nub_hv_create(b, NUB_GPA_LIMIT, NULL, &hv, &err), 0);
	assert_int_equal(nub_hv_gpa_base(hv), base);
	assert_int_equal(nub_hv_map_region(hv, &r, &err), 0);
	assert_int_equal(seen()->region_gpa, base + 0x10000);
	assert_int_equal(r.gpa, 0x10000); /* the caller's region is left as it was */
	assert_int_equal(nub_hv_set_sregs(hv, &s, &err), 0);
	assert_int_equal(seen()->cr3, base + 0x5000);
	memset(&s, 0, sizeof(s));
	assert_int_equal(nub_hv_get_sregs(hv, &s, &err), 0);
	assert_int_equal(s.cr3, 0x5000);
	assert_int_equal(nub_hv_run(hv, &ex, &err), 0);
	assert_int_equal(ex.reason, NUB_EXIT_MMIO_WRITE);
	assert_int_equal(ex.gpa, 0x1000);
	/* Still below the window's limit: the bound applies before the base. */
	r.slot = 2;
	r.gpa = NUB_GPA_LIMIT;
	assert_int_equal(nub_hv_map_region(hv, &r, &err), NUB_ERANGE);
	nub_hv_destroy(hv);
	nub_backend_unref(b);
}

/* nub_hv_create with `options` fails with `code` and a message holding
 * `want`, and makes nothing. */
static void expect_create_refused(struct nub_backend *b, const char *options, int code,
                                  const char *want)
{
	struct nub_error err = {0};
	struct nub_hv *hv = NULL;

	assert_int_equal(nub_hv_create(b, NUB_GPA_LIMIT, options, &hv, &err), code);
	assert_null(hv);
	if (!strstr(err.msg, want))
		fail_msg("%s: message '%s' lacks '%s'", options, err.msg, want);
}

static void test_unusable_window_is_refused(void **state)
{
	struct nub_backend *b = load("NUB_TEST_BACKEND_DIR", "window");
	struct nub_error err = {0};
	struct nub_hv *hv = NULL;
	char top[32];

	(void)state;
	expect_create_refused(b, "0x1000", NUB_EBACKEND,
	                      "window: get_gpa_base: window at GPA 0x1000 is not a multiple of "
	                      "0x1000000000 below 2^52");
	expect_create_refused(b, "0x10000000000000", NUB_EBACKEND,
	                      "window at GPA 0x10000000000000");
	/* The highest window there is. */
	snprintf(top, sizeof(top), "%llu", (unsigned long long)((1ull << 52) - NUB_GPA_LIMIT));
	assert_int_equal(nub_hv_create(b, NUB_GPA_LIMIT, top, &hv, &err), 0);
	assert_int_equal(nub_hv_gpa_base(hv), (1ull << 52) - NUB_GPA_LIMIT);
	nub_hv_destroy(hv);
	nub_backend_unref(b);
}

/* The resolver over the live tables: entries the hardware walks hold the
 * window's addresses, those it hands core are relative to 0. */
static void test_resolver_moves_entries(void **state)
{
	static uint64_t table[512] __attribute__((aligned(4096)));
	const uint64_t w = 3 * NUB_GPA_LIMIT;
	struct nub_vmem_resolver res;
	struct nub_vmem_ops ops;
	uint64_t e;

	(void)state;
	memset(table, 0, sizeof(table));
	nub_vmem_resolver_init(&res);
	assert_int_equal(nub_vmem_resolver_add(&res, 0x4000, sizeof(table), table, 1), 0);
	res.window = w;
	nub_vmem_resolver_ops(&res, 0x4000, &ops);
	assert_int_equal(ops.write_entry(ops.ctx, 0x4000, 1, 0x3000 | NUB_PTE_P | NUB_PTE_RW), 0);
	assert_int_equal(table[1], (w + 0x3000) | NUB_PTE_P | NUB_PTE_RW);
	assert_int_equal(ops.read_entry(ops.ctx, 0x4000, 1, &e), 0);
	assert_int_equal(e, 0x3000 | NUB_PTE_P | NUB_PTE_RW);
	/* Not present: no address to move, either way. */
	assert_int_equal(ops.write_entry(ops.ctx, 0x4000, 2, 0x7000), 0);
	assert_int_equal(table[2], 0x7000);
	/* A present entry below the window points at no page of this sandbox. */
	table[3] = 0x2000 | NUB_PTE_P;
	assert_int_equal(ops.read_entry(ops.ctx, 0x4000, 3, &e), 0);
	assert_int_equal(e, 0);
	/* One past what an entry can hold is refused, not wrapped. */
	assert_int_equal(
	        ops.write_entry(ops.ctx, 0x4000, 4, (NUB_PTE_ADDR_MASK - w + 0x1000) | NUB_PTE_P),
	        NUB_ERANGE);
	/* Tables copied in are moved the same way: present entries only. */
	table[5] = 0x9000 | NUB_PTE_P | NUB_PTE_NX;
	nub_vmem_tables_rebase(table, sizeof(table), w);
	assert_int_equal(table[5], (w + 0x9000) | NUB_PTE_P | NUB_PTE_NX);
	assert_int_equal(table[2], 0x7000);
}

static void expect_mock_base(struct nub_backend *b, const char *options, uint64_t want)
{
	struct nub_error err = {0};
	struct nub_hv *hv = NULL;

	if (nub_hv_create(b, NUB_GPA_LIMIT, options, &hv, &err))
		fail_msg("%s: %s", options ? options : "(none)", err.msg);
	assert_int_equal(nub_hv_gpa_base(hv), want);
	nub_hv_destroy(hv);
}

/* The mock: window 1 by default, "window=N" moves it, nonsense is refused;
 * both numbers are decimal, whole values (no hex, no trailing junk: the
 * tokenizer the three backends share, backends/common/options.c). */
static void test_mock_window_option(void **state)
{
	struct nub_backend *b = load("NUB_PLUGIN_BUILD_DIR", "mock");

	(void)state;
	expect_create_refused(b, "budget=0x10", NUB_EINVAL,
	                      "mock: vm_create: option budget=0x10: want a decimal count");
	expect_create_refused(b, "budget=12junk", NUB_EINVAL,
	                      "option budget=12junk: want a decimal count");
	expect_create_refused(b, "budget=", NUB_EINVAL, "option budget=: want a decimal count");
	expect_create_refused(b, "window=0x1", NUB_EINVAL, "option window=0x1: want 0 to 65535");
	expect_create_refused(b, "window=65536", NUB_EINVAL,
	                      "option window=65536: want 0 to 65535");
	expect_mock_base(b, "budget=18446744073709551615,window=1", NUB_GPA_LIMIT);
	expect_mock_base(b, NULL, NUB_GPA_LIMIT);
	expect_mock_base(b, "window=0", 0);
	expect_mock_base(b, "window=3", 3 * NUB_GPA_LIMIT);
	expect_mock_base(b, "budget=5,window=2", 2 * NUB_GPA_LIMIT);
	expect_create_refused(b, "window=x", NUB_EINVAL,
	                      "mock: vm_create: option window=x: want 0 to 65535");
	nub_backend_unref(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_addresses_are_moved_to_the_window),
	        cmocka_unit_test(test_unusable_window_is_refused),
	        cmocka_unit_test(test_resolver_moves_entries),
	        cmocka_unit_test(test_mock_window_option),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
