/* SPDX-License-Identifier: MIT */
/*
 * Files for the C library flavour: the read-only tree the host packed into
 * the snapshot (guest_abi.h: struct nub_fs_header, at PEB files_gva) and
 * the descriptors that read it. The image is the host's, but a snapshot
 * file could have been edited: every offset, index and length is checked
 * against the image before it is used, and a bad one is EIO, never a read
 * outside it.
 *
 * Paths resolve as Linux resolves them, inside the tree: "." and "..",
 * symbolic links (at most RT_LINKS_MAX per lookup; a target that leaves
 * the tree cannot, since ".." stops at its root), a trailing slash only on
 * a directory. Anything that would write to the tree is EROFS.
 *
 * /tmp is the writable directory of rt_tmp.c, whatever the tree holds
 * there: a path is routed to it when, made absolute against the working
 * directory and with "." and ".." removed as text, it is /tmp or a name in
 * /tmp.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* AT_EMPTY_PATH, O_PATH, strnlen (the host build of fuzz_files sets it) */
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <nubguest.h>

#include "rt.h"

#define PAGE         4096ul
#define RT_PATH_MAX  4096u
#define RT_LINKS_MAX 40
#define RT_FDS       256u
#define RT_FD_FIRST  3 /* 0, 1, 2: stdin, stdout, stderr (rt_libc.c) */

struct rt_tree {
	const uint8_t *base; /* NULL: no tree */
	uint64_t size;
	const struct nub_fs_entry *ents;
	uint32_t count;
	const char *names;
	uint64_t names_size;
};

enum rt_fd_kind { FD_FREE = 0, FD_FILE, FD_DIR, FD_TMP, FD_TMPDIR };

struct rt_fd {
	uint32_t kind, ent;
	uint64_t pos; /* files: byte offset; directories: entries listed */
	uint32_t flags;
};

static struct rt_tree rt_tree;
static struct rt_fd rt_fds[RT_FDS];
static int64_t rt_cwd = -1; /* entry of the working directory; -1: not in the tree */
static char rt_cwd_path[RT_PATH_MAX] = "/";
/* Lookups splice link targets here (not on the caller's stack). */
static char rt_walk_buf[2][RT_PATH_MAX];

/* ---- the image, checked ---- */

static const struct nub_fs_entry *ent(uint32_t i)
{
	return i < rt_tree.count ? &rt_tree.ents[i] : NULL;
}

static int ent_name(const struct nub_fs_entry *e, const char **name, size_t *len)
{
	if (e->name_off > rt_tree.names_size || e->name_len > rt_tree.names_size - e->name_off)
		return -EIO;
	*name = rt_tree.names + e->name_off;
	*len = e->name_len;
	return 0;
}

/* The bytes of a file or a link's target, inside the image. */
static int ent_data(const struct nub_fs_entry *e, const uint8_t **p)
{
	if (e->data_off > rt_tree.size || e->size > rt_tree.size - e->data_off)
		return -EIO;
	*p = rt_tree.base + e->data_off;
	return 0;
}

static int is_dir(const struct nub_fs_entry *e)
{
	return S_ISDIR(e->mode);
}

static long lookup(int64_t start, const char *path, int follow);

void rt_files_setup(const struct nub_peb *peb, const char *cwd)
{
	const struct nub_fs_header *h;
	long at;

	memset(&rt_tree, 0, sizeof(rt_tree));
	if (peb->struct_size >= sizeof(*peb) && peb->files_size >= sizeof(*h)) {
		h = (const struct nub_fs_header *)peb->files_gva;
		if (h->magic != NUB_FS_MAGIC || h->size > peb->files_size || !h->count ||
		    h->entries_off > h->size ||
		    h->count > (h->size - h->entries_off) / sizeof(struct nub_fs_entry) ||
		    h->names_off > h->size || h->names_size > h->size - h->names_off)
			nub_abort(NUB_ABORT_CORRUPT, "file tree: header corrupt");
		rt_tree.base = (const uint8_t *)h;
		rt_tree.size = h->size;
		rt_tree.ents = (const struct nub_fs_entry *)(rt_tree.base + h->entries_off);
		rt_tree.count = h->count;
		rt_tree.names = (const char *)rt_tree.base + h->names_off;
		rt_tree.names_size = h->names_size;
	}
	if (strlen(cwd) < sizeof(rt_cwd_path))
		strcpy(rt_cwd_path, cwd);
	rt_cwd = -1;
	if (rt_tree.base) {
		at = lookup(0, rt_cwd_path, 1);
		if (at >= 0 && is_dir(ent((uint32_t)at)))
			rt_cwd = at;
	}
}

/* ---- lookups ---- */

