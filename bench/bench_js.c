/* SPDX-License-Identifier: MIT */
/*
 * The JavaScript sandbox (examples/js: Duktape on the C library runtime) on
 * a backend (NUB_BENCH_BACKEND, default the mock), each figure beside its
 * floor measured in the same run:
 *   eval("1+1"), call + restore ... the same Duktape eval in this process
 *                                   (Debian's libduktape, a warm heap)
 *   sandbox from the JS snapshot
 *   (create + evolve + first call)  fork+exec of /bin/true
 *   VM exits and CoW faults per call + restore: counts
 * Output: `figure | value | floor | ratio | kind` lines.
 */
#include <duktape.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "bench.h"
#include <nub/nub.h>

#include "../examples/js/js_abi.h"

extern char **environ;

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "bench_js: %s: %s\n", what, msg);
	exit(1);
}

static struct nub_sandbox *js_sandbox(const char *path, struct nub_snapshot *snap)
{
	struct nub_config cfg;
	struct nub_error err = {0};
	struct nub_sandbox *sb = NULL;

	nub_config_init(&cfg);
	cfg.backend = bench_backend();
	cfg.heap_size = 16ull << 20;
	if (snap ? nub_sandbox_create_from_snapshot(&cfg, snap, &sb, &err)
	         : nub_sandbox_create_from_elf(&cfg, path, &sb, &err))
		die("create", err.msg);
	if (nub_sandbox_evolve(sb))
		die("evolve", nub_sandbox_last_error(sb));
	return sb;
}

static void eval_or_die(struct nub_sandbox *sb, const char *src)
{
	char out[64];
	size_t n = 0;
	int32_t status = -1;

	if (nub_sandbox_call(sb, JS_FN_EVAL, src, strlen(src), out, sizeof(out), &n, &status) ||
	    status || n != 1 || out[0] != '2')
		die("eval", nub_sandbox_last_error(sb));
}

/* The floor: the same eval in this process, on a warm heap. */
static double native_eval_ns(int iters)
{
	duk_context *ctx = duk_create_heap_default();
	double t;

	if (!ctx)
		die("native", "duk_create_heap_default");
	duk_peval_string_noresult(ctx, "1+1");
	t = bench_now_ns();
	for (int i = 0; i < iters; i++) {
		if (duk_peval_string(ctx, "1+1") || strcmp(duk_safe_to_string(ctx, -1), "2"))
			die("native", "eval");
		duk_pop(ctx);
	}
	t = (bench_now_ns() - t) / iters;
	duk_destroy_heap(ctx);
	return t;
}

static double spawn_true_ns(int iters)
{
	char *argv[] = {"/bin/true", NULL};
	double t = bench_now_ns();

	for (int i = 0; i < iters; i++) {
		pid_t pid;
		int st;
		if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ) ||
		    waitpid(pid, &st, 0) < 0)
			die("spawn", "/bin/true");
	}
	return (bench_now_ns() - t) / iters;
}

int main(int argc, char **argv)
{
	const int short_mode = argc > 1 && !strcmp(argv[1], "--short");
	const int iters = short_mode ? 50 : 2000, creates = short_mode ? 5 : 100;
	const char *dir = getenv("NUB_GUEST_DIR");
	char path[4096];
	struct nub_snapshot *snap = NULL;
	struct nub_sandbox_stats s0, s1;
	double t;

	snprintf(path, sizeof(path), "%s/js.elf", dir ? dir : "build/guest");
	struct nub_sandbox *sb = js_sandbox(path, NULL);
	if (nub_sandbox_snapshot(sb, &snap))
		die("snapshot", nub_sandbox_last_error(sb));
	/* warm: the first call after a restore, then the steady state */
	eval_or_die(sb, "1+1");
	nub_sandbox_restore(sb, snap);
	nub_sandbox_stats(sb, &s0);
	t = bench_now_ns();
	for (int i = 0; i < iters; i++) {
		eval_or_die(sb, "1+1");
		if (nub_sandbox_restore(sb, snap))
			die("restore", nub_sandbox_last_error(sb));
	}
	t = (bench_now_ns() - t) / iters;
	nub_sandbox_stats(sb, &s1);
	bench_row(bench_label("JS eval(\"1+1\"), call + restore"), t / 1e3, "us",
	          "same eval natively", native_eval_ns(iters * 10) / 1e3, "time");
	bench_row(bench_label("  VM exits per eval + restore"),
	          (double)(s1.vm_exits - s0.vm_exits) / iters, "exits", "floor", 1, "count");
	/* Floor 0: the working set is copied at restore, no fault left. */
	bench_row(bench_label("  CoW faults per eval + restore"),
	          (double)(s1.cow_faults - s0.cow_faults) / iters, "faults", "floor", 0, "count");
	nub_sandbox_free(sb);

	nub_snapshot_set_pool(snap, 0); /* a new VM each time, as the row says */
	t = bench_now_ns();
	for (int i = 0; i < creates; i++) {
		struct nub_sandbox *s = js_sandbox(NULL, snap);
		eval_or_die(s, "1+1");
		nub_sandbox_free(s);
	}
	t = (bench_now_ns() - t) / creates;
	bench_row(bench_label("JS sandbox from snapshot + first eval"), t / 1e3, "us",
	          "fork+exec /bin/true", spawn_true_ns(creates) / 1e3, "time");
	nub_snapshot_unref(snap);
	return 0;
}
