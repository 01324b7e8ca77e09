/* SPDX-License-Identifier: MIT */
#include "nub_test_sandbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../guest/tests/test_guest_ids.h"
#include "nub_test.h"

const char *nub_test_guest(const char *name)
{
	static _Thread_local char path[4096];

	snprintf(path, sizeof(path), "%s/%s.elf", nub_test_env("NUB_GUEST_DIR"), name);
	return path;
}

/* The backend under test: the mock by default, or a hypervisor
 * (NUB_TEST_SANDBOX_BACKEND=kvm: the same tests on KVM), with the options
 * NUB_TEST_SANDBOX_OPTIONS gives (window=1: at a guest-physical window). */
void nub_test_use_backend(struct nub_config *c)
{
	const char *b = getenv("NUB_TEST_SANDBOX_BACKEND");
	const char *o = getenv("NUB_TEST_SANDBOX_OPTIONS");

	c->backend = b && b[0] ? b : "mock";
	c->backend_options = o && o[0] ? o : NULL;
}

struct nub_sandbox *nub_test_sandbox(const char *elf, struct nub_config *c)
{
	struct nub_config cfg;
	struct nub_error err = {0};
	struct nub_sandbox *sb = NULL;

	if (!c) {
		nub_config_init(&cfg);
		c = &cfg;
	}
	nub_test_use_backend(c);
	if (nub_sandbox_create_from_elf(c, nub_test_guest(elf), &sb, &err))
		fail_msg("create %s: %s", elf, err.msg);
	if (nub_sandbox_evolve(sb))
		fail_msg("evolve %s: %s", elf, nub_sandbox_last_error(sb));
	return sb;
}

struct nub_sandbox *nub_test_try_sandbox_from(struct nub_snapshot *snap, char *why, size_t cap)
{
	struct nub_config cfg;
	struct nub_error err = {0};
	struct nub_sandbox *sb = NULL;

	nub_config_init(&cfg);
	nub_test_use_backend(&cfg);
	if (nub_sandbox_create_from_snapshot(&cfg, snap, &sb, &err)) {
		snprintf(why, cap, "%d %s", err.code, err.msg);
		return NULL;
	}
	if (nub_sandbox_evolve(sb) == 0)
		return sb;
	snprintf(why, cap, "%d %s", nub_sandbox_last_error_code(sb), nub_sandbox_last_error(sb));
	nub_sandbox_free(sb);
	return NULL;
}

struct nub_sandbox *nub_test_sandbox_from(struct nub_snapshot *snap)
{
	char why[NUB_ERROR_MSG_MAX + 16];
	struct nub_sandbox *sb = nub_test_try_sandbox_from(snap, why, sizeof(why));

	if (!sb)
		fail_msg("sandbox from snapshot: %s", why);
	return sb;
}

struct nub_snapshot *nub_test_snapshot_after_init(const char *elf)
{
	struct nub_snapshot *snap = NULL;
	struct nub_sandbox *sb = nub_test_sandbox(elf, NULL);

	assert_int_equal(nub_sandbox_restore(sb, NULL), 0);
	assert_int_equal(nub_sandbox_snapshot(sb, &snap), 0);
	nub_sandbox_free(sb);
	return snap;
}

int32_t nub_test_call(struct nub_sandbox *sb, uint32_t id, const void *in, size_t len, void *out,
                      size_t cap, size_t *out_len)
{
	int32_t status = -1;
	size_t n = 0;
	int rc = nub_sandbox_call(sb, id, in, len, out, cap, out_len ? out_len : &n, &status);

	if (rc)
		fail_msg("call %u: %s (%s)", id, nub_sandbox_last_error(sb), nub_strerror(rc));
	return status;
}

int32_t nub_test_call_text(struct nub_sandbox *sb, uint32_t id, const char *in, char *out,
                           size_t cap)
{
	size_t n = 0;
	int32_t status = nub_test_call(sb, id, in, in ? strlen(in) : 0, out, cap - 1, &n);

	out[n] = '\0';
	return status;
}

static void expect_text(struct nub_sandbox *sb, uint32_t id, const char *in, int32_t status,
                        const char *want, int prefix)
{
	char out[4096];
	int32_t got = nub_test_call_text(sb, id, in, out, sizeof(out));

	if (got != status || (prefix ? strncmp(out, want, strlen(want)) : strcmp(out, want)))
		fail_msg("fn %u(%s): got %d \"%s\", want %d \"%s\"%s", id, in ? in : "", got, out,
		         status, want, prefix ? "..." : "");
}

void nub_test_expect_text(struct nub_sandbox *sb, uint32_t id, const char *in, int32_t status,
                          const char *want)
{
	expect_text(sb, id, in, status, want, 0);
}

void nub_test_expect_text_prefix(struct nub_sandbox *sb, uint32_t id, const char *in,
                                 int32_t status, const char *want)
{
	expect_text(sb, id, in, status, want, 1);
}

int32_t nub_test_try_call(struct nub_sandbox *sb, uint32_t id, const void *in, size_t len,
                          void *out, size_t cap, int *rc)
{
	int32_t status = -1;
	size_t n = 0;

	*rc = nub_sandbox_call(sb, id, in, len, out, cap, &n, &status);
	return status;
}

uint64_t nub_test_pages_sum(struct nub_sandbox *sb, uint32_t first, uint32_t count, uint8_t value)
{
	uint8_t in[9];
	uint64_t sum = 0;

	memcpy(in, &first, 4);
	memcpy(in + 4, &count, 4);
	in[8] = value;
	assert_int_equal(nub_test_call(sb, NUB_TG_PAGES, in, sizeof(in), &sum, sizeof(sum), NULL),
	                 0);
	return sum;
}

uint64_t nub_test_traces(struct nub_sandbox *sb, uint8_t op)
{
	uint64_t n = 0;

	assert_int_equal(nub_test_call(sb, NUB_TG_TRACES, &op, 1, &n, sizeof(n), NULL), 0);
	return n;
}

struct nub_sandbox_stats nub_test_stats(const struct nub_sandbox *sb)
{
	struct nub_sandbox_stats st;

	nub_sandbox_stats(sb, &st);
	return st;
}
