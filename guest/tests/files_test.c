/* SPDX-License-Identifier: MIT */
/*
 * The files test guest: a C library program written with main(), reading
 * the read-only file tree, the arguments and the environment the host
 * gave (nub_config.dirs, .argv, .envp, .cwd) through ordinary C and POSIX
 * calls. tests/unit/test_files.c runs it on every backend with a tree it
 * made (see there for what the tree holds).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nubguest.h>

#include "files_test_ids.h"

static char args_text[1024];

static int32_t put(uint8_t *out, uint32_t cap, uint32_t *out_len, const void *p, size_t n)
{
	if (n > cap)
		return NUB_EFULL;
	memcpy(out, p, n);
	*out_len = (uint32_t)n;
	return 0;
}

/* The failure: -errno as the status, its text as the result. */
static int32_t fail_errno(uint8_t *out, uint32_t cap, uint32_t *out_len, int e)
{
	const char *t = strerror(e);
	put(out, cap, out_len, t, strlen(t));
	return -e;
}

/* The input as a C string (static: one call at a time). */
static const char *cstr(const uint8_t *in, uint32_t len)
{
	static char s[4096];
	size_t n = len < sizeof(s) - 1 ? len : sizeof(s) - 1;

	memcpy(s, in, n);
	s[n] = 0;
	return s;
}

static int32_t fn_cat(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t cap,
                      uint32_t *out_len)
{
	FILE *f = fopen(cstr(in, in_len), "r");
	size_t n;

	if (!f)
		return fail_errno(out, cap, out_len, errno);
	n = fread(out, 1, cap, f);
	fclose(f);
	*out_len = (uint32_t)n;
	return 0;
}

static int32_t fn_getenv(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t cap,
                         uint32_t *out_len)
{
	const char *v = getenv(cstr(in, in_len));

	if (!v)
		return -ENOENT;
	return put(out, cap, out_len, v, strlen(v));
}

static int32_t fn_args(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t cap,
                       uint32_t *out_len)
{
	char cwd[256], text[1400];
	int n;

	(void)in;
	(void)in_len;
	if (!getcwd(cwd, sizeof(cwd)))
		return fail_errno(out, cap, out_len, errno);
	n = snprintf(text, sizeof(text), "%s|%s", args_text, cwd);
	return put(out, cap, out_len, text, (size_t)n);
}

static int32_t fn_ls(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t cap,
                     uint32_t *out_len)
{
	DIR *d = opendir(cstr(in, in_len));
	struct dirent *e;
	size_t used = 0;

	if (!d)
		return fail_errno(out, cap, out_len, errno);
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (used + n + 1 > cap)
			break;
		memcpy(out + used, e->d_name, n);
		out[used + n] = '\n';
		used += n + 1;
	}
	closedir(d);
	*out_len = (uint32_t)used;
	return 0;
}

static int32_t fn_stat(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t cap,
                       uint32_t *out_len)
{
	const char *path = cstr(in, in_len);
	struct stat st, lst;
	char text[128];
	int n;

	if (lstat(path, &lst))
		return fail_errno(out, cap, out_len, errno);
	if (stat(path, &st))
		return fail_errno(out, cap, out_len, errno);
	n = snprintf(text, sizeof(text), "stat %o %lld %lld|lstat %o", (unsigned)st.st_mode,
	             (long long)st.st_size, (long long)st.st_mtime, (unsigned)lst.st_mode);
	return put(out, cap, out_len, text, (size_t)n);
}

static int32_t fn_write(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t cap,
                        uint32_t *out_len)
{
	FILE *f = fopen(cstr(in, in_len), "w");

	if (!f)
		return fail_errno(out, cap, out_len, errno);
	fclose(f);
	return put(out, cap, out_len, "opened", 6);
}

