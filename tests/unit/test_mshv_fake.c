/* SPDX-License-Identifier: MIT */
/*
 * The mshv backend, loaded through core's loader and driven through the
 * nub_hv_* layer, against the fake /dev/mshv (tests/common/fake_mshv.c).
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend_loader.h"
#include "backend/hv.h"
#include "fake_mshv.h"
#include "nub_test.h"

#define MEM_LIMIT (1ull << 32)
#define PAGE      4096ull

static void *backend_dl;

static const char *backend_path(void)
{
	return nub_test_path("NUB_PLUGIN_BUILD_DIR", "libnub-backend-mshv.so");
}

/* dlopen the backend by the path the loader will use (same handle) and
 * route its system calls to the fake. */
static int group_setup(void **state)
{
	(void)state;
	backend_dl = dlopen(backend_path(), RTLD_NOW | RTLD_LOCAL);
	if (!backend_dl) {
		fprintf(stderr, "dlopen %s: %s\n", backend_path(), dlerror());
		return -1;
	}
	nub_mshv_test_set_sys_fn set_sys =
	        (nub_mshv_test_set_sys_fn)dlsym(backend_dl, NUB_MSHV_TEST_SET_SYS_SYMBOL);
	if (!set_sys)
		return -1;
	set_sys(fake_mshv_sys());
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	nub_mshv_test_set_sys_fn set_sys =
	        (nub_mshv_test_set_sys_fn)dlsym(backend_dl, NUB_MSHV_TEST_SET_SYS_SYMBOL);
	if (set_sys)
		set_sys(NULL);
	dlclose(backend_dl);
	return 0;
}

struct fixture {
	struct nub_backend *b;
	struct nub_hv *hv;
};

static int vm_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct nub_error err = {0};

	fake_mshv_reset();
	if (!f || nub_backend_load(backend_path(), &f->b, &err) ||
	    nub_hv_create(f->b, MEM_LIMIT, NULL, &f->hv, &err)) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int vm_teardown(void **state)
{
	struct fixture *f = *state;

	nub_hv_destroy(f->hv);
	nub_backend_unref(f->b);
	free(f);
	/* Nothing the backend opened may outlive the VM. */
	return fake_mshv_open_fds() == 0 ? 0 : -1;
}

static struct nub_hv *hv_of(void **state)
{
	return ((struct fixture *)*state)->hv;
}

