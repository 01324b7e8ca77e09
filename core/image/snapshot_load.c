/* SPDX-License-Identifier: MIT */
/* Loading snapshot files (format: snapshot_file.h): the MAC or hash first,
 * then every field checked against the rest before any memory is touched;
 * what the host owns rebuilt, never taken from the file. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>
#include <xxhash.h>

#include "error_internal.h"
#include "image/snapshot_file.h"
#include "image/symbols.h"

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
	lc.args_size = l->args_size;
	lc.files_size = l->files_size;
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

/* The host functions it needs: ids ascending, each below the id space;
 * none for a snapshot taken before init. */
static int read_host_fns(struct in *in, struct nub_snapshot *s)
{
	uint32_t n = get_u32(in, "the host functions needed");
	int64_t last = -1;

	if (!in->rc && n > NUB_SNAPSHOT_HOST_FNS)
		return bad(in, "%u host functions needed (at most %u)", n, NUB_SNAPSHOT_HOST_FNS);
	if (!in->rc && n && !s->dispatch_gva)
		return bad(in, "%u host functions needed by a snapshot taken before init", n);
	memset(s->host_fns, 0, sizeof(s->host_fns));
	for (uint32_t i = 0; !in->rc && i < n; i++) {
		uint32_t id = get_u32(in, "the host functions needed");
		if (!in->rc && (id >= NUB_SNAPSHOT_HOST_FNS || (int64_t)id <= last))
			return bad(in, "host function id %u needed (ascending, below %u)", id,
			           NUB_SNAPSHOT_HOST_FNS);
		s->host_fns[id / 64] |= 1ull << (id % 64);
		last = id;
	}
	return in->rc;
}

/* The ELF's function symbols, for messages: names 1..63 printable bytes,
 * offsets ascending and inside the image. */
static int read_symbols(struct in *in, struct nub_snapshot *s)
{
	uint32_t n = get_u32(in, "the symbols");
	uint64_t last = 0;
	char name[NUB_SYMBOL_NAME_MAX];

	if (in->rc || !n)
		return in->rc;
	if (n > NUB_SYMBOLS_MAX)
		return bad(in, "%u symbols (at most %u)", n, NUB_SYMBOLS_MAX);
	s->syms = nub_symbols_new(n, (size_t)n * (NUB_SYMBOL_NAME_MAX + 1));
	if (!s->syms)
		return in->rc = nub_error_set(in->err, NUB_ENOMEM, "%s: out of memory for symbols",
		                              in->path);
	for (uint32_t i = 0; !in->rc && i < n; i++) {
		uint64_t off = get_u64(in, "a symbol"), size = get_u64(in, "a symbol");
		uint32_t len = get_u32(in, "a symbol");
		if (!in->rc && (len == 0 || len > NUB_SYMBOL_NAME_MAX))
			return bad(in, "symbol %u: a name of %u bytes (1..%u)", i, len,
			           NUB_SYMBOL_NAME_MAX);
		get(in, name, len, "a symbol");
		for (uint32_t k = 0; !in->rc && k < len; k++)
			if (name[k] <= 0x20 || name[k] >= 0x7f)
				return bad(in, "symbol %u: a name byte 0x%02x", i,
				           (uint8_t)name[k]);
		if (!in->rc && (off < last || !size || off >= s->layout.image_size ||
		                size > s->layout.image_size - off))
			return bad(in,
			           "symbol %u at image offset 0x%llx (+0x%llx): out of order or "
			           "outside the image",
			           i, (unsigned long long)off, (unsigned long long)size);
		if (!in->rc)
			nub_symbols_push(s->syms, off, size, name, len);
		last = off;
	}
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
	read_host_fns(&in, s);
	read_symbols(&in, s);
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
	int rc = nub_snapshot_check_key(key, key_len, name ? name : "snapshot", err);

	return rc ? rc : load(bytes, len, name, key, key_len, out, err);
}

int nub_snapshot_read_file(const char *path, uint8_t **buf, size_t *len, struct nub_error *err)
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
	rc = nub_snapshot_read_file(path, &buf, &len, err);
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
	rc = nub_snapshot_check_key(key, key_len, path, err);
	if (!rc)
		rc = nub_snapshot_read_file(path, &buf, &len, err);
	if (!rc)
		rc = load(buf, len, path, key, key_len, out, err);
	free(buf);
	return rc;
}
