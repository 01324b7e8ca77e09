/* SPDX-License-Identifier: MIT */
/* Fuzz the snapshot file loader: any bytes. Half the inputs (those whose
 * hash's first byte is odd: the hash is overwritten, so the choice costs
 * the loader no byte it reads) get their trailing hash recomputed first,
 * so mutations also reach the field validation behind it and the page
 * tables' (every leaf checked, the tables rebuilt): a file that passes must
 * be one the host can use without ever leaving its memory (ASan), with the
 * host's pages and tables nub would build, and a refusal must say why.
 * Seeded with a real snapshot file when the guests are built. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <nub/nub.h>
#include <xxhash.h>

#include "image/snapshot.h"
#include "snapfile_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t nub_fuzz_seed(unsigned index, uint8_t *buf, size_t cap);

size_t nub_fuzz_seed(unsigned index, uint8_t *buf, size_t cap)
{
	(void)index;
	return snapfile_seed(buf, cap, NULL, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nub_snapshot *s = NULL;
	struct nub_error err = {0};
	uint8_t *copy = malloc(size ? size : 1);

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (size > 16 && (copy[size - 16] & 1)) {
		XXH128_canonical_t h;
		XXH128_canonicalFromHash(&h, XXH3_128bits(copy, size - 16));
		memcpy(copy + size - 16, h.digest, 16);
	}
	if (nub_snapshot_load_bytes(copy, size, "fuzz", &s, &err) == 0) {
		snapfile_check_loaded(s);
		nub_snapshot_unref(s);
	} else if (!err.msg[0]) {
		abort(); /* a refusal says why */
	}
	free(copy);
	return 0;
}
