/* SPDX-License-Identifier: MIT */
/*
 * Snapshot files that someone other than nub wrote: forged host pages are
 * replaced by the host's own, forged page tables are refused naming the
 * GVA (the file's hash recomputed, so only the table checks stand in the
 * way), and keyed files load only with their key, through the loaders and
 * through a config's snapshot_key. Guests run on the mock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmem.h"
#include <nub/guest_abi.h>
#include <nub/nub.h>
#include <xxhash.h>

#include "../../guest/examples/example_ids.h"
#include "image/snapshot.h"
#include "nub_test.h"
#include "sandbox/sandbox_internal.h"
#include "x86/cpu.h"

#define PAGE NUB_PAGE_SIZE
#define HASH 16u

/* The backend the sandboxes run on: the mock, or a hypervisor
 * (NUB_TEST_SANDBOX_BACKEND=kvm: the host pages a file's sandbox runs with
 * are the host's, at CPL0 on real KVM). */
static const char *test_backend(void)
{
	const char *b = getenv("NUB_TEST_SANDBOX_BACKEND");

	return b && b[0] ? b : "mock";
}

static const uint8_t key_a[NUB_SNAPSHOT_KEY_SIZE] = "an example key, thirty-two byte";
static const uint8_t key_b[NUB_SNAPSHOT_KEY_SIZE] = "another key of thirty-two bytes";

static const char *guest(const char *name)
{
	static char path[4096];

	snprintf(path, sizeof(path), "%s/%s.elf", nub_test_env("NUB_GUEST_DIR"), name);
	return path;
}

/* A file of hello after init (one-page heap: small), its bytes, and the
 * snapshot they load as. */
struct file {
	char path[32];
	uint8_t *bytes;
	size_t len;
	struct nub_snapshot *snap; /* loaded from the bytes */
};

