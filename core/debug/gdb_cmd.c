/* SPDX-License-Identifier: MIT */
/*
 * gdb's commands parsed into a struct (gdb_proto.h): every number read
 * with a bound on its digits, every argument checked before the server
 * acts on anything. Only what the server serves is known; the rest gets
 * gdb's "not supported" (an empty reply).
 */
#include <string.h>

#include "debug/gdb_proto.h"

/* A hex number of 1..16 digits at *p, which moves past it. */
static int number(const char **p, const char *end, uint64_t *v)
{
	const char *s = *p;
	uint64_t n = 0;
	int d;

	while (s < end && s - *p < 16 && (d = nub_gdb_hex_digit(*s)) >= 0) {
		n = n << 4 | (uint64_t)d;
		s++;
	}
	if (s == *p || (s < end && nub_gdb_hex_digit(*s) >= 0))
		return -1; /* none, or more than 16 digits */
	*p = s;
	*v = n;
	return 0;
}

static int expect(const char **p, const char *end, char c)
{
	if (*p >= end || **p != c)
		return -1;
	(*p)++;
	return 0;
}

static int starts(const char *data, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);
	return len >= n && !memcmp(data, prefix, n);
}

/* "addr,len" */
static int addr_len(const char **p, const char *end, struct nub_gdb_cmd *c)
{
	return number(p, end, &c->addr) || expect(p, end, ',') || number(p, end, &c->len) ? -1 : 0;
}

/* c [addr] | s [addr] | C sig[;addr] | S sig[;addr] */
static int resume(const char *p, const char *end, int with_signal, struct nub_gdb_cmd *c)
{
	uint64_t v;

	if (with_signal) {
		if (number(&p, end, &v) || v > 255)
			return -1;
		c->signo = (int)v;
		if (p == end)
			return 0;
		if (expect(&p, end, ';'))
			return -1;
	}
	if (p == end)
		return 0;
	c->has_addr = 1;
	return number(&p, end, &c->addr) || p != end ? -1 : 0;
}

/* Z0,addr,kind | z0,addr,kind: software breakpoints only (kind 1: int3). */
static void breakpoint(const char *p, const char *end, struct nub_gdb_cmd *c)
{
	uint64_t kind;

	if (p >= end || *p != '0') {
		c->op = NUB_GDB_OP_UNKNOWN; /* hardware breakpoints, watchpoints */
		return;
	}
	p++;
	if (expect(&p, end, ',') || addr_len(&p, end, c)) {
		c->op = NUB_GDB_OP_MALFORMED;
		return;
	}
	kind = c->len;
	c->len = 1;
	/* Conditions and commands (";X...") are gdb's to evaluate: refused. */
	if (p != end || kind != 1)
		c->op = NUB_GDB_OP_MALFORMED;
}

/* qXfer:features:read:target.xml:off,len | qXfer:auxv:read::off,len */
static void xfer(const char *p, const char *end, struct nub_gdb_cmd *c)
{
	static const char features[] = "features:read:target.xml:", auxv[] = "auxv:read::";

	if ((size_t)(end - p) >= sizeof(features) - 1 &&
	    !memcmp(p, features, sizeof(features) - 1)) {
		c->object = NUB_GDB_XFER_FEATURES;
		p += sizeof(features) - 1;
	} else if ((size_t)(end - p) >= sizeof(auxv) - 1 && !memcmp(p, auxv, sizeof(auxv) - 1)) {
		c->object = NUB_GDB_XFER_AUXV;
		p += sizeof(auxv) - 1;
	} else {
		c->op = NUB_GDB_OP_UNKNOWN;
		return;
	}
	if (addr_len(&p, end, c) || p != end)
		c->op = NUB_GDB_OP_MALFORMED;
}

/* The hex after `p` up to the end: an even number of digits. */
static int hex_rest(const char *p, const char *end, struct nub_gdb_cmd *c)
{
	c->hex = p;
	c->hex_len = (size_t)(end - p);
	return c->hex_len % 2 ? -1 : 0;
}

