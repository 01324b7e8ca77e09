/* SPDX-License-Identifier: MIT */
/**
 * @file guest_abi.h
 * The contract between the host (libnub) and a guest built with the nub
 * guest runtime. Included by both sides; freestanding (stdint only).
 *
 * Everything the host reads back from guest memory under this ABI is
 * untrusted: offsets, lengths and ids are validated before use.
 *
 * Privilege (ABI 2 and 3): all guest code runs at CPL3. The only CPL0 code is the
 * host's: 32 exception stubs on a supervisor page the host writes into the
 * snapshot. Page tables, GDT, TSS, IDT, the stubs and their stack live on
 * supervisor pages the guest can neither write nor (tables) read. The host
 * sets every control register, segment, MSR, FPU/MXCSR and XCR0 through the
 * backend; the guest executes no privileged instruction (one that tries
 * faults, and the host stops the sandbox naming the instruction).
 *
 * Address space (x86-64, 4-level paging, 4 KiB pages):
 *   - snapshot region at GPA NUB_BASE_GPA, identity-mapped (GVA == GPA):
 *     PEB page (user, read-only, executable: it also holds the host's
 *     entry stub, see the entry contract), system tables page (GDT/TSS/IDT,
 *     supervisor), stub page (supervisor, executable), ELF image, init
 *     data, heap; immutable and mapped read-only at the hypervisor;
 *     writable guest pages are CoW (PTE bit 9), resolved by the host.
 *   - scratch region, private per sandbox, at the top of the guest-physical
 *     space (GPA NUB_GPA_LIMIT - size) and just below the doorbell
 *     (GVA NUB_SCRATCH_GVA_END - size): live page tables (supervisor), I/O
 *     buffers and stack (user), CoW pages (reached only through their
 *     remapped GVAs), the stubs' exception stack (supervisor), bookkeeping
 *     words at fixed offsets below its top (user, read-only).
 *   - the doorbell pages from GVA NUB_DOORBELL_GVA (user, writable, NX):
 *     one page per doorbell, every other GVA page, each mapped to a page of
 *     its own from GPA NUB_DOORBELL_GPA, which no memory backs: every store
 *     to one is an MMIO exit carrying its address and value. The GVA page
 *     after each is unmapped.
 * Every GPA here, and in the PEB, is relative to the VM's guest-physical
 * window: a backend may place the whole space at a multiple of
 * NUB_GPA_LIMIT (backend.h, NUB_VM_GPA_WINDOW), and the hypervisor then
 * sees base + GPA. Guest code never needs one (it runs on GVAs).
 */
#ifndef NUB_GUEST_ABI_H
#define NUB_GUEST_ABI_H

#include <stdint.h>

#include "log.h"

/** Guest ABI version carried in the guest's ELF note; host refuses others.
 * 2: guests run at CPL3; exits are doorbell stores; the host owns CPL0.
 * 3: each doorbell is the last 8 bytes of a page of its own, the next GVA
 *    page unmapped (NUB_DOORBELL_GVA_OF). */
#define NUB_GUEST_ABI_VERSION 3u

/** ELF note: name "nub" (with NUL), type NUB_NOTE_TYPE_ABI, desc = u32 version. */
#define NUB_NOTE_NAME     "nub"
#define NUB_NOTE_TYPE_ABI 0x4e554201u
/** Optional ELF note, type NUB_NOTE_TYPE_HOT: desc = two i64, the start and
 * end of the runtime's mutable state, each relative to the descriptor's own
 * address. The host copies those pages before init and every call instead
 * of taking a copy-on-write exit for each (a hint; ignored when absent or
 * out of range). */
#define NUB_NOTE_TYPE_HOT 0x4e554202u
/** Optional ELF note, type NUB_NOTE_TYPE_SYSCALL: desc = one i64, the
 * address of the guest's system-call entry relative to the descriptor's own
 * address. With it, a `syscall` instruction the guest executes continues at
 * that entry, at CPL3, as a kernel's entry would: RCX = the address after
 * the `syscall`, R11 = RFLAGS, every other register (RAX = number, RDI, RSI,
 * RDX, R10, R8, R9 = arguments, RSP) as the guest left it. The entry returns
 * with `jmp *%rcx` (or equivalent) after putting the result in RAX; it must
 * not touch the 128-byte red zone below RSP. Without the note a `syscall`
 * stops the sandbox with NUB_EGUEST_FAULT naming it. The C library runtime
 * (libnubguest-libc) emits it. */
#define NUB_NOTE_TYPE_SYSCALL 0x4e554203u

/** First guest-physical (and virtual) address used: nothing is mapped below
 * it, so a NULL dereference (or a small offset from NULL) faults. 64 KiB:
 * also the lowest address a Linux process may map on common settings
 * (vm.mmap_min_addr), which the mock's process vCPU needs. */
