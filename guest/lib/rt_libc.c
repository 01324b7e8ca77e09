/* SPDX-License-Identifier: MIT */
/*
 * The C library flavour of the runtime (libnubguest-libc.a): Debian's musl
 * (static) is linked into the guest and this file is its kernel. Start-up
 * runs musl's own __libc_start_main with a made-up process stack; every
 * system call musl makes arrives at nub_rt_syscall (rt_syscall.S) and is
 * served here, inside the guest:
 *
 *   write/writev to fd 1 or 2   -> the guest log, one message per line
 *   brk, mmap, munmap           -> pages of the PEB's heap range
 *   clock_gettime, getrandom    -> the host's built-in host functions
 *   exit, exit_group            -> abort NUB_ABORT_EXIT "exit(N)"
 *   arch_prctl(ARCH_SET_FS)     -> NUB_DOORBELL_SET_FS
 *   tkill/tgkill/kill of self   -> abort "killed by signal N" (abort())
 *   set_tid_address, gettid, getpid, ioctl(TIOCGWINSZ) on 1/2, ... : as a
 *   one-process system would answer; everything else -ENOSYS.
 *
 * The heap is managed in whole pages: a "used" bitmap and a "dirty" bitmap
 * (a page handed out before and freed since; fresh heap pages are zero, so
 * only dirty pages are cleared when mmap hands them out again). brk grows
 * from the bottom, mmap takes the highest free run.
 */
#define _DEFAULT_SOURCE /* srandom, seed48 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <nubguest.h>

#include "heap.h"
#include "rt.h"

_Static_assert(RT_NOTE_TYPE_SYSCALL == NUB_NOTE_TYPE_SYSCALL, "ELF note type in rt_syscall.S");

#define PAGE 4096ul

/* Linux's numbers and constants (x86-64), from musl's own headers. */
#define ARCH_SET_FS 0x1002 /* <asm/prctl.h>, which musl does not ship */
#define RT_PID      1
#ifndef MADV_FREE
#define MADV_FREE 8 /* musl shows it only with _GNU_SOURCE */
#endif

/* ---- pages of the heap ---- */

struct rt_pages {
	uintptr_t base;   /* first page handed out (after the bitmaps) */
	size_t n;         /* pages from base */
	uint64_t *used;   /* bit per page: handed out */
	uint64_t *dirty;  /* bit per page: written since the heap was fresh */
	size_t brk_pages; /* pages [0, brk_pages) are the brk area */
	uintptr_t brk;    /* the program break (base <= brk <= base + brk_pages*PAGE) */
	size_t in_use, peak;
};

static struct rt_pages rt_pg RT_HOT;
/* The one result area of the call being served (rt_area_alloc). */
static size_t rt_area_i RT_HOT, rt_area_n RT_HOT;

static int bit(const uint64_t *m, size_t i)
{
	return (int)((m[i / 64] >> (i % 64)) & 1);
}

static void set_bits(uint64_t *m, size_t i, size_t n, int v)
{
	for (; n; i++, n--) {
		if (v)
			m[i / 64] |= 1ull << (i % 64);
		else
			m[i / 64] &= ~(1ull << (i % 64));
	}
}

/* Count pages [i, i+n) as handed out, whatever they hold. */
static void pages_mark(size_t i, size_t n)
{
	set_bits(rt_pg.used, i, n, 1);
	set_bits(rt_pg.dirty, i, n, 1);
	rt_pg.in_use += n;
	if (rt_pg.in_use > rt_pg.peak)
		rt_pg.peak = rt_pg.in_use;
}

/* Hand out pages [i, i+n) zeroed: cleared where they were used before. */
static void pages_take(size_t i, size_t n)
{
	for (size_t k = i; k < i + n; k++) {
		if (bit(rt_pg.dirty, k))
			memset((void *)(rt_pg.base + k * PAGE), 0, PAGE);
	}
	pages_mark(i, n);
}

