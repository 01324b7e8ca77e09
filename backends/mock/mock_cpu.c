/* SPDX-License-Identifier: MIT */
/*
 * The mock's interpreter, for CPL0 code: the backend conformance suite's
 * hand-assembled tests (tests/conformance) and fuzz_mock_cpu. Code at CPL3
 * -- every nub guest, the suite's user-mode tests -- runs natively in the
 * process vCPU instead (mock_proc_*.c; mock.c chooses). A strict subset of
 * x86-64 long mode:
 *   nop; hlt; mov r32/r64, imm; mov [reg], r / mov r, [reg] (mod 00);
 *   out dx/imm8, al/ax/eax; in al/ax/eax, dx; jmp rel8; ud2;
 *   ldmxcsr/stmxcsr [reg]; xgetbv.
 * Code and data go through the guest's page tables (vmem/vmem.c) and the
 * regions' permissions, as on hardware: unmapped or read-only GPAs become
 * MMIO exits, and an in or MMIO read completes with core's value at the
 * next run. There is no IDT delivery: any exception ends the run as a
 * triple fault would (NUB_EXIT_SHUTDOWN, vector and RIP in the detail). A
 * pending interrupt is seen every INTERRUPT_CHECK instructions; the
 * `budget=N` option (the fuzz target's) ends a run after N.
 */
#include <stdio.h>
#include <string.h>

#include "vmem.h"
#include <nub/guest_abi.h>

#include "mock.h"

#define CR0_PG          (1ull << 31)
#define CR4_PAE         (1ull << 5)
#define EFER_LMA        (1ull << 10)
#define INTERRUPT_CHECK 1024

/* x86 register number -> field of struct nub_regs. */
static uint64_t *reg(struct nub_vm *vm, unsigned n)
{
	uint64_t *const map[16] = {
	        &vm->regs.rax, &vm->regs.rcx, &vm->regs.rdx, &vm->regs.rbx,
	        &vm->regs.rsp, &vm->regs.rbp, &vm->regs.rsi, &vm->regs.rdi,
	        &vm->regs.r8,  &vm->regs.r9,  &vm->regs.r10, &vm->regs.r11,
	        &vm->regs.r12, &vm->regs.r13, &vm->regs.r14, &vm->regs.r15,
	};
	return map[n & 15];
}

/* Write `size` bytes of v into a register as the CPU does: 32-bit writes
 * zero-extend, 8- and 16-bit ones keep the rest. */
static void reg_set(struct nub_vm *vm, unsigned n, unsigned size, uint64_t v)
{
	uint64_t *r = reg(vm, n);

	if (size == 8)
		*r = v;
	else if (size == 4)
		*r = (uint32_t)v;
	else if (size == 2)
		*r = (*r & ~0xffffull) | (v & 0xffff);
	else
		*r = (*r & ~0xffull) | (v & 0xff);
}

enum step { STEP_NEXT, STEP_EXIT };

static enum step fault(struct nub_vm *vm, struct nub_exit *ex, unsigned vector, uint64_t addr)
{
	ex->reason = NUB_EXIT_SHUTDOWN;
	ex->rip = vm->regs.rip;
	snprintf(ex->detail, sizeof(ex->detail),
	         "exception %u at RIP 0x%llx (address 0x%llx), no IDT delivery", vector,
	         (unsigned long long)vm->regs.rip, (unsigned long long)addr);
	return STEP_EXIT;
}

struct access {
	nub_gpa_t gpa;
	struct nub_region *region; /* NULL: no memory there (MMIO) */
};

/* Translate a data or code access of `len` bytes (not crossing a page). */
static int translate(struct nub_vm *vm, nub_gva_t gva, uint64_t len, int write, int fetch,
                     struct access *a)
{
	struct nub_vmem_ops ops = {.ctx = vm,
	                           .read_entry = mock_read_entry,
	                           .write_entry = mock_write_entry,
	                           .root = vm->sregs.cr3 & NUB_PTE_ADDR_MASK};
	struct nub_vmem_mapping m;

	if ((gva & (NUB_PAGE_SIZE - 1)) + len > NUB_PAGE_SIZE)
		return -1; /* the subset never needs a split access */
	if (nub_vmem_translate(&ops, gva, &m) || m.kind == NUB_VMEM_UNMAPPED)
		return -1;
	if ((write && !(m.perms & NUB_VMEM_W)) || (fetch && !(m.perms & NUB_VMEM_X)))
		return -1;
	a->gpa = m.gpa + (gva & (NUB_PAGE_SIZE - 1));
	a->region = mock_region_of(vm, a->gpa, len);
	return 0;
}

static int fetch(struct nub_vm *vm, uint8_t *code, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct access a;
		if (translate(vm, vm->regs.rip + i, 1, 0, 1, &a) || !a.region)
			return -1;
		code[i] = ((const uint8_t *)a.region->host)[a.gpa - a.region->gpa];
	}
	return 0;
}

