/* SPDX-License-Identifier: MIT */
/*
 * Saving and loading snapshots. File: a fixed header (magic, version, sizes,
 * layout, entry state, hash), then the snapshot memory (visible part and
 * page tables). Loading trusts nothing: every size is checked against the
 * file and the hash is recomputed before the snapshot is used.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error_internal.h"
#include "snapshot.h"

#define SNAPFILE_MAGIC   "NUBSNAP\0"
#define SNAPFILE_VERSION 1u
/* Refuse absurd sizes before allocating: a snapshot larger than this is
 * not something nub builds. */
#define SNAPFILE_MAX_MEM (64ull << 30)

struct snapfile_header {
	char magic[8];
	uint32_t version;
	uint32_t header_size;
	uint64_t visible_size;
	uint64_t pt_size;
	uint64_t entry_gva;
	uint64_t dispatch_gva;
	uint64_t generation;
	uint64_t family;
	uint32_t has_cpu;
	uint32_t layout_size;
	struct nub_regs regs;
	struct nub_sregs sregs;
	struct nub_layout layout;
	struct nub_fn_names names;
	uint8_t hash[16];
};

int nub_snapshot_save(const struct nub_snapshot *snap, const char *path, struct nub_error *err)
{
	struct snapfile_header h;
	FILE *f;
	int rc = 0;

	if (!snap || !path)
		return nub_error_set(err, NUB_EINVAL, "nub_snapshot_save: NULL argument");
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, SNAPFILE_MAGIC, 8);
	h.version = SNAPFILE_VERSION;
	h.header_size = sizeof(h);
	h.visible_size = snap->visible_size;
	h.pt_size = snap->pt_size;
	h.entry_gva = snap->entry_gva;
	h.dispatch_gva = snap->dispatch_gva;
	h.generation = snap->generation;
	h.family = snap->family;
	h.has_cpu = (uint32_t)snap->has_cpu;
	h.layout_size = sizeof(h.layout);
	h.regs = snap->regs;
	h.sregs = snap->sregs;
	h.layout = snap->layout;
	h.names = snap->names;
	memcpy(h.hash, snap->hash, 16);
	f = fopen(path, "wb");
	if (!f)
		return nub_error_set(err, NUB_EIO, "%s: %s", path, strerror(errno));
	if (fwrite(&h, sizeof(h), 1, f) != 1 ||
	    fwrite(nub_shmem_host(snap->mem), 1, snap->visible_size + snap->pt_size, f) !=
	            snap->visible_size + snap->pt_size)
		rc = nub_error_set(err, NUB_EIO, "%s: write failed: %s", path, strerror(errno));
	if (fclose(f) && !rc)
		rc = nub_error_set(err, NUB_EIO, "%s: close failed: %s", path, strerror(errno));
	return rc;
}

static int check_header(const struct snapfile_header *h, const char *path, uint64_t file_size,
                        struct nub_error *err)
{
	if (memcmp(h->magic, SNAPFILE_MAGIC, 8))
		return nub_error_set(err, NUB_ECORRUPT, "%s: not a nub snapshot (bad magic)", path);
	if (h->version != SNAPFILE_VERSION || h->header_size != sizeof(*h) ||
	    h->layout_size != sizeof(h->layout))
		return nub_error_set(err, NUB_EABI,
		                     "%s: snapshot format %u (header %u bytes), this nub reads "
		                     "format %u (header %zu bytes)",
		                     path, h->version, h->header_size, SNAPFILE_VERSION,
		                     sizeof(*h));
	if (h->visible_size == 0 || h->visible_size % NUB_PAGE_SIZE || h->pt_size % NUB_PAGE_SIZE ||
	    h->visible_size > SNAPFILE_MAX_MEM || h->pt_size > SNAPFILE_MAX_MEM ||
	    h->pt_size > h->layout.pt_reserve)
		return nub_error_set(
		        err, NUB_ECORRUPT, "%s: bad sizes (memory 0x%llx, page tables 0x%llx)",
		        path, (unsigned long long)h->visible_size, (unsigned long long)h->pt_size);
	if (file_size != sizeof(*h) + h->visible_size + h->pt_size)
		return nub_error_set(
		        err, NUB_ECORRUPT,
		        "%s: file is %llu bytes, header says %llu (truncated or "
		        "trailing data)",
		        path, (unsigned long long)file_size,
		        (unsigned long long)(sizeof(*h) + h->visible_size + h->pt_size));
	return 0;
}