static void pages_give_back(size_t i, size_t n)
{
	for (size_t k = i; k < i + n; k++) {
		if (bit(rt_pg.used, k)) {
			rt_pg.in_use--;
			set_bits(rt_pg.used, k, 1, 0);
		}
	}
}

/* Highest run of n free pages above the brk area; rt_pg.n + 1 means none.
 * Whole bitmap words, all used or all free, are stepped over at once. */
static size_t pages_find(size_t n)
{
	size_t run = 0, k = rt_pg.n; /* pages [k, k + run) are free */

	while (k > rt_pg.brk_pages) {
		if (k % 64 == 0 && k - rt_pg.brk_pages >= 64) {
			uint64_t word = rt_pg.used[k / 64 - 1];
			if (word == ~0ull) {
				run = 0;
				k -= 64;
				continue;
			}
			if (word == 0) {
				if (run + 64 >= n)
					return k + run - n;
				run += 64;
				k -= 64;
				continue;
			}
		}
		run = bit(rt_pg.used, k - 1) ? 0 : run + 1;
		k--;
		if (run == n)
			return k;
	}
	return rt_pg.n + 1;
}

void rt_heap_setup(const struct nub_peb *peb)
{
	uintptr_t lo = (peb->heap_gva + PAGE - 1) & ~(PAGE - 1);
	uintptr_t hi = (peb->heap_gva + peb->heap_size) & ~(PAGE - 1);
	size_t pages = hi > lo ? (hi - lo) / PAGE : 0;
	size_t words = (pages + 63) / 64;
	size_t meta = (2 * words * 8 + PAGE - 1) / PAGE;

	if (pages <= meta)
		return; /* no heap: every allocation fails */
	rt_pg.used = (uint64_t *)lo;
	rt_pg.dirty = rt_pg.used + words;
	rt_pg.base = lo + meta * PAGE;
	rt_pg.n = pages - meta;
	rt_pg.brk = rt_pg.base;
}

void *rt_area_alloc(size_t size)
{
	size_t n = (size + PAGE - 1) / PAGE, i;

	if (!size || n > rt_pg.n || (i = pages_find(n)) > rt_pg.n)
		return NULL;
	/* The result area need not be zero: no clearing. */
	rt_area_i = i;
	rt_area_n = n;
	pages_mark(i, n);
	return (void *)(rt_pg.base + i * PAGE);
}

static int range_pages(uintptr_t addr, size_t len, size_t *i, size_t *n)
{
	if (addr % PAGE || addr < rt_pg.base || !len)
		return -1;
	*i = (addr - rt_pg.base) / PAGE;
	*n = (len + PAGE - 1) / PAGE;
	return *i <= rt_pg.n && *n <= rt_pg.n - *i ? 0 : -1;
}

int rt_area_free(void *p)
{
	if (!rt_area_n || (uintptr_t)p != rt_pg.base + rt_area_i * PAGE)
		return -1;
	pages_give_back(rt_area_i, rt_area_n);
	rt_area_n = 0;
	return 0;
}

void nub_guest_heap_usage(struct nub_guest_heap_usage *u)
{
	u->heap_size = rt_pg.n * PAGE;
	u->used = rt_pg.in_use * PAGE;
	u->peak = rt_pg.peak * PAGE;
}

static long sys_brk(uintptr_t want)
{
	size_t pages;

	if (!want || want < rt_pg.base || want > rt_pg.base + rt_pg.n * PAGE)
		return (long)rt_pg.brk;
	pages = (want - rt_pg.base + PAGE - 1) / PAGE;
	if (pages > rt_pg.brk_pages) {
		for (size_t k = rt_pg.brk_pages; k < pages; k++) {
			if (bit(rt_pg.used, k))
				return (long)rt_pg.brk; /* an mmap is in the way */
		}
		pages_take(rt_pg.brk_pages, pages - rt_pg.brk_pages);
	} else if (pages < rt_pg.brk_pages) {
		pages_give_back(pages, rt_pg.brk_pages - pages);
	}
	rt_pg.brk_pages = pages;
	rt_pg.brk = want;
	return (long)want;
}

