/* SPDX-License-Identifier: MIT */
/* Guest memory: guard pages, sealing, bounds, zeroing; the layout for four
 * configs; the message stacks against hostile values; the guest counter. */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nub/guest_abi.h>
#include <nub/types.h>

#include "memory/counter.h"
#include "memory/gbuf.h"
#include "memory/layout.h"
#include "memory/shmem.h"
#include "nub_test.h"

#define PAGE NUB_PAGE_SIZE

/* ---- shmem ---- */

static int dies_with_segv(volatile uint8_t *p, int write)
{
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL); /* not cmocka's handler: die as a host would */
		if (write)
			*p = 1;
		else
			(void)*p;
		_exit(0);
	}
	waitpid(pid, &status, 0);
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV;
}

/* The guard tests look from a forked child; a private region is not
 * inherited (MADV_DONTFORK) unless the test says so first. */
static void let_children_see(struct nub_shmem *m)
{
	const uint64_t align = 2ull << 20; /* with its guarded padding */
	uint8_t *start = (uint8_t *)nub_shmem_host(m) - PAGE;
	uint64_t len = (nub_shmem_size(m) + 2 * PAGE + align - 1) / align * align;

	assert_int_equal(madvise(start, len, MADV_DOFORK), 0);
}

/* Both guards fault, the region's first and last bytes do not: 0 when so,
 * else which check failed. */
static int guards_hold(int shared)
{
	struct nub_shmem *m = NULL;
	struct nub_error err = {0};

	if ((shared ? nub_shmem_create_shared : nub_shmem_create)(2 * PAGE, &m, &err))
		return 1;
	if (!shared)
		let_children_see(m);
	uint8_t *base = nub_shmem_host(m);
	int rc = !dies_with_segv(base - 1, 0)             ? 2
	         : !dies_with_segv(base + 2 * PAGE, 1)    ? 3
	         : dies_with_segv(base, 1)                ? 4
	         : dies_with_segv(base + 2 * PAGE - 1, 1) ? 5
	                                                  : 0;
	nub_shmem_unref(m);
	return rc;
}

/* A private region (a KVM sandbox's scratch) is not in a forked child at
 * all, so fork() neither copies nor write-protects it; a shared one (a
 * snapshot's memory) is there, read as the parent wrote it. */
static void test_shmem_private_is_not_inherited(void **state)
{
	struct nub_shmem *priv = NULL, *shared = NULL;
	struct nub_error err = {0};

	(void)state;
	assert_int_equal(nub_shmem_create(2 * PAGE, &priv, &err), 0);
	assert_int_equal(nub_shmem_create_shared(2 * PAGE, &shared, &err), 0);
	assert_int_equal(nub_shmem_write_u64(priv, 0, 7, &err), 0);
	assert_int_equal(nub_shmem_write_u64(shared, 0, 7, &err), 0);
	assert_true(dies_with_segv(nub_shmem_host(priv), 0));
	assert_false(dies_with_segv(nub_shmem_host(shared), 0));
	nub_shmem_unref(priv);
	nub_shmem_unref(shared);
}

/* Whether this process gets a mapping at the address it asks for
 * (MAP_FIXED_NOREPLACE, Linux 4.17). */
