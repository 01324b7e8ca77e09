/* SPDX-License-Identifier: MIT */
/*
 * One interrupt-vs-call race round, shared by the unit test
 * (test_interrupt_never_lost) and the soak (scripts/soak.sh), which link
 * libnub differently (static with cmocka; shared): no cmocka here.
 *
 * The test guest's NUB_TG_SPIN_AFTER_HOST calls host function
 * NUB_RACE_HOST_FN (which marks the racer entered) and then spins; the
 * round interrupts it after a random busy wait, from inside the host call
 * to deep in the spin. Exactly that call must end, with NUB_ECANCELLED.
 */
#ifndef NUB_TEST_RACE_H
#define NUB_TEST_RACE_H

#include <pthread.h>
#include <stdatomic.h>

#include <nub/nub.h>

#define NUB_RACE_HOST_FN 9u

struct nub_racer {
	struct nub_sandbox *sb;
	atomic_int entered;
	int rc; /* the raced call's return code */
};

/* Point r at sb and register the host function the guest calls on entry
 * (r must outlive sb's use). Returns nub_sandbox_register's code. */
int nub_race_init(struct nub_racer *r, struct nub_sandbox *sb);

/* One round: start the call on a thread, wait until the guest is in, busy
 * wait rand_r(seed) % max_spin iterations, interrupt, join (at most
 * timeout_s seconds). Returns 0 with r->rc set, or -1 when the thread could
 * not start or the call did not end in time (a lost interrupt). */
int nub_race_round(struct nub_racer *r, unsigned *seed, unsigned max_spin, int timeout_s);

#endif
