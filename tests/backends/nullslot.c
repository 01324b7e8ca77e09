/* SPDX-License-Identifier: MIT */
/* A backend with a required slot left NULL. */
#include "fake_slots.h"

static const struct nub_backend_ops ops = {FAKE_OPS_INIT("nullslot"), .run_vcpu = NULL};
FAKE_ENTRY(ops)
