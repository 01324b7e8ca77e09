/* SPDX-License-Identifier: MIT */
/*
 * The file tree image (guest_abi.h: struct nub_fs_header): host directories
 * scanned into one tree (merged at their guest paths), then laid out
 * breadth first so that every directory's children are consecutive entries
 * sorted by name, and each file's bytes start on a page of their own.
 *
 * Host side: nothing here follows a symbolic link (a link is packed as a
 * link, and the guest resolves it inside its own tree), and every file is
 * read through a descriptor opened O_NOFOLLOW and checked to be the same
 * regular file of the same size that the scan saw.
 */
/* O_NOFOLLOW, openat, fdopendir: _GNU_SOURCE comes from the build. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nub/guest_abi.h>

#include "error_internal.h"
#include "image/guest_data.h"

#define PAGE      4096ull
#define MAX_DEPTH 128
#define DIR_MODE  (S_IFDIR | 0755)

struct fnode {
	char *name;
	uint32_t mode;
	int64_t mtime;
	uint64_t size;
	char *host; /* files: host path; links: the target text */
	dev_t dev;  /* files: what the scan saw, checked at read */
	ino_t ino;
	struct fnode **kids;
	uint32_t nkids, cap;
	uint32_t index, first;
	uint64_t data_off;
	struct fnode *parent;
};

struct pack {
	struct nub_error *err;
	struct fnode root;
	uint32_t count; /* entries, the root included */
	uint64_t names, files;
	size_t dir_i; /* which of dirs[] is being scanned */
};

static void node_free(struct fnode *n)
{
	for (uint32_t i = 0; i < n->nkids; i++) {
		node_free(n->kids[i]);
		free(n->kids[i]);
	}
	free(n->kids);
	free(n->name);
	free(n->host);
}

static struct fnode *kid_find(const struct fnode *dir, const char *name)
{
	for (uint32_t i = 0; i < dir->nkids; i++)
		if (!strcmp(dir->kids[i]->name, name))
			return dir->kids[i];
	return NULL;
}

static int kid_add(struct pack *p, struct fnode *dir, const char *name, struct fnode **out)
{
	struct fnode *n;

	if (p->count >= NUB_FILES_MAX)
		return nub_error_set(p->err, NUB_EOVERFLOW,
		                     "dirs: more than NUB_FILES_MAX (%u) files and directories",
		                     NUB_FILES_MAX);
	if (dir->nkids == dir->cap) {
		uint32_t cap = dir->cap ? dir->cap * 2 : 8;
		struct fnode **k = realloc(dir->kids, cap * sizeof(*k));
		if (!k)
			return nub_error_set(p->err, NUB_ENOMEM, "out of memory packing the dirs");
		dir->kids = k;
		dir->cap = cap;
	}
	n = calloc(1, sizeof(*n));
	if (!n || !(n->name = strdup(name))) {
		free(n);
		return nub_error_set(p->err, NUB_ENOMEM, "out of memory packing the dirs");
	}
	n->parent = dir;
	dir->kids[dir->nkids++] = n;
	p->count++;
	p->names += strlen(name);
	*out = n;
	return 0;
}

static char *path_join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = malloc(la + lb + 2);

	if (s) {
		memcpy(s, a, la);
		s[la] = '/';
		memcpy(s + la + 1, b, lb + 1);
	}
	return s;
}

static int sys_fail(struct pack *p, const char *what, const char *path)
{
	int e = errno;

	return nub_error_set(p->err, e == ENOENT ? NUB_ENOTFOUND : NUB_ESYS, "dirs[%zu]: %s %s: %s",
	                     p->dir_i, what, path, strerror(e));
}

static int scan_dir(struct pack *p, struct fnode *dir, int dfd, const char *path, int depth);

