/* SPDX-License-Identifier: MIT */
/**
 * @file guest_abi.h
 * The contract between the host (libnub) and a guest built with the nub
 * guest runtime. Included by both sides; freestanding (stdint only).
 *
 * Everything the host reads back from guest memory under this ABI is
 * untrusted: offsets, lengths and ids are validated before use.
 *
 * Address space (x86-64, 4-level paging, 4 KiB pages):
 *   - snapshot region at GPA NUB_BASE_GPA, identity-mapped (GVA == GPA):
 *     PEB page, ELF image, init data, heap; immutable and mapped read-only
 *     at the hypervisor; writable guest pages are CoW (PTE bit 9).
 *   - scratch region, private per sandbox, at the top of the guest-physical
 *     space (GPA NUB_GPA_LIMIT - size) and of the lower canonical half
 *     (GVA NUB_GVA_LIMIT - size): live page tables, I/O buffers, stacks,
 *     CoW pages, bookkeeping words at fixed offsets below its top.
 */
#ifndef NUB_GUEST_ABI_H
#define NUB_GUEST_ABI_H

#include <stdint.h>

/** Guest ABI version carried in the guest's ELF note; host refuses others. */
#define NUB_GUEST_ABI_VERSION 1u

/** ELF note: name "nub" (with NUL), type NUB_NOTE_TYPE_ABI, desc = u32 version. */
#define NUB_NOTE_NAME     "nub"
#define NUB_NOTE_TYPE_ABI 0x4e554201u

/** First guest-physical (and virtual) address used; page 0 is never mapped
 * so that a NULL dereference in the guest faults. */
#define NUB_BASE_GPA 0x1000ull
/** Guest-physical space nub uses: 64 GiB fits the smallest MAXPHYADDR (36)
 * of any x86-64 CPU, so scratch at its top is addressable everywhere. */
#define NUB_GPA_LIMIT (1ull << 36)
/** End of the lower canonical half of a 48-bit virtual address space. */
#define NUB_GVA_LIMIT (1ull << 47)

/** Page-table entry bits used by nub. */
#define NUB_PTE_P  (1ull << 0)
#define NUB_PTE_RW (1ull << 1)
#define NUB_PTE_US (1ull << 2)
#define NUB_PTE_A  (1ull << 5)
#define NUB_PTE_D  (1ull << 6)
#define NUB_PTE_PS (1ull << 7)
/** Software-available bit 9: a read-only leaf that becomes writable on the
 * first write, through a copy into scratch (copy-on-write). */
#define NUB_PTE_COW       (1ull << 9)
#define NUB_PTE_NX        (1ull << 63)
#define NUB_PTE_ADDR_MASK 0x000ffffffffff000ull

/*
 * Entry contract (implemented by guest/lib/rt_entry.S):
 *   init:     RIP = ELF entry (image relocated), RDI = PEB GVA,
 *             RSP = peb->stack_top_gva; 64-bit CS, paging on (CR3 =
 *             peb->pt_gpa, EFER.NXE set), interrupts off, no IDT needed.
 *   dispatch: RIP = the GVA reported with NUB_HALT_INIT_DONE, RDI = PEB,
 *             RSP = peb->stack_top_gva, one request on the input buffer.
 * Both run first on the exception stack, which must therefore be mapped
 * writable (not CoW) like the rest of scratch; the main stack may be CoW.
 * The guest needs no register other than RIP/RSP/RDI to survive between
 * calls: it re-installs its GDT/IDT/TSS/SSE setup if the host reset them,
 * and sets IA32_GS_BASE = PEB itself at every entry. A buffer stack
 * pointer of 0 (freshly zeroed scratch) is read as empty.
 */

/** I/O ports of guest-to-host exits (`out dx, eax`). */
enum nub_port {
	/** eax = enum nub_halt_reason; for NUB_HALT_INIT_DONE rdi = dispatch GVA. */
	NUB_PORT_HALT = 0x100,
	/** A host-call request is on top of the output buffer; the response is
	 * pushed onto the input buffer before the guest resumes. */
	NUB_PORT_CALL_HOST = 0x101,
	/** A struct nub_log_msg is on top of the output buffer. */
	NUB_PORT_LOG = 0x102,
	/** eax = abort code; a struct nub_abort_msg is on top of the output
	 * buffer (may be absent if the guest could not push it). */
	NUB_PORT_ABORT = 0x103,
};

enum nub_halt_reason {
	NUB_HALT_INIT_DONE = 1, /**< init finished; rdi = dispatch entry GVA */
	NUB_HALT_CALL_DONE = 2, /**< a call finished; its response is pushed */
};

/** Abort codes below this are the guest program's own; these are the runtime's. */
enum nub_abort_code {
	NUB_ABORT_FAULT = 0xffff0001u,          /**< unhandled exception; nub_fault_record */
	NUB_ABORT_STACK_OVERFLOW = 0xffff0002u, /**< #PF on the stack guard page */
	NUB_ABORT_OOM = 0xffff0003u,            /**< heap or scratch allocator exhausted */
	NUB_ABORT_BAD_REQUEST = 0xffff0004u,    /**< input buffer held no valid request */
	/** Runtime state found corrupt: the output buffer's stack pointer (the
	 * abort message is then absent), the heap, the PEB or the scratch
	 * bookkeeping; the message says which. */
	NUB_ABORT_CORRUPT = 0xffff0005u,
};