#define NUB_BASE_GPA 0x10000ull
/** Guest-physical space nub uses: 64 GiB fits the smallest MAXPHYADDR (36)
 * of any x86-64 CPU, so scratch at its top is addressable everywhere. */
#define NUB_GPA_LIMIT (1ull << 36)
/** The highest window a backend may place that space at (backend.h,
 * NUB_VM_GPA_WINDOW): window w starts at GPA w * NUB_GPA_LIMIT, and the
 * last one ends at 2^52, the most a page-table entry can address. */
#define NUB_GPA_WINDOW_MAX ((1ull << 52) / NUB_GPA_LIMIT - 1)
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
 *             RSP = peb->stack_top_gva, CPL3, 64-bit CS, paging on,
 *             interrupts off, FPU initialised (FCW 0x37f, MXCSR 0x1f80).
 *   dispatch: RIP = the GVA reported with NUB_DOORBELL_INIT_DONE, RDI = PEB,
 *             RSP = peb->stack_top_gva, one request on the input buffer.
 * Each entry is reached through the host's entry stub on the PEB page,
 * which initialises every user XSAVE component (x87, SSE, AVX, AVX-512,
 * PKRU) with XRSTOR and leaves the registers as listed (R11 = 0, flags
 * untouched); one word below RSP is written. Every call therefore starts
 * with vector state initialised, restore or not.
 * The guest needs no register other than RIP/RSP/RDI between calls. The
 * PEB is always at GVA NUB_BASE_GPA. A buffer stack pointer of 0 (freshly
 * zeroed scratch) is read as empty.
 */

/** The doorbells: the one way out of the guest (any privilege level, every
 * backend). A guest exit is one 8-byte store of a value to the doorbell
 * of its kind, NUB_DOORBELL_GVA_OF(kind).
 *
 * Why each doorbell is the last 8 bytes of a page whose successor (GVA) is
 * unmapped: a hypervisor that emulates the store reports an access wider
 * than 8 bytes as a series of 8-byte pieces, one exit each, so an exit
 * with 8 bytes at a doorbell could be the first piece of a vector store
 * with more to come -- unless nothing can follow it. Here any byte past
 * the doorbell is on the unmapped page: the wider store faults (no exit
 * at all), so an 8-byte exit at a doorbell is the whole store, and the
 * host needs no second look (on KVM: no second KVM_RUN per exit). */
#define NUB_DOORBELL_GVA (1ull << 46)
/** Scratch ends where the doorbells begin (GVA): well away from the top of
 * the lower half, where a Linux process keeps its stack, so the mock can run
 * guest pages at their own addresses in a process of its own. */
#define NUB_SCRATCH_GVA_END NUB_DOORBELL_GVA
/** The doorbells' first guest-physical page (page 0): never backed by
 * memory. Doorbell k is on GPA page k. */
#define NUB_DOORBELL_GPA 0x0ull
/** A doorbell's offset in its page: its last 8 bytes. */
#define NUB_DOORBELL_SLOT 0xff8ull
/** The guest-physical and guest-virtual address of doorbell `kind`. */
#define NUB_DOORBELL_GPA_OF(kind) (NUB_DOORBELL_GPA + (uint64_t)(kind)*0x1000u + NUB_DOORBELL_SLOT)
#define NUB_DOORBELL_GVA_OF(kind) (NUB_DOORBELL_GVA + (uint64_t)(kind)*0x2000u + NUB_DOORBELL_SLOT)

/** The kinds of doorbell, each with its own page (ABI 3: numbers, not
 * offsets). */
enum nub_doorbell {
	/** Init finished; value = dispatch entry GVA. Function names
	 * (struct nub_fn_entry) may be on the output buffer. */
	NUB_DOORBELL_INIT_DONE = 0,
	/** A call finished; value 0; its response is pushed. */
	NUB_DOORBELL_CALL_DONE = 1,
	/** value = host function id; a request is on top of the output
	 * buffer; the response is pushed onto the input buffer before the
	 * guest resumes. */
	NUB_DOORBELL_CALL_HOST = 2,
	/** value = level; a struct nub_log_msg is on top of the output buffer. */
	NUB_DOORBELL_LOG = 3,
	/** value = abort code; a struct nub_abort_msg is on top of the output
	 * buffer (may be absent if the guest could not push it). */
	NUB_DOORBELL_ABORT = 4,
	/** Written only by the host's CPL0 exception stubs, with the frame
	 * (struct nub_exception_frame) at the top of the exception stack. The
	 * host resolves copy-on-write faults and resumes the stub (which
	 * returns with iretq); anything else stops the sandbox. A store here
	 * from CPL3 is itself a guest error. */
	NUB_DOORBELL_EXCEPTION = 5,
	/** value = the new FS base (the thread pointer of a C library), a
	 * canonical lower-half address. The host sets it; it stays across
	 * calls, is captured in snapshots and set again at restore. */
	NUB_DOORBELL_SET_FS = 6,
	/** How many kinds there are: GPA pages [0, COUNT) are doorbells,
	 * GVA [NUB_DOORBELL_GVA, NUB_DOORBELL_GVA_END) their pages and the
	 * unmapped pages after them. */
	NUB_DOORBELL_COUNT = 7,
};
#define NUB_DOORBELL_GVA_END (NUB_DOORBELL_GVA + (uint64_t)NUB_DOORBELL_COUNT * 0x2000u)