static int32_t fn_mmap(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t cap,
                       uint32_t *out_len)
{
	int fd = open(cstr(in, in_len), O_RDONLY);
	struct stat st;
	void *p;

	if (fd < 0)
		return fail_errno(out, cap, out_len, errno);
	if (fstat(fd, &st) || !st.st_size) {
		close(fd);
		return fail_errno(out, cap, out_len, st.st_size ? errno : EINVAL);
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return fail_errno(out, cap, out_len, errno);
	int32_t rc = put(out, cap, out_len, p, (size_t)st.st_size);
	munmap(p, (size_t)st.st_size);
	return rc;
}

static int32_t fn_sum(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t cap,
                      uint32_t *out_len)
{
	int fd = open(cstr(in, in_len), O_RDONLY);
	const uint8_t *p;
	struct stat st;
	uint64_t sum = 0;

	if (fd < 0 || fstat(fd, &st))
		return fail_errno(out, cap, out_len, errno);
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return fail_errno(out, cap, out_len, errno);
	for (off_t i = 0; i < st.st_size; i++)
		sum += p[i];
	munmap((void *)p, (size_t)st.st_size);
	return put(out, cap, out_len, &sum, sizeof(sum));
}

static int32_t fn_chdir(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t cap,
                        uint32_t *out_len)
{
	char cwd[512];

	if (chdir(cstr(in, in_len)) || !getcwd(cwd, sizeof(cwd)))
		return fail_errno(out, cap, out_len, errno);
	return put(out, cap, out_len, cwd, strlen(cwd));
}

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			int n = snprintf((char *)out, cap, "line %d: %s (errno %d)", __LINE__,     \
			                 #cond, errno);                                            \
			*out_len = n < 0 ? 0 : (uint32_t)n < cap ? (uint32_t)n : cap;              \
			return -1;                                                                 \
		}                                                                                  \
	} while (0)

/* The tree (test_files.c): /data/greeting.txt "hello from a file\n",
 * /data/sub/a.txt "a\n", /data/link -> greeting.txt, /data/up ->
 * ../../../.., /data/loop -> loop, /data/big (3 pages + 5 bytes, byte i =
 * i % 251), cwd /data. */
static int32_t selftest(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t cap,
                        uint32_t *out_len)
{
	char buf[64];
	struct stat st;
	int fd, dfd;

	(void)in;
	(void)in_len;
	/* Relative to the working directory, through "..", "." and a link. */
	fd = open("sub/../link", O_RDONLY);
	CHECK(fd >= 3);
	CHECK(read(fd, buf, 5) == 5 && !memcmp(buf, "hello", 5));
	CHECK(lseek(fd, -2, SEEK_END) == 16);
	CHECK(read(fd, buf, 10) == 2 && !memcmp(buf, "e\n", 2));
	CHECK(read(fd, buf, 10) == 0);
	CHECK(pread(fd, buf, 4, 6) == 4 && !memcmp(buf, "from", 4));
	CHECK(write(fd, "x", 1) == -1 && errno == EBADF);
	CHECK(close(fd) == 0 && close(fd) == -1 && errno == EBADF);
	/* Links: read, not followed, a loop, ".." stops at the root. */
	CHECK(readlink("link", buf, sizeof(buf)) == 12 && !memcmp(buf, "greeting.txt", 12));
	CHECK(readlink("greeting.txt", buf, sizeof(buf)) == -1 && errno == EINVAL);
	CHECK(open("loop", O_RDONLY) == -1 && errno == ELOOP);
	CHECK(open("link", O_RDONLY | O_NOFOLLOW) == -1 && errno == ELOOP);
	CHECK(stat("up", &st) == 0 && S_ISDIR(st.st_mode));
	CHECK(stat("up/data/sub/a.txt", &st) == 0 && st.st_size == 2);
	CHECK(stat("/../../data/greeting.txt", &st) == 0);
	/* Kinds of failure. */
	CHECK(open("nothing", O_RDONLY) == -1 && errno == ENOENT);
	CHECK(open("greeting.txt/x", O_RDONLY) == -1 && errno == ENOTDIR);
	CHECK(open("greeting.txt/", O_RDONLY) == -1 && errno == ENOTDIR);
	CHECK(open("greeting.txt", O_RDONLY | O_DIRECTORY) == -1 && errno == ENOTDIR);
	CHECK(open("sub", O_WRONLY) == -1 && errno == EISDIR);
	CHECK(open("greeting.txt", O_RDWR) == -1 && errno == EROFS);
	CHECK(open("new.txt", O_WRONLY | O_CREAT, 0644) == -1 && errno == EROFS);
	CHECK(open("nodir/new.txt", O_WRONLY | O_CREAT, 0644) == -1 && errno == ENOENT);
	CHECK(mkdir("d", 0755) == -1 && errno == EROFS);
	CHECK(unlink("greeting.txt") == -1 && errno == EROFS);
	CHECK(rename("greeting.txt", "g") == -1 && errno == EROFS);
	CHECK(access("greeting.txt", R_OK) == 0);
	CHECK(access("greeting.txt", W_OK) == -1 && errno == EROFS);
	CHECK(access("nothing", F_OK) == -1 && errno == ENOENT);
	/* A directory descriptor, openat and fstatat from it. */
	dfd = open("sub", O_RDONLY | O_DIRECTORY);
	CHECK(dfd >= 3);
	CHECK(read(dfd, buf, 1) == -1 && errno == EISDIR);
	fd = openat(dfd, "a.txt", O_RDONLY);
	CHECK(fd >= 3 && read(fd, buf, 8) == 2 && buf[0] == 'a');
	CHECK(fstatat(dfd, "a.txt", &st, 0) == 0 && S_ISREG(st.st_mode));
	CHECK(fstat(fd, &st) == 0 && st.st_size == 2);
	close(fd);
	close(dfd);
	/* A file over several pages, read and mapped. */
	fd = open("big", O_RDONLY);
	CHECK(fd >= 3 && fstat(fd, &st) == 0 && st.st_size == 3 * 4096 + 5);
	CHECK(pread(fd, buf, 3, 3 * 4096 + 3) == 2);
	CHECK((unsigned char)buf[0] == (3 * 4096 + 3) % 251);
	{
		const unsigned char *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 4096);
		CHECK(p != MAP_FAILED && p[7] == (4096 + 7) % 251);
		munmap((void *)p, 4096);
		unsigned char *w = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 8192);
		CHECK(w != MAP_FAILED && w[1] == (8192 + 1) % 251 && w[4096 + 5] == 0);
		w[0] = 1; /* a private copy: writable */
		munmap(w, 8192);
		CHECK(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED);
		CHECK(mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 100) == MAP_FAILED);
	}
	close(fd);
	/* stdio: fgets line by line. */
	{
		FILE *f = fopen("/data/greeting.txt", "r");
		CHECK(f && fgets(buf, sizeof(buf), f) && !strcmp(buf, "hello from a file\n"));
		CHECK(!fgets(buf, sizeof(buf), f) && feof(f));
		fclose(f);
	}
	return put(out, cap, out_len, "ok", 2);
}

