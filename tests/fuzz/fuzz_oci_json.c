/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the JSON reader of OCI layouts (core/image/json.c): index.json and
 * manifests come from whatever tool wrote the directory. Parsing must end,
 * stay inside the input and its token array, and leave tokens whose
 * extents nest; the lookups oci.c makes must stay inside them too. The
 * input sits at the end of its own allocation, so ASan catches a read past
 * it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum { MAX = 256 };
	struct nub_json_tok tok[MAX];
	char *text = malloc(size ? size : 1), why[128], s[300];
	uint32_t n = 0;
	uint64_t v;

	if (!text)
		abort();
	memcpy(text, data, size);
	if (!nub_json_parse(text, size, tok, MAX, &n, why, sizeof(why))) {
		for (uint32_t i = 0; i < n; i++) {
			if (tok[i].start > tok[i].end || tok[i].end > size || tok[i].next > n ||
			    tok[i].next <= i)
				abort();
			(void)nub_json_string(text, tok, i, s, sizeof(s));
			(void)nub_json_u64(text, tok, i, &v);
		}
		uint32_t m = nub_json_member(text, tok, 0, "manifests");
		for (uint32_t i = 0; m && i < tok[m].size; i++) {
			uint32_t item = nub_json_item(tok, m, i);
			if (!item || item >= n)
				abort();
			(void)nub_json_member(text, tok, item, "digest");
		}
	}
	free(text);
	return 0;
}
