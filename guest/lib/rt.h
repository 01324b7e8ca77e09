/* SPDX-License-Identifier: MIT */
/* Internals of the guest runtime shared by its C files and rt_entry.S. */
#ifndef NUB_GUEST_RT_H
#define NUB_GUEST_RT_H

/* GDT selectors (rt_cpu.c builds the table; rt_entry.S loads it). */
#define RT_SEL_CODE 0x08
#define RT_SEL_DATA 0x10
#define RT_SEL_TSS  0x18

/* Offset of exn_stack_top_gva in struct nub_peb (static-asserted in rt_cpu.c). */
#define RT_PEB_EXN_STACK_TOP 152

#define RT_MSR_GS_BASE 0xc0000101u

/* guest_abi.h values the assembler needs (it cannot include the C header);
 * static-asserted equal in rt_cpu.c. */
#define RT_NOTE_TYPE_ABI     0x4e554201
#define RT_GUEST_ABI_VERSION 1

#ifndef __ASSEMBLER__
#include <stddef.h>
#include <stdint.h>

#include <nub/guest_abi.h>
#include <nub/vmem.h>

/* What the exception stubs push, lowest address first. */
struct rt_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rdi, rsi, rbp, rbx, rdx, rcx, rax;
	uint64_t vector, error_code;
	uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};

/* rt_entry.S */
void nub_rt_dispatch_entry(void);
void nub_rt_cpu_load(const void *gdtr, const void *idtr);
extern const uint64_t nub_rt_exn_stubs[32];

/* The PEB, found through GS base (set at every entry before anything can
 * fault) so that the fault handler needs no writable global. */
static inline const struct nub_peb *rt_peb(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(RT_MSR_GS_BASE));
	return (const struct nub_peb *)(((uint64_t)hi << 32) | lo);
}

static inline void rt_wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr"
	                 :
	                 : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32))
	                 : "memory");
}

/* Exits. */
_Noreturn void rt_hang(void);
_Noreturn void rt_halt(uint32_t reason, uint64_t rdi);
/* Push a nub_abort_msg + payload (truncated to fit, or left out when the
 * output buffer is unusable) and exit through NUB_PORT_ABORT. */
_Noreturn void rt_abort(uint32_t code, const void *payload, uint32_t len);
/* Exit through NUB_PORT_ABORT without a message. */
_Noreturn void rt_abort_bare(uint32_t code);

/* Message stacks (rt_buffer.c), see NUB_BUF_HEADER in guest_abi.h. */
struct rt_buf {
	uint8_t *base;
	uint64_t size;
};
struct rt_buf rt_buf_input(const struct nub_peb *peb);
struct rt_buf rt_buf_output(const struct nub_peb *peb);
/* Current stack pointer, validated; 0 stored in the buffer means empty. */
int rt_buf_sp(const struct rt_buf *b, uint64_t *sp);
/* Bytes a message can still have (after its back-pointer); 0 if corrupt. */
uint64_t rt_buf_room(const struct rt_buf *b);
/* Push one message made of two parts; NUB_EFULL / NUB_ECORRUPT. */
int rt_buf_push(const struct rt_buf *b, const void *a, uint64_t alen, const void *c, uint64_t clen);
/* Top message [*msg, *msg + *len) and the stack pointer below it, without
 * popping; only messages starting at or above `floor` count.
 * NUB_EEMPTY / NUB_ECORRUPT. */
int rt_buf_peek(const struct rt_buf *b, uint64_t floor, const uint8_t **msg, uint64_t *len,
                uint64_t *below);
void rt_buf_set_sp(const struct rt_buf *b, uint64_t sp);

/* Scratch (rt_scratch.c). */
void *rt_scratch_ptr(const struct nub_peb *peb, uint64_t gpa);
volatile uint64_t *rt_scratch_word(const struct nub_peb *peb, unsigned top_offset);
/* Take `n` consecutive zeroed pages: NUB_EFULL, NUB_ECORRUPT (bookkeeping). */
int rt_scratch_alloc(const struct nub_peb *peb, unsigned n, uint64_t *gpa);
/* vmem ops over the live page tables (CR3), which all live in scratch. */
void rt_vmem_ops(const struct nub_peb *peb, struct nub_vmem_ops *ops);

/* CPU (rt_cpu.c). */
void nub_rt_cpu_setup(const struct nub_peb *peb);
void nub_rt_cpu_ensure(const struct nub_peb *peb);

/* Faults (rt_fault.c). */
void nub_rt_exception(struct rt_frame *f);

/* Entry points called from rt_entry.S (rt_main.c). */
_Noreturn void nub_rt_init(const struct nub_peb *peb);
_Noreturn void nub_rt_dispatch(const struct nub_peb *peb);
#endif

#endif
