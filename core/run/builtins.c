/* SPDX-License-Identifier: MIT */
/* The host functions every host serves, whatever the program registered
 * (guest_abi.h: nub_host_builtin): the C library runtime's clock_gettime()
 * and getrandom(). */
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "run/handlers.h"

static int32_t builtin_clock(const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                             size_t *out_len)
{
	static const clockid_t clocks[8] = {CLOCK_REALTIME,
	                                    CLOCK_MONOTONIC,
	                                    -1,
	                                    -1,
	                                    CLOCK_MONOTONIC_RAW,
	                                    CLOCK_REALTIME_COARSE,
	                                    CLOCK_MONOTONIC_COARSE,
	                                    CLOCK_BOOTTIME};
	struct timespec ts;
	uint32_t id;
	int64_t v[2];

	if (in_len != sizeof(id) || cap < sizeof(v))
		return NUB_EINVAL;
	memcpy(&id, in, sizeof(id));
	if (id >= 8 || clocks[id] == (clockid_t)-1 || clock_gettime(clocks[id], &ts))
		return NUB_EINVAL;
	v[0] = ts.tv_sec;
	v[1] = ts.tv_nsec;
	memcpy(out, v, sizeof(v));
	*out_len = sizeof(v);
	return 0;
}

static int32_t builtin_random(const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                              size_t *out_len)
{
	uint32_t n;

	if (in_len != sizeof(n))
		return NUB_EINVAL;
	memcpy(&n, in, sizeof(n));
	if (n > NUB_HOST_RANDOM_MAX || n > cap)
		return NUB_EINVAL;
	if (getrandom(out, n, 0) != (ssize_t)n)
		return NUB_ESYS;
	*out_len = n;
	return 0;
}

int32_t nub_run_call_builtin(uint32_t id, const uint8_t *in, size_t in_len, uint8_t *out,
                             size_t cap, size_t *out_len)
{
	switch (id) {
	case NUB_HOST_FN_CLOCK:
		return builtin_clock(in, in_len, out, cap, out_len);
	case NUB_HOST_FN_RANDOM:
		return builtin_random(in, in_len, out, cap, out_len);
	default:
		return NUB_ENOTFOUND;
	}
}
