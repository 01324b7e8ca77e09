/* SPDX-License-Identifier: MIT */
/*
 * The guest's process: a read-only file tree from host directories, the
 * arguments, the environment and the working directory
 * (nub_config.dirs, .argv, .envp, .cwd), seen by the files test guest
 * (guest/tests/files_test.c) on the backend under test (the mock, or
 * NUB_TEST_SANDBOX_BACKEND=kvm directly and nested). Every refusal is
 * checked for its code and its message.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nub/guest_abi.h>
#include <nub/nub.h>

#include "../../guest/tests/files_test_ids.h"
#include "../../guest/tests/test_guest_ids.h"
#include "nub_test.h"
#include "nub_test_sandbox.h"

static char tree[256];  /* the host tree of the tests */
static char other[256]; /* a second one, merged at /data/more */

static void link_at(const char *dir, const char *target, const char *name)
{
	char path[512];

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) < 0)
		abort();
	assert_int_equal(symlink(target, path), 0);
}

/* What files_test.c's selftest expects, plus a FIFO (left out), a link to
 * a host directory outside the tree (kept as a link, resolved in the
 * guest's tree) and a second tree with its own file. */
static int setup(void **state)
{
	static uint8_t big[3 * 4096 + 5];
	char path[512];

	(void)state;
	nub_test_tmpdir(tree, sizeof(tree), "files");
	nub_test_tmpdir(other, sizeof(other), "files");
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i % 251);
	nub_test_write_file(tree, "greeting.txt", "hello from a file\n", 18);
	nub_test_write_file(tree, "big", big, sizeof(big));
	if (snprintf(path, sizeof(path), "%s/sub", tree) < 0)
		abort();
	mkdir(path, 0755);
	nub_test_write_file(path, "a.txt", "a\n", 2);
	link_at(tree, "greeting.txt", "link");
	link_at(tree, "../../../..", "up");
	link_at(tree, "loop", "loop");
	link_at(tree, "/etc", "etc");
	if (snprintf(path, sizeof(path), "%s/fifo", tree) < 0)
		abort();
	mkfifo(path, 0600);
	nub_test_write_file(other, "more.txt", "more\n", 5);
	{
		static uint8_t big4[4u << 20];
		for (size_t i = 0; i < sizeof(big4); i++)
			big4[i] = (uint8_t)(i * 7);
		nub_test_write_file(other, "big4.bin", big4, sizeof(big4));
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return nub_test_rmtree(tree) | nub_test_rmtree(other);
}

static const char *backend(void)
{
	const char *b = getenv("NUB_TEST_SANDBOX_BACKEND");
	return b && b[0] ? b : "mock";
}

static const char *const test_argv[] = {"files_test", "--flag", "two words", NULL};
static const char *const test_envp[] = {"GREETING=hi there", "EMPTY=", NULL};

static void config(struct nub_config *cfg, struct nub_dir dirs[2])
{
	nub_config_init(cfg);
	cfg->backend = backend();
	dirs[0] = (struct nub_dir){tree, "/data"};
	dirs[1] = (struct nub_dir){other, "/data/more"};
	cfg->dirs = dirs;
	cfg->dirs_count = 2;
	cfg->argv = test_argv;
	cfg->envp = test_envp;
	cfg->cwd = "/data";
}

static struct nub_sandbox *make(struct nub_config *cfg)
{
	return nub_test_sandbox("files_test", cfg);
}

static void test_files_selftest(void **state)
{
	struct nub_config cfg;
	struct nub_dir dirs[2];
	(void)state;
	config(&cfg, dirs);
	struct nub_sandbox *sb = make(&cfg);

	nub_test_expect_text(sb, FILES_SELFTEST, NULL, 0, "ok");
	assert_int_equal(nub_sandbox_restore(sb, NULL), 0);
	nub_test_expect_text(sb, FILES_SELFTEST, NULL, 0, "ok");
	nub_sandbox_free(sb);
}

