/* SPDX-License-Identifier: MIT */
/*
 * What a host can ask a sandbox about itself: nub_sandbox_status (evolved,
 * poisoned and why, generation, mappings, pooled) and
 * nub_sandbox_abort_info (a guest abort's code and whole text, which the
 * error message cuts). On the backend under test.
 */
#include <string.h>
#include <sys/mman.h>

#include <nub/nub.h>

#include "../../guest/tests/test_guest_ids.h"
#include "nub_test.h"
#include "nub_test_sandbox.h"

static struct nub_sandbox_status status_of(const struct nub_sandbox *sb)
{
	struct nub_sandbox_status st = {.struct_size = sizeof(st)};

	assert_int_equal(nub_sandbox_status(sb, &st), 0);
	return st;
}

static void test_status_follows_the_lifecycle(void **state)
{
	struct nub_config cfg;
	struct nub_error err = {0};
	struct nub_sandbox *sb;
	struct nub_sandbox_status st;
	struct nub_snapshot *snap;
	void *mem = mmap(NULL, 4096, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	nub_gva_t gva = 0;
	(void)state;

	nub_config_init(&cfg);
	nub_test_use_backend(&cfg);
	assert_int_equal(nub_sandbox_create_from_elf(&cfg, nub_test_guest("test_guest"), &sb, &err),
	                 0);
	st = status_of(sb);
	assert_true(!st.evolved && !st.poisoned && st.generation == 0);
	assert_int_equal(nub_sandbox_evolve(sb), 0);
	st = status_of(sb);
	assert_true(st.evolved && !st.poisoned && !st.pooled && st.mappings == 0);
	assert_int_equal(nub_sandbox_map_region(sb, mem, 4096, NUB_MAP_READ, 1, &gva), 0);
	assert_int_equal(status_of(sb).mappings, 1);
	assert_int_equal(nub_sandbox_call(sb, NUB_TG_NULL_DEREF, NULL, 0, NULL, 0, NULL, NULL),
	                 NUB_EGUEST_FAULT);
	st = status_of(sb);
	assert_true(st.poisoned && st.poison_code == NUB_EGUEST_FAULT);
	assert_non_null(strstr(st.poison_reason, "NUB_EGUEST_FAULT"));
	assert_int_equal(nub_sandbox_restore(sb, NULL), 0);
	st = status_of(sb);
	assert_true(!st.poisoned && st.poison_code == 0 && st.poison_reason[0] == 0);
	assert_int_equal(st.mappings, 0); /* the restore removed it */
	assert_int_equal(nub_sandbox_snapshot(sb, &snap), 0);
	assert_int_equal(nub_sandbox_restore(sb, snap), 0);
	assert_int_equal(status_of(sb).generation, st.generation + 1); /* one capture later */
	nub_snapshot_unref(snap);
	/* A caller that knows less gets less; one that knows more, zeros. */
	{
		uint8_t big[sizeof(struct nub_sandbox_status) + 16];
		struct nub_sandbox_status *p = (struct nub_sandbox_status *)big;
		memset(big, 0xff, sizeof(big));
		p->struct_size = sizeof(big);
		assert_int_equal(nub_sandbox_status(sb, p), 0);
		for (size_t i = sizeof(*p); i < sizeof(big); i++)
			assert_int_equal(big[i], 0);
		p->struct_size = 4;
		assert_int_equal(nub_sandbox_status(sb, p), NUB_EINVAL);
	}
	assert_int_equal(nub_sandbox_status(NULL, &st), NUB_EINVAL);
	nub_sandbox_free(sb);
	munmap(mem, 4096);
}

static void test_abort_info_keeps_the_whole_text(void **state)
{
	struct nub_sandbox *sb = nub_test_sandbox("test_guest", NULL);
	static char req[4 + 3000], text[4096];
	uint32_t code = 0x1234, got = 0;
	size_t len = 0;
	(void)state;

	assert_int_equal(nub_sandbox_abort_info(sb, &got, text, sizeof(text), &len), NUB_ENOTFOUND);
	memcpy(req, &code, 4);
	for (size_t i = 0; i < 3000; i++)
		req[4 + i] = (char)('a' + i % 26);
	assert_int_equal(nub_sandbox_call(sb, NUB_TG_ABORT, req, sizeof(req), NULL, 0, NULL, NULL),
	                 NUB_EGUEST_ABORT);
	assert_true(strlen(nub_sandbox_last_error(sb)) < 300); /* the message is cut */
	assert_int_equal(nub_sandbox_abort_info(sb, &got, text, sizeof(text), &len), 0);
	assert_int_equal(got, 0x1234);
	assert_int_equal(len, 3000);
	assert_int_equal(strlen(text), 3000);
	assert_memory_equal(text, req + 4, 3000);
	/* A short buffer gets the start, NUL-terminated, and the full length. */
	assert_int_equal(nub_sandbox_abort_info(sb, &got, text, 11, &len), 0);
	assert_string_equal(text, "abcdefghij");
	assert_int_equal(len, 3000);
	/* Forgotten by the restore (and by the next call). */
	assert_int_equal(nub_sandbox_restore(sb, NULL), 0);
	assert_int_equal(nub_sandbox_abort_info(sb, &got, NULL, 0, NULL), NUB_ENOTFOUND);
	assert_int_equal(nub_sandbox_abort_info(sb, NULL, NULL, 0, NULL), NUB_EINVAL);
	nub_sandbox_free(sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_status_follows_the_lifecycle),
	        cmocka_unit_test(test_abort_info_keeps_the_whole_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
