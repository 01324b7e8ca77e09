/* SPDX-License-Identifier: MIT */
/*
 * The host's mappings into a sandbox: host memory (shared, or read-only)
 * and files (read-only, or copy-on-write through nub's own copies), each
 * a memory slot of the VM and leaves in the live page tables, at GVA ==
 * GPA between the snapshot region and scratch. They are not part of any
 * snapshot: capture skips them (their GPAs are neither snapshot nor
 * scratch), and every reset removes them all, so a sandbox restored is the
 * snapshot's and nothing else. The guest reads where they are from the
 * bookkeeping page (NUB_SCRATCH_TOP_MAPPINGS).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nub/backend.h>

#include "error_internal.h"
#include "memory/view.h"
#include "sandbox/sandbox_internal.h"

#define PAGE NUB_PAGE_SIZE
/* Where nub places a mapping the caller did not place: 4 GiB up, clear of
 * any snapshot nub builds by default, first fit. */
#define MAP_AUTO_BASE (4ull << 30)

/* The window mappings may use: [lo, hi). */
static void window(const struct nub_sandbox *sb, uint64_t *lo, uint64_t *hi)
{
	const struct nub_layout *l = &sb->base->layout;

	*lo = (NUB_BASE_GPA + l->snapshot_size + PAGE - 1) & ~(uint64_t)(PAGE - 1);
	*hi = l->scratch_gpa;
}

static const struct nub_mapping *overlapping(const struct nub_sandbox *sb, uint64_t gva,
                                             uint64_t size)
{
	for (unsigned i = 0; i < NUB_MAPPINGS_MAX; i++) {
		const struct nub_mapping *m = &sb->maps[i];
		if (m->used && gva < m->gva + m->size && m->gva < gva + size)
			return m;
	}
	return NULL;
}

/* Check a caller's address, or find one. */
static int place(struct nub_sandbox *sb, uint64_t size, nub_gva_t *gva)
{
	uint64_t lo, hi, at;
	const struct nub_mapping *o;

	window(sb, &lo, &hi);
	if (*gva) {
		if (*gva % PAGE)
			return nub_sandbox_fail(sb, NUB_EINVAL,
			                        "map: address 0x%llx is not page-aligned",
			                        (unsigned long long)*gva);
		if (*gva < lo || *gva > hi || size > hi - *gva)
			return nub_sandbox_fail(
			        sb, NUB_ERANGE,
			        "map: [0x%llx, +0x%llx) is outside [0x%llx, 0x%llx), between the "
			        "snapshot region and scratch",
			        (unsigned long long)*gva, (unsigned long long)size,
			        (unsigned long long)lo, (unsigned long long)hi);
		o = overlapping(sb, *gva, size);
		if (o)
			return nub_sandbox_fail(
			        sb, NUB_ERANGE,
			        "map: [0x%llx, +0x%llx) overlaps the mapping at 0x%llx",
			        (unsigned long long)*gva, (unsigned long long)size,
			        (unsigned long long)o->gva);
		return 0;
	}
	for (at = lo > MAP_AUTO_BASE ? lo : MAP_AUTO_BASE; at < hi && size <= hi - at;) {
		o = overlapping(sb, at, size);
		if (!o) {
			*gva = at;
			return 0;
		}
		at = o->gva + o->size;
	}
	return nub_sandbox_fail(sb, NUB_EFULL, "map: no room for 0x%llx bytes in [0x%llx, 0x%llx)",
	                        (unsigned long long)size, (unsigned long long)lo,
	                        (unsigned long long)hi);
}