static void spit(const char *path, const uint8_t *bytes, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(bytes, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* key: NULL for a file saved without one. */
static void file_make(struct file *f, const uint8_t *key)
{
	struct nub_error err = {0};
	struct nub_config cfg;
	struct nub_sandbox *sb = NULL;
	struct nub_snapshot *s = NULL;
	int fd;

	strcpy(f->path, "/tmp/nub-snapfile-XXXXXX");
	fd = mkstemp(f->path);
	assert_true(fd >= 0);
	close(fd);
	nub_config_init(&cfg);
	cfg.backend = test_backend();
	cfg.heap_size = PAGE;
	assert_int_equal(nub_sandbox_create_from_elf(&cfg, guest("hello"), &sb, &err), 0);
	assert_int_equal(nub_sandbox_evolve(sb), 0);
	assert_int_equal(nub_sandbox_snapshot(sb, &s), 0);
	if (key)
		assert_int_equal(
		        nub_snapshot_save_keyed(s, f->path, key, NUB_SNAPSHOT_KEY_SIZE, &err), 0);
	else
		assert_int_equal(nub_snapshot_save(s, f->path, &err), 0);
	f->bytes = nub_test_slurp(f->path, &f->len);
	if (key)
		assert_int_equal(nub_snapshot_load_keyed(f->path, key, NUB_SNAPSHOT_KEY_SIZE,
		                                         &f->snap, &err),
		                 0);
	else
		assert_int_equal(nub_snapshot_load(f->path, &f->snap, &err), 0);
	nub_snapshot_unref(s);
	nub_sandbox_free(sb);
}

static void file_free(struct file *f)
{
	unlink(f->path);
	free(f->bytes);
	nub_snapshot_unref(f->snap);
}

/* What a forger does after editing: recompute the trailing hash. */
static void rehash(uint8_t *bytes, size_t len)
{
	XXH128_canonical_t h;

	XXH128_canonicalFromHash(&h, XXH3_128bits(bytes, len - HASH));
	memcpy(bytes + len - HASH, h.digest, HASH);
}

/* Every table page is stored (none is zero): they are the last pages
 * before the trailer. */
static size_t tables_at(const struct file *f, size_t trailer)
{
	return f->len - trailer - f->snap->pt_size;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

/* Offset in `tables` (built for their live address pt_gpa) of the entry
 * at `level` (0: the leaf) that covers gva. */
static size_t entry_at(const uint8_t *tables, nub_gpa_t pt_gpa, uint64_t pt_size, nub_gva_t gva,
                       int level)
{
	nub_gpa_t t = pt_gpa;

	for (int lv = 3; lv > level; lv--) {
		t = get64(tables + (t - pt_gpa) + ((gva >> (12 + 9 * lv)) & 511) * 8) &
		    NUB_PTE_ADDR_MASK;
		assert_true(t >= pt_gpa && t - pt_gpa < pt_size);
	}
	return (t - pt_gpa) + ((gva >> (12 + 9 * level)) & 511) * 8;
}

/* A copy of the file with the leaf (or the entry at `level`) for gva
 * rewritten: bits cleared, then set; the hash recomputed. */
static uint8_t *forge_entry(const struct file *f, nub_gva_t gva, int level, uint64_t clear,
                            uint64_t set)
{
	uint8_t *b = malloc(f->len);
	const struct nub_snapshot *s = f->snap;

	assert_non_null(b);
	memcpy(b, f->bytes, f->len);
	uint8_t *tables = b + tables_at(f, HASH);
	size_t at = entry_at(tables, s->layout.pt_gpa, s->pt_size, gva, level);
	put64(tables + at, (get64(tables + at) & ~clear) | set);
	rehash(b, f->len);
	return b;
}

static void expect_refused(const struct file *f, uint8_t *forged, const char *needle)
{
	struct nub_snapshot *s = NULL;
	struct nub_error err = {0};

	assert_nub_error(nub_snapshot_load_bytes(forged, f->len, "forged", &s, &err), NUB_ECORRUPT,
	                 &err, needle);
	assert_non_null(strstr(err.msg, "forged: page tables: GVA 0x"));
	assert_null(s);
	free(forged);
}

static const char *gva_text(nub_gva_t gva)
{
	static char buf[64];

	snprintf(buf, sizeof(buf), "GVA 0x%llx ", (unsigned long long)gva);
	return buf;
}

/* ---- forged host-function contracts ---- */

/* Offset of the host-functions section: after the header (80 bytes), the
 * layout, the names and the working set, whose sizes the loaded snapshot
 * gives. */
static size_t host_fns_at(const struct file *f)
{
	const struct nub_snapshot *s = f->snap;
	size_t at = 80 + 4 + sizeof(struct nub_layout) + 4;
	for (uint32_t i = 0; i < s->names.n; i++)
		at += 8 + strnlen(s->names.fn[i].name, sizeof(s->names.fn[i].name));
	return at + 4 + (size_t)s->hot.n * 8;
}

/* The file with its (empty) section replaced by `n` ids, rehashed. */
static void expect_contract_refused(const struct file *f, const uint32_t *ids, uint32_t n,
                                    const char *want)
{
	size_t at = host_fns_at(f), len = f->len + (size_t)n * 4;
	uint8_t *b = malloc(len);
	struct nub_snapshot *s = NULL;
	struct nub_error err = {0};
	uint32_t zero;

	assert_non_null(b);
	memcpy(&zero, f->bytes + at, 4);
	assert_int_equal(zero, 0); /* the section found: hello registers none */
	memcpy(b, f->bytes, at);
	memcpy(b + at, &n, 4);
	memcpy(b + at + 4, ids, (size_t)n * 4);
	memcpy(b + at + 4 + (size_t)n * 4, f->bytes + at + 4, f->len - at - 4);
	rehash(b, len);
	assert_nub_error(nub_snapshot_load_bytes(b, len, "forged", &s, &err), NUB_ECORRUPT, &err,
	                 want);
	assert_null(s);
	free(b);
}

static void test_forged_host_fn_contract_refused(void **state)
{
	static const uint32_t unsorted[] = {5, 3}, too_big[] = {300}, twice[] = {7, 7};
	struct file f;
	(void)state;

	file_make(&f, NULL);
	expect_contract_refused(&f, unsorted, 2,
	                        "forged: host function id 3 needed (ascending, below 256)");
	expect_contract_refused(&f, too_big, 1,
	                        "forged: host function id 300 needed (ascending, below 256)");
	expect_contract_refused(&f, twice, 2,
	                        "forged: host function id 7 needed (ascending, below 256)");
	file_free(&f);
}

/* The file with its symbols section (after the empty host-functions one)
 * replaced by `sec` (len bytes), rehashed, then loaded: refused with want. */
static void expect_symbols_refused(const struct file *f, const uint8_t *sec, size_t sec_len,
                                   const char *want)
{
	size_t at = host_fns_at(f) + 4, end = at + 4;
	uint32_t n;
	struct nub_snapshot *s = NULL;
	struct nub_error err = {0};

	memcpy(&n, f->bytes + at, 4);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t len;
		memcpy(&len, f->bytes + end + 16, 4);
		end += 20 + len;
	}
	size_t blen = f->len - (end - at) + sec_len;
	uint8_t *b = malloc(blen);
	assert_non_null(b);
	memcpy(b, f->bytes, at);
	memcpy(b + at, sec, sec_len);
	memcpy(b + at + sec_len, f->bytes + end, f->len - end);
	rehash(b, blen);
	assert_nub_error(nub_snapshot_load_bytes(b, blen, "forged", &s, &err), NUB_ECORRUPT, &err,
	                 want);
	assert_null(s);
	free(b);
}

static void test_forged_symbols_refused(void **state)
{
	/* count 2: (0x100, 0x10, "f"), then (0x80, ...): out of order. */
	static const uint8_t order[] = {2, 0,    0, 0, 0, 1, 0, 0, 0,   0,    0, 0, 0x10, 0,  0, 0,
	                                0, 0,    0, 0, 1, 0, 0, 0, 'f', 0x80, 0, 0, 0,    0,  0, 0,
	                                0, 0x10, 0, 0, 0, 0, 0, 0, 0,   1,    0, 0, 0,    'g'};
	static const uint8_t byte[] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0,   0x10,
	                               0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 'f', '\n'};
	static const uint8_t outside[] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0x10,
	                                  0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 'f'};
	struct file f;
	(void)state;

	file_make(&f, NULL);
	expect_symbols_refused(&f, order, sizeof(order),
	                       "forged: symbol 1 at image offset 0x80 (+0x10): out of order");
	expect_symbols_refused(&f, byte, sizeof(byte), "forged: symbol 0: a name byte 0x0a");
	expect_symbols_refused(&f, outside, sizeof(outside),
	                       "forged: symbol 0 at image offset 0x7f00000000000000 (+0x10)");
	file_free(&f);
}