static enum step io_out(struct nub_vm *vm, struct nub_exit *ex, uint16_t port, unsigned size,
                        unsigned ilen)
{
	ex->reason = NUB_EXIT_IO_OUT;
	ex->port = port;
	ex->size = size;
	ex->data = vm->regs.rax & (size == 4 ? 0xffffffffull : size == 2 ? 0xffff : 0xff);
	vm->regs.rip += ilen;
	ex->rip = vm->regs.rip;
	return STEP_EXIT;
}

static enum step wait_value(struct nub_vm *vm, struct nub_exit *ex, unsigned r, unsigned size,
                            unsigned ilen)
{
	vm->pending.active = 1;
	vm->pending.reg = r;
	vm->pending.size = size;
	vm->pending.rip_after = vm->regs.rip + ilen;
	ex->rip = vm->regs.rip;
	return STEP_EXIT;
}

/* mov [reg], r / mov r, [reg] with ModRM mod 00 and a plain base. */
static enum step mov_mem(struct nub_vm *vm, struct nub_exit *ex, const uint8_t *c, int rexw,
                         unsigned rex, int store)
{
	unsigned modrm = c[0], size = rexw ? 8 : 4;
	unsigned r = ((modrm >> 3) & 7) | ((rex & 4) << 1), b = (modrm & 7) | ((rex & 1) << 3);
	uint64_t gva = *reg(vm, b), v = 0;
	struct access a;

	if ((modrm >> 6) != 0 || (modrm & 7) == 4 || (modrm & 7) == 5)
		return fault(vm, ex, 6, vm->regs.rip);
	if (translate(vm, gva, size, store, 0, &a))
		return fault(vm, ex, 14, gva);
	if (store && (!a.region || !(a.region->flags & NUB_MEM_WRITE))) {
		vm->regs.rip += 2;
		ex->reason = NUB_EXIT_MMIO_WRITE;
		ex->gpa = a.gpa;
		ex->size = size;
		ex->data = *reg(vm, r) & (size == 8 ? ~0ull : 0xffffffffull);
		ex->rip = vm->regs.rip;
		return STEP_EXIT;
	}
	if (!store && !a.region) {
		ex->reason = NUB_EXIT_MMIO_READ;
		ex->gpa = a.gpa;
		ex->size = size;
		return wait_value(vm, ex, r, size, 2);
	}
	uint8_t *p = (uint8_t *)a.region->host + (a.gpa - a.region->gpa);
	if (store) {
		v = *reg(vm, r);
		memcpy(p, &v, size);
	} else {
		memcpy(&v, p, size);
		reg_set(vm, r, size, v);
	}
	vm->regs.rip += 2;
	return STEP_NEXT;
}

/* ldmxcsr / stmxcsr [reg]. */
static enum step mxcsr_mem(struct nub_vm *vm, struct nub_exit *ex, unsigned modrm)
{
	unsigned op = (modrm >> 3) & 7;
	uint64_t gva = *reg(vm, modrm & 7);
	struct access a;

	if ((modrm >> 6) != 0 || (op != 2 && op != 3) || (modrm & 7) == 4 || (modrm & 7) == 5)
		return fault(vm, ex, 6, vm->regs.rip);
	if (translate(vm, gva, 4, op == 3, 0, &a) || !a.region ||
	    (op == 3 && !(a.region->flags & NUB_MEM_WRITE)))
		return fault(vm, ex, 14, gva);
	uint8_t *p = (uint8_t *)a.region->host + (a.gpa - a.region->gpa);
	if (op == 3) {
		memcpy(p, &vm->fpu.mxcsr, 4);
	} else {
		uint32_t v;
		memcpy(&v, p, 4);
		if (v & 0xffff0000u)
			return fault(vm, ex, 13, gva); /* reserved bits: #GP */
		vm->fpu.mxcsr = v;
	}
	vm->regs.rip += 3;
	return STEP_NEXT;
}

static enum step two_byte(struct nub_vm *vm, struct nub_exit *ex, const uint8_t *c)
{
	if (c[0] == 0x0b)
		return fault(vm, ex, 6, vm->regs.rip); /* ud2 */
	if (c[0] == 0xae)
		return mxcsr_mem(vm, ex, c[1]);
	if (c[0] == 0x01 && c[1] == 0xd0) { /* xgetbv */
		if ((uint32_t)vm->regs.rcx != 0)
			return fault(vm, ex, 13, vm->regs.rip);
		vm->regs.rax = (uint32_t)vm->xcr0;
		vm->regs.rdx = vm->xcr0 >> 32;
		vm->regs.rip += 3;
		return STEP_NEXT;
	}
	return fault(vm, ex, 6, vm->regs.rip);
}

static enum step step(struct nub_vm *vm, struct nub_exit *ex)
{
	uint8_t c[12];
	unsigned pre = 0, rex = 0, opsize = 4;