/** What the CPU and a host stub leave at the top of the exception stack
 * (the IST1 stack of every gate), lowest address first. */
struct nub_exception_frame {
	uint64_t vector, error_code;
	uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};

/** GDT selectors the host installs (the guest never loads a descriptor
 * table). The order fits SYSCALL/SYSRET's STAR layout. */
enum nub_selector {
	NUB_SEL_KERNEL_CODE = 0x08,
	NUB_SEL_KERNEL_DATA = 0x10,
	NUB_SEL_USER_CODE32 = 0x18 | 3,
	NUB_SEL_USER_DATA = 0x20 | 3,
	NUB_SEL_USER_CODE = 0x28 | 3,
	NUB_SEL_TSS = 0x30,
};

/** Abort codes below this are the guest program's own; these are the runtime's. */
enum nub_abort_code {
	NUB_ABORT_OOM = 0xffff0003u,         /**< heap exhausted */
	NUB_ABORT_BAD_REQUEST = 0xffff0004u, /**< input buffer held no valid request */
	/** Runtime state found corrupt: the output buffer's stack pointer (the
	 * abort message is then absent), the heap, the PEB or the scratch
	 * bookkeeping; the message says which. */
	NUB_ABORT_CORRUPT = 0xffff0005u,
	/** The guest program called exit() / _Exit() during a call (or init);
	 * the message says "exit(N)". The host reports it as an abort. */
	NUB_ABORT_EXIT = 0xffff0006u,
};

/** Host functions every host serves, whatever the host program registered
 * (its own ids are small: below NUB_MAX_HOST_FNS in nub.h). The C library
 * runtime uses them for clock_gettime() and getrandom(). */
enum nub_host_builtin {
	/** Request: u32 clock id (Linux's: 0 CLOCK_REALTIME, 1 CLOCK_MONOTONIC,
	 * 4 MONOTONIC_RAW, 5 REALTIME_COARSE, 6 MONOTONIC_COARSE, 7 BOOTTIME).
	 * Response: i64 seconds, i64 nanoseconds. NUB_EINVAL for another id. */
	NUB_HOST_FN_CLOCK = 0xffff0001u,
	/** Request: u32 byte count, at most NUB_HOST_RANDOM_MAX. Response: that
	 * many bytes from the host's getrandom(). */
	NUB_HOST_FN_RANDOM = 0xffff0002u,
};
#define NUB_HOST_RANDOM_MAX 256u

/** Message pushed before NUB_DOORBELL_ABORT: code, length, then `len`
 * bytes of UTF-8 text. */
struct nub_abort_msg {
	uint32_t code;
	uint32_t len;
};

/* Log levels: enum nub_log_level in log.h. */

/** Message pushed before NUB_DOORBELL_LOG: level, length, `len` bytes of text. */
struct nub_log_msg {
	uint32_t level;
	uint32_t len;
};

/**
 * Function names. Just before NUB_DOORBELL_INIT_DONE the guest may push one
 * message per registered function onto the output buffer: this header,
 * then name_len bytes of name (no NUL). The host pops them all at the halt
 * and lets callers use names instead of ids; guests that push none can
 * only be called by id. A typed function's name is followed by ':' and its
 * signature (nub/typed.h), when both fit in NUB_FN_NAME_MAX bytes; names
 * contain no ':' otherwise.
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
 * Bookkeeping words at fixed offsets below the top of scratch, on a page
 * the guest can read but not write. The host writes them at every restore
 * (the counter whenever the host changes it). The scratch page allocator
 * (copy-on-write copies) is the host's and is not visible here.
 */
