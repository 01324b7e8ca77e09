/* SPDX-License-Identifier: MIT */
/*
 * The one reader of backends' tables. Nothing else in core looks inside a
 * struct nub_backend_ops (tests/lint/table_readers.sh checks): the loader
 * hands the table to nub_hv_adopt_table and asks the functions below for
 * the backend's name, capabilities and probe; a VM's slots are called
 * through one wrapper each. The wrappers check arguments, turn backend
 * failures into nub errors that name the backend and slot, and let tests
 * inject faults per slot.
 */
#ifndef NUB_CORE_HV_H
#define NUB_CORE_HV_H

#include <stddef.h>
#include <stdint.h>

#include <nub/backend.h>
#include <nub/error.h>

#include "backend/backend_loader.h"
#include "backend/hv_slots.h"

struct nub_hv;

/* Every slot of the table, in table order (backend/hv_slots.h): names the
 * slot in fault injection (tests) and in core's queries about a table. */
#define NUB_HV_SLOT_ENUM_(slot, ENUM, kind, offset, shape, type) NUB_HV_SLOT_##ENUM,
enum nub_hv_slot { NUB_HV_SLOTS(NUB_HV_SLOT_ENUM_) NUB_HV_SLOT_COUNT_ };
#undef NUB_HV_SLOT_ENUM_

/* Maximum number of regions (slots) one VM can have mapped. */
#define NUB_HV_MAX_SLOTS 32u

/* Check the table a backend's entry returned and copy it into *copy,
 * zero-extended: slots past its struct_size read as NULL. Errors name
 * `path`: NUB_EABI, NUB_ESHORT, NUB_ESLOT (no name, a NULL required slot),
 * checked in that order, the required slots in table order. */
int nub_hv_adopt_table(struct nub_backend_ops *copy, const struct nub_backend_ops *t,
                       const char *path, struct nub_error *err);
/* Run b's probe. 0 when the backend can run VMs here, with its note (may
 * be empty) in `note`; else the backend's code (NUB_EBACKEND for one that
 * is not an enum nub_err), its reason in `note` ("probe failed without a
 * reason" when it gave none) and in err as "<backend>: probe: <reason>". */
int nub_hv_probe(struct nub_backend *b, char *note, size_t cap, struct nub_error *err);
/* The fields of the table's header: name, caps, abi_major and abi_minor. */
const char *nub_hv_backend_name(const struct nub_backend *b);
uint32_t nub_hv_backend_caps(const struct nub_backend *b);
void nub_hv_backend_abi(const struct nub_backend *b, uint32_t *major, uint32_t *minor);

/* Create a VM on backend b (takes its own reference on b). */
int nub_hv_create(struct nub_backend *b, uint64_t mem_limit, const char *options,
                  struct nub_hv **out, struct nub_error *err);
/* Destroy the VM and drop the backend reference. NULL accepted. */
void nub_hv_destroy(struct nub_hv *hv);

/* The VM's backend: its name, its caps, whether it has `slot` (non-NULL;
 * for core's optional calls). */
const char *nub_hv_name(const struct nub_hv *hv);
uint32_t nub_hv_caps(const struct nub_hv *hv);
int nub_hv_has(const struct nub_hv *hv, enum nub_hv_slot slot);

/* Where the backend put this VM's guest-physical window (get_gpa_base;
 * 0 for a VM of its own). Every GPA core passes through the functions
 * below is relative to it -- region GPAs, CR3, MMIO exit addresses -- and
 * these functions add or subtract it; the page tables core writes are the
 * one other place it appears (core/memory/vmem_host.h's resolver window). */
nub_gpa_t nub_hv_gpa_base(const struct nub_hv *hv);

