/* SPDX-License-Identifier: MIT */
/*
 * Closing a destroyed VM's descriptor off the caller's thread.
 *
 * The last close of a KVM VM destroys it, and the destruction sleeps: it
 * waits for an SRCU grace period (mmu_notifier_unregister) and for the
 * VM's recovery thread to stop. That was ~250 of a free's ~300 us on the
 * software KVM (docs/performance.md, "A VM's descriptor closed by a
 * thread of the backend"). Its vCPU is closed and its kvm_run unmapped
 * before (nothing can run it); only the VM descriptor comes here, and a
 * thread of the backend closes it, so vm_destroy returns without waiting.
 *
 * Bounded: at most KVM_REAP_MAX wait; beyond that, or where the thread
 * cannot be started, the caller closes the descriptor itself. A creation
 * that runs out of descriptors (EMFILE, ENFILE) waits for the queue to
 * drain and tries once more (kvm_reap_drain), so a host at its open-file
 * limit can always make a sandbox again after freeing one.
 *
 * The object is linked -z nodelete (CMakeLists.txt): a host that dlopens
 * the backend itself and dlcloses it must not unmap the thread's code.
 *
 * exit(): a handler registered at the first use waits for the queue, and
 * every close after it is the caller's. A close in progress while the
 * process exits waits for the VM's recovery thread (vhost_task_stop), and
 * whatever stops every thread of an exiting process with ptrace can stop
 * that one first and then wait forever for ours: LeakSanitizer's check at
 * exit did (a `nub run` of the ASan build hung in CI).
 *
 * fork(): the child has no thread. The atfork handlers hold the lock over
 * the fork, so the child's copy is consistent; the child forgets the
 * parent's queue (closing its own copies of those descriptors, which
 * destroys nothing: the parent still holds them) and starts its own
 * thread when it first needs one.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "kvm_internal.h"

#define KVM_REAP_MAX 64u

static pthread_mutex_t reap_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reap_work = PTHREAD_COND_INITIALIZER;    /* a descriptor queued */
static pthread_cond_t reap_drained = PTHREAD_COND_INITIALIZER; /* none queued or closing */
static int reap_fd[KVM_REAP_MAX];
static unsigned reap_queued;  /* descriptors in reap_fd */
static unsigned reap_closing; /* taken by the thread, not yet closed */
static pid_t reap_pid;        /* the process whose thread runs; 0: none */
static int reap_exiting;      /* exit() has begun: the caller closes */
static pthread_once_t reap_once = PTHREAD_ONCE_INIT;

static void *reap_thread(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&reap_lock);
	for (;;) {
		while (!reap_queued)
			pthread_cond_wait(&reap_work, &reap_lock);
		int fd = reap_fd[--reap_queued];
		reap_closing++;
		pthread_mutex_unlock(&reap_lock);
		close(fd);
		pthread_mutex_lock(&reap_lock);
		reap_closing--;
		if (!reap_queued && !reap_closing)
			pthread_cond_broadcast(&reap_drained);
	}
	return NULL;
}

static void reap_prepare(void)
{
	pthread_mutex_lock(&reap_lock);
}

static void reap_parent(void)
{
	pthread_mutex_unlock(&reap_lock);
}

static void reap_child(void)
{
	for (unsigned i = 0; i < reap_queued; i++)
		close(reap_fd[i]);
	reap_queued = 0;
	/* The one the parent's thread was closing may stay open here: a
	 * reference to the parent's VM, never used, gone at exit. */
	reap_closing = 0;
	reap_pid = 0;
	/* The parent's thread was waiting on reap_work when it forked, and
	 * the child's copy still counts that waiter, which does not exist
	 * here: a signal could go to it and never wake the child's own
	 * thread (a drain then waited forever; seen in test_fd_limit). New
	 * condition variables, with no waiter. */
	pthread_cond_init(&reap_work, NULL);
	pthread_cond_init(&reap_drained, NULL);
	pthread_mutex_unlock(&reap_lock);
}

static void reap_at_exit(void)
{
	pthread_mutex_lock(&reap_lock);
	reap_exiting = 1;
	pthread_mutex_unlock(&reap_lock);
	kvm_reap_drain();
}

/* exit() runs handlers last registered first. This one comes after a
 * sanitizer's (registered at its start), so runs before it. A host's
 * registered later runs before this one, and the queue its frees fill is
 * drained here; one registered earlier runs after, and its frees close
 * their VMs themselves. */
static void reap_watch_forks_and_exit(void)
{
	(void)pthread_atfork(reap_prepare, reap_parent, reap_child);
	(void)atexit(reap_at_exit);
}

/* Under reap_lock: the thread of this process, started when there is none.
 * With every signal blocked: none of the host's is ever delivered to it. */
static int reap_thread_running(void)
{
	if (reap_pid == getpid())
		return 1;
	sigset_t all, old;
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	sigfillset(&all);
	if (pthread_attr_init(&attr))
		return 0;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&t, &attr, reap_thread, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (rc)
		return 0;
	reap_pid = getpid();
	return 1;
}

void kvm_reap_close(int fd)
{
	int queued = 0;

	pthread_once(&reap_once, reap_watch_forks_and_exit);
	pthread_mutex_lock(&reap_lock);
	if (!reap_exiting && reap_queued < KVM_REAP_MAX && reap_thread_running()) {
		reap_fd[reap_queued++] = fd;
		pthread_cond_signal(&reap_work);
		queued = 1;
	}
	pthread_mutex_unlock(&reap_lock);
	if (!queued)
		close(fd);
}

void kvm_reap_drain(void)
{
	pthread_mutex_lock(&reap_lock);
	if (reap_pid == getpid())
		while (reap_queued || reap_closing)
			pthread_cond_wait(&reap_drained, &reap_lock);
	pthread_mutex_unlock(&reap_lock);
}
