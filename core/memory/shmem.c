/* SPDX-License-Identifier: MIT */
#include "memory/shmem.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include <nub/types.h>

#include "error_internal.h"

#define PAGE NUB_PAGE_SIZE

struct nub_shmem {
	atomic_int refs;
	int sealed;
	int shared;    /* MAP_SHARED: zeroed with MADV_REMOVE */
	uint8_t *base; /* first usable byte, after the low guard page */
	uint64_t size;
};

/* Private regions start and end on a 2 MiB boundary. They merge into one
 * VMA with their neighbours, so freeing one unmaps the middle of a VMA,
 * and the kernel splits it at both ends first; a split at an address that
 * is not 2 MiB-aligned asks whether a huge page straddles it, which calls
 * every KVM VM's MMU notifier in the process, transparent huge pages or
 * not. With 5,000 sandboxes alive that was a third of a free's time
 * (docs/performance.md, "A free of a sandbox among many"). The padding is
 * address space only, guarded, never touched. */
#define REGION_ALIGN (2ull << 20)

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102 /* Linux 6.13; glibc 2.36 lacks the name */
#endif

/* The start of the last private region mapped: the next is asked for
 * directly below it, so the kernel merges their mappings into one VMA.
 * Left where the kernel puts them, regions interleave with each KVM VM's
 * kvm_run mapping and take a VMA each, and KVM_CREATE_VM walks (locks)
 * every VMA of the process: 5,000 live sandboxes had 8,400 VMAs, now
 * 5,000. A race between threads only loses an adjacency. */
static _Atomic(uintptr_t) next_below;

/* `total` bytes (a multiple of REGION_ALIGN) at a REGION_ALIGN boundary:
 * more is mapped and the ends trimmed. Only when no region can go below
 * the last (the first, or after something else took that space), so the
 * trims' MMU-notifier calls are rare. */
static uint8_t *map_aligned(uint64_t total, int flags)
{
	uint8_t *p = mmap(NULL, total + REGION_ALIGN, PROT_READ | PROT_WRITE, flags, -1, 0);

	if (p == MAP_FAILED)
		return p;
	uint64_t head = (REGION_ALIGN - (uintptr_t)p % REGION_ALIGN) % REGION_ALIGN;
	if (head)
		munmap(p, head);
	munmap(p + head + total, REGION_ALIGN - head);
	return p + head;
}

static void *map_below_last(uint64_t total, int flags)
{
	const int prot = PROT_READ | PROT_WRITE;
	uintptr_t last = atomic_load(&next_below);
	uint8_t *p = MAP_FAILED;

	/* Not below 1 GiB, nor for shared memory (a file of its own each:
	 * never merged). */
	if ((flags & MAP_PRIVATE) && last > total + (1ull << 30)) {
		p = mmap((void *)(last - total), total, prot, flags | MAP_FIXED_NOREPLACE, -1, 0);
		/* A kernel before 4.17 takes the flag for a hint. */
		if (p != MAP_FAILED && (uintptr_t)p != last - total) {
			munmap(p, total);
			p = MAP_FAILED;
		}
	}
	if (p == MAP_FAILED)
		p = (flags & MAP_PRIVATE) ? map_aligned(total, flags)
		                          : mmap(NULL, total, prot, flags, -1, 0);
	if (p != MAP_FAILED && (flags & MAP_PRIVATE))
		atomic_store(&next_below, (uintptr_t)p);
	return p;
}

/* A private region (a KVM sandbox's scratch) is this process's alone: a
 * forked child cannot use the sandbox it belongs to (core refuses every
 * access, sandbox.c), and inheriting it would make fork() write-protect
 * every page of it, whose MMU notifier makes KVM drop every shadow entry of
 * the slot: the parent's next request refaulted each page it touched (an
 * echo call + restore right after a fork 377-386 us instead of 67,
 * docs/performance.md). Done before anything else touches the new mapping:
 * the flag change merges it into the region mapped last, which a guard
 * marker first would prevent (it gives the mapping an anon_vma of its own,
 * and two VMAs with different ones never merge: a sandbox took two VMAs
 * instead of one). Not an error where the kernel refuses: only that cost
 * comes back. */
static void mark_not_inherited(void *p, uint64_t total, int shared)
{
	if (!shared)
		(void)madvise(p, total, MADV_DONTFORK);
}

