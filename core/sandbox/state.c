/* SPDX-License-Identifier: MIT */
/*
 * A sandbox's state and its resets: the snapshot mapped into the VM, the
 * vCPU put back to the clean ABI-2 values, the working set copied, the
 * guest's seed; snapshots taken and restored; poisoning (set when a run
 * fails, cleared by a reset); the guest memory view; the host's heap
 * measure and the guest counter.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <nub/guest_abi.h>
#include <nub/nub.h>

#include "backend/hv.h"
#include "error_internal.h"
#include "image/snapshot.h"
#include "memory/counter.h"
#include "memory/view.h"
#include "sandbox/sandbox_internal.h"
#include "x86/cpu.h"

int nub_sandbox_poison(struct nub_sandbox *sb, int code, const char *reason)
{
	snprintf(sb->poison_reason, sizeof(sb->poison_reason), "%s",
	         reason ? reason : nub_strerror(code));
	sb->poisoned = 1;
	sb->poison_code = code;
	return code;
}

int nub_sandbox_abort_info(const struct nub_sandbox *sb, uint32_t *code, char *text, size_t cap,
                           size_t *len)
{
	size_t n;

	if (!sb || !code)
		return NUB_EINVAL;
	if (!sb->abort.have)
		return NUB_ENOTFOUND;
	*code = sb->abort.code;
	if (len)
		*len = sb->abort.len;
	if (text && cap) {
		n = sb->abort.len < cap - 1 ? sb->abort.len : cap - 1;
		memcpy(text, sb->abort.text, n);
		text[n] = '\0';
	}
	return 0;
}

int nub_sandbox_status(const struct nub_sandbox *sb, struct nub_sandbox_status *st)
{
	struct nub_sandbox_status s;
	size_t want;

	if (!sb || !st || st->struct_size < 8)
		return NUB_EINVAL;
	want = st->struct_size;
	memset(&s, 0, sizeof(s));
	s.evolved = sb->hv != NULL && sb->dispatch_gva != 0;
	s.poisoned = (uint32_t)sb->poisoned;
	s.poison_code = sb->poisoned ? sb->poison_code : 0;
	s.generation = sb->generation;
	s.mappings = sb->nmaps;
	s.pooled = sb->stats.vms_recycled != 0;
	if (sb->poisoned)
		snprintf(s.poison_reason, sizeof(s.poison_reason), "%s", sb->poison_reason);
	nub_sandbox_copy_sized(st, want, &s, sizeof(s));
	st->struct_size = (uint32_t)want;
	return 0;
}

void nub_sandbox_view(struct nub_sandbox *sb, struct nub_view *c)
{
	c->l = &sb->base->layout;
	c->snapshot = sb->current->mem;
	c->present = sb->current->present;
	c->visible_size = sb->current->visible_size;
	c->scratch = sb->scratch;
	c->next = &sb->cow_next;
	c->copies = &sb->copies;
	c->extra = sb->extra;
	c->nextra = sb->nextra;
	c->gpa_base = sb->hv ? nub_hv_gpa_base(sb->hv) : 0;
}

void nub_sandbox_syscall(const struct nub_sandbox *sb, const struct nub_snapshot *snap,
                         struct nub_cpu_syscall *sys)
{
	sys->entry = snap->syscall_gva;
	sys->at_cpl3 = (nub_hv_caps(sb->hv) & NUB_CAP_SYSCALL_AT_CPL3) != 0;
}

static int map_snapshot(struct nub_sandbox *sb, struct nub_snapshot *snap)
{
	struct nub_region r = {.slot = NUB_SANDBOX_SLOT_SNAPSHOT,
	                       .flags = NUB_MEM_READ | NUB_MEM_EXEC,
	                       .gpa = NUB_BASE_GPA,
	                       .size = snap->visible_size,
	                       .host = nub_shmem_host(snap->mem)};
	int rc;

	/* snap->mem is shared memory: a backend with NUB_CAP_SHARED_MEMORY (the
	 * mock, which aliases it in its vCPU process) maps it as it is. */
	if (sb->current == snap)
		return 0;
	if (sb->current) {
		rc = nub_hv_unmap_region(sb->hv, NUB_SANDBOX_SLOT_SNAPSHOT, &sb->err);
		if (rc)
			return rc;
		nub_snapshot_unref(sb->current);
		sb->current = NULL;
	}
	rc = nub_hv_map_region(sb->hv, &r, &sb->err);
	if (rc)
		return rc;
	sb->current = nub_snapshot_ref(snap);
	return 0;
}

