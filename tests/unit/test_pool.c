/* SPDX-License-Identifier: MIT */
/*
 * The pool of freed VMs (nub_snapshot_set_pool): a sandbox from a pooled VM
 * is a fresh sandbox of the snapshot -- memory, buffers, seed, host
 * functions, counters -- and only the VM is reused; the pool is bounded,
 * never takes a poisoned sandbox, and goes with its snapshot. And VMs
 * across fork(): a VM is the process's that made it, parked or not, and a
 * forked child's own sandboxes work as any do, timeouts included. On every
 * backend (the mock by default, KVM with NUB_TEST_SANDBOX_BACKEND=kvm);
 * verdicts are counts and bytes, never times.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <nub/nub.h>

#include "../../guest/tests/test_guest_ids.h"
#include "image/snapshot.h"
#include "memory/shmem.h"
#include "nub_test.h"
#include "nub_test_sandbox.h"
#include "sandbox/sandbox_internal.h"

static void seed(struct nub_sandbox *sb, struct nub_tg_seed *s)
{
	assert_int_equal(nub_test_call(sb, NUB_TG_RESTORE_SEED, NULL, 0, s, sizeof(*s), NULL), 0);
}

static int32_t host_ok(void *user, const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                       size_t *out_len)
{
	(void)user, (void)in, (void)in_len, (void)out, (void)cap;
	*out_len = 0;
	return 0;
}

/* The host's counter as the guest reads it. */
static uint64_t guest_counter(struct nub_sandbox *sb)
{
	uint64_t v = UINT64_MAX;

	assert_int_equal(nub_test_call(sb, NUB_TG_GUEST_COUNTER, NULL, 0, &v, sizeof(v), NULL), 0);
	return v;
}

/* Host function 7 answered: 1; not registered (the call or the guest's
 * status says so): 0. */
static int host_fn_answers(struct nub_sandbox *sb)
{
	uint32_t id = 7;
	uint8_t out[64];
	int32_t answer = -1;
	int rc;

	int32_t st =
	        nub_test_try_call(sb, NUB_TG_CALL_HOST, &id, sizeof(id), out, sizeof(out), &rc);
	if (rc == 0 && st == 0)
		memcpy(&answer, out, sizeof(answer));
	if (rc)
		assert_int_equal(nub_sandbox_restore(sb, NULL), 0);
	return rc == 0 && st == 0 && answer == 0;
}

/* Pages of the VM parked first in `snap`'s pool that hold `value` in every
 * byte: what a parked VM still holds of what its last user wrote. */
static unsigned parked_pages_of(struct nub_snapshot *snap, uint8_t value)
{
	const struct nub_sandbox *parked = snap->pool.parked;
	unsigned n = 0;

	assert_non_null(parked);
	const uint8_t *host = nub_shmem_host(parked->scratch);
	uint64_t size = nub_shmem_size(parked->scratch);
	for (uint64_t off = 0; off + 4096 <= size; off += 4096) {
		uint64_t i = 0;
		while (i < 4096 && host[off + i] == value)
			i++;
		n += i == 4096;
	}
	return n;
}

/* The snapshot of an initialised test guest with no pool (each test sets
 * its own), and its clean page sum (read in a sandbox of it). */
static struct nub_snapshot *initialised(uint64_t *clean)
{
	struct nub_snapshot *snap = nub_test_snapshot_after_init("test_guest");
	assert_int_equal(nub_snapshot_set_pool(snap, 0), 0);
	struct nub_sandbox *sb = nub_test_sandbox_from(snap);

	*clean = nub_test_pages_sum(sb, 0, 0, 0);
	nub_sandbox_free(sb);
	return snap;
}

/* The last user wrote pages, left traces on its stack and buffers, had a
 * host function and a counter: its VM is reset in place as it parks, so
 * the pool holds none of what it wrote, and the next sandbox gets the same
 * VM with none of that -- a fresh seed, no host function, a counter at 0 --
 * while the pages the last user wrote cost it no copy-on-write fault. */
