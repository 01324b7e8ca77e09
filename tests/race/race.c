/* SPDX-License-Identifier: MIT */
#include "race.h"

#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "../../guest/tests/test_guest_ids.h"

static int32_t entered(void *user, const uint8_t *in, size_t len, uint8_t *out, size_t cap,
                       size_t *out_len)
{
	(void)in, (void)len, (void)out, (void)cap;
	atomic_store(&((struct nub_racer *)user)->entered, 1);
	*out_len = 0;
	return 0;
}

static void *spin_call(void *arg)
{
	struct nub_racer *r = arg;
	uint32_t host_fn = NUB_RACE_HOST_FN;
	uint8_t out[64];
	size_t n;
	int32_t status;

	r->rc = nub_sandbox_call(r->sb, NUB_TG_SPIN_AFTER_HOST, &host_fn, sizeof(host_fn), out,
	                         sizeof(out), &n, &status);
	return NULL;
}

int nub_race_init(struct nub_racer *r, struct nub_sandbox *sb)
{
	r->sb = sb;
	atomic_store(&r->entered, 0);
	r->rc = 0;
	return nub_sandbox_register(sb, NUB_RACE_HOST_FN, entered, r);
}

int nub_race_round(struct nub_racer *r, unsigned *seed, unsigned max_spin, int timeout_s)
{
	struct timespec ts;
	pthread_t t;

	atomic_store(&r->entered, 0);
	if (pthread_create(&t, NULL, spin_call, r))
		return -1;
	while (!atomic_load(&r->entered))
		sched_yield();
	for (unsigned spin = max_spin ? rand_r(seed) % max_spin : 0; spin; spin--)
		__asm__ volatile("" ::: "memory");
	nub_sandbox_interrupt(r->sb);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_s;
	return pthread_timedjoin_np(t, NULL, &ts) ? -1 : 0;
}
