/* SPDX-License-Identifier: MIT */
/*
 * A backend whose vCPU plays back a script of exits, for the exit loop's
 * unit test (tests/unit/test_run_loop.c): no guest, no hypervisor. The
 * script comes as vm_create's options, one exit per ';':
 *   w:GPA:SIZE:DATA  MMIO write    r:GPA:SIZE  MMIO read
 *   o:PORT:SIZE:DATA port out       h  hlt    s  shutdown   c  cancelled
 *   i  internal error (hw reason 0x77)     e  run_vcpu itself fails (NUB_ESYS)
 * numbers in hex. After the last one every run is an internal error "script
 * ended". Registers and system registers read back what was set.
 */
#include <stdlib.h>
#include <string.h>

#include "fake_slots.h"

#define MAX_STEPS 32

struct step {
	char kind;
	uint64_t a, b, c;
};

struct nub_vm {
	struct step steps[MAX_STEPS];
	unsigned n, next;
	struct nub_regs regs;
	struct nub_sregs sregs;
};

static int parse(struct nub_vm *vm, const char *s, char *err, size_t cap)
{
	while (s && *s) {
		struct step *st = &vm->steps[vm->n];
		char *end;
		if (vm->n == MAX_STEPS) {
			snprintf(err, cap, "more than %d steps", MAX_STEPS);
			return NUB_EINVAL;
		}
		st->kind = *s++;
		uint64_t *v[3] = {&st->a, &st->b, &st->c};
		for (int i = 0; i < 3 && *s == ':'; i++) {
			*v[i] = strtoull(s + 1, &end, 16);
			s = end;
		}
		vm->n++;
		if (*s == ';')
			s++;
		else if (*s) {
			snprintf(err, cap, "bad script at '%s'", s);
			return NUB_EINVAL;
		}
	}
	return 0;
}

static int scripted_create(const struct nub_vm_config *cfg, struct nub_vm **out, char *err,
                           size_t cap)
{
	struct nub_vm *vm = calloc(1, sizeof(*vm));
	int rc;

	if (!vm)
		return NUB_ENOMEM;
	rc = parse(vm, cfg->options, err, cap);
	if (rc) {
		free(vm);
		return rc;
	}
	*out = vm;
	return 0;
}

static void scripted_destroy(struct nub_vm *vm)
{
	free(vm);
}

static int scripted_run(struct nub_vm *vm, struct nub_exit *x, char *err, size_t cap)
{
	memset(x, 0, sizeof(*x));
	if (vm->next == vm->n) {
		x->reason = NUB_EXIT_INTERNAL;
		snprintf(x->detail, sizeof(x->detail), "script ended");
		return 0;
	}
	const struct step *st = &vm->steps[vm->next++];
	x->rip = 0x1000 + vm->next;
	switch (st->kind) {
	case 'w':
	case 'r':
		x->reason = st->kind == 'w' ? NUB_EXIT_MMIO_WRITE : NUB_EXIT_MMIO_READ;
		x->gpa = st->a;
		x->size = (uint32_t)st->b;
		x->data = st->c;
		return 0;
	case 'o':
		x->reason = NUB_EXIT_IO_OUT;
		x->port = (uint16_t)st->a;
		x->size = (uint32_t)st->b;
		x->data = st->c;
		return 0;
	case 'h':
		x->reason = NUB_EXIT_HLT;
		return 0;
	case 's':
		x->reason = NUB_EXIT_SHUTDOWN;
		return 0;
	case 'c':
		x->reason = NUB_EXIT_CANCELLED;
		return 0;
	case 'i':
		x->reason = NUB_EXIT_INTERNAL;
		x->hw_reason = 0x77;
		snprintf(x->detail, sizeof(x->detail), "scripted internal error");
		return 0;
	default:
		snprintf(err, cap, "scripted failure");
		return NUB_ESYS;
	}
}

static int scripted_set_regs(struct nub_vm *vm, const struct nub_regs *r, char *e, size_t n)
{
	(void)e, (void)n;
	vm->regs = *r;
	return 0;
}

static int scripted_get_regs(struct nub_vm *vm, struct nub_regs *r, char *e, size_t n)
{
	(void)e, (void)n;
	*r = vm->regs;
	return 0;
}

static int scripted_set_sregs(struct nub_vm *vm, const struct nub_sregs *s, char *e, size_t n)
{
	(void)e, (void)n;
	vm->sregs = *s;
	return 0;
}

static int scripted_get_sregs(struct nub_vm *vm, struct nub_sregs *s, char *e, size_t n)
{
	(void)e, (void)n;
	*s = vm->sregs;
	return 0;
}

static const struct nub_backend_ops ops = {
        FAKE_OPS_INIT("scripted"),       .vm_create = scripted_create,
        .vm_destroy = scripted_destroy,  .run_vcpu = scripted_run,
        .set_regs = scripted_set_regs,   .get_regs = scripted_get_regs,
        .set_sregs = scripted_set_sregs, .get_sregs = scripted_get_sregs,
};
FAKE_ENTRY(ops)
