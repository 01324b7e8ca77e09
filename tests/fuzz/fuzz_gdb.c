/* SPDX-License-Identifier: MIT */
/* Fuzz what the gdb server reads from its socket: random bytes through the
 * framer, every packet it completes through the command parser, and the
 * hex of register and memory writes through the decoders into a register
 * set -- each bounded by what the parser accepted. Anything read past a
 * packet or a register is ASan's to find; a parse that lets through a
 * length the server would trust is abort()ed here. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "debug/gdb_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise(const struct nub_gdb_cmd *c)
{
	struct nub_stop st = {.have = 1, .have_fpu = 1};
	uint8_t v[16];

	if (c->op == NUB_GDB_OP_WRITE_REG) {
		size_t n = nub_gdb_reg_get(&st, c->reg, v);
		if (!n || c->reg >= NUB_GDB_NREGS)
			abort();
		if (c->hex_len == 2 * n && !nub_gdb_unhex(c->hex, n, v))
			nub_gdb_reg_set(&st, c->reg, v);
		if (st.regs.rip >> 47)
			abort(); /* a non-canonical RIP would reach the stub's iretq */
	}
	if (c->op == NUB_GDB_OP_WRITE_MEM && c->hex_len != 2 * c->len)
		abort();
	if (c->op == NUB_GDB_OP_READ_REG && c->reg >= NUB_GDB_NREGS)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct nub_gdb_framer f;
	struct nub_gdb_cmd c;

	nub_gdb_framer_init(&f);
	for (size_t i = 0; i < size; i++) {
		if (nub_gdb_framer_feed(&f, data[i]) != NUB_GDB_FRAME_PACKET)
			continue;
		if (f.len > NUB_GDB_PACKET_MAX || f.data[f.len] != '\0')
			abort();
		nub_gdb_parse(f.data, f.len, &c);
		if (c.hex && (c.hex < f.data || c.hex + c.hex_len > f.data + f.len))
			abort();
		exercise(&c);
	}
	/* The parser on its own, on the raw bytes as one packet. */
	char pkt[256];
	size_t n = size < sizeof(pkt) - 1 ? size : sizeof(pkt) - 1;
	memcpy(pkt, data, n);
	pkt[n] = '\0';
	nub_gdb_parse(pkt, n, &c);
	exercise(&c);
	return 0;
}
