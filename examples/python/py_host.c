/* SPDX-License-Identifier: MIT */
/*
 * nub-py: run Python in a nub sandbox.
 *   nub-py [--backend B] [--heap MIB] [--timeout MS] [--guest python.elf]
 *          [--stdlib DIR] [--dir HOSTDIR[:GUESTPATH]] [--env NAME=VALUE]
 *          SCRIPT...
 * Each SCRIPT (Python statements; `@FILE` reads them from FILE) runs in
 * the warm interpreter of the guest's snapshot; the sandbox is restored to
 * that snapshot before the next one, so scripts do not see each other.
 * What a script prints goes to stdout / stderr, then the repr() of its last
 * expression when that is not None (as the REPL shows it); a script that
 * raises prints its traceback on stderr. Host functions reachable as
 * nub.call(name, data) -> bytes:
 *   "upper"  the data in upper case
 *   "len"    the data's length in bytes, as a decimal string
 * --stdlib is the directory holding lib/python311.zip (default: the
 * build's); --dir gives the guest a read-only host directory (at
 * GUESTPATH, default PY_GUEST_APP "/app", first on sys.path: scripts import
 * its modules), --env an environment value (os.environ); both repeatable
 * (at most 64 each).
 * Exit status: 0 when every script ran without raising, 1 otherwise, 2 for
 * bad arguments.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nub/nub.h>

#include "py_abi.h"

#define MAX_DIRS 64

struct options {
	struct nub_config cfg;
	const char *guest, *stdlib;
	struct nub_dir dirs[MAX_DIRS + 1];
	char *dir_host[MAX_DIRS];
	const char *envp[MAX_DIRS + 1];
	size_t ndirs, nenv;
};

static int32_t host_call(void *user, const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                         size_t *out_len)
{
	const uint8_t *nul = memchr(in, 0, in_len);
	(void)user;

	if (!nul)
		return NUB_EINVAL;
	const char *name = (const char *)in;
	const uint8_t *data = nul + 1;
	size_t dlen = in_len - (size_t)(data - in);
	if (!strcmp(name, "upper")) {
		if (dlen > cap)
			return NUB_EFULL;
		for (size_t i = 0; i < dlen; i++)
			out[i] = (uint8_t)toupper(data[i]);
		*out_len = dlen;
		return 0;
	}
	if (!strcmp(name, "len")) {
		int n = snprintf((char *)out, cap, "%zu", dlen);
		*out_len = n > 0 && (size_t)n < cap ? (size_t)n : 0;
		return 0;
	}
	return NUB_ENOTFOUND;
}

static void on_log(void *user, int level, const char *msg, size_t len)
{
	(void)user;
	(void)level;
	fprintf(stderr, "[py] %.*s\n", (int)len, msg);
}

static char *read_script(const char *arg, size_t *len)
{
	if (arg[0] != '@') {
		*len = strlen(arg);
		return strdup(arg);
	}
	FILE *f = fopen(arg + 1, "rb");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t cap = 0, n = 0, got;
	do {
		if (cap - n < 4096) {
			char *p = realloc(buf, cap = cap * 2 + 4096);
			if (!p) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = p;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got);
	fclose(f);
	*len = n;
	return buf;
}

/* exec's records to the streams they came from. */
static void print_records(const uint8_t *buf, size_t n)
{
	size_t pos = 0, len;
	const char *text;
	int kind;

	while ((kind = py_record_next(buf, n, &pos, &text, &len)) > 0) {
		if (kind == PY_REC_STDOUT)
			fwrite(text, 1, len, stdout);
		else if (kind == PY_REC_VALUE)
			printf("%.*s\n", (int)len, text);
		else if (kind == PY_REC_TRUNCATED)
			fprintf(stderr, "nub-py: output truncated at the result size\n");
		else {
			fflush(stdout); /* keep the order the script wrote in */
			fwrite(text, 1, len, stderr);
		}
	}
	if (kind < 0)
		fprintf(stderr, "nub-py: malformed result from the guest\n");
	fflush(stdout);
}

static int run_one(struct nub_sandbox *sb, struct nub_snapshot *snap, const char *arg)
{
	static uint8_t out[1u << 20];
	size_t len = 0, n = 0;
	int32_t status = 0;
	char *src = read_script(arg, &len);
	int rc, ok = 0;

	if (!src) {
		fprintf(stderr, "nub-py: cannot read %s\n", arg + 1);
		return 0;
	}
	rc = nub_sandbox_call(sb, PY_FN_EXEC, src, len, out, sizeof(out), &n, &status);
	free(src);
	if (rc) {
		fprintf(stderr, "nub-py: %s (%s)\n", nub_sandbox_last_error(sb), nub_strerror(rc));
	} else {
		print_records(out, n);
		ok = status == 0;
		if (status && status != PY_GUEST_RAISED)
			fprintf(stderr, "nub-py: status %d\n", status);
	}
	/* Back to the warm interpreter, whatever the script did. */
	rc = nub_sandbox_restore(sb, snap);
	if (rc) {
		fprintf(stderr, "nub-py: restore: %s\n", nub_sandbox_last_error(sb));
		return 0;
	}
	return ok;
}

static int add_dir(struct options *o, const char *arg)
{
	const char *colon = strrchr(arg, ':');

	if (o->ndirs == MAX_DIRS)
		return -1;
	o->dirs[o->ndirs].host_path = arg;
	o->dirs[o->ndirs].guest_path = PY_GUEST_APP;
	if (colon) {
		o->dir_host[o->ndirs] = strndup(arg, (size_t)(colon - arg));
		if (!o->dir_host[o->ndirs])
			return -1;
		o->dirs[o->ndirs].host_path = o->dir_host[o->ndirs];
		o->dirs[o->ndirs].guest_path = colon + 1;
	}
	o->ndirs++;
	return 0;
}

