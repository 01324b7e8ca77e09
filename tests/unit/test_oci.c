/* SPDX-License-Identifier: MIT */
/*
 * Snapshots in an OCI image layout (core/image/oci.c) and the strict JSON
 * reader under it (core/image/json.c): a round trip keeps the snapshot's
 * hash, tags share blobs and replace only themselves, and what another tool
 * could have written wrong -- malformed JSON, a digest that is a path, a
 * blob that does not match, a layer of another format -- is refused, each
 * with a message naming it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nub/nub.h>

#include "image/json.h"
#include "nub_test.h"
#include "nub_test_sandbox.h"

static void expect_json_refused(const char *text, const char *want)
{
	struct nub_json_tok tok[64];
	char why[128];
	uint32_t n = 0;

	assert_int_equal(nub_json_parse(text, strlen(text), tok, 64, &n, why, sizeof(why)), -1);
	assert_string_equal(why, want);
}

static void test_json_reader(void **state)
{
	static const char text[] =
	        " {\"a\": [1, -2.5e3, true, null], \"b\": {\"c\": \"x\\u0041\\n\"},"
	        " \"n\": 18446744073709551615} ";
	struct nub_json_tok tok[64];
	char why[128], s[16];
	uint32_t n = 0, a, c;
	uint64_t v = 0;
	(void)state;

	assert_int_equal(nub_json_parse(text, strlen(text), tok, 64, &n, why, sizeof(why)), 0);
	a = nub_json_member(text, tok, 0, "a");
	assert_int_equal(tok[a].type, NUB_JSON_ARRAY);
	assert_int_equal(tok[a].size, 4);
	assert_int_equal(tok[nub_json_item(tok, a, 2)].type, NUB_JSON_LITERAL);
	c = nub_json_member(text, tok, nub_json_member(text, tok, 0, "b"), "c");
	assert_int_equal(nub_json_string(text, tok, c, s, sizeof(s)), 0);
	assert_string_equal(s, "xA\n");
	assert_int_equal(nub_json_u64(text, tok, nub_json_member(text, tok, 0, "n"), &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(nub_json_member(text, tok, 0, "zz"), 0);
	expect_json_refused("{\"a\" 1}", "expected ':' at byte 5");
	expect_json_refused("[1, 2", "expected ',' or ']' at byte 5");
	expect_json_refused("\"abc", "unterminated string at byte 4");
	expect_json_refused("\"a\\q\"", "bad escape at byte 2");
	expect_json_refused("[01x]", "expected ',' or ']' at byte 3");
	expect_json_refused("{} x", "text after the value at byte 3");
	expect_json_refused("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
	                    "nested too deep at byte 32");
	expect_json_refused("nul", "unexpected character at byte 0");
}

static struct nub_snapshot *test_snapshot(void)
{
	struct nub_sandbox *sb = nub_test_sandbox("test_guest", NULL);
	struct nub_snapshot *snap;

	assert_int_equal(nub_sandbox_snapshot(sb, &snap), 0);
	nub_sandbox_free(sb);
	return snap;
}

static void write_text(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void expect_load_refused(const char *dir, const char *tag, int code, const char *want)
{
	struct nub_snapshot *snap = NULL;
	struct nub_error err = {0};

	assert_int_equal(nub_snapshot_load_oci(dir, tag, &snap, &err), code);
	if (!strstr(err.msg, want))
		fail_msg("\"%s\" lacks \"%s\"", err.msg, want);
	assert_null(snap);
}

static void test_oci_round_trip_and_refusals(void **state)
{
	struct nub_snapshot *snap = test_snapshot(), *back = NULL;
	struct nub_error err = {0};
	uint8_t h1[16], h2[16];
	char dir[256], lay[300];
	(void)state;

	nub_test_tmpdir(dir, sizeof(dir), "oci");
	snprintf(lay, sizeof(lay), "%s/lay", dir);
	assert_int_equal(nub_snapshot_save_oci(snap, lay, "a", &err), 0);
	assert_int_equal(nub_snapshot_save_oci(snap, lay, "b", &err), 0);
	assert_int_equal(nub_snapshot_save_oci(snap, lay, "a", &err), 0); /* replaces a */
	assert_int_equal(nub_snapshot_load_oci(lay, "b", &back, &err), 0);
	nub_snapshot_hash(snap, h1);
	nub_snapshot_hash(back, h2);
	assert_memory_equal(h1, h2, 16);
	nub_snapshot_unref(back);
	/* One layer, one config, one manifest: both tags share them. */
	char blobs[400];
	snprintf(blobs, sizeof(blobs), "ls %s/blobs/sha256 | wc -l | grep -qx 3", lay);
	assert_int_equal(system(blobs), 0);
	assert_int_equal(nub_snapshot_save_oci(snap, lay, "-x", &err), NUB_EINVAL);
	expect_load_refused(lay, "c", NUB_ENOTFOUND, "index.json: no tag 'c'");
	write_text(lay, "index.json",
	           "{\"manifests\":[{\"digest\":\"sha256:../../../etc/passwd\",\"size\":1,"
	           "\"annotations\":{\"org.opencontainers.image.ref.name\":\"a\"}}]}");
	expect_load_refused(lay, "a", NUB_ECORRUPT, "tag 'a': malformed descriptor");
	write_text(lay, "index.json", "{\"manifests\": [");
	expect_load_refused(lay, "a", NUB_ECORRUPT,
	                    "index.json: not an OCI index (unexpected end at byte 15)");
	write_text(lay, "index.json", "{\"schemaVersion\":2}");
	expect_load_refused(lay, "a", NUB_ECORRUPT, "index.json: not an OCI index (no manifests");
	assert_int_equal(nub_snapshot_save_oci(snap, lay, "a", &err), NUB_ECORRUPT);
	nub_snapshot_unref(snap);
	nub_test_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_json_reader),
	        cmocka_unit_test(test_oci_round_trip_and_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
