/* SPDX-License-Identifier: MIT */
/*
 * A VM created through a loaded backend. These wrappers are the only code in
 * core that calls backend slots: they check arguments, turn backend failures
 * into nub errors that name the backend and slot, and let tests inject
 * faults per slot.
 */
#ifndef NUB_CORE_HV_H
#define NUB_CORE_HV_H

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

/* Create a VM on backend b (takes its own reference on b). */
int nub_hv_create(struct nub_backend *b, uint64_t mem_limit, const char *options,
                  struct nub_hv **out, struct nub_error *err);
/* Destroy the VM and drop the backend reference. NULL accepted. */
void nub_hv_destroy(struct nub_hv *hv);

const struct nub_backend_ops *nub_hv_ops(const struct nub_hv *hv);

int nub_hv_map_region(struct nub_hv *hv, const struct nub_region *r, struct nub_error *err);
int nub_hv_unmap_region(struct nub_hv *hv, uint32_t slot, struct nub_error *err);
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

int nub_hv_get_dirty_log(struct nub_hv *hv, uint32_t slot, uint64_t *bitmap, size_t words,
                         struct nub_error *err);

/* Run until the next exit; *exit is in/out (see struct nub_exit). */
int nub_hv_run(struct nub_hv *hv, struct nub_exit *exit, struct nub_error *err);
/* Thread-safe; see nub_backend_ops.interrupt. */
int nub_hv_interrupt(struct nub_hv *hv);
void nub_hv_clear_interrupt(struct nub_hv *hv);

/* Make the next `after`+1-th call of `slot` fail with `code` (tests only);
 * code 0 disarms. Only the slots a VM's wrappers call fire: not probe or
 * vm_create, which run before the VM exists, nor vm_destroy and
 * clear_interrupt, which cannot fail. */
void nub_hv_inject_fault(struct nub_hv *hv, enum nub_hv_slot slot, int code, unsigned after);

#endif