/* ---- forged page tables ---- */

static void test_forged_tables_refused(void **state)
{
	struct file f;
	const uint64_t A = NUB_PTE_ADDR_MASK;

	(void)state;
	file_make(&f, NULL);
	const struct nub_layout *l = &f.snap->layout;
	const nub_gpa_t mem_end = NUB_BASE_GPA + f.snap->visible_size;
	char want[160];

	/* A supervisor page made user-accessible. */
	snprintf(want, sizeof(want), "%s(the GDT/TSS/IDT page) is mapped basic r-- user",
	         gva_text(l->sys_tables_gpa));
	expect_refused(&f, forge_entry(&f, l->sys_tables_gpa, 0, 0, NUB_PTE_US), want);
	/* The stubs made writable. */
	snprintf(want, sizeof(want), "%s(the exception stubs) is mapped basic rwx supervisor",
	         gva_text(l->sys_stubs_gpa));
	expect_refused(&f, forge_entry(&f, l->sys_stubs_gpa, 0, 0, NUB_PTE_RW), want);
	/* The stubs gone. */
	snprintf(want, sizeof(want), "%s(the exception stubs) is not mapped",
	         gva_text(l->sys_stubs_gpa));
	expect_refused(&f, forge_entry(&f, l->sys_stubs_gpa, 0, ~0ull, 0), want);
	/* A heap page pointed at the page tables (in scratch). */
	snprintf(want, sizeof(want), "%smaps GPA 0x%llx, outside the snapshot's memory",
	         gva_text(l->heap_gpa), (unsigned long long)l->pt_gpa);
	expect_refused(&f, forge_entry(&f, l->heap_gpa, 0, A, l->pt_gpa), want);
	/* An image page pointed past the end of the snapshot's memory. */
	snprintf(want, sizeof(want), "%smaps GPA 0x%llx, outside the snapshot's memory",
	         gva_text(l->image_gpa), (unsigned long long)mem_end);
	expect_refused(&f, forge_entry(&f, l->image_gpa, 0, A, mem_end), want);
	/* A user page aliasing the GDT. */
	snprintf(want, sizeof(want), "%smaps GPA 0x%llx, a page only the host maps",
	         gva_text(l->image_gpa), (unsigned long long)l->sys_tables_gpa);
	expect_refused(&f, forge_entry(&f, l->image_gpa, 0, A, l->sys_tables_gpa), want);
	/* A writable snapshot page that is not copy-on-write. */
	snprintf(want, sizeof(want), "%sis writable and not copy-on-write", gva_text(l->heap_gpa));
	expect_refused(&f, forge_entry(&f, l->heap_gpa, 0, NUB_PTE_COW, NUB_PTE_RW), want);
	/* An executable heap. */
	snprintf(want, sizeof(want), "%s(heap) is mapped cow r-x user", gva_text(l->heap_gpa));
	expect_refused(&f, forge_entry(&f, l->heap_gpa, 0, NUB_PTE_NX, 0), want);
	/* A user image page made supervisor. */
	snprintf(want, sizeof(want), "%sis supervisor-only", gva_text(l->image_gpa));
	expect_refused(&f, forge_entry(&f, l->image_gpa, 0, NUB_PTE_US, 0), want);
	/* Page 0 mapped (the page table covering the PEB covers it too). */
	snprintf(want, sizeof(want), "%sis below scratch but outside the snapshot region",
	         gva_text(0));
	expect_refused(&f, forge_entry(&f, 0, 0, ~0ull, NUB_PTE_P | NUB_PTE_US | l->image_gpa),
	               want);
	/* The live tables (scratch, supervisor) made user-accessible. */
	snprintf(want, sizeof(want),
	         "%smaps GPA 0x%llx basic rw- user, the layout maps it to 0x%llx basic rw- "
	         "supervisor",
	         gva_text(l->scratch_gva + l->pt_offset), (unsigned long long)l->pt_gpa,
	         (unsigned long long)l->pt_gpa);
	expect_refused(&f, forge_entry(&f, l->scratch_gva + l->pt_offset, 0, 0, NUB_PTE_US), want);
	/* The CoW area (unmapped) mapped. */
	nub_gva_t cow = l->scratch_gva + l->alloc_offset;
	snprintf(want, sizeof(want),
	         "%smaps GPA 0x%llx basic rw- user, the layout maps it to 0x0 unmapped",
	         gva_text(cow), (unsigned long long)(l->scratch_gpa + l->alloc_offset));
	expect_refused(&f,
	               forge_entry(&f, cow, 0, ~0ull,
	                           NUB_PTE_P | NUB_PTE_RW | NUB_PTE_US | NUB_PTE_NX |
	                                   (l->scratch_gpa + l->alloc_offset)),
	               want);
	/* The root's first entry pointed outside the tables (at guest memory):
	 * it reads as not present, so the host's pages are not mapped. */
	snprintf(want, sizeof(want), "%s(the PEB and entry stub) is not mapped",
	         gva_text(l->peb_gpa));
	expect_refused(&f, forge_entry(&f, 0, 3, A, l->heap_gpa), want);
	file_free(&f);
}

