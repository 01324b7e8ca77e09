/* SPDX-License-Identifier: MIT */
/*
 * Backend-level smoke test of the KVM backend on real /dev/kvm: loads
 * libnub-backend-kvm.so through core's loader ($NUB_BACKEND or "kvm",
 * searched in $NUB_BACKEND_PATH) and drives hand-assembled 64-bit guests
 * through core's nub_hv_* layer. Needs a usable /dev/kvm: it fails, never
 * skips, without one. Run by tests/nested-kvm/run.sh inside the nested VM
 * (or directly where the host has /dev/kvm).
 *
 * Guest memory: slot 0 RAM [0, 2 MiB) RW (code 0x1000, page tables
 * 0x2000-0x4fff identity-mapping 1 GiB with 2 MiB pages, stack top 2 MiB);
 * slot 1 one read-only page at 0x400000 whose host mapping is PROT_READ;
 * 0x800000 is never mapped (MMIO).
 */
#include <cpuid.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend_loader.h"
#include "backend/hv.h"
#include "nub_test.h"
#include "x86/cpu.h"

#define RAM_SIZE  0x200000ull
#define CODE_GPA  0x1000ull
#define PML4_GPA  0x2000ull
#define PDPT_GPA  0x3000ull
#define PD_GPA    0x4000ull
#define RO_GPA    0x400000ull
#define SPARE_GPA 0x600000ull
#define MMIO_GPA  0x800000ull
#define MEM_LIMIT (1ull << 30)
#define RO_WORD   0xA5A5A5A5u

#define CR0_PE         0x1ull
#define CR0_MP         0x2ull
#define CR0_ET         0x10ull
#define CR0_NE         0x20ull
#define CR0_WP         0x10000ull
#define CR0_PG         0x80000000ull
#define CR4_PAE        0x20ull
#define CR4_OSFXSR     0x200ull
#define CR4_OSXMMEXCPT 0x400ull
#define CR4_OSXSAVE    0x40000ull
#define EFER_LME       0x100ull
#define EFER_LMA       0x400ull

static struct nub_backend *backend;

struct smoke {
	struct nub_hv *hv;
	uint8_t *ram;
	uint8_t *ro;
	struct nub_error err;
};

static void check(int rc, struct smoke *s, const char *what)
{
	if (rc)
		fail_msg("%s: %s (%s)", what, s->err.msg, nub_strerror(rc));
}

static int group_setup(void **state)
{
	struct nub_error err = {0};
	const char *spec = getenv("NUB_BACKEND");

	(void)state;
	if (!spec || !spec[0])
		spec = "kvm";
	if (nub_backend_load(spec, &backend, &err)) {
		fprintf(stderr, "kvm_smoke: cannot load backend '%s': %s\n", spec, err.msg);
		return -1;
	}
	printf("INFO: backend %s from %s\n", nub_hv_backend_name(backend),
	       nub_backend_path(backend));
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	nub_backend_unref(backend);
	return 0;
}

static void build_page_tables(uint8_t *ram)
{
	uint64_t *pml4 = (uint64_t *)(ram + PML4_GPA);
	uint64_t *pdpt = (uint64_t *)(ram + PDPT_GPA);
	uint64_t *pd = (uint64_t *)(ram + PD_GPA);

	/* User pages (no SMEP/SMAP): the same tables serve CPL0 and CPL3 tests. */
	pml4[0] = PDPT_GPA | 0x7; /* present, writable, user */
	pdpt[0] = PD_GPA | 0x7;
	for (uint64_t i = 0; i < 512; i++)
		pd[i] = (i << 21) | 0x87; /* present, writable, user, 2 MiB page */
}

/* Long mode straight away: CS.L, paging with the tables above, no IDT (any
 * exception triple-faults). */
static void enter_long_mode(struct smoke *s, uint64_t extra_cr4)
{
	struct nub_sregs sr;
	struct nub_regs r = {.rip = CODE_GPA, .rflags = 0x2, .rsp = RAM_SIZE};

	check(nub_hv_get_sregs(s->hv, &sr, &s->err), s, "get_sregs");
	sr.cs = nub_cpu_flat_segment(0x8, 1, 0);
	sr.ds = sr.es = sr.fs = sr.gs = sr.ss = nub_cpu_flat_segment(0x10, 0, 0);
	sr.gdt = (struct nub_dtable){.base = 0, .limit = 0};
	sr.idt = (struct nub_dtable){.base = 0, .limit = 0};
	sr.cr3 = PML4_GPA;
	sr.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT | extra_cr4;
	sr.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
	sr.efer = EFER_LME | EFER_LMA;
	check(nub_hv_set_sregs(s->hv, &sr, &s->err), s, "set_sregs");
	check(nub_hv_set_regs(s->hv, &r, &s->err), s, "set_regs");
}

