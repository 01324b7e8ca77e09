/* SPDX-License-Identifier: MIT */
/* A valid backend whose probe says it cannot run here. */
#include "fake_slots.h"

static int declines_probe(char *err, size_t cap)
{
	snprintf(err, cap, "no hypervisor in this test");
	return NUB_EPROBE;
}

static const struct nub_backend_ops ops = {FAKE_OPS_INIT("declines"), .probe = declines_probe};
FAKE_ENTRY(ops)
