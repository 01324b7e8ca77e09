/* SPDX-License-Identifier: MIT */
/* Guest for host tests: functions that behave, and functions that break
 * every rule the host must survive. Ids and wire formats: test_guest_ids.h. */
#include <stdbool.h>

#include <nubguest.h>

#include "test_guest_ids.h"

static uint32_t load_u32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t load_u64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static int32_t put(const void *v, uint32_t n, uint8_t *out, uint32_t out_cap, uint32_t *out_len)
{
	if (n > out_cap)
		return NUB_EFULL;
	memcpy(out, v, n);
	*out_len = n;
	return 0;
}

static int32_t put_u64(uint64_t v, uint8_t *out, uint32_t out_cap, uint32_t *out_len)
{
	return put(&v, sizeof(v), out, out_cap, out_len);
}

static int32_t echo(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                    uint32_t *out_len)
{
	return put(in, in_len, out, out_cap, out_len);
}

static int32_t heap_pages(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                          uint32_t *out_len)
{
	if (in_len != 8)
		return NUB_EINVAL;
	uint64_t n = (uint64_t)load_u32(in) * 4096;
	uint32_t seed = load_u32(in + 4);
	uint8_t *p = malloc(n);
	uint64_t h = NUB_TG_FNV_OFFSET;
	for (uint64_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i);
	for (uint64_t i = 0; i < n; i++)
		h = (h ^ p[i]) * NUB_TG_FNV_PRIME;
	free(p);
	return put_u64(h, out, out_cap, out_len);
}

static int32_t call_host(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                         uint32_t *out_len)
{
	if (in_len < 4 || out_cap < 8)
		return NUB_EINVAL;
	uint32_t answer_len = 0;
	int32_t st =
	        nub_call_host(load_u32(in), in + 4, in_len - 4, out + 8, out_cap - 8, &answer_len);
	memcpy(out, &st, 4);
	memcpy(out + 4, &answer_len, 4);
	*out_len = 8 + (answer_len < out_cap - 8 ? answer_len : out_cap - 8);
	return 0;
}

static uint8_t page_area[NUB_TG_PAGES_MAX][4096] __attribute__((aligned(4096)));

static int32_t pages(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                     uint32_t *out_len)
{
	if (in_len != 9)
		return NUB_EINVAL;
	uint64_t first = load_u32(in), count = load_u32(in + 4), sum = 0;
	if (first > NUB_TG_PAGES_MAX || count > NUB_TG_PAGES_MAX - first)
		return NUB_ERANGE;
	for (uint64_t p = first; p < first + count; p++)
		memset(page_area[p], in[8], sizeof(page_area[p]));
	for (uint64_t p = 0; p < NUB_TG_PAGES_MAX; p++)
		for (uint64_t i = 0; i < sizeof(page_area[p]); i += 8) {
			uint64_t w;
			memcpy(&w, &page_area[p][i], 8);
			/* Byte sum of the word without a loop per byte. */
			w = (w & 0x00ff00ff00ff00ffull) + ((w >> 8) & 0x00ff00ff00ff00ffull);
			w = (w & 0x0000ffff0000ffffull) + ((w >> 16) & 0x0000ffff0000ffffull);
			sum += (w & 0xffffffffull) + (w >> 32);
		}
	return put_u64(sum, out, out_cap, out_len);
}

static uint8_t dirty_area[NUB_TG_DIRTY_MAX][4096] __attribute__((aligned(4096)));

static int32_t dirty(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                     uint32_t *out_len)
{
	(void)out, (void)out_cap, (void)out_len;
	if (in_len != 9)
		return NUB_EINVAL;
	uint32_t first = load_u32(in), count = load_u32(in + 4);
	if (first > NUB_TG_DIRTY_MAX || count > NUB_TG_DIRTY_MAX - first)
		return NUB_ERANGE;
	for (uint32_t p = first; p < first + count; p++)
		*(volatile uint8_t *)&dirty_area[p][p % 4096] = in[8];
	return 0;
}

/* Every byte of [p, p+len): set to 0xa5 (leave) or counted when not zero. */
static uint64_t traces_in(uintptr_t p, uintptr_t len, int leave)
{
	volatile uint8_t *b = (volatile uint8_t *)p;
	uint64_t n = 0;

	for (uintptr_t i = 0; i < len; i++) {
		if (leave)
			b[i] = 0xa5;
		else
			n += b[i] != 0;
	}
	return n;
}

static int32_t mem(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                   uint32_t *out_len)
{
	uint64_t gva;
	uint32_t len;

	if (in_len < 13)
		return NUB_EINVAL;
	memcpy(&gva, in + 1, 8);
	memcpy(&len, in + 9, 4);
	switch (in[0]) {
	case NUB_TG_MEM_READ:
		if (len > out_cap)
			return NUB_EFULL;
		for (uint32_t i = 0; i < len; i++)
			out[i] = ((const volatile uint8_t *)gva)[i];
		*out_len = len;
		return 0;
	case NUB_TG_MEM_WRITE:
		if (len > in_len - 13)
			return NUB_EINVAL;
		for (uint32_t i = 0; i < len; i++)
			((volatile uint8_t *)gva)[i] = in[13 + i];
		return 0;
	case NUB_TG_MEM_EXEC: {
		uint64_t v = ((uint64_t(*)(void))gva)();
		memcpy(out, &v, sizeof(v));
		*out_len = sizeof(v);
		return 0;
	}
	default:
		return NUB_EINVAL;
	}
}

static int32_t mapping(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                       uint32_t *out_len)
{
	struct nub_mapping_info m;
	uint32_t tag;
	int rc;

	if (in_len < 4 || out_cap < sizeof(m))
		return NUB_EINVAL;
	memcpy(&tag, in, 4);
	rc = nub_guest_mapping(tag, &m);
	if (rc)
		return rc;
	memcpy(out, &m, sizeof(m));
	*out_len = sizeof(m);
	return 0;
}

