/* SPDX-License-Identifier: MIT */
/* A guest built outside nub's tree against the installed guest SDK: greet
 * asks the host (host function 1) to shout the name, then answers
 * "hello, <NAME>". */
#include <nubguest.h>

#define HOST_SHOUT 1

static int32_t greet(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                     uint32_t *out_len)
{
	static const char prefix[] = "hello, ";
	const uint32_t plen = sizeof(prefix) - 1;
	uint32_t n = 0;

	if (out_cap < plen)
		return NUB_EFULL;
	memcpy(out, prefix, plen);
	int rc = nub_call_host(HOST_SHOUT, in, in_len, out + plen, out_cap - plen, &n);
	if (rc)
		return rc;
	*out_len = plen + n;
	nub_log(NUB_LOG_INFO, "greeted %u bytes", in_len);
	return 0;
}

void nub_guest_main(void)
{
	if (nub_register(1, "greet", greet))
		nub_abort(1, "cannot register greet");
}
