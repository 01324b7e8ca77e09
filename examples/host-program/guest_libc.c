/* SPDX-License-Identifier: MIT */
/* The same guest as guest.c, written as ordinary hosted C against the C
 * library flavour of the installed guest SDK (musl): snprintf builds the
 * answer, printf goes to the host log. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nubguest.h>

#define HOST_SHOUT 1

static int32_t greet(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                     uint32_t *out_len)
{
	char *name = calloc(1, (size_t)in_len + 1);
	uint32_t n = 0;

	if (!name)
		return NUB_EFULL;
	int rc = nub_call_host(HOST_SHOUT, in, in_len, name, in_len, &n);
	if (!rc) {
		int len = snprintf((char *)out, out_cap, "hello, %.*s", (int)n, name);
		rc = len < 0 || (uint32_t)len >= out_cap ? NUB_EFULL : 0;
		*out_len = rc ? 0 : (uint32_t)len;
	}
	free(name);
	printf("greeted %u bytes\n", in_len);
	return rc;
}

void nub_guest_main(void)
{
	if (nub_register(1, "greet", greet))
		nub_abort(1, "cannot register greet");
}
