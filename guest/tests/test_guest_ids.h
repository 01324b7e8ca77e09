/* SPDX-License-Identifier: MIT */
/**
 * @file test_guest_ids.h
 * Functions of build/guest/test_guest.elf, for host tests. Integers on the
 * wire are little-endian; "optional" arguments may be left out (shorter
 * input) to get the default. Unless noted, a function returns status 0.
 */
#ifndef NUB_TEST_GUEST_IDS_H
#define NUB_TEST_GUEST_IDS_H

#define NUB_TEST_GUEST_ELF "test_guest.elf"

/** out = in (any size up to the result area; NUB_EFULL beyond). */
#define NUB_TG_ECHO 1
/** in: u32 pages, u32 seed. malloc(pages*4096), byte i = (u8)(seed + i),
 * free; out: u64 FNV-1a-64 of those bytes (NUB_TG_FNV_* below). */
#define NUB_TG_HEAP_PAGES 2
/** in: u32 host_fn_id, payload. Calls the host function with the payload;
 * out: i32 status, u32 answer length, answer bytes (as many as fit). */
#define NUB_TG_CALL_HOST 3
/** Never returns (pause loop): for cancellation and timeouts. */
#define NUB_TG_SPIN 4
/** in: u32 code, message bytes. nub_abort(code, message). */
#define NUB_TG_ABORT 5
/** Reads address 0: NUB_EGUEST_FAULT, vector 14, error code U, cr2 0. */
#define NUB_TG_NULL_DEREF 6
/** Unbounded recursion: NUB_EGUEST_FAULT "guest stack overflow". */
#define NUB_TG_STACK_OVERFLOW 7
/** Writes to .rodata: fault, vector 14, error code P|W|U. */
#define NUB_TG_WRITE_RODATA 8
/** Calls into a .data array: fault, vector 14, error code P|U|I (NX). */
#define NUB_TG_EXEC_DATA 9
/** in: optional u8 NUB_TG_PRIV_* (default OUT). Executes that privileged
 * instruction at CPL3: NUB_EPRIVILEGED naming it. */
#define NUB_TG_PRIVILEGED    10
#define NUB_TG_PRIV_OUT      0
#define NUB_TG_PRIV_CLI      1
#define NUB_TG_PRIV_HLT      2
#define NUB_TG_PRIV_WRMSR    3
#define NUB_TG_PRIV_LGDT     4
#define NUB_TG_PRIV_MOV_CR3  5
#define NUB_TG_PRIV_XSETBV   6
#define NUB_TG_PRIV_LMSW_REG 7
#define NUB_TG_PRIV_LMSW_MEM 8
#define NUB_TG_PRIV_LTR_REG  9
#define NUB_TG_PRIV_INVLPG   10
#define NUB_TG_PRIV_MOV_DR7  11
#define NUB_TG_PRIV_RDMSR    12
#define NUB_TG_PRIV_SWAPGS   13
#define NUB_TG_PRIV_IN_DX    14
#define NUB_TG_PRIV_STI      15
#define NUB_TG_PRIV_CLTS     16
#define NUB_TG_PRIV_LIDT     17
#define NUB_TG_PRIV_WBINVD   18
#define NUB_TG_PRIV_COUNT    19
/** in: u64 value written over the output buffer's stack pointer, then
 * returns: the runtime aborts with NUB_ABORT_CORRUPT (no message). */
#define NUB_TG_CORRUPT_OUTPUT 11
/** Same corruption, then rings NUB_DOORBELL_CALL_DONE itself, so the host
 * has to reject the stack pointer. */
#define NUB_TG_CORRUPT_OUTPUT_HALT 12
/** in: optional u8 NUB_TG_HOST_* (default PT). Writes u64
 * NUB_TG_ESCAPE_MAGIC to that host-owned page: NUB_EPRIVILEGED naming it.
 * If the write lands, out: u64 value read back. */
