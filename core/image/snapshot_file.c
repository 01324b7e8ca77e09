/* SPDX-License-Identifier: MIT */
/*
 * Saving and loading snapshots. The file is written and read field by
 * field, little-endian, with explicit sizes (format 3):
 *
 *   header   magic "NUBSNAP\0", u32 format, u32 header bytes (80),
 *            u64 visible_size, pt_size, entry_gva, dispatch_gva,
 *            generation, family, syscall_gva, fs_base
 *   layout   u32 count (NUB_SNAPFILE_LAYOUT_WORDS), then that many u64: the
 *            fields of struct nub_layout in declaration order
 *   names    u32 count, then per name: u32 id, u32 length (1..63), bytes
 *   hot      u32 count (<= NUB_HOT_MAX), then that many u64 GVAs
 *   memory   sparse: u64 words (= ceil(pages / 64), pages = (visible_size +
 *            pt_size) / 4096), that many u64 of bitmap (bit i set: page i
 *            is stored; no bit at or above `pages`), then each stored page,
 *            4096 bytes, in page order. Pages not stored are zero: a file
 *            costs what the guest used, not what was configured.
 *   hash     16 bytes: XXH3-128 of every byte before it
 *
 * A keyed file (nub_snapshot_save_keyed) is the same but for its magic,
 * "NUBSNAPK", and its last 32 bytes: instead of the hash, a MAC of every
 * byte before it (keyed BLAKE2b-256, libsodium's crypto_generichash,
 * personalised "nub snapshot mac"). The keyed loader checks the MAC, in
 * constant time, before it reads anything else; each loader refuses the
 * other kind of file by name.
 *
 * Every byte is covered by the trailing hash or MAC, so a flipped byte
 * anywhere is refused; independently, every field is validated against the
 * rest before any memory is touched: the layout must be exactly what
 * nub_layout_compute makes of its own sizes (so no edited offset can point
 * the host outside a region), sizes must fit the file and the
 * guest-physical space, addresses must lie where the layout says. What the
 * host owns is never taken from the file: the PEB, GDT/TSS/IDT and stub
 * pages are rebuilt from the layout (the file's bytes for them are
 * skipped), and the page tables are walked as data, every leaf checked
 * against the rules nub builds tables by, and built afresh from the
 * mappings that pass (snapshot_tables.c). The hash detects corruption; it
 * is not a signature: only the MAC shows the file was made by a holder of
 * the key (docs/security.md).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>
#include <xxhash.h>

#include "error_internal.h"
#include "image/snapshot.h"

#define SNAPFILE_MAGIC       "NUBSNAP\0"
#define SNAPFILE_MAGIC_KEYED "NUBSNAPK"
#define SNAPFILE_VERSION     3u
#define SNAPFILE_HEADER      80u
#define SNAPFILE_HASH        16u
#define SNAPFILE_LAYOUT_N    (sizeof(struct nub_layout) / sizeof(uint64_t))
#define PAGE                 NUB_PAGE_SIZE
/* Refuse absurd sizes before allocating: a snapshot larger than this is
 * not something nub builds. */
#define SNAPFILE_MAX_MEM (64ull << 30)

_Static_assert(sizeof(struct nub_layout) % sizeof(uint64_t) == 0, "layout is u64 fields");
_Static_assert(NUB_SNAPSHOT_KEY_MIN == crypto_generichash_blake2b_KEYBYTES_MIN, "key sizes");
_Static_assert(NUB_SNAPSHOT_KEY_MAX == crypto_generichash_blake2b_KEYBYTES_MAX, "key sizes");
_Static_assert(NUB_SNAPSHOT_MAC_SIZE == crypto_generichash_blake2b_BYTES, "MAC size");

/* ---- keys ---- */

static int check_key(const void *key, size_t key_len, const char *path, struct nub_error *err)
{
	if (!key)
		return nub_error_set(err, NUB_EINVAL, "%s: NULL snapshot key", path);
	if (key_len < NUB_SNAPSHOT_KEY_MIN || key_len > NUB_SNAPSHOT_KEY_MAX)
		return nub_error_set(err, NUB_EINVAL,
		                     "%s: a snapshot key of %zu byte%s: keys are %u to %u bytes "
		                     "(%u recommended)",
		                     path, key_len, key_len == 1 ? "" : "s", NUB_SNAPSHOT_KEY_MIN,
		                     NUB_SNAPSHOT_KEY_MAX, NUB_SNAPSHOT_KEY_SIZE);
	/* Picks the fastest BLAKE2b code; idempotent and thread-safe. */
	if (sodium_init() < 0)
		return nub_error_set(err, NUB_ESYS, "%s: libsodium failed to initialise", path);
	return 0;
}

