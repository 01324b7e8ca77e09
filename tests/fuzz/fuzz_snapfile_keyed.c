/* SPDX-License-Identifier: MIT */
/* Fuzz the keyed snapshot file loader: any bytes, one fixed key. Half the
 * inputs (those whose MAC's first byte is odd: the MAC is overwritten, so
 * the choice costs the loader no byte it reads) get a valid MAC computed
 * with that key first, as if a key holder had written them, so mutations
 * also reach everything behind the MAC: the field validation, the page
 * tables' checks, the host's pages. The other half must all be refused as
 * not authenticated, whatever they hold. Seeded with a real keyed file of
 * hello.elf when the guests are built. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <nub/nub.h>

#include "image/snapshot.h"
#include "snapfile_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t nub_fuzz_seed(unsigned index, uint8_t *buf, size_t cap);

static const uint8_t key[NUB_SNAPSHOT_KEY_SIZE] = "the fuzz target's 32-byte key.";

size_t nub_fuzz_seed(unsigned index, uint8_t *buf, size_t cap)
{
	(void)index;
	return snapfile_seed(buf, cap, key, sizeof(key));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const size_t M = NUB_SNAPSHOT_MAC_SIZE;
	struct nub_snapshot *s = NULL;
	struct nub_error err = {0};
	uint8_t *copy = malloc(size ? size : 1);
	int signed_here = 0;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (size > M && (copy[size - M] & 1)) {
		if (nub_snapshot_mac(copy, size - M, key, sizeof(key), copy + size - M))
			abort();
		signed_here = 1;
	}
	int rc = nub_snapshot_load_bytes_keyed(copy, size, "fuzz", key, sizeof(key), &s, &err);
	if (rc == 0) {
		snapfile_check_loaded(s);
		nub_snapshot_unref(s);
	} else if (!err.msg[0]) {
		abort(); /* a refusal says why */
	}
	/* Not signed here, yet loaded: only a file that already carried the
	 * key's MAC may (the seed, or a mutation of the MAC bit that kept it). */
	if (rc == 0 && !signed_here) {
		uint8_t mac[NUB_SNAPSHOT_MAC_SIZE];
		if (nub_snapshot_mac(copy, size - M, key, sizeof(key), mac) ||
		    memcmp(mac, copy + size - M, M))
			abort();
	}
	free(copy);
	return 0;
}