static int placement_honoured(void)
{
	uint8_t *top = mmap(NULL, 2 * PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *want = top + PAGE, *got;

	assert_true(top != MAP_FAILED);
	munmap(want, PAGE);
	got = mmap(want, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	munmap(top, PAGE);
	if (got != MAP_FAILED)
		munmap(got, PAGE);
	return got == want;
}

/* Whether this kernel has guard markers (MADV_GUARD_INSTALL, Linux 6.13). */
static int guard_markers_exist(void)
{
	void *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	int ok = madvise(p, PAGE, 102 /* MADV_GUARD_INSTALL */) == 0;
	munmap(p, PAGE);
	return ok;
}

/* 0 when two private regions made one after the other start on 2 MiB
 * boundaries and, where this process places them high, the second lies
 * directly below the first (the next two tests say why); else which check
 * failed. */
static int regions_placed(void)
{
	const uint64_t align = 2ull << 20; /* 5 pages and guards, rounded up */
	struct nub_shmem *a = NULL, *b = NULL;
	struct nub_error err = {0};
	int rc = 1;

	if (nub_shmem_create(5 * PAGE, &a, &err))
		return rc;
	if (nub_shmem_create(5 * PAGE, &b, &err))
		goto unref_a;
	uintptr_t sa = (uintptr_t)nub_shmem_host(a) - PAGE,
	          sb = (uintptr_t)nub_shmem_host(b) - PAGE;
	rc = sa % align || sb % align                                         ? 2
	     : sa >= (4ull << 30) && placement_honoured() && sb + align != sa ? 3
	                                                                      : 0;
	nub_shmem_unref(b);
unref_a:
	nub_shmem_unref(a);
	return rc;
}

/* The kernels without guard markers (MADV_GUARD_INSTALL, Linux 6.13; for
 * shared mappings 6.15, Debian 12 has 6.1) take the other way to the same
 * guards, on regions placed the same way: in a child whose seccomp filter
 * answers that madvise with EINVAL. */
static void test_shmem_guards_without_guard_markers(void **state)
{
	(void)state;
	assert_int_equal(guards_hold(0), 0);
	assert_int_equal(guards_hold(1), 0);
	assert_int_equal(regions_placed(), 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct sock_filter f[] = {
		        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_madvise, 0, 3),
		        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
		        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 102 /* MADV_GUARD_INSTALL */, 0, 1),
		        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EINVAL),
		        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		};
		struct sock_fprog prog = {sizeof(f) / sizeof(f[0]), f};
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
		    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
			_exit(100);
		void *page = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		                  -1, 0);
		if (page == MAP_FAILED || madvise(page, PAGE, 102) == 0 || errno != EINVAL)
			_exit(101); /* the filter must be what this test takes it for */
		int a = guards_hold(0), b = guards_hold(1), c = regions_placed();
		_exit(a ? 10 + a : b ? 20 + b : c ? 30 + c : 0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* Whether a line of /proc/self/maps (one VMA) covers [lo, hi), or, with
 * hi NULL, starts or ends at lo. */
static int maps_has(const void *lo, const void *hi)
{
	FILE *f = fopen("/proc/self/maps", "r");
	unsigned long start, end, a = (uintptr_t)lo, b = (uintptr_t)hi;
	char line[512];
	int found = 0;

	assert_non_null(f);
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "%lx-%lx", &start, &end) == 2 &&
		        (hi ? start <= a && b <= end : start == a || end == a);
	fclose(f);
	return found;
}

/* Private regions made one after another lie one directly below the
 * other, so the kernel merges their mappings into one VMA (KVM_CREATE_VM
 * walks every VMA of the process) -- also where the kernel would have put
 * the next elsewhere: here the hole a freed region left above. 64 MiB each
 * (reserved, never touched but for a page each): only the process's big
 * free range holds them, so the space below is free. The merge needs the
 * region's flags (MADV_DONTFORK) set before its guard markers: those give
 * it an anon_vma of its own, and VMAs with different ones never merge (a
 * sandbox took two VMAs, its scratch one and its kvm_run page one). */
static void test_shmem_private_regions_stack_down(void **state)
{
	/* With its guards, rounded up to 2 MiB (see the next test). */
	const uint64_t size = 64ull << 20, total = 66ull << 20;
	struct nub_shmem *x = NULL, *a = NULL, *b = NULL;
	struct nub_error err = {0};

	(void)state;
	if (!placement_honoured()) {
		skip(); /* no MAP_FIXED_NOREPLACE here: nub falls back to mmap(NULL) */
		return;
	}
	assert_int_equal(nub_shmem_create(size, &x, &err), 0);
	if ((uintptr_t)nub_shmem_host(x) < (4ull << 30)) {
		/* Mappings placed bottom-up, low (valgrind's): nub asks for no
		 * address below 1 GiB and leaves the placement to mmap. */
		nub_shmem_unref(x);
		skip();
		return;
	}
	assert_int_equal(nub_shmem_create(size, &a, &err), 0);
	uint8_t *a_start = (uint8_t *)nub_shmem_host(a) - PAGE;
	assert_ptr_equal(a_start + total, (uint8_t *)nub_shmem_host(x) - PAGE);
	nub_shmem_unref(x);
	assert_int_equal(nub_shmem_create(size, &b, &err), 0);
	assert_ptr_equal((uint8_t *)nub_shmem_host(b) - PAGE + total, a_start);
	assert_int_equal(nub_shmem_write_u64(a, 0, 7, &err), 0);
	assert_int_equal(nub_shmem_write_u64(b, 0, 7, &err), 0);
	/* One VMA, where the guards are markers; else the guards are pages
	 * of their own protection, VMAs of their own (Debian 12's 6.1). */
	assert_true(maps_has((uint8_t *)nub_shmem_host(b) - PAGE, a_start + total) ||
	            !guard_markers_exist());
	assert_int_equal(guards_hold(0), 0); /* guards between neighbours still fault */
	nub_shmem_unref(b);
	nub_shmem_unref(a);
}

