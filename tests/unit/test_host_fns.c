/* SPDX-License-Identifier: MIT */
/*
 * Host-function contracts: a snapshot captured after init needs the host
 * functions its sandbox registered; a sandbox made from it (in memory or
 * from a saved file) or restored to it without them is refused at evolve /
 * restore with NUB_EMISMATCH naming each missing id, and works once they
 * are registered. On the backend under test.
 */
#include <stdio.h>
#include <string.h>

#include <nub/nub.h>

#include "../../guest/tests/test_guest_ids.h"
#include "nub_test.h"
#include "nub_test_sandbox.h"

static int32_t shout(void *user, const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                     size_t *out_len)
{
	(void)user;
	if (in_len > cap)
		return NUB_EFULL;
	for (size_t i = 0; i < in_len; i++)
		out[i] = (uint8_t)(in[i] >= 'a' && in[i] <= 'z' ? in[i] - 32 : in[i]);
	*out_len = in_len;
	return 0;
}

/* The test guest's snapshot after init, taken with host functions `ids`
 * registered. */
static struct nub_snapshot *snapshot_needing(const uint32_t *ids, int n)
{
	struct nub_sandbox *sb;
	struct nub_snapshot *snap;
	struct nub_config cfg;
	struct nub_error err = {0};

	nub_config_init(&cfg);
	nub_test_use_backend(&cfg);
	assert_int_equal(nub_sandbox_create_from_elf(&cfg, nub_test_guest("test_guest"), &sb, &err),
	                 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(nub_sandbox_register(sb, ids[i], shout, NULL), 0);
	assert_int_equal(nub_sandbox_evolve(sb), 0);
	assert_int_equal(nub_sandbox_snapshot(sb, &snap), 0);
	nub_sandbox_free(sb);
	return snap;
}

static struct nub_snapshot *snapshot_needing_1_and_200(void)
{
	static const uint32_t ids[] = {1, 200};

	return snapshot_needing(ids, 2);
}

/* create_from_snapshot (or _from_file when `file`), register `ids`, evolve:
 * evolve's result. */
static int evolve_with(struct nub_snapshot *snap, const char *file, const uint32_t *ids, int n,
                       struct nub_sandbox **out)
{
	struct nub_config cfg;
	struct nub_error err = {0};
	int rc;

