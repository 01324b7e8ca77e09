/* SPDX-License-Identifier: MIT */
#include "elf_builder.h"

#include <string.h>

#include <nub/guest_abi.h>

#define PHNUM 4

Elf64_Ehdr *eb_ehdr(struct eb_elf *e)
{
	return (Elf64_Ehdr *)(void *)e->bytes;
}

Elf64_Phdr *eb_phdr(struct eb_elf *e, unsigned index)
{
	return (Elf64_Phdr *)(void *)(e->bytes + sizeof(Elf64_Ehdr)) + index;
}

uint32_t *eb_note_desc(struct eb_elf *e)
{
	return (uint32_t *)(void *)(e->bytes + 0x200 + 12 + 4);
}

Elf64_Dyn *eb_dyn(struct eb_elf *e, unsigned index)
{
	return (Elf64_Dyn *)(void *)(e->bytes + 0x1000) + index;
}

Elf64_Rela *eb_rela(struct eb_elf *e, unsigned index)
{
	return (Elf64_Rela *)(void *)(e->bytes + 0x1100) + index;
}

static void set_phdr(struct eb_elf *e, unsigned i, uint32_t type, uint32_t flags, uint64_t off,
                     uint64_t filesz, uint64_t memsz)
{
	Elf64_Phdr *p = eb_phdr(e, i);

	p->p_type = type;
	p->p_flags = flags;
	p->p_offset = off;
	p->p_vaddr = p->p_paddr = off;
	p->p_filesz = filesz;
	p->p_memsz = memsz;
	p->p_align = type == PT_LOAD ? 0x1000 : 8;
}

void eb_build(struct eb_elf *e, unsigned nrelocs)
{
	Elf64_Ehdr *h = eb_ehdr(e);
	uint32_t note[3] = {sizeof(NUB_NOTE_NAME), 4, NUB_NOTE_TYPE_ABI};

	if (nrelocs > EB_MAX_RELOCS)
		nrelocs = EB_MAX_RELOCS;
	memset(e, 0, sizeof(*e));
	e->len = EB_FILE_SIZE;
	memcpy(h->e_ident, ELFMAG, SELFMAG);
	h->e_ident[EI_CLASS] = ELFCLASS64;
	h->e_ident[EI_DATA] = ELFDATA2LSB;
	h->e_ident[EI_VERSION] = EV_CURRENT;
	h->e_type = ET_DYN;
	h->e_machine = EM_X86_64;
	h->e_version = EV_CURRENT;
	h->e_entry = EB_ENTRY;
	h->e_phoff = sizeof(Elf64_Ehdr);
	h->e_ehsize = sizeof(Elf64_Ehdr);
	h->e_phentsize = sizeof(Elf64_Phdr);
	h->e_phnum = PHNUM;
	set_phdr(e, 0, PT_LOAD, EB_TEXT_FLAGS, 0, 0x1000, 0x1000);
	set_phdr(e, 1, PT_LOAD, PF_R | PF_W, 0x1000, 0x1000, 0x3000);
	set_phdr(e, 2, PT_DYNAMIC, PF_R | PF_W, 0x1000, 4 * sizeof(Elf64_Dyn),
	         4 * sizeof(Elf64_Dyn));
	set_phdr(e, 3, PT_NOTE, PF_R, 0x200, 20, 20);
	memcpy(e->bytes + 0x200, note, sizeof(note));
	memcpy(e->bytes + 0x20c, NUB_NOTE_NAME, sizeof(NUB_NOTE_NAME));
	*eb_note_desc(e) = NUB_GUEST_ABI_VERSION;
	e->bytes[EB_ENTRY] = 0xf4; /* hlt */
	*eb_dyn(e, 0) = (Elf64_Dyn){.d_tag = DT_RELA, .d_un.d_ptr = 0x1100};
	*eb_dyn(e, 1) = (Elf64_Dyn){.d_tag = DT_RELASZ, .d_un.d_val = nrelocs * sizeof(Elf64_Rela)};
	*eb_dyn(e, 2) = (Elf64_Dyn){.d_tag = DT_RELAENT, .d_un.d_val = sizeof(Elf64_Rela)};
	*eb_dyn(e, 3) = (Elf64_Dyn){.d_tag = DT_NULL};
	for (unsigned i = 0; i < nrelocs; i++)
		*eb_rela(e, i) = (Elf64_Rela){.r_offset = EB_RELOC_AT(i),
		                              .r_info = ELF64_R_INFO(0, R_X86_64_RELATIVE),
		                              .r_addend = EB_RELOC_ADDEND(i)};
	e->bytes[0x1010 + 4 * sizeof(Elf64_Dyn)] = 0x5a; /* data byte after the dynamic array */
}
