/* SPDX-License-Identifier: MIT */
/*
 * A minimal valid static-PIE guest ELF built in memory, so each malformed
 * variant in the tests is one tweak of a file the loader accepts:
 *   0x0000  ELF header, program headers, nub note (0x200), code (0x300 = entry)
 *   PT_LOAD R+X  [0x0000, 0x1000)
 *   PT_LOAD R+W  [0x1000, 0x2000) file, [0x1000, 0x4000) memory (.bss)
 *     0x1000 dynamic: DT_RELA 0x1100, DT_RELASZ, DT_RELAENT
 *     0x1100 RELATIVE relocations: at 0x1800 + 8 i, addend 0x300 + i
 *   PT_DYNAMIC, PT_NOTE
 * No cmocka dependency: the fuzz target includes this too.
 */
#ifndef NUB_TEST_ELF_BUILDER_H
#define NUB_TEST_ELF_BUILDER_H

#include <elf.h>
#include <stddef.h>
#include <stdint.h>

#define EB_FILE_SIZE  0x2000u
#define EB_MAX_RELOCS 64u

struct eb_elf {
	uint8_t bytes[EB_FILE_SIZE];
	size_t len;
};

/* Build with `nrelocs` (<= EB_MAX_RELOCS) relocations. */
void eb_build(struct eb_elf *e, unsigned nrelocs);

Elf64_Ehdr *eb_ehdr(struct eb_elf *e);
Elf64_Phdr *eb_phdr(struct eb_elf *e, unsigned index); /* 0 text, 1 data, 2 dyn, 3 note */
uint32_t *eb_note_desc(struct eb_elf *e);              /* the ABI version word */
Elf64_Rela *eb_rela(struct eb_elf *e, unsigned index);
Elf64_Dyn *eb_dyn(struct eb_elf *e, unsigned index); /* 0 RELA, 1 RELASZ, 2 RELAENT, 3 NULL */

#define EB_TEXT_FLAGS      (PF_R | PF_X)
#define EB_ENTRY           0x300u
#define EB_RELOC_AT(i)     (0x1800u + 8u * (i))
#define EB_RELOC_ADDEND(i) (0x300u + (i))

#endif