/* The child of directory d named [name, name + n), by binary search. */
static long child(const struct nub_fs_entry *d, const char *name, size_t n)
{
	uint32_t lo = 0, hi = d->nchild;

	if (d->first > rt_tree.count || d->nchild > rt_tree.count - d->first)
		return -EIO;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const char *s;
		size_t len;
		int c;
		if (ent_name(&rt_tree.ents[d->first + mid], &s, &len))
			return -EIO;
		c = memcmp(s, name, len < n ? len : n);
		if (!c)
			c = len < n ? -1 : len > n;
		if (!c)
			return d->first + mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -ENOENT;
}

static int only_slashes(const char *p)
{
	while (*p == '/')
		p++;
	return !*p;
}

/* Resolve path from directory entry `start` (-1: none, so a relative path
 * finds nothing). follow: a final symbolic link is followed. Returns the
 * entry index or -errno. */
static long lookup(int64_t start, const char *path, int follow)
{
	const char *p = path;
	int links = 0, cur = 0;
	int64_t at = start;

	if (!rt_tree.base)
		return -ENOENT;
	if (!*p)
		return -ENOENT;
	if (strnlen(p, RT_PATH_MAX) == RT_PATH_MAX)
		return -ENAMETOOLONG;
	if (*p == '/')
		at = 0;
	if (at < 0)
		return -ENOENT;
	for (;;) {
		const struct nub_fs_entry *d = ent((uint32_t)at), *e;
		const char *next;
		size_t n;
		long k;

		while (*p == '/')
			p++;
		if (!*p)
			return at;
		if (!d || !is_dir(d))
			return d ? -ENOTDIR : -EIO;
		n = strcspn(p, "/");
		next = p + n;
		if (n > 255)
			return -ENAMETOOLONG;
		if (n == 1 && p[0] == '.')
			k = at;
		else if (n == 2 && p[0] == '.' && p[1] == '.')
			k = d->parent; /* the root's parent is the root */
		else
			k = child(d, p, n);
		if (k < 0)
			return k;
		e = ent((uint32_t)k);
		if (!e)
			return -EIO;
		if (S_ISLNK(e->mode) && (follow || !only_slashes(next) || *next == '/')) {
			const uint8_t *t;
			size_t rest = strlen(next);
			char *nb = rt_walk_buf[cur ^= 1];
			if (++links > RT_LINKS_MAX)
				return -ELOOP;
			if (ent_data(e, &t))
				return -EIO;
			if (!e->size)
				return -ENOENT;
			if (e->size + rest + 1 > RT_PATH_MAX)
				return -ENAMETOOLONG;
			memcpy(nb, t, e->size);
			memcpy(nb + e->size, next, rest + 1);
			if (memchr(nb, 0, e->size))
				return -EIO;
			p = nb;
			if (*p == '/')
				at = 0; /* else: relative to the link's own directory */
			continue;
		}
		if (*next == '/' && !is_dir(e) && only_slashes(next))
			return -ENOTDIR;
		at = k;
		p = next;
	}
}

/* ---- descriptors ---- */

static struct rt_fd *fd_get(long fd);

/* Whether a path is /tmp's: 1 with *name its file name ("" for /tmp
 * itself), 0 when it is the tree's, or -errno (a path below a name in
 * /tmp, which is flat). */
static int tmp_path(long dirfd, const char *path, const char **name)
{
	char *abs = rt_walk_buf[0], *norm = rt_walk_buf[1];
	size_t n = 0, len = strlen(path);
	const char *base = "";
	const char *p;

	if (path[0] != '/') {
		const struct rt_fd *f = dirfd == AT_FDCWD ? NULL : fd_get(dirfd);
		if (dirfd == AT_FDCWD)
			base = rt_cwd_path;
		else if (f && f->kind == FD_TMPDIR)
			base = "/tmp";
		else
			return 0; /* relative to a directory of the tree */
	}
	if (strlen(base) + len + 2 > RT_PATH_MAX)
		return 0;
	strcpy(abs, base);
	strcat(abs, "/");
	strcat(abs, path);
	/* Components, with "." dropped and ".." taking one back. */
	norm[0] = 0;
	for (p = abs; *p;) {
		size_t k;
		while (*p == '/')
			p++;
		k = strcspn(p, "/");
		if (!k)
			break;
		if (k == 2 && p[0] == '.' && p[1] == '.') {
			while (n && norm[n - 1] != '/')
				n--;
			if (n)
				n--;
		} else if (!(k == 1 && p[0] == '.')) {
			norm[n++] = '/';
			memcpy(norm + n, p, k);
			n += k;
		}
		norm[n] = 0;
		p += k;
	}
	if (strncmp(norm, "/tmp", 4) || (norm[4] && norm[4] != '/'))
		return 0;
	if (!norm[4]) {
		*name = "";
		return 1;
	}
	if (strchr(norm + 5, '/')) {
		char *slash = strchr(norm + 5, '/');
		*slash = 0;
		return rt_tmp_find(norm + 5) >= 0 ? -ENOTDIR : -ENOENT;
	}
	*name = norm + 5;
	return 1;
}

