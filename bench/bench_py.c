/* SPDX-License-Identifier: MIT */
/*
 * The Python sandbox (examples/python) against what a user would do
 * instead with Debian's python3, in one run, interleaved round by round,
 * medians of the rounds (bench/py_peer.py is the peers' side):
 *   python3 -c     a fresh interpreter process per request (posix_spawn)
 *   zygote         a warm interpreter that forks a child per request
 *   pipe worker    a warm interpreter running every request itself (no
 *                  isolation between requests: the floor of reuse)
 * Rows: exec('1+1') call + restore, a real script (10k JSON records made,
 * parsed and summed) call + restore, the cold cycle (a sandbox from the
 * warm snapshot + the first exec + free, also from a pooled VM), and idle
 * memory per sandbox against a parked zygote child. Counts (VM exits,
 * copy-on-write faults per request) beside the times. Backend:
 * NUB_BENCH_BACKEND (default the mock). --counts: nub's side alone, one
 * round, count rows only (nested KVM).
 */
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include <nub/nub.h>

#include "../examples/python/py_abi.h"

extern char **environ;

#define JSON_10K                                                                                   \
	"import json\n"                                                                            \
	"s = json.dumps([{'id': i, 'name': 'n%d' % i, 'v': i * 2} for i in range(10000)])\n"       \
	"sum(r['v'] for r in json.loads(s))"

static const char *guest_dir;
static int rounds, iters, counts_only;

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "bench_py: %s: %s\n", what, msg);
	exit(1);
}

/* ---- nub ---- */

static struct nub_sandbox *sandbox(struct nub_snapshot *snap)
{
	char elf[4096], lib[4096];
	struct nub_dir dirs[1] = {{lib, PY_GUEST_HOME}};
	struct nub_config cfg;
	struct nub_error err = {0};
	struct nub_sandbox *sb = NULL;

	nub_config_init(&cfg);
	cfg.backend = bench_backend();
	cfg.heap_size = 64ull << 20;
	cfg.dirs = dirs;
	cfg.dirs_count = 1;
	snprintf(elf, sizeof(elf), "%s/python.elf", guest_dir);
	snprintf(lib, sizeof(lib), "%s/python", guest_dir);
	if (snap ? nub_sandbox_create_from_snapshot(&cfg, snap, &sb, &err)
	         : nub_sandbox_create_from_elf(&cfg, elf, &sb, &err))
		die("create", err.msg);
	if (nub_sandbox_evolve(sb))
		die("evolve", nub_sandbox_last_error(sb));
	return sb;
}

static void exec_or_die(struct nub_sandbox *sb, const char *src)
{
	static uint8_t out[4096];
	size_t n = 0;
	int32_t status = -1;

	if (nub_sandbox_call(sb, PY_FN_EXEC, src, strlen(src), out, sizeof(out), &n, &status))
		die("exec", nub_sandbox_last_error(sb));
	if (status)
		die("exec", "the script raised");
}

struct nub_req {
	struct nub_sandbox *sb;
	const char *src;
	struct nub_sandbox_stats before, after;
};

static double nub_request(void *ctx, int n)
{
	struct nub_req *r = ctx;
	double t = bench_now_ns();

	nub_sandbox_stats(r->sb, &r->before);
	for (int i = 0; i < n; i++) {
		exec_or_die(r->sb, r->src);
		if (nub_sandbox_restore(r->sb, NULL))
			die("restore", nub_sandbox_last_error(r->sb));
	}
	t = (bench_now_ns() - t) / n;
	nub_sandbox_stats(r->sb, &r->after);
	return t;
}

struct cold {
	struct nub_snapshot *snap;
	int pooled;
	uint64_t made, exits, cow;
};