static void test_files_process(void **state)
{
	struct nub_config cfg;
	struct nub_dir dirs[2];
	(void)state;
	config(&cfg, dirs);
	struct nub_sandbox *sb = make(&cfg);

	nub_test_expect_text(sb, FILES_ARGS, NULL, 0, "files_test --flag two words|/data");
	nub_test_expect_text(sb, FILES_GETENV, "GREETING", 0, "hi there");
	nub_test_expect_text(sb, FILES_GETENV, "EMPTY", 0, "");
	/* Nothing of the host's own environment. */
	setenv("NUB_FILES_HOST_ONLY", "leak", 1);
	nub_test_expect_text(sb, FILES_GETENV, "NUB_FILES_HOST_ONLY", -ENOENT, "");
	nub_test_expect_text(sb, FILES_GETENV, "PATH", -ENOENT, "");
	nub_test_expect_text(sb, FILES_CAT, "greeting.txt", 0, "hello from a file\n");
	nub_test_expect_text(sb, FILES_CAT, "/data/more/more.txt", 0, "more\n");
	nub_test_expect_text(sb, FILES_MMAP, "more/more.txt", 0, "more\n");
	/* The FIFO is left out; the link to the host's /etc stays a link,
	 * which the guest resolves in its own tree, where there is no /etc. */
	nub_test_expect_text(sb, FILES_LS, ".", 0,
	                     ".\n..\nbig\netc\ngreeting.txt\nlink\nloop\nmore\nsub\nup\n");
	nub_test_expect_text(sb, FILES_LS, "/", 0, ".\n..\ndata\n");
	nub_test_expect_text(sb, FILES_CAT, "etc/passwd", -ENOENT, "No such file or directory");
	nub_test_expect_text(sb, FILES_CAT, "/etc/passwd", -ENOENT, "No such file or directory");
	nub_test_expect_text(sb, FILES_CAT, "up/../../etc/passwd", -ENOENT,
	                     "No such file or directory");
	nub_test_expect_text(sb, FILES_WRITE, "greeting.txt", -EROFS, "Read-only file system");
	nub_test_expect_text(sb, FILES_WRITE, "/data/sub/new", -EROFS, "Read-only file system");
	nub_sandbox_free(sb);
}

/* Two sandboxes of one snapshot: `a` made from the ELF with the test
 * config, `b` from the snapshot taken of it after init. */
static void twins(struct nub_sandbox **a, struct nub_sandbox **b, struct nub_snapshot **snap)
{
	struct nub_config cfg;
	struct nub_dir dirs[2];

	config(&cfg, dirs);
	*a = make(&cfg);
	assert_int_equal(nub_sandbox_snapshot(*a, snap), 0);
	*b = nub_test_sandbox_from(*snap);
}

static void twins_free(struct nub_sandbox *a, struct nub_sandbox *b, struct nub_snapshot *snap)
{
	nub_sandbox_free(b);
	nub_sandbox_free(a);
	nub_snapshot_unref(snap);
}

/* The working directory and open files are the sandbox's own state:
 * another sandbox of the snapshot never sees them, a restore undoes them. */
static void test_files_isolation(void **state)
{
	struct nub_snapshot *snap;
	struct nub_sandbox *a, *b;
	(void)state;

	twins(&a, &b, &snap);
	nub_test_expect_text(a, FILES_CHDIR, "sub", 0, "/data/sub");
	nub_test_expect_text(a, FILES_CAT, "a.txt", 0, "a\n");
	nub_test_expect_text(b, FILES_ARGS, NULL, 0, "files_test --flag two words|/data");
	nub_test_expect_text(b, FILES_CAT, "a.txt", -ENOENT, "No such file or directory");
	assert_int_equal(nub_sandbox_restore(a, snap), 0);
	nub_test_expect_text(a, FILES_ARGS, NULL, 0, "files_test --flag two words|/data");
	nub_test_expect_text(a, FILES_CHDIR, "greeting.txt", -ENOTDIR, "Not a directory");
	twins_free(a, b, snap);
}

/* The tree is never copied per sandbox: reading all 4 MiB of a file
 * through mmap, in two sandboxes of one snapshot, costs neither a copy nor
 * any exit beyond the call's own few (its stack and heap pages). */
