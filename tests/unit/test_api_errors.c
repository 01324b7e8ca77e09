/* SPDX-License-Identifier: MIT */
/*
 * Every documented error of every public function (include/nub/nub.h), as
 * a table: what is done, the code nub.h promises and a piece of the message
 * that names what went wrong. Guest-caused failures of a call have their own
 * suite (test_sandbox.c); here each of them appears once. Sandboxes run on
 * the mock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nub/nub.h>

#include "../../guest/tests/test_guest_ids.h"
#include "elf_builder.h"
#include "nub_test.h"

/* What a case works on; fresh for every case. */
struct fx {
	struct nub_config cfg;
	struct nub_error err;
	struct nub_sandbox *sb;    /* the case's sandbox, freed after it */
	struct nub_snapshot *snap; /* a snapshot the case made, unref'd after it */
	const char *msg;           /* where the case's message is */
	char path[64];             /* a temporary file, removed after it */
	uint8_t out[64];
	size_t n;
	int32_t status;
};

static const char *guest_elf(const char *name)
{
	static char p[4096];
	snprintf(p, sizeof(p), "%s/%s.elf", nub_test_env("NUB_GUEST_DIR"), name);
	return p;
}

static const char *test_backend(const char *name)
{
	static char p[4096];
	snprintf(p, sizeof(p), "%s/libnub-backend-%s.so", nub_test_env("NUB_TEST_BACKEND_DIR"),
	         name);
	return p;
}

/* A sandbox of test_guest, created (and evolved when `evolve`). */
static struct nub_sandbox *fx_sandbox(struct fx *f, int evolve)
{
	struct nub_error err = {0};

	if (nub_sandbox_create_from_elf(&f->cfg, guest_elf("test_guest"), &f->sb, &err))
		fail_msg("create: %s", err.msg);
	if (evolve && nub_sandbox_evolve(f->sb))
		fail_msg("evolve: %s", nub_sandbox_last_error(f->sb));
	f->msg = nub_sandbox_last_error(f->sb);
	return f->sb;
}

/* A file holding `bytes`, for the loaders. */
static const char *fx_file(struct fx *f, const void *bytes, size_t len)
{
	strcpy(f->path, "/tmp/nub-api-errors-XXXXXX");
	int fd = mkstemp(f->path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, bytes, len), (ssize_t)len);
	close(fd);
	return f->path;
}

static int fx_err(struct fx *f, int rc)
{
	f->msg = f->err.msg;
	return rc;
}

static int fx_sb(struct fx *f, int rc)
{
	f->msg = nub_sandbox_last_error(f->sb);
	return rc;
}

/* ---- the cases: each does one wrong thing ---- */

static int elf_null_path(struct fx *f)
{
	return fx_err(f, nub_sandbox_create_from_elf(&f->cfg, NULL, &f->sb, &f->err));
}

static int elf_null_config(struct fx *f)
{
	return fx_err(f, nub_sandbox_create_from_elf(NULL, guest_elf("hello"), &f->sb, &f->err));
}

static int elf_old_struct_size(struct fx *f)
{
	f->cfg.struct_size = 8;
	return fx_err(f, nub_sandbox_create_from_elf(&f->cfg, guest_elf("hello"), &f->sb, &f->err));
}

static int elf_unknown_field(struct fx *f)
{
	uint8_t big[sizeof(struct nub_config) + 8] = {0};
	memcpy(big, &f->cfg, sizeof(f->cfg));
	big[sizeof(f->cfg) + 3] = 1;
	((struct nub_config *)big)->struct_size = sizeof(big);
	return fx_err(f, nub_sandbox_create_from_elf((struct nub_config *)big, guest_elf("hello"),
	                                             &f->sb, &f->err));
}

static int elf_init_data_null(struct fx *f)
{
	f->cfg.init_data_size = 4096;
	return fx_err(f, nub_sandbox_create_from_elf(&f->cfg, guest_elf("hello"), &f->sb, &f->err));
}

static int elf_log_level(struct fx *f)
{
	f->cfg.log_level = 9;
	return fx_err(f, nub_sandbox_create_from_elf(&f->cfg, guest_elf("hello"), &f->sb, &f->err));
}

static int elf_missing(struct fx *f)
{
	return fx_err(
	        f, nub_sandbox_create_from_elf(&f->cfg, "/nonexistent/guest.elf", &f->sb, &f->err));
}

