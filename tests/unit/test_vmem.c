/* SPDX-License-Identifier: MIT */
/*
 * vmem against a reference model: a sorted map page -> (phys, kind, perms)
 * driven by seeded random map/unmap sequences; every translate and every
 * run of the iterator must agree with the model, and runs must be maximal.
 */
#include <stdlib.h>
#include <string.h>

#include "vmem.h"
#include <nub/guest_abi.h>

#include "memory/vmem_host.h"
#include "nub_test.h"

#define PAGE NUB_PAGE_SIZE

/* ---- the model ---- */

struct model_page {
	uint64_t va, pa;
	uint32_t kind, perms;
};

struct model {
	struct model_page *p;
	size_t n, cap;
};

static size_t model_find(const struct model *m, uint64_t va, int *found)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (m->p[mid].va < va)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < m->n && m->p[lo].va == va;
	return lo;
}

static void model_set(struct model *m, uint64_t va, uint64_t pa, uint32_t kind, uint32_t perms)
{
	int found;
	size_t i = model_find(m, va, &found);

	if (kind == NUB_VMEM_UNMAPPED) {
		if (found) {
			memmove(&m->p[i], &m->p[i + 1], (m->n - i - 1) * sizeof(*m->p));
			m->n--;
		}
		return;
	}
	if (!found) {
		if (m->n == m->cap) {
			m->cap = m->cap ? m->cap * 2 : 1024;
			m->p = realloc(m->p, m->cap * sizeof(*m->p));
			assert_non_null(m->p);
		}
		memmove(&m->p[i + 1], &m->p[i], (m->n - i) * sizeof(*m->p));
		m->n++;
	}
	m->p[i] = (struct model_page){va, pa, kind, perms | NUB_VMEM_R};
}

static void model_map(struct model *m, const struct nub_vmem_mapping *mp)
{
	for (uint64_t off = 0; off < mp->len; off += PAGE)
		model_set(m, mp->gva + off, mp->gpa + off, mp->kind, mp->perms);
}

/* ---- checks ---- */

static void check_translate(const struct nub_vmem_ops *ops, const struct model *m, uint64_t va)
{
	struct nub_vmem_mapping t;
	int found;
	size_t i = model_find(m, va, &found);

	assert_int_equal(nub_vmem_translate(ops, va, &t), 0);
	if (!found) {
		assert_int_equal(t.kind, NUB_VMEM_UNMAPPED);
		return;
	}
	assert_int_equal(t.kind, m->p[i].kind);
	assert_int_equal(t.gpa, m->p[i].pa);
	assert_int_equal(t.perms, m->p[i].perms);
}

/* Iterate [lo, hi) and compare with the model, run by run. */
static void check_iter(const struct nub_vmem_ops *ops, const struct model *m, uint64_t lo,
                       uint64_t hi)
{
	struct nub_vmem_iter it;
	struct nub_vmem_mapping run;
	int found;
	size_t i = model_find(m, lo, &found);
	int rc;

	nub_vmem_iter_init(&it, ops, lo, hi - lo);
	while ((rc = nub_vmem_iter_next(&it, &run)) == 1) {
		assert_true(i < m->n);
		const struct model_page *first = &m->p[i];
		assert_int_equal(run.gva, first->va);
		assert_int_equal(run.gpa, first->pa);
		assert_int_equal(run.kind, first->kind);
		assert_int_equal(run.perms, first->perms);
		size_t pages = run.len / PAGE;
		for (size_t k = 1; k < pages; k++) {
			const struct model_page *p = &m->p[i + k];
			assert_int_equal(p->va, first->va + k * PAGE);
			assert_int_equal(p->pa, first->pa + k * PAGE);
			assert_int_equal(p->kind, first->kind);
			assert_int_equal(p->perms, first->perms);
		}
		i += pages;
		/* Maximal: the next model page must not continue the run. */
		if (i < m->n && m->p[i].va < hi) {
			const struct model_page *p = &m->p[i];
			assert_false(p->va == run.gva + run.len && p->pa == run.gpa + run.len &&
			             p->kind == run.kind && p->perms == run.perms);
		}
	}
	assert_int_equal(rc, 0);
	assert_true(i == m->n || m->p[i].va >= hi);
}