static void *host_pages(size_t n, int prot)
{
	void *p = mmap(NULL, n * PAGE, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	return p;
}

static void map(struct nub_hv *hv, uint32_t slot, nub_gpa_t gpa, void *host, size_t pages,
                uint32_t flags)
{
	struct nub_error err = {0};
	struct nub_region r = {
	        .slot = slot, .flags = flags, .gpa = gpa, .size = pages * PAGE, .host = host};
	int rc = nub_hv_map_region(hv, &r, &err);
	if (rc)
		fail_msg("map slot %u: %s", slot, err.msg);
}

static void run_expect(struct nub_hv *hv, struct nub_exit *exit, uint32_t reason)
{
	struct nub_error err = {0};
	int rc = nub_hv_run(hv, exit, &err);
	if (rc)
		fail_msg("run: %s", err.msg);
	if (exit->reason != reason)
		fail_msg("exit reason %u, want %u (%s)", exit->reason, reason, exit->detail);
}

static void set_rip_rax(struct nub_hv *hv, uint64_t rip, uint64_t rax)
{
	struct nub_error err = {0};
	struct nub_regs r = {.rip = rip, .rax = rax, .rflags = 2};
	assert_int_equal(nub_hv_set_regs(hv, &r, &err), 0);
}

static struct nub_regs get_regs(struct nub_hv *hv)
{
	struct nub_error err = {0};
	struct nub_regs r;
	assert_int_equal(nub_hv_get_regs(hv, &r, &err), 0);
	return r;
}

/* ---- probe ---- */

static void test_probe_missing_device(void **state)
{
	struct nub_error err = {0};
	struct nub_backend *b = NULL;

	(void)state;
	fake_mshv_reset();
	fake_mshv_set_device_missing(1);
	assert_nub_error(nub_backend_load(backend_path(), &b, &err), NUB_EPROBE, &err,
	                 "/dev/mshv: No such file or directory");
	assert_int_equal(fake_mshv_open_fds(), 0);
}

static void test_probe_create_partition_refused(void **state)
{
	struct nub_error err = {0};
	struct nub_backend *b = NULL;

	(void)state;
	fake_mshv_reset();
	fake_mshv_fail_next(NUB_MSHV_CREATE_PARTITION, EPERM);
	assert_nub_error(nub_backend_load(backend_path(), &b, &err), NUB_EPROBE, &err,
	                 "/dev/mshv: MSHV_CREATE_PARTITION: Operation not permitted");
	assert_int_equal(fake_mshv_open_fds(), 0);
}

static void test_probe_creates_and_closes_a_partition(void **state)
{
	struct nub_error err = {0};
	struct nub_backend *b = NULL;

	(void)state;
	fake_mshv_reset();
	assert_int_equal(nub_backend_load(backend_path(), &b, &err), 0);
	assert_int_equal(fake_mshv_partitions_created(), 1);
	assert_int_equal(fake_mshv_partitions_alive(), 0);
	assert_int_equal(fake_mshv_open_fds(), 0);
	nub_backend_unref(b);
}

/* ---- VM creation ---- */

static void test_create_sets_up_partition(void **state)
{
	int was_set = 0;
	uint64_t v =
	        fake_mshv_property(NUB_HV_PARTITION_PROPERTY_SYNTHETIC_PROC_FEATURES, &was_set);

	(void)state;
	assert_int_equal(fake_mshv_pt_flags(), 1u << NUB_MSHV_PT_BIT_LAPIC);
	assert_true(was_set);
	assert_int_equal(v, 0); /* no SynIC or other enlightenments */
	assert_true(fake_mshv_initialized());
	assert_int_equal(fake_mshv_open_fds(), 2); /* partition + VP */
	assert_int_equal(fake_mshv_partitions_alive(), 1);
}

static void test_create_failure_releases_everything(void **state)
{
	struct nub_error err = {0};
	struct nub_backend *b = NULL;
	struct nub_hv *hv = NULL;

	(void)state;
	fake_mshv_reset();
	assert_int_equal(nub_backend_load(backend_path(), &b, &err), 0);
	fake_mshv_fail_next(NUB_MSHV_CREATE_VP, ENOMEM);
	assert_nub_error(nub_hv_create(b, MEM_LIMIT, NULL, &hv, &err), NUB_ESYS, &err,
	                 "mshv: vm_create: MSHV_CREATE_VP (vp_index 0): Cannot allocate memory");
	assert_int_equal(fake_mshv_open_fds(), 0);
	assert_int_equal(fake_mshv_partitions_alive(), 0);
	fake_mshv_fail_next(NUB_MSHV_INITIALIZE_PARTITION, EIO);
	assert_nub_error(nub_hv_create(b, MEM_LIMIT, NULL, &hv, &err), NUB_ESYS, &err,
	                 "MSHV_INITIALIZE_PARTITION: Input/output error");
	assert_int_equal(fake_mshv_open_fds(), 0);
	nub_backend_unref(b);
}

static void test_create_rejects_bad_options(void **state)
{
	struct nub_error err = {0};
	struct nub_backend *b = NULL;
	struct nub_hv *hv = NULL;

	(void)state;
	fake_mshv_reset();
	assert_int_equal(nub_backend_load(backend_path(), &b, &err), 0);
	assert_nub_error(nub_hv_create(b, MEM_LIMIT, "signal=9", &hv, &err), NUB_EINVAL, &err,
	                 "mshv: vm_create: options 'signal=9' not understood");
	assert_int_equal(fake_mshv_open_fds(), 0);
	nub_backend_unref(b);
}

/* ---- memory ---- */

static void test_map_flags(void **state)
{
	struct nub_hv *hv = hv_of(state);
	struct nub_mshv_user_mem_region r;
	void *rw = host_pages(2, PROT_READ | PROT_WRITE);
	void *rx = host_pages(1, PROT_READ | PROT_WRITE);
	void *ro = host_pages(1, PROT_READ | PROT_WRITE);
	const uint8_t W = 1u << NUB_MSHV_SET_MEM_BIT_WRITABLE;
	const uint8_t X = 1u << NUB_MSHV_SET_MEM_BIT_EXECUTABLE;
	struct nub_error err = {0};

	map(hv, 0, 0x0, rw, 2, NUB_MEM_READ | NUB_MEM_WRITE);
	map(hv, 1, 0x10000, rx, 1, NUB_MEM_READ | NUB_MEM_EXEC);
	map(hv, 2, 0x20000, ro, 1, NUB_MEM_READ);
	assert_int_equal(fake_mshv_region_at(0x1000, &r), 0);
	assert_int_equal(r.flags, W);
	assert_int_equal(r.size, 2 * PAGE);
	assert_int_equal(r.userspace_addr, (uint64_t)(uintptr_t)rw);
	assert_int_equal(fake_mshv_region_at(0x10000, &r), 0);
	assert_int_equal(r.flags, X);
	assert_int_equal(r.guest_pfn, 0x10);
	assert_int_equal(fake_mshv_region_at(0x20000, &r), 0);
	assert_int_equal(r.flags, 0); /* the read-only snapshot case */

	assert_int_equal(nub_hv_unmap_region(hv, 1, &err), 0);
	assert_int_equal(fake_mshv_region_at(0x10000, &r), -1);
	assert_int_equal(fake_mshv_region_count(), 2);
	map(hv, 1, 0x10000, rx, 1, NUB_MEM_READ | NUB_MEM_WRITE | NUB_MEM_EXEC);
	assert_int_equal(fake_mshv_region_at(0x10000, &r), 0);
	assert_int_equal(r.flags, W | X);
	munmap(rw, 2 * PAGE);
	munmap(rx, PAGE);
	munmap(ro, PAGE);
}

/* The slots core's mappings take (nub_sandbox_map_region: 2..31): all
 * at once, one removed in the middle, mapped again elsewhere. */
static void test_map_every_mapping_slot(void **state)
{
	struct nub_hv *hv = hv_of(state);
	struct nub_mshv_user_mem_region r;
	uint8_t *pages = host_pages(30, PROT_READ | PROT_WRITE);
	struct nub_error err = {0};

	for (uint32_t i = 0; i < 30; i++)
		map(hv, 2 + i, 0x100000 + i * PAGE, pages + i * PAGE, 1, NUB_MEM_READ);
	assert_int_equal(fake_mshv_region_count(), 30);
	assert_int_equal(nub_hv_unmap_region(hv, 17, &err), 0);
	assert_int_equal(fake_mshv_region_at(0x100000 + 15 * PAGE, &r), -1);
	assert_int_equal(fake_mshv_region_at(0x100000 + 16 * PAGE, &r), 0);
	map(hv, 17, 0x200000, pages + 15 * PAGE, 1, NUB_MEM_READ | NUB_MEM_WRITE);
	assert_int_equal(fake_mshv_region_at(0x200000, &r), 0);
	assert_int_equal(r.userspace_addr, (uint64_t)(uintptr_t)(pages + 15 * PAGE));
	for (uint32_t i = 0; i < 30; i++)
		assert_int_equal(nub_hv_unmap_region(hv, 2 + i, &err), 0);
	assert_int_equal(fake_mshv_region_count(), 0);
	munmap(pages, 30 * PAGE);
}

static void test_map_overlap_refused(void **state)
{
	struct nub_hv *hv = hv_of(state);
	void *a = host_pages(2, PROT_READ | PROT_WRITE);
	void *b = host_pages(1, PROT_READ | PROT_WRITE);
	struct nub_error err = {0};
	struct nub_region r = {
	        .slot = 1, .flags = NUB_MEM_READ, .gpa = 0x1000, .size = PAGE, .host = b};

	map(hv, 0, 0x0, a, 2, NUB_MEM_READ | NUB_MEM_WRITE);
	assert_nub_error(nub_hv_map_region(hv, &r, &err), NUB_ESYS, &err,
	                 "mshv: map_region: MSHV_SET_GUEST_MEMORY slot 1 gpa 0x1000 size 0x1000: "
	                 "File exists");
	/* The kernel also refuses the same host memory at a second GPA. */
	r.gpa = 0x40000;
	r.host = a;
	assert_nub_error(nub_hv_map_region(hv, &r, &err), NUB_ESYS, &err, "File exists");
	assert_int_equal(fake_mshv_region_count(), 1);
	munmap(a, 2 * PAGE);
	munmap(b, PAGE);
}

static void test_map_needs_writable_host_memory(void **state)
{
	struct nub_hv *hv = hv_of(state);
	void *ro = host_pages(1, PROT_READ);
	struct nub_error err = {0};
	struct nub_region r = {
	        .slot = 3, .flags = NUB_MEM_READ, .gpa = 0, .size = PAGE, .host = ro};

	/* Pages are pinned with FOLL_WRITE even for guest-read-only regions. */
	assert_nub_error(nub_hv_map_region(hv, &r, &err), NUB_ESYS, &err, "Bad address");
	r.flags = 0;
	assert_nub_error(nub_hv_map_region(hv, &r, &err), NUB_EUNSUPPORTED, &err,
	                 "lack NUB_MEM_READ");
	munmap(ro, PAGE);
}

/* ---- registers ---- */

static void test_regs_round_trip(void **state)
{
	struct nub_hv *hv = hv_of(state);
	struct nub_error err = {0};
	struct nub_regs in, out;
	struct nub_hv_u128 v;
	uint64_t *p = (uint64_t *)&in;

	for (size_t i = 0; i < sizeof(in) / 8; i++)
		p[i] = 0x1111111111111111ull * (i + 1);
	assert_int_equal(nub_hv_set_regs(hv, &in, &err), 0);
	assert_int_equal(nub_hv_get_regs(hv, &out, &err), 0);
	assert_memory_equal(&in, &out, sizeof(in));
	/* The right hypervisor names hold the right fields. */
	assert_int_equal(fake_mshv_reg(NUB_HV_X64_REGISTER_RAX, &v), 0);
	assert_int_equal(v.low_part, in.rax);
	assert_int_equal(fake_mshv_reg(NUB_HV_X64_REGISTER_RCX, &v), 0);
	assert_int_equal(v.low_part, in.rcx);
	assert_int_equal(fake_mshv_reg(NUB_HV_X64_REGISTER_R8 + 7, &v), 0);
	assert_int_equal(v.low_part, in.r15);
	assert_int_equal(fake_mshv_reg(NUB_HV_X64_REGISTER_RIP, &v), 0);
	assert_int_equal(v.low_part, in.rip);
	assert_int_equal(fake_mshv_reg(NUB_HV_X64_REGISTER_RFLAGS, &v), 0);
	assert_int_equal(v.low_part, in.rflags);
}

static struct nub_segment seg(uint64_t base, uint32_t limit, uint16_t sel, uint8_t type, uint8_t s,
                              uint8_t l, uint8_t db, uint8_t g)
{
	struct nub_segment x = {.base = base,
	                        .limit = limit,
	                        .selector = sel,
	                        .type = type,
	                        .present = 1,
	                        .s = s,
	                        .l = l,
	                        .db = db,
	                        .g = g};
	return x;
}

static void test_sregs_round_trip(void **state)
{
	struct nub_hv *hv = hv_of(state);
	struct nub_error err = {0};
	struct nub_sregs in, out;
	struct nub_hv_u128 v;
	struct nub_hv_x64_segment_register cs;

	memset(&in, 0, sizeof(in));
	in.cs = seg(0, 0xFFFFFFFF, 0x08, 0xB, 1, 1, 0, 1);
	in.ds = seg(0, 0xFFFFFFFF, 0x10, 0x3, 1, 0, 1, 1);
	in.es = in.fs = in.gs = in.ss = in.ds;
	in.fs.base = 0x7000;
	in.tr = seg(0x5000, 0x67, 0x18, 0xB, 0, 0, 0, 0);
	in.ldt.unusable = 1; /* not present */
	in.gdt.base = 0x3000;
	in.gdt.limit = 0x1F;
	in.idt.base = 0x4000;
	in.idt.limit = 0xFFF;
	in.cr0 = 0x80050033;
	in.cr2 = 0xDEAD000;
	in.cr3 = 0x9000;
	in.cr4 = 0x6A0;
	in.cr8 = 0x3;
	in.efer = 0xD01;
	in.apic_base = 0xFEE00900;
	assert_int_equal(nub_hv_set_sregs(hv, &in, &err), 0);
	assert_int_equal(nub_hv_get_sregs(hv, &out, &err), 0);
	assert_memory_equal(&in, &out, sizeof(in));
	/* CS attributes in the hypervisor's encoding: type B, S, P, L, G. */
	assert_int_equal(fake_mshv_reg(NUB_HV_X64_REGISTER_CS, &v), 0);
	memcpy(&cs, &v, sizeof(cs));
	assert_int_equal(cs.attributes, 0xA09B);
	assert_int_equal(cs.selector, 0x08);
	assert_int_equal(fake_mshv_reg(NUB_HV_X64_REGISTER_GDTR, &v), 0);
	assert_int_equal(v.high_part, 0x3000);               /* base */
	assert_int_equal((v.low_part >> 48) & 0xFFFF, 0x1F); /* limit after pad[3] */
	assert_int_equal(fake_mshv_reg(NUB_HV_X64_REGISTER_EFER, &v), 0);
	assert_int_equal(v.low_part, 0xD01);
}

static void test_fpu_round_trip(void **state)
{
	struct nub_hv *hv = hv_of(state);
	struct nub_error err = {0};
	struct nub_fpu in, out;
	struct nub_hv_u128 v;

	memset(&in, 0, sizeof(in));
	for (int i = 0; i < 8; i++)
		for (int j = 0; j < 10; j++) /* 80-bit values; bytes 10-15 reserved */
			in.fpr[i][j] = (uint8_t)(i * 16 + j + 1);
	for (int i = 0; i < 16; i++)
		for (int j = 0; j < 16; j++)
			in.xmm[i][j] = (uint8_t)(0x80 + i * 3 + j);
	in.fcw = 0x37F;
	in.fsw = 0x3800;
	in.ftwx = 0xC0;
	in.last_opcode = 0x1DB;
	in.last_ip = 0x401234;
	in.last_dp = 0x605678;
	in.mxcsr = 0x1FA0;
	assert_int_equal(nub_hv_set_fpu(hv, &in, &err), 0);
	assert_int_equal(nub_hv_get_fpu(hv, &out, &err), 0);
	assert_memory_equal(&in, &out, sizeof(in));
	assert_int_equal(fake_mshv_reg(NUB_HV_X64_REGISTER_XMM_CONTROL_STATUS, &v), 0);
	assert_int_equal(v.low_part, 0x605678);             /* last_fp_rdp */
	assert_int_equal(v.high_part & 0xFFFFFFFF, 0x1FA0); /* mxcsr */
	assert_int_equal(fake_mshv_reg(NUB_HV_X64_REGISTER_FP_CONTROL_STATUS, &v), 0);
	assert_int_equal(v.low_part & 0xFFFF, 0x37F); /* fcw */
	assert_int_equal(v.high_part, 0x401234);      /* last_fp_rip */
	assert_int_equal(fake_mshv_reg(NUB_HV_X64_REGISTER_XMM0 + 15, &v), 0);
	assert_memory_equal(&v, in.xmm[15], 16);
}

/* ---- running ---- */

static void test_io_out_advances_rip_by_instruction_length(void **state)
{
	struct nub_hv *hv = hv_of(state);
	struct nub_exit exit = {0};

	set_rip_rax(hv, 0x1000, 0);
	fake_mshv_script_io(0x3F8, 1, 1, 0x4142, 1); /* out dx, al */
	fake_mshv_script_io(0x80, 4, 1, 0xCAFEF00DDEADBEEFull, 2);
	fake_mshv_script_halt();
	run_expect(hv, &exit, NUB_EXIT_IO_OUT);
	assert_int_equal(exit.port, 0x3F8);
	assert_int_equal(exit.size, 1);
	assert_int_equal(exit.data, 0x42);
	assert_int_equal(exit.rip, 0x1000);
	assert_int_equal(get_regs(hv).rip, 0x1001);
	run_expect(hv, &exit, NUB_EXIT_IO_OUT);
	assert_int_equal(exit.port, 0x80);
	assert_int_equal(exit.size, 4);
	assert_int_equal(exit.data, 0xDEADBEEF);
	assert_int_equal(get_regs(hv).rip, 0x1003);
	run_expect(hv, &exit, NUB_EXIT_HLT);
	assert_int_equal(exit.rip, 0x1003);
	assert_int_equal(fake_mshv_redeliveries(), 0);
}

static void test_io_in_completes_rax_then_advances(void **state)
{
	struct nub_hv *hv = hv_of(state);
	struct nub_exit exit = {0};
	struct nub_regs r;

	set_rip_rax(hv, 0x2000, 0x1122334455667788ull);
	fake_mshv_script_io(0x60, 1, 0, 0, 2);
	fake_mshv_script_io(0x61, 4, 0, 0, 1);
	fake_mshv_script_halt();
	run_expect(hv, &exit, NUB_EXIT_IO_IN);
	assert_int_equal(exit.port, 0x60);
	assert_int_equal(exit.size, 1);
	assert_int_equal(get_regs(hv).rip, 0x2000); /* not completed yet */
	exit.data = 0xAB;
	run_expect(hv, &exit, NUB_EXIT_IO_IN);
	r = get_regs(hv);
	assert_int_equal(r.rax, 0x11223344556677ABull); /* AL replaced, rest kept */
	assert_int_equal(r.rip, 0x2002);
	exit.data = 0xFFFFFFFF12345678ull;
	run_expect(hv, &exit, NUB_EXIT_HLT);
	r = get_regs(hv);
	assert_int_equal(r.rax, 0x12345678); /* 32-bit IN zero-extends */
	assert_int_equal(r.rip, 0x2003);
	assert_int_equal(fake_mshv_redeliveries(), 0);
}

static void test_halt(void **state)
{
	struct nub_hv *hv = hv_of(state);
	struct nub_exit exit = {0};

	set_rip_rax(hv, 0x5555, 0);
	fake_mshv_script_halt();
	run_expect(hv, &exit, NUB_EXIT_HLT);
	assert_int_equal(exit.rip, 0x5555);
}

static void test_unmapped_gpa_is_mmio(void **state)
{
	struct nub_hv *hv = hv_of(state);
	struct nub_exit exit = {0};
	struct nub_error err = {0};

	set_rip_rax(hv, 0x1000, 0);
	fake_mshv_script_access(0x10000008, NUB_HV_INTERCEPT_ACCESS_READ);
	fake_mshv_script_access(0x20000010, NUB_HV_INTERCEPT_ACCESS_WRITE);
	run_expect(hv, &exit, NUB_EXIT_MMIO_READ);
	assert_int_equal(exit.gpa, 0x10000008);
	assert_int_equal(exit.hw_reason, NUB_HVMSG_UNMAPPED_GPA);
	assert_int_equal(exit.rip, 0x1000);
	/* Completing the read would need an instruction emulator. */
	assert_nub_error(nub_hv_run(hv, &exit, &err), NUB_EUNSUPPORTED, &err,
	                 "needs an instruction emulator");
	run_expect(hv, &exit, NUB_EXIT_MMIO_WRITE);
	assert_int_equal(exit.gpa, 0x20000010);
}

static void test_memory_permissions_become_mmio(void **state)
{
	struct nub_hv *hv = hv_of(state);
	void *ro = host_pages(1, PROT_READ | PROT_WRITE);
	void *rx = host_pages(1, PROT_READ | PROT_WRITE);
	void *rw = host_pages(1, PROT_READ | PROT_WRITE);
	struct nub_exit exit = {0};

	map(hv, 0, 0x200000, ro, 1, NUB_MEM_READ);
	map(hv, 1, 0x300000, rx, 1, NUB_MEM_READ | NUB_MEM_EXEC);
	map(hv, 2, 0x400000, rw, 1, NUB_MEM_READ | NUB_MEM_WRITE);
	fake_mshv_script_access(0x200000, NUB_HV_INTERCEPT_ACCESS_READ);    /* allowed */
	fake_mshv_script_access(0x300000, NUB_HV_INTERCEPT_ACCESS_EXECUTE); /* allowed */
	fake_mshv_script_access(0x400010, NUB_HV_INTERCEPT_ACCESS_WRITE);   /* allowed */
	fake_mshv_script_access(0x200010, NUB_HV_INTERCEPT_ACCESS_WRITE);   /* refused */
	fake_mshv_script_access(0x400020, NUB_HV_INTERCEPT_ACCESS_EXECUTE); /* refused */
	run_expect(hv, &exit, NUB_EXIT_MMIO_WRITE);
	assert_int_equal(exit.gpa, 0x200010);
	assert_int_equal(exit.hw_reason, NUB_HVMSG_GPA_INTERCEPT);
	/* Core abandons the faulting access by setting new registers. */
	set_rip_rax(hv, 0x1000, 0);
	run_expect(hv, &exit, NUB_EXIT_MMIO_READ);
	assert_int_equal(exit.gpa, 0x400020);
	assert_string_equal(exit.detail, "instruction fetch");
	munmap(ro, PAGE);
	munmap(rx, PAGE);
	munmap(rw, PAGE);
}

/* ---- MMIO stores (doorbells) ---- */

#define STORE_GPA 0x18ull /* unmapped, like the doorbell page */

/* The vCPU in 64-bit mode (CS.L, EFER.LMA), as core sets it up. */
static void long_mode(struct nub_hv *hv)
{
	struct nub_error err = {0};
	struct nub_sregs s;

	memset(&s, 0, sizeof(s));
	s.cs = seg(0, 0xFFFFFFFF, 0x2B, 0xB, 1, 1, 0, 1);
	s.ds = seg(0, 0xFFFFFFFF, 0x23, 0x3, 1, 0, 1, 1);
	s.es = s.fs = s.gs = s.ss = s.ds;
	s.tr = seg(0x5000, 0x67, 0x18, 0xB, 0, 0, 0, 0);
	s.ldt.unusable = 1;
	s.cr0 = 0x80050033;
	s.cr4 = 0x6A0;
	s.efer = 0xD01;
	assert_int_equal(nub_hv_set_sregs(hv, &s, &err), 0);
}

/* The guest's GPRs: every register (and byte) distinct. */
static void store_regs(struct nub_hv *hv, uint64_t rip)
{
	struct nub_error err = {0};
	struct nub_regs r = {.rax = 0x1122334455667788ull,
	                     .rcx = 0x2122232425262728ull,
	                     .rdx = 0x3132333435363738ull,
	                     .rbx = 0x4142434445464748ull,
	                     .rsp = 0x5152535455565758ull,
	                     .rbp = 0x6162636465666768ull,
	                     .rsi = 0x7172737475767778ull,
	                     .rdi = 0x8182838485868788ull,
	                     .r8 = 0x9192939495969798ull,
	                     .r9 = 0xA1A2A3A4A5A6A7A8ull,
	                     .r10 = 0xB1B2B3B4B5B6B7B8ull,
	                     .r11 = 0xC1C2C3C4C5C6C7C8ull,
	                     .r12 = 0xD1D2D3D4D5D6D7D8ull,
	                     .r13 = 0xE1E2E3E4E5E6E7E8ull,
	                     .r14 = 0xF1F2F3F4F5F6F7F8ull,
	                     .r15 = 0x0102030405060708ull,
	                     .rip = rip,
	                     .rflags = 2};
	assert_int_equal(nub_hv_set_regs(hv, &r, &err), 0);
}

static uint64_t fake_rip(void)
{
	struct nub_hv_u128 v;
	assert_int_equal(fake_mshv_reg(NUB_HV_X64_REGISTER_RIP, &v), 0);
	return v.low_part;
}

struct store_case {
	const char *what;
	uint8_t bytes[16];
	uint8_t len;
	uint32_t size;
	uint64_t data;
};

/* The guest at `rip` executes c->bytes, a store to STORE_GPA, then HLT:
 * MMIO_WRITE with the decoded size and value; the hypervisor's RIP stays on
 * the store until the next run, which writes rip + len and resumes there
 * (the fake would re-deliver the store otherwise). */
static void expect_store(struct nub_hv *hv, uint64_t rip, const struct store_case *c)
{
	struct nub_exit exit = {0};
	unsigned redelivered = fake_mshv_redeliveries();

	store_regs(hv, rip);
	fake_mshv_script_store(STORE_GPA, c->bytes, c->len);
	fake_mshv_script_halt();
	run_expect(hv, &exit, NUB_EXIT_MMIO_WRITE);
	if (exit.size != c->size || exit.data != c->data)
		fail_msg("%s: size %u data 0x%llx, want %u 0x%llx", c->what, exit.size,
		         (unsigned long long)exit.data, c->size, (unsigned long long)c->data);
	assert_int_equal(exit.gpa, STORE_GPA);
	assert_int_equal(exit.rip, rip);
	assert_int_equal(exit.hw_reason, NUB_HVMSG_UNMAPPED_GPA);
	assert_int_equal(fake_rip(), rip);                /* not written yet */
	assert_int_equal(get_regs(hv).rip, rip + c->len); /* but shown past the store */
	run_expect(hv, &exit, NUB_EXIT_HLT);
	if (exit.rip != rip + c->len)
		fail_msg("%s: resumed at 0x%llx, want 0x%llx", c->what,
		         (unsigned long long)exit.rip, (unsigned long long)(rip + c->len));
	assert_int_equal(fake_rip(), rip + c->len);
	assert_int_equal(fake_mshv_redeliveries(), redelivered);
}

static void test_mmio_store_8_and_4_bytes(void **state)
{
	struct nub_hv *hv = hv_of(state);
	const struct store_case mov64 = {
	        "mov [rbx], rax", {0x48, 0x89, 0x03}, 3, 8, 0x1122334455667788ull};
	const struct store_case mov32 = {"mov [rbx], eax", {0x89, 0x03}, 2, 4, 0x55667788};

	long_mode(hv);
	expect_store(hv, 0x401000, &mov64);
	expect_store(hv, 0x402000, &mov32);
}

static void test_mmio_store_operand_forms(void **state)
{
	struct nub_hv *hv = hv_of(state);
	const struct store_case cases[] = {
	        {"mov [rbx], r8 (REX.R)", {0x4C, 0x89, 0x03}, 3, 8, 0x9192939495969798ull},
	        {"mov [rbx+8], eax (disp8)", {0x89, 0x43, 0x08}, 3, 4, 0x55667788},
	        {"mov [rbx+0x10], r9 (REX.R, disp8)",
	         {0x4C, 0x89, 0x4B, 0x10},
	         4,
	         8,
	         0xA1A2A3A4A5A6A7A8ull},
	        {"mov [rbx+0x100], rax (disp32)",
	         {0x48, 0x89, 0x83, 0x00, 0x01, 0x00, 0x00},
	         7,
	         8,
	         0x1122334455667788ull},
	        {"mov [rip+0x12345678], rdx (RIP-relative)",
	         {0x48, 0x89, 0x15, 0x78, 0x56, 0x34, 0x12},
	         7,
	         8,
	         0x3132333435363738ull},
	        {"mov [rsp+0x80], r15 (SIB, disp32)",
	         {0x4C, 0x89, 0xBC, 0x24, 0x80, 0x00, 0x00, 0x00},
	         8,
	         8,
	         0x0102030405060708ull},
	        {"mov [r8*8+0x1000], rax (SIB, REX.X, no base)",
	         {0x4A, 0x89, 0x04, 0xC5, 0x00, 0x10, 0x00, 0x00},
	         8,
	         8,
	         0x1122334455667788ull},
	        {"mov [r12], cx (66, REX.B, SIB)", {0x66, 0x41, 0x89, 0x0C, 0x24}, 5, 2, 0x2728},
	        {"mov [r13+0], esi (REX.B, disp8)", {0x41, 0x89, 0x75, 0x00}, 4, 4, 0x75767778},
	        {"mov [rbx], ax", {0x66, 0x89, 0x03}, 3, 2, 0x7788},
	        {"movabs [0x400000000000], rax (A3 moffs64)",
	         {0x48, 0xA3, 0, 0, 0, 0, 0, 0x40, 0, 0},
	         10,
	         8,
	         0x1122334455667788ull},
	        {"movabs [0x400000000008], eax (A3, no REX.W)",
	         {0xA3, 8, 0, 0, 0, 0, 0x40, 0, 0},
	         9,
	         4,
	         0x55667788},
	        {"mov [rbx], rax (66 REX.W: REX.W wins)",
	         {0x66, 0x48, 0x89, 0x03},
	         4,
	         8,
	         0x1122334455667788ull},
	        {"mov qword [rbx], 0x41 (REX.W C7 /0, imm32)",
	         {0x48, 0xC7, 0x03, 0x41, 0x00, 0x00, 0x00},
	         7,
	         8,
	         0x41},
	        {"mov qword [rbx], -2 (imm32 sign-extended)",
	         {0x48, 0xC7, 0x03, 0xFE, 0xFF, 0xFF, 0xFF},
	         7,
	         8,
	         0xFFFFFFFFFFFFFFFEull},
	        {"mov dword [rbx], 1 (C7 /0)", {0xC7, 0x03, 0x01, 0x00, 0x00, 0x00}, 6, 4, 1},
	        {"mov word [rbx+8], 0x1234 (66 C7, disp8)",
	         {0x66, 0xC7, 0x43, 0x08, 0x34, 0x12},
	         6,
	         2,
	         0x1234},
	        {"mov byte [rbx], 0x41 (C6 /0)", {0xC6, 0x03, 0x41}, 3, 1, 0x41},
	        {"mov dword [rip+0x10], 7 (C7, RIP-relative disp32)",
	         {0xC7, 0x05, 0x10, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00},
	         10,
	         4,
	         7},
	};

	long_mode(hv);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_store(hv, 0x401000 + i * 0x100, &cases[i]);
}

static void test_mmio_byte_store(void **state)
{
	struct nub_hv *hv = hv_of(state);
	const struct store_case cases[] = {
	        {"mov [rbx], al", {0x88, 0x03}, 2, 1, 0x88},
	        {"mov [rbx], ah", {0x88, 0x23}, 2, 1, 0x77},
	        {"mov [rbx], bh", {0x88, 0x3B}, 2, 1, 0x47},
	        {"mov [rbx], spl (REX: 4 is SPL, not AH)", {0x40, 0x88, 0x23}, 3, 1, 0x58},
	        {"mov [rbx+1], r8b", {0x44, 0x88, 0x43, 0x01}, 4, 1, 0x98},
	};

	long_mode(hv);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_store(hv, 0x401000 + i * 0x100, &cases[i]);
}

/* The guest at `rip` executes `bytes` (count reported) as a store:
 * MMIO_WRITE with size 0, and the resume is refused naming the cause; RIP
 * stays on the instruction, so running again re-delivers the same
 * intercept. */
static void expect_refused_store(struct nub_hv *hv, uint64_t rip, const uint8_t *bytes,
                                 uint8_t count, const char *needle)
{
	struct nub_exit exit = {0};
	struct nub_error err = {0};
	unsigned redelivered = fake_mshv_redeliveries();

	store_regs(hv, rip);
	fake_mshv_script_store(STORE_GPA, bytes, count);
	run_expect(hv, &exit, NUB_EXIT_MMIO_WRITE);
	assert_int_equal(exit.gpa, STORE_GPA);
	assert_int_equal(exit.rip, rip);
	assert_int_equal(exit.size, 0);
	assert_int_equal(exit.data, 0);
	assert_int_equal(get_regs(hv).rip, rip);
	assert_nub_error(nub_hv_run(hv, &exit, &err), NUB_EUNSUPPORTED, &err, needle);
	assert_non_null(strstr(err.msg, "cannot resume after an MMIO exit"));
	assert_int_equal(fake_rip(), rip);
	run_expect(hv, &exit, NUB_EXIT_MMIO_WRITE);
	assert_int_equal(exit.rip, rip);
	assert_int_equal(exit.size, 0);
	assert_int_equal(fake_mshv_redeliveries(), redelivered + 1);
}

static void test_mmio_store_undecodable_is_refused(void **state)
{
	struct nub_hv *hv = hv_of(state);
	const uint8_t movups[] = {0x0F, 0x11, 0x03};                       /* movups [rbx], xmm0 */
	const uint8_t c7_not_mov[] = {0xC7, 0x0B, 0x01, 0x00, 0x00, 0x00}; /* C7 /1: no mov */
	const uint8_t gs_mov[] = {0x65, 0x48, 0x89, 0x03};                 /* mov gs:[rbx], rax */
	const uint8_t rex_66[] = {0x48, 0x66, 0x89, 0x03};                 /* REX not last */
	const uint8_t long16[] = {0x0F, 0x11, 0x84, 0xC0, 0x00, 0x10, 0x00, 0x00,
	                          0x0F, 0x11, 0x84, 0xC0, 0x00, 0x10, 0x00, 0x00};

	long_mode(hv);
	expect_refused_store(hv, 0x401000, movups, sizeof(movups),
	                     "opcode 0f 11 (bytes 0f 11 03), not a plain mov store");
	expect_refused_store(hv, 0x402000, c7_not_mov, sizeof(c7_not_mov),
	                     "opcode c7 (bytes c7 0b 01 00 00 00), not a plain mov store");
	expect_refused_store(hv, 0x403000, gs_mov, sizeof(gs_mov), "prefix 65");
	expect_refused_store(hv, 0x404000, rex_66, sizeof(rex_66), "opcode 66");
	/* The longest message (16 bytes, a long RIP) still ends in full. */
	expect_refused_store(hv, 0xFFFFFFFFFFFF0000ull, long16, sizeof(long16),
	                     "0f 11 84 c0 00 10 00 00 0f 11 84 c0 00 10 00 00), not a plain mov "
	                     "store; completing it needs an instruction emulator");
}

static void test_mmio_store_truncated_is_refused(void **state)
{
	struct nub_hv *hv = hv_of(state);
	const uint8_t mov[] = {0x48, 0x89, 0x43, 0x08}; /* mov [rbx+8], rax, 4 bytes */
	/* mov [rsp+0x80], r15 (8 bytes), padded to the 16 the message holds */
	const uint8_t sib[16] = {0x4C, 0x89, 0xBC, 0x24, 0x80, 0x00, 0x00, 0x00};

	long_mode(hv);
	expect_refused_store(hv, 0x401000, mov, 2, "only 2 instruction byte(s) (48 89, opcode 89)");
	expect_refused_store(hv, 0x402000, mov, 3, "only 3 instruction byte(s)");
	expect_refused_store(hv, 0x403000, sib, 6, "only 6 instruction byte(s)");
	expect_refused_store(hv, 0x404000, mov, 0, "0 instruction bytes");
	expect_refused_store(hv, 0x405000, sib, 17, "17 instruction bytes");
}

static void test_mmio_store_outside_64bit_mode_is_refused(void **state)
{
	const uint8_t mov[] = {0x89, 0x03};

	/* No long_mode(): CS.L and EFER.LMA clear. */
	expect_refused_store(hv_of(state), 0x401000, mov, sizeof(mov), "not in 64-bit mode");
}

static void test_mmio_store_survives_register_access(void **state)
{
	struct nub_hv *hv = hv_of(state);
	const uint8_t mov[] = {0x48, 0x89, 0x03};
	struct nub_error err = {0};
	struct nub_exit exit = {0};
	struct nub_sregs s;
	struct nub_regs r;

	long_mode(hv);
	store_regs(hv, 0x401000);
	fake_mshv_script_store(STORE_GPA, mov, sizeof(mov));
	fake_mshv_script_halt();
	run_expect(hv, &exit, NUB_EXIT_MMIO_WRITE);
	/* Core reads and rewrites state between the exit and the next run
	 * (get/modify/set): the store is not executed again. */
	assert_int_equal(nub_hv_get_sregs(hv, &s, &err), 0);
	assert_int_equal(nub_hv_set_sregs(hv, &s, &err), 0);
	r = get_regs(hv);
	assert_int_equal(r.rip, 0x401003);
	r.rax = 42;
	assert_int_equal(nub_hv_set_regs(hv, &r, &err), 0);
	run_expect(hv, &exit, NUB_EXIT_HLT);
	assert_int_equal(exit.rip, 0x401003);
	assert_int_equal(get_regs(hv).rax, 42);
	assert_int_equal(fake_mshv_redeliveries(), 0);
}

static void test_unknown_and_malformed_messages_are_internal(void **state)
{
	struct nub_hv *hv = hv_of(state);
	struct nub_exit exit = {0};
	struct nub_hv_message m;
	struct nub_hv_x64_io_port_intercept_message io;

	memset(&m, 0, sizeof(m));
	m.header.message_type = 0x80000050; /* HVMSG_HYPERCALL_INTERCEPT */
	fake_mshv_script_message(&m);
	memset(&io, 0, sizeof(io));
	io.header.instr_len_cr8 = 2;
	io.header.intercept_access_type = NUB_HV_INTERCEPT_ACCESS_WRITE;
	io.access_info = 1 | NUB_HV_IO_STRING_OP | NUB_HV_IO_REP_PREFIX; /* rep outsb */
	m.header.message_type = NUB_HVMSG_X64_IO_PORT_INTERCEPT;
	memcpy(m.payload, &io, sizeof(io));
	fake_mshv_script_message(&m);
	io.access_info = 3; /* no such access size */
	memcpy(m.payload, &io, sizeof(io));
	fake_mshv_script_message(&m);
	m.header.message_type = NUB_HVMSG_UNRECOVERABLE_EXCEPTION;
	fake_mshv_script_message(&m);

	run_expect(hv, &exit, NUB_EXIT_INTERNAL);
	assert_int_equal(exit.hw_reason, 0x80000050);
	assert_non_null(strstr(exit.detail, "unhandled intercept message (hv message 0x80000050)"));
	run_expect(hv, &exit, NUB_EXIT_INTERNAL);
	assert_non_null(strstr(exit.detail, "string or rep port I/O"));
	run_expect(hv, &exit, NUB_EXIT_INTERNAL);
	assert_non_null(strstr(exit.detail, "malformed port I/O intercept"));
	run_expect(hv, &exit, NUB_EXIT_SHUTDOWN);
}

/* ---- interrupting ---- */

struct runner {
	struct nub_hv *hv;
	struct nub_exit exit;
	int rc;
	atomic_int tid;
	char msg[NUB_ERROR_MSG_MAX];
};

static void *run_thread(void *arg)
{
	struct runner *r = arg;
	struct nub_error err = {0};

	atomic_store(&r->tid, (int)syscall(SYS_gettid));
	r->rc = nub_hv_run(r->hv, &r->exit, &err);
	memcpy(r->msg, err.msg, sizeof(r->msg));
	return NULL;
}

static void wait_blocked(void)
{
	for (int i = 0; i < 10000 && !fake_mshv_run_blocked(); i++)
		usleep(100);
	assert_true(fake_mshv_run_blocked());
}

static void test_interrupt_during_run(void **state)
{
	struct runner r = {.hv = hv_of(state)};
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, run_thread, &r), 0);
	wait_blocked();
	assert_int_equal(nub_hv_interrupt(r.hv), 0);
	pthread_join(t, NULL);
	if (r.rc)
		fail_msg("run failed: %s", r.msg);
	assert_int_equal(r.exit.reason, NUB_EXIT_CANCELLED);
}

