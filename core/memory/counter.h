/* SPDX-License-Identifier: MIT */
/*
 * The guest counter: a u64 the host owns and the guest can read in scratch
 * (NUB_SCRATCH_TOP_GUEST_COUNTER). The host keeps the value and only ever
 * writes it to guest memory, never reads it back, so a guest that scribbles
 * on it changes nothing the host believes.
 */
#ifndef NUB_CORE_COUNTER_H
#define NUB_CORE_COUNTER_H

#include <stdint.h>

#include <nub/error.h>

#include "memory/shmem.h"

struct nub_guest_counter {
	uint64_t value;
	struct nub_shmem *scratch; /* not owned */
	uint64_t off;              /* offset of the word in scratch */
};

void nub_counter_init(struct nub_guest_counter *c, struct nub_shmem *scratch,
                      uint64_t scratch_size);
/* Add delta; NUB_EOVERFLOW past UINT64_MAX, NUB_ERANGE below 0 (the value
 * is unchanged then). Writes the new value to scratch. */
int nub_counter_add(struct nub_guest_counter *c, int64_t delta, struct nub_error *err);
uint64_t nub_counter_value(const struct nub_guest_counter *c);
/* Write the host's value again (after scratch was zeroed by a restore). */
int nub_counter_rewrite(struct nub_guest_counter *c, struct nub_error *err);

#endif