static struct rt_fd *fd_get(long fd)
{
	if (fd < RT_FD_FIRST || fd >= (long)RT_FDS || rt_fds[fd].kind == FD_FREE)
		return NULL;
	return &rt_fds[fd];
}

static long fd_new(uint32_t kind, uint32_t e, uint32_t flags)
{
	for (uint32_t i = RT_FD_FIRST; i < RT_FDS; i++) {
		if (rt_fds[i].kind == FD_FREE) {
			rt_fds[i] = (struct rt_fd){kind, e, 0, flags};
			return (long)i;
		}
	}
	return -EMFILE;
}

/* Where a relative path starts: the working directory, or a directory
 * descriptor. */
static long dir_start(long dirfd, const char *path, int64_t *start)
{
	const struct rt_fd *f;

	if (!path)
		return -EFAULT;
	if (path[0] == '/' || dirfd == AT_FDCWD) {
		*start = rt_cwd;
		return 0;
	}
	f = fd_get(dirfd);
	if (!f)
		return -EBADF;
	if (f->kind != FD_DIR)
		return -ENOTDIR;
	*start = f->ent;
	return 0;
}

/* A path that does not exist: EROFS when its directory does (creating it
 * would write the tree), else what the lookup said. */
static long missing(int64_t start, const char *path, long err)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;
	long d;

	if (err != -ENOENT)
		return err;
	if (!slash) {
		d = start;
	} else {
		char *dir = rt_walk_buf[0];
		if (n >= RT_PATH_MAX)
			return err;
		memcpy(dir, path, n);
		dir[n] = 0;
		d = lookup(start, n ? dir : "/", 1);
	}
	return d >= 0 && is_dir(ent((uint32_t)d)) ? -EROFS : err;
}

static long tmp_open(const char *name, long flags, long mode)
{
	const long acc = flags & O_ACCMODE;
	long i, fd;

	if (!*name) {
		if (acc != O_RDONLY || (flags & O_CREAT))
			return -EISDIR;
		return fd_new(FD_TMPDIR, 0, (uint32_t)flags);
	}
	if ((flags & O_TMPFILE) == O_TMPFILE)
		return -EOPNOTSUPP;
	i = rt_tmp_find(name);
	if (i >= 0 && (flags & O_CREAT) && (flags & O_EXCL))
		return -EEXIST;
	if (i < 0 && !(flags & O_CREAT))
		return i;
	if ((flags & O_DIRECTORY))
		return i < 0 ? -ENOENT : -ENOTDIR;
	if (i < 0 && (i = rt_tmp_create(name, (uint32_t)mode)) < 0)
		return i;
	fd = fd_new(FD_TMP, (uint32_t)i, (uint32_t)flags);
	if (fd < 0)
		return fd;
	rt_tmp_open((uint32_t)i);
	if ((flags & O_TRUNC) && acc != O_RDONLY)
		rt_tmp_truncate((uint32_t)i, 0);
	return fd;
}

static long sys_openat(long dirfd, const char *path, long flags, long mode)
{
	const long wr = O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND;
	int64_t start;
	long k = dir_start(dirfd, path, &start);
	const struct nub_fs_entry *e;
	const char *name;
	int t;

	if (k && k != -ENOTDIR)
		return k;
	t = path ? tmp_path(dirfd, path, &name) : 0;
	if (t)
		return t < 0 ? t : tmp_open(name, flags, mode);
	if (k)
		return k;
	if ((flags & O_TMPFILE) == O_TMPFILE)
		return -EROFS;
	k = lookup(start, path, !(flags & O_NOFOLLOW));
	if (k < 0)
		return (flags & O_CREAT) ? missing(start, path, k) : k;
	e = ent((uint32_t)k);
	if ((flags & O_CREAT) && (flags & O_EXCL))
		return -EEXIST;
	if (S_ISLNK(e->mode))
		return (flags & O_PATH) ? fd_new(FD_FILE, (uint32_t)k, (uint32_t)flags) : -ELOOP;
	if ((flags & O_DIRECTORY) && !is_dir(e))
		return -ENOTDIR;
	if (flags & wr)
		return is_dir(e) ? -EISDIR : -EROFS;
	return fd_new(is_dir(e) ? FD_DIR : FD_FILE, (uint32_t)k, (uint32_t)flags);
}

static long file_read(struct rt_fd *f, void *buf, size_t len, uint64_t pos, int advance)
{
	const struct nub_fs_entry *e = ent(f->ent);
	const uint8_t *data;
	size_t n;

	if (f->kind == FD_DIR || f->kind == FD_TMPDIR)
		return -EISDIR;
	if (f->kind == FD_TMP) {
		long got;
		if ((f->flags & O_ACCMODE) == O_WRONLY)
			return -EBADF;
		got = rt_tmp_read(f->ent, buf, len, pos);
		if (got > 0 && advance)
			f->pos = pos + (uint64_t)got;
		return got;
	}
	if (!e || ent_data(e, &data) || S_ISLNK(e->mode))
		return e && S_ISLNK(e->mode) ? -EBADF : -EIO;
	if (pos >= e->size)
		return 0;
	n = e->size - pos < len ? (size_t)(e->size - pos) : len;
	memcpy(buf, data + pos, n);
	if (advance)
		f->pos = pos + n;
	return (long)n;
}

