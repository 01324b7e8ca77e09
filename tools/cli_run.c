/* SPDX-License-Identifier: MIT */
/*
 * `nub run GUEST.elf [--backend B] [--call ID ARG...] [--repeat N]`: create a
 * sandbox, evolve it, call a guest function, restore, and print the result
 * with the time each step took.
 *
 * Arguments after the function id form the input bytes: `s:TEXT` (bytes of
 * TEXT), `i64:N` (8 bytes little-endian), `hex:0a0b..`; a bare word is
 * taken as text.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nub/guest_abi.h>
#include <nub/nub.h>

#include "cli.h"

#define RUN_IO_MAX (64u << 10)

struct run_opts {
	const char *elf;
	const char *backend;
	const char *options;
	uint32_t fn_id;
	const char *fn_name; /* --call NAME: resolved after evolve */
	int have_call;
	unsigned long repeat;
	uint8_t in[RUN_IO_MAX];
	size_t in_len;
	int quiet_log;
};

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int append(struct run_opts *o, const void *p, size_t n)
{
	if (n > sizeof(o->in) - o->in_len) {
		fprintf(stderr, "nub run: arguments exceed %u bytes\n", RUN_IO_MAX);
		return -1;
	}
	memcpy(o->in + o->in_len, p, n);
	o->in_len += n;
	return 0;
}

static int parse_hex(struct run_opts *o, const char *h)
{
	size_t n = strlen(h);

	if (n % 2) {
		fprintf(stderr, "nub run: hex argument '%s' has an odd length\n", h);
		return -1;
	}
	for (size_t i = 0; i < n; i += 2) {
		char pair[3] = {h[i], h[i + 1], 0};
		char *end;
		uint8_t b = (uint8_t)strtoul(pair, &end, 16);
		if (*end || append(o, &b, 1))
			return -1;
	}
	return 0;
}

static int parse_arg(struct run_opts *o, const char *a)
{
	if (!strncmp(a, "i64:", 4)) {
		char *end;
		errno = 0;
		long long v = strtoll(a + 4, &end, 0);
		if (errno || *end || end == a + 4) {
			fprintf(stderr, "nub run: bad integer '%s'\n", a + 4);
			return -1;
		}
		uint8_t le[8];
		for (int i = 0; i < 8; i++)
			le[i] = (uint8_t)((unsigned long long)v >> (8 * i));
		return append(o, le, 8);
	}
	if (!strncmp(a, "hex:", 4))
		return parse_hex(o, a + 4);
	if (!strncmp(a, "s:", 2))
		a += 2;
	return append(o, a, strlen(a));
}

static int parse_opts(int argc, char **argv, struct run_opts *o)
{
	int i = 1;

	o->repeat = 1;
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--backend") && i + 1 < argc) {
			o->backend = argv[++i];
		} else if (!strcmp(a, "--options") && i + 1 < argc) {
			o->options = argv[++i];
		} else if (!strcmp(a, "--repeat") && i + 1 < argc) {
			o->repeat = strtoul(argv[++i], NULL, 10);
			if (!o->repeat)
				return fprintf(stderr, "nub run: --repeat needs N >= 1\n"), -1;
		} else if (!strcmp(a, "--quiet")) {
			o->quiet_log = 1;
		} else if (!strcmp(a, "--call") && i + 1 < argc) {
			char *end;
			o->fn_id = (uint32_t)strtoul(argv[++i], &end, 0);
			if (*end || end == argv[i])
				o->fn_name = argv[i];
			o->have_call = 1;
			for (i++; i < argc && strncmp(argv[i], "--", 2); i++)
				if (parse_arg(o, argv[i]))
					return -1;
			i--;
		} else if (a[0] != '-' && !o->elf) {
			o->elf = a;
		} else {
			fprintf(stderr, "nub run: unexpected argument '%s'\n", a);
			return -1;
		}
	}
	if (!o->elf) {
		fprintf(stderr, "usage: nub run GUEST.elf [--backend B] [--options S] "
		                "[--call ID|NAME [ARG...]] [--repeat N] [--quiet]\n"
		                "  ARG: s:TEXT | i64:N | hex:BYTES | TEXT\n");
		return -1;
	}
	return 0;
}

