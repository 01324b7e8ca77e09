/* SPDX-License-Identifier: MIT */
/*
 * Restores: which kind a restore is (in place, keeping the live tables and
 * the copies the host made, or full, rewriting them), and that both leave
 * exactly the snapshot's state behind -- nothing of the last request in
 * the heap, the stack or the buffers -- on every backend (the mock by
 * default, KVM with NUB_TEST_SANDBOX_BACKEND=kvm). Verdicts are counts
 * (copy-on-write faults, restores of each kind) and bytes, never times.
 */
#include <stdio.h>
#include <string.h>

#include <nub/nub.h>

#include "../../guest/tests/test_guest_ids.h"
#include "nub_test.h"
#include "nub_test_sandbox.h"

static void dirty(struct nub_sandbox *sb, uint32_t first, uint32_t count, uint8_t value)
{
	uint8_t in[9];

	memcpy(in, &first, 4);
	memcpy(in + 4, &count, 4);
	in[8] = value;
	assert_int_equal(nub_test_call(sb, NUB_TG_DIRTY, in, sizeof(in), NULL, 0, NULL), 0);
}

/* Restore to `snap` (NULL: the base) and say which kind it was: 1 in
 * place, 0 full. */
static int restore(struct nub_sandbox *sb, struct nub_snapshot *snap)
{
	uint64_t before = nub_test_stats(sb).restores_in_place;

	assert_int_equal(nub_sandbox_restore(sb, snap), 0);
	return nub_test_stats(sb).restores_in_place == before + 1;
}

/* A request leaves everything it can behind -- heap pages written,
 * traces on the stack and in both buffers -- and the restore after it
 * keeps the tables: the next request finds the snapshot's bytes, and
 * writing the same pages again costs no copy-on-write fault. */
static void test_in_place_restore_is_the_snapshot(void **state)
{
	(void)state;
	struct nub_sandbox *sb = nub_test_sandbox("test_guest", NULL);
	assert_int_equal(restore(sb, NULL), 0); /* the first is full: base after init */
	uint64_t clean = nub_test_pages_sum(sb, 0, 0, 0);
	assert_int_equal(nub_test_traces(sb, NUB_TG_TRACES_COUNT), 0);

	for (int round = 0; round < 3; round++) {
		assert_int_equal(nub_test_pages_sum(sb, 3, 40, (uint8_t)(0x11 + round)),
		                 clean + 40ull * 4096 * (uint8_t)(0x11 + round));
		dirty(sb, 0, 64, 0x5a);
		nub_test_traces(sb, NUB_TG_TRACES_LEAVE);
		assert_true(nub_test_traces(sb, NUB_TG_TRACES_COUNT) > 0);
		assert_int_equal(restore(sb, NULL), 1);
		assert_int_equal(nub_test_traces(sb, NUB_TG_TRACES_COUNT), 0);
		assert_int_equal(nub_sandbox_restore(sb, NULL), 0);
		assert_int_equal(nub_test_pages_sum(sb, 0, 0, 0), clean);
		assert_int_equal(nub_sandbox_restore(sb, NULL), 0);
	}

	/* The pages of the rounds above are private copies now, put back in
	 * place at each restore: writing them again faults no more. */
	struct nub_sandbox_stats before = nub_test_stats(sb);
	nub_test_pages_sum(sb, 3, 40, 0x77);
	dirty(sb, 0, 64, 0x5b);
	struct nub_sandbox_stats after = nub_test_stats(sb);
	assert_int_equal(after.cow_faults, before.cow_faults);
	assert_true(after.restore_kept_pages >= 104);
	nub_sandbox_free(sb);
}

/* A restore to another snapshot is full (its tables are not the live
 * ones), and so is the next one back; each lands in its own snapshot's
 * state. Then restores to the same one are in place again. */