struct rt_iov {
	void *base;
	size_t len;
};

static long sys_readv(struct rt_fd *f, const struct rt_iov *iov, long cnt)
{
	long total = 0;

	if (cnt < 0 || cnt > 1024)
		return -EINVAL;
	for (long i = 0; i < cnt; i++) {
		long n = file_read(f, iov[i].base, iov[i].len, f->pos, 1);
		if (n < 0)
			return total ? total : n;
		total += n;
		if ((size_t)n < iov[i].len)
			break;
	}
	return total;
}

static long sys_lseek(struct rt_fd *f, int64_t off, long whence)
{
	const struct nub_fs_entry *e = ent(f->ent);
	int64_t base;

	if (f->kind == FD_DIR || f->kind == FD_TMPDIR) {
		if (whence != SEEK_SET || off != 0)
			return -EINVAL;
		f->pos = 0;
		return 0;
	}
	switch (whence) {
	case SEEK_SET:
		base = 0;
		break;
	case SEEK_CUR:
		base = (int64_t)f->pos;
		break;
	case SEEK_END:
		base = (int64_t)(f->kind == FD_TMP ? rt_tmp_size(f->ent) : e->size);
		break;
	default:
		return -EINVAL;
	}
	if ((off < 0 && base + off < 0) || (off > 0 && base > INT64_MAX - off))
		return -EINVAL;
	f->pos = (uint64_t)(base + off);
	return (long)f->pos;
}

/* ---- stat ---- */

static void stat_fill(uint32_t i, struct stat *st)
{
	const struct nub_fs_entry *e = ent(i);

	memset(st, 0, sizeof(*st));
	st->st_dev = 0x6e7562; /* "nub" */
	st->st_ino = i + 1;
	st->st_mode = e->mode;
	st->st_nlink = is_dir(e) ? 2 : 1;
	st->st_size = is_dir(e) ? 4096 : (off_t)e->size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((e->size + 511) / 512);
	st->st_atim.tv_sec = st->st_mtim.tv_sec = st->st_ctim.tv_sec = e->mtime;
}

static void fd_stat(const struct rt_fd *f, struct stat *st)
{
	if (f->kind == FD_TMP || f->kind == FD_TMPDIR)
		rt_tmp_stat(f->kind == FD_TMP ? (long)f->ent : -1, st);
	else
		stat_fill(f->ent, st);
}

static long sys_fstatat(long dirfd, const char *path, struct stat *st, long flags)
{
	const char *name;
	int64_t start;
	long k;
	int t;

	if (!path)
		return -EFAULT;

	if (path && !*path && (flags & AT_EMPTY_PATH)) {
		const struct rt_fd *f = fd_get(dirfd);
		if (dirfd >= 0 && dirfd < RT_FD_FIRST) {
			memset(st, 0, sizeof(*st));
			st->st_mode = S_IFCHR | 0620;
			st->st_blksize = 1024;
			return 0;
		}
		if (!f)
			return -EBADF;
		fd_stat(f, st);
		return 0;
	}
	t = tmp_path(dirfd, path, &name);
	if (t < 0)
		return t;
	if (t) {
		k = *name ? rt_tmp_find(name) : -1;
		if (*name && k < 0)
			return k;
		rt_tmp_stat(k, st);
		return 0;
	}
	k = dir_start(dirfd, path, &start);
	if (k)
		return k;
	k = lookup(start, path, !(flags & AT_SYMLINK_NOFOLLOW));
	if (k < 0)
		return k;
	stat_fill((uint32_t)k, st);
	return 0;
}

static long sys_faccessat(long dirfd, const char *path, long mode)
{
	int64_t start;
	long k = dir_start(dirfd, path, &start);
	const struct nub_fs_entry *e;
	const char *name;
	int t = path ? tmp_path(dirfd, path, &name) : 0;

	if (t)
		return t < 0 ? t : (*name && rt_tmp_find(name) < 0) ? -ENOENT : 0;
	if (k)
		return k;
	k = lookup(start, path, 1);
	if (k < 0)
		return k;
	e = ent((uint32_t)k);
	if (mode & W_OK)
		return -EROFS;
	if ((mode & X_OK) && !(e->mode & 0111))
		return -EACCES;
	if ((mode & R_OK) && !(e->mode & 0444))
		return -EACCES;
	return 0;
}

static long sys_readlinkat(long dirfd, const char *path, char *buf, size_t len)
{
	int64_t start;
	long k = dir_start(dirfd, path, &start);
	const struct nub_fs_entry *e;
	const uint8_t *t;
	size_t n;

	if (k)
		return k;
	k = lookup(start, path, 0);
	if (k < 0)
		return k;
	e = ent((uint32_t)k);
	if (!S_ISLNK(e->mode))
		return -EINVAL;
	if (ent_data(e, &t))
		return -EIO;
	n = e->size < len ? (size_t)e->size : len;
	memcpy(buf, t, n);
	return (long)n;
}