/* One directory entry of the host tree, into `dir`. */
static int scan_entry(struct pack *p, struct fnode *dir, int dfd, const char *path,
                      const char *name, int depth)
{
	struct fnode *n = kid_find(dir, name);
	char *full = path_join(path, name);
	struct stat st;
	int rc = 0;

	if (!full)
		return nub_error_set(p->err, NUB_ENOMEM, "out of memory packing the dirs");
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW)) {
		rc = sys_fail(p, "cannot stat", full);
		goto free_path;
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
		goto free_path; /* devices, sockets, FIFOs: not part of a file tree */
	if (n && !(S_ISDIR(st.st_mode) && S_ISDIR(n->mode))) {
		rc = nub_error_set(p->err, NUB_EINVAL,
		                   "dirs[%zu]: %s: its guest path is also given by an earlier dir "
		                   "(only directories merge)",
		                   p->dir_i, full);
		goto free_path;
	}
	if (!n && (rc = kid_add(p, dir, name, &n)))
		goto free_path;
	n->mode = (uint32_t)(st.st_mode & (S_IFMT | 07777));
	n->mtime = (int64_t)st.st_mtim.tv_sec;
	if (S_ISDIR(st.st_mode)) {
		int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0) {
			rc = sys_fail(p, "cannot open directory", full);
			goto free_path;
		}
		rc = scan_dir(p, n, sub, full, depth + 1); /* closes sub */
	} else if (S_ISREG(st.st_mode)) {
		n->size = (uint64_t)st.st_size;
		n->dev = st.st_dev;
		n->ino = st.st_ino;
		n->host = full;
		full = NULL;
		p->files += (n->size + PAGE - 1) & ~(PAGE - 1);
		if (p->files > NUB_FILES_BYTES_MAX)
			rc = nub_error_set(
			        p->err, NUB_EOVERFLOW,
			        "dirs: more than NUB_FILES_BYTES_MAX (%llu bytes) of files",
			        (unsigned long long)NUB_FILES_BYTES_MAX);
	} else {
		char target[4096];
		ssize_t len = readlinkat(dfd, name, target, sizeof(target));
		if (len < 0 || (size_t)len == sizeof(target)) {
			if (len >= 0)
				errno = ENAMETOOLONG;
			rc = sys_fail(p, "cannot read link", full);
			goto free_path;
		}
		n->size = (uint64_t)len;
		n->host = strndup(target, (size_t)len);
		if (!n->host)
			rc = nub_error_set(p->err, NUB_ENOMEM, "out of memory packing the dirs");
		p->names += (uint64_t)len;
	}
free_path:
	free(full);
	return rc;
}

/* Every entry of the host directory open at dfd (closed here). */
static int scan_dir(struct pack *p, struct fnode *dir, int dfd, const char *path, int depth)
{
	DIR *d;
	struct dirent *e;
	int rc = 0;

	if (depth > MAX_DEPTH) {
		close(dfd);
		return nub_error_set(p->err, NUB_EOVERFLOW,
		                     "dirs[%zu]: %s: more than %d directories deep", p->dir_i, path,
		                     MAX_DEPTH);
	}
	d = fdopendir(dfd);
	if (!d) {
		rc = sys_fail(p, "cannot list", path);
		close(dfd);
		return rc;
	}
	while (!rc) {
		errno = 0;
		e = readdir(d);
		if (!e) {
			if (errno)
				rc = sys_fail(p, "cannot list", path);
			break;
		}
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		rc = scan_entry(p, dir, dirfd(d), path, e->d_name, depth);
	}
	closedir(d);
	return rc;
}

/* The directory node at an absolute guest path, made (with its parents)
 * where missing. */
static int guest_dir(struct pack *p, const char *gpath, struct fnode **out)
{
	struct fnode *at = &p->root;
	const char *s = gpath;

	if (!gpath || gpath[0] != '/')
		return nub_error_set(p->err, NUB_EINVAL,
		                     "dirs[%zu]: guest path \"%.64s\" is not absolute", p->dir_i,
		                     gpath ? gpath : "(null)");
	while (*s) {
		char name[256];
		size_t n;
		struct fnode *k;
		int rc;

		while (*s == '/')
			s++;
		n = strcspn(s, "/");
		if (!n)
			break;
		if (n >= sizeof(name) || (n == 1 && s[0] == '.') ||
		    (n == 2 && s[0] == '.' && s[1] == '.'))
			return nub_error_set(
			        p->err, NUB_EINVAL,
			        "dirs[%zu]: guest path \"%.64s\" has a \".\", \"..\" or "
			        "over-long component",
			        p->dir_i, gpath);
		memcpy(name, s, n);
		name[n] = 0;
		s += n;
		k = kid_find(at, name);
		if (k && !S_ISDIR(k->mode))
			return nub_error_set(
			        p->err, NUB_EINVAL,
			        "dirs[%zu]: guest path \"%.64s\" runs through a file an "
			        "earlier dir gives",
			        p->dir_i, gpath);
		if (!k) {
			rc = kid_add(p, at, name, &k);
			if (rc)
				return rc;
			k->mode = DIR_MODE;
		}
		at = k;
	}
	*out = at;
	return 0;
}