enum nub_scratch_top {
	NUB_SCRATCH_TOP_SIZE = 8,           /**< u64 scratch size in bytes */
	NUB_SCRATCH_TOP_GENERATION = 32,    /**< u64 snapshot generation */
	NUB_SCRATCH_TOP_GUEST_COUNTER = 40, /**< u64 guest counter (host-written) */
	/** u64 the guest's system-call entry (NUB_NOTE_TYPE_SYSCALL; 0 when
	 * none), where the host's CPL0 bounce sends a `syscall` (it reads it
	 * here, on the page right above the exception stack). */
	NUB_SCRATCH_TOP_SYSCALL_ENTRY = 48,
	/** NUB_RESTORE_SEED_SIZE bytes from the host's getrandom(), new at
	 * every restore and in every new sandbox (before the guest runs), so
	 * sandboxes of one snapshot, and one sandbox across restores, never
	 * share a random state seeded from them. The runtime reseeds when they
	 * change (nub_on_restore in nubguest.h). */
	NUB_SCRATCH_TOP_SEED = 80,
	/** The host's mappings (nub_sandbox_map_region / _map_file): a u32
	 * count, a u32 0, then `count` struct nub_mapping_info, at most
	 * NUB_MAPPINGS_MAX. The host rewrites it at every change; a restore
	 * (which removes every mapping) leaves it empty. */
	NUB_SCRATCH_TOP_MAPPINGS = 1024,
};
#define NUB_MAPPINGS_MAX 30u
/** One mapping as the guest sees it: [gva, gva + size), mapped with
 * NUB_MAP_* flags (nub.h), tagged by the host. */
struct nub_mapping_info {
	uint64_t gva, size;
	uint32_t flags, tag;
};
#define NUB_RESTORE_SEED_SIZE 32u
/** The bookkeeping words live in the last page of scratch. */
#define NUB_SCRATCH_BOOKKEEPING_SIZE 4096u

#define NUB_PEB_MAGIC 0x3142455042554e00ull /* "\0NUBPEB1" */

/**
 * Process environment block: the first page of the snapshot region, written
 * by the host when a snapshot is built, read-only for the guest (the rest
 * of its page holds the host's entry stub: guest code must not rely on
 * those bytes). All
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
	uint64_t stack_top_gva, stack_size;         /**< main stack, guard page below */
	uint64_t exn_stack_top_gva, exn_stack_size; /**< the host stubs' (supervisor) */
	uint64_t pt_gpa;    /**< root of the live page tables (in scratch, supervisor) */
	uint64_t pt_size;   /**< bytes reserved for page tables in scratch */
	uint64_t alloc_gpa; /**< first scratch GPA for CoW copies (host-managed) */
	/* Since nub 0.3 (struct_size covers them; an older host's PEB is
	 * shorter and a guest reads them as 0): */
	uint64_t args_gva, args_size;   /**< struct nub_args_header + strings; 0: none */
	uint64_t files_gva, files_size; /**< struct nub_fs_header image; 0: none */
};

/**
 * Arguments, environment and working directory (nub_config.argv, .envp,
 * .cwd), at PEB args_gva: this header, then argc + envc + 1 NUL-terminated
 * strings in that order (the arguments, the "NAME=VALUE" environment, the
 * absolute working directory), `size` bytes in all after the header.
 * Read-only for the guest; part of the snapshot.
 */
#define NUB_ARGS_MAGIC 0x31475241u /* "ARG1" */
struct nub_args_header {
	uint32_t magic;
	uint32_t argc, envc;
	uint32_t size;
};

/**
 * A read-only file tree (nub_config.dirs), at PEB files_gva, `size` bytes,
 * packed by the host when the snapshot is built: this header, `count`
 * struct nub_fs_entry from entries_off, the names from names_off, and each
 * regular file's bytes at its own page-aligned data_off (so a guest can map
 * a file by pointing at it). All offsets are from the header's address.
 * Entry 0 is the root directory "/"; a directory's children are the
 * entries [first, first + nchild), sorted by name (bytewise), each with
 * `parent` naming it. Mapped read-only (and never executable) for the
 * guest, shared by every sandbox of a snapshot; part of the snapshot.
 */
#define NUB_FS_MAGIC 0x000031534642554eull /* "NUBFS1" */
struct nub_fs_header {
	uint64_t magic;
	uint32_t count;
	uint32_t reserved; /**< 0 */
	uint64_t size;     /**< bytes of the whole image */
	uint64_t entries_off, names_off, names_size;
};

struct nub_fs_entry {
	uint32_t mode; /**< S_IFDIR, S_IFREG or S_IFLNK, and the permission bits */
	uint32_t parent;
	uint32_t name_off, name_len; /**< in the names; the root's is empty */
	uint32_t first, nchild;      /**< directories: their children */
	uint64_t data_off;           /**< files: bytes; symlinks: the target text */
	uint64_t size;               /**< files: bytes; symlinks: target length */
	int64_t mtime;               /**< seconds since the epoch, from the host */
};

#endif
