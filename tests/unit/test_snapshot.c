/* SPDX-License-Identifier: MIT */
/*
 * Snapshots without hardware: the page tables built from a real guest ELF
 * map every page of every region with the right kind and permissions and
 * nothing else (never page 0); captured snapshots restore independently;
 * saved files load back bit-exactly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmem.h"
#include <nub/guest_abi.h>
#include <nub/nub.h>

#include "../../guest/tests/test_guest_ids.h"
#include "image/elf_loader.h"
#include "image/snapshot.h"
#include "memory/vmem_host.h"
#include "nub_test.h"

#define PAGE NUB_PAGE_SIZE

static const char *guest(const char *name)
{
	static char path[4096];

	snprintf(path, sizeof(path), "%s/%s.elf", nub_test_env("NUB_GUEST_DIR"), name);
	return path;
}

/* What the layout says one page must be (guest ABI 2: guest memory is
 * user, the host's CPL0 part supervisor, the CoW area unmapped). */
static void expected(const struct nub_snapshot *s, const struct nub_elf_image *img, uint64_t va,
                     uint32_t *kind, uint32_t *perms)
{
	const struct nub_layout *l = &s->layout;
	const uint32_t U = NUB_VMEM_USER;

	*kind = NUB_VMEM_BASIC;
	*perms = 0;
	if (va == l->peb_gpa) { /* the host's entry stub runs from it */
		*perms = NUB_VMEM_R | NUB_VMEM_X | U;
		return;
	}
	if (va == l->sys_tables_gpa) {
		*perms = NUB_VMEM_R;
		return;
	}
	if (va == l->sys_stubs_gpa) {
		*perms = NUB_VMEM_R | NUB_VMEM_X;
		return;
	}
	if (nub_layout_is_doorbell_page(va)) {
		*perms = NUB_VMEM_R | NUB_VMEM_W | U;
		return;
	}
	for (unsigned i = 0; i < img->nsegs; i++) {
		uint64_t lo = l->image_gpa + img->segs[i].offset;
		if (va >= lo && va < lo + img->segs[i].size) {
			uint32_t p = img->segs[i].perms | NUB_VMEM_R | U;
			*kind = (p & NUB_VMEM_W) ? NUB_VMEM_COW : NUB_VMEM_BASIC;
			*perms = p & ~(uint32_t)NUB_VMEM_W;
			return;
		}
	}
	if (va >= l->heap_gpa && va < l->heap_gpa + l->heap_size) {
		*kind = NUB_VMEM_COW;
		*perms = NUB_VMEM_R | U;
		return;
	}
	if (va >= l->scratch_gva && va < l->scratch_gva + l->scratch_size) {
		uint64_t off = va - l->scratch_gva;
		if (off < l->input_offset ||
		    (off > l->exn_stack_guard_offset && off < l->bookkeeping_offset))
			*perms = NUB_VMEM_R | NUB_VMEM_W; /* tables, exception stack */
		else if (off < l->alloc_offset ||
		         (off > l->stack_guard_offset && off < l->exn_stack_guard_offset))
			*perms = NUB_VMEM_R | NUB_VMEM_W | U; /* buffers, stack */
		else if (off >= l->bookkeeping_offset)
			*perms = NUB_VMEM_R | U;
		else
			*kind = NUB_VMEM_UNMAPPED; /* CoW area, guard pages */
		return;
	}
	*kind = NUB_VMEM_UNMAPPED;
}

/* Scratch pages the guest sees: all but the CoW area and two guards. */
static uint64_t scratch_mapped_pages(const struct nub_layout *l)
{
	return l->scratch_size / PAGE - (l->alloc_limit_offset - l->alloc_offset) / PAGE - 2;
}

/* Walk the snapshot's own tables (stored after its visible part, built for
 * their live address in scratch) and compare every mapped run with the
 * layout; then count that every expected page was seen. */
