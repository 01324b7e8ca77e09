/* SPDX-License-Identifier: MIT */
/*
 * CPython 3.11 in a guest (examples/python): Debian's python3.11 source
 * package as a static library on the C library flavour, its standard
 * library from the python311.zip the build packs, given in the file tree.
 * Expressions and scripts (output, the last value, tracebacks), imports
 * from the standard library and from a directory of the host's, host
 * calls, MemoryError, a timeout, a restore back to the warm interpreter,
 * two sandboxes of one snapshot apart, fresh random numbers per restore,
 * and what a script cannot reach. On the backend under test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nub/nub.h>

#include "../../examples/python/py_abi.h"
#include "nub_test.h"
#include "nub_test_sandbox.h"

static const char *stdlib_dir(void)
{
	static char buf[4096];
	const char *g = getenv("NUB_GUEST_DIR");

	snprintf(buf, sizeof(buf), "%s/python", g ? g : "guest");
	return buf;
}

static int32_t host_call(void *user, const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                         size_t *out_len)
{
	const uint8_t *nul = memchr(in, 0, in_len);
	(void)user;

	if (!nul || strcmp((const char *)in, "reverse"))
		return NUB_ENOTFOUND;
	size_t n = in_len - (size_t)(nul + 1 - in);
	if (n > cap)
		return NUB_EFULL;
	for (size_t i = 0; i < n; i++)
		out[i] = nul[n - i];
	*out_len = n;
	return 0;
}

/* A sandbox of the Python guest with `app` (may be NULL) at /app. */
static struct nub_sandbox *make_with(const char *app, uint64_t heap)
{
	const char *elf = nub_test_guest("python");
	struct nub_dir dirs[] = {{stdlib_dir(), PY_GUEST_HOME}, {app, PY_GUEST_APP}};
	char zip[4200];
	struct nub_config cfg;
	struct nub_error err = {0};
	struct nub_sandbox *sb;

	snprintf(zip, sizeof(zip), "%s/lib/python311.zip", stdlib_dir());
	if (access(elf, R_OK) || access(zip, R_OK))
		fail_msg("%s or %s is not built: scripts/fetch-sources.sh builds libpython3.11.a "
		         "from Debian's python3.11 source into NUB_SOURCE_CACHE, then reconfigure",
		         elf, zip);
	nub_config_init(&cfg);
	nub_test_use_backend(&cfg);
	cfg.heap_size = heap;
	cfg.dirs = dirs;
	cfg.dirs_count = app ? 2 : 1;
	assert_int_equal(nub_sandbox_create_from_elf(&cfg, elf, &sb, &err), 0);
	assert_int_equal(nub_sandbox_register(sb, PY_HOST_CALL, host_call, NULL), 0);
	if (nub_sandbox_evolve(sb))
		fail_msg("evolve: %s", nub_sandbox_last_error(sb));
	return sb;
}

/* A sandbox of the warm snapshot, with the host function it needs. */
static struct nub_sandbox *make_from(struct nub_snapshot *snap, uint64_t timeout_us)
{
	struct nub_config cfg;
	struct nub_error err = {0};
	struct nub_sandbox *sb;

	nub_config_init(&cfg);
	nub_test_use_backend(&cfg);
	cfg.call_timeout_us = timeout_us;
	assert_int_equal(nub_sandbox_create_from_snapshot(&cfg, snap, &sb, &err), 0);
	assert_int_equal(nub_sandbox_register(sb, PY_HOST_CALL, host_call, NULL), 0);
	assert_int_equal(nub_sandbox_evolve(sb), 0);
	return sb;
}

static struct nub_sandbox *make(void)
{
	return make_with(NULL, 96u << 20);
}

/* exec's records as text: "<kind>text" for each, kinds as in py_abi.h. */
static int32_t exec_text(struct nub_sandbox *sb, const char *src, char *text, size_t cap)
{
	static uint8_t out[1u << 20];
	size_t n = 0, pos = 0, len, used = 0;
	const char *t;
	int32_t status = nub_test_call(sb, PY_FN_EXEC, src, strlen(src), out, sizeof(out), &n);
	int kind;

	text[0] = 0;
	while ((kind = py_record_next(out, n, &pos, &t, &len)) > 0) {
		int w = snprintf(text + used, cap - used, "<%c>%.*s", kind, (int)len, t);
		assert_true(w >= 0 && (size_t)w < cap - used);
		used += (size_t)w;
	}
	assert_int_equal(kind, 0);
	return status;
}

