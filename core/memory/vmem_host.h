/* SPDX-License-Identifier: MIT */
/*
 * Host-side storage for page tables (vmem.h ops): a growable buffer of
 * tables with a fixed physical base (tables built for a new snapshot), and
 * a resolver over guest memory (tables living in snapshot + scratch).
 */
#ifndef NUB_CORE_VMEM_HOST_H
#define NUB_CORE_VMEM_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "vmem.h"
#include <nub/error.h>

/* Tables packed from `base`: table i lives at base + i * 4096. The root is
 * table 0, allocated by init. */
struct nub_vmem_buf {
	nub_gpa_t base;
	uint64_t max_bytes;
	uint64_t used; /* bytes of tables handed out */
	uint64_t cap;  /* bytes allocated */
	uint8_t *bytes;
};

/* NUB_EINVAL for an unaligned base or max below one page; NUB_ENOMEM. */
int nub_vmem_buf_init(struct nub_vmem_buf *buf, nub_gpa_t base, uint64_t max_bytes,
                      struct nub_error *err);
/* Ops over the buffer; valid while the buffer lives. alloc_table returns
 * NUB_EFULL past max_bytes; reads outside the tables return "not present",
 * writes there NUB_ERANGE. */
void nub_vmem_buf_ops(struct nub_vmem_buf *buf, struct nub_vmem_ops *out);
const uint8_t *nub_vmem_buf_bytes(const struct nub_vmem_buf *buf);
uint64_t nub_vmem_buf_used(const struct nub_vmem_buf *buf);
void nub_vmem_buf_free(struct nub_vmem_buf *buf);

/* Guest memory as a few GPA ranges backed by host memory. */
#define NUB_VMEM_RESOLVER_MAX 4
struct nub_vmem_resolver {
	struct {
		nub_gpa_t gpa;
		uint64_t size;
		uint8_t *host;
		int writable;
	} r[NUB_VMEM_RESOLVER_MAX];
	unsigned n;
	/* The guest-physical window the tables live in (hv.h's
	 * nub_hv_gpa_base; 0 for a VM of its own): the hardware walks entries
	 * holding window + g, while ranges, tables and every address the ops
	 * return or take are g. */
	uint64_t window;
	/* Optional allocator for new tables (NULL: NUB_EUNSUPPORTED). */
	int (*alloc)(void *ctx, nub_gpa_t *table);
	void *alloc_ctx;
};

void nub_vmem_resolver_init(struct nub_vmem_resolver *res);
/* NUB_EFULL when NUB_VMEM_RESOLVER_MAX ranges are registered. */
int nub_vmem_resolver_add(struct nub_vmem_resolver *res, nub_gpa_t gpa, uint64_t size, void *host,
                          int writable);
/* Ops walking tables rooted at `root`. A table entry whose 8 bytes are not
 * wholly inside one range reads as 0 ("not present"): a guest pointing its
 * tables anywhere cannot make the host fault. So does a present entry
 * pointing below the window. Writes need a writable range (NUB_ERANGE
 * otherwise). Entries are read with volatile aligned loads. */
void nub_vmem_resolver_ops(struct nub_vmem_resolver *res, nub_gpa_t root, struct nub_vmem_ops *out);

/* Move the tables in `bytes` (whole table pages, as core writes them) to
 * the window at `window`: its base added to the address of every present
 * entry. Tables are stored relative to 0 (snapshots, files) and rebased
 * when they are copied into a sandbox. */
void nub_vmem_tables_rebase(void *bytes, uint64_t len, uint64_t window);

#endif
