/* SPDX-License-Identifier: MIT */
/* The host's names for what a faulting CPL3 guest executed
 * (nub_cpu_privileged_insn): every privileged instruction, in each operand
 * form it has (register and memory), with the prefixes a guest may put in
 * front; and what is not privileged stays unnamed. */
#include <stdint.h>
#include <string.h>

#include <nub/guest_abi.h>

#include "memory/layout.h"
#include "nub_test.h"
#include "x86/cpu.h"

struct insn_case {
	const char *what;
	uint8_t bytes[15];
	uint8_t len;
	const char *name; /* NULL: not a privileged instruction */
};

static const struct insn_case cases[] = {
        {"hlt", {0xf4}, 1, "hlt"},
        {"cli", {0xfa}, 1, "cli"},
        {"sti", {0xfb}, 1, "sti"},
        {"in al, 0x80", {0xe4, 0x80}, 2, "in"},
        {"in eax, dx", {0xed}, 1, "in"},
        {"out 0x80, al", {0xe6, 0x80}, 2, "out"},
        {"out dx, al", {0xee}, 1, "out"},
        {"insb", {0x6c}, 1, "ins"},
        {"rep outsb", {0xf3, 0x6e}, 2, "outs"},
        {"int 0x80", {0xcd, 0x80}, 2, "int n"},
        {"int3", {0xcc}, 1, "int3"},
        {"lgdt [rax]", {0x0f, 0x01, 0x10}, 3, "lgdt"},
        {"lidt [rax+8]", {0x0f, 0x01, 0x58, 0x08}, 4, "lidt"},
        {"sgdt [rax]", {0x0f, 0x01, 0x00}, 3, "sgdt"},
        {"sidt [rax]", {0x0f, 0x01, 0x08}, 3, "sidt"},
        {"smsw [rax]", {0x0f, 0x01, 0x20}, 3, "smsw"},
        {"smsw eax", {0x0f, 0x01, 0xe0}, 3, "smsw"},
        {"lmsw [rax]", {0x0f, 0x01, 0x30}, 3, "lmsw"},
        {"lmsw ax", {0x0f, 0x01, 0xf0}, 3, "lmsw"},
        {"lmsw r9w (REX.B)", {0x41, 0x0f, 0x01, 0xf1}, 4, "lmsw"},
        {"invlpg [rax]", {0x0f, 0x01, 0x38}, 3, "invlpg"},
        {"sldt eax", {0x0f, 0x00, 0xc0}, 3, "sldt"},
        {"str [rax]", {0x0f, 0x00, 0x08}, 3, "str"},
        {"lldt ax", {0x0f, 0x00, 0xd0}, 3, "lldt"},
        {"lldt [rax]", {0x0f, 0x00, 0x10}, 3, "lldt"},
        {"ltr ax", {0x0f, 0x00, 0xd8}, 3, "ltr"},
        {"ltr [rsp+8] (SIB, disp8)", {0x0f, 0x00, 0x5c, 0x24, 0x08}, 5, "ltr"},
        {"xsetbv", {0x0f, 0x01, 0xd1}, 3, "xsetbv"},
        {"swapgs", {0x0f, 0x01, 0xf8}, 3, "swapgs"},
        {"monitor", {0x0f, 0x01, 0xc8}, 3, "monitor"},
        {"mwait", {0x0f, 0x01, 0xc9}, 3, "mwait"},
        {"clac", {0x0f, 0x01, 0xca}, 3, "clac"},
        {"stac", {0x0f, 0x01, 0xcb}, 3, "stac"},
        {"vmcall", {0x0f, 0x01, 0xc1}, 3, "vmcall"},
        {"vmmcall", {0x0f, 0x01, 0xd9}, 3, "vmmcall"},
        {"vmrun", {0x0f, 0x01, 0xd8}, 3, "vmrun"},
        {"stgi", {0x0f, 0x01, 0xdc}, 3, "stgi"},
        {"clts", {0x0f, 0x06}, 2, "clts"},
        {"sysret", {0x48, 0x0f, 0x07}, 3, "sysret"},
        {"invd", {0x0f, 0x08}, 2, "invd"},
        {"wbinvd", {0x0f, 0x09}, 2, "wbinvd"},
        {"wbnoinvd", {0xf3, 0x0f, 0x09}, 3, "wbinvd"},
        {"mov cr3, rax", {0x0f, 0x22, 0xd8}, 3, "mov to/from a control register"},
        {"mov rax, cr0", {0x0f, 0x20, 0xc0}, 3, "mov to/from a control register"},
        {"mov cr8, rax (REX.R)", {0x44, 0x0f, 0x22, 0xc0}, 4, "mov to/from a control register"},
        {"mov dr7, rax", {0x0f, 0x23, 0xf8}, 3, "mov to/from a debug register"},
        {"mov rax, dr6", {0x0f, 0x21, 0xf0}, 3, "mov to/from a debug register"},
        {"wrmsr", {0x0f, 0x30}, 2, "wrmsr"},
        {"rdmsr", {0x0f, 0x32}, 2, "rdmsr"},
        {"rdpmc", {0x0f, 0x33}, 2, "rdpmc"},
        {"sysenter", {0x0f, 0x34}, 2, "sysenter"},
        {"sysexit", {0x48, 0x0f, 0x35}, 3, "sysexit"},
        {"getsec", {0x0f, 0x37}, 2, "getsec"},
        {"vmread rax, rbx", {0x0f, 0x78, 0xd8}, 3, "vmread"},
        {"vmwrite rbx, rax", {0x0f, 0x79, 0xd8}, 3, "vmwrite"},
        {"vmptrld [rax]", {0x0f, 0xc7, 0x30}, 3, "vmptrld/vmclear/vmxon"},
        {"vmxon [rax]", {0xf3, 0x0f, 0xc7, 0x30}, 4, "vmptrld/vmclear/vmxon"},
        {"vmptrst [rax]", {0x0f, 0xc7, 0x38}, 3, "vmptrst"},
        {"invept rax, [rbx]", {0x66, 0x0f, 0x38, 0x80, 0x03}, 5, "invept"},
        {"invpcid rax, [rbx]", {0x66, 0x0f, 0x38, 0x82, 0x03}, 5, "invpcid"},
        {"cli with a segment prefix", {0x2e, 0xfa}, 2, "cli"},
        /* Not privileged: nothing to name. */
        {"xgetbv", {0x0f, 0x01, 0xd0}, 3, NULL},
        {"rdtscp", {0x0f, 0x01, 0xf9}, 3, NULL},
        {"verr ax", {0x0f, 0x00, 0xe0}, 3, NULL},
        {"rdrand eax (0f c7 /6, register)", {0x0f, 0xc7, 0xf0}, 3, NULL},
        {"cmpxchg8b [rax] (0f c7 /1)", {0x0f, 0xc7, 0x08}, 3, NULL},
        {"syscall", {0x0f, 0x05}, 2, NULL},
        {"ud2", {0x0f, 0x0b}, 2, NULL},
        {"mov [rax], rbx", {0x48, 0x89, 0x18}, 3, NULL},
        {"nop", {0x90}, 1, NULL},
        {"only prefixes", {0x66, 0x66}, 2, NULL},
        {"0f, then nothing", {0x0f}, 1, NULL},
        {"0f 01, then nothing", {0x0f, 0x01}, 2, NULL},
        {"no bytes", {0}, 0, NULL},
};

