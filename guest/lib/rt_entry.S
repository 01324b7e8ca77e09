/* SPDX-License-Identifier: MIT */
/*
 * Entry points the host jumps to, and the ELF note.
 *
 * Both entries run at CPL3 and get RDI = PEB GVA and RSP = main stack top
 * from the host, which has set up everything else (segments, paging, FPU).
 * Neither returns: the C code leaves through a doorbell store; if the host
 * ever resumed after the final one, ud2 faults instead of running on.
 */
#include "rt.h"
#include "rt_note.inc"

	.section .note.nub, "a", @note
	RT_NOTE RT_NOTE_TYPE_ABI, 4
	.long RT_GUEST_ABI_VERSION

	/* The runtime's mutable state (section nub_hot): the host copies these
	 * pages up front instead of taking a copy-on-write exit for each. The
	 * offsets are relative to the descriptor: link-time constants. */
	RT_NOTE RT_NOTE_TYPE_HOT, 16
1:	.quad __start_nub_hot - 1b
	.quad __stop_nub_hot - 1b

	.text

.macro RT_ENTRY main
	cld
	xorl %ebp, %ebp
	andq $-16, %rsp
	call \main
	ud2
.endm

	.globl _start
	.type _start, @function
_start:
	RT_ENTRY nub_rt_init
	.size _start, . - _start

	.globl nub_rt_dispatch_entry
	.type nub_rt_dispatch_entry, @function
nub_rt_dispatch_entry:
	RT_ENTRY nub_rt_dispatch
	.size nub_rt_dispatch_entry, . - nub_rt_dispatch_entry

	.section .note.GNU-stack, "", @progbits
