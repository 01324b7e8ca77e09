/* SPDX-License-Identifier: MIT */
/* A valid backend that calls into libnub (nub_strerror, declared in the
 * error.h every backend includes): it must load wherever libnub is the
 * process's, e.g. in the nub CLI, which links libnub.so. Its run_vcpu
 * reports an exit reason no ABI version defines. */
#include <string.h>

#include "fake_slots.h"

static int calls_probe(char *err, size_t cap)
{
	snprintf(err, cap, "calls libnub: %s", nub_strerror(NUB_EPROBE));
	return 0;
}

static int bad_reason_run(struct nub_vm *vm, struct nub_exit *x, char *e, size_t n)
{
	(void)vm;
	(void)e;
	(void)n;
	memset(x, 0, sizeof(*x));
	x->reason = 0x77;
	return 0;
}

static const struct nub_backend_ops ops = {FAKE_OPS_INIT("callslibnub"), .probe = calls_probe,
                                           .run_vcpu = bad_reason_run};
FAKE_ENTRY(ops)
