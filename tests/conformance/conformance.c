/* SPDX-License-Identifier: MIT */
/*
 * The backend conformance suite: what include/nub/backend.h promises,
 * checked with hand-assembled 64-bit guests through core's call layer. Run
 * against any backend: `nub-conformance --backend NAME|PATH` (or
 * $NUB_BACKEND). CTest runs it on the mock; the nested-KVM suites run it on
 * KVM. Failures print core's message as it is: it already starts
 * "<backend>: <slot>: ", so the suite adds no slot name of its own. Only
 * the ABI's promises are asserted; optional slots a backend lacks
 * are checked to fail with NUB_EUNSUPPORTED instead.
 *
 * Guest memory: slot 0 = GPA [0, 2 MiB) read/write/exec (code 0x40000,
 * page tables 0x10000, data 0x50000, stack 0x60000); slot 1 = one page at
 * 0x400000 mapped read-only; 0x800000 is mapped in the page tables but
 * backed by nothing (MMIO).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "vmem.h"
#include <nub/guest_abi.h>

#include "backend/backend_loader.h"
#include "backend/hv.h"
#include "memory/vmem_host.h"
#include "nub_test.h"

#define MEM_SIZE (2u << 20)
/* Everything a CPL3 test touches is at or above 64 KiB: a backend that runs
 * guest code in a process (the mock) cannot map lower on common Linux
 * settings (vm.mmap_min_addr). */
#define CODE      0x40000u
#define TABLES    0x10000u
#define DATA      0x50000u
#define STACK     0x60000u
#define RO_GPA    0x400000u
#define MMIO_GPA  0x800000u
#define EXTRA_GPA 0x600000u
/* test_slots_for_mappings: slots 2..31, one page each, from here. */
#define SLOTS_GPA   0x1000000u
#define SLOTS_FIRST 2u
#define SLOTS_N     30u

static const char *spec;

struct vm {
	struct nub_hv *hv;
	uint8_t *mem, *ro, *extra;
	struct nub_error err;
};

static void map_or_fail(struct vm *v, uint32_t slot, nub_gpa_t gpa, uint64_t size, void *host,
                        uint32_t flags)
{
	struct nub_region r = {
	        .slot = slot, .flags = flags, .gpa = gpa, .size = size, .host = host};

	if (nub_hv_map_region(v->hv, &r, &v->err))
		fail_msg("map slot %u: %s", slot, v->err.msg);
}

static void build_tables(struct vm *v)
{
	struct nub_vmem_buf buf;
	struct nub_vmem_ops ops;
	const struct nub_vmem_mapping maps[] = {
	        {0, 0, MEM_SIZE, NUB_VMEM_BASIC, NUB_VMEM_W | NUB_VMEM_X | NUB_VMEM_USER},
	        {RO_GPA, RO_GPA, NUB_PAGE_SIZE, NUB_VMEM_BASIC, NUB_VMEM_W | NUB_VMEM_USER},
	        {MMIO_GPA, MMIO_GPA, NUB_PAGE_SIZE, NUB_VMEM_BASIC, NUB_VMEM_W | NUB_VMEM_USER},
	        {EXTRA_GPA, EXTRA_GPA, NUB_PAGE_SIZE, NUB_VMEM_BASIC, NUB_VMEM_W | NUB_VMEM_USER},
	        /* Twice the slots' pages: a slot may be mapped again higher up. */
	        {SLOTS_GPA, SLOTS_GPA, 2 * SLOTS_N * NUB_PAGE_SIZE, NUB_VMEM_BASIC,
	         NUB_VMEM_W | NUB_VMEM_USER},
	};

	assert_int_equal(nub_vmem_buf_init(&buf, TABLES, DATA - TABLES, &v->err), 0);
	nub_vmem_buf_ops(&buf, &ops);
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
		assert_int_equal(nub_vmem_map(&ops, &maps[i]), 0);
	memcpy(v->mem + TABLES, nub_vmem_buf_bytes(&buf), nub_vmem_buf_used(&buf));
	/* At the backend's window (get_gpa_base), as core's tables are. */
	nub_vmem_tables_rebase(v->mem + TABLES, nub_vmem_buf_used(&buf), nub_hv_gpa_base(v->hv));
	nub_vmem_buf_free(&buf);
}

static void flat(struct nub_segment *s, uint16_t sel, uint8_t type, uint8_t l)
{
	*s = (struct nub_segment){.limit = 0xffffffff,
	                          .selector = sel,
	                          .type = type,
	                          .present = 1,
	                          .s = 1,
	                          .l = l,
	                          .db = !l,
	                          .g = 1};
}

static void set_long_mode(struct vm *v)
{
	struct nub_sregs s;

	memset(&s, 0, sizeof(s));
	flat(&s.cs, 0x8, 0xb, 1);
	flat(&s.ds, 0x10, 0x3, 0);
	s.es = s.ss = s.fs = s.gs = s.ds;
	s.tr = (struct nub_segment){.limit = 0x67, .selector = 0x18, .type = 0xb, .present = 1};
	s.ldt = (struct nub_segment){.type = 2, .unusable = 1};
	s.cr0 = 0x80050033;         /* PG WP NE ET MP PE */
	s.cr4 = 0x620 | (1u << 18); /* PAE OSFXSR OSXMMEXCPT OSXSAVE */
	s.efer = 0xd00;             /* NXE LMA LME */
	s.cr3 = TABLES;
	s.apic_base = 0xfee00900;
	if (nub_hv_set_sregs(v->hv, &s, &v->err))
		fail_msg("%s", v->err.msg);
}

