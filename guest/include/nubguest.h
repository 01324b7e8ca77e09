/* SPDX-License-Identifier: MIT */
/**
 * @file nubguest.h
 * Public API of the nub guest runtime, for x86-64 guests built as static
 * PIEs. One runtime, two flavours with this same API (docs/guest-abi.md):
 * libnubguest.a (bare: freestanding, its own malloc family, mem* and a
 * printf subset) and libnubguest-libc.a (Debian's musl linked into the
 * guest, the runtime serving its system calls: stdio, math... as C says;
 * the declarations below of the mem* functions are then musl's). Both
 * flavours' malloc family (with aligned_alloc, posix_memalign, memalign and
 * malloc_usable_size) and memcpy/memmove/memset are the runtime's: in the
 * C library flavour they replace musl's, which made allocation- and
 * copy-heavy programs (an interpreter) ~1.5x slower than with glibc.
 *
 * A guest defines `void nub_guest_main(void)`, which registers its callable
 * functions with nub_register(). The runtime's entry point (`_start`) sets up
 * the heap, calls nub_guest_main() and reports NUB_DOORBELL_INIT_DONE. Each
 * call from the host then runs one registered function through the dispatch
 * entry.
 *
 * Everything runs at CPL3 (user mode) with interrupts disabled, on the main
 * stack (with an unmapped guard page below it: overflowing it stops the
 * sandbox with a "guest stack overflow" error). The host set up the CPU:
 * SSE is enabled, FCW 0x37f, MXCSR 0x1f80; x87/SSE state is not saved by
 * the runtime and is reset by the host on restore. Writes to the image's
 * data, the heap and the stack are copy-on-write, resolved by the host; a
 * guest never sees those faults. Privileged instructions (in/out, cli/sti,
 * hlt, wrmsr, mov to a control register, lgdt, ...) stop the sandbox with
 * NUB_EPRIVILEGED, as does any access to the page tables or descriptor
 * tables.
 */