static void check_tables(const struct nub_snapshot *s, const struct nub_elf_image *img)
{
	struct nub_vmem_resolver res;
	struct nub_vmem_ops ops;
	struct nub_vmem_iter it;
	struct nub_vmem_mapping run;
	uint64_t seen = 0, want = 0;
	int rc;

	nub_vmem_resolver_init(&res);
	nub_vmem_resolver_add(&res, s->layout.pt_gpa, s->pt_size,
	                      (uint8_t *)nub_shmem_host(s->mem) + s->visible_size, 0);
	nub_vmem_resolver_ops(&res, s->layout.pt_gpa, &ops);
	nub_vmem_iter_init(&it, &ops, 0, NUB_GVA_LIMIT);
	while ((rc = nub_vmem_iter_next(&it, &run)) == 1) {
		assert_true(run.gva >= NUB_BASE_GPA); /* page 0 never mapped */
		for (uint64_t off = 0; off < run.len; off += PAGE) {
			uint32_t kind, perms;
			expected(s, img, run.gva + off, &kind, &perms);
			if (kind != run.kind || perms != run.perms)
				fail_msg("page 0x%llx: kind %u perms 0x%x, want %u 0x%x",
				         (unsigned long long)(run.gva + off), run.kind, run.perms,
				         kind, perms);
			/* Snapshot pages are identity-mapped; scratch maps to its GPA;
			 * the doorbells to GPAs nothing backs. */
			uint64_t want_pa =
			        nub_layout_is_doorbell_page(run.gva + off)
			                ? NUB_DOORBELL_GPA + (run.gva + off - NUB_DOORBELL_GVA) / 2
			        : run.gva + off < s->layout.scratch_gva
			                ? run.gva + off
			                : s->layout.scratch_gpa +
			                          (run.gva + off - s->layout.scratch_gva);
			assert_int_equal(run.gpa + off, want_pa);
			seen++;
		}
	}
	assert_int_equal(rc, 0);
	for (uint64_t va = NUB_BASE_GPA; va < NUB_BASE_GPA + s->visible_size; va += PAGE) {
		uint32_t kind, perms;
		expected(s, img, va, &kind, &perms);
		want += kind != NUB_VMEM_UNMAPPED;
	}
	want += scratch_mapped_pages(&s->layout) + NUB_DOORBELL_COUNT; /* + the doorbells */
	assert_int_equal(seen, want);
}

static void build_and_check(uint64_t heap, uint64_t io, uint64_t stack)
{
	struct nub_layout_config lc;
	struct nub_elf_image img;
	struct nub_snapshot *s = NULL;
	struct nub_error err = {0};
	struct nub_peb peb;

	nub_layout_config_default(&lc);
	if (heap)
		lc.heap_size = heap;
	if (io)
		lc.input_size = lc.output_size = io;
	if (stack)
		lc.stack_size = lc.exn_stack_size = stack;
	assert_int_equal(nub_elf_load_file(guest("test_guest"), &img, &err), 0);
	if (nub_snapshot_from_elf(&lc, &img, NULL, &s, &err))
		fail_msg("snapshot: %s", err.msg);
	check_tables(s, &img);
	/* The PEB in snapshot memory is what the layout says. */
	memcpy(&peb, (uint8_t *)nub_shmem_host(s->mem) + (s->layout.peb_gpa - NUB_BASE_GPA),
	       sizeof(peb));
	assert_int_equal(peb.magic, NUB_PEB_MAGIC);
	assert_int_equal(peb.heap_size, s->layout.heap_size);
	assert_int_equal(peb.pt_gpa, s->layout.pt_gpa);
	assert_true(nub_shmem_is_sealed(s->mem));
	nub_snapshot_unref(s);
	nub_elf_free(&img);
}

static void test_tables_default(void **state)
{
	(void)state;
	build_and_check(0, 0, 0);
}

static void test_tables_small(void **state)
{
	(void)state;
	build_and_check(PAGE, 4096, PAGE);
}

static void test_tables_64m_heap(void **state)
{
	(void)state;
	build_and_check(64u << 20, 0, 0);
}

