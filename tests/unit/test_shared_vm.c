/* SPDX-License-Identifier: MIT */
/* Sandboxes sharing one KVM VM (the KVM backend's option share=N): each is
 * a vCPU of that VM on a guest-physical window of its own, and nothing one
 * of them writes reaches another -- neither while both are alive nor when
 * a freed one's vCPU and window are given to the next sandbox. On KVM
 * (NUB_TEST_SANDBOX_BACKEND=kvm; ctest's kvm.test_shared_vm and the
 * nested suite shared-vm-kvm); on the mock, whose VMs are processes of
 * their own, the same calls check the same isolation without the sharing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nub/guest_abi.h>
#include <nub/nub.h>

#include "../../guest/tests/test_guest_ids.h"
#include "backend/hv.h"
#include "nub_test.h"
#include "nub_test_sandbox.h"
#include "sandbox/sandbox_internal.h"

#define PAGE 4096ull

static int on_kvm(void)
{
	struct nub_config c;

	nub_test_use_backend(&c);
	return !strcmp(c.backend, "kvm");
}

static struct nub_sandbox *make_shared(struct nub_snapshot *snap, const char *share)
{
	struct nub_config c;
	struct nub_error err = {0};
	struct nub_sandbox *sb = NULL;

	nub_config_init(&c);
	nub_test_use_backend(&c);
	if (on_kvm())
		c.backend_options = share;
	if (nub_sandbox_create_from_snapshot(&c, snap, &sb, &err))
		fail_msg("create: %s", err.msg);
	if (nub_sandbox_evolve(sb))
		fail_msg("evolve: %s", nub_sandbox_last_error(sb));
	return sb;
}

static struct nub_sandbox *make(struct nub_snapshot *snap)
{
	return make_shared(snap, "share=4");
}

static nub_gpa_t window_of(const struct nub_sandbox *sb)
{
	return nub_hv_gpa_base(sb->hv);
}

static void test_sandboxes_of_one_vm_stay_apart(void **state)
{
	struct nub_snapshot *snap = nub_test_snapshot_after_init("test_guest");
	struct nub_sandbox *sb[3];

	(void)state;
	for (int i = 0; i < 3; i++)
		sb[i] = make(snap);
	if (on_kvm()) {
		/* Three windows of one VM (a VM of its own sits at 0). */
		for (int i = 0; i < 3; i++) {
			assert_int_equal(window_of(sb[i]) % NUB_GPA_LIMIT, 0);
			for (int j = 0; j < i; j++)
				assert_true(window_of(sb[i]) != window_of(sb[j]));
		}
	}
	/* Same guest-virtual pages, each sandbox's own bytes. */
	assert_int_equal(nub_test_pages_sum(sb[0], 0, 4, 0x11), 4 * PAGE * 0x11);
	assert_int_equal(nub_test_pages_sum(sb[1], 0, 2, 0x22), 2 * PAGE * 0x22);
	assert_int_equal(nub_test_pages_sum(sb[2], 0, 1, 0x33), PAGE * 0x33);
	assert_int_equal(nub_test_pages_sum(sb[0], 0, 0, 0), 4 * PAGE * 0x11);
	assert_int_equal(nub_test_pages_sum(sb[1], 0, 0, 0), 2 * PAGE * 0x22);
	/* A freed sandbox's vCPU and window go to the next one: it starts
	 * from the snapshot, with nothing of the last tenant's. */
	nub_gpa_t freed = window_of(sb[1]);
	nub_sandbox_free(sb[1]);
	sb[1] = make(snap);
	if (on_kvm())
		assert_int_equal(window_of(sb[1]), freed);
	assert_int_equal(nub_test_pages_sum(sb[1], 0, 0, 0), 0);
	assert_int_equal(nub_test_pages_sum(sb[1], 0, 3, 0x44), 3 * PAGE * 0x44);
	assert_int_equal(nub_test_pages_sum(sb[0], 0, 0, 0), 4 * PAGE * 0x11);
	assert_int_equal(nub_test_pages_sum(sb[2], 0, 0, 0), PAGE * 0x33);
	/* A restore of one leaves the others as they were. */
	assert_int_equal(nub_sandbox_restore(sb[0], NULL), 0);
	assert_int_equal(nub_test_pages_sum(sb[0], 0, 0, 0), 0);
	assert_int_equal(nub_test_pages_sum(sb[1], 0, 0, 0), 3 * PAGE * 0x44);
	for (int i = 0; i < 3; i++)
		nub_sandbox_free(sb[i]);
	nub_snapshot_unref(snap);
}

/* More sandboxes than one VM holds: a second VM takes the rest, and each
 * still sees only its own pages. */