static int elf_directory(struct fx *f)
{
	return fx_err(f, nub_sandbox_create_from_elf(&f->cfg, "/tmp", &f->sb, &f->err));
}

static int elf_garbage(struct fx *f)
{
	return fx_err(f, nub_sandbox_create_from_elf(&f->cfg, fx_file(f, "not an ELF", 10), &f->sb,
	                                             &f->err));
}

static int elf_other_abi(struct fx *f)
{
	static struct eb_elf e;
	eb_build(&e, 0);
	*eb_note_desc(&e) = 2; /* guest ABI 2: one doorbell page */
	return fx_err(f, nub_sandbox_create_from_buffer(&f->cfg, e.bytes, e.len, &f->sb, &f->err));
}

static int elf_huge_heap(struct fx *f)
{
	f->cfg.heap_size = 1ull << 62;
	return fx_err(f, nub_sandbox_create_from_elf(&f->cfg, guest_elf("hello"), &f->sb, &f->err));
}

static int buffer_null(struct fx *f)
{
	return fx_err(f, nub_sandbox_create_from_buffer(&f->cfg, NULL, 10, &f->sb, &f->err));
}

static int buffer_garbage(struct fx *f)
{
	return fx_err(f, nub_sandbox_create_from_buffer(&f->cfg,
	                                                "\x7f"
	                                                "ELF",
	                                                4, &f->sb, &f->err));
}

static int snapshot_null(struct fx *f)
{
	return fx_err(f, nub_sandbox_create_from_snapshot(&f->cfg, NULL, &f->sb, &f->err));
}

static int file_missing(struct fx *f)
{
	return fx_err(f,
	              nub_sandbox_create_from_file(&f->cfg, "/nonexistent.snap", &f->sb, &f->err));
}

static int file_corrupt(struct fx *f)
{
	return fx_err(f, nub_sandbox_create_from_file(&f->cfg, fx_file(f, "NUBSNAP0garbage", 15),
	                                              &f->sb, &f->err));
}

static int file_short_key(struct fx *f)
{
	f->cfg.snapshot_key = "short";
	f->cfg.snapshot_key_size = 5;
	return fx_err(f,
	              nub_sandbox_create_from_file(&f->cfg, "/nonexistent.snap", &f->sb, &f->err));
}

static int register_null_fn(struct fx *f)
{
	return fx_sb(f, nub_sandbox_register(fx_sandbox(f, 0), 1, NULL, NULL));
}

static int32_t noop_fn(void *u, const uint8_t *in, size_t il, uint8_t *o, size_t oc, size_t *ol)
{
	(void)u, (void)in, (void)il, (void)o, (void)oc, (void)ol;
	return 0;
}

static int register_id_range(struct fx *f)
{
	return fx_sb(f, nub_sandbox_register(fx_sandbox(f, 0), NUB_MAX_HOST_FNS, noop_fn, NULL));
}

static int evolve_twice(struct fx *f)
{
	return fx_sb(f, nub_sandbox_evolve(fx_sandbox(f, 1)));
}

static int evolve_with(struct fx *f, const char *backend)
{
	f->cfg.backend = backend;
	return fx_sb(f, nub_sandbox_evolve(fx_sandbox(f, 0)));
}

static int evolve_unknown_backend(struct fx *f)
{
	return evolve_with(f, "no-such-backend");
}

static int evolve_backend_declines(struct fx *f)
{
	return evolve_with(f, test_backend("declines"));
}

static int evolve_backend_old_major(struct fx *f)
{
	return evolve_with(f, test_backend("oldmajor"));
}

static int evolve_backend_no_symbol(struct fx *f)
{
	return evolve_with(f, test_backend("nosym"));
}

static int evolve_backend_short(struct fx *f)
{
	return evolve_with(f, test_backend("short"));
}

static int evolve_backend_null_slot(struct fx *f)
{
	return evolve_with(f, test_backend("nullslot"));
}

static int call_on(struct fx *f, struct nub_sandbox *sb, uint32_t id, const void *in, size_t len,
                   size_t cap)
{
	return fx_sb(f, nub_sandbox_call(sb, id, in, len, f->out, cap, &f->n, &f->status));
}