/* What the guest is told: the table in the bookkeeping page. */
static int publish(struct nub_sandbox *sb)
{
	const struct nub_layout *l = &sb->base->layout;
	uint64_t at = l->scratch_size - NUB_SCRATCH_TOP_MAPPINGS;
	uint32_t head[2] = {0, 0};
	int rc = 0;

	sb->nextra = 0;
	for (unsigned i = 0; !rc && i < NUB_MAPPINGS_MAX; i++) {
		const struct nub_mapping *m = &sb->maps[i];
		struct nub_mapping_info info = {m->gva, m->size, m->flags, m->tag};
		if (!m->used)
			continue;
		rc = nub_shmem_write(sb->scratch, at + 8 + head[0] * sizeof(info), &info,
		                     sizeof(info), &sb->err);
		sb->extra[sb->nextra++] = (struct nub_view_extra){m->gva, m->size, m->host};
		head[0]++;
	}
	if (!rc)
		rc = nub_shmem_write(sb->scratch, at, head, sizeof(head), &sb->err);
	return rc;
}

static int check_mappable(struct nub_sandbox *sb, const char *what)
{
	if (nub_sandbox_check_usable(sb, what))
		return NUB_ESTATE;
	if (!sb->hv)
		return nub_sandbox_fail(sb, NUB_ESTATE, "%s: sandbox not evolved", what);
	if (sb->poisoned)
		return nub_sandbox_fail(sb, NUB_EPOISONED,
		                        "%s: sandbox poisoned (%s), restore first", what,
		                        sb->poison_reason);
	return 0;
}

static int check_flags(struct nub_sandbox *sb, uint32_t flags)
{
	if (flags & ~(uint32_t)(NUB_MAP_READ | NUB_MAP_WRITE | NUB_MAP_EXEC))
		return nub_sandbox_fail(sb, NUB_EINVAL, "map: flags 0x%x have unknown bits", flags);
	return 0;
}

/* Whether every page of [p, p+size) is in a MAP_SHARED mapping of this
 * process (/proc/self/maps): what a backend that maps guest memory in
 * another process can alias. */
static int is_shared_memory(const void *p, uint64_t size)
{
	uintptr_t at = (uintptr_t)p, end = at + size;
	char line[512];
	FILE *f = fopen("/proc/self/maps", "re");

	if (!f)
		return 0;
	while (at < end && fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char perms[5];
		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) != 3)
			continue;
		if (lo <= at && at < hi) {
			if (perms[3] != 's')
				break;
			at = hi;
		}
	}
	fclose(f);
	return at >= end;
}

/* The slot, the leaves, the record. Once the slot is mapped the record
 * owns what `m` holds (*kept = 1), whatever else fails. */
static int map_add(struct nub_sandbox *sb, struct nub_mapping *m, uint32_t hv_flags,
                   const struct nub_vmem_mapping *leaves, int *kept)
{
	struct nub_region r = {.flags = hv_flags, .gpa = m->gva, .size = m->size, .host = m->host};
	struct nub_view v;
	unsigned i;
	int rc;

	for (i = 0; i < NUB_MAPPINGS_MAX && sb->maps[i].used; i++)
		;
	if (i == NUB_MAPPINGS_MAX)
		return nub_sandbox_fail(sb, NUB_EFULL,
		                        "map: %u mappings already (NUB_MAPPINGS_MAX)",
		                        NUB_MAPPINGS_MAX);
	r.slot = NUB_SANDBOX_SLOT_MAPPINGS + i;
	rc = nub_hv_map_region(sb->hv, &r, &sb->err);
	if (rc)
		return rc;
	m->used = 1;
	sb->maps[i] = *m;
	*kept = 1;
	sb->nmaps++;
	/* The next reset rewrites the tables: these leaves must not outlive it. */
	sb->in_place = 0;
	rc = publish(sb);
	nub_sandbox_view(sb, &v);
	if (!rc)
		rc = nub_view_map(&v, leaves, &sb->err);
	if (rc) {
		/* Undo what was done; the tables may hold some leaves. */
		nub_sandbox_poison(sb, rc, "map: its page tables could not be written");
		return rc;
	}
	return 0;
}

static struct nub_vmem_mapping leaves_of(const struct nub_mapping *m, int cow)
{
	struct nub_vmem_mapping l = {.gva = m->gva, .gpa = m->gva, .len = m->size};

