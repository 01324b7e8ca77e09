/* SPDX-License-Identifier: MIT */
/*
 * A strict, bounded JSON reader for the OCI layout's index and manifests
 * (oci.c): files another tool (skopeo, a registry) may have written, so
 * untrusted. The text is split into tokens (objects, arrays, strings,
 * numbers, true/false/null) with their extents; nothing is allocated past
 * the token array the caller gives. Depth, token count and input size are
 * bounded; malformed text is refused with where and why.
 */
#ifndef NUB_CORE_IMAGE_JSON_H
#define NUB_CORE_IMAGE_JSON_H

#include <stddef.h>
#include <stdint.h>

enum nub_json_type {
	NUB_JSON_OBJECT,
	NUB_JSON_ARRAY,
	NUB_JSON_STRING,
	NUB_JSON_NUMBER,
	NUB_JSON_LITERAL
};

struct nub_json_tok {
	enum nub_json_type type;
	size_t start, end; /* bytes of the value (a string's without its quotes) */
	uint32_t size;     /* members of an object (key + value pairs), items of an array */
	uint32_t next;     /* the token after this value and everything inside it */
};

#define NUB_JSON_DEPTH_MAX 32u

/* Tokenise `len` bytes: 0 with *n tokens (token 0 the top value), or -1
 * with a message in why (cap bytes) naming the byte offset. */
int nub_json_parse(const char *text, size_t len, struct nub_json_tok *tok, uint32_t max,
                   uint32_t *n, char *why, size_t cap);

/* In object token `obj`: the value of member `key`, or 0 when absent (0 is
 * never a member's value). */
uint32_t nub_json_member(const char *text, const struct nub_json_tok *tok, uint32_t obj,
                         const char *key);

/* Item `i` of array token `arr`, or 0. */
uint32_t nub_json_item(const struct nub_json_tok *tok, uint32_t arr, uint32_t i);

/* Whether string token `t` equals `s` (escapes decoded); 0 for a non-string. */
int nub_json_string_is(const char *text, const struct nub_json_tok *tok, uint32_t t, const char *s);

/* String token `t` decoded into buf (cap bytes, NUL-terminated): 0, or -1
 * for a non-string, a \u escape beyond ASCII, or one that does not fit. */
int nub_json_string(const char *text, const struct nub_json_tok *tok, uint32_t t, char *buf,
                    size_t cap);

/* A non-negative integer number token: 0 with *v, or -1. */
int nub_json_u64(const char *text, const struct nub_json_tok *tok, uint32_t t, uint64_t *v);

#endif