#ifndef NUBGUEST_H
#define NUBGUEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <nub/error.h>
#include <nub/guest_abi.h>
#include <nub/typed.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * A function callable by the host.
 * @param in       argument bytes of the request (read-only; valid for the
 *                 whole call, also across nub_call_host()).
 * @param in_len   number of argument bytes.
 * @param out      result area owned by the runtime, `out_cap` bytes; write
 *                 the result here. Never NULL (may have out_cap == 0).
 * @param out_cap  capacity of `out`: what the output buffer can still hold,
 *                 limited by the heap (the area is heap-allocated).
 * @param out_len  set to the number of result bytes written (starts at 0).
 * @return 0 on success, or a negative status (an enum nub_err or the
 *         function's own) that the host receives as the response status.
 *         The `*out_len` bytes are returned with either status. An
 *         `*out_len` above `out_cap` turns the status into NUB_ERANGE and
 *         drops the bytes.
 */
typedef int32_t (*nub_guest_fn)(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t out_cap,
                                uint32_t *out_len);

/** Most functions one guest can register. */
#define NUB_GUEST_MAX_FNS 128

/** Defined by the guest program: registers its functions. Called once,
 * during initialisation, before the host can call anything. */
void nub_guest_main(void);

/**
 * Make `fn` callable by the host under `id`. `name` (static storage, not
 * copied) is for diagnostics only.
 * @return 0; NUB_EINVAL if fn is NULL or id is already registered;
 *         NUB_EFULL if NUB_GUEST_MAX_FNS functions are registered.
 */
int nub_register(uint32_t id, const char *name, nub_guest_fn fn);

/**
 * A typed function (include/nub/typed.h): its arguments decoded and
 * checked against its signature by the runtime before it runs.
 * @param args   nargs values, of the signature's argument types in order;
 *               str/bytes point into the request (valid during the call).
 * @param ret    set ret->v to the result, of the signature's result type
 *               (ret->type is preset to it); str/bytes it returns must stay
 *               valid until the function returns (static or heap memory).
 * @return 0, or a negative status of the function's own: the host receives
 *         it, with no result.
 */
typedef int32_t (*nub_typed_fn)(const struct nub_value *args, uint32_t nargs,
                                struct nub_value *ret);

/**
 * Make `fn` callable under `id` as a typed function with signature `sig`
 * ("ilds>d": argument tags, '>', the result tag; static storage, not
 * copied). A request whose values do not match the signature never reaches
 * fn: the host gets status NUB_EINVAL and a message naming the argument
 * ("argument 2 is f64, the function takes i64"). Host side:
 * nub_sandbox_call_typed.
 * @return 0; NUB_EINVAL for a NULL fn, a malformed signature or an id
 *         already registered; NUB_EFULL when NUB_GUEST_MAX_FNS are.
 */
int nub_register_typed(uint32_t id, const char *name, const char *sig, nub_typed_fn fn);

/**
 * Call typed host function `fn_id` (nub_sandbox_register_typed) with
 * `nargs` values: encoded into `buf` (cap bytes), the answer decoded from
 * it into *ret (str/bytes point into buf).
 * @return 0; the host function's own negative status (ret void); NUB_EINVAL
 *         when the host refused the values -- the reason is the text at
 *         buf, *ret a str of it -- or they cannot be encoded; NUB_ECORRUPT
 *         for an answer that is not one value; NUB_EFULL when buf is too
 *         small; those of nub_call_host.
 */
/*
 * Marshalling generated for a plain C function. For
 *     static double area(int32_t w, double h) { ... }
 *     NUB_TYPED_FN2(area, double, int32_t, double);
 * defines area_typed (a nub_typed_fn) and area_sig ("id>d") from the C
 * types, and NUB_REGISTER_TYPED(7, area) registers it. C types: int32_t,
 * int64_t, uint32_t, uint64_t, float, double, bool, struct nub_str and
 * struct nub_bytes (pointing into the request, or, returned, at memory that
 * outlives the call); `long long` and other spellings are not int64_t
 * here. Results cannot be void (write a nub_typed_fn for that).
 */
struct nub_str {
	const char *p;
	uint32_t len;
};
struct nub_bytes {
	const void *p;
	uint32_t len;
};

#define NUB_TYPED_TAG(T)                                                                           \
	_Generic((T){0}, int32_t                                                                   \
	         : 'i', int64_t                                                                    \
	         : 'l', uint32_t                                                                   \
	         : 'u', uint64_t                                                                   \
	         : 'q', float                                                                      \
	         : 'f', double                                                                     \
	         : 'd', _Bool                                                                      \
	         : 'b', struct nub_str                                                             \
	         : 's', struct nub_bytes                                                           \
	         : 'y')

static inline int32_t nub_typed_as_i32(const struct nub_value *v)
{
	return v->v.i32;
}
static inline int64_t nub_typed_as_i64(const struct nub_value *v)
{
	return v->v.i64;
}
static inline uint32_t nub_typed_as_u32(const struct nub_value *v)
{
	return v->v.u32;
}
static inline uint64_t nub_typed_as_u64(const struct nub_value *v)
{
	return v->v.u64;
}
static inline float nub_typed_as_f32(const struct nub_value *v)
{
	return v->v.f32;
}
static inline double nub_typed_as_f64(const struct nub_value *v)
{
	return v->v.f64;
}
static inline _Bool nub_typed_as_bool(const struct nub_value *v)
{
	return v->v.b != 0;
}
static inline struct nub_str nub_typed_as_str(const struct nub_value *v)
{
	return (struct nub_str){(const char *)v->v.buf.p, v->v.buf.len};
}
static inline struct nub_bytes nub_typed_as_bytes(const struct nub_value *v)
{
	return (struct nub_bytes){v->v.buf.p, v->v.buf.len};
}
#define NUB_TYPED_GET(T, val)                                                                      \
	_Generic((T){0}, int32_t                                                                   \
	         : nub_typed_as_i32, int64_t                                                       \
	         : nub_typed_as_i64, uint32_t                                                      \
	         : nub_typed_as_u32, uint64_t                                                      \
	         : nub_typed_as_u64, float                                                         \
	         : nub_typed_as_f32, double                                                        \
	         : nub_typed_as_f64, _Bool                                                         \
	         : nub_typed_as_bool, struct nub_str                                               \
	         : nub_typed_as_str, struct nub_bytes                                              \
	         : nub_typed_as_bytes)(&(val))

static inline void nub_typed_put_i32(struct nub_value *r, int32_t x)
{
	r->v.i32 = x;
}
static inline void nub_typed_put_i64(struct nub_value *r, int64_t x)
{
	r->v.i64 = x;
}
static inline void nub_typed_put_u32(struct nub_value *r, uint32_t x)
{
	r->v.u32 = x;
}
static inline void nub_typed_put_u64(struct nub_value *r, uint64_t x)
{
	r->v.u64 = x;
}
static inline void nub_typed_put_f32(struct nub_value *r, float x)
{
	r->v.f32 = x;
}
static inline void nub_typed_put_f64(struct nub_value *r, double x)
{
	r->v.f64 = x;
}
static inline void nub_typed_put_bool(struct nub_value *r, _Bool x)
{
	r->v.b = x;
}
static inline void nub_typed_put_str(struct nub_value *r, struct nub_str x)
{
	r->v.buf.p = x.p;
	r->v.buf.len = x.len;
}
static inline void nub_typed_put_bytes(struct nub_value *r, struct nub_bytes x)
{
	r->v.buf.p = x.p;
	r->v.buf.len = x.len;
}
#define NUB_TYPED_PUT(R, r, x)                                                                     \
	_Generic((R){0}, int32_t                                                                   \
	         : nub_typed_put_i32, int64_t                                                      \
	         : nub_typed_put_i64, uint32_t                                                     \
	         : nub_typed_put_u32, uint64_t                                                     \
	         : nub_typed_put_u64, float                                                        \
	         : nub_typed_put_f32, double                                                       \
	         : nub_typed_put_f64, _Bool                                                        \
	         : nub_typed_put_bool, struct nub_str                                              \
	         : nub_typed_put_str, struct nub_bytes                                             \
	         : nub_typed_put_bytes)((r), (x))

#define NUB_TYPED_WRAP_(fn, R, call)                                                               \
	static int32_t fn##_typed(const struct nub_value *a, uint32_t n, struct nub_value *r)      \
	{                                                                                          \
		(void)a;                                                                           \
		(void)n;                                                                           \
		NUB_TYPED_PUT(R, r, call);                                                         \
		return 0;                                                                          \
	}
#define NUB_TYPED_FN0(fn, R)                                                                       \
	NUB_TYPED_WRAP_(fn, R, fn())                                                               \
	static const char fn##_sig[] = {'>', NUB_TYPED_TAG(R), 0}
#define NUB_TYPED_FN1(fn, R, A)                                                                    \
	NUB_TYPED_WRAP_(fn, R, fn(NUB_TYPED_GET(A, a[0])))                                         \
	static const char fn##_sig[] = {NUB_TYPED_TAG(A), '>', NUB_TYPED_TAG(R), 0}
#define NUB_TYPED_FN2(fn, R, A, B)                                                                 \
	NUB_TYPED_WRAP_(fn, R, fn(NUB_TYPED_GET(A, a[0]), NUB_TYPED_GET(B, a[1])))                 \
	static const char fn##_sig[] = {NUB_TYPED_TAG(A), NUB_TYPED_TAG(B), '>', NUB_TYPED_TAG(R), \
	                                0}
