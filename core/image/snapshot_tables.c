/* SPDX-License-Identifier: MIT */
/*
 * Page tables from a snapshot file. The host does not run them: it walks
 * them as untrusted data through the bounds-checked resolver (a table
 * pointer outside the file's tables reads as "not present"), checks every
 * leaf against the rules nub itself builds tables by, and gives the
 * snapshot tables built afresh from the mappings that pass. Nothing of the
 * file's table bytes reaches a VM: no intermediate entry, no large page, no
 * bit the walker does not interpret (caching, protection keys, a COW leaf
 * that is also writable).
 *
 * The rules, from nub_snapshot_from_elf, nub_snapshot_capture and
 * core/memory/view.c (the only code that changes live tables):
 *  - below scratch, only the layout's snapshot region is mapped;
 *  - the PEB, the GDT/TSS/IDT page and the exception stubs are mapped at
 *    their own GVA to their own GPA, as the host maps them (PEB user
 *    read-only, tables supervisor read-only, stubs supervisor read-only
 *    executable), and no other GVA maps those three GPAs;
 *  - every other snapshot-region page is user, maps a GPA inside the
 *    snapshot's memory, and is never writable: writable memory is
 *    copy-on-write; heap pages are copy-on-write and not executable;
 *  - scratch and the doorbell are mapped exactly as the layout says
 *    (nub_snapshot_map_fixed): nothing maps the live tables, the CoW area
 *    or a guard page but as the layout does.
 */
#include <stdarg.h>
#include <stdio.h>

#include "vmem.h"
#include <nub/guest_abi.h>

#include "error_internal.h"
#include "image/snapshot.h"

#define PAGE NUB_PAGE_SIZE

struct rebuild {
	const struct nub_layout *l;
	uint64_t mem_end; /* NUB_BASE_GPA + the snapshot's visible size */
	const char *name;
	struct nub_error *err;
	struct nub_vmem_ops fresh;
	unsigned host_seen; /* bit i: host page i was found mapped */
};

