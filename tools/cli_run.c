/* SPDX-License-Identifier: MIT */
/*
 * `nub run GUEST.elf|SNAPSHOT-FILE [--backend B] [--options S] [--heap SIZE]
 * [--timeout MS] [--call ID|NAME ARG...] [--repeat N] [--quiet]`: create a
 * sandbox (from an ELF, or from a file `nub snapshot` or nub_snapshot_save
 * wrote), evolve it, call a guest function, restore, and print the result
 * with the time each step took.
 *
 * `nub snapshot GUEST.elf -o FILE|--oci DIR:TAG [the same options]`: create
 * and evolve, make the --call (N times with --repeat) as warm-up without
 * restoring, then save the sandbox's state to FILE (nub_snapshot_save) or
 * as TAG of the OCI layout DIR (nub_snapshot_save_oci); `nub run
 * oci:DIR:TAG` runs one from there.
 *
 * --heap sets the guest heap (nub_config.heap_size) in bytes, with an
 * optional K, M or G suffix (binary: 64K = 65536). --timeout sets the
 * per-call timeout (nub_config.call_timeout_us) in milliseconds; 0 means
 * none. A call that times out prints the error (NUB_ETIMEDOUT) and exits 1.
 * Malformed options exit 2 with a message naming the option.
 *
 * Arguments after the function id form the input bytes: `s:TEXT` (bytes of
 * TEXT), `i64:N` (8 bytes little-endian), `hex:0a0b..`; a bare word is
 * taken as text. For a typed function (one the guest published a signature
 * for) they are its values instead, each of the signature's type at its
 * position or `TYPE:VALUE` (cli_typed.c), and the result line is `status S,
 * TYPE VALUE`.
 *
 * After the result, `heap: W KiB of H KiB written after the call` gives
 * nub_sandbox_heap_usage() before the restore. --stats prints every counter
 * of nub_sandbox_stats at the end, `stats: NAME: VALUE` a line, then the
 * process's (nub_process_stats) as `process stats: NAME: VALUE`. Guest log
 * lines are `guest LEVEL (FUNCTION): TEXT`, FUNCTION the guest function
 * called (nub_log_line).
 *
 * --core-dir DIR makes a guest fault write an ELF core of the guest into
 * DIR (nub_config.core_dir; the error names the file).
 *
 * --gdb PORT serves gdb on 127.0.0.1:PORT (0: a free port), said on stderr
 * as `nub run: gdb: listening on 127.0.0.1:PORT`; the first call waits for
 * gdb and stops before the guest runs (nub_config.gdb_port).
 *
 * The result line is `status S, N bytes: ` followed by the bytes as a
 * quoted string when they are text (printable UTF-8, plus tab, newline and
 * carriage return; `"`, `\` and those controls are shown as C escapes), or
 * else as `hex 0a0b...` (the first 256 bytes), with ` (i64 V)` added for an
 * 8-byte result.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nub/guest_abi.h>
#include <nub/nub.h>

#include "cli.h"
#include "cli_typed.h"

#define RUN_IO_MAX   (64u << 10)
#define HEX_MAX      256u /* result bytes shown in a hex dump */
#define RUN_LIST_MAX 256u /* --arg, --env, --dir: each at most this many */

struct run_opts {
	const char *elf;
	const char *backend;
	const char *options;
	uint64_t heap_size; /* valid when have_heap */
	int have_heap;
	uint64_t timeout_us; /* 0: none */
	uint32_t fn_id;
	const char *fn_name; /* --call NAME: resolved after evolve */
	int have_call;
	unsigned long repeat;
	uint8_t in[RUN_IO_MAX];
	size_t in_len;
	/* The --call words as given, and the function's signature when the
	 * guest published one: then the words are typed values (cli_typed.c). */
	const char *words[NUB_TYPED_MAX_VALUES + 1];
	size_t nwords;
	const char *sig;
	int quiet_log;
	int stats;            /* --stats: every counter of the sandbox at the end */
	const char *core_dir; /* --core-dir: a fault writes the guest's core there */
	uint32_t gdb_port;    /* --gdb: nub_config.gdb_port */
	/* The guest's process (C library guests): --arg, --env, --cwd, --dir. */
	const char *args[RUN_LIST_MAX + 2]; /* args[0] = the ELF, NULL after the last */
	size_t nargs;
	const char *env[RUN_LIST_MAX + 1];
	size_t nenv;
	const char *cwd;
	struct nub_dir dirs[RUN_LIST_MAX];
	char *dir_host[RUN_LIST_MAX]; /* --dir's host part, when it had a ':' */
	size_t ndirs;
	const char *save; /* nub snapshot -o FILE, or --oci DIR:TAG (save_oci) */
	int save_oci;
	int snapshot_mode;
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
	size_t n = 0;
	const char *why = cli_hex_decode(h, o->in + o->in_len, sizeof(o->in) - o->in_len, &n);

