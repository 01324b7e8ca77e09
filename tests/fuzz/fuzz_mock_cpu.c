/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the mock's interpreter: random code in a valid long-mode VM, and
 * random bytes written over its page tables, run for a bounded number of
 * instructions and exits. Whatever the guest does, the host must not fault
 * (every access goes through the page walk and the regions' bounds).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "vmem.h"
#include <nub/guest_abi.h>

#include "backend/backend_loader.h"
#include "backend/hv.h"
#include "memory/vmem_host.h"
#include "x86/cpu.h"

#define MEM    (64u << 10)
#define CODE   0x1000u
#define TABLES 0x8000u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void long_mode(struct nub_sregs *s)
{
	memset(s, 0, sizeof(*s));
	s->cs = nub_cpu_flat_segment(8, 1, 0);
	s->ds = nub_cpu_flat_segment(0x10, 0, 0);
	s->es = s->ss = s->fs = s->gs = s->ds;
	s->cr0 = 0x80050033;
	s->cr4 = 0x620;
	s->efer = 0xd00;
	s->cr3 = TABLES;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct nub_backend *b;
	struct nub_vmem_mapping map = {0, 0, MEM, NUB_VMEM_BASIC, NUB_VMEM_W | NUB_VMEM_X};
	struct nub_vmem_buf buf;
	struct nub_vmem_ops ops;
	struct nub_region r = {
	        .slot = 0, .flags = NUB_MEM_READ | NUB_MEM_WRITE | NUB_MEM_EXEC, .size = MEM};
	struct nub_regs regs = {.rip = CODE, .rsp = 0x7000, .rflags = 2};
	struct nub_sregs sregs;
	struct nub_exit ex;
	struct nub_hv *hv;
	uint8_t *mem;

	if (!b && nub_backend_load("mock", &b, NULL))
		abort();
	if (nub_hv_create(b, NUB_GPA_LIMIT, "budget=4096,window=0", &hv, NULL))
		abort();
	mem = mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED || nub_vmem_buf_init(&buf, TABLES, 8 * 4096, NULL))
		abort();
	nub_vmem_buf_ops(&buf, &ops);
	if (nub_vmem_map(&ops, &map))
		abort();
	memcpy(mem + TABLES, nub_vmem_buf_bytes(&buf), nub_vmem_buf_used(&buf));
	nub_vmem_buf_free(&buf);
	/* First half of the input: code; the rest: table bytes at an offset
	 * the input chooses (corrupting the walk). */
	size_t code = size / 2 < 4096 ? size / 2 : 4096;
	memcpy(mem + CODE, data, code);
	if (size - code > 2) {
		size_t at = (data[code] | (size_t)data[code + 1] << 8) % (4 * 4096);
		size_t n = size - code - 2;
		if (n > 4 * 4096 - at)
			n = 4 * 4096 - at;
		memcpy(mem + TABLES + at, data + code + 2, n);
	}
	r.host = mem;
	long_mode(&sregs);
	if (nub_hv_map_region(hv, &r, NULL) || nub_hv_set_sregs(hv, &sregs, NULL) ||
	    nub_hv_set_regs(hv, &regs, NULL))
		abort();
	memset(&ex, 0, sizeof(ex));
	for (int i = 0; i < 16; i++) {
		if (nub_hv_run(hv, &ex, NULL))
			abort(); /* the mock never fails as a backend */
		if (ex.reason != NUB_EXIT_IO_OUT && ex.reason != NUB_EXIT_IO_IN &&
		    ex.reason != NUB_EXIT_MMIO_READ && ex.reason != NUB_EXIT_MMIO_WRITE)
			break;
		ex.data = 0x1234;
	}
	nub_hv_destroy(hv);
	munmap(mem, MEM);
	return 0;
}
