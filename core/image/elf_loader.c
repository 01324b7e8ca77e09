/* SPDX-License-Identifier: MIT */
/*
 * The ELF and program headers are validated by hand before libelf is asked
 * anything, so that no field libelf trusts can be out of range; libelf then
 * serves the program headers in native form.
 */
#include "image/elf_loader.h"

#include <elf.h>
#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vmem.h"
#include <nub/guest_abi.h>

#include "error_internal.h"
#include "image/symbols.h"
#include "memory/view.h"

#define PAGE      NUB_PAGE_SIZE
#define MAX_PHDRS 64
#define MAX_FILE  (256ull << 20)

struct loader {
	const uint8_t *file;
	size_t len;
	Elf *elf;
	GElf_Phdr ph[MAX_PHDRS];
	size_t nph;
	uint64_t min_vaddr;
	uint64_t hot_lo, hot_hi; /* vaddrs from the hot note, unchecked */
	int has_hot;
	uint64_t syscall_va; /* from the system-call note, unchecked */
	int has_syscall;
	struct nub_elf_image *img;
	struct nub_error *err;
};

static int bad(struct loader *ld, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(struct loader *ld, const char *fmt, ...)
{
	va_list ap;
	char msg[NUB_ERROR_MSG_MAX];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return nub_error_set(ld->err, NUB_EELF, "guest ELF: %s", msg);
}

static int in_file(const struct loader *ld, uint64_t off, uint64_t len)
{
	return off <= ld->len && len <= ld->len - off;
}

static int check_ehdr(struct loader *ld, const Elf64_Ehdr *eh)
{
	if (ld->len < EI_NIDENT || memcmp(ld->file, ELFMAG, SELFMAG))
		return bad(ld, "not an ELF file");
	if (ld->len < sizeof(*eh))
		return bad(ld, "truncated ELF header (%zu bytes)", ld->len);
	if (eh->e_ident[EI_CLASS] != ELFCLASS64)
		return bad(ld, "class %u, need ELF64", eh->e_ident[EI_CLASS]);
	if (eh->e_ident[EI_DATA] != ELFDATA2LSB)
		return bad(ld, "not little-endian");
	if (eh->e_machine != EM_X86_64)
		return bad(ld, "machine %u, need x86-64 (%u)", eh->e_machine, EM_X86_64);
	if (eh->e_type == ET_EXEC)
		return bad(ld, "ET_EXEC: the guest must be a static PIE (-static-pie)");
	if (eh->e_type != ET_DYN)
		return bad(ld, "type %u is not a static PIE (ET_DYN)", eh->e_type);
	if (eh->e_phnum == 0 || eh->e_phnum > MAX_PHDRS || eh->e_phentsize != sizeof(Elf64_Phdr))
		return bad(ld, "%u program headers of %u bytes (need 1..%d of %zu)", eh->e_phnum,
		           eh->e_phentsize, MAX_PHDRS, sizeof(Elf64_Phdr));
	if (!in_file(ld, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr)))
		return bad(ld, "program headers at 0x%llx beyond file size 0x%zx",
		           (unsigned long long)eh->e_phoff, ld->len);
	return 0;
}

static int read_phdrs(struct loader *ld, size_t n)
{
	ld->elf = elf_memory((char *)ld->file, ld->len);
	if (!ld->elf)
		return bad(ld, "libelf: %s", elf_errmsg(-1));
	for (size_t i = 0; i < n; i++)
		if (!gelf_getphdr(ld->elf, (int)i, &ld->ph[i]))
			return bad(ld, "program header %zu: %s", i, elf_errmsg(-1));
	ld->nph = n;
	return 0;
}

static uint32_t perms_of(uint32_t flags)
{
	return (flags & PF_R ? NUB_VMEM_R : 0) | (flags & PF_W ? NUB_VMEM_W : 0) |
	       (flags & PF_X ? NUB_VMEM_X : 0);
}