/* ---- directories ---- */

struct rt_dirent64 {
	uint64_t ino;
	int64_t off;
	uint16_t reclen;
	uint8_t type;
	char name[];
};

static long dirent_put(char *buf, size_t room, uint64_t ino, int64_t next, const char *name,
                       size_t n, uint32_t mode)
{
	size_t reclen = (offsetof(struct rt_dirent64, name) + n + 1 + 7) & ~(size_t)7;
	struct rt_dirent64 d;

	if (reclen > room)
		return 0;
	d.ino = ino;
	d.off = next;
	d.reclen = (uint16_t)reclen;
	d.type = (uint8_t)((mode & S_IFMT) >> 12); /* DT_DIR etc. are S_IFMT >> 12 */
	memset(buf, 0, reclen);
	memcpy(buf, &d, offsetof(struct rt_dirent64, name));
	memcpy(buf + offsetof(struct rt_dirent64, name), name, n);
	return (long)reclen;
}

/* Position 0 is ".", 1 is "..", 2 + i the directory's i-th child. */
/* /tmp: positions 0 and 1 are "." and "..", then 2 + the file's index. */
static long tmp_getdents64(struct rt_fd *f, char *buf, size_t len)
{
	size_t used = 0;

	for (;;) {
		const char *name = f->pos ? ".." : ".";
		uint32_t mode = S_IFDIR;
		long i = (long)f->pos - 2, w;
		if (f->pos >= 2 && (i = rt_tmp_entry(f->pos - 2, &name, &mode)) < 0)
			break;
		w = dirent_put(buf + used, len - used, (uint64_t)(i + 3), i + 3, name, strlen(name),
		               mode);
		if (!w)
			return used ? (long)used : -EINVAL;
		used += (size_t)w;
		f->pos = (uint64_t)(i + 3);
	}
	return (long)used;
}

static long sys_getdents64(struct rt_fd *f, char *buf, size_t len)
{
	const struct nub_fs_entry *d = ent(f->ent);
	size_t used = 0;

	if (f->kind == FD_TMPDIR)
		return tmp_getdents64(f, buf, len);
	if (f->kind != FD_DIR)
		return -ENOTDIR;
	if (d->first > rt_tree.count || d->nchild > rt_tree.count - d->first)
		return -EIO;
	while (f->pos < 2ull + d->nchild) {
		uint32_t i = f->ent, mode = d->mode;
		const char *name = f->pos ? ".." : ".";
		size_t n = f->pos + 1;
		long w;
		if (f->pos == 1)
			i = d->parent;
		if (f->pos >= 2) {
			i = d->first + (uint32_t)(f->pos - 2);
			mode = rt_tree.ents[i].mode;
			if (ent_name(&rt_tree.ents[i], &name, &n))
				return -EIO;
		}
		w = dirent_put(buf + used, len - used, i + 1, (int64_t)f->pos + 1, name, n, mode);
		if (!w)
			return used ? (long)used : -EINVAL;
		used += (size_t)w;
		f->pos++;
	}
	return (long)used;
}

/* ---- the working directory ---- */

/* The absolute path of entry i, from its parents. */
static long path_of(uint32_t i, char *out, size_t cap)
{
	size_t len = 0;
	char *tmp = rt_walk_buf[1];

	if (!i) {
		if (cap < 2)
			return -ERANGE;
		strcpy(out, "/");
		return 2;
	}
	tmp[RT_PATH_MAX - 1] = 0;
	for (uint32_t depth = 0; i && depth < RT_PATH_MAX; depth++) {
		const struct nub_fs_entry *e = ent(i);
		const char *name;
		size_t n;
		if (!e || ent_name(e, &name, &n) || n + 1 + len > RT_PATH_MAX - 1)
			return -ENAMETOOLONG;
		len += n + 1;
		memcpy(tmp + RT_PATH_MAX - 1 - len + 1, name, n);
		tmp[RT_PATH_MAX - 1 - len] = '/';
		i = e->parent;
	}
	if (len + 1 > cap)
		return -ERANGE;
	memcpy(out, tmp + RT_PATH_MAX - 1 - len, len + 1);
	return (long)len + 1;
}

static long tmp_cd(void)
{
	strcpy(rt_cwd_path, "/tmp");
	rt_cwd = -1; /* relative paths go to /tmp (tmp_path), none to the tree */
	return 0;
}