/* malloc's heap (malloc.c) starts at the program break and grows with it:
 * by the request and 64 KiB, and at least an eighth of what it has, so a
 * program that keeps allocating moves the break a few dozen times. The
 * runtime is the only one that moves the break (musl's malloc is not
 * linked), so the heap always ends where the break is. */
#define HEAP_STEP (64ul << 10)

int rt_heap_more(struct nub_heap *h, size_t size)
{
	uintptr_t start = h->base ? h->base : rt_pg.brk;
	uintptr_t end = h->base ? h->end : rt_pg.brk;
	size_t room = rt_pg.n * PAGE;

	if (end != rt_pg.brk || size > room)
		return -1;
	/* Whole pages, so the heap keeps ending at the break; room for the
	 * headers and a split's remainder. */
	size_t need = (size + 4 * NUB_HEAP_ALIGN + PAGE - 1) & ~(PAGE - 1);
	size_t add = need + HEAP_STEP, eighth = ((end - start) / 8) & ~(PAGE - 1);
	if (add < eighth)
		add = eighth;
	/* The whole step, or just the request when the heap is nearly full. */
	if ((uintptr_t)sys_brk(end + add) != end + add &&
	    (uintptr_t)sys_brk(end + need) != end + need)
		return -1;
	if (!h->base)
		return nub_heap_init(h, (void *)start, rt_pg.brk - start) ? -1 : 0;
	return nub_heap_grow(h, rt_pg.brk - h->base) ? -1 : 0;
}

void rt_heap_none(void)
{
	errno = ENOMEM;
}

/* musl's internal names for its allocator (time zones, locales, dlerror,
 * gettext and posix_spawn's file actions use them): ours too, so musl's
 * own malloc is never linked beside ours, moving the break under it. */
void *__libc_malloc(size_t size);
void *__libc_malloc_impl(size_t size);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t size);
void __libc_free(void *p);

void *__libc_malloc(size_t size)
{
	return malloc(size);
}

void *__libc_malloc_impl(size_t size)
{
	return malloc(size);
}

void *__libc_calloc(size_t n, size_t size)
{
	return calloc(n, size);
}

void *__libc_realloc(void *p, size_t size)
{
	return realloc(p, size);
}

void __libc_free(void *p)
{
	free(p);
}

/* Zeroed pages of the heap, as an anonymous mmap hands them out. */
static long anon_pages(size_t len)
{
	size_t n = (len + PAGE - 1) / PAGE, i;

	if (!len || n > rt_pg.n || (i = pages_find(n)) > rt_pg.n)
		return -ENOMEM;
	pages_take(i, n);
	return (long)(rt_pg.base + i * PAGE);
}

static long sys_mmap(uintptr_t addr, size_t len, long prot, long flags, long fd, long off)
{
	(void)addr;
	if (!len || (flags & MAP_FIXED))
		return -EINVAL;
	if (!(flags & MAP_ANONYMOUS))
		return rt_files_mmap(len, prot, flags, fd, off, anon_pages);
	return anon_pages(len);
}

static long sys_munmap(uintptr_t addr, size_t len)
{
	size_t i, n;

	if (rt_files_owns(addr, len))
		return 0; /* a map of a tree file: nothing was allocated */
	if (range_pages(addr, len, &i, &n) || i < rt_pg.brk_pages)
		return -EINVAL;
	pages_give_back(i, n);
	return 0;
}

/* ---- output: fd 1 and 2 become log messages, one per line ----
 * A line may come in pieces (musl's writev: buffer, then the rest): the
 * unfinished tail waits here until its newline, a full buffer or the end of
 * the call (rt_after_call). */

struct rt_line {
	char text[NUB_LOG_MAX];
	size_t len;
};

static struct rt_line rt_lines[2] RT_HOT; /* stdout, stderr */

static void line_flush(unsigned fd)
{
	struct rt_line *l = &rt_lines[fd - 1];

	if (l->len)
		nub_log(fd == 1 ? NUB_LOG_INFO : NUB_LOG_WARN, "%.*s", (int)l->len, l->text);
	l->len = 0;
}

