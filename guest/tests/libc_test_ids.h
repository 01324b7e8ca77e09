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
	LIBC_ENV = 11,       /* getenv/environ/setenv/unsetenv checks; "ok" or the first failure */
	LIBC_TIME_CONV = 12, /* in: i64 t; out: strftime of localtime(t) with TZ unset, TZ=CET-1
	                        and gmtime(t), "%Y-%m-%d %H:%M:%S" each, '|' between */
	LIBC_RAND = 13,      /* out: 4 x rand(), 2 x random(), 2 x lrand48(), as i32 */
	LIBC_SYSCALLS = 14, /* in: u32 n; n x getpid() through musl's syscall(); out: i64 the pid */
};

#endif