	l.kind = cow ? NUB_VMEM_COW : NUB_VMEM_BASIC;
	l.perms = NUB_VMEM_R | NUB_VMEM_USER;
	if ((m->flags & NUB_MAP_WRITE) && !cow)
		l.perms |= NUB_VMEM_W;
	if (m->flags & NUB_MAP_EXEC)
		l.perms |= NUB_VMEM_X;
	return l;
}

static uint32_t hv_flags_of(uint32_t flags, int writable)
{
	return NUB_MEM_READ | (writable ? NUB_MEM_WRITE : 0) |
	       ((flags & NUB_MAP_EXEC) ? NUB_MEM_EXEC : 0);
}

static int sandbox_map_region(struct nub_sandbox *sb, void *host, uint64_t size, uint32_t flags,
                              uint32_t tag, nub_gva_t *gva)
{
	struct nub_mapping m = {.size = size,
	                        .flags = flags | NUB_MAP_READ,
	                        .tag = tag,
	                        .host = host,
	                        .file_fd = -1};
	struct nub_vmem_mapping leaves;
	int kept = 0, rc = check_mappable(sb, "map_region");

	if (rc)
		return rc;
	if (!host || !gva)
		return nub_sandbox_fail(sb, NUB_EINVAL, "map_region: NULL %s",
		                        host ? "gva" : "host");
	if ((uintptr_t)host % PAGE || !size || size % PAGE)
		return nub_sandbox_fail(
		        sb, NUB_EINVAL,
		        "map_region: host %p and size 0x%llx must be page-aligned and "
		        "size non-zero",
		        host, (unsigned long long)size);
	rc = check_flags(sb, flags);
	if (!rc && (nub_hv_caps(sb->hv) & NUB_CAP_SHARED_MEMORY) && !is_shared_memory(host, size))
		rc = nub_sandbox_fail(
		        sb, NUB_EUNSUPPORTED,
		        "map_region: backend %s maps guest memory in another process: "
		        "the host memory must be shared (MAP_SHARED or a memfd)",
		        nub_sandbox_backend_name(sb));
	if (!rc)
		rc = place(sb, size, gva);
	if (rc)
		return rc;
	m.gva = *gva;
	leaves = leaves_of(&m, 0);
	return map_add(sb, &m, hv_flags_of(flags, (flags & NUB_MAP_WRITE) != 0), &leaves, &kept);
}

int nub_sandbox_map_region(struct nub_sandbox *sb, void *host, uint64_t size, uint32_t flags,
                           uint32_t tag, nub_gva_t *gva)
{
	if (!sb)
		return NUB_EINVAL;
	return nub_sandbox_result(sb, sandbox_map_region(sb, host, size, flags, tag, gva));
}

/* The file, opened and mapped read-only and shared (its page cache pages,
 * the same for every sandbox that maps it). */
static int file_open(struct nub_sandbox *sb, const char *path, struct nub_mapping *m)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return nub_sandbox_fail(sb, errno == ENOENT ? NUB_ENOTFOUND : NUB_ESYS,
		                        "map_file: cannot open %s: %s", path, strerror(errno));
	if (fstat(fd, &st)) {
		int e = errno;
		close(fd);
		return nub_sandbox_fail(sb, NUB_ESYS, "map_file: %s: %s", path, strerror(e));
	}
	if (!S_ISREG(st.st_mode) || st.st_size <= 0) {
		close(fd);
		return nub_sandbox_fail(sb, NUB_EINVAL,
		                        "map_file: %s is not a non-empty regular file", path);
	}
	m->size = ((uint64_t)st.st_size + PAGE - 1) & ~(uint64_t)(PAGE - 1);
	m->file_map = mmap(NULL, m->size, PROT_READ, MAP_SHARED, fd, 0);
	if (m->file_map == MAP_FAILED) {
		int e = errno;
		close(fd);
		return nub_sandbox_fail(sb, NUB_ESYS, "map_file: mmap of %s: %s", path,
		                        strerror(e));
	}
	m->host = m->file_map;
	m->file_fd = fd;
	return 0;
}