static void log_text(unsigned fd, const char *p, size_t n)
{
	struct rt_line *l = &rt_lines[fd - 1];

	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			line_flush(fd);
			continue;
		}
		l->text[l->len++] = p[i];
		if (l->len == sizeof(l->text) - 1)
			line_flush(fd);
	}
}

struct rt_iovec {
	const char *base;
	size_t len;
};

static long sys_writev(long fd, const struct rt_iovec *iov, long cnt)
{
	long total = 0;

	if (fd != 1 && fd != 2)
		return -EBADF;
	if (cnt < 0 || cnt > 1024)
		return -EINVAL;
	for (long i = 0; i < cnt; i++) {
		log_text((unsigned)fd, iov[i].base, iov[i].len);
		total += (long)iov[i].len;
	}
	return total;
}

/* ---- time, randomness: the host's built-in functions ---- */

static long sys_clock_gettime(long clk, int64_t *ts)
{
	uint32_t id = (uint32_t)clk;
	int64_t v[2];
	uint32_t len = 0;

	if (clk < 0 || nub_call_host(NUB_HOST_FN_CLOCK, &id, sizeof(id), v, sizeof(v), &len) ||
	    len != sizeof(v))
		return -EINVAL;
	ts[0] = v[0];
	ts[1] = v[1];
	return 0;
}

static long sys_getrandom(uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		uint32_t want = len - done > NUB_HOST_RANDOM_MAX ? NUB_HOST_RANDOM_MAX
		                                                 : (uint32_t)(len - done);
		uint32_t got = 0;
		if (nub_call_host(NUB_HOST_FN_RANDOM, &want, sizeof(want), buf + done, want,
		                  &got) ||
		    got != want)
			return done ? (long)done : -EFAULT;
		done += got;
	}
	return (long)done;
}

/* ---- the entry (from rt_syscall.S) ---- */

static long sys_misc(long nr, const long *a)
{
	switch (nr) {
	case SYS_set_tid_address:
	case SYS_gettid:
	case SYS_getpid:
		return RT_PID;
	case SYS_getuid:
	case SYS_geteuid:
	case SYS_getgid:
	case SYS_getegid:
		return 0;
	case SYS_ioctl: /* a terminal on 1 and 2: musl then line-buffers stdout */
		if ((a[0] == 1 || a[0] == 2) && (unsigned long)a[1] == TIOCGWINSZ) {
			uint16_t *ws = (uint16_t *)a[2];
			ws[0] = 24, ws[1] = 80, ws[2] = ws[3] = 0;
			return 0;
		}
		return a[0] > 2 ? rt_files_syscall(nr, a) : -ENOTTY;
	case SYS_rt_sigprocmask:
	case SYS_rt_sigaction:
	case SYS_sched_yield:
		return 0;
	case SYS_madvise:
		return a[2] == MADV_FREE ? 0 : -ENOSYS;
	case SYS_close:
		return a[0] >= 0 && a[0] <= 2 ? 0 : rt_files_syscall(nr, a);
	case SYS_read:
	case SYS_readv:
	case SYS_pread64:
		if (a[0] == 0)
			return 0; /* stdin is empty */
		return a[0] > 2 ? rt_files_syscall(nr, a) : -EBADF;
	case SYS_lseek:
		return a[0] >= 0 && a[0] <= 2 ? -ESPIPE : rt_files_syscall(nr, a);
	default:
		return rt_files_syscall(nr, a); /* paths and fds from 3; else ENOSYS */
	}
}