static int32_t traces(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                      uint32_t *out_len)
{
	const struct nub_peb *peb = nub_peb();
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0) - NUB_TG_TRACES_MARGIN;
	uintptr_t bottom = peb->stack_top_gva - peb->stack_size;
	uint64_t n;

	if (in_len != 1 || in[0] > NUB_TG_TRACES_LEAVE)
		return NUB_EINVAL;
	n = traces_in(bottom, sp - bottom, in[0]);
	n += traces_in(peb->input_gva + peb->input_size / 2, peb->input_size / 2, in[0]);
	n += traces_in(peb->output_gva + peb->output_size / 2, peb->output_size / 2, in[0]);
	return put_u64(n, out, out_cap, out_len);
}

static int32_t spin(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                    uint32_t *out_len)
{
	(void)in, (void)in_len, (void)out, (void)out_cap, (void)out_len;
	volatile int forever = 1;
	while (forever)
		__asm__ volatile("pause");
	return 0;
}

static int32_t spin_after_host(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                               uint32_t *out_len)
{
	uint32_t n = 0;
	if (in_len < 4)
		return NUB_EINVAL;
	nub_call_host(load_u32(in), NULL, 0, out, out_cap, &n);
	return spin(in, in_len, out, out_cap, out_len);
}

static int32_t do_abort(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                        uint32_t *out_len)
{
	static char text[8192]; /* nub_abort's text is not cut (nub_abortf's is) */
	uint32_t n;

	(void)out, (void)out_cap, (void)out_len;
	if (in_len < 4)
		return NUB_EINVAL;
	n = in_len - 4 < sizeof(text) - 1 ? in_len - 4 : (uint32_t)sizeof(text) - 1;
	memcpy(text, in + 4, n);
	text[n] = 0;
	nub_abort(load_u32(in), text);
}

static int32_t null_deref(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                          uint32_t *out_len)
{
	(void)in, (void)in_len;
	volatile uint64_t *volatile null = 0;
	return put_u64(*null, out, out_cap, out_len);
}

/* Not a tail call (the frame is used after it), so every level takes stack. */
static __attribute__((noinline)) uint64_t recurse(uint64_t depth)
{
	volatile uint8_t frame[256];
	frame[0] = (uint8_t)depth;
	if (depth == UINT64_MAX) /* keeps gcc from calling it infinite */
		return 0;
	return recurse(depth + 1) + frame[0];
}

static int32_t stack_overflow(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                              uint32_t *out_len)
{
	(void)in, (void)in_len;
	return put_u64(recurse(0), out, out_cap, out_len);
}

static const uint64_t rodata_word = 0x1122334455667788ull;

static int32_t write_rodata(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                            uint32_t *out_len)
{
	(void)in, (void)in_len;
	volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)&rodata_word;
	*p = 0;
	return put_u64(*p, out, out_cap, out_len);
}

/* `ret`: harmless if NX were not enforced (the call would then succeed). */
static uint8_t data_code[16] = {0xc3};

static int32_t exec_data(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                         uint32_t *out_len)
{
	(void)in, (void)in_len, (void)out, (void)out_cap, (void)out_len;
	void (*volatile fn)(void) = (void (*)(void))(uintptr_t)data_code;
	fn();
	return NUB_EINVAL; /* NX did not stop it */
}

/* Privileged instructions a CPL3 guest might try; each must fault. */
/* The rest of NUB_TG_PRIVILEGED: register and memory forms. */
static int32_t privileged_more(uint8_t which)
{
	static const uint8_t zero_dtr[10];
	static const uint16_t msw = 1;

	switch (which) {
	case NUB_TG_PRIV_LMSW_REG:
		__asm__ volatile("lmsw %w0" : : "r"(1) : "memory");
		break;
	case NUB_TG_PRIV_LMSW_MEM:
		__asm__ volatile("lmsw %0" : : "m"(msw) : "memory");
		break;
	case NUB_TG_PRIV_LTR_REG:
		__asm__ volatile("ltr %w0" : : "r"(0x30) : "memory");
		break;
	case NUB_TG_PRIV_INVLPG:
		__asm__ volatile("invlpg (%0)" : : "r"(zero_dtr) : "memory");
		break;
	case NUB_TG_PRIV_MOV_DR7:
		__asm__ volatile("mov %0, %%dr7" : : "r"(0ull) : "memory");
		break;
	case NUB_TG_PRIV_RDMSR: {
		uint32_t lo, hi;
		__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(0xc0000080u) : "memory");
		break;
	}
	case NUB_TG_PRIV_SWAPGS:
		__asm__ volatile("swapgs" ::: "memory");
		break;
	case NUB_TG_PRIV_IN_DX: {
		uint8_t v;
		__asm__ volatile("inb %%dx, %0" : "=a"(v) : "d"(0x80) : "memory");
		break;
	}
	case NUB_TG_PRIV_STI:
		__asm__ volatile("sti" ::: "memory");
		break;
	case NUB_TG_PRIV_CLTS:
		__asm__ volatile("clts" ::: "memory");
		break;
	case NUB_TG_PRIV_LIDT:
		__asm__ volatile("lidt %0" : : "m"(zero_dtr) : "memory");
		break;
	case NUB_TG_PRIV_WBINVD:
		__asm__ volatile("wbinvd" ::: "memory");
		break;
	default:
		return NUB_EINVAL;
	}
	return 0; /* the instruction did not fault */
}

static int32_t privileged(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                          uint32_t *out_len)
{
	(void)out, (void)out_cap, (void)out_len;
	static const uint8_t zero_dtr[10];
	uint8_t which = in_len ? in[0] : NUB_TG_PRIV_OUT;
	switch (which) {
	case NUB_TG_PRIV_OUT:
		__asm__ volatile("outb %%al, $0x80" : : "a"(0x5a) : "memory");
		break;
	case NUB_TG_PRIV_CLI:
		__asm__ volatile("cli" ::: "memory");
		break;
	case NUB_TG_PRIV_HLT:
		__asm__ volatile("hlt" ::: "memory");
		break;
	case NUB_TG_PRIV_WRMSR:
		__asm__ volatile("wrmsr" : : "c"(0xc0000082u), "a"(0), "d"(0) : "memory");
		break;
	case NUB_TG_PRIV_LGDT:
		__asm__ volatile("lgdt %0" : : "m"(zero_dtr) : "memory");
		break;
	case NUB_TG_PRIV_MOV_CR3:
		__asm__ volatile("mov %0, %%cr3" : : "r"(0ull) : "memory");
		break;
	case NUB_TG_PRIV_XSETBV:
		__asm__ volatile("xsetbv" : : "c"(0), "a"(7), "d"(0) : "memory");
		break;
	default:
		return privileged_more(which);
	}
	return 0; /* the instruction did not fault */
}