	nub_config_init(&cfg);
	nub_test_use_backend(&cfg);
	rc = file ? nub_sandbox_create_from_file(&cfg, file, out, &err)
	          : nub_sandbox_create_from_snapshot(&cfg, snap, out, &err);
	assert_int_equal(rc, 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(nub_sandbox_register(*out, ids[i], shout, NULL), 0);
	return nub_sandbox_evolve(*out);
}

static void expect_refused(struct nub_snapshot *snap, const char *file, const uint32_t *ids, int n,
                           const char *want)
{
	struct nub_sandbox *sb;

	assert_int_equal(evolve_with(snap, file, ids, n, &sb), NUB_EMISMATCH);
	assert_string_equal(nub_sandbox_last_error(sb), want);
	nub_sandbox_free(sb);
}

static void expect_works(struct nub_snapshot *snap, const char *file)
{
	static const uint32_t both[] = {1, 200};
	uint8_t in[8] = {1, 0, 0, 0, 'a', 'b', 'c'}, out[32];
	struct nub_sandbox *sb;
	size_t n = 0;

	assert_int_equal(evolve_with(snap, file, both, 2, &sb), 0);
	assert_int_equal(nub_test_call(sb, NUB_TG_CALL_HOST, in, 7, out, sizeof(out), &n), 0);
	assert_memory_equal(out + 8, "ABC", 3); /* i32 status, u32 length, answer */
	nub_sandbox_free(sb);
}

static void test_missing_host_functions_refused_at_evolve(void **state)
{
	struct nub_snapshot *snap = snapshot_needing_1_and_200();
	static const uint32_t one[] = {1}, other[] = {2};
	(void)state;

	/* What nub inspect shows: the contract, and the published functions. */
	assert_int_equal(nub_snapshot_needs_host_fn(snap, 1), 1);
	assert_int_equal(nub_snapshot_needs_host_fn(snap, 200), 1);
	assert_int_equal(nub_snapshot_needs_host_fn(snap, 2), 0);
	assert_int_equal(nub_snapshot_needs_host_fn(snap, 100000), 0);
	char name[NUB_FUNCTION_NAME_SIZE];
	const char *sig = NULL;
	uint32_t id = 0, i, typed = 0;
	for (i = 0; !nub_snapshot_function(snap, i, &id, name, &sig); i++)
		if (id == NUB_TG_TYPED_MIX) {
			assert_string_equal(name, "typed_mix");
			assert_string_equal(sig, "ilqfdbus>d");
			typed++;
		} else if (id == NUB_TG_ECHO) {
			assert_string_equal(name, "echo");
			assert_null(sig);
		}
	assert_int_equal(typed, 1);
	assert_true(i > 40);
	assert_int_equal(nub_snapshot_function(snap, i, &id, name, &sig), NUB_ENOTFOUND);
	assert_int_equal(nub_snapshot_generation(snap), 1);
	expect_refused(snap, NULL, NULL, 0,
	               "evolve: the snapshot needs host functions 1, 200, which this sandbox does "
	               "not register (nub_sandbox_register before evolve)");
	expect_refused(snap, NULL, one, 1,
	               "evolve: the snapshot needs host function 200, which this sandbox does not "
	               "register (nub_sandbox_register before evolve)");
	expect_refused(snap, NULL, other, 1,
	               "evolve: the snapshot needs host functions 1, 200, which this sandbox does "
	               "not register (nub_sandbox_register before evolve)");
	expect_works(snap, NULL);
	nub_snapshot_unref(snap);
}

/* The contract travels in the file: a fleet host that loads it without the
 * functions finds out at creation, not at the guest's first host call. */
static void test_missing_host_functions_refused_from_a_saved_file(void **state)
{
	struct nub_snapshot *snap = snapshot_needing_1_and_200();
	char dir[256], file[300];
	(void)state;

	nub_test_tmpdir(dir, sizeof(dir), "hostfns");
	snprintf(file, sizeof(file), "%s/s.snap", dir);
	assert_int_equal(nub_snapshot_save(snap, file, NULL), 0);
	expect_refused(NULL, file, NULL, 0,
	               "evolve: the snapshot needs host functions 1, 200, which this sandbox does "
	               "not register (nub_sandbox_register before evolve)");
	expect_works(NULL, file);
	nub_snapshot_unref(snap);
	nub_test_rmtree(dir);
}

/* The message names the first 16 missing ids, in order, and no id the
 * sandbox registered; more are "...". Ids in every word of the set (0-63,
 * 64-127, ...), the last one (255) among them. */
static void test_many_missing_host_functions_named_up_to_16(void **state)
{
	static const uint32_t need[] = {0,   10,  63,  64,  70,  100, 127, 128, 130,
	                                150, 191, 192, 200, 210, 220, 230, 254, 255};
	static const uint32_t have[] = {10, 130};
	struct nub_snapshot *snap = snapshot_needing(need, 18);
	(void)state;

	expect_refused(snap, NULL, have, 2,
	               "evolve: the snapshot needs host functions 0, 63, 64, 70, 100, 127, 128, "
	               "150, 191, 192, 200, 210, 220, 230, 254, 255, which this sandbox does not "
	               "register (nub_sandbox_register before evolve)");
	static const uint32_t fewer[] = {10, 130, 255};
	expect_refused(snap, NULL, fewer, 3,
	               "evolve: the snapshot needs host functions 0, 63, 64, 70, 100, 127, 128, "
	               "150, 191, 192, 200, 210, 220, 230, 254, which this sandbox does not "
	               "register (nub_sandbox_register before evolve)");
	expect_refused(snap, NULL, NULL, 0,
	               "evolve: the snapshot needs host functions 0, 10, 63, 64, 70, 100, 127, "
	               "128, 130, 150, 191, 192, 200, 210, 220, 230, ..., which this sandbox does "
	               "not register (nub_sandbox_register before evolve)");
	nub_snapshot_unref(snap);
}

/* Restoring to a snapshot that needs more than the sandbox registered. */
static void test_missing_host_functions_refused_at_restore(void **state)
{
	struct nub_snapshot *snap = snapshot_needing_1_and_200();
	struct nub_sandbox *plain = nub_test_sandbox("test_guest", NULL);
	(void)state;

	assert_int_equal(nub_sandbox_restore(plain, snap), NUB_EMISMATCH);
	assert_string_equal(nub_sandbox_last_error(plain),
	                    "restore: the snapshot needs host functions 1, 200, which this "
	                    "sandbox does not register (nub_sandbox_register before evolve)");
	/* Refused before anything changed: it still runs from its own state. */
	assert_int_equal(nub_sandbox_restore(plain, NULL), 0);
	nub_sandbox_free(plain);
	nub_snapshot_unref(snap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_missing_host_functions_refused_at_evolve),
	        cmocka_unit_test(test_missing_host_functions_refused_from_a_saved_file),
	        cmocka_unit_test(test_missing_host_functions_refused_at_restore),
	        cmocka_unit_test(test_many_missing_host_functions_named_up_to_16),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
