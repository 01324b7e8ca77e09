/* SPDX-License-Identifier: MIT */
/* A backend whose table has an empty name. */
#include "fake_slots.h"

static const struct nub_backend_ops ops = {FAKE_OPS_INIT("")};
FAKE_ENTRY(ops)