static void test_privileged_forms_are_named(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct insn_case *c = &cases[i];
		const char *got = nub_cpu_privileged_insn(c->bytes, c->len);
		if ((got == NULL) != (c->name == NULL) || (got && strcmp(got, c->name)))
			fail_msg("%s: named '%s', want '%s'", c->what, got ? got : "(none)",
			         c->name ? c->name : "(none)");
	}
}

/* Every vector has a name the fault message can print. */
static void test_vector_names(void **state)
{
	(void)state;
	assert_string_equal(nub_cpu_vector_name(14), "#PF page fault");
	assert_string_equal(nub_cpu_vector_name(6), "#UD invalid opcode");
	assert_string_equal(nub_cpu_vector_name(31), "reserved");
	assert_string_equal(nub_cpu_vector_name(255), "reserved");
}

/* The system-call gate and its CPL0 bounce, as the host writes them: the
 * gate raises NUB_CPU_SYSCALL_VECTOR, whose IDT entry (IST1, DPL0) is the
 * bounce; the bounce's one memory operand outside its own frame is the
 * bookkeeping word NUB_SCRATCH_TOP_SYSCALL_ENTRY, reached from the frame
 * the int pushes at the top of the exception stack. */
static void test_syscall_bounce(void **state)
{
	static uint8_t tables[4096], stubs[4096];
	struct nub_layout_config c;
	struct nub_layout l;
	struct nub_error err = {0};
	uint8_t gate[16];
	int32_t disp;

	(void)state;
	nub_layout_config_default(&c);
	assert_int_equal(nub_layout_compute(&c, 1u << 20, &l, &err), 0);
	nub_cpu_build_system_pages(&l, tables, stubs);
	assert_memory_equal(stubs + NUB_CPU_GATE_OFFSET, ((const uint8_t[]){0xcd, 15}), 2);
	memcpy(gate, tables + NUB_CPU_IDT_OFFSET + NUB_CPU_SYSCALL_VECTOR * 16, 16);
	uint64_t target =
	        (uint64_t)(gate[0] | gate[1] << 8) | (uint64_t)(gate[6] | gate[7] << 8) << 16 |
	        (uint64_t)(gate[8] | gate[9] << 8 | gate[10] << 16 | (uint32_t)gate[11] << 24)
	                << 32;
	assert_int_equal(target, l.sys_stubs_gpa + NUB_CPU_BOUNCE_OFFSET);
	assert_int_equal(gate[4], 1);    /* IST1 */
	assert_int_equal(gate[5], 0x8e); /* present interrupt gate, DPL0 */
	/* pushq disp32(%rsp): at the int's frame (5 words below IST1's top). */
	assert_memory_equal(stubs + NUB_CPU_BOUNCE_OFFSET, ((const uint8_t[]){0xff, 0xb4, 0x24}),
	                    3);
	memcpy(&disp, stubs + NUB_CPU_BOUNCE_OFFSET + 3, 4);
	uint64_t ist1 = l.scratch_gva + l.exn_stack_top_offset;
	assert_int_equal(ist1 - 40 + (uint64_t)(int64_t)disp,
	                 l.scratch_gva + l.scratch_size - NUB_SCRATCH_TOP_SYSCALL_ENTRY);
	/* ... and it ends in iretq. */
	assert_memory_equal(stubs + NUB_CPU_BOUNCE_OFFSET + 33, ((const uint8_t[]){0x48, 0xcf}), 2);
}

