/* SPDX-License-Identifier: MIT */
/*
 * The system-call entry of the C library flavour (guest_abi.h:
 * NUB_NOTE_TYPE_SYSCALL). The host sends every `syscall` the guest executes
 * here, at CPL3, as a kernel's entry would see it: RCX = the address after
 * the instruction, R11 = RFLAGS, RAX = number, RDI, RSI, RDX, R10, R8, R9 =
 * arguments. Like a kernel, it preserves every register but RAX (the
 * result), RCX and R11, and the flags; the 128-byte red zone below the
 * caller's RSP is left alone. The C side (rt_libc.c) touches no vector
 * register (-mgeneral-regs-only; musl's string functions it calls are
 * general-purpose-register code).
 */
#include "rt.h"
#include "rt_note.inc"

	.section .note.nub, "a", @note
	RT_NOTE RT_NOTE_TYPE_SYSCALL, 8
1:	.quad nub_rt_syscall_entry - 1b

	.text
	.globl nub_rt_syscall_entry
	.type nub_rt_syscall_entry, @function
nub_rt_syscall_entry:
	lea -128(%rsp), %rsp            /* skip the red zone */
	push %rcx                       /* return address */
	push %r11                       /* flags */
	push %r9                        /* args[5] */
	push %r8
	push %r10
	push %rdx
	push %rsi
	push %rdi                       /* args[0] */
	push %rbx
	mov %rsp, %rbx
	lea 8(%rsp), %rsi               /* long args[6] */
	mov %rax, %rdi                  /* number */
	and $-16, %rsp
	cld
	call nub_rt_syscall             /* long (long nr, const long *args) */
	mov %rbx, %rsp
	pop %rbx
	pop %rdi
	pop %rsi
	pop %rdx
	pop %r10
	pop %r8
	pop %r9
	popfq                           /* R11's flags */
	pop %rcx
	lea 128(%rsp), %rsp
	jmp *%rcx
	.size nub_rt_syscall_entry, . - nub_rt_syscall_entry

	.section .note.GNU-stack, "", @progbits
