/* SPDX-License-Identifier: MIT */
/* Sandboxes for the tests that run guests: on the backend under test
 * (NUB_TEST_SANDBOX_BACKEND, else the mock), from build/guest's ELFs, with
 * calls that fail the test when they do not complete. */
#ifndef NUB_TEST_SANDBOX_H
#define NUB_TEST_SANDBOX_H

#include <stddef.h>
#include <stdint.h>

#include <nub/nub.h>

/* "<NUB_GUEST_DIR>/<name>.elf", in a static per-thread buffer. */
const char *nub_test_guest(const char *name);
/* Point the config at the backend under test. */
void nub_test_use_backend(struct nub_config *c);
/* A sandbox of guest `elf` (nub_test_guest), evolved, on the backend under
 * test; `c` (may be NULL: defaults) is updated with the backend. */
struct nub_sandbox *nub_test_sandbox(const char *elf, struct nub_config *c);
/* A sandbox of `snap`, evolved, on the backend under test. */
struct nub_sandbox *nub_test_sandbox_from(struct nub_snapshot *snap);
/* The same without failing the test (usable where cmocka is not: a forked
 * child): NULL with the error code and message in `why`. */
struct nub_sandbox *nub_test_try_sandbox_from(struct nub_snapshot *snap, char *why, size_t cap);
/* The snapshot of `elf` right after init (a sandbox evolved, restored,
 * captured, freed). */
struct nub_snapshot *nub_test_snapshot_after_init(const char *elf);
/* A call that must complete (rc 0): its status. out_len may be NULL. */
int32_t nub_test_call(struct nub_sandbox *sb, uint32_t id, const void *in, size_t len, void *out,
                      size_t cap, size_t *out_len);
/* A call that must complete, with text in (`in`, NUL-terminated, without
 * its NUL) and text out: the result NUL-terminated in `out` (at most cap -
 * 1 bytes); its status. */
int32_t nub_test_call_text(struct nub_sandbox *sb, uint32_t id, const char *in, char *out,
                           size_t cap);
/* nub_test_call_text, then fail unless the status is `status` and the
 * result is `want` (or, _prefix, starts with it). */
void nub_test_expect_text(struct nub_sandbox *sb, uint32_t id, const char *in, int32_t status,
                          const char *want);
void nub_test_expect_text_prefix(struct nub_sandbox *sb, uint32_t id, const char *in,
                                 int32_t status, const char *want);
/* A call that may fail: its rc in *rc, its status returned. */
int32_t nub_test_try_call(struct nub_sandbox *sb, uint32_t id, const void *in, size_t len,
                          void *out, size_t cap, int *rc);

/* The test guest's page area (NUB_TG_PAGES): fill [first, +count) with
 * value; returns the whole area's byte sum. */
uint64_t nub_test_pages_sum(struct nub_sandbox *sb, uint32_t first, uint32_t count, uint8_t value);
/* NUB_TG_TRACES with `op`: what the guest answered. */
uint64_t nub_test_traces(struct nub_sandbox *sb, uint8_t op);
/* The sandbox's counters, by value. */
struct nub_sandbox_stats nub_test_stats(const struct nub_sandbox *sb);

#endif
