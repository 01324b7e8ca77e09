/* SPDX-License-Identifier: MIT */
/* Smallest useful guest: one function that greets and logs. */
#include <nubguest.h>

#include "example_ids.h"

static int32_t greet(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                     uint32_t *out_len)
{
	static const char prefix[] = "hello, ";
	uint32_t plen = sizeof(prefix) - 1;
	if (in_len > out_cap || plen > out_cap - in_len)
		return NUB_EFULL;
	memcpy(out, prefix, plen);
	memcpy(out + plen, in, in_len);
	*out_len = plen + in_len;
	nub_log(NUB_LOG_INFO, "greeting %.*s (%u bytes)", (int)in_len, (const char *)in, in_len);
	return 0;
}

void nub_guest_main(void)
{
	if (nub_register(NUB_HELLO_GREET, "greet", greet))
		nub_abort(1, "hello: cannot register greet");
}
