/* SPDX-License-Identifier: MIT */
/*
 * nub against what a user would do instead, measured in one run,
 * interleaved round by round, medians of the rounds:
 *   zygote  a process that initialised the same Duktape once and forks a
 *           child per request (the child answers and exits: a clean state
 *           per request, as a sandbox gives)
 *   spawn   posix_spawn of a static runner per request (bench/peer_runner.c:
 *           the same Duktape, compiled in)
 *   worker  one persistent process with a warm Duktape, a request after
 *           another over a pipe: no isolation between requests (the floor
 *           of reuse, not a peer in safety)
 * nub's figure is a call plus the restore that makes the next request
 * clean. Workloads: echo (the bare test guest), JS eval("1+1"), JSON of
 * 10,000 objects in JS, dirty N pages + restore (against a forked child
 * dirtying as many pages of a warm area), the cold cycle (a sandbox from
 * the snapshot + first call + free, against spawning the runner), idle
 * memory per sandbox (against a parked zygote child), and calls per second
 * on two threads. Counts (VM exits, copy-on-write faults per request) beside
 * the times. Backend: NUB_BENCH_BACKEND (default the mock), its options
 * NUB_BENCH_OPTIONS. `--short`, `--counts`, `--scale` (the scale rows
 * alone) or `--lone` (the lone cold row alone), the last two with
 * `--short` after them in short mode.
 */
#include <duktape.h>
#include <pthread.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include <nub/nub.h>

#include "../examples/js/js_abi.h"
#include "../guest/tests/test_guest_ids.h"

extern char **environ;

#define JSON_10K                                                                                   \
	"var a = []; for (var i = 0; i < 10000; i++) a.push({id: i, name: 'n' + i, v: i * 2}); "   \
	"JSON.parse(JSON.stringify(a)).length"

static const char *guest_dir;
static const char *runner;
static int rounds, iters;
/* --counts: nub's side alone, one round, count rows only (nested KVM,
 * where times are emulated and the peers would take minutes). */
static int counts_only;
/* The backend options of the scale row being measured (NULL: the
 * bench's own, NUB_BENCH_OPTIONS). */
static const char *scale_options;

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "bench_peers: %s: %s\n", what, msg);
	exit(1);
}

/* ---- nub ---- */

static struct nub_sandbox *sandbox_timed(const char *elf, struct nub_snapshot *snap, uint64_t heap,
                                         uint64_t timeout_us)
{
	struct nub_config cfg;
	struct nub_error err = {0};
	struct nub_sandbox *sb = NULL;
	char path[4096];

	nub_config_init(&cfg);
	cfg.backend = bench_backend();
	cfg.backend_options = scale_options ? scale_options : bench_options();
	cfg.heap_size = heap;
	cfg.call_timeout_us = timeout_us;
	snprintf(path, sizeof(path), "%s/%s.elf", guest_dir, elf);
	if (snap ? nub_sandbox_create_from_snapshot(&cfg, snap, &sb, &err)
	         : nub_sandbox_create_from_elf(&cfg, path, &sb, &err))
		die("create", err.msg);
	if (nub_sandbox_evolve(sb))
		die("evolve", nub_sandbox_last_error(sb));
	return sb;
}

static struct nub_sandbox *sandbox(const char *elf, struct nub_snapshot *snap, uint64_t heap)
{
	return sandbox_timed(elf, snap, heap, 0);
}

static void call_or_die(struct nub_sandbox *sb, uint32_t fn, const void *in, size_t len)
{
	char out[256];
	size_t n = 0;
	int32_t status = -1;

	if (nub_sandbox_call(sb, fn, in, len, out, sizeof(out), &n, &status) || status)
		die("call", nub_sandbox_last_error(sb));
}

/* A request on a sandbox: the call, then the restore that cleans it. */
struct nub_req {
	struct nub_sandbox *sb;
	uint32_t fn;
	const void *in;
	size_t len;
	struct nub_sandbox_stats before, after;
};

/* One request: the call, and the restore that makes the next one clean. */
static void nub_request_once(struct nub_req *r)
{
	call_or_die(r->sb, r->fn, r->in, r->len);
	if (nub_sandbox_restore(r->sb, NULL))
		die("restore", nub_sandbox_last_error(r->sb));
}