int nub_snapshot_mac(const void *bytes, size_t len, const void *key, size_t key_len,
                     uint8_t mac[NUB_SNAPSHOT_MAC_SIZE])
{
	/* Personalised, so a key also used for other BLAKE2b MACs never makes
	 * one that passes for a snapshot file's. */
	static const uint8_t personal[crypto_generichash_blake2b_PERSONALBYTES] = {
	        'n', 'u', 'b', ' ', 's', 'n', 'a', 'p', 's', 'h', 'o', 't', ' ', 'm', 'a', 'c'};

	return crypto_generichash_blake2b_salt_personal(mac, NUB_SNAPSHOT_MAC_SIZE, bytes, len, key,
	                                                key_len, NULL, personal)
	               ? NUB_EINVAL
	               : 0;
}

/* ---- writing ---- */

struct out {
	uint8_t *p;
	size_t len, cap;
	int oom;
};

static void put(struct out *o, const void *v, size_t n)
{
	if (o->oom)
		return;
	if (o->cap - o->len < n) {
		size_t cap = o->cap ? o->cap * 2 : 4096;
		while (cap - o->len < n)
			cap *= 2;
		uint8_t *p = realloc(o->p, cap);
		if (!p) {
			o->oom = 1;
			return;
		}
		o->p = p;
		o->cap = cap;
	}
	memcpy(o->p + o->len, v, n);
	o->len += n;
}

/* x86-64 is little-endian: the in-memory integer is the file's encoding. */
static void put_u32(struct out *o, uint32_t v)
{
	put(o, &v, 4);
}

static void put_u64(struct out *o, uint64_t v)
{
	put(o, &v, 8);
}

static void put_meta(struct out *o, const struct nub_snapshot *s, const char *magic)
{
	uint64_t words[SNAPFILE_LAYOUT_N];

	put(o, magic, 8);
	put_u32(o, SNAPFILE_VERSION);
	put_u32(o, SNAPFILE_HEADER);
	put_u64(o, s->visible_size);
	put_u64(o, s->pt_size);
	put_u64(o, s->entry_gva);
	put_u64(o, s->dispatch_gva);
	put_u64(o, s->generation);
	put_u64(o, s->family);
	put_u64(o, s->syscall_gva);
	put_u64(o, s->fs_base);
	memcpy(words, &s->layout, sizeof(words));
	put_u32(o, (uint32_t)SNAPFILE_LAYOUT_N);
	for (size_t i = 0; i < SNAPFILE_LAYOUT_N; i++)
		put_u64(o, words[i]);
	put_u32(o, s->names.n);
	for (uint32_t i = 0; i < s->names.n && i < NUB_MAX_FN_NAMES; i++) {
		uint32_t len = (uint32_t)strnlen(s->names.fn[i].name, sizeof(s->names.fn[i].name));
		put_u32(o, s->names.fn[i].id);
		put_u32(o, len);
		put(o, s->names.fn[i].name, len);
	}
	put_u32(o, s->hot.n);
	for (unsigned i = 0; i < s->hot.n && i < NUB_HOT_MAX; i++)
		put_u64(o, s->hot.page[i]);
}

/* The bitmap of stored pages, then the pages. */
static void put_memory(struct out *o, const struct nub_snapshot *s)
{
	const uint8_t *m = nub_shmem_host(s->mem);
	uint64_t pages = (s->visible_size + s->pt_size) / NUB_PAGE_SIZE, words = (pages + 63) / 64;

	put_u64(o, words);
	for (uint64_t w = 0; w < words; w++) {
		uint64_t bits = 0;
		for (uint64_t b = 0; b < 64 && w * 64 + b < pages; b++)
			bits |= (uint64_t)nub_snapshot_page_nonzero(s, w * 64 + b) << b;
		put_u64(o, bits);
	}
	for (uint64_t i = 0; i < pages; i++) {
		if (nub_snapshot_page_nonzero(s, i))
			put(o, m + i * NUB_PAGE_SIZE, NUB_PAGE_SIZE);
	}
}

