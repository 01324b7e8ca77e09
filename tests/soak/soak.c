/* SPDX-License-Identifier: MIT */
/*
 * Soak test (not in CTest; scripts/soak.sh runs it):
 *   soak cycles BACKEND N      N call+restore cycles on one sandbox; RSS, open
 *                              fds and mappings sampled at 10 points: the
 *                              last three samples must not exceed the first
 *                              after warm-up by more than a small slack.
 *   soak race BACKEND SANDBOXES THREADS ROUNDS
 *                              SANDBOXES sandboxes shared out over THREADS
 *                              threads, each round a call that spins after a
 *                              host call, interrupted from another thread at
 *                              a random moment (never lost), and an echo call
 *                              after an interrupt request that came too late
 *                              (never spurious).
 * Prints one line per sample and a verdict; exit 0 when it held.
 */
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nub/nub.h>

#include "../race/race.h"

#include "../../guest/tests/test_guest_ids.h"

static const char *guest_dir(void)
{
	const char *d = getenv("NUB_GUEST_DIR");
	return d ? d : "build/guest";
}

static struct nub_sandbox *make(const char *backend)
{
	struct nub_config cfg;
	struct nub_error err = {0};
	struct nub_sandbox *sb = NULL;
	char path[4096];

	nub_config_init(&cfg);
	cfg.backend = backend;
	snprintf(path, sizeof(path), "%s/test_guest.elf", guest_dir());
	if (nub_sandbox_create_from_elf(&cfg, path, &sb, &err) || nub_sandbox_evolve(sb)) {
		fprintf(stderr, "soak: %s\n", err.msg[0] ? err.msg : nub_sandbox_last_error(sb));
		exit(1);
	}
	return sb;
}

static long count_dir(const char *path)
{
	DIR *d = opendir(path);
	long n = 0;
	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

static long count_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	long n = 0;
	int c;
	while (f && (c = fgetc(f)) != EOF)
		n += c == '\n';
	if (f)
		fclose(f);
	return n;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			v = strtol(line + 6, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

static int cycles(const char *backend, long n)
{
	struct nub_sandbox *sb = make(backend);
	long rss[10], fds[10], maps[10];
	uint8_t out[64];
	size_t len;
	int32_t st;

	for (long i = 0; i < n; i++) {
		/* A call that writes guest memory (a .data counter: a CoW page and a
		 * heap allocation), then the restore that undoes it. */
		if (nub_sandbox_call(sb, NUB_TG_STATIC_COUNTER, NULL, 0, out, sizeof(out), &len,
		                     &st) ||
		    nub_sandbox_restore(sb, NULL)) {
			fprintf(stderr, "soak: cycle %ld: %s\n", i, nub_sandbox_last_error(sb));
			return 1;
		}
		if (i % (n / 10 ? n / 10 : 1) == 0 && i / (n / 10 ? n / 10 : 1) < 10) {
			int k = (int)(i / (n / 10 ? n / 10 : 1));
			rss[k] = rss_kib();
			fds[k] = count_dir("/proc/self/fd");
			maps[k] = count_lines("/proc/self/maps");
			printf("cycle %9ld: RSS %6ld KiB, %3ld fds, %4ld mappings\n", i, rss[k],
			       fds[k], maps[k]);
			fflush(stdout);
		}
	}
	nub_sandbox_free(sb);
	/* After warm-up (sample 1), nothing may grow. */
	for (int k = 7; k < 10; k++)
		if (rss[k] > rss[1] + 2048 || fds[k] > fds[1] || maps[k] > maps[1]) {
			printf("soak: GROWTH at sample %d\n", k);
			return 1;
		}
	printf("soak: %ld cycles on %s, no growth (RSS %ld -> %ld KiB, fds %ld, mappings %ld)\n", n,
	       backend, rss[1], rss[9], fds[9], maps[9]);
	return 0;
}

struct worker {
	const char *backend;
	int per, rounds, lost, spurious, done;
	unsigned seed;
	pthread_t t;
};

static void *race_worker(void *p)
{
	struct worker *w = p;
	struct nub_sandbox **sbs = calloc((size_t)w->per, sizeof(*sbs));
	struct nub_racer *racers = calloc((size_t)w->per, sizeof(*racers));

	for (int i = 0; i < w->per; i++) {
		sbs[i] = make(w->backend);
		nub_race_init(&racers[i], sbs[i]);
	}
	for (int r = 0; r < w->rounds; r++) {
		struct nub_racer *a = &racers[r % w->per];
		uint8_t out[8];
		size_t n;
		int32_t st;
		if (nub_race_round(a, &w->seed, 2000, 60)) {
			/* the call is still running: this worker cannot go on */
			w->lost++;
			w->done = 1;
			return NULL;
		}
		if (a->rc != NUB_ECANCELLED)
			w->lost++;
		nub_sandbox_restore(a->sb, NULL);
		/* A request after the call ended must not cancel the next. */
		nub_sandbox_interrupt(a->sb);
		if (nub_sandbox_call(a->sb, NUB_TG_ECHO, "e", 1, out, sizeof(out), &n, &st))
			w->spurious++;
		nub_sandbox_restore(a->sb, NULL);
	}
	for (int i = 0; i < w->per; i++)
		nub_sandbox_free(sbs[i]);
	free(racers);
	free(sbs);
	w->done = 1;
	return NULL;
}

static int race(const char *backend, int sandboxes, int threads, int rounds)
{
	struct worker *w = calloc((size_t)threads, sizeof(*w));
	int lost = 0, spurious = 0;

	for (int i = 0; i < threads; i++) {
		w[i] = (struct worker){backend, sandboxes / threads, rounds, 0, 0,
		                       0,       1234u + (unsigned)i, 0};
		pthread_create(&w[i].t, NULL, race_worker, &w[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(w[i].t, NULL);
		lost += w[i].lost;
		spurious += w[i].spurious;
	}
	printf("soak: %d sandboxes on %d threads, %d rounds each: %d interrupts lost, %d spurious "
	       "cancellations\n",
	       sandboxes, threads, rounds, lost, spurious);
	free(w);
	return lost || spurious;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "cycles"))
		return cycles(argv[2], atol(argv[3]));
	if (argc == 6 && !strcmp(argv[1], "race"))
		return race(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
	fprintf(stderr,
	        "usage: soak cycles BACKEND N | soak race BACKEND SANDBOXES THREADS ROUNDS\n");
	return 2;
}