static void *map_anon(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	return p;
}

static struct smoke *smoke_new(const uint8_t *code, size_t len, uint64_t extra_cr4)
{
	struct smoke *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	s->ram = map_anon(RAM_SIZE);
	s->ro = map_anon(NUB_PAGE_SIZE);
	for (size_t i = 0; i < NUB_PAGE_SIZE / 4; i++)
		memcpy(s->ro + 4 * i, &(uint32_t){RO_WORD}, 4);
	assert_int_equal(mprotect(s->ro, NUB_PAGE_SIZE, PROT_READ), 0);
	memcpy(s->ram + CODE_GPA, code, len);
	build_page_tables(s->ram);
	check(nub_hv_create(backend, MEM_LIMIT, NULL, &s->hv, &s->err), s, "create");
	struct nub_region ram = {.slot = 0,
	                         .flags = NUB_MEM_READ | NUB_MEM_WRITE | NUB_MEM_EXEC,
	                         .gpa = 0,
	                         .size = RAM_SIZE,
	                         .host = s->ram};
	struct nub_region ro = {.slot = 1,
	                        .flags = NUB_MEM_READ,
	                        .gpa = RO_GPA,
	                        .size = NUB_PAGE_SIZE,
	                        .host = s->ro};
	check(nub_hv_map_region(s->hv, &ram, &s->err), s, "map RAM");
	check(nub_hv_map_region(s->hv, &ro, &s->err), s, "map read-only page");
	enter_long_mode(s, extra_cr4);
	return s;
}

static void smoke_free(struct smoke *s)
{
	nub_hv_destroy(s->hv);
	munmap(s->ram, RAM_SIZE);
	munmap(s->ro, NUB_PAGE_SIZE);
	free(s);
}

static const char *reason_name(uint32_t r)
{
	static const char *const names[] = {"NONE",     "IO_OUT",    "IO_IN",
	                                    "HLT",      "MMIO_READ", "MMIO_WRITE",
	                                    "SHUTDOWN", "CANCELLED", "INTERNAL"};
	return r < sizeof(names) / sizeof(names[0]) ? names[r] : "?";
}

static void run_expect(struct smoke *s, struct nub_exit *e, uint32_t reason)
{
	check(nub_hv_run(s->hv, e, &s->err), s, "run");
	if (e->reason != reason)
		fail_msg("exit %s (%u), expected %s; rip 0x%llx hw_reason 0x%llx detail '%s'",
		         reason_name(e->reason), e->reason, reason_name(reason),
		         (unsigned long long)e->rip, (unsigned long long)e->hw_reason, e->detail);
}

static void expect_out(struct smoke *s, struct nub_exit *e, uint16_t port, uint32_t size,
                       uint64_t data)
{
	run_expect(s, e, NUB_EXIT_IO_OUT);
	assert_int_equal(e->port, port);
	assert_int_equal(e->size, size);
	assert_int_equal(e->data, data);
}

/* The software KVM (kvm_pvm) runs CPL3 natively and emulates CPL0; code
 * that uses SSE or XSAVE instructions must run at CPL3 there. */
static int software_kvm(void)
{
	return access("/sys/module/kvm_pvm", F_OK) == 0;
}

/* Switch the vCPU to CPL3 (DPL-3 code and data segments); the code then
 * leaves through MMIO stores, as nub guests do. */
static void enter_user_mode(struct smoke *s)
{
	struct nub_sregs sr;

	check(nub_hv_get_sregs(s->hv, &sr, &s->err), s, "get_sregs");
	sr.cs.selector = 0x2b;
	sr.cs.dpl = 3;
	sr.ss.selector = sr.ds.selector = sr.es.selector = 0x23;
	sr.ss.dpl = sr.ds.dpl = sr.es.dpl = 3;
	sr.fs = sr.gs = sr.ds;
	check(nub_hv_set_sregs(s->hv, &sr, &s->err), s, "set_sregs (CPL3)");
}

