/* SPDX-License-Identifier: MIT */
/*
 * The native guest programs the mock can run: the same functions, with the
 * same ids and wire formats, as the sample and test guests in guest/, written
 * against the native runtime so that their effects land in guest memory
 * exactly where the real guests' would.
 */
#include <stdio.h>
#include <string.h>

#include <nub/error.h>
#include <nub/guest_abi.h>

#include "../../guest/examples/example_ids.h"
#include "../../guest/tests/test_guest_ids.h"
#include "native.h"
#include "native_rt.h"

#define PAGE NUB_PAGE_SIZE

static struct mock_native_rt *rt(void)
{
	return mock_native_rt_current();
}

static uint64_t get_u64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static int32_t put_u64(uint64_t v, uint8_t *out, uint32_t cap, uint32_t *out_len)
{
	if (cap < 8)
		return NUB_ERANGE;
	memcpy(out, &v, 8);
	*out_len = 8;
	return 0;
}

/* ---- hello ---- */

static int32_t hello_greet(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap,
                           uint32_t *out_len)
{
	char line[128];
	if (len > cap || 7 > cap - len)
		return NUB_EFULL;
	memcpy(out, "hello, ", 7);
	memcpy(out + 7, in, len);
	*out_len = 7 + len;
	int m = snprintf(line, sizeof(line), "greeting %.*s (%u bytes)", (int)(len > 64 ? 64 : len),
	                 (const char *)in, len);
	mock_native_rt_log(rt(), NUB_LOG_INFO, line, (uint32_t)m);
	return 0;
}

static void hello_main(void)
{
	mock_native_rt_register(rt(), NUB_HELLO_GREET, "greet", hello_greet);
}

/* ---- calc ---- */

static int32_t calc_add(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap,
                        uint32_t *out_len)
{
	if (len != 16)
		return NUB_EINVAL;
	return put_u64(get_u64(in) + get_u64(in + 8), out, cap, out_len);
}

static int32_t calc_sum(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap,
                        uint32_t *out_len)
{
	uint64_t s = 0;

	if (len % 8)
		return NUB_EINVAL;
	for (uint32_t i = 0; i < len; i += 8)
		s += get_u64(in + i);
	return put_u64(s, out, cap, out_len);
}

static int32_t calc_fib(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap,
                        uint32_t *out_len)
{
	uint64_t a = 0, b = 1;
	uint32_t n;

	if (len != 4)
		return NUB_EINVAL;
	memcpy(&n, in, 4);
	if (n > 93)
		return NUB_ERANGE;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t t = a + b;
		a = b;
		b = t;
	}
	return put_u64(a, out, cap, out_len);
}

static void calc_main(void)
{
	mock_native_rt_register(rt(), NUB_CALC_ADD, "add", calc_add);
	mock_native_rt_register(rt(), NUB_CALC_SUM, "sum", calc_sum);
	mock_native_rt_register(rt(), NUB_CALC_FIB, "fib", calc_fib);
}

/* ---- test guest (guest/tests/test_guest.c) ---- */