static int call_before_evolve(struct fx *f)
{
	return call_on(f, fx_sandbox(f, 0), NUB_TG_ECHO, "x", 1, sizeof(f->out));
}

static int call_null_input(struct fx *f)
{
	return call_on(f, fx_sandbox(f, 1), NUB_TG_ECHO, NULL, 4, sizeof(f->out));
}

static int call_input_too_big(struct fx *f)
{
	static uint8_t big[1 << 20];
	return call_on(f, fx_sandbox(f, 1), NUB_TG_ECHO, big, sizeof(big), sizeof(f->out));
}

static int call_result_too_big(struct fx *f)
{
	return call_on(f, fx_sandbox(f, 1), NUB_TG_ECHO, "0123456789", 10, 4);
}

static int call_guest_abort(struct fx *f)
{
	return call_on(f, fx_sandbox(f, 1), NUB_TG_ABORT, "\x2a\0\0\0why", 7, sizeof(f->out));
}

/* A sandbox whose last call failed: poisoned until a restore. */
static struct nub_sandbox *fx_poisoned(struct fx *f)
{
	struct nub_sandbox *sb = fx_sandbox(f, 1);
	assert_int_equal(call_on(f, sb, NUB_TG_NULL_DEREF, NULL, 0, sizeof(f->out)),
	                 NUB_EGUEST_FAULT);
	return sb;
}

static int call_poisoned(struct fx *f)
{
	return call_on(f, fx_poisoned(f), NUB_TG_ECHO, "x", 1, sizeof(f->out));
}

static int snapshot_before_evolve(struct fx *f)
{
	return fx_sb(f, nub_sandbox_snapshot(fx_sandbox(f, 0), &f->snap));
}

static int snapshot_poisoned(struct fx *f)
{
	return fx_sb(f, nub_sandbox_snapshot(fx_poisoned(f), &f->snap));
}

static int snapshot_null_out(struct fx *f)
{
	return fx_sb(f, nub_sandbox_snapshot(fx_sandbox(f, 1), NULL));
}

static int restore_before_evolve(struct fx *f)
{
	return fx_sb(f, nub_sandbox_restore(fx_sandbox(f, 0), NULL));
}

static int restore_foreign(struct fx *f)
{
	struct nub_sandbox *other = NULL;
	struct nub_error err = {0};

	if (nub_sandbox_create_from_elf(&f->cfg, guest_elf("hello"), &other, &err) ||
	    nub_sandbox_evolve(other) || nub_sandbox_snapshot(other, &f->snap))
		fail_msg("hello: %s", err.msg[0] ? err.msg : nub_sandbox_last_error(other));
	nub_sandbox_free(other);
	return fx_sb(f, nub_sandbox_restore(fx_sandbox(f, 1), f->snap));
}

static int interrupt_null(struct fx *f)
{
	f->msg = NULL;
	return nub_sandbox_interrupt(NULL);
}

static int function_id_unknown(struct fx *f)
{
	uint32_t id;
	struct nub_sandbox *sb = fx_sandbox(f, 1);
	f->msg = NULL; /* a lookup: no message, the last one stays */
	return nub_sandbox_function_id(sb, "no_such_function", &id);
}

static int function_id_null(struct fx *f)
{
	f->msg = NULL;
	return nub_sandbox_function_id(fx_sandbox(f, 1), NULL, NULL);
}

static int counter_before_evolve(struct fx *f)
{
	return fx_sb(f, nub_sandbox_counter_add(fx_sandbox(f, 0), 1));
}

static int counter_overflow(struct fx *f)
{
	struct nub_sandbox *sb = fx_sandbox(f, 1);
	assert_int_equal(nub_sandbox_counter_add(sb, INT64_MAX), 0);
	assert_int_equal(nub_sandbox_counter_add(sb, INT64_MAX), 0);
	return fx_sb(f, nub_sandbox_counter_add(sb, 2));
}

static int counter_below_zero(struct fx *f)
{
	return fx_sb(f, nub_sandbox_counter_add(fx_sandbox(f, 1), -1));
}

static int heap_usage_null(struct fx *f)
{
	return fx_sb(f, nub_sandbox_heap_usage(fx_sandbox(f, 1), NULL));
}

static int heap_usage_before_evolve(struct fx *f)
{
	struct nub_heap_usage hu;
	return fx_sb(f, nub_sandbox_heap_usage(fx_sandbox(f, 0), &hu));
}

