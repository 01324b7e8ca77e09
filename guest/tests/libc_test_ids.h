/* SPDX-License-Identifier: MIT */
/* Function ids of the C library test guest (guest/tests/libc_test.c),
 * shared with the host-side test (tests/unit/test_libc.c). */
#ifndef NUB_LIBC_TEST_IDS_H
#define NUB_LIBC_TEST_IDS_H

enum libc_test_fn {
	LIBC_SELFTEST = 1,   /* every check below in the guest; "ok" or the first failure */
	LIBC_PRINTF = 2,     /* in: a double (8 bytes); out: snprintf("%.3f %g %e") */
	LIBC_STRTOD = 3,     /* in: text; out: strtod of it as "%.17g" */
	LIBC_PUTS = 4,       /* in: text; printf("%s\n") to stdout (the host log) */
	LIBC_EXIT = 5,       /* exit(in[0]) */
	LIBC_ABORT = 6,      /* abort() */
	LIBC_MALLOC = 7,     /* in: u64 bytes; out: "NULL" or "ok" (block filled, checked, freed) */
	LIBC_TIME = 8,       /* out: i64 time(NULL) */
	LIBC_COUNT = 9,      /* out: u64 count of calls since the snapshot (static state) */
	LIBC_BAD_STACK = 10, /* `syscall` with RSP = 0x1000: the entry's first push faults */
};

#endif
