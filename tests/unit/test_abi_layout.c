/* SPDX-License-Identifier: MIT */
/* Pins every field offset of the backend ABI: a change here is an ABI
 * break and must bump NUB_BACKEND_ABI_MAJOR (or be an append). */
#include <stddef.h>

#include <nub/backend.h>
#include <nub/guest_abi.h>

#include "backend/hv.h"
#include "nub_test.h"

#define PIN(type, field, off) _Static_assert(offsetof(type, field) == (off), #type "." #field)

PIN(struct nub_backend_ops, abi_major, 0);
PIN(struct nub_backend_ops, abi_minor, 4);
PIN(struct nub_backend_ops, struct_size, 8);
PIN(struct nub_backend_ops, caps, 12);
PIN(struct nub_backend_ops, name, 16);
/* Every slot's offset, from core's list of them (backend/hv_slots.h): the
 * offset written there; table order, so that the list cannot skip or swap
 * a field; the required ones inside NUB_BACKEND_OPS_MIN_SIZE, the others
 * past it; and no field of the table missing from the list. */
#define FIRST_SLOT 24 /* the header ends with name */
#define PIN_SLOT(slot, ENUM, kind, off, shape, type)                                               \
	PIN(struct nub_backend_ops, slot, off);                                                    \
	_Static_assert((off) == FIRST_SLOT + NUB_HV_SLOT_##ENUM * sizeof(void (*)(void)),          \
	               #slot " in table order");                                                   \
	PIN_##kind(slot, off);
#define PIN_REQUIRED(slot, off)                                                                    \
	_Static_assert((off) < NUB_BACKEND_OPS_MIN_SIZE, #slot " is required")
#define PIN_OPTIONAL(slot, off)                                                                    \
	_Static_assert((off) >= NUB_BACKEND_OPS_MIN_SIZE, #slot " is optional")
#define PIN_RESERVED(slot, off) PIN_OPTIONAL(slot, off)
NUB_HV_SLOTS(PIN_SLOT)
_Static_assert(FIRST_SLOT + NUB_HV_SLOT_COUNT_ * sizeof(void (*)(void)) ==
                       sizeof(struct nub_backend_ops),
               "every slot of backend.h is in backend/hv_slots.h");
_Static_assert(sizeof(struct nub_backend_ops) == 200, "ops table");
PIN(struct nub_debugregs, dr6, 32);
_Static_assert(sizeof(struct nub_debugregs) == 48, "debugregs");
_Static_assert(NUB_BACKEND_OPS_MIN_SIZE == 120, "required part");

PIN(struct nub_vm_config, struct_size, 0);
PIN(struct nub_vm_config, flags, 4);
PIN(struct nub_vm_config, mem_limit, 8);
PIN(struct nub_vm_config, options, 16);
PIN(struct nub_region, slot, 0);
PIN(struct nub_region, flags, 4);
PIN(struct nub_region, gpa, 8);
PIN(struct nub_region, size, 16);
PIN(struct nub_region, host, 24);
PIN(struct nub_regs, rax, 0);
PIN(struct nub_regs, r15, 120);
PIN(struct nub_regs, rip, 128);
PIN(struct nub_regs, rflags, 136);
_Static_assert(sizeof(struct nub_segment) == 24, "segment");
PIN(struct nub_sregs, ldt, 7 * 24);
PIN(struct nub_sregs, gdt, 8 * 24);
PIN(struct nub_sregs, idt, 8 * 24 + 16);
PIN(struct nub_sregs, cr0, 8 * 24 + 32);
PIN(struct nub_sregs, apic_base, 8 * 24 + 32 + 6 * 8);
PIN(struct nub_fpu, fcw, 128);
PIN(struct nub_fpu, xmm, 152);
PIN(struct nub_fpu, mxcsr, 408);
_Static_assert(sizeof(struct nub_fpu) == 416, "fpu");
PIN(struct nub_exit, reason, 0);
PIN(struct nub_exit, size, 4);
PIN(struct nub_exit, port, 8);
PIN(struct nub_exit, gpa, 16);
PIN(struct nub_exit, data, 24);
PIN(struct nub_exit, rip, 32);
PIN(struct nub_exit, hw_reason, 40);
PIN(struct nub_exit, detail, 48);
_Static_assert(sizeof(struct nub_exit) == 176, "exit");

/* Guest ABI wire structs. */
_Static_assert(sizeof(struct nub_request) == 12, "request");
_Static_assert(sizeof(struct nub_response) == 8, "response");
_Static_assert(sizeof(struct nub_exception_frame) == 56, "exception frame");
PIN(struct nub_exception_frame, rip, 16);
PIN(struct nub_exception_frame, ss, 48);
/* Guest ABI 3: the doorbells' addresses (each the last 8 bytes of its own
 * page, every other GVA page) are compiled into guests and host stubs. */
_Static_assert(NUB_DOORBELL_EXCEPTION == 5 && NUB_DOORBELL_COUNT == 7, "doorbell kinds are ABI");
_Static_assert(NUB_DOORBELL_GPA_OF(NUB_DOORBELL_CALL_DONE) == 0x1ff8, "doorbell GPAs are ABI");
_Static_assert(NUB_DOORBELL_GVA_OF(NUB_DOORBELL_SET_FS) == (1ull << 46) + 0xcff8,
               "doorbell GVAs are ABI");
PIN(struct nub_peb, abi_version, 8);
PIN(struct nub_peb, snapshot_gva, 16);

static void test_pins_compile(void **state)
{
	(void)state;
	/* The assertions above are the test; this documents the run. */
	assert_int_equal(NUB_BACKEND_ABI_MAJOR, 1);
	assert_string_equal(NUB_BACKEND_ENTRY_SYMBOL, "nub_backend_entry");
}

static void test_error_names(void **state)
{
	(void)state;
	assert_string_equal(nub_strerror(NUB_EPROBE), "NUB_EPROBE");
	assert_string_equal(nub_strerror(NUB_EIO), "NUB_EIO");
	assert_string_equal(nub_strerror(NUB_EPRIVILEGED), "NUB_EPRIVILEGED");
	assert_string_equal(nub_strerror(1), "NUB_E?");
	assert_string_equal(nub_strerror(NUB_ERR_MIN_ - 1), "NUB_E?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_pins_compile),
	        cmocka_unit_test(test_error_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
