/* SPDX-License-Identifier: MIT */
/**
 * @file export.h
 * NUB_API marks the functions libnub exports. libnub is built with hidden
 * visibility and a version script (core/libnub.map): exactly the functions
 * declared with NUB_API in include/nub/ are its ABI (tests/cli/exports.sh
 * checks the two lists are equal).
 */
#ifndef NUB_EXPORT_H
#define NUB_EXPORT_H

#define NUB_API __attribute__((visibility("default")))

#endif