static void expect_mmio_write(struct smoke *s, struct nub_exit *e, uint64_t gpa, uint32_t size,
                              uint64_t data)
{
	run_expect(s, e, NUB_EXIT_MMIO_WRITE);
	assert_int_equal(e->gpa, gpa);
	assert_int_equal(e->size, size);
	assert_int_equal(e->data, data);
}

static uint64_t get_rip(struct smoke *s)
{
	struct nub_regs r;

	check(nub_hv_get_regs(s->hv, &r, &s->err), s, "get_regs");
	return r.rip;
}

static void test_out_port(void **state)
{
	static const uint8_t code[] = {
	        0xB8, 0x78, 0x56, 0x34, 0x12, /* 1000: mov eax, 0x12345678 */
	        0xE7, 0x10,                   /* 1005: out 0x10, eax */
	        0xB0, 0x5A,                   /* 1007: mov al, 0x5a */
	        0x66, 0xE7, 0x12,             /* 1009: out 0x12, ax */
	        0xE6, 0x11,                   /* 100c: out 0x11, al */
	        0xF4,                         /* 100e: hlt */
	};
	struct smoke *s = smoke_new(code, sizeof(code), 0);
	struct nub_exit e = {0};

	(void)state;
	expect_out(s, &e, 0x10, 4, 0x12345678);
	/* exit->rip is the OUT itself; the software KVM completes the
	 * instruction in its emulator first and reports the next one. */
	if (software_kvm())
		assert_true(e.rip == 0x1005 || e.rip == 0x1007);
	else
		assert_int_equal(e.rip, 0x1005);
	/* The ABI: RIP is already past the OUT when run returns. */
	assert_int_equal(get_rip(s), 0x1007);
	expect_out(s, &e, 0x12, 2, 0x565A);
	expect_out(s, &e, 0x11, 1, 0x5A);
	run_expect(s, &e, NUB_EXIT_HLT);
	smoke_free(s);
}

static void test_in_port(void **state)
{
	static const uint8_t code[] = {
	        0xE5, 0x20, /* in eax, 0x20 */
	        0xE7, 0x21, /* out 0x21, eax */
	        0xE4, 0x22, /* in al, 0x22 */
	        0xE7, 0x23, /* out 0x23, eax: upper bytes kept from the first in */
	        0xF4,       /* hlt */
	};
	struct smoke *s = smoke_new(code, sizeof(code), 0);
	struct nub_exit e = {0};

	(void)state;
	run_expect(s, &e, NUB_EXIT_IO_IN);
	assert_int_equal(e.port, 0x20);
	assert_int_equal(e.size, 4);
	e.data = 0xCAFEBABE;
	expect_out(s, &e, 0x21, 4, 0xCAFEBABE);
	run_expect(s, &e, NUB_EXIT_IO_IN);
	assert_int_equal(e.port, 0x22);
	assert_int_equal(e.size, 1);
	e.data = 0x77;
	expect_out(s, &e, 0x23, 4, 0xCAFEBA77);
	run_expect(s, &e, NUB_EXIT_HLT);
	smoke_free(s);
}

static void test_mmio_unmapped(void **state)
{
	static const uint8_t code[] = {
	        0x48, 0xBB, 0,    0,    0x80, 0,    0, 0, 0, 0, /* mov rbx, 0x800000 */
	        0xC7, 0x03, 0xEF, 0xBE, 0xAD, 0xDE,             /* mov dword [rbx], 0xdeadbeef */
	        0x8B, 0x43, 0x08,                               /* mov eax, [rbx+8] */
	        0xE7, 0x30,                                     /* out 0x30, eax */
	        0x48, 0x89, 0x5B, 0x10,                         /* mov [rbx+16], rbx */
	        0xF4,                                           /* hlt */
	};
	struct smoke *s = smoke_new(code, sizeof(code), 0);
	struct nub_exit e = {0};

	(void)state;
	run_expect(s, &e, NUB_EXIT_MMIO_WRITE);
	assert_int_equal(e.gpa, MMIO_GPA);
	assert_int_equal(e.size, 4);
	assert_int_equal(e.data, 0xDEADBEEF);
	run_expect(s, &e, NUB_EXIT_MMIO_READ);
	assert_int_equal(e.gpa, MMIO_GPA + 8);
	assert_int_equal(e.size, 4);
	e.data = 0x13572468;
	expect_out(s, &e, 0x30, 4, 0x13572468);
	run_expect(s, &e, NUB_EXIT_MMIO_WRITE);
	assert_int_equal(e.gpa, MMIO_GPA + 16);
	assert_int_equal(e.size, 8);
	assert_int_equal(e.data, MMIO_GPA);
	run_expect(s, &e, NUB_EXIT_HLT);
	smoke_free(s);
}