/* What the walker does not interpret does not survive: a leaf that is
 * copy-on-write and writable at once loads as plain copy-on-write, and
 * cache-control bits are dropped. */
static void test_forged_bits_are_dropped(void **state)
{
	struct nub_snapshot *s = NULL;
	struct nub_error err = {0};
	struct file f;

	(void)state;
	file_make(&f, NULL);
	const struct nub_layout *l = &f.snap->layout;
	uint8_t *forged = forge_entry(&f, l->heap_gpa, 0, 0, NUB_PTE_RW | (1ull << 4) /* PCD */);
	assert_int_equal(nub_snapshot_load_bytes(forged, f.len, "forged", &s, &err), 0);
	const uint8_t *tables = (const uint8_t *)nub_shmem_host(s->mem) + s->visible_size;
	const uint8_t *orig = (const uint8_t *)nub_shmem_host(f.snap->mem) + f.snap->visible_size;
	size_t at = entry_at(tables, l->pt_gpa, s->pt_size, l->heap_gpa, 0);
	assert_int_equal(get64(tables + at) & (NUB_PTE_RW | NUB_PTE_COW | (1ull << 4)),
	                 NUB_PTE_COW);
	/* The tables are the host's: those of the file before the forgery. */
	assert_int_equal(s->pt_size, f.snap->pt_size);
	assert_memory_equal(tables, orig, s->pt_size);
	nub_snapshot_unref(s);
	free(forged);
	file_free(&f);
}