/* Guard page + region + guard (a page, or for a private region the rest
 * up to its 2 MiB boundary), the guards faulting on any access: an
 * access just outside the region faults instead of hitting a neighbouring
 * allocation. Where the kernel has guard markers (MADV_GUARD_INSTALL) the
 * whole range is one read-write mapping with two marked pages: one VMA, and
 * no mprotect, which would call every KVM VM's MMU notifier in the process
 * (a creation cost that grew with the number of live sandboxes). Elsewhere
 * (older kernels, shared mappings before 6.15) the guards are made
 * inaccessible with mprotect. Returns the start of the low guard, or NULL
 * with the error set. */
static void *map_guarded(uint64_t size, uint64_t total, int shared, struct nub_error *err)
{
	int flags = (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS | MAP_NORESERVE;
	uint8_t *p = map_below_last(total, flags);
	const uint64_t high = total - PAGE - size; /* the high guard's bytes */

	if (p == MAP_FAILED)
		goto fail_mmap;
	mark_not_inherited(p, total, shared);
	if (!madvise(p, PAGE, MADV_GUARD_INSTALL) &&
	    !madvise(p + PAGE + size, high, MADV_GUARD_INSTALL))
		return p;
	/* On the mapping already placed, not a new one from mmap(NULL): that
	 * would lose the 2 MiB alignment and the place below the last region. */
	if (mprotect(p, PAGE, PROT_NONE) || mprotect(p + PAGE + size, high, PROT_NONE)) {
		int e = errno;
		munmap(p, total);
		nub_error_set(err, NUB_ESYS, "mprotect: %s", strerror(e));
		return NULL;
	}
	return p;
fail_mmap:
	nub_error_set(err, NUB_ESYS, "mmap of %llu bytes: %s", (unsigned long long)total,
	              strerror(errno));
	return NULL;
}

/* The bytes a region of `size` (checked) maps from its low guard: the
 * guards, and a private region's padding up to its 2 MiB boundary. */
static uint64_t region_bytes(uint64_t size, int shared)
{
	uint64_t total = size + 2 * PAGE;

	return shared ? total : (total + REGION_ALIGN - 1) / REGION_ALIGN * REGION_ALIGN;
}

static int shmem_create(uint64_t size, int shared, struct nub_shmem **out, struct nub_error *err)
{
	struct nub_shmem *m;
	uint64_t total;
	uint8_t *p;

	if (size == 0 || size % PAGE)
		return nub_error_set(err, NUB_EINVAL,
		                     "shared memory size %llu is not a positive multiple of 4096",
		                     (unsigned long long)size);
	if (size > NUB_SHMEM_MAX || __builtin_add_overflow(size, 2 * PAGE, &total))
		return nub_error_set(err, NUB_EOVERFLOW,
		                     "shared memory size %llu exceeds the limit of %llu bytes",
		                     (unsigned long long)size, (unsigned long long)NUB_SHMEM_MAX);
	total = region_bytes(size, shared);
	m = calloc(1, sizeof(*m));
	if (!m)
		return nub_error_set(err, NUB_ENOMEM, "out of memory");
	p = map_guarded(size, total, shared, err);
	if (!p) {
		free(m);
		return NUB_ESYS;
	}
	atomic_init(&m->refs, 1);
	m->shared = shared;
	m->base = p + PAGE;
	m->size = size;
	*out = m;
	return 0;
}

int nub_shmem_create(uint64_t size, struct nub_shmem **out, struct nub_error *err)
{
	return shmem_create(size, 0, out, err);
}

int nub_shmem_create_shared(uint64_t size, struct nub_shmem **out, struct nub_error *err)
{
	return shmem_create(size, 1, out, err);
}

struct nub_shmem *nub_shmem_ref(struct nub_shmem *m)
{
	atomic_fetch_add(&m->refs, 1);
	return m;
}

void nub_shmem_unref(struct nub_shmem *m)
{
	if (!m || atomic_fetch_sub(&m->refs, 1) != 1)
		return;
	munmap(m->base - PAGE, region_bytes(m->size, m->shared));
	free(m);
}

void *nub_shmem_host(const struct nub_shmem *m)
{
	return m->base;
}

uint64_t nub_shmem_size(const struct nub_shmem *m)
{
	return m->size;
}

int nub_shmem_seal(struct nub_shmem *m, struct nub_error *err)
{
	if (mprotect(m->base, m->size, PROT_READ))
		return nub_error_set(err, NUB_ESYS, "sealing shared memory: %s", strerror(errno));
	m->sealed = 1;
	return 0;
}

int nub_shmem_is_sealed(const struct nub_shmem *m)
{
	return m->sealed;
}

static int bounds(const struct nub_shmem *m, uint64_t off, uint64_t len, struct nub_error *err)
{
	if (off > m->size || len > m->size - off)
		return nub_error_set(err, NUB_ERANGE,
		                     "guest memory access [0x%llx, +0x%llx) outside region of "
		                     "0x%llx bytes",
		                     (unsigned long long)off, (unsigned long long)len,
		                     (unsigned long long)m->size);
	return 0;
}

/* Word-at-a-time volatile copy: the compiler may neither re-read guest
 * memory nor merge the accesses into something that tears differently. */
static void copy_from_guest(void *dst, const volatile uint8_t *src, uint64_t len)
{
	uint8_t *d = dst;

	while (len && ((uintptr_t)src & 7)) {
		*d++ = *src++;
		len--;
	}
	for (; len >= 8; len -= 8, src += 8, d += 8) {
		uint64_t w = *(const volatile uint64_t *)src;
		memcpy(d, &w, 8);
	}
	while (len--)
		*d++ = *src++;
}

int nub_shmem_read(const struct nub_shmem *m, uint64_t off, void *dst, uint64_t len,
                   struct nub_error *err)
{
	int rc = bounds(m, off, len, err);

	if (!rc)
		copy_from_guest(dst, m->base + off, len);
	return rc;
}

int nub_shmem_is_zero(const struct nub_shmem *m, uint64_t off, uint64_t len, struct nub_error *err)
{
	int rc = bounds(m, off, len, err);
	const volatile uint8_t *p = m->base + off;
	uint64_t acc = 0;

	if (rc)
		return rc;
	while (len && ((uintptr_t)p & 7)) {
		acc |= *p++;
		len--;
	}
	for (; len >= 8; len -= 8, p += 8)
		acc |= *(const volatile uint64_t *)p;
	while (len--)
		acc |= *p++;
	return acc == 0;
}

int nub_shmem_write(struct nub_shmem *m, uint64_t off, const void *src, uint64_t len,
                    struct nub_error *err)
{
	int rc = bounds(m, off, len, err);

	if (rc)
		return rc;
	if (m->sealed)
		return nub_error_set(err, NUB_ESTATE, "write to sealed (immutable) memory");
	/* A plain memcpy, not the reads' volatile words: nothing the host
	 * writes is read back or validated, and no vCPU runs while it writes
	 * (between calls, or in a host call the guest waits on). A restore
	 * copies whole pages back through here. */
	memcpy(m->base + off, src, len);
	return 0;
}

int nub_shmem_read_u64(const struct nub_shmem *m, uint64_t off, uint64_t *v, struct nub_error *err)
{
	return nub_shmem_read(m, off, v, sizeof(*v), err);
}

int nub_shmem_write_u64(struct nub_shmem *m, uint64_t off, uint64_t v, struct nub_error *err)
{
	return nub_shmem_write(m, off, &v, sizeof(v), err);
}

int nub_shmem_read_u32(const struct nub_shmem *m, uint64_t off, uint32_t *v, struct nub_error *err)
{
	return nub_shmem_read(m, off, v, sizeof(*v), err);
}

int nub_shmem_write_u32(struct nub_shmem *m, uint64_t off, uint32_t v, struct nub_error *err)
{
	return nub_shmem_write(m, off, &v, sizeof(v), err);
}

int nub_shmem_zero(struct nub_shmem *m, uint64_t off, uint64_t len, enum nub_zero_method *used,
                   struct nub_error *err)
{
	uint64_t head, body;
	int rc = bounds(m, off, len, err);

	if (used)
		*used = NUB_ZERO_NONE;
	if (rc)
		return rc;
	if (m->sealed)
		return nub_error_set(err, NUB_ESTATE, "zeroing sealed (immutable) memory");
	head = (PAGE - (off % PAGE)) % PAGE;
	if (head > len)
		head = len;
	body = (len - head) & ~(PAGE - 1);
	memset(m->base + off, 0, head);
	memset(m->base + off + head + body, 0, len - head - body);
	/* Private pages are freed (and read back as zero) by DONTNEED; shared
	 * ones only by punching them out of their shmem object. */
	if (body &&
	    madvise(m->base + off + head, body, m->shared ? MADV_REMOVE : MADV_DONTNEED) == 0) {
		if (used)
			*used = NUB_ZERO_MADVISE;
		return 0;
	}
	memset(m->base + off + head, 0, body);
	if (used)
		*used = len ? NUB_ZERO_MEMSET : NUB_ZERO_NONE;
	return 0;
}

int nub_shmem_clear(struct nub_shmem *m, uint64_t off, uint64_t len, struct nub_error *err)
{
	int rc = bounds(m, off, len, err);

	if (rc)
		return rc;
	if (m->sealed)
		return nub_error_set(err, NUB_ESTATE, "zeroing sealed (immutable) memory");
	memset(m->base + off, 0, len);
	return 0;
}

/* Whether a page holds a non-zero byte: plain loads (no vCPU runs on it
 * now), stopping at the first 256-byte block that is not zero. A restore
 * in place checks every page of scratch the guest could write (~50 for a
 * small guest) on every request: with SSE2 (every x86-64) this is ~50 ns a
 * cached page against ~85 ns for the 64-bit loop. */
#if defined(__x86_64__) && defined(__GNUC__)
#define NUB_HAVE_AVX2_SCAN 1
/* The same with 32-byte loads where the CPU has AVX2 (chosen at run
 * time): half the loads of SSE2 for the same bytes. */
__attribute__((target("avx2"))) static int page_nonzero_avx2(const uint8_t *p)
{
	for (size_t b = 0; b < PAGE; b += 512) {
		const __m256i *v = (const __m256i *)(const void *)(p + b);
		__m256i a = _mm256_setzero_si256();
		for (int i = 0; i < 16; i++)
			a = _mm256_or_si256(a, _mm256_load_si256(v + i));
		if (!_mm256_testz_si256(a, a))
			return 1;
	}
	return 0;
}
#endif

static int page_nonzero_sse2(const uint8_t *p)
{
#if defined(__SSE2__)
	for (size_t b = 0; b < PAGE; b += 256) {
		const __m128i *v = (const __m128i *)(const void *)(p + b);
		__m128i a = _mm_setzero_si128();
		for (int i = 0; i < 16; i++)
			a = _mm_or_si128(a, _mm_load_si128(v + i));
		if (_mm_movemask_epi8(_mm_cmpeq_epi8(a, _mm_setzero_si128())) != 0xffff)
			return 1;
	}
	return 0;
#else
	const uint64_t *w = (const uint64_t *)(const void *)p;

	for (size_t i = 0; i < PAGE / 8; i += 8)
		if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] |
		    w[i + 7])
			return 1;
	return 0;
