/* SPDX-License-Identifier: MIT */
/*
 * The call timeout (nub_config.call_timeout_us): one timer thread for the
 * whole process, started at the first timed call, holding the deadlines of
 * the calls running now. A call arms its deadline before it runs and
 * disarms it after: a lock each, and a wake-up only for a deadline
 * earlier than the one the timer sleeps until -- not a thread created and
 * joined per call, which cost ~45 us on the software KVM. A deadline that
 * passes marks its sandbox timed out and interrupts it. Disarming takes
 * the lock the timer fires under, so once it returns that call can no
 * longer be interrupted by its deadline.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "sandbox/sandbox_internal.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake;
static int started;                /* the thread runs (reset in a forked child) */
static struct nub_deadline *armed; /* the calls with a deadline, any order */
/* When the timer wakes next (UINT64_MAX: only when woken): a deadline
 * later than that needs no wake-up, so back-to-back calls cost two locks. */
static uint64_t wakes_at;

static void child_after_fork(void)
{
	/* Only the forking thread survives: a child starts its own timer. */
	pthread_mutex_init(&lock, NULL);
	started = 0;
	armed = NULL;
	wakes_at = 0;
}

/* Fire what is due; the earliest deadline still armed (0: none). */
static uint64_t fire_due(void)
{
	uint64_t now = nub_run_now_ns(), next = 0;

	for (struct nub_deadline *d = armed; d; d = d->next) {
		if (d->fired)
			continue;
		if (d->at_ns <= now) {
			d->fired = 1;
			atomic_store(&d->sb->timed_out, 1);
			nub_sandbox_interrupt(d->sb);
		} else if (!next || d->at_ns < next) {
			next = d->at_ns;
		}
	}
	return next;
}

static void *timer_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	for (;;) {
		uint64_t next = fire_due();
		wakes_at = next ? next : UINT64_MAX;
		if (!next) {
			pthread_cond_wait(&wake, &lock);
			continue;
		}
		struct timespec ts = {.tv_sec = (time_t)(next / 1000000000u),
		                      .tv_nsec = (long)(next % 1000000000u)};
		pthread_cond_timedwait(&wake, &lock, &ts);
	}
	return NULL;
}

/* Under lock. */
static int timer_start(void)
{
	pthread_condattr_t ca;
	pthread_attr_t at;
	pthread_t t;
	static int at_fork;
	int rc;

	if (started)
		return 0;
	if (!at_fork && pthread_atfork(NULL, NULL, child_after_fork) == 0)
		at_fork = 1;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&wake, &ca);
	pthread_condattr_destroy(&ca);
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&at, 64 << 10);
	rc = pthread_create(&t, &at, timer_main, NULL);
	pthread_attr_destroy(&at);
	if (rc)
		return NUB_ESYS;
	started = 1;
	wakes_at = 0; /* until it has looked: wake it for the first deadline */
	return 0;
}

int nub_deadline_arm(struct nub_deadline *d, struct nub_sandbox *sb, uint64_t timeout_us)
{
	int rc;

	*d = (struct nub_deadline){.sb = sb, .at_ns = nub_run_now_ns() + timeout_us * 1000u};
	pthread_mutex_lock(&lock);
	rc = timer_start();
	if (!rc) {
		d->next = armed;
		armed = d;
		d->armed = 1;
		if (d->at_ns < wakes_at) {
			wakes_at = d->at_ns;
			pthread_cond_signal(&wake);
		}
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

void nub_deadline_disarm(struct nub_deadline *d)
{
	if (!d->armed)
		return;
	pthread_mutex_lock(&lock);
	for (struct nub_deadline **p = &armed; *p; p = &(*p)->next)
		if (*p == d) {
			*p = d->next;
			break;
		}
	pthread_mutex_unlock(&lock);
	d->armed = 0;
}
