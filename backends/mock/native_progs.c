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

#include "native.h"
#include "native_ids.h"
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
	int n = snprintf((char *)out, cap, "hello, %.*s", (int)len, (const char *)in);

	if (n < 0 || (uint32_t)n >= cap)
		return NUB_ERANGE;
	*out_len = (uint32_t)n;
	int m = snprintf(line, sizeof(line), "greeting %.*s", (int)(len > 64 ? 64 : len),
			 (const char *)in);
	mock_native_rt_log(rt(), NUB_LOG_INFO, line, (uint32_t)m);
	return 0;
}

static void hello_main(void)
{
	mock_native_rt_register(rt(), NUB_HELLO_GREET, hello_greet);
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
	uint64_t a = 0, b = 1, n;

	if (len != 8 || (n = get_u64(in)) > 93)
		return NUB_EINVAL;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t t = a + b;
		a = b;
		b = t;
	}
	return put_u64(a, out, cap, out_len);
}

static void calc_main(void)
{
	mock_native_rt_register(rt(), NUB_CALC_ADD, calc_add);
	mock_native_rt_register(rt(), NUB_CALC_SUM, calc_sum);
	mock_native_rt_register(rt(), NUB_CALC_FIB, calc_fib);
}

/* ---- test guest ---- */

static int32_t t_echo(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap,
		      uint32_t *out_len)
{
	if (len > cap)
		return NUB_ERANGE;
	memcpy(out, in, len);
	*out_len = len;
	return 0;
}

/* in: u32 first page, u32 count, u8 value. Writes the heap pages (CoW on
 * first touch) and returns the sum of every byte of the whole heap. */
static int32_t t_write_pages(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap,
			     uint32_t *out_len)
{
	const struct nub_peb *peb = &rt()->peb;
	static uint8_t page[PAGE];
	uint32_t first, count;
	uint64_t sum = 0;

	if (len != 9)
		return NUB_EINVAL;
	memcpy(&first, in, 4);
	memcpy(&count, in + 4, 4);
	if ((uint64_t)first + count > peb->heap_size / PAGE)
		return NUB_ERANGE;
	memset(page, in[8], PAGE);
	for (uint32_t i = 0; i < count; i++)
		mock_native_write(peb->heap_gva + (uint64_t)(first + i) * PAGE, page, PAGE);
	for (uint64_t off = 0; off < peb->heap_size; off += PAGE) {
		mock_native_read(peb->heap_gva + off, page, PAGE);
		for (unsigned j = 0; j < PAGE; j++)
			sum += page[j];
	}
	return put_u64(sum, out, cap, out_len);
}

/* in: u32 host fn id, then bytes. out: "host said: " + the host's reply. */
static int32_t t_call_host(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap,
			   uint32_t *out_len)
{
	static const char prefix[] = "host said: ";
	uint32_t id, n = 0;
	int32_t st;

	if (len < 4 || cap < sizeof(prefix))
		return NUB_EINVAL;
	memcpy(&id, in, 4);
	memcpy(out, prefix, sizeof(prefix) - 1);
	st = mock_native_rt_call_host(rt(), id, in + 4, len - 4, out + sizeof(prefix) - 1,
				      cap - (uint32_t)sizeof(prefix) + 1, &n);
	*out_len = (uint32_t)sizeof(prefix) - 1 + n;
	return st;
}

static int32_t t_spin(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap,
		      uint32_t *out_len)
{
	(void)in, (void)len, (void)out, (void)cap, (void)out_len;
	for (;;)
		mock_native_poll();
}

/* in: u32 host fn id. Tells the host it is running, then spins. */
static int32_t t_spin_after_host(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap,
				 uint32_t *out_len)
{
	uint32_t id, n;

	if (len < 4)
		return NUB_EINVAL;
	memcpy(&id, in, 4);
	mock_native_rt_call_host(rt(), id, NULL, 0, out, cap, &n);
	return t_spin(in, len, out, cap, out_len);
}

static int32_t t_abort(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap,
		       uint32_t *out_len)
{
	(void)in, (void)len, (void)out, (void)cap, (void)out_len;
	mock_native_rt_abort(rt(), 42, "deliberate abort");
}

static int32_t t_null(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap,
		      uint32_t *out_len)
{
	uint64_t v;

	(void)in, (void)len, (void)out, (void)cap, (void)out_len;
	mock_native_read(0, &v, sizeof(v));
	return 0;
}

static int32_t t_stack_overflow(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap,
				uint32_t *out_len)
{
	const struct nub_peb *peb = &rt()->peb;
	uint64_t v = 0;

	(void)in, (void)len, (void)out, (void)cap, (void)out_len;
	/* Native code has no guest stack to recurse on: push until the stack
	 * pointer reaches the guard page, as the recursion would. */
	for (nub_gva_t sp = peb->stack_top_gva - 8;; sp -= 8)
		mock_native_write(sp, &v, sizeof(v));
}