	if (fetch(vm, c, 1))
		return fault(vm, ex, 14, vm->regs.rip);
	if (c[0] == 0x66)
		opsize = 2, pre = 1;
	if (fetch(vm, c, pre + 1))
		return fault(vm, ex, 14, vm->regs.rip);
	if ((c[pre] & 0xf0) == 0x40)
		rex = c[pre++];
	if (fetch(vm, c, pre + 1))
		return fault(vm, ex, 14, vm->regs.rip);
	uint8_t op = c[pre];
	unsigned need = op == 0x0f                   ? 3
	                : (op >= 0xb8 && op <= 0xbf) ? ((rex & 8) ? 9 : 5)
	                : (op == 0xe6 || op == 0xe7 || op == 0xeb || op == 0x89 || op == 0x8b) ? 2
	                                                                                       : 1;
	if (fetch(vm, c, pre + need))
		return fault(vm, ex, 14, vm->regs.rip);
	vm->regs.rip += pre; /* the handlers count from the opcode */
	const uint8_t *o = c + pre;
	switch (op) {
	case 0x90:
		vm->regs.rip += 1;
		return STEP_NEXT;
	case 0xf4:
		vm->regs.rip += 1;
		ex->reason = NUB_EXIT_HLT;
		ex->rip = vm->regs.rip;
		return STEP_EXIT;
	case 0xb8:
	case 0xb9:
	case 0xba:
	case 0xbb:
	case 0xbc:
	case 0xbd:
	case 0xbe:
	case 0xbf: {
		uint64_t v = 0;
		memcpy(&v, o + 1, (rex & 8) ? 8 : 4);
		reg_set(vm, (op & 7) | ((rex & 1) << 3), (rex & 8) ? 8 : 4, v);
		vm->regs.rip += (rex & 8) ? 9 : 5;
		return STEP_NEXT;
	}
	case 0xee:
		return io_out(vm, ex, (uint16_t)vm->regs.rdx, 1, 1);
	case 0xef:
		return io_out(vm, ex, (uint16_t)vm->regs.rdx, opsize, 1);
	case 0xe6:
		return io_out(vm, ex, o[1], 1, 2);
	case 0xe7:
		return io_out(vm, ex, o[1], opsize, 2);
	case 0xec:
	case 0xed:
		ex->reason = NUB_EXIT_IO_IN;
		ex->port = (uint16_t)vm->regs.rdx;
		ex->size = op == 0xec ? 1 : opsize;
		return wait_value(vm, ex, 0, ex->size, 1);
	case 0x89:
	case 0x8b:
		return mov_mem(vm, ex, o + 1, (rex & 8) != 0, rex, op == 0x89);
	case 0xeb:
		vm->regs.rip += 2 + (uint64_t)(int64_t)(int8_t)o[1];
		return STEP_NEXT;
	case 0x0f:
		return two_byte(vm, ex, o + 1);
	default:
		return fault(vm, ex, 6, vm->regs.rip);
	}
}

static int long_mode(const struct nub_vm *vm, struct nub_exit *ex)
{
	const struct nub_sregs *s = &vm->sregs;

	if ((s->cr0 & CR0_PG) && (s->cr4 & CR4_PAE) && (s->efer & EFER_LMA) && s->cs.l)
		return 1;
	ex->reason = NUB_EXIT_INTERNAL;
	ex->rip = vm->regs.rip;
	snprintf(ex->detail, sizeof(ex->detail),
	         "only 64-bit long mode (CR0.PG, CR4.PAE, EFER.LMA, CS.L) is interpreted");
	return 0;
}

int mock_cpu_run(struct nub_vm *vm, struct nub_exit *exit, char *err, size_t err_cap)
{
	uint64_t completed = exit->data; /* core's value for a pending in/read */

	(void)err;
	(void)err_cap;
	memset(exit, 0, sizeof(*exit));
	if (vm->pending.active) {
		reg_set(vm, vm->pending.reg, vm->pending.size, completed);
		vm->regs.rip = vm->pending.rip_after;
		vm->pending.active = 0;
	}
	for (unsigned n = 0;; n++) {
		/* A pending interrupt wins over everything, even a CPU state
		 * the interpreter cannot run: it is consumed by this run. */
		if (n % INTERRUPT_CHECK == 0 && atomic_exchange(&vm->interrupt_pending, 0)) {
			exit->reason = NUB_EXIT_CANCELLED;
			exit->rip = vm->regs.rip;
			return 0;
		}
		if (n == 0 && !long_mode(vm, exit))
			return 0;
		if (vm->budget && n >= vm->budget) {
			exit->reason = NUB_EXIT_INTERNAL;
			exit->rip = vm->regs.rip;
			snprintf(exit->detail, sizeof(exit->detail),
			         "instruction budget of %llu exhausted",
			         (unsigned long long)vm->budget);
			return 0;
		}
		if (step(vm, exit) == STEP_EXIT)
			return 0;
	}
}
