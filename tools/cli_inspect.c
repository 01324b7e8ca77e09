/* SPDX-License-Identifier: MIT */
/*
 * `nub inspect SNAPSHOT-FILE|GUEST.elf [--backend B] [--heap SIZE]`: what a
 * snapshot offers and needs, before anyone creates a sandbox of it -- its
 * generation, hash and memory, the guest functions it publishes (id, name,
 * typed signature), and the host functions a sandbox of it must register.
 * A snapshot file is only loaded (nothing runs); a guest ELF is evolved on
 * the backend (its functions are known once its init ran) and its state
 * after init is shown.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nub/nub.h>

#include "cli.h"

static void print_signature(const char *sig)
{
	const char *gt = strchr(sig, '>');

	printf("(");
	for (const char *p = sig; p < gt; p++)
		printf("%s%s", p == sig ? "" : ", ", nub_type_name((uint8_t)*p));
	printf(") -> %s", nub_type_name((uint8_t)gt[1]));
}

/* More than a guest can publish (the runtime's NUB_GUEST_MAX_FNS). */
#define NUB_FUNCTIONS_SHOWN 256u

static int by_id(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static void print_snapshot(const char *path, const struct nub_snapshot *snap)
{
	uint8_t hash[16];
	uint32_t id, i, needed = 0;

	nub_snapshot_hash(snap, hash);
	printf("snapshot: %s\ngeneration: %llu\nmemory: %llu KiB\nhash: ", path,
	       (unsigned long long)nub_snapshot_generation(snap),
	       (unsigned long long)nub_snapshot_memory_size(snap) / 1024);
	for (i = 0; i < 16; i++)
		printf("%02x", hash[i]);
	printf("\nfunctions:\n");
	struct fn {
		uint32_t id;
		char name[NUB_FUNCTION_NAME_SIZE];
		const char *sig;
	} fns[NUB_FUNCTIONS_SHOWN];
	uint32_t n = 0;
	for (i = 0; n < NUB_FUNCTIONS_SHOWN &&
	            !nub_snapshot_function(snap, i, &fns[n].id, fns[n].name, &fns[n].sig);
	     i++)
		n++;
	qsort(fns, n, sizeof(fns[0]), by_id);
	for (i = 0; i < n; i++) {
		printf("  %5u  %-24s ", fns[i].id, fns[i].name);
		if (fns[i].sig)
			print_signature(fns[i].sig);
		else
			printf("bytes -> bytes");
		printf("\n");
	}
	if (!n)
		printf("  (none published)\n");
	printf("host functions needed:");
	for (id = 0; id < NUB_MAX_HOST_FNS; id++)
		if (nub_snapshot_needs_host_fn(snap, id))
			printf("%s %u", needed++ ? "," : "", id);
	printf("%s\n", needed ? "" : " none");
}

/* The guest's state after init: create, evolve, capture. */
static int snapshot_of_elf(const char *elf, const char *backend, uint64_t heap,
                           struct nub_snapshot **snap)
{
	struct nub_config cfg;
	struct nub_error err = {0};
	struct nub_sandbox *sb;
	int rc;

	nub_config_init(&cfg);
	cfg.backend = backend;
	if (heap)
		cfg.heap_size = heap;
	rc = nub_sandbox_create_from_elf(&cfg, elf, &sb, &err);
	if (rc) {
		fprintf(stderr, "nub inspect: %s (%s)\n", err.msg, nub_strerror(rc));
		return 1;
	}
	rc = nub_sandbox_evolve(sb);
	if (!rc)
		rc = nub_sandbox_snapshot(sb, snap);
	if (rc)
		fprintf(stderr, "nub inspect: %s: %s (%s)\n", elf, nub_sandbox_last_error(sb),
		        nub_strerror(rc));
	nub_sandbox_free(sb);
	return rc ? 1 : 0;
}

int nub_cli_inspect(int argc, char **argv)
{
	const char *path = NULL, *backend = NULL;
	struct nub_snapshot *snap = NULL;
	struct nub_error err = {0};
	uint64_t heap = 0;
	char *end;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--backend") && i + 1 < argc) {
			backend = argv[++i];
		} else if (!strcmp(argv[i], "--heap") && i + 1 < argc) {
			heap = strtoull(argv[++i], &end, 0);
			if (*end || !heap) {
				fprintf(stderr,
				        "nub inspect: --heap: '%s' is not a size in bytes\n",
				        argv[i]);
				return 2;
			}
		} else if (argv[i][0] != '-' && !path) {
			path = argv[i];
		} else {
			fprintf(stderr, "usage: nub inspect SNAPSHOT-FILE|GUEST.elf [--backend B] "
			                "[--heap BYTES]\n");
			return 2;
		}
	}
	if (!path) {
		fprintf(stderr, "usage: nub inspect SNAPSHOT-FILE|GUEST.elf [--backend B] "
		                "[--heap BYTES]\n");
		return 2;
	}
	if (nub_cli_is_snapshot_file(path)) {
		int rc = nub_snapshot_load(path, &snap, &err);
		if (rc) {
			fprintf(stderr, "nub inspect: %s (%s)\n", err.msg, nub_strerror(rc));
			return 1;
		}
	} else if (snapshot_of_elf(path, backend, heap, &snap)) {
		return 1;
	}
	print_snapshot(path, snap);
	nub_snapshot_unref(snap);
	return 0;
}
