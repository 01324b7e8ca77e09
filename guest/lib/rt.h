/* SPDX-License-Identifier: MIT */
/* Internals of the guest runtime shared by its C files and its .S files
 * (which also include rt_note.inc). */
#ifndef NUB_GUEST_RT_H
#define NUB_GUEST_RT_H

/* guest_abi.h values the assembler needs (it cannot include the C header);
 * static-asserted equal in rt_main.c. */
#define RT_NOTE_TYPE_ABI     0x4e554201
#define RT_GUEST_ABI_VERSION 3
#define RT_NOTE_TYPE_HOT     0x4e554202
#define RT_NOTE_TYPE_SYSCALL 0x4e554203

#ifndef __ASSEMBLER__
/* The runtime's own mutable state goes here (see the hot note). */
#define RT_HOT __attribute__((section("nub_hot")))
#endif

#ifndef __ASSEMBLER__
#include <stddef.h>
#include <stdint.h>

#include <nub/guest_abi.h>
#include <nubguest.h>

/* rt_entry.S */
void nub_rt_dispatch_entry(void);

/* The PEB is always at the start of the snapshot region (guest_abi.h). */
static inline const struct nub_peb *rt_peb(void)
{
	return (const struct nub_peb *)NUB_BASE_GPA;
}

/* The one way out: an 8-byte store to the doorbell (an MMIO exit). The
 * host has served it when the store completes. Written out as one `mov` of a
 * register, the form every backend decodes (guest_abi.h): a compiler left to
 * itself may pick another (an immediate store, or a wider one merged with a
 * neighbour). */
static inline void rt_doorbell(enum nub_doorbell kind, uint64_t value)
{
	__asm__ volatile("movq %1, (%0)" : : "r"(NUB_DOORBELL_GVA_OF(kind)), "r"(value) : "memory");
}

/* Exits that do not come back. */
_Noreturn void rt_finish(enum nub_doorbell kind, uint64_t value);
/* Push a nub_abort_msg + payload (truncated to fit, or left out when the
 * output buffer is unusable) and exit through NUB_DOORBELL_ABORT. */
_Noreturn void rt_abort(uint32_t code, const void *payload, uint32_t len);

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

/* Entry points called from rt_entry.S (rt_main.c). */
_Noreturn void nub_rt_init(const struct nub_peb *peb);
_Noreturn void nub_rt_dispatch(const struct nub_peb *peb);
/* Register the program's functions, publish their names, report init done. */
_Noreturn void rt_init_finish(const struct nub_peb *peb);

/* The heap behind malloc (malloc.c). */
struct nub_heap;
extern struct nub_heap rt_heap;

/* What each flavour provides (rt_bare.c, rt_libc.c): */
/* Room for a request of `size` more bytes in h, which may still be empty:
 * 0 when h grew (or was set up), -1 when it cannot. */
int rt_heap_more(struct nub_heap *h, size_t size);
/* An allocation fails for want of memory (errno = ENOMEM, where there is
 * an errno). */
void rt_heap_none(void);
/* Make the PEB's heap range the allocator's, before anything allocates. */
void rt_heap_setup(const struct nub_peb *peb);
/* Start-up after the heap; ends in rt_init_finish(). */
_Noreturn void rt_start(const struct nub_peb *peb);
/* A registered function: a byte one, or a typed one (sig and typed set,
 * fn the shared entry rt_typed.c gives). */
struct rt_fn {
	uint32_t id;
	const char *name;
	const char *sig; /* published with the name; NULL for a byte function */
	nub_typed_fn typed;
	nub_guest_fn fn;
};

/* The function the request being served called (for functions registered
 * through one entry, as typed functions are: rt_typed.c). */
const struct rt_fn *rt_current_fn(void);

/* nub_register, with a typed function's signature and function (or NULL). */
int rt_register(uint32_t id, const char *name, const char *sig, nub_typed_fn typed,
                nub_guest_fn fn);

/* The host wrote a new seed (a restore, or a new sandbox of a snapshot):
 * reseed what the flavour owns, before the program's hooks run. */
void rt_reseed(const uint8_t seed[NUB_RESTORE_SEED_SIZE]);
/* After init and after every call (the C library flushes stdio). */
void rt_after_call(void);
/* The result area of a call: heap memory the runtime owns; free returns
 * nonzero when p is not such a block. */
void *rt_area_alloc(size_t size);
int rt_area_free(void *p);

/* Files of the C library flavour (rt_files.c). */
/* Take the PEB's file tree (aborting NUB_ABORT_CORRUPT on a bad header)
 * and the working directory. */
void rt_files_setup(const struct nub_peb *peb, const char *cwd);
/* A file system call (fds from 3, paths); -ENOSYS for any other. */
long rt_files_syscall(long nr, const long *a);
/* mmap of a tree file: a pointer into the tree, or a copy in pages from
 * anon(len) (which returns an address or -errno). */
long rt_files_mmap(size_t len, long prot, long flags, long fd, int64_t off,
                   long (*anon)(size_t len));
/* Whether [addr, addr+len) lies in the tree (munmap of it does nothing). */
int rt_files_owns(uintptr_t addr, size_t len);

/* /tmp (rt_tmp.c): files by index; -errno on failure. */
struct stat;
long rt_tmp_find(const char *name);
long rt_tmp_create(const char *name, uint32_t mode);
void rt_tmp_open(uint32_t i);  /* a descriptor more */
void rt_tmp_close(uint32_t i); /* one fewer: freed once unlinked and closed */
long rt_tmp_unlink(const char *name);
long rt_tmp_rename(const char *from, const char *to);
long rt_tmp_truncate(uint32_t i, int64_t size);
long rt_tmp_read(uint32_t i, void *buf, size_t len, uint64_t pos);
long rt_tmp_write(uint32_t i, const void *buf, size_t len, uint64_t pos);
uint64_t rt_tmp_size(uint32_t i);
void rt_tmp_chmod(uint32_t i, uint32_t mode);
void rt_tmp_stat(long i, struct stat *st); /* i < 0: /tmp itself */
/* The first file at index >= k: its index, name and mode; -1 past the last. */
long rt_tmp_entry(uint64_t k, const char **name, uint32_t *mode);
#endif

#endif