#define NUB_TG_HOST_PAGE_WRITE  13
#define NUB_TG_HOST_PT          0
#define NUB_TG_HOST_GDT         1
#define NUB_TG_HOST_STUBS       2
#define NUB_TG_HOST_EXN_STACK   3
#define NUB_TG_HOST_BOOKKEEPING 4
#define NUB_TG_HOST_COUNT       5
#define NUB_TG_ESCAPE_MAGIC     0x5741535f45504143ull
/** out: struct nub_tg_fpu_state (current MXCSR, x87 FCW, XCR0 or 0 when
 * CR4.OSXSAVE is off). */
#define NUB_TG_FPU_STATE 14
/** in: optional u32 MXCSR (default NUB_TG_FPU_MXCSR). Sets MXCSR and FCW
 * to NUB_TG_FPU_FCW; out: new state. */
#define NUB_TG_FPU_CHANGE 15
#define NUB_TG_FPU_MXCSR  0x7fc0u /* all masked, flush-to-zero, round toward zero */
#define NUB_TG_FPU_FCW    0x027fu /* double precision */
/** Increments a .data counter; out: u64 new value (1 after every restore). */
#define NUB_TG_STATIC_COUNTER 16
/** out: u64 nub_guest_counter(). */
#define NUB_TG_GUEST_COUNTER 17
/** in: u32 level, text. nub_log(level, text); out: i32 nub_log's result. */
#define NUB_TG_LOG 18
/** in: u32 iterations, u32 seed. Random malloc/realloc/free with content
 * checks; out: u64 allocations made; NUB_ECORRUPT if a check fails. */
#define NUB_TG_HEAP_STRESS 19
/** in: i32 status. Returns that status with out "failed". */
#define NUB_TG_FAIL_STATUS 20
/** out: the PEB (struct nub_peb) as the guest sees it. */
#define NUB_TG_PEB 21
/** in: u64 bytes. malloc(bytes) without free: status NUB_EFULL when the
 * heap cannot hold it (malloc returned NULL); out: u64 the pointer. */
#define NUB_TG_MALLOC 22

/** in: u32 first, u32 count, u8 value. Fills pages [first, first+count) of
 * a static area of NUB_TG_PAGES_MAX pages (CoW on first write) with value;
 * out: u64 sum of every byte of the area. NUB_ERANGE past the area. */
#define NUB_TG_PAGES     23
#define NUB_TG_PAGES_MAX 1024
/** in: u32 host fn id. Calls that host function (no payload), then spins
 * like NUB_TG_SPIN: the host knows the guest is running when it is called. */
#define NUB_TG_SPIN_AFTER_HOST 24
/** in: u32 offset [, u64 value]. Stores the value (default 0x5a) at
 * NUB_DOORBELL_GVA + offset: an unknown offset is NUB_EPORT, the exception
 * doorbell NUB_EPRIVILEGED, SET_FS with an upper-half value NUB_EINVAL. */
#define NUB_TG_DOORBELL_STORE 25
/** Dirties the vector state a CPL3 guest owns: XMM0-15 = bytes 0x11..,
 * x87 stack (fld1), FSW/FTW, and, when AVX is usable, the upper halves of
 * YMM0-15 = bytes 0x22. out: struct nub_tg_vector_state as the function
 * leaves it (the next call finds it initialised again). */
#define NUB_TG_VECTOR_DIRTY 26
/** out: struct nub_tg_vector_state as the function finds it on entry. */
#define NUB_TG_VECTOR_STATE 27
/** in: u64 n. Runs n iterations of `add $1, %rax; dec %rcx; jnz` (the
 * benchmark's compute loop, also run on the host); out: u64 the sum. */
#define NUB_TG_COMPUTE 28
/** in: u64 bytes. malloc(bytes) and fill them (kept; 0: allocate nothing);
 * out: three u64, nub_guest_heap_usage()'s heap_size, used and peak after.
 * NUB_EFULL when malloc returned NULL. */
#define NUB_TG_HEAP_USAGE 29
/** Executes `syscall` with RAX = 39 (getpid); this guest has no system-call
 * entry, so the host stops it. */
#define NUB_TG_SYSCALL 30

/** in: u8 NUB_TG_DB_*, u32 doorbell offset. Rings that doorbell with that
 * kind of access (value 0, or 0 as FS base): every kind but QWORD_IMM is
 * refused with NUB_EPORT "... the doorbell takes one aligned 8-byte store". */
