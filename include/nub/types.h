/* SPDX-License-Identifier: MIT */
/**
 * @file types.h
 * Address types. A guest-physical address, a guest-virtual address and a
 * host pointer are three different things; giving each its own name lets a
 * reader (and a reviewer) see which one a function expects.
 */
#ifndef NUB_TYPES_H
#define NUB_TYPES_H

#include <stdint.h>

/** Guest-physical address: an offset in the VM's physical address space. */
typedef uint64_t nub_gpa_t;
/** Guest-virtual address: translated by the guest's page tables. */
typedef uint64_t nub_gva_t;

/** Guest page size; nub maps guests with 4 KiB pages only. */
#define NUB_PAGE_SIZE  4096ull
#define NUB_PAGE_SHIFT 12

#endif
