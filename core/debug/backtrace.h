/* SPDX-License-Identifier: MIT */
/*
 * The guest's call chain from its frame pointers (guests are built with
 * them): what fault and abort messages show, nub_sandbox_backtrace
 * returns, and gdb would unwind. The chain is guest memory, read through
 * the guest's own tables as untrusted data.
 */
#ifndef NUB_CORE_DEBUG_BACKTRACE_H
#define NUB_CORE_DEBUG_BACKTRACE_H

#include <stdint.h>

#include "memory/view.h"

/* pcs[0] = rip, then each caller's return address: the walk stops at a
 * frame it cannot read or that is misaligned, one that does not move up
 * the stack, a return address outside [lo, lo + size) (the guest ELF's
 * image), or after `cap` addresses. Returns how many it wrote (>= 1 when
 * cap >= 1). */
unsigned nub_backtrace_walk(const struct nub_view *v, uint64_t rip, uint64_t rbp, uint64_t lo,
                            uint64_t size, uint64_t *pcs, unsigned cap);

#endif