#define NUB_TG_DOORBELL_ACCESS 31
#define NUB_TG_DB_BYTE         0 /* movb %al */
#define NUB_TG_DB_WORD         1 /* movw %ax */
#define NUB_TG_DB_DWORD        2 /* movl %eax */
#define NUB_TG_DB_SSE16        3 /* movdqu %xmm0: 16 bytes, two doorbells */
#define NUB_TG_DB_LOCK_XADD    4 /* lock xadd: read-modify-write */
#define NUB_TG_DB_REP_STOSQ    5 /* rep stosq, RCX = 2 */
#define NUB_TG_DB_STOSQ        6 /* stosq */
#define NUB_TG_DB_LOAD         7 /* movq (doorbell), %rax */
#define NUB_TG_DB_XCHG         8 /* xchg %rax, (doorbell): an implicitly locked RMW */
#define NUB_TG_DB_QWORD_IMM    9 /* movq $0, (doorbell): a plain 8-byte store, accepted */
#define NUB_TG_DB_COUNT        10

/** out: u64 XCR0 as the CPU sees it (xgetbv): on hardware KVM nub's
 * (x87 | SSE), on the software KVM and the mock the host's. Faults with #UD
 * where CR4.OSXSAVE is clear. */
#define NUB_TG_XSTATE_PROBE 32
/** in: u64 mask of XCR0 components (NUB_TG_XS_*). Dirties each: YMM upper
 * halves = 0x33, opmask k1-k7 = 0x4b00 + n, ZMM0-15 upper halves = 0x55,
 * ZMM16-31 = 0x66, PKRU = NUB_TG_PKRU_DIRTY (or the u32 after the mask:
 * PKRU 3 denies the guest its own memory). out: struct nub_tg_xstate as
 * the function leaves them (as NUB_TG_XSTATE_READ; the next call finds
 * them initialised again). */
#define NUB_TG_XSTATE_DIRTY 33
/** in: u64 mask; out: struct nub_tg_xstate, the components in the mask as
 * they are on entry (the others zero). */
#define NUB_TG_XSTATE_READ 34
#define NUB_TG_XS_AVX      (1u << 2)
#define NUB_TG_XS_OPMASK   (1u << 5)
#define NUB_TG_XS_ZMM_HI   (1u << 6)
#define NUB_TG_XS_HI16_ZMM (1u << 7)
#define NUB_TG_XS_PKRU     (1u << 9)
#define NUB_TG_PKRU_DIRTY  0x55555550u /* keys 1-15 denied, key 0 (all guest pages) allowed */
/** in: u8 NUB_TG_SEG_* [, u16 selector]. Changes user-writable segment
 * state: SELECTORS loads the selector (default 0, the null selector) into
 * DS, ES, FS and GS; BASES writes FS base
 * NUB_TG_FS_DIRTY and GS base NUB_TG_GS_DIRTY with wrfsbase/wrgsbase (#UD
 * where CR4.FSGSBASE is clear: hardware KVM). */
#define NUB_TG_SEG_DIRTY     35
#define NUB_TG_SEG_SELECTORS 0
#define NUB_TG_SEG_BASES     1
#define NUB_TG_FS_DIRTY      0x5a5a0000ull
#define NUB_TG_GS_DIRTY      0x6b6b0000ull
/** in: u8 NUB_TG_SEG_*; out: struct nub_tg_segments (bases only for
 * BASES, with rdfsbase/rdgsbase), with RFLAGS on entry. */
#define NUB_TG_SEG_READ 36
/** Sets RFLAGS.DF and RFLAGS.AC, then executes ud2: NUB_EGUEST_FAULT
 * (#UD) with the flags set. Later calls must start with RFLAGS clean. */
#define NUB_TG_FLAGS_DIRTY 37

/** in: u8 vector. Executes `int $vector` with RAX = RCX = 0 (as for CPUID
 * leaf 0); if it returns, out: u64 RAX, RBX, RCX, RDX after it. */
#define NUB_TG_INT_N 38

/** out: struct nub_tg_seed: how often the restore hook ran since the
 * snapshot (it counts in static memory) and the seed it last got, with
 * nub_restore_seed()'s. */
