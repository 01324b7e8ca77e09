/* SPDX-License-Identifier: MIT */
/* Function ids of the SQLite test guest (guest/tests/sqlite_test.c), shared
 * with the host-side test (tests/unit/test_sqlite.c). */
#ifndef NUB_SQLITE_TEST_IDS_H
#define NUB_SQLITE_TEST_IDS_H

enum sqlite_test_fn {
	/* in: "PATH\nSQL". Opens PATH (read-write and created when it is in /tmp
	 * or ":memory:", else read-only), runs SQL, closes. out: each result
	 * row as its columns joined by '|', then '\n'. Failure: status
	 * -(SQLite's result code), out the error message. */
	SQLITE_FN_SQL = 1,
	SQLITE_FN_READ = 2, /* in: a path; out: the file's bytes */
};

#endif
