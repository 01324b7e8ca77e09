/* SPDX-License-Identifier: MIT */
/*
 * Typed calls: the value encoding (include/nub/typed.h) on its own, then
 * nub_sandbox_call_typed against the test guest's typed functions, on the
 * backend under test: mixed argument types, strings and bytes both ways, a
 * void result, and every mismatch refused at the boundary with its reason.
 */
#include <stdio.h>
#include <string.h>

#include <nub/nub.h>

#include "../../guest/tests/test_guest_ids.h"
#include "nub_test.h"
#include "nub_test_sandbox.h"

#define I32(x)   ((struct nub_value){.type = NUB_T_I32, .v.i32 = (x)})
#define I64(x)   ((struct nub_value){.type = NUB_T_I64, .v.i64 = (x)})
#define U32(x)   ((struct nub_value){.type = NUB_T_U32, .v.u32 = (x)})
#define U64(x)   ((struct nub_value){.type = NUB_T_U64, .v.u64 = (x)})
#define F32(x)   ((struct nub_value){.type = NUB_T_F32, .v.f32 = (x)})
#define F64(x)   ((struct nub_value){.type = NUB_T_F64, .v.f64 = (x)})
#define BOOL(x)  ((struct nub_value){.type = NUB_T_BOOL, .v.b = (x)})
#define STR(s)   ((struct nub_value){.type = NUB_T_STR, .v.buf = {(s), sizeof(s) - 1}})
#define BYTES(s) ((struct nub_value){.type = NUB_T_BYTES, .v.buf = {(s), sizeof(s) - 1}})

