/* SPDX-License-Identifier: MIT */
/*
 * Fresh entropy for every reset's guest seed (state.c), from the kernel's
 * CSPRNG in batches: one getrandom() for SEED_BATCH seeds, not one per
 * restore -- a system call on every request otherwise (~0.4 us here).
 * Per thread, so no lock. Each seed is handed out once and wiped from the
 * batch as it goes. A batch never outlives a fork: a forked child's copy
 * of the forking thread's batch would give the child's sandboxes the
 * seeds the parent's get next, so a batch remembers the fork count it was
 * drawn under and is dropped under another; a process that cannot count
 * forks draws every seed on its own. (A child made by a raw clone() that
 * runs no atfork handler is not seen: such a child cannot use libnub
 * safely anyway.)
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <nub/guest_abi.h>

#include "sandbox/sandbox_internal.h"

#define SEED_BATCH 8u

static _Thread_local struct {
	long forks;
	unsigned left;
	uint8_t bytes[SEED_BATCH * NUB_RESTORE_SEED_SIZE];
} batch;

static int draw(uint8_t *out, size_t n)
{
	for (size_t got = 0; got < n;) {
		ssize_t r = getrandom(out + got, n - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return NUB_ESYS;
		got += (size_t)r;
	}
	return 0;
}

int nub_sandbox_seed_draw(uint8_t *out)
{
	long forks = nub_sandbox_fork_count();

	if (forks < 0)
		return draw(out, NUB_RESTORE_SEED_SIZE);
	if (!batch.left || batch.forks != forks) {
		batch.left = 0;
		if (draw(batch.bytes, sizeof(batch.bytes)))
			return NUB_ESYS;
		batch.left = SEED_BATCH;
		batch.forks = forks;
	}
	uint8_t *seed = batch.bytes + (size_t)--batch.left * NUB_RESTORE_SEED_SIZE;
	memcpy(out, seed, NUB_RESTORE_SEED_SIZE);
	explicit_bzero(seed, NUB_RESTORE_SEED_SIZE);
	return 0;
}