/* ---- fixtures ---- */

struct tables {
	struct nub_vmem_buf buf;
	struct nub_vmem_ops ops;
};

static void tables_init(struct tables *t, uint64_t max)
{
	struct nub_error err = {0};

	assert_int_equal(nub_vmem_buf_init(&t->buf, 0x100000, max, &err), 0);
	nub_vmem_buf_ops(&t->buf, &t->ops);
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Addresses clustered around interesting boundaries. */
static uint64_t pick_va(uint64_t *s)
{
	static const uint64_t anchors[] = {
	        0x1000,          0x200000,        0x40000000,
	        0x7fc0000000ull, 0x8000000000ull, NUB_GVA_LIMIT - 0x400000,
	};
	uint64_t a = anchors[rnd(s) % (sizeof(anchors) / sizeof(anchors[0]))];
	int64_t off = (int64_t)(rnd(s) % 2048) - 1024;
	uint64_t va = a + (uint64_t)(off * (int64_t)PAGE);
	if (va >= NUB_GVA_LIMIT)
		va = NUB_GVA_LIMIT - PAGE;
	return va & ~(PAGE - 1);
}

static void test_random_against_model(void **state)
{
	struct tables t;
	struct model m = {0};
	uint64_t seed = 0x1234567887654321ull;

	(void)state;
	tables_init(&t, 64u << 20);
	for (int op = 0; op < 3000; op++) {
		struct nub_vmem_mapping mp = {0};
		mp.gva = pick_va(&seed);
		uint64_t pages = 1 + rnd(&seed) % 600;
		if (mp.gva + pages * PAGE > NUB_GVA_LIMIT)
			pages = (NUB_GVA_LIMIT - mp.gva) / PAGE;
		mp.len = pages * PAGE;
		mp.gpa = (rnd(&seed) % 0x100000) * PAGE;
		switch (rnd(&seed) % 4) {
		case 0:
			mp.kind = NUB_VMEM_UNMAPPED;
			break;
		case 1:
			mp.kind = NUB_VMEM_COW;
			mp.perms = (uint32_t)(rnd(&seed) % 2 ? NUB_VMEM_X : 0) |
			           (rnd(&seed) % 2 ? NUB_VMEM_USER : 0);
			break;
		default:
			mp.kind = NUB_VMEM_BASIC;
			mp.perms = (uint32_t)(rnd(&seed) % 8) << 1 &
			           (NUB_VMEM_W | NUB_VMEM_X | NUB_VMEM_USER);
			break;
		}
		assert_int_equal(nub_vmem_map(&t.ops, &mp), 0);
		model_map(&m, &mp);
		for (int k = 0; k < 8; k++)
			check_translate(&t.ops, &m, pick_va(&seed));
		if (op % 100 == 0)
			check_iter(&t.ops, &m, 0, NUB_GVA_LIMIT);
	}
	check_iter(&t.ops, &m, 0, NUB_GVA_LIMIT);
	/* Sub-ranges cut runs at their edges. */
	check_iter(&t.ops, &m, 0x1ff000, 0x40001000);
	free(m.p);
	nub_vmem_buf_free(&t.buf);
}

static void test_large_range_allocates_exactly(void **state)
{
	struct tables t;
	struct nub_vmem_mapping mp = {.gva = 0x40000000,
	                              .gpa = 0x1000000,
	                              .len = 1ull << 30,
	                              .kind = NUB_VMEM_BASIC,
	                              .perms = NUB_VMEM_W};
	struct nub_vmem_iter it;
	struct nub_vmem_mapping run;

	(void)state;
	tables_init(&t, 8u << 20);
	assert_int_equal(nub_vmem_map(&t.ops, &mp), 0);
	/* PML4 + PDPT + PD + 512 PTs. */
	assert_int_equal(nub_vmem_buf_used(&t.buf), (3 + 512) * PAGE);
	nub_vmem_iter_init(&it, &t.ops, 0, NUB_GVA_LIMIT);
	assert_int_equal(nub_vmem_iter_next(&it, &run), 1);
	assert_int_equal(run.gva, mp.gva);
	assert_int_equal(run.len, mp.len);
	assert_int_equal(nub_vmem_iter_next(&it, &run), 0);
	nub_vmem_buf_free(&t.buf);
}

static void test_top_of_canonical_range(void **state)
{
	struct tables t;
	struct nub_vmem_mapping mp = {
	        .gva = NUB_GVA_LIMIT - 0x3000, .gpa = 0x5000, .len = 0x3000, .kind = NUB_VMEM_COW};
	struct nub_vmem_mapping out;

	(void)state;
	tables_init(&t, 1u << 20);
	assert_int_equal(nub_vmem_map(&t.ops, &mp), 0);
	assert_int_equal(nub_vmem_translate(&t.ops, NUB_GVA_LIMIT - PAGE, &out), 0);
	assert_int_equal(out.kind, NUB_VMEM_COW);
	assert_int_equal(out.gpa, 0x7000);
	assert_int_equal(out.perms, NUB_VMEM_R);
	mp.gva = NUB_GVA_LIMIT - 0x2000;
	assert_int_equal(nub_vmem_map(&t.ops, &mp), NUB_ERANGE); /* would end past the top */
	assert_int_equal(nub_vmem_translate(&t.ops, NUB_GVA_LIMIT, &out), NUB_ERANGE);
	nub_vmem_buf_free(&t.buf);
}

static void test_bad_input(void **state)
{
	struct tables t;
	struct nub_vmem_mapping ok = {
	        .gva = 0x1000, .gpa = 0x1000, .len = PAGE, .kind = NUB_VMEM_BASIC};
	struct nub_vmem_mapping mp;

	(void)state;
	tables_init(&t, 1u << 20);
	mp = ok, mp.gva = 0x1001;
	assert_int_equal(nub_vmem_map(&t.ops, &mp), NUB_EINVAL);
	mp = ok, mp.len = 0;
	assert_int_equal(nub_vmem_map(&t.ops, &mp), NUB_EINVAL);
	mp = ok, mp.len = 100;
	assert_int_equal(nub_vmem_map(&t.ops, &mp), NUB_EINVAL);
	mp = ok, mp.gpa = 0x10;
	assert_int_equal(nub_vmem_map(&t.ops, &mp), NUB_EINVAL);
	mp = ok, mp.kind = NUB_VMEM_COW, mp.perms = NUB_VMEM_W;
	assert_int_equal(nub_vmem_map(&t.ops, &mp), NUB_EINVAL);
	mp = ok, mp.kind = 7;
	assert_int_equal(nub_vmem_map(&t.ops, &mp), NUB_EINVAL);
	mp = ok, mp.perms = 0x100;
	assert_int_equal(nub_vmem_map(&t.ops, &mp), NUB_EINVAL);
	mp = ok, mp.gva = 0xfffffffffffff000ull, mp.len = 0x2000;
	assert_int_equal(nub_vmem_map(&t.ops, &mp), NUB_ERANGE); /* wraps */
	mp = ok, mp.gva = NUB_GVA_LIMIT;
	assert_int_equal(nub_vmem_map(&t.ops, &mp), NUB_ERANGE); /* non-canonical half */
	mp = ok, mp.gpa = (1ull << 52) - PAGE, mp.len = 2 * PAGE;
	assert_int_equal(nub_vmem_map(&t.ops, &mp), NUB_ERANGE);
	assert_int_equal(nub_vmem_unmap(&t.ops, 0x1001, PAGE), NUB_EINVAL);
	/* Nothing was written by any refused call. */
	assert_int_equal(nub_vmem_buf_used(&t.buf), PAGE);
	nub_vmem_buf_free(&t.buf);
}

/* The buffer refuses a fourth table: whatever got mapped before the
 * failure is exactly what translate reports afterwards. */
static void test_allocator_failure_is_exact(void **state)
{
	struct tables t;
	struct model m = {0};
	struct nub_vmem_mapping mp = {.gva = 0x1ff000,
	                              .gpa = 0x800000,
	                              .len = 4 * PAGE,
	                              .kind = NUB_VMEM_BASIC,
	                              .perms = NUB_VMEM_W};

	(void)state;
	tables_init(&t, 4 * PAGE); /* root + PDPT + PD + one PT */
	assert_int_equal(nub_vmem_map(&t.ops, &mp), NUB_EFULL);
	/* The first page table filled its one page (0x1ff000); the second
	 * could not be allocated, so nothing of 0x200000.. exists. */
	model_set(&m, 0x1ff000, 0x800000, NUB_VMEM_BASIC, NUB_VMEM_W);
	for (uint64_t va = 0x1fe000; va < 0x204000; va += PAGE)
		check_translate(&t.ops, &m, va);
	check_iter(&t.ops, &m, 0, NUB_GVA_LIMIT);
	free(m.p);
	nub_vmem_buf_free(&t.buf);
}

static void test_unmap_and_remap(void **state)
{
	struct tables t;
	struct model m = {0};
	struct nub_vmem_mapping mp = {.gva = 0x10000,
	                              .gpa = 0x20000,
	                              .len = 64 * PAGE,
	                              .kind = NUB_VMEM_BASIC,
	                              .perms = NUB_VMEM_W | NUB_VMEM_X};

	(void)state;
	tables_init(&t, 1u << 20);
	assert_int_equal(nub_vmem_map(&t.ops, &mp), 0);
	model_map(&m, &mp);
	assert_int_equal(nub_vmem_unmap(&t.ops, 0x18000, 8 * PAGE), 0);
	for (uint64_t va = 0x18000; va < 0x20000; va += PAGE)
		model_set(&m, va, 0, NUB_VMEM_UNMAPPED, 0);
	/* Unmapping where no tables exist skips whole spans. */
	assert_int_equal(nub_vmem_unmap(&t.ops, 0x8000000000ull, 1ull << 39), 0);
	mp.gva = 0x12000, mp.gpa = 0x900000, mp.len = 2 * PAGE, mp.kind = NUB_VMEM_COW;
	mp.perms = 0;
	assert_int_equal(nub_vmem_map(&t.ops, &mp), 0);
	model_map(&m, &mp);
	/* Same GPAs, different permissions or kind: runs must split there. */
	mp.gva = 0x14000, mp.gpa = 0x24000, mp.len = PAGE, mp.kind = NUB_VMEM_BASIC;
	mp.perms = NUB_VMEM_W;
	assert_int_equal(nub_vmem_map(&t.ops, &mp), 0);
	model_map(&m, &mp);
	mp.gva = 0x16000, mp.gpa = 0x26000, mp.kind = NUB_VMEM_COW, mp.perms = NUB_VMEM_X;
	assert_int_equal(nub_vmem_map(&t.ops, &mp), 0);
	model_map(&m, &mp);
	check_iter(&t.ops, &m, 0, NUB_GVA_LIMIT);
	struct nub_vmem_iter it;
	struct nub_vmem_mapping run;
	unsigned runs = 0;
	nub_vmem_iter_init(&it, &t.ops, 0x10000, 8 * PAGE);
	while (nub_vmem_iter_next(&it, &run) == 1)
		runs++;
	/* 0x10000-0x12000 | COW 0x12000-0x14000 | W 0x14000 | WX 0x15000 |
	 * COW 0x16000 | WX 0x17000 */
	assert_int_equal(runs, 6);
	free(m.p);
	nub_vmem_buf_free(&t.buf);
}

/* The entry of each level on the way to the leaf of `gva`, leaf last. */
static void entries_of(const struct nub_vmem_ops *ops, nub_gva_t gva, uint64_t e[4])
{
	nub_gpa_t table = ops->root;

	for (int level = 3; level >= 0; level--) {
		unsigned index = (unsigned)(gva >> (12 + 9 * level)) & 511;
		assert_int_equal(ops->read_entry(ops->ctx, table, index, &e[3 - level]), 0);
		assert_true(e[3 - level] & NUB_PTE_P);
		table = e[3 - level] & NUB_PTE_ADDR_MASK;
	}
}

/* Every entry is written Accessed and every writable leaf Dirty, so a
 * walker never has to set them: on the software KVM each was a write into
 * the tables, and a writable page read before written faulted twice. A
 * read-only or copy-on-write leaf is not Dirty. */
static void test_entries_are_accessed_and_writable_leaves_dirty(void **state)
{
	const struct nub_vmem_mapping maps[] = {
	        {.gva = 0x10000,
	         .gpa = 0x20000,
	         .len = PAGE,
	         .kind = NUB_VMEM_BASIC,
	         .perms = NUB_VMEM_W},
	        {.gva = 0x11000,
	         .gpa = 0x21000,
	         .len = PAGE,
	         .kind = NUB_VMEM_BASIC,
	         .perms = NUB_VMEM_X},
	        {.gva = 0x40000000, .gpa = 0x22000, .len = PAGE, .kind = NUB_VMEM_COW},
	};
	struct tables t;
	uint64_t e[4];

	(void)state;
	tables_init(&t, 1u << 20);
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(nub_vmem_map(&t.ops, &maps[i]), 0);
		entries_of(&t.ops, maps[i].gva, e);
		for (int level = 0; level < 4; level++)
			assert_true(e[level] & NUB_PTE_A);
		assert_int_equal(!!(e[3] & NUB_PTE_D), i == 0);
	}
	nub_vmem_buf_free(&t.buf);
}