/* ---- forged host pages ---- */

static size_t find(const uint8_t *hay, size_t len, const void *needle, size_t n)
{
	const uint8_t *p = memmem(hay, len, needle, n);

	assert_non_null(p);
	return (size_t)(p - hay);
}

/* The PEB, GDT/TSS/IDT and stub pages of the file, rewritten and the hash
 * recomputed: the file loads with the host's pages (the same snapshot,
 * the same hash), and a sandbox made from it runs. */
static void test_forged_host_pages_are_rebuilt(void **state)
{
	static uint8_t tables[PAGE], stubs[PAGE];
	struct nub_snapshot *s = NULL;
	struct nub_sandbox *sb = NULL;
	struct nub_error err = {0};
	struct nub_config cfg;
	struct nub_peb peb;
	struct file f;
	char out[32];
	size_t n = 0;
	int32_t status = -1;

	(void)state;
	file_make(&f, NULL);
	const struct nub_layout *l = &f.snap->layout;
	nub_cpu_build_system_pages(l, tables, stubs);
	nub_layout_fill_peb(l, &peb);
	size_t t = find(f.bytes, f.len, tables, PAGE), st = find(f.bytes, f.len, stubs, PAGE);
	size_t pb = find(f.bytes, f.len, &peb, sizeof(peb));
	/* Every IDT gate at CPL3-callable DPL 3, the GDT's kernel code DPL 3,
	 * the stubs a sled of `hlt`, the PEB's heap 1 GiB. */
	for (unsigned v = 0; v < NUB_CPU_VECTORS; v++)
		f.bytes[t + NUB_CPU_IDT_OFFSET + v * 16 + 5] |= 0x60;
	f.bytes[t + NUB_SEL_KERNEL_CODE + 5] |= 0x60;
	memset(f.bytes + st, 0xf4, PAGE);
	peb.heap_size = 1ull << 30;
	memcpy(f.bytes + pb, &peb, sizeof(peb));
	rehash(f.bytes, f.len);
	assert_int_equal(nub_snapshot_load_bytes(f.bytes, f.len, "forged", &s, &err), 0);
	const uint8_t *m = nub_shmem_host(s->mem), *o = nub_shmem_host(f.snap->mem);
	assert_memory_equal(m, o, l->image_gpa - NUB_BASE_GPA);
	assert_memory_equal(m + (l->sys_stubs_gpa - NUB_BASE_GPA), stubs, PAGE);
	assert_memory_equal(s->hash, f.snap->hash, 16);
	nub_snapshot_unref(s);
	spit(f.path, f.bytes, f.len);
	nub_config_init(&cfg);
	cfg.backend = test_backend();
	assert_int_equal(nub_sandbox_create_from_file(&cfg, f.path, &sb, &err), 0);
	assert_int_equal(nub_sandbox_evolve(sb), 0);
	assert_int_equal(
	        nub_sandbox_call(sb, NUB_HELLO_GREET, "forger", 6, out, sizeof(out), &n, &status),
	        0);
	assert_int_equal(status, 0);
	assert_memory_equal(out, "hello, forger", 13);
	nub_sandbox_free(sb);
	file_free(&f);
}