/** Payload of an abort for NUB_ABORT_FAULT / NUB_ABORT_STACK_OVERFLOW. */
struct nub_fault_record {
	uint64_t vector;
	uint64_t error_code;
	uint64_t rip;
	uint64_t cr2;
	uint64_t rsp;
};

/** Message pushed before NUB_PORT_ABORT: code, length, then `len` bytes
 * (UTF-8 text, or a struct nub_fault_record for the fault codes). */
struct nub_abort_msg {
	uint32_t code;
	uint32_t len;
};

/** Log levels, as in syslog order: lower is more severe. */
enum nub_log_level {
	NUB_LOG_ERROR = 1,
	NUB_LOG_WARN = 2,
	NUB_LOG_INFO = 3,
	NUB_LOG_DEBUG = 4,
	NUB_LOG_TRACE = 5,
};

/** Message pushed before NUB_PORT_LOG: level, length, `len` bytes of text. */
struct nub_log_msg {
	uint32_t level;
	uint32_t len;
};

/**
 * Function names. Just before NUB_HALT_INIT_DONE the guest may push one
 * message per registered function onto the output buffer: this header,
 * then name_len bytes of name (no NUL). The host pops them all at the halt
 * and lets callers use names instead of ids; guests that push none can
 * only be called by id.
 */
struct nub_fn_entry {
	uint32_t id;
	uint32_t name_len; /**< 1 .. NUB_FN_NAME_MAX */
};
#define NUB_FN_NAME_MAX 63u

/** Request header (host to guest for calls, guest to host for host calls),
 * followed by `len` argument bytes. */
struct nub_request {
	uint32_t fn_id;
	uint32_t flags; /**< 0 */
	uint32_t len;
};

/** Response header, followed by `len` result bytes. */
struct nub_response {
	int32_t status; /**< 0 ok; negative: an enum nub_err or the function's own */
	uint32_t len;
};

/**
 * Buffers (input: host to guest; output: guest to host) are stacks of
 * messages. Byte 0..7 of a buffer hold the stack pointer: the offset of the
 * first free byte, NUB_BUF_HEADER when empty. Each message occupies
 * [start, end) and is followed by an 8-byte back-pointer holding `start`;
 * the stack pointer is then end + 8. Popping reads the back-pointer just
 * below the stack pointer.
 */
#define NUB_BUF_HEADER 8u

/**
 * Bookkeeping words at fixed offsets below the top of scratch. The host
 * writes them at every restore; the guest reads and updates the allocator.
 * The guest counter is host-authoritative: the host never reads it back.
 */
enum nub_scratch_top {
	NUB_SCRATCH_TOP_SIZE = 8,           /**< u64 scratch size in bytes */
	NUB_SCRATCH_TOP_ALLOCATOR = 16,     /**< u64 GPA of the next free scratch page */
	NUB_SCRATCH_TOP_SNAPSHOT_PT = 24,   /**< u64 GPA of the snapshot's page tables */
	NUB_SCRATCH_TOP_GENERATION = 32,    /**< u64 snapshot generation */
	NUB_SCRATCH_TOP_GUEST_COUNTER = 40, /**< u64 guest counter (host-written) */
	NUB_SCRATCH_TOP_ALLOC_LIMIT = 48,   /**< u64 GPA the allocator must stay below */
};
/** The bookkeeping words live in the last page of scratch. */
#define NUB_SCRATCH_BOOKKEEPING_SIZE 4096u

#define NUB_PEB_MAGIC 0x3142455042554e00ull /* "\0NUBPEB1" */

/**
 * Process environment block: the first page of the snapshot region, written
 * by the host when a snapshot is built, read-only (CoW) for the guest. All
 * addresses are guest-virtual unless named _gpa.
 */
struct nub_peb {
	uint64_t magic;                       /**< NUB_PEB_MAGIC */
	uint32_t abi_version;                 /**< NUB_GUEST_ABI_VERSION */
	uint32_t struct_size;                 /**< sizeof(struct nub_peb) */
	uint64_t snapshot_gva, snapshot_size; /**< guest-visible snapshot part */
	uint64_t image_gva, image_size;       /**< loaded ELF image */
	uint64_t init_data_gva, init_data_size;
	uint64_t heap_gva, heap_size;
	uint64_t scratch_gpa, scratch_gva, scratch_size;
	uint64_t input_gva, input_size;
	uint64_t output_gva, output_size;
	uint64_t stack_top_gva, stack_size; /**< main stack, guard page below */
	uint64_t exn_stack_top_gva, exn_stack_size;
	uint64_t pt_gpa;    /**< root of the live page tables (in scratch) */
	uint64_t pt_size;   /**< bytes of page tables copied into scratch */
	uint64_t alloc_gpa; /**< first scratch GPA for CoW/allocator pages */
};

#endif