static long sys_chdir(const char *path)
{
	const char *name;
	int t = tmp_path(AT_FDCWD, path, &name);
	long k, n;

	if (t)
		return t < 0 ? t : *name ? (rt_tmp_find(name) < 0 ? -ENOENT : -ENOTDIR) : tmp_cd();
	k = lookup(rt_cwd, path, 1);

	if (k < 0)
		return k;
	if (!is_dir(ent((uint32_t)k)))
		return -ENOTDIR;
	n = path_of((uint32_t)k, rt_cwd_path, sizeof(rt_cwd_path));
	if (n < 0)
		return n;
	rt_cwd = k;
	return 0;
}

static long sys_getcwd(char *buf, size_t size)
{
	size_t n = strlen(rt_cwd_path) + 1;

	if (n > size)
		return -ERANGE;
	memcpy(buf, rt_cwd_path, n);
	return (long)n;
}

/* ---- mmap of a file ---- */

static uint64_t page_up(uint64_t v)
{
	return (v + PAGE - 1) & ~(uint64_t)(PAGE - 1);
}

/* Whether [off, off + len) of the file can be mapped by pointing into the
 * tree: inside the file's pages, which start on a page and end before the
 * tree's last page does (a file of an edited image might not). */
static int direct_ok(const struct nub_fs_entry *e, uint64_t off, size_t len)
{
	uint64_t pages = page_up(e->size);

	return e->data_off % PAGE == 0 && off <= pages && len <= pages - off &&
	       e->data_off + pages <= page_up(rt_tree.size);
}

/* A read-only private or shared map of whole pages inside the file points
 * straight at the tree (shared by every sandbox); anything else is a copy
 * into anonymous pages. */
long rt_files_mmap(size_t len, long prot, long flags, long fd, int64_t off,
                   long (*anon)(size_t len))
{
	struct rt_fd *f = fd_get(fd);
	const struct nub_fs_entry *e;
	const uint8_t *data;
	long p;

	if (!f)
		return -EBADF;
	if (f->kind == FD_TMP) {
		if ((flags & MAP_SHARED) && (prot & PROT_WRITE))
			return -ENODEV; /* a copy could not write back */
		if (off < 0 || off % PAGE || !len)
			return -EINVAL;
		p = anon(len);
		if (p >= 0)
			rt_tmp_read(f->ent, (void *)p, len, (uint64_t)off);
		return p;
	}
	if (f->kind != FD_FILE)
		return -ENODEV;
	e = ent(f->ent);
	if (!e || ent_data(e, &data))
		return -EIO;
	if (off < 0 || off % PAGE || !len)
		return -EINVAL;
	if ((flags & MAP_SHARED) && (prot & PROT_WRITE))
		return -EACCES; /* opened read-only, as every tree file is */
	if (!(prot & (PROT_WRITE | PROT_EXEC)) && direct_ok(e, (uint64_t)off, len))
		return (long)(data + off);
	p = anon(len);
	if (p < 0)
		return p;
	if ((uint64_t)off < e->size) {
		uint64_t n = e->size - (uint64_t)off;
		memcpy((void *)p, data + off, n < len ? n : len);
	}
	return p;
}

/* Whether [addr, addr+len) is inside the tree: unmapping it is a no-op. */
int rt_files_owns(uintptr_t addr, size_t len)
{
	uintptr_t b = (uintptr_t)rt_tree.base;

	return rt_tree.base && addr >= b && addr - b < rt_tree.size && len <= rt_tree.size;
}

/* ---- the entry ---- */

static long tmp_write(struct rt_fd *f, const void *buf, size_t len, uint64_t pos, int advance)
{
	long n;

	if ((f->flags & O_ACCMODE) == O_RDONLY)
		return -EBADF;
	if (advance && (f->flags & O_APPEND))
		pos = rt_tmp_size(f->ent);
	n = rt_tmp_write(f->ent, buf, len, pos);
	if (n > 0 && advance)
		f->pos = pos + (uint64_t)n;
	return n;
}

/* A second descriptor for f's file: the lowest free one (to = -1), or
 * `to` (closed first). Each has its own position here (Linux shares one:
 * no program this serves relies on that). */
static long fd_dup(const struct rt_fd *f, long to)
{
	long n;

	if (to >= 0) {
		if (to < RT_FD_FIRST || to >= (long)RT_FDS)
			return -EBADF;
		if (rt_fds[to].kind == FD_TMP)
			rt_tmp_close(rt_fds[to].ent);
		rt_fds[to] = *f;
		n = to;
	} else {
		n = fd_new(f->kind, f->ent, f->flags);
		if (n < 0)
			return n;
		rt_fds[n].pos = f->pos;
	}
	if (f->kind == FD_TMP)
		rt_tmp_open(f->ent);
	return n;
}

/* What /tmp's descriptors do differently from the tree's; -ENOSYS: the
 * same (on_fd serves it). */