static int refuse(const struct rebuild *r, nub_gva_t gva, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int refuse(const struct rebuild *r, nub_gva_t gva, const char *fmt, ...)
{
	char msg[NUB_ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return nub_error_set(r->err, NUB_ECORRUPT, "%s: page tables: GVA 0x%llx %s", r->name,
	                     (unsigned long long)gva, msg);
}

/* "cow r-x user": a mapping as the messages show it. */
static const char *describe(uint32_t kind, uint32_t perms, char buf[24])
{
	if (kind == NUB_VMEM_UNMAPPED)
		return "unmapped";
	snprintf(buf, 24, "%s r%c%c %s", kind == NUB_VMEM_COW ? "cow" : "basic",
	         perms & NUB_VMEM_W ? 'w' : '-', perms & NUB_VMEM_X ? 'x' : '-',
	         perms & NUB_VMEM_USER ? "user" : "supervisor");
	return buf;
}

static int check_host_page(const struct rebuild *r, const struct nub_snapshot_host_page *hp,
                           const struct nub_vmem_mapping *m)
{
	char got[24], want[24];

	if (m->kind != NUB_VMEM_BASIC || m->perms != hp->perms)
		return refuse(r, m->gva, "(%s) is mapped %s, the host maps it %s", hp->what,
		              describe(m->kind, m->perms, got),
		              describe(NUB_VMEM_BASIC, hp->perms, want));
	if (m->gpa != hp->gpa)
		return refuse(r, m->gva, "(%s) maps GPA 0x%llx, not its own", hp->what,
		              (unsigned long long)m->gpa);
	return 0;
}

/* Whether gva lies in [start, start + size rounded up to pages). */
static int in_range(uint64_t gva, uint64_t start, uint64_t size)
{
	return size && gva >= start && gva - start < ((size + PAGE - 1) & ~(uint64_t)(PAGE - 1));
}

static int check_guest_page(const struct rebuild *r, const struct nub_vmem_mapping *m)
{
	const struct nub_layout *l = r->l;
	const int heap = m->gva >= l->heap_gpa && m->gva - l->heap_gpa < l->heap_size;
	char got[24];

	if (m->gpa < NUB_BASE_GPA || m->gpa >= r->mem_end)
		return refuse(r, m->gva,
		              "maps GPA 0x%llx, outside the snapshot's memory [0x%llx, 0x%llx)",
		              (unsigned long long)m->gpa, (unsigned long long)NUB_BASE_GPA,
		              (unsigned long long)r->mem_end);
	if (m->gpa < l->image_gpa)
		return refuse(
		        r, m->gva,
		        "maps GPA 0x%llx, a page only the host maps (PEB, GDT/TSS/IDT, stubs)",
		        (unsigned long long)m->gpa);
	if (!(m->perms & NUB_VMEM_USER))
		return refuse(r, m->gva, "is supervisor-only: only the host's pages are");
	if (m->kind == NUB_VMEM_BASIC && (m->perms & NUB_VMEM_W))
		return refuse(r, m->gva,
		              "is writable and not copy-on-write: snapshot memory is never "
		              "writable in the tables");
	if (heap && (m->kind != NUB_VMEM_COW || m->perms != (NUB_VMEM_R | NUB_VMEM_USER)))
		return refuse(r, m->gva, "(heap) is mapped %s, the host maps the heap cow r-- user",
		              describe(m->kind, m->perms, got));
	if (in_range(m->gva, l->args_gpa, l->args_size) ||
	    in_range(m->gva, l->files_gpa, l->files_size)) {
		if (m->kind != NUB_VMEM_BASIC || m->perms != (NUB_VMEM_R | NUB_VMEM_USER))
			return refuse(r, m->gva,
			              "(arguments or file tree) is mapped %s, the host maps them "
			              "r-- user, never writable",
			              describe(m->kind, m->perms, got));
	}
	return 0;
}

/* One page below scratch. */
static int check_low_page(struct rebuild *r, const struct nub_vmem_mapping *m)
{
	const struct nub_layout *l = r->l;
	struct nub_snapshot_host_page hp[NUB_SNAPSHOT_HOST_PAGES];

	nub_snapshot_host_pages(l, hp);
	for (unsigned i = 0; i < NUB_SNAPSHOT_HOST_PAGES; i++) {
		if (m->gva == hp[i].gpa) {
			r->host_seen |= 1u << i;
			return check_host_page(r, &hp[i], m);
		}
	}
	if (m->gva < l->image_gpa || m->gva - NUB_BASE_GPA >= l->snapshot_size)
		return refuse(r, m->gva,
		              "is below scratch but outside the snapshot region [0x%llx, 0x%llx)",
		              (unsigned long long)NUB_BASE_GPA,
		              (unsigned long long)(NUB_BASE_GPA + l->snapshot_size));
	return check_guest_page(r, m);
}

static int walk_failed(const struct rebuild *r, int rc)
{
	return nub_error_set(r->err, NUB_ECORRUPT, "%s: page tables: walking them: %s", r->name,
	                     nub_strerror(rc));
}

static int map_fresh(const struct rebuild *r, const struct nub_vmem_mapping *run)
{
	int rc = nub_vmem_map(&r->fresh, run);

	if (rc == NUB_EFULL)
		return refuse(r, run->gva,
		              "and what else they map need more than the layout's 0x%llx bytes of "
		              "page tables",
		              (unsigned long long)r->l->pt_reserve);
	if (rc)
		return refuse(r, run->gva, "cannot be mapped again: %s", nub_strerror(rc));
	return 0;
}

/* Every leaf below scratch, checked page by page, then mapped run by run
 * in increasing GVA order, as capture does: a file nub wrote gets tables
 * equal to its own, byte for byte. */
static int rebuild_low(struct rebuild *r, const struct nub_vmem_ops *file)
{
	struct nub_vmem_iter it;
	struct nub_vmem_mapping run;
	int rc;

	nub_vmem_iter_init(&it, file, 0, r->l->scratch_gva);
	while ((rc = nub_vmem_iter_next(&it, &run)) == 1) {
		for (uint64_t off = 0; off < run.len; off += PAGE) {
			struct nub_vmem_mapping page = run;
			page.gva += off;
			page.gpa += off;
			page.len = PAGE;
			rc = check_low_page(r, &page);
			if (rc)
				return rc;
		}
		rc = map_fresh(r, &run);
		if (rc)
			return rc;
	}
	return rc < 0 ? walk_failed(r, rc) : 0;
}

static int check_host_pages_seen(const struct rebuild *r)
{
	struct nub_snapshot_host_page hp[NUB_SNAPSHOT_HOST_PAGES];

	nub_snapshot_host_pages(r->l, hp);
	for (unsigned i = 0; i < NUB_SNAPSHOT_HOST_PAGES; i++)
		if (!(r->host_seen & (1u << i)))
			return refuse(r, hp[i].gpa, "(%s) is not mapped", hp[i].what);
	return 0;
}

/* Scratch and the doorbells: each leaf the file has there must be what the
 * fresh tables (already holding nub_snapshot_map_fixed) have. */
static int check_high(const struct rebuild *r, const struct nub_vmem_ops *file)
{
	const struct nub_layout *l = r->l;
	struct nub_vmem_iter it;
	struct nub_vmem_mapping run, want;
	char got_s[24], want_s[24];
	int rc;

	nub_vmem_iter_init(&it, file, l->scratch_gva, NUB_GVA_LIMIT - l->scratch_gva);
	while ((rc = nub_vmem_iter_next(&it, &run)) == 1) {
		for (uint64_t off = 0; off < run.len; off += PAGE) {
			nub_gva_t va = run.gva + off;
			if (!nub_layout_is_doorbell_page(va) &&
			    va - l->scratch_gva >= l->scratch_size)
				return refuse(r, va, "is above scratch and not a doorbell");
			rc = nub_vmem_translate(&r->fresh, va, &want);
			if (rc)
				return walk_failed(r, rc);
			if (want.kind == run.kind && want.perms == run.perms &&
			    want.gpa == run.gpa + off)
				continue;
			return refuse(r, va, "maps GPA 0x%llx %s, the layout maps it to 0x%llx %s",
			              (unsigned long long)(run.gpa + off),
			              describe(run.kind, run.perms, got_s),
			              (unsigned long long)want.gpa,
			              describe(want.kind, want.perms, want_s));
		}
	}
	return rc < 0 ? walk_failed(r, rc) : 0;
}

static int map_fixed(const struct rebuild *r)
{
	struct nub_error e = {0};

	if (nub_snapshot_map_fixed(&r->fresh, r->l, &e))
		return nub_error_set(r->err, NUB_ECORRUPT, "%s: page tables: %s", r->name, e.msg);
	return 0;
}

int nub_snapshot_rebuild_tables(const struct nub_layout *l, uint64_t visible_size,
                                const uint8_t *tables, uint64_t pt_size, const char *name,
                                struct nub_vmem_buf *out, struct nub_error *err)
{
	struct rebuild r = {
	        .l = l, .mem_end = NUB_BASE_GPA + visible_size, .name = name, .err = err};
	struct nub_vmem_resolver res;
	struct nub_vmem_ops file;
	int rc;

	/* The file's tables are readable at their live address and nowhere
	 * else: an entry pointing into guest memory reads as not present. */
	nub_vmem_resolver_init(&res);
	nub_vmem_resolver_add(&res, l->pt_gpa, pt_size, (void *)tables, 0);
	nub_vmem_resolver_ops(&res, l->pt_gpa, &file);
	rc = nub_vmem_buf_init(out, l->pt_gpa, l->pt_reserve, err);
	if (rc)
		return rc;
	nub_vmem_buf_ops(out, &r.fresh);
	rc = rebuild_low(&r, &file);
	if (!rc)
		rc = check_host_pages_seen(&r);
	if (!rc)
		rc = map_fixed(&r);
	if (!rc)
		rc = check_high(&r, &file);
	if (rc)
		nub_vmem_buf_free(out);
	return rc;
}