/* Check every PT_LOAD and compute the image span. */
static int check_loads(struct loader *ld, uint64_t *span)
{
	uint64_t lo = UINT64_MAX, hi = 0;
	unsigned loads = 0;

	for (size_t i = 0; i < ld->nph; i++) {
		const GElf_Phdr *p = &ld->ph[i];
		uint64_t end;
		if (p->p_type == PT_INTERP)
			return bad(ld, "has an interpreter (PT_INTERP): not a static PIE");
		if (p->p_type != PT_LOAD)
			continue;
		if (p->p_filesz > p->p_memsz)
			return bad(ld, "segment %zu: p_filesz 0x%llx > p_memsz 0x%llx", i,
			           (unsigned long long)p->p_filesz, (unsigned long long)p->p_memsz);
		if (!in_file(ld, p->p_offset, p->p_filesz))
			return bad(
			        ld,
			        "segment %zu: p_offset 0x%llx + p_filesz 0x%llx beyond file size "
			        "0x%zx",
			        i, (unsigned long long)p->p_offset, (unsigned long long)p->p_filesz,
			        ld->len);
		if (__builtin_add_overflow(p->p_vaddr, p->p_memsz, &end) || end > UINT64_MAX - PAGE)
			return bad(ld, "segment %zu: size 0x%llx overflows", i,
			           (unsigned long long)p->p_memsz);
		if (p->p_memsz == 0)
			continue;
		if (++loads > NUB_ELF_MAX_SEGMENTS)
			return bad(ld, "more than %d loadable segments", NUB_ELF_MAX_SEGMENTS);
		lo = p->p_vaddr < lo ? p->p_vaddr : lo;
		hi = end > hi ? end : hi;
	}
	if (!loads)
		return bad(ld, "no loadable segment");
	ld->min_vaddr = lo & ~(PAGE - 1);
	*span = ((hi + PAGE - 1) & ~(PAGE - 1)) - ld->min_vaddr;
	if (*span > NUB_ELF_MAX_IMAGE)
		return bad(ld, "image spans 0x%llx bytes (limit 0x%llx)", (unsigned long long)*span,
		           (unsigned long long)NUB_ELF_MAX_IMAGE);
	return 0;
}

/* Place segments; two segments may not share a page (their permissions
 * would have to merge, and a writable page must never become executable). */
static int place_loads(struct loader *ld)
{
	struct nub_elf_image *img = ld->img;

	for (size_t i = 0; i < ld->nph; i++) {
		const GElf_Phdr *p = &ld->ph[i];
		if (p->p_type != PT_LOAD || p->p_memsz == 0)
			continue;
		uint64_t start = (p->p_vaddr & ~(PAGE - 1)) - ld->min_vaddr;
		uint64_t end = ((p->p_vaddr + p->p_memsz + PAGE - 1) & ~(PAGE - 1)) - ld->min_vaddr;
		for (unsigned s = 0; s < img->nsegs; s++)
			if (start < img->segs[s].offset + img->segs[s].size &&
			    img->segs[s].offset < end)
				return bad(ld, "segment %zu overlaps another loadable segment", i);
		uint64_t data =
		        ((p->p_vaddr + p->p_filesz + PAGE - 1) & ~(PAGE - 1)) - ld->min_vaddr;
		img->segs[img->nsegs++] = (struct nub_elf_segment){
		        start, end - start, (data > end ? end : data) - start,
		        perms_of(p->p_flags)};
		memcpy(img->bytes + (p->p_vaddr - ld->min_vaddr), ld->file + p->p_offset,
		       p->p_filesz);
	}
	return 0;
}

/* The hot note's descriptor holds two 64-bit offsets relative to the
 * descriptor's own address (link-time constants, so no relocation). */
static void read_hot_note(struct loader *ld, const GElf_Phdr *p, uint64_t desc_off)
{
	int64_t rel[2];
	uint64_t desc_vaddr = p->p_vaddr + (desc_off - p->p_offset);

	memcpy(rel, ld->file + desc_off, sizeof(rel));
	ld->hot_lo = desc_vaddr + (uint64_t)rel[0];
	ld->hot_hi = desc_vaddr + (uint64_t)rel[1];
	ld->has_hot = 1;
}

/* The system-call note: one 64-bit offset from the descriptor's address. */
static void read_syscall_note(struct loader *ld, const GElf_Phdr *p, uint64_t desc_off)
{
	int64_t rel;
	uint64_t desc_vaddr = p->p_vaddr + (desc_off - p->p_offset);

	memcpy(&rel, ld->file + desc_off, sizeof(rel));
	ld->syscall_va = desc_vaddr + (uint64_t)rel;
	ld->has_syscall = 1;
}