#define NUB_TYPED_FN3(fn, R, A, B, C)                                                              \
	NUB_TYPED_WRAP_(                                                                           \
	        fn, R, fn(NUB_TYPED_GET(A, a[0]), NUB_TYPED_GET(B, a[1]), NUB_TYPED_GET(C, a[2]))) \
	static const char fn##_sig[] = {                                                           \
	        NUB_TYPED_TAG(A), NUB_TYPED_TAG(B), NUB_TYPED_TAG(C), '>', NUB_TYPED_TAG(R), 0}
#define NUB_TYPED_FN4(fn, R, A, B, C, D)                                                           \
	NUB_TYPED_WRAP_(fn, R,                                                                     \
	                fn(NUB_TYPED_GET(A, a[0]), NUB_TYPED_GET(B, a[1]), NUB_TYPED_GET(C, a[2]), \
	                   NUB_TYPED_GET(D, a[3])))                                                \
	static const char fn##_sig[] = {NUB_TYPED_TAG(A),                                          \
	                                NUB_TYPED_TAG(B),                                          \
	                                NUB_TYPED_TAG(C),                                          \
	                                NUB_TYPED_TAG(D),                                          \
	                                '>',                                                       \
	                                NUB_TYPED_TAG(R),                                          \
	                                0}
/* Register fn (wrapped by NUB_TYPED_FNn) under `id`, named after it. */
#define NUB_REGISTER_TYPED(id, fn) nub_register_typed((id), #fn, fn##_sig, fn##_typed)

int nub_call_host_typed(uint32_t fn_id, const struct nub_value *args, uint32_t nargs,
                        struct nub_value *ret, void *buf, uint32_t cap);

/**
 * Call host function `fn_id` with `len` bytes from `in`; up to `cap` bytes
 * of its answer are copied to `out` and its full length is stored in
 * *out_len (when out_len is not NULL).
 * @return the host function's status (0 or negative); or NUB_EFULL when the
 *         request does not fit in the output buffer or the answer is longer
 *         than `cap` (the first `cap` bytes are copied); NUB_ECORRUPT when
 *         the host pushed no well-formed response.
 */
int nub_call_host(uint32_t fn_id, const void *in, uint32_t len, void *out, uint32_t cap,
                  uint32_t *out_len);

/** Longest log message in bytes; longer ones are truncated. */
#define NUB_LOG_MAX 1024

/**
 * Send a log message (enum nub_log_level) to the host. Format: the subset
 * of printf documented at nub_vsnprintf().
 * @return 0, or NUB_EFULL when the output buffer cannot hold it (dropped).
 */