static long on_tmp_fd(struct rt_fd *f, long nr, const long *a)
{
	if (f->kind == FD_TMPDIR)
		return nr == SYS_write || nr == SYS_writev || nr == SYS_pwrite64 ||
		                       nr == SYS_ftruncate
		               ? -EBADF
		               : -ENOSYS;
	switch (nr) {
	case SYS_write:
		return tmp_write(f, (const void *)a[1], (size_t)a[2], f->pos, 1);
	case SYS_pwrite64:
		return a[3] < 0 ? -EINVAL
		                : tmp_write(f, (const void *)a[1], (size_t)a[2], (uint64_t)a[3], 0);
	case SYS_writev: {
		const struct rt_iov *iov = (const struct rt_iov *)a[1];
		long total = 0;
		if (a[2] < 0 || a[2] > 1024)
			return -EINVAL;
		for (long i = 0; i < a[2]; i++) {
			long n = tmp_write(f, iov[i].base, iov[i].len, f->pos, 1);
			if (n < 0)
				return total ? total : n;
			total += n;
		}
		return total;
	}
	case SYS_ftruncate:
		if ((f->flags & O_ACCMODE) == O_RDONLY)
			return -EINVAL;
		return rt_tmp_truncate(f->ent, a[1]);
	default:
		return -ENOSYS;
	}
}

/* Path calls that change a directory: /tmp's are served, the tree's are
 * EROFS. */
static long tmp_change(long nr, const long *a)
{
	const char *name, *name2;
	char from[256];
	int t;

	switch (nr) {
	case SYS_unlink:
	case SYS_rmdir:
	case SYS_mkdir:
	case SYS_truncate:
	case SYS_chmod:
		t = tmp_path(AT_FDCWD, (const char *)a[0], &name);
		break;
	default: /* the *at forms and rename: dirfd, path first */
		t = nr == SYS_rename ? tmp_path(AT_FDCWD, (const char *)a[0], &name)
		                     : tmp_path(a[0], (const char *)a[1], &name);
		break;
	}
	if (t <= 0)
		return t ? t : -EROFS;
	switch (nr) {
	case SYS_unlink:
		return *name ? rt_tmp_unlink(name) : -EISDIR;
	case SYS_unlinkat:
		if (!*name)
			return (a[2] & AT_REMOVEDIR) ? -EBUSY : -EISDIR;
		return (a[2] & AT_REMOVEDIR) ? (rt_tmp_find(name) < 0 ? -ENOENT : -ENOTDIR)
		                             : rt_tmp_unlink(name);
	case SYS_rmdir:
		return *name ? (rt_tmp_find(name) < 0 ? -ENOENT : -ENOTDIR) : -EBUSY;
	case SYS_mkdir:
	case SYS_mkdirat:
		return *name && rt_tmp_find(name) < 0 ? -EPERM : -EEXIST; /* flat */
	case SYS_truncate: {
		long i = *name ? rt_tmp_find(name) : -EISDIR;
		return i < 0 ? i : rt_tmp_truncate((uint32_t)i, a[1]);
	}
	case SYS_chmod:
	case SYS_fchmodat: {
		long i = *name ? rt_tmp_find(name) : 0;
		if (i >= 0 && *name)
			rt_tmp_chmod((uint32_t)i, (uint32_t)(nr == SYS_chmod ? a[1] : a[2]));
		return i < 0 ? i : 0;
	}
	case SYS_utimensat:
		return *name && rt_tmp_find(name) < 0 ? -ENOENT : 0;
	default: /* rename, renameat, renameat2: both ends in /tmp */
		if (!*name || strlen(name) >= sizeof(from))
			return -EBUSY;
		strcpy(from, name);
		t = nr == SYS_rename ? tmp_path(AT_FDCWD, (const char *)a[1], &name2)
		                     : tmp_path(a[2], (const char *)a[3], &name2);
		if (t <= 0)
			return t ? t : -EXDEV;
		if (nr == SYS_renameat2 && a[4])
			return -EINVAL;
		return *name2 ? rt_tmp_rename(from, name2) : -EISDIR;
	}
}