static int32_t t_write_rodata(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap,
			      uint32_t *out_len)
{
	uint64_t v = 1;

	(void)in, (void)len, (void)out, (void)cap, (void)out_len;
	/* The PEB page is mapped read-only without the CoW bit. */
	mock_native_write(NUB_BASE_GPA, &v, sizeof(v));
	return 0;
}

static int32_t t_exec_data(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap,
			   uint32_t *out_len)
{
	(void)in, (void)len, (void)out, (void)cap, (void)out_len;
	/* An instruction fetch from NX memory: #PF, present | fetch. */
	mock_native_fault(14, 0x11, rt()->peb.heap_gva);
}

static int32_t t_bad_port(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap,
			  uint32_t *out_len)
{
	(void)in, (void)len, (void)out, (void)cap, (void)out_len;
	mock_native_out(0x3f8, 'x');
	return 0;
}

static int32_t t_corrupt_output(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap,
				uint32_t *out_len)
{
	uint64_t garbage = 0xfffffffffffffff0ull;

	(void)in, (void)len, (void)out, (void)cap;
	*out_len = 0;
	/* Push a valid response, then wreck the stack pointer under it. */
	struct nub_response resp = {0};
	mock_native_rt_push(rt(), 1, &resp, sizeof(resp), NULL, 0);
	mock_native_write(rt()->peb.output_gva, &garbage, sizeof(garbage));
	mock_native_out(NUB_PORT_HALT, NUB_HALT_CALL_DONE);
	return 0;
}

/* Make the first heap page writable in the live page tables without CoW
 * and write to it: the page is snapshot memory, read-only at the
 * hypervisor, so the write must never land. */
static int32_t t_remap_snapshot(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap,
				uint32_t *out_len)
{
	const struct nub_peb *peb = &rt()->peb;
	uint8_t junk[64];
	struct nub_vmem_mapping m;

	(void)in, (void)len, (void)out, (void)cap, (void)out_len;
	memset(junk, 0xee, sizeof(junk));
	mock_native_translate(peb->heap_gva, &m);
	if (m.kind != NUB_VMEM_COW)
		return NUB_ESTATE; /* already copied: nothing to attack */
	if (mock_native_remap(peb->heap_gva, m.gpa, NUB_VMEM_R | NUB_VMEM_W))
		return NUB_EBACKEND;
	mock_native_write(peb->heap_gva, junk, sizeof(junk));
	return 0;
}

static int32_t t_counter(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap,
			 uint32_t *out_len)
{
	(void)in, (void)len;
	return put_u64(mock_native_rt_counter(rt()), out, cap, out_len);
}

static int32_t t_log(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap,
		     uint32_t *out_len)
{
	(void)out, (void)cap;
	if (len < 4)
		return NUB_EINVAL;
	uint32_t level;
	memcpy(&level, in, 4);
	mock_native_rt_log(rt(), level, (const char *)in + 4, len - 4);
	*out_len = 0;
	return 0;
}

static int32_t t_fail(const uint8_t *in, uint32_t len, uint8_t *out, uint32_t cap,
		      uint32_t *out_len)
{
	(void)in, (void)len, (void)out, (void)cap, (void)out_len;
	return -77;
}

static void tests_main(void)
{
	static const struct {
		uint32_t id;
		mock_native_fn fn;
	} fns[] = {
		{NUB_TEST_ECHO, t_echo},
		{NUB_TEST_WRITE_PAGES, t_write_pages},
		{NUB_TEST_CALL_HOST, t_call_host},
		{NUB_TEST_SPIN, t_spin},
		{NUB_TEST_ABORT, t_abort},
		{NUB_TEST_NULL_DEREF, t_null},
		{NUB_TEST_STACK_OVERFLOW, t_stack_overflow},
		{NUB_TEST_WRITE_RODATA, t_write_rodata},
		{NUB_TEST_EXEC_DATA, t_exec_data},
		{NUB_TEST_BAD_PORT, t_bad_port},
		{NUB_TEST_CORRUPT_OUTPUT, t_corrupt_output},
		{NUB_TEST_REMAP_SNAPSHOT, t_remap_snapshot},
		{NUB_TEST_COUNTER, t_counter},
		{NUB_TEST_LOG, t_log},
		{NUB_TEST_FAIL_STATUS, t_fail},
		{NUB_TEST_SPIN_AFTER_HOST, t_spin_after_host},
	};

	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++)
		mock_native_rt_register(rt(), fns[i].id, fns[i].fn);
}

const struct mock_native_prog mock_native_progs[] = {
	{"hello", hello_main},
	{"calc", calc_main},
	{"tests", tests_main},
};
const size_t mock_native_prog_count = sizeof(mock_native_progs) / sizeof(mock_native_progs[0]);
