/* SPDX-License-Identifier: MIT */
/*
 * The registers as gdb's 'g' packet carries them: the layout of the
 * target description below (gdb's amd64 GNU/Linux registers: core, SSE,
 * orig_rax, FS/GS base), read from and written to a struct nub_stop.
 */
#include <string.h>

#include "debug/gdb_proto.h"

const char nub_gdb_target_xml[] =
        "<?xml version=\"1.0\"?>\n"
        "<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
        "<target version=\"1.0\">\n"
        "<architecture>i386:x86-64</architecture>\n"
        "<osabi>GNU/Linux</osabi>\n"
        "<feature name=\"org.gnu.gdb.i386.core\">\n"
        "<reg name=\"rax\" bitsize=\"64\" type=\"int64\"/>\n"
        "<reg name=\"rbx\" bitsize=\"64\" type=\"int64\"/>\n"
        "<reg name=\"rcx\" bitsize=\"64\" type=\"int64\"/>\n"
        "<reg name=\"rdx\" bitsize=\"64\" type=\"int64\"/>\n"
        "<reg name=\"rsi\" bitsize=\"64\" type=\"int64\"/>\n"
        "<reg name=\"rdi\" bitsize=\"64\" type=\"int64\"/>\n"
        "<reg name=\"rbp\" bitsize=\"64\" type=\"data_ptr\"/>\n"
        "<reg name=\"rsp\" bitsize=\"64\" type=\"data_ptr\"/>\n"
        "<reg name=\"r8\" bitsize=\"64\" type=\"int64\"/>\n"
        "<reg name=\"r9\" bitsize=\"64\" type=\"int64\"/>\n"
        "<reg name=\"r10\" bitsize=\"64\" type=\"int64\"/>\n"
        "<reg name=\"r11\" bitsize=\"64\" type=\"int64\"/>\n"
        "<reg name=\"r12\" bitsize=\"64\" type=\"int64\"/>\n"
        "<reg name=\"r13\" bitsize=\"64\" type=\"int64\"/>\n"
        "<reg name=\"r14\" bitsize=\"64\" type=\"int64\"/>\n"
        "<reg name=\"r15\" bitsize=\"64\" type=\"int64\"/>\n"
        "<reg name=\"rip\" bitsize=\"64\" type=\"code_ptr\"/>\n"
        "<reg name=\"eflags\" bitsize=\"32\" type=\"int32\"/>\n"
        "<reg name=\"cs\" bitsize=\"32\" type=\"int32\"/>\n"
        "<reg name=\"ss\" bitsize=\"32\" type=\"int32\"/>\n"
        "<reg name=\"ds\" bitsize=\"32\" type=\"int32\"/>\n"
        "<reg name=\"es\" bitsize=\"32\" type=\"int32\"/>\n"
        "<reg name=\"fs\" bitsize=\"32\" type=\"int32\"/>\n"
        "<reg name=\"gs\" bitsize=\"32\" type=\"int32\"/>\n"
        "<reg name=\"st0\" bitsize=\"80\" type=\"i387_ext\"/>\n"
        "<reg name=\"st1\" bitsize=\"80\" type=\"i387_ext\"/>\n"
        "<reg name=\"st2\" bitsize=\"80\" type=\"i387_ext\"/>\n"
        "<reg name=\"st3\" bitsize=\"80\" type=\"i387_ext\"/>\n"
        "<reg name=\"st4\" bitsize=\"80\" type=\"i387_ext\"/>\n"
        "<reg name=\"st5\" bitsize=\"80\" type=\"i387_ext\"/>\n"
        "<reg name=\"st6\" bitsize=\"80\" type=\"i387_ext\"/>\n"
        "<reg name=\"st7\" bitsize=\"80\" type=\"i387_ext\"/>\n"
        "<reg name=\"fctrl\" bitsize=\"32\" type=\"int32\" group=\"float\"/>\n"
        "<reg name=\"fstat\" bitsize=\"32\" type=\"int32\" group=\"float\"/>\n"
        "<reg name=\"ftag\" bitsize=\"32\" type=\"int32\" group=\"float\"/>\n"
        "<reg name=\"fiseg\" bitsize=\"32\" type=\"int32\" group=\"float\"/>\n"
        "<reg name=\"fioff\" bitsize=\"32\" type=\"int32\" group=\"float\"/>\n"
        "<reg name=\"foseg\" bitsize=\"32\" type=\"int32\" group=\"float\"/>\n"
        "<reg name=\"fooff\" bitsize=\"32\" type=\"int32\" group=\"float\"/>\n"
        "<reg name=\"fop\" bitsize=\"32\" type=\"int32\" group=\"float\"/>\n"
        "</feature>\n"
        "<feature name=\"org.gnu.gdb.i386.sse\">\n"
        "<vector id=\"v4f\" type=\"ieee_single\" count=\"4\"/>\n"
        "<vector id=\"v2d\" type=\"ieee_double\" count=\"2\"/>\n"
        "<vector id=\"v16i8\" type=\"int8\" count=\"16\"/>\n"
        "<vector id=\"v8i16\" type=\"int16\" count=\"8\"/>\n"
        "<vector id=\"v4i32\" type=\"int32\" count=\"4\"/>\n"
        "<vector id=\"v2i64\" type=\"int64\" count=\"2\"/>\n"
        "<union id=\"vec128\"><field name=\"v4_float\" type=\"v4f\"/><field name=\"v2_double\" "
        "type=\"v2d\"/><field name=\"v16_int8\" type=\"v16i8\"/><field name=\"v8_int16\" "
        "type=\"v8i16\"/><field name=\"v4_int32\" type=\"v4i32\"/><field name=\"v2_int64\" "
        "type=\"v2i64\"/><field name=\"uint128\" type=\"uint128\"/></union>\n"
        "<reg name=\"xmm0\" bitsize=\"128\" type=\"vec128\" regnum=\"40\"/>\n"
        "<reg name=\"xmm1\" bitsize=\"128\" type=\"vec128\" regnum=\"41\"/>\n"
        "<reg name=\"xmm2\" bitsize=\"128\" type=\"vec128\" regnum=\"42\"/>\n"
        "<reg name=\"xmm3\" bitsize=\"128\" type=\"vec128\" regnum=\"43\"/>\n"
        "<reg name=\"xmm4\" bitsize=\"128\" type=\"vec128\" regnum=\"44\"/>\n"
        "<reg name=\"xmm5\" bitsize=\"128\" type=\"vec128\" regnum=\"45\"/>\n"
        "<reg name=\"xmm6\" bitsize=\"128\" type=\"vec128\" regnum=\"46\"/>\n"
        "<reg name=\"xmm7\" bitsize=\"128\" type=\"vec128\" regnum=\"47\"/>\n"
        "<reg name=\"xmm8\" bitsize=\"128\" type=\"vec128\" regnum=\"48\"/>\n"
        "<reg name=\"xmm9\" bitsize=\"128\" type=\"vec128\" regnum=\"49\"/>\n"
        "<reg name=\"xmm10\" bitsize=\"128\" type=\"vec128\" regnum=\"50\"/>\n"
        "<reg name=\"xmm11\" bitsize=\"128\" type=\"vec128\" regnum=\"51\"/>\n"
        "<reg name=\"xmm12\" bitsize=\"128\" type=\"vec128\" regnum=\"52\"/>\n"
        "<reg name=\"xmm13\" bitsize=\"128\" type=\"vec128\" regnum=\"53\"/>\n"
        "<reg name=\"xmm14\" bitsize=\"128\" type=\"vec128\" regnum=\"54\"/>\n"
        "<reg name=\"xmm15\" bitsize=\"128\" type=\"vec128\" regnum=\"55\"/>\n"
        "<reg name=\"mxcsr\" bitsize=\"32\" type=\"int32\" group=\"vector\"/>\n"
        "</feature>\n"
        "<feature name=\"org.gnu.gdb.i386.linux\"><reg name=\"orig_rax\" bitsize=\"64\" "
        "type=\"int64\" regnum=\"57\"/></feature>\n"
        "<feature name=\"org.gnu.gdb.i386.segments\"><reg name=\"fs_base\" bitsize=\"64\" "
        "type=\"int64\"/><reg name=\"gs_base\" bitsize=\"64\" type=\"int64\"/></feature>\n"
        "</target>\n";

