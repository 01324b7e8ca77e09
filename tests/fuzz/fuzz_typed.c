/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the typed-value decoder (include/nub/typed.h): its bytes come from
 * a guest (a typed call's result) or a host (a typed call's arguments, as
 * the guest runtime sees them), so any of them may be hostile. Decoding
 * must refuse or produce values that point inside the input and encode
 * back to exactly the same bytes. The input sits at the end of its own
 * allocation, so ASan catches a read past it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <nub/typed.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nub_value vals[NUB_TYPED_MAX_VALUES];
	uint8_t *buf = malloc(size ? size : 1), *again = malloc(size ? size : 1);
	uint32_t n = 0;
	size_t len = 0;

	if (!buf || !again)
		abort();
	memcpy(buf, data, size);
	if (!nub_typed_decode(buf, size, vals, NUB_TYPED_MAX_VALUES, &n)) {
		for (uint32_t i = 0; i < n; i++) {
			int fixed = nub_typed_fixed_size(vals[i].type);
			if (fixed == -2)
				abort();
			if (fixed == -1 &&
			    ((const uint8_t *)vals[i].v.buf.p < buf ||
			     (const uint8_t *)vals[i].v.buf.p + vals[i].v.buf.len > buf + size))
				abort();
		}
		if (nub_typed_encode(vals, n, again, size, &len) || len != size ||
		    memcmp(again, buf, size))
			abort();
	}
	free(again);
	free(buf);
	return 0;
}