static double nub_request(void *ctx, int n)
{
	struct nub_req *r = ctx;
	double t = bench_now_ns();

	nub_sandbox_stats(r->sb, &r->before);
	for (int i = 0; i < n; i++)
		nub_request_once(r);
	t = (bench_now_ns() - t) / n;
	nub_sandbox_stats(r->sb, &r->after);
	return t;
}

/* ---- the peers ---- */

static duk_context *warm_heap(void)
{
	duk_context *ctx = duk_create_heap_default();

	if (!ctx)
		die("duktape", "duk_create_heap_default");
	duk_peval_string_noresult(ctx, "1+1");
	return ctx;
}

static void write_all(int fd, const void *p, size_t n)
{
	if (!bench_write_all(fd, p, n))
		die("write", "pipe");
}

static size_t read_some(int fd, char *buf, size_t cap)
{
	ssize_t r = read(fd, buf, cap);
	if (r < 0)
		die("read", "pipe");
	return (size_t)r;
}

/* Evaluate and send the result's text (what a request answers). */
static void answer(duk_context *ctx, const char *script, int fd)
{
	duk_peval_string(ctx, script);
	const char *s = duk_safe_to_string(ctx, -1);
	uint32_t len = (uint32_t)strlen(s);
	write_all(fd, &len, sizeof(len));
	write_all(fd, s, len);
	duk_pop(ctx);
}

struct zygote {
	duk_context *ctx; /* NULL: echo */
	const char *script;
};

static double zygote_request(void *arg, int n)
{
	struct zygote *z = arg;
	double t = bench_now_ns();
	char buf[256];

	for (int i = 0; i < n; i++) {
		int p[2];
		if (pipe(p))
			die("pipe", "zygote");
		pid_t pid = fork();
		if (pid == 0) {
			close(p[0]);
			if (z->ctx)
				answer(z->ctx, z->script, p[1]);
			else
				write_all(p[1], z->script, strlen(z->script));
			_exit(0);
		}
		close(p[1]);
		while (read_some(p[0], buf, sizeof(buf)))
			;
		close(p[0]);
		waitpid(pid, NULL, 0);
	}
	return (bench_now_ns() - t) / n;
}

struct spawned {
	const char *mode, *arg;
};

static double spawn_request(void *arg, int n)
{
	struct spawned *s = arg;
	char *argv[] = {(char *)runner, (char *)s->mode, (char *)s->arg, NULL};
	char buf[256];
	double t = bench_now_ns();

	for (int i = 0; i < n; i++) {
		posix_spawn_file_actions_t fa;
		int p[2];
		pid_t pid;
		if (pipe(p))
			die("pipe", "spawn");
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_adddup2(&fa, p[1], 1);
		posix_spawn_file_actions_addclose(&fa, p[0]);
		if (posix_spawn(&pid, runner, &fa, NULL, argv, environ))
			die("posix_spawn", runner);
		posix_spawn_file_actions_destroy(&fa);
		close(p[1]);
		while (read_some(p[0], buf, sizeof(buf)))
			;
		close(p[0]);
		waitpid(pid, NULL, 0);
	}
	return (bench_now_ns() - t) / n;
}

/* The persistent worker: requests and answers over two pipes. */
struct worker {
	pid_t pid;
	int to, from;
	const char *script;
	int echo;
};

static void worker_start(struct worker *w, const char *script, int echo)
{
	int a[2], b[2];

	if (pipe(a) || pipe(b))
		die("pipe", "worker");
	w->script = script;
	w->echo = echo;
	w->pid = fork();
	if (w->pid == 0) {
		duk_context *ctx = echo ? NULL : warm_heap();
		char req[4096];
		uint32_t len;
		close(a[1]);
		close(b[0]);
		while (read(a[0], &len, sizeof(len)) == sizeof(len) && len < sizeof(req)) {
			size_t got = 0;
			while (got < len)
				got += read_some(a[0], req + got, len - got);
			req[len] = '\0';
			if (ctx)
				answer(ctx, req, b[1]);
			else
				write_all(b[1], &len, sizeof(len)), write_all(b[1], req, len);
		}
		_exit(0);
	}
	close(a[0]);
	close(b[1]);
	w->to = a[1];
	w->from = b[0];
}

