/* SPDX-License-Identifier: MIT */
/* Fuzz the snapshot file loader: any bytes. Half the inputs (odd first
 * byte) get their trailing hash recomputed first, so mutations also reach
 * the field validation behind it: a file that passes must be one the host
 * can use without ever leaving its memory (ASan), and a refusal must say
 * why. Seeded with a real snapshot file when the guests are built. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nub/nub.h>
#include <xxhash.h>

#include "snapshot.h"

static volatile uint8_t fuzz_sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t nub_fuzz_seed(unsigned index, uint8_t *buf, size_t cap);

/* A snapshot of hello.elf (one-page heap) as file bytes, made once. */
size_t nub_fuzz_seed(unsigned index, uint8_t *buf, size_t cap)
{
	static uint8_t *file;
	static size_t len;
	static int tried; /* once: a failure here must not cost a sandbox per input */
	const char *dir = getenv("NUB_GUEST_DIR");

	(void)index;
	if (!tried && dir) {
		tried = 1;
		char elf[4096], path[] = "/tmp/nub-fuzz-snap-XXXXXX";
		struct nub_config cfg;
		struct nub_sandbox *sb = NULL;
		struct nub_snapshot *s = NULL;
		int fd = mkstemp(path);
		snprintf(elf, sizeof(elf), "%s/hello.elf", dir);
		nub_config_init(&cfg);
		cfg.backend = "mock";
		cfg.heap_size = 4096;
		if (fd >= 0 && !nub_sandbox_create_from_elf(&cfg, elf, &sb, NULL) &&
		    !nub_sandbox_evolve(sb) && !nub_sandbox_snapshot(sb, &s) &&
		    !nub_snapshot_save(s, path, NULL)) {
			FILE *f = fopen(path, "rb");
			if (f && !fseek(f, 0, SEEK_END) && (len = (size_t)ftell(f)) &&
			    !fseek(f, 0, SEEK_SET) && (file = malloc(len)) &&
			    fread(file, 1, len, f) != len) {
				free(file);
				file = NULL;
			}
			if (f)
				fclose(f);
		}
		if (fd >= 0) {
			close(fd);
			unlink(path);
		}
		nub_snapshot_unref(s);
		nub_sandbox_free(sb);
	}
	if (!file || cap < len)
		return 0;
	memcpy(buf, file, len);
	return len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nub_snapshot *s = NULL;
	struct nub_error err = {0};
	uint8_t *copy = malloc(size ? size : 1);

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (size > 16 && (copy[0] & 1)) {
		XXH128_canonical_t h;
		XXH128_canonicalFromHash(&h, XXH3_128bits(copy, size - 16));
		memcpy(copy + size - 16, h.digest, 16);
	}
	if (nub_snapshot_load_bytes(copy, size, "fuzz", &s, &err) == 0) {
		/* Whatever loads is consistent: its memory is all readable. */
		uint8_t sum = 0;
		const uint8_t *m = nub_shmem_host(s->mem);
		for (uint64_t i = 0; i < s->visible_size + s->pt_size; i += 4096)
			sum ^= m[i];
		fuzz_sink = sum; /* keeps the reads */
		nub_snapshot_unref(s);
	} else if (!err.msg[0]) {
		abort(); /* a refusal says why */
	}
	free(copy);
	return 0;
}