/* 256 entries of 4 bytes, `int $v; ret; nop`: called with RAX, RCX set,
 * they return the registers `int $v` left, if it returns at all. */
__asm__(".pushsection .text\n\t"
        ".balign 16\n\t"
        "tg_int_table:\n\t"
        ".set v, 0\n\t"
        ".rept 256\n\t"
        ".byte 0xcd, v, 0xc3, 0x90\n\t"
        ".set v, v + 1\n\t"
        ".endr\n\t"
        ".popsection");
extern const uint8_t tg_int_table[];

static int32_t int_n(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                     uint32_t *out_len)
{
	uint64_t r[4] = {0, 0, 0, 0};

	if (in_len != 1)
		return NUB_EINVAL;
	__asm__ volatile("call *%4"
	                 : "+a"(r[0]), "=b"(r[1]), "+c"(r[2]), "=d"(r[3])
	                 : "r"(tg_int_table + 4u * in[0])
	                 : "memory", "cc");
	return put(r, sizeof(r), out, out_cap, out_len);
}

static void output_sp_write(uint64_t v)
{
	memcpy((void *)nub_peb()->output_gva, &v, sizeof(v));
}

static int32_t corrupt_output(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                              uint32_t *out_len)
{
	(void)out, (void)out_cap, (void)out_len;
	if (in_len != 8)
		return NUB_EINVAL;
	output_sp_write(load_u64(in));
	return 0;
}

static int32_t corrupt_output_halt(const uint8_t *in, uint32_t in_len, uint8_t *out,
                                   uint32_t out_cap, uint32_t *out_len)
{
	(void)out, (void)out_cap, (void)out_len;
	if (in_len != 8)
		return NUB_EINVAL;
	output_sp_write(load_u64(in));
	*(volatile uint64_t *)NUB_DOORBELL_GVA_OF(NUB_DOORBELL_CALL_DONE) = 0;
	for (;;)
		__builtin_trap();
}

/* Host-owned pages a hostile guest might try to write. */
static uint64_t host_page(uint8_t which)
{
	const struct nub_peb *peb = nub_peb();
	switch (which) {
	case NUB_TG_HOST_PT:
		return peb->scratch_gva + (peb->pt_gpa - peb->scratch_gpa);
	case NUB_TG_HOST_GDT:
		return NUB_BASE_GPA + 0x1000;
	case NUB_TG_HOST_STUBS:
		return NUB_BASE_GPA + 0x2000;
	case NUB_TG_HOST_EXN_STACK:
		return peb->exn_stack_top_gva - 64;
	case NUB_TG_HOST_BOOKKEEPING:
		return peb->scratch_gva + peb->scratch_size - 64;
	default:
		return 0;
	}
}

static int32_t host_page_write(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                               uint32_t *out_len)
{
	uint64_t gva = host_page(in_len ? in[0] : NUB_TG_HOST_PT);
	if (!gva)
		return NUB_EINVAL;
	volatile uint64_t *target = (volatile uint64_t *)gva;
	*target = NUB_TG_ESCAPE_MAGIC;
	return put_u64(*target, out, out_cap, out_len);
}

static int32_t doorbell_store(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                              uint32_t *out_len)
{
	uint64_t value = 0x5a;

	(void)out, (void)out_cap, (void)out_len;
	if (in_len != 4 && in_len != 12)
		return NUB_EINVAL;
	if (in_len == 12)
		memcpy(&value, in + 4, 8);
	__asm__ volatile("movq %1, (%0)"
	                 :
	                 : "r"(NUB_DOORBELL_GVA + load_u32(in)), "r"(value)
	                 : "memory");
	return 0;
}

/* Every kind of access but the one the ABI allows, to one doorbell. */
static int32_t doorbell_access(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                               uint32_t *out_len)
{
	static const uint64_t zero16[2] __attribute__((aligned(16)));
	uint64_t rax = 0, rcx = 2;
	void *db;

	(void)out, (void)out_cap, (void)out_len;
	if (in_len != 5)
		return NUB_EINVAL;
	db = (void *)(NUB_DOORBELL_GVA + load_u32(in + 1));
	switch (in[0]) {
	case NUB_TG_DB_BYTE:
		__asm__ volatile("movb %b1, (%0)" : : "r"(db), "r"(rax) : "memory");
		break;
	case NUB_TG_DB_WORD:
		__asm__ volatile("movw %w1, (%0)" : : "r"(db), "r"(rax) : "memory");
		break;
	case NUB_TG_DB_DWORD:
		__asm__ volatile("movl %k1, (%0)" : : "r"(db), "r"(rax) : "memory");
		break;
	case NUB_TG_DB_SSE16:
		__asm__ volatile("movdqu (%1), %%xmm0\n\tmovdqu %%xmm0, (%0)"
		                 :
		                 : "r"(db), "r"(zero16)
		                 : "xmm0", "memory");
		break;
	case NUB_TG_DB_LOCK_XADD:
		__asm__ volatile("lock xaddq %0, (%1)" : "+r"(rax) : "r"(db) : "memory");
		break;
	case NUB_TG_DB_REP_STOSQ:
		__asm__ volatile("rep stosq" : "+D"(db), "+c"(rcx) : "a"(rax) : "memory");
		break;
	case NUB_TG_DB_STOSQ:
		__asm__ volatile("stosq" : "+D"(db) : "a"(rax) : "memory");
		break;
	case NUB_TG_DB_LOAD:
		__asm__ volatile("movq (%1), %0" : "=r"(rax) : "r"(db) : "memory");
		break;
	case NUB_TG_DB_XCHG:
		__asm__ volatile("xchgq %0, (%1)" : "+r"(rax) : "r"(db) : "memory");
		break;
	case NUB_TG_DB_QWORD_IMM:
		__asm__ volatile("movq $0, (%0)" : : "r"(db) : "memory");
		break;
	default:
		return NUB_EINVAL;
	}
	return 0;
}