static void test_readonly_region(void **state)
{
	static const uint8_t code[] = {
	        0x48, 0xBB, 0,    0,    0x40, 0,    0, 0, 0, 0, /* mov rbx, 0x400000 */
	        0x8B, 0x03,                                     /* mov eax, [rbx] */
	        0xE7, 0x40,                                     /* out 0x40, eax */
	        0xC7, 0x03, 0x44, 0x33, 0x22, 0x11,             /* mov dword [rbx], 0x11223344 */
	        0x8B, 0x03,                                     /* mov eax, [rbx] */
	        0xE7, 0x41,                                     /* out 0x41, eax */
	        0xF4,                                           /* hlt */
	};
	struct smoke *s = smoke_new(code, sizeof(code), 0);
	struct nub_exit e = {0};

	(void)state;
	expect_out(s, &e, 0x40, 4, RO_WORD);
	run_expect(s, &e, NUB_EXIT_MMIO_WRITE);
	assert_int_equal(e.gpa, RO_GPA);
	assert_int_equal(e.size, 4);
	assert_int_equal(e.data, 0x11223344);
	/* The write went nowhere: the guest and the host still see the old word. */
	expect_out(s, &e, 0x41, 4, RO_WORD);
	uint32_t host_word;
	memcpy(&host_word, s->ro, 4);
	assert_int_equal(host_word, RO_WORD);
	run_expect(s, &e, NUB_EXIT_HLT);
	smoke_free(s);
}

static void test_unmapped_after_unmap(void **state)
{
	static const uint8_t code[] = {
	        0x48, 0xBB, 0,    0, 0x60, 0, 0, 0, 0, 0, /* mov rbx, 0x600000 */
	        0xC6, 0x03, 0x99,                         /* mov byte [rbx], 0x99 */
	        0xE6, 0x50,                               /* out 0x50, al */
	        0xC6, 0x03, 0x98,                         /* mov byte [rbx], 0x98 */
	        0xF4,                                     /* hlt */
	};
	struct smoke *s = smoke_new(code, sizeof(code), 0);
	uint8_t *spare = map_anon(NUB_PAGE_SIZE);
	struct nub_region r = {.slot = 2,
	                       .flags = NUB_MEM_READ | NUB_MEM_WRITE,
	                       .gpa = SPARE_GPA,
	                       .size = NUB_PAGE_SIZE,
	                       .host = spare};
	struct nub_exit e = {0};

	(void)state;
	check(nub_hv_map_region(s->hv, &r, &s->err), s, "map spare");
	run_expect(s, &e, NUB_EXIT_IO_OUT);
	assert_int_equal(spare[0], 0x99);
	check(nub_hv_unmap_region(s->hv, 2, &s->err), s, "unmap spare");
	run_expect(s, &e, NUB_EXIT_MMIO_WRITE);
	assert_int_equal(e.gpa, SPARE_GPA);
	assert_int_equal(e.data, 0x98);
	assert_int_equal(spare[0], 0x99);
	munmap(spare, NUB_PAGE_SIZE);
	smoke_free(s);
}

static void test_backend_errors(void **state)
{
	static const uint8_t code[] = {0xF4};
	struct smoke *s = smoke_new(code, sizeof(code), 0);
	uint8_t *spare = map_anon(2 * NUB_PAGE_SIZE);
	struct nub_region overlap = {.slot = 3,
	                             .flags = NUB_MEM_READ | NUB_MEM_WRITE,
	                             .gpa = RO_GPA - NUB_PAGE_SIZE,
	                             .size = 2 * NUB_PAGE_SIZE,
	                             .host = spare};
	struct nub_sregs sr;
	struct nub_msr bad = {.index = 0xdeadbeef, .value = 1};

	(void)state;
	assert_nub_error(nub_hv_map_region(s->hv, &overlap, &s->err), NUB_EINVAL, &s->err,
	                 "kvm: map_region: region [0x");
	assert_non_null(strstr(s->err.msg, "overlaps slot 1"));
	check(nub_hv_get_sregs(s->hv, &sr, &s->err), s, "get_sregs");
	sr.cr4 &= ~CR4_PAE; /* long mode without PAE: refused by KVM */
	assert_nub_error(nub_hv_set_sregs(s->hv, &sr, &s->err), NUB_EINVAL, &s->err,
	                 "KVM_SET_SREGS");
	assert_nub_error(nub_hv_set_msrs(s->hv, &bad, 1, &s->err), NUB_EINVAL, &s->err,
	                 "kvm: set_msrs: KVM_SET_MSRS: MSR 0xdeadbeef");
	munmap(spare, 2 * NUB_PAGE_SIZE);
	smoke_free(s);
}