/* Tables living in "guest memory": a resolver over a host buffer; entries
 * pointing outside it read as not present, never a host fault. */
static void test_resolver_hostile_pointers(void **state)
{
	struct nub_vmem_resolver res;
	struct nub_vmem_ops ops;
	struct nub_vmem_mapping out;
	uint64_t *mem = aligned_alloc(PAGE, 4 * PAGE);
	struct nub_vmem_iter it;

	(void)state;
	assert_non_null(mem);
	memset(mem, 0, 4 * PAGE);
	nub_vmem_resolver_init(&res);
	assert_int_equal(nub_vmem_resolver_add(&res, 0x10000, 4 * PAGE, mem, 0), 0);
	nub_vmem_resolver_ops(&res, 0x10000, &ops);
	mem[0] = NUB_PTE_P | 0xdead000000ull; /* PML4[0] -> nowhere */
	mem[1] = NUB_PTE_P | 0x11000;         /* PML4[1] -> PDPT in range */
	mem[512 + 0] = NUB_PTE_P | 0x10ff8;   /* PDPT entry straddling nothing */
	assert_int_equal(nub_vmem_translate(&ops, 0x1000, &out), 0);
	assert_int_equal(out.kind, NUB_VMEM_UNMAPPED);
	assert_int_equal(nub_vmem_translate(&ops, 1ull << 39, &out), 0);
	nub_vmem_iter_init(&it, &ops, 0, NUB_GVA_LIMIT);
	assert_true(nub_vmem_iter_next(&it, &out) >= 0);
	/* Read-only resolver memory refuses writes. */
	struct nub_vmem_mapping mp = {
	        .gva = 0x1000, .gpa = 0x1000, .len = PAGE, .kind = NUB_VMEM_BASIC};
	assert_true(nub_vmem_map(&ops, &mp) < 0);
	free(mem);
}