static int heap_usage_poisoned(struct fx *f)
{
	struct nub_heap_usage hu;
	return fx_sb(f, nub_sandbox_heap_usage(fx_poisoned(f), &hu));
}

static int select_unknown(struct fx *f)
{
	struct nub_backend_info info;
	return fx_err(f, nub_backend_select("no-such-backend", &info, &f->err));
}

static int select_declines(struct fx *f)
{
	struct nub_backend_info info;
	return fx_err(f, nub_backend_select(test_backend("declines"), &info, &f->err));
}

static int layout_null_out(struct fx *f)
{
	return fx_err(f, nub_layout_describe(&f->cfg, 4096, NULL, &f->err));
}

static int layout_huge(struct fx *f)
{
	f->cfg.stack_size = 1ull << 62;
	return fx_err(f, nub_layout_describe(&f->cfg, 4096, stdout, &f->err));
}

/* The base snapshot of an evolved test_guest sandbox. */
static struct nub_snapshot *fx_snap(struct fx *f)
{
	assert_int_equal(nub_sandbox_snapshot(fx_sandbox(f, 1), &f->snap), 0);
	return f->snap;
}

static int save_null_path(struct fx *f)
{
	return fx_err(f, nub_snapshot_save(fx_snap(f), NULL, &f->err));
}

static int save_unwritable(struct fx *f)
{
	return fx_err(f, nub_snapshot_save(fx_snap(f), "/nonexistent/dir/x.snap", &f->err));
}

static int load_missing(struct fx *f)
{
	struct nub_snapshot *s = NULL;
	return fx_err(f, nub_snapshot_load("/nonexistent.snap", &s, &f->err));
}

static int load_null_out(struct fx *f)
{
	return fx_err(f, nub_snapshot_load("/nonexistent.snap", NULL, &f->err));
}

static int save_keyed_short_key(struct fx *f)
{
	return fx_err(f, nub_snapshot_save_keyed(fx_snap(f), "/tmp/x", "k", 1, &f->err));
}

static int load_keyed_wrong_key(struct fx *f)
{
	static const uint8_t a[32] = {1}, b[32] = {2};
	struct nub_snapshot *s = NULL;

	fx_file(f, "", 0);
	assert_int_equal(nub_snapshot_save_keyed(fx_snap(f), f->path, a, sizeof(a), &f->err), 0);
	return fx_err(f, nub_snapshot_load_keyed(f->path, b, sizeof(b), &s, &f->err));
}

struct api_case {
	const char *what;
	int (*run)(struct fx *f);
	int code;
	const char *needle; /* NULL: the function sets no message */
};