/* Reset every piece of vCPU state the guest can observe: registers,
 * segments, control and descriptor-table registers (always the clean ABI-2
 * values, never a captured copy), FPU/SSE/AVX state, XCR0, MSRs and debug
 * registers.
 * `cpl3_only` (a restore in place) writes only what CPL3 code can change:
 * registers, segments and their bases. Not the XSAVE components: the guest
 * re-enters through the host's entry stub on the PEB page, whose XRSTOR
 * puts every one to its initial state before any guest instruction runs
 * (nub_cpu_build_entry_stub; the stub is host bytes on a page the guest
 * cannot write, put back by every restore like all snapshot memory).
 * XCR0, MSRs and
 * debug registers need CPL0 (xsetbv, wrmsr, mov to DRn), which the guest
 * never reaches; the host's CPL0 stubs write none of them; DR6 changes on
 * a #DB, and a #DB stops the call, which poisons the sandbox and so gets
 * the full reset. Each skipped write is a vCPU ioctl (~5 us on the
 * software KVM).
 * Optional slots a backend lacks are skipped (the mock and test backends),
 * not errors. */
static int reset_cpu(struct nub_sandbox *sb, const struct nub_snapshot *snap, int cpl3_only)
{
	struct nub_regs regs;
	struct nub_sregs sregs;
	struct nub_fpu fpu;
	struct nub_debugregs dr;
	struct nub_msr msrs[NUB_CPU_CLEAN_MSRS];
	struct nub_cpu_syscall sys;
	int rc;

	nub_sandbox_syscall(sb, snap, &sys);
	uint32_t nmsrs = nub_cpu_clean_msrs(&snap->layout, snap->fs_base, &sys, msrs);
	nub_cpu_initial_state(&snap->layout, snap->entry_gva, snap->fs_base, &sys, &regs, &sregs);
	nub_cpu_initial_fpu(&fpu);
	rc = nub_hv_set_sregs(sb->hv, &sregs, &sb->err);
	if (!rc)
		rc = nub_hv_set_regs(sb->hv, &regs, &sb->err);
	if (rc || cpl3_only)
		return rc;
	if (nub_hv_has(sb->hv, NUB_HV_SLOT_SET_FPU))
		rc = nub_hv_set_fpu(sb->hv, &fpu, &sb->err);
	if (!rc && nub_hv_has(sb->hv, NUB_HV_SLOT_SET_XCR0))
		rc = nub_hv_set_xcr0(sb->hv, 0x3, &sb->err); /* x87 | SSE */
	if (!rc && nub_hv_has(sb->hv, NUB_HV_SLOT_SET_MSRS))
		rc = nub_hv_set_msrs(sb->hv, msrs, nmsrs, &sb->err);
	nub_cpu_clean_debugregs(&dr);
	if (!rc && nub_hv_has(sb->hv, NUB_HV_SLOT_SET_DEBUGREGS))
		rc = nub_hv_set_debugregs(sb->hv, &dr, &sb->err);
	return rc;
}

/* Copy the working set before the guest runs: one memcpy per page instead
 * of one exit per page. */
static int prefetch(struct nub_sandbox *sb)
{
	struct nub_view c;
	nub_sandbox_view(sb, &c);
	int rc = nub_view_prefetch(&c, &sb->hot, &sb->hot_copied, &sb->err);

	if (rc < 0)
		return rc;
	sb->stats.prefetched_pages += (uint64_t)rc;
	return 0;
}

/* Fresh entropy for the guest (NUB_SCRATCH_TOP_SEED): a restored sandbox
 * is otherwise its snapshot bit for bit, random state included, and so is
 * every sandbox made from one snapshot. */
static int write_seed(struct nub_sandbox *sb, const struct nub_layout *l)
{
	uint8_t seed[NUB_RESTORE_SEED_SIZE];

	if (nub_sandbox_seed_draw(seed))
		return nub_sandbox_fail(sb, NUB_ESYS, "restore: getrandom for the guest's seed: %s",
		                        strerror(errno));
	int rc = nub_shmem_write(sb->scratch, l->scratch_size - NUB_SCRATCH_TOP_SEED, seed,
	                         sizeof(seed), &sb->err);
	explicit_bzero(seed, sizeof(seed));
	return rc;
}

/* What a restore from `snap` into this sandbox can keep: the tables, when
 * they are `snap`'s own plus copies the host made (every one with a source
 * in the snapshot), and when the copy area can still hold a copy of every
 * page not copied yet -- so that no request can ever run out of room for
 * its copies where a full reset would have given it enough. Each page is
 * copied once at most, so with the default scratch size (room for every
 * page) that always holds. A failed run (poisoned) always gets the full
 * reset. */
