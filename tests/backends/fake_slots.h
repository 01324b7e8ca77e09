/* SPDX-License-Identifier: MIT */
/* Valid do-nothing slots for the loader's test backends; each test backend
 * breaks exactly one thing about an otherwise valid table. */
#ifndef NUB_TEST_FAKE_SLOTS_H
#define NUB_TEST_FAKE_SLOTS_H

#include <stdio.h>

#include <nub/backend.h>

static int fake_probe(char *err, size_t cap)
{
	(void)err;
	(void)cap;
	return 0;
}
static int fake_create(const struct nub_vm_config *c, struct nub_vm **o, char *e, size_t n)
{
	(void)c;
	(void)e;
	(void)n;
	*o = (struct nub_vm *)1;
	return 0;
}
static void fake_destroy(struct nub_vm *vm)
{
	(void)vm;
}
static int fake_map(struct nub_vm *vm, const struct nub_region *r, char *e, size_t n)
{
	(void)vm;
	(void)r;
	(void)e;
	(void)n;
	return 0;
}
static int fake_unmap(struct nub_vm *vm, uint32_t s, char *e, size_t n)
{
	(void)vm;
	(void)s;
	(void)e;
	(void)n;
	return 0;
}
static int fake_set_regs(struct nub_vm *vm, const struct nub_regs *r, char *e, size_t n)
{
	(void)vm;
	(void)r;
	(void)e;
	(void)n;
	return 0;
}
static int fake_get_regs(struct nub_vm *vm, struct nub_regs *r, char *e, size_t n)
{
	(void)vm;
	(void)r;
	(void)e;
	(void)n;
	return 0;
}
static int fake_set_sregs(struct nub_vm *vm, const struct nub_sregs *r, char *e, size_t n)
{
	(void)vm;
	(void)r;
	(void)e;
	(void)n;
	return 0;
}
static int fake_get_sregs(struct nub_vm *vm, struct nub_sregs *r, char *e, size_t n)
{
	(void)vm;
	(void)r;
	(void)e;
	(void)n;
	return 0;
}
static int fake_run(struct nub_vm *vm, struct nub_exit *x, char *e, size_t n)
{
	(void)vm;
	(void)e;
	(void)n;
	x->reason = NUB_EXIT_HLT;
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

#define FAKE_OPS_INIT(backend_name)                                                                \
	.abi_major = NUB_BACKEND_ABI_MAJOR, .abi_minor = NUB_BACKEND_ABI_MINOR,                    \
	.struct_size = sizeof(struct nub_backend_ops), .caps = NUB_CAP_READONLY_MEM,               \
	.name = backend_name, .probe = fake_probe, .vm_create = fake_create,                       \
	.vm_destroy = fake_destroy, .map_region = fake_map, .unmap_region = fake_unmap,            \
	.set_regs = fake_set_regs, .get_regs = fake_get_regs, .set_sregs = fake_set_sregs,         \
	.get_sregs = fake_get_sregs, .run_vcpu = fake_run, .interrupt = fake_interrupt,            \
	.clear_interrupt = fake_clear_interrupt

#define FAKE_ENTRY(ops)                                                                            \
	NUB_BACKEND_EXPORT const struct nub_backend_ops *nub_backend_entry(void)                   \
	{                                                                                          \
		return &(ops);                                                                     \
	}

#endif
