/* SPDX-License-Identifier: MIT */
/*
 * Instruction counts, the stable figures: run under
 *   valgrind --tool=callgrind --instr-atstart=no bench_ir call|restore N
 * (bench/run.sh does). Only the N operations are instrumented. On KVM
 * (NUB_BENCH_BACKEND=kvm) the guest runs inside the VM, so "call" counts
 * exactly the host side of a round trip (core + backend + libc; the
 * kernel's part is a syscall, not counted). On the mock the native guest
 * vCPU process (a fork of this one) is not followed by callgrind's count of
 * this process: "call" is then the host side as well, plus the mock's
 * signal handling in the child when it is counted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <valgrind/callgrind.h>

#include <nub/nub.h>

#include "../guest/tests/test_guest_ids.h"

int main(int argc, char **argv)
{
	struct nub_config cfg;
	struct nub_error err = {0};
	struct nub_sandbox *sb;
	const char *dir = getenv("NUB_GUEST_DIR");
	char path[4096];
	uint8_t out[8];
	size_t n;
	int32_t st;
	int restore, count;

	if (argc != 3 || (strcmp(argv[1], "call") && strcmp(argv[1], "restore"))) {
		fprintf(stderr, "usage: bench_ir call|restore N\n");
		return 2;
	}
	restore = !strcmp(argv[1], "restore");
	count = atoi(argv[2]);
	snprintf(path, sizeof(path), "%s/test_guest.elf", dir ? dir : "build/guest");
	const char *backend = getenv("NUB_BENCH_BACKEND");
	nub_config_init(&cfg);
	cfg.backend = backend && backend[0] ? backend : "mock";
	if (nub_sandbox_create_from_elf(&cfg, path, &sb, &err) || nub_sandbox_evolve(sb)) {
		fprintf(stderr, "bench_ir: %s\n",
		        err.msg[0] ? err.msg : nub_sandbox_last_error(sb));
		return 1;
	}
	for (int i = 0; i < 10; i++) /* warm up: first-touch faults, lazy binding */
		nub_sandbox_call(sb, NUB_TG_ECHO, "x", 1, out, sizeof(out), &n, &st),
		        nub_sandbox_restore(sb, NULL);
	CALLGRIND_START_INSTRUMENTATION;
	for (int i = 0; i < count; i++) {
		if (restore)
			nub_sandbox_restore(sb, NULL);
		else
			nub_sandbox_call(sb, NUB_TG_ECHO, "x", 1, out, sizeof(out), &n, &st);
	}
	CALLGRIND_STOP_INSTRUMENTATION;
	nub_sandbox_free(sb);
	return 0;
}
