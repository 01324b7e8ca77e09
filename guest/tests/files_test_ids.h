/* SPDX-License-Identifier: MIT */
/* Function ids of the files test guest (guest/tests/files_test.c), shared
 * with the host-side test (tests/unit/test_files.c). Failures return the
 * negative errno as the status and strerror() as the text. */
#ifndef NUB_FILES_TEST_IDS_H
#define NUB_FILES_TEST_IDS_H

enum files_test_fn {
	FILES_CAT = 1,      /* in: path; out: the file's bytes (fopen + fread) */
	FILES_GETENV = 2,   /* in: name; out: getenv(name), or status -ENOENT */
	FILES_ARGS = 3,     /* out: main's argv joined by ' ', then '|' and getcwd() */
	FILES_LS = 4,       /* in: path; out: readdir's names, each followed by '\n' */
	FILES_STAT = 5,     /* in: path; out: "stat MODE SIZE MTIME|lstat MODE" (octal mode) */
	FILES_WRITE = 6,    /* in: path; fopen(path, "w"): out "opened", or -errno */
	FILES_MMAP = 7,     /* in: path; out: the file's bytes through mmap */
	FILES_SELFTEST = 8, /* the checks in selftest(); "ok" or the first failure */
	FILES_CHDIR = 9,    /* in: path; chdir(path), out: getcwd() */
	FILES_TMP = 10,     /* the /tmp checks in tmp_selftest(); "ok" or the first failure */
	FILES_SUM = 12,     /* in: path; out: u64 sum of the file's bytes, read through mmap */
	FILES_PUT = 11,     /* in: "path\ncontent"; writes the file (fopen "w"): "ok" or -errno */
};

#endif