static void test_interrupt_races_with_entry(void **state)
{
	struct nub_hv *hv = hv_of(state);
	unsigned seed = 12345;

	/* Interrupts land anywhere from before the run starts to inside the
	 * fake's wait; none may be lost (a lost one hangs the run until the
	 * fake's 10 s timeout and fails with ETIMEDOUT). */
	for (int i = 0; i < 300; i++) {
		struct runner r = {.hv = hv};
		pthread_t t;
		assert_int_equal(pthread_create(&t, NULL, run_thread, &r), 0);
		usleep(rand_r(&seed) % 300);
		assert_int_equal(nub_hv_interrupt(hv), 0);
		pthread_join(t, NULL);
		if (r.rc)
			fail_msg("iteration %d: run failed: %s", i, r.msg);
		assert_int_equal(r.exit.reason, NUB_EXIT_CANCELLED);
	}
}

static void test_interrupt_in_entry_window_is_resent(void **state)
{
	struct runner r = {.hv = hv_of(state)};
	pthread_t t;

	/* The first kick lands before the "system call" and is swallowed;
	 * only a resent one can stop the run. */
	fake_mshv_set_entry_delay_us(50000);
	assert_int_equal(pthread_create(&t, NULL, run_thread, &r), 0);
	for (int i = 0; i < 10000 && !fake_mshv_in_entry_window(); i++)
		usleep(100);
	assert_true(fake_mshv_in_entry_window());
	assert_int_equal(nub_hv_interrupt(r.hv), 0);
	pthread_join(t, NULL);
	if (r.rc)
		fail_msg("run failed: %s", r.msg);
	assert_int_equal(r.exit.reason, NUB_EXIT_CANCELLED);
}

