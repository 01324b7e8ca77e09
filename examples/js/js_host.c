/* SPDX-License-Identifier: MIT */
/*
 * nub-js: evaluate JavaScript in a nub sandbox.
 *   nub-js [--backend B] [--heap SIZE_MIB] [--timeout MS] [--guest js.elf]
 *          [--dir HOSTDIR[:GUESTPATH]] [--env NAME=VALUE] SCRIPT...
 * Each SCRIPT (a JavaScript source; `@FILE` reads it from FILE) is evaluated
 * by the guest's eval() in the warm engine; the sandbox is restored to the
 * snapshot taken after evolve before the next one, so scripts do not see
 * each other. Prints `=> RESULT` or `!! ERROR` per script. Host functions
 * reachable as host.call(name, text):
 *   "upper"  the text in upper case
 *   "len"    the text's length in bytes, as a decimal string
 * --dir gives the guest a read-only host directory (at GUESTPATH, default
 * "/"; scripts read it with sys.readFile), --env an environment value
 * (sys.getenv); both repeatable (at most 64 each).
 * Exit status: 0 when every script evaluated, 1 otherwise.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nub/guest_abi.h>
#include <nub/nub.h>

#include "js_abi.h"

static int32_t host_call(void *user, const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                         size_t *out_len)
{
	const uint8_t *nul = memchr(in, 0, in_len);
	(void)user;

	if (!nul)
		return NUB_EINVAL;
	const char *name = (const char *)in;
	const uint8_t *text = nul + 1;
	size_t tlen = in_len - (size_t)(text - in);
	if (!strcmp(name, "upper")) {
		if (tlen > cap)
			return NUB_EFULL;
		for (size_t i = 0; i < tlen; i++)
			out[i] = (uint8_t)toupper(text[i]);
		*out_len = tlen;
		return 0;
	}
	if (!strcmp(name, "len")) {
		int n = snprintf((char *)out, cap, "%zu", tlen);
		*out_len = n > 0 && (size_t)n < cap ? (size_t)n : 0;
		return 0;
	}
	return NUB_ENOTFOUND;
}

static void on_log(void *user, int level, const char *msg, size_t len)
{
	(void)user;
	(void)level;
	printf("[js] %.*s\n", (int)len, msg);
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

static int eval_one(struct nub_sandbox *sb, struct nub_snapshot *snap, const char *arg)
{
	static uint8_t out[64 * 1024];
	size_t len = 0, n = 0;
	int32_t status = 0;
	char *src = read_script(arg, &len);
	int rc, ok = 0;

	if (!src) {
		printf("!! cannot read %s\n", arg + 1);
		return 0;
	}
	rc = nub_sandbox_call(sb, JS_FN_EVAL, src, len, out, sizeof(out), &n, &status);
	free(src);
	if (rc)
		printf("!! %s (%s)\n", nub_sandbox_last_error(sb), nub_strerror(rc));
	else if (status == JS_STATUS_THROWN)
		printf("!! %.*s\n", (int)n, (const char *)out);
	else if (status)
		printf("!! status %d\n", status);
	else
		ok = printf("=> %.*s\n", (int)n, (const char *)out) > 0;
	/* Back to the warm engine, whatever the script did. */
	rc = nub_sandbox_restore(sb, snap);
	if (rc) {
		printf("!! restore: %s\n", nub_sandbox_last_error(sb));
		return 0;
	}
	return ok;
}

int main(int argc, char **argv)
{
	struct nub_config cfg;
	struct nub_error err = {0};
	struct nub_sandbox *sb = NULL;
	struct nub_snapshot *snap = NULL;
	const char *guest = NUB_JS_GUEST;
	static struct nub_dir dirs[64];
	static char *dir_host[64];
	static const char *envp[65];
	size_t ndirs = 0, nenv = 0;
	int i = 1, failed = 0, rc;

	nub_config_init(&cfg);
	cfg.heap_size = 16ull << 20;
	cfg.log_fn = on_log;
	cfg.log_level = NUB_LOG_INFO;
	cfg.call_timeout_us = 5ull * 1000 * 1000;
	for (; i + 1 < argc && !strncmp(argv[i], "--", 2); i += 2) {
		if (!strcmp(argv[i], "--backend"))
			cfg.backend = argv[i + 1];
		else if (!strcmp(argv[i], "--heap"))
			cfg.heap_size = strtoull(argv[i + 1], NULL, 10) << 20;
		else if (!strcmp(argv[i], "--timeout"))
			cfg.call_timeout_us = strtoull(argv[i + 1], NULL, 10) * 1000;
		else if (!strcmp(argv[i], "--guest"))
			guest = argv[i + 1];
		else if (!strcmp(argv[i], "--env") && nenv < 64)
			envp[nenv++] = argv[i + 1];
		else if (!strcmp(argv[i], "--dir") && ndirs < 64) {
			const char *colon = strrchr(argv[i + 1], ':');
			dirs[ndirs].host_path = argv[i + 1];
			dirs[ndirs].guest_path = "/";
			if (colon) {
				dir_host[ndirs] =
				        strndup(argv[i + 1], (size_t)(colon - argv[i + 1]));
				dirs[ndirs].host_path = dir_host[ndirs];
				dirs[ndirs].guest_path = colon + 1;
			}
			ndirs++;
		} else
			break;
	}
	cfg.dirs = dirs;
	cfg.dirs_count = ndirs;
	cfg.envp = nenv ? envp : NULL;
	if (i >= argc) {
		fprintf(stderr,
		        "usage: %s [--backend B] [--heap MiB] [--timeout MS] [--guest js.elf] "
		        "[--dir HOSTDIR[:GUESTPATH]] [--env NAME=VALUE] SCRIPT|@FILE...\n",
		        argv[0]);
		return 2;
	}
	rc = nub_sandbox_create_from_elf(&cfg, guest, &sb, &err);
	for (size_t k = 0; k < ndirs; k++)
		free(dir_host[k]); /* packed into the snapshot: no longer needed */
	if (rc) {
		fprintf(stderr, "%s: %s (%s)\n", guest, err.msg, nub_strerror(err.code));
		return 1;
	}
	rc = nub_sandbox_register(sb, JS_HOST_CALL, host_call, NULL);
	if (!rc)
		rc = nub_sandbox_evolve(sb);
	if (!rc)
		rc = nub_sandbox_snapshot(sb, &snap);
	if (rc) {
		fprintf(stderr, "%s: %s (%s)\n", guest, nub_sandbox_last_error(sb),
		        nub_strerror(rc));
		nub_sandbox_free(sb);
		return 1;
	}
	printf("backend: %s\n", nub_sandbox_backend_name(sb));
	for (; i < argc; i++)
		failed += !eval_one(sb, snap, argv[i]);
	nub_snapshot_unref(snap);
	nub_sandbox_free(sb);
	return failed ? 1 : 0;
}
