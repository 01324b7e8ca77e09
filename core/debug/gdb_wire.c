/* SPDX-License-Identifier: MIT */
/* gdb's packet framing and hex (gdb_proto.h). */
#include <string.h>

#include "debug/gdb_proto.h"

enum { OUTSIDE, DATA, SUM_HI, SUM_LO };

void nub_gdb_framer_init(struct nub_gdb_framer *f)
{
	f->state = OUTSIDE;
	f->len = 0;
	f->sum = 0;
	f->want = 0;
	f->overflow = 0;
	f->data[0] = '\0';
}

int nub_gdb_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

enum nub_gdb_frame_event nub_gdb_framer_feed(struct nub_gdb_framer *f, uint8_t byte)
{
	int d;

	switch (f->state) {
	case OUTSIDE:
		if (byte == 0x03)
			return NUB_GDB_FRAME_INTERRUPT;
		if (byte == '$') {
			f->state = DATA;
			f->len = 0;
			f->sum = 0;
			f->overflow = 0;
		}
		return NUB_GDB_FRAME_NONE; /* acks ('+', '-') and noise */
	case DATA:
		if (byte == '#') {
			f->state = SUM_HI;
			return NUB_GDB_FRAME_NONE;
		}
		f->sum = (uint8_t)(f->sum + byte);
		if (f->len < NUB_GDB_PACKET_MAX)
			f->data[f->len++] = (char)byte;
		else
			f->overflow = 1;
		return NUB_GDB_FRAME_NONE;
	case SUM_HI:
		d = nub_gdb_hex_digit((char)byte);
		f->want = (uint8_t)((d < 0 ? 0 : d) << 4);
		f->overflow |= d < 0;
		f->state = SUM_LO;
		return NUB_GDB_FRAME_NONE;
	default:
		d = nub_gdb_hex_digit((char)byte);
		f->state = OUTSIDE;
		f->data[f->len] = '\0';
		if (d < 0 || f->overflow || (uint8_t)(f->want | d) != f->sum)
			return NUB_GDB_FRAME_BAD;
		return NUB_GDB_FRAME_PACKET;
	}
}

size_t nub_gdb_frame(const char *data, size_t len, char *out, size_t cap)
{
	static const char digits[] = "0123456789abcdef";
	uint8_t sum = 0;

	if (cap < 4 || len > cap - 4)
		return 0;
	out[0] = '$';
	for (size_t i = 0; i < len; i++) {
		out[1 + i] = data[i];
		sum = (uint8_t)(sum + (uint8_t)data[i]);
	}
	out[1 + len] = '#';
	out[2 + len] = digits[sum >> 4];
	out[3 + len] = digits[sum & 15];
	return len + 4;
}

int nub_gdb_unhex(const char *hex, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++) {
		int hi = nub_gdb_hex_digit(hex[2 * i]),
		    lo = hi < 0 ? -1 : nub_gdb_hex_digit(hex[2 * i + 1]);
		if (lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void nub_gdb_hex(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
}