/* The trailer: the XXH3-128 of the body, or with a key its MAC. */
static void put_trailer(struct out *o, const void *key, size_t key_len)
{
	uint8_t mac[NUB_SNAPSHOT_MAC_SIZE];
	XXH128_canonical_t hash;

	if (o->oom)
		return;
	if (key && !nub_snapshot_mac(o->p, o->len, key, key_len, mac)) {
		put(o, mac, sizeof(mac));
		return;
	}
	XXH128_canonicalFromHash(&hash, XXH3_128bits(o->p, o->len));
	put(o, hash.digest, SNAPFILE_HASH);
}

static int write_file(const char *path, const struct out *o, struct nub_error *err)
{
	FILE *f = fopen(path, "wb");
	int rc = 0;

	if (!f)
		return nub_error_set(err, NUB_EIO, "%s: %s", path, strerror(errno));
	if (fwrite(o->p, 1, o->len, f) != o->len)
		rc = nub_error_set(err, NUB_EIO, "%s: write failed: %s", path, strerror(errno));
	if (fclose(f) && !rc)
		rc = nub_error_set(err, NUB_EIO, "%s: close failed: %s", path, strerror(errno));
	return rc;
}

/* key: NULL for a file without one (key_len already checked). */
static int save(const struct nub_snapshot *snap, const char *path, const void *key, size_t key_len,
                struct nub_error *err)
{
	struct out o = {0};
	int rc;

	put_meta(&o, snap, key ? SNAPFILE_MAGIC_KEYED : SNAPFILE_MAGIC);
	put_memory(&o, snap);
	put_trailer(&o, key, key_len);
	if (o.oom) {
		free(o.p);
		return nub_error_set(err, NUB_ENOMEM, "out of memory saving %s", path);
	}
	rc = write_file(path, &o, err);
	free(o.p);
	return rc;
}

int nub_snapshot_save(const struct nub_snapshot *snap, const char *path, struct nub_error *err)
{
	if (!snap || !path)
		return nub_error_set(err, NUB_EINVAL, "nub_snapshot_save: NULL argument");
	return save(snap, path, NULL, 0, err);
}

int nub_snapshot_save_keyed(const struct nub_snapshot *snap, const char *path, const void *key,
                            size_t key_len, struct nub_error *err)
{
	int rc;

	if (!snap || !path)
		return nub_error_set(err, NUB_EINVAL, "nub_snapshot_save_keyed: NULL argument");
	rc = check_key(key, key_len, path, err);
	return rc ? rc : save(snap, path, key, key_len, err);
}

/* ---- reading: a cursor over the file's bytes that never reads past them */

struct in {
	const uint8_t *p;
	size_t len, at;
	size_t trailer; /* hash or MAC bytes at the end */
	int keyed;
	const char *path;
	struct nub_error *err;
	int rc;
};