/* ---- keyed files ---- */

static void test_keyed_round_trip(void **state)
{
	struct file keyed, plain;

	(void)state;
	file_make(&keyed, key_a);
	file_make(&plain, NULL);
	assert_memory_equal(keyed.bytes, "NUBSNAPK", 8);
	/* The same snapshot either way; only the trailer differs in size. */
	assert_int_equal(keyed.len, plain.len + NUB_SNAPSHOT_MAC_SIZE - HASH);
	assert_int_equal(keyed.snap->visible_size, plain.snap->visible_size);
	assert_int_equal(keyed.snap->pt_size, plain.snap->pt_size);
	assert_memory_equal(nub_shmem_host(keyed.snap->mem), nub_shmem_host(plain.snap->mem),
	                    keyed.snap->visible_size + keyed.snap->pt_size);
	file_free(&keyed);
	file_free(&plain);
}

static void test_keyed_refusals(void **state)
{
	struct nub_snapshot *s = NULL;
	struct nub_error err = {0};
	struct file keyed, plain;
	const size_t K = NUB_SNAPSHOT_KEY_SIZE;

	(void)state;
	file_make(&keyed, key_a);
	file_make(&plain, NULL);
	/* Another key. */
	assert_nub_error(nub_snapshot_load_keyed(keyed.path, key_b, K, &s, &err), NUB_ECORRUPT,
	                 &err, "not authenticated with this key (saved with another key");
	assert_non_null(strstr(err.msg, keyed.path));
	/* A key that is a prefix of the right one. */
	assert_nub_error(nub_snapshot_load_keyed(keyed.path, key_a, NUB_SNAPSHOT_KEY_MIN, &s, &err),
	                 NUB_ECORRUPT, &err, "not authenticated with this key");
	/* A keyless file to the keyed loader, and the other way round. */
	assert_nub_error(nub_snapshot_load_keyed(plain.path, key_a, K, &s, &err), NUB_ECORRUPT,
	                 &err, ": not authenticated with this key: saved without a key");
	assert_non_null(strstr(err.msg, plain.path));
	assert_nub_error(nub_snapshot_load(keyed.path, &s, &err), NUB_ECORRUPT, &err,
	                 ": saved with a key: it needs that key to load");
	assert_non_null(strstr(err.msg, keyed.path));
	/* The keyed file turned into a keyless one by a forger who recomputes
	 * the hash is, to the keyed loader, not authenticated. */
	uint8_t *b = malloc(keyed.len);
	memcpy(b, keyed.bytes, keyed.len);
	memcpy(b, "NUBSNAP\0", 8);
	assert_nub_error(
	        nub_snapshot_load_bytes_keyed(b, keyed.len, "re-magicked", key_a, K, &s, &err),
	        NUB_ECORRUPT, &err, "re-magicked: not authenticated with this key");
	/* Any changed byte, MAC included, fails the MAC. */
	for (size_t i = 0; i < keyed.len; i += (i < 512 ? 1 : 331)) {
		memcpy(b, keyed.bytes, keyed.len);
		b[i] ^= 1;
		memset(&err, 0, sizeof(err));
		assert_nub_error(
		        nub_snapshot_load_bytes_keyed(b, keyed.len, "flip", key_a, K, &s, &err),
		        NUB_ECORRUPT, &err, "flip: not authenticated with this key");
	}
	/* Truncated. */
	assert_nub_error(nub_snapshot_load_bytes_keyed(keyed.bytes, 64, "cut", key_a, K, &s, &err),
	                 NUB_ECORRUPT, &err, "cut: truncated header");
	assert_nub_error(nub_snapshot_load_bytes_keyed(keyed.bytes, keyed.len - 1, "cut", key_a, K,
	                                               &s, &err),
	                 NUB_ECORRUPT, &err, "cut: not authenticated with this key");
	assert_null(s);
	free(b);
	file_free(&keyed);
	file_free(&plain);
}