/* A whole decimal number, or -1 with the option named. */
static int parse_number(const char *opt, const char *v, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long n;

	errno = 0;
	n = strtoull(v, &end, 10);
	if (!*v || *end || errno || n > max || v[0] == '-') {
		fprintf(stderr, "nub-py: %s: not a number up to %llu: '%s'\n", opt,
		        (unsigned long long)max, v);
		return -1;
	}
	*out = n;
	return 0;
}

/* Options; returns the index of the first script, or -1. */
static int parse_options(struct options *o, int argc, char **argv)
{
	uint64_t n;
	int i = 1;

	for (; i + 1 < argc && !strncmp(argv[i], "--", 2); i += 2) {
		const char *v = argv[i + 1];
		if (!strcmp(argv[i], "--backend"))
			o->cfg.backend = v;
		else if (!strcmp(argv[i], "--heap")) {
			if (parse_number("--heap", v, 1u << 20, &n))
				return -1;
			o->cfg.heap_size = n << 20;
		} else if (!strcmp(argv[i], "--timeout")) {
			if (parse_number("--timeout", v, UINT64_MAX / 1000, &n))
				return -1;
			o->cfg.call_timeout_us = n * 1000;
		} else if (!strcmp(argv[i], "--guest"))
			o->guest = v;
		else if (!strcmp(argv[i], "--stdlib"))
			o->stdlib = v;
		else if (!strcmp(argv[i], "--env") && o->nenv < MAX_DIRS)
			o->envp[o->nenv++] = v;
		else if (strcmp(argv[i], "--dir") || add_dir(o, v)) {
			fprintf(stderr, "nub-py: unknown option or too many: %s\n", argv[i]);
			return -1;
		}
	}
	return i < argc ? i : -1;
}

static void free_options(struct options *o)
{
	for (size_t k = 0; k < o->ndirs; k++)
		free(o->dir_host[k]);
}

/* The warm snapshot (init bounded by no timeout: its time depends on the
 * machine), then the sandbox the scripts run in, with --timeout. */
static int make_sandbox(struct options *o, struct nub_sandbox **sb, struct nub_snapshot **snap)
{
	struct nub_error err = {0};
	struct nub_sandbox *warm;
	uint64_t timeout_us = o->cfg.call_timeout_us;
	int rc;

	o->dirs[o->ndirs].host_path = o->stdlib;
	o->dirs[o->ndirs].guest_path = PY_GUEST_HOME;
	o->cfg.dirs = o->dirs;
	o->cfg.dirs_count = o->ndirs + 1;
	o->cfg.envp = o->nenv ? o->envp : NULL;
	o->cfg.call_timeout_us = 0;
	rc = nub_sandbox_create_from_elf(&o->cfg, o->guest, &warm, &err);
	if (rc) {
		fprintf(stderr, "nub-py: %s: %s (%s)\n", o->guest, err.msg, nub_strerror(err.code));
		return 1;
	}
	rc = nub_sandbox_evolve(warm);
	if (!rc)
		rc = nub_sandbox_snapshot(warm, snap);
	if (rc) {
		fprintf(stderr, "nub-py: %s: %s (%s)\n", o->guest, nub_sandbox_last_error(warm),
		        nub_strerror(rc));
		nub_sandbox_free(warm);
		return 1;
	}
	nub_sandbox_free(warm);
	o->cfg.call_timeout_us = timeout_us;
	rc = nub_sandbox_create_from_snapshot(&o->cfg, *snap, sb, &err);
	if (rc) {
		fprintf(stderr, "nub-py: %s (%s)\n", err.msg, nub_strerror(err.code));
		goto unref_snapshot;
	}
	rc = nub_sandbox_register(*sb, PY_HOST_CALL, host_call, NULL);
	if (!rc)
		rc = nub_sandbox_evolve(*sb);
	if (rc) {
		fprintf(stderr, "nub-py: %s (%s)\n", nub_sandbox_last_error(*sb), nub_strerror(rc));
		nub_sandbox_free(*sb);
		goto unref_snapshot;
	}
	return 0;
unref_snapshot:
	nub_snapshot_unref(*snap);
	return 1;
}

int main(int argc, char **argv)
{
	static struct options o;
	struct nub_sandbox *sb = NULL;
	struct nub_snapshot *snap = NULL;
	int i, failed = 0;

	nub_config_init(&o.cfg);
	o.cfg.heap_size = 64ull << 20;
	/* Scripts and their output up to 1 MiB (run_one's result buffer). */
	o.cfg.input_size = 1u << 20;
	o.cfg.output_size = (1u << 20) + 4096;
	o.cfg.log_fn = on_log;
	o.cfg.log_level = NUB_LOG_INFO;
	o.cfg.call_timeout_us = 5ull * 1000 * 1000;
	o.guest = NUB_PY_GUEST;
	o.stdlib = NUB_PY_STDLIB;
	i = parse_options(&o, argc, argv);
	if (i < 0) {
		fprintf(stderr,
		        "usage: %s [--backend B] [--heap MiB] [--timeout MS] [--guest python.elf] "
		        "[--stdlib DIR] [--dir HOSTDIR[:GUESTPATH]] [--env NAME=VALUE] "
		        "SCRIPT|@FILE...\n",
		        argv[0]);
		free_options(&o);
		return 2;
	}
	if (make_sandbox(&o, &sb, &snap)) {
		free_options(&o);
		return 1;
	}
	free_options(&o); /* the tree is packed into the snapshot */
	for (; i < argc; i++)
		failed += !run_one(sb, snap, argv[i]);
	nub_snapshot_unref(snap);
	nub_sandbox_free(sb);
	return failed ? 1 : 0;
}
