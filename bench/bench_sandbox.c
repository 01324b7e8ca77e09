/* SPDX-License-Identifier: MIT */
/*
 * Sandbox lifecycle figures on a backend (NUB_BENCH_BACKEND, default the
 * mock), with the real test guest, each beside its floor:
 *   create from snapshot ........ fork()+exit of this process
 *   guest call round trip ....... a raw round trip of the same exit (an
 *                                 MMIO store from CPL3) on a bare VM of the
 *                                 same backend, measured here
 *   guest compute loop .......... the same loop on the host (real backends)
 *   VM exits per call/host call . 1
 *   restore, 0/16/1024 dirty .... memcpy of the same bytes
 *   capture per live page ....... memcpy of a page
 *   snapshot from ELF per MiB ... memset of a MiB
 *   idle sandbox memory ......... RSS/PSS from /proc/self/smaps_rollup
 * Output: `figure | value | floor | ratio | kind` lines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "vmem.h"
#include <nub/nub.h>

#include "backend/backend_loader.h"
#include "backend/hv.h"
#include "memory/vmem_host.h"
#include "x86/cpu.h"

#include "../guest/tests/test_guest_ids.h"

static int short_mode;

static const char *guest_path(const char *name)
{
	static char p[4096];
	const char *dir = getenv("NUB_GUEST_DIR");

	snprintf(p, sizeof(p), "%s/%s.elf", dir ? dir : "build/guest", name);
	return p;
}

static void config(struct nub_config *cfg)
{
	nub_config_init(cfg);
	cfg->backend = bench_backend();
	/* Room for 1024 dirty heap pages; the default scratch has room for a
	 * copy of every page, so restores stay in place (a smaller one makes
	 * every restore full: that is not the figure here). */
	cfg->heap_size = 8u << 20;
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

/* The floor of a guest call: one exit of the same kind (an 8-byte store
 * from CPL3 to a GPA nothing backs) and re-entry, on a bare VM of the same
 * backend with no nub guest around it: `1: mov [rbx], rax; jmp 1b`. */
#define RAW_MEM  (2u << 20)
#define RAW_PT   0x10000u
#define RAW_MMIO 0x800000u

static void raw_sregs(struct nub_sregs *s)
{
	memset(s, 0, sizeof(*s));
	s->cs = nub_cpu_flat_segment(0x2b, 1, 3);
	s->ds = s->es = s->fs = s->gs = s->ss = nub_cpu_flat_segment(0x23, 0, 3);
	s->tr = (struct nub_segment){.limit = 0x67, .selector = 0x30, .type = 0xb, .present = 1};
	s->ldt = (struct nub_segment){.type = 2, .unusable = 1};
	s->cr0 = 0x80050033;
	s->cr4 = 0x620;
	s->efer = 0xd00;
	s->cr3 = RAW_PT;
	s->apic_base = 0xfee00900;
}

