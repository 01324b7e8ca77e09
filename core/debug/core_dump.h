/* SPDX-License-Identifier: MIT */
/*
 * ELF core files of a guest, for `gdb guest.elf guest.core`: the registers
 * as Linux writes them for a process (NT_PRSTATUS, NT_PRFPREG), the
 * guest's memory as one PT_LOAD per run of pages a CPL3 guest can read,
 * and notes naming the guest (NT_PRPSINFO, NT_FILE for its ELF, NT_AUXV
 * whose AT_ENTRY lets gdb place the position-independent ELF, and a "NUB"
 * note holding why it stopped). Only guest memory goes in, read through
 * the guest's own tables: never a host byte, never a page the host owns
 * (page tables, exception stack, descriptor tables: supervisor pages).
 */
#ifndef NUB_CORE_DEBUG_CORE_DUMP_H
#define NUB_CORE_DEBUG_CORE_DUMP_H

#include <nub/error.h>
#include <nub/types.h>

#include "debug/stop.h"
#include "memory/view.h"

struct nub_core_image {
	const struct nub_view *view;
	const struct nub_stop *stop;
	nub_gva_t entry_gva; /* the ELF's entry point where it is loaded */
	nub_gva_t image_gva; /* the image's first byte and size, for NT_FILE */
	uint64_t image_size;
	const char *elf_path; /* the guest ELF; NULL: not known */
	const char *why;      /* the failure's message; NULL: none */
};

/* The notes a core carries, NUB_CORE_NOTE_NUB naming the failure. */
#define NUB_CORE_NOTE_NUB 1

/* Write the core of `img` to `fd` (a new, empty regular file; pages of
 * zeros are left as holes). NUB_EIO naming the errno when a write fails,
 * NUB_ENOMEM, or a code for tables that cannot be followed. */
int nub_core_write(int fd, const struct nub_core_image *img, struct nub_error *err);

#endif