static void test_a_full_vm_makes_another(void **state)
{
	struct nub_snapshot *snap = nub_test_snapshot_after_init("test_guest");
	struct nub_sandbox *sb[6];

	(void)state;
	for (int i = 0; i < 6; i++) {
		sb[i] = make(snap);
		assert_int_equal(nub_test_pages_sum(sb[i], 0, 1, (uint8_t)(i + 1)),
		                 PAGE * (uint64_t)(i + 1));
	}
	for (int i = 0; i < 6; i++)
		assert_int_equal(nub_test_pages_sum(sb[i], 0, 0, 0), PAGE * (uint64_t)(i + 1));
	for (int i = 0; i < 6; i++)
		nub_sandbox_free(sb[i]);
	nub_snapshot_unref(snap);
}

/* A full VM emptied and filled again: every sandbox runs. KVM sized the
 * VM's shadow-page budget from its memory slots, all gone once it was
 * empty, while its parked vCPUs kept their roots: the refill's first run
 * failed with KVM_RUN: ENOSPC until the backend fixed the budget (here
 * with 300 per VM; 128 did not show it). 300 where the vCPUs reach that
 * many windows; in nested KVM, whose vCPUs have 40 address bits, 48
 * sandboxes in VMs of 16. */
static void test_an_emptied_vm_fills_again(void **state)
{
	enum { N = 300 };
	struct nub_snapshot *snap = nub_test_snapshot_after_init("test_guest");
	struct nub_sandbox **sb = calloc(N, sizeof(*sb));
	struct nub_config c;
	struct nub_error err = {0};
	const char *share = "share=300";
	int n = N;

	(void)state;
	assert_non_null(sb);
	nub_config_init(&c);
	nub_test_use_backend(&c);
	c.backend_options = on_kvm() ? share : NULL;
	/* The VM is made when the sandbox evolves: that is where a share the
	 * vCPUs cannot hold is refused. */
	if (nub_sandbox_create_from_snapshot(&c, snap, &sb[0], &err))
		fail_msg("create: %s", err.msg);
	if (nub_sandbox_evolve(sb[0])) {
		if (!strstr(nub_sandbox_last_error(sb[0]), "sandboxes per VM"))
			fail_msg("evolve: %s", nub_sandbox_last_error(sb[0]));
		share = "share=16"; /* what the narrowest vCPUs allow */
		n = 48;             /* three VMs of them (nested KVM is slow) */
	}
	nub_sandbox_free(sb[0]);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < n; i++) {
			sb[i] = make_shared(snap, share);
			assert_int_equal(nub_test_pages_sum(sb[i], 0, 1, 7), PAGE * 7);
		}
		for (int i = 0; i < n; i++)
			nub_sandbox_free(sb[i]);
	}
	free(sb);
	nub_snapshot_unref(snap);
}

/* A KVM VM serves only the process that made it: a forked child's
 * sandboxes get VMs of the child's own (its copies of the parent's went
 * with EIO before), and the parent's sandbox is untouched by the child.
 * The child checks without cmocka (a failed assertion there would go on
 * running the parent's tests) and answers with its exit status. */
static int child_makes_its_own(void *arg)
{
	struct nub_snapshot *snap = arg;
	struct nub_config c;
	struct nub_error err = {0};
	struct nub_sandbox *sb = NULL;
	uint8_t in[9] = {0, 0, 0, 0, 1, 0, 0, 0, 0x66}; /* page 0, 1 page, 0x66 */
	uint64_t sum = 0;
	size_t n = 0;
	int32_t st = -1;

	nub_config_init(&c);
	nub_test_use_backend(&c);
	if (on_kvm())
		c.backend_options = "share=4";
	int bad = nub_sandbox_create_from_snapshot(&c, snap, &sb, &err) || nub_sandbox_evolve(sb) ||
	          nub_sandbox_call(sb, NUB_TG_PAGES, in, 9, &sum, 8, &n, &st) || st ||
	          sum != PAGE * 0x66;
	if (bad)
		fprintf(stderr, "child: %s\n", sb ? nub_sandbox_last_error(sb) : err.msg);
	nub_sandbox_free(sb);
	return bad;
}

static void test_a_forked_child_makes_its_own(void **state)
{
	struct nub_snapshot *snap = nub_test_snapshot_after_init("test_guest");

	(void)state;
	struct nub_sandbox *mine = make(snap);
	assert_int_equal(nub_test_pages_sum(mine, 0, 2, 0x55), 2 * PAGE * 0x55);
	nub_test_in_child(child_makes_its_own, snap);
	assert_int_equal(nub_test_pages_sum(mine, 0, 0, 0), 2 * PAGE * 0x55);
	nub_sandbox_free(mine);
	nub_snapshot_unref(snap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_sandboxes_of_one_vm_stay_apart),
	        cmocka_unit_test(test_a_full_vm_makes_another),
	        cmocka_unit_test(test_an_emptied_vm_fills_again),
	        cmocka_unit_test(test_a_forked_child_makes_its_own),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
