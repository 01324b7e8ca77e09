/* SPDX-License-Identifier: MIT */
/*
 * The guest ELF's function symbols, for messages a user can act on: a
 * fault at RIP 0x4ced0 reads "(getenv+0x20)". Read by the ELF loader from
 * the symbol table when the ELF has one (an ELF without is fine: messages
 * then carry addresses only), shared by every snapshot made from it
 * (immutable, reference-counted). Untrusted like the rest of the ELF:
 * names are cut and made printable, entries bounded and sorted.
 */
#ifndef NUB_CORE_IMAGE_SYMBOLS_H
#define NUB_CORE_IMAGE_SYMBOLS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct nub_symbol {
	uint64_t off, size; /* in the image */
	uint32_t name;      /* offset in names */
};

struct nub_symbols {
	atomic_int refs;
	uint32_t n;
	struct nub_symbol *e; /* sorted by off */
	char *names;
	size_t names_used; /* bytes of names, NULs included */
};

#define NUB_SYMBOLS_MAX     65536u
#define NUB_SYMBOL_NAME_MAX 63u

/* The STT_FUNC symbols of `elf` inside the image [min_vaddr, +span), or
 * NULL (none, or no memory: symbols are a convenience, never an error). */
struct Elf; /* libelf's, not included here: its macros clash with core's */
struct nub_symbols *nub_symbols_from_elf(struct Elf *elf, uint64_t min_vaddr, uint64_t span);
/* An empty table with room for n entries and names_cap bytes of names
 * (the snapshot loader fills it with nub_symbols_push); NULL: no memory. */
struct nub_symbols *nub_symbols_new(uint32_t n, size_t names_cap);
/* Append an entry whose name is `len` bytes (the caller checked them). */
void nub_symbols_push(struct nub_symbols *s, uint64_t off, uint64_t size, const char *name,
                      size_t len);
struct nub_symbols *nub_symbols_ref(struct nub_symbols *s);
void nub_symbols_unref(struct nub_symbols *s);

/* "name+0xN" for an image offset inside a function, else "" (also for
 * NULL symbols). */
void nub_symbols_describe(const struct nub_symbols *s, uint64_t off, char *buf, size_t cap);
/* The same for guest address `addr` of an image loaded at [start, start +
 * size): "" outside it. */
void nub_symbols_describe_at(const struct nub_symbols *s, uint64_t start, uint64_t size,
                             uint64_t addr, char *buf, size_t cap);

#endif