static int can_reset_in_place(const struct nub_sandbox *sb, const struct nub_snapshot *snap)
{
	const struct nub_layout *l = &snap->layout;
	uint64_t room = (l->alloc_limit_offset - sb->cow_next) / NUB_PAGE_SIZE;
	/* The code's copies (debugger.c) are no copy-on-write page's. */
	uint64_t cow_copies = sb->copies.n - sb->code_copies;
	uint64_t uncopied = sb->cow_pages > cow_copies ? sb->cow_pages - cow_copies : 0;

	/* Tables a split of a large leaf would take: one per 512 pages. */
	return sb->in_place && sb->current == snap && !sb->poisoned && !sb->copies.lost &&
	       room >= uncopied + uncopied / 512 + 1;
}

/* What the sandbox itself holds and the guest reads (the host's counter),
 * the working set, and what the sandbox knows of `snap`: the end of every
 * reset, and all a VM from the pool needs (nub_sandbox_adopt). */
static int reset_settle(struct nub_sandbox *sb, struct nub_snapshot *snap, int in_place)
{
	int rc = nub_counter_rewrite(&sb->counter, &sb->err);

	/* A restore in place keeps every copy, and a page joins the working
	 * set only as the host copies it: once a prefetch found every page of
	 * the set copied, the next in-place restore's would find the same, at
	 * a walk of the tables per page (a quarter of a JS restore's
	 * instructions). */
	if (!rc && !(in_place && sb->hot_copied))
		rc = prefetch(sb); /* sb->current is snap now */
	if (rc)
		return rc;
	sb->generation = snap->generation;
	sb->dispatch_gva = snap->dispatch_gva;
	sb->fs_base = snap->fs_base;
	sb->names = snap->names;
	sb->poisoned = 0;
	sb->poison_code = 0;
	sb->abort.have = 0;
	return 0;
}

/* The rest of a reset, whichever way memory was put back. */
static int reset_finish(struct nub_sandbox *sb, struct nub_snapshot *snap, int in_place)
{
	int rc = write_seed(sb, &snap->layout);

	if (!rc)
		rc = reset_cpu(sb, snap, in_place);
	if (!rc)
		rc = reset_settle(sb, snap, in_place);
	if (!rc)
		sb->stats.restores++;
	return rc;
}

/* Keep the live tables and put back in place what the guest can have
 * changed: every copy the host made (from the snapshot), every page of
 * scratch the tables map writable that is not zero, the bookkeeping. The
 * guest's next write to a page it wrote before costs nothing -- no
 * copy-on-write exit, no refault, no shadow-MMU rebuild -- and what it
 * reads is the snapshot's, byte for byte, as after a full reset. */
static int reset_in_place(struct nub_sandbox *sb, struct nub_snapshot *snap)
{
	struct nub_view v;
	uint64_t cleared = 0;
	int64_t copied;
	int rc = 0;

	nub_sandbox_view(sb, &v);
	copied = nub_view_refresh_copies(&v, &sb->copies, &sb->err);
	if (copied < 0)
		return (int)copied;
	for (unsigned i = 0; !rc && i < sb->nwritable; i++)
		rc = nub_shmem_clear_written(sb->scratch, sb->writable[i].off, sb->writable[i].len,
		                             &cleared, &sb->err);
	if (!rc)
		rc = nub_snapshot_write_bookkeeping(snap, sb->scratch, snap->generation, &sb->err);
	if (rc)
		return rc;
	sb->stats.restore_bytes += ((uint64_t)copied + cleared) * NUB_PAGE_SIZE;
	sb->stats.restores_in_place++;
	sb->stats.restore_kept_pages += (uint64_t)copied;
	return reset_finish(sb, snap, 1);
}

/* What the tables a full reset just copied in map (struct
 * nub_tables_scan): walked by the snapshot's first full reset and kept on
 * it. A debugger's private code copies change the tables: walked each time. */
static void scan_tables(struct nub_sandbox *sb, struct nub_snapshot *snap,
                        struct nub_tables_scan *scan)
{
	const struct nub_layout *l = &snap->layout;
	const struct nub_range host_owned[] = {
	        {l->pt_offset, l->pt_reserve},
	        {l->alloc_offset, l->alloc_limit_offset - l->alloc_offset},
	};
	struct nub_view v;