static struct nub_tg_fpu_state fpu_read(void)
{
	struct nub_tg_fpu_state s = {0};
	uint32_t a, b, c, d;
	__asm__ volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(s.mxcsr), "=m"(s.fcw));
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
	if (c & (1u << 27)) { /* OSXSAVE: CR4.OSXSAVE as the host set it */
		uint32_t lo, hi;
		__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
		s.xcr0 = ((uint64_t)hi << 32) | lo;
	}
	return s;
}

static int32_t fpu_state(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                         uint32_t *out_len)
{
	(void)in, (void)in_len;
	struct nub_tg_fpu_state s = fpu_read();
	return put(&s, sizeof(s), out, out_cap, out_len);
}

static int32_t fpu_change(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                          uint32_t *out_len)
{
	uint32_t mxcsr = NUB_TG_FPU_MXCSR;
	if (in_len >= 4)
		mxcsr = load_u32(in);
	if (mxcsr & ~0xffffu)
		return NUB_EINVAL; /* reserved bits would #GP */
	uint16_t fcw = NUB_TG_FPU_FCW;
	__asm__ volatile("ldmxcsr %0\n\tfldcw %1" : : "m"(mxcsr), "m"(fcw));
	struct nub_tg_fpu_state s = fpu_read();
	return put(&s, sizeof(s), out, out_cap, out_len);
}

static int avx_usable(void)
{
	uint32_t a, b, c, d, lo, hi;
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
	if (!(c & (1u << 27)) || !(c & (1u << 28))) /* OSXSAVE, AVX */
		return 0;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (lo & 6) == 6;
}

#define YMM_HI_STORE(n) "vextractf128 $1, %%ymm" #n ", " #n "*16(%0)\n\t"
#define YMM_HI_LOAD(n)  "vinsertf128 $1, (%0), %%ymm" #n ", %%ymm" #n "\n\t"

static int32_t vector_state(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                            uint32_t *out_len);

static int32_t vector_dirty(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                            uint32_t *out_len)
{
	static uint8_t xmm[16] __attribute__((aligned(16)));
	static uint8_t hi[16] __attribute__((aligned(16)));
	memset(xmm, 0x11, sizeof(xmm));
	memset(hi, 0x22, sizeof(hi));
	__asm__ volatile(
	        "movdqu (%0), %%xmm0\n\t"
	        "movdqa %%xmm0, %%xmm1\n\tmovdqa %%xmm0, %%xmm2\n\tmovdqa %%xmm0, %%xmm3\n\t"
	        "movdqa %%xmm0, %%xmm4\n\tmovdqa %%xmm0, %%xmm5\n\tmovdqa %%xmm0, %%xmm6\n\t"
	        "movdqa %%xmm0, %%xmm7\n\tmovdqa %%xmm0, %%xmm8\n\tmovdqa %%xmm0, %%xmm9\n\t"
	        "movdqa %%xmm0, %%xmm10\n\tmovdqa %%xmm0, %%xmm11\n\tmovdqa %%xmm0, %%xmm12\n\t"
	        "movdqa %%xmm0, %%xmm13\n\tmovdqa %%xmm0, %%xmm14\n\tmovdqa %%xmm0, %%xmm15\n\t"
	        "fld1\n\tfld1"
	        :
	        : "r"(xmm)
	        : "memory");
	if (avx_usable())
		__asm__ volatile(YMM_HI_LOAD(0) YMM_HI_LOAD(1) YMM_HI_LOAD(2) YMM_HI_LOAD(3)
		                         YMM_HI_LOAD(4) YMM_HI_LOAD(5) YMM_HI_LOAD(6) YMM_HI_LOAD(7)
		                                 YMM_HI_LOAD(8) YMM_HI_LOAD(9) YMM_HI_LOAD(10)
		                                         YMM_HI_LOAD(11) YMM_HI_LOAD(12)
		                                                 YMM_HI_LOAD(13) YMM_HI_LOAD(14)
		                                                         YMM_HI_LOAD(15)
		                 :
		                 : "r"(hi)
		                 : "memory");
	/* The state as written, read in the same call. */
	return vector_state(in, in_len, out, out_cap, out_len);
}

static int32_t vector_state(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                            uint32_t *out_len)
{
	static struct nub_tg_vector_state st __attribute__((aligned(64)));
	/* First, before any C code could use a vector register. */
	__asm__ volatile("fxsave64 %0" : "=m"(st.fxsave));
	(void)in, (void)in_len;
	st.avx = (unsigned)avx_usable();
	if (st.avx)
		__asm__ volatile(
		        YMM_HI_STORE(0) YMM_HI_STORE(1) YMM_HI_STORE(2) YMM_HI_STORE(3)
		                YMM_HI_STORE(4) YMM_HI_STORE(5) YMM_HI_STORE(6) YMM_HI_STORE(7)
		                        YMM_HI_STORE(8) YMM_HI_STORE(9) YMM_HI_STORE(10)
		                                YMM_HI_STORE(11) YMM_HI_STORE(12) YMM_HI_STORE(13)
		                                        YMM_HI_STORE(14) YMM_HI_STORE(15)
		        :
		        : "r"(st.ymm_hi)
		        : "memory");
	else
		memset(st.ymm_hi, 0, sizeof(st.ymm_hi));
	return put(&st, sizeof(st), out, out_cap, out_len);
}

/* ---- XSAVE state beyond SSE, segments, flags: what a CPL3 guest can
 * change where the CPU lets it (the host decides which by probing) ---- */