/* One cold request; its counts go to c. */
static void cold_cycle(struct cold *c)
{
	struct nub_sandbox_stats st;
	struct nub_sandbox *sb = sandbox(c->snap);

	exec_or_die(sb, "1+1");
	nub_sandbox_stats(sb, &st);
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

/* ---- the peers: Debian's python3 ---- */

struct peer {
	pid_t pid;
	int to, from;
	const char *src;
};

static void write_all(int fd, const void *p, size_t n)
{
	if (!bench_write_all(fd, p, n))
		die("write", "peer pipe");
}

static void read_all(int fd, void *p, size_t n)
{
	for (size_t d = 0; d < n;) {
		ssize_t r = read(fd, (char *)p + d, n - d);
		if (r <= 0)
			die("read", "peer pipe (did python3 fail? see its stderr)");
		d += (size_t)r;
	}
}

static void peer_start(struct peer *p, const char *mode, const char *arg)
{
	char *argv[] = {NUB_BENCH_PYTHON3, NUB_BENCH_PY_PEER, (char *)mode, (char *)arg, NULL};
	int a[2], b[2];

	if (pipe(a) || pipe(b))
		die("pipe", "peer");
	p->pid = fork();
	if (p->pid < 0)
		die("fork", "peer");
	if (p->pid == 0) {
		dup2(a[0], 0);
		dup2(b[1], 1);
		close(a[0]), close(a[1]), close(b[0]), close(b[1]);
		execve(argv[0], argv, environ);
		_exit(127);
	}
	close(a[0]);
	close(b[1]);
	p->to = a[1];
	p->from = b[0];
}

/* The peer's next answer, NUL-terminated in buf (truncated to cap). */
static void peer_answer(struct peer *p, char *buf, size_t cap)
{
	uint32_t len;
	char c;

	read_all(p->from, &len, sizeof(len));
	for (uint32_t i = 0; i < len; i++) {
		read_all(p->from, &c, 1);
		if (i + 1 < cap)
			buf[i] = c;
	}
	buf[len < cap ? len : cap - 1] = '\0';
}

static double peer_request(void *ctx, int n)
{
	struct peer *p = ctx;
	uint32_t len = (uint32_t)strlen(p->src);
	char buf[256];
	double t = bench_now_ns();

	for (int i = 0; i < n; i++) {
		write_all(p->to, &len, sizeof(len));
		write_all(p->to, p->src, len);
		peer_answer(p, buf, sizeof(buf));
	}
	return (bench_now_ns() - t) / n;
}

/* Told to stop, not left to see end-of-file: processes forked after it
 * (the mock's vCPU processes) hold copies of its pipe. */
static void peer_stop(struct peer *p)
{
	uint32_t quit = UINT32_MAX;

	write_all(p->to, &quit, sizeof(quit));
	close(p->to);
	close(p->from);
	waitpid(p->pid, NULL, 0);
}

static double spawn_request(void *ctx, int n)
{
	const char *src = ctx;
	char *argv[] = {NUB_BENCH_PYTHON3, "-c", (char *)src, NULL};
	double t = bench_now_ns();

	for (int i = 0; i < n; i++) {
		pid_t pid;
		int st;
		if (posix_spawn(&pid, argv[0], NULL, NULL, argv, environ))
			die("posix_spawn", argv[0]);
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
			die("python3 -c", src);
	}
	return (bench_now_ns() - t) / n;
}

/* ---- rounds ---- */

static void count_row(const char *figure, const char *what, double v, const char *unit,
                      double floor)
{
	char label[96];

	snprintf(label, sizeof(label), "  %s: %s", figure, what);
	bench_row(bench_label(label), v, unit, "floor", floor, "count");
}

static void bench_workload(const char *figure, const char *src, struct nub_sandbox *sb)
{
	struct nub_req req = {sb, src, {0}, {0}};
	struct peer z = {0}, w = {0};
	int n = strlen(src) > 10 ? (iters / 4 > 2 ? iters / 4 : 2) : iters;

	if (!counts_only) {
		peer_start(&z, "zygote", NULL);
		peer_start(&w, "worker", NULL);
	}
	z.src = w.src = src;
	struct bench_contender c[] = {{"nub", nub_request, &req, n, {0}},
	                              {"zygote (fork per request)", peer_request, &z, n, {0}},
	                              {"python3 -c", spawn_request, (void *)src, n, {0}},
	                              {"pipe worker", peer_request, &w, n, {0}}};

	nub_request(&req, 2); /* warm: the first call after a restore */
	bench_measure(c, 4, rounds, counts_only);
	if (!counts_only) {
		peer_stop(&z);
		peer_stop(&w);
	}
	bench_rows(figure, c, 4, counts_only);
	count_row(figure, "VM exits per request",
	          (double)(req.after.vm_exits - req.before.vm_exits) / n, "exits", 1);
	count_row(figure, "CoW faults per request",
	          (double)(req.after.cow_faults - req.before.cow_faults) / n, "faults", 0);
}

static void bench_cold(struct nub_snapshot *snap)
{
	const char *figure = "Python cold: sandbox from snapshot + exec + free";
	struct cold plain = {snap, 0, 0, 0, 0}, pooled = {snap, 1, 0, 0, 0};
	int n = iters / 4 > 2 ? iters / 4 : 2;
	struct bench_contender c[] = {{"nub", nub_cold, &plain, n, {0}},
	                              {"python3 -c", spawn_request, "1+1", n, {0}},
	                              {"nub, pooled VM", nub_cold, &pooled, n, {0}}};
	char label[96];

	/* The snapshot's first sandbox learns the working set of a call
	 * (nub_snapshot_hot_learn at free): counted on its own, so the rows
	 * below are what every later cold request costs. */
	struct cold first = plain;
	cold_cycle(&first);
	bench_measure(c, 3, rounds, counts_only);
	if (!counts_only) {
		snprintf(label, sizeof(label), "%s: new VM (no pool) vs python3 -c", figure);
		bench_row(bench_label(label), c[0].sample[0] / 1e3, "us", "python3 -c",
		          c[1].sample[0] / 1e3, "time");
		snprintf(label, sizeof(label), "%s: pooled VM (default) vs python3 -c", figure);
		bench_row(bench_label(label), c[2].sample[0] / 1e3, "us", "python3 -c",
		          c[1].sample[0] / 1e3, "time");
	}
	count_row(figure, "VM exits, a fresh snapshot's first cycle", (double)first.exits, "exits",
	          1);
	count_row(figure, "CoW faults, a fresh snapshot's first cycle", (double)first.cow, "faults",
	          0);
	count_row(figure, "VM exits per new-VM cycle", (double)plain.exits / (double)plain.made,
	          "exits", 1);
	count_row(figure, "CoW faults per new-VM cycle", (double)plain.cow / (double)plain.made,
	          "faults", 0);
}

static void bench_idle_memory(struct nub_snapshot *snap)
{
	enum { N = 16 };
	struct nub_sandbox *sb[N];
	struct peer park;
	char pids[1024], arg[8];

	nub_snapshot_set_pool(snap, 0); /* fresh VMs, none a pooled one */
	double before = bench_tree_pss_kib();
	for (int i = 0; i < N; i++) {
		sb[i] = sandbox(snap);
		exec_or_die(sb[i], "1+1");
		nub_sandbox_restore(sb[i], NULL);
	}
	double nub_kib = (bench_tree_pss_kib() - before) / N;
	for (int i = 0; i < N; i++)
		nub_sandbox_free(sb[i]);
	snprintf(arg, sizeof(arg), "%d", N);
	peer_start(&park, "park", arg);
	peer_answer(&park, pids, sizeof(pids));
	usleep(100000); /* let the children settle: their PSS is read from /proc */
	double kids_kib = 0;
	for (char *p = strtok(pids, " "); p; p = strtok(NULL, " "))
		kids_kib += bench_pss_kib((pid_t)atoi(p));
	write_all(park.to, "x", 1);
	close(park.to);
	close(park.from);
	waitpid(park.pid, NULL, 0);
	bench_row(bench_label("Python idle memory per sandbox (PSS)"), nub_kib, "KiB",
	          "parked zygote child", kids_kib / N, "count");
}

int main(int argc, char **argv)
{
	const int short_mode = argc > 1 && !strcmp(argv[1], "--short");
	struct nub_snapshot *snap = NULL;

	counts_only = argc > 1 && !strcmp(argv[1], "--counts");
	rounds = counts_only ? 1 : short_mode ? 3 : 9;
	iters = counts_only ? 3 : short_mode ? 8 : 40;
	guest_dir = getenv("NUB_GUEST_DIR");
	if (!guest_dir)
		guest_dir = "build/guest";
	if (!counts_only && access(NUB_BENCH_PYTHON3, X_OK))
		die("python3", NUB_BENCH_PYTHON3);
	signal(SIGPIPE, SIG_IGN);

	struct nub_sandbox *py = sandbox(NULL);
	if (nub_sandbox_snapshot(py, &snap))
		die("snapshot", nub_sandbox_last_error(py));
	bench_workload("Python exec('1+1'), call + restore", "1+1", py);
	bench_workload("Python 10k JSON records, call + restore", JSON_10K, py);
	bench_cold(snap);
	if (!counts_only)
		bench_idle_memory(snap);
	nub_sandbox_free(py);
	nub_snapshot_unref(snap);
	return 0;
}
