/* SPDX-License-Identifier: MIT */
/*
 * x86-64 4-level page tables over an ops table (see vmem.h).
 * Freestanding: no libc and no symbol of anyone else's, so the mock's vCPU
 * process can run it in its signal handler. 4 KiB leaves only; large pages found in tables
 * someone else wrote are understood by translate/iterate, never created.
 */
#include "vmem.h"

#include <nub/guest_abi.h>

#define PAGE      NUB_PAGE_SIZE
#define ENTRIES   512u
#define GPA_LIMIT (1ull << 52)

/* Level 3 = PML4, 2 = PDPT, 1 = PD, 0 = PT. Bytes one entry covers. */
static uint64_t span(int level)
{
	return PAGE << (9 * level);
}

static unsigned index_of(nub_gva_t va, int level)
{
	return (unsigned)(va >> (12 + 9 * level)) & (ENTRIES - 1);
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a) & ~(a - 1);
}

static int range_ok(nub_gva_t gva, uint64_t len)
{
	return len && !(gva & (PAGE - 1)) && !(len & (PAGE - 1)) && gva + len > gva &&
	       gva + len <= NUB_GVA_LIMIT;
}

static int mapping_check(const struct nub_vmem_mapping *m)
{
	if (!m || (m->gva & (PAGE - 1)) || (m->len & (PAGE - 1)) || !m->len)
		return NUB_EINVAL;
	if (!range_ok(m->gva, m->len))
		return NUB_ERANGE;
	if (m->perms & ~(NUB_VMEM_R | NUB_VMEM_W | NUB_VMEM_X | NUB_VMEM_USER))
		return NUB_EINVAL;
	switch (m->kind) {
	case NUB_VMEM_UNMAPPED:
		return 0;
	case NUB_VMEM_COW:
		if (m->perms & NUB_VMEM_W)
			return NUB_EINVAL;
		/* fall through */
	case NUB_VMEM_BASIC:
		if (m->gpa & (PAGE - 1))
			return NUB_EINVAL;
		if (m->gpa + m->len < m->gpa || m->gpa + m->len > GPA_LIMIT)
			return NUB_ERANGE;
		return 0;
	default:
		return NUB_EINVAL;
	}
}

/* Every entry is written Accessed, and a writable leaf Dirty: nub never
 * reads either bit, and a walker that finds them clear must set them. On
 * a shadow-paging KVM that is a write into the tables at each first
 * access, and a writable page first read is shadowed read-only (to catch
 * the write that sets Dirty), so its first write faults a second time: the
 * first call of a new VM took 24 shadow faults, 5 of them such seconds
 * (docs/performance.md, "Page tables written Accessed and Dirty"). */
static uint64_t leaf_entry(const struct nub_vmem_mapping *m, nub_gpa_t gpa)
{
	uint64_t e = NUB_PTE_P | NUB_PTE_A | (gpa & NUB_PTE_ADDR_MASK);

	if (m->kind == NUB_VMEM_COW)
		e |= NUB_PTE_COW;
	else if (m->perms & NUB_VMEM_W)
		e |= NUB_PTE_RW | NUB_PTE_D;
	if (m->perms & NUB_VMEM_USER)
		e |= NUB_PTE_US;
	if (!(m->perms & NUB_VMEM_X))
		e |= NUB_PTE_NX;
	return e;
}

/* An entry pointing at a table: P|RW|US with no NX, so the leaf alone
 * decides permissions; Accessed, as leaf_entry says. */
static uint64_t table_entry(nub_gpa_t table)
{
	return NUB_PTE_P | NUB_PTE_RW | NUB_PTE_US | NUB_PTE_A | (table & NUB_PTE_ADDR_MASK);
}

/* Point entry `index` of `table` at a fresh, zeroed table. */
static int link_fresh(const struct nub_vmem_ops *ops, nub_gpa_t table, unsigned index,
                      nub_gpa_t *fresh)
{
	int rc = ops->alloc_table(ops->ctx, fresh);

	if (!rc)
		rc = ops->write_entry(ops->ctx, table, index, table_entry(*fresh));
	return rc;
}

/*
 * Descend from the root to the table at `stop` (0: the page table) covering
 * va, creating missing tables when `alloc`. Returns 1 with *out set, 0 when
 * absent (no alloc; *absent_level is the level of the missing entry), or a
 * negative error.
 */
static int walk_down(const struct nub_vmem_ops *ops, nub_gva_t va, int stop, int alloc,
                     nub_gpa_t *out, int *absent_level)
{
	nub_gpa_t table = ops->root;

	for (int level = 3; level > stop; level--) {
		uint64_t e;
		int rc = ops->read_entry(ops->ctx, table, index_of(va, level), &e);
		if (rc)
			return rc;
		if (e & NUB_PTE_P) {
			if (e & NUB_PTE_PS)
				return NUB_EINVAL; /* a large page is in the way */
			table = e & NUB_PTE_ADDR_MASK;
			continue;
		}
		if (!alloc) {
			*absent_level = level;
			return 0;
		}
		rc = link_fresh(ops, table, index_of(va, level), &table);
		if (rc)
			return rc;
	}
	*out = table;
	return 1;
}