static void test_hlt(void **state)
{
	static const uint8_t code[] = {0x90, 0x90, 0xF4}; /* nop; nop; hlt */
	struct smoke *s = smoke_new(code, sizeof(code), 0);
	struct nub_exit e = {0};

	(void)state;
	run_expect(s, &e, NUB_EXIT_HLT);
	smoke_free(s);
}

static void test_triple_fault(void **state)
{
	static const uint8_t code[] = {0x0F, 0x0B}; /* ud2 with an empty IDT */
	struct smoke *s = smoke_new(code, sizeof(code), 0);
	struct nub_exit e = {0};

	(void)state;
	run_expect(s, &e, NUB_EXIT_SHUTDOWN);
	smoke_free(s);
}

/* Fetching code from an address no slot backs cannot be emulated. */
static void test_internal_error(void **state)
{
	static const uint8_t code[] = {
	        0x48, 0xB8, 0, 0, 0x80, 0, 0, 0, 0, 0, /* mov rax, 0x800000 */
	        0xFF, 0xE0,                            /* jmp rax */
	};
	struct smoke *s = smoke_new(code, sizeof(code), 0);
	struct nub_exit e = {0};

	(void)state;
	run_expect(s, &e, NUB_EXIT_INTERNAL);
	printf("INFO: fetch from unmapped GPA: hw_reason %llu, detail '%s'\n",
	       (unsigned long long)e.hw_reason, e.detail);
	assert_non_null(strstr(e.detail, "KVM_EXIT_INTERNAL_ERROR suberror 1 (emulation failure)"));
	assert_int_equal(e.hw_reason, 1);
	smoke_free(s);
}

static void test_sregs_roundtrip(void **state)
{
	static const uint8_t code[] = {0xF4};
	struct smoke *s = smoke_new(code, sizeof(code), 0);
	struct nub_sregs sr;
	struct nub_regs r = {.rax = 1,
	                     .rbx = 2,
	                     .rcx = 3,
	                     .rdx = 4,
	                     .rsi = 5,
	                     .rdi = 6,
	                     .rsp = 7,
	                     .rbp = 8,
	                     .r8 = 9,
	                     .r9 = 10,
	                     .r10 = 11,
	                     .r11 = 12,
	                     .r12 = 13,
	                     .r13 = 14,
	                     .r14 = 15,
	                     .r15 = 16,
	                     .rip = CODE_GPA,
	                     .rflags = 0x202};
	struct nub_regs back;

	(void)state;
	check(nub_hv_get_sregs(s->hv, &sr, &s->err), s, "get_sregs");
	assert_int_equal(sr.cr3, PML4_GPA);
	assert_int_equal(sr.cr0, CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG);
	assert_int_equal(sr.efer & (EFER_LME | EFER_LMA), EFER_LME | EFER_LMA);
	assert_int_equal(sr.cs.selector, 0x8);
	assert_int_equal(sr.cs.l, 1);
	assert_int_equal(sr.ss.selector, 0x10);
	sr.gdt = (struct nub_dtable){.base = 0x5000, .limit = 0x17};
	sr.idt = (struct nub_dtable){.base = 0x6000, .limit = 0xfff};
	sr.cr2 = 0x123000;
	sr.cr8 = 5;
	check(nub_hv_set_sregs(s->hv, &sr, &s->err), s, "set_sregs");
	struct nub_sregs sr2;
	check(nub_hv_get_sregs(s->hv, &sr2, &s->err), s, "get_sregs");
	assert_int_equal(sr2.gdt.base, 0x5000);
	assert_int_equal(sr2.gdt.limit, 0x17);
	assert_int_equal(sr2.idt.base, 0x6000);
	assert_int_equal(sr2.idt.limit, 0xfff);
	assert_int_equal(sr2.cr2, 0x123000);
	assert_int_equal(sr2.cr8, 5);
	assert_int_equal(sr2.apic_base, sr.apic_base);
	check(nub_hv_set_regs(s->hv, &r, &s->err), s, "set_regs");
	check(nub_hv_get_regs(s->hv, &back, &s->err), s, "get_regs");
	assert_memory_equal(&r, &back, sizeof(r));
	smoke_free(s);
}