/* A private region starts and ends on a 2 MiB boundary, its padding
 * guarded: freeing one whose mapping merged with its neighbours splits
 * their VMA only there, where the kernel does not call every KVM VM's MMU
 * notifier to look for a huge page straddling the split (a third of a
 * free's time with 5,000 sandboxes alive, docs/performance.md). */
static void test_shmem_private_regions_end_on_2mib_boundaries(void **state)
{
	const uint64_t align = 2ull << 20, size = 5 * PAGE;
	struct nub_shmem *m[3] = {NULL, NULL, NULL};
	struct nub_error err = {0};
	uint8_t *start[3];

	(void)state;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(nub_shmem_create(size, &m[i], &err), 0);
		start[i] = (uint8_t *)nub_shmem_host(m[i]) - PAGE;
		assert_int_equal((uintptr_t)start[i] % align, 0);
		assert_int_equal(nub_shmem_write_u64(m[i], size - 8, 7, &err), 0);
	}
	let_children_see(m[0]);
	assert_true(dies_with_segv((uint8_t *)nub_shmem_host(m[0]) + size, 0));
	assert_true(dies_with_segv(start[0] + align - 1, 1));
	nub_shmem_unref(m[1]);
	/* Freed whole: nothing of it is left mapped beside its neighbours. */
	assert_true(maps_has(start[1], NULL) || !placement_honoured());
	assert_true(maps_has(start[1] + align, NULL) || !placement_honoured());
	assert_int_equal(nub_shmem_read_u64(m[2], size - 8, &(uint64_t){0}, &err), 0);
	nub_shmem_unref(m[2]);
	nub_shmem_unref(m[0]);
}

static void test_shmem_guards_and_seal(void **state)
{
	struct nub_shmem *m = NULL;
	struct nub_error err = {0};
	uint8_t buf[16];

	(void)state;
	assert_nub_error(nub_shmem_create(0, &m, &err), NUB_EINVAL, &err, "size 0");
	assert_nub_error(nub_shmem_create(100, &m, &err), NUB_EINVAL, &err, "multiple of 4096");
	assert_nub_error(nub_shmem_create(NUB_SHMEM_MAX + PAGE, &m, &err), NUB_EOVERFLOW, &err,
	                 "exceeds the limit");
	assert_int_equal(nub_shmem_create(4 * PAGE, &m, &err), 0);
	let_children_see(m);
	uint8_t *base = nub_shmem_host(m);
	assert_true(dies_with_segv(base - 1, 0));
	assert_true(dies_with_segv(base + 4 * PAGE, 0));
	assert_false(dies_with_segv(base + 4 * PAGE - 1, 1));
	assert_nub_error(nub_shmem_read(m, 4 * PAGE - 8, buf, 16, &err), NUB_ERANGE, &err,
	                 "[0x3ff8, +0x10) outside region of 0x4000 bytes");
	assert_nub_error(nub_shmem_write(m, UINT64_MAX - 4, buf, 8, &err), NUB_ERANGE, &err,
	                 "outside region");
	assert_int_equal(nub_shmem_is_zero(m, 0, 4 * PAGE, &err), 1);
	assert_int_equal(nub_shmem_write_u64(m, 8, 0x1122334455667788ull, &err), 0);
	assert_int_equal(nub_shmem_is_zero(m, 0, PAGE, &err), 0);
	assert_int_equal(nub_shmem_is_zero(m, 3, 5, &err), 1);  /* unaligned, up to the word */
	assert_int_equal(nub_shmem_is_zero(m, 15, 2, &err), 0); /* its last byte */
	assert_int_equal(nub_shmem_is_zero(m, 16, 4 * PAGE - 16, &err), 1);
	assert_nub_error(nub_shmem_is_zero(m, 4 * PAGE - 8, 16, &err), NUB_ERANGE, &err,
	                 "[0x3ff8, +0x10) outside region of 0x4000 bytes");
	assert_int_equal(nub_shmem_seal(m, &err), 0);
	assert_nub_error(nub_shmem_write_u64(m, 8, 1, &err), NUB_ESTATE, &err, "sealed");
	assert_true(dies_with_segv(base + 8, 1));
	uint64_t v = 0;
	assert_int_equal(nub_shmem_read_u64(m, 8, &v, &err), 0);
	assert_int_equal(v, 0x1122334455667788ull);
	struct nub_shmem *r = nub_shmem_ref(m);
	nub_shmem_unref(m);
	nub_shmem_unref(r); /* unmapped once, by the last reference */
}

