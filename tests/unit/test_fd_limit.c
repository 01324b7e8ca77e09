/* SPDX-License-Identifier: MIT */
/*
 * Out of file descriptors: a host with many sandboxes meets the process's
 * open-file limit first on KVM (a VM and a vCPU descriptor per sandbox).
 * The sandbox that does not fit fails with an error naming RLIMIT_NOFILE
 * and how to raise it, the others keep working, and once some are freed a
 * new one fits again. On a backend whose sandboxes hold no descriptor (the
 * mock) the limit stops nothing. What the backend holds is counted, not
 * assumed from its name.
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nub/nub.h>

#include "../../guest/tests/test_guest_ids.h"
#include "nub_test.h"
#include "nub_test_sandbox.h"

#define MAX_SANDBOXES 24

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n - 3; /* ".", "..", the directory's own descriptor */
}

static int echo_ok(struct nub_sandbox *sb)
{
	char out[8];
	size_t n = 0;
	int32_t st = -1;

	return nub_sandbox_call(sb, NUB_TG_ECHO, "ok", 2, out, sizeof(out), &n, &st) == 0 &&
	       st == 0 && n == 2;
}

/* In a child process (the limit is the process's): 0 when every check
 * held, else 1 after saying which did not. */
static int limit_child(void *arg)
{
	struct nub_snapshot *snap = arg;
	struct nub_sandbox *sb[MAX_SANDBOXES] = {0};
	char why[512] = "";
	int made = 0, rc = 1;
	struct rlimit rl;

	/* Counted on the second sandbox: the first also pays what a process
	 * pays once (a forked child lets its parent's VMs go, the backend
	 * opens /dev/kvm, a shared VM is made). */
	sb[0] = nub_test_try_sandbox_from(snap, why, sizeof(why));
	if (!sb[0])
		return fprintf(stderr, "first sandbox: %s\n", why), 1;
	made = 1;
	int before = open_fds();
	sb[1] = nub_test_try_sandbox_from(snap, why, sizeof(why));
	if (!sb[1]) {
		fprintf(stderr, "second sandbox: %s\n", why);
		goto free_all;
	}
	made = 2;
	int per_sandbox = open_fds() - before;
	if (getrlimit(RLIMIT_NOFILE, &rl)) {
		perror("getrlimit");
		goto free_all;
	}
	struct rlimit low = {(rlim_t)open_fds() + 5, rl.rlim_max};
	if (setrlimit(RLIMIT_NOFILE, &low)) {
		perror("setrlimit");
		goto free_all;
	}
	while (made < MAX_SANDBOXES &&
	       (sb[made] = nub_test_try_sandbox_from(snap, why, sizeof(why))))
		made++;
	printf("INFO: %d descriptors per sandbox; %d sandboxes under a limit of %llu\n",
	       per_sandbox, made, (unsigned long long)low.rlim_cur);
	if (per_sandbox > 0 && made == MAX_SANDBOXES) {
		fprintf(stderr, "the limit stopped no sandbox\n");
		goto free_all;
	}
	char code[16];
	snprintf(code, sizeof(code), "%d ", NUB_ESYS); /* the helper's "code message" */
	if (per_sandbox > 0 && (strncmp(why, code, strlen(code)) || !strstr(why, "RLIMIT_NOFILE") ||
	                        !strstr(why, "ulimit -n") || !strstr(why, "open-file limit"))) {
		fprintf(stderr, "the failure does not name the limit: %s\n", why);
		goto free_all;
	}
	if (per_sandbox == 0 && made < MAX_SANDBOXES) {
		fprintf(stderr, "no descriptors held, yet sandbox %d failed: %s\n", made, why);
		goto free_all;
	}
	for (int i = 0; i < made; i++)
		if (!echo_ok(sb[i])) {
			fprintf(stderr, "sandbox %d broken after the limit: %s\n", i,
			        nub_sandbox_last_error(sb[i]));
			goto free_all;
		}
	nub_sandbox_free(sb[--made]); /* room for one again */
	sb[made] = nub_test_try_sandbox_from(snap, why, sizeof(why));
	if (!sb[made] || !echo_ok(sb[made])) {
		fprintf(stderr, "no sandbox after freeing one: %s\n", why);
		goto free_all;
	}
	made++;
	rc = 0;
free_all:
	for (int i = 0; i < made; i++)
		nub_sandbox_free(sb[i]);
	return rc;
}

static void test_open_file_limit_is_named(void **state)
{
	(void)state;
	struct nub_snapshot *snap = nub_test_snapshot_after_init("test_guest");
	nub_test_in_child(limit_child, snap);
	nub_snapshot_unref(snap);
}

/* The same with no pool: every free closes a VM, and on KVM the VM's
 * descriptor is closed by the backend's thread after the free returns
 * (kvm_reap.c). The creation right after a free at the limit still
 * succeeds: one that finds no descriptor waits for those queued. */
static void test_open_file_limit_is_named_without_pool(void **state)
{
	(void)state;
	struct nub_snapshot *snap = nub_test_snapshot_after_init("test_guest");
	assert_int_equal(nub_snapshot_set_pool(snap, 0), 0);
	nub_test_in_child(limit_child, snap);
	nub_snapshot_unref(snap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_open_file_limit_is_named),
	        cmocka_unit_test(test_open_file_limit_is_named_without_pool),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