static double worker_request(void *arg, int n)
{
	struct worker *w = arg;
	uint32_t len = (uint32_t)strlen(w->script);
	char buf[256];
	double t = bench_now_ns();

	for (int i = 0; i < n; i++) {
		uint32_t got_len;
		write_all(w->to, &len, sizeof(len));
		write_all(w->to, w->script, len);
		if (read(w->from, &got_len, sizeof(got_len)) != sizeof(got_len))
			die("read", "worker");
		for (uint32_t got = 0; got < got_len;)
			got += (uint32_t)read_some(w->from, buf,
			                           got_len - got < sizeof(buf) ? got_len - got
			                                                       : sizeof(buf));
	}
	return (bench_now_ns() - t) / n;
}

/* Told to stop, not left to see end-of-file: processes forked after it
 * (the mock's vCPU processes) hold copies of its pipe. */
static void worker_stop(struct worker *w)
{
	uint32_t quit = UINT32_MAX;

	write_all(w->to, &quit, sizeof(quit));
	close(w->to);
	close(w->from);
	waitpid(w->pid, NULL, 0);
}

/* A forked child that writes one byte of each of n pages of the parent's
 * warm area (copy-on-write in the kernel) and exits. */
struct forked_dirty {
	uint8_t *area;
	uint32_t pages;
};

static double forked_dirty(void *arg, int n)
{
	struct forked_dirty *d = arg;
	double t = bench_now_ns();

	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			for (uint32_t p = 0; p < d->pages; p++)
				d->area[(size_t)p * 4096 + p % 4096] = (uint8_t)i;
			_exit(0);
		}
		waitpid(pid, NULL, 0);
	}
	return (bench_now_ns() - t) / n;
}

/* ---- rounds ---- */

static void counts(const char *figure, const struct nub_req *r, int n)
{
	char label[96];

	snprintf(label, sizeof(label), "  %s: VM exits per request", figure);
	bench_row(bench_label(label), (double)(r->after.vm_exits - r->before.vm_exits) / n, "exits",
	          "floor", 1, "count");
	snprintf(label, sizeof(label), "  %s: CoW faults per request", figure);
	bench_row(bench_label(label), (double)(r->after.cow_faults - r->before.cow_faults) / n,
	          "faults", "floor", 0, "count");
}

static void bench_js_workload(const char *figure, const char *script, struct nub_sandbox *js,
                              duk_context *warm)
{
	struct nub_req req = {js, JS_FN_EVAL, script, strlen(script), {0}, {0}};
	struct zygote z = {warm, script};
	struct spawned sp = {"--js", script};
	struct worker w;
	worker_start(&w, script, 0);
	struct bench_contender c[] = {{"nub", nub_request, &req, iters, {0}},
	                              {"zygote", zygote_request, &z, iters, {0}},
	                              {"posix_spawn", spawn_request, &sp, iters, {0}},
	                              {"pipe worker", worker_request, &w, iters, {0}}};

	nub_request(&req, 2); /* warm: the first call after a restore */
	bench_measure(c, 4, rounds, counts_only);
	worker_stop(&w);
	bench_rows(figure, c, 4, counts_only);
	counts(figure, &req, c[0].n);
}

static void bench_echo(void)
{
	static const char text[] = "0123456789abcdef0123456789abcdef";
	struct nub_sandbox *sb = sandbox("test_guest", NULL, 1u << 20);
	struct nub_req req = {sb, NUB_TG_ECHO, text, sizeof(text) - 1, {0}, {0}};
	struct zygote z = {NULL, text};
	struct spawned sp = {"--echo", text};
	struct worker w;
	worker_start(&w, text, 1);
	struct bench_contender c[] = {{"nub", nub_request, &req, iters, {0}},
	                              {"zygote", zygote_request, &z, iters, {0}},
	                              {"posix_spawn", spawn_request, &sp, iters, {0}},
	                              {"pipe worker", worker_request, &w, iters, {0}}};

	nub_request(&req, 2);
	bench_measure(c, 4, rounds, counts_only);
	worker_stop(&w);
	bench_rows("echo, call + restore", c, 4, counts_only);
	counts("echo", &req, c[0].n);
	nub_sandbox_free(sb);
}

/* A deadline that does not fire should cost ~nothing: the same echo with
 * and without a call timeout, interleaved. */