static int scan_top(struct pack *p, const struct nub_dir *d)
{
	struct fnode *at = NULL;
	struct stat st;
	int dfd, rc;

	if (!d->host_path)
		return nub_error_set(p->err, NUB_EINVAL, "dirs[%zu]: host_path is NULL", p->dir_i);
	rc = guest_dir(p, d->guest_path, &at);
	if (rc)
		return rc;
	dfd = open(d->host_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return sys_fail(p, "cannot open directory", d->host_path);
	if (fstat(dfd, &st) == 0) {
		at->mode = (uint32_t)(st.st_mode & (S_IFMT | 07777));
		at->mtime = (int64_t)st.st_mtim.tv_sec;
	}
	return scan_dir(p, at, dfd, d->host_path, 0);
}

/* ---- layout ---- */

static int by_name(const void *a, const void *b)
{
	return strcmp((*(struct fnode *const *)a)->name, (*(struct fnode *const *)b)->name);
}

/* Entries breadth first: order[i] is entry i. */
static void number(struct pack *p, struct fnode **order)
{
	uint32_t n = 1;

	order[0] = &p->root;
	for (uint32_t i = 0; i < n; i++) {
		struct fnode *d = order[i];
		d->index = i;
		if (!S_ISDIR(d->mode))
			continue;
		if (d->nkids) /* an empty directory has no array */
			qsort(d->kids, d->nkids, sizeof(*d->kids), by_name);
		d->first = n;
		for (uint32_t k = 0; k < d->nkids; k++)
			order[n++] = d->kids[k];
	}
}

/* Exactly n->size bytes of the file the scan saw, or an error naming it. */
static int read_file(struct pack *p, const struct fnode *n, uint8_t *dst)
{
	int fd = open(n->host, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	uint64_t done = 0;
	int rc = 0;

	if (fd < 0)
		return sys_fail(p, "cannot open", n->host);
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_dev != n->dev || st.st_ino != n->ino ||
	    (uint64_t)st.st_size != n->size) {
		rc = nub_error_set(p->err, NUB_ESYS, "dirs: %s changed while it was being packed",
		                   n->host);
		goto close_file;
	}
	while (done < n->size) {
		ssize_t got = pread(fd, dst + done, n->size - done, (off_t)done);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			rc = got < 0 ? sys_fail(p, "cannot read", n->host)
			             : nub_error_set(p->err, NUB_ESYS,
			                             "dirs: %s changed while it was being packed",
			                             n->host);
			break;
		}
		done += (uint64_t)got;
	}
close_file:
	close(fd);
	return rc;
}

static int write_image(struct pack *p, struct fnode **order, struct nub_packed *out)
{
	struct nub_fs_header h = {.magic = NUB_FS_MAGIC, .count = p->count};
	uint64_t name_at = 0, data_at;
	struct nub_fs_entry *ents;
	uint8_t *img;
	int rc = 0;

	h.entries_off = (sizeof(h) + 7) & ~7ull;
	h.names_off = h.entries_off + (uint64_t)p->count * sizeof(struct nub_fs_entry);
	h.names_size = p->names;
	data_at = (h.names_off + h.names_size + PAGE - 1) & ~(PAGE - 1);
	h.size = data_at + p->files;
	img = calloc(1, h.size);
	if (!img)
		return nub_error_set(p->err, NUB_ENOMEM,
		                     "out of memory packing the dirs (%llu bytes)",
		                     (unsigned long long)h.size);
	memcpy(img, &h, sizeof(h));
	ents = (struct nub_fs_entry *)(img + h.entries_off);
	for (uint32_t i = 0; !rc && i < p->count; i++) {
		const struct fnode *n = order[i];
		struct nub_fs_entry *e = &ents[i];
		size_t len = i ? strlen(n->name) : 0;

		e->mode = n->mode;
		e->parent = i ? n->parent->index : 0;
		e->name_off = (uint32_t)name_at;
		e->name_len = (uint32_t)len;
		memcpy(img + h.names_off + name_at, n->name ? n->name : "", len);
		name_at += len;
		e->mtime = n->mtime;
		e->size = n->size;
		if (S_ISDIR(n->mode)) {
			e->first = n->first;
			e->nchild = n->nkids;
		} else if (S_ISLNK(n->mode)) {
			e->data_off = h.names_off + name_at;
			memcpy(img + e->data_off, n->host, n->size);
			name_at += n->size;
		} else {
			e->data_off = data_at;
			rc = read_file(p, n, img + data_at);
			data_at += (n->size + PAGE - 1) & ~(PAGE - 1);
		}
	}
	if (rc) {
		free(img);
		return rc;
	}
	out->bytes = img;
	out->size = h.size;
	return 0;
}

int nub_files_pack(const struct nub_dir *dirs, size_t n, struct nub_packed *out,
                   struct nub_error *err)
{
	struct pack p = {.err = err, .count = 1};
	struct fnode **order = NULL;
	int rc = 0;

	out->bytes = NULL;
	out->size = 0;
	if (!n)
		return 0;
	if (!dirs)
		return nub_error_set(err, NUB_EINVAL, "dirs_count %zu but dirs is NULL", n);
	p.root.mode = DIR_MODE;
	p.root.name = NULL;
	for (p.dir_i = 0; !rc && p.dir_i < n; p.dir_i++)
		rc = scan_top(&p, &dirs[p.dir_i]);
	if (rc)
		goto free_tree;
	order = calloc(p.count, sizeof(*order));
	if (!order) {
		rc = nub_error_set(err, NUB_ENOMEM, "out of memory packing the dirs");
		goto free_tree;
	}
	number(&p, order);
	rc = write_image(&p, order, out);
	free(order);
free_tree:
	node_free(&p.root);
	return rc;
}