static void expect_exec(struct nub_sandbox *sb, const char *src, int32_t status, const char *want)
{
	static char text[1u << 20];
	int32_t got = exec_text(sb, src, text, sizeof(text));

	if (got != status || strcmp(text, want))
		fail_msg("exec %s: status %d, \"%s\"; want %d, \"%s\"", src, got, text, status,
		         want);
}

static void expect_exec_has(struct nub_sandbox *sb, const char *src, int32_t status,
                            const char *const *parts)
{
	static char text[1u << 20];
	int32_t got = exec_text(sb, src, text, sizeof(text));

	if (got != status)
		fail_msg("exec %s: status %d, want %d: \"%s\"", src, got, status, text);
	for (; *parts; parts++)
		if (!strstr(text, *parts))
			fail_msg("exec %s: \"%s\" lacks \"%s\"", src, text, *parts);
}

static void test_python_evaluates(void **state)
{
	struct nub_sandbox *sb = make();
	(void)state;

	nub_test_expect_text(sb, PY_FN_EVAL, "sum(range(10))", 0, "45");
	nub_test_expect_text(sb, PY_FN_EVAL, "__import__('json').dumps({'a': [1, 2.5, None]})", 0,
	                     "'{\"a\": [1, 2.5, null]}'");
	nub_test_expect_text(sb, PY_FN_EVAL, "1/0", PY_GUEST_RAISED,
	                     "ZeroDivisionError: division by zero");
	nub_test_expect_text(sb, PY_FN_EVAL, "1 +", PY_GUEST_RAISED,
	                     "SyntaxError: invalid syntax (<string>, line 1)");
	nub_sandbox_free(sb);
}

/* A script's output in order, its last value, its traceback. */
static void test_python_exec_output(void **state)
{
	struct nub_sandbox *sb = make();
	static const char *const tb[] = {
	        "<o>before\n<x>Traceback (most recent call last):\n",
	        "  File \"<exec>\", line 3, in <module>\n    f()\n",
	        "  File \"<exec>\", line 2, in f\n    def f(): return {}['k']\n",
	        "KeyError: 'k'\n",
	        NULL,
	};
	(void)state;

	expect_exec(sb, "print(sum(range(10)))", 0, "<o>45\n");
	expect_exec(sb, "import sys\nprint('a')\nprint('b', file=sys.stderr)\nprint('c')\n6 * 7", 0,
	            "<o>a\n<e>b\n<o>c\n<v>42");
	expect_exec(sb, "x = 1", 0, "");
	expect_exec(sb, "None", 0, "");
	expect_exec(sb, "'é'", 0, "<v>'é'");
	expect_exec_has(sb, "print('before')\ndef f(): return {}['k']\nf()", PY_GUEST_RAISED, tb);
	expect_exec(sb, "1 +", PY_GUEST_RAISED,
	            "<x>  File \"<exec>\", line 1\n    1 +\n       ^\n"
	            "SyntaxError: invalid syntax\n");
	expect_exec(sb, "import sys\nsys.exit(0)", 0, "");
	expect_exec(sb, "import sys\nsys.exit(3)", PY_GUEST_RAISED, "<x>SystemExit: 3\n");
	nub_sandbox_free(sb);
}

/* More output than the guest's output buffer (64 KiB by default) holds:
 * the first part and a marker, not an error. */
static void test_python_output_truncated(void **state)
{
	struct nub_sandbox *sb = make();
	static uint8_t out[1u << 20];
	const char *src = "print('x' * 100000)";
	size_t n = 0, pos = 0, len = 0;
	const char *t;
	(void)state;

	assert_int_equal(nub_test_call(sb, PY_FN_EXEC, src, strlen(src), out, sizeof(out), &n), 0);
	assert_int_equal(py_record_next(out, n, &pos, &t, &len), PY_REC_STDOUT);
	assert_in_range(len, 32u << 10, 64u << 10);
	assert_int_equal(t[len - 1], 'x');
	assert_int_equal(py_record_next(out, n, &pos, &t, &len), PY_REC_TRUNCATED);
	assert_int_equal(py_record_next(out, n, &pos, &t, &len), 0);
	nub_sandbox_free(sb);
}

/* The C extension modules built in, the zip's pure-Python modules, and a
 * module of the program's own from the host's directory. */