static void bench_timeout(void)
{
	static const char text[] = "0123456789abcdef";
	struct nub_sandbox *plain = sandbox("test_guest", NULL, 1u << 20);
	struct nub_sandbox *timed = sandbox_timed("test_guest", NULL, 1u << 20, 1000000);
	struct nub_req a = {plain, NUB_TG_ECHO, text, sizeof(text) - 1, {0}, {0}};
	struct nub_req b = {timed, NUB_TG_ECHO, text, sizeof(text) - 1, {0}, {0}};
	struct bench_contender c[] = {{"nub", nub_request, &a, iters, {0}},
	                              {"nub, 1 s timeout", nub_request, &b, iters, {0}}};

	nub_request(&a, 2);
	nub_request(&b, 2);
	bench_measure(c, 2, rounds, counts_only);
	if (!counts_only)
		bench_row(bench_label("echo call + restore, 1 s timeout set vs none"),
		          c[1].sample[0] / 1e3, "us", "no timeout", c[0].sample[0] / 1e3, "time");
	nub_sandbox_free(timed);
	nub_sandbox_free(plain);
}

/* A request right after the host forked (a host that runs helpers with
 * fork(), or a zygote in the same process): the fork is not timed, the
 * request is. fork() leaves a sandbox's memory and KVM's view of it alone
 * (private scratch is not inherited, snapshots are shared mappings);
 * before, it write-protected scratch, and KVM dropped every shadow entry
 * of it: the request after a fork cost 8x one without. */
static double nub_request_after_fork(void *ctx, int n)
{
	struct nub_req *r = ctx;
	double t = 0;

	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid < 0)
			die("fork", "after-fork request");
		if (pid == 0)
			_exit(0);
		waitpid(pid, NULL, 0);
		double t0 = bench_now_ns();
		nub_request_once(r);
		t += bench_now_ns() - t0;
	}
	return t / n;
}

static void bench_after_fork(void)
{
	static const char text[] = "0123456789abcdef";
	struct nub_sandbox *sb = sandbox("test_guest", NULL, 1u << 20);
	struct nub_req r = {sb, NUB_TG_ECHO, text, sizeof(text) - 1, {0}, {0}};
	int n = iters / 4 > 2 ? iters / 4 : 2;
	struct bench_contender c[] = {{"nub", nub_request, &r, n, {0}},
	                              {"nub after fork", nub_request_after_fork, &r, n, {0}}};

	nub_request(&r, 2);
	bench_measure(c, 2, rounds, 0);
	bench_row(bench_label("echo call + restore right after the host forked vs not"),
	          c[1].sample[0] / 1e3, "us", "no fork", c[0].sample[0] / 1e3, "time");
	nub_sandbox_free(sb);
}

