/* SPDX-License-Identifier: MIT */
#include "options.h"

#include <string.h>

int nub_option_next(const char **cursor, struct nub_option *out)
{
	const char *o = *cursor;

	if (!o || !*o)
		return 0;
	const char *comma = strchr(o, ',');
	size_t len = comma ? (size_t)(comma - o) : strlen(o);
	const char *eq = memchr(o, '=', len);

	out->key = o;
	out->key_len = eq ? (size_t)(eq - o) : len;
	out->value = eq ? eq + 1 : NULL;
	out->value_len = eq ? len - out->key_len - 1 : 0;
	*cursor = comma ? comma + 1 : o + len;
	return 1;
}

int nub_option_is(const struct nub_option *o, const char *key)
{
	return strlen(key) == o->key_len && !memcmp(o->key, key, o->key_len);
}

int nub_option_u64(const struct nub_option *o, uint64_t min, uint64_t max, uint64_t *v)
{
	uint64_t n = 0;

	if (!o->value || !o->value_len)
		return -1;
	for (size_t i = 0; i < o->value_len; i++) {
		unsigned d = (unsigned)(o->value[i] - '0');
		if (d > 9 || n > (UINT64_MAX - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	if (n < min || n > max)
		return -1;
	*v = n;
	return 0;
}