enum {
	REG_RIP = 16,
	REG_EFLAGS = 17,
	REG_CS = 18,
	REG_GS = 23,
	REG_ST0 = 24,
	REG_FCTRL = 32,
	REG_FOP = 39,
	REG_XMM0 = 40,
	REG_MXCSR = 56,
	REG_ORIG_RAX = 57,
	REG_FS_BASE = 58,
	REG_GS_BASE = 59,
};

/* RFLAGS bits CPL3 code sets itself (popf): CF PF AF ZF SF DF OF AC. TF is
 * the stepper's; IF, IOPL and the rest stay the host's. */
#define USER_FLAGS 0x40cd5ull

/* gdb's order of the general registers, in struct nub_regs. */
static uint64_t *gpr(struct nub_regs *r, unsigned n)
{
	uint64_t *const v[16] = {&r->rax, &r->rbx, &r->rcx, &r->rdx, &r->rsi, &r->rdi,
	                         &r->rbp, &r->rsp, &r->r8,  &r->r9,  &r->r10, &r->r11,
	                         &r->r12, &r->r13, &r->r14, &r->r15};
	return v[n];
}

static size_t put(uint8_t *out, uint64_t v, size_t size)
{
	for (size_t i = 0; i < size; i++)
		out[i] = (uint8_t)(v >> (8 * i));
	return size;
}

static uint64_t get(const uint8_t *in, size_t size)
{
	uint64_t v = 0;

	for (size_t i = 0; i < size; i++)
		v |= (uint64_t)in[i] << (8 * i);
	return v;
}

/* The full tag word gdb shows, from FXSAVE's abridged one: 3 for an empty
 * register, else what its value is (0 valid, 1 zero, 2 special). */