static void test_interrupt_before_run(void **state)
{
	struct nub_hv *hv = hv_of(state);
	struct nub_exit exit = {0};
	unsigned calls;

	fake_mshv_script_halt();
	assert_int_equal(nub_hv_interrupt(hv), 0);
	calls = fake_mshv_run_calls();
	run_expect(hv, &exit, NUB_EXIT_CANCELLED);
	assert_int_equal(fake_mshv_run_calls(), calls); /* never entered the VP */
	run_expect(hv, &exit, NUB_EXIT_HLT);            /* the request was consumed */
}

static void test_clear_interrupt_drops_request(void **state)
{
	struct nub_hv *hv = hv_of(state);
	struct nub_exit exit = {0};

	fake_mshv_script_halt();
	assert_int_equal(nub_hv_interrupt(hv), 0);
	nub_hv_clear_interrupt(hv);
	run_expect(hv, &exit, NUB_EXIT_HLT);
}

static void test_foreign_signal_does_not_cancel(void **state)
{
	struct runner r = {.hv = hv_of(state)};
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, run_thread, &r), 0);
	wait_blocked();
	unsigned calls = fake_mshv_run_calls();
	/* The kick signal without a request: the backend must re-enter. */
	syscall(SYS_tgkill, (long)getpid(), (long)atomic_load(&r.tid), (long)(SIGRTMIN + 1));
	for (int i = 0; i < 10000 && fake_mshv_run_calls() == calls; i++)
		usleep(100);
	assert_true(fake_mshv_run_calls() > calls);
	wait_blocked();
	assert_int_equal(nub_hv_interrupt(r.hv), 0);
	pthread_join(t, NULL);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.exit.reason, NUB_EXIT_CANCELLED);
}

