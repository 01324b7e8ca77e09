/* SPDX-License-Identifier: MIT */
/* Guest side of the message stacks. The host writes these buffers too, and
 * a guest function may scribble on them: every stack pointer and
 * back-pointer is checked against the buffer before use. */
#include <nub/error.h>

#include "nub_string.h"
#include "rt.h"

#define BACKPTR 8u

struct rt_buf rt_buf_input(const struct nub_peb *peb)
{
	return (struct rt_buf){(uint8_t *)peb->input_gva, peb->input_size};
}

struct rt_buf rt_buf_output(const struct nub_peb *peb)
{
	return (struct rt_buf){(uint8_t *)peb->output_gva, peb->output_size};
}

static uint64_t load_u64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

int rt_buf_sp(const struct rt_buf *b, uint64_t *sp)
{
	if (!b->base || b->size < NUB_BUF_HEADER)
		return NUB_ECORRUPT;
	uint64_t v = load_u64(b->base);
	if (v == 0)
		v = NUB_BUF_HEADER; /* freshly zeroed scratch */
	if (v < NUB_BUF_HEADER || v > b->size)
		return NUB_ECORRUPT;
	*sp = v;
	return 0;
}

uint64_t rt_buf_room(const struct rt_buf *b)
{
	uint64_t sp;
	if (rt_buf_sp(b, &sp) || b->size - sp < BACKPTR)
		return 0;
	return b->size - sp - BACKPTR;
}

void rt_buf_set_sp(const struct rt_buf *b, uint64_t sp)
{
	memcpy(b->base, &sp, sizeof(sp));
}

int rt_buf_push(const struct rt_buf *b, const void *a, uint64_t alen, const void *c, uint64_t clen)
{
	uint64_t sp;
	int rc = rt_buf_sp(b, &sp);
	if (rc)
		return rc;
	uint64_t room = b->size - sp;
	if (alen > room || clen > room - alen || BACKPTR > room - alen - clen)
		return NUB_EFULL;
	memcpy(b->base + sp, a, alen);
	if (clen)
		memcpy(b->base + sp + alen, c, clen);
	memcpy(b->base + sp + alen + clen, &sp, sizeof(sp));
	rt_buf_set_sp(b, sp + alen + clen + BACKPTR);
	return 0;
}

int rt_buf_peek(const struct rt_buf *b, uint64_t floor, const uint8_t **msg, uint64_t *len,
                uint64_t *below)
{
	uint64_t sp;
	int rc = rt_buf_sp(b, &sp);
	if (rc)
		return rc;
	if (floor < NUB_BUF_HEADER)
		floor = NUB_BUF_HEADER;
	if (sp <= floor)
		return NUB_EEMPTY;
	if (sp - floor < BACKPTR)
		return NUB_ECORRUPT;
	uint64_t start = load_u64(b->base + sp - BACKPTR);
	if (start < floor || start > sp - BACKPTR)
		return NUB_ECORRUPT;
	*msg = b->base + start;
	*len = sp - BACKPTR - start;
	*below = start;
	return 0;
}
