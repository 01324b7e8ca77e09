/* SPDX-License-Identifier: MIT */
/* The ELF loader: a valid static PIE loads and relocates; every malformed
 * variant (one tweak of a valid file each) is refused with a message naming
 * the problem, never a crash. */
#include <stdio.h>
#include <string.h>

#include "vmem.h"
#include <nub/guest_abi.h>

#include "elf_builder.h"
#include "image/elf_loader.h"
#include "nub_test.h"

static struct eb_elf eb;

static void expect_refused(int code, const char *needle)
{
	struct nub_elf_image img;
	struct nub_error err = {0};

	assert_nub_error(nub_elf_load_buffer(eb.bytes, eb.len, &img, &err), code, &err, needle);
	assert_null(img.bytes);
	assert_null(img.relocs);
}

static void test_valid_image(void **state)
{
	struct nub_elf_image img;
	struct nub_error err = {0};
	static uint8_t placed[0x4000];

	(void)state;
	eb_build(&eb, 3);
	assert_int_equal(nub_elf_load_buffer(eb.bytes, eb.len, &img, &err), 0);
	assert_int_equal(img.size, 0x4000);
	assert_int_equal(img.entry_offset, EB_ENTRY);
	assert_int_equal(img.abi_version, NUB_GUEST_ABI_VERSION);
	assert_int_equal(img.nsegs, 2);
	assert_int_equal(img.segs[0].perms, NUB_VMEM_R | NUB_VMEM_X);
	assert_int_equal(img.segs[1].offset, 0x1000);
	assert_int_equal(img.segs[1].size, 0x3000);
	assert_int_equal(img.segs[1].perms, NUB_VMEM_R | NUB_VMEM_W);
	assert_int_equal(img.bytes[EB_ENTRY], 0xf4);
	assert_int_equal(img.bytes[0x1050], 0x5a);
	for (unsigned i = 0x2000; i < 0x4000; i++) /* .bss */
		assert_int_equal(img.bytes[i], 0);
	assert_int_equal(img.nrelocs, 3);
	for (uint64_t base = 0x2000; base <= 0x40000000; base += 0x40000000 - 0x2000) {
		assert_int_equal(nub_elf_place(&img, base, placed, sizeof(placed), &err), 0);
		for (unsigned i = 0; i < 3; i++) {
			uint64_t v;
			memcpy(&v, placed + EB_RELOC_AT(i), 8);
			assert_int_equal(v, base + EB_RELOC_ADDEND(i));
		}
	}
	assert_nub_error(nub_elf_place(&img, 0x2000, placed, 100, &err), NUB_ERANGE, &err,
	                 "does not fit");
	nub_elf_free(&img);
	nub_elf_free(&img); /* idempotent */
}

static void test_header_errors(void **state)
{
	(void)state;
	eb_build(&eb, 1);
	eb.len = 0;
	expect_refused(NUB_EELF, "empty file");
	eb_build(&eb, 1);
	eb.bytes[1] = 'X';
	expect_refused(NUB_EELF, "not an ELF file");
	eb_build(&eb, 1);
	eb.len = 40;
	expect_refused(NUB_EELF, "truncated ELF header");
	eb_build(&eb, 1);
	eb.bytes[EI_CLASS] = ELFCLASS32;
	expect_refused(NUB_EELF, "need ELF64");
	eb_build(&eb, 1);
	eb.bytes[EI_DATA] = ELFDATA2MSB;
	expect_refused(NUB_EELF, "not little-endian");
	eb_build(&eb, 1);
	eb_ehdr(&eb)->e_machine = EM_AARCH64;
	expect_refused(NUB_EELF, "need x86-64");
	eb_build(&eb, 1);
	eb_ehdr(&eb)->e_type = ET_EXEC;
	expect_refused(NUB_EELF, "must be a static PIE");
	eb_build(&eb, 1);
	eb_ehdr(&eb)->e_phnum = 0;
	expect_refused(NUB_EELF, "program headers");
	eb_build(&eb, 1);
	eb_ehdr(&eb)->e_phoff = EB_FILE_SIZE - 16;
	expect_refused(NUB_EELF, "beyond file size");
}

