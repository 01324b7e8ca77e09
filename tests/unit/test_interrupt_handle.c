/* SPDX-License-Identifier: MIT */
/*
 * The interrupt handle (nub_sandbox_interrupt_handle): a watchdog's way to
 * stop a call that never touches a freed sandbox. Kills report whether a
 * call was running; after the free they find nothing; kills racing the
 * free never reach freed memory (this suite runs under ASan in CI). The
 * call timeout's shared timer, across sandboxes and threads. On the
 * backend under test.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include <nub/nub.h>

#include "../../guest/tests/test_guest_ids.h"
#include "nub_test.h"
#include "nub_test_sandbox.h"

struct spinner {
	struct nub_sandbox *sb;
	int rc;
};

static void *spin(void *arg)
{
	struct spinner *s = arg;
	int32_t status;
	size_t n;

	s->rc = nub_sandbox_call(s->sb, NUB_TG_SPIN, NULL, 0, NULL, 0, &n, &status);
	return NULL;
}

static void nap(void)
{
	struct timespec ts = {0, 200000};
	nanosleep(&ts, NULL);
}

static void test_kill_reports_and_outlives_the_sandbox(void **state)
{
	struct nub_sandbox *sb = nub_test_sandbox("test_guest", NULL);
	struct nub_interrupt_handle *h = nub_sandbox_interrupt_handle(sb);
	struct nub_interrupt_handle *h2 = nub_sandbox_interrupt_handle(sb);
	struct spinner s = {sb, 0};
	pthread_t t;
	int rc;
	(void)state;

	assert_non_null(h);
	assert_ptr_equal(h, h2);                           /* one handle, two references */
	assert_int_equal(nub_interrupt_handle_kill(h), 0); /* nothing running */
	assert_int_equal(pthread_create(&t, NULL, spin, &s), 0);
	/* Until the call has started: 0 before, 1 once one was stopped. */
	while ((rc = nub_interrupt_handle_kill(h)) == 0)
		nap();
	assert_int_equal(rc, 1);
	pthread_join(t, NULL);
	assert_int_equal(s.rc, NUB_ECANCELLED);
	assert_int_equal(nub_sandbox_restore(sb, NULL), 0);
	assert_int_equal(nub_interrupt_handle_kill(h), 0);
	nub_sandbox_free(sb);
	/* The sandbox is gone, the handle is not. */
	assert_int_equal(nub_interrupt_handle_kill(h), NUB_ENOTFOUND);
	nub_interrupt_handle_release(h);
	assert_int_equal(nub_interrupt_handle_kill(h2), NUB_ENOTFOUND);
	nub_interrupt_handle_release(h2);
	assert_int_equal(nub_interrupt_handle_kill(NULL), NUB_EINVAL);
	assert_null(nub_sandbox_interrupt_handle(NULL));
	nub_interrupt_handle_release(NULL);
}

struct killer {
	struct nub_interrupt_handle *h;
	atomic_int stop;
	atomic_int bad; /* a result other than 0, 1 and NUB_ENOTFOUND */
	atomic_int gone;
};

static void *kill_loop(void *arg)
{
	struct killer *k = arg;

	while (!atomic_load(&k->stop)) {
		int rc = nub_interrupt_handle_kill(k->h);
		if (rc == NUB_ENOTFOUND)
			atomic_store(&k->gone, 1);
		else if (rc != 0 && rc != 1)
			atomic_store(&k->bad, rc);
	}
	return NULL;
}

/* A watchdog killing in a loop while its sandbox is used and freed: under
 * ASan a kill that reached freed memory would stop the test. The verdict
 * depends on no timing: every round ends with the handle finding nothing. */
static void test_kill_races_free(void **state)
{
	struct nub_snapshot *snap = nub_test_snapshot_after_init("test_guest");
	(void)state;

	for (int round = 0; round < 20; round++) {
		struct nub_sandbox *sb = nub_test_sandbox_from(snap);
		struct killer k = {.h = nub_sandbox_interrupt_handle(sb)};
		pthread_t t;
		int32_t status;
		size_t n;

		assert_non_null(k.h);
		assert_int_equal(pthread_create(&t, NULL, kill_loop, &k), 0);
		for (int i = 0; i < 5; i++) {
			int rc = nub_sandbox_call(sb, NUB_TG_ECHO, "x", 1, NULL, 0, &n, &status);
			if (rc) /* stopped by the killer: a clean restore follows */
				assert_int_equal(nub_sandbox_restore(sb, NULL), 0);
		}
		nub_sandbox_free(sb);
		while (!atomic_load(&k.gone))
			nap();
		atomic_store(&k.stop, 1);
		pthread_join(t, NULL);
		assert_int_equal(atomic_load(&k.bad), 0);
		nub_interrupt_handle_release(k.h);
	}
	nub_snapshot_unref(snap);
}

/* The call timeout's one timer thread serves every sandbox: of two
 * sandboxes timed alike on two threads, the spinning one times out and
 * the other's quick calls, each armed and disarmed, are never cut short
 * (a deadline firing after its call ended would cancel a later one). */
struct timed {
	struct nub_sandbox *sb;
	int calls_ok;
};

static void *timed_calls(void *arg)
{
	struct timed *t = arg;
	char out[16];
	size_t n;
	int32_t status;

	for (int i = 0; i < 300; i++)
		t->calls_ok += nub_sandbox_call(t->sb, NUB_TG_ECHO, "x", 1, out, sizeof(out), &n,
		                                &status) == 0;
	return NULL;
}

static void test_one_timer_many_sandboxes(void **state)
{
	struct nub_config cfg;
	struct spinner a = {0};
	struct timed b = {0};
	pthread_t ta, tb;
	(void)state;

	nub_config_init(&cfg);
	cfg.call_timeout_us = nub_test_timeout_us(2000000); /* b's calls must not time out */
	a.sb = nub_test_sandbox("test_guest", &cfg);
	b.sb = nub_test_sandbox("test_guest", &cfg);
	assert_int_equal(pthread_create(&ta, NULL, spin, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, timed_calls, &b), 0);
	assert_int_equal(pthread_join(ta, NULL), 0);
	assert_int_equal(pthread_join(tb, NULL), 0);
	assert_int_equal(a.rc, NUB_ETIMEDOUT);
	assert_int_equal(b.calls_ok, 300);
	/* And again after the timeout: the timer goes on serving. */
	assert_int_equal(nub_sandbox_restore(a.sb, NULL), 0);
	spin(&a);
	assert_int_equal(a.rc, NUB_ETIMEDOUT);
	nub_sandbox_free(a.sb);
	nub_sandbox_free(b.sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_kill_reports_and_outlives_the_sandbox),
	        cmocka_unit_test(test_kill_races_free),
	        cmocka_unit_test(test_one_timer_many_sandboxes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
