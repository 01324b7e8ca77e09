/* SPDX-License-Identifier: MIT */
/*
 * The host's mappings (nub_sandbox_map_region, _map_file, _unmap) on the
 * backend under test (the mock, or NUB_TEST_SANDBOX_BACKEND=kvm directly
 * and nested): what the guest sees and may do, what the host sees back,
 * what a snapshot and a restore do to them, and every refusal with its
 * code and message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <nub/guest_abi.h>
#include <nub/nub.h>

#include "../../guest/tests/test_guest_ids.h"
#include "nub_test.h"
#include "nub_test_sandbox.h"

#define PAGE 4096u

static char dir[256];

static int setup(void **state)
{
	static uint8_t bytes[3 * PAGE + 100];

	(void)state;
	nub_test_tmpdir(dir, sizeof(dir), "maps");
	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (uint8_t)(i % 199);
	nub_test_write_file(dir, "data.bin", bytes, sizeof(bytes));
	nub_test_write_file(dir, "empty", "", 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return nub_test_rmtree(dir);
}

static const char *file(const char *name)
{
	static char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return path;
}

/* Shared memory, as every backend can map (the mock needs it). */
static uint8_t *shared(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	return p;
}

/* The guest reads `len` bytes at gva: the call's rc, the bytes in out. */
static int guest_read(struct nub_sandbox *sb, nub_gva_t gva, uint32_t len, void *out)
{
	uint8_t req[13] = {NUB_TG_MEM_READ};
	int32_t status = -1;
	size_t n = 0;
	int rc;

	memcpy(req + 1, &gva, 8);
	memcpy(req + 9, &len, 4);
	rc = nub_sandbox_call(sb, NUB_TG_MEM, req, sizeof(req), out, len, &n, &status);
	if (!rc && (status || n != len))
		fail_msg("read 0x%llx: status %d, %zu bytes", (unsigned long long)gva, status, n);
	return rc;
}

static int guest_write(struct nub_sandbox *sb, nub_gva_t gva, const void *p, uint32_t len)
{
	uint8_t req[13 + 64] = {NUB_TG_MEM_WRITE};
	int32_t status = -1;
	size_t n = 0;
	int rc;

	assert_true(len <= 64);
	memcpy(req + 1, &gva, 8);
	memcpy(req + 9, &len, 4);
	memcpy(req + 13, p, len);
	rc = nub_sandbox_call(sb, NUB_TG_MEM, req, 13 + len, NULL, 0, &n, &status);
	if (!rc)
		assert_int_equal(status, 0);
	return rc;
}

/* A guest access that must fault, naming the address; then restore. */
static void expect_fault(struct nub_sandbox *sb, int rc, nub_gva_t gva)
{
	char cr2[40];

	snprintf(cr2, sizeof(cr2), "CR2 0x%llx", (unsigned long long)gva);
	if (rc != NUB_EGUEST_FAULT || !strstr(nub_sandbox_last_error(sb), cr2))
		fail_msg("got %s '%s', want a fault at %s", nub_strerror(rc),
		         nub_sandbox_last_error(sb), cr2);
	assert_int_equal(nub_sandbox_restore(sb, NULL), 0);
}

static void expect_refused(struct nub_sandbox *sb, int rc, int want, const char *needle)
{
	if (rc != want || !strstr(nub_sandbox_last_error(sb), needle))
		fail_msg("got %s '%s', want %s '%s'", nub_strerror(rc), nub_sandbox_last_error(sb),
		         nub_strerror(want), needle);
}

static struct nub_mapping_info guest_mapping(struct nub_sandbox *sb, uint32_t tag, int32_t *st)
{
	struct nub_mapping_info m = {0};

	*st = nub_test_call(sb, NUB_TG_MAPPING, &tag, sizeof(tag), &m, sizeof(m), NULL);
	return m;
}

static void test_region_read_only_and_shared(void **state)
{
	struct nub_sandbox *sb = nub_test_sandbox("test_guest", NULL);
	uint8_t *mem = shared(2 * PAGE), got[8];
	nub_gva_t gva = 0;
	struct nub_mapping_info info;
	int32_t st;
	(void)state;

	memcpy(mem + PAGE, "host-one", 8);
	assert_int_equal(nub_sandbox_map_region(sb, mem, 2 * PAGE, NUB_MAP_READ, 7, &gva), 0);
	assert_true(gva >= (4ull << 30) && gva % PAGE == 0);
	info = guest_mapping(sb, 7, &st);
	assert_int_equal(st, 0);
	assert_true(info.gva == gva && info.size == 2 * PAGE && info.flags == NUB_MAP_READ);
	assert_int_equal(guest_read(sb, gva + PAGE, 8, got), 0);
	assert_memory_equal(got, "host-one", 8);
	/* The host's later stores are what the guest reads: the same pages. */
	memcpy(mem + PAGE, "host-two", 8);
	assert_int_equal(guest_read(sb, gva + PAGE, 8, got), 0);
	assert_memory_equal(got, "host-two", 8);
	/* Read-only: a store faults, and the memory keeps its bytes. */
	expect_fault(sb, guest_write(sb, gva + 16, "x", 1), gva + 16);
	assert_int_equal(mem[16], 0);
	/* That restore removed the mapping: gone for the guest too. */
	info = guest_mapping(sb, 7, &st);
	assert_int_equal(st, NUB_ENOTFOUND);
	expect_fault(sb, guest_read(sb, gva + PAGE, 8, got), gva + PAGE);
	nub_sandbox_free(sb);
	munmap(mem, 2 * PAGE);
}