/* 1 when the ABI note was found; also picks up the optional hot and
 * system-call notes. */
static int find_note(struct loader *ld)
{
	int found = 0;

	for (size_t i = 0; i < ld->nph; i++) {
		const GElf_Phdr *p = &ld->ph[i];
		uint64_t off, end;
		if (p->p_type != PT_NOTE)
			continue;
		if (!in_file(ld, p->p_offset, p->p_filesz))
			return bad(ld, "note segment %zu beyond the file", i);
		for (off = p->p_offset, end = p->p_offset + p->p_filesz; end - off >= 12;) {
			uint32_t h[3];
			memcpy(h, ld->file + off, 12);
			uint64_t name_sz = ((uint64_t)h[0] + 3) & ~3ull;
			uint64_t desc_sz = ((uint64_t)h[1] + 3) & ~3ull;
			if (name_sz + desc_sz > end - off - 12)
				return bad(ld, "note at 0x%llx overruns its segment",
				           (unsigned long long)off);
			const uint8_t *name = ld->file + off + 12;
			int ours = h[0] == sizeof(NUB_NOTE_NAME) &&
			           !memcmp(name, NUB_NOTE_NAME, sizeof(NUB_NOTE_NAME));
			if (ours && h[2] == NUB_NOTE_TYPE_ABI && h[1] >= 4 && !found) {
				memcpy(&ld->img->abi_version, name + name_sz, 4);
				found = 1;
			}
			if (ours && h[2] == NUB_NOTE_TYPE_HOT && h[1] >= 16)
				read_hot_note(ld, p, off + 12 + name_sz);
			if (ours && h[2] == NUB_NOTE_TYPE_SYSCALL && h[1] >= 8)
				read_syscall_note(ld, p, off + 12 + name_sz);
			off += 12 + name_sz + desc_sz;
		}
	}
	return found;
}

static int check_note(struct loader *ld)
{
	int rc = find_note(ld);

	if (rc < 0)
		return rc;
	if (!rc)
		return bad(ld, "no nub ABI note (section .note.nub, name \"nub\")");
	if (ld->img->abi_version != NUB_GUEST_ABI_VERSION)
		return nub_error_set(ld->err, NUB_EABI,
		                     "guest ELF: built for guest ABI %u, this host speaks %u",
		                     ld->img->abi_version, NUB_GUEST_ABI_VERSION);
	return 0;
}

/* The hot range is a hint: one outside the image or larger than the
 * host's working set is ignored, not an error. */
static void check_hot(struct loader *ld)
{
	uint64_t lo = ld->hot_lo, hi = ld->hot_hi;

	if (!ld->has_hot || lo < ld->min_vaddr || hi < lo || hi - ld->min_vaddr > ld->img->size ||
	    hi - lo > (uint64_t)NUB_HOT_MAX * PAGE)
		return;
	ld->img->hot_offset = lo - ld->min_vaddr;
	ld->img->hot_size = hi - lo;
}

/* Image offset of a vaddr range, or -1 if it is not inside the image. */
static int64_t image_off(const struct loader *ld, uint64_t vaddr, uint64_t len)
{
	uint64_t off = vaddr - ld->min_vaddr;

	if (vaddr < ld->min_vaddr || off > ld->img->size || len > ld->img->size - off)
		return -1;
	return (int64_t)off;
}