static int32_t xstate_probe(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                            uint32_t *out_len)
{
	uint32_t lo, hi;

	(void)in, (void)in_len;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return put_u64(((uint64_t)hi << 32) | lo, out, out_cap, out_len);
}

#define KMOV_IN(n)     "mov $0x4b0" #n ", %%eax\n\tkmovq %%rax, %%k" #n "\n\t"
#define ZMM_HI_IN(n)   "vinserti64x4 $1, %%ymm31, %%zmm" #n ", %%zmm" #n "\n\t"
#define ZMM_HI16_IN(n) "vmovdqu64 (%0), %%zmm" #n "\n\t"

static void xstate_dirty_avx512(uint32_t mask)
{
	static uint8_t fill[64] __attribute__((aligned(64)));

	if (mask & NUB_TG_XS_OPMASK)
		__asm__ volatile(KMOV_IN(1) KMOV_IN(2) KMOV_IN(3) KMOV_IN(4) KMOV_IN(5) KMOV_IN(6)
		                         KMOV_IN(7)
		                 :
		                 :
		                 : "rax");
	if (mask & NUB_TG_XS_ZMM_HI) {
		memset(fill, 0x55, sizeof(fill));
		__asm__ volatile("vmovdqu64 (%0), %%zmm31\n\t" ZMM_HI_IN(0) ZMM_HI_IN(1)
		                         ZMM_HI_IN(2) ZMM_HI_IN(3) ZMM_HI_IN(4) ZMM_HI_IN(5)
		                                 ZMM_HI_IN(6) ZMM_HI_IN(7) ZMM_HI_IN(8) ZMM_HI_IN(9)
		                                         ZMM_HI_IN(10) ZMM_HI_IN(11) ZMM_HI_IN(12)
		                                                 ZMM_HI_IN(13) ZMM_HI_IN(14)
		                                                         ZMM_HI_IN(15)
		                 :
		                 : "r"(fill)
		                 : "memory");
	}
	if (mask & NUB_TG_XS_HI16_ZMM) {
		memset(fill, 0x66, sizeof(fill));
		__asm__ volatile(
		        ZMM_HI16_IN(16) ZMM_HI16_IN(17) ZMM_HI16_IN(18) ZMM_HI16_IN(19)
		                ZMM_HI16_IN(20) ZMM_HI16_IN(21) ZMM_HI16_IN(22) ZMM_HI16_IN(23)
		                        ZMM_HI16_IN(24) ZMM_HI16_IN(25) ZMM_HI16_IN(26)
		                                ZMM_HI16_IN(27) ZMM_HI16_IN(28) ZMM_HI16_IN(29)
		                                        ZMM_HI16_IN(30) ZMM_HI16_IN(31)
		        :
		        : "r"(fill)
		        : "memory");
	}
}

static int32_t xstate_read(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                           uint32_t *out_len);

static int32_t xstate_dirty(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                            uint32_t *out_len)
{
	static uint8_t hi[16] __attribute__((aligned(16)));
	uint32_t pkru = NUB_TG_PKRU_DIRTY;

	if (in_len != 8 && in_len != 12)
		return NUB_EINVAL;
	uint32_t mask = (uint32_t)load_u64(in);
	if (in_len == 12)
		pkru = load_u32(in + 8);
	if (mask & NUB_TG_XS_AVX) {
		memset(hi, 0x33, sizeof(hi));
		__asm__ volatile(YMM_HI_LOAD(0) YMM_HI_LOAD(1) YMM_HI_LOAD(2) YMM_HI_LOAD(3)
		                         YMM_HI_LOAD(4) YMM_HI_LOAD(5) YMM_HI_LOAD(6) YMM_HI_LOAD(7)
		                                 YMM_HI_LOAD(8) YMM_HI_LOAD(9) YMM_HI_LOAD(10)
		                                         YMM_HI_LOAD(11) YMM_HI_LOAD(12)
		                                                 YMM_HI_LOAD(13) YMM_HI_LOAD(14)
		                                                         YMM_HI_LOAD(15)
		                 :
		                 : "r"(hi)
		                 : "memory");
	}
	xstate_dirty_avx512(mask);
	if (mask & NUB_TG_XS_PKRU) /* wrpkru: EAX = value, ECX = EDX = 0 */
		__asm__ volatile(".byte 0x0f, 0x01, 0xef" : : "a"(pkru), "c"(0), "d"(0) : "memory");
	/* The state as written, read in the same call (each call starts with
	 * it initialised: no later call sees it dirty). */
	return xstate_read(in, 8, out, out_cap, out_len);
}

#define KMOV_OUT(n)     "kmovq %%k" #n ", %%rax\n\tmov %%rax, " #n "*8(%0)\n\t"
#define ZMM_HI_OUT(n)   "vextracti64x4 $1, %%zmm" #n ", " #n "*32(%0)\n\t"
#define ZMM_HI16_OUT(n) "vmovdqu64 %%zmm" #n ", (" #n "-16)*64(%0)\n\t"