#define NUB_TG_RESTORE_SEED 39

/** in: u32 first, u32 count, u8 value. Writes one byte of each page
 * [first, first+count) of a static area of NUB_TG_DIRTY_MAX pages (a first
 * write, copy-on-write, per page; nothing read back): the benchmarks'
 * "dirty N pages". NUB_ERANGE past the area. */
#define NUB_TG_DIRTY     40
#define NUB_TG_DIRTY_MAX 4096

/** in: u8 NUB_TG_TRACES_*. LEAVE fills what a call may leave behind in
 * scratch with 0xa5: the main stack below the function's frame (more than
 * NUB_TG_TRACES_MARGIN under its stack pointer) and the second half of the
 * input and output buffers. COUNT: out: u64 the non-zero bytes found
 * there, which a restore must have cleared. */
/** in: u8 op (NUB_TG_MEM_READ, _WRITE, _EXEC), u64 gva, u32 len, then (WRITE)
 * len bytes. READ: out: the len bytes at gva; WRITE: stores them; EXEC:
 * calls gva as a function returning u64 (out: its value). A fault stops
 * the call as any guest fault does. */
#define NUB_TG_MEM       42
#define NUB_TG_MEM_READ  0
#define NUB_TG_MEM_WRITE 1
#define NUB_TG_MEM_EXEC  2
/** in: u32 tag; out: struct nub_mapping_info (nub_guest_mapping), or
 * status NUB_ENOTFOUND. */
#define NUB_TG_MAPPING 43
/** Typed (nub_register_typed). MIX "ilqfdbus>d": the sum of the numbers,
 * the bool and the string's length, as f64. CONCAT "sy>s": the string then
 * the bytes. VOID "q>v": keeps the u64. LAST "b>q": the u64 kept, plus one
 * for true. BROKEN "i>s": returns an i32 against its signature. */
#define NUB_TG_TYPED_MIX    44
#define NUB_TG_TYPED_CONCAT 45
#define NUB_TG_TYPED_VOID   46
#define NUB_TG_TYPED_LAST   47
#define NUB_TG_TYPED_BROKEN 48
/** Typed "ui>l": calls typed host function (the u32) with (i32, str "host")
 * and returns its i64; a failure is the call's status (and, for a refusal,
 * the host's reason in the guest log). */
#define NUB_TG_TYPED_HOST 49
/** A plain C function wrapped by NUB_TYPED_FN4: double scaled(int32_t a,
 * uint64_t b, bool neg, struct nub_str s) = (a + b + len(s)) * (neg ? -1 :
 * 1) / 2, signature "iqbs>d". */
#define NUB_TG_TYPED_PLAIN 50

#define NUB_TG_TRACES        41
#define NUB_TG_TRACES_COUNT  0
#define NUB_TG_TRACES_LEAVE  1
#define NUB_TG_TRACES_MARGIN 8192

struct nub_tg_seed {
	unsigned int hook_calls;
	unsigned int reserved;
	unsigned char hook_seed[32];
	unsigned char runtime_seed[32];
};

struct nub_tg_xstate {
	unsigned long long xcr0;
	unsigned long long k[8];
	unsigned char ymm_hi[16][16];
	unsigned char zmm_hi256[16][32];
	unsigned char hi16_zmm[16][64];
	unsigned int pkru;
	unsigned int reserved;
};

struct nub_tg_segments {
	unsigned short ds, es, fs, gs;
	unsigned long long fs_base, gs_base;
	unsigned long long rflags;
};

struct nub_tg_vector_state {
	unsigned char fxsave[512];    /**< FXSAVE image: FCW, FSW, FTW, MXCSR, ST, XMM */
	unsigned char ymm_hi[16][16]; /**< upper halves of YMM0-15 (zero without AVX) */
	unsigned int avx;             /**< 1 when AVX was usable (CPUID + XCR0) */
	unsigned int reserved;
};

#define NUB_TG_FNV_OFFSET 0xcbf29ce484222325ull
#define NUB_TG_FNV_PRIME  0x100000001b3ull

struct nub_tg_fpu_state {
	unsigned int mxcsr;
	unsigned short fcw, reserved;
	unsigned long long xcr0;
};

#endif
