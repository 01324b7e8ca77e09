/* SPDX-License-Identifier: MIT */
/* A valid backend with every slot of the list set (the reserved ones
 * aside), each a do-nothing: test_hv_slots injects a fault into each in
 * turn, with no guest to run and nothing valgrind cannot follow. */
#include "fake_slots.h"

static const struct nub_backend_ops ops = {FAKE_OPS_FULL("full")};
FAKE_ENTRY(ops)