static void log_line(void *user, int level, const char *msg, size_t len)
{
	static const char *const names[] = {"?", "error", "warn", "info", "debug", "trace"};

	(void)user;
	printf("guest %s: %.*s\n", names[level >= 1 && level <= 5 ? level : 0], (int)len, msg);
}

static void print_result(int32_t status, const uint8_t *out, size_t len)
{
	int printable = 1;

	for (size_t i = 0; i < len; i++)
		if (out[i] < 0x20 || out[i] > 0x7e)
			printable = 0;
	printf("status %d, %zu bytes", status, len);
	if (len == 8 && !printable) {
		uint64_t v = 0;
		for (int i = 7; i >= 0; i--)
			v = v << 8 | out[i];
		printf(": i64 %lld", (long long)v);
	} else if (printable) {
		printf(": \"%.*s\"", (int)len, (const char *)out);
	} else {
		printf(":");
		for (size_t i = 0; i < len && i < 64; i++)
			printf(" %02x", out[i]);
	}
	printf("\n");
}

static int run_calls(struct nub_sandbox *sb, const struct run_opts *o)
{
	static uint8_t out[RUN_IO_MAX];
	double call_us = 0, restore_us = 0, t;
	int32_t status = 0;
	size_t out_len = 0;
	int rc;

	for (unsigned long i = 0; i < o->repeat; i++) {
		t = now_us();
		rc = nub_sandbox_call(sb, o->fn_id, o->in, o->in_len, out, sizeof(out), &out_len,
		                      &status);
		call_us += now_us() - t;
		if (rc) {
			fprintf(stderr, "nub run: call %u: %s (%s)\n", o->fn_id,
			        nub_sandbox_last_error(sb), nub_strerror(rc));
			return 1;
		}
		t = now_us();
		rc = nub_sandbox_restore(sb, NULL);
		restore_us += now_us() - t;
		if (rc) {
			fprintf(stderr, "nub run: restore: %s\n", nub_sandbox_last_error(sb));
			return 1;
		}
	}
	print_result(status, out, out_len);
	printf("time: call %.1f us, restore %.1f us (mean of %lu)\n", call_us / (double)o->repeat,
	       restore_us / (double)o->repeat, o->repeat);
	return 0;
}

int nub_cli_run(int argc, char **argv)
{
	static struct run_opts o;
	struct nub_sandbox_stats st;
	struct nub_error err = {0};
	struct nub_sandbox *sb;
	struct nub_config cfg;
	double t0, t1, t2;
	int rc;

	memset(&o, 0, sizeof(o));
	if (parse_opts(argc, argv, &o))
		return 2;
	nub_config_init(&cfg);
	cfg.backend = o.backend;
	cfg.backend_options = o.options;
	cfg.log_fn = o.quiet_log ? NULL : log_line;
	t0 = now_us();
	if (nub_sandbox_create_from_elf(&cfg, o.elf, &sb, &err)) {
		fprintf(stderr, "nub run: %s (%s)\n", err.msg, nub_strerror(err.code));
		return 1;
	}
	t1 = now_us();
	rc = nub_sandbox_evolve(sb);
	t2 = now_us();
	if (rc) {
		fprintf(stderr, "nub run: evolve: %s (%s)\n", nub_sandbox_last_error(sb),
		        nub_strerror(rc));
		nub_sandbox_free(sb);
		return 1;
	}
	printf("backend: %s\n", nub_sandbox_backend_name(sb));
	if (o.have_call && o.fn_name && nub_sandbox_function_id(sb, o.fn_name, &o.fn_id)) {
		fprintf(stderr, "nub run: the guest has no function named '%s'\n", o.fn_name);
		nub_sandbox_free(sb);
		return 1;
	}
	printf("time: create %.1f us, evolve %.1f us\n", t1 - t0, t2 - t1);
	rc = o.have_call ? run_calls(sb, &o) : 0;
	nub_sandbox_stats(sb, &st);
	printf("vm exits: %llu total over %llu calls and evolve\n", (unsigned long long)st.vm_exits,
	       (unsigned long long)st.calls);
	nub_sandbox_free(sb);
	return rc;
}
