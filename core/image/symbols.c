/* SPDX-License-Identifier: MIT */
/* Function symbols of the guest ELF (symbols.h). */
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/symbols.h"

static int by_off(const void *a, const void *b)
{
	const struct nub_symbol *x = a, *y = b;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* Append the name, cut and made printable; its offset, or -1. */
static int64_t add_name(struct nub_symbols *s, size_t *cap, const char *name)
{
	size_t n = strnlen(name, NUB_SYMBOL_NAME_MAX), used = s->names_used;

	if (*cap - used < n + 1) {
		size_t c = *cap ? *cap * 2 : 4096;
		while (c - used < n + 1)
			c *= 2;
		if (c > (4u << 20))
			return -1;
		char *p = realloc(s->names, c);
		if (!p)
			return -1;
		s->names = p;
		*cap = c;
	}
	for (size_t i = 0; i < n; i++)
		s->names[used + i] = name[i] > 0x20 && name[i] < 0x7f ? name[i] : '?';
	s->names[used + n] = '\0';
	s->names_used += n + 1;
	return (int64_t)used;
}

static void collect(Elf *elf, Elf_Scn *scn, const GElf_Shdr *sh, uint64_t min_vaddr, uint64_t span,
                    struct nub_symbols *s, size_t *cap, size_t *ncap)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t count = sh->sh_entsize ? sh->sh_size / sh->sh_entsize : 0;
	GElf_Sym sym;

	for (size_t i = 0; data && i < count && s->n < NUB_SYMBOLS_MAX; i++) {
		if (!gelf_getsym(data, (int)i, &sym) || GELF_ST_TYPE(sym.st_info) != STT_FUNC ||
		    !sym.st_size || sym.st_value < min_vaddr || sym.st_value - min_vaddr >= span ||
		    sym.st_size > span - (sym.st_value - min_vaddr))
			continue;
		const char *name = elf_strptr(elf, sh->sh_link, sym.st_name);
		if (!name || !name[0])
			continue;
		if (s->n == *ncap) {
			size_t c = *ncap ? *ncap * 2 : 256;
			struct nub_symbol *e = realloc(s->e, c * sizeof(*e));
			if (!e)
				return;
			s->e = e;
			*ncap = c;
		}
		int64_t at = add_name(s, cap, name);
		if (at < 0)
			return;
		s->e[s->n++] =
		        (struct nub_symbol){sym.st_value - min_vaddr, sym.st_size, (uint32_t)at};
	}
}

struct nub_symbols *nub_symbols_from_elf(struct Elf *elf, uint64_t min_vaddr, uint64_t span)
{
	struct nub_symbols *s = calloc(1, sizeof(*s));
	size_t cap = 0, ncap = 0;
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	if (!s)
		return NULL;
	atomic_init(&s->refs, 1);
	while (elf && (scn = elf_nextscn(elf, scn)) != NULL)
		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_SYMTAB)
			collect(elf, scn, &sh, min_vaddr, span, s, &cap, &ncap);
	if (!s->n) {
		nub_symbols_unref(s);
		return NULL;
	}
	qsort(s->e, s->n, sizeof(*s->e), by_off);
	return s;
}

struct nub_symbols *nub_symbols_new(uint32_t n, size_t names_cap)
{
	struct nub_symbols *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	atomic_init(&s->refs, 1);
	s->e = calloc(n ? n : 1, sizeof(*s->e));
	s->names = malloc(names_cap ? names_cap : 1);
	if (!s->e || !s->names) {
		nub_symbols_unref(s);
		return NULL;
	}
	s->names_used = 0;
	return s;
}

void nub_symbols_push(struct nub_symbols *s, uint64_t off, uint64_t size, const char *name,
                      size_t len)
{
	memcpy(s->names + s->names_used, name, len);
	s->names[s->names_used + len] = '\0';
	s->e[s->n++] = (struct nub_symbol){off, size, (uint32_t)s->names_used};
	s->names_used += len + 1;
}

struct nub_symbols *nub_symbols_ref(struct nub_symbols *s)
{
	if (s)
		atomic_fetch_add(&s->refs, 1);
	return s;
}

void nub_symbols_unref(struct nub_symbols *s)
{
	if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	free(s->e);
	free(s->names);
	free(s);
}

void nub_symbols_describe(const struct nub_symbols *s, uint64_t off, char *buf, size_t cap)
{
	uint32_t lo = 0, hi = s ? s->n : 0;

	if (cap)
		buf[0] = '\0';
	/* The last symbol starting at or below off. */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (s->e[mid].off <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return;
	const struct nub_symbol *e = &s->e[lo - 1];
	if (off - e->off < e->size)
		snprintf(buf, cap, "%s+0x%llx", s->names + e->name,
		         (unsigned long long)(off - e->off));
}

void nub_symbols_describe_at(const struct nub_symbols *s, uint64_t start, uint64_t size,
                             uint64_t addr, char *buf, size_t cap)
{
	if (cap)
		buf[0] = '\0';
	if (addr >= start && addr - start < size)
		nub_symbols_describe(s, addr - start, buf, cap);
}