static void test_files_tree_is_shared(void **state)
{
	struct nub_snapshot *snap;
	struct nub_sandbox *sb[2];
	uint64_t want = 0, sum;
	(void)state;

	twins(&sb[0], &sb[1], &snap);
	for (size_t i = 0; i < (4u << 20); i++)
		want += (uint8_t)(i * 7);
	for (int k = 0; k < 2; k++) {
		struct nub_sandbox_stats before, after;
		int32_t status = -1;
		size_t n = 0;
		nub_sandbox_stats_sized(sb[k], &before, sizeof(before));
		assert_int_equal(nub_sandbox_call(sb[k], FILES_SUM, "more/big4.bin", 13, &sum,
		                                  sizeof(sum), &n, &status),
		                 0);
		assert_int_equal(status, 0);
		assert_int_equal(n, sizeof(sum));
		assert_true(sum == want);
		nub_sandbox_stats_sized(sb[k], &after, sizeof(after));
		/* 1024 pages read; a copy of each would be 1024 faults. */
		if (after.cow_faults - before.cow_faults > 8)
			fail_msg("sandbox %d: %llu copy-on-write faults reading the tree", k,
			         (unsigned long long)(after.cow_faults - before.cow_faults));
	}
	twins_free(sb[0], sb[1], snap);
}

/* A hostile guest storing straight into the tree's pages (not through the
 * runtime) faults: they are read-only in its tables and at the hypervisor,
 * and the next sandbox reads the tree unchanged. */
static void test_files_tree_resists_stores(void **state)
{
	struct nub_config cfg;
	struct nub_dir dirs[2];
	struct nub_sandbox *sb;
	struct nub_peb peb;
	struct nub_error err = {0};
	uint8_t req[14] = {NUB_TG_MEM_WRITE}, first[8], again[8];
	uint32_t one = 1;
	int32_t status;
	size_t n;
	int rc;
	(void)state;

	config(&cfg, dirs);
	assert_int_equal(nub_sandbox_create_from_elf(&cfg, nub_test_guest("test_guest"), &sb, &err),
	                 0);
	assert_int_equal(nub_sandbox_evolve(sb), 0);
	nub_test_call(sb, NUB_TG_PEB, NULL, 0, &peb, sizeof(peb), NULL);
	assert_true(peb.files_gva && peb.files_size);
	for (int k = 0; k < 2; k++) {
		uint64_t at = k ? peb.files_gva + peb.files_size - 1 : peb.files_gva;
		uint8_t rd[13] = {NUB_TG_MEM_READ};
		memcpy(rd + 1, &peb.files_gva, 8);
		memcpy(rd + 9, (uint32_t[]){8}, 4);
		assert_int_equal(nub_test_call(sb, NUB_TG_MEM, rd, sizeof(rd), first, 8, NULL), 0);
		memcpy(req + 1, &at, 8);
		memcpy(req + 9, &one, 4);
		req[13] = 0xee;
		rc = nub_sandbox_call(sb, NUB_TG_MEM, req, sizeof(req), NULL, 0, &n, &status);
		if (rc != NUB_EGUEST_FAULT || !strstr(nub_sandbox_last_error(sb), "page fault"))
			fail_msg("store into the tree: %s '%s'", nub_strerror(rc),
			         nub_sandbox_last_error(sb));
		assert_int_equal(nub_sandbox_restore(sb, NULL), 0);
		assert_int_equal(nub_test_call(sb, NUB_TG_MEM, rd, sizeof(rd), again, 8, NULL), 0);
		assert_memory_equal(first, again, 8);
	}
	nub_sandbox_free(sb);
}

/* /tmp is writable, in the sandbox's own memory: another sandbox of the
 * snapshot never sees its files, and a restore empties it. */
static void test_files_tmp(void **state)
{
	struct nub_snapshot *snap;
	struct nub_sandbox *a, *b;
	(void)state;

	twins(&a, &b, &snap);
	nub_test_expect_text(a, FILES_TMP, NULL, 0, "ok");
	nub_test_expect_text(a, FILES_PUT, "/tmp/secret\nof a", 0, "ok");
	nub_test_expect_text(a, FILES_CAT, "/tmp/secret", 0, "of a");
	nub_test_expect_text(a, FILES_LS, "/tmp", 0, ".\n..\nsecret\n");
	nub_test_expect_text(b, FILES_CAT, "/tmp/secret", -ENOENT, "No such file or directory");
	nub_test_expect_text(b, FILES_LS, "/tmp", 0, ".\n..\n");
	assert_int_equal(nub_sandbox_restore(a, snap), 0);
	nub_test_expect_text(a, FILES_CAT, "/tmp/secret", -ENOENT, "No such file or directory");
	nub_test_expect_text(a, FILES_TMP, NULL, 0, "ok");
	/* The tree stays read-only beside it. */
	nub_test_expect_text(a, FILES_PUT, "/data/x\ny", -EROFS, "Read-only file system");
	twins_free(a, b, snap);
}