static void test_switching_snapshots_is_a_full_restore(void **state)
{
	struct nub_snapshot *snap = NULL;

	(void)state;
	struct nub_sandbox *sb = nub_test_sandbox("test_guest", NULL);
	restore(sb, NULL);
	uint64_t clean = nub_test_pages_sum(sb, 0, 0, 0);
	uint64_t captured = nub_test_pages_sum(sb, 5, 9, 3);
	assert_int_equal(nub_sandbox_snapshot(sb, &snap), 0);
	nub_test_pages_sum(sb, 20, 9, 4);

	assert_int_equal(restore(sb, snap), 0);
	assert_int_equal(nub_test_pages_sum(sb, 0, 0, 0), captured);
	nub_test_pages_sum(sb, 30, 2, 9);
	assert_int_equal(restore(sb, snap), 1);
	assert_int_equal(nub_test_pages_sum(sb, 0, 0, 0), captured);
	assert_int_equal(restore(sb, NULL), 0);
	assert_int_equal(nub_test_pages_sum(sb, 0, 0, 0), clean);
	assert_int_equal(restore(sb, NULL), 1);
	assert_int_equal(nub_test_pages_sum(sb, 0, 0, 0), clean);
	nub_snapshot_unref(snap);
	nub_sandbox_free(sb);
}

/* After a failed call (the sandbox poisoned) the restore rewrites the
 * tables: nothing the failure left half-done is kept. */
static void test_restore_after_a_failure_is_full(void **state)
{
	int rc;

	(void)state;
	struct nub_sandbox *sb = nub_test_sandbox("test_guest", NULL);
	restore(sb, NULL);
	uint64_t clean = nub_test_pages_sum(sb, 0, 0, 0);
	nub_test_pages_sum(sb, 0, 8, 1);
	assert_int_equal(restore(sb, NULL), 1);
	nub_test_pages_sum(sb, 0, 8, 2);
	nub_test_try_call(sb, NUB_TG_NULL_DEREF, NULL, 0, NULL, 0, &rc);
	assert_int_equal(rc, NUB_EGUEST_FAULT);
	assert_int_equal(restore(sb, NULL), 0);
	assert_int_equal(nub_test_pages_sum(sb, 0, 0, 0), clean);
	assert_int_equal(nub_test_traces(sb, NUB_TG_TRACES_COUNT), 0);
	nub_sandbox_free(sb);
}

/* Two sandboxes of one snapshot, each restored in place many times with
 * the other's work in between: neither sees a byte of the other's. */
static void test_in_place_restores_stay_isolated(void **state)
{
	struct nub_snapshot *snap = NULL;

	(void)state;
	struct nub_sandbox *a = nub_test_sandbox("test_guest", NULL);
	restore(a, NULL);
	assert_int_equal(nub_sandbox_snapshot(a, &snap), 0);
	struct nub_sandbox *b = nub_test_sandbox_from(snap);
	uint64_t clean = nub_test_pages_sum(a, 0, 0, 0);
	assert_int_equal(nub_test_pages_sum(b, 0, 0, 0), clean);
	assert_int_equal(restore(a, snap), 0);

	for (uint8_t i = 1; i <= 8; i++) {
		nub_test_pages_sum(a, i, 16, i);
		nub_test_traces(a, NUB_TG_TRACES_LEAVE);
		assert_int_equal(nub_test_pages_sum(b, 0, 0, 0), clean);
		nub_test_pages_sum(b, 100 + i, 16, (uint8_t)(i + 100));
		assert_int_equal(restore(a, snap), 1);
		assert_int_equal(nub_test_pages_sum(a, 0, 0, 0), clean);
		assert_int_equal(nub_test_traces(a, NUB_TG_TRACES_COUNT), 0);
		assert_int_equal(nub_sandbox_restore(b, NULL), 0);
	}
	nub_sandbox_free(b);
	nub_sandbox_free(a);
	nub_snapshot_unref(snap);
}

/* In place, copies accumulate across restores (the union of every page
 * any request wrote), so a restore keeps the tables only while the copy
 * area could still take a copy of every page not copied yet: no request
 * may run out of room where a full restore would have left it enough. The
 * default scratch has that room (restores stay in place however much is
 * written); a scratch too small for it gets full restores, and every
 * request still gets the whole copy area. */