static void test_region_writable(void **state)
{
	struct nub_sandbox *sb = nub_test_sandbox("test_guest", NULL);
	uint8_t *mem = shared(PAGE), got[5];
	nub_gva_t gva = 6ull << 30; /* the caller's choice */
	(void)state;

	assert_int_equal(
	        nub_sandbox_map_region(sb, mem, PAGE, NUB_MAP_READ | NUB_MAP_WRITE, 1, &gva), 0);
	assert_true(gva == 6ull << 30);
	assert_int_equal(guest_write(sb, gva + 100, "guest", 5), 0);
	assert_memory_equal(mem + 100, "guest", 5);
	assert_int_equal(guest_read(sb, gva + 100, 5, got), 0);
	assert_memory_equal(got, "guest", 5);
	/* Unmapped: gone, and the memory is the host's again. */
	assert_int_equal(nub_sandbox_unmap(sb, gva), 0);
	expect_fault(sb, guest_read(sb, gva, 1, got), gva);
	expect_refused(sb, nub_sandbox_unmap(sb, gva), NUB_ENOTFOUND,
	               "unmap: no mapping starts at 0x180000000");
	nub_sandbox_free(sb);
	munmap(mem, PAGE);
}

/* Code the host puts in a mapping runs only when mapped executable. */
static void test_region_exec(void **state)
{
	static const uint8_t code[] = {0xb8, 42, 0, 0, 0, 0xc3}; /* mov $42, %eax; ret */
	struct nub_sandbox *sb = nub_test_sandbox("test_guest", NULL);
	uint8_t *mem = shared(PAGE), req[13] = {NUB_TG_MEM_EXEC};
	nub_gva_t gva = 0;
	uint64_t v = 0;
	int32_t status = -1;
	size_t n;
	(void)state;

	memcpy(mem, code, sizeof(code));
	assert_int_equal(
	        nub_sandbox_map_region(sb, mem, PAGE, NUB_MAP_READ | NUB_MAP_EXEC, 2, &gva), 0);
	memcpy(req + 1, &gva, 8);
	assert_int_equal(
	        nub_sandbox_call(sb, NUB_TG_MEM, req, sizeof(req), &v, sizeof(v), &n, &status), 0);
	assert_int_equal(v, 42);
	assert_int_equal(nub_sandbox_restore(sb, NULL), 0);
	gva = 0;
	assert_int_equal(nub_sandbox_map_region(sb, mem, PAGE, NUB_MAP_READ, 2, &gva), 0);
	memcpy(req + 1, &gva, 8);
	expect_fault(sb,
	             nub_sandbox_call(sb, NUB_TG_MEM, req, sizeof(req), &v, sizeof(v), &n, &status),
	             gva);
	nub_sandbox_free(sb);
	munmap(mem, PAGE);
}

/* A file read-only, and copy-on-write: each sandbox's stores are its own
 * and the file never changes. */