static void test_python_imports(void **state)
{
	char dir[256];
	struct nub_sandbox *sb;
	static const char mod[] = "def double(x):\n    return 2 * x\n";
	(void)state;

	nub_test_tmpdir(dir, sizeof(dir), "py-app");
	nub_test_write_file(dir, "helper.py", mod, sizeof(mod) - 1);
	sb = make_with(dir, 96u << 20);
	expect_exec(
	        sb,
	        "import math, json, re, decimal, hashlib, datetime, unicodedata, struct\n"
	        "import collections, dataclasses, itertools, functools, statistics, array\n"
	        "import xml.etree.ElementTree as ET, binascii, bisect, heapq, random, csv\n"
	        "print(math.isqrt(10**20), decimal.Decimal(1) / 8, unicodedata.name('é'))\n"
	        "print(hashlib.sha256(b'nub').hexdigest()[:12], struct.pack('<I', 258))\n"
	        "print(datetime.date(2026, 12, 3).isoformat(), ET.fromstring('<a>t</a>').text)\n"
	        "@dataclasses.dataclass\nclass P:\n    x: int\n"
	        "P(3)",
	        0,
	        "<o>10000000000 0.125 LATIN SMALL LETTER E WITH ACUTE\n"
	        "b3ccc698ef63 b'\\x02\\x01\\x00\\x00'\n2026-12-03 t\n<v>P(x=3)");
	expect_exec(sb, "import helper\nhelper.double(21)", 0, "<v>42");
	expect_exec(sb,
	            "import zlib, gzip, binascii\nd = zlib.compress(b'nub' * 1000)\n"
	            "len(d), zlib.decompress(d) == b'nub' * 1000, binascii.crc32(b'nub'), "
	            "gzip.decompress(gzip.compress(b'x'))",
	            0, "<v>(30, True, 1291629311, b'x')");
	expect_exec_has(sb, "import no_such_module", PY_GUEST_RAISED,
	                (const char *const[]){
	                        "ModuleNotFoundError: No module named 'no_such_module'", NULL});
	nub_sandbox_free(sb);
	nub_test_rmtree(dir);
}

/* nub.call reaches the sandbox's host functions; a failing one raises. */
static void test_python_host_calls(void **state)
{
	struct nub_sandbox *sb = make();
	(void)state;

	expect_exec(sb, "import nub\nnub.call('reverse', b'abc'), nub.call('reverse', 'xy')", 0,
	            "<v>(b'cba', b'yx')");
	expect_exec_has(
	        sb, "import nub\nnub.call('nope', b'')", PY_GUEST_RAISED,
	        (const char *const[]){"nub.HostError: host function 'nope' failed: status", NULL});
	expect_exec_has(sb, "import nub\nnub.call(1, 2)", PY_GUEST_RAISED,
	                (const char *const[]){"TypeError", NULL});
	nub_sandbox_free(sb);
}

/* What a script reaches: the tree, read-only, and nothing of the host. */
static void test_python_cannot_escape(void **state)
{
	struct nub_sandbox *sb = make();
	char marker[256];
	(void)state;

	nub_test_tmpdir(marker, sizeof(marker), "py-escape");
	nub_test_expect_text(
	        sb, PY_FN_EVAL, "open('/etc/passwd')", PY_GUEST_RAISED,
	        "FileNotFoundError: [Errno 2] No such file or directory: '/etc/passwd'");
	nub_test_expect_text(
	        sb, PY_FN_EVAL, "open('" PY_GUEST_HOME "/lib/python311.zip', 'w')", PY_GUEST_RAISED,
	        "OSError: [Errno 30] Read-only file system: '" PY_GUEST_HOME "/lib/python311.zip'");
	char src[512];
	snprintf(src, sizeof(src), "__import__('os').system('touch %s/owned')", marker);
	nub_test_expect_text(sb, PY_FN_EVAL, src, 0, "-1");
	nub_test_expect_text(sb, PY_FN_EVAL, "__import__('ctypes')", PY_GUEST_RAISED,
	                     "ModuleNotFoundError: No module named '_ctypes'");
	nub_test_expect_text(sb, PY_FN_EVAL, "__import__('socket')", PY_GUEST_RAISED,
	                     "ModuleNotFoundError: No module named '_socket'");
	nub_test_expect_text_prefix(sb, PY_FN_EVAL, "__import__('subprocess').run(['id'])",
	                            PY_GUEST_RAISED, "ModuleNotFoundError: No module named ");
	snprintf(src, sizeof(src), "%s/owned", marker);
	assert_int_equal(access(src, F_OK), -1);
	nub_sandbox_free(sb);
	nub_test_rmtree(marker);
}