static void test_segment_errors(void **state)
{
	(void)state;
	eb_build(&eb, 1);
	eb_phdr(&eb, 1)->p_filesz = 0x2000;
	expect_refused(NUB_EELF, "segment 1: p_offset 0x1000 + p_filesz 0x2000 beyond file size");
	eb_build(&eb, 1);
	eb_phdr(&eb, 1)->p_filesz = 0x4000;
	eb_phdr(&eb, 1)->p_memsz = 0x3000;
	expect_refused(NUB_EELF, "p_filesz 0x4000 > p_memsz 0x3000");
	eb_build(&eb, 1);
	eb_phdr(&eb, 1)->p_vaddr = UINT64_MAX - 0x100;
	expect_refused(NUB_EELF, "overflows");
	eb_build(&eb, 1);
	eb_phdr(&eb, 1)->p_vaddr = 0x800;
	expect_refused(NUB_EELF, "overlaps");
	eb_build(&eb, 1);
	eb_phdr(&eb, 1)->p_memsz = 2ull << 30;
	expect_refused(NUB_EELF, "limit");
	eb_build(&eb, 1);
	eb_phdr(&eb, 3)->p_type = PT_INTERP;
	expect_refused(NUB_EELF, "interpreter");
	eb_build(&eb, 1);
	eb_ehdr(&eb)->e_entry = 0x1800; /* in the data segment */
	expect_refused(NUB_EELF, "entry point 0x1800 is not in an executable segment");
}

static void test_dynamic_errors(void **state)
{
	(void)state;
	eb_build(&eb, 2);
	eb_rela(&eb, 1)->r_info = ELF64_R_INFO(0, R_X86_64_64);
	expect_refused(NUB_EELF, "relocation type 1 at 0x1808");
	eb_build(&eb, 2);
	eb_rela(&eb, 0)->r_offset = 0x3ffc; /* 8 bytes do not fit */
	expect_refused(NUB_EELF, "relocation at 0x3ffc outside the image");
	eb_build(&eb, 2);
	eb_dyn(&eb, 1)->d_un.d_val = 1u << 20;
	expect_refused(NUB_EELF, "relocation table");
	eb_build(&eb, 2);
	eb_dyn(&eb, 2)->d_un.d_val = 16;
	expect_refused(NUB_EELF, "DT_RELAENT 16");
	eb_build(&eb, 2);
	eb_dyn(&eb, 0)->d_tag = DT_NEEDED;
	expect_refused(NUB_EELF, "DT_NEEDED");
	eb_build(&eb, 2);
	eb_dyn(&eb, 0)->d_tag = DT_JMPREL;
	expect_refused(NUB_EELF, "PLT relocations");
}

static void test_note_errors(void **state)
{
	char want[96];
	struct nub_error err = {0};

	(void)state;
	eb_build(&eb, 1);
	eb_phdr(&eb, 3)->p_type = PT_NULL;
	expect_refused(NUB_EELF, "no nub ABI note");
	eb_build(&eb, 1);
	eb.bytes[0x20c] = 'x'; /* note name "xub" */
	expect_refused(NUB_EELF, "no nub ABI note");
	eb_build(&eb, 1);
	eb_phdr(&eb, 3)->p_filesz = 0x10000;
	expect_refused(NUB_EELF, "note segment 3 beyond the file");
	eb_build(&eb, 1);
	eb_build(&eb, 1); /* no hot note: loads, with no hot range */
	struct nub_elf_image plain;
	assert_int_equal(nub_elf_load_buffer(eb.bytes, eb.len, &plain, &err), 0);
	assert_int_equal(plain.hot_size, 0);
	nub_elf_free(&plain);
	eb_build(&eb, 1);
	*eb_note_desc(&eb) = 99;
	snprintf(want, sizeof(want), "built for guest ABI 99, this host speaks %u",
	         NUB_GUEST_ABI_VERSION);
	expect_refused(NUB_EABI, want);
}

