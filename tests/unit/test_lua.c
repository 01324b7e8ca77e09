/* SPDX-License-Identifier: MIT */
/*
 * Unmodified Lua 5.4 (Debian's lua5.4 source package, examples/lua) in a
 * guest, running a script tree from the read-only file tree: `require` of
 * a module file, io.open of a data file, os.getenv, os.date; what a script
 * cannot do to the tree; restore and isolation of the warm interpreter. On
 * the backend under test (the mock, or NUB_TEST_SANDBOX_BACKEND=kvm
 * directly and nested).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nub/nub.h>

#include "../../examples/lua/lua_abi.h"
#include "nub_test.h"
#include "nub_test_sandbox.h"

static char tree[256];

static void write_text(const char *name, const char *text)
{
	nub_test_write_file(tree, name, text, strlen(text));
}

static int setup(void **state)
{
	char path[300];

	(void)state;
	nub_test_tmpdir(tree, sizeof(tree), "lua");
	if (snprintf(path, sizeof(path), "%s/lib", tree) < 0)
		abort();
	mkdir(path, 0755);
	write_text("lib/greet.lua", "local M = {}\n"
	                            "function M.hello(who) return 'hello, ' .. who end\n"
	                            "M.loaded = (M.loaded or 0) + 1\n"
	                            "return M\n");
	write_text("data.txt", "first line\nsecond line\n");
	write_text("main.lua", "package.path = './lib/?.lua;' .. package.path\n"
	                       "local greet = require 'greet'\n"
	                       "local f = assert(io.open('data.txt'))\n"
	                       "local first = f:read('l')\n"
	                       "local rest = f:read('a')\n"
	                       "f:close()\n"
	                       "print('main.lua ran')\n"
	                       "return greet.hello(os.getenv('WHO')), first, #rest,\n"
	                       "       os.date('!%Y-%m-%d %H:%M', 86400 + 3600)\n");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return nub_test_rmtree(tree);
}

struct logs {
	char text[1024];
	size_t len;
};

static void on_log(void *user, int level, const char *msg, size_t len)
{
	struct logs *l = user;
	int n = snprintf(l->text + l->len, sizeof(l->text) - l->len, "%.*s|", (int)len, msg);

	(void)level;
	if (n > 0 && (size_t)n < sizeof(l->text) - l->len)
		l->len += (size_t)n;
}

static struct nub_sandbox *make(struct logs *logs)
{
	static const char *const envp[] = {"WHO=lua", NULL};
	const char *elf = nub_test_guest("lua");
	struct nub_dir dirs[] = {{tree, "/app"}};
	struct nub_config cfg;

	if (access(elf, R_OK))
		fail_msg("%s is not built: scripts/fetch-sources.sh fetches Debian's lua5.4 source "
		         "into NUB_SOURCE_CACHE, then reconfigure",
		         elf);
	nub_config_init(&cfg);
	cfg.heap_size = 8u << 20;
	cfg.dirs = dirs;
	cfg.dirs_count = 1;
	cfg.envp = envp;
	cfg.cwd = "/app";
	cfg.log_fn = on_log;
	cfg.log_user = logs;
	return nub_test_sandbox("lua", &cfg);
}

/* The call's status and result: equal to want, or (prefix) starting with it. */
static void expect(struct nub_sandbox *sb, uint32_t fn, const char *in, int32_t status,
                   const char *want, int prefix)
{
	if (prefix)
		nub_test_expect_text_prefix(sb, fn, in, status, want);
	else
		nub_test_expect_text(sb, fn, in, status, want);
}

static void test_lua_script_tree(void **state)
{
	struct logs logs = {0};
	(void)state;
	struct nub_sandbox *sb = make(&logs);

	expect(sb, LUA_FN_DOFILE, "main.lua", 0, "hello, lua\tfirst line\t12\t1970-01-02 01:00", 0);
	assert_non_null(strstr(logs.text, "main.lua ran|"));
	expect(sb, LUA_FN_EVAL, "return io.open('/app/main.lua'):read('l')", 0,
	       "package.path = './lib/?.lua;' .. package.path", 0);
	expect(sb, LUA_FN_EVAL,
	       "local n = 0 for l in io.lines('data.txt') do n = n + 1 end return n", 0, "2", 0);
	nub_sandbox_free(sb);
}

