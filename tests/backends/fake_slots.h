/* SPDX-License-Identifier: MIT */
/* Valid do-nothing slots for the loader's test backends; each test backend
 * breaks exactly one thing about an otherwise valid table. The table and
 * the slots of the generic shapes come from core's slot list
 * (core/backend/hv_slots.h), so a slot added there is here too. */
#ifndef NUB_TEST_FAKE_SLOTS_H
#define NUB_TEST_FAKE_SLOTS_H

#include <stdio.h>
#include <string.h>

#include <nub/backend.h>

#include "backend/hv_slots.h"

/* The slots of their own shape (OWN and VOID in the list). */
static int fake_probe(char *err, size_t cap)
{
	(void)err;
	(void)cap;
	return 0;
}
static int fake_vm_create(const struct nub_vm_config *c, struct nub_vm **o, char *e, size_t n)
{
	(void)c;
	(void)e;
	(void)n;
	*o = (struct nub_vm *)1;
	return 0;
}
static void fake_vm_destroy(struct nub_vm *vm)
{
	(void)vm;
}
static int fake_map_region(struct nub_vm *vm, const struct nub_region *r, char *e, size_t n)
{
	(void)vm;
	(void)r;
	(void)e;
	(void)n;
	return 0;
}
static int fake_unmap_region(struct nub_vm *vm, uint32_t s, char *e, size_t n)
{
	(void)vm;
	(void)s;
	(void)e;
	(void)n;
	return 0;
}
static int fake_run_vcpu(struct nub_vm *vm, struct nub_exit *x, char *e, size_t n)
{
	(void)vm;
	(void)e;
	(void)n;
	x->reason = NUB_EXIT_HLT;
	return 0;
}
static int fake_set_sregs(struct nub_vm *vm, const struct nub_sregs *s, char *e, size_t n)
{
	(void)vm, (void)s, (void)e, (void)n;
	return 0;
}
static int fake_get_sregs(struct nub_vm *vm, struct nub_sregs *s, char *e, size_t n)
{
	(void)vm, (void)e, (void)n;
	memset(s, 0, sizeof(*s));
	return 0;
}
static int fake_interrupt(struct nub_vm *vm)
{
	(void)vm;
	return 0;
}
static void fake_clear_interrupt(struct nub_vm *vm)
{
	(void)vm;
}

/* The slots of the generic shapes, one template each: setters accept
 * anything, getters read zeros. Unused in a backend that leaves the
 * optional ones NULL. */
#define FAKE_SET(slot, type)                                                                       \
	static __attribute__((unused)) int fake_##slot(struct nub_vm *vm, const type *v, char *e,  \
	                                               size_t n)                                   \
	{                                                                                          \
		(void)vm, (void)v, (void)e, (void)n;                                               \
		return 0;                                                                          \
	}
#define FAKE_GET(slot, type)                                                                       \
	static __attribute__((unused)) int fake_##slot(struct nub_vm *vm, type *v, char *e,        \
	                                               size_t n)                                   \
	{                                                                                          \
		(void)vm, (void)e, (void)n;                                                        \
		memset(v, 0, sizeof(*v));                                                          \
		return 0;                                                                          \
	}
#define FAKE_SETV(slot, type)                                                                      \
	static __attribute__((unused)) int fake_##slot(struct nub_vm *vm, type v, char *e,         \
	                                               size_t n)                                   \
	{                                                                                          \
		(void)vm, (void)v, (void)e, (void)n;                                               \
		return 0;                                                                          \
	}
#define FAKE_SETN(slot, type)                                                                      \
	static __attribute__((unused)) int fake_##slot(struct nub_vm *vm, const type *v,           \
	                                               uint32_t count, char *e, size_t n)          \
	{                                                                                          \
		(void)vm, (void)v, (void)count, (void)e, (void)n;                                  \
		return 0;                                                                          \
	}
#define FAKE_GETN(slot, type)                                                                      \
	static __attribute__((unused)) int fake_##slot(struct nub_vm *vm, type *v, uint32_t count, \
	                                               char *e, size_t n)                          \
	{                                                                                          \
		(void)vm, (void)e, (void)n;                                                        \
		memset(v, 0, count * sizeof(*v));                                                  \
		return 0;                                                                          \
	}
#define FAKE_OWN(slot, type)
#define FAKE_VOID(slot, type)
#define FAKE_NONE(slot, type)
#define FAKE_SLOT(slot, ENUM, kind, offset, shape, type) FAKE_##shape(slot, type)
NUB_HV_SLOTS(FAKE_SLOT)

#define FAKE_OPS_HEADER(backend_name)                                                              \
	.abi_major = NUB_BACKEND_ABI_MAJOR, .abi_minor = NUB_BACKEND_ABI_MINOR,                    \
	.struct_size = sizeof(struct nub_backend_ops), .caps = NUB_CAP_READONLY_MEM,               \
	.name = backend_name

/* A valid table: the header, then .<slot> = fake_<slot> for every
 * required slot; the optional ones stay NULL. */
#define FAKE_INIT(slot, ENUM, kind, offset, shape, type) FAKE_INIT_##kind(slot)
#define FAKE_INIT_REQUIRED(slot)                         , .slot = fake_##slot
#define FAKE_INIT_OPTIONAL(slot)
#define FAKE_INIT_RESERVED(slot)

#define FAKE_OPS_INIT(backend_name) FAKE_OPS_HEADER(backend_name) NUB_HV_SLOTS(FAKE_INIT)

/* Every slot but the reserved ones (tests/backends/full.c). */
#define FAKE_FULL(slot, ENUM, kind, offset, shape, type) FAKE_FULL_##kind(slot)
#define FAKE_FULL_REQUIRED(slot)                         , .slot = fake_##slot
#define FAKE_FULL_OPTIONAL(slot)                         , .slot = fake_##slot
#define FAKE_FULL_RESERVED(slot)

#define FAKE_OPS_FULL(backend_name) FAKE_OPS_HEADER(backend_name) NUB_HV_SLOTS(FAKE_FULL)

#define FAKE_ENTRY(ops)                                                                            \
	NUB_BACKEND_EXPORT const struct nub_backend_ops *nub_backend_entry(void)                   \
	{                                                                                          \
		return &(ops);                                                                     \
	}

#endif