	if (why && !strcmp(why, "too many bytes")) {
		fprintf(stderr, "nub run: arguments exceed %u bytes\n", RUN_IO_MAX);
		return -1;
	}
	if (why) {
		fprintf(stderr, "nub run: hex argument '%s': %s\n", h, why);
		return -1;
	}
	o->in_len += n;
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

/* The value of option argv[*i], or NULL (with a message) when it is
 * missing: the last word, or another option. */
static const char *opt_value(int argc, char **argv, int *i)
{
	const char *opt = argv[*i];

	if (*i + 1 >= argc || !strncmp(argv[*i + 1], "--", 2)) {
		fprintf(stderr, "nub run: %s needs a value\n", opt);
		return NULL;
	}
	return argv[++*i];
}

/* SIZE: decimal bytes with an optional K, M or G suffix (powers of 1024). */
static int parse_size(const char *opt, const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	if (*s < '0' || *s > '9')
		goto bad;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		goto too_large;
	switch (*end) {
	case 'K':
	case 'k':
		shift = 10;
		break;
	case 'M':
	case 'm':
		shift = 20;
		break;
	case 'G':
	case 'g':
		shift = 30;
		break;
	case '\0':
		break;
	default:
		goto bad;
	}
	if (shift && end[1])
		goto bad;
	if (v > UINT64_MAX >> shift)
		goto too_large;
	*out = (uint64_t)v << shift;
	return 0;
too_large:
	fprintf(stderr, "nub run: %s: '%s' is too large\n", opt, s);
	return -1;
bad:
	fprintf(stderr,
	        "nub run: %s: '%s' is not a size (bytes, optionally with a K, M or G suffix)\n",
	        opt, s);
	return -1;
}

/* MS: decimal milliseconds, 0 for no timeout; stored in microseconds. */
static int parse_timeout(const char *opt, const char *s, uint64_t *out_us)
{
	unsigned long long v = 0;
	char *end = NULL;

	errno = 0;
	if (*s >= '0' && *s <= '9')
		v = strtoull(s, &end, 10);
	if (!end || *end || (errno && errno != ERANGE)) {
		fprintf(stderr,
		        "nub run: %s: '%s' is not a number of milliseconds (0 = no timeout)\n", opt,
		        s);
		return -1;
	}
	if (errno == ERANGE || v > UINT64_MAX / 1000) {
		fprintf(stderr, "nub run: %s: '%s' is too large\n", opt, s);
		return -1;
	}
	*out_us = (uint64_t)v * 1000;
	return 0;
}

/* A repeatable option's value onto its list. */
static int list_add(const char *opt, const char **list, size_t *n, const char *v)
{
	if (*n == RUN_LIST_MAX) {
		fprintf(stderr, "nub run: more than %u %s options\n", RUN_LIST_MAX, opt);
		return -1;
	}
	list[(*n)++] = v;
	return 0;
}

/* --dir HOSTDIR[:GUESTPATH]; the guest path defaults to "/". */
static int parse_dir(struct run_opts *o, const char *v)
{
	const char *colon = strrchr(v, ':');
	struct nub_dir *d;

	if (o->ndirs == RUN_LIST_MAX) {
		fprintf(stderr, "nub run: more than %u --dir options\n", RUN_LIST_MAX);
		return -1;
	}
	d = &o->dirs[o->ndirs];
	d->host_path = v;
	d->guest_path = "/";
	if (colon) {
		char *host = strndup(v, (size_t)(colon - v));
		if (!host)
			return fprintf(stderr, "nub run: out of memory\n"), -1;
		o->dir_host[o->ndirs] = host;
		d->host_path = host;
		d->guest_path = colon + 1;
	}
	if (!*d->host_path || d->guest_path[0] != '/') {
		fprintf(stderr, "nub run: --dir '%s': want HOSTDIR[:/GUEST/PATH]\n", v);
		return -1;
	}
	o->ndirs++;
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: nub run GUEST.elf [--backend B] [--options S] [--heap SIZE] "
	        "[--timeout MS]\n"
	        "               [--dir HOSTDIR[:GUESTPATH]] [--env NAME=VALUE] [--arg S] "
	        "[--cwd PATH]\n"
	        "               [--call ID|NAME [ARG...]] [--repeat N] [--quiet] [--stats]\n"
	        "               [--core-dir DIR] [--gdb PORT]\n"
	        "  --core-dir DIR  a guest fault writes an ELF core of the guest into DIR\n"
	        "  --gdb PORT    serve gdb on 127.0.0.1:PORT (0: any); the first call waits\n"
	        "  --dir         a host directory the guest reads under GUESTPATH (default /)\n"
	        "  --env, --arg  the guest's environment and arguments (repeatable)\n"
	        "  --cwd PATH    the guest's working directory (default /)\n"
	        "  --options S   backend option string (backend-defined)\n"
	        "  --heap SIZE   guest heap in bytes, K/M/G suffixes (default 1M)\n"
	        "  --timeout MS  per-call timeout in milliseconds (default 0: none)\n"
	        "  ARG: s:TEXT | i64:N | hex:BYTES | TEXT\n");
}

