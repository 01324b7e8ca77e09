/* SPDX-License-Identifier: MIT */
/* Saving snapshots (format: snapshot_file.h), keyless or with a key, and the
 * keyed MAC both sides compute. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <xxhash.h>

#include "error_internal.h"
#include "image/snapshot_file.h"
#include "image/symbols.h"

/* ---- keys ---- */

int nub_snapshot_check_key(const void *key, size_t key_len, const char *path, struct nub_error *err)
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
	struct nub_hot_set hot;
	nub_snapshot_hot_get(s, &hot);
	put_u32(o, hot.n);
	for (unsigned i = 0; i < hot.n && i < NUB_HOT_MAX; i++)
		put_u64(o, hot.page[i]);
	uint32_t nfns = 0;
	for (uint32_t id = 0; id < NUB_SNAPSHOT_HOST_FNS; id++)
		nfns += (uint32_t)(s->host_fns[id / 64] >> (id % 64) & 1);
	put_u32(o, nfns);
	for (uint32_t id = 0; id < NUB_SNAPSHOT_HOST_FNS; id++)
		if (s->host_fns[id / 64] >> (id % 64) & 1)
			put_u32(o, id);
	uint32_t nsyms = s->syms ? s->syms->n : 0;
	put_u32(o, nsyms);
	for (uint32_t i = 0; i < nsyms; i++) {
		const struct nub_symbol *e = &s->syms->e[i];
		const char *name = s->syms->names + e->name;
		uint32_t len = (uint32_t)strnlen(name, NUB_SYMBOL_NAME_MAX);
		put_u64(o, e->off);
		put_u64(o, e->size);
		put_u32(o, len);
		put(o, name, len);
	}
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

/* The file's bytes into *o (key: NULL for a file without one, key_len
 * already checked); `what` and `path` name them in the out-of-memory
 * message. */
static int encode(const struct nub_snapshot *snap, const void *key, size_t key_len, struct out *o,
                  const char *what, const char *path, struct nub_error *err)
{
	put_meta(o, snap, key ? SNAPFILE_MAGIC_KEYED : SNAPFILE_MAGIC);
	put_memory(o, snap);
	put_trailer(o, key, key_len);
	if (!o->oom)
		return 0;
	free(o->p);
	o->p = NULL;
	return nub_error_set(err, NUB_ENOMEM, "out of memory %s%s", what, path);
}

static int save(const struct nub_snapshot *snap, const char *path, const void *key, size_t key_len,
                struct nub_error *err)
{
	struct out o = {0};
	int rc = encode(snap, key, key_len, &o, "saving ", path, err);

	if (rc)
		return rc;
	rc = write_file(path, &o, err);
	free(o.p);
	return rc;
}

int nub_snapshot_encode(const struct nub_snapshot *snap, uint8_t **bytes, size_t *len,
                        struct nub_error *err)
{
	struct out o = {0};
	int rc = encode(snap, NULL, 0, &o, "encoding a snapshot", "", err);

	if (rc)
		return rc;
	*bytes = o.p;
	*len = o.len;
	return 0;
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
	rc = nub_snapshot_check_key(key, key_len, path, err);
	return rc ? rc : save(snap, path, key, key_len, err);
}
