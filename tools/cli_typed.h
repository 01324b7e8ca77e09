/* SPDX-License-Identifier: MIT */
/* Typed arguments and results of `nub run --call` (cli_typed.c). */
#ifndef NUB_TOOLS_CLI_TYPED_H
#define NUB_TOOLS_CLI_TYPED_H

#include <stddef.h>
#include <stdint.h>

#include <nub/typed.h>

/* Where bytes values decoded from hex live until the call. */
struct cli_pool {
	uint8_t bytes[32u << 10];
	size_t used;
};

/* Values for a function of signature `sig` from the --call words: 0, or -1
 * with a message naming the word. str values point into the words. */
int cli_typed_args(const char *sig, const char *const *words, size_t n, struct nub_value *vals,
                   struct cli_pool *pool);

/* Hex digits h into dst (at most cap bytes), *n of them: NULL, or why not
 * ("hex of an odd length", "too many bytes", "not hex"). */
const char *cli_hex_decode(const char *h, uint8_t *dst, size_t cap, size_t *n);

/* "status S, TYPE VALUE". */
void cli_typed_print(int32_t status, const struct nub_value *v);

#endif
