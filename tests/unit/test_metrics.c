/* SPDX-License-Identifier: MIT */
/*
 * Metrics and traces on the backend under test: failed calls counted by
 * kind (a fault, an abort, a timeout), call, host-call and restore times,
 * the process-wide sums taking in what every sandbox adds (freed ones
 * too); guest log lines carrying the guest function that wrote them
 * (nub_config.log_line_fn); the trace hook's events in order, each end
 * after its begin, an exit for every counted VM exit, and a hook that
 * calls back into its sandbox refused. The Chrome trace example is
 * tests/cli/trace.sh.
 */
#include <stdint.h>
#include <string.h>

#include <nub/nub.h>

#include "../../guest/tests/test_guest_ids.h"
#include "nub_test.h"
#include "nub_test_sandbox.h"

static int32_t answer(void *user, const uint8_t *in, size_t len, uint8_t *out, size_t cap,
                      size_t *out_len)
{
	(void)user, (void)in, (void)len, (void)out, (void)cap;
	*out_len = 0;
	return 7;
}

static void call_host_1(struct nub_sandbox *sb)
{
	const uint8_t req[4] = {1, 0, 0, 0};
	uint8_t out[64];

	assert_int_equal(nub_test_call(sb, NUB_TG_CALL_HOST, req, 4, out, sizeof(out), NULL), 0);
}

static void test_errors_by_kind_and_times(void **state)
{
	(void)state;
	struct nub_sandbox_stats before, after, s;
	struct nub_config cfg;
	uint8_t out[64];
	int rc;

	nub_process_stats(&before);
	nub_config_init(&cfg);
	/* The other calls must not time out: a scaled deadline. */
	cfg.call_timeout_us = nub_test_timeout_us(200000);
	struct nub_sandbox *sb = nub_test_sandbox("test_guest", &cfg);
	assert_int_equal(nub_sandbox_register(sb, 1, answer, NULL), 0);
	call_host_1(sb);
	nub_test_try_call(sb, NUB_TG_NULL_DEREF, NULL, 0, out, sizeof(out), &rc);
	assert_int_equal(rc, NUB_EGUEST_FAULT);
	assert_int_equal(nub_sandbox_restore(sb, NULL), 0);
	nub_test_try_call(sb, NUB_TG_ABORT, "\x2a\0\0\0", 4, out, sizeof(out), &rc);
	assert_int_equal(rc, NUB_EGUEST_ABORT);
	assert_int_equal(nub_sandbox_restore(sb, NULL), 0);
	nub_test_try_call(sb, NUB_TG_SPIN, NULL, 0, out, sizeof(out), &rc);
	assert_int_equal(rc, NUB_ETIMEDOUT);
	assert_int_equal(nub_sandbox_restore(sb, NULL), 0);
	s = nub_test_stats(sb);
	assert_int_equal(s.calls, 4);
	assert_int_equal(s.call_errors, 3);
	assert_int_equal(s.errors_fault, 1);
	assert_int_equal(s.errors_abort, 1);
	assert_int_equal(s.errors_timeout, 1);
	assert_int_equal(s.errors_cancelled, 0);
	assert_int_equal(s.errors_backend, 0);
	assert_int_equal(s.host_calls, 1);
	/* Times are there and consistent, whatever the machine's speed. */
	assert_true(s.call_ns > 0 && s.call_ns_max > 0 && s.call_ns_max <= s.call_ns);
	assert_true(s.call_ns_max >= s.host_call_ns_max && s.host_call_ns >= s.host_call_ns_max);
	assert_true(s.restore_ns > 0 && s.restore_ns_max <= s.restore_ns);
	/* The process's sums hold this sandbox's, after it is freed too. */
	nub_sandbox_free(sb);
	nub_process_stats(&after);
	assert_int_equal(after.calls - before.calls, 4);
	assert_int_equal(after.errors_timeout - before.errors_timeout, 1);
	assert_int_equal(after.host_calls - before.host_calls, 1);
	assert_int_equal(after.vm_exits - before.vm_exits, s.vm_exits);
	assert_true(after.call_ns_max >= s.call_ns_max);
}

struct lines {
	unsigned n;
	char function[4][32];
	char text[4][64];
	uint32_t fn_id[4];
};

