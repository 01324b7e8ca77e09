/* SPDX-License-Identifier: MIT */
/*
 * nub's trace hook exported as Chrome trace-event JSON (the format
 * chrome://tracing and https://ui.perfetto.dev read):
 *
 *   nub-trace OUT.json GUEST.elf FUNCTION [INPUT [CALLS]]
 *
 * creates a sandbox of GUEST.elf (backend from $NUB_BACKEND), registers
 * host function 1 (it upper-cases its input), calls FUNCTION with INPUT
 * ("hex:0a0b..." for bytes) CALLS times (default 1), restoring after each,
 * and writes every event: calls, host calls and restores as begin/end
 * pairs, each VM exit as an instant event named after its kind.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nub/nub.h>

struct trace {
	FILE *out;
	unsigned events;
	uint64_t t0;
};

static int32_t upper(void *user, const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                     size_t *out_len)
{
	(void)user;
	if (in_len > cap)
		return NUB_EFULL;
	for (size_t i = 0; i < in_len; i++)
		out[i] = (uint8_t)toupper(in[i]);
	*out_len = in_len;
	return 0;
}

/* A JSON string of at most 64 plain characters. */
static void json_name(FILE *f, const char *s)
{
	fputc('"', f);
	for (unsigned i = 0; s && s[i] && i < 64; i++)
		if (s[i] >= 0x20 && s[i] != '"' && s[i] != '\\')
			fputc(s[i], f);
	fputc('"', f);
}

static void on_event(void *user, const struct nub_trace_event *ev)
{
	static const char *const what[] = {"",          "call",    "call",    "host call",
	                                   "host call", "restore", "restore", "exit"};
	struct trace *t = user;
	char name[96];
	const char *ph = ev->kind == NUB_TRACE_EXIT ? "i" : (ev->kind % 2) ? "B" : "E";

	if (ev->kind < NUB_TRACE_CALL_BEGIN || ev->kind > NUB_TRACE_EXIT)
		return;
	if (!t->t0)
		t->t0 = ev->time_ns;
	if (ev->kind <= NUB_TRACE_CALL_END)
		snprintf(name, sizeof(name), "call %s", ev->name ? ev->name : "?");
	else if (ev->kind <= NUB_TRACE_HOST_CALL_END)
		snprintf(name, sizeof(name), "host function %u", ev->id);
	else if (ev->kind == NUB_TRACE_EXIT)
		snprintf(name, sizeof(name), "exit: %s", ev->name ? ev->name : "?");
	else
		snprintf(name, sizeof(name), "%s", what[ev->kind]);
	fprintf(t->out, "%s\n{\"name\":", t->events++ ? "," : "");
	json_name(t->out, name);
	fprintf(t->out, ",\"cat\":\"%s\",\"ph\":\"%s\",\"ts\":%.3f,\"pid\":1,\"tid\":1",
	        what[ev->kind], ph, (double)(ev->time_ns - t->t0) / 1000.0);
	if (ev->kind == NUB_TRACE_EXIT)
		fprintf(t->out, ",\"s\":\"t\"");
	else if (!(ev->kind % 2))
		fprintf(t->out, ",\"args\":{\"rc\":%d}", (int)ev->rc);
	fputc('}', t->out);
}

/* INPUT as bytes: text, or "hex:" and two digits a byte. */
static size_t input_bytes(const char *s, uint8_t *buf, size_t cap)
{
	size_t n = 0;

	if (strncmp(s, "hex:", 4)) {
		n = strlen(s) < cap ? strlen(s) : cap;
		memcpy(buf, s, n);
		return n;
	}
	for (s += 4; s[0] && s[1] && n < cap; s += 2) {
		unsigned v;
		if (sscanf(s, "%2x", &v) != 1)
			break;
		buf[n++] = (uint8_t)v;
	}
	return n;
}

static int run(struct nub_sandbox *sb, const char *fn, const uint8_t *in, size_t in_len,
               unsigned calls)
{
	uint8_t out[4096];
	size_t out_len;
	int32_t status;
	uint32_t id;

	if (nub_sandbox_function_id(sb, fn, &id)) {
		fprintf(stderr, "nub-trace: the guest has no function '%s'\n", fn);
		return 1;
	}
	for (unsigned i = 0; i < calls; i++) {
		int rc = nub_sandbox_call(sb, id, in, in_len, out, sizeof(out), &out_len, &status);
		if (rc)
			fprintf(stderr, "nub-trace: call %u: %s\n", i + 1,
			        nub_sandbox_last_error(sb));
		if (nub_sandbox_restore(sb, NULL)) {
			fprintf(stderr, "nub-trace: restore: %s\n", nub_sandbox_last_error(sb));
			return 1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct trace t = {0};
	struct nub_config cfg;
	struct nub_error err = {0};
	struct nub_sandbox *sb;
	uint8_t in[4096];
	size_t in_len;
	int rc = 1;

	if (argc < 4) {
		fprintf(stderr, "usage: nub-trace OUT.json GUEST.elf FUNCTION [INPUT [CALLS]]\n");
		return 2;
	}
	in_len = argc > 4 ? input_bytes(argv[4], in, sizeof(in)) : 0;
	t.out = fopen(argv[1], "w");
	if (!t.out) {
		perror(argv[1]);
		return 1;
	}
	fprintf(t.out, "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[");
	nub_config_init(&cfg);
	cfg.trace_fn = on_event;
	cfg.trace_user = &t;
	if (nub_sandbox_create_from_elf(&cfg, argv[2], &sb, &err)) {
		fprintf(stderr, "nub-trace: %s\n", err.msg);
		goto close;
	}
	if (nub_sandbox_register(sb, 1, upper, NULL) || nub_sandbox_evolve(sb))
		fprintf(stderr, "nub-trace: %s\n", nub_sandbox_last_error(sb));
	else
		rc = run(sb, argv[3], in, in_len,
		         argc > 5 ? (unsigned)strtoul(argv[5], NULL, 10) : 1);
	nub_sandbox_free(sb);
close:
	fprintf(t.out, "\n]}\n");
	if (fclose(t.out))
		rc = 1;
	if (!rc)
		printf("nub-trace: %u events in %s\n", t.events, argv[1]);
	return rc;
}