static uint32_t full_tag(const struct nub_fpu *f)
{
	unsigned top = (f->fsw >> 11) & 7;
	uint32_t tag = 0;

	for (unsigned i = 0; i < 8; i++) {
		const uint8_t *st = f->fpr[(i - top) & 7];
		uint64_t mant = get(st, 8);
		unsigned exp = (unsigned)get(st + 8, 2) & 0x7fff, t;
		if (!(f->ftwx >> i & 1))
			t = 3;
		else if (exp == 0x7fff)
			t = 2;
		else if (exp == 0)
			t = mant ? 2 : 1;
		else
			t = mant >> 63 ? 0 : 2;
		tag |= t << (2 * i);
	}
	return tag;
}

static size_t fpu_get(const struct nub_stop *s, unsigned n, uint8_t *out)
{
	const struct nub_fpu *f = &s->fpu;
	const uint32_t ctl[8] = {f->fcw,
	                         f->fsw,
	                         full_tag(f),
	                         (uint32_t)(f->last_ip >> 32),
	                         (uint32_t)f->last_ip,
	                         (uint32_t)(f->last_dp >> 32),
	                         (uint32_t)f->last_dp,
	                         f->last_opcode};

	if (n < REG_FCTRL) {
		memcpy(out, f->fpr[n - REG_ST0], 10);
		return 10;
	}
	if (n <= REG_FOP)
		return put(out, ctl[n - REG_FCTRL], 4);
	if (n < REG_MXCSR) {
		memcpy(out, f->xmm[n - REG_XMM0], 16);
		return 16;
	}
	return put(out, f->mxcsr, 4);
}

size_t nub_gdb_reg_get(const struct nub_stop *s, unsigned n, uint8_t *out)
{
	struct nub_regs r = s->regs;
	const uint64_t seg[6] = {s->cs, s->ss, 0, 0, 0, 0};

	if (n < 16)
		return put(out, *gpr(&r, n), 8);
	if (n == REG_RIP)
		return put(out, r.rip, 8);
	if (n == REG_EFLAGS)
		return put(out, r.rflags, 4);
	if (n <= REG_GS)
		return put(out, seg[n - REG_CS], 4);
	if (n <= REG_MXCSR) {
		if (s->have_fpu)
			return fpu_get(s, n, out);
		memset(out, 0, 16);
		return n < REG_FCTRL ? 10 : n < REG_XMM0 || n == REG_MXCSR ? 4 : 16;
	}
	if (n == REG_ORIG_RAX)
		return put(out, UINT64_MAX, 8); /* not in a system call */
	if (n == REG_FS_BASE)
		return put(out, s->fs_base, 8);
	if (n == REG_GS_BASE)
		return put(out, s->gs_base, 8);
	return 0;
}

static int fpu_set(struct nub_stop *s, unsigned n, const uint8_t *in)
{
	struct nub_fpu *f = &s->fpu;
	uint32_t v = (uint32_t)get(in, 4);

	if (n < REG_FCTRL) {
		memcpy(f->fpr[n - REG_ST0], in, 10);
		return 0;
	}
	if (n >= REG_XMM0 && n < REG_MXCSR) {
		memcpy(f->xmm[n - REG_XMM0], in, 16);
		return 0;
	}
	switch (n) {
	case REG_FCTRL:
		f->fcw = (uint16_t)v;
		return 0;
	case REG_FCTRL + 1:
		f->fsw = (uint16_t)v;
		return 0;
	case REG_FCTRL + 2: /* back to FXSAVE's form: a bit per register in use */
		f->ftwx = 0;
		for (unsigned i = 0; i < 8; i++)
			f->ftwx |= (uint8_t)(((v >> (2 * i) & 3) != 3) << i);
		return 0;
	case REG_FOP:
		f->last_opcode = (uint16_t)(v & 0x7ff);
		return 0;
	case REG_MXCSR:
		if (v & 0xffff0000u)
			return -1; /* reserved bits: the restore would fault */
		f->mxcsr = v;
		return 0;
	default: /* the instruction and operand pointers */
		return 0;
	}
}

int nub_gdb_reg_set(struct nub_stop *s, unsigned n, const uint8_t *in)
{
	uint8_t now[16];
	size_t size = nub_gdb_reg_get(s, n, now);

	if (!size)
		return -1;
	if (n < 16) {
		*gpr(&s->regs, n) = get(in, 8);
		return 0;
	}
	if (n == REG_RIP) {
		uint64_t rip = get(in, 8);
		if (rip >> 47)
			return -1; /* not a CPL3 address: the stub's iretq would fault */
		s->regs.rip = rip;
		return 0;
	}
	if (n == REG_EFLAGS) {
		s->regs.rflags = (s->regs.rflags & ~USER_FLAGS) | (get(in, 4) & USER_FLAGS);
		return 0;
	}
	if (n >= REG_ST0 && n <= REG_MXCSR && s->have_fpu)
		return fpu_set(s, n, in);
	/* Selectors, bases, orig_rax: the host's. Writing what they are (a 'G'
	 * packet writes every register) is no change. */
	return memcmp(now, in, size) ? -1 : 0;
}