static void test_tables_256m_heap(void **state)
{
	(void)state;
	build_and_check(256u << 20, 0, 0);
}

/* ---- capture / restore / files through the mock's native guest ---- */

static struct nub_sandbox *sandbox(void)
{
	struct nub_config cfg;
	struct nub_error err = {0};
	struct nub_sandbox *sb = NULL;

	nub_config_init(&cfg);
	cfg.backend = "mock";
	assert_int_equal(nub_sandbox_create_from_elf(&cfg, guest("test_guest"), &sb, &err), 0);
	assert_int_equal(nub_sandbox_evolve(sb), 0);
	return sb;
}

static uint64_t fill(struct nub_sandbox *sb, uint32_t first, uint32_t count, uint8_t value)
{
	uint8_t in[9];
	uint64_t sum = 0;
	size_t n;
	int32_t st;

	memcpy(in, &first, 4);
	memcpy(in + 4, &count, 4);
	in[8] = value;
	assert_int_equal(nub_sandbox_call(sb, NUB_TG_PAGES, in, 9, &sum, 8, &n, &st), 0);
	assert_int_equal(st, 0);
	return sum;
}

static void test_two_snapshots_restore_independently(void **state)
{
	struct nub_snapshot *a = NULL, *b = NULL;
	uint8_t ha[16], hb[16];

	(void)state;
	struct nub_sandbox *sb = sandbox();
	uint64_t va = fill(sb, 0, 1, 3);
	assert_int_equal(nub_sandbox_snapshot(sb, &a), 0);
	uint64_t vb = fill(sb, 5, 2, 9);
	assert_int_equal(nub_sandbox_snapshot(sb, &b), 0);
	nub_snapshot_hash(a, ha);
	nub_snapshot_hash(b, hb);
	assert_memory_not_equal(ha, hb, 16);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(nub_sandbox_restore(sb, a), 0);
		assert_int_equal(fill(sb, 0, 0, 0), va);
		assert_int_equal(nub_sandbox_restore(sb, b), 0);
		assert_int_equal(fill(sb, 0, 0, 0), vb);
	}
	nub_snapshot_unref(a);
	nub_snapshot_unref(b);
	nub_sandbox_free(sb);
}

/* Capturing twice without changes gives the same hash: equality of
 * snapshots is equality of hashes. */
static void test_hash_is_content(void **state)
{
	struct nub_snapshot *a = NULL, *b = NULL;
	uint8_t ha[16], hb[16];

	(void)state;
	struct nub_sandbox *sb = sandbox();
	fill(sb, 1, 1, 1);
	assert_int_equal(nub_sandbox_snapshot(sb, &a), 0);
	assert_int_equal(nub_sandbox_snapshot(sb, &b), 0);
	nub_snapshot_hash(a, ha);
	nub_snapshot_hash(b, hb);
	assert_memory_equal(ha, hb, 16);
	nub_snapshot_unref(a);
	nub_snapshot_unref(b);
	nub_sandbox_free(sb);
}

static void test_save_load_bit_exact(void **state)
{
	char path[] = "/tmp/nub-snapshot-XXXXXX";
	struct nub_snapshot *s = NULL, *l = NULL;
	struct nub_error err = {0};
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	struct nub_sandbox *sb = sandbox();
	fill(sb, 2, 3, 0x42);
	assert_int_equal(nub_sandbox_snapshot(sb, &s), 0);
	assert_int_equal(nub_snapshot_save(s, path, &err), 0);
	assert_int_equal(nub_snapshot_load(path, &l, &err), 0);
	assert_int_equal(l->visible_size, s->visible_size);
	assert_int_equal(l->pt_size, s->pt_size);
	assert_memory_equal(nub_shmem_host(l->mem), nub_shmem_host(s->mem),
	                    s->visible_size + s->pt_size);
	assert_memory_equal(l->hash, s->hash, 16);
	assert_int_equal(l->dispatch_gva, s->dispatch_gva);
	assert_memory_equal(&l->layout, &s->layout, sizeof(s->layout));
	assert_memory_equal(&l->names, &s->names, sizeof(s->names));
	assert_memory_equal(&l->hot, &s->hot, sizeof(s->hot));
	/* Header damage is named, not trusted. */
	FILE *f = fopen(path, "r+b");
	assert_non_null(f);
	fputc('X', f);
	fclose(f);
	nub_snapshot_unref(l);
	l = NULL;
	assert_nub_error(nub_snapshot_load(path, &l, &err), NUB_ECORRUPT, &err, "bad magic");
	unlink(path);
	nub_snapshot_unref(s);
	nub_sandbox_free(sb);
}