static void test_shmem_zero(void **state)
{
	struct nub_shmem *m = NULL;
	struct nub_error err = {0};
	enum nub_zero_method how;
	uint8_t page[PAGE], zero[PAGE] = {0};

	(void)state;
	assert_int_equal(nub_shmem_create(8 * PAGE, &m, &err), 0);
	memset(nub_shmem_host(m), 0xab, 8 * PAGE);
	assert_int_equal(nub_shmem_zero(m, PAGE, 4 * PAGE, &how, &err), 0);
	assert_int_equal(how, NUB_ZERO_MADVISE);
	assert_int_equal(nub_shmem_zero(m, 5 * PAGE + 10, 100, &how, &err), 0);
	assert_int_equal(how, NUB_ZERO_MEMSET);
	for (int p = 1; p < 5; p++) {
		assert_int_equal(nub_shmem_read(m, (uint64_t)p * PAGE, page, PAGE, &err), 0);
		assert_memory_equal(page, zero, PAGE);
	}
	assert_int_equal(nub_shmem_read(m, 5 * PAGE, page, PAGE, &err), 0);
	assert_int_equal(page[9], 0xab);
	assert_int_equal(page[10], 0);
	assert_int_equal(page[109], 0);
	assert_int_equal(page[110], 0xab);
	assert_int_equal(((uint8_t *)nub_shmem_host(m))[0], 0xab); /* outside the range */
	nub_shmem_unref(m);
}

/* A restore in place clears only the pages holding a non-zero byte:
 * wherever in the page that byte is (each 256-byte block the check reads
 * at once, its first and last byte), the page is found and cleared, and a
 * zero page is left alone (not counted). */
/* A page with one non-zero byte anywhere (each block edge of either scan:
 * 256 bytes for SSE2, 512 for AVX2) is cleared, a zero page is left, with
 * each of the scans this CPU has. */
static void test_shmem_clear_written(void **state)
{
	static const unsigned at[] = {0,    1,    255,  256,  511,  512,  1023,
	                              1024, 2048, 3583, 3584, 3839, 3840, PAGE - 1};
	const unsigned n = sizeof(at) / sizeof(at[0]);
	struct nub_shmem *m = NULL;
	struct nub_error err = {0};

	(void)state;
	assert_int_equal(nub_shmem_create((n + 2) * PAGE, &m, &err), 0);
	uint8_t *b = nub_shmem_host(m);
	for (int avx2 = 0; avx2 <= 1; avx2++) {
		uint64_t cleared = 0;
		if (nub_shmem_scan_use(avx2) != avx2)
			continue; /* no AVX2 here */
		for (unsigned i = 0; i < n; i++)
			b[(i + 1) * PAGE + at[i]] = 0x80; /* page 0 and the last stay zero */
		assert_int_equal(nub_shmem_clear_written(m, 0, (n + 2) * PAGE, &cleared, &err), 0);
		assert_int_equal(cleared, n);
		assert_int_equal(nub_shmem_is_zero(m, 0, (n + 2) * PAGE, &err), 1);
	}
	nub_shmem_scan_use(-1);
	assert_nub_error(nub_shmem_clear_written(m, 1, PAGE, NULL, &err), NUB_ERANGE, &err,
	                 "not page-aligned");
	nub_shmem_unref(m);
}

/* ---- layout ---- */

struct area {
	const char *name;
	uint64_t off, len;
};