static int walk_to_pt(const struct nub_vmem_ops *ops, nub_gva_t va, int alloc, nub_gpa_t *pt,
                      int *absent_level)
{
	return walk_down(ops, va, 0, alloc, pt, absent_level);
}

/* Write leaves for [va, end) within one page table. */
static int fill_pt(const struct nub_vmem_ops *ops, nub_gpa_t pt, nub_gva_t va, nub_gva_t end,
                   const struct nub_vmem_mapping *m)
{
	for (unsigned i = index_of(va, 0); i < ENTRIES && va < end; i++, va += PAGE) {
		uint64_t e = m ? leaf_entry(m, m->gpa + (va - m->gva)) : 0;
		int rc = ops->write_entry(ops->ctx, pt, i, e);
		if (rc)
			return rc;
	}
	return 0;
}

int nub_vmem_map(const struct nub_vmem_ops *ops, const struct nub_vmem_mapping *m)
{
	int rc = mapping_check(m);
	nub_gva_t va, end;

	if (rc)
		return rc;
	if (m->kind == NUB_VMEM_UNMAPPED)
		return nub_vmem_unmap(ops, m->gva, m->len);
	end = m->gva + m->len;
	for (va = m->gva; va < end; va = align_up(va, span(1))) {
		nub_gpa_t pt = 0;
		int absent;
		rc = walk_to_pt(ops, va, 1, &pt, &absent);
		if (rc < 0)
			return rc;
		rc = fill_pt(ops, pt, va, end, m);
		if (rc)
			return rc;
	}
	return 0;
}

int nub_vmem_unmap(const struct nub_vmem_ops *ops, nub_gva_t gva, uint64_t len)
{
	nub_gva_t va, end = gva + len;

	if ((gva & (PAGE - 1)) || (len & (PAGE - 1)) || !len)
		return NUB_EINVAL;
	if (!range_ok(gva, len))
		return NUB_ERANGE;
	for (va = gva; va < end;) {
		nub_gpa_t pt = 0;
		int absent = 0;
		int rc = walk_to_pt(ops, va, 0, &pt, &absent);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			va = align_up(va, span(absent)); /* nothing mapped below */
			continue;
		}
		rc = fill_pt(ops, pt, va, end, NULL);
		if (rc)
			return rc;
		va = align_up(va, span(1));
	}
	return 0;
}

/* ---- reading tables back ---- */

/* Permissions accumulated down the walk: writable and user only if every
 * level allows it; executable unless some level sets NX. */
struct walk_perm {
	int w, user, nx;
};

static void perm_add(struct walk_perm *p, uint64_t e)
{
	p->w &= (e & NUB_PTE_RW) != 0;
	p->user &= (e & NUB_PTE_US) != 0;
	p->nx |= (e & NUB_PTE_NX) != 0;
}

static void describe(uint64_t leaf, struct walk_perm p, nub_gpa_t gpa, struct nub_vmem_mapping *out)
{
	out->gpa = gpa;
	out->perms = NUB_VMEM_R | (p.user ? NUB_VMEM_USER : 0) | (p.nx ? 0 : NUB_VMEM_X);
	if (leaf & NUB_PTE_COW) {
		out->kind = NUB_VMEM_COW;
	} else {
		out->kind = NUB_VMEM_BASIC;
		if (p.w)
			out->perms |= NUB_VMEM_W;
	}
}

/*
 * Look up va. Returns 1 with *out describing its page (len = bytes to the
 * end of the leaf's span from va, page-granular), or 0 with *skip = bytes
 * from va to the end of the absent span, or a negative error.
 */
static int lookup(const struct nub_vmem_ops *ops, nub_gva_t va, struct nub_vmem_mapping *out,
                  uint64_t *skip)
{
	struct walk_perm p = {1, 1, 0};
	nub_gpa_t table = ops->root;

	for (int level = 3; level >= 0; level--) {
		uint64_t e;
		int rc = ops->read_entry(ops->ctx, table, index_of(va, level), &e);
		if (rc)
			return rc;
		if (!(e & NUB_PTE_P)) {
			*skip = align_up(va, span(level)) - va;
			return 0;
		}
		perm_add(&p, e);
		if (level == 0 || ((e & NUB_PTE_PS) && level <= 2)) {
			uint64_t off = va & (span(level) - 1) & ~(PAGE - 1);
			nub_gpa_t base = e & NUB_PTE_ADDR_MASK & ~(span(level) - 1);
			describe(e, p, base + off, out);
			out->gva = va & ~(PAGE - 1);
			out->len = span(level) - off;
			return 1;
		}
		table = e & NUB_PTE_ADDR_MASK;
	}
	return NUB_ECORRUPT; /* not reached */
}