static void file_close(struct nub_mapping *m)
{
	if (m->file_map)
		munmap(m->file_map, m->size);
	if (m->file_fd >= 0)
		close(m->file_fd);
	m->file_map = NULL;
	m->file_fd = -1;
}

static int sandbox_map_file(struct nub_sandbox *sb, const char *path, uint32_t flags, uint32_t tag,
                            nub_gva_t *gva, uint64_t *size)
{
	struct nub_mapping m = {.flags = flags | NUB_MAP_READ, .tag = tag, .file_fd = -1};
	struct nub_vmem_mapping leaves;
	int kept = 0, rc = check_mappable(sb, "map_file");

	if (rc)
		return rc;
	if (!path || !gva)
		return nub_sandbox_fail(sb, NUB_EINVAL, "map_file: NULL %s", path ? "gva" : "path");
	rc = check_flags(sb, flags);
	if (!rc)
		rc = file_open(sb, path, &m);
	if (rc)
		return rc;
	rc = place(sb, m.size, gva);
	if (!rc) {
		m.gva = *gva;
		/* Written pages are nub's copies: the file stays read-only. */
		leaves = leaves_of(&m, (flags & NUB_MAP_WRITE) != 0);
		rc = map_add(sb, &m, hv_flags_of(flags, 0), &leaves, &kept);
	}
	if (!kept)
		file_close(&m);
	if (!rc && size)
		*size = m.size;
	return rc;
}

int nub_sandbox_map_file(struct nub_sandbox *sb, const char *path, uint32_t flags, uint32_t tag,
                         nub_gva_t *gva, uint64_t *size)
{
	if (!sb)
		return NUB_EINVAL;
	return nub_sandbox_result(sb, sandbox_map_file(sb, path, flags, tag, gva, size));
}

/* Mapping i: its slot and its record (the leaves are the caller's). */
static int drop(struct nub_sandbox *sb, unsigned i)
{
	struct nub_mapping *m = &sb->maps[i];
	int rc = sb->hv ? nub_hv_unmap_region(sb->hv, NUB_SANDBOX_SLOT_MAPPINGS + i, &sb->err) : 0;

	/* A slot the backend could not remove may still point at the file's
	 * pages: they stay mapped (leaked) rather than let the guest reach
	 * whatever the process maps there next. */
	if (!rc)
		file_close(m);
	memset(m, 0, sizeof(*m));
	m->file_fd = -1;
	sb->nmaps--;
	return rc;
}

static int sandbox_unmap(struct nub_sandbox *sb, nub_gva_t gva)
{
	struct nub_view v;
	int rc = check_mappable(sb, "unmap");

	if (rc)
		return rc;
	for (unsigned i = 0; i < NUB_MAPPINGS_MAX; i++) {
		struct nub_mapping *m = &sb->maps[i];
		if (!m->used || m->gva != gva)
			continue;
		nub_sandbox_view(sb, &v);
		rc = nub_view_unmap(&v, m->gva, m->size, &sb->err);
		if (!rc)
			rc = drop(sb, i);
		if (!rc)
			rc = publish(sb);
		if (rc)
			nub_sandbox_poison(sb, rc, "unmap failed");
		return rc;
	}
	return nub_sandbox_fail(sb, NUB_ENOTFOUND, "unmap: no mapping starts at 0x%llx",
	                        (unsigned long long)gva);
}

int nub_sandbox_unmap(struct nub_sandbox *sb, nub_gva_t gva)
{
	if (!sb)
		return NUB_EINVAL;
	return nub_sandbox_result(sb, sandbox_unmap(sb, gva));
}

int nub_sandbox_unmap_all(struct nub_sandbox *sb)
{
	int rc = 0;

	for (unsigned i = 0; sb->nmaps && i < NUB_MAPPINGS_MAX; i++) {
		if (sb->maps[i].used) {
			int r = drop(sb, i);
			rc = rc ? rc : r;
		}
	}
	sb->nextra = 0;
	sb->in_place = 0;
	return rc;
}