static void bench_dirty(void)
{
	static const uint32_t ns[] = {1, 16, 256, 4096};
	struct nub_sandbox *sb = sandbox("test_guest", NULL, 1u << 20);
	uint8_t *area = mmap(NULL, (size_t)NUB_TG_DIRTY_MAX * 4096, PROT_READ | PROT_WRITE,
	                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (area == MAP_FAILED)
		die("mmap", "dirty area");
	memset(area, 1, (size_t)NUB_TG_DIRTY_MAX * 4096); /* warm: every page resident */
	for (size_t k = 0; k < sizeof(ns) / sizeof(ns[0]); k++) {
		uint8_t in[9] = {0};
		char figure[64];
		memcpy(in + 4, &ns[k], 4);
		in[8] = 7;
		struct nub_req req = {sb, NUB_TG_DIRTY, in, sizeof(in), {0}, {0}};
		struct forked_dirty d = {area, ns[k]};
		int n = ns[k] >= 1024 ? (iters / 8 > 2 ? iters / 8 : 2) : iters;
		struct bench_contender c[] = {{"nub", nub_request, &req, n, {0}},
		                              {"forked child", forked_dirty, &d, n, {0}}};
		nub_request(&req, 2);
		bench_measure(c, 2, rounds, counts_only);
		snprintf(figure, sizeof(figure), "dirty %u pages + restore", ns[k]);
		bench_rows(figure, c, 2, counts_only);
		counts(figure, &req, c[0].n);
	}
	munmap(area, (size_t)NUB_TG_DIRTY_MAX * 4096);
	nub_sandbox_free(sb);
}

/* ---- cold, memory, throughput ---- */

/* A sandbox from the snapshot, one request, free: a new VM each time, or
 * (pooled) the VM the last free parked in the snapshot's pool. */
struct cold {
	const char *elf;
	struct nub_snapshot *snap;
	uint32_t fn;
	const char *in;
	int pooled;
	uint64_t recycled, made, exits, cow;
};

/* One cold request; its counts go to c. */
static void cold_cycle(struct cold *c)
{
	struct nub_sandbox_stats st;
	struct nub_sandbox *sb = sandbox(c->elf, c->snap, 16ull << 20);

	call_or_die(sb, c->fn, c->in, strlen(c->in));
	nub_sandbox_stats(sb, &st);
	c->recycled += st.vms_recycled;
	c->exits += st.vm_exits;
	c->cow += st.cow_faults;
	c->made++;
	nub_sandbox_free(sb);
}

static double nub_cold(void *ctx, int n)
{
	struct cold *c = ctx;

	/* A new VM each time: no pool (a snapshot has one by default). */
	nub_snapshot_set_pool(c->snap, 0);
	if (c->pooled) { /* a warm pool: one VM, parked after a request */
		struct cold warm = *c;
		nub_snapshot_set_pool(c->snap, 1);
		cold_cycle(&warm);
	}
	double t = bench_now_ns();
	for (int i = 0; i < n; i++)
		cold_cycle(c);
	t = (bench_now_ns() - t) / n;
	if (c->pooled)
		nub_snapshot_set_pool(c->snap, 0);
	return t;
}

static void bench_cold_of(const char *figure, struct cold *plain, struct cold *pooled,
                          struct spawned *sp)
{
	int n = iters / 4 > 2 ? iters / 4 : 2;
	struct bench_contender c[] = {{"nub", nub_cold, plain, n, {0}},
	                              {"posix_spawn", spawn_request, sp, n, {0}},
	                              {"nub, pooled VM", nub_cold, pooled, n, {0}}};
	char label[96];

	/* The snapshot's first sandbox learns the working set of a call
	 * (nub_snapshot_hot_learn at free): counted on its own, so the rows
	 * below are what every later cold request costs. */
	struct cold first = *plain;
	cold_cycle(&first);
	bench_measure(c, 3, rounds, counts_only);
	if (!counts_only) {
		snprintf(label, sizeof(label), "%s: new VM (no pool) vs posix_spawn", figure);
		bench_row(bench_label(label), c[0].sample[0] / 1e3, "us", "posix_spawn",
		          c[1].sample[0] / 1e3, "time");
		snprintf(label, sizeof(label), "%s: pooled VM (default) vs posix_spawn", figure);
		bench_row(bench_label(label), c[2].sample[0] / 1e3, "us", "posix_spawn",
		          c[1].sample[0] / 1e3, "time");
	}
	snprintf(label, sizeof(label), "  %s: VM exits, a fresh snapshot's first cycle", figure);
	bench_row(bench_label(label), (double)first.exits, "exits", "floor", 1, "count");
	snprintf(label, sizeof(label), "  %s: CoW faults, a fresh snapshot's first cycle", figure);
	bench_row(bench_label(label), (double)first.cow, "faults", "floor", 0, "count");
	snprintf(label, sizeof(label), "  %s: VM exits per new-VM cycle", figure);
	bench_row(bench_label(label), (double)plain->exits / (double)plain->made, "exits", "floor",
	          1, "count");
	snprintf(label, sizeof(label), "  %s: CoW faults per new-VM cycle", figure);
	bench_row(bench_label(label), (double)plain->cow / (double)plain->made, "faults", "floor",
	          0, "count");
	snprintf(label, sizeof(label), "  %s: pooled VMs reused per cycle", figure);
	bench_row(bench_label(label), (double)pooled->recycled / (double)pooled->made, "VMs",
	          "floor", 1, "count");
	snprintf(label, sizeof(label), "  %s: VM exits per pooled cycle", figure);
	bench_row(bench_label(label), (double)pooled->exits / (double)pooled->made, "exits",
	          "floor", 1, "count");
	snprintf(label, sizeof(label), "  %s: CoW faults per pooled cycle", figure);
	bench_row(bench_label(label), (double)pooled->cow / (double)pooled->made, "faults", "floor",
	          0, "count");
}

/* The echo guest after init. */
static struct nub_snapshot *echo_snapshot(void)
{
	struct nub_snapshot *snap = NULL;
	struct nub_sandbox *echo = sandbox("test_guest", NULL, 1u << 20);

	if (nub_sandbox_snapshot(echo, &snap))
		die("snapshot", nub_sandbox_last_error(echo));
	nub_sandbox_free(echo);
	return snap;
}

static void bench_cold(struct nub_snapshot *echo_snap, struct nub_snapshot *js_snap)
{
	static const char text[] = "0123456789abcdef0123456789abcdef";
	struct cold e = {"test_guest", echo_snap, NUB_TG_ECHO, text, 0, 0, 0, 0, 0};
	struct cold ep = {"test_guest", echo_snap, NUB_TG_ECHO, text, 1, 0, 0, 0, 0};
	struct spawned esp = {"--echo", text};
	bench_cold_of("echo cold: sandbox from snapshot + call + free", &e, &ep, &esp);
	struct cold j = {"js", js_snap, JS_FN_EVAL, "1+1", 0, 0, 0, 0, 0};
	struct cold jp = {"js", js_snap, JS_FN_EVAL, "1+1", 1, 0, 0, 0, 0};
	struct spawned jsp = {"--js", "1+1"};
	bench_cold_of("JS cold: sandbox from snapshot + eval + free", &j, &jp, &jsp);
}

static void bench_idle_memory(struct nub_snapshot *js_snap, duk_context *warm)
{
	enum { N = 32 };
	struct nub_sandbox *sb[N];
	pid_t kids[N];
	int gate[2];

	nub_snapshot_set_pool(js_snap, 0); /* fresh VMs, none a pooled one */
	double before = bench_tree_pss_kib();
	for (int i = 0; i < N; i++) {
		sb[i] = sandbox("js", js_snap, 16ull << 20);
		call_or_die(sb[i], JS_FN_EVAL, "1+1", 3);
		nub_sandbox_restore(sb[i], NULL);
	}
	double nub_kib = (bench_tree_pss_kib() - before) / N;
	for (int i = 0; i < N; i++)
		nub_sandbox_free(sb[i]);
	if (pipe(gate))
		die("pipe", "idle");
	(void)warm;
	for (int i = 0; i < N; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			char c;
			close(gate[1]);
			(void)!read(gate[0], &c, 1); /* parked until the parent closes it */
			_exit(0);
		}
	}
	usleep(100000); /* let the children settle: their PSS is read from /proc */
	double zygote_kib = 0;
	for (int i = 0; i < N; i++)
		zygote_kib += bench_pss_kib(kids[i]);
	close(gate[0]);
	close(gate[1]);
	for (int i = 0; i < N; i++)
		waitpid(kids[i], NULL, 0);
	bench_row(bench_label("JS idle memory per sandbox (PSS)"), nub_kib, "KiB",
	          "parked zygote child", zygote_kib / N, "count");
}