static void test_in_place_only_with_room_for_every_copy(void **state)
{
	struct nub_config cfg;

	(void)state;
	struct nub_sandbox *sb = nub_test_sandbox("test_guest", NULL);
	restore(sb, NULL);
	for (uint32_t i = 0; i < NUB_TG_DIRTY_MAX / 512; i++) {
		dirty(sb, 512 * i, 512, 1); /* 512 new pages each time */
		assert_int_equal(restore(sb, NULL), 1);
	}
	nub_sandbox_free(sb);

	/* The same with a heap large enough that the tables splitting its
	 * large pages count (one per 512 pages): the default scratch has room
	 * for them too. */
	nub_config_init(&cfg);
	cfg.heap_size = 64u << 20;
	sb = nub_test_sandbox("test_guest", &cfg);
	restore(sb, NULL);
	dirty(sb, 0, 64, 1);
	assert_int_equal(restore(sb, NULL), 1);
	assert_int_equal(restore(sb, NULL), 1);
	nub_sandbox_free(sb);

	nub_config_init(&cfg);
	cfg.scratch_size = 4u << 20;
	sb = nub_test_sandbox("test_guest", &cfg);
	restore(sb, NULL);
	for (uint32_t i = 0; i < 8; i++) {
		dirty(sb, 0, 512, 1); /* fits in 4 MiB only when the area is empty */
		assert_int_equal(restore(sb, NULL), 0);
	}
	nub_sandbox_free(sb);
}

/* A new sandbox in a new VM copies what the first calls of earlier ones
 * wrote at its first reset (the snapshot learns their working set), so its
 * first call takes no copy-on-write exit for those pages. No pool: a
 * pooled VM keeps its copies, it needs none. */
static void test_snapshot_learns_the_first_calls_working_set(void **state)
{
	(void)state;
	struct nub_snapshot *snap = nub_test_snapshot_after_init("test_guest");
	assert_int_equal(nub_snapshot_set_pool(snap, 0), 0);
	struct nub_sandbox *a = nub_test_sandbox_from(snap);
	uint64_t cow = nub_test_stats(a).cow_faults;
	uint64_t clean = nub_test_pages_sum(a, 0, 8, 3);
	assert_true(nub_test_stats(a).cow_faults >= cow + 8); /* and what the call itself wrote */
	nub_sandbox_free(a);

	struct nub_sandbox *b = nub_test_sandbox_from(snap);
	cow = nub_test_stats(b).cow_faults;
	assert_true(nub_test_stats(b).prefetched_pages >= 8);
	assert_int_equal(nub_test_pages_sum(b, 0, 8, 3), clean);
	assert_int_equal(nub_test_stats(b).cow_faults, cow);
	nub_sandbox_free(b);
	nub_snapshot_unref(snap);
}

/* What a snapshot learned goes into its file: a sandbox from the loaded
 * copy starts with the pages the first calls wrote, and its first call
 * takes no copy-on-write exit for them. */
static void test_saved_snapshot_carries_what_it_learned(void **state)
{
	struct nub_snapshot *loaded = NULL;
	struct nub_error err = {0};
	char dir[256], path[300];

	(void)state;
	struct nub_snapshot *snap = nub_test_snapshot_after_init("test_guest");
	struct nub_sandbox *a = nub_test_sandbox_from(snap);
	uint64_t clean = nub_test_pages_sum(a, 0, 8, 3);
	nub_sandbox_free(a);
	nub_test_tmpdir(dir, sizeof(dir), "learned");
	snprintf(path, sizeof(path), "%s/snap", dir);
	assert_int_equal(nub_snapshot_save(snap, path, &err), 0);
	assert_int_equal(nub_snapshot_load(path, &loaded, &err), 0);

	struct nub_sandbox *b = nub_test_sandbox_from(loaded);
	uint64_t cow = nub_test_stats(b).cow_faults;
	assert_true(nub_test_stats(b).prefetched_pages >= 8);
	assert_int_equal(nub_test_pages_sum(b, 0, 8, 3), clean);
	assert_int_equal(nub_test_stats(b).cow_faults, cow);
	nub_sandbox_free(b);
	nub_snapshot_unref(loaded);
	nub_snapshot_unref(snap);
	assert_int_equal(nub_test_rmtree(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_in_place_restore_is_the_snapshot),
	        cmocka_unit_test(test_switching_snapshots_is_a_full_restore),
	        cmocka_unit_test(test_restore_after_a_failure_is_full),
	        cmocka_unit_test(test_in_place_restores_stay_isolated),
	        cmocka_unit_test(test_in_place_only_with_room_for_every_copy),
	        cmocka_unit_test(test_snapshot_learns_the_first_calls_working_set),
	        cmocka_unit_test(test_saved_snapshot_carries_what_it_learned),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