static int check_names(const struct nub_fn_names *names, const char *path, struct nub_error *err)
{
	if (names->n > NUB_MAX_FN_NAMES)
		return nub_error_set(err, NUB_ECORRUPT, "%s: %u function names (at most %u)", path,
		                     names->n, NUB_MAX_FN_NAMES);
	for (uint32_t i = 0; i < names->n; i++)
		if (!memchr(names->fn[i].name, 0, sizeof(names->fn[i].name)))
			return nub_error_set(err, NUB_ECORRUPT, "%s: function name %u unterminated",
			                     path, i);
	return 0;
}

static int read_memory(struct nub_snapshot *s, FILE *f, const char *path, struct nub_error *err)
{
	enum { CHUNK = 1 << 16 };
	uint64_t total = s->visible_size + s->pt_size;
	uint8_t *buf = malloc(CHUNK);
	int rc = 0;

	if (!buf)
		return nub_error_set(err, NUB_ENOMEM, "out of memory loading %s", path);
	for (uint64_t off = 0; !rc && off < total; off += CHUNK) {
		size_t n = total - off < CHUNK ? (size_t)(total - off) : CHUNK;
		if (fread(buf, 1, n, f) != n)
			rc = nub_error_set(
			        err, NUB_ECORRUPT, "%s: truncated at byte %llu", path,
			        (unsigned long long)(sizeof(struct snapfile_header) + off));
		else
			rc = nub_shmem_write(s->mem, off, buf, n, err);
	}
	free(buf);
	return rc;
}

static int load_from(FILE *f, const char *path, uint64_t file_size, struct nub_snapshot *s,
                     struct nub_error *err)
{
	struct snapfile_header h;
	uint8_t want[16];
	int rc;

	if (file_size < sizeof(h) || fread(&h, sizeof(h), 1, f) != 1)
		return nub_error_set(err, NUB_ECORRUPT, "%s: truncated header (%llu bytes)", path,
		                     (unsigned long long)file_size);
	rc = check_header(&h, path, file_size, err);
	if (rc)
		return rc;
	s->visible_size = h.visible_size;
	s->pt_size = h.pt_size;
	s->entry_gva = h.entry_gva;
	s->dispatch_gva = h.dispatch_gva;
	s->generation = h.generation;
	s->family = h.family;
	s->has_cpu = h.has_cpu != 0;
	s->regs = h.regs;
	s->sregs = h.sregs;
	s->layout = h.layout;
	rc = check_names(&h.names, path, err);
	if (rc)
		return rc;
	s->names = h.names;
	rc = nub_shmem_create(s->visible_size + s->pt_size, &s->mem, err);
	if (!rc)
		rc = read_memory(s, f, path, err);
	if (!rc)
		rc = nub_shmem_seal(s->mem, err);
	if (rc)
		return rc;
	memcpy(want, h.hash, 16);
	nub_snapshot_rehash(s);
	if (memcmp(want, s->hash, 16))
		return nub_error_set(err, NUB_ECORRUPT, "%s: content hash mismatch (corrupt file)",
		                     path);
	return 0;
}

int nub_snapshot_load(const char *path, struct nub_snapshot **out, struct nub_error *err)
{
	struct nub_snapshot *s;
	struct stat st;
	FILE *f;
	int rc;

	if (!path || !out)
		return nub_error_set(err, NUB_EINVAL, "nub_snapshot_load: NULL argument");
	f = fopen(path, "rb");
	if (!f)
		return nub_error_set(err, errno == ENOENT ? NUB_ENOTFOUND : NUB_EIO, "%s: %s", path,
		                     strerror(errno));
	if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
		rc = nub_error_set(err, NUB_EIO, "%s: not a regular file", path);
		goto close_file;
	}
	s = nub_snapshot_new_empty();
	if (!s) {
		rc = nub_error_set(err, NUB_ENOMEM, "out of memory loading %s", path);
		goto close_file;
	}
	rc = load_from(f, path, (uint64_t)st.st_size, s, err);
	if (rc) {
		nub_snapshot_unref(s);
		goto close_file;
	}
	*out = s;
close_file:
	fclose(f);
	return rc;
}
