/* SPDX-License-Identifier: MIT */
/*
 * Guest ELF loading: x86-64 ELF64 static PIEs only. The loaded image is the
 * span of all PT_LOAD segments, page-aligned, with file contents placed and
 * .bss zeroed; RELATIVE relocations are applied when it is placed at a
 * load address. Every field of the file is untrusted.
 */
#ifndef NUB_CORE_ELF_H
#define NUB_CORE_ELF_H

#include <stddef.h>
#include <stdint.h>

#include <nub/error.h>
#include <nub/types.h>

struct nub_elf_segment {
	uint64_t offset; /* page-aligned offset within the image */
	uint64_t size;   /* page-rounded */
	uint64_t data;   /* bytes from offset that came from the file, page-rounded
	                    (the rest, .bss, is zero) */
	uint32_t perms;  /* NUB_VMEM_R | W | X */
};

struct nub_elf_reloc {
	uint64_t offset; /* within the image; 8 bytes fit */
	uint64_t addend; /* relative to the image start */
};

#define NUB_ELF_MAX_SEGMENTS 16
/* Largest image nub loads. */
#define NUB_ELF_MAX_IMAGE (1ull << 30)

struct nub_elf_image {
	uint8_t *bytes; /* owned; size bytes */
	uint64_t size;
	uint64_t entry_offset;
	uint32_t abi_version;
	/* Image range of the guest runtime's mutable state (hot note), written
	 * at init and on every call; 0 size when the ELF names none. */
	uint64_t hot_offset, hot_size;
	/* The guest's system-call entry (NUB_NOTE_TYPE_SYSCALL), when has_syscall. */
	uint64_t syscall_offset;
	int has_syscall;
	struct nub_elf_segment segs[NUB_ELF_MAX_SEGMENTS];
	unsigned nsegs;
	struct nub_elf_reloc *relocs; /* owned */
	size_t nrelocs;
	struct nub_symbols *syms; /* one reference; NULL: no symbol table */
};

/* Load from a file / from memory (not retained). NUB_ENOTFOUND or NUB_EIO
 * for the file, NUB_EELF for malformed or unsupported input, NUB_EABI for
 * a guest ABI version mismatch (both named). *img is zeroed on failure. */
int nub_elf_load_file(const char *path, struct nub_elf_image *img, struct nub_error *err);
int nub_elf_load_buffer(const void *buf, size_t len, struct nub_elf_image *img,
                        struct nub_error *err);

/* Copy the image to dst (cap >= img->size) as loaded at base_gva, applying
 * the relocations. */
int nub_elf_place(const struct nub_elf_image *img, nub_gva_t base_gva, void *dst, uint64_t cap,
                  struct nub_error *err);

/* Release what the image owns; idempotent, NULL-safe. */
void nub_elf_free(struct nub_elf_image *img);

#endif