static void xstate_read_avx512(uint32_t mask, struct nub_tg_xstate *st)
{
	if (mask & NUB_TG_XS_OPMASK)
		__asm__ volatile(KMOV_OUT(0) KMOV_OUT(1) KMOV_OUT(2) KMOV_OUT(3) KMOV_OUT(4)
		                         KMOV_OUT(5) KMOV_OUT(6) KMOV_OUT(7)
		                 :
		                 : "r"(st->k)
		                 : "rax", "memory");
	if (mask & NUB_TG_XS_ZMM_HI)
		__asm__ volatile(ZMM_HI_OUT(0) ZMM_HI_OUT(1) ZMM_HI_OUT(2) ZMM_HI_OUT(3) ZMM_HI_OUT(
		                         4) ZMM_HI_OUT(5) ZMM_HI_OUT(6) ZMM_HI_OUT(7) ZMM_HI_OUT(8)
		                         ZMM_HI_OUT(9) ZMM_HI_OUT(10) ZMM_HI_OUT(11) ZMM_HI_OUT(12)
		                                 ZMM_HI_OUT(13) ZMM_HI_OUT(14) ZMM_HI_OUT(15)
		                 :
		                 : "r"(st->zmm_hi256)
		                 : "memory");
	if (mask & NUB_TG_XS_HI16_ZMM)
		__asm__ volatile(
		        ZMM_HI16_OUT(16) ZMM_HI16_OUT(17) ZMM_HI16_OUT(18) ZMM_HI16_OUT(19)
		                ZMM_HI16_OUT(20) ZMM_HI16_OUT(21) ZMM_HI16_OUT(22) ZMM_HI16_OUT(23)
		                        ZMM_HI16_OUT(24) ZMM_HI16_OUT(25) ZMM_HI16_OUT(26)
		                                ZMM_HI16_OUT(27) ZMM_HI16_OUT(28) ZMM_HI16_OUT(29)
		                                        ZMM_HI16_OUT(30) ZMM_HI16_OUT(31)
		        :
		        : "r"(st->hi16_zmm)
		        : "memory");
}

static int32_t xstate_read(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                           uint32_t *out_len)
{
	static struct nub_tg_xstate st __attribute__((aligned(64)));

	if (in_len != 8)
		return NUB_EINVAL;
	uint32_t mask = (uint32_t)load_u64(in);
	memset(&st, 0, sizeof(st));
	if (mask & NUB_TG_XS_AVX)
		__asm__ volatile(
		        YMM_HI_STORE(0) YMM_HI_STORE(1) YMM_HI_STORE(2) YMM_HI_STORE(3)
		                YMM_HI_STORE(4) YMM_HI_STORE(5) YMM_HI_STORE(6) YMM_HI_STORE(7)
		                        YMM_HI_STORE(8) YMM_HI_STORE(9) YMM_HI_STORE(10)
		                                YMM_HI_STORE(11) YMM_HI_STORE(12) YMM_HI_STORE(13)
		                                        YMM_HI_STORE(14) YMM_HI_STORE(15)
		        :
		        : "r"(st.ymm_hi)
		        : "memory");
	xstate_read_avx512(mask, &st);
	if (mask & NUB_TG_XS_PKRU) /* rdpkru: ECX = 0 */
		__asm__ volatile(".byte 0x0f, 0x01, 0xee" : "=a"(st.pkru) : "c"(0) : "rdx");
	if (mask) {
		uint32_t lo, hi;
		__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
		st.xcr0 = ((uint64_t)hi << 32) | lo;
	}
	return put(&st, sizeof(st), out, out_cap, out_len);
}

static int32_t seg_dirty(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                         uint32_t *out_len)
{
	(void)out, (void)out_cap, (void)out_len;
	if (in_len != 1 && in_len != 3)
		return NUB_EINVAL;
	if (in[0] == NUB_TG_SEG_SELECTORS) {
		uint32_t sel = in_len == 3 ? (uint32_t)in[1] | (uint32_t)in[2] << 8 : 0;
		__asm__ volatile("mov %0, %%ds\n\tmov %0, %%es\n\tmov %0, %%fs\n\tmov %0, %%gs"
		                 :
		                 : "r"(sel)
		                 : "memory");
	} else if (in[0] == NUB_TG_SEG_BASES)
		__asm__ volatile("wrfsbase %0\n\twrgsbase %1"
		                 :
		                 : "r"(NUB_TG_FS_DIRTY), "r"(NUB_TG_GS_DIRTY)
		                 : "memory");
	else
		return NUB_EINVAL;
	return 0;
}

static int32_t seg_read(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                        uint32_t *out_len)
{
	struct nub_tg_segments st = {0};

	/* RFLAGS as the call found it: nothing before this changes DF or AC. */
	__asm__ volatile("pushfq\n\tpopq %0" : "=r"(st.rflags));
	if (in_len != 1)
		return NUB_EINVAL;
	__asm__ volatile("mov %%ds, %0\n\tmov %%es, %1\n\tmov %%fs, %2\n\tmov %%gs, %3"
	                 : "=r"(st.ds), "=r"(st.es), "=r"(st.fs), "=r"(st.gs));
	if (in[0] == NUB_TG_SEG_BASES)
		__asm__ volatile("rdfsbase %0\n\trdgsbase %1" : "=r"(st.fs_base), "=r"(st.gs_base));
	return put(&st, sizeof(st), out, out_cap, out_len);
}

static int32_t flags_dirty(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                           uint32_t *out_len)
{
	(void)in, (void)in_len, (void)out, (void)out_cap, (void)out_len;
	/* DF and AC (alignment checks at CPL3, CR0.AM being set), then stop
	 * with them set: C code after this would break on them. */
	__asm__ volatile("pushfq\n\torq $0x40400, (%%rsp)\n\tpopfq\n\tud2" : : : "memory", "cc");
	return 0;
}

static int32_t compute(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                       uint32_t *out_len)
{
	if (in_len != 8)
		return NUB_EINVAL;
	uint64_t n = load_u64(in), sum = 0;
	if (n)
		__asm__ volatile("1: add $1, %0\n\tdec %1\n\tjnz 1b" : "+r"(sum), "+r"(n));
	return put_u64(sum, out, out_cap, out_len);
}

static uint64_t static_count;

static int32_t static_counter(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                              uint32_t *out_len)
{
	(void)in, (void)in_len;
	return put_u64(++static_count, out, out_cap, out_len);
}

static int32_t guest_counter(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                             uint32_t *out_len)
{
	(void)in, (void)in_len;
	return put_u64(nub_guest_counter(), out, out_cap, out_len);
}

static int32_t log_text(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                        uint32_t *out_len)
{
	if (in_len < 4)
		return NUB_EINVAL;
	int32_t rc = nub_log(load_u32(in), "%.*s", (int)(in_len - 4), (const char *)in + 4);
	return put(&rc, sizeof(rc), out, out_cap, out_len);
}