static const struct api_case cases[] = {
        {"create_from_elf, NULL path", elf_null_path, NUB_EINVAL, "NULL argument"},
        {"create_from_elf, NULL config", elf_null_config, NUB_EINVAL, "NULL config"},
        {"create_from_elf, struct_size too small", elf_old_struct_size, NUB_EINVAL,
         "config struct_size 8 is below the smallest version"},
        {"create_from_elf, a field this libnub does not know", elf_unknown_field, NUB_EINVAL,
         "is set in a field this libnub"},
        {"create_from_elf, init_data_size without init_data", elf_init_data_null, NUB_EINVAL,
         "init_data_size 4096 but init_data is NULL"},
        {"create_from_elf, log_level out of range", elf_log_level, NUB_EINVAL,
         "log_level 9 out of range"},
        {"create_from_elf, no such file", elf_missing, NUB_ENOTFOUND, "/nonexistent/guest.elf"},
        {"create_from_elf, a directory", elf_directory, NUB_EIO, "/tmp: not a regular file"},
        {"create_from_elf, not an ELF", elf_garbage, NUB_EELF, ": guest ELF: not an ELF file"},
        {"create_from_buffer, guest ABI 2", elf_other_abi, NUB_EABI,
         "built for guest ABI 2, this host speaks 3"},
        {"create_from_elf, a heap no layout holds", elf_huge_heap, NUB_EOVERFLOW, "heap_size"},
        {"create_from_buffer, NULL image", buffer_null, NUB_EINVAL, "NULL argument"},
        {"create_from_buffer, 4 bytes", buffer_garbage, NUB_EELF, "guest ELF: not an ELF file"},
        {"create_from_snapshot, NULL snapshot", snapshot_null, NUB_EINVAL, "NULL argument"},
        {"create_from_file, no such file", file_missing, NUB_ENOTFOUND, "/nonexistent.snap"},
        {"create_from_file, not a snapshot", file_corrupt, NUB_ECORRUPT,
         ": truncated header (15 bytes)"},
        {"create_from_file, a 5-byte key", file_short_key, NUB_EINVAL,
         "a snapshot key of 5 bytes: keys are 16 to 64 bytes"},
        {"register, NULL function", register_null_fn, NUB_EINVAL,
         "register: host function 1 is NULL"},
        {"register, id out of range", register_id_range, NUB_EINVAL,
         "register: host function 256 id out of range"},
        {"evolve, twice", evolve_twice, NUB_ESTATE, "evolve: sandbox already evolved"},
        {"evolve, unknown backend", evolve_unknown_backend, NUB_ENOTFOUND,
         "backend 'no-such-backend' not found: no libnub-backend-no-such-backend.so in"},
        {"evolve, a backend whose probe declines", evolve_backend_declines, NUB_EPROBE,
         "no hypervisor in this test"},
        {"evolve, a backend of another ABI major", evolve_backend_old_major, NUB_EABI,
         "libnub-backend-oldmajor.so: backend ABI 2.7, this libnub speaks ABI 1."},
        {"evolve, a .so without the entry symbol", evolve_backend_no_symbol, NUB_ENOSYM,
         "nub_backend_entry"},
        {"evolve, a table shorter than the required slots", evolve_backend_short, NUB_ESHORT,
         "libnub-backend-short.so"},
        {"evolve, a NULL required slot", evolve_backend_null_slot, NUB_ESLOT,
         "libnub-backend-nullslot.so"},
        {"call, before evolve", call_before_evolve, NUB_ESTATE, "call: sandbox not evolved"},
        {"call, NULL input with a length", call_null_input, NUB_EINVAL,
         "call: NULL buffer with nonzero length"},
        {"call, input larger than the input buffer", call_input_too_big, NUB_ERANGE,
         "input bytes exceed the input buffer"},
        {"call, result larger than out_cap", call_result_too_big, NUB_ERANGE,
         "call: result of 10 bytes exceeds out_cap 4"},
        {"call, the guest aborts", call_guest_abort, NUB_EGUEST_ABORT,
         "guest abort: code 0x2a: why"},
        {"call, poisoned", call_poisoned, NUB_EPOISONED, "call: sandbox poisoned, restore first"},
        {"snapshot, before evolve", snapshot_before_evolve, NUB_ESTATE,
         "snapshot: sandbox not evolved"},
        {"snapshot, poisoned", snapshot_poisoned, NUB_EPOISONED,
         "snapshot: sandbox poisoned, restore first"},
        {"snapshot, NULL out", snapshot_null_out, NUB_EINVAL, "snapshot: NULL output"},
        {"restore, before evolve", restore_before_evolve, NUB_ESTATE,
         "restore: sandbox not evolved"},
        {"restore, another ELF's snapshot", restore_foreign, NUB_EMISMATCH,
         "restore: snapshot comes from another ELF or layout"},
        {"interrupt, NULL", interrupt_null, NUB_EINVAL, NULL},
        {"function_id, unknown name", function_id_unknown, NUB_ENOTFOUND, NULL},
        {"function_id, NULL arguments", function_id_null, NUB_EINVAL, NULL},
        {"counter_add, before evolve", counter_before_evolve, NUB_ESTATE,
         "counter: sandbox not evolved"},
        {"counter_add, past the top", counter_overflow, NUB_EOVERFLOW, "overflows"},
        {"counter_add, below zero", counter_below_zero, NUB_ERANGE, "would go below zero"},
        {"heap_usage, NULL out", heap_usage_null, NUB_EINVAL, "heap usage: NULL output"},
        {"heap_usage, before evolve", heap_usage_before_evolve, NUB_ESTATE,
         "heap usage: sandbox not evolved"},
        {"heap_usage, poisoned", heap_usage_poisoned, NUB_ESTATE,
         "heap usage: sandbox poisoned, restore first"},
        {"backend_select, unknown name", select_unknown, NUB_ENOTFOUND,
         "backend 'no-such-backend' not found"},
        {"backend_select, probe declines", select_declines, NUB_EPROBE,
         "no hypervisor in this test"},
        {"layout_describe, NULL output", layout_null_out, NUB_EINVAL,
         "nub_layout_describe: NULL output"},
        {"layout_describe, a stack no layout holds", layout_huge, NUB_EOVERFLOW, "stack_size"},
        {"snapshot_save, NULL path", save_null_path, NUB_EINVAL,
         "nub_snapshot_save: NULL argument"},
        {"snapshot_save, a directory that is not there", save_unwritable, NUB_EIO,
         "/nonexistent/dir/x.snap"},
        {"snapshot_load, no such file", load_missing, NUB_ENOTFOUND, "/nonexistent.snap"},
        {"snapshot_load, NULL out", load_null_out, NUB_EINVAL, "nub_snapshot_load: NULL argument"},
        {"snapshot_save_keyed, a 1-byte key", save_keyed_short_key, NUB_EINVAL,
         "/tmp/x: a snapshot key of 1 byte: keys are 16 to 64 bytes"},
        {"snapshot_load_keyed, another key", load_keyed_wrong_key, NUB_ECORRUPT,
         "not authenticated with this key"},
};

