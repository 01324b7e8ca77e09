/* SPDX-License-Identifier: MIT */
/* A backend whose table claims to end before the required slots. */
#include "fake_slots.h"

static const struct nub_backend_ops ops = {
        FAKE_OPS_INIT("short"), .struct_size = offsetof(struct nub_backend_ops, run_vcpu)};
FAKE_ENTRY(ops)
