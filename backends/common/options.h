/* SPDX-License-Identifier: MIT */
/*
 * A backend's option string (nub_vm_config.options): comma-separated
 * "key=value" items, which every backend in this tree reads the same way.
 * Pure: no state, no allocation; the items point into the string.
 */
#ifndef NUB_BACKENDS_OPTIONS_H
#define NUB_BACKENDS_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

struct nub_option {
	const char *key; /* the item, up to '=' (or all of it: no '=') */
	size_t key_len;
	const char *value; /* after the '='; NULL when the item has none */
	size_t value_len;
};

/* The item at *cursor, which then moves past it and its comma: 1, or 0
 * once the string (NULL or "" included) is used up. Empty items (",,")
 * come back with key_len 0. */
int nub_option_next(const char **cursor, struct nub_option *out);

/* 1 when the item's key is `key`, else 0. */
int nub_option_is(const struct nub_option *o, const char *key);

/* The item's value as a decimal number in [min, max]: 0 with *v set, or -1
 * for no value, a sign, a non-digit, an empty value or one out of range. */
int nub_option_u64(const struct nub_option *o, uint64_t min, uint64_t max, uint64_t *v);

#endif