int nub_log(uint32_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Abort the guest: the host receives `code` and the text `msg`. Never
 * returns; the host does not resume an aborted guest. */
_Noreturn void nub_abort(uint32_t code, const char *msg);

/** nub_abort() with a formatted message (at most NUB_LOG_MAX bytes). */
_Noreturn void nub_abortf(uint32_t code, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

/**
 * Fresh entropy after a restore. A restored sandbox is its snapshot bit for
 * bit, and so is every sandbox made from one snapshot: a random generator
 * seeded at init would give each of them the same numbers. The host writes
 * NUB_RESTORE_SEED_SIZE new random bytes (guest_abi.h: NUB_SCRATCH_TOP_SEED)
 * at every restore and into every new sandbox; before the first call that
 * sees new bytes, the runtime reseeds what it owns and then runs each hook
 * registered here, in order, with the seed.
 *
 * What is reseeded: in the C library flavour, rand(), random() and the
 * drand48 family (srand, srandom, seed48); in both, whatever the program's
 * hooks reseed. What is not: getrandom() and the host's random built-in
 * need none (every call asks the host); AT_RANDOM, musl's stack-protector
 * canary and malloc secret stay as they were at init (live frames and heap
 * blocks depend on them), and so do hash seeds an interpreter picked at init
 * (its tables were built with them) -- a program that wants those per
 * sandbox must choose them after init, from nub_restore_seed() or
 * getrandom().
 *
 * @param fn  called with the new seed, from inside the call about to run
 *            (it may allocate and log, not call the host); not NULL.
 * @return 0; NUB_EINVAL for NULL; NUB_EFULL once
 *         NUB_GUEST_MAX_RESTORE_HOOKS are registered. Register during init.
 */
typedef void (*nub_restore_hook)(const uint8_t seed[NUB_RESTORE_SEED_SIZE]);
#define NUB_GUEST_MAX_RESTORE_HOOKS 8
int nub_on_restore(nub_restore_hook fn);

/** The seed the runtime last saw: all zero before the first call. */
void nub_restore_seed(uint8_t seed[NUB_RESTORE_SEED_SIZE]);

/** The host-written guest counter (scratch bookkeeping word). */
uint64_t nub_guest_counter(void);

/** Where the host mapped memory or a file tagged `tag`
 * (nub_sandbox_map_region / _map_file): 0 with *out filled, or
 * NUB_ENOTFOUND. The host's table (bookkeeping page) is read each time: a
 * mapping may come or go between calls, and every restore removes all. */
int nub_guest_mapping(uint32_t tag, struct nub_mapping_info *out);

/** The process environment block the host passed at entry (read-only). */
const struct nub_peb *nub_peb(void);

/**
 * printf subset: conversions %d %i %u %x %X %c %s %p %%; flags '-' and '0';
 * width and precision (digits or '*'); length modifiers hh h l ll z. %p is
 * "0x" and lowercase hex. Writes at most `cap` bytes including the NUL.
 * @return the length the full output would have had.
 */
int nub_vsnprintf(char *buf, size_t cap, const char *fmt, va_list ap)
        __attribute__((format(printf, 3, 0)));
int nub_snprintf(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Heap (peb->heap_gva, heap_size; in the C library flavour the part of it
 * below the program break), as C says: malloc, calloc and realloc
 * return NULL when the heap cannot satisfy the request (calloc also when
 * n * size overflows; a failed realloc leaves the block as it was);
 * free/realloc of a pointer the heap did not hand out abort with
 * NUB_ABORT_CORRUPT. */
void *malloc(size_t size);
void *calloc(size_t n, size_t size);
void *realloc(void *p, size_t size);
void free(void *p);

/** The heap as the guest's allocator sees it (all in bytes). In the C
 * library flavour the runtime hands the C library whole pages (brk, mmap):
 * heap_size is the pages it can hand out, used and peak count pages handed
 * out (malloc's use inside the brk pages is not counted separately). */
struct nub_guest_heap_usage {
	size_t heap_size; /**< usable heap (the configured one, trimmed to 16 bytes) */
	size_t used;      /**< in live blocks now, 16-byte headers included */
	size_t peak;      /**< the most `used` has been since initialisation; a
	                       restore brings back the snapshot's figure */
};
/** Fill *u; u must not be NULL. The host's own measure, which does not
 * trust the guest: nub_sandbox_heap_usage(). */
void nub_guest_heap_usage(struct nub_guest_heap_usage *u);

/* Freestanding string functions (the compiler may also emit calls to the
 * mem* ones). */
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

#ifdef __cplusplus
}
#endif
#endif