/* Creation as sandboxes accumulate: create + evolve + first call of the
 * echo guest from one snapshot, every one kept alive; the median of the
 * last `window` against the median of the first. Then the frees, oldest
 * first: the first `window` (all alive) against the last (few alive). Up to 5,000 alive on KVM
 * (the open-file limit raised to what they need), 200 on the mock (each is
 * a process there) and in short mode. With `options` (a backend option
 * string, NULL: the bench's) in the label.
 * Each row runs in a child of its own: the kernel's costs here depend on
 * the process's history (its page tables, VMA tree and the slabs the last
 * 5,000 sandboxes grew), so a second row in the same process ran up to
 * twice as fast at its tail as the first. */
static void scale_child(struct nub_snapshot *snap, const char *options, int n, int out)
{
	struct nub_sandbox **sb = calloc((size_t)n, sizeof(*sb));
	double *t = calloc(2 * (size_t)n, sizeof(*t)); /* creations, then frees */

	if (!sb || !t)
		die("scale", "out of memory");
	scale_options = options;
	for (int i = 0; i < n; i++) {
		double t0 = bench_now_ns();
		sb[i] = sandbox("test_guest", snap, 1u << 20);
		call_or_die(sb[i], NUB_TG_ECHO, "x", 1);
		t[i] = bench_now_ns() - t0;
	}
	for (int i = 0; i < n; i++) {
		double t0 = bench_now_ns();
		nub_sandbox_free(sb[i]);
		t[n + i] = bench_now_ns() - t0;
	}
	if (write(out, t, 2 * (size_t)n * sizeof(*t)) != (ssize_t)(2 * (size_t)n * sizeof(*t)))
		die("scale", "writing the times");
	_exit(0);
}

