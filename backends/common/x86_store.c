/* SPDX-License-Identifier: MIT */
/*
 * Decoding the one kind of instruction a memory intercept can be completed
 * for without an emulator: a plain `mov` to memory of a general-purpose
 * register, `mov r/m8, r8` (88 /r) or `mov r/m16/32/64, r16/32/64` (89 /r),
 * or of an immediate, `mov r/m8, imm8` (C6 /0) or `mov r/m16/32/64,
 * imm16/32` (C7 /0; sign-extended to 64 bits with REX.W: what compilers emit
 * for `*p = 0`), in 64-bit mode. The caller knows the address (from the
 * hypervisor's message, or the fault) and the GPRs; the access size and the
 * stored value follow from the instruction bytes and the source.
 *
 * Accepted encodings: [66]* [REX] (88|89) ModRM [SIB] [disp8|disp32],
 * [66]* [REX] (C6|C7) ModRM(reg 0) [SIB] [disp8|disp32] imm8|imm16|imm32, and
 * [66]* [REX] (A2|A3) moffs64 (store AL/rAX to an absolute address), where
 * ModRM.mod is 00, 01 or 10 (a memory operand; mod 00 with r/m 101 is
 * RIP-relative disp32, SIB.base 101 with mod 00 is disp32 without a base).
 * REX.W selects 8 bytes (over 66), REX.R extends the source register,
 * REX.X/REX.B only select address registers, which do not matter here (the
 * GPA is in the message). Anything else (other prefixes, a REX that is not
 * directly before the opcode, other opcodes, register destinations) is
 * refused: a vector, string or read-modify-write instruction is not a
 * plain store.
 */
#include "x86_store.h"

#define NUB_X86_MAX_INSN_LEN 15u /* architectural limit */

int nub_x86_decode_store(const uint8_t *bytes, size_t count, const uint64_t *gprs,
                         struct nub_x86_store *out)
{
	size_t i = 0;
	int opsize16 = 0;
	uint8_t rex = 0;

	out->len = out->size = out->src = 0;
	out->data = 0;
	out->stop = 0;
	while (i < count && bytes[i] == 0x66) {
		opsize16 = 1;
		i++;
	}
	if (i < count && (bytes[i] & 0xF0) == 0x40)
		rex = bytes[i++];
	out->stop = (uint32_t)i;
	if (i >= count)
		return NUB_X86_DECODE_TRUNCATED;
	uint8_t opcode = bytes[i++];
	if (opcode == 0xA2 || opcode == 0xA3) {
		/* mov moffs64, AL / rAX: an absolute 8-byte address, what
		 * compilers emit for a store to a constant address. */
		if (count - i < 8)
			return NUB_X86_DECODE_TRUNCATED;
		i += 8;
		out->size = opcode == 0xA2 ? 1 : (rex & 0x8) ? 8 : opsize16 ? 2 : 4;
		uint64_t v = gprs ? gprs[0] : 0;
		out->data = out->size < 8 ? v & ((1ull << (out->size * 8)) - 1) : v;
		out->len = (uint32_t)i;
		out->src = 0;
		return NUB_X86_DECODE_OK;
	}
	if (opcode != 0x88 && opcode != 0x89 && opcode != 0xC6 && opcode != 0xC7)
		return NUB_X86_DECODE_NOT_STORE;
	if (i >= count)
		return NUB_X86_DECODE_TRUNCATED;
	uint8_t modrm = bytes[i++];
	uint8_t mod = modrm >> 6, reg = (modrm >> 3) & 7, rm = modrm & 7;
	if (mod == 3)
		return NUB_X86_DECODE_NOT_MEMORY;
	if ((opcode == 0xC6 || opcode == 0xC7) && reg != 0)
		return NUB_X86_DECODE_NOT_STORE; /* C6/C7 /1-/7: not a mov */
	size_t disp = mod == 1 ? 1 : mod == 2 ? 4 : 0;
	if (rm == 4) { /* SIB */
		if (i >= count)
			return NUB_X86_DECODE_TRUNCATED;
		uint8_t sib = bytes[i++];
		if (mod == 0 && (sib & 7) == 5)
			disp = 4; /* no base register */
	} else if (mod == 0 && rm == 5) {
		disp = 4; /* RIP-relative */
	}
	if (count - i < disp)
		return NUB_X86_DECODE_TRUNCATED;
	i += disp;

	uint32_t size = (opcode == 0x88 || opcode == 0xC6) ? 1
	                : (rex & 0x8)                      ? 8 /* REX.W wins over 66 */
	                : opsize16                         ? 2
	                                                   : 4;
	uint64_t value;
	uint32_t src = 16; /* an immediate */
	if (opcode == 0xC6 || opcode == 0xC7) {
		size_t imm = size == 8 ? 4 : size; /* imm32, sign-extended for REX.W */
		if (count - i < imm)
			return NUB_X86_DECODE_TRUNCATED;
		value = 0;
		for (size_t k = 0; k < imm; k++)
			value |= (uint64_t)bytes[i + k] << (8 * k);
		if (size == 8 && (value & 0x80000000u))
			value |= 0xFFFFFFFF00000000ull;
		i += imm;
	} else {
		src = reg | ((rex & 0x4) ? 8u : 0u); /* REX.R */
		/* Without REX, 4-7 of a byte store name AH, CH, DH, BH; with any
		 * REX they name SPL, BPL, SIL, DIL. */
		if (size == 1 && !rex && src >= 4 && src <= 7) {
			src -= 4;
			value = gprs ? gprs[src] >> 8 : 0;
		} else {
			value = gprs ? gprs[src] : 0;
		}
		if (size < 8)
			value &= (1ull << (size * 8)) - 1;
	}
	if (i > NUB_X86_MAX_INSN_LEN)
		return NUB_X86_DECODE_TOO_LONG;
	out->len = (uint32_t)i;
	out->size = size;
	out->src = src;
	out->data = value;
	return NUB_X86_DECODE_OK;
}