/* ---- several roots ---- */

struct walk_log {
	unsigned runs[2], shared[2];
	struct nub_vmem_mapping run[8];
	unsigned nrun;
	struct nub_vmem_shared sh;
};

static int log_walk(void *user, unsigned root, const struct nub_vmem_mapping *run,
                    const struct nub_vmem_shared *shared)
{
	struct walk_log *w = user;

	if (run) {
		w->runs[root]++;
		if (w->nrun < 8)
			w->run[w->nrun++] = *run;
	} else {
		w->shared[root]++;
		w->sh = *shared;
	}
	return 0;
}

static void test_multi_root_aliasing(void **state)
{
	struct tables t;
	struct nub_vmem_ops b;
	struct nub_vmem_mapping m1 = {.gva = 0x200000,
	                              .gpa = 0x1000000,
	                              .len = 64 * PAGE,
	                              .kind = NUB_VMEM_BASIC,
	                              .perms = NUB_VMEM_W};
	struct nub_vmem_mapping m2 = {
	        .gva = 0x40000000, .gpa = 0x2000000, .len = 8 * PAGE, .kind = NUB_VMEM_COW};
	struct nub_vmem_mapping m3 = {.gva = 0x8000000000ull,
	                              .gpa = 0x3000000,
	                              .len = 4 * PAGE,
	                              .kind = NUB_VMEM_BASIC,
	                              .perms = NUB_VMEM_X};
	struct nub_vmem_shared seen[16];
	struct walk_log log = {0};
	struct nub_vmem_mapping out;
	nub_gpa_t roots[2], pdpt;
	uint64_t e;

	(void)state;
	tables_init(&t, 1u << 20);
	assert_int_equal(nub_vmem_map(&t.ops, &m1), 0);
	assert_int_equal(nub_vmem_map(&t.ops, &m2), 0);
	/* Root B shares A's first PDPT and maps something of its own. */
	b = t.ops;
	assert_int_equal(t.ops.alloc_table(t.ops.ctx, &b.root), 0);
	assert_int_equal(t.ops.read_entry(t.ops.ctx, t.ops.root, 0, &e), 0);
	pdpt = e & NUB_PTE_ADDR_MASK;
	assert_int_equal(nub_vmem_link_table(&b, 0x1000, 2, pdpt), NUB_EINVAL); /* unaligned */
	assert_int_equal(nub_vmem_link_table(&b, 0, 2, pdpt), 0);
	assert_int_equal(nub_vmem_map(&b, &m3), 0);
	/* B sees A's mappings through the shared table. */
	assert_int_equal(nub_vmem_translate(&b, 0x200000 + 5 * PAGE, &out), 0);
	assert_int_equal(out.gpa, 0x1000000 + 5 * PAGE);
	assert_int_equal(nub_vmem_translate(&t.ops, 0x8000000000ull, &out), 0);
	assert_int_equal(out.kind, NUB_VMEM_UNMAPPED); /* but A does not see B's */

	roots[0] = t.ops.root;
	roots[1] = b.root;
	assert_int_equal(nub_vmem_walk_roots(&t.ops, roots, 2, seen, 16, log_walk, &log), 0);
	assert_int_equal(log.runs[0], 2);
	assert_int_equal(log.shared[0], 0);
	assert_int_equal(log.runs[1], 1);
	assert_int_equal(log.shared[1], 1);
	assert_int_equal(log.sh.owner, 0);
	assert_int_equal(log.sh.root, 1);
	assert_int_equal(log.sh.level, 2);
	assert_int_equal(log.sh.gva, 0);
	assert_int_equal(log.sh.table, pdpt);
	assert_int_equal(log.run[0].gva, m1.gva);
	assert_int_equal(log.run[0].len, m1.len);
	assert_int_equal(log.run[1].gva, m2.gva);
	assert_int_equal(log.run[1].kind, NUB_VMEM_COW);
	assert_int_equal(log.run[2].gva, m3.gva);
	assert_int_equal(log.run[2].perms, NUB_VMEM_R | NUB_VMEM_X);
	/* Scratch too small for the distinct sub-tables: a clear error. */
	assert_int_equal(nub_vmem_walk_roots(&t.ops, roots, 2, seen, 2, log_walk, &log), NUB_EFULL);
	nub_vmem_buf_free(&t.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_random_against_model),
	        cmocka_unit_test(test_large_range_allocates_exactly),
	        cmocka_unit_test(test_top_of_canonical_range),
	        cmocka_unit_test(test_bad_input),
	        cmocka_unit_test(test_allocator_failure_is_exact),
	        cmocka_unit_test(test_unmap_and_remap),
	        cmocka_unit_test(test_entries_are_accessed_and_writable_leaves_dirty),
	        cmocka_unit_test(test_resolver_hostile_pointers),
	        cmocka_unit_test(test_multi_root_aliasing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