static void bench_scale(struct nub_snapshot *snap, const char *options)
{
	int n = rounds < 9 || strcmp(bench_backend(), "kvm") ? 200 : 5000;
	int window = n / 4 < 100 ? n / 4 : 100, fds[2], status = 0;
	struct rlimit rl;
	char label[96];

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < (rlim_t)(2 * n + 256)) {
		rl.rlim_cur =
		        rl.rlim_max < (rlim_t)(2 * n + 256) ? rl.rlim_max : (rlim_t)(2 * n + 256);
		setrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < (rlim_t)(2 * n + 256))
			n = (int)(rl.rlim_cur - 256) / 2;
	}
	double *t = calloc(2 * (size_t)n, sizeof(*t));
	if (!t || pipe(fds))
		die("scale", "out of memory or descriptors");
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		die("scale", "fork");
	if (pid == 0) {
		close(fds[0]);
		scale_child(snap, options, n, fds[1]);
	}
	close(fds[1]);
	size_t got = 0, want = 2 * (size_t)n * sizeof(*t);
	for (ssize_t r; got < want && (r = read(fds[0], (char *)t + got, want - got)) > 0;)
		got += (size_t)r;
	close(fds[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) ||
	    got != want)
		die("scale", "the child that made the sandboxes failed");
	double first = bench_median(t, window), last = bench_median(t + n - window, window);
	snprintf(label, sizeof(label), "create+evolve+call, last %d of %d alive vs first %d%s%s",
	         window, n, window, options ? ", " : "", options ? options : "");
	bench_row(bench_label(label), last / 1e3, "us", "first", first / 1e3, "time");
	/* The frees run oldest first: the first with all alive, the last
	 * with few. */
	double crowded = bench_median(t + n, window),
	       sparse = bench_median(t + 2 * n - window, window);
	snprintf(label, sizeof(label), "free, first %d of %d alive vs last %d%s%s", window, n,
	         window, options ? ", " : "", options ? options : "");
	bench_row(bench_label(label), crowded / 1e3, "us", "last", sparse / 1e3, "time");
	free(t);
}

/* The scale row with the bench's options (NUB_BENCH_OPTIONS; unset: a VM
 * per sandbox) and, on KVM, with sandboxes sharing VMs (share=1000: five
 * VMs for 5,000), one after the other. */
static void bench_scale_rows(struct nub_snapshot *snap)
{
	/* No parked VM in the process the rows fork from: with one (the
	 * snapshot's first sandbox, parked by default) the children's last
	 * 100 measured 2.2x shared and 2.8-4.5x with a VM each, against
	 * 1.2-1.3x and 2.8x without (--scale, two runs each, 2026-12-07). */
	nub_snapshot_set_pool(snap, 0);
	bench_scale(snap, NULL);
	if (!strcmp(bench_backend(), "kvm"))
		bench_scale(snap, "share=1000");
}

/* The new-VM cold cycle of the echo guest in a process that holds no
 * other VM (this program with --lone), against posix_spawn. KVM patches
 * its code (an interrupt to every CPU) when the machine's count of VMs
 * leaves 0 or returns to it; the KVM backend keeps an idle VM so that it
 * never does (kvm_anchor_keep). In the bench process the JS sandbox's VM
 * is alive through the cold rows and hides both the cost and the fix. */
static void bench_lone_row(void)
{
	static const char text[] = "0123456789abcdef0123456789abcdef";
	struct nub_snapshot *snap = echo_snapshot();
	struct cold e = {"test_guest", snap, NUB_TG_ECHO, text, 0, 0, 0, 0, 0};
	struct spawned sp = {"--echo", text};
	int n = iters / 4 > 2 ? iters / 4 : 2;
	struct bench_contender c[] = {{"nub", nub_cold, &e, n, {0}},
	                              {"posix_spawn", spawn_request, &sp, n, {0}}};
	struct cold first = e;

	nub_snapshot_set_pool(snap, 0);
	cold_cycle(&first); /* the snapshot learns its working set */
	bench_measure(c, 2, rounds, 0);
	bench_row(bench_label("echo cold, new VM (no pool), no other VM in the process, vs "
	                      "posix_spawn"),
	          c[0].sample[0] / 1e3, "us", "posix_spawn", c[1].sample[0] / 1e3, "time");
	nub_snapshot_unref(snap);
}

/* Rows in a fresh process (this program with `mode`). The scale rows: a
 * child forked from a process holding a KVM VM -- this one holds the JS
 * sandbox and whatever the pools parked -- made its last 100 sandboxes
 * 1.6-2.3x slower than one forked from a process that held none
 * (2026-12-07), so rows forked from here measured this process's history,
 * not the scale. The lone row: it must hold no other VM. */