static int parse_opts(int argc, char **argv, struct run_opts *o)
{
	const char *v;
	int i = 1;

	o->repeat = 1;
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--backend")) {
			if (!(o->backend = opt_value(argc, argv, &i)))
				return -1;
		} else if (!strcmp(a, "--options")) {
			if (!(o->options = opt_value(argc, argv, &i)))
				return -1;
		} else if (!strcmp(a, "--heap")) {
			if (!(v = opt_value(argc, argv, &i)) || parse_size(a, v, &o->heap_size))
				return -1;
			o->have_heap = 1;
		} else if (!strcmp(a, "--timeout")) {
			if (!(v = opt_value(argc, argv, &i)) || parse_timeout(a, v, &o->timeout_us))
				return -1;
		} else if (!strcmp(a, "--repeat")) {
			if (!(v = opt_value(argc, argv, &i)))
				return -1;
			o->repeat = strtoul(v, NULL, 10);
			if (!o->repeat)
				return fprintf(stderr, "nub run: --repeat needs N >= 1\n"), -1;
		} else if (!strcmp(a, "--dir")) {
			if (!(v = opt_value(argc, argv, &i)) || parse_dir(o, v))
				return -1;
		} else if (!strcmp(a, "--env")) {
			if (!(v = opt_value(argc, argv, &i)) || list_add(a, o->env, &o->nenv, v))
				return -1;
		} else if (!strcmp(a, "--arg")) {
			if (!(v = opt_value(argc, argv, &i)) ||
			    list_add(a, o->args + 1, &o->nargs, v))
				return -1;
		} else if (!strcmp(a, "--cwd")) {
			if (!(o->cwd = opt_value(argc, argv, &i)))
				return -1;
		} else if (o->snapshot_mode && !strcmp(a, "-o")) {
			if (!(o->save = opt_value(argc, argv, &i)))
				return -1;
		} else if (o->snapshot_mode && !strcmp(a, "--oci")) {
			if (!(o->save = opt_value(argc, argv, &i)))
				return -1;
			if (!strrchr(o->save, ':')) {
				fprintf(stderr, "nub snapshot: --oci: '%s' is not DIR:TAG\n",
				        o->save);
				return -1;
			}
			o->save_oci = 1;
		} else if (!strcmp(a, "--quiet")) {
			o->quiet_log = 1;
		} else if (!strcmp(a, "--stats")) {
			o->stats = 1;
		} else if (!strcmp(a, "--gdb")) {
			char *end;
			if (!(v = opt_value(argc, argv, &i)))
				return -1;
			unsigned long port = strtoul(v, &end, 10);
			if (!v[0] || *end || v[0] == '-' || port > 65535) {
				fprintf(stderr,
				        "nub run: --gdb %s: not a TCP port (0: any free port)\n",
				        v);
				return -1;
			}
			o->gdb_port = port ? (uint32_t)port : NUB_GDB_PORT_ANY;
		} else if (!strcmp(a, "--core-dir")) {
			if (!(o->core_dir = opt_value(argc, argv, &i)))
				return -1;
		} else if (!strcmp(a, "--call")) {
			char *end;
			if (!(v = opt_value(argc, argv, &i)))
				return -1;
			o->fn_id = (uint32_t)strtoul(v, &end, 0);
			if (*end || end == v)
				o->fn_name = v;
			o->have_call = 1;
			for (i++; i < argc && strncmp(argv[i], "--", 2); i++) {
				if (parse_arg(o, argv[i]))
					return -1;
				if (o->nwords <= NUB_TYPED_MAX_VALUES)
					o->words[o->nwords++] = argv[i];
			}
			i--;
		} else if (a[0] != '-' && !o->elf) {
			o->elf = a;
		} else {
			fprintf(stderr, "nub run: unexpected argument '%s'\n", a);
			return -1;
		}
	}
	if (!o->elf || (o->snapshot_mode && !o->save)) {
		if (o->snapshot_mode)
			fprintf(stderr, "usage: nub snapshot GUEST.elf -o FILE|--oci DIR:TAG [the "
			                "options of nub run; --call: warm-up calls before the "
			                "snapshot]\n");
		else
			usage();
		return -1;
	}
	return 0;
}

