/* SPDX-License-Identifier: MIT */
#include "memory/gbuf.h"

#include <nub/guest_abi.h>

#include "error_internal.h"

void nub_gbuf_init(struct nub_gbuf *b, struct nub_shmem *mem, uint64_t off, uint64_t size,
                   const char *name)
{
	b->mem = mem;
	b->off = off;
	b->size = size;
	b->name = name;
}

int nub_gbuf_clear(struct nub_gbuf *b, struct nub_error *err)
{
	return nub_shmem_write_u64(b->mem, b->off, NUB_BUF_HEADER, err);
}

/* Read and validate the stack pointer. A zero stack pointer (freshly
 * zeroed scratch) counts as empty, as the guest runtime treats it. */
static int stack_pointer(struct nub_gbuf *b, uint64_t *sp, struct nub_error *err)
{
	int rc = nub_shmem_read_u64(b->mem, b->off, sp, err);

	if (rc)
		return rc;
	if (*sp == 0)
		*sp = NUB_BUF_HEADER;
	if (*sp < NUB_BUF_HEADER || *sp > b->size)
		return nub_error_set(err, NUB_ECORRUPT,
		                     "%s: stack pointer 0x%llx outside [0x%x, 0x%llx]", b->name,
		                     (unsigned long long)*sp, NUB_BUF_HEADER,
		                     (unsigned long long)b->size);
	return 0;
}

int nub_gbuf_push(struct nub_gbuf *b, const void *msg, uint64_t len, struct nub_error *err)
{
	uint64_t sp;
	int rc = stack_pointer(b, &sp, err);

	if (rc)
		return rc;
	if (len > b->size - sp || b->size - sp - len < 8)
		return nub_error_set(err, NUB_EFULL,
		                     "%s: message of %llu bytes does not fit (%llu of %llu free)",
		                     b->name, (unsigned long long)len,
		                     (unsigned long long)(b->size - sp),
		                     (unsigned long long)b->size);
	rc = nub_shmem_write(b->mem, b->off + sp, msg, len, err);
	if (!rc)
		rc = nub_shmem_write_u64(b->mem, b->off + sp + len, sp, err);
	if (!rc)
		rc = nub_shmem_write_u64(b->mem, b->off, sp + len + 8, err);
	return rc;
}

int nub_gbuf_pop(struct nub_gbuf *b, void *dst, uint64_t cap, uint64_t *len, struct nub_error *err)
{
	uint64_t sp, back, n;
	int rc = stack_pointer(b, &sp, err);

	if (rc)
		return rc;
	if (sp == NUB_BUF_HEADER)
		return nub_error_set(err, NUB_EEMPTY, "%s: empty", b->name);
	if (sp < NUB_BUF_HEADER + 8)
		return nub_error_set(err, NUB_ECORRUPT, "%s: stack pointer 0x%llx too small",
		                     b->name, (unsigned long long)sp);
	rc = nub_shmem_read_u64(b->mem, b->off + sp - 8, &back, err);
	if (rc)
		return rc;
	if (back < NUB_BUF_HEADER || back > sp - 8)
		return nub_error_set(err, NUB_ECORRUPT,
		                     "%s: back-pointer 0x%llx outside [0x%x, 0x%llx]", b->name,
		                     (unsigned long long)back, NUB_BUF_HEADER,
		                     (unsigned long long)(sp - 8));
	n = sp - 8 - back;
	if (n > cap)
		return nub_error_set(err, NUB_ERANGE,
		                     "%s: message of %llu bytes exceeds the %llu-byte limit",
		                     b->name, (unsigned long long)n, (unsigned long long)cap);
	rc = nub_shmem_read(b->mem, b->off + back, dst, n, err);
	if (!rc)
		rc = nub_shmem_write_u64(b->mem, b->off, back, err);
	if (!rc)
		*len = n;
	return rc;
}