/* The checks behind the MAC still hold for a file made with the key: a
 * key holder cannot hand the host tables nub would not build either. */
static void test_keyed_forgery_with_the_key(void **state)
{
	struct nub_snapshot *s = NULL;
	struct nub_error err = {0};
	struct file f;
	const size_t M = NUB_SNAPSHOT_MAC_SIZE;

	(void)state;
	file_make(&f, key_a);
	const struct nub_layout *l = &f.snap->layout;
	uint8_t *tables = f.bytes + tables_at(&f, M);
	size_t at = entry_at(tables, l->pt_gpa, f.snap->pt_size, l->sys_stubs_gpa, 0);
	put64(tables + at, get64(tables + at) | NUB_PTE_US);
	assert_int_equal(
	        nub_snapshot_mac(f.bytes, f.len - M, key_a, sizeof(key_a), f.bytes + f.len - M), 0);
	assert_nub_error(nub_snapshot_load_bytes_keyed(f.bytes, f.len, "keyed", key_a,
	                                               sizeof(key_a), &s, &err),
	                 NUB_ECORRUPT, &err, "keyed: page tables: GVA 0x");
	assert_non_null(strstr(err.msg, "(the exception stubs) is mapped basic r-x user"));
	file_free(&f);
}

static void test_key_length_rules(void **state)
{
	static const uint8_t big[NUB_SNAPSHOT_KEY_MAX + 1];
	struct nub_snapshot *s = NULL;
	struct nub_error err = {0};
	struct file f;

	(void)state;
	file_make(&f, NULL);
	assert_nub_error(
	        nub_snapshot_save_keyed(f.snap, f.path, key_a, NUB_SNAPSHOT_KEY_MIN - 1, &err),
	        NUB_EINVAL, &err, "a snapshot key of 15 bytes: keys are 16 to 64 bytes");
	assert_nub_error(nub_snapshot_save_keyed(f.snap, f.path, big, sizeof(big), &err),
	                 NUB_EINVAL, &err, "a snapshot key of 65 bytes");
	assert_nub_error(nub_snapshot_save_keyed(f.snap, f.path, NULL, 32, &err), NUB_EINVAL, &err,
	                 "NULL snapshot key");
	assert_nub_error(nub_snapshot_load_keyed(f.path, key_a, 0, &s, &err), NUB_EINVAL, &err,
	                 "a snapshot key of 0 bytes");
	assert_nub_error(nub_snapshot_load_keyed(f.path, NULL, 32, &s, &err), NUB_EINVAL, &err,
	                 "NULL snapshot key");
	assert_nub_error(nub_snapshot_load_keyed(NULL, key_a, 32, &s, &err), NUB_EINVAL, &err,
	                 "NULL argument");
	/* The shortest and the longest key both work. */
	assert_int_equal(nub_snapshot_save_keyed(f.snap, f.path, big, NUB_SNAPSHOT_KEY_MAX, &err),
	                 0);
	assert_int_equal(nub_snapshot_load_keyed(f.path, big, NUB_SNAPSHOT_KEY_MAX, &s, &err), 0);
	nub_snapshot_unref(s);
	assert_int_equal(nub_snapshot_save_keyed(f.snap, f.path, big, NUB_SNAPSHOT_KEY_MIN, &err),
	                 0);
	assert_int_equal(nub_snapshot_load_keyed(f.path, big, NUB_SNAPSHOT_KEY_MIN, &s, &err), 0);
	nub_snapshot_unref(s);
	file_free(&f);
}

