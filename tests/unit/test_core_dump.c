/* SPDX-License-Identifier: MIT */
/*
 * Core files (nub_sandbox_core_dump, nub_config.core_dir) on the backend
 * under test: after a fault the core holds the fault's registers (RIP and
 * CR2's signal as the message says), a PT_LOAD holding the faulting code,
 * and the message in its NUB note; on demand between calls it holds the
 * guest's state now. Refusals name their reason. gdb reading a core is
 * tests/cli/core.sh.
 */
#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/procfs.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nub/guest_abi.h>
#include <nub/nub.h>

#include "../../guest/tests/test_guest_ids.h"
#include "nub_test.h"
#include "nub_test_sandbox.h"

struct core {
	uint8_t *b;
	size_t n;
};

static struct core core_read(const char *path)
{
	struct core c = {0};
	struct stat st;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	c.n = (size_t)st.st_size;
	c.b = malloc(c.n);
	assert_non_null(c.b);
	assert_int_equal(pread(fd, c.b, c.n, 0), (ssize_t)c.n);
	close(fd);
	return c;
}

static const Elf64_Phdr *phdr(const struct core *c, unsigned i)
{
	const Elf64_Ehdr *e = (const void *)c->b;

	assert_true(i < e->e_phnum);
	return (const void *)(c->b + e->e_phoff + i * sizeof(Elf64_Phdr));
}

/* The note of `type` named `name` in the PT_NOTE, or NULL. */
static const uint8_t *note_find(const struct core *c, const char *name, uint32_t type, size_t *len)
{
	const Elf64_Phdr *p = phdr(c, 0);
	size_t at = p->p_offset, end = p->p_offset + p->p_filesz;

	assert_int_equal(p->p_type, PT_NOTE);
	while (at + sizeof(Elf64_Nhdr) <= end) {
		const Elf64_Nhdr *h = (const void *)(c->b + at);
		size_t name_at = at + sizeof(*h), desc_at = name_at + ((h->n_namesz + 3) & ~3u);
		if (h->n_type == type && !strcmp((const char *)c->b + name_at, name)) {
			*len = h->n_descsz;
			return c->b + desc_at;
		}
		at = desc_at + ((h->n_descsz + 3) & ~3u);
	}
	return NULL;
}

static uint64_t core_rip(const struct core *c)
{
	size_t len = 0;
	const uint8_t *desc = note_find(c, "CORE", NT_PRSTATUS, &len);
	struct elf_prstatus ps; /* notes are 4-aligned: copied out */

	assert_non_null(desc);
	assert_int_equal(len, sizeof(ps));
	memcpy(&ps, desc, sizeof(ps));
	return ps.pr_reg[16]; /* RIP in the user_regs_struct order */
}

/* The PT_LOAD holding gva, or NULL. */
static const Elf64_Phdr *load_of(const struct core *c, uint64_t gva)
{
	const Elf64_Ehdr *e = (const void *)c->b;

	for (unsigned i = 1; i < e->e_phnum; i++) {
		const Elf64_Phdr *p = phdr(c, i);
		if (p->p_type == PT_LOAD && gva >= p->p_vaddr && gva - p->p_vaddr < p->p_memsz)
			return p;
	}
	return NULL;
}