static void on_line(void *user, const struct nub_log_line *l)
{
	struct lines *k = user;

	if (k->n == 4)
		return;
	snprintf(k->function[k->n], sizeof(k->function[0]), "%s", l->function ? l->function : "-");
	snprintf(k->text[k->n], sizeof(k->text[0]), "%.*s", (int)l->len, l->msg);
	k->fn_id[k->n++] = l->fn_id;
}

static void test_log_lines_name_their_function(void **state)
{
	(void)state;
	struct lines k = {0};
	struct nub_config cfg;
	uint8_t req[8] = {NUB_LOG_INFO, 0, 0, 0, 'h', 'i'}, out[8];

	nub_config_init(&cfg);
	cfg.log_line_fn = on_line;
	cfg.log_user = &k;
	struct nub_sandbox *sb = nub_test_sandbox("test_guest", &cfg);
	nub_test_call(sb, NUB_TG_LOG, req, 6, out, sizeof(out), NULL);
	assert_int_equal(k.n, 1);
	assert_string_equal(k.text[0], "hi");
	assert_string_equal(k.function[0], "log");
	assert_int_equal(k.fn_id[0], NUB_TG_LOG);
	nub_sandbox_free(sb);
}

struct events {
	struct nub_sandbox *sb;
	unsigned n, exits, begins, ends;
	uint32_t kind[64];
	uint64_t last_ns;
	int ordered, reentry_rc;
	char call_name[32];
};

static void on_event(void *user, const struct nub_trace_event *ev)
{
	struct events *e = user;

	if (ev->time_ns < e->last_ns)
		e->ordered = 0;
	e->last_ns = ev->time_ns;
	if (e->n < 64)
		e->kind[e->n] = ev->kind;
	e->n++;
	if (ev->kind == NUB_TRACE_EXIT) {
		e->exits++;
		return;
	}
	if (ev->kind == NUB_TRACE_CALL_BEGIN && ev->name)
		snprintf(e->call_name, sizeof(e->call_name), "%s", ev->name);
	if (ev->kind % 2)
		e->begins++;
	else
		e->ends++;
	if (ev->kind == NUB_TRACE_HOST_CALL_BEGIN && e->sb)
		e->reentry_rc = nub_sandbox_restore(e->sb, NULL);
}

static void test_trace_events(void **state)
{
	(void)state;
	struct events e = {.ordered = 1};
	struct nub_config cfg;

	nub_config_init(&cfg);
	cfg.trace_fn = on_event;
	cfg.trace_user = &e;
	struct nub_sandbox *sb = nub_test_sandbox("test_guest", &cfg);
	assert_int_equal(nub_sandbox_register(sb, 1, answer, NULL), 0);
	uint64_t exits0 = nub_test_stats(sb).vm_exits, n0 = e.n, exits_seen0 = e.exits;
	e.sb = sb;
	call_host_1(sb);
	assert_int_equal(nub_sandbox_restore(sb, NULL), 0);
	assert_true(e.ordered);
	assert_int_equal(e.begins, e.ends);
	assert_int_equal(e.exits - exits_seen0, nub_test_stats(sb).vm_exits - exits0);
	assert_string_equal(e.call_name, "call_host");
	assert_int_equal(e.reentry_rc, NUB_ESTATE); /* the hook may not re-enter */
	/* call begin, host call begin/end inside it, call end, then the restore. */
	uint32_t want[] = {NUB_TRACE_CALL_BEGIN, NUB_TRACE_HOST_CALL_BEGIN, NUB_TRACE_HOST_CALL_END,
	                   NUB_TRACE_CALL_END,   NUB_TRACE_RESTORE_BEGIN,   NUB_TRACE_RESTORE_END};
	unsigned w = 0;
	for (unsigned i = (unsigned)n0; i < e.n && i < 64 && w < 6; i++)
		if (e.kind[i] != NUB_TRACE_EXIT && e.kind[i] == want[w])
			w++;
	assert_int_equal(w, 6);
	nub_sandbox_free(sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_errors_by_kind_and_times),
	        cmocka_unit_test(test_log_lines_name_their_function),
	        cmocka_unit_test(test_trace_events),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