static void no_overlaps(const struct area *a, size_t n, uint64_t lo, uint64_t hi)
{
	for (size_t i = 0; i < n; i++) {
		assert_true(a[i].off % PAGE == 0 && a[i].len % PAGE == 0);
		if (a[i].off < lo || a[i].off + a[i].len > hi)
			fail_msg("%s outside its region", a[i].name);
		for (size_t j = i + 1; j < n; j++)
			if (a[i].len && a[j].len && a[i].off < a[j].off + a[j].len &&
			    a[j].off < a[i].off + a[i].len)
				fail_msg("%s overlaps %s", a[i].name, a[j].name);
	}
}

static void check_layout(uint64_t heap, uint64_t io, uint64_t stack, uint64_t image)
{
	struct nub_layout_config c;
	struct nub_layout l;
	struct nub_error err = {0};
	struct nub_peb peb;

	nub_layout_config_default(&c);
	if (heap)
		c.heap_size = heap;
	if (io)
		c.input_size = c.output_size = io;
	if (stack)
		c.stack_size = c.exn_stack_size = stack;
	c.init_data_size = 100;
	if (nub_layout_compute(&c, image, &l, &err))
		fail_msg("layout: %s", err.msg);
	const struct area snap[] = {
	        {"PEB", l.peb_gpa, PAGE},
	        {"image", l.image_gpa, l.image_size},
	        {"init data", l.init_data_gpa, PAGE},
	        {"heap", l.heap_gpa, l.heap_size},
	};
	assert_true(l.peb_gpa >= NUB_BASE_GPA); /* page 0 never used */
	no_overlaps(snap, 4, NUB_BASE_GPA, NUB_BASE_GPA + l.snapshot_size);
	const struct area scratch[] = {
	        {"page tables", l.pt_offset, l.pt_reserve},
	        {"input", l.input_offset, l.input_size},
	        {"output", l.output_offset, l.output_size},
	        {"allocator", l.alloc_offset, l.alloc_limit_offset - l.alloc_offset},
	        {"stack guard", l.stack_guard_offset, PAGE},
	        {"stack", l.stack_guard_offset + PAGE, l.stack_size},
	        {"exn guard", l.exn_stack_guard_offset, PAGE},
	        {"exn stack", l.exn_stack_guard_offset + PAGE, l.exn_stack_size},
	        {"bookkeeping", l.bookkeeping_offset, PAGE},
	};
	no_overlaps(scratch, sizeof(scratch) / sizeof(scratch[0]), 0, l.scratch_size);
	assert_int_equal(l.stack_top_offset, l.stack_guard_offset + PAGE + l.stack_size);
	assert_int_equal(l.bookkeeping_offset, l.scratch_size - PAGE);
	assert_int_equal(l.scratch_gpa, NUB_GPA_LIMIT - l.scratch_size);
	assert_int_equal(l.scratch_gva, NUB_SCRATCH_GVA_END - l.scratch_size);
	assert_true(l.pt_reserve >= nub_layout_pt_bytes(l.snapshot_size, l.scratch_size));
	assert_true(l.alloc_limit_offset - l.alloc_offset >= l.snapshot_size);
	nub_layout_fill_peb(&l, &peb);
	assert_int_equal(peb.magic, NUB_PEB_MAGIC);
	assert_int_equal(peb.heap_gva, l.heap_gpa);
	assert_int_equal(peb.input_gva, l.scratch_gva + l.input_offset);
	assert_int_equal(peb.stack_top_gva, l.scratch_gva + l.stack_top_offset);
	assert_int_equal(peb.pt_gpa, l.scratch_gpa);
}

static void test_layout_configs(void **state)
{
	(void)state;
	for (uint64_t image = PAGE; image <= (3u << 20); image += (3u << 20) - PAGE) {
		check_layout(0, 0, 0, image);          /* default */
		check_layout(PAGE, PAGE, PAGE, image); /* small */
		check_layout(64u << 20, 0, 0, image);  /* 64 MiB heap */
		check_layout(256u << 20, 0, 0, image); /* 256 MiB heap */
	}
}