static int reg_write(const char *p, const char *end, struct nub_gdb_cmd *c)
{
	uint64_t n;

	if (number(&p, end, &n) || n >= NUB_GDB_NREGS || expect(&p, end, '='))
		return -1;
	c->reg = (unsigned)n;
	return hex_rest(p, end, c);
}

static int mem_write(const char *p, const char *end, struct nub_gdb_cmd *c)
{
	if (addr_len(&p, end, c) || expect(&p, end, ':') || hex_rest(p, end, c))
		return -1;
	return c->hex_len / 2 == c->len ? 0 : -1;
}

static int one_letter(const char *p, const char *end, char op, struct nub_gdb_cmd *c)
{
	uint64_t n;

	switch (op) {
	case '?':
		c->op = NUB_GDB_OP_WHY;
		return p == end ? 0 : -1;
	case 'g':
		c->op = NUB_GDB_OP_READ_REGS;
		return p == end ? 0 : -1;
	case 'G':
		c->op = NUB_GDB_OP_WRITE_REGS;
		return hex_rest(p, end, c);
	case 'p':
		c->op = NUB_GDB_OP_READ_REG;
		if (number(&p, end, &n) || p != end || n >= NUB_GDB_NREGS)
			return -1;
		c->reg = (unsigned)n;
		return 0;
	case 'P':
		c->op = NUB_GDB_OP_WRITE_REG;
		return reg_write(p, end, c);
	case 'm':
		c->op = NUB_GDB_OP_READ_MEM;
		return addr_len(&p, end, c) || p != end ? -1 : 0;
	case 'M':
		c->op = NUB_GDB_OP_WRITE_MEM;
		return mem_write(p, end, c);
	case 'c':
	case 'C':
		c->op = NUB_GDB_OP_CONTINUE;
		return resume(p, end, op == 'C', c);
	case 's':
	case 'S':
		c->op = NUB_GDB_OP_STEP;
		return resume(p, end, op == 'S', c);
	case 'D':
		c->op = NUB_GDB_OP_DETACH;
		return 0; /* D;pid: one process */
	case 'k':
		c->op = NUB_GDB_OP_KILL;
		return 0;
	case 'H':
	case 'T':
		c->op = NUB_GDB_OP_OK; /* one thread: every thread id is it */
		return 0;
	default:
		return 0;
	}
}

void nub_gdb_parse(const char *data, size_t len, struct nub_gdb_cmd *out)
{
	const char *end = data + len;

	memset(out, 0, sizeof(*out));
	if (!len)
		return;
	if (starts(data, len, "qSupported"))
		out->op = NUB_GDB_OP_SUPPORTED;
	else if (starts(data, len, "QStartNoAckMode"))
		out->op = NUB_GDB_OP_NOACK;
	else if (starts(data, len, "qXfer:")) {
		out->op = NUB_GDB_OP_XFER;
		xfer(data + 6, end, out);
	} else if (starts(data, len, "qAttached"))
		out->op = NUB_GDB_OP_ATTACHED;
	else if (len == 2 && !memcmp(data, "qC", 2))
		out->op = NUB_GDB_OP_THREAD;
	else if (starts(data, len, "qfThreadInfo"))
		out->op = NUB_GDB_OP_THREADS;
	else if (starts(data, len, "qsThreadInfo"))
		out->op = NUB_GDB_OP_THREADS_END;
	else if (starts(data, len, "qSymbol"))
		out->op = NUB_GDB_OP_OK;
	else if (starts(data, len, "vKill"))
		out->op = NUB_GDB_OP_KILL;
	else if (data[0] == 'Z' || data[0] == 'z') {
		out->op = data[0] == 'Z' ? NUB_GDB_OP_INSERT_BP : NUB_GDB_OP_REMOVE_BP;
		breakpoint(data + 1, end, out);
	} else if (data[0] != 'q' && data[0] != 'Q' && data[0] != 'v' &&
	           one_letter(data + 1, end, data[0], out))
		out->op = NUB_GDB_OP_MALFORMED;
}