static long on_fd(long nr, const long *a)
{
	struct rt_fd *f = fd_get(a[0]);

	if (!f)
		return -EBADF;
	if (f->kind == FD_TMP || f->kind == FD_TMPDIR) {
		long r = on_tmp_fd(f, nr, a);
		if (r != -ENOSYS)
			return r;
	}
	switch (nr) {
	case SYS_close:
		if (f->kind == FD_TMP)
			rt_tmp_close(f->ent);
		f->kind = FD_FREE;
		return 0;
	case SYS_read:
		return file_read(f, (void *)a[1], (size_t)a[2], f->pos, 1);
	case SYS_readv:
		return sys_readv(f, (const struct rt_iov *)a[1], a[2]);
	case SYS_pread64:
		return a[3] < 0 ? -EINVAL
		                : file_read(f, (void *)a[1], (size_t)a[2], (uint64_t)a[3], 0);
	case SYS_lseek:
		return sys_lseek(f, a[1], a[2]);
	case SYS_fstat:
		fd_stat(f, (struct stat *)a[1]);
		return 0;
	case SYS_getdents64:
		return sys_getdents64(f, (char *)a[1], (size_t)a[2]);
	case SYS_fchdir:
		if (f->kind == FD_TMPDIR)
			return tmp_cd();
		if (f->kind != FD_DIR)
			return -ENOTDIR;
		if (path_of(f->ent, rt_cwd_path, sizeof(rt_cwd_path)) < 0)
			return -ENAMETOOLONG;
		rt_cwd = f->ent;
		return 0;
	case SYS_write:
	case SYS_writev:
	case SYS_pwrite64:
	case SYS_ftruncate:
		return -EBADF; /* opened read-only */
	case SYS_fsync:
	case SYS_fdatasync:
		return 0;
	case SYS_dup:
		return fd_dup(f, -1);
	case SYS_dup2:
	case SYS_dup3:
		if (a[1] == a[0])
			return nr == SYS_dup3 ? -EINVAL : a[1];
		return fd_dup(f, a[1]);
	case SYS_ioctl:
		return -ENOTTY;
	case SYS_fcntl:
		switch (a[1]) {
		case F_GETFD:
		case F_SETFD:
		case F_SETFL:
			return 0;
		case F_GETFL:
			return (long)(f->flags & ~(uint32_t)(O_CREAT | O_EXCL | O_TRUNC));
		case F_DUPFD:
		case F_DUPFD_CLOEXEC:
			return fd_dup(f, -1);
		case F_SETLK: /* one process: every lock is granted */
		case F_SETLKW:
		case F_OFD_SETLK:
		case F_OFD_SETLKW:
			return 0;
		case F_GETLK:
		case F_OFD_GETLK:
			((struct flock *)a[2])->l_type = F_UNLCK;
			return 0;
		default:
			return -EINVAL;
		}
	default:
		return -ENOSYS;
	}
}

/* Every file system call but those on fds 0..2 (rt_libc.c); -ENOSYS for
 * one it does not serve. */
long rt_files_syscall(long nr, const long *a)
{
	switch (nr) {
	case SYS_open:
		return sys_openat(AT_FDCWD, (const char *)a[0], a[1], a[2]);
	case SYS_openat:
		return sys_openat(a[0], (const char *)a[1], a[2], a[3]);
	case SYS_stat:
		return sys_fstatat(AT_FDCWD, (const char *)a[0], (struct stat *)a[1], 0);
	case SYS_lstat:
		return sys_fstatat(AT_FDCWD, (const char *)a[0], (struct stat *)a[1],
		                   AT_SYMLINK_NOFOLLOW);
	case SYS_newfstatat:
		return sys_fstatat(a[0], (const char *)a[1], (struct stat *)a[2], a[3]);
	case SYS_access:
		return sys_faccessat(AT_FDCWD, (const char *)a[0], a[1]);
	case SYS_faccessat:
	case SYS_faccessat2:
		return sys_faccessat(a[0], (const char *)a[1], a[2]);
	case SYS_readlink:
		return sys_readlinkat(AT_FDCWD, (const char *)a[0], (char *)a[1], (size_t)a[2]);
	case SYS_readlinkat:
		return sys_readlinkat(a[0], (const char *)a[1], (char *)a[2], (size_t)a[3]);
	case SYS_getcwd:
		return sys_getcwd((char *)a[0], (size_t)a[1]);
	case SYS_chdir:
		return sys_chdir((const char *)a[0]);
	case SYS_mkdir:
	case SYS_mkdirat:
	case SYS_rmdir:
	case SYS_unlink:
	case SYS_unlinkat:
	case SYS_rename:
	case SYS_renameat:
	case SYS_renameat2:
	case SYS_chmod:
	case SYS_fchmodat:
	case SYS_truncate:
	case SYS_utimensat:
		if (!a[nr == SYS_unlink || nr == SYS_rmdir || nr == SYS_mkdir || nr == SYS_rename ||
		                       nr == SYS_chmod || nr == SYS_truncate
		               ? 0
		               : 1])
			return -EFAULT;
		return tmp_change(nr, a);
	case SYS_link:
	case SYS_linkat:
	case SYS_symlink:
	case SYS_symlinkat:
		return -EROFS;
	case SYS_statx:
		return -ENOSYS; /* musl falls back to fstatat */
	case SYS_fstat:
		if (a[0] >= 0 && a[0] < RT_FD_FIRST)
			return sys_fstatat(a[0], "", (struct stat *)a[1], AT_EMPTY_PATH);
		return on_fd(nr, a);
	case SYS_close:
	case SYS_read:
	case SYS_readv:
	case SYS_pread64:
	case SYS_lseek:
	case SYS_getdents64:
	case SYS_fchdir:
	case SYS_write:
	case SYS_writev:
	case SYS_pwrite64:
	case SYS_ftruncate:
	case SYS_fsync:
	case SYS_fdatasync:
	case SYS_ioctl:
	case SYS_fcntl:
	case SYS_dup:
	case SYS_dup2:
	case SYS_dup3:
		return on_fd(nr, a);
	default:
		return -ENOSYS;
	}
}
