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
int nub_hv_set_regs(struct nub_hv *hv, const struct nub_regs *regs, struct nub_error *err);
int nub_hv_get_regs(struct nub_hv *hv, struct nub_regs *regs, struct nub_error *err);
int nub_hv_set_sregs(struct nub_hv *hv, const struct nub_sregs *sregs, struct nub_error *err);
int nub_hv_get_sregs(struct nub_hv *hv, struct nub_sregs *sregs, struct nub_error *err);
/* Optional slots: NUB_EUNSUPPORTED when the backend lacks them. */
int nub_hv_set_fpu(struct nub_hv *hv, const struct nub_fpu *fpu, struct nub_error *err);
int nub_hv_get_fpu(struct nub_hv *hv, struct nub_fpu *fpu, struct nub_error *err);
int nub_hv_set_xcr0(struct nub_hv *hv, uint64_t xcr0, struct nub_error *err);
int nub_hv_get_xcr0(struct nub_hv *hv, uint64_t *xcr0, struct nub_error *err);
int nub_hv_set_msrs(struct nub_hv *hv, const struct nub_msr *msrs, uint32_t count,
                    struct nub_error *err);
int nub_hv_get_msrs(struct nub_hv *hv, struct nub_msr *msrs, uint32_t count, struct nub_error *err);
int nub_hv_get_dirty_log(struct nub_hv *hv, uint32_t slot, uint64_t *bitmap, size_t words,
                         struct nub_error *err);
int nub_hv_set_debugregs(struct nub_hv *hv, const struct nub_debugregs *dr, struct nub_error *err);
int nub_hv_get_debugregs(struct nub_hv *hv, struct nub_debugregs *dr, struct nub_error *err);
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