static void fx_init(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	nub_config_init(&f->cfg);
	f->cfg.backend = "mock";
}

static void fx_clean(struct fx *f)
{
	nub_sandbox_free(f->sb);
	nub_snapshot_unref(f->snap);
	if (f->path[0])
		unlink(f->path);
}

/* Every case runs and every mismatch is printed, then the test fails. */
static void test_every_documented_error(void **state)
{
	unsigned failed = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct api_case *c = &cases[i];
		struct fx f;
		fx_init(&f);
		int rc = c->run(&f);
		const char *msg = f.msg ? f.msg : "";
		if (rc != c->code || (c->needle && !strstr(msg, c->needle))) {
			printf("FAIL %s: got %s '%s', want %s '%s'\n", c->what, nub_strerror(rc),
			       msg, nub_strerror(c->code), c->needle ? c->needle : "");
			failed++;
		}
		fx_clean(&f);
	}
	if (failed)
		fail_msg("%u of %zu documented errors not as documented", failed,
		         sizeof(cases) / sizeof(cases[0]));
}

/* The last error is the last call's: "" and 0 after one that succeeded
 * (it once said "output buffer: empty" after a good call). */
static void test_last_error_is_the_last_calls(void **state)
{
	struct fx f;
	struct nub_heap_usage hu;
	struct nub_snapshot *snap = NULL;

	(void)state;
	fx_init(&f);
	struct nub_sandbox *sb = fx_sandbox(&f, 1);
	assert_string_equal(nub_sandbox_last_error(sb), "");
	assert_int_equal(nub_sandbox_last_error_code(sb), 0);
	assert_int_equal(call_on(&f, sb, NUB_TG_ECHO, "ok", 2, sizeof(f.out)), 0);
	assert_string_equal(nub_sandbox_last_error(sb), "");
	assert_int_equal(call_on(&f, sb, NUB_TG_NULL_DEREF, NULL, 0, sizeof(f.out)),
	                 NUB_EGUEST_FAULT);
	assert_int_equal(nub_sandbox_last_error_code(sb), NUB_EGUEST_FAULT);
	assert_non_null(strstr(nub_sandbox_last_error(sb), "guest fault"));
	assert_int_equal(nub_sandbox_restore(sb, NULL), 0);
	assert_string_equal(nub_sandbox_last_error(sb), "");
	assert_int_equal(nub_sandbox_last_error_code(sb), 0);
	assert_int_equal(nub_sandbox_heap_usage(sb, &hu), 0);
	assert_int_equal(nub_sandbox_snapshot(sb, &snap), 0);
	assert_int_equal(nub_sandbox_counter_add(sb, 1), 0);
	assert_string_equal(nub_sandbox_last_error(sb), "");
	assert_string_equal(nub_sandbox_last_error(NULL), "NULL sandbox");
	assert_int_equal(nub_sandbox_last_error_code(NULL), NUB_EINVAL);
	nub_snapshot_unref(snap);
	fx_clean(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_every_documented_error),
	        cmocka_unit_test(test_last_error_is_the_last_calls),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