/* The tree is part of the snapshot: saved with it, it needs no host
 * directory when loaded; another tree makes another snapshot. */
static void test_files_in_snapshot_file(void **state)
{
	char path[300], moved[300];
	struct nub_config cfg;
	struct nub_dir dirs[2];
	struct nub_snapshot *snap, *loaded;
	struct nub_sandbox *sb, *again;
	struct nub_error err = {0};
	uint8_t h1[16], h2[16];
	(void)state;
	config(&cfg, dirs);
	sb = make(&cfg);

	if (snprintf(path, sizeof(path), "%s.snap", tree) < 0)
		abort();
	if (snprintf(moved, sizeof(moved), "%s.moved", tree) < 0)
		abort();
	assert_int_equal(nub_sandbox_snapshot(sb, &snap), 0);
	assert_int_equal(nub_snapshot_save(snap, path, &err), 0);
	assert_int_equal(rename(tree, moved), 0); /* the host tree is gone */
	assert_int_equal(nub_snapshot_load(path, &loaded, &err), 0);
	assert_int_equal(nub_sandbox_create_from_snapshot(&cfg, loaded, &again, &err), 0);
	assert_int_equal(nub_sandbox_evolve(again), 0);
	nub_test_expect_text(again, FILES_CAT, "sub/a.txt", 0, "a\n");
	nub_test_expect_text(again, FILES_GETENV, "GREETING", 0, "hi there");
	nub_sandbox_free(again);
	nub_snapshot_unref(loaded);
	assert_int_equal(rename(moved, tree), 0);
	unlink(path);

	nub_snapshot_hash(snap, h1);
	nub_snapshot_unref(snap);
	nub_sandbox_free(sb);
	cfg.dirs_count = 1;
	sb = make(&cfg);
	assert_int_equal(nub_sandbox_snapshot(sb, &snap), 0);
	nub_snapshot_hash(snap, h2);
	assert_memory_not_equal(h1, h2, sizeof(h1));
	nub_snapshot_unref(snap);
	nub_sandbox_free(sb);
}

/* With none of it configured a C library guest gets the defaults. */
static void test_files_defaults(void **state)
{
	struct nub_config cfg;
	(void)state;
	nub_config_init(&cfg);
	cfg.backend = backend();
	struct nub_sandbox *sb = make(&cfg);

	nub_test_expect_text(sb, FILES_ARGS, NULL, 0, "nub-guest|/");
	nub_test_expect_text(sb, FILES_CAT, "/anything", -ENOENT, "No such file or directory");
	nub_test_expect_text(sb, FILES_LS, "/", -ENOENT, "No such file or directory");
	nub_sandbox_free(sb);
}

/* main() returning non-zero stops init, naming the value. */
static void test_files_main_fails(void **state)
{
	static const char *const envp[] = {"FILES_TEST_MAIN_FAILS=1", NULL};
	struct nub_config cfg;
	struct nub_error err = {0};
	struct nub_sandbox *sb = NULL;
	int rc;
	(void)state;

	nub_config_init(&cfg);
	cfg.backend = backend();
	cfg.envp = envp;
	assert_int_equal(nub_sandbox_create_from_elf(
	                         &cfg, nub_test_path("NUB_GUEST_DIR", "files_test.elf"), &sb, &err),
	                 0);
	rc = nub_sandbox_evolve(sb);
	if (rc != NUB_EGUEST_ABORT || !strstr(nub_sandbox_last_error(sb), "main returned 3"))
		fail_msg("evolve: got %s '%s'", nub_strerror(rc), nub_sandbox_last_error(sb));
	nub_sandbox_free(sb);
}

