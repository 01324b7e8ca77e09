/* SPDX-License-Identifier: MIT */
#include "memory/vmem_host.h"

#include <stdlib.h>
#include <string.h>

#include <nub/guest_abi.h>

#include "error_internal.h"

#define PAGE NUB_PAGE_SIZE

/* ---- growable buffer ---- */

static int buf_offset(const struct nub_vmem_buf *b, nub_gpa_t table, unsigned index, uint64_t *off)
{
	if (index >= 512 || table < b->base || table - b->base >= b->used || (table & (PAGE - 1)))
		return 0;
	*off = table - b->base + (uint64_t)index * 8;
	return 1;
}

static int buf_read(void *ctx, nub_gpa_t table, unsigned index, uint64_t *entry)
{
	struct nub_vmem_buf *b = ctx;
	uint64_t off;

	*entry = 0;
	if (buf_offset(b, table, index, &off))
		memcpy(entry, b->bytes + off, 8);
	return 0;
}

static int buf_write(void *ctx, nub_gpa_t table, unsigned index, uint64_t entry)
{
	struct nub_vmem_buf *b = ctx;
	uint64_t off;

	if (!buf_offset(b, table, index, &off))
		return NUB_ERANGE;
	memcpy(b->bytes + off, &entry, 8);
	return 0;
}

static int buf_alloc(void *ctx, nub_gpa_t *table)
{
	struct nub_vmem_buf *b = ctx;

	if (b->max_bytes - b->used < PAGE)
		return NUB_EFULL;
	if (b->used == b->cap) {
		uint64_t cap = b->cap ? b->cap * 2 : 16 * PAGE;
		if (cap > b->max_bytes)
			cap = b->max_bytes;
		uint8_t *p = realloc(b->bytes, cap);
		if (!p)
			return NUB_ENOMEM;
		b->bytes = p;
		b->cap = cap;
	}
	memset(b->bytes + b->used, 0, PAGE);
	*table = b->base + b->used;
	b->used += PAGE;
	return 0;
}

int nub_vmem_buf_init(struct nub_vmem_buf *buf, nub_gpa_t base, uint64_t max_bytes,
                      struct nub_error *err)
{
	nub_gpa_t root;
	int rc;

	memset(buf, 0, sizeof(*buf));
	if ((base & (PAGE - 1)) || max_bytes < PAGE || base + max_bytes < base)
		return nub_error_set(err, NUB_EINVAL,
		                     "page-table buffer: base 0x%llx / size 0x%llx invalid",
		                     (unsigned long long)base, (unsigned long long)max_bytes);
	buf->base = base;
	buf->max_bytes = max_bytes & ~(PAGE - 1);
	rc = buf_alloc(buf, &root);
	if (rc)
		return nub_error_set(err, rc, "page-table buffer: out of memory");
	return 0;
}

void nub_vmem_buf_ops(struct nub_vmem_buf *buf, struct nub_vmem_ops *out)
{
	out->ctx = buf;
	out->read_entry = buf_read;
	out->write_entry = buf_write;
	out->alloc_table = buf_alloc;
	out->root = buf->base;
}

const uint8_t *nub_vmem_buf_bytes(const struct nub_vmem_buf *buf)
{
	return buf->bytes;
}

uint64_t nub_vmem_buf_used(const struct nub_vmem_buf *buf)
{
	return buf->used;
}

void nub_vmem_buf_free(struct nub_vmem_buf *buf)
{
	free(buf->bytes);
	memset(buf, 0, sizeof(*buf));
}

/* ---- resolver over guest memory ---- */

void nub_vmem_resolver_init(struct nub_vmem_resolver *res)
{
	memset(res, 0, sizeof(*res));
}

int nub_vmem_resolver_add(struct nub_vmem_resolver *res, nub_gpa_t gpa, uint64_t size, void *host,
                          int writable)
{
	if (res->n == NUB_VMEM_RESOLVER_MAX)
		return NUB_EFULL;
	res->r[res->n].gpa = gpa;
	res->r[res->n].size = size;
	res->r[res->n].host = host;
	res->r[res->n].writable = writable;
	res->n++;
	return 0;
}

/* Host address of the 8-byte entry, or NULL if not inside one range. */
static volatile uint64_t *res_entry(const struct nub_vmem_resolver *res, nub_gpa_t table,
                                    unsigned index, int write)
{
	nub_gpa_t gpa;

	if (index >= 512)
		return NULL;
	gpa = (table & NUB_PTE_ADDR_MASK) + (uint64_t)index * 8;
	for (unsigned i = 0; i < res->n; i++) {
		if (gpa < res->r[i].gpa || gpa - res->r[i].gpa > res->r[i].size - 8 ||
		    res->r[i].size < 8)
			continue;
		if (write && !res->r[i].writable)
			return NULL;
		return (volatile uint64_t *)(res->r[i].host + (gpa - res->r[i].gpa));
	}
	return NULL;
}

static int res_read(void *ctx, nub_gpa_t table, unsigned index, uint64_t *entry)
{
	const struct nub_vmem_resolver *res = ctx;
	volatile uint64_t *p = res_entry(res, table, index, 0);
	uint64_t e = p ? *p : 0;

	if ((e & NUB_PTE_P) && res->window) {
		if ((e & NUB_PTE_ADDR_MASK) < res->window)
			e = 0;
		else
			e -= res->window;
	}
	*entry = e;
	return 0;
}

static int res_write(void *ctx, nub_gpa_t table, unsigned index, uint64_t entry)
{
	const struct nub_vmem_resolver *res = ctx;
	volatile uint64_t *p = res_entry(res, table, index, 1);

	if (!p)
		return NUB_ERANGE;
	if ((entry & NUB_PTE_P) && res->window) {
		if ((entry & NUB_PTE_ADDR_MASK) > NUB_PTE_ADDR_MASK - res->window)
			return NUB_ERANGE;
		entry += res->window;
	}
	*p = entry;
	return 0;
}

static int res_alloc(void *ctx, nub_gpa_t *table)
{
	struct nub_vmem_resolver *res = ctx;

	return res->alloc ? res->alloc(res->alloc_ctx, table) : NUB_EUNSUPPORTED;
}

void nub_vmem_resolver_ops(struct nub_vmem_resolver *res, nub_gpa_t root, struct nub_vmem_ops *out)
{
	out->ctx = res;
	out->read_entry = res_read;
	out->write_entry = res_write;
	out->alloc_table = res_alloc;
	out->root = root & NUB_PTE_ADDR_MASK;
}

void nub_vmem_tables_rebase(void *bytes, uint64_t len, uint64_t window)
{
	uint64_t *e = bytes;

	if (!window)
		return;
	/* Core's own tables, with addresses below NUB_GPA_LIMIT, and a window
	 * hv.c checked to leave them below 2^52: no carry into the flags. */
	for (uint64_t i = 0; i < len / sizeof(*e); i++)
		if (e[i] & NUB_PTE_P)
			e[i] += window;
}