static void test_encoding_round_trip(void **state)
{
	struct nub_value in[] = {I32(-7),         I64(-(1ll << 40)), U32(7),
	                         U64(1ull << 63), F32(1.5f),         F64(-0.25),
	                         BOOL(1),         STR("héllo"),      BYTES("\0\1\2")};
	struct nub_value out[NUB_TYPED_MAX_VALUES];
	uint8_t buf[256];
	size_t len = 0;
	uint32_t n = 0;
	(void)state;

	assert_int_equal(nub_typed_encode(in, 9, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 1 + 5 + 9 + 5 + 9 + 5 + 9 + 2 + 5 + 6 + 5 + 3);
	assert_int_equal(nub_typed_decode(buf, len, out, NUB_TYPED_MAX_VALUES, &n), 0);
	assert_int_equal(n, 9);
	assert_int_equal(out[0].v.i32, -7);
	assert_true(out[1].v.i64 == -(1ll << 40));
	assert_true(out[3].v.u64 == 1ull << 63);
	assert_true(out[4].v.f32 == 1.5f && out[5].v.f64 == -0.25 && out[6].v.b == 1);
	assert_int_equal(out[7].v.buf.len, 6);
	assert_memory_equal(out[7].v.buf.p, "héllo", 6);
	assert_memory_equal(out[8].v.buf.p, "\0\1\2", 3);
	/* Too small a buffer, anywhere: NUB_EFULL, never a write past it. */
	for (size_t cap = 0; cap < len; cap++)
		assert_int_equal(nub_typed_encode(in, 9, buf, cap, &len), NUB_EFULL);
}

/* Each way untrusted bytes can be wrong: refused, never read past. */
static void test_encoding_refuses_corrupt_bytes(void **state)
{
	struct nub_value out[NUB_TYPED_MAX_VALUES], bad_bool = BOOL(2), bad_type = {.type = 'z'};
	uint8_t buf[64];
	size_t len = 0;
	uint32_t n = 0;
	static const uint8_t unknown_tag[] = {1, 'z'}, short_i64[] = {1, 'l', 1, 2, 3},
	                     long_str[] = {1, 's', 9, 0, 0, 0, 'a'}, left_over[] = {1, 'b', 1, 0},
	                     bool_two[] = {1, 'b', 2}, too_many[] = {17}, missing[] = {2, 'b', 1};
	const struct {
		const uint8_t *p;
		size_t len;
	} cases[] = {{unknown_tag, sizeof(unknown_tag)}, {short_i64, sizeof(short_i64)},
	             {long_str, sizeof(long_str)},       {left_over, sizeof(left_over)},
	             {bool_two, sizeof(bool_two)},       {too_many, sizeof(too_many)},
	             {missing, sizeof(missing)},         {buf, 0}};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(
		        nub_typed_decode(cases[i].p, cases[i].len, out, NUB_TYPED_MAX_VALUES, &n),
		        NUB_ECORRUPT);
	assert_int_equal(nub_typed_encode(&bad_bool, 1, buf, sizeof(buf), &len), NUB_EINVAL);
	assert_int_equal(nub_typed_encode(&bad_type, 1, buf, sizeof(buf), &len), NUB_EINVAL);
	assert_true(nub_typed_sig_ok("ilqfdbusy>v") && nub_typed_sig_ok(">d"));
	assert_false(nub_typed_sig_ok("i") || nub_typed_sig_ok("i>") || nub_typed_sig_ok("v>i") ||
	             nub_typed_sig_ok("i>ii") || nub_typed_sig_ok("x>i") ||
	             nub_typed_sig_ok("iiiiiiiiiiiiiiiii>i") || nub_typed_sig_ok(NULL));
}

static void test_call_with_mixed_types(void **state)
{
	struct nub_sandbox *sb = nub_test_sandbox("test_guest", NULL);
	struct nub_value args[] = {
	        I32(-3), I64(1000000000000ll), U64(5), F32(0.5f), F64(0.25), BOOL(1),
	        U32(40), STR("four")};
	struct nub_value concat[] = {STR("nub "), BYTES("\x01sandbox")};
	struct nub_value ret;
	uint8_t buf[1024];
	int32_t status = -1;
	(void)state;

	uint32_t id = 0;
	/* Published with the names: the signature, and the name without it. */
	assert_string_equal(nub_sandbox_function_signature(sb, NUB_TG_TYPED_MIX), "ilqfdbus>d");
	assert_null(nub_sandbox_function_signature(sb, NUB_TG_ECHO));
	assert_null(nub_sandbox_function_signature(sb, 1000));
	assert_int_equal(nub_sandbox_function_id(sb, "typed_mix", &id), 0);
	assert_int_equal(id, NUB_TG_TYPED_MIX);
	assert_int_equal(nub_sandbox_function_id(sb, "typed_mix:ilqfdbus>d", &id), NUB_EINVAL);
	assert_int_equal(nub_sandbox_call_typed(sb, NUB_TG_TYPED_MIX, args, 8, &ret, buf,
	                                        sizeof(buf), &status),
	                 0);
	assert_int_equal(status, 0);
	assert_int_equal(ret.type, NUB_T_F64);
	assert_true(ret.v.f64 == -3.0 + 1e12 + 5 + 0.5 + 0.25 + 1 + 40 + 4);
	assert_int_equal(nub_sandbox_call_typed(sb, NUB_TG_TYPED_CONCAT, concat, 2, &ret, buf,
	                                        sizeof(buf), &status),
	                 0);
	assert_int_equal(ret.type, NUB_T_STR);
	assert_int_equal(ret.v.buf.len, 12);
	assert_memory_equal(ret.v.buf.p, "nub \x01sandbox", 12);
	struct nub_value keep = U64(41), yes = BOOL(1);
	assert_int_equal(nub_sandbox_call_typed(sb, NUB_TG_TYPED_VOID, &keep, 1, &ret, buf,
	                                        sizeof(buf), &status),
	                 0);
	assert_int_equal(ret.type, NUB_T_VOID);
	assert_int_equal(nub_sandbox_call_typed(sb, NUB_TG_TYPED_LAST, &yes, 1, &ret, buf,
	                                        sizeof(buf), &status),
	                 0);
	assert_int_equal(ret.type, NUB_T_U64);
	assert_int_equal(ret.v.u64, 42);
	/* A plain C function, its marshalling generated by NUB_TYPED_FN4. */
	struct nub_value plain[] = {I32(3), U64(4), BOOL(1), STR("ab")};
	assert_string_equal(nub_sandbox_function_signature(sb, NUB_TG_TYPED_PLAIN), "iqbs>d");
	assert_int_equal(nub_sandbox_call_typed(sb, NUB_TG_TYPED_PLAIN, plain, 4, &ret, buf,
	                                        sizeof(buf), &status),
	                 0);
	assert_true(ret.type == NUB_T_F64 && ret.v.f64 == -4.5);
	nub_sandbox_free(sb);
}

static void expect_refused(struct nub_sandbox *sb, uint32_t fn, const struct nub_value *args,
                           uint32_t n, int code, const char *want)
{
	struct nub_value ret;
	uint8_t buf[256];
	int32_t status = 0;

	assert_int_equal(nub_sandbox_call_typed(sb, fn, args, n, &ret, buf, sizeof(buf), &status),
	                 code);
	assert_string_equal(nub_sandbox_last_error(sb), want);
	assert_int_equal(ret.type, NUB_T_VOID);
}

/* A mismatch is an error naming the function and the argument; the
 * sandbox goes on (nothing is poisoned). */
static void test_mismatches_are_named(void **state)
{
	struct nub_sandbox *sb = nub_test_sandbox("test_guest", NULL);
	struct nub_value two[] = {STR("a"), STR("b")}, one = I32(1), f = F64(1), many[17];
	uint8_t small[4];
	struct nub_value ret;
	int32_t status;
	(void)state;

	expect_refused(sb, NUB_TG_TYPED_CONCAT, two, 2, NUB_EINVAL,
	               "call_typed: function 45: argument 2 is str, the function takes bytes");
	expect_refused(sb, NUB_TG_TYPED_CONCAT, two, 1, NUB_EINVAL,
	               "call_typed: function 45: 1 argument given, the function takes 2");
	expect_refused(sb, NUB_TG_TYPED_MIX, &f, 1, NUB_EINVAL,
	               "call_typed: function 44: 1 argument given, the function takes 8");
	expect_refused(sb, NUB_TG_TYPED_LAST, &one, 1, NUB_EINVAL,
	               "call_typed: function 47: argument 1 is i32, the function takes bool");
	expect_refused(sb, NUB_TG_TYPED_BROKEN, &one, 1, NUB_ECORRUPT,
	               "call_typed: function 48 broke its signature: the function returned i32, "
	               "its signature says str");
	expect_refused(sb, 1000, &one, 1, NUB_ENOTFOUND, "call_typed: no function 1000");
	/* A byte function called typed: echo's answer is two values, not one. */
	expect_refused(sb, NUB_TG_ECHO, two, 2, NUB_ECORRUPT,
	               "call_typed: function 1: its result is not one typed value");
	for (int i = 0; i < 17; i++)
		many[i] = I32(i);
	expect_refused(sb, NUB_TG_TYPED_MIX, many, 17, NUB_EINVAL,
	               "call_typed: function 44: an argument cannot be encoded (type, bool value, "
	               "or more than 16 values)");
	assert_int_equal(nub_sandbox_call_typed(sb, NUB_TG_TYPED_MIX, many, 8, &ret, small,
	                                        sizeof(small), &status),
	                 NUB_EFULL);
	/* Still usable. */
	uint8_t buf[64];
	struct nub_value no = BOOL(0);
	assert_int_equal(nub_sandbox_call_typed(sb, NUB_TG_TYPED_LAST, &no, 1, &ret, buf,
	                                        sizeof(buf), &status),
	                 0);
	assert_int_equal(ret.v.u64, 0);
	nub_sandbox_free(sb);
}

static int32_t host_scale(void *user, const struct nub_value *a, uint32_t n, struct nub_value *ret)
{
	(void)n;
	ret->v.i64 = (int64_t)a[0].v.i32 * *(const int *)user + a[1].v.buf.len;
	return 0;
}

static int32_t host_fails(void *user, const struct nub_value *a, uint32_t n, struct nub_value *ret)
{
	(void)user;
	(void)a;
	(void)n;
	(void)ret;
	return -77;
}

static char last_log[256];

static void keep_log(void *user, int level, const char *msg, size_t len)
{
	(void)user;
	(void)level;
	snprintf(last_log, sizeof(last_log), "%.*s", (int)len, msg);
}

/* Typed host functions: the guest's values decoded and checked on the
 * host; a mismatch never reaches the function, and the guest reads why. */
static void test_typed_host_functions(void **state)
{
	static const int factor = 1000;
	struct nub_config cfg;
	struct nub_error err = {0};
	struct nub_sandbox *sb;
	struct nub_value args[2] = {U32(5), I32(21)}, ret;
	uint8_t buf[256];
	int32_t status = 0;
	(void)state;

	nub_config_init(&cfg);
	nub_test_use_backend(&cfg);
	cfg.log_fn = keep_log;
	cfg.log_level = NUB_LOG_INFO;
	assert_int_equal(nub_sandbox_create_from_elf(&cfg, nub_test_guest("test_guest"), &sb, &err),
	                 0);
	assert_int_equal(nub_sandbox_register_typed(sb, 5, "is>l", host_scale, (void *)&factor), 0);
	assert_int_equal(nub_sandbox_register_typed(sb, 6, "ss>l", host_scale, NULL), 0);
	assert_int_equal(nub_sandbox_register_typed(sb, 7, "is>l", host_fails, NULL), 0);
	assert_int_equal(nub_sandbox_register_typed(sb, 8, "is>", host_fails, NULL), NUB_EINVAL);
	assert_string_equal(nub_sandbox_last_error(sb),
	                    "register_typed: host function 8: malformed signature");
	assert_int_equal(nub_sandbox_evolve(sb), 0);
	assert_int_equal(nub_sandbox_call_typed(sb, NUB_TG_TYPED_HOST, args, 2, &ret, buf,
	                                        sizeof(buf), &status),
	                 0);
	assert_int_equal(status, 0);
	assert_int_equal(ret.v.i64, 21 * 1000 + 4);
	args[0] = U32(6); /* takes (str, str): refused before it runs; the guest
	                   * logs the reason and returns NUB_EINVAL itself */
	assert_int_equal(nub_sandbox_call_typed(sb, NUB_TG_TYPED_HOST, args, 2, &ret, buf,
	                                        sizeof(buf), &status),
	                 NUB_EINVAL);
	assert_string_equal(nub_sandbox_last_error(sb),
	                    "call_typed: function 49 returned NUB_EINVAL");
	assert_string_equal(last_log, "refused: argument 1 is i32, the function takes str");
	args[0] = U32(7); /* its own status reaches the guest, which returns it */
	assert_int_equal(nub_sandbox_call_typed(sb, NUB_TG_TYPED_HOST, args, 2, &ret, buf,
	                                        sizeof(buf), &status),
	                 0);
	assert_int_equal(status, -77);
	nub_sandbox_free(sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_encoding_round_trip),
	        cmocka_unit_test(test_encoding_refuses_corrupt_bytes),
	        cmocka_unit_test(test_call_with_mixed_types),
	        cmocka_unit_test(test_mismatches_are_named),
	        cmocka_unit_test(test_typed_host_functions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