static void expect_refused(const struct nub_config *cfg, int code, const char *needle)
{
	struct nub_error err = {0};
	struct nub_sandbox *sb = NULL;
	int rc = nub_sandbox_create_from_elf(cfg, nub_test_path("NUB_GUEST_DIR", "files_test.elf"),
	                                     &sb, &err);

	if (rc != code || !strstr(err.msg, needle))
		fail_msg("got %s '%s', want %s '%s'", nub_strerror(rc), err.msg, nub_strerror(code),
		         needle);
	assert_null(sb);
}

static void test_files_refusals(void **state)
{
	char file[300];
	struct nub_config cfg;
	struct nub_dir dirs[2];
	const char *const bad_env[] = {"OK=1", "NOEQUALS", NULL};
	const char *const empty_name[] = {"=value", NULL};
	(void)state;

	config(&cfg, dirs);
	dirs[0].host_path = "/nonexistent/nub";
	expect_refused(&cfg, NUB_ENOTFOUND, "dirs[0]: cannot open directory /nonexistent/nub");
	config(&cfg, dirs);
	if (snprintf(file, sizeof(file), "%s/greeting.txt", tree) < 0)
		abort();
	dirs[1].host_path = file;
	expect_refused(&cfg, NUB_ESYS, "dirs[1]: cannot open directory");
	config(&cfg, dirs);
	dirs[0].guest_path = "data";
	expect_refused(&cfg, NUB_EINVAL, "dirs[0]: guest path \"data\" is not absolute");
	config(&cfg, dirs);
	dirs[1].guest_path = "/data/../x";
	expect_refused(&cfg, NUB_EINVAL, "has a \".\", \"..\" or over-long component");
	config(&cfg, dirs);
	dirs[1].guest_path = "/data/greeting.txt/x";
	expect_refused(&cfg, NUB_EINVAL, "runs through a file an earlier dir gives");
	/* Two trees giving one file. */
	config(&cfg, dirs);
	dirs[1].guest_path = "/data";
	dirs[1].host_path = tree;
	expect_refused(&cfg, NUB_EINVAL, "is also given by an earlier dir");
	config(&cfg, dirs);
	dirs[0].host_path = NULL;
	expect_refused(&cfg, NUB_EINVAL, "dirs[0]: host_path is NULL");
	config(&cfg, dirs);
	cfg.dirs = NULL;
	expect_refused(&cfg, NUB_EINVAL, "dirs_count 2 but dirs is NULL");
	config(&cfg, dirs);
	cfg.envp = bad_env;
	expect_refused(&cfg, NUB_EINVAL, "envp[1] \"NOEQUALS\" is not NAME=VALUE");
	cfg.envp = empty_name;
	expect_refused(&cfg, NUB_EINVAL, "envp[0] \"=value\" is not NAME=VALUE");
	config(&cfg, dirs);
	cfg.cwd = "relative";
	expect_refused(&cfg, NUB_EINVAL, "cwd \"relative\" is not an absolute path");
	/* Arguments past the limit. */
	{
		static const char *many[NUB_ARGS_MAX + 2];
		char *huge = malloc(NUB_ARGS_BYTES_MAX + 1);
		assert_non_null(huge);
		for (unsigned i = 0; i <= NUB_ARGS_MAX; i++)
			many[i] = "x";
		config(&cfg, dirs);
		cfg.argv = many;
		expect_refused(&cfg, NUB_EINVAL, "more than NUB_ARGS_MAX (4096) strings");
		memset(huge, 'a', NUB_ARGS_BYTES_MAX);
		huge[NUB_ARGS_BYTES_MAX] = 0;
		many[0] = huge;
		many[1] = NULL;
		expect_refused(&cfg, NUB_EINVAL, "exceed NUB_ARGS_BYTES_MAX");
		free(huge);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_files_selftest),
	        cmocka_unit_test(test_files_process),
	        cmocka_unit_test(test_files_isolation),
	        cmocka_unit_test(test_files_tmp),
	        cmocka_unit_test(test_files_tree_is_shared),
	        cmocka_unit_test(test_files_tree_resists_stores),
	        cmocka_unit_test(test_files_in_snapshot_file),
	        cmocka_unit_test(test_files_defaults),
	        cmocka_unit_test(test_files_main_fails),
	        cmocka_unit_test(test_files_refusals),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