static uint32_t xorshift(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

struct stress_slot {
	uint8_t *p;
	uint32_t len;
	uint8_t fill;
};

static int slot_ok(const struct stress_slot *s)
{
	for (uint32_t i = 0; i < s->len; i++) {
		if (s->p[i] != s->fill)
			return 0;
	}
	return 1;
}

static int32_t heap_stress(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                           uint32_t *out_len)
{
	if (in_len != 8)
		return NUB_EINVAL;
	uint32_t iters = load_u32(in), seed = load_u32(in + 4) | 1;
	struct stress_slot slots[32] = {0};
	uint64_t allocs = 0;
	int32_t status = 0;
	for (uint32_t i = 0; i < iters && !status; i++) {
		struct stress_slot *s = &slots[xorshift(&seed) % 32];
		if (s->p && !slot_ok(s))
			status = NUB_ECORRUPT;
		uint32_t len = xorshift(&seed) % 3000;
		if (!s->p)
			s->p = malloc(len);
		else if (xorshift(&seed) & 1)
			s->p = realloc(s->p, len);
		else {
			free(s->p);
			s->p = NULL;
			continue;
		}
		allocs++;
		s->len = len;
		s->fill = (uint8_t)xorshift(&seed);
		memset(s->p, s->fill, len);
	}
	for (unsigned i = 0; i < 32; i++) {
		if (slots[i].p && !slot_ok(&slots[i]))
			status = NUB_ECORRUPT;
		free(slots[i].p);
	}
	if (status)
		return status;
	return put_u64(allocs, out, out_cap, out_len);
}

static int32_t fail_status(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                           uint32_t *out_len)
{
	int32_t st;
	if (in_len != 4)
		return NUB_EINVAL;
	memcpy(&st, in, 4);
	put("failed", 6, out, out_cap, out_len);
	return st;
}

static int32_t peb_copy(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                        uint32_t *out_len)
{
	(void)in, (void)in_len;
	return put(nub_peb(), sizeof(struct nub_peb), out, out_cap, out_len);
}

static int32_t leak(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                    uint32_t *out_len)
{
	if (in_len != 8)
		return NUB_EINVAL;
	uint8_t *p = malloc(load_u64(in));
	if (!p)
		return NUB_EFULL; /* malloc says so; the guest goes on */
	return put_u64((uint64_t)(uintptr_t)p, out, out_cap, out_len);
}

static int32_t heap_usage(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                          uint32_t *out_len)
{
	struct nub_guest_heap_usage u;
	uint64_t r[3];

	if (in_len != 8 || out_cap < sizeof(r))
		return NUB_EINVAL;
	uint64_t bytes = load_u64(in);
	if (bytes) {
		uint8_t *p = malloc(bytes);
		if (!p)
			return NUB_EFULL;
		memset(p, 0x5a, bytes);
	}
	nub_guest_heap_usage(&u);
	r[0] = u.heap_size;
	r[1] = u.used;
	r[2] = u.peak;
	memcpy(out, r, sizeof(r));
	*out_len = sizeof(r);
	return 0;
}

static int32_t raw_syscall(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t cap,
                           uint32_t *out_len)
{
	long r = 39;
	(void)in;
	(void)in_len;
	(void)out;
	(void)cap;
	(void)out_len;
	__asm__ volatile("syscall" : "+a"(r) : : "rcx", "r11", "memory");
	return (int32_t)r;
}

static struct nub_tg_seed seed_state;

static void on_restore(const uint8_t seed[NUB_RESTORE_SEED_SIZE])
{
	seed_state.hook_calls++;
	memcpy(seed_state.hook_seed, seed, sizeof(seed_state.hook_seed));
}

static int32_t restore_seed(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                            uint32_t *out_len)
{
	(void)in, (void)in_len;
	nub_restore_seed(seed_state.runtime_seed);
	return put(&seed_state, sizeof(seed_state), out, out_cap, out_len);
}

static const struct {
	uint32_t id;
	const char *name;
	nub_guest_fn fn;
} fns[] = {
        {NUB_TG_ECHO, "echo", echo},
        {NUB_TG_HEAP_PAGES, "heap_pages", heap_pages},
        {NUB_TG_PAGES, "pages", pages},
        {NUB_TG_SPIN_AFTER_HOST, "spin_after_host", spin_after_host},
        {NUB_TG_CALL_HOST, "call_host", call_host},
        {NUB_TG_SPIN, "spin", spin},
        {NUB_TG_ABORT, "abort", do_abort},
        {NUB_TG_NULL_DEREF, "null_deref", null_deref},
        {NUB_TG_STACK_OVERFLOW, "stack_overflow", stack_overflow},
        {NUB_TG_WRITE_RODATA, "write_rodata", write_rodata},
        {NUB_TG_EXEC_DATA, "exec_data", exec_data},
        {NUB_TG_PRIVILEGED, "privileged", privileged},
        {NUB_TG_CORRUPT_OUTPUT, "corrupt_output", corrupt_output},
        {NUB_TG_CORRUPT_OUTPUT_HALT, "corrupt_output_halt", corrupt_output_halt},
        {NUB_TG_HOST_PAGE_WRITE, "host_page_write", host_page_write},
        {NUB_TG_DOORBELL_STORE, "doorbell_store", doorbell_store},
        {NUB_TG_VECTOR_DIRTY, "vector_dirty", vector_dirty},
        {NUB_TG_VECTOR_STATE, "vector_state", vector_state},
        {NUB_TG_COMPUTE, "compute", compute},
        {NUB_TG_FPU_STATE, "fpu_state", fpu_state},
        {NUB_TG_FPU_CHANGE, "fpu_change", fpu_change},
        {NUB_TG_STATIC_COUNTER, "static_counter", static_counter},
        {NUB_TG_GUEST_COUNTER, "guest_counter", guest_counter},
        {NUB_TG_LOG, "log", log_text},
        {NUB_TG_HEAP_STRESS, "heap_stress", heap_stress},
        {NUB_TG_FAIL_STATUS, "fail_status", fail_status},
        {NUB_TG_PEB, "peb", peb_copy},
        {NUB_TG_MALLOC, "malloc", leak},
        {NUB_TG_HEAP_USAGE, "heap_usage", heap_usage},
        {NUB_TG_SYSCALL, "syscall", raw_syscall},
        {NUB_TG_DOORBELL_ACCESS, "doorbell_access", doorbell_access},
        {NUB_TG_XSTATE_PROBE, "xstate_probe", xstate_probe},
        {NUB_TG_XSTATE_DIRTY, "xstate_dirty", xstate_dirty},
        {NUB_TG_XSTATE_READ, "xstate_read", xstate_read},
        {NUB_TG_SEG_DIRTY, "seg_dirty", seg_dirty},
        {NUB_TG_SEG_READ, "seg_read", seg_read},
        {NUB_TG_FLAGS_DIRTY, "flags_dirty", flags_dirty},
        {NUB_TG_INT_N, "int_n", int_n},
        {NUB_TG_RESTORE_SEED, "restore_seed", restore_seed},
        {NUB_TG_DIRTY, "dirty", dirty},
        {NUB_TG_TRACES, "traces", traces},
        {NUB_TG_MEM, "mem", mem},
        {NUB_TG_MAPPING, "mapping", mapping},
};

/* ---- typed functions (nub_register_typed) ---- */

static int32_t typed_mix(const struct nub_value *a, uint32_t n, struct nub_value *ret)
{
	(void)n;
	ret->v.f64 = (double)a[0].v.i32 + (double)a[1].v.i64 + (double)a[2].v.u64 +
	             (double)a[3].v.f32 + a[4].v.f64 + (double)a[5].v.b + (double)a[6].v.u32 +
	             (double)a[7].v.buf.len;
	return 0;
}

static int32_t typed_concat(const struct nub_value *a, uint32_t n, struct nub_value *ret)
{
	static uint8_t buf[512];
	uint32_t l0 = a[0].v.buf.len, l1 = a[1].v.buf.len;
	(void)n;

	if (l0 > sizeof(buf) || l1 > sizeof(buf) - l0)
		return NUB_EFULL;
	memcpy(buf, a[0].v.buf.p, l0);
	memcpy(buf + l0, a[1].v.buf.p, l1);
	ret->v.buf.p = buf;
	ret->v.buf.len = l0 + l1;
	return 0;
}

static uint64_t typed_kept;

static int32_t typed_void(const struct nub_value *a, uint32_t n, struct nub_value *ret)
{
	(void)n;
	(void)ret;
	typed_kept = a[0].v.u64;
	return 0;
}

static int32_t typed_last(const struct nub_value *a, uint32_t n, struct nub_value *ret)
{
	(void)n;
	ret->v.u64 = typed_kept + a[0].v.b;
	return 0;
}

static int32_t typed_broken(const struct nub_value *a, uint32_t n, struct nub_value *ret)
{
	(void)n;
	ret->type = NUB_T_I32;
	ret->v.i32 = a[0].v.i32;
	return 0;
}

static int32_t typed_host(const struct nub_value *a, uint32_t n, struct nub_value *ret)
{
	struct nub_value args[] = {{.type = NUB_T_I32, .v.i32 = a[1].v.i32},
	                           {.type = NUB_T_STR, .v.buf = {"host", 4}}};
	struct nub_value r;
	uint8_t buf[256];
	int rc = nub_call_host_typed(a[0].v.u32, args, 2, &r, buf, sizeof(buf));
	(void)n;

	if (rc == NUB_EINVAL && r.type == NUB_T_STR)
		nub_log(NUB_LOG_INFO, "refused: %.*s", (int)r.v.buf.len, (const char *)r.v.buf.p);
	if (rc)
		return rc;
	if (r.type != NUB_T_I64)
		return NUB_ECORRUPT;
	ret->v.i64 = r.v.i64;
	return 0;
}

/* A plain C function: its marshalling generated (NUB_TYPED_FN4). */
static double scaled(int32_t a, uint64_t b, bool neg, struct nub_str s)
{
	return ((double)a + (double)b + (double)s.len) * (neg ? -1 : 1) / 2;
}
NUB_TYPED_FN4(scaled, double, int32_t, uint64_t, bool, struct nub_str);

static const struct {
	uint32_t id;
	const char *name, *sig;
	nub_typed_fn fn;
} typed_fns[] = {
        {NUB_TG_TYPED_MIX, "typed_mix", "ilqfdbus>d", typed_mix},
        {NUB_TG_TYPED_CONCAT, "typed_concat", "sy>s", typed_concat},
        {NUB_TG_TYPED_VOID, "typed_void", "q>v", typed_void},
        {NUB_TG_TYPED_LAST, "typed_last", "b>q", typed_last},
        {NUB_TG_TYPED_BROKEN, "typed_broken", "i>s", typed_broken},
        {NUB_TG_TYPED_HOST, "typed_host", "ui>l", typed_host},
        {NUB_TG_TYPED_PLAIN, "scaled", scaled_sig, scaled_typed},
};

void nub_guest_main(void)
{
	for (unsigned i = 0; i < sizeof(typed_fns) / sizeof(typed_fns[0]); i++)
		if (nub_register_typed(typed_fns[i].id, typed_fns[i].name, typed_fns[i].sig,
		                       typed_fns[i].fn))
			nub_abortf(1, "test_guest: cannot register %s", typed_fns[i].name);
	if (nub_register_typed(99, "bad", "i>", typed_mix) != NUB_EINVAL ||
	    nub_register_typed(99, "bad", "vi>i", typed_mix) != NUB_EINVAL ||
	    nub_register_typed(99, "bad", "i>z", typed_mix) != NUB_EINVAL)
		nub_abort(1, "test_guest: a malformed signature was accepted");
	for (unsigned i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		if (nub_register(fns[i].id, fns[i].name, fns[i].fn))
			nub_abortf(1, "test_guest: cannot register %s", fns[i].name);
	}
	if (nub_on_restore(on_restore) || nub_on_restore(NULL) != NUB_EINVAL)
		nub_abort(1, "test_guest: nub_on_restore");
}
