/* SPDX-License-Identifier: MIT */
/* Integer arithmetic guest: fixed-size little-endian arguments. */
#include <nubguest.h>

#include "example_ids.h"

static int64_t load_i64(const uint8_t *p)
{
	int64_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static int32_t put_u64(uint64_t v, uint8_t *out, uint32_t out_cap, uint32_t *out_len)
{
	if (out_cap < sizeof(v))
		return NUB_EFULL;
	memcpy(out, &v, sizeof(v));
	*out_len = sizeof(v);
	return 0;
}

static int32_t add(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                   uint32_t *out_len)
{
	if (in_len != 16)
		return NUB_EINVAL;
	uint64_t sum = (uint64_t)load_i64(in) + (uint64_t)load_i64(in + 8);
	return put_u64(sum, out, out_cap, out_len);
}

static int32_t sum(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                   uint32_t *out_len)
{
	if (in_len % 8)
		return NUB_EINVAL;
	uint64_t total = 0;
	for (uint32_t i = 0; i < in_len; i += 8)
		total += (uint64_t)load_i64(in + i);
	return put_u64(total, out, out_cap, out_len);
}

static int32_t fib(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                   uint32_t *out_len)
{
	uint32_t n;
	if (in_len != sizeof(n))
		return NUB_EINVAL;
	memcpy(&n, in, sizeof(n));
	if (n > 93) /* fib(94) overflows u64 */
		return NUB_ERANGE;
	uint64_t a = 0, b = 1;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t t = a + b;
		a = b;
		b = t;
	}
	return put_u64(a, out, out_cap, out_len);
}

void nub_guest_main(void)
{
	if (nub_register(NUB_CALC_ADD, "add", add) || nub_register(NUB_CALC_SUM, "sum", sum) ||
	    nub_register(NUB_CALC_FIB, "fib", fib))
		nub_abort(1, "calc: cannot register its functions");
}
