/* SPDX-License-Identifier: MIT */
/* Function ids of the sample and test guests (shared by the native mock
 * guests and the host tests). */
#ifndef NUB_NATIVE_IDS_H
#define NUB_NATIVE_IDS_H

enum {
	NUB_HELLO_GREET = 1,
	NUB_CALC_ADD = 1,
	NUB_CALC_SUM = 2,
	NUB_CALC_FIB = 3,
};

enum {
	NUB_TEST_ECHO = 1,
	NUB_TEST_WRITE_PAGES = 2,
	NUB_TEST_CALL_HOST = 3,
	NUB_TEST_SPIN = 4,
	NUB_TEST_ABORT = 5,
	NUB_TEST_NULL_DEREF = 6,
	NUB_TEST_STACK_OVERFLOW = 7,
	NUB_TEST_WRITE_RODATA = 8,
	NUB_TEST_EXEC_DATA = 9,
	NUB_TEST_BAD_PORT = 10,
	NUB_TEST_CORRUPT_OUTPUT = 11,
	NUB_TEST_REMAP_SNAPSHOT = 12,
	NUB_TEST_COUNTER = 13,
	NUB_TEST_LOG = 14,
	NUB_TEST_FAIL_STATUS = 15,
	NUB_TEST_SPIN_AFTER_HOST = 16,
};

#endif