int nub_vmem_translate(const struct nub_vmem_ops *ops, nub_gva_t gva, struct nub_vmem_mapping *m)
{
	uint64_t skip;
	int rc;

	if (gva >= NUB_GVA_LIMIT)
		return NUB_ERANGE;
	rc = lookup(ops, gva & ~(PAGE - 1), m, &skip);
	if (rc < 0)
		return rc;
	m->gva = gva & ~(PAGE - 1);
	m->len = PAGE;
	if (rc == 0) {
		m->kind = NUB_VMEM_UNMAPPED;
		m->gpa = 0;
		m->perms = 0;
	}
	return 0;
}

void nub_vmem_iter_init(struct nub_vmem_iter *it, const struct nub_vmem_ops *ops, nub_gva_t gva,
                        uint64_t len)
{
	it->ops = ops;
	it->next = gva & ~(PAGE - 1);
	it->end = gva + len < gva || gva + len > NUB_GVA_LIMIT ? NUB_GVA_LIMIT : gva + len;
	it->error = 0;
}

static int same_run(const struct nub_vmem_mapping *run, const struct nub_vmem_mapping *m)
{
	return m->kind == run->kind && m->perms == run->perms && m->gva == run->gva + run->len &&
	       m->gpa == run->gpa + run->len;
}

/* Extend the run through the leaves of one page table (one read per page
 * instead of a walk). Returns 1 if it consumed the table to its end, 0 if
 * the run stopped, or a negative error. */
static int extend_in_pt(const struct nub_vmem_ops *ops, nub_gpa_t pt, struct nub_vmem_mapping *run,
                        struct walk_perm p, nub_gva_t end)
{
	nub_gva_t va = run->gva + run->len;

	for (unsigned i = index_of(va, 0); i < ENTRIES; i++, va += PAGE) {
		struct nub_vmem_mapping m;
		struct walk_perm q = p;
		uint64_t e;
		int rc;
		if (va >= end)
			return 0;
		rc = ops->read_entry(ops->ctx, pt, i, &e);
		if (rc)
			return rc;
		if (!(e & NUB_PTE_P))
			return 0;
		perm_add(&q, e);
		describe(e, q, e & NUB_PTE_ADDR_MASK, &m);
		m.gva = va;
		if (!same_run(run, &m))
			return 0;
		run->len += PAGE;
	}
	return 1;
}

/* The permissions of the tables above va's page table, and that table. */
static int pt_of(const struct nub_vmem_ops *ops, nub_gva_t va, nub_gpa_t *pt, struct walk_perm *p)
{
	nub_gpa_t table = ops->root;

	*p = (struct walk_perm){1, 1, 0};
	for (int level = 3; level >= 1; level--) {
		uint64_t e;
		int rc = ops->read_entry(ops->ctx, table, index_of(va, level), &e);
		if (rc)
			return rc;
		if (!(e & NUB_PTE_P) || (e & NUB_PTE_PS))
			return 0;
		perm_add(p, e);
		table = e & NUB_PTE_ADDR_MASK;
	}
	*pt = table;
	return 1;
}

static int iter_fail(struct nub_vmem_iter *it, int rc)
{
	it->error = rc;
	it->next = it->end;
	return rc;
}

int nub_vmem_iter_next(struct nub_vmem_iter *it, struct nub_vmem_mapping *run)
{
	const struct nub_vmem_ops *ops = it->ops;
	uint64_t skip;
	int rc;

	if (it->error)
		return it->error;
	/* Find the first mapped page, skipping absent spans whole. */
	for (;;) {
		if (it->next >= it->end)
			return 0;
		rc = lookup(ops, it->next, run, &skip);
		if (rc < 0)
			return iter_fail(it, rc);
		if (rc == 1)
			break;
		if (it->next + skip < it->next)
			return it->next = it->end, 0;
		it->next += skip;
	}
	if (run->len > it->end - run->gva)
		run->len = it->end - run->gva;
	/* Extend while GVA and GPA stay consecutive and kind and permissions
	 * stay equal. */
	while (run->gva + run->len < it->end) {
		struct nub_vmem_mapping m;
		nub_gva_t va = run->gva + run->len;
		struct walk_perm p;
		nub_gpa_t pt = 0;
		rc = pt_of(ops, va, &pt, &p);
		if (rc == 1)
			rc = extend_in_pt(ops, pt, run, p, it->end);
		else if (rc == 0 && (rc = lookup(ops, va, &m, &skip)) == 1 && same_run(run, &m))
			run->len += m.len < it->end - va ? m.len : it->end - va;
		else if (rc == 1)
			rc = 0; /* mapped, but not a continuation */
		if (rc < 0)
			return iter_fail(it, rc);
		if (rc == 0)
			break;
	}
	it->next = run->gva + run->len;
	return 1;
}

