/* SPDX-License-Identifier: MIT */
/*
 * /tmp for the C library flavour: a small writable directory in the
 * guest's own heap, for programs that need scratch files (SQLite's
 * temporary files, Lua's io.tmpfile). It is flat (files only, no
 * subdirectories) and holds at most RT_TMP_FILES files; their bytes are
 * malloc'd, so the heap bounds them and a restore, which brings the heap
 * back, empties it. Each sandbox has its own: nothing here is shared.
 *
 * rt_files.c routes paths and descriptors here; this file keeps the files
 * and their bytes. A file unlinked while open lives until its last close,
 * as on Linux.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "rt.h"

#define RT_TMP_FILES 128u

struct rt_tmp_file {
	char name[256]; /* "" once unlinked */
	uint8_t *data;
	size_t size, cap;
	uint32_t mode, opens;
	int64_t mtime;
	int used;
};

static struct rt_tmp_file rt_tmp[RT_TMP_FILES];

static struct rt_tmp_file *get(uint32_t i)
{
	return i < RT_TMP_FILES && rt_tmp[i].used ? &rt_tmp[i] : NULL;
}

static void release(struct rt_tmp_file *f)
{
	if (f->opens || f->name[0])
		return;
	free(f->data);
	memset(f, 0, sizeof(*f));
}

long rt_tmp_find(const char *name)
{
	for (uint32_t i = 0; i < RT_TMP_FILES; i++)
		if (rt_tmp[i].used && rt_tmp[i].name[0] && !strcmp(rt_tmp[i].name, name))
			return (long)i;
	return -ENOENT;
}

long rt_tmp_create(const char *name, uint32_t mode)
{
	size_t n = strlen(name);

	if (n >= sizeof(rt_tmp[0].name))
		return -ENAMETOOLONG;
	for (uint32_t i = 0; i < RT_TMP_FILES; i++) {
		struct rt_tmp_file *f = &rt_tmp[i];
		if (f->used)
			continue;
		memset(f, 0, sizeof(*f));
		memcpy(f->name, name, n + 1);
		f->mode = S_IFREG | (mode & 07777);
		f->mtime = (int64_t)time(NULL);
		f->used = 1;
		return (long)i;
	}
	return -ENOSPC;
}

void rt_tmp_open(uint32_t i)
{
	struct rt_tmp_file *f = get(i);

	if (f)
		f->opens++;
}

void rt_tmp_close(uint32_t i)
{
	struct rt_tmp_file *f = get(i);

	if (f && f->opens) {
		f->opens--;
		release(f);
	}
}

long rt_tmp_unlink(const char *name)
{
	long i = rt_tmp_find(name);

	if (i < 0)
		return i;
	rt_tmp[i].name[0] = 0;
	release(&rt_tmp[i]);
	return 0;
}

long rt_tmp_rename(const char *from, const char *to)
{
	long i = rt_tmp_find(from), j;

	if (i < 0)
		return i;
	if (strlen(to) >= sizeof(rt_tmp[0].name))
		return -ENAMETOOLONG;
	j = rt_tmp_find(to);
	if (j == i)
		return 0;
	if (j >= 0)
		rt_tmp_unlink(to);
	strcpy(rt_tmp[i].name, to);
	return 0;
}

long rt_tmp_truncate(uint32_t i, int64_t size)
{
	struct rt_tmp_file *f = get(i);

	if (!f)
		return -EBADF;
	if (size < 0)
		return -EINVAL;
	if ((uint64_t)size > f->cap) {
		uint8_t *d = realloc(f->data, (size_t)size);
		if (!d)
			return -ENOSPC;
		f->data = d;
		f->cap = (size_t)size;
	}
	if ((size_t)size > f->size)
		memset(f->data + f->size, 0, (size_t)size - f->size);
	f->size = (size_t)size;
	return 0;
}

long rt_tmp_read(uint32_t i, void *buf, size_t len, uint64_t pos)
{
	struct rt_tmp_file *f = get(i);
	size_t n;

	if (!f)
		return -EBADF;
	if (pos >= f->size)
		return 0;
	n = f->size - pos < len ? (size_t)(f->size - pos) : len;
	memcpy(buf, f->data + pos, n);
	return (long)n;
}

long rt_tmp_write(uint32_t i, const void *buf, size_t len, uint64_t pos)
{
	struct rt_tmp_file *f = get(i);
	uint64_t end;

	if (!f)
		return -EBADF;
	if (__builtin_add_overflow(pos, (uint64_t)len, &end) || end > (uint64_t)INT64_MAX)
		return -EFBIG;
	if (end > f->cap) {
		size_t cap = f->cap ? f->cap : 4096;
		uint8_t *d;
		while (cap < end)
			cap = cap > SIZE_MAX / 2 ? (size_t)end : cap * 2;
		d = realloc(f->data, cap);
		if (!d)
			return -ENOSPC;
		f->data = d;
		f->cap = cap;
	}
	if (pos > f->size)
		memset(f->data + f->size, 0, (size_t)(pos - f->size));
	memcpy(f->data + pos, buf, len);
	if (end > f->size)
		f->size = (size_t)end;
	return (long)len;
}

uint64_t rt_tmp_size(uint32_t i)
{
	struct rt_tmp_file *f = get(i);

	return f ? f->size : 0;
}

void rt_tmp_chmod(uint32_t i, uint32_t mode)
{
	struct rt_tmp_file *f = get(i);

	if (f)
		f->mode = S_IFREG | (mode & 07777);
}

void rt_tmp_stat(long i, struct stat *st)
{
	const struct rt_tmp_file *f = i >= 0 ? get((uint32_t)i) : NULL;

	memset(st, 0, sizeof(*st));
	st->st_dev = 0x746d70; /* "tmp" */
	st->st_ino = f ? (ino_t)i + 2 : 1;
	st->st_mode = f ? f->mode : S_IFDIR | 01777;
	st->st_nlink = f ? (f->name[0] ? 1 : 0) : 2;
	st->st_size = f ? (off_t)f->size : 4096;
	st->st_blksize = 4096;
	st->st_blocks = f ? (blkcnt_t)((f->size + 511) / 512) : 8;
	st->st_mtim.tv_sec = st->st_ctim.tv_sec = st->st_atim.tv_sec = f ? f->mtime : 0;
}

long rt_tmp_entry(uint64_t k, const char **name, uint32_t *mode)
{
	for (uint64_t i = k; i < RT_TMP_FILES; i++) {
		if (rt_tmp[i].used && rt_tmp[i].name[0]) {
			*name = rt_tmp[i].name;
			*mode = rt_tmp[i].mode;
			return (long)i;
		}
	}
	return -1;
}