/* Every byte of a small snapshot file, flipped in turn: each variant is
 * refused with a message naming the file (the trailing hash covers every
 * byte; the fields are validated on their own before that), never loaded
 * wrongly and never read out of bounds (ASan in the sanitizer build). */
static void test_every_flipped_byte_is_refused(void **state)
{
	char path[] = "/tmp/nub-snapshot-XXXXXX";
	struct nub_snapshot *s = NULL, *l = NULL;
	struct nub_error err = {0};
	size_t len, refused = 0;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	/* Small: hello with a one-page heap (~60 KB of file). */
	struct nub_config cfg;
	struct nub_sandbox *sb = NULL;
	nub_config_init(&cfg);
	cfg.backend = "mock";
	cfg.heap_size = 4096;
	assert_int_equal(nub_sandbox_create_from_elf(&cfg, guest("hello"), &sb, &err), 0);
	assert_int_equal(nub_sandbox_evolve(sb), 0);
	assert_int_equal(nub_sandbox_snapshot(sb, &s), 0);
	assert_int_equal(nub_snapshot_save(s, path, &err), 0);
	uint8_t *file = nub_test_slurp(path, &len);
	assert_int_equal(nub_snapshot_load_bytes(file, len, "flip", &l, &err), 0);
	nub_snapshot_unref(l);
	for (size_t i = 0; i < len; i++) {
		for (unsigned bit = 0; bit < 8; bit += 8) { /* the lowest bit */
			file[i] ^= (uint8_t)(1u << bit);
			l = NULL;
			memset(&err, 0, sizeof(err));
			int rc = nub_snapshot_load_bytes(file, len, "flip", &l, &err);
			file[i] ^= (uint8_t)(1u << bit);
			if (rc == 0)
				fail_msg("byte %zu bit %u flipped: loaded", i, bit);
			if (rc != NUB_ECORRUPT && rc != NUB_EABI)
				fail_msg("byte %zu: %s (%s)", i, nub_strerror(rc), err.msg);
			assert_non_null(strstr(err.msg, "flip: "));
			refused++;
		}
	}
	/* Truncated at every length, and with a byte too many. */
	for (size_t n = 0; n < len; n += (n < 4096 ? 1 : 997))
		assert_int_not_equal(nub_snapshot_load_bytes(file, n, "cut", &l, &err), 0);
	uint8_t *longer = malloc(len + 1);
	memcpy(longer, file, len);
	longer[len] = 0;
	assert_nub_error(nub_snapshot_load_bytes(longer, len + 1, "long", &l, &err), NUB_ECORRUPT,
	                 &err, "trailing data");
	printf("INFO: %zu-byte snapshot file: %zu flipped variants refused\n", len, refused);
	free(longer);
	free(file);
	unlink(path);
	nub_snapshot_unref(s);
	nub_sandbox_free(sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_tables_default),
	        cmocka_unit_test(test_tables_small),
	        cmocka_unit_test(test_tables_64m_heap),
	        cmocka_unit_test(test_tables_256m_heap),
	        cmocka_unit_test(test_two_snapshots_restore_independently),
	        cmocka_unit_test(test_hash_is_content),
	        cmocka_unit_test(test_save_load_bit_exact),
	        cmocka_unit_test(test_every_flipped_byte_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