static int bad(struct in *in, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(struct in *in, const char *fmt, ...)
{
	char msg[NUB_ERROR_MSG_MAX];
	va_list ap;

	if (in->rc)
		return in->rc;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	in->rc =
	        nub_error_set(in->err, NUB_ECORRUPT, "%s: %s (at byte %zu)", in->path, msg, in->at);
	return in->rc;
}

static int get(struct in *in, void *v, size_t n, const char *what)
{
	if (in->rc)
		return in->rc;
	if (in->len - in->at < n)
		return bad(in, "truncated in %s", what);
	memcpy(v, in->p + in->at, n);
	in->at += n;
	return 0;
}

static uint32_t get_u32(struct in *in, const char *what)
{
	uint32_t v = 0;
	get(in, &v, 4, what);
	return v;
}

static uint64_t get_u64(struct in *in, const char *what)
{
	uint64_t v = 0;
	get(in, &v, 8, what);
	return v;
}

/* The layout must be exactly what nub_layout_compute makes of its own
 * sizes: then every offset and size in it is one the host would have made
 * itself, and none can point outside scratch or the snapshot. */
static int check_layout(struct in *in, const struct nub_layout *l)
{
	struct nub_layout_config lc;
	struct nub_layout again;
	struct nub_error e = {0};

	nub_layout_config_default(&lc);
	lc.heap_size = l->heap_size;
	lc.scratch_size = l->scratch_size;
	lc.input_size = l->input_size;
	lc.output_size = l->output_size;
	lc.stack_size = l->stack_size;
	lc.exn_stack_size = l->exn_stack_size;
	lc.init_data_size = l->init_data_size;
	lc.pt_reserve = l->pt_reserve;
	if (nub_layout_compute(&lc, l->image_size, &again, &e))
		return bad(in, "layout refused: %s", e.msg);
	if (memcmp(&again, l, sizeof(again)))
		return bad(in, "layout fields disagree with its sizes");
	return 0;
}

/* Each loader refuses the other kind of file, saying which it is. */
static int check_magic(struct in *in, const char magic[8])
{
	if (!in->keyed && !memcmp(magic, SNAPFILE_MAGIC_KEYED, 8))
		return in->rc = nub_error_set(in->err, NUB_ECORRUPT,
		                              "%s: saved with a key: it needs that key to load "
		                              "(nub_snapshot_load_keyed, or the config's "
		                              "snapshot_key)",
		                              in->path);
	if (in->keyed && !memcmp(magic, SNAPFILE_MAGIC, 8))
		return in->rc = nub_error_set(in->err, NUB_ECORRUPT,
		                              "%s: not a keyed snapshot file (saved without a key)",
		                              in->path);
	if (memcmp(magic, in->keyed ? SNAPFILE_MAGIC_KEYED : SNAPFILE_MAGIC, 8))
		return bad(in, "not a nub snapshot (bad magic)");
	return 0;
}

static int read_header(struct in *in, struct nub_snapshot *s)
{
	char magic[8] = {0};
	uint32_t version, header;

	if (get(in, magic, 8, "the magic") || check_magic(in, magic))
		return bad(in, "not a nub snapshot (bad magic)");
	version = get_u32(in, "the header");
	header = get_u32(in, "the header");
	if (!in->rc && (version != SNAPFILE_VERSION || header != SNAPFILE_HEADER)) {
		in->rc =
		        nub_error_set(in->err, NUB_EABI,
		                      "%s: snapshot format %u (header %u bytes), this nub reads "
		                      "format %u (header %u bytes)",
		                      in->path, version, header, SNAPFILE_VERSION, SNAPFILE_HEADER);
		return in->rc;
	}
	s->visible_size = get_u64(in, "the header");
	s->pt_size = get_u64(in, "the header");
	s->entry_gva = get_u64(in, "the header");
	s->dispatch_gva = get_u64(in, "the header");
	s->generation = get_u64(in, "the header");
	s->family = get_u64(in, "the header");
	s->syscall_gva = get_u64(in, "the header");
	s->fs_base = get_u64(in, "the header");
	return in->rc;
}

static int read_layout(struct in *in, struct nub_snapshot *s)
{
	uint64_t words[SNAPFILE_LAYOUT_N];
	uint32_t n = get_u32(in, "the layout");

	if (!in->rc && n != SNAPFILE_LAYOUT_N)
		return bad(in, "layout of %u words, want %zu", n, SNAPFILE_LAYOUT_N);
	for (size_t i = 0; i < SNAPFILE_LAYOUT_N; i++)
		words[i] = get_u64(in, "the layout");
	if (in->rc)
		return in->rc;
	memcpy(&s->layout, words, sizeof(words));
	return check_layout(in, &s->layout);
}

static int read_names(struct in *in, struct nub_snapshot *s)
{
	uint32_t n = get_u32(in, "the function names");

	if (!in->rc && n > NUB_MAX_FN_NAMES)
		return bad(in, "%u function names (at most %u)", n, NUB_MAX_FN_NAMES);
	memset(&s->names, 0, sizeof(s->names));
	for (uint32_t i = 0; !in->rc && i < n; i++) {
		struct nub_fn_name *f = &s->names.fn[i];
		f->id = get_u32(in, "a function name");
		uint32_t len = get_u32(in, "a function name");
		if (!in->rc && (len == 0 || len > NUB_FN_NAME_MAX))
			return bad(in, "function name %u of %u bytes (1..%u)", i, len,
			           NUB_FN_NAME_MAX);
		get(in, f->name, len, "a function name");
		if (!in->rc && memchr(f->name, 0, len))
			return bad(in, "function name %u contains a NUL byte", i);
	}
	s->names.n = n;
	return in->rc;
}

static int read_hot(struct in *in, struct nub_snapshot *s)
{
	uint32_t n = get_u32(in, "the working set");

	if (!in->rc && n > NUB_HOT_MAX)
		return bad(in, "working set of %u pages (at most %u)", n, NUB_HOT_MAX);
	memset(&s->hot, 0, sizeof(s->hot));
	for (uint32_t i = 0; !in->rc && i < n; i++) {
		uint64_t page = get_u64(in, "the working set");
		/* A hint the host checks again when it uses it (a page that is
		 * not CoW is skipped); here only its shape. */
		if (!in->rc && (page % NUB_PAGE_SIZE || page >= NUB_GVA_LIMIT))
			return bad(in, "working-set page 0x%llx", (unsigned long long)page);
		s->hot.page[i] = page;
	}
	s->hot.n = n;
	return in->rc;
}

/* Sizes and addresses against the layout, before any memory is touched. */
static int check_sizes(struct in *in, const struct nub_snapshot *s)
{
	const struct nub_layout *l = &s->layout;

	if (s->visible_size < l->image_gpa - NUB_BASE_GPA || s->visible_size % NUB_PAGE_SIZE ||
	    s->pt_size % NUB_PAGE_SIZE || s->visible_size > SNAPFILE_MAX_MEM ||
	    s->pt_size > l->pt_reserve || s->visible_size > l->scratch_gpa - NUB_BASE_GPA)
		return bad(in, "bad sizes (memory 0x%llx, page tables 0x%llx)",
		           (unsigned long long)s->visible_size, (unsigned long long)s->pt_size);
	if (s->entry_gva < l->image_gpa || s->entry_gva - l->image_gpa >= l->image_size)
		return bad(in, "entry point 0x%llx outside the image",
		           (unsigned long long)s->entry_gva);
	if (s->dispatch_gva >= NUB_GVA_LIMIT)
		return bad(in, "dispatch address 0x%llx", (unsigned long long)s->dispatch_gva);
	if (s->syscall_gva &&
	    (s->syscall_gva < l->image_gpa || s->syscall_gva - l->image_gpa >= l->image_size))
		return bad(in, "system-call entry 0x%llx outside the image",
		           (unsigned long long)s->syscall_gva);
	if (s->fs_base >= NUB_GVA_LIMIT)
		return bad(in, "FS base 0x%llx is not a lower-half address",
		           (unsigned long long)s->fs_base);
	return 0;
}

/* The bitmap of stored pages; the file must end with exactly those pages
 * and the trailer. On success in->at is at the first stored page. */
static int read_bitmap(struct in *in, const struct nub_snapshot *s, uint64_t **bits)
{
	uint64_t pages = (s->visible_size + s->pt_size) / NUB_PAGE_SIZE;
	uint64_t words = get_u64(in, "the page map"), stored = 0;

	if (!in->rc && words != (pages + 63) / 64)
		return bad(in, "page map of %llu words for %llu pages", (unsigned long long)words,
		           (unsigned long long)pages);
	if (!in->rc && in->len - in->at < words * 8)
		return bad(in, "truncated in the page map");
	if (in->rc)
		return in->rc;
	*bits = calloc(words ? words : 1, sizeof(uint64_t));
	if (!*bits)
		return in->rc = nub_error_set(in->err, NUB_ENOMEM, "out of memory loading %s",
		                              in->path);
	for (uint64_t w = 0; w < words; w++) {
		(*bits)[w] = get_u64(in, "the page map");
		if (w == words - 1 && pages % 64 && ((*bits)[w] >> (pages % 64)))
			return bad(in, "page map marks pages beyond the last one");
		stored += (uint64_t)__builtin_popcountll((*bits)[w]);
	}
	if (in->len - in->at != stored * NUB_PAGE_SIZE + in->trailer)
		return bad(in,
		           "file is %zu bytes, its page map says %llu (truncated or trailing data)",
		           in->len,
		           (unsigned long long)(in->at + stored * NUB_PAGE_SIZE + in->trailer));
	return 0;
}

/* How many pages below page `n` the page map stores. */
static uint64_t stored_before(const uint64_t *bits, uint64_t n)
{
	uint64_t count = 0;

	for (uint64_t w = 0; w < n / 64; w++)
		count += (uint64_t)__builtin_popcountll(bits[w]);
	if (n % 64)
		count += (uint64_t)__builtin_popcountll(bits[n / 64] & ((1ull << (n % 64)) - 1));
	return count;
}

/* The file's page tables (the stored pages after the visible part; zero
 * where not stored) are only walked, as data: `fresh` receives tables built
 * from the mappings that pass (snapshot_tables.c), and s->pt_size becomes
 * their size. */
static int read_tables(struct in *in, struct nub_snapshot *s, const uint64_t *bits,
                       struct nub_vmem_buf *fresh)
{
	const uint64_t first = s->visible_size / PAGE, n = s->pt_size / PAGE;
	const uint8_t *at = in->p + in->at + stored_before(bits, first) * PAGE;
	uint8_t *copy = calloc(n ? n : 1, PAGE);

	if (!copy)
		return in->rc = nub_error_set(in->err, NUB_ENOMEM, "out of memory loading %s",
		                              in->path);
	for (uint64_t i = 0; i < n; i++) {
		if (!nub_page_bit(bits, first + i))
			continue;
		memcpy(copy + i * PAGE, at, PAGE);
		at += PAGE;
	}
	in->rc = nub_snapshot_rebuild_tables(&s->layout, s->visible_size, copy, s->pt_size,
	                                     in->path, fresh, in->err);
	free(copy);
	if (!in->rc)
		s->pt_size = nub_vmem_buf_used(fresh);
	return in->rc;
}

/* Fresh (zero) snapshot memory: the stored guest pages, the host's own
 * pages built from the layout (what the file holds at their GPAs is
 * skipped), the rebuilt tables after the visible part. */
static int read_pages(struct in *in, struct nub_snapshot *s, const uint64_t *bits,
                      const struct nub_vmem_buf *fresh)
{
	const uint64_t pages = s->visible_size / PAGE;
	const uint64_t host_pages = (s->layout.image_gpa - NUB_BASE_GPA) / PAGE;
	const uint8_t *at = in->p + in->at;
	int rc = nub_snapshot_alloc_mem(s, in->err);

	for (uint64_t i = 0; !rc && i < pages; i++) {
		if (!nub_page_bit(bits, i))
			continue;
		if (i >= host_pages)
			rc = nub_snapshot_write(s, i * PAGE, at, PAGE, in->err);
		at += PAGE;
	}
	if (!rc)
		rc = nub_snapshot_write_host_pages(s, in->err);
	if (!rc)
		rc = nub_snapshot_write(s, s->visible_size, nub_vmem_buf_bytes(fresh), s->pt_size,
		                        in->err);
	return rc;
}

static int check_hash(struct in *in)
{
	XXH128_canonical_t want, got;
	size_t body = in->len - SNAPFILE_HASH;

	memcpy(want.digest, in->p + body, SNAPFILE_HASH);
	XXH128_canonicalFromHash(&got, XXH3_128bits(in->p, body));
	if (memcmp(want.digest, got.digest, SNAPFILE_HASH))
		return bad(in, "content hash mismatch (corrupt file)");
	return 0;
}

/* Checked first, before anything of the file is read. */
static int check_mac(struct in *in, const void *key, size_t key_len)
{
	uint8_t mac[NUB_SNAPSHOT_MAC_SIZE];
	size_t body = in->len - NUB_SNAPSHOT_MAC_SIZE;

	if (nub_snapshot_mac(in->p, body, key, key_len, mac))
		return in->rc = nub_error_set(in->err, NUB_EINVAL, "%s: the key was refused",
		                              in->path);
	if (!crypto_verify_32(mac, in->p + body))
		return 0;
	/* Only to word the refusal: nothing else of the file is used. */
	if (!memcmp(in->p, SNAPFILE_MAGIC, 8))
		return in->rc = nub_error_set(in->err, NUB_ECORRUPT,
		                              "%s: not authenticated with this key: saved without "
		                              "a key",
		                              in->path);
	return in->rc = nub_error_set(in->err, NUB_ECORRUPT,
	                              "%s: not authenticated with this key (saved with another "
	                              "key, or changed since)",
	                              in->path);
}

/* key: NULL for a file without one (key_len already checked). */
static int load(const void *bytes, size_t len, const char *name, const void *key, size_t key_len,
                struct nub_snapshot **out, struct nub_error *err)
{
	struct in in = {.p = bytes,
	                .len = len,
	                .trailer = key ? NUB_SNAPSHOT_MAC_SIZE : SNAPFILE_HASH,
	                .keyed = key != NULL,
	                .path = name ? name : "snapshot",
	                .err = err};
	struct nub_vmem_buf fresh = {0};
	struct nub_snapshot *s;
	uint64_t *bits = NULL;
	int rc;

	if (!bytes || !out)
		return nub_error_set(err, NUB_EINVAL, "nub_snapshot_load: NULL argument");
	s = nub_snapshot_new_empty();
	if (!s)
		return nub_error_set(err, NUB_ENOMEM, "out of memory loading %s", in.path);
	if (len < SNAPFILE_HEADER + in.trailer)
		bad(&in, "truncated header (%zu bytes)", len);
	if (key && !in.rc)
		check_mac(&in, key, key_len);
	read_header(&in, s);
	read_layout(&in, s);
	read_names(&in, s);
	read_hot(&in, s);
	if (!in.rc)
		check_sizes(&in, s);
	if (!in.rc)
		read_bitmap(&in, s, &bits);
	if (!in.rc && !key)
		check_hash(&in);
	if (!in.rc)
		read_tables(&in, s, bits, &fresh);
	rc = in.rc;
	if (!rc)
		rc = read_pages(&in, s, bits, &fresh);
	if (!rc)
		rc = nub_shmem_seal(s->mem, err);
	nub_vmem_buf_free(&fresh);
	free(bits);
	if (rc) {
		nub_snapshot_unref(s);
		return rc;
	}
	nub_snapshot_rehash(s);
	*out = s;
	return 0;
}

int nub_snapshot_load_bytes(const void *bytes, size_t len, const char *name,
                            struct nub_snapshot **out, struct nub_error *err)
{
	return load(bytes, len, name, NULL, 0, out, err);
}

int nub_snapshot_load_bytes_keyed(const void *bytes, size_t len, const char *name, const void *key,
                                  size_t key_len, struct nub_snapshot **out, struct nub_error *err)
{
	int rc = check_key(key, key_len, name ? name : "snapshot", err);

	return rc ? rc : load(bytes, len, name, key, key_len, out, err);
}

/* The whole file in *buf (the caller frees it). */
static int read_file(const char *path, uint8_t **buf, size_t *len, struct nub_error *err)
{
	struct stat st;
	FILE *f = fopen(path, "rb");
	int rc = 0;

	if (!f)
		return nub_error_set(err, errno == ENOENT ? NUB_ENOTFOUND : NUB_EIO, "%s: %s", path,
		                     strerror(errno));
	if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
		rc = nub_error_set(err, NUB_EIO, "%s: not a regular file", path);
		goto close_file;
	}
	if ((uint64_t)st.st_size > 2 * SNAPFILE_MAX_MEM) {
		rc = nub_error_set(err, NUB_ECORRUPT, "%s: %lld bytes is too large for a snapshot",
		                   path, (long long)st.st_size);
		goto close_file;
	}
	*len = (size_t)st.st_size;
	*buf = malloc(*len ? *len : 1);
	if (!*buf) {
		rc = nub_error_set(err, NUB_ENOMEM, "out of memory loading %s", path);
		goto close_file;
	}
	if (fread(*buf, 1, *len, f) != *len) {
		rc = nub_error_set(err, NUB_EIO, "%s: read failed", path);
		free(*buf);
		*buf = NULL;
	}
close_file:
	fclose(f);
	return rc;
}

int nub_snapshot_load(const char *path, struct nub_snapshot **out, struct nub_error *err)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	if (!path || !out)
		return nub_error_set(err, NUB_EINVAL, "nub_snapshot_load: NULL argument");
	rc = read_file(path, &buf, &len, err);
	if (!rc)
		rc = load(buf, len, path, NULL, 0, out, err);
	free(buf);
	return rc;
}

int nub_snapshot_load_keyed(const char *path, const void *key, size_t key_len,
                            struct nub_snapshot **out, struct nub_error *err)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	if (!path || !out)
		return nub_error_set(err, NUB_EINVAL, "nub_snapshot_load_keyed: NULL argument");
	rc = check_key(key, key_len, path, err);
	if (!rc)
		rc = read_file(path, &buf, &len, err);
	if (!rc)
		rc = load(buf, len, path, key, key_len, out, err);
	free(buf);
	return rc;
}
