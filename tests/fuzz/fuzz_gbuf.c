/* SPDX-License-Identifier: MIT */
/* Fuzz the host side of the guest buffers: random bytes as the contents of
 * a buffer window that ends exactly at the region's guard page, popped and
 * pushed until empty or refused. Any read or write outside the window hits
 * the guard page (or ASan). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "memory/gbuf.h"
#include "memory/shmem.h"

#define REGION (2 * 4096u)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[REGION];
	struct nub_shmem *m = NULL;
	struct nub_gbuf b;
	uint64_t win, len;

	if (size < 8 || nub_shmem_create(REGION, &m, NULL))
		return 0;
	win = size > REGION ? REGION : size;
	/* The window ends at the region's end: one byte too far faults. */
	memcpy((uint8_t *)nub_shmem_host(m) + REGION - win, data, win);
	nub_gbuf_init(&b, m, REGION - win, win, "fuzz buffer");
	for (int i = 0; i < 64; i++) {
		int rc = nub_gbuf_pop(&b, out, (i & 1) ? sizeof(out) : 16, &len, NULL);
		if (rc == 0 && len > sizeof(out))
			abort();
		if (rc && rc != NUB_ERANGE)
			break;
		if (i % 8 == 7 && nub_gbuf_push(&b, data, size % 32, NULL) != 0)
			break;
	}
	nub_shmem_unref(m);
	return 0;
}
