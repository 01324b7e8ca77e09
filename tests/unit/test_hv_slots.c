/* SPDX-License-Identifier: MIT */
/* Every slot is a fault-injection point. For each line of the slot list
 * (backend/hv_slots.h) in turn, a fault injected into it makes core's call
 * of it fail, once, with the injected code and "<backend>: <slot>: injected
 * fault", and leaves nothing behind (valgrind runs this too). On the test
 * backend with every slot (tests/backends/full.c): no guest, nothing
 * valgrind cannot follow. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend_loader.h"
#include "backend/hv.h"
#include "nub_test.h"

struct fx {
	struct nub_backend *b;
	struct nub_hv *hv;
};

static char page[4096] __attribute__((aligned(4096)));
static const struct nub_region region = {.slot = 3,
                                         .flags = NUB_MEM_READ | NUB_MEM_WRITE,
                                         .gpa = 0x1000,
                                         .size = 4096,
                                         .host = page};

/* One call of each slot with valid arguments, leaving the VM as it was;
 * the code it returned. The slots of their own shape: */
static int call_probe(struct fx *fx, struct nub_error *err)
{
	char note[64];

	return nub_hv_probe(fx->b, note, sizeof(note), err);
}

static int call_vm_create(struct fx *fx, struct nub_error *err)
{
	struct nub_hv *hv = NULL;
	int rc = nub_hv_create(fx->b, 1ull << 36, NULL, &hv, err);

	assert_true(rc ? hv == NULL : hv != NULL);
	nub_hv_destroy(hv);
	return rc;
}

static int call_map_region(struct fx *fx, struct nub_error *err)
{
	int rc = nub_hv_map_region(fx->hv, &region, err);

	if (rc == 0)
		assert_int_equal(nub_hv_unmap_region(fx->hv, region.slot, err), 0);
	return rc;
}

static int call_unmap_region(struct fx *fx, struct nub_error *err)
{
	struct nub_error e = {0};
	int rc;

	assert_int_equal(nub_hv_map_region(fx->hv, &region, &e), 0);
	rc = nub_hv_unmap_region(fx->hv, region.slot, err);
	if (rc) /* the failed unmap left the slot mapped */
		assert_int_equal(nub_hv_unmap_region(fx->hv, region.slot, &e), 0);
	return rc;
}

static int call_run_vcpu(struct fx *fx, struct nub_error *err)
{
	struct nub_exit ex = {0};
	int rc = nub_hv_run(fx->hv, &ex, err);

	if (rc == 0)
		assert_int_equal(ex.reason, NUB_EXIT_HLT);
	return rc;
}

static int call_set_sregs(struct fx *fx, struct nub_error *err)
{
	struct nub_sregs s;

	memset(&s, 0, sizeof(s));
	return nub_hv_set_sregs(fx->hv, &s, err);
}

static int call_get_sregs(struct fx *fx, struct nub_error *err)
{
	struct nub_sregs s;

	return nub_hv_get_sregs(fx->hv, &s, err);
}

static int call_interrupt(struct fx *fx, struct nub_error *err)
{
	int rc = nub_hv_interrupt(fx->hv);

	(void)err; /* interrupt has no message: any thread may call it */
	nub_hv_clear_interrupt(fx->hv);
	return rc;
}

/* The generic shapes, one template each. */
#define CALL_SET(slot, type)                                                                       \
	static int call_##slot(struct fx *fx, struct nub_error *err)                               \
	{                                                                                          \
		type v;                                                                            \
		memset(&v, 0, sizeof(v));                                                          \
		return nub_hv_##slot(fx->hv, &v, err);                                             \
	}
#define CALL_GET(slot, type) CALL_SET(slot, type)
#define CALL_SETV(slot, type)                                                                      \
	static int call_##slot(struct fx *fx, struct nub_error *err)                               \
	{                                                                                          \
		type v;                                                                            \
		memset(&v, 0, sizeof(v));                                                          \
		return nub_hv_##slot(fx->hv, v, err);                                              \
	}
#define CALL_SETN(slot, type)                                                                      \
	static int call_##slot(struct fx *fx, struct nub_error *err)                               \
	{                                                                                          \
		type v[2];                                                                         \
		memset(v, 0, sizeof(v));                                                           \
		return nub_hv_##slot(fx->hv, v, 2, err);                                           \
	}
#define CALL_GETN(slot, type) CALL_SETN(slot, type)
#define CALL_OWN(slot, type)
#define CALL_VOID(slot, type)
#define CALL_NONE(slot, type)
#define CALL(slot, ENUM, kind, offset, shape, type) CALL_##shape(slot, type)
NUB_HV_SLOTS(CALL)

/* Every slot of the list, with its call; none for those that cannot fail
 * (VOID) or that core never calls (NONE: reserved). */