static void test_pooled_vm_is_a_fresh_sandbox(void **state)
{
	struct nub_tg_seed s1, s2;
	uint64_t clean;

	(void)state;
	struct nub_snapshot *snap = initialised(&clean);
	assert_int_equal(nub_snapshot_set_pool(snap, 2), 0);

	struct nub_sandbox *a = nub_test_sandbox_from(snap);
	assert_int_equal(nub_test_stats(a).vms_recycled, 0);
	assert_int_equal(nub_sandbox_register(a, 7, host_ok, NULL), 0);
	assert_true(host_fn_answers(a));
	assert_int_equal(nub_sandbox_counter_add(a, 5), 0);
	seed(a, &s1);
	nub_test_pages_sum(a, 0, 32, 0x5a);
	nub_test_traces(a, NUB_TG_TRACES_LEAVE);
	nub_sandbox_free(a);
	assert_int_equal(parked_pages_of(snap, 0x5a), 0);

	struct nub_sandbox *b = nub_test_sandbox_from(snap);
	struct nub_sandbox_stats st = nub_test_stats(b);
	assert_int_equal(st.vms_recycled, 1);
	assert_int_equal(st.restores, 0); /* its VM was reset as it parked */
	assert_int_equal(st.calls, 0);
	assert_int_equal(nub_test_pages_sum(b, 0, 0, 0), clean);
	assert_int_equal(nub_test_traces(b, NUB_TG_TRACES_COUNT), 0);
	seed(b, &s2);
	assert_memory_not_equal(s1.runtime_seed, s2.runtime_seed, sizeof(s1.runtime_seed));
	uint64_t cow = nub_test_stats(b).cow_faults;
	nub_test_pages_sum(b, 0, 32, 0x11);
	assert_int_equal(nub_test_stats(b).cow_faults, cow);
	assert_false(host_fn_answers(b));
	assert_int_equal(nub_sandbox_counter(b), 0);
	assert_int_equal(guest_counter(b), 0);
	nub_sandbox_free(b);
	nub_snapshot_unref(snap); /* frees the parked VM (ASan, valgrind: no leak) */
}

/* At most `max` parked; a poisoned sandbox is freed, never parked; a pool
 * of 0 frees what it kept. */
static void test_pool_is_bounded_and_takes_no_poisoned_vm(void **state)
{
	struct nub_sandbox *sb[3];
	uint64_t clean;
	int rc;

	(void)state;
	struct nub_snapshot *snap = initialised(&clean);
	assert_int_equal(nub_snapshot_set_pool(snap, 1), 0);
	for (int i = 0; i < 3; i++)
		sb[i] = nub_test_sandbox_from(snap);
	nub_test_try_call(sb[0], NUB_TG_NULL_DEREF, NULL, 0, NULL, 0, &rc);
	assert_int_equal(rc, NUB_EGUEST_FAULT);
	nub_sandbox_free(sb[0]); /* poisoned: freed, the pool stays empty */
	sb[0] = nub_test_sandbox_from(snap);
	assert_int_equal(nub_test_stats(sb[0]).vms_recycled, 0);
	for (int i = 0; i < 3; i++)
		nub_sandbox_free(sb[i]); /* one parks, two are freed */
	for (int i = 0; i < 2; i++)
		sb[i] = nub_test_sandbox_from(snap);
	assert_int_equal(nub_test_stats(sb[0]).vms_recycled, 1);
	assert_int_equal(nub_test_stats(sb[1]).vms_recycled, 0);
	assert_int_equal(nub_test_pages_sum(sb[0], 0, 0, 0), clean);
	nub_sandbox_free(sb[0]);
	nub_sandbox_free(sb[1]);

	assert_int_equal(nub_snapshot_set_pool(snap, 0), 0); /* frees the one parked */
	sb[0] = nub_test_sandbox_from(snap);
	assert_int_equal(nub_test_stats(sb[0]).vms_recycled, 0);
	nub_sandbox_free(sb[0]); /* no pool: freed */
	nub_snapshot_unref(snap);
}

/* A sandbox whose last reset was to another snapshot holds that one's
 * state: it is not parked for this one. */
