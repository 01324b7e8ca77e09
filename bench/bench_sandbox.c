/* SPDX-License-Identifier: MIT */
/*
 * Sandbox lifecycle figures on the mock backend's native guest (no
 * hypervisor: these are host-side costs; VM-exit costs come from the nested
 * KVM run), each beside its physical floor:
 *   create from snapshot ........ fork()+exit of this process
 *   guest call round trip ....... (count: VM exits per call, floor 1)
 *   restore, 0/16/1024 dirty .... memcpy of the same bytes
 *   capture per live page ....... memcpy of a page
 *   snapshot from ELF per MiB ... memset of a MiB
 *   idle sandbox memory ......... RSS/PSS from /proc/self/smaps_rollup
 * Output: `figure | value | floor | ratio | kind` lines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include <nub/nub.h>

#include "../guest/tests/test_guest_ids.h"

static int short_mode;

static const char *guest_path(const char *name)
{
	static char p[4096];
	const char *dir = getenv("NUB_GUEST_DIR");

	snprintf(p, sizeof(p), "%s/%s.elf", dir ? dir : "build/guest", name);
	return p;
}

/* NUB_BENCH_BACKEND=kvm runs the real test guest on a hypervisor (the
 * nested-KVM suites do); the default is the mock's native guest. */
static const char *backend(void)
{
	const char *b = getenv("NUB_BENCH_BACKEND");

	return b && b[0] ? b : "mock";
}

/* "what (backend)" for a row's label. */
static const char *label(const char *what)
{
	static char buf[64];

	snprintf(buf, sizeof(buf), "%s (%s)", what, backend());
	return buf;
}

static void config(struct nub_config *cfg)
{
	nub_config_init(cfg);
	cfg->backend = backend();
	cfg->backend_options = strcmp(backend(), "mock") ? NULL : "native=tests";
	/* Room for 1024 dirty heap pages and their CoW copies. */
	cfg->heap_size = 8u << 20;
	cfg->scratch_size = 16u << 20;
}

static struct nub_sandbox *sandbox_or_die(void)
{
	struct nub_config cfg;
	struct nub_error err = {0};
	struct nub_sandbox *sb;

	config(&cfg);
	if (nub_sandbox_create_from_elf(&cfg, guest_path("test_guest"), &sb, &err) ||
	    nub_sandbox_evolve(sb)) {
		fprintf(stderr, "bench: %s\n", err.msg[0] ? err.msg : nub_sandbox_last_error(sb));
		exit(1);
	}
	return sb;
}

static void dirty(struct nub_sandbox *sb, uint32_t pages)
{
	uint8_t in[9];
	uint32_t first = 0;
	uint64_t sum;
	size_t n;
	int32_t st;

	memcpy(in, &first, 4);
	memcpy(in + 4, &pages, 4);
	in[8] = 1;
	if (nub_sandbox_call(sb, NUB_TG_PAGES, in, 9, &sum, 8, &n, &st) || st) {
		fprintf(stderr, "bench: write pages: %s\n", nub_sandbox_last_error(sb));
		exit(1);
	}
}

static double floor_memcpy(size_t bytes, int iters)
{
	char *a = malloc(bytes ? bytes : 1), *b = malloc(bytes ? bytes : 1);
	double t;

	memset(a, 1, bytes);
	memset(b, 2, bytes);
	t = bench_now_ns();
	for (int i = 0; i < iters; i++) {
		memcpy(b, a, bytes);
		__asm__ volatile("" ::"r"(b) : "memory");
	}
	t = (bench_now_ns() - t) / iters;
	free(a);
	free(b);
	return t;
}

static void bench_calls(struct nub_sandbox *sb)
{
	struct nub_sandbox_stats s0, s1;
	int iters = short_mode ? 200 : 20000;
	uint8_t out[8];
	size_t n;
	int32_t st;

	nub_sandbox_stats(sb, &s0);
	double t = bench_now_ns();
	for (int i = 0; i < iters; i++)
		nub_sandbox_call(sb, NUB_TG_ECHO, "x", 1, out, sizeof(out), &n, &st);
	t = (bench_now_ns() - t) / iters;
	nub_sandbox_stats(sb, &s1);
	bench_row(label("guest call round trip"), t / 1e3, "us", "one exit (count)", 1, "time");
	bench_row(label("VM exits per guest call"), (double)(s1.vm_exits - s0.vm_exits) / iters,
	          "exits", "floor", 1, "count");
}

static int32_t host_nop(void *user, const uint8_t *in, size_t len, uint8_t *out, size_t cap,
                        size_t *out_len)
{
	(void)user, (void)in, (void)len, (void)out, (void)cap;
	*out_len = 0;
	return 0;
}

/* A guest call that makes one host call, beside a plain guest call: the
 * difference is the host-call round trip (one more exit and resume). */
static void bench_host_call(struct nub_sandbox *sb)
{
	int iters = short_mode ? 200 : 20000;
	uint32_t id = 5;
	uint8_t out[16];
	size_t n;
	int32_t st;
	double plain, with_host;

	nub_sandbox_register(sb, id, host_nop, NULL);
	double t = bench_now_ns();
	for (int i = 0; i < iters; i++)
		nub_sandbox_call(sb, NUB_TG_ECHO, &id, 4, out, sizeof(out), &n, &st);
	plain = (bench_now_ns() - t) / iters;
	t = bench_now_ns();
	for (int i = 0; i < iters; i++)
		nub_sandbox_call(sb, NUB_TG_CALL_HOST, &id, 4, out, sizeof(out), &n, &st);
	with_host = (bench_now_ns() - t) / iters;
	bench_row(label("host call round trip"), (with_host - plain) / 1e3, "us", "guest call",
	          plain / 1e3, "time");
}

