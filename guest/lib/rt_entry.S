/* SPDX-License-Identifier: MIT */
/*
 * Entry points the host jumps to, exception stubs, and the ELF note.
 *
 * Both entries get RDI = PEB GVA and RSP = main stack top from the host.
 * They first run the CPU setup/check on the exception stack (scratch,
 * always writable: the main stack may be copy-on-write, which needs the
 * fault handler installed first), then switch to the main stack and call C.
 * Neither returns: the C code leaves through `out` to NUB_PORT_HALT/ABORT.
 */
#include "rt.h"

	.section .note.nub, "a", @note
	.balign 4
	.long 4                         /* namesz: "nub\0" */
	.long 4                         /* descsz */
	.long RT_NOTE_TYPE_ABI
	.asciz "nub"
	.long RT_GUEST_ABI_VERSION

	.text

/* Common prologue: r12 = PEB, r13 = host RSP; run \setup on the exception
 * stack, then \main on the main stack. */
.macro RT_ENTRY setup, main
	cli
	cld
	xorl %ebp, %ebp
	movq %rdi, %r12
	movq %rsp, %r13
	movq RT_PEB_EXN_STACK_TOP(%rdi), %rsp
	andq $-16, %rsp
	call \setup
	movq %r13, %rsp
	andq $-16, %rsp
	movq %r12, %rdi
	call \main
	jmp rt_hang
.endm

	.globl _start
	.type _start, @function
_start:
	RT_ENTRY nub_rt_cpu_setup, nub_rt_init
	.size _start, . - _start

	.globl nub_rt_dispatch_entry
	.type nub_rt_dispatch_entry, @function
nub_rt_dispatch_entry:
	RT_ENTRY nub_rt_cpu_ensure, nub_rt_dispatch
	.size nub_rt_dispatch_entry, . - nub_rt_dispatch_entry

	.globl rt_hang
	.type rt_hang, @function
rt_hang:
	cli
1:	hlt
	jmp 1b
	.size rt_hang, . - rt_hang

/* void nub_rt_cpu_load(const void *gdtr, const void *idtr) */
	.globl nub_rt_cpu_load
	.type nub_rt_cpu_load, @function
nub_rt_cpu_load:
	lgdt (%rdi)
	pushq $RT_SEL_CODE
	leaq 1f(%rip), %rax
	pushq %rax
	lretq
1:	movl $RT_SEL_DATA, %eax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw $RT_SEL_TSS, %ax
	ltr %ax
	lidt (%rsi)
	ret
	.size nub_rt_cpu_load, . - nub_rt_cpu_load

/* Exception stubs: make every frame {vector, error code, CPU frame}. */
.macro EXN_STUB vec, has_err
	.balign 16
nub_rt_exn_\vec:
	.if \has_err == 0
	pushq $0
	.endif
	pushq $\vec
	jmp rt_exn_common
.endm

	EXN_STUB 0, 0
	EXN_STUB 1, 0
	EXN_STUB 2, 0
	EXN_STUB 3, 0
	EXN_STUB 4, 0
	EXN_STUB 5, 0
	EXN_STUB 6, 0
	EXN_STUB 7, 0
	EXN_STUB 8, 1
	EXN_STUB 9, 0
	EXN_STUB 10, 1
	EXN_STUB 11, 1
	EXN_STUB 12, 1
	EXN_STUB 13, 1
	EXN_STUB 14, 1
	EXN_STUB 15, 0
	EXN_STUB 16, 0
	EXN_STUB 17, 1
	EXN_STUB 18, 0
	EXN_STUB 19, 0
	EXN_STUB 20, 0
	EXN_STUB 21, 1
	EXN_STUB 22, 0
	EXN_STUB 23, 0
	EXN_STUB 24, 0
	EXN_STUB 25, 0
	EXN_STUB 26, 0
	EXN_STUB 27, 0
	EXN_STUB 28, 0
	EXN_STUB 29, 1
	EXN_STUB 30, 1
	EXN_STUB 31, 0

/* Saves the GPRs in struct rt_frame order, calls nub_rt_exception(frame)
 * and, when it returns (a resolved CoW fault), resumes the faulting code.
 * The runtime is built -mgeneral-regs-only, so vector state is untouched. */
rt_exn_common:
	pushq %rax
	pushq %rcx
	pushq %rdx
	pushq %rbx
	pushq %rbp
	pushq %rsi
	pushq %rdi
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, %rdi
	movq %rsp, %rbx
	andq $-16, %rsp
	cld
	call nub_rt_exception
	movq %rbx, %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rdi
	popq %rsi
	popq %rbp
	popq %rbx
	popq %rdx
	popq %rcx
	popq %rax
	addq $16, %rsp
	iretq

	.section .data.rel.ro, "aw"
	.balign 8
	.globl nub_rt_exn_stubs
nub_rt_exn_stubs:
	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.quad nub_rt_exn_\v
	.endr

	.section .note.GNU-stack, "", @progbits