static void test_pool_takes_only_its_snapshots_state(void **state)
{
	struct nub_snapshot *other = NULL;
	uint64_t clean;

	(void)state;
	struct nub_snapshot *snap = initialised(&clean);
	assert_int_equal(nub_snapshot_set_pool(snap, 4), 0);
	struct nub_sandbox *a = nub_test_sandbox_from(snap);
	nub_test_pages_sum(a, 0, 4, 9);
	assert_int_equal(nub_sandbox_snapshot(a, &other), 0);
	assert_int_equal(nub_sandbox_restore(a, other), 0);
	nub_sandbox_free(a);
	struct nub_sandbox *b = nub_test_sandbox_from(snap);
	assert_int_equal(nub_test_stats(b).vms_recycled, 0);
	assert_int_equal(nub_test_pages_sum(b, 0, 0, 0), clean);
	nub_sandbox_free(b);
	nub_snapshot_unref(other);
	nub_snapshot_unref(snap);
}

/* A forked child of a host with a parked VM: it gets a VM of its own (the
 * parked one's hypervisor handles are the parent's), and letting go of the
 * pool there (its copy of it) leaves the parent's VM working: the parent's
 * next sandbox takes it and runs. */
struct fork_case {
	struct nub_snapshot *snap;
	uint64_t clean;
	struct nub_sandbox *parents; /* a sandbox the parent made, or NULL */
	uint8_t *shared;             /* a page shared with the child, or NULL */
};

static int child_without_parked_vm(void *arg)
{
	const struct fork_case *fc = arg;
	struct nub_sandbox_stats st = {0};
	char why[256] = "";
	int bad = 1;

	struct nub_sandbox *b = nub_test_try_sandbox_from(fc->snap, why, sizeof(why));
	if (b) {
		nub_sandbox_stats(b, &st);
		bad = st.vms_recycled != 0 || nub_test_pages_sum(b, 0, 0, 0) != fc->clean;
	}
	if (bad)
		fprintf(stderr, "child: %s (recycled %u)\n", b ? "wrong sandbox" : why,
		        (unsigned)st.vms_recycled);
	nub_sandbox_free(b);
	nub_snapshot_set_pool(fc->snap, 0); /* the child's copies of the parked VM go */
	return bad;
}

static void test_a_forked_child_takes_no_parked_vm(void **state)
{
	struct fork_case fc = {0};

	(void)state;
	fc.snap = initialised(&fc.clean);
	assert_int_equal(nub_snapshot_set_pool(fc.snap, 1), 0);
	nub_sandbox_free(nub_test_sandbox_from(fc.snap)); /* parked */
	nub_test_in_child(child_without_parked_vm, &fc);
	struct nub_sandbox *c = nub_test_sandbox_from(fc.snap);
	assert_int_equal(nub_test_stats(c).vms_recycled, 1);
	assert_int_equal(nub_test_pages_sum(c, 0, 0, 0), fc.clean);
	nub_sandbox_free(c);
	nub_snapshot_unref(fc.snap);
}

/* A sandbox made before a fork is its maker's: the child's call, restore,
 * counter, snapshot and heap usage on its copy fail with NUB_ESTATE and a
 * message naming the process the VM belongs to, on every backend, before
 * anything reaches the VM or its memory (on the mock that memory is the
 * parent's: a restore would have reset the parent's pages; on KVM the
 * child has none of it: a read would fault). The parent's sandbox runs on
 * untouched, as does the parent's free of it. */
static int child_refused(struct nub_sandbox *sb, const char *what, int rc)
{
	const char *msg = nub_sandbox_last_error(sb);

	if (rc == NUB_ESTATE && strstr(msg, what) == msg && strstr(msg, "belongs to process"))
		return 0;
	fprintf(stderr, "child's %s on the parent's VM: rc %d: %s\n", what, rc, msg);
	return 1;
}

static int child_runs_parents_vm(void *arg)
{
	const struct fork_case *fc = arg;
	int rc = 0, bad = 0;

	(void)nub_test_try_call(fc->parents, NUB_TG_ECHO, "x", 1, NULL, 0, &rc);
	bad |= child_refused(fc->parents, "call", rc);
	bad |= child_refused(fc->parents, "restore", nub_sandbox_restore(fc->parents, NULL));
	bad |= child_refused(fc->parents, "counter", nub_sandbox_counter_add(fc->parents, 1));
	struct nub_snapshot *snap = NULL;
	bad |= child_refused(fc->parents, "snapshot", nub_sandbox_snapshot(fc->parents, &snap));
	struct nub_heap_usage hu;
	bad |= child_refused(fc->parents, "heap usage", nub_sandbox_heap_usage(fc->parents, &hu));
	nub_sandbox_free(fc->parents); /* the child's copy */
	return bad;
}

