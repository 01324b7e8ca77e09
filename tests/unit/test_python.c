/* SPDX-License-Identifier: MIT */
/*
 * CPython 3.11 in a guest (examples/python): Debian's python3.11 source
 * package as a static library on the C library flavour, its standard
 * library from the file tree (Debian's /usr/lib/python3.11, which the
 * python3 package installs). Expressions and statements, imports from the
 * tree, exceptions as a status with the message, a restore back to the warm
 * interpreter, two sandboxes of one snapshot apart, and what a script
 * cannot reach. On the backend under test.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nub/nub.h>

#include "../../examples/python/py_abi.h"
#include "nub_test.h"
#include "nub_test_sandbox.h"

#define STDLIB "/usr/lib/python3.11"

static struct nub_sandbox *make(void)
{
	const char *elf = nub_test_guest("python");
	struct nub_dir dirs[] = {{STDLIB, PY_GUEST_HOME "/lib/python3.11"}};
	struct nub_config cfg;

	if (access(elf, R_OK))
		fail_msg("%s is not built: scripts/fetch-sources.sh builds libpython3.11.a from "
		         "Debian's python3.11 source into NUB_SOURCE_CACHE, then reconfigure",
		         elf);
	if (access(STDLIB "/os.py", R_OK))
		fail_msg("%s/os.py missing: the standard library comes from Debian's python3 "
		         "(scripts/install-deps.sh)",
		         STDLIB);
	nub_config_init(&cfg);
	cfg.heap_size = 128u << 20;
	cfg.dirs = dirs;
	cfg.dirs_count = 1;
	return nub_test_sandbox("python", &cfg);
}

static void test_python_evaluates(void **state)
{
	struct nub_sandbox *sb = make();
	(void)state;

	nub_test_expect_text(sb, PY_FN_EVAL, "sum(range(10))", 0, "45");
	nub_test_expect_text(sb, PY_FN_EVAL, "__import__('json').dumps({'a': [1, 2.5, None]})", 0,
	                     "'{\"a\": [1, 2.5, null]}'");
	nub_test_expect_text(sb, PY_FN_EXEC,
	                     "import re, collections\nx = collections.Counter('abracadabra')", 0,
	                     "");
	nub_test_expect_text(sb, PY_FN_EVAL, "x.most_common(1), re.sub(r'a+', '-', 'baaad')", 0,
	                     "([('a', 5)], 'b-d')");
	nub_test_expect_text(sb, PY_FN_EVAL, "1/0", PY_GUEST_RAISED,
	                     "ZeroDivisionError: division by zero");
	nub_test_expect_text(sb, PY_FN_EVAL, "1 +", PY_GUEST_RAISED,
	                     "SyntaxError: invalid syntax (<string>, line 1)");
	/* What a script reaches: the tree, read-only, and nothing of the host. */
	nub_test_expect_text(
	        sb, PY_FN_EVAL, "open('/etc/passwd')", PY_GUEST_RAISED,
	        "FileNotFoundError: [Errno 2] No such file or directory: '/etc/passwd'");
	nub_test_expect_text(sb, PY_FN_EVAL, "open('" PY_GUEST_HOME "/lib/python3.11/os.py', 'w')",
	                     PY_GUEST_RAISED,
	                     "OSError: [Errno 30] Read-only file system: '" PY_GUEST_HOME
	                     "/lib/python3.11/os.py'");
	nub_test_expect_text(sb, PY_FN_EVAL, "__import__('os').system('id')", 0, "-1");
	nub_sandbox_free(sb);
}

/* A restore brings back the interpreter as init left it; another sandbox
 * of the snapshot never sees the first one's globals. */
static void test_python_restore_and_isolation(void **state)
{
	struct nub_sandbox *a = make(), *b;
	struct nub_snapshot *snap;
	(void)state;

	assert_int_equal(nub_sandbox_snapshot(a, &snap), 0);
	b = nub_test_sandbox_from(snap);
	nub_test_expect_text(a, PY_FN_EXEC, "secret = 'a'", 0, "");
	nub_test_expect_text(a, PY_FN_EVAL, "secret", 0, "'a'");
	nub_test_expect_text(b, PY_FN_EVAL, "secret", PY_GUEST_RAISED,
	                     "NameError: name 'secret' is not defined");
	assert_int_equal(nub_sandbox_restore(a, snap), 0);
	nub_test_expect_text(a, PY_FN_EVAL, "secret", PY_GUEST_RAISED,
	                     "NameError: name 'secret' is not defined");
	nub_test_expect_text(a, PY_FN_EVAL, "sum(range(10))", 0, "45");
	nub_sandbox_free(b);
	nub_sandbox_free(a);
	nub_snapshot_unref(snap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_python_evaluates),
	        cmocka_unit_test(test_python_restore_and_isolation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