/* ---- the fake itself refuses what the kernel refuses ---- */

static void test_fake_enforces_kernel_checks(void **state)
{
	const struct nub_mshv_sys *sys = fake_mshv_sys();
	struct nub_mshv_create_partition cp = {.pt_flags = 1u << 7};
	struct nub_mshv_user_mem_region m = {.size = PAGE};
	struct nub_mshv_root_hvcall hc = {0};
	uint64_t in[4] = {0};
	void *host = host_pages(1, PROT_READ | PROT_WRITE);
	int dev, pt;

	(void)state;
	fake_mshv_reset();
	dev = sys->open("/dev/mshv", 0);
	assert_true(dev >= 0);
	assert_int_equal(sys->ioctl(dev, NUB_MSHV_CREATE_PARTITION, &cp), -1);
	assert_int_equal(errno, EINVAL); /* unknown pt_flags bit */
	cp.pt_flags = 0;
	pt = sys->ioctl(dev, NUB_MSHV_CREATE_PARTITION, &cp);
	assert_true(pt >= 0);
	assert_int_equal(sys->ioctl(dev, NUB_MSHV_INITIALIZE_PARTITION, NULL), -1);
	assert_int_equal(errno, ENOTTY); /* partition ioctl on the device fd */
	assert_int_equal(sys->ioctl(pt, NUB_MSHV_INITIALIZE_PARTITION, NULL), 0);
	m.userspace_addr = (uint64_t)(uintptr_t)host;
	m.rsvd[3] = 1;
	assert_int_equal(sys->ioctl(pt, NUB_MSHV_SET_GUEST_MEMORY, &m), -1);
	assert_int_equal(errno, EINVAL); /* reserved byte */
	m.rsvd[3] = 0;
	m.flags = 1u << 5;
	assert_int_equal(sys->ioctl(pt, NUB_MSHV_SET_GUEST_MEMORY, &m), -1);
	assert_int_equal(errno, EINVAL); /* unknown flag */
	m.flags = 1u << NUB_MSHV_SET_MEM_BIT_UNMAP;
	assert_int_equal(sys->ioctl(pt, NUB_MSHV_SET_GUEST_MEMORY, &m), -1);
	assert_int_equal(errno, EINVAL); /* unmapping what is not mapped */
	hc.code = NUB_HVCALL_SET_VP_REGISTERS;
	hc.in_ptr = (uint64_t)(uintptr_t)in;
	hc.in_sz = sizeof(in);
	hc.status = 1;
	assert_int_equal(sys->ioctl(pt, NUB_MSHV_ROOT_HVCALL, &hc), -1);
	assert_int_equal(errno, EINVAL); /* status must be zero on input */
	hc.status = 0;
	hc.reps = 1;
	assert_int_equal(sys->ioctl(pt, NUB_MSHV_ROOT_HVCALL, &hc), -1);
	assert_int_equal(errno, EINVAL); /* input too short for one element */
	assert_int_equal(hc.status, NUB_HV_STATUS_INVALID_HYPERCALL_INPUT);
	hc.code = 0x0002; /* HVCALL_FLUSH_VIRTUAL_ADDRESS_SPACE: not passed through */
	hc.status = 0;
	assert_int_equal(sys->ioctl(pt, NUB_MSHV_ROOT_HVCALL, &hc), -1);
	assert_int_equal(errno, EINVAL);
	sys->close(pt);
	sys->close(dev);
	assert_int_equal(fake_mshv_open_fds(), 0);
	munmap(host, PAGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_probe_missing_device),
	        cmocka_unit_test(test_probe_create_partition_refused),
	        cmocka_unit_test(test_probe_creates_and_closes_a_partition),
	        cmocka_unit_test_setup_teardown(test_create_sets_up_partition, vm_setup,
	                                        vm_teardown),
	        cmocka_unit_test(test_create_failure_releases_everything),
	        cmocka_unit_test(test_create_rejects_bad_options),
	        cmocka_unit_test_setup_teardown(test_map_flags, vm_setup, vm_teardown),
	        cmocka_unit_test_setup_teardown(test_map_every_mapping_slot, vm_setup, vm_teardown),
	        cmocka_unit_test_setup_teardown(test_map_overlap_refused, vm_setup, vm_teardown),
	        cmocka_unit_test_setup_teardown(test_map_needs_writable_host_memory, vm_setup,
	                                        vm_teardown),
	        cmocka_unit_test_setup_teardown(test_regs_round_trip, vm_setup, vm_teardown),
	        cmocka_unit_test_setup_teardown(test_sregs_round_trip, vm_setup, vm_teardown),
	        cmocka_unit_test_setup_teardown(test_fpu_round_trip, vm_setup, vm_teardown),
	        cmocka_unit_test_setup_teardown(test_io_out_advances_rip_by_instruction_length,
	                                        vm_setup, vm_teardown),
	        cmocka_unit_test_setup_teardown(test_io_in_completes_rax_then_advances, vm_setup,
	                                        vm_teardown),
	        cmocka_unit_test_setup_teardown(test_halt, vm_setup, vm_teardown),
	        cmocka_unit_test_setup_teardown(test_unmapped_gpa_is_mmio, vm_setup, vm_teardown),
	        cmocka_unit_test_setup_teardown(test_memory_permissions_become_mmio, vm_setup,
	                                        vm_teardown),
	        cmocka_unit_test_setup_teardown(test_mmio_store_8_and_4_bytes, vm_setup,
	                                        vm_teardown),
	        cmocka_unit_test_setup_teardown(test_mmio_store_operand_forms, vm_setup,
	                                        vm_teardown),
	        cmocka_unit_test_setup_teardown(test_mmio_byte_store, vm_setup, vm_teardown),
	        cmocka_unit_test_setup_teardown(test_mmio_store_undecodable_is_refused, vm_setup,
	                                        vm_teardown),
	        cmocka_unit_test_setup_teardown(test_mmio_store_truncated_is_refused, vm_setup,
	                                        vm_teardown),
	        cmocka_unit_test_setup_teardown(test_mmio_store_outside_64bit_mode_is_refused,
	                                        vm_setup, vm_teardown),
	        cmocka_unit_test_setup_teardown(test_mmio_store_survives_register_access, vm_setup,
	                                        vm_teardown),
	        cmocka_unit_test_setup_teardown(test_unknown_and_malformed_messages_are_internal,
	                                        vm_setup, vm_teardown),
	        cmocka_unit_test_setup_teardown(test_interrupt_during_run, vm_setup, vm_teardown),
	        cmocka_unit_test_setup_teardown(test_interrupt_races_with_entry, vm_setup,
	                                        vm_teardown),
	        cmocka_unit_test_setup_teardown(test_interrupt_in_entry_window_is_resent, vm_setup,
	                                        vm_teardown),
	        cmocka_unit_test_setup_teardown(test_interrupt_before_run, vm_setup, vm_teardown),
	        cmocka_unit_test_setup_teardown(test_clear_interrupt_drops_request, vm_setup,
	                                        vm_teardown),
	        cmocka_unit_test_setup_teardown(test_foreign_signal_does_not_cancel, vm_setup,
	                                        vm_teardown),
	        cmocka_unit_test(test_fake_enforces_kernel_checks),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