/* ---- interrupt ---- */

static const uint8_t spin_code[] = {
        0xEB, 0xFE, /* 1000: jmp $ */
        0xE6, 0x10, /* 1002: out 0x10, al */
        0xF4,       /* 1004: hlt */
};

static void set_rip(struct smoke *s, uint64_t rip)
{
	struct nub_regs r;

	check(nub_hv_get_regs(s->hv, &r, &s->err), s, "get_regs");
	r.rip = rip;
	check(nub_hv_set_regs(s->hv, &r, &s->err), s, "set_regs");
}

static void test_interrupt_before_run(void **state)
{
	struct smoke *s = smoke_new(spin_code, sizeof(spin_code), 0);
	struct nub_exit e = {0};

	(void)state;
	set_rip(s, 0x1002);
	assert_int_equal(nub_hv_interrupt(s->hv), 0);
	run_expect(s, &e, NUB_EXIT_CANCELLED);
	/* Consumed by the run it stopped: the next one runs the guest. */
	run_expect(s, &e, NUB_EXIT_IO_OUT);
	set_rip(s, 0x1002);
	assert_int_equal(nub_hv_interrupt(s->hv), 0);
	nub_hv_clear_interrupt(s->hv);
	run_expect(s, &e, NUB_EXIT_IO_OUT);
	smoke_free(s);
}

struct kicker {
	struct nub_hv *hv;
	long delay_ns;
	int rc;
};

static void *kick_thread(void *p)
{
	struct kicker *k = p;
	struct timespec ts = {k->delay_ns / 1000000000L, k->delay_ns % 1000000000L};

	nanosleep(&ts, NULL);
	k->rc = nub_hv_interrupt(k->hv);
	return NULL;
}

static void run_with_kick(struct smoke *s, long delay_ns)
{
	struct kicker k = {s->hv, delay_ns, -1};
	struct nub_exit e = {0};
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, kick_thread, &k), 0);
	/* A lost interrupt leaves the guest spinning forever: let SIGALRM's
	 * default action end the process (exit 142) instead of hanging. */
	alarm(10);
	run_expect(s, &e, NUB_EXIT_CANCELLED);
	alarm(0);
	pthread_join(t, NULL);
	assert_int_equal(k.rc, 0);
}

static void test_interrupt_during_loop(void **state)
{
	struct smoke *s = smoke_new(spin_code, sizeof(spin_code), 0);
	struct nub_exit e = {0};

	(void)state;
	run_with_kick(s, 50 * 1000 * 1000);
	assert_int_equal(get_rip(s), 0x1000); /* still spinning at jmp $ */
	run_with_kick(s, 10 * 1000 * 1000);
	/* No leftover request or kick: the next run reaches the guest's exit. */
	set_rip(s, 0x1002);
	run_expect(s, &e, NUB_EXIT_IO_OUT);
	run_expect(s, &e, NUB_EXIT_HLT);
	smoke_free(s);
}

/* Requests landing anywhere around entry: every run must still stop. */
static void test_interrupt_races_entry(void **state)
{
	struct smoke *s = smoke_new(spin_code, sizeof(spin_code), 0);
	struct nub_exit e = {0};

	(void)state;
	for (long i = 0; i < 200; i++)
		run_with_kick(s, (i * 7919) % 300000);
	set_rip(s, 0x1002);
	run_expect(s, &e, NUB_EXIT_IO_OUT);
	printf("INFO: 200 interrupts racing guest entry all stopped their run\n");
	smoke_free(s);
}

static void test_interrupt_after_run(void **state)
{
	struct smoke *s = smoke_new(spin_code, sizeof(spin_code), 0);
	struct nub_exit e = {0};

	(void)state;
	set_rip(s, 0x1002);
	run_expect(s, &e, NUB_EXIT_IO_OUT);
	/* A request after the run ended and then dropped must not cancel. */
	assert_int_equal(nub_hv_interrupt(s->hv), 0);
	nub_hv_clear_interrupt(s->hv);
	run_expect(s, &e, NUB_EXIT_HLT);
	/* Not dropped: it stops the next run, and only that one. */
	set_rip(s, 0x1002);
	assert_int_equal(nub_hv_interrupt(s->hv), 0);
	run_expect(s, &e, NUB_EXIT_CANCELLED);
	run_expect(s, &e, NUB_EXIT_IO_OUT);
	smoke_free(s);
}