static int read_relocs(struct loader *ld, uint64_t rela, uint64_t relasz)
{
	struct nub_elf_image *img = ld->img;
	int64_t off = image_off(ld, rela, relasz);
	size_t n = relasz / sizeof(Elf64_Rela);

	if (relasz % sizeof(Elf64_Rela) || off < 0)
		return bad(ld, "relocation table 0x%llx+0x%llx outside the image",
		           (unsigned long long)rela, (unsigned long long)relasz);
	img->relocs = calloc(n ? n : 1, sizeof(*img->relocs));
	if (!img->relocs)
		return nub_error_set(ld->err, NUB_ENOMEM, "out of memory for relocations");
	for (size_t i = 0; i < n; i++) {
		Elf64_Rela r;
		memcpy(&r, img->bytes + off + (int64_t)(i * sizeof(r)), sizeof(r));
		uint32_t type = (uint32_t)ELF64_R_TYPE(r.r_info);
		if (type == R_X86_64_NONE)
			continue;
		if (type != R_X86_64_RELATIVE || ELF64_R_SYM(r.r_info))
			return bad(ld,
			           "relocation type %u at 0x%llx: only R_X86_64_RELATIVE allowed",
			           type, (unsigned long long)r.r_offset);
		int64_t at = image_off(ld, r.r_offset, 8);
		if (at < 0)
			return bad(ld, "relocation at 0x%llx outside the image",
			           (unsigned long long)r.r_offset);
		img->relocs[img->nrelocs++] =
		        (struct nub_elf_reloc){(uint64_t)at, (uint64_t)r.r_addend - ld->min_vaddr};
	}
	return 0;
}

static int check_dynamic(struct loader *ld)
{
	uint64_t rela = 0, relasz = 0, relaent = sizeof(Elf64_Rela);

	for (size_t i = 0; i < ld->nph; i++) {
		const GElf_Phdr *p = &ld->ph[i];
		if (p->p_type != PT_DYNAMIC)
			continue;
		int64_t off = image_off(ld, p->p_vaddr, p->p_filesz);
		if (off < 0)
			return bad(ld, "dynamic section outside the image");
		for (uint64_t k = 0; k + sizeof(Elf64_Dyn) <= p->p_filesz; k += sizeof(Elf64_Dyn)) {
			Elf64_Dyn d;
			memcpy(&d, ld->img->bytes + off + (int64_t)k, sizeof(d));
			if (d.d_tag == DT_NULL)
				break;
			switch (d.d_tag) {
			case DT_NEEDED:
				return bad(ld, "needs a shared library (DT_NEEDED)");
			case DT_RELA:
				rela = d.d_un.d_ptr;
				break;
			case DT_RELASZ:
				relasz = d.d_un.d_val;
				break;
			case DT_RELAENT:
				relaent = d.d_un.d_val;
				break;
			case DT_REL:
			case DT_JMPREL:
				return bad(
				        ld,
				        "has REL or PLT relocations: only RELA RELATIVE allowed");
			default:
				break;
			}
		}
	}
	if (relaent != sizeof(Elf64_Rela))
		return bad(ld, "DT_RELAENT %llu, need %zu", (unsigned long long)relaent,
		           sizeof(Elf64_Rela));
	return relasz ? read_relocs(ld, rela, relasz) : 0;
}

/* Image offset of `va` if an executable segment holds it, else -1. */
static int64_t exec_off(const struct loader *ld, uint64_t va)
{
	uint64_t off = va - ld->min_vaddr;

	for (unsigned s = 0; s < ld->img->nsegs; s++) {
		const struct nub_elf_segment *sg = &ld->img->segs[s];
		if (va >= ld->min_vaddr && off >= sg->offset && off < sg->offset + sg->size &&
		    (sg->perms & NUB_VMEM_X))
			return (int64_t)off;
	}
	return -1;
}

static int check_entry(struct loader *ld, uint64_t entry)
{
	int64_t off = exec_off(ld, entry);

	if (off < 0)
		return bad(ld, "entry point 0x%llx is not in an executable segment",
		           (unsigned long long)entry);
	ld->img->entry_offset = (uint64_t)off;
	if (!ld->has_syscall)
		return 0;
	/* Unlike the hot hint, this one decides where the guest runs. */
	off = exec_off(ld, ld->syscall_va);
	if (off < 0)
		return bad(ld,
		           "system-call entry 0x%llx (nub note) is not in an executable segment",
		           (unsigned long long)ld->syscall_va);
	ld->img->syscall_offset = (uint64_t)off;
	ld->img->has_syscall = 1;
	return 0;
}