#endif
}

/* Which scan page_scan picks: -1 not decided yet (the CPU decides at the
 * first clear; racing threads all store the same answer), 0 SSE2, 1
 * AVX2. */
static atomic_int scan_avx2 = -1;

static int cpu_has_avx2(void)
{
#ifdef NUB_HAVE_AVX2_SCAN
	return __builtin_cpu_supports("avx2") ? 1 : 0;
#else
	return 0;
#endif
}

int nub_shmem_scan_use(int avx2)
{
	int use = avx2 < 0 ? -1 : avx2 && cpu_has_avx2();

	atomic_store_explicit(&scan_avx2, use, memory_order_relaxed);
	return use;
}

typedef int (*nub_page_scan_fn)(const uint8_t *p);

/* The scan for this CPU (or the one a test chose), picked once per clear
 * rather than per page. */
static nub_page_scan_fn page_scan(void)
{
	int use = atomic_load_explicit(&scan_avx2, memory_order_relaxed);

	if (use < 0) {
		use = cpu_has_avx2();
		atomic_store_explicit(&scan_avx2, use, memory_order_relaxed);
	}
#ifdef NUB_HAVE_AVX2_SCAN
	if (use)
		return page_nonzero_avx2;
#endif
	return page_nonzero_sse2;
}

int nub_shmem_clear_written(struct nub_shmem *m, uint64_t off, uint64_t len, uint64_t *cleared,
                            struct nub_error *err)
{
	int rc = bounds(m, off, len, err);

	if (rc)
		return rc;
	if ((off | len) % PAGE)
		return nub_error_set(err, NUB_ERANGE,
		                     "clearing [0x%llx, +0x%llx): not page-aligned",
		                     (unsigned long long)off, (unsigned long long)len);
	if (m->sealed)
		return nub_error_set(err, NUB_ESTATE, "zeroing sealed (immutable) memory");
	const nub_page_scan_fn page_nonzero = page_scan();

	for (uint64_t at = off; at < off + len; at += PAGE) {
		if (!page_nonzero(m->base + at))
			continue;
		memset(m->base + at, 0, PAGE);
		++*cleared;
	}
	return 0;
}