static void bench_fresh(const char *mode, int short_mode)
{
	char *argv[] = {"bench_peers", (char *)mode, short_mode ? "--short" : NULL, NULL};
	int status = 0;
	pid_t pid;

	fflush(NULL);
	if (posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ))
		die(mode, "posix_spawn of /proc/self/exe");
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		die(mode, "the rows' process failed");
}

struct pace {
	struct nub_snapshot *snap;
	duk_context *warm;
	int n;
	double ns;
};

static void *nub_thread(void *arg)
{
	struct pace *p = arg;
	struct nub_sandbox *sb = sandbox("js", p->snap, 16ull << 20);
	struct nub_req req = {sb, JS_FN_EVAL, "1+1", 3, {0}, {0}};

	p->ns = nub_request(&req, p->n);
	nub_sandbox_free(sb);
	return NULL;
}

static void *zygote_thread(void *arg)
{
	struct pace *p = arg;
	struct zygote z = {p->warm, "1+1"};

	p->ns = zygote_request(&z, p->n);
	return NULL;
}

/* Requests per second on two threads, each with its own sandbox. */
static double two_threads(void *(*fn)(void *), struct nub_snapshot *snap, duk_context *warm)
{
	struct pace p[2] = {{snap, warm, iters, 0}, {snap, warm, iters, 0}};
	pthread_t t[2];

	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, fn, &p[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	return 1e9 / p[0].ns + 1e9 / p[1].ns;
}

int main(int argc, char **argv)
{
	const int short_mode = argc > 1 && !strcmp(argv[1], "--short");
	counts_only = argc > 1 && !strcmp(argv[1], "--counts");
	static char runner_path[4096];
	struct nub_snapshot *js_snap = NULL;

	rounds = counts_only ? 1 : short_mode ? 3 : 9;
	iters = counts_only ? 3 : short_mode ? 10 : 100;
	guest_dir = getenv("NUB_GUEST_DIR");
	if (!guest_dir)
		guest_dir = "build/guest";
	snprintf(runner_path, sizeof(runner_path), "%s/peer_runner",
	         getenv("NUB_BENCH_DIR") ? getenv("NUB_BENCH_DIR") : "build/bench");
	runner = runner_path;
	/* --scale [--short]: the scale rows alone (they need no peer). */
	if (argc > 1 && !strcmp(argv[1], "--scale")) {
		rounds = argc > 2 && !strcmp(argv[2], "--short") ? 3 : 9;
		bench_scale_rows(echo_snapshot());
		return 0;
	}
	if (!counts_only && access(runner, X_OK))
		die("peer runner", runner);
	/* --lone [--short]: the lone cold row alone (it needs the runner). */
	if (argc > 1 && !strcmp(argv[1], "--lone")) {
		rounds = argc > 2 && !strcmp(argv[2], "--short") ? 3 : 9;
		iters = rounds == 3 ? 10 : 100;
		bench_lone_row();
		return 0;
	}

	duk_context *warm = warm_heap();
	struct nub_sandbox *js = sandbox("js", NULL, 16ull << 20);
	if (nub_sandbox_snapshot(js, &js_snap))
		die("snapshot", nub_sandbox_last_error(js));
	bench_echo();
	bench_timeout();
	if (!counts_only)
		bench_after_fork();
	bench_js_workload("JS eval(\"1+1\"), call + restore", "1+1", js, warm);
	bench_js_workload("JS JSON of 10k objects, call + restore", JSON_10K, js, warm);
	bench_dirty();
	struct nub_snapshot *echo_snap = echo_snapshot();
	bench_cold(echo_snap, js_snap);
	if (!counts_only) {
		bench_fresh("--lone", short_mode);
		bench_fresh("--scale", short_mode);
		bench_idle_memory(js_snap, warm);
		double nub_rate = two_threads(nub_thread, js_snap, warm);
		double zygote_rate = two_threads(zygote_thread, js_snap, warm);
		/* A rate: higher is better, so the ratio is the peer's over nub's. */
		bench_row(bench_label("JS eval, requests/s on 2 threads (inverse)"), 1e6 / nub_rate,
		          "us", "zygote", 1e6 / zygote_rate, "time");
	}
	nub_snapshot_unref(echo_snap);
	nub_sandbox_free(js);
	nub_snapshot_unref(js_snap);
	duk_destroy_heap(warm);
	return 0;
}