static void test_a_forked_child_cannot_run_the_parents_vm(void **state)
{
	struct fork_case fc = {0};

	(void)state;
	fc.snap = initialised(&fc.clean);
	fc.parents = nub_test_sandbox_from(fc.snap);
	assert_int_equal(nub_test_pages_sum(fc.parents, 0, 1, 0x21), fc.clean + 4096 * 0x21);
	nub_test_in_child(child_runs_parents_vm, &fc);
	assert_int_equal(nub_test_pages_sum(fc.parents, 0, 0, 0), fc.clean + 4096 * 0x21);
	assert_int_equal(nub_sandbox_counter(fc.parents), 0);
	nub_sandbox_free(fc.parents);
	nub_snapshot_unref(fc.snap);
}

/* A child that frees its copy of a healthy sandbox of the parent's, with
 * room in the pool: it does not reset the VM to park it. On the mock the
 * guest memory is shared with the parent, whose pages a reset would have
 * zeroed; the parent's sandbox keeps what it wrote and parks when it goes. */
static int child_frees_parents_sandbox(void *arg)
{
	const struct fork_case *fc = arg;

	nub_sandbox_free(fc->parents); /* the child's copy */
	return fc->snap->pool.n != 0;
}

static void test_a_forked_childs_free_leaves_the_parents_vm(void **state)
{
	struct fork_case fc = {0};

	(void)state;
	fc.snap = initialised(&fc.clean);
	assert_int_equal(nub_snapshot_set_pool(fc.snap, 1), 0);
	fc.parents = nub_test_sandbox_from(fc.snap);
	assert_int_equal(nub_test_pages_sum(fc.parents, 0, 1, 0x21), fc.clean + 4096 * 0x21);
	nub_test_in_child(child_frees_parents_sandbox, &fc);
	assert_int_equal(nub_test_pages_sum(fc.parents, 0, 0, 0), fc.clean + 4096 * 0x21);
	nub_sandbox_free(fc.parents);
	assert_int_equal(fc.snap->pool.n, 1);
	nub_snapshot_unref(fc.snap);
}

/* A forked child's timeouts stop its own calls. The parent's thread ran a
 * call first (a backend may remember the thread that runs; KVM kicks it by
 * its id), and the child's one thread is a copy of it with another id: a
 * kick aimed at the parent's id would be lost and the call would spin on.
 * The alarm turns that into a failure instead of a hang; it is 1,200 times
 * the timeout, so no machine is too slow for it. (Not in
 * test_interrupt_handle: TSan runs that one, and a child that starts a
 * thread -- the timer -- after a fork of a threaded process is not
 * supported there.) */
static int spin_rc(struct nub_sandbox *sb)
{
	int rc = 0;

	(void)nub_test_try_call(sb, NUB_TG_SPIN, NULL, 0, NULL, 0, &rc);
	return rc;
}

static int child_times_out(void *arg)
{
	struct nub_config *cfg = arg;
	struct nub_sandbox *sb = nub_test_sandbox("test_guest", cfg);

	alarm((unsigned)(cfg->call_timeout_us * 1200 / 1000000) + 1);
	int rc = spin_rc(sb);
	nub_sandbox_free(sb);
	return rc != NUB_ETIMEDOUT;
}

static void test_a_forked_childs_timeout_stops_its_call(void **state)
{
	struct nub_config cfg;
	(void)state;

	nub_config_init(&cfg);
	cfg.call_timeout_us = nub_test_timeout_us(50000);
	struct nub_sandbox *sb = nub_test_sandbox("test_guest", &cfg);
	assert_int_equal(spin_rc(sb), NUB_ETIMEDOUT); /* on this thread, before the fork */
	nub_test_in_child(child_times_out, &cfg);
	nub_sandbox_free(sb);
}