static uint32_t u32_at(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static int32_t t_echo(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap,
                      uint32_t *out_len)
{
	if (len > cap)
		return NUB_EFULL;
	memcpy(out, in, len);
	*out_len = len;
	return 0;
}

/* The real guest's page area is in .bss; the native one is the heap after
 * its first page (the runtime's own), in the same CoW snapshot memory. */
static uint64_t area_pages(void)
{
	uint64_t n = rt()->peb.heap_size / PAGE;

	n = n > 1 ? n - 1 : 0;
	return n < NUB_TG_PAGES_MAX ? n : NUB_TG_PAGES_MAX;
}

static int32_t t_pages(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap,
                       uint32_t *out_len)
{
	static uint8_t page[PAGE];
	nub_gva_t area = rt()->peb.heap_gva + PAGE;
	uint64_t first, count, sum = 0;

	if (len != 9)
		return NUB_EINVAL;
	first = u32_at(in);
	count = u32_at(in + 4);
	if (first > area_pages() || count > area_pages() - first)
		return NUB_ERANGE;
	memset(page, in[8], PAGE);
	for (uint64_t p = first; p < first + count; p++)
		mock_native_write(area + p * PAGE, page, PAGE);
	for (uint64_t p = 0; p < area_pages(); p++) {
		mock_native_read(area + p * PAGE, page, PAGE);
		for (unsigned j = 0; j < PAGE; j++)
			sum += page[j];
	}
	return put_u64(sum, out, cap, out_len);
}

/* in: u32 host fn id, payload; out: i32 status, u32 answer length, answer. */
static int32_t t_call_host(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap,
                           uint32_t *out_len)
{
	uint32_t n = 0;
	int32_t st;

	if (len < 4 || cap < 8)
		return NUB_EINVAL;
	st = mock_native_rt_call_host(rt(), u32_at(in), in + 4, len - 4, out + 8, cap - 8, &n);
	memcpy(out, &st, 4);
	memcpy(out + 4, &n, 4);
	*out_len = 8 + n;
	return 0;
}

static _Noreturn void spin_forever(void)
{
	for (;;)
		mock_native_poll();
}

static int32_t t_spin(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap,
                      uint32_t *out_len)
{
	(void)in, (void)len, (void)out, (void)cap, (void)out_len;
	spin_forever();
}

static int32_t t_spin_after_host(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap,
                                 uint32_t *out_len)
{
	uint32_t n;

	(void)out_len;
	if (len < 4)
		return NUB_EINVAL;
	mock_native_rt_call_host(rt(), u32_at(in), NULL, 0, out, cap, &n);
	spin_forever();
}

static int32_t t_abort(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap,
                       uint32_t *out_len)
{
	char msg[256];

	(void)out, (void)cap, (void)out_len;
	if (len < 4)
		return NUB_EINVAL;
	snprintf(msg, sizeof(msg), "%.*s", (int)(len - 4), (const char *)in + 4);
	mock_native_rt_abort(rt(), u32_at(in), msg);
}

static int32_t t_null(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap,
                      uint32_t *out_len)
{
	uint64_t v;

	(void)in, (void)len;
	mock_native_read(0, &v, sizeof(v));
	return put_u64(v, out, cap, out_len);
}

static int32_t t_stack_overflow(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap,
                                uint32_t *out_len)
{
	const struct nub_peb *peb = &rt()->peb;
	uint64_t v = 0;

	(void)in, (void)len, (void)out, (void)cap, (void)out_len;
	/* Native code has no guest stack to recurse on: push until the stack
	 * pointer reaches the guard page, as the recursion would. */
	for (nub_gva_t sp = peb->stack_top_gva - 8; sp >= peb->heap_gva; sp -= 8)
		mock_native_write(sp, &v, sizeof(v));
	return NUB_ESTATE; /* not reached: the guard page faults first */
}

static int32_t t_write_rodata(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap,
                              uint32_t *out_len)
{
	uint64_t v = 1;

	(void)in, (void)len, (void)out, (void)cap, (void)out_len;
	/* The PEB page is mapped read-only without the CoW bit, like .rodata. */
	mock_native_write(NUB_BASE_GPA, &v, sizeof(v));
	return 0;
}

static int32_t t_exec_data(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap,
                           uint32_t *out_len)
{
	(void)in, (void)len, (void)out, (void)cap, (void)out_len;
	/* An instruction fetch from NX memory: #PF, present | user | fetch. */
	mock_native_fault(14, 0x15, rt()->peb.heap_gva);
}

/* Every privileged instruction raises #GP at CPL3; the native build raises
 * it where the instruction would be (the host decodes no bytes here, so
 * it reports a generic #GP). */
static int32_t t_privileged(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap,
                            uint32_t *out_len)
{
	(void)in, (void)len, (void)out, (void)cap, (void)out_len;
	mock_native_fault(13, 0, 0);
}

static int32_t t_corrupt_output_halt(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap,
                                     uint32_t *out_len)
{
	(void)out, (void)cap, (void)out_len;
	if (len != 8)
		return NUB_EINVAL;
	mock_native_write(rt()->peb.output_gva, in, 8);
	for (;;)
		mock_native_doorbell(NUB_DOORBELL_CALL_DONE, 0);
}

/* Host-owned pages: supervisor, so the write faults (P|W|U). */
static int32_t t_host_page_write(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap,
                                 uint32_t *out_len)
{
	const struct nub_peb *peb = &rt()->peb;
	uint64_t magic = NUB_TG_ESCAPE_MAGIC;
	nub_gva_t gva;

	switch (len ? in[0] : NUB_TG_HOST_PT) {
	case NUB_TG_HOST_PT:
		gva = peb->scratch_gva + (peb->pt_gpa - peb->scratch_gpa);
		break;
	case NUB_TG_HOST_GDT:
		gva = NUB_BASE_GPA + PAGE;
		break;
	case NUB_TG_HOST_STUBS:
		gva = NUB_BASE_GPA + 2 * PAGE;
		break;
	case NUB_TG_HOST_EXN_STACK:
		gva = peb->exn_stack_top_gva - 64;
		break;
	case NUB_TG_HOST_BOOKKEEPING:
		gva = peb->scratch_gva + peb->scratch_size - 64;
		break;
	default:
		return NUB_EINVAL;
	}
	mock_native_write(gva, &magic, sizeof(magic));
	return put_u64(magic, out, cap, out_len);
}

static int32_t t_doorbell_store(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap,
                                uint32_t *out_len)
{
	(void)out, (void)cap, (void)out_len;
	if (len != 4)
		return NUB_EINVAL;
	mock_native_doorbell(u32_at(in), 0x5a);
	return 0;
}

/* The real guest counts in .data; natively the count lives in the heap's
 * first page after the runtime's marker, CoW like .data. */
static int32_t t_static_counter(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap,
                                uint32_t *out_len)
{
	nub_gva_t at = rt()->peb.heap_gva + 8;
	uint64_t v;

	(void)in, (void)len;
	mock_native_read(at, &v, sizeof(v));
	v++;
	mock_native_write(at, &v, sizeof(v));
	return put_u64(v, out, cap, out_len);
}

static int32_t t_guest_counter(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap,
                               uint32_t *out_len)
{
	(void)in, (void)len;
	return put_u64(mock_native_rt_counter(rt()), out, cap, out_len);
}

static int32_t t_log(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap, uint32_t *out_len)
{
	int32_t rc = 0;

	if (len < 4)
		return NUB_EINVAL;
	mock_native_rt_log(rt(), u32_at(in), (const char *)in + 4, len - 4);
	if (cap < 4)
		return NUB_EFULL;
	memcpy(out, &rc, 4);
	*out_len = 4;
	return 0;
}

static int32_t t_fail(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap,
                      uint32_t *out_len)
{
	int32_t st;

	if (len < 4 || cap < 6)
		return NUB_EINVAL;
	memcpy(&st, in, 4);
	memcpy(out, "failed", 6);
	*out_len = 6;
	return st;
}

static int32_t t_peb(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap, uint32_t *out_len)
{
	(void)in, (void)len;
	if (cap < sizeof(struct nub_peb))
		return NUB_EFULL;
	memcpy(out, &rt()->peb, sizeof(struct nub_peb));
	*out_len = sizeof(struct nub_peb);
	return 0;
}

static void tests_main(void)
{
	static const struct {
		uint32_t id;
		const char *name;
		mock_native_fn fn;
	} fns[] = {
	        {NUB_TG_ECHO, "echo", t_echo},
	        {NUB_TG_CALL_HOST, "call_host", t_call_host},
	        {NUB_TG_SPIN, "spin", t_spin},
	        {NUB_TG_ABORT, "abort", t_abort},
	        {NUB_TG_NULL_DEREF, "null_deref", t_null},
	        {NUB_TG_STACK_OVERFLOW, "stack_overflow", t_stack_overflow},
	        {NUB_TG_WRITE_RODATA, "write_rodata", t_write_rodata},
	        {NUB_TG_EXEC_DATA, "exec_data", t_exec_data},
	        {NUB_TG_PRIVILEGED, "privileged", t_privileged},
	        {NUB_TG_CORRUPT_OUTPUT_HALT, "corrupt_output_halt", t_corrupt_output_halt},
	        {NUB_TG_HOST_PAGE_WRITE, "host_page_write", t_host_page_write},
	        {NUB_TG_DOORBELL_STORE, "doorbell_store", t_doorbell_store},
	        {NUB_TG_STATIC_COUNTER, "static_counter", t_static_counter},
	        {NUB_TG_GUEST_COUNTER, "guest_counter", t_guest_counter},
	        {NUB_TG_LOG, "log", t_log},
	        {NUB_TG_FAIL_STATUS, "fail_status", t_fail},
	        {NUB_TG_PEB, "peb", t_peb},
	        {NUB_TG_PAGES, "pages", t_pages},
	        {NUB_TG_SPIN_AFTER_HOST, "spin_after_host", t_spin_after_host},
	};

	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++)
		mock_native_rt_register(rt(), fns[i].id, fns[i].name, fns[i].fn);
}

const struct mock_native_prog mock_native_progs[] = {
        {"hello", hello_main},
        {"calc", calc_main},
        {"tests", tests_main},
};
const size_t mock_native_prog_count = sizeof(mock_native_progs) / sizeof(mock_native_progs[0]);
