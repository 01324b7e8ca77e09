/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the guest runtime's reader of the file tree image (guest/lib/
 * rt_files.c, compiled here for the host): a snapshot file could carry an
 * edited image, and the runtime must answer EIO (or abort on a bad header),
 * never read outside it. A real image is packed once from a small tree
 * (nub_files_pack); each input is XORed over it, so most inputs are an
 * image with a few corrupt fields rather than noise. The runtime then
 * walks it as a program would: lookups through links and "..", listings,
 * stat, reads, readlink and maps of every entry. The image sits at the end
 * of its allocation, so ASan catches a read past it.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <nub/guest_abi.h>
#include <nubguest.h>

#include "image/guest_data.h"
#include "rt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static jmp_buf on_abort;

/* The runtime's way out when the header is corrupt. */
_Noreturn void nub_abort(uint32_t code, const char *msg)
{
	(void)code;
	(void)msg;
	longjmp(on_abort, 1);
}

static struct nub_packed base;

static void make_tree(const char *d)
{
	char p[512];
	FILE *f;

	if (snprintf(p, sizeof(p), "%s/sub", d) < 0)
		abort();
	mkdir(p, 0755);
	if (snprintf(p, sizeof(p), "%s/sub/deeper", d) < 0)
		abort();
	mkdir(p, 0755);
	if (snprintf(p, sizeof(p), "%s/sub/file.txt", d) < 0)
		abort();
	if ((f = fopen(p, "w"))) {
		for (int i = 0; i < 5000; i++)
			fputc('a' + i % 26, f);
		fclose(f);
	}
	if (snprintf(p, sizeof(p), "%s/small", d) < 0)
		abort();
	if ((f = fopen(p, "w"))) {
		fputs("small file\n", f);
		fclose(f);
	}
	if (snprintf(p, sizeof(p), "%s/link", d) < 0)
		abort();
	if (symlink("sub/file.txt", p))
		abort();
	if (snprintf(p, sizeof(p), "%s/sub/up", d) < 0)
		abort();
	if (symlink("../..", p))
		abort();
	if (snprintf(p, sizeof(p), "%s/loop", d) < 0)
		abort();
	if (symlink("loop", p))
		abort();
}

static void pack_base(void)
{
	char dir[] = "/tmp/nub-fuzz-files-XXXXXX", cmd[64];
	struct nub_dir d = {dir, "/"};

	if (!mkdtemp(dir))
		abort();
	make_tree(dir);
	if (nub_files_pack(&d, 1, &base, NULL))
		abort();
	if (snprintf(cmd, sizeof(cmd), "rm -rf %s", dir) < 0)
		abort();
	if (system(cmd))
		abort();
}

static long anon(size_t len)
{
	void *p = malloc(len);

	return p ? (long)p : -12;
}

static long sys(long nr, long a0, long a1, long a2, long a3)
{
	const long a[6] = {a0, a1, a2, a3, 0, 0};

	return rt_files_syscall(nr, a);
}

/* Everything a program might do with one path. */
static void poke(const char *path)
{
	struct stat st;
	char buf[256];
	long fd;

	sys(SYS_newfstatat, AT_FDCWD, (long)path, (long)&st, 0);
	sys(SYS_newfstatat, AT_FDCWD, (long)path, (long)&st, AT_SYMLINK_NOFOLLOW);
	sys(SYS_readlink, (long)path, (long)buf, sizeof(buf), 0);
	sys(SYS_access, (long)path, R_OK, 0, 0);
	fd = sys(SYS_open, (long)path, O_RDONLY, 0, 0);
	if (fd < 0)
		return;
	while (sys(SYS_read, fd, (long)buf, sizeof(buf), 0) > 0)
		;
	sys(SYS_pread64, fd, (long)buf, sizeof(buf), 4090);
	sys(SYS_lseek, fd, 0, SEEK_END, 0);
	sys(SYS_fstat, fd, (long)&st, 0, 0);
	{
		long p = rt_files_mmap(8192, PROT_READ, MAP_PRIVATE, fd, 0, anon);
		if (p >= 0) {
			volatile uint8_t sum = 0;
			for (size_t i = 0; i < 8192; i++)
				sum ^= ((const uint8_t *)p)[i];
			(void)sum; /* read for the reads, not the value */
			if (!rt_files_owns((uintptr_t)p, 8192))
				free((void *)p);
		}
	}
	sys(SYS_close, fd, 0, 0, 0);
}

/* List a directory, poking every entry (depth-bounded). */
static void walk(const char *dir, int depth)
{
	char buf[2048], path[512];
	long fd = sys(SYS_open, (long)dir, O_RDONLY | O_DIRECTORY, 0, 0), n;

	if (fd < 0)
		return;
	while ((n = sys(SYS_getdents64, fd, (long)buf, sizeof(buf), 0)) > 0) {
		for (long off = 0; off < n;) {
			const char *name = buf + off + 19;
			unsigned short reclen;
			memcpy(&reclen, buf + off + 16, 2);
			if (!reclen)
				break;
			off += reclen;
			if (!strcmp(name, ".") || !strcmp(name, ".."))
				continue;
			if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
				continue; /* a name too long for this walk */
			poke(path);
			if (depth < 3)
				walk(path, depth + 1);
		}
	}
	sys(SYS_close, fd, 0, 0, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const paths[] = {"/link",   "/sub/up/sub/up/small",    "/loop", "/sub/",
	                                    "small/x", "/sub/deeper/../file.txt", "."};
	static struct nub_peb peb;
	size_t cap, at;
	uint8_t *mem;

	if (!base.bytes)
		pack_base();
	cap = (base.size + 4095) & ~(size_t)4095;
	mem = malloc(cap);
	if (!mem)
		return 0;
	/* The image ends at the end of the allocation: one byte further is
	 * outside (ASan). */
	at = cap - base.size;
	memset(mem, 0, at);
	memcpy(mem + at, base.bytes, base.size);
	/* Past the magic: an image that is not one stops at once. */
	for (size_t i = 0; i < size; i++)
		mem[at + 8 + (i * 7919u) % (base.size - 8)] ^= data[i];
	peb.struct_size = sizeof(peb);
	peb.files_gva = (uint64_t)(uintptr_t)(mem + at);
	peb.files_size = base.size;
	if (!setjmp(on_abort)) {
		rt_files_setup(&peb, "/");
		walk("/", 0);
		for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
			poke(paths[i]);
	}
	for (long fd = 3; fd < 256; fd++)
		sys(SYS_close, fd, 0, 0, 0);
	free(mem);
	return 0;
}
