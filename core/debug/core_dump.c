/* SPDX-License-Identifier: MIT */
/* ELF core files of a guest (core_dump.h). */
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/procfs.h>
#include <sys/user.h>
#include <unistd.h>

#include "debug/core_dump.h"
#include "error_internal.h"

#define PAGE       NUB_PAGE_SIZE
#define LOWER_HALF (1ull << 47)
#define NOTES_MAX  (8u << 10)

struct segment {
	nub_gva_t gva;
	uint64_t len;
	uint32_t perms;
};

struct segments {
	struct segment *v;
	size_t n, cap;
};

/* A run a CPL3 guest can read, merged with the last when it continues it
 * with the same permissions (copies make the tables' runs break at every
 * copied page). The doorbells are no memory: left out. */
static int segment_add(void *user, const struct nub_vmem_mapping *run)
{
	struct segments *s = user;
	uint32_t perms = run->perms & (NUB_VMEM_W | NUB_VMEM_X);

	if (!(run->perms & NUB_VMEM_USER) || nub_layout_is_doorbell_page(run->gva))
		return 0;
	if (run->kind == NUB_VMEM_COW)
		perms |= NUB_VMEM_W; /* the guest's view: writable, copied on write */
	if (s->n && s->v[s->n - 1].gva + s->v[s->n - 1].len == run->gva &&
	    s->v[s->n - 1].perms == perms) {
		s->v[s->n - 1].len += run->len;
		return 0;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 32;
		struct segment *v = realloc(s->v, cap * sizeof(*v));
		if (!v)
			return NUB_ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = (struct segment){run->gva, run->len, perms};
	return 0;
}

struct notes {
	uint8_t buf[NOTES_MAX];
	size_t used;
};

static void note_add(struct notes *n, const char *name, uint32_t type, const void *desc, size_t len)
{
	Elf64_Nhdr h = {.n_namesz = (Elf64_Word)strlen(name) + 1,
	                .n_descsz = (Elf64_Word)len,
	                .n_type = type};
	size_t name_pad = (h.n_namesz + 3) & ~3u, desc_pad = (len + 3) & ~(size_t)3;

	if (n->used + sizeof(h) + name_pad + desc_pad > sizeof(n->buf))
		return; /* cannot happen: the notes are bounded (NUB messages too) */
	memcpy(n->buf + n->used, &h, sizeof(h));
	memset(n->buf + n->used + sizeof(h), 0, name_pad + desc_pad);
	memcpy(n->buf + n->used + sizeof(h), name, h.n_namesz);
	memcpy(n->buf + n->used + sizeof(h) + name_pad, desc, len);
	n->used += sizeof(h) + name_pad + desc_pad;
}

static void regs_fill(const struct nub_stop *st, struct user_regs_struct *u)
{
	const struct nub_regs *r = &st->regs;

	memset(u, 0, sizeof(*u));
	u->r15 = r->r15, u->r14 = r->r14, u->r13 = r->r13, u->r12 = r->r12;
	u->rbp = r->rbp, u->rbx = r->rbx, u->r11 = r->r11, u->r10 = r->r10;
	u->r9 = r->r9, u->r8 = r->r8, u->rax = r->rax, u->rcx = r->rcx;
	u->rdx = r->rdx, u->rsi = r->rsi, u->rdi = r->rdi, u->orig_rax = UINT64_MAX;
	u->rip = r->rip, u->cs = st->cs, u->eflags = r->rflags, u->rsp = r->rsp;
	u->ss = st->ss, u->fs_base = st->fs_base, u->gs_base = st->gs_base;
	u->ds = u->es = st->ss;
}

static void fpu_fill(const struct nub_fpu *f, struct user_fpregs_struct *u)
{
	memset(u, 0, sizeof(*u));
	u->cwd = f->fcw;
	u->swd = f->fsw;
	u->ftw = f->ftwx;
	u->fop = f->last_opcode;
	u->rip = f->last_ip;
	u->rdp = f->last_dp;
	u->mxcsr = f->mxcsr;
	u->mxcr_mask = 0xffff;
	memcpy(u->st_space, f->fpr, sizeof(f->fpr));
	memcpy(u->xmm_space, f->xmm, sizeof(f->xmm));
}

/* NT_FILE: the image, mapped from the guest ELF (offsets in pages). */
static void file_note(struct notes *n, const struct nub_core_image *img)
{
	uint8_t desc[4096];
	uint64_t head[5] = {1, PAGE, img->image_gva, img->image_gva + img->image_size, 0};
	size_t len = strlen(img->elf_path) + 1;

	if (sizeof(head) + len > sizeof(desc))
		return;
	memcpy(desc, head, sizeof(head));
	memcpy(desc + sizeof(head), img->elf_path, len);
	note_add(n, "CORE", NT_FILE, desc, sizeof(head) + len);
}

static void notes_build(struct notes *n, const struct nub_core_image *img)
{
	const struct nub_stop *st = img->stop;
	struct elf_prstatus ps;
	struct elf_prpsinfo pi;
	struct user_regs_struct regs;
	const char *path = img->elf_path ? img->elf_path : "guest";
	uint64_t auxv[] = {AT_PAGESZ, PAGE, AT_ENTRY, img->entry_gva, AT_NULL, 0};

	memset(&ps, 0, sizeof(ps));
	ps.pr_cursig = (short)st->signo;
	ps.pr_info.si_signo = st->signo;
	ps.pr_pid = ps.pr_ppid = ps.pr_pgrp = ps.pr_sid = 1;
	regs_fill(st, &regs);
	_Static_assert(sizeof(regs) == sizeof(ps.pr_reg), "gregset");
	memcpy(&ps.pr_reg, &regs, sizeof(regs));
	ps.pr_fpvalid = st->have_fpu;
	note_add(n, "CORE", NT_PRSTATUS, &ps, sizeof(ps));

	memset(&pi, 0, sizeof(pi));
	pi.pr_sname = 'R';
	pi.pr_pid = pi.pr_ppid = pi.pr_pgrp = pi.pr_sid = 1;
	strncpy(pi.pr_fname, basename(path), sizeof(pi.pr_fname) - 1);
	strncpy(pi.pr_psargs, path, sizeof(pi.pr_psargs) - 1);
	note_add(n, "CORE", NT_PRPSINFO, &pi, sizeof(pi));

	if (st->have_fpu) {
		struct user_fpregs_struct fp;
		fpu_fill(&st->fpu, &fp);
		note_add(n, "CORE", NT_FPREGSET, &fp, sizeof(fp));
	}
	note_add(n, "CORE", NT_AUXV, auxv, sizeof(auxv));
	if (img->elf_path && img->image_size)
		file_note(n, img);
	if (img->why)
		note_add(n, "NUB", NUB_CORE_NOTE_NUB, img->why, strnlen(img->why, 1024) + 1);
}

static int write_at(int fd, const void *buf, size_t len, uint64_t off, struct nub_error *err)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return nub_error_set(err, NUB_EIO, "core dump: write at %llu: %s",
			                     (unsigned long long)off,
			                     n < 0 ? strerror(errno) : "no progress");
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static int all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

/* A segment's pages at `off`: a page that is all zeros, or that the
 * tables no longer let the host read, stays a hole (reads as zeros). */
static int segment_write(int fd, const struct nub_view *v, const struct segment *s, uint64_t off,
                         struct nub_error *err)
{
	uint8_t page[PAGE];

	for (uint64_t at = 0; at < s->len; at += PAGE) {
		if (nub_view_read_gva(v, s->gva + at, page, PAGE) || all_zero(page, PAGE))
			continue;
		int rc = write_at(fd, page, PAGE, off + at, err);
		if (rc)
			return rc;
	}
	return 0;
}

static void ehdr_fill(Elf64_Ehdr *e, size_t nphdr)
{
	memset(e, 0, sizeof(*e));
	memcpy(e->e_ident, ELFMAG, SELFMAG);
	e->e_ident[EI_CLASS] = ELFCLASS64;
	e->e_ident[EI_DATA] = ELFDATA2LSB;
	e->e_ident[EI_VERSION] = EV_CURRENT;
	e->e_ident[EI_OSABI] = ELFOSABI_NONE;
	e->e_type = ET_CORE;
	e->e_machine = EM_X86_64;
	e->e_version = EV_CURRENT;
	e->e_phoff = sizeof(*e);
	e->e_ehsize = sizeof(*e);
	e->e_phentsize = sizeof(Elf64_Phdr);
	e->e_phnum = (Elf64_Half)nphdr;
}

static int headers_write(int fd, const struct segments *s, const struct notes *n, uint64_t data_off,
                         struct nub_error *err)
{
	size_t nphdr = 1 + s->n, hdr_len = sizeof(Elf64_Ehdr) + nphdr * sizeof(Elf64_Phdr);
	uint8_t *hdr = calloc(1, hdr_len);
	Elf64_Phdr *ph = (Elf64_Phdr *)(hdr + sizeof(Elf64_Ehdr));
	uint64_t off = data_off;
	int rc;

	if (!hdr)
		return nub_error_set(err, NUB_ENOMEM, "core dump: out of memory for headers");
	ehdr_fill((Elf64_Ehdr *)hdr, nphdr);
	ph[0] = (Elf64_Phdr){
	        .p_type = PT_NOTE, .p_offset = hdr_len, .p_filesz = n->used, .p_align = 4};
	for (size_t i = 0; i < s->n; i++) {
		const struct segment *g = &s->v[i];
		ph[1 + i] = (Elf64_Phdr){.p_type = PT_LOAD,
		                         .p_flags = PF_R | (g->perms & NUB_VMEM_W ? PF_W : 0) |
		                                    (g->perms & NUB_VMEM_X ? PF_X : 0),
		                         .p_offset = off,
		                         .p_vaddr = g->gva,
		                         .p_filesz = g->len,
		                         .p_memsz = g->len,
		                         .p_align = PAGE};
		off += g->len;
	}
	rc = write_at(fd, hdr, hdr_len, 0, err);
	if (!rc)
		rc = write_at(fd, n->buf, n->used, hdr_len, err);
	free(hdr);
	return rc;
}

int nub_core_write(int fd, const struct nub_core_image *img, struct nub_error *err)
{
	struct segments s = {0};
	struct notes *n = calloc(1, sizeof(*n));
	uint64_t data_off, off;
	int rc;

	if (!n)
		return nub_error_set(err, NUB_ENOMEM, "core dump: out of memory for notes");
	rc = nub_view_runs(img->view, 0, LOWER_HALF, segment_add, &s);
	if (rc) {
		rc = nub_error_set(err, rc, "core dump: walking the guest's page tables: %s",
		                   nub_strerror(rc));
		goto free_segments;
	}
	notes_build(n, img);
	data_off = sizeof(Elf64_Ehdr) + (1 + s.n) * sizeof(Elf64_Phdr) + n->used;
	data_off = (data_off + PAGE - 1) & ~(uint64_t)(PAGE - 1);
	rc = headers_write(fd, &s, n, data_off, err);
	off = data_off;
	for (size_t i = 0; !rc && i < s.n; i++) {
		rc = segment_write(fd, img->view, &s.v[i], off, err);
		off += s.v[i].len;
	}
	if (!rc && ftruncate(fd, (off_t)off))
		rc = nub_error_set(err, NUB_EIO, "core dump: setting its size: %s",
		                   strerror(errno));
free_segments:
	free(s.v);
	free(n);
	return rc;
}
