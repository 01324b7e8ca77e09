/* SPDX-License-Identifier: MIT */
/*
 * The slots of struct nub_backend_ops, one line each, in table order. The
 * struct itself (types, comments, the ABI) is include/nub/backend.h; this
 * list is core's view of it, and what would otherwise be written by hand
 * in several places is generated from it:
 *   enum nub_hv_slot (hv.h);
 *   in hv.c, the slot names of messages, the required set a loaded table
 *   is checked for, and the nub_hv_* wrappers of the generic shapes (their
 *   prototypes in hv.h);
 *   the test backends' tables (tests/backends/fake_slots.h);
 *   the offset pins (tests/unit/test_abi_layout.c);
 *   the test that injects a fault into every slot (tests/unit/
 *   test_hv_slots.c).
 * Adding a slot is one line here plus its field at the end of the struct
 * in backend.h; the pins fail until both agree. (A slot of a shape of its
 * own, OWN or VOID, also needs its wrapper in hv.c, its fake and its test
 * call: the build fails naming each.)
 *
 * X(slot, ENUM, kind, offset, shape, type):
 *   slot    the field name (and the wrapper nub_hv_<slot>)
 *   ENUM    NUB_HV_SLOT_<ENUM>
 *   kind    REQUIRED (the loader refuses a NULL), OPTIONAL (NULL: core's
 *           call fails NUB_EUNSUPPORTED) or RESERVED (core never calls it
 *           and has no wrapper; the field keeps its offset forever)
 *   offset  its pinned offset in the table (x86-64)
 *   shape   how core calls it, choosing the wrapper's template:
 *           OWN   written by hand in hv.c, returns a code
 *           VOID  written by hand in hv.c, returns nothing, cannot fail
 *           SET   (vm, const type *, err, cap)
 *           GET   (vm, type *, err, cap)
 *           SETV  (vm, type, err, cap): a value, not a pointer
 *           SETN  (vm, const type *, uint32_t count, err, cap)
 *           GETN  (vm, type *, uint32_t count, err, cap)
 *           NONE  no wrapper (RESERVED)
 *   type    the struct or value of the generic shapes, else void
 *
 * It depends on nothing, so that the test backends can include it too (it
 * is core's, not installed: backends see only backend.h).
 */
#ifndef NUB_CORE_HV_SLOTS_H
#define NUB_CORE_HV_SLOTS_H

/* clang-format off */
#define NUB_HV_SLOTS(X)                                                                            \
	X(probe,           PROBE,           REQUIRED,  24, OWN,  void)                         \
	X(vm_create,       VM_CREATE,       REQUIRED,  32, OWN,  void)                         \
	X(vm_destroy,      VM_DESTROY,      REQUIRED,  40, VOID, void)                         \
	X(map_region,      MAP_REGION,      REQUIRED,  48, OWN,  void)                         \
	X(unmap_region,    UNMAP_REGION,    REQUIRED,  56, OWN,  void)                         \
	X(set_regs,        SET_REGS,        REQUIRED,  64, SET,  struct nub_regs)              \
	X(get_regs,        GET_REGS,        REQUIRED,  72, GET,  struct nub_regs)              \
	X(set_sregs,       SET_SREGS,       REQUIRED,  80, OWN,  void)                         \
	X(get_sregs,       GET_SREGS,       REQUIRED,  88, OWN,  void)                         \
	X(run_vcpu,        RUN,             REQUIRED,  96, OWN,  void)                         \
	X(interrupt,       INTERRUPT,       REQUIRED, 104, OWN,  void)                         \
	X(clear_interrupt, CLEAR_INTERRUPT, REQUIRED, 112, VOID, void)                         \
	X(set_fpu,         SET_FPU,         OPTIONAL, 120, SET,  struct nub_fpu)               \
	X(get_fpu,         GET_FPU,         OPTIONAL, 128, GET,  struct nub_fpu)               \
	X(set_xcr0,        SET_XCR0,        OPTIONAL, 136, SETV, uint64_t)                     \
	X(get_xcr0,        GET_XCR0,        OPTIONAL, 144, GET,  uint64_t)                     \
	X(set_msrs,        SET_MSRS,        OPTIONAL, 152, SETN, struct nub_msr)               \
	X(get_msrs,        GET_MSRS,        OPTIONAL, 160, GETN, struct nub_msr)               \
	X(get_dirty_log,   GET_DIRTY_LOG,   RESERVED, 168, NONE, void)                         \
	X(set_debugregs,   SET_DEBUGREGS,   OPTIONAL, 176, SET,  struct nub_debugregs)         \
	X(get_debugregs,   GET_DEBUGREGS,   OPTIONAL, 184, GET,  struct nub_debugregs)         \
	X(get_gpa_base,    GET_GPA_BASE,    OPTIONAL, 192, GET,  uint64_t)
/* clang-format on */

#endif
