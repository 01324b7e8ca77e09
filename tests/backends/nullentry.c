/* SPDX-License-Identifier: MIT */
/* A backend whose entry point returns no table. */
#include <nub/backend.h>

NUB_BACKEND_EXPORT const struct nub_backend_ops *nub_backend_entry(void)
{
	return NULL;
}