	if (!sb->gdb_port && nub_snapshot_scan_get(snap, scan))
		return;
	nub_sandbox_view(sb, &v);
	scan->cow = nub_view_count_cow(&v);
	scan->n = nub_view_writable_scratch(&v, host_owned, 2, scan->writable,
	                                    NUB_SNAPSHOT_WRITABLE_MAX);
	if (scan->cow < 0)
		scan->n = -1;
	if (!sb->gdb_port)
		nub_snapshot_scan_put(snap, scan);
}

/* Map `snap`, write its tables into zeroed scratch and find what of
 * scratch they map writable; sets up the next restore to be in place. */
static int reset_full(struct nub_sandbox *sb, struct nub_snapshot *snap)
{
	const struct nub_layout *l = &snap->layout;
	enum nub_zero_method zm = 0;
	struct nub_tables_scan scan;
	uint64_t bytes = 0;
	int n, rc;

	sb->in_place = 0;
	rc = map_snapshot(sb, snap);
	if (!rc)
		rc = nub_snapshot_restore_scratch(snap, sb->scratch, sb->scratch_zero,
		                                  nub_hv_gpa_base(sb->hv), snap->generation, &zm,
		                                  &bytes, &sb->err);
	sb->scratch_zero = 0;
	sb->cow_next = l->alloc_offset;
	nub_copies_clear(&sb->copies);
	if (rc)
		return rc;
	sb->stats.restore_bytes += bytes;
	if (zm == NUB_ZERO_MADVISE)
		sb->stats.restore_zero_madvise++;
	rc = nub_sandbox_debugger_privatize(sb);
	if (rc)
		return rc;
	scan_tables(sb, snap, &scan);
	n = scan.n;
	sb->cow_pages = scan.cow < 0 ? 0 : (uint64_t)scan.cow;
	for (int i = 0; i < n; i++)
		sb->writable[i] = scan.writable[i];
	/* The bookkeeping page too (read-only to the guest): the host may
	 * have written more of it than a restore rewrites. */
	if (n >= 0 && (unsigned)n < NUB_SANDBOX_WRITABLE_MAX)
		sb->writable[n++] = (struct nub_range){l->bookkeeping_offset,
		                                       l->scratch_size - l->bookkeeping_offset};
	else
		n = -1;
	sb->nwritable = n > 0 ? (unsigned)n : 0;
	sb->in_place = n >= 0; /* tables it cannot read: rewrite them every time */
	return reset_finish(sb, snap, 0);
}

/* Half a reset is no state at all: the next one starts from scratch. */
static void reset_failed(struct nub_sandbox *sb, int rc)
{
	char why[sizeof(sb->poison_reason)];

	snprintf(why, sizeof(why), "restore failed: %.70s", sb->err.msg);
	sb->in_place = 0;
	nub_sandbox_poison(sb, rc, why);
}

int nub_sandbox_reset(struct nub_sandbox *sb, struct nub_snapshot *snap)
{
	const uint64_t t0 = nub_run_now_ns();

	nub_sandbox_trace(sb, NUB_TRACE_RESTORE_BEGIN, 0, NULL, 0);
	/* The snapshot's state has no mappings (mapping.c): all go, and the
	 * full reset rewrites the tables that held their leaves. */
	int rc = sb->nmaps ? nub_sandbox_unmap_all(sb) : 0;

	if (!rc)
		rc = can_reset_in_place(sb, snap) ? reset_in_place(sb, snap) : reset_full(sb, snap);

	if (rc)
		reset_failed(sb, rc);
	nub_sandbox_restore_done(sb, t0);
	nub_sandbox_trace(sb, NUB_TRACE_RESTORE_END, 0, NULL, rc);
	return rc;
}

int nub_sandbox_adopt(struct nub_sandbox *sb, struct nub_snapshot *snap)
{
	int rc = reset_settle(sb, snap, 0);

	if (rc)
		reset_failed(sb, rc);
	return rc;
}