static double raw_exit_ns(int iters)
{
	static const uint8_t code[] = {
	        0x48, 0xbb, 0x00, 0x00, 0x80, 0, 0, 0, 0, 0, /* mov rbx, RAW_MMIO */
	        0x48, 0x89, 0x03,                            /* 1: mov [rbx], rax */
	        0xeb, 0xfb,                                  /* jmp 1b */
	};
	const struct nub_vmem_mapping maps[] = {
	        {0, 0, RAW_MEM, NUB_VMEM_BASIC, NUB_VMEM_W | NUB_VMEM_X | NUB_VMEM_USER},
	        {RAW_MMIO, RAW_MMIO, 4096, NUB_VMEM_BASIC, NUB_VMEM_W | NUB_VMEM_USER},
	};
	struct nub_error err = {0};
	struct nub_backend *b;
	struct nub_hv *hv;
	struct nub_vmem_buf buf;
	struct nub_vmem_ops ops;
	struct nub_sregs s;
	struct nub_regs r = {.rip = 0x1000, .rsp = RAW_MEM, .rflags = 2};
	struct nub_exit ex;
	/* Shared, as core allocates it for backends that ask (the mock). */
	uint8_t *mem =
	        mmap(NULL, RAW_MEM, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (mem == MAP_FAILED || nub_backend_load(bench_backend(), &b, &err) ||
	    nub_hv_create(b, 1ull << 36, NULL, &hv, &err)) {
		fprintf(stderr, "bench: raw VM: %s\n", err.msg);
		exit(1);
	}
	nub_backend_unref(b);
	memset(mem, 0, RAW_MEM);
	memcpy(mem + 0x1000, code, sizeof(code));
	nub_vmem_buf_init(&buf, RAW_PT, 0x10000, &err);
	nub_vmem_buf_ops(&buf, &ops);
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
		nub_vmem_map(&ops, &maps[i]);
	memcpy(mem + RAW_PT, nub_vmem_buf_bytes(&buf), nub_vmem_buf_used(&buf));
	/* At the backend's window, as core's own tables are (the mock's is 1). */
	nub_vmem_tables_rebase(mem + RAW_PT, nub_vmem_buf_used(&buf), nub_hv_gpa_base(hv));
	nub_vmem_buf_free(&buf);
	struct nub_region reg = {.slot = 0,
	                         .flags = NUB_MEM_READ | NUB_MEM_WRITE | NUB_MEM_EXEC,
	                         .gpa = 0,
	                         .size = RAW_MEM,
	                         .host = mem};
	raw_sregs(&s);
	if (nub_hv_map_region(hv, &reg, &err) || nub_hv_set_sregs(hv, &s, &err) ||
	    nub_hv_set_regs(hv, &r, &err)) {
		fprintf(stderr, "bench: raw VM: %s\n", err.msg);
		exit(1);
	}
	memset(&ex, 0, sizeof(ex));
	nub_hv_run(hv, &ex, &err); /* warm up */
	double t = bench_now_ns();
	for (int i = 0; i < iters; i++) {
		if (nub_hv_run(hv, &ex, &err) || ex.reason != NUB_EXIT_MMIO_WRITE) {
			fprintf(stderr, "bench: raw VM: exit %u: %s %s\n", ex.reason, err.msg,
			        ex.detail);
			exit(1);
		}
	}
	t = (bench_now_ns() - t) / iters;
	nub_hv_destroy(hv);
	munmap(mem, RAW_MEM);
	return t;
}

/* A guest loop beside the same loop on the host: native speed in the VM
 * (on the software KVM only CPL3 code is native, hence guests at CPL3). */
static void bench_compute(struct nub_sandbox *sb)
{
	uint64_t iters = short_mode ? 10000000ull : 100000000ull, sum = 0, n = iters;
	uint8_t out[8];
	size_t len;
	int32_t st;

	/* Best of three each: the other core's load disturbs single runs. */
	double t = 1e300, h = 1e300;
	for (int r = 0; r < 3; r++) {
		double t0 = bench_now_ns();
		if (nub_sandbox_call(sb, NUB_TG_COMPUTE, &iters, 8, out, sizeof(out), &len, &st) ||
		    st) {
			fprintf(stderr, "bench: compute: %s\n", nub_sandbox_last_error(sb));
			exit(1);
		}
		t0 = bench_now_ns() - t0;
		t = t0 < t ? t0 : t;
		n = iters;
		double h0 = bench_now_ns();
		__asm__ volatile("1: add $1, %0\n\tdec %1\n\tjnz 1b" : "+r"(sum), "+r"(n));
		h0 = bench_now_ns() - h0;
		h = h0 < h ? h0 : h;
	}
	char name[64];
	snprintf(name, sizeof(name), "compute loop, %.0e iterations (%s)", (double)iters,
	         bench_backend());
	bench_row(name, t / 1e3, "us", "same loop on host", h / 1e3, "time");
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
	bench_row(bench_label("guest call round trip"), t / 1e3, "us", "raw exit round trip",
	          raw_exit_ns(iters) / 1e3, "time");
	bench_row(bench_label("VM exits per guest call"),
	          (double)(s1.vm_exits - s0.vm_exits) / iters, "exits", "floor", 1, "count");
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

	struct nub_sandbox_stats s0, s1, s2;

	nub_sandbox_register(sb, id, host_nop, NULL);
	nub_sandbox_stats(sb, &s0);
	double t = bench_now_ns();
	for (int i = 0; i < iters; i++)
		nub_sandbox_call(sb, NUB_TG_ECHO, &id, 4, out, sizeof(out), &n, &st);
	plain = (bench_now_ns() - t) / iters;
	nub_sandbox_stats(sb, &s1);
	t = bench_now_ns();
	for (int i = 0; i < iters; i++)
		nub_sandbox_call(sb, NUB_TG_CALL_HOST, &id, 4, out, sizeof(out), &n, &st);
	with_host = (bench_now_ns() - t) / iters;
	nub_sandbox_stats(sb, &s2);
	bench_row(bench_label("host call round trip"), (with_host - plain) / 1e3, "us",
	          "guest call", plain / 1e3, "time");
	bench_row(bench_label("VM exits per host call"),
	          (double)((s2.vm_exits - s1.vm_exits) - (s1.vm_exits - s0.vm_exits)) / iters,
	          "exits", "floor", 1, "count");
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

/* What a user of a sandbox pool does: call, restore, call, ... Each call
 * after a restore finds the working set already copied, so it costs one
 * exit, not one per page it writes. */
static void bench_cycle(struct nub_sandbox *sb)
{
	struct nub_sandbox_stats s0, s1;
	int iters = short_mode ? 20 : 2000;
	uint8_t out[8];
	size_t n;
	int32_t st;

	nub_sandbox_call(sb, NUB_TG_ECHO, "x", 1, out, sizeof(out), &n, &st);
	nub_sandbox_restore(sb, NULL);
	nub_sandbox_stats(sb, &s0);
	double t = bench_now_ns();
	for (int i = 0; i < iters; i++) {
		nub_sandbox_call(sb, NUB_TG_ECHO, "x", 1, out, sizeof(out), &n, &st);
		nub_sandbox_restore(sb, NULL);
	}
	t = (bench_now_ns() - t) / iters;
	nub_sandbox_stats(sb, &s1);
	bench_row(
	        bench_label("call + restore cycle"), t / 1e3, "us", "memcpy of the working set",
	        floor_memcpy((s1.prefetched_pages - s0.prefetched_pages) * 4096 / iters + 1, 100) /
	                1e3,
	        "time");
	bench_row(bench_label("VM exits per call after a restore"),
	          (double)(s1.vm_exits - s0.vm_exits) / iters, "exits", "floor", 1, "count");
}

/* A write to a page outside the working set: one exit to the host's stub,
 * a 4 KiB copy, a leaf rewrite, iretq. Pages written by one call each
 * (64 fresh pages per call, beyond the 32-page working set), minus the
 * same call writing nothing. */
static void bench_cow_fault(void)
{
	struct nub_sandbox *sb = sandbox_or_die(); /* its own: this fills the working set */
	const uint32_t per = 64, rounds = short_mode ? 2 : 12;
	struct nub_sandbox_stats s0, s1;
	uint8_t in[9], out[8];
	size_t n;
	int32_t st;
	double faults = 0, none = 0;

	nub_sandbox_stats(sb, &s0);
	for (uint32_t r = 0; r < rounds; r++) {
		uint32_t first = 1 + r * per, zero = 0;
		nub_sandbox_restore(sb, NULL);
		memcpy(in, &first, 4);
		memcpy(in + 4, &per, 4);
		in[8] = 7;
		double t = bench_now_ns();
		nub_sandbox_call(sb, NUB_TG_PAGES, in, 9, out, sizeof(out), &n, &st);
		faults += bench_now_ns() - t;
		memcpy(in + 4, &zero, 4);
		t = bench_now_ns();
		nub_sandbox_call(sb, NUB_TG_PAGES, in, 9, out, sizeof(out), &n, &st);
		none += bench_now_ns() - t;
	}
	nub_sandbox_stats(sb, &s1);
	bench_row(bench_label("copy-on-write fault (exit + copy)"),
	          (faults - none) / rounds / per / 1e3, "us", "raw exit + memcpy 4 KiB",
	          raw_exit_ns(200) / 1e3 + floor_memcpy(4096, 100) / 1e3, "time");
	bench_row(bench_label("CoW faults per fresh page written"),
	          (double)(s1.cow_faults - s0.cow_faults) / rounds / per, "exits", "floor", 1,
	          "count");
	nub_sandbox_free(sb);
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
	bench_row(bench_label("capture, per live page"), t / 1e3, "us", "memcpy 4 KiB",
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
	nub_snapshot_set_pool(snap, 0); /* a new VM each time: what the rows say */
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
	bench_row(bench_label("create + evolve from snapshot"), (create + evolve) / iters / 1e3,
	          "us", "fork()+exit", fork_t / 1e3, "time");
	bench_row(bench_label("  create (no VM yet)"), create / iters / 1e3, "us", "fork()+exit",
	          fork_t / 1e3, "time");
	bench_row(bench_label("  evolve (VM, memory, vCPU state)"), evolve / iters / 1e3, "us",
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
	bench_row(bench_label("VM exits per evolve"), (double)st.vm_exits, "exits", "floor", 1,
	          "count");

	bench_calls(sb);
	bench_host_call(sb);
	bench_compute(sb);
	bench_cycle(sb);
	bench_cow_fault();
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
