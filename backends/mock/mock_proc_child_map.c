/* SPDX-License-Identifier: MIT */
/*
 * The process vCPU's child side: the guest's memory in the vCPU process.
 * The guest's user pages are mapped at their guest-virtual addresses as
 * aliases (mremap of size 0) of the regions' shared host pages, with the
 * permissions the guest's tables and the regions give; the CPU's own
 * accesses (the TSS, the exception frame) go through the tables here too.
 * Runs in the signal handler: raw system calls only (mock_proc_child.h).
 */
#include <errno.h>
#include <sys/mman.h>

#include "vmem.h"
#include <nub/guest_abi.h>

#include "mock.h"
#include "mock_proc_child.h"

#define PAGE NUB_PAGE_SIZE

/* What the child has mapped for the guest, to unmap it all again: runs of
 * guest-virtual pages, merged when one continues the last (a guest writing
 * its heap page by page makes one run, not one per page). Grows by mmap:
 * a guest may write every page of a 1 GiB heap. */
struct run {
	uint64_t gva, len;
};
static struct run *runs;
static size_t nruns, runs_cap;
uint64_t child_map_floor;

void child_vmem_ops(struct nub_vmem_ops *ops)
{
	ops->ctx = child_vm;
	ops->read_entry = mock_read_entry;
	ops->write_entry = mock_write_entry;
	ops->alloc_table = NULL;
	ops->root = child_sh->cr3 & NUB_PTE_ADDR_MASK;
}

/* Host address of `len` bytes at guest-physical `gpa` (one region). */
uint8_t *child_host_of(nub_gpa_t gpa, uint64_t len, int *writable)
{
	struct nub_region *r = mock_region_of(child_vm, gpa, len);

	if (!r)
		return NULL;
	if (writable)
		*writable = (r->flags & NUB_MEM_WRITE) != 0;
	return (uint8_t *)r->host + (gpa - r->gpa);
}

/* Remember [gva, +len) as mapped. 0, or an errno. */
static int runs_add(uint64_t gva, uint64_t len)
{
	if (nruns && runs[nruns - 1].gva + runs[nruns - 1].len == gva) {
		runs[nruns - 1].len += len;
		return 0;
	}
	if (nruns == runs_cap) {
		size_t cap = runs_cap ? runs_cap * 2 : 4096;
		long r = sys6(SYS_mmap, 0, (long)(cap * sizeof(*runs)), PROT_READ | PROT_WRITE,
		              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (sys_error(r))
			return (int)sys_error(r);
		child_copy((void *)r, runs, nruns * sizeof(*runs));
		if (runs)
			sys6(SYS_munmap, (long)runs, (long)(runs_cap * sizeof(*runs)), 0, 0, 0, 0);
		runs = (struct run *)r;
		runs_cap = cap;
	}
	runs[nruns].gva = gva;
	runs[nruns++].len = len;
	return 0;
}

/* Alias [gpa, +len) at gva with the guest's permissions. Pages below the
 * lowest address Linux lets a process map stay unmapped (an access there
 * is reported as an internal error naming it). Returns 0 when mapped, 1
 * when the guest may not have it mapped here (no memory: an MMIO page;
 * supervisor; below the floor), or the errno of the system call that
 * failed. */
static int map_run(uint64_t gva, nub_gpa_t gpa, uint64_t len, uint32_t kind, uint32_t perms)
{
	int writable;
	uint8_t *host = child_host_of(gpa, len, &writable);
	long prot = PROT_READ, r;
	int e;

	if (!host || !(perms & NUB_VMEM_USER))
		return 1;
	if (gva < child_map_floor) { /* Linux maps nothing below vm.mmap_min_addr */
		uint64_t skip = child_map_floor - gva;
		if (skip >= len)
			return 1;
		gva += skip, gpa += skip, host += skip, len -= skip;
	}
	if (kind == NUB_VMEM_BASIC && (perms & NUB_VMEM_W) && writable)
		prot |= PROT_WRITE;
	if (perms & NUB_VMEM_X)
		prot |= PROT_EXEC;
	/* Reserve first: never replace a mapping of the child's own. */
	r = sys6(SYS_mmap, (long)gva, (long)len, PROT_NONE,
	         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (r != (long)gva) {
		if (!sys_error(r)) /* an address, not an error: an old kernel */
			sys6(SYS_munmap, r, (long)len, 0, 0, 0, 0);
		return sys_error(r) ? (int)sys_error(r) : EEXIST;
	}
	r = sys6(SYS_mremap, (long)host, 0, (long)len, MREMAP_MAYMOVE | MREMAP_FIXED, (long)gva, 0);
	if (r == (long)gva)
		r = sys6(SYS_mprotect, (long)gva, (long)len, prot, 0, 0, 0);
	e = (int)sys_error(r);
	if (!e)
		e = runs_add(gva, len);
	if (e)
		sys6(SYS_munmap, (long)gva, (long)len, 0, 0, 0, 0);
	return e;
}

size_t child_runs_mapped(void)
{
	return nruns;
}

static void unmap_all(void)
{
	for (size_t i = 0; i < nruns; i++)
		sys6(SYS_munmap, (long)runs[i].gva, (long)runs[i].len, 0, 0, 0, 0);
	nruns = 0;
}

/* Everything the tables map, again. A page that fails here faults when
 * the guest touches it, and child_map_page names the failure then. */
void child_map_all(void)
{
	struct nub_vmem_ops ops;
	struct nub_vmem_iter it;
	struct nub_vmem_mapping run;

	unmap_all();
	child_vmem_ops(&ops);
	nub_vmem_iter_init(&it, &ops, 0, NUB_GVA_LIMIT);
	while (nub_vmem_iter_next(&it, &run) == 1) {
		if (mock_region_of(child_vm, run.gpa, run.len)) {
			map_run(run.gva, run.gpa, run.len, run.kind, run.perms);
			continue;
		}
		for (uint64_t off = 0; off < run.len; off += PAGE) /* crosses regions */
			map_run(run.gva + off, run.gpa + off, PAGE, run.kind, run.perms);
	}
}

/* Map the one page at gva as the tables say now: map_run's result. */
int child_map_page(uint64_t gva)
{
	struct nub_vmem_ops ops;
	struct nub_vmem_mapping m;

	gva &= ~(PAGE - 1);
	sys6(SYS_munmap, (long)gva, PAGE, 0, 0, 0, 0);
	child_vmem_ops(&ops);
	if (!nub_vmem_translate(&ops, gva, &m) && m.kind != NUB_VMEM_UNMAPPED)
		return map_run(gva, m.gpa, PAGE, m.kind, m.perms);
	return 1;
}

/* Guest-virtual bytes through the tables, at any privilege (the CPU's own
 * accesses: the TSS, the exception frame). */
int child_guest_rw(uint64_t gva, void *buf, uint64_t len, int write)
{
	struct nub_vmem_ops ops;
	struct nub_vmem_mapping m;
	int writable;

	child_vmem_ops(&ops);
	if ((gva & (PAGE - 1)) + len > PAGE || nub_vmem_translate(&ops, gva, &m) ||
	    m.kind == NUB_VMEM_UNMAPPED)
		return -1;
	uint8_t *h = child_host_of(m.gpa + (gva & (PAGE - 1)), len, &writable);
	if (!h || (write && !writable))
		return -1;
	if (write)
		child_copy(h, buf, len);
	else
		child_copy(buf, h, len);
	return 0;
}