static void test_a_fault_writes_its_core(void **state)
{
	struct nub_config cfg;
	char dir[256], path[600];
	struct nub_sandbox *sb;
	uint64_t rip = 0;
	size_t len = 0;
	int rc = 0;
	(void)state;

	nub_test_tmpdir(dir, sizeof(dir), "core");
	nub_config_init(&cfg);
	cfg.core_dir = dir;
	sb = nub_test_sandbox("test_guest", &cfg);
	nub_test_try_call(sb, NUB_TG_NULL_DEREF, NULL, 0, NULL, 0, &rc);
	assert_int_equal(rc, NUB_EGUEST_FAULT);
	const char *msg = nub_sandbox_last_error(sb), *named = strstr(msg, "; core dumped to ");
	assert_non_null(named);
	assert_int_equal(sscanf(strstr(msg, "at RIP ") + 7, "0x%lx", &rip), 1);
	snprintf(path, sizeof(path), "%s", named + strlen("; core dumped to "));
	struct core c = core_read(path);
	const Elf64_Ehdr *e = (const void *)c.b;
	assert_memory_equal(e->e_ident, ELFMAG, SELFMAG);
	assert_int_equal(e->e_type, ET_CORE);
	assert_int_equal(e->e_machine, EM_X86_64);
	assert_int_equal(core_rip(&c), rip);
	const Elf64_Phdr *code = load_of(&c, rip);
	assert_non_null(code);
	assert_true(code->p_flags & PF_X);
	const char *why = (const char *)note_find(&c, "NUB", 1, &len);
	assert_non_null(why);
	assert_non_null(strstr(why, "(null_deref+0x"));
	/* Supervisor pages (page tables, exception stack) are never in it. */
	for (unsigned k = 0; k < NUB_DOORBELL_COUNT; k++)
		assert_null(load_of(&c, NUB_DOORBELL_GVA_OF(k)));
	free(c.b);
	/* On demand after the fault: the fault's state again. */
	snprintf(path, sizeof(path), "%s/again.core", dir);
	assert_int_equal(nub_sandbox_core_dump(sb, path), 0);
	c = core_read(path);
	assert_int_equal(core_rip(&c), rip);
	free(c.b);
	unlink(path);
	/* An existing file is refused, named. */
	assert_int_equal(nub_sandbox_core_dump(sb, dir), NUB_EIO);
	assert_non_null(strstr(nub_sandbox_last_error(sb), "core dump: cannot create "));
	nub_sandbox_free(sb);
}

static void test_on_demand_between_calls(void **state)
{
	struct nub_sandbox *sb = nub_test_sandbox("test_guest", NULL);
	char dir[256], path[300], out[16];
	size_t len = 0;
	(void)state;

	nub_test_tmpdir(dir, sizeof(dir), "core-demand");
	snprintf(path, sizeof(path), "%s/now.core", dir);
	assert_int_equal(nub_test_call_text(sb, NUB_TG_ECHO, "hi", out, sizeof(out)), 0);
	assert_int_equal(nub_sandbox_core_dump(sb, path), 0);
	struct core c = core_read(path);
	assert_non_null(load_of(&c, core_rip(&c))); /* in the guest's code */
	assert_null(note_find(&c, "NUB", 1, &len)); /* no failure to tell */
	free(c.b);
	unlink(path);
	/* After a fault with no core directory: the fault's own message. */
	int rc = 0;
	nub_test_try_call(sb, NUB_TG_NULL_DEREF, NULL, 0, NULL, 0, &rc);
	assert_int_equal(rc, NUB_EGUEST_FAULT);
	assert_int_equal(nub_sandbox_core_dump(sb, path), 0);
	c = core_read(path);
	const char *why = (const char *)note_find(&c, "NUB", 1, &len);
	assert_non_null(why);
	assert_non_null(strstr(why, "(null_deref+0x"));
	free(c.b);
	unlink(path);
	assert_int_equal(nub_sandbox_core_dump(sb, NULL), NUB_EINVAL);
	assert_string_equal(nub_sandbox_last_error(sb), "core dump: NULL path");
	nub_sandbox_free(sb);
}

static void test_refused_before_evolve(void **state)
{
	struct nub_config cfg;
	struct nub_sandbox *sb = NULL;
	struct nub_error err = {0};
	(void)state;

	nub_config_init(&cfg);
	nub_test_use_backend(&cfg);
	assert_int_equal(nub_sandbox_create_from_elf(&cfg, nub_test_guest("test_guest"), &sb, &err),
	                 0);
	assert_int_equal(nub_sandbox_core_dump(sb, "/tmp/x.core"), NUB_ESTATE);
	assert_string_equal(nub_sandbox_last_error(sb), "core dump: sandbox not evolved");
	assert_int_equal(nub_sandbox_core_dump(NULL, "/tmp/x.core"), NUB_EINVAL);
	nub_sandbox_free(sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_a_fault_writes_its_core),
	        cmocka_unit_test(test_on_demand_between_calls),
	        cmocka_unit_test(test_refused_before_evolve),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