static void test_layout_bad_configs(void **state)
{
	struct nub_layout_config c;
	struct nub_layout l;
	struct nub_error err = {0};

	(void)state;
	nub_layout_config_default(&c);
	c.input_size = 0;
	assert_nub_error(nub_layout_compute(&c, PAGE, &l, &err), NUB_EINVAL, &err, "input_size");
	nub_layout_config_default(&c);
	c.stack_size = 0;
	assert_nub_error(nub_layout_compute(&c, PAGE, &l, &err), NUB_EINVAL, &err, "stack_size");
	nub_layout_config_default(&c);
	c.scratch_size = 16 * PAGE;
	assert_nub_error(nub_layout_compute(&c, PAGE, &l, &err), NUB_EINVAL, &err, "scratch_size");
	nub_layout_config_default(&c);
	c.heap_size = 1ull << 62;
	assert_nub_error(
	        nub_layout_compute(&c, PAGE, &l, &err), NUB_EOVERFLOW, &err,
	        "heap_size 0x4000000000000000 exceeds the 0x1000000000-byte guest-physical "
	        "space");
	nub_layout_config_default(&c);
	c.heap_size = NUB_GPA_LIMIT; /* fits alone, not with the room to copy it */
	assert_nub_error(nub_layout_compute(&c, PAGE, &l, &err), NUB_EOVERFLOW, &err,
	                 "do not fit the 0x1000000000-byte guest-physical space");
	nub_layout_config_default(&c);
	c.heap_size = UINT64_MAX;
	assert_nub_error(nub_layout_compute(&c, PAGE, &l, &err), NUB_EOVERFLOW, &err, "heap_size");
	nub_layout_config_default(&c);
	assert_nub_error(nub_layout_compute(&c, 0, &l, &err), NUB_EINVAL, &err, "image_size");
}

/* ---- buffers ---- */

#define WIN_OFF  64u
#define WIN_SIZE 256u

struct win {
	struct nub_shmem *m;
	struct nub_gbuf b;
};

static void win_init(struct win *w)
{
	struct nub_error err = {0};

	assert_int_equal(nub_shmem_create(PAGE, &w->m, &err), 0);
	memset(nub_shmem_host(w->m), 0xcc, PAGE); /* canaries around the window */
	nub_gbuf_init(&w->b, w->m, WIN_OFF, WIN_SIZE, "output buffer");
	assert_int_equal(nub_gbuf_clear(&w->b, &err), 0);
}

static void win_check_canaries(struct win *w)
{
	const uint8_t *p = nub_shmem_host(w->m);

	for (unsigned i = 0; i < WIN_OFF; i++)
		assert_int_equal(p[i], 0xcc);
	for (unsigned i = WIN_OFF + WIN_SIZE; i < PAGE; i++)
		assert_int_equal(p[i], 0xcc);
}

static void poke(struct win *w, uint64_t off, uint64_t v)
{
	memcpy((uint8_t *)nub_shmem_host(w->m) + WIN_OFF + off, &v, 8);
}

static void test_gbuf_round_trip(void **state)
{
	struct win w;
	struct nub_error err = {0};
	uint8_t out[WIN_SIZE];
	uint64_t len;

	(void)state;
	win_init(&w);
	assert_int_equal(nub_gbuf_push(&w.b, "first", 5, &err), 0);
	assert_int_equal(nub_gbuf_push(&w.b, "", 0, &err), 0);
	assert_int_equal(nub_gbuf_push(&w.b, "third!", 6, &err), 0);
	assert_nub_error(nub_gbuf_pop(&w.b, out, 3, &len, &err), NUB_ERANGE, &err, "exceeds");
	assert_int_equal(nub_gbuf_pop(&w.b, out, sizeof(out), &len, &err), 0); /* still there */
	assert_int_equal(len, 6);
	assert_memory_equal(out, "third!", 6);
	assert_int_equal(nub_gbuf_pop(&w.b, out, sizeof(out), &len, &err), 0);
	assert_int_equal(len, 0);
	assert_int_equal(nub_gbuf_pop(&w.b, out, sizeof(out), &len, &err), 0);
	assert_memory_equal(out, "first", 5);
	assert_nub_error(nub_gbuf_pop(&w.b, out, sizeof(out), &len, &err), NUB_EEMPTY, &err,
	                 "output buffer: empty");
	memset(out, 'x', sizeof(out));
	assert_nub_error(nub_gbuf_push(&w.b, out, WIN_SIZE - 15, &err), NUB_EFULL, &err,
	                 "does not fit");
	assert_int_equal(nub_gbuf_push(&w.b, out, WIN_SIZE - 16, &err), 0); /* exactly fits */
	win_check_canaries(&w);
	nub_shmem_unref(w.m);
}