/* A config's snapshot_key: create_from_file authenticates with it, and the
 * sandbox does not keep it. */
static void test_config_key_creates_from_keyed_file(void **state)
{
	struct nub_sandbox *sb = NULL;
	struct nub_error err = {0};
	struct nub_config cfg;
	struct file keyed, plain;
	char out[32];
	size_t n = 0;
	int32_t status = -1;

	(void)state;
	file_make(&keyed, key_a);
	file_make(&plain, NULL);
	nub_config_init(&cfg);
	assert_null(cfg.snapshot_key);
	assert_int_equal(cfg.snapshot_key_size, 0);
	cfg.backend = test_backend();
	cfg.snapshot_key = key_a;
	cfg.snapshot_key_size = sizeof(key_a);
	assert_int_equal(nub_sandbox_create_from_file(&cfg, keyed.path, &sb, &err), 0);
	assert_null(sb->cfg.snapshot_key);
	assert_int_equal(sb->cfg.snapshot_key_size, 0);
	assert_int_equal(nub_sandbox_evolve(sb), 0);
	assert_int_equal(
	        nub_sandbox_call(sb, NUB_HELLO_GREET, "key", 3, out, sizeof(out), &n, &status), 0);
	assert_int_equal(status, 0);
	assert_memory_equal(out, "hello, key", 10);
	nub_sandbox_free(sb);
	sb = NULL;
	/* A keyless file with a key, the keyed file with another key or none. */
	assert_nub_error(nub_sandbox_create_from_file(&cfg, plain.path, &sb, &err), NUB_ECORRUPT,
	                 &err, "not authenticated with this key: saved without a key");
	cfg.snapshot_key = key_b;
	assert_nub_error(nub_sandbox_create_from_file(&cfg, keyed.path, &sb, &err), NUB_ECORRUPT,
	                 &err, "not authenticated with this key");
	assert_non_null(strstr(err.msg, keyed.path));
	cfg.snapshot_key_size = 8;
	assert_nub_error(nub_sandbox_create_from_file(&cfg, keyed.path, &sb, &err), NUB_EINVAL,
	                 &err, "a snapshot key of 8 bytes");
	cfg.snapshot_key = NULL;
	cfg.snapshot_key_size = 0;
	assert_nub_error(nub_sandbox_create_from_file(&cfg, keyed.path, &sb, &err), NUB_ECORRUPT,
	                 &err, "saved with a key: it needs that key to load");
	assert_null(sb);
	/* A config of the size before the key fields loads keyless files. */
	cfg.struct_size = (uint32_t)offsetof(struct nub_config, snapshot_key);
	assert_int_equal(nub_sandbox_create_from_file(&cfg, plain.path, &sb, &err), 0);
	nub_sandbox_free(sb);
	file_free(&keyed);
	file_free(&plain);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_forged_tables_refused),
	        cmocka_unit_test(test_forged_bits_are_dropped),
	        cmocka_unit_test(test_forged_host_pages_are_rebuilt),
	        cmocka_unit_test(test_forged_host_fn_contract_refused),
	        cmocka_unit_test(test_forged_symbols_refused),
	        cmocka_unit_test(test_keyed_round_trip),
	        cmocka_unit_test(test_keyed_refusals),
	        cmocka_unit_test(test_keyed_forgery_with_the_key),
	        cmocka_unit_test(test_key_length_rules),
	        cmocka_unit_test(test_config_key_creates_from_keyed_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
