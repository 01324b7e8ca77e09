/* Keeps nub_test_common non-empty before any helper exists. */
typedef int nub_test_common_empty_unit;