/* The entry stub on the PEB page: registers point RIP at it with R11 =
 * the entry; it leaves the PEB alone, XRSTORs the image on its page (64-byte
 * aligned, FCW/MXCSR at their reset values, XSTATE_BV and XCOMP_BV 0: every
 * component initialised), and ends in ret with RAX/RDX/R11 zeroed by mov
 * (no flag changes). The guest-run tests show it working on each backend. */
static void test_entry_stub(void **state)
{
	static uint8_t page[4096];
	struct nub_layout_config c;
	struct nub_layout l;
	struct nub_error err = {0};
	struct nub_regs r;
	struct nub_sregs sr;
	int32_t disp;
	uint16_t fcw;
	uint32_t mxcsr;
	uint64_t hdr[8];

	(void)state;
	nub_layout_config_default(&c);
	assert_int_equal(nub_layout_compute(&c, 1u << 20, &l, &err), 0);
	memset(page, 0xa5, NUB_CPU_CLEAN_XSAVE_OFFSET);
	nub_cpu_build_entry_stub(page);
	for (unsigned i = 0; i < NUB_CPU_CLEAN_XSAVE_OFFSET; i++)
		assert_int_equal(page[i], 0xa5); /* the PEB's part untouched */
	const uint8_t *img = page + NUB_CPU_CLEAN_XSAVE_OFFSET,
	              *stub = page + NUB_CPU_ENTRY_STUB_OFFSET;
	memcpy(&fcw, img, 2);
	memcpy(&mxcsr, img + 24, 4);
	memcpy(hdr, img + 512, sizeof(hdr));
	assert_int_equal(fcw, 0x37f);
	assert_int_equal(mxcsr, 0x1f80);
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(hdr[i], 0);
	assert_memory_equal(stub + 10, ((const uint8_t[]){0x48, 0x0f, 0xae, 0x2d}), 4);
	memcpy(&disp, stub + 14, 4);
	assert_int_equal(NUB_CPU_ENTRY_STUB_OFFSET + 18 + disp, NUB_CPU_CLEAN_XSAVE_OFFSET);
	assert_memory_equal(stub + 18, ((const uint8_t[]){0x41, 0x53}), 2); /* push %r11 */
	assert_int_equal(stub[36], 0xc3);                                   /* ret */
	for (unsigned i = 18; i < 36; i++)
		assert_int_not_equal(stub[i], 0x31); /* no xor: flags stay */
	nub_cpu_initial_state(&l, 0x123456, 0, NULL, &r, &sr);
	assert_int_equal(r.rip, l.peb_gpa + NUB_CPU_ENTRY_STUB_OFFSET);
	assert_int_equal(r.r11, 0x123456);
	assert_int_equal(r.rflags, 2);
	assert_true(sr.cr4 & (1u << 18)); /* OSXSAVE: xrstor runs under nub's CR4 */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_privileged_forms_are_named),
	        cmocka_unit_test(test_vector_names),
	        cmocka_unit_test(test_syscall_bounce),
	        cmocka_unit_test(test_entry_stub),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