static void test_file(void **state)
{
	struct nub_snapshot *snap = nub_test_snapshot_after_init("test_guest");
	struct nub_sandbox *a = nub_test_sandbox_from(snap), *b = nub_test_sandbox_from(snap);
	nub_gva_t ga = 0, gb = 0, gro = 0;
	uint64_t size = 0;
	uint8_t got[4];
	size_t n;
	uint8_t *disk;
	(void)state;

	assert_int_equal(nub_sandbox_map_file(a, file("data.bin"), NUB_MAP_READ | NUB_MAP_WRITE, 3,
	                                      &ga, &size),
	                 0);
	assert_int_equal(size, 4 * PAGE); /* 3 pages + 100 bytes, rounded up */
	assert_int_equal(nub_sandbox_map_file(b, file("data.bin"), NUB_MAP_READ | NUB_MAP_WRITE, 3,
	                                      &gb, NULL),
	                 0);
	assert_int_equal(guest_read(a, ga + PAGE + 1, 1, got), 0);
	assert_int_equal(got[0], (PAGE + 1) % 199);
	assert_int_equal(guest_read(a, ga + 3 * PAGE + 100, 1, got), 0);
	assert_int_equal(got[0], 0); /* past the end of the file: zero */
	assert_int_equal(guest_write(a, ga + PAGE, "AAAA", 4), 0);
	assert_int_equal(guest_read(a, ga + PAGE, 4, got), 0);
	assert_memory_equal(got, "AAAA", 4);
	assert_int_equal(guest_read(b, gb + PAGE, 4, got), 0);
	assert_int_equal(got[0], PAGE % 199);
	disk = nub_test_slurp(file("data.bin"), &n);
	assert_int_equal(disk[PAGE], PAGE % 199);
	free(disk);
	/* Read-only: a store faults. */
	assert_int_equal(nub_sandbox_map_file(b, file("data.bin"), NUB_MAP_READ, 4, &gro, NULL), 0);
	assert_int_equal(guest_read(b, gro + 5, 1, got), 0);
	assert_int_equal(got[0], 5);
	expect_fault(b, guest_write(b, gro + 5, "x", 1), gro + 5);
	nub_sandbox_free(b);
	nub_sandbox_free(a);
	nub_snapshot_unref(snap);
}

/* A snapshot never records a mapping, nor the copies made of its pages. */
static void test_snapshot_leaves_mappings_out(void **state)
{
	struct nub_sandbox *sb = nub_test_sandbox("test_guest", NULL), *from;
	struct nub_snapshot *snap;
	nub_gva_t gva = 0;
	uint8_t got[4];
	int32_t st;
	(void)state;

	assert_int_equal(nub_sandbox_map_file(sb, file("data.bin"), NUB_MAP_READ | NUB_MAP_WRITE, 5,
	                                      &gva, NULL),
	                 0);
	assert_int_equal(guest_write(sb, gva, "copy", 4), 0);
	assert_int_equal(nub_sandbox_snapshot(sb, &snap), 0);
	from = nub_test_sandbox_from(snap);
	guest_mapping(from, 5, &st);
	assert_int_equal(st, NUB_ENOTFOUND);
	expect_fault(from, guest_read(from, gva, 4, got), gva);
	/* The original keeps it until its restore. */
	assert_int_equal(guest_read(sb, gva, 4, got), 0);
	assert_memory_equal(got, "copy", 4);
	assert_int_equal(nub_sandbox_restore(sb, snap), 0);
	expect_fault(sb, guest_read(sb, gva, 4, got), gva);
	nub_sandbox_free(from);
	nub_sandbox_free(sb);
	nub_snapshot_unref(snap);
}

/* A pooled VM comes back without its last user's mappings. */
static void test_pool_drops_mappings(void **state)
{
	struct nub_snapshot *snap = nub_test_snapshot_after_init("test_guest");
	struct nub_sandbox *sb;
	uint8_t *mem = shared(PAGE), got[1];
	nub_gva_t gva = 0;
	int32_t st;
	(void)state;

	assert_int_equal(nub_snapshot_set_pool(snap, 1), 0);
	sb = nub_test_sandbox_from(snap);
	assert_int_equal(nub_sandbox_map_region(sb, mem, PAGE, NUB_MAP_READ, 9, &gva), 0);
	nub_sandbox_free(sb);
	sb = nub_test_sandbox_from(snap);
	assert_int_equal(nub_test_stats(sb).vms_recycled, 1);
	guest_mapping(sb, 9, &st);
	assert_int_equal(st, NUB_ENOTFOUND);
	expect_fault(sb, guest_read(sb, gva, 1, got), gva);
	nub_sandbox_free(sb);
	nub_snapshot_unref(snap);
	munmap(mem, PAGE);
}

