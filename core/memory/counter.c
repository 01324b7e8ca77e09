/* SPDX-License-Identifier: MIT */
#include "memory/counter.h"

#include <nub/guest_abi.h>

#include "error_internal.h"

void nub_counter_init(struct nub_guest_counter *c, struct nub_shmem *scratch, uint64_t scratch_size)
{
	c->value = 0;
	c->scratch = scratch;
	c->off = scratch_size - NUB_SCRATCH_TOP_GUEST_COUNTER;
}

int nub_counter_add(struct nub_guest_counter *c, int64_t delta, struct nub_error *err)
{
	uint64_t v;

	if (delta >= 0 && __builtin_add_overflow(c->value, (uint64_t)delta, &v))
		return nub_error_set(err, NUB_EOVERFLOW, "guest counter %llu + %lld overflows",
		                     (unsigned long long)c->value, (long long)delta);
	if (delta < 0) {
		uint64_t mag = (uint64_t)(-(delta + 1)) + 1;
		if (mag > c->value)
			return nub_error_set(err, NUB_ERANGE,
			                     "guest counter %llu - %llu would go below zero",
			                     (unsigned long long)c->value, (unsigned long long)mag);
		v = c->value - mag;
	}
	c->value = v;
	return nub_counter_rewrite(c, err);
}

uint64_t nub_counter_value(const struct nub_guest_counter *c)
{
	return c->value;
}

int nub_counter_rewrite(struct nub_guest_counter *c, struct nub_error *err)
{
	return nub_shmem_write_u64(c->scratch, c->off, c->value, err);
}