/* ---- several roots ---- */

struct multi {
	const struct nub_vmem_ops *ops;
	struct nub_vmem_shared *seen;
	size_t nseen, cap;
	nub_vmem_walk_fn fn;
	void *user;
	unsigned root;
	struct nub_vmem_mapping run; /* pending coalesced run, len 0 if none */
};

static int flush_run(struct multi *w)
{
	int rc = 0;

	if (w->run.len)
		rc = w->fn(w->user, w->root, &w->run, NULL);
	w->run.len = 0;
	return rc;
}

static int leaf(struct multi *w, nub_gva_t va, uint64_t e, struct walk_perm p, int level)
{
	struct nub_vmem_mapping m;

	perm_add(&p, e);
	describe(e, p, e & NUB_PTE_ADDR_MASK & ~(span(level) - 1), &m);
	m.gva = va;
	m.len = span(level);
	if (w->run.len && same_run(&w->run, &m)) {
		w->run.len += m.len;
		return 0;
	}
	int rc = flush_run(w);
	w->run = m;
	return rc;
}

/* Seen before? Record it otherwise. Returns 1 (shared: reported), 0 (new),
 * or a negative error. */
static int note_table(struct multi *w, nub_gpa_t table, int level, nub_gva_t va)
{
	for (size_t i = 0; i < w->nseen; i++) {
		if (w->seen[i].table != table || w->seen[i].level != level)
			continue;
		struct nub_vmem_shared sh = {w->root, w->seen[i].owner, level, va, table};
		int rc = flush_run(w);
		return rc ? rc : (rc = w->fn(w->user, w->root, NULL, &sh)) ? rc : 1;
	}
	if (w->nseen == w->cap)
		return NUB_EFULL;
	w->seen[w->nseen++] = (struct nub_vmem_shared){w->root, w->root, level, va, table};
	return 0;
}

static int walk_table(struct multi *w, nub_gpa_t table, int level, nub_gva_t base,
                      struct walk_perm p)
{
	for (unsigned i = 0; i < ENTRIES; i++) {
		nub_gva_t va = base + (uint64_t)i * span(level);
		uint64_t e;
		int rc = w->ops->read_entry(w->ops->ctx, table, i, &e);
		if (rc)
			return rc;
		if (va >= NUB_GVA_LIMIT)
			break;
		if (!(e & NUB_PTE_P))
			continue;
		if (level == 0 || ((e & NUB_PTE_PS) && level <= 2)) {
			rc = leaf(w, va, e, p, level);
			if (rc)
				return rc;
			continue;
		}
		nub_gpa_t sub = e & NUB_PTE_ADDR_MASK;
		rc = note_table(w, sub, level - 1, va);
		if (rc < 0)
			return rc;
		if (rc == 1)
			continue;
		struct walk_perm q = p;
		perm_add(&q, e);
		rc = walk_table(w, sub, level - 1, va, q);
		if (rc)
			return rc;
	}
	return 0;
}

int nub_vmem_walk_roots(const struct nub_vmem_ops *ops, const nub_gpa_t *roots, unsigned n,
                        struct nub_vmem_shared *seen, size_t seen_cap, nub_vmem_walk_fn fn,
                        void *user)
{
	struct multi w = {.ops = ops, .seen = seen, .cap = seen_cap, .fn = fn, .user = user};

	if (!ops || (n && !roots) || !fn || (seen_cap && !seen))
		return NUB_EINVAL;
	for (w.root = 0; w.root < n; w.root++) {
		int rc = walk_table(&w, roots[w.root] & NUB_PTE_ADDR_MASK, 3, 0,
		                    (struct walk_perm){1, 1, 0});
		if (!rc)
			rc = flush_run(&w);
		if (rc)
			return rc;
	}
	return 0;
}

int nub_vmem_link_table(const struct nub_vmem_ops *ops, nub_gva_t gva, int level, nub_gpa_t table)
{
	nub_gpa_t parent = 0; /* set by walk_down whenever it succeeds */
	int absent, rc;

	if (level < 0 || level > 2 || (gva & (span(level + 1) - 1)) || gva >= NUB_GVA_LIMIT ||
	    (table & (PAGE - 1)) || table >= GPA_LIMIT)
		return NUB_EINVAL;
	rc = walk_down(ops, gva, level + 1, 1, &parent, &absent);
	if (rc < 0)
		return rc;
	return ops->write_entry(ops->ctx, parent, index_of(gva, level + 1), table_entry(table));
}