static void test_refusals(void **state)
{
	struct nub_config cfg;
	struct nub_sandbox *sb, *fresh;
	struct nub_error err = {0};
	uint8_t *mem = shared(4 * PAGE), *priv;
	nub_gva_t gva, first = 0;
	struct nub_peb p;
	(void)state;

	nub_config_init(&cfg);
	sb = nub_test_sandbox("test_guest", &cfg);
	nub_test_call(sb, NUB_TG_PEB, NULL, 0, &p, sizeof(p), NULL);
	gva = 0;
	expect_refused(sb, nub_sandbox_map_region(sb, NULL, PAGE, 0, 0, &gva), NUB_EINVAL,
	               "map_region: NULL host");
	expect_refused(sb, nub_sandbox_map_region(sb, mem + 1, PAGE, 0, 0, &gva), NUB_EINVAL,
	               "must be page-aligned and size non-zero");
	expect_refused(sb, nub_sandbox_map_region(sb, mem, 0, 0, 0, &gva), NUB_EINVAL,
	               "must be page-aligned and size non-zero");
	expect_refused(sb, nub_sandbox_map_region(sb, mem, PAGE, 0x80, 0, &gva), NUB_EINVAL,
	               "map: flags 0x80 have unknown bits");
	gva = (5ull << 30) + 1;
	expect_refused(sb, nub_sandbox_map_region(sb, mem, PAGE, 0, 0, &gva), NUB_EINVAL,
	               "is not page-aligned");
	gva = p.heap_gva; /* the snapshot region */
	expect_refused(sb, nub_sandbox_map_region(sb, mem, PAGE, 0, 0, &gva), NUB_ERANGE,
	               "between the snapshot region and scratch");
	gva = p.scratch_gpa - PAGE; /* runs into scratch */
	expect_refused(sb, nub_sandbox_map_region(sb, mem, 2 * PAGE, 0, 0, &gva), NUB_ERANGE,
	               "between the snapshot region and scratch");
	assert_int_equal(nub_sandbox_map_region(sb, mem, 2 * PAGE, 0, 1, &first), 0);
	gva = first + PAGE;
	expect_refused(sb, nub_sandbox_map_region(sb, mem, PAGE, 0, 2, &gva), NUB_ERANGE,
	               "overlaps the mapping at");
	/* At most NUB_MAPPINGS_MAX. */
	for (unsigned i = 1; i < NUB_MAPPINGS_MAX; i++) {
		gva = 0;
		assert_int_equal(nub_sandbox_map_region(sb, mem, PAGE, 0, 100 + i, &gva), 0);
	}
	gva = 0;
	expect_refused(sb, nub_sandbox_map_region(sb, mem, PAGE, 0, 0, &gva), NUB_EFULL,
	               "30 mappings already (NUB_MAPPINGS_MAX)");
	assert_int_equal(nub_sandbox_restore(sb, NULL), 0); /* all gone: room again */
	gva = 0;
	assert_int_equal(nub_sandbox_map_region(sb, mem, PAGE, 0, 0, &gva), 0);
	/* Files. */
	gva = 0;
	expect_refused(sb, nub_sandbox_map_file(sb, file("missing"), 0, 0, &gva, NULL),
	               NUB_ENOTFOUND, "map_file: cannot open");
	expect_refused(sb, nub_sandbox_map_file(sb, file("empty"), 0, 0, &gva, NULL), NUB_EINVAL,
	               "is not a non-empty regular file");
	expect_refused(sb, nub_sandbox_map_file(sb, dir, 0, 0, &gva, NULL), NUB_EINVAL,
	               "is not a non-empty regular file");
	/* Private memory: fine where the backend maps the host's own pages,
	 * refused where it must alias them in another process. */
	priv = aligned_alloc(PAGE, PAGE);
	gva = 0;
	if (!strcmp(nub_sandbox_backend_name(sb), "mock")) {
		expect_refused(sb, nub_sandbox_map_region(sb, priv, PAGE, 0, 0, &gva),
		               NUB_EUNSUPPORTED, "must be shared (MAP_SHARED or a memfd)");
	} else {
		assert_int_equal(nub_sandbox_map_region(sb, priv, PAGE, 0, 0, &gva), 0);
		assert_int_equal(nub_sandbox_unmap(sb, gva), 0);
	}
	/* A poisoned sandbox, one not evolved. */
	expect_fault(sb, guest_read(sb, 8, 1, priv), 8); /* NULL page: restores after */
	assert_int_equal(nub_sandbox_call(sb, NUB_TG_NULL_DEREF, NULL, 0, NULL, 0, NULL, NULL),
	                 NUB_EGUEST_FAULT);
	gva = 0;
	expect_refused(sb, nub_sandbox_map_region(sb, mem, PAGE, 0, 0, &gva), NUB_EPOISONED,
	               "map_region: sandbox poisoned");
	assert_int_equal(
	        nub_sandbox_create_from_elf(&cfg, nub_test_guest("test_guest"), &fresh, &err), 0);
	expect_refused(fresh, nub_sandbox_map_region(fresh, mem, PAGE, 0, 0, &gva), NUB_ESTATE,
	               "map_region: sandbox not evolved");
	nub_sandbox_free(fresh);
	nub_sandbox_free(sb);
	free(priv);
	munmap(mem, 4 * PAGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_region_read_only_and_shared),
	        cmocka_unit_test(test_region_writable),
	        cmocka_unit_test(test_region_exec),
	        cmocka_unit_test(test_file),
	        cmocka_unit_test(test_snapshot_leaves_mappings_out),
	        cmocka_unit_test(test_pool_drops_mappings),
	        cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