/* CPL3, as nub guests run (guest ABI 2): DPL-3 code and data segments. The
 * tables map every page user, and nothing enables SMEP/SMAP, so the same
 * code runs at either level. */
static void set_user_mode(struct vm *v)
{
	struct nub_sregs s;

	if (nub_hv_get_sregs(v->hv, &s, &v->err))
		fail_msg("%s", v->err.msg);
	s.cs.selector = 0x2b;
	s.cs.dpl = 3;
	s.ss.selector = s.ds.selector = s.es.selector = 0x23;
	s.ss.dpl = s.ds.dpl = s.es.dpl = 3;
	s.fs = s.gs = s.ds;
	if (nub_hv_set_sregs(v->hv, &s, &v->err))
		fail_msg("CPL3 segments: %s", v->err.msg);
}

/* Backends that run CPL3 code on the host CPU without switching XCR0 say
 * so (NUB_CAP_HOST_XSTATE: the software KVM, the mock's process vCPU):
 * there xgetbv shows the host's XCR0, a superset of what set_xcr0 asked
 * for. What the backend reports decides, never its name or path. */
static int host_xcr0_visible(const struct vm *v)
{
	return (nub_hv_caps(v->hv) & NUB_CAP_HOST_XSTATE) != 0;
}

static int setup(void **state)
{
	struct vm *v = calloc(1, sizeof(*v));
	struct nub_backend *b;

	if (nub_backend_load(spec, &b, &v->err))
		fail_msg("load %s: %s", spec, v->err.msg);
	if (nub_hv_create(b, NUB_GPA_LIMIT, NULL, &v->hv, &v->err))
		fail_msg("%s", v->err.msg);
	nub_backend_unref(b);
	/* Shared memory, as core gives every backend that asks for it
	 * (NUB_CAP_SHARED_MEMORY: the mock maps it again in its vCPU process). */
	v->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	v->ro = mmap(NULL, NUB_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
	             0);
	v->extra = mmap(NULL, NUB_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
	                0);
	assert_true(v->mem != MAP_FAILED && v->ro != MAP_FAILED && v->extra != MAP_FAILED);
	memset(v->ro, 0x5a, NUB_PAGE_SIZE);
	build_tables(v);
	map_or_fail(v, 0, 0, MEM_SIZE, v->mem, NUB_MEM_READ | NUB_MEM_WRITE | NUB_MEM_EXEC);
	map_or_fail(v, 1, RO_GPA, NUB_PAGE_SIZE, v->ro, NUB_MEM_READ);
	set_long_mode(v);
	*state = v;
	return 0;
}

static int teardown(void **state)
{
	struct vm *v = *state;

	nub_hv_destroy(v->hv);
	munmap(v->mem, MEM_SIZE);
	munmap(v->ro, NUB_PAGE_SIZE);
	munmap(v->extra, NUB_PAGE_SIZE);
	free(v);
	return 0;
}

/* Load code at CODE and point RIP at it. */
static void load(struct vm *v, const uint8_t *code, size_t len)
{
	struct nub_regs r = {.rip = CODE, .rsp = STACK, .rflags = 2};

	memcpy(v->mem + CODE, code, len);
	if (nub_hv_set_regs(v->hv, &r, &v->err))
		fail_msg("%s", v->err.msg);
}

static struct nub_exit run(struct vm *v, struct nub_exit *in)
{
	struct nub_exit ex;

	if (in)
		ex = *in;
	else
		memset(&ex, 0, sizeof(ex));
	if (nub_hv_run(v->hv, &ex, &v->err))
		fail_msg("%s", v->err.msg);
	return ex;
}

static void expect_out(const struct nub_exit *ex, uint16_t port, uint32_t size, uint64_t data)
{
	if (ex->reason != NUB_EXIT_IO_OUT || ex->port != port || ex->size != size ||
	    ex->data != data)
		fail_msg("exit %u port 0x%x size %u data 0x%llx; want out 0x%x/%u/0x%llx (%s)",
		         ex->reason, ex->port, ex->size, (unsigned long long)ex->data, port, size,
		         (unsigned long long)data, ex->detail);
}

#define MOV_EDX(p) 0xba, (p)&0xff, (p) >> 8, 0, 0
#define MOV_RBX(a)                                                                                 \
	0x48, 0xbb, (a)&0xff, ((a) >> 8) & 0xff, ((a) >> 16) & 0xff, (a) >> 24, 0, 0, 0, 0

static void test_io_out_sizes(void **state)
{
	struct vm *v = *state;
	const uint8_t code[] = {
	        MOV_EDX(0x10), 0xb8, 0x78, 0x56, 0x34, 0x12, /* mov eax, 0x12345678 */
	        0xef,                                        /* out dx, eax */
	        0x66,          0xef,                         /* out dx, ax */
	        0xee,                                        /* out dx, al */
	        0xe6,          0x20,                         /* out 0x20, al */
	        0xf4,                                        /* hlt */
	};
	struct nub_regs r;
	struct nub_exit ex;

	load(v, code, sizeof(code));
	ex = run(v, NULL);
	expect_out(&ex, 0x10, 4, 0x12345678);
	assert_int_equal(nub_hv_get_regs(v->hv, &r, &v->err), 0);
	assert_int_equal(r.rip, CODE + 11); /* already past the out */
	ex = run(v, NULL);
	expect_out(&ex, 0x10, 2, 0x5678);
	ex = run(v, NULL);
	expect_out(&ex, 0x10, 1, 0x78);
	ex = run(v, NULL);
	expect_out(&ex, 0x20, 1, 0x78);
	ex = run(v, NULL);
	assert_int_equal(ex.reason, NUB_EXIT_HLT);
}

