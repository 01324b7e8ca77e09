/* SPDX-License-Identifier: MIT */
/* A backend from a newer minor ABI: a longer table with slots this libnub
 * does not know. Core must accept it and copy only the part it knows. */
#include "fake_slots.h"

struct future_ops {
	struct nub_backend_ops base;
	void *unknown_slots[8];
};

static const struct future_ops ops = {
        .base = {FAKE_OPS_INIT("future"), .abi_minor = NUB_BACKEND_ABI_MINOR + 5,
                 .struct_size = sizeof(struct future_ops), .caps = NUB_CAP_HW_ISOLATION},
};

NUB_BACKEND_EXPORT const struct nub_backend_ops *nub_backend_entry(void)
{
	return &ops.base;
}
