/* SPDX-License-Identifier: MIT */
/*
 * The exit loop (core/run/) with synthetic exits and no guest: a scripted
 * backend (tests/backends/scripted.c) plays back exits, the test puts the
 * guest's messages on the buffers itself, and each case checks how the
 * loop classifies the run -- done, the guest's failure, the backend's --
 * with the code, the message and what the loop reported back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nub/guest_abi.h>

#include "backend/backend_loader.h"
#include "backend/hv.h"
#include "memory/layout.h"
#include "memory/shmem.h"
#include "nub_test.h"
#include "run/run.h"

struct fixture {
	struct nub_layout l;
	struct nub_shmem *scratch, *snapshot;
	struct nub_gbuf in, out;
	uint8_t msg[64 << 10];
	struct nub_host_fn_slot fns[NUB_MAX_HOST_FNS];
	struct nub_hot_set hot;
	struct nub_fn_names names;
	struct nub_sandbox_stats stats;
	struct nub_error err;
	uint64_t cow_next;
	int in_callback;
	atomic_int timed_out;
	char logged[128];
	struct nub_run r;
};

static void on_log(void *user, int level, const char *msg, size_t len)
{
	struct fixture *f = user;
	snprintf(f->logged, sizeof(f->logged), "%d:%.*s", level, (int)len, msg);
}

static int32_t upper(void *user, const uint8_t *in, size_t len, uint8_t *out, size_t cap,
                     size_t *out_len)
{
	(void)user;
	if (len > cap)
		return NUB_EFULL;
	for (size_t i = 0; i < len; i++)
		out[i] = (in[i] >= 'a' && in[i] <= 'z') ? (uint8_t)(in[i] - 32) : in[i];
	*out_len = len;
	return 0;
}

/* A run context over fresh memory, with a scripted vCPU playing `script`. */
static struct fixture *fixture_new(const char *script)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct nub_layout_config lc;
	struct nub_backend *b;
	char path[4096];

	assert_non_null(f);
	nub_layout_config_default(&lc);
	assert_int_equal(nub_layout_compute(&lc, 4 * NUB_PAGE_SIZE, &f->l, &f->err), 0);
	assert_int_equal(nub_shmem_create(f->l.scratch_size, &f->scratch, &f->err), 0);
	assert_int_equal(nub_shmem_create(f->l.snapshot_size, &f->snapshot, &f->err), 0);
	nub_gbuf_init(&f->in, f->scratch, f->l.input_offset, f->l.input_size, "input buffer");
	nub_gbuf_init(&f->out, f->scratch, f->l.output_offset, f->l.output_size, "output buffer");
	assert_int_equal(nub_gbuf_clear(&f->in, &f->err), 0);
	assert_int_equal(nub_gbuf_clear(&f->out, &f->err), 0);
	snprintf(path, sizeof(path), "%s/libnub-backend-scripted.so",
	         nub_test_env("NUB_TEST_BACKEND_DIR"));
	if (nub_backend_load(path, &b, &f->err))
		fail_msg("load %s: %s", path, f->err.msg);
	struct nub_run *r = &f->r;
	if (nub_hv_create(b, NUB_GPA_LIMIT, script, &r->hv, &f->err))
		fail_msg("vm_create: %s", f->err.msg);
	nub_backend_unref(b);
	f->fns[7] = (struct nub_host_fn_slot){upper, NULL};
	f->cow_next = f->l.alloc_offset;
	r->l = &f->l;
	r->view = (struct nub_view){.l = &f->l,
	                            .snapshot = f->snapshot,
	                            .visible_size = f->l.snapshot_size,
	                            .scratch = f->scratch,
	                            .next = &f->cow_next};
	r->scratch = f->scratch;
	r->in = &f->in;
	r->out = &f->out;
	r->msg = f->msg;
	r->msg_cap = sizeof(f->msg);
	r->host_fns = f->fns;
	r->log_fn = on_log;
	r->log_user = f;
	r->log_level = NUB_LOG_INFO;
	r->in_callback = &f->in_callback;
	r->hot = &f->hot;
	r->timed_out = &f->timed_out;
	r->timeout_us = 1234;
	r->names = &f->names;
	r->stats = &f->stats;
	r->err = &f->err;
	return f;
}