/* A system-call note after the ABI note, naming `target` (a vaddr). */
static void add_syscall_note(uint64_t target)
{
	const uint32_t off = 0x214, hdr[3] = {sizeof(NUB_NOTE_NAME), 8, NUB_NOTE_TYPE_SYSCALL};
	int64_t rel = (int64_t)target - (int64_t)(off + 16);

	memcpy(eb.bytes + off, hdr, sizeof(hdr));
	memcpy(eb.bytes + off + 12, NUB_NOTE_NAME, sizeof(NUB_NOTE_NAME));
	memcpy(eb.bytes + off + 16, &rel, sizeof(rel));
	eb_phdr(&eb, 3)->p_filesz = eb_phdr(&eb, 3)->p_memsz = 20 + 24;
}

/* The system-call entry decides where the guest runs: it must be code. */
static void test_syscall_note(void **state)
{
	struct nub_error err = {0};
	struct nub_elf_image img;

	(void)state;
	eb_build(&eb, 1);
	assert_int_equal(nub_elf_load_buffer(eb.bytes, eb.len, &img, &err), 0);
	assert_false(img.has_syscall);
	nub_elf_free(&img);
	eb_build(&eb, 1);
	add_syscall_note(EB_ENTRY + 0x10);
	assert_int_equal(nub_elf_load_buffer(eb.bytes, eb.len, &img, &err), 0);
	assert_true(img.has_syscall);
	assert_int_equal(img.syscall_offset, EB_ENTRY + 0x10);
	nub_elf_free(&img);
	eb_build(&eb, 1);
	add_syscall_note(EB_RELOC_AT(0)); /* writable data */
	expect_refused(NUB_EELF, "system-call entry 0x1800 (nub note) is not in an executable");
	eb_build(&eb, 1);
	add_syscall_note(0x7fff0000); /* outside the image */
	expect_refused(NUB_EELF, "system-call entry 0x7fff0000");
}

static void test_real_guests(void **state)
{
	static const char *const names[] = {"hello", "calc", "test_guest"};
	struct nub_error err = {0};
	char path[4096];

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct nub_elf_image img;
		snprintf(path, sizeof(path), "%s/%s.elf", nub_test_env("NUB_GUEST_DIR"), names[i]);
		if (nub_elf_load_file(path, &img, &err))
			fail_msg("%s: %s", path, err.msg);
		assert_int_equal(img.abi_version, NUB_GUEST_ABI_VERSION);
		int entry_ok = 0;
		for (unsigned s = 0; s < img.nsegs; s++) {
			const struct nub_elf_segment *sg = &img.segs[s];
			assert_false((sg->perms & NUB_VMEM_W) && (sg->perms & NUB_VMEM_X));
			if (img.entry_offset >= sg->offset &&
			    img.entry_offset < sg->offset + sg->size && (sg->perms & NUB_VMEM_X))
				entry_ok = 1;
		}
		assert_true(entry_ok);
		/* The runtime names its mutable state: inside a writable
		 * segment, a few pages at most. */
		assert_true(img.hot_size > 0 && img.hot_size <= 16 * 4096);
		int hot_ok = 0;
		for (unsigned s = 0; s < img.nsegs; s++) {
			const struct nub_elf_segment *sg = &img.segs[s];
			if ((sg->perms & NUB_VMEM_W) && img.hot_offset >= sg->offset &&
			    img.hot_offset + img.hot_size <= sg->offset + sg->size)
				hot_ok = 1;
		}
		assert_true(hot_ok);
		nub_elf_free(&img);
	}
	struct nub_elf_image img;
	assert_nub_error(nub_elf_load_file("/nonexistent/guest.elf", &img, &err), NUB_ENOTFOUND,
	                 &err, "/nonexistent/guest.elf");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_valid_image),    cmocka_unit_test(test_header_errors),
	        cmocka_unit_test(test_segment_errors), cmocka_unit_test(test_dynamic_errors),
	        cmocka_unit_test(test_note_errors),    cmocka_unit_test(test_real_guests),
	        cmocka_unit_test(test_syscall_note),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
