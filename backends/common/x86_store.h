/* SPDX-License-Identifier: MIT */
/*
 * Decoding a plain store to memory -- of a general-purpose register (opcode
 * 88/89, A2/A3) or an immediate (C6/C7 /0) -- in 64-bit mode: what backends need to
 * complete a guest's doorbell store without an instruction emulator (MSHV
 * gives the instruction bytes but not the value; the mock's process vCPU
 * sees a fault at the address). Pure: no state, no system calls, no libc.
 */
#ifndef NUB_BACKENDS_X86_STORE_H
#define NUB_BACKENDS_X86_STORE_H

#include <stddef.h>
#include <stdint.h>

struct nub_x86_store {
	uint32_t len;  /* instruction length in bytes */
	uint32_t size; /* bytes stored: 1, 2, 4 or 8 */
	uint32_t src;  /* source register, 0-15 = RAX..R15 (for AH/CH/DH/BH: RAX..RBX), 16: an
	                  immediate */
	uint32_t stop; /* on error: offset of the byte decoding stopped at */
	uint64_t data; /* the stored value: the source's low `size` bytes (AH: bits 8-15), or the
	                  immediate */
};

enum nub_x86_decode_status {
	NUB_X86_DECODE_OK = 0,
	NUB_X86_DECODE_TRUNCATED = -1,  /* the bytes end inside the instruction */
	NUB_X86_DECODE_NOT_STORE = -2,  /* bytes[stop] is not 66, REX or a mov-to-memory opcode */
	NUB_X86_DECODE_NOT_MEMORY = -3, /* 88/89 with a register destination (ModRM.mod 11) */
	NUB_X86_DECODE_TOO_LONG = -4,   /* longer than 15 bytes */
};

/* Decode the instruction in bytes[0..count). gprs[0..15] are RAX..R15 in
 * encoding order (NULL: data stays 0). Returns NUB_X86_DECODE_OK with *out
 * filled, or a negative status. */
int nub_x86_decode_store(const uint8_t *bytes, size_t count, const uint64_t *gprs,
                         struct nub_x86_store *out);

#endif