static void fixture_free(struct fixture *f)
{
	nub_hv_destroy(f->r.hv);
	nub_shmem_unref(f->scratch);
	nub_shmem_unref(f->snapshot);
	free(f);
}

/* The guest's side of a message: pushed onto the output buffer. */
static void guest_push(struct fixture *f, const void *hdr, size_t hlen, const void *body,
                       size_t blen)
{
	uint8_t m[512];
	memcpy(m, hdr, hlen);
	memcpy(m + hlen, body, blen);
	assert_int_equal(nub_gbuf_push(&f->out, m, hlen + blen, &f->err), 0);
}

static void expect_run(struct fixture *f, enum nub_run_phase phase, int code,
                       enum nub_run_outcome want, const char *needle)
{
	enum nub_run_outcome got;
	int rc = nub_run_loop(&f->r, phase, &got);

	if (rc != code || got != want || (needle && !strstr(f->err.msg, needle)))
		fail_msg("got %s outcome %d '%s', want %s outcome %d '%s'", nub_strerror(rc), got,
		         f->err.msg, nub_strerror(code), want, needle ? needle : "");
}

/* One exit, one verdict: the doorbells' refusals and every other exit. */
static void test_exits_classified(void **state)
{
	static const struct {
		const char *script;
		enum nub_run_phase phase;
		int code;
		enum nub_run_outcome outcome;
		const char *needle;
	} cases[] = {
	        {"w:1ff8:8:0", NUB_RUN_CALL, 0, NUB_RUN_DONE, NULL},
	        {"w:1ff8:8:0", NUB_RUN_INIT, NUB_ECORRUPT, NUB_RUN_GUEST,
	         "guest signalled a call done during init"},
	        {"w:ff8:8:0", NUB_RUN_CALL, NUB_ECORRUPT, NUB_RUN_GUEST,
	         "guest signalled init done during a call"},
	        {"w:ff8:8:0", NUB_RUN_INIT, NUB_ECORRUPT, NUB_RUN_GUEST,
	         "init: dispatch address 0x0 is not a guest address"},
	        {"w:3ff8:1:0", NUB_RUN_CALL, NUB_EPORT, NUB_RUN_GUEST,
	         "guest stored 1 byte to doorbell offset 0x6ff8"},
	        {"w:1ff4:8:0", NUB_RUN_CALL, NUB_EPORT, NUB_RUN_GUEST,
	         "guest stored 8 bytes to doorbell offset 0x2ff4"},
	        {"w:1ff8:10:0", NUB_RUN_CALL, NUB_EPORT, NUB_RUN_GUEST,
	         "guest stored 16 bytes to doorbell offset 0x2ff8"},
	        {"w:1ff8:0:0", NUB_RUN_CALL, NUB_EPORT, NUB_RUN_GUEST, "not a plain store"},
	        {"r:3ff8:8", NUB_RUN_CALL, NUB_EPORT, NUB_RUN_GUEST,
	         "guest read doorbell offset 0x6ff8"},
	        {"w:1800:8:5", NUB_RUN_CALL, NUB_EPORT, NUB_RUN_GUEST,
	         "guest stored 0x5 at unknown doorbell offset 0x2800"},
	        {"w:6ff8:8:ffff800000000000", NUB_RUN_CALL, NUB_EINVAL, NUB_RUN_GUEST,
	         "FS base 0xffff800000000000: not a lower-half address"},
	        {"w:20000:8:0", NUB_RUN_CALL, NUB_EMMIO, NUB_RUN_GUEST,
	         "guest wrote 8 bytes at GPA 0x20000 (unmapped or read-only)"},
	        {"r:20000:4", NUB_RUN_CALL, NUB_EMMIO, NUB_RUN_GUEST, "guest read 4 bytes at GPA"},
	        /* Past the last doorbell's page: no doorbell. */
	        {"w:7ff8:8:0", NUB_RUN_CALL, NUB_EMMIO, NUB_RUN_GUEST,
	         "guest wrote 8 bytes at GPA 0x7ff8 (unmapped or read-only)"},
	        {"o:80:1:41", NUB_RUN_CALL, NUB_EPORT, NUB_RUN_GUEST,
	         "guest wrote to I/O port 0x80"},
	        {"h", NUB_RUN_CALL, NUB_ECORRUPT, NUB_RUN_GUEST, "guest halted the vCPU"},
	        {"s", NUB_RUN_CALL, NUB_ETRIPLE_FAULT, NUB_RUN_GUEST, "guest triple-faulted"},
	        {"c", NUB_RUN_CALL, NUB_ECANCELLED, NUB_RUN_GUEST, "call interrupted"},
	        {"i", NUB_RUN_CALL, NUB_EBACKEND, NUB_RUN_GUEST,
	         "scripted: run_vcpu: exit 8 (hw reason 0x77): scripted internal error"},
	        {"e", NUB_RUN_CALL, NUB_ESYS, NUB_RUN_BACKEND, "scripted failure"},
	        {"w:4ff8:8:2a", NUB_RUN_CALL, NUB_EGUEST_ABORT, NUB_RUN_GUEST,
	         "guest abort: code 0x2a"},
	        {"w:3ff8:8:3", NUB_RUN_CALL, NUB_ECORRUPT, NUB_RUN_GUEST,
	         "guest log: output buffer: empty"},
	        {"w:2ff8:8:7", NUB_RUN_CALL, NUB_ECORRUPT, NUB_RUN_GUEST,
	         "host call: output buffer: empty"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fixture *f = fixture_new(cases[i].script);
		expect_run(f, cases[i].phase, cases[i].code, cases[i].outcome, cases[i].needle);
		/* a backend that failed made no exit */
		assert_int_equal(f->stats.vm_exits, cases[i].outcome == NUB_RUN_BACKEND ? 0 : 1);
		fixture_free(f);
	}
}

/* A timeout is the watchdog's cancellation: named with its length. */
static void test_cancel_after_timeout_is_named(void **state)
{
	(void)state;
	struct fixture *f = fixture_new("c");
	atomic_store(&f->timed_out, 1);
	expect_run(f, NUB_RUN_CALL, NUB_ETIMEDOUT, NUB_RUN_GUEST,
	           "call exceeded its timeout of 1234 us");
	fixture_free(f);
}

/* Doorbells that serve and go on: a log line reaches the callback, a host
 * call its function and its response the input buffer, the FS base is
 * reported back; then the call ends. */
static void test_doorbells_served_then_done(void **state)
{
	struct nub_log_msg lm = {NUB_LOG_INFO, 5};
	struct nub_request req = {7, 0, 2};
	struct nub_response resp;
	uint8_t got[64];
	uint64_t len;

	(void)state;
	struct fixture *f = fixture_new("w:2ff8:8:7;w:3ff8:8:3;w:6ff8:8:7f0000001000;w:1ff8:8:0");
	/* pushed in reverse: the stack pops the last first */
	guest_push(f, &lm, sizeof(lm), "hello", 5);
	guest_push(f, &req, sizeof(req), "hi", 2);
	expect_run(f, NUB_RUN_CALL, 0, NUB_RUN_DONE, NULL);
	assert_int_equal(f->stats.vm_exits, 4);
	assert_int_equal(f->stats.host_calls, 1);
	assert_string_equal(f->logged, "3:hello");
	assert_int_equal(f->r.fs_base, 0x7f0000001000ull);
	assert_int_equal(nub_gbuf_pop(&f->in, got, sizeof(got), &len, &f->err), 0);
	memcpy(&resp, got, sizeof(resp));
	assert_int_equal(resp.status, 0);
	assert_int_equal(resp.len, 2);
	assert_memory_equal(got + sizeof(resp), "HI", 2);
	assert_int_equal(f->in_callback, 0);
	fixture_free(f);
}

/* The built-in host functions answer whatever the program registered. */
static void test_builtin_host_function(void **state)
{
	uint32_t n = 16;
	struct nub_request req = {NUB_HOST_FN_RANDOM, 0, sizeof(n)};
	struct nub_response resp;
	uint8_t got[64];
	uint64_t len;

	(void)state;
	struct fixture *f = fixture_new("w:2ff8:8:ffff0002;w:1ff8:8:0");
	guest_push(f, &req, sizeof(req), &n, sizeof(n));
	expect_run(f, NUB_RUN_CALL, 0, NUB_RUN_DONE, NULL);
	assert_int_equal(nub_gbuf_pop(&f->in, got, sizeof(got), &len, &f->err), 0);
	memcpy(&resp, got, sizeof(resp));
	assert_int_equal(resp.status, 0);
	assert_int_equal(resp.len, 16);
	fixture_free(f);
}

/* The end of init: the dispatch entry and the function names come back. */
static void test_init_done_reports_names(void **state)
{
	struct nub_fn_entry e = {3, 5};

	(void)state;
	struct fixture *f = fixture_new("w:ff8:8:12345");
	guest_push(f, &e, sizeof(e), "greet", 5);
	expect_run(f, NUB_RUN_INIT, 0, NUB_RUN_DONE, NULL);
	assert_int_equal(f->r.dispatch_gva, 0x12345);
	assert_int_equal(f->names.n, 1);
	assert_int_equal(f->names.fn[0].id, 3);
	assert_string_equal(f->names.fn[0].name, "greet");
	fixture_free(f);
}

/* A string store (RDI moved past the doorbell) is refused; the exception
 * doorbell from user mode is a forgery; from the host's stub at CPL0 the
 * frame on the exception stack is reported. */
static void test_doorbell_forgeries(void **state)
{
	struct nub_regs regs;
	struct nub_sregs sregs;

	(void)state;
	struct fixture *f = fixture_new("w:3ff8:8:3");
	memset(&regs, 0, sizeof(regs));
	regs.rdi = NUB_DOORBELL_GVA_OF(NUB_DOORBELL_LOG) + 8;
	assert_int_equal(nub_hv_set_regs(f->r.hv, &regs, &f->err), 0);
	expect_run(f, NUB_RUN_CALL, NUB_EPORT, NUB_RUN_GUEST,
	           "guest rang doorbell offset 0x6ff8 with a string store");
	fixture_free(f);

	f = fixture_new("w:5ff8:8:0");
	memset(&sregs, 0, sizeof(sregs));
	sregs.cs.selector = NUB_SEL_USER_CODE;
	assert_int_equal(nub_hv_set_sregs(f->r.hv, &sregs, &f->err), 0);
	expect_run(f, NUB_RUN_CALL, NUB_EPRIVILEGED, NUB_RUN_GUEST,
	           "guest stored to the exception doorbell from user mode");
	fixture_free(f);

	f = fixture_new("w:5ff8:8:0");
	sregs.cs.selector = NUB_SEL_KERNEL_CODE;
	assert_int_equal(nub_hv_set_sregs(f->r.hv, &sregs, &f->err), 0);
	struct nub_exception_frame fr = {.vector = 13, .rip = 0x4242, .cs = NUB_SEL_USER_CODE};
	assert_int_equal(nub_shmem_write(f->scratch, f->l.exn_stack_top_offset - sizeof(fr), &fr,
	                                 sizeof(fr), &f->err),
	                 0);
	expect_run(f, NUB_RUN_CALL, NUB_EGUEST_FAULT, NUB_RUN_GUEST,
	           "guest fault: vector 13 (#GP general protection) error code 0x0 at RIP 0x4242");
	fixture_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_exits_classified),
	        cmocka_unit_test(test_cancel_after_timeout_is_named),
	        cmocka_unit_test(test_doorbells_served_then_done),
	        cmocka_unit_test(test_builtin_host_function),
	        cmocka_unit_test(test_init_done_reports_names),
	        cmocka_unit_test(test_doorbell_forgeries),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