static void test_gbuf_hostile(void **state)
{
	static const struct {
		uint64_t sp, back;
		int set_back;
		const char *needle;
	} cases[] = {
	        {1, 0, 0, "stack pointer 0x1 outside"},
	        {7, 0, 0, "stack pointer 0x7 outside"},
	        {WIN_SIZE + 1, 0, 0, "stack pointer 0x101 outside"},
	        {UINT64_MAX, 0, 0, "stack pointer 0xffffffffffffffff outside"},
	        {1ull << 63, 0, 0, "stack pointer 0x8000000000000000 outside"},
	        {12, 0, 0, "stack pointer 0xc too small"},
	        {64, 0, 1, "back-pointer 0x0 outside"},
	        {64, 7, 1, "back-pointer 0x7 outside"},
	        {64, 57, 1, "back-pointer 0x39 outside"},
	        {64, UINT64_MAX - 7, 1, "back-pointer 0xfffffffffffffff8 outside"},
	};
	struct win w;
	struct nub_error err = {0};
	uint8_t out[WIN_SIZE];
	uint64_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		win_init(&w);
		poke(&w, 0, cases[i].sp);
		if (cases[i].set_back)
			poke(&w, cases[i].sp - 8, cases[i].back);
		assert_nub_error(nub_gbuf_pop(&w.b, out, sizeof(out), &len, &err), NUB_ECORRUPT,
		                 &err, cases[i].needle);
		if (!cases[i].set_back && (cases[i].sp < 8 || cases[i].sp > WIN_SIZE))
			assert_nub_error(nub_gbuf_push(&w.b, "x", 1, &err), NUB_ECORRUPT, &err,
			                 "stack pointer");
		win_check_canaries(&w);
		nub_shmem_unref(w.m);
	}
}

/* ---- counter ---- */

static void test_counter_host_authoritative(void **state)
{
	struct nub_shmem *m = NULL;
	struct nub_error err = {0};
	struct nub_guest_counter c;
	uint64_t word;

	(void)state;
	assert_int_equal(nub_shmem_create(PAGE, &m, &err), 0);
	nub_counter_init(&c, m, PAGE);
	assert_int_equal(nub_counter_add(&c, 41, &err), 0);
	assert_int_equal(nub_counter_add(&c, 1, &err), 0);
	assert_int_equal(nub_shmem_read_u64(m, PAGE - NUB_SCRATCH_TOP_GUEST_COUNTER, &word, &err),
	                 0);
	assert_int_equal(word, 42);
	/* The guest scribbles; the host's value does not change. */
	assert_int_equal(nub_shmem_write_u64(m, PAGE - NUB_SCRATCH_TOP_GUEST_COUNTER, 7, &err), 0);
	assert_int_equal(nub_counter_value(&c), 42);
	assert_nub_error(nub_counter_add(&c, -43, &err), NUB_ERANGE, &err, "below zero");
	assert_int_equal(nub_counter_value(&c), 42);
	assert_int_equal(nub_counter_add(&c, INT64_MAX, &err), 0);
	assert_nub_error(nub_counter_add(&c, INT64_MAX, &err), NUB_EOVERFLOW, &err, "overflows");
	assert_int_equal(nub_counter_add(&c, INT64_MIN, &err), 0);
	assert_int_equal(nub_counter_value(&c), 41);
	nub_shmem_unref(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_shmem_guards_and_seal),
	        cmocka_unit_test(test_shmem_private_is_not_inherited),
	        cmocka_unit_test(test_shmem_guards_without_guard_markers),
	        cmocka_unit_test(test_shmem_private_regions_stack_down),
	        cmocka_unit_test(test_shmem_private_regions_end_on_2mib_boundaries),
	        cmocka_unit_test(test_shmem_zero),
	        cmocka_unit_test(test_shmem_clear_written),
	        cmocka_unit_test(test_layout_configs),
	        cmocka_unit_test(test_layout_bad_configs),
	        cmocka_unit_test(test_gbuf_round_trip),
	        cmocka_unit_test(test_gbuf_hostile),
	        cmocka_unit_test(test_counter_host_authoritative),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
