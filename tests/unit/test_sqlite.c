/* SPDX-License-Identifier: MIT */
/*
 * Unmodified SQLite (Debian's sqlite3 source package, its amalgamation) in
 * a guest: a database file made in one sandbox's /tmp, carried out through
 * the host, then given to another sandbox read-only in its file tree, where
 * it is queried, joined with a temporary table (SQLite's temporary files
 * go to that sandbox's /tmp) and refused writes. On the backend under test
 * (the mock, or NUB_TEST_SANDBOX_BACKEND=kvm directly and nested).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nub/nub.h>

#include "../../guest/tests/sqlite_test_ids.h"
#include "nub_test.h"
#include "nub_test_sandbox.h"

static char tree[256];

static int setup(void **state)
{
	(void)state;
	nub_test_tmpdir(tree, sizeof(tree), "sqlite");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return nub_test_rmtree(tree);
}

static struct nub_sandbox *make(int with_tree)
{
	const char *elf = nub_test_guest("sqlite_test");
	struct nub_dir dirs[] = {{tree, "/data"}};
	struct nub_config cfg;

	if (access(elf, R_OK))
		fail_msg(
		        "%s is not built: scripts/fetch-sources.sh fetches Debian's sqlite3 source "
		        "and generates its amalgamation into NUB_SOURCE_CACHE, then reconfigure",
		        elf);
	nub_config_init(&cfg);
	cfg.heap_size = 32u << 20;
	if (with_tree) {
		cfg.dirs = dirs;
		cfg.dirs_count = 1;
	}
	return nub_test_sandbox("sqlite_test", &cfg);
}

static void expect(struct nub_sandbox *sb, const char *in, int32_t status, const char *want)
{
	nub_test_expect_text(sb, SQLITE_FN_SQL, in, status, want);
}

/* A database made in a sandbox's /tmp, its bytes read out by the host. */
static void make_database(void)
{
	static char bytes[60000];
	struct nub_sandbox *sb = make(0);
	char path[300];
	size_t n;
	FILE *f;

	expect(sb,
	       "/tmp/fruit.db\n"
	       "CREATE TABLE fruit(name TEXT, n INTEGER);"
	       "INSERT INTO fruit VALUES ('apple', 3), ('pear', 1), ('plum', 7);"
	       "SELECT count(*) FROM fruit;",
	       0, "3\n");
	assert_int_equal(
	        nub_test_call(sb, SQLITE_FN_READ, "/tmp/fruit.db", 13, bytes, sizeof(bytes), &n),
	        0);
	assert_true(n >= 512 && !memcmp(bytes, "SQLite format 3", 15));
	if (snprintf(path, sizeof(path), "%s/fruit.db", tree) < 0)
		abort();
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(bytes, 1, n, f), n);
	fclose(f);
	/* The restore takes the database with the rest of /tmp. */
	assert_int_equal(nub_sandbox_restore(sb, NULL), 0);
	expect(sb, "/tmp/fruit.db\nSELECT count(*) FROM sqlite_master;", 0, "0\n");
	nub_sandbox_free(sb);
}

static void test_sqlite_read_only_database(void **state)
{
	struct nub_sandbox *sb;
	(void)state;

	make_database();
	sb = make(1);
	expect(sb, "/data/fruit.db\nSELECT name, n FROM fruit ORDER BY n;", 0,
	       "pear|1\napple|3\nplum|7\n");
	/* A temporary table beside it, big enough to spill to a temp file. */
	expect(sb,
	       "/data/fruit.db\n"
	       "PRAGMA cache_size = 16;"
	       "CREATE TEMP TABLE big AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
	       "SELECT x + 1 FROM c WHERE x < 20000) SELECT x, randomblob(200) AS b FROM c;"
	       "SELECT count(*), sum(length(b)) FROM big;"
	       "SELECT f.name FROM fruit f JOIN big ON big.x = f.n ORDER BY big.x DESC;",
	       0, "20000|4000000\nplum\napple\npear\n");
	/* The tree is read-only, whatever SQLite tries. */
	expect(sb, "/data/fruit.db\nINSERT INTO fruit VALUES ('fig', 2);", -8,
	       "attempt to write a readonly database");
	expect(sb, "/data/new.db\nSELECT 1;", -14, "unable to open database file");
	expect(sb, "/data/fruit.db\nSELECT count(*) FROM fruit;", 0, "3\n");
	nub_sandbox_free(sb);
}

/* Two sandboxes of one snapshot: one's /tmp database is not the other's. */
static void test_sqlite_isolation(void **state)
{
	struct nub_sandbox *a = make(0), *b;
	struct nub_snapshot *snap;
	(void)state;

	assert_int_equal(nub_sandbox_snapshot(a, &snap), 0);
	b = nub_test_sandbox_from(snap);
	expect(a, "/tmp/s.db\nCREATE TABLE secret(v); INSERT INTO secret VALUES ('a');", 0, "");
	expect(a, "/tmp/s.db\nSELECT v FROM secret;", 0, "a\n");
	expect(b, "/tmp/s.db\nSELECT count(*) FROM sqlite_master;", 0, "0\n");
	nub_sandbox_free(b);
	nub_sandbox_free(a);
	nub_snapshot_unref(snap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_sqlite_read_only_database),
	        cmocka_unit_test(test_sqlite_isolation),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