/* "guest LEVEL (FUNCTION): TEXT" */
static void log_line(void *user, const struct nub_log_line *l)
{
	static const char *const names[] = {"?", "error", "warn", "info", "debug", "trace"};

	(void)user;
	printf("guest %s%s%s%s: %.*s\n", names[l->level >= 1 && l->level <= 5 ? l->level : 0],
	       l->function ? " (" : "", l->function ? l->function : "", l->function ? ")" : "",
	       (int)l->len, l->msg);
}

/* Bytes of the UTF-8 character at p (n bytes left) if it is a printable
 * one, else 0: no C1 controls, surrogates, overlong forms or values past
 * U+10FFFF. */
static size_t utf8_char(const uint8_t *p, size_t n)
{
	static const uint32_t min[5] = {0, 0, 0xa0, 0x800, 0x10000}; /* by length */
	size_t len;
	uint32_t c;

	if (p[0] < 0x80)
		return 0; /* ASCII is handled by the caller */
	if ((p[0] & 0xe0) == 0xc0)
		len = 2, c = p[0] & 0x1f;
	else if ((p[0] & 0xf0) == 0xe0)
		len = 3, c = p[0] & 0x0f;
	else if ((p[0] & 0xf8) == 0xf0)
		len = 4, c = p[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if (c < min[len] || (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
		return 0;
	return len;
}

/* Text: printable ASCII or UTF-8, tab, newline, carriage return. */
static int is_text(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len;) {
		size_t n = 1;
		if (p[i] >= 0x80) {
			if (!(n = utf8_char(p + i, len - i)))
				return 0;
		} else if ((p[i] < 0x20 || p[i] == 0x7f) && p[i] != '\t' && p[i] != '\n' &&
		           p[i] != '\r') {
			return 0;
		}
		i += n;
	}
	return 1;
}

static void print_text(const uint8_t *p, size_t len)
{
	putchar('"');
	for (size_t i = 0; i < len; i++) {
		switch (p[i]) {
		case '"':
			fputs("\\\"", stdout);
			break;
		case '\\':
			fputs("\\\\", stdout);
			break;
		case '\t':
			fputs("\\t", stdout);
			break;
		case '\n':
			fputs("\\n", stdout);
			break;
		case '\r':
			fputs("\\r", stdout);
			break;
		default:
			putchar(p[i]);
		}
	}
	putchar('"');
}

static void print_result(int32_t status, const uint8_t *out, size_t len)
{
	printf("status %d, %zu bytes: ", status, len);
	if (is_text(out, len)) {
		print_text(out, len);
	} else {
		printf("hex ");
		for (size_t i = 0; i < len && i < HEX_MAX; i++)
			printf("%02x", out[i]);
		if (len > HEX_MAX)
			printf("... (%zu more bytes)", len - HEX_MAX);
		if (len == 8) {
			uint64_t v = 0;
			for (int i = 7; i >= 0; i--)
				v = v << 8 | out[i];
			printf(" (i64 %lld)", (long long)v);
		}
	}
	printf("\n");
}

/* One call: typed when the function has a signature (*typed set). 1 for
 * words that are not the values it takes (already reported). */
static int call_once(struct nub_sandbox *sb, const struct run_opts *o, uint8_t *out, size_t cap,
                     size_t *out_len, int32_t *status, struct nub_value *typed)
{
	static struct cli_pool pool;
	struct nub_value args[NUB_TYPED_MAX_VALUES + 1];

	if (!o->sig)
		return nub_sandbox_call(sb, o->fn_id, o->in, o->in_len, out, cap, out_len, status);
	pool.used = 0;
	if (cli_typed_args(o->sig, o->words, o->nwords, args, &pool))
		return 1; /* named by cli_typed_args */
	return nub_sandbox_call_typed(sb, o->fn_id, args, (uint32_t)o->nwords, typed, out, cap,
	                              status);
}

static int run_calls(struct nub_sandbox *sb, const struct run_opts *o)
{
	struct nub_value typed = {0};
	static uint8_t out[RUN_IO_MAX];
	struct nub_heap_usage heap = {0};
	double call_us = 0, restore_us = 0, t;
	int32_t status = 0;
	size_t out_len = 0;
	int rc;

	for (unsigned long i = 0; i < o->repeat; i++) {
		t = now_us();
		rc = call_once(sb, o, out, sizeof(out), &out_len, &status, &typed);
		call_us += now_us() - t;
		if (rc > 0)
			return 2;
		if (rc) {
			fprintf(stderr, "nub run: call %u: %s (%s)\n", o->fn_id,
			        nub_sandbox_last_error(sb), nub_strerror(rc));
			return 1;
		}
		if (i + 1 == o->repeat && nub_sandbox_heap_usage(sb, &heap))
			return fprintf(stderr, "nub run: %s\n", nub_sandbox_last_error(sb)), 1;
		t = now_us();
		rc = nub_sandbox_restore(sb, NULL);
		restore_us += now_us() - t;
		if (rc) {
			fprintf(stderr, "nub run: restore: %s\n", nub_sandbox_last_error(sb));
			return 1;
		}
	}
	if (o->sig)
		cli_typed_print(status, &typed);
	else
		print_result(status, out, out_len);
	printf("heap: %llu KiB of %llu KiB written after the call\n",
	       (unsigned long long)heap.written_bytes / 1024,
	       (unsigned long long)heap.heap_size / 1024);
	printf("time: call %.1f us, restore %.1f us (mean of %lu)\n", call_us / (double)o->repeat,
	       restore_us / (double)o->repeat, o->repeat);
	return 0;
}

/* The guest's process from --arg, --env, --cwd and --dir: argv[0] is the
 * ELF's path; no environment unless given (none of nub's own leaks in). */
static void config_process(struct run_opts *o, struct nub_config *cfg)
{
	if (o->nargs || o->nenv || o->cwd) {
		o->args[0] = o->elf;
		cfg->argv = o->args;
		cfg->envp = o->env;
		cfg->cwd = o->cwd;
	}
	cfg->dirs = o->dirs;
	cfg->dirs_count = o->ndirs;
}

static int run(struct run_opts *o);

static int run_mode(int argc, char **argv, int snapshot)
{
	static struct run_opts o;
	int rc = 2;

	memset(&o, 0, sizeof(o));
	o.snapshot_mode = snapshot;
	if (!parse_opts(argc, argv, &o))
		rc = run(&o);
	for (size_t i = 0; i < RUN_LIST_MAX; i++)
		free(o.dir_host[i]);
	return rc;
}

int nub_cli_run(int argc, char **argv)
{
	return run_mode(argc, argv, 0);
}

int nub_cli_snapshot(int argc, char **argv)
{
	return run_mode(argc, argv, 1);
}

int nub_cli_is_snapshot_file(const char *path)
{
	char magic[8] = {0};
	FILE *f = fopen(path, "rb");
	int yes = 0;

	if (f) {
		yes = fread(magic, 1, sizeof(magic), f) == sizeof(magic) &&
		      !memcmp(magic, "NUBSNAP", 7);
		fclose(f);
	}
	return yes;
}

/* "DIR:TAG" (split at the last ':'): the tag, DIR into dir; NULL without a
 * ':'. */
static const char *oci_ref_split(const char *ref, char *dir, size_t cap)
{
	const char *colon = strrchr(ref, ':');

	if (!colon)
		return NULL;
	snprintf(dir, cap, "%.*s", (int)(colon - ref), ref);
	return colon + 1;
}

/* nub snapshot: the warm-up call (if any) made, the sandbox saved as it is. */
static int save_snapshot(struct nub_sandbox *sb, const struct run_opts *o)
{
	static uint8_t out[RUN_IO_MAX];
	struct nub_snapshot *snap;
	struct nub_error err = {0};
	int32_t status = 0;
	size_t out_len = 0;
	uint8_t hash[16];
	int rc;

	struct nub_value typed;

	for (unsigned long i = 0; o->have_call && i < o->repeat; i++) {
		rc = call_once(sb, o, out, sizeof(out), &out_len, &status, &typed);
		if (rc > 0)
			return 2;
		if (rc) {
			fprintf(stderr, "nub snapshot: warm-up call %u: %s (%s)\n", o->fn_id,
			        nub_sandbox_last_error(sb), nub_strerror(rc));
			return 1;
		}
	}
	if (nub_sandbox_snapshot(sb, &snap)) {
		fprintf(stderr, "nub snapshot: %s\n", nub_sandbox_last_error(sb));
		return 1;
	}
	if (o->save_oci) {
		char dir[4096];
		const char *tag = oci_ref_split(o->save, dir, sizeof(dir));
		rc = nub_snapshot_save_oci(snap, dir, tag, &err);
	} else {
		rc = nub_snapshot_save(snap, o->save, &err);
	}
	nub_snapshot_hash(snap, hash);
	nub_snapshot_unref(snap);
	if (rc) {
		fprintf(stderr, "nub snapshot: %s (%s)\n", err.msg, nub_strerror(rc));
		return 1;
	}
	printf("snapshot: %s, hash ", o->save);
	for (int i = 0; i < 16; i++)
		printf("%02x", hash[i]);
	printf("\n");
	return 0;
}

/* `oci:DIR:TAG`: the tagged snapshot of an OCI layout, digests checked. */
static int create_from_oci(const struct nub_config *cfg, const char *ref, struct nub_sandbox **sb,
                           struct nub_error *err)
{
	struct nub_snapshot *snap = NULL;
	char dir[4096];
	const char *tag = oci_ref_split(ref, dir, sizeof(dir));
	int rc;

	if (!tag) {
		err->code = NUB_EINVAL;
		snprintf(err->msg, sizeof(err->msg), "oci:%s is not oci:DIR:TAG", ref);
		return NUB_EINVAL;
	}
	rc = nub_snapshot_load_oci(dir, tag, &snap, err);
	if (rc)
		return rc;
	rc = nub_sandbox_create_from_snapshot(cfg, snap, sb, err);
	nub_snapshot_unref(snap);
	return rc;
}

/* --stats: the sandbox's counters (nub_sandbox_stats), one per line. */
static void print_stats(const char *prefix, const struct nub_sandbox_stats *st)
{
	const struct {
		const char *name;
		uint64_t v;
	} rows[] = {
	        {"calls", st->calls},
	        {"host calls", st->host_calls},
	        {"vm exits", st->vm_exits},
	        {"copy-on-write faults", st->cow_faults},
	        {"restores", st->restores},
	        {"restores in place", st->restores_in_place},
	        {"bytes written by restores", st->restore_bytes},
	        {"pages kept by in-place restores", st->restore_kept_pages},
	        {"working-set pages copied ahead", st->prefetched_pages},
	        {"restores zeroing by madvise", st->restore_zero_madvise},
	        {"VMs taken from the pool", st->vms_recycled},
	        {"calls failed", st->call_errors},
	        {"  by a guest fault", st->errors_fault},
	        {"  by a guest abort", st->errors_abort},
	        {"  by the timeout", st->errors_timeout},
	        {"  by an interrupt or kill", st->errors_cancelled},
	        {"  by the backend", st->errors_backend},
	        {"ns in calls", st->call_ns},
	        {"ns in the longest call", st->call_ns_max},
	        {"ns in host functions", st->host_call_ns},
	        {"ns in the longest host function", st->host_call_ns_max},
	        {"ns in restores", st->restore_ns},
	        {"ns in the longest restore", st->restore_ns_max},
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		printf("%s: %s: %llu\n", prefix, rows[i].name, (unsigned long long)rows[i].v);
}

static int run(struct run_opts *o)
{
	struct nub_sandbox_stats st;
	struct nub_error err = {0};
	struct nub_sandbox *sb;
	struct nub_config cfg;
	double t0, t1, t2;
	int rc;

	nub_config_init(&cfg);
	config_process(o, &cfg);
	cfg.backend = o->backend;
	cfg.backend_options = o->options;
	if (o->have_heap)
		cfg.heap_size = o->heap_size;
	cfg.call_timeout_us = o->timeout_us;
	cfg.core_dir = o->core_dir;
	cfg.gdb_port = o->gdb_port;
	cfg.log_line_fn = o->quiet_log ? NULL : log_line;
	t0 = now_us();
	/* A snapshot file carries its own memory, process and files: the
	 * options that build those apply to ELFs only. */
	if (!strncmp(o->elf, "oci:", 4))
		rc = create_from_oci(&cfg, o->elf + 4, &sb, &err);
	else if (nub_cli_is_snapshot_file(o->elf))
		rc = nub_sandbox_create_from_file(&cfg, o->elf, &sb, &err);
	else
		rc = nub_sandbox_create_from_elf(&cfg, o->elf, &sb, &err);
	if (rc) {
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
	if (nub_sandbox_gdb_port(sb)) {
		fprintf(stderr, "nub run: gdb: listening on 127.0.0.1:%u\n",
		        nub_sandbox_gdb_port(sb));
		fflush(stdout);
	}
	if (o->have_call && o->fn_name && nub_sandbox_function_id(sb, o->fn_name, &o->fn_id)) {
		fprintf(stderr, "nub run: the guest has no function named '%s'\n", o->fn_name);
		nub_sandbox_free(sb);
		return 1;
	}
	if (o->have_call)
		o->sig = nub_sandbox_function_signature(sb, o->fn_id);
	printf("time: create %.1f us, evolve %.1f us\n", t1 - t0, t2 - t1);
	if (o->save)
		rc = save_snapshot(sb, o);
	else
		rc = o->have_call ? run_calls(sb, o) : 0;
	nub_sandbox_stats(sb, &st);
	printf("vm exits: %llu total over %llu calls and evolve\n", (unsigned long long)st.vm_exits,
	       (unsigned long long)st.calls);
	if (o->stats)
		print_stats("stats", &st);
	nub_sandbox_free(sb);
	if (o->stats) {
		/* Every sandbox of this process, freed ones included (one here). */
		nub_process_stats(&st);
		print_stats("process stats", &st);
	}
	return rc;
}
