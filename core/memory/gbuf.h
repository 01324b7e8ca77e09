/* SPDX-License-Identifier: MIT */
/*
 * Host side of the guest buffers: a stack of length-framed messages in a
 * window of scratch (format in include/nub/guest_abi.h). Every stack
 * pointer, back-pointer and length read back from guest memory is checked
 * before use, each read once, and nothing outside the window is touched.
 */
#ifndef NUB_CORE_GBUF_H
#define NUB_CORE_GBUF_H

#include <stdint.h>

#include <nub/error.h>

#include "memory/shmem.h"

struct nub_gbuf {
	struct nub_shmem *mem; /* not owned */
	uint64_t off, size;    /* the window */
	const char *name;      /* "input buffer" / "output buffer", for messages */
};

/* Describe a window (no memory access). */
void nub_gbuf_init(struct nub_gbuf *b, struct nub_shmem *mem, uint64_t off, uint64_t size,
                   const char *name);
/* Empty the stack: stack pointer := NUB_BUF_HEADER. */
int nub_gbuf_clear(struct nub_gbuf *b, struct nub_error *err);
/* Push one message. NUB_EFULL if it does not fit; NUB_ECORRUPT if the
 * stack pointer in guest memory is invalid. */
int nub_gbuf_push(struct nub_gbuf *b, const void *msg, uint64_t len, struct nub_error *err);
/* Pop the top message into dst (cap bytes); *len = its length. NUB_EEMPTY,
 * NUB_ECORRUPT (field and value named), NUB_ERANGE if cap is too small (the
 * message stays on the stack). */
int nub_gbuf_pop(struct nub_gbuf *b, void *dst, uint64_t cap, uint64_t *len, struct nub_error *err);

#endif
