/* SPDX-License-Identifier: MIT */
/*
 * Counters beyond the exit loop's (nub_sandbox_stats): each call's result
 * by kind and its time, restore times, and the process-wide sums
 * (nub_process_stats). A sandbox adds what changed since it last did at
 * the end of every public call (nub_sandbox_result) and when it is
 * freed, so the process-wide figures cost one lock per public call, not
 * one per exit.
 */
#include <pthread.h>
#include <stddef.h>
#include <string.h>

#include "sandbox/sandbox_internal.h"

static pthread_mutex_t process_lock = PTHREAD_MUTEX_INITIALIZER;
static struct nub_sandbox_stats process;

static void add_time(uint64_t *total, uint64_t *max, uint64_t ns)
{
	*total += ns;
	if (ns > *max)
		*max = ns;
}

void nub_sandbox_call_done(struct nub_sandbox *sb, int rc, uint64_t t0)
{
	struct nub_sandbox_stats *s = &sb->stats;

	add_time(&s->call_ns, &s->call_ns_max, nub_run_now_ns() - t0);
	if (!rc)
		return;
	s->call_errors++;
	switch (rc) {
	case NUB_EGUEST_FAULT:
	case NUB_EPRIVILEGED:
	case NUB_EMMIO:
	case NUB_EPORT:
	case NUB_ETRIPLE_FAULT:
		s->errors_fault++;
		break;
	case NUB_EGUEST_ABORT:
		s->errors_abort++;
		break;
	case NUB_ETIMEDOUT:
		s->errors_timeout++;
		break;
	case NUB_ECANCELLED:
		s->errors_cancelled++;
		break;
	case NUB_EBACKEND:
		s->errors_backend++;
		break;
	default:
		break;
	}
}

void nub_sandbox_restore_done(struct nub_sandbox *sb, uint64_t t0)
{
	add_time(&sb->stats.restore_ns, &sb->stats.restore_ns_max, nub_run_now_ns() - t0);
}

/* Every counter is a uint64_t; the *_max ones take the largest. */
#define FIELDS (sizeof(struct nub_sandbox_stats) / sizeof(uint64_t))
_Static_assert(sizeof(struct nub_sandbox_stats) % sizeof(uint64_t) == 0, "stats are u64s");

static int is_max(size_t i)
{
	return i == offsetof(struct nub_sandbox_stats, call_ns_max) / 8 ||
	       i == offsetof(struct nub_sandbox_stats, host_call_ns_max) / 8 ||
	       i == offsetof(struct nub_sandbox_stats, restore_ns_max) / 8 ||
	       i == offsetof(struct nub_sandbox_stats, vms_recycled) / 8;
}

void nub_sandbox_publish_stats(struct nub_sandbox *sb)
{
	uint64_t now[FIELDS], then[FIELDS], sum[FIELDS];

	memcpy(now, &sb->stats, sizeof(now));
	memcpy(then, &sb->published, sizeof(then));
	pthread_mutex_lock(&process_lock);
	memcpy(sum, &process, sizeof(sum));
	for (size_t i = 0; i < FIELDS; i++) {
		if (is_max(i))
			sum[i] = now[i] > sum[i] ? now[i] : sum[i];
		else
			sum[i] += now[i] - then[i];
	}
	memcpy(&process, sum, sizeof(sum));
	pthread_mutex_unlock(&process_lock);
	sb->published = sb->stats;
}

void nub_process_stats_sized(struct nub_sandbox_stats *st, size_t size)
{
	struct nub_sandbox_stats copy;

	if (!st)
		return;
	pthread_mutex_lock(&process_lock);
	copy = process;
	pthread_mutex_unlock(&process_lock);
	nub_sandbox_copy_sized(st, size, &copy, sizeof(copy));
}