/* /tmp: writable, flat, in the sandbox's own heap. */
static int32_t tmp_selftest(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t cap,
                            uint32_t *out_len)
{
	char buf[64], name[] = "/tmp/stemp-XXXXXX";
	struct stat st;
	FILE *f;
	int fd, fd2;

	(void)in;
	(void)in_len;
	CHECK(stat("/tmp", &st) == 0 && S_ISDIR(st.st_mode));
	f = fopen("/tmp/a.txt", "w");
	CHECK(f && fputs("written\n", f) >= 0 && fclose(f) == 0);
	f = fopen("/tmp/a.txt", "a+");
	CHECK(f && fputs("more\n", f) >= 0 && fseek(f, 0, SEEK_SET) == 0);
	CHECK(fread(buf, 1, sizeof(buf), f) == 13 && !memcmp(buf, "written\nmore\n", 13));
	fclose(f);
	CHECK(stat("/tmp/a.txt", &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 13);
	/* Relative to /tmp, exclusive creation, holes, truncation. */
	CHECK(chdir("/tmp") == 0 && getcwd(buf, sizeof(buf)) && !strcmp(buf, "/tmp"));
	fd = open("b", O_RDWR | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 3);
	CHECK(open("b", O_RDWR | O_CREAT | O_EXCL, 0600) == -1 && errno == EEXIST);
	CHECK(pwrite(fd, "z", 1, 10000) == 1 && lseek(fd, 0, SEEK_END) == 10001);
	CHECK(pread(fd, buf, 4, 5000) == 4 && !memcmp(buf, "\0\0\0\0", 4));
	CHECK(ftruncate(fd, 3) == 0 && fstat(fd, &st) == 0 && st.st_size == 3);
	/* Unlinked while open: still readable through the descriptor. */
	CHECK(lseek(fd, 0, SEEK_SET) == 0 && write(fd, "abc", 3) == 3 && unlink("b") == 0);
	CHECK(access("b", F_OK) == -1 && errno == ENOENT);
	CHECK(pread(fd, buf, 3, 0) == 3 && !memcmp(buf, "abc", 3));
	fd2 = dup(fd);
	CHECK(fd2 > fd && close(fd) == 0 && pread(fd2, buf, 1, 1) == 1 && buf[0] == 'b');
	close(fd2);
	/* Renames, the listing, what a flat directory refuses. */
	CHECK(rename("a.txt", "c.txt") == 0 && access("/tmp/c.txt", R_OK) == 0);
	CHECK(rename("c.txt", "/data/c.txt") == -1 && errno == EXDEV);
	CHECK(mkdir("/tmp/d", 0700) == -1 && errno == EPERM);
	CHECK(open("/tmp/c.txt/x", O_RDONLY) == -1 && errno == ENOTDIR);
	CHECK(open("/tmp/nothing", O_RDONLY) == -1 && errno == ENOENT);
	CHECK(open("/tmp", O_WRONLY) == -1 && errno == EISDIR);
	CHECK(rmdir("/tmp") == -1 && errno == EBUSY);
	{
		DIR *d = opendir(".");
		struct dirent *e;
		int seen = 0, others = 0;
		CHECK(d);
		while ((e = readdir(d)))
			if (!strcmp(e->d_name, "c.txt"))
				seen++;
			else if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
				others++;
		closedir(d);
		CHECK(seen == 1 && others == 0);
	}
	CHECK(unlink("c.txt") == 0 && unlink("c.txt") == -1 && errno == ENOENT);
	/* The C library's own temporary files. */
	f = tmpfile();
	CHECK(f && fputs("tmp", f) >= 0 && fseek(f, 0, SEEK_SET) == 0);
	CHECK(fgets(buf, sizeof(buf), f) && !strcmp(buf, "tmp"));
	fclose(f);
	fd = mkstemp(name);
	CHECK(fd >= 3 && write(fd, "x", 1) == 1 && close(fd) == 0 && unlink(name) == 0);
	CHECK(chdir("/data") == 0);
	return put(out, cap, out_len, "ok", 2);
}

static int32_t fn_put(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t cap,
                      uint32_t *out_len)
{
	const char *s = cstr(in, in_len), *nl = strchr(s, '\n');
	char path[256];
	FILE *f;

	if (!nl || (size_t)(nl - s) >= sizeof(path))
		return fail_errno(out, cap, out_len, EINVAL);
	memcpy(path, s, (size_t)(nl - s));
	path[nl - s] = 0;
	f = fopen(path, "w");
	if (!f)
		return fail_errno(out, cap, out_len, errno);
	fputs(nl + 1, f);
	fclose(f);
	return put(out, cap, out_len, "ok", 2);
}

int main(int argc, char **argv)
{
	size_t used = 0;

	if (getenv("FILES_TEST_MAIN_FAILS"))
		return 3; /* test_files_main_fails */

	for (int i = 0; i < argc; i++) {
		int n = snprintf(args_text + used, sizeof(args_text) - used, "%s%s", i ? " " : "",
		                 argv[i]);
		if (n < 0 || (size_t)n >= sizeof(args_text) - used)
			break;
		used += (size_t)n;
	}
	nub_register(FILES_CAT, "cat", fn_cat);
	nub_register(FILES_GETENV, "getenv", fn_getenv);
	nub_register(FILES_ARGS, "args", fn_args);
	nub_register(FILES_LS, "ls", fn_ls);
	nub_register(FILES_STAT, "stat", fn_stat);
	nub_register(FILES_WRITE, "write", fn_write);
	nub_register(FILES_MMAP, "mmap", fn_mmap);
	nub_register(FILES_SELFTEST, "selftest", selftest);
	nub_register(FILES_CHDIR, "chdir", fn_chdir);
	nub_register(FILES_TMP, "tmp", tmp_selftest);
	nub_register(FILES_PUT, "put", fn_put);
	nub_register(FILES_SUM, "sum", fn_sum);
	return 0;
}