static void test_io_in(void **state)
{
	struct vm *v = *state;
	const uint8_t code[] = {
	        MOV_EDX(0x30), 0xed, /* in eax, dx */
	        0xef,                /* out dx, eax */
	        0xec,                /* in al, dx */
	        0xef,          0xf4,
	};
	struct nub_exit ex;

	load(v, code, sizeof(code));
	ex = run(v, NULL);
	assert_int_equal(ex.reason, NUB_EXIT_IO_IN);
	assert_int_equal(ex.port, 0x30);
	assert_int_equal(ex.size, 4);
	ex.data = 0xcafe1234;
	ex = run(v, &ex);
	expect_out(&ex, 0x30, 4, 0xcafe1234);
	ex = run(v, NULL);
	assert_int_equal(ex.reason, NUB_EXIT_IO_IN);
	assert_int_equal(ex.size, 1);
	ex.data = 0xab;
	ex = run(v, &ex);
	expect_out(&ex, 0x30, 4, 0xcafe12ab); /* an 8-bit in keeps the rest of EAX */
}

static void test_memory_and_readonly(void **state)
{
	struct vm *v = *state;
	const uint8_t code[] = {
	        MOV_RBX(DATA),
	        0xb8,
	        0x44,
	        0x33,
	        0x22,
	        0x11, /* mov eax, 0x11223344 */
	        0x89,
	        0x03, /* mov [rbx], eax */
	        MOV_RBX(RO_GPA),
	        0x89,
	        0x03, /* write the read-only page */
	        0xf4,
	};
	struct nub_exit ex;
	uint32_t v32;

	load(v, code, sizeof(code));
	ex = run(v, NULL);
	assert_int_equal(ex.reason, NUB_EXIT_MMIO_WRITE);
	assert_int_equal(ex.gpa, RO_GPA);
	assert_int_equal(ex.size, 4);
	assert_int_equal(ex.data, 0x11223344);
	memcpy(&v32, v->mem + DATA, 4);
	assert_int_equal(v32, 0x11223344); /* ordinary memory written */
	assert_int_equal(v->ro[0], 0x5a);  /* read-only memory unchanged */
	assert_int_equal(v->ro[3], 0x5a);
}

static void test_mmio_read(void **state)
{
	struct vm *v = *state;
	const uint8_t code[] = {
	        MOV_EDX(0x40), MOV_RBX(MMIO_GPA),
	        0x8b,          0x03, /* mov eax, [rbx] */
	        0xef,          0xf4,
	};
	struct nub_exit ex;

	load(v, code, sizeof(code));
	ex = run(v, NULL);
	assert_int_equal(ex.reason, NUB_EXIT_MMIO_READ);
	assert_int_equal(ex.gpa, MMIO_GPA);
	assert_int_equal(ex.size, 4);
	ex.data = 0x55667788;
	ex = run(v, &ex);
	expect_out(&ex, 0x40, 4, 0x55667788);
}

static void test_map_unmap(void **state)
{
	struct vm *v = *state;
	const uint8_t code[] = {MOV_RBX(EXTRA_GPA), 0xb8, 7, 0, 0, 0, 0x89, 0x03, 0xf4};
	struct nub_region overlap = {.slot = 3,
	                             .flags = NUB_MEM_READ,
	                             .gpa = CODE,
	                             .size = NUB_PAGE_SIZE,
	                             .host = v->extra};
	struct nub_exit ex;

	assert_true(nub_hv_map_region(v->hv, &overlap, &v->err) < 0); /* overlaps slot 0 */
	map_or_fail(v, 2, EXTRA_GPA, NUB_PAGE_SIZE, v->extra, NUB_MEM_READ | NUB_MEM_WRITE);
	load(v, code, sizeof(code));
	ex = run(v, NULL);
	assert_int_equal(ex.reason, NUB_EXIT_HLT);
	assert_int_equal(v->extra[0], 7);
	assert_int_equal(nub_hv_unmap_region(v->hv, 2, &v->err), 0);
	load(v, code, sizeof(code));
	ex = run(v, NULL);
	assert_int_equal(ex.reason, NUB_EXIT_MMIO_WRITE);
	assert_int_equal(ex.gpa, EXTRA_GPA);
	map_or_fail(v, 2, EXTRA_GPA, NUB_PAGE_SIZE, v->extra, NUB_MEM_READ | NUB_MEM_WRITE);
}

/* Read the u32 at gpa through an OUT to port 0x40. */
static struct nub_exit read_u32(struct vm *v, uint32_t gpa)
{
	const uint8_t code[] = {MOV_RBX(gpa), 0x8b, 0x03, MOV_EDX(0x40), 0xef, 0xf4};

	load(v, code, sizeof(code));
	return run(v, NULL);
}

/* What core's mappings of host memory need (nub_sandbox_map_region): every
 * slot from 2 to 31 mapped at once beside the first two, after the vCPU
 * has run; each seen by the guest, with the host's stores between runs;
 * one unmapped in the middle gone (an MMIO exit) while the others stay;
 * that slot mapped again at another address. */
