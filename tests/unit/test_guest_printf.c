/* SPDX-License-Identifier: MIT */
/* The guest's printf subset (guest/lib/format.c), compiled for the host and
 * compared with libc's snprintf on every conversion it supports. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "../../guest/lib/format.c"
#include "nub_test.h"

/* Truncation and NULL %s are the point of these comparisons; the
 * unsupported-conversion test feeds formats gcc rightly refuses. */
#ifndef __clang__ /* gcc's own groups (the fuzz build is clang) */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#pragma GCC diagnostic ignored "-Wformat-overflow"
#endif
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#pragma GCC diagnostic ignored "-Wformat-security"
#pragma GCC diagnostic ignored "-Wformat"
#pragma GCC diagnostic ignored "-Wformat-extra-args"

/* Both formatters, same literal format, full and truncated buffers. */
#define SAME(...)                                                                                  \
	do {                                                                                       \
		char want_[256], got_[256];                                                        \
		int wn_ = snprintf(want_, sizeof(want_), __VA_ARGS__);                             \
		int gn_ = nub_snprintf(got_, sizeof(got_), __VA_ARGS__);                           \
		assert_string_equal(got_, want_);                                                  \
		assert_int_equal(gn_, wn_);                                                        \
		for (size_t cap_ = 0; cap_ < 12; cap_++) {                                         \
			char w_[16], g_[16];                                                       \
			memset(w_, 'Z', sizeof(w_));                                               \
			memset(g_, 'Z', sizeof(g_));                                               \
			wn_ = snprintf(w_, cap_, __VA_ARGS__);                                     \
			gn_ = nub_snprintf(g_, cap_, __VA_ARGS__);                                 \
			assert_int_equal(gn_, wn_);                                                \
			assert_memory_equal(g_, w_, sizeof(g_));                                   \
		}                                                                                  \
	} while (0)

static const long long ints[] = {0,
                                 1,
                                 -1,
                                 7,
                                 42,
                                 -42,
                                 255,
                                 4096,
                                 65535,
                                 -65536,
                                 INT_MAX,
                                 INT_MIN,
                                 (long long)UINT_MAX,
                                 LLONG_MAX,
                                 LLONG_MIN,
                                 0x123456789abcdefll};

static void test_signed(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		int v = (int)ints[i];
		long long ll = ints[i];
		SAME("%d|%i|%5d|%-5d|%05d|%.3d|%8.3d|%-8.3d|%.0d", v, v, v, v, v, v, v, v, v);
		SAME("%ld|%lld|%20lld|%-20lld|%020lld", (long)ll, ll, ll, ll, ll);
		SAME("%hd|%hhd|%zu", (short)v, (signed char)v, (size_t)ll);
		SAME("%*d|%-*d|%.*d|%*d", 6, v, 6, v, 4, v, -6, v);
		SAME("%08.3d|%-08d|%06.0d", v, v, v);
	}
}

static void test_unsigned_hex(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		unsigned u = (unsigned)ints[i];
		unsigned long long ull = (unsigned long long)ints[i];
		SAME("%u|%x|%X|%8x|%08x|%-8x|%.6x|%.0x", u, u, u, u, u, u, u, u);
		SAME("%010.4x|%-010x|%08.2u", u, u, u);
		SAME("%lx|%llx|%llX|%016llx|%lu|%llu", (unsigned long)ull, ull, ull, ull,
		     (unsigned long)ull, ull);
		SAME("%zu|%zx|%hu|%hhx", (size_t)ull, (size_t)ull, (unsigned short)u,
		     (unsigned char)u);
	}
}

static void test_strings_chars_pointers(void **state)
{
	(void)state;
	SAME("%s|%10s|%-10s|%.3s|%10.2s|%-6.1s|", "hello", "hello", "hello", "hello", "hello",
	     "hello");
	SAME("%s|%5s|", "", "");
	SAME("%.*s|%.*s", 3, "abcdef", -1, "abcdef");
	SAME("%c|%3c|%-3c|%c", 'a', 'b', 'c', 0x7f);
	SAME("100%%|%%d|");
	int x;
	SAME("%p|%p", (void *)&x, (void *)(uintptr_t)0x1000);
	SAME("no conversions at all, just text longer than the small buffers");
	SAME("%s", (const char *)NULL); /* glibc prints (null) as well */
}

/* What libc does not define: unsupported conversions are copied, a
 * trailing lone % too, and huge widths are clamped, never overflowing. */
static void test_unsupported_and_limits(void **state)
{
	(void)state;
	char buf[64];
	const char *fmt = "a%qb%";
	assert_int_equal(nub_snprintf(buf, sizeof(buf), fmt, 0), 5);
	assert_string_equal(buf, "a%qb%");
	fmt = "%-12q|%lq";
	assert_int_equal(nub_snprintf(buf, sizeof(buf), fmt), 9);
	assert_string_equal(buf, "%-12q|%lq");
	int n = nub_snprintf(buf, sizeof(buf), "%999999999d", 5);
	assert_true(n > 100000 && n < 2000000);
	assert_int_equal(strlen(buf), sizeof(buf) - 1);
	assert_int_equal(nub_snprintf(NULL, 0, "%d", 12345), 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_signed),
	        cmocka_unit_test(test_unsigned_hex),
	        cmocka_unit_test(test_strings_chars_pointers),
	        cmocka_unit_test(test_unsupported_and_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