int nub_hv_map_region(struct nub_hv *hv, const struct nub_region *r, struct nub_error *err);
int nub_hv_unmap_region(struct nub_hv *hv, uint32_t slot, struct nub_error *err);
/* Segment and control registers; CR3 relative to the window. */
int nub_hv_set_sregs(struct nub_hv *hv, const struct nub_sregs *s, struct nub_error *err);
int nub_hv_get_sregs(struct nub_hv *hv, struct nub_sregs *s, struct nub_error *err);
/* The wrappers of the generic shapes, nub_hv_<slot> for every SET, GET,
 * SETV, SETN and GETN line of backend/hv_slots.h:
 *   int nub_hv_set_regs(hv, const struct nub_regs *, err),
 *   int nub_hv_get_xcr0(hv, uint64_t *, err),
 *   int nub_hv_set_xcr0(hv, uint64_t, err),
 *   int nub_hv_set_msrs(hv, const struct nub_msr *, uint32_t count, err), ...
 * NUB_EINVAL for a NULL pointer; NUB_EUNSUPPORTED when the backend lacks
 * an optional slot. */
#define NUB_HV_PROTO_SET(slot, type)                                                               \
	int nub_hv_##slot(struct nub_hv *hv, const type *v, struct nub_error *err);
#define NUB_HV_PROTO_GET(slot, type)                                                               \
	int nub_hv_##slot(struct nub_hv *hv, type *v, struct nub_error *err);
#define NUB_HV_PROTO_SETV(slot, type)                                                              \
	int nub_hv_##slot(struct nub_hv *hv, type v, struct nub_error *err);
#define NUB_HV_PROTO_SETN(slot, type)                                                              \
	int nub_hv_##slot(struct nub_hv *hv, const type *v, uint32_t count, struct nub_error *err);
#define NUB_HV_PROTO_GETN(slot, type)                                                              \
	int nub_hv_##slot(struct nub_hv *hv, type *v, uint32_t count, struct nub_error *err);
#define NUB_HV_PROTO_OWN(slot, type)
#define NUB_HV_PROTO_VOID(slot, type)
#define NUB_HV_PROTO_NONE(slot, type)
#define NUB_HV_PROTO(slot, ENUM, kind, offset, shape, type) NUB_HV_PROTO_##shape(slot, type)
NUB_HV_SLOTS(NUB_HV_PROTO)
#undef NUB_HV_PROTO
#undef NUB_HV_PROTO_SET
#undef NUB_HV_PROTO_GET
#undef NUB_HV_PROTO_SETV
#undef NUB_HV_PROTO_SETN
#undef NUB_HV_PROTO_GETN
#undef NUB_HV_PROTO_OWN
#undef NUB_HV_PROTO_VOID
#undef NUB_HV_PROTO_NONE

/* Run until the next exit; *exit is in/out (see struct nub_exit). An MMIO
 * exit's GPA comes back relative to the window (a GPA below the window
 * wraps to a huge value: no region or doorbell is there). */
int nub_hv_run(struct nub_hv *hv, struct nub_exit *exit, struct nub_error *err);
/* Thread-safe; see the interrupt slot in backend.h. */
int nub_hv_interrupt(struct nub_hv *hv);
void nub_hv_clear_interrupt(struct nub_hv *hv);

/* Fault injection (tests): make the `after`+1-th next call of `slot` fail
 * with `code`, once, as if the backend had returned it: the wrapper fails
 * with that code and "<backend>: <slot>: injected fault" (interrupt, which
 * has no message, with the code alone; probe's note reads "injected
 * fault"). Code 0 disarms. Every slot that returns a code is one: probe
 * and vm_create, which run before the VM exists, are armed on the backend,
 * the others on the VM; each function ignores the other's slots.
 * vm_destroy and clear_interrupt cannot fail; a reserved slot is never
 * called. */
void nub_hv_inject_fault(struct nub_hv *hv, enum nub_hv_slot slot, int code, unsigned after);
void nub_hv_inject_backend_fault(struct nub_backend *b, enum nub_hv_slot slot, int code,
                                 unsigned after);

#endif
