/* SPDX-License-Identifier: MIT */
/* A backend that places its VM at a guest-physical window (ABI 1.4) and
 * reports what core handed it, for test_hv_window: the window is the
 * option string's number ("0x2000000000"; 2 * NUB_GPA_LIMIT without one),
 * so that a test can also give it one core must refuse. One VM at a time. */
#include <stdlib.h>

#include "fake_slots.h"

/* What the last VM was given; the test reads them through the symbol. */
struct window_seen {
	uint64_t base, region_gpa, cr3;
} window_seen;

static int window_vm_create(const struct nub_vm_config *c, struct nub_vm **o, char *e, size_t n)
{
	(void)e;
	(void)n;
	memset(&window_seen, 0, sizeof(window_seen));
	window_seen.base = c->options ? strtoull(c->options, NULL, 0) : 2ull << 36;
	*o = (struct nub_vm *)1;
	return 0;
}

static int window_get_gpa_base(struct nub_vm *vm, uint64_t *base, char *e, size_t n)
{
	(void)vm, (void)e, (void)n;
	*base = window_seen.base;
	return 0;
}

static int window_map_region(struct nub_vm *vm, const struct nub_region *r, char *e, size_t n)
{
	(void)vm, (void)e, (void)n;
	window_seen.region_gpa = r->gpa;
	return 0;
}

static int window_set_sregs(struct nub_vm *vm, const struct nub_sregs *s, char *e, size_t n)
{
	(void)vm, (void)e, (void)n;
	window_seen.cr3 = s->cr3;
	return 0;
}

static int window_get_sregs(struct nub_vm *vm, struct nub_sregs *s, char *e, size_t n)
{
	(void)vm, (void)e, (void)n;
	memset(s, 0, sizeof(*s));
	s->cr3 = window_seen.cr3;
	return 0;
}

/* An MMIO store to the window's page 0x1000 (core reads 0x1000). */
static int window_run_vcpu(struct nub_vm *vm, struct nub_exit *x, char *e, size_t n)
{
	(void)vm, (void)e, (void)n;
	memset(x, 0, sizeof(*x));
	x->reason = NUB_EXIT_MMIO_WRITE;
	x->gpa = window_seen.base + 0x1000;
	x->size = 8;
	return 0;
}

static const struct nub_backend_ops ops = {FAKE_OPS_INIT("window"),
                                           .vm_create = window_vm_create,
                                           .get_gpa_base = window_get_gpa_base,
                                           .map_region = window_map_region,
                                           .set_sregs = window_set_sregs,
                                           .get_sregs = window_get_sregs,
                                           .run_vcpu = window_run_vcpu};
FAKE_ENTRY(ops)
