/* SPDX-License-Identifier: MIT */
/*
 * backends/common/options.c: the option strings every backend in the tree
 * reads (comma-separated key=value items, decimal numbers in a range).
 */
#include <stdint.h>
#include <string.h>

#include "nub_test.h"
#include "options.h"

static void expect_item(const char **at, const char *key, const char *value)
{
	struct nub_option o;

	assert_int_equal(nub_option_next(at, &o), 1);
	assert_int_equal(o.key_len, strlen(key));
	assert_memory_equal(o.key, key, o.key_len);
	if (!value) {
		assert_null(o.value);
		assert_int_equal(o.value_len, 0);
		return;
	}
	assert_int_equal(o.value_len, strlen(value));
	assert_memory_equal(o.value, value, o.value_len);
	assert_true(nub_option_is(&o, key));
}

static void test_items_split_on_commas(void **state)
{
	const char *at = "signal=40,share=8,,flag,window=";
	struct nub_option o;

	(void)state;
	expect_item(&at, "signal", "40");
	expect_item(&at, "share", "8");
	expect_item(&at, "", NULL);
	expect_item(&at, "flag", NULL);
	expect_item(&at, "window", "");
	assert_int_equal(nub_option_next(&at, &o), 0);
	at = NULL;
	assert_int_equal(nub_option_next(&at, &o), 0);
	at = "";
	assert_int_equal(nub_option_next(&at, &o), 0);
}

static void test_keys_match_whole(void **state)
{
	const char *at = "share=1";
	struct nub_option o;

	(void)state;
	assert_int_equal(nub_option_next(&at, &o), 1);
	assert_true(nub_option_is(&o, "share"));
	assert_false(nub_option_is(&o, "shar"));
	assert_false(nub_option_is(&o, "shares"));
}

static int value_of(const char *item, uint64_t min, uint64_t max, uint64_t *v)
{
	struct nub_option o;
	const char *at = item;

	assert_int_equal(nub_option_next(&at, &o), 1);
	return nub_option_u64(&o, min, max, v);
}

static void test_numbers_are_decimal_and_in_range(void **state)
{
	uint64_t v = 7;

	(void)state;
	assert_int_equal(value_of("n=0", 0, 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(value_of("n=10", 0, 10, &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(value_of("n=18446744073709551615", 0, UINT64_MAX, &v), 0);
	assert_int_equal(v, UINT64_MAX);
	v = 7;
	assert_int_equal(value_of("n=18446744073709551616", 0, UINT64_MAX, &v), -1);
	assert_int_equal(value_of("n=11", 0, 10, &v), -1);
	assert_int_equal(value_of("n=3", 4, 10, &v), -1);
	assert_int_equal(value_of("n=-1", 0, 10, &v), -1);
	assert_int_equal(value_of("n=+1", 0, 10, &v), -1);
	assert_int_equal(value_of("n=0x5", 0, 10, &v), -1);
	assert_int_equal(value_of("n=5 ", 0, 10, &v), -1);
	assert_int_equal(value_of("n=", 0, 10, &v), -1);
	assert_int_equal(value_of("n", 0, 10, &v), -1);
	assert_int_equal(v, 7); /* untouched by every refusal */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_items_split_on_commas),
	        cmocka_unit_test(test_keys_match_whole),
	        cmocka_unit_test(test_numbers_are_decimal_and_in_range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