static int load(struct loader *ld)
{
	Elf64_Ehdr eh;
	uint64_t span = 0;
	int rc;

	if (ld->len >= sizeof(eh))
		memcpy(&eh, ld->file, sizeof(eh));
	rc = check_ehdr(ld, &eh);
	if (!rc)
		rc = read_phdrs(ld, eh.e_phnum);
	if (!rc)
		rc = check_loads(ld, &span);
	if (!rc)
		rc = check_note(ld);
	if (rc)
		return rc;
	ld->img->size = span;
	ld->img->bytes = calloc(1, span);
	if (!ld->img->bytes)
		return nub_error_set(ld->err, NUB_ENOMEM, "out of memory for a 0x%llx-byte image",
		                     (unsigned long long)span);
	rc = place_loads(ld);
	check_hot(ld);
	if (!rc)
		rc = check_dynamic(ld);
	if (!rc)
		rc = check_entry(ld, eh.e_entry);
	if (!rc)
		ld->img->syms = nub_symbols_from_elf(ld->elf, ld->min_vaddr, span);
	return rc;
}

int nub_elf_load_buffer(const void *buf, size_t len, struct nub_elf_image *img,
                        struct nub_error *err)
{
	struct loader ld = {.len = len, .img = img, .err = err};
	uint8_t *copy;
	int rc;

	if (!buf || !img)
		return nub_error_set(err, NUB_EINVAL, "nub_elf_load_buffer: NULL argument");
	memset(img, 0, sizeof(*img));
	if (len == 0)
		return bad(&ld, "empty file");
	if (len > MAX_FILE)
		return bad(&ld, "file of %zu bytes exceeds %llu", len,
		           (unsigned long long)MAX_FILE);
	/* libelf wants a mutable buffer; never hand it the caller's. */
	copy = malloc(len);
	if (!copy)
		return nub_error_set(err, NUB_ENOMEM, "out of memory reading the ELF");
	memcpy(copy, buf, len);
	ld.file = copy;
	if (elf_version(EV_CURRENT) == EV_NONE)
		rc = bad(&ld, "libelf: %s", elf_errmsg(-1));
	else
		rc = load(&ld);
	if (ld.elf)
		elf_end(ld.elf);
	free(copy);
	if (rc)
		nub_elf_free(img);
	return rc;
}

int nub_elf_load_file(const char *path, struct nub_elf_image *img, struct nub_error *err)
{
	struct stat st;
	uint8_t *buf;
	FILE *f;
	int rc;

	if (!path || !img)
		return nub_error_set(err, NUB_EINVAL, "nub_elf_load_file: NULL argument");
	memset(img, 0, sizeof(*img));
	f = fopen(path, "rb");
	if (!f)
		return nub_error_set(err, errno == ENOENT ? NUB_ENOTFOUND : NUB_EIO, "%s: %s", path,
		                     strerror(errno));
	if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > MAX_FILE) {
		fclose(f);
		return nub_error_set(err, NUB_EIO, "%s: not a regular file of at most %llu bytes",
		                     path, (unsigned long long)MAX_FILE);
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		fclose(f);
		return nub_error_set(err, NUB_ENOMEM, "out of memory reading %s", path);
	}
	if (fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size)
		rc = nub_error_set(err, NUB_EIO, "%s: read failed", path);
	else
		rc = nub_elf_load_buffer(buf, (size_t)st.st_size, img, err);
	if (rc)
		nub_error_prefix(err, "%s", path);
	free(buf);
	fclose(f);
	return rc;
}

int nub_elf_place(const struct nub_elf_image *img, nub_gva_t base_gva, void *dst, uint64_t cap,
                  struct nub_error *err)
{
	uint8_t *d = dst;

	if (cap < img->size)
		return nub_error_set(err, NUB_ERANGE, "image of 0x%llx bytes does not fit 0x%llx",
		                     (unsigned long long)img->size, (unsigned long long)cap);
	memcpy(d, img->bytes, img->size);
	for (size_t i = 0; i < img->nrelocs; i++) {
		uint64_t v = base_gva + img->relocs[i].addend;
		memcpy(d + img->relocs[i].offset, &v, 8);
	}
	return 0;
}

void nub_elf_free(struct nub_elf_image *img)
{
	if (!img)
		return;
	free(img->bytes);
	free(img->relocs);
	nub_symbols_unref(img->syms);
	memset(img, 0, sizeof(*img));
}