long nub_rt_syscall(long nr, const long *a);
long nub_rt_syscall(long nr, const long *a)
{
	switch (nr) {
	case SYS_write: {
		struct rt_iovec v = {(const char *)a[1], (size_t)a[2]};
		if (a[0] > 2)
			return rt_files_syscall(nr, a);
		return sys_writev(a[0], &v, 1);
	}
	case SYS_writev:
		if (a[0] > 2)
			return rt_files_syscall(nr, a);
		return sys_writev(a[0], (const struct rt_iovec *)a[1], a[2]);
	case SYS_brk:
		return sys_brk((uintptr_t)a[0]);
	case SYS_mmap:
		return sys_mmap((uintptr_t)a[0], (size_t)a[1], a[2], a[3], a[4], a[5]);
	case SYS_munmap:
		return sys_munmap((uintptr_t)a[0], (size_t)a[1]);
	case SYS_mremap:
	case SYS_mprotect:
		return -ENOSYS; /* musl's realloc then copies */
	case SYS_clock_gettime:
		return sys_clock_gettime(a[0], (int64_t *)a[1]);
	case SYS_getrandom:
		return sys_getrandom((uint8_t *)a[0], (size_t)a[1]);
	case SYS_exit:
	case SYS_exit_group:
		line_flush(1);
		line_flush(2);
		nub_abortf(NUB_ABORT_EXIT, "exit(%d)", (int)a[0]);
	case SYS_tkill:
	case SYS_kill:
		if (a[0] == RT_PID)
			nub_abortf(NUB_ABORT_EXIT, "killed by signal %d (abort()?)", (int)a[1]);
		return -EINVAL;
	case SYS_tgkill:
		if (a[0] == RT_PID && a[1] == RT_PID)
			nub_abortf(NUB_ABORT_EXIT, "killed by signal %d (abort()?)", (int)a[2]);
		return -EINVAL;
	case SYS_arch_prctl:
		if (a[0] != ARCH_SET_FS)
			return -EINVAL;
		rt_doorbell(NUB_DOORBELL_SET_FS, (uint64_t)a[1]);
		return 0;
	default:
		return sys_misc(nr, a);
	}
}

/* ---- start-up: musl's own, with a process stack made up here ---- */

#define AT_NULL   0
#define AT_PHDR   3
#define AT_PHENT  4
#define AT_PHNUM  5
#define AT_PAGESZ 6
#define AT_RANDOM 25

struct rt_ehdr { /* the fields of Elf64_Ehdr used here */
	uint8_t ident[16];
	uint16_t type, machine;
	uint32_t version;
	uint64_t entry, phoff, shoff;
	uint32_t flags;
	uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};

extern const char nub_rt_syscall_entry[];
extern const struct rt_ehdr __ehdr_start __attribute__((visibility("hidden")));
int __libc_start_main(int (*main)(int, char **, char **), int argc, char **argv, void (*init)(void),
                      void (*fini)(void), void (*ldso)(void));

/* A C library program may be written with main(): it runs at init with
 * the host's arguments and environment, before nub_guest_main (which such
 * a program need not define); returning non-zero stops init. */
int main(int argc, char **argv, char **envp) __attribute__((weak));
void nub_guest_main(void) __attribute__((weak));
void nub_guest_main(void)
{
}

static const char *rt_cwd_given;

static int rt_libc_main(int argc, char **argv, char **envp)
{
	/* Here, not in rt_start: musl's string functions read the stack
	 * canary through FS, which its start-up has only now set. */
	rt_files_setup(rt_peb(), rt_cwd_given);
	if (main) {
		int rc = main(argc, argv, envp);
		if (rc)
			nub_abortf(NUB_ABORT_EXIT, "main returned %d", rc);
	}
	rt_init_finish(rt_peb());
}

/* The arguments block (guest_abi.h: struct nub_args_header), checked: the
 * host wrote it, but a snapshot file may have been edited. */
struct rt_args {
	uint32_t argc, envc;
	const char *strings; /* argc + envc + 1 of them, NUL-terminated */
};

static const char *args_next(const char *s, const char *end)
{
	const char *nul = memchr(s, 0, (size_t)(end - s));

	if (!nul)
		nub_abort(NUB_ABORT_CORRUPT, "arguments block: a string runs past its end");
	return nul + 1;
}

