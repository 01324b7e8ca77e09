/* SPDX-License-Identifier: MIT */
/*
 * The host data a C library guest sees as its process, packed once when a
 * snapshot is built from an ELF (guest_abi.h has the formats): the
 * arguments block (argv, envp, cwd) and the file tree image (the host
 * directories of nub_config.dirs).
 */
#ifndef NUB_CORE_IMAGE_GUEST_DATA_H
#define NUB_CORE_IMAGE_GUEST_DATA_H

#include <stddef.h>
#include <stdint.h>

#include <nub/error.h>
#include <nub/nub.h>

/* A packed block, malloc'd; free with free(). size 0 (and bytes NULL)
 * when there is nothing to give the guest. */
struct nub_packed {
	uint8_t *bytes;
	uint64_t size;
};

/* cfg->argv, ->envp, ->cwd as a struct nub_args_header block; size 0 when
 * all three are NULL (the runtime then uses the same defaults: argv
 * { "nub-guest" }, no environment, cwd "/").
 * NUB_EINVAL naming the string or limit at fault; NUB_ENOMEM. */
int nub_args_pack(const struct nub_config *cfg, struct nub_packed *out, struct nub_error *err);

/* The dirs as one struct nub_fs_header image; size 0 when n is 0. Errors:
 * struct nub_dir in nub.h. */
int nub_files_pack(const struct nub_dir *dirs, size_t n, struct nub_packed *out,
                   struct nub_error *err);

#endif