/* Seeds are drawn in batches per thread (core/sandbox/seed.c): a forked
 * child's first sandbox must not get the seed its parent's next restore
 * gets, which a copy of the parent's batch would hand it. The child's seed
 * comes back through a shared page. */
static int child_seeds(void *arg)
{
	struct fork_case *fc = arg;
	struct nub_sandbox *c = nub_test_sandbox_from(fc->snap);
	struct nub_tg_seed s;

	seed(c, &s);
	memcpy(fc->shared, s.runtime_seed, sizeof(s.runtime_seed));
	nub_sandbox_free(c);
	return 0;
}

static void test_a_forked_child_draws_its_own_seeds(void **state)
{
	struct fork_case fc = {0};
	struct nub_tg_seed mine;

	(void)state;
	fc.snap = initialised(&fc.clean);
	fc.parents = nub_test_sandbox_from(fc.snap); /* its reset drew a batch */
	fc.shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(fc.shared != MAP_FAILED);
	nub_test_in_child(child_seeds, &fc);
	assert_int_equal(nub_sandbox_restore(fc.parents, NULL), 0); /* the batch's next */
	seed(fc.parents, &mine);
	assert_memory_not_equal(mine.runtime_seed, fc.shared, sizeof(mine.runtime_seed));
	munmap(fc.shared, 4096);
	nub_sandbox_free(fc.parents);
	nub_snapshot_unref(fc.snap);
}

/* A snapshot nobody set a pool on keeps NUB_SNAPSHOT_POOL_DEFAULT VMs: a
 * host that makes a sandbox per request and frees it gets a VM reset in
 * place, not a new one, without asking. */
static void test_new_snapshot_pools_by_default(void **state)
{
	struct nub_sandbox *sb[NUB_SNAPSHOT_POOL_DEFAULT + 1];
	const unsigned n = NUB_SNAPSHOT_POOL_DEFAULT + 1;
	uint64_t recycled = 0;

	(void)state;
	struct nub_snapshot *snap = nub_test_snapshot_after_init("test_guest");
	for (unsigned i = 0; i < n; i++)
		sb[i] = nub_test_sandbox_from(snap);
	for (unsigned i = 0; i < n; i++)
		nub_sandbox_free(sb[i]); /* the first four park, the last is freed */
	for (unsigned i = 0; i < n; i++) {
		sb[i] = nub_test_sandbox_from(snap);
		recycled += nub_test_stats(sb[i]).vms_recycled;
	}
	assert_int_equal(recycled, NUB_SNAPSHOT_POOL_DEFAULT);
	for (unsigned i = 0; i < n; i++)
		nub_sandbox_free(sb[i]);
	nub_snapshot_unref(snap); /* frees the parked ones (valgrind: no leak) */
}

static void test_set_pool_errors(void **state)
{
	uint64_t clean;

	(void)state;
	assert_int_equal(nub_snapshot_set_pool(NULL, 1), NUB_EINVAL);
	struct nub_snapshot *snap = initialised(&clean);
	assert_int_equal(nub_snapshot_set_pool(snap, NUB_SNAPSHOT_POOL_MAX + 1), NUB_EINVAL);
	assert_int_equal(nub_snapshot_set_pool(snap, NUB_SNAPSHOT_POOL_MAX), 0);
	nub_snapshot_unref(snap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_pooled_vm_is_a_fresh_sandbox),
	        cmocka_unit_test(test_pool_is_bounded_and_takes_no_poisoned_vm),
	        cmocka_unit_test(test_pool_takes_only_its_snapshots_state),
	        cmocka_unit_test(test_a_forked_child_takes_no_parked_vm),
	        cmocka_unit_test(test_a_forked_child_cannot_run_the_parents_vm),
	        cmocka_unit_test(test_a_forked_childs_free_leaves_the_parents_vm),
	        cmocka_unit_test(test_a_forked_childs_timeout_stops_its_call),
	        cmocka_unit_test(test_a_forked_child_draws_its_own_seeds),
	        cmocka_unit_test(test_new_snapshot_pools_by_default),
	        cmocka_unit_test(test_set_pool_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