struct slot_case {
	enum nub_hv_slot slot;
	const char *name;
	int (*call)(struct fx *fx, struct nub_error *err);
	int reserved;
};
#define CASE_CALLED(slot, ENUM)                     {NUB_HV_SLOT_##ENUM, #slot, call_##slot, 0},
#define CASE_OWN                                    CASE_CALLED
#define CASE_SET                                    CASE_CALLED
#define CASE_GET                                    CASE_CALLED
#define CASE_SETV                                   CASE_CALLED
#define CASE_SETN                                   CASE_CALLED
#define CASE_GETN                                   CASE_CALLED
#define CASE_VOID(slot, ENUM)                       {NUB_HV_SLOT_##ENUM, #slot, NULL, 0},
#define CASE_NONE(slot, ENUM)                       {NUB_HV_SLOT_##ENUM, #slot, NULL, 1},
#define CASE(slot, ENUM, kind, offset, shape, type) CASE_##shape(slot, ENUM)
static const struct slot_case cases[] = {NUB_HV_SLOTS(CASE)};
_Static_assert(sizeof(cases) / sizeof(cases[0]) == NUB_HV_SLOT_COUNT_, "a case per slot");

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	struct nub_error err = {0};
	char path[4096];

	assert_non_null(fx);
	snprintf(path, sizeof(path), "%s/libnub-backend-full.so",
	         nub_test_env("NUB_TEST_BACKEND_DIR"));
	assert_int_equal(nub_backend_load(path, &fx->b, &err), 0);
	assert_int_equal(nub_hv_create(fx->b, 1ull << 36, NULL, &fx->hv, &err), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	nub_hv_destroy(fx->hv);
	nub_backend_unref(fx->b);
	free(fx);
	return 0;
}

/* Probe and vm_create run before a VM exists: their faults are the
 * backend's. */
static void arm(struct fx *fx, enum nub_hv_slot slot, int code, unsigned after)
{
	if (slot == NUB_HV_SLOT_PROBE || slot == NUB_HV_SLOT_VM_CREATE)
		nub_hv_inject_backend_fault(fx->b, slot, code, after);
	else
		nub_hv_inject_fault(fx->hv, slot, code, after);
}

static void check_fault(struct fx *fx, const struct slot_case *c, int code)
{
	struct nub_error err = {0};
	char want[128];

	assert_int_equal(c->call(fx, &err), 0); /* valid without a fault */
	arm(fx, c->slot, code, 1);
	assert_int_equal(c->call(fx, &err), 0); /* the first call passes */
	if (c->call(fx, &err) != code)
		fail_msg("%s: no injected %s", c->name, nub_strerror(code));
	if (c->slot == NUB_HV_SLOT_INTERRUPT) {
		assert_int_equal(err.code, 0); /* the code alone */
	} else {
		snprintf(want, sizeof(want), "full: %s: injected fault", c->name);
		assert_int_equal(err.code, code);
		assert_string_equal(err.msg, want); /* backend and slot, once */
	}
	assert_int_equal(c->call(fx, &err), 0); /* it fired once */
}

static void test_every_slot_injectable(void **state)
{
	struct fx *fx = *state;

	for (size_t i = 0; i < NUB_HV_SLOT_COUNT_; i++) {
		assert_int_equal(cases[i].slot, i); /* table order */
		/* Each slot its own code, so that no other slot's fault passes. */
		if (cases[i].call)
			check_fault(fx, &cases[i], -(int)(1 + i % -NUB_ERR_MIN_));
	}
}

static void test_disarm_and_other_kind(void **state)
{
	struct fx *fx = *state;
	struct nub_error err = {0};

	/* Code 0 disarms; each function ignores the other's slots. */
	arm(fx, NUB_HV_SLOT_SET_REGS, NUB_ESYS, 0);
	arm(fx, NUB_HV_SLOT_SET_REGS, 0, 0);
	assert_int_equal(call_set_regs(fx, &err), 0);
	nub_hv_inject_fault(fx->hv, NUB_HV_SLOT_PROBE, NUB_ESYS, 0);
	assert_int_equal(call_probe(fx, &err), 0);
	nub_hv_inject_backend_fault(fx->b, NUB_HV_SLOT_SET_REGS, NUB_ESYS, 0);
	assert_int_equal(call_set_regs(fx, &err), 0);
	nub_hv_inject_fault(fx->hv, NUB_HV_SLOT_COUNT_, NUB_ESYS, 0); /* out of range */
}

static void test_probe_fault_is_the_reason(void **state)
{
	struct fx *fx = *state;
	struct nub_error err = {0};
	char note[64];

	/* What the loader and `nub backends` show for a declining probe. */
	nub_hv_inject_backend_fault(fx->b, NUB_HV_SLOT_PROBE, NUB_EPROBE, 0);
	assert_nub_error(nub_hv_probe(fx->b, note, sizeof(note), &err), NUB_EPROBE, &err,
	                 "full: probe: injected fault");
	assert_string_equal(note, "injected fault");
	assert_int_equal(nub_hv_probe(fx->b, note, sizeof(note), &err), 0);
	assert_string_equal(note, "");
}

static void test_queries(void **state)
{
	struct fx *fx = *state;

	assert_string_equal(nub_hv_name(fx->hv), "full");
	assert_string_equal(nub_hv_backend_name(fx->b), "full");
	assert_int_equal(nub_hv_caps(fx->hv), NUB_CAP_READONLY_MEM);
	assert_int_equal(nub_hv_backend_caps(fx->b), NUB_CAP_READONLY_MEM);
	/* The full backend sets every slot but the reserved ones. */
	for (size_t i = 0; i < NUB_HV_SLOT_COUNT_; i++)
		if (nub_hv_has(fx->hv, cases[i].slot) == cases[i].reserved)
			fail_msg("nub_hv_has(%s) = %d", cases[i].name, !cases[i].reserved);
	assert_false(nub_hv_has(fx->hv, NUB_HV_SLOT_COUNT_));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_every_slot_injectable, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_disarm_and_other_kind, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_probe_fault_is_the_reason, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_queries, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