static void test_slots_for_mappings(void **state)
{
	struct vm *v = *state;
	uint8_t *pages = mmap(NULL, SLOTS_N * NUB_PAGE_SIZE, PROT_READ | PROT_WRITE,
	                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	const uint32_t mid = SLOTS_FIRST + SLOTS_N / 2;
	struct nub_exit ex;

	assert_true(pages != MAP_FAILED);
	ex = read_u32(v, DATA); /* the vCPU has run before the slots come */
	assert_int_equal(ex.reason, NUB_EXIT_IO_OUT);
	for (uint32_t i = 0; i < SLOTS_N; i++) {
		uint32_t tag = 0x5100 + i;
		memcpy(pages + i * NUB_PAGE_SIZE, &tag, 4);
		map_or_fail(v, SLOTS_FIRST + i, SLOTS_GPA + i * NUB_PAGE_SIZE, NUB_PAGE_SIZE,
		            pages + i * NUB_PAGE_SIZE, NUB_MEM_READ | NUB_MEM_WRITE);
	}
	for (uint32_t i = 0; i < SLOTS_N; i++) {
		ex = read_u32(v, SLOTS_GPA + i * NUB_PAGE_SIZE);
		expect_out(&ex, 0x40, 4, 0x5100 + i);
	}
	memcpy(pages, "\x77\x66\x55\x44", 4); /* the host's store, between runs */
	ex = read_u32(v, SLOTS_GPA);
	expect_out(&ex, 0x40, 4, 0x44556677);
	assert_int_equal(nub_hv_unmap_region(v->hv, mid, &v->err), 0);
	ex = read_u32(v, SLOTS_GPA + (mid - SLOTS_FIRST) * NUB_PAGE_SIZE);
	assert_int_equal(ex.reason, NUB_EXIT_MMIO_READ);
	ex = read_u32(v, SLOTS_GPA + (mid - SLOTS_FIRST + 1) * NUB_PAGE_SIZE);
	expect_out(&ex, 0x40, 4, 0x5100 + mid - SLOTS_FIRST + 1);
	map_or_fail(v, mid, SLOTS_GPA + (SLOTS_N + 3) * NUB_PAGE_SIZE, NUB_PAGE_SIZE,
	            pages + (mid - SLOTS_FIRST) * NUB_PAGE_SIZE, NUB_MEM_READ);
	ex = read_u32(v, SLOTS_GPA + (SLOTS_N + 3) * NUB_PAGE_SIZE);
	expect_out(&ex, 0x40, 4, 0x5100 + mid - SLOTS_FIRST);
	for (uint32_t i = 0; i < SLOTS_N; i++)
		assert_int_equal(nub_hv_unmap_region(v->hv, SLOTS_FIRST + i, &v->err), 0);
	munmap(pages, SLOTS_N * NUB_PAGE_SIZE);
}

static void test_halt_and_triple_fault(void **state)
{
	struct vm *v = *state;
	const uint8_t halt[] = {0x90, 0x90, 0xf4};
	const uint8_t ud2[] = {0x0f, 0x0b};
	struct nub_exit ex;

	load(v, halt, sizeof(halt));
	ex = run(v, NULL);
	assert_int_equal(ex.reason, NUB_EXIT_HLT);
	load(v, ud2, sizeof(ud2));
	ex = run(v, NULL); /* #UD with no IDT: triple fault */
	assert_int_equal(ex.reason, NUB_EXIT_SHUTDOWN);
}

struct kicker {
	struct nub_hv *hv;
	int delay_ms;
};

static void *kick(void *arg)
{
	struct kicker *k = arg;
	struct timespec ts = {0, (long)k->delay_ms * 1000000L};

	nanosleep(&ts, NULL);
	nub_hv_interrupt(k->hv);
	return NULL;
}

static void test_interrupt(void **state)
{
	struct vm *v = *state;
	const uint8_t halt[] = {0xf4};
	const uint8_t spin[] = {0xeb, 0xfe}; /* jmp $ */
	struct nub_exit ex;

	/* Before: the next run is cancelled, and the request is consumed. */
	load(v, halt, sizeof(halt));
	assert_int_equal(nub_hv_interrupt(v->hv), 0);
	ex = run(v, NULL);
	assert_int_equal(ex.reason, NUB_EXIT_CANCELLED);
	ex = run(v, NULL);
	assert_int_equal(ex.reason, NUB_EXIT_HLT);
	/* During: from another thread, never lost. */
	for (int i = 0; i < 20; i++) {
		struct kicker k = {v->hv, i % 3};
		pthread_t t;
		load(v, spin, sizeof(spin));
		assert_int_equal(pthread_create(&t, NULL, kick, &k), 0);
		ex = run(v, NULL);
		pthread_join(t, NULL);
		assert_int_equal(ex.reason, NUB_EXIT_CANCELLED);
	}
	/* After, then cleared: no spurious stop. */
	load(v, halt, sizeof(halt));
	assert_int_equal(nub_hv_interrupt(v->hv), 0);
	nub_hv_clear_interrupt(v->hv);
	ex = run(v, NULL);
	assert_int_equal(ex.reason, NUB_EXIT_HLT);
}

static void expect_mmio_write(const struct nub_exit *ex, nub_gpa_t gpa, uint32_t size,
                              uint64_t data)
{
	if (ex->reason != NUB_EXIT_MMIO_WRITE || ex->gpa != gpa || ex->size != size ||
	    ex->data != data)
		fail_msg("exit %u gpa 0x%llx size %u data 0x%llx; want MMIO write 0x%llx/%u/0x%llx "
		         "(%s)",
		         ex->reason, (unsigned long long)ex->gpa, ex->size,
		         (unsigned long long)ex->data, (unsigned long long)gpa, size,
		         (unsigned long long)data, ex->detail);
}

/* The guest's only exit (guest ABI 2): an 8-byte store from CPL3 to a GPA
 * no region backs is one MMIO-write exit with that address and value, and
 * the guest resumes after it with nothing to complete. */
static void test_doorbell_from_user_mode(void **state)
{
	struct vm *v = *state;
	const uint8_t code[] = {
	        MOV_RBX(MMIO_GPA + 0x28),
	        0x48,
	        0xb8,
	        0x88,
	        0x77,
	        0x66,
	        0x55,
	        0x44,
	        0x33,
	        0x22,
	        0x11, /* mov rax, imm64 */
	        0x48,
	        0x89,
	        0x03, /* mov [rbx], rax */
	        MOV_RBX(MMIO_GPA + 0x8),
	        0x48,
	        0x89,
	        0x03, /* mov [rbx], rax */
	};
	struct nub_exit ex;

	set_user_mode(v);
	load(v, code, sizeof(code));
	ex = run(v, NULL);
	expect_mmio_write(&ex, MMIO_GPA + 0x28, 8, 0x1122334455667788ull);
	ex = run(v, NULL);
	expect_mmio_write(&ex, MMIO_GPA + 0x8, 8, 0x1122334455667788ull);
}

/* `syscall` from CPL3 with EFER.SCE set goes to LSTAR with RCX = the next
 * instruction, R11 = RFLAGS, RFLAGS masked by SFMASK -- at CPL3 when the
 * backend says NUB_CAP_SYSCALL_AT_CPL3, at CPL0 (STAR's CS) when it does
 * not: core points LSTAR at guest code on the strength of that bit, so it
 * must be true. The code at LSTAR stores RCX, R11, its RFLAGS and CS (the
 * pages are user pages and nothing enables SMEP: it runs at either level). */
static void test_syscall_goes_where_the_caps_say(void **state)
{
	struct vm *v = *state;
	enum { ENTRY = CODE + 0x200 };
	const uint8_t caller[] = {
	        0xfd,       /* std: DF set, SFMASK clears it */
	        0x0f, 0x05, /* syscall */
	        0xf4,       /* hlt: never reached */
	};
	const uint8_t entry[] = {
	        MOV_RBX(MMIO_GPA + 0x10),
	        0x48,
	        0x89,
	        0x0b, /* mov [rbx], rcx */
	        0x4c,
	        0x89,
	        0x1b, /* mov [rbx], r11 */
	        0x9c, /* pushfq */
	        0x58, /* pop rax */
	        0x48,
	        0x89,
	        0x03, /* mov [rbx], rax */
	        0x8c,
	        0xc8, /* mov eax, cs */
	        0x48,
	        0x89,
	        0x03, /* mov [rbx], rax */
	};
	const struct nub_msr msrs[] = {
	        {.index = 0xc0000081, .value = 0x001b000800000000ull}, /* STAR: CPL0 CS 0x08 */
	        {.index = 0xc0000082, .value = ENTRY},                 /* LSTAR */
	        {.index = 0xc0000084, .value = 0x400},                 /* SFMASK: DF */
	};
	const int cpl3 = (nub_hv_caps(v->hv) & NUB_CAP_SYSCALL_AT_CPL3) != 0;
	struct nub_sregs s;
	struct nub_exit ex;

	if (!nub_hv_has(v->hv, NUB_HV_SLOT_SET_MSRS)) {
		assert_int_equal(nub_hv_set_msrs(v->hv, msrs, 3, &v->err), NUB_EUNSUPPORTED);
		skip();
	}
	set_user_mode(v);
	if (nub_hv_get_sregs(v->hv, &s, &v->err))
		fail_msg("%s", v->err.msg);
	s.efer |= 1; /* SCE */
	if (nub_hv_set_sregs(v->hv, &s, &v->err) || nub_hv_set_msrs(v->hv, msrs, 3, &v->err))
		fail_msg("%s", v->err.msg);
	memcpy(v->mem + ENTRY, entry, sizeof(entry));
	load(v, caller, sizeof(caller));
	ex = run(v, NULL);
	expect_mmio_write(&ex, MMIO_GPA + 0x10, 8, CODE + 3); /* RCX */
	ex = run(v, NULL);
	if (ex.reason != NUB_EXIT_MMIO_WRITE || !(ex.data & 0x400))
		fail_msg("R11 0x%llx: want RFLAGS with DF (exit %u)", (unsigned long long)ex.data,
		         ex.reason);
	ex = run(v, NULL);
	if (ex.reason != NUB_EXIT_MMIO_WRITE || (ex.data & 0x400))
		fail_msg("RFLAGS at LSTAR 0x%llx: want DF cleared by SFMASK (exit %u)",
		         (unsigned long long)ex.data, ex.reason);
	ex = run(v, NULL);
	/* At CPL3 the selector may be the host's own user CS (a backend that
	 * runs CPL3 code on the host CPU): only its RPL is the guest's. */
	uint64_t cs = ex.data & 0xffff;
	if (ex.reason != NUB_EXIT_MMIO_WRITE || (cpl3 ? (cs & 3) != 3 : cs != 0x08))
		fail_msg("CS at LSTAR 0x%llx: want %s (NUB_CAP_SYSCALL_AT_CPL3 %s)",
		         (unsigned long long)cs, cpl3 ? "RPL 3" : "0x08 (STAR)",
		         cpl3 ? "claimed" : "not claimed");
}

/* The guest observes MXCSR and XCR0 as the host set them, and a reset, at
 * CPL3 (where every KVM runs SSE and XSAVE instructions natively). */
static void test_state_observed(void **state)
{
	struct vm *v = *state;
	const uint8_t code[] = {
	        MOV_RBX(DATA),
	        0x0f,
	        0xae,
	        0x1b, /* stmxcsr [rbx] */
	        0x8b,
	        0x03, /* mov eax, [rbx] */
	        MOV_RBX(MMIO_GPA),
	        0x89,
	        0x03, /* mov [rbx], eax */
	        0xb9,
	        0,
	        0,
	        0,
	        0, /* mov ecx, 0 */
	        0x0f,
	        0x01,
	        0xd0, /* xgetbv */
	        MOV_RBX(MMIO_GPA + 8),
	        0x89,
	        0x03, /* mov [rbx], eax */
	};
	struct nub_fpu fpu;
	struct nub_exit ex;
	int has_fpu = nub_hv_has(v->hv, NUB_HV_SLOT_SET_FPU);
	int has_xcr0 = nub_hv_has(v->hv, NUB_HV_SLOT_SET_XCR0);

	memset(&fpu, 0, sizeof(fpu));
	fpu.fcw = 0x37f;
	fpu.mxcsr = 0x1fa0;
	if (!has_fpu)
		assert_int_equal(nub_hv_set_fpu(v->hv, &fpu, &v->err), NUB_EUNSUPPORTED);
	if (!has_xcr0)
		assert_int_equal(nub_hv_set_xcr0(v->hv, 3, &v->err), NUB_EUNSUPPORTED);
	if (!has_fpu || !has_xcr0)
		skip();
	set_user_mode(v);
	assert_int_equal(nub_hv_set_fpu(v->hv, &fpu, &v->err), 0);
	assert_int_equal(nub_hv_set_xcr0(v->hv, 3, &v->err), 0);
	for (int round = 0; round < 2; round++) {
		load(v, code, sizeof(code));
		ex = run(v, NULL);
		expect_mmio_write(&ex, MMIO_GPA, 4, fpu.mxcsr);
		ex = run(v, NULL);
		if (host_xcr0_visible(v)) /* the host's XCR0, a superset of x87|SSE */
			expect_mmio_write(&ex, MMIO_GPA + 8, 4, ex.data | 3);
		else
			expect_mmio_write(&ex, MMIO_GPA + 8, 4, 3);
		fpu.mxcsr = 0x1f80; /* the reset value, set again */
		assert_int_equal(nub_hv_set_fpu(v->hv, &fpu, &v->err), 0);
	}
}

/* ---- every state slot reads back what was set ---- */

#define MSR_SFMASK         0xc0000084u
#define MSR_KERNEL_GS_BASE 0xc0000102u

static void expect_u64(const char *what, uint64_t got, uint64_t want)
{
	if (got != want)
		fail_msg("%s: read back 0x%llx, set 0x%llx", what, (unsigned long long)got,
		         (unsigned long long)want);
}

static void expect_segment(const char *name, const struct nub_segment *got,
                           const struct nub_segment *want)
{
	if (got->base != want->base || got->limit != want->limit ||
	    got->selector != want->selector || got->type != want->type ||
	    got->present != want->present || got->dpl != want->dpl || got->db != want->db ||
	    got->s != want->s || got->l != want->l || got->g != want->g || got->avl != want->avl ||
	    got->unusable != want->unusable)
		fail_msg(
		        "sregs.%s: read back base 0x%llx limit 0x%x sel 0x%x type %u p %u dpl %u "
		        "db %u s %u l %u g %u avl %u unusable %u; set 0x%llx 0x%x 0x%x %u %u %u %u "
		        "%u %u %u %u %u",
		        name, (unsigned long long)got->base, got->limit, got->selector, got->type,
		        got->present, got->dpl, got->db, got->s, got->l, got->g, got->avl,
		        got->unusable, (unsigned long long)want->base, want->limit, want->selector,
		        want->type, want->present, want->dpl, want->db, want->s, want->l, want->g,
		        want->avl, want->unusable);
}

static void round_trip_regs(struct vm *v)
{
	struct nub_regs set, got;
	uint64_t *w = &set.rax;

	/* Distinct values in every GPR; a valid RFLAGS (bit 1 set, CF PF ZF SF). */
	for (unsigned i = 0; i < sizeof(set) / sizeof(uint64_t); i++)
		w[i] = 0x1111111111111111ull * (i % 15 + 1) + i;
	set.rip = CODE + 0x123;
	set.rflags = 0x2 | 0x1 | 0x4 | 0x40 | 0x80;
	assert_int_equal(nub_hv_set_regs(v->hv, &set, &v->err), 0);
	memset(&got, 0xcc, sizeof(got));
	assert_int_equal(nub_hv_get_regs(v->hv, &got, &v->err), 0);
	for (unsigned i = 0; i < sizeof(set) / sizeof(uint64_t); i++) {
		char what[32];
		snprintf(what, sizeof(what), "regs word %u", i);
		expect_u64(what, (&got.rax)[i], w[i]);
	}
}

/* Every field of a usable segment (present, accessed types: SVM sets the
 * accessed bit of data segments itself), GDTR/IDTR, CR0/CR2/CR3/CR4, EFER
 * and APIC_BASE (core sets all of these). Of the unusable LDT only
 * `unusable`: VMX keeps no descriptor-cache contents for an unusable
 * segment (its other fields read back as zero) and SVM derives `unusable`
 * from `present`. CR8 is not compared: where the hypervisor models a local
 * APIC it is the TPR, and core never sets it. */
static void round_trip_sregs(struct vm *v)
{
	struct nub_sregs set, got;

	assert_int_equal(nub_hv_get_sregs(v->hv, &set, &v->err), 0);
	set.fs.base = 0x00007f0012345000ull;
	set.gs.base = 0xffff800000678000ull;
	set.ds.limit = 0xfffff;
	set.ds.g = 0;
	set.es.selector = 0x10;
	set.tr.base = 0x2f000;
	set.gdt = (struct nub_dtable){.base = 0x2e000, .limit = 0x3f};
	set.idt = (struct nub_dtable){.base = 0x2d000, .limit = 0xfff};
	set.cr2 = 0x0000123456789000ull;
	set.cr3 = TABLES;
	if (nub_hv_set_sregs(v->hv, &set, &v->err))
		fail_msg("%s", v->err.msg);
	memset(&got, 0xcc, sizeof(got));
	assert_int_equal(nub_hv_get_sregs(v->hv, &got, &v->err), 0);
	expect_segment("cs", &got.cs, &set.cs);
	expect_segment("ds", &got.ds, &set.ds);
	expect_segment("es", &got.es, &set.es);
	expect_segment("fs", &got.fs, &set.fs);
	expect_segment("gs", &got.gs, &set.gs);
	expect_segment("ss", &got.ss, &set.ss);
	expect_segment("tr", &got.tr, &set.tr);
	expect_u64("sregs.gdt.base", got.gdt.base, set.gdt.base);
	expect_u64("sregs.gdt.limit", got.gdt.limit, set.gdt.limit);
	expect_u64("sregs.idt.base", got.idt.base, set.idt.base);
	expect_u64("sregs.idt.limit", got.idt.limit, set.idt.limit);
	expect_u64("sregs.cr0", got.cr0, set.cr0);
	expect_u64("sregs.cr2", got.cr2, set.cr2);
	expect_u64("sregs.cr3", got.cr3, set.cr3);
	expect_u64("sregs.cr4", got.cr4, set.cr4);
	expect_u64("sregs.efer", got.efer, set.efer);
	expect_u64("sregs.apic_base", got.apic_base, set.apic_base);
	expect_u64("sregs.ldt.unusable", got.ldt.unusable, set.ldt.unusable);
	/* Again with only segments changed (what a restore writes: a backend
	 * may defer that to its next run), read back before any run. */
	set.fs.base = 0x00007f0000abc000ull;
	set.es.selector = 0;
	set.cr2 = 0;
	if (nub_hv_set_sregs(v->hv, &set, &v->err))
		fail_msg("%s", v->err.msg);
	memset(&got, 0xcc, sizeof(got));
	assert_int_equal(nub_hv_get_sregs(v->hv, &got, &v->err), 0);
	expect_segment("fs (segments only)", &got.fs, &set.fs);
	expect_segment("es (segments only)", &got.es, &set.es);
	expect_u64("sregs.cr2 (segments only)", got.cr2, 0);
	expect_u64("sregs.idt.base (segments only)", got.idt.base, set.idt.base);
}

static void round_trip_fpu(struct vm *v)
{
	struct nub_fpu set, got;
	int has_set = nub_hv_has(v->hv, NUB_HV_SLOT_SET_FPU);
	int has_get = nub_hv_has(v->hv, NUB_HV_SLOT_GET_FPU);

	memset(&set, 0, sizeof(set));
	set.fcw = 0x027f;   /* double precision */
	set.mxcsr = 0x7fc0; /* all masked, DAZ, flush-to-zero, round toward zero */
	set.ftwx = 0x01;    /* ST0 valid */
	for (unsigned i = 0; i < 10; i++)
		set.fpr[0][i] = (uint8_t)(0x30 + i);
	for (unsigned r = 0; r < 16; r++)
		for (unsigned i = 0; i < 16; i++)
			set.xmm[r][i] = (uint8_t)(r << 4 | i);
	if (!has_set)
		assert_int_equal(nub_hv_set_fpu(v->hv, &set, &v->err), NUB_EUNSUPPORTED);
	if (!has_get)
		assert_int_equal(nub_hv_get_fpu(v->hv, &got, &v->err), NUB_EUNSUPPORTED);
	if (!has_set || !has_get)
		return;
	if (nub_hv_set_fpu(v->hv, &set, &v->err))
		fail_msg("%s", v->err.msg);
	memset(&got, 0xcc, sizeof(got));
	assert_int_equal(nub_hv_get_fpu(v->hv, &got, &v->err), 0);
	expect_u64("fpu.mxcsr", got.mxcsr, set.mxcsr);
	expect_u64("fpu.fcw", got.fcw, set.fcw);
	expect_u64("fpu.fsw", got.fsw, set.fsw);
	expect_u64("fpu.ftwx", got.ftwx, set.ftwx);
	if (memcmp(got.fpr[0], set.fpr[0], 10))
		fail_msg("fpu.fpr[0] (ST0) not read back as set");
	for (unsigned r = 0; r < 16; r++)
		if (memcmp(got.xmm[r], set.xmm[r], 16))
			fail_msg("fpu.xmm[%u] not read back as set", r);
}

static void round_trip_xcr0(struct vm *v)
{
	int has_set = nub_hv_has(v->hv, NUB_HV_SLOT_SET_XCR0);
	int has_get = nub_hv_has(v->hv, NUB_HV_SLOT_GET_XCR0);
	uint64_t got = 0;

	if (!has_set)
		assert_int_equal(nub_hv_set_xcr0(v->hv, 3, &v->err), NUB_EUNSUPPORTED);
	if (!has_get)
		assert_int_equal(nub_hv_get_xcr0(v->hv, &got, &v->err), NUB_EUNSUPPORTED);
	if (!has_set || !has_get)
		return;
	/* x87|SSE: valid on every x86-64 CPU, and not the reset value (x87). */
	if (nub_hv_set_xcr0(v->hv, 3, &v->err))
		fail_msg("%s", v->err.msg);
	assert_int_equal(nub_hv_get_xcr0(v->hv, &got, &v->err), 0);
	expect_u64("xcr0", got, 3);
}

static void round_trip_msrs(struct vm *v)
{
	const struct nub_msr set[2] = {
	        {.index = MSR_KERNEL_GS_BASE, .value = 0xffff888812345000ull},
	        {.index = MSR_SFMASK, .value = 0x47700},
	};
	struct nub_msr got[2] = {{.index = MSR_KERNEL_GS_BASE}, {.index = MSR_SFMASK}};
	int has_set = nub_hv_has(v->hv, NUB_HV_SLOT_SET_MSRS);
	int has_get = nub_hv_has(v->hv, NUB_HV_SLOT_GET_MSRS);

	if (!has_set)
		assert_int_equal(nub_hv_set_msrs(v->hv, set, 2, &v->err), NUB_EUNSUPPORTED);
	if (!has_get)
		assert_int_equal(nub_hv_get_msrs(v->hv, got, 2, &v->err), NUB_EUNSUPPORTED);
	if (!has_set || !has_get)
		return;
	if (nub_hv_set_msrs(v->hv, set, 2, &v->err))
		fail_msg("%s", v->err.msg);
	if (nub_hv_get_msrs(v->hv, got, 2, &v->err))
		fail_msg("%s", v->err.msg);
	expect_u64("MSR KERNEL_GS_BASE", got[0].value, set[0].value);
	expect_u64("MSR SFMASK", got[1].value, set[1].value);
	assert_int_equal(got[0].index, MSR_KERNEL_GS_BASE); /* indexes left as given */
	assert_int_equal(got[1].index, MSR_SFMASK);
}

static void round_trip_debugregs(struct vm *v)
{
	const struct nub_debugregs set = {
	        .db = {0x1000, 0x2008, 0x3010, 0x7f0000004018ull},
	        .dr6 = 0xffff0ff1, /* B0 */
	        .dr7 = 0x401,      /* L0, bit 10 always set */
	};
	struct nub_debugregs got;
	int has_set = nub_hv_has(v->hv, NUB_HV_SLOT_SET_DEBUGREGS);
	int has_get = nub_hv_has(v->hv, NUB_HV_SLOT_GET_DEBUGREGS);

	if (!has_set)
		assert_int_equal(nub_hv_set_debugregs(v->hv, &set, &v->err), NUB_EUNSUPPORTED);
	if (!has_get)
		assert_int_equal(nub_hv_get_debugregs(v->hv, &got, &v->err), NUB_EUNSUPPORTED);
	if (!has_set || !has_get)
		return;
	if (nub_hv_set_debugregs(v->hv, &set, &v->err))
		fail_msg("%s", v->err.msg);
	memset(&got, 0xcc, sizeof(got));
	assert_int_equal(nub_hv_get_debugregs(v->hv, &got, &v->err), 0);
	for (unsigned i = 0; i < 4; i++) {
		char what[16];
		snprintf(what, sizeof(what), "DR%u", i);
		expect_u64(what, got.db[i], set.db[i]);
	}
	expect_u64("DR6", got.dr6, set.dr6);
	expect_u64("DR7", got.dr7, set.dr7);
}

/* Every state slot reads back, through its getter, the distinctive value
 * its setter was given (core's snapshots and restores depend on it); an
 * optional slot the backend lacks fails with NUB_EUNSUPPORTED instead. */
static void test_state_round_trip(void **state)
{
	struct vm *v = *state;

	round_trip_regs(v);
	round_trip_sregs(v);
	round_trip_fpu(v);
	round_trip_xcr0(v);
	round_trip_msrs(v);
	round_trip_debugregs(v);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_io_out_sizes, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_io_in, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_memory_and_readonly, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_mmio_read, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_map_unmap, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_slots_for_mappings, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_halt_and_triple_fault, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_interrupt, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_doorbell_from_user_mode, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_state_observed, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_syscall_goes_where_the_caps_say, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_state_round_trip, setup, teardown),
	};

	spec = getenv("NUB_BACKEND");
	if (argc == 3 && !strcmp(argv[1], "--backend"))
		spec = argv[2];
	if (!spec || !spec[0]) {
		fprintf(stderr, "usage: nub-conformance --backend NAME|PATH\n");
		return 2;
	}
	printf("conformance: backend %s\n", spec);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