static void args_take(const struct nub_peb *peb, struct rt_args *a)
{
	static const char defaults[] = "nub-guest\0/";
	const struct nub_args_header *h = (const struct nub_args_header *)peb->args_gva;
	const char *s, *end;

	*a = (struct rt_args){1, 0, defaults};
	if (peb->struct_size < sizeof(*peb) || !peb->args_size)
		return;
	if (peb->args_size < sizeof(*h) || h->magic != NUB_ARGS_MAGIC ||
	    h->size > peb->args_size - sizeof(*h) || h->argc + (uint64_t)h->envc > 1u << 20)
		nub_abort(NUB_ABORT_CORRUPT, "arguments block: header corrupt");
	s = (const char *)(h + 1);
	end = s + h->size;
	for (uint64_t i = 0; i < (uint64_t)h->argc + h->envc + 1; i++)
		s = args_next(s, end);
	*a = (struct rt_args){h->argc, h->envc, (const char *)(h + 1)};
}

/* The process stack musl's start-up reads: argv, NULL, the environment,
 * NULL, the auxiliary vector, AT_NULL. It lives in heap pages taken here,
 * not on the start-up stack: musl keeps pointers into it (environ, the
 * auxv) for every later call, and the start-up stack is scratch, which
 * every call reuses and every restore zeroes -- getenv() used to read
 * whatever a call had left there. The strings stay in the read-only
 * arguments block (setenv and putenv never write into them). */
static uintptr_t *process_stack(const struct rt_args *a, const uint8_t random[16], const char **cwd)
{
	const uint8_t *eh = (const uint8_t *)&__ehdr_start;
	const uintptr_t aux[] = {
	        AT_PHDR,   (uintptr_t)(eh + __ehdr_start.phoff),
	        AT_PHENT,  __ehdr_start.phentsize,
	        AT_PHNUM,  __ehdr_start.phnum,
	        AT_PAGESZ, PAGE,
	        AT_RANDOM, (uintptr_t)random,
	        AT_NULL,   0,
	};
	size_t words = a->argc + 1 + a->envc + 1 + sizeof(aux) / sizeof(aux[0]), k = 0;
	long p = anon_pages(words * sizeof(uintptr_t));
	uintptr_t *st = (uintptr_t *)p;
	const char *s = a->strings;

	if (p < 0)
		nub_abort(NUB_ABORT_OOM, "no heap for the process stack (argv, environment)");
	for (uint32_t i = 0; i < a->argc; i++, s += strlen(s) + 1)
		st[k++] = (uintptr_t)s;
	st[k++] = 0;
	for (uint32_t i = 0; i < a->envc; i++, s += strlen(s) + 1)
		st[k++] = (uintptr_t)s;
	st[k++] = 0;
	memcpy(st + k, aux, sizeof(aux));
	*cwd = s;
	return st;
}

_Noreturn void rt_start(const struct nub_peb *peb)
{
	static uint8_t random[16];
	uint32_t got = 0, want = sizeof(random);
	struct rt_args args;
	uintptr_t *stack;

	/* The entry and its ELF note live in rt_syscall.S: this reference
	 * makes the linker take that object from the archive. */
	__asm__ volatile("" : : "r"(nub_rt_syscall_entry));
	args_take(peb, &args);
	stack = process_stack(&args, random, &rt_cwd_given);
	/* musl's malloc secret and stack canary; fixed in the snapshot. */
	nub_call_host(NUB_HOST_FN_RANDOM, &want, sizeof(want), random, sizeof(random), &got);
	__libc_start_main(rt_libc_main, (int)args.argc, (char **)stack, 0, 0, 0);
	nub_abort(NUB_ABORT_CORRUPT, "C library start-up returned");
}

/* musl's generators, each seeded from its own part of the host's seed:
 * rand(), random() and the drand48 family. */
void rt_reseed(const uint8_t seed[NUB_RESTORE_SEED_SIZE])
{
	uint32_t a, b;
	unsigned short x[3];

	memcpy(&a, seed, sizeof(a));
	memcpy(&b, seed + 4, sizeof(b));
	memcpy(x, seed + 8, sizeof(x));
	srand(a);
	srandom(b);
	seed48(x);
}

void rt_after_call(void)
{
	fflush(NULL);
	line_flush(1);
	line_flush(2);
}