/* ---- FPU, XCR0, MSRs ---- */

/* At CPL3, where every KVM runs SSE natively. */
static void test_fpu_mxcsr(void **state)
{
	static const uint8_t code[] = {
	        0x48, 0x83, 0xEC, 0x08,                   /* sub rsp, 8 */
	        0x0F, 0xAE, 0x1C, 0x24,                   /* stmxcsr [rsp] */
	        0x8B, 0x04, 0x24,                         /* mov eax, [rsp] */
	        0x89, 0x04, 0x25, 0x00, 0x00, 0x80, 0x00, /* mov [0x800000], eax */
	        0x66, 0x0F, 0x7E, 0xC0,                   /* movd eax, xmm0 */
	        0x89, 0x04, 0x25, 0x08, 0x00, 0x80, 0x00, /* mov [0x800008], eax */
	};
	struct smoke *s = smoke_new(code, sizeof(code), 0);
	struct nub_fpu f, back;
	struct nub_exit e = {0};

	(void)state;
	enter_user_mode(s);
	check(nub_hv_get_fpu(s->hv, &f, &s->err), s, "get_fpu");
	f.mxcsr = 0x3F80; /* all exceptions masked, round toward -inf */
	memcpy(f.xmm[0], &(uint32_t){0x600DF00D}, 4);
	check(nub_hv_set_fpu(s->hv, &f, &s->err), s, "set_fpu");
	check(nub_hv_get_fpu(s->hv, &back, &s->err), s, "get_fpu");
	assert_int_equal(back.mxcsr, 0x3F80);
	assert_memory_equal(back.xmm[0], f.xmm[0], 16);
	expect_mmio_write(s, &e, MMIO_GPA, 4, 0x3F80);
	expect_mmio_write(s, &e, MMIO_GPA + 8, 4, 0x600DF00D);
	back.mxcsr = 0xFFFF1F80; /* reserved bits */
	assert_nub_error(nub_hv_set_fpu(s->hv, &back, &s->err), NUB_EINVAL, &s->err,
	                 "mxcsr 0xffff1f80");
	smoke_free(s);
}

/* xgetbv at CPL3. The software KVM runs CPL3 on the host's own XCR0 (it
 * does not switch XCR0 for the guest): there the guest sees the host's. */
static void test_xcr0(void **state)
{
	static const uint8_t code[] = {
	        0x31, 0xC9,                               /* xor ecx, ecx */
	        0x0F, 0x01, 0xD0,                         /* xgetbv */
	        0x89, 0x04, 0x25, 0x10, 0x00, 0x80, 0x00, /* mov [0x800010], eax */
	};
	unsigned a, b, c, d;
	uint64_t xcr0 = 0;

	(void)state;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_XSAVE))
		fail_msg("this CPU has no XSAVE; XCR0 cannot be tested");
	struct smoke *s = smoke_new(code, sizeof(code), CR4_OSXSAVE);
	struct nub_exit e = {0};
	enter_user_mode(s);
	check(nub_hv_get_xcr0(s->hv, &xcr0, &s->err), s, "get_xcr0");
	assert_int_equal(xcr0, 1); /* x87 only after reset */
	check(nub_hv_set_xcr0(s->hv, 3, &s->err), s, "set_xcr0");
	check(nub_hv_get_xcr0(s->hv, &xcr0, &s->err), s, "get_xcr0");
	assert_int_equal(xcr0, 3);
	run_expect(s, &e, NUB_EXIT_MMIO_WRITE);
	assert_int_equal(e.gpa, MMIO_GPA + 0x10);
	if (software_kvm()) {
		uint32_t lo, hi;
		__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
		printf("INFO: software KVM: guest xgetbv 0x%llx, host XCR0 0x%x\n",
		       (unsigned long long)e.data, lo);
		assert_int_equal(e.data & 3, 3);
	} else {
		assert_int_equal(e.data, 3);
	}
	assert_nub_error(nub_hv_set_xcr0(s->hv, 2, &s->err), NUB_EINVAL, &s->err,
	                 "kvm: set_xcr0: KVM_SET_XCRS xcr0 0x2");
	smoke_free(s);
}