static int sandbox_snapshot(struct nub_sandbox *sb, struct nub_snapshot **out)
{
	struct nub_capture_src src = {0};
	uint64_t host_fns[NUB_SNAPSHOT_HOST_FN_WORDS];

	if (!out)
		return nub_sandbox_fail(sb, NUB_EINVAL, "snapshot: NULL output");
	if (nub_sandbox_check_usable(sb, "snapshot"))
		return NUB_ESTATE;
	if (!sb->hv)
		return nub_sandbox_fail(sb, NUB_ESTATE, "snapshot: sandbox not evolved");
	if (sb->poisoned)
		return nub_sandbox_fail(sb, NUB_EPOISONED,
		                        "snapshot: sandbox poisoned, restore first");
	src.base = sb->current;
	src.scratch = sb->scratch;
	/* The live tables are where the host put them (a CPL3 guest cannot
	 * move CR3); no vCPU state is captured: a sandbox always resumes from
	 * the clean ABI-2 state at the dispatch entry. */
	src.root = sb->base->layout.pt_gpa;
	src.dispatch_gva = sb->dispatch_gva;
	src.fs_base = sb->fs_base;
	src.generation = sb->generation + 1;
	src.names = &sb->names;
	src.hot = &sb->hot;
	nub_sandbox_host_fn_bits(sb, host_fns);
	src.host_fns = host_fns;
	/* The host's mappings, with the copies made of their pages, are not
	 * the snapshot's (mapping.c). */
	src.skip = sb->extra;
	src.nskip = sb->nextra;
	src.gpa_base = nub_hv_gpa_base(sb->hv);
	return nub_snapshot_capture(&src, out, &sb->err);
}

int nub_sandbox_snapshot(struct nub_sandbox *sb, struct nub_snapshot **out)
{
	if (!sb)
		return NUB_EINVAL;
	return nub_sandbox_result(sb, sandbox_snapshot(sb, out));
}

static int sandbox_restore(struct nub_sandbox *sb, struct nub_snapshot *snap)
{
	if (nub_sandbox_check_usable(sb, "restore"))
		return NUB_ESTATE;
	if (!sb->hv)
		return nub_sandbox_fail(sb, NUB_ESTATE, "restore: sandbox not evolved");
	if (!snap)
		snap = sb->base;
	if (!nub_snapshot_compatible(sb->base, snap))
		return nub_sandbox_fail(sb, NUB_EMISMATCH,
		                        "restore: snapshot comes from another ELF or layout");
	if (!snap->dispatch_gva)
		return nub_sandbox_fail(sb, NUB_EMISMATCH,
		                        "restore: snapshot was taken before initialisation");
	if (nub_sandbox_check_host_fns(sb, snap, "restore"))
		return NUB_EMISMATCH;
	return nub_sandbox_reset(sb, snap);
}

int nub_sandbox_restore(struct nub_sandbox *sb, struct nub_snapshot *snap)
{
	if (!sb)
		return NUB_EINVAL;
	return nub_sandbox_result(sb, sandbox_restore(sb, snap));
}

static int sandbox_heap_usage(struct nub_sandbox *sb, struct nub_heap_usage *out)
{
	struct nub_view c;
	uint64_t pages = 0;

	if (!out)
		return nub_sandbox_fail(sb, NUB_EINVAL, "heap usage: NULL output");
	if (!sb->scratch || !sb->current)
		return nub_sandbox_fail(sb, NUB_ESTATE, "heap usage: sandbox not evolved");
	if (nub_sandbox_foreign(sb, "heap usage"))
		return NUB_ESTATE;
	if (sb->poisoned)
		return nub_sandbox_fail(sb, NUB_ESTATE,
		                        "heap usage: sandbox poisoned, restore first (%s)",
		                        sb->poison_reason);
	const struct nub_layout *l = &sb->base->layout;
	nub_sandbox_view(sb, &c);
	int rc = nub_view_count_written(&c, l->heap_gpa, l->heap_size, &pages);
	if (rc)
		return nub_sandbox_fail(
		        sb, rc, "heap usage: the live tables map the heap outside guest memory");
	out->heap_size = l->heap_size;
	out->written_bytes = pages * NUB_PAGE_SIZE;
	return 0;
}

int nub_sandbox_heap_usage(struct nub_sandbox *sb, struct nub_heap_usage *out)
{
	if (!sb)
		return NUB_EINVAL;
	return nub_sandbox_result(sb, sandbox_heap_usage(sb, out));
}

static int sandbox_counter_add(struct nub_sandbox *sb, int64_t delta)
{
	if (!sb->scratch)
		return nub_sandbox_fail(sb, NUB_ESTATE, "counter: sandbox not evolved");
	if (nub_sandbox_foreign(sb, "counter"))
		return NUB_ESTATE;
	return nub_counter_add(&sb->counter, delta, &sb->err);
}

int nub_sandbox_counter_add(struct nub_sandbox *sb, int64_t delta)
{
	if (!sb)
		return NUB_EINVAL;
	return nub_sandbox_result(sb, sandbox_counter_add(sb, delta));
}

uint64_t nub_sandbox_counter(const struct nub_sandbox *sb)
{
	return sb && sb->scratch ? nub_counter_value(&sb->counter) : 0;
}