/* What a script cannot do reaches it as ordinary Lua failures. */
static void test_lua_read_only(void **state)
{
	struct logs logs = {0};
	(void)state;
	struct nub_sandbox *sb = make(&logs);

	expect(sb, LUA_FN_EVAL, "return io.open('data.txt', 'w')", 0,
	       "nil\tdata.txt: Read-only file system\t30", 0);
	expect(sb, LUA_FN_EVAL, "return io.open('new.txt', 'a')", 0,
	       "nil\tnew.txt: Read-only file system\t30", 0);
	expect(sb, LUA_FN_EVAL, "return os.remove('data.txt')", 0,
	       "nil\tdata.txt: Read-only file system\t30", 0);
	expect(sb, LUA_FN_EVAL, "return os.rename('data.txt', 'x')", 0,
	       "nil\tRead-only file system\t30", 0);
	expect(sb, LUA_FN_EVAL, "return io.open('/etc/passwd')", 0,
	       "nil\t/etc/passwd: No such file or directory\t2", 0);
	expect(sb, LUA_FN_EVAL, "return os.getenv('HOME'), os.getenv('PATH')", 0, "nil\tnil", 0);
	expect(sb, LUA_FN_EVAL, "return require 'nothere'", LUA_GUEST_ERROR,
	       "eval:1: module 'nothere' not found:", 1);
	expect(sb, LUA_FN_DOFILE, "missing.lua", LUA_GUEST_ERROR, "cannot open missing.lua", 1);
	expect(sb, LUA_FN_EVAL, "return 1 +", LUA_GUEST_ERROR,
	       "eval:1: unexpected symbol near <eof>", 0);
	/* Scratch files go to the sandbox's own /tmp. */
	expect(sb, LUA_FN_EVAL,
	       "local f = io.tmpfile() f:write('scratch') f:seek('set') return f:read('a')", 0,
	       "scratch", 0);
	expect(sb, LUA_FN_EVAL,
	       "local n = os.tmpname() local f = assert(io.open(n, 'w')) f:write('y') f:close() "
	       "local r = io.open(n):read('a') assert(os.remove(n)) "
	       "return r, io.open(n) == nil, n:sub(1, 5)",
	       0, "y\ttrue\t/tmp/", 0);
	nub_sandbox_free(sb);
}

/* A restore brings back the warm interpreter as init left it; another
 * sandbox of the snapshot never sees the first one's globals or modules. */
static void test_lua_restore_and_isolation(void **state)
{
	struct logs logs = {0};
	struct nub_snapshot *snap;
	struct nub_sandbox *b;
	(void)state;
	struct nub_sandbox *a = make(&logs);

	assert_int_equal(nub_sandbox_snapshot(a, &snap), 0);
	b = nub_test_sandbox_from(snap);
	expect(a, LUA_FN_EVAL,
	       "secret = 'a'; package.path = './lib/?.lua;' .. package.path; "
	       "return require('greet').loaded",
	       0, "1", 0);
	expect(a, LUA_FN_EVAL, "return secret, package.loaded.greet ~= nil", 0, "a\ttrue", 0);
	expect(b, LUA_FN_EVAL, "return secret, package.loaded.greet", 0, "nil\tnil", 0);
	assert_int_equal(nub_sandbox_restore(a, snap), 0);
	expect(a, LUA_FN_EVAL, "return secret, package.loaded.greet", 0, "nil\tnil", 0);
	nub_sandbox_free(b);
	nub_sandbox_free(a);
	nub_snapshot_unref(snap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_lua_script_tree),
	        cmocka_unit_test(test_lua_read_only),
	        cmocka_unit_test(test_lua_restore_and_isolation),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
