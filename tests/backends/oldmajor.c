/* SPDX-License-Identifier: MIT */
/* A backend built against a future major ABI. */
#include "fake_slots.h"

static const struct nub_backend_ops ops = {FAKE_OPS_INIT("oldmajor"), .abi_major = 2,
                                           .abi_minor = 7};
FAKE_ENTRY(ops)