/* Heap exhaustion is a MemoryError the script can catch, and the
 * interpreter goes on. */
static void test_python_memory_error(void **state)
{
	struct nub_sandbox *sb = make_with(NULL, 48u << 20);
	(void)state;

	expect_exec_has(sb, "l = []\nwhile True:\n    l.append(bytearray(1 << 20))",
	                PY_GUEST_RAISED, (const char *const[]){"\nMemoryError\n", NULL});
	expect_exec(sb,
	            "try:\n    b = bytearray(1 << 40)\nexcept MemoryError:\n    print('caught')\n"
	            "sum(range(10))",
	            0, "<o>caught\n<v>45");
	nub_sandbox_free(sb);
}

/* An endless loop ends at the call's timeout; the restore brings back the
 * warm interpreter. The timeout is set on a sandbox of the warm snapshot:
 * it bounds init too, whose time depends on the machine. */
static void test_python_timeout_then_restore(void **state)
{
	struct nub_sandbox *warm = make(), *sb;
	struct nub_snapshot *snap;
	uint8_t out[64];
	size_t n = 0;
	int32_t status = 0;
	const char *loop = "while True: pass";
	(void)state;

	assert_int_equal(nub_sandbox_snapshot(warm, &snap), 0);
	nub_sandbox_free(warm);
	sb = make_from(snap, 300 * 1000);
	assert_int_equal(
	        nub_sandbox_call(sb, PY_FN_EXEC, loop, strlen(loop), out, sizeof(out), &n, &status),
	        NUB_ETIMEDOUT);
	assert_non_null(
	        strstr(nub_sandbox_last_error(sb), "call exceeded its timeout of 300000 us"));
	assert_int_equal(nub_sandbox_restore(sb, snap), 0);
	expect_exec(sb, "print(sum(range(10)))", 0, "<o>45\n");
	nub_snapshot_unref(snap);
	nub_sandbox_free(sb);
}

/* A restore brings back the interpreter as init left it; another sandbox
 * of the snapshot never sees the first one's globals; each gets its own
 * random numbers. */
static void test_python_restore_and_isolation(void **state)
{
	struct nub_sandbox *a = make(), *b;
	struct nub_snapshot *snap;
	char ra[64], rb[64], rc[64];
	const char *draw = "__import__('random').random()";
	(void)state;

	assert_int_equal(nub_sandbox_snapshot(a, &snap), 0);
	b = make_from(snap, 0);
	nub_test_expect_text(a, PY_FN_EXEC, "secret = 'a'", 0, "");
	nub_test_expect_text(a, PY_FN_EVAL, "secret", 0, "'a'");
	nub_test_expect_text(b, PY_FN_EVAL, "secret", PY_GUEST_RAISED,
	                     "NameError: name 'secret' is not defined");
	assert_int_equal(nub_test_call_text(a, PY_FN_EVAL, draw, ra, sizeof(ra)), 0);
	assert_int_equal(nub_test_call_text(b, PY_FN_EVAL, draw, rb, sizeof(rb)), 0);
	assert_int_equal(nub_sandbox_restore(a, snap), 0);
	nub_test_expect_text(a, PY_FN_EVAL, "secret", PY_GUEST_RAISED,
	                     "NameError: name 'secret' is not defined");
	assert_int_equal(nub_test_call_text(a, PY_FN_EVAL, draw, rc, sizeof(rc)), 0);
	assert_string_not_equal(ra, rb);
	assert_string_not_equal(ra, rc);
	nub_test_expect_text(a, PY_FN_EVAL, "sum(range(10))", 0, "45");
	nub_sandbox_free(b);
	nub_sandbox_free(a);
	nub_snapshot_unref(snap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_python_evaluates),
	        cmocka_unit_test(test_python_exec_output),
	        cmocka_unit_test(test_python_output_truncated),
	        cmocka_unit_test(test_python_imports),
	        cmocka_unit_test(test_python_host_calls),
	        cmocka_unit_test(test_python_cannot_escape),
	        cmocka_unit_test(test_python_memory_error),
	        cmocka_unit_test(test_python_timeout_then_restore),
	        cmocka_unit_test(test_python_restore_and_isolation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