static void test_msrs(void **state)
{
	static const uint8_t code[] = {
	        0xB9, 0x02, 0x01, 0x00, 0xC0, /* mov ecx, 0xC0000102 (KERNEL_GS_BASE) */
	        0x0F, 0x32,                   /* rdmsr */
	        0xE7, 0x80,                   /* out 0x80, eax */
	        0x89, 0xD0,                   /* mov eax, edx */
	        0xE7, 0x81,                   /* out 0x81, eax */
	        0xF4,                         /* hlt */
	};
	struct smoke *s = smoke_new(code, sizeof(code), 0);
	struct nub_msr m[2] = {{.index = 0xC0000102, .value = 0x0000123487654000ull},
	                       {.index = 0x174, .value = 0x8}}; /* SYSENTER_CS */
	struct nub_msr back[2] = {{.index = 0xC0000102}, {.index = 0x174}};
	struct nub_exit e = {0};

	(void)state;
	check(nub_hv_set_msrs(s->hv, m, 2, &s->err), s, "set_msrs");
	check(nub_hv_get_msrs(s->hv, back, 2, &s->err), s, "get_msrs");
	assert_int_equal(back[0].value, m[0].value);
	assert_int_equal(back[1].value, m[1].value);
	expect_out(s, &e, 0x80, 4, 0x87654000);
	expect_out(s, &e, 0x81, 4, 0x1234);
	run_expect(s, &e, NUB_EXIT_HLT);
	smoke_free(s);
}

/* ---- exit round trips ---- */

static int read_counter(const char *name, unsigned long long *v)
{
	char path[128];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "/sys/kernel/debug/kvm/%s", name);
	f = fopen(path, "r");
	if (!f)
		return 0;
	ok = fscanf(f, "%llu", v) == 1;
	fclose(f);
	return ok;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_round_trips(void **state)
{
	enum { N = 1000 };
	static const uint8_t code[] = {
	        0xB9, N & 0xff, N >> 8, 0, 0, /* mov ecx, N */
	        0xE6, 0x10,                   /* L: out 0x10, al */
	        0xFF, 0xC9,                   /* dec ecx */
	        0x75, 0xFA,                   /* jnz L */
	        0xF4,                         /* hlt */
	};
	struct smoke *s = smoke_new(code, sizeof(code), 0);
	struct nub_exit e = {0};
	unsigned long long k0 = 0, k1 = 0, io0 = 0, io1 = 0;
	unsigned outs = 0, runs = 0;

	(void)state;
	int have = read_counter("exits", &k0) && read_counter("io_exits", &io0);
	double t0 = now_s();
	for (;;) {
		check(nub_hv_run(s->hv, &e, &s->err), s, "run");
		runs++;
		if (e.reason != NUB_EXIT_IO_OUT)
			break;
		assert_int_equal(e.port, 0x10);
		outs++;
	}
	double dt = now_s() - t0;
	assert_int_equal(e.reason, NUB_EXIT_HLT);
	assert_int_equal(outs, N);
	assert_int_equal(runs, N + 1);
	printf("INFO: %u round trips: %u run_vcpu returns (%.3f per round trip), %.1f us each\n",
	       outs, runs, (double)runs / outs, dt * 1e6 / runs);
	if (have && read_counter("exits", &k1) && read_counter("io_exits", &io1))
		printf("INFO: kernel counters: %llu VM exits, %llu io_exits (%.3f exits per round "
		       "trip)\n",
		       k1 - k0, io1 - io0, (double)(k1 - k0) / outs);
	else
		printf("INFO: kernel exit counters unavailable (no debugfs)\n");
	smoke_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_out_port),
	        cmocka_unit_test(test_in_port),
	        cmocka_unit_test(test_mmio_unmapped),
	        cmocka_unit_test(test_readonly_region),
	        cmocka_unit_test(test_unmapped_after_unmap),
	        cmocka_unit_test(test_backend_errors),
	        cmocka_unit_test(test_hlt),
	        cmocka_unit_test(test_triple_fault),
	        cmocka_unit_test(test_internal_error),
	        cmocka_unit_test(test_sregs_roundtrip),
	        cmocka_unit_test(test_interrupt_before_run),
	        cmocka_unit_test(test_interrupt_during_loop),
	        cmocka_unit_test(test_interrupt_races_entry),
	        cmocka_unit_test(test_interrupt_after_run),
	        cmocka_unit_test(test_fpu_mxcsr),
	        cmocka_unit_test(test_xcr0),
	        cmocka_unit_test(test_msrs),
	        cmocka_unit_test(test_round_trips),
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	return cmocka_run_group_tests_name("kvm_smoke", tests, group_setup, group_teardown);
}