static void bench_restore(struct nub_sandbox *sb, uint32_t pages)
{
	int iters = short_mode ? 20 : (pages > 100 ? 200 : 2000);
	double total = 0;
	char name[64];

	for (int i = 0; i < iters; i++) {
		if (pages)
			dirty(sb, pages);
		double t = bench_now_ns();
		nub_sandbox_restore(sb, NULL);
		total += bench_now_ns() - t;
	}
	snprintf(name, sizeof(name), "restore, %u dirty pages", pages);
	bench_row(name, total / iters / 1e3, "us", "memcpy same bytes",
	          floor_memcpy((size_t)(pages ? pages : 1) * 4096, 100) / 1e3, "time");
}

static void bench_capture(struct nub_sandbox *sb)
{
	struct nub_snapshot *snap;
	int iters = short_mode ? 5 : 100;
	double t = bench_now_ns();
	uint64_t pages = 0;

	for (int i = 0; i < iters; i++) {
		if (nub_sandbox_snapshot(sb, &snap))
			exit(1);
		pages = nub_snapshot_memory_size(snap) / 4096;
		nub_snapshot_unref(snap);
	}
	t = (bench_now_ns() - t) / iters / (double)pages;
	bench_row(label("capture, per live page"), t / 1e3, "us", "memcpy 4 KiB",
	          floor_memcpy(4096, 1000) / 1e3, "time");
}

static void bench_create(void)
{
	struct nub_config cfg;
	struct nub_error err = {0};
	struct nub_sandbox *sb;
	struct nub_snapshot *snap;
	int iters = short_mode ? 5 : 200;
	double create = 0, evolve = 0, fork_t;

	sb = sandbox_or_die();
	nub_sandbox_snapshot(sb, &snap);
	nub_sandbox_free(sb);
	config(&cfg);
	for (int i = 0; i < iters; i++) {
		double t0 = bench_now_ns();
		nub_sandbox_create_from_snapshot(&cfg, snap, &sb, &err);
		double t1 = bench_now_ns();
		nub_sandbox_evolve(sb);
		evolve += bench_now_ns() - t1;
		create += t1 - t0;
		nub_sandbox_free(sb);
	}
	fork_t = bench_now_ns();
	for (int i = 0; i < iters; i++) {
		pid_t p = fork();
		if (p == 0)
			_exit(0);
		waitpid(p, NULL, 0);
	}
	fork_t = (bench_now_ns() - fork_t) / iters;
	bench_row(label("create + evolve from snapshot"), (create + evolve) / iters / 1e3, "us",
	          "fork()+exit", fork_t / 1e3, "time");

	double t = bench_now_ns();
	for (int i = 0; i < iters; i++) {
		nub_sandbox_create_from_elf(&cfg, guest_path("test_guest"), &sb, &err);
		nub_sandbox_free(sb);
	}
	t = (bench_now_ns() - t) / iters;
	bench_row("snapshot from ELF (12 MiB guest)", t / 1e3, "us", "memcpy 1 MiB",
	          floor_memcpy(1 << 20, 50) / 1e3, "time");
	nub_snapshot_unref(snap);
}

static long smaps_kib(const char *key)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "r");
	char line[256];
	long v = -1;

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)))
			v = strtol(line + strlen(key), NULL, 10);
	if (f)
		fclose(f);
	return v;
}

static void bench_memory(void)
{
	enum { N = 32 };
	struct nub_sandbox *sbs[N];
	struct nub_snapshot *snap;
	struct nub_config cfg;
	struct nub_error err = {0};
	int n = short_mode ? 4 : N;

	struct nub_sandbox *base = sandbox_or_die();
	nub_sandbox_snapshot(base, &snap);
	config(&cfg);
	long pss0 = smaps_kib("Pss:");
	for (int i = 0; i < n; i++) {
		nub_sandbox_create_from_snapshot(&cfg, snap, &sbs[i], &err);
		nub_sandbox_evolve(sbs[i]);
	}
	long pss1 = smaps_kib("Pss:");
	double per = (double)(pss1 - pss0) / n;
	bench_row("memory per idle sandbox (PSS, shared snap)", per, "KiB", "snapshot size",
	          (double)nub_snapshot_memory_size(snap) / 1024, "count");
	bench_row("sandboxes per GiB (idle)", per > 0 ? 1048576.0 / per : 0, "", "", 0, "count");
	for (int i = 0; i < n; i++)
		nub_sandbox_free(sbs[i]);
	nub_snapshot_unref(snap);
	nub_sandbox_free(base);
}

int main(int argc, char **argv)
{
	short_mode = argc > 1 && !strcmp(argv[1], "--short");
	struct nub_sandbox *sb = sandbox_or_die();
	struct nub_sandbox_stats st;

	nub_sandbox_stats(sb, &st); /* evolve only, so far */
	bench_row(label("VM exits per evolve"), (double)st.vm_exits, "exits", "floor", 1, "count");

	bench_calls(sb);
	bench_host_call(sb);
	bench_restore(sb, 0);
	bench_restore(sb, 16);
	bench_restore(sb, 1024);
	dirty(sb, 64);
	bench_capture(sb);
	nub_sandbox_free(sb);
	bench_create();
	bench_memory();
	return 0;
}
