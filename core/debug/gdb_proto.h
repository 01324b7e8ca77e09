/* SPDX-License-Identifier: MIT */
/*
 * gdb's remote protocol as bytes, shared by the server's files (gdb.c):
 * framing ($data#cs, acks, the interrupt byte), commands parsed into a
 * struct before anything acts on them, and the register layout gdb is
 * told in target.xml. Everything here reads untrusted bytes and is pure:
 * the fuzz target drives it directly (tests/fuzz/fuzz_gdb.c).
 */
#ifndef NUB_CORE_DEBUG_GDB_PROTO_H
#define NUB_CORE_DEBUG_GDB_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "debug/stop.h"

/* The largest packet either side sends (advertised as PacketSize). */
#define NUB_GDB_PACKET_MAX 4096u

/* ---- framing (gdb_wire.c) ---- */

enum nub_gdb_frame_event {
	NUB_GDB_FRAME_NONE,      /* byte taken, nothing complete yet */
	NUB_GDB_FRAME_PACKET,    /* a packet with a good checksum is in the framer */
	NUB_GDB_FRAME_BAD,       /* a packet with a bad checksum or too long: NAK it */
	NUB_GDB_FRAME_INTERRUPT, /* ^C outside a packet */
};

struct nub_gdb_framer {
	int state; /* outside, in the data, first checksum digit, second */
	uint8_t sum, want;
	int overflow;
	size_t len;
	char data[NUB_GDB_PACKET_MAX + 1]; /* NUL-terminated when complete */
};

void nub_gdb_framer_init(struct nub_gdb_framer *f);
enum nub_gdb_frame_event nub_gdb_framer_feed(struct nub_gdb_framer *f, uint8_t byte);

/* "$data#cs" for `data` into out (cap >= len + 4); returns its length, 0
 * when it does not fit. */
size_t nub_gdb_frame(const char *data, size_t len, char *out, size_t cap);

/* Hex, as the protocol writes bytes: two digits each. */
int nub_gdb_hex_digit(char c);
/* Decode 2*n digits into n bytes; -1 on a non-digit. */
int nub_gdb_unhex(const char *hex, size_t n, uint8_t *out);
void nub_gdb_hex(const uint8_t *in, size_t n, char *out);

/* ---- commands (gdb_cmd.c) ---- */

enum nub_gdb_op {
	NUB_GDB_OP_UNKNOWN,    /* answered with an empty packet */
	NUB_GDB_OP_MALFORMED,  /* a known command with bad arguments: E01 */
	NUB_GDB_OP_SUPPORTED,  /* qSupported */
	NUB_GDB_OP_NOACK,      /* QStartNoAckMode */
	NUB_GDB_OP_WHY,        /* ? */
	NUB_GDB_OP_READ_REGS,  /* g */
	NUB_GDB_OP_WRITE_REGS, /* G hex */
	NUB_GDB_OP_READ_REG,   /* p n */
	NUB_GDB_OP_WRITE_REG,  /* P n=hex */
	NUB_GDB_OP_READ_MEM,   /* m addr,len */
	NUB_GDB_OP_WRITE_MEM,  /* M addr,len:hex */
	NUB_GDB_OP_INSERT_BP,  /* Z0,addr,kind */
	NUB_GDB_OP_REMOVE_BP,  /* z0,addr,kind */
	NUB_GDB_OP_CONTINUE,   /* c [addr], C sig[;addr] */
	NUB_GDB_OP_STEP,       /* s [addr], S sig[;addr] */
	NUB_GDB_OP_DETACH,     /* D, D;pid */
	NUB_GDB_OP_KILL,       /* k, vKill;pid */
	NUB_GDB_OP_XFER,       /* qXfer:features|auxv:read:annex:off,len */
	NUB_GDB_OP_OK,         /* answered OK: H, T, qSymbol, ... */
	NUB_GDB_OP_ATTACHED,   /* qAttached: 1 (detach leaves it running) */
	NUB_GDB_OP_THREAD,     /* qC */
	NUB_GDB_OP_THREADS,    /* qfThreadInfo */
	NUB_GDB_OP_THREADS_END /* qsThreadInfo */
};

enum nub_gdb_object { NUB_GDB_XFER_FEATURES, NUB_GDB_XFER_AUXV };

struct nub_gdb_cmd {
	enum nub_gdb_op op;
	uint64_t addr, len; /* m, M, Z, z, qXfer (offset, length), c/s addr */
	int has_addr;       /* c/s with an address */
	unsigned reg;       /* p, P */
	int signo;          /* C, S: the signal to deliver (0: none) */
	enum nub_gdb_object object;
	const char *hex; /* G, M, P: the hex digits, hex_len of them */
	size_t hex_len;
};

/* Parse one packet's data (NUL-terminated, `len` bytes). Never fails:
 * what it does not know is UNKNOWN, what it cannot read MALFORMED. The
 * hex pointer points into `data`. */
void nub_gdb_parse(const char *data, size_t len, struct nub_gdb_cmd *out);

/* ---- registers (gdb_regs.c) ---- */

/* The target description sent as target.xml: the 'g' packet's layout. */
extern const char nub_gdb_target_xml[];
/* Registers in that layout, and the bytes of all of them. */
#define NUB_GDB_NREGS     60u
#define NUB_GDB_REGS_SIZE 560u

/* Register `n` of the stop into out (its size); returns the size, 0 for no
 * such register. */
size_t nub_gdb_reg_get(const struct nub_stop *s, unsigned n, uint8_t *out);
/* Set register `n` from its bytes; 0, or -1 for a register gdb may not
 * change here (segment selectors, the x87 registers when the backend
 * reads no FPU state). RFLAGS keeps the bits a CPL3 guest cannot set. */
int nub_gdb_reg_set(struct nub_stop *s, unsigned n, const uint8_t *in);

#endif
