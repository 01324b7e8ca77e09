/* SPDX-License-Identifier: MIT */
#include "memory/view.h"

#include <stdlib.h>

#include "vmem.h"
#include <nub/guest_abi.h>

#include "error_internal.h"
#include "memory/vmem_host.h"

#define PAGE NUB_PAGE_SIZE

struct cow_ctx {
	const struct nub_view *c;
	struct nub_error *err;
};

/* A fresh scratch page (for a copy, or for a table when a large leaf is
 * split). Scratch pages past the cursor are zero: restore zeroes them. */
static int cow_alloc(void *ctx, nub_gpa_t *page)
{
	const struct nub_view *c = ((struct cow_ctx *)ctx)->c;
	const struct nub_layout *l = c->l;
	uint64_t at = *c->next;

	if (at < l->alloc_offset || at > l->alloc_limit_offset || l->alloc_limit_offset - at < PAGE)
		return NUB_EFULL;
	*c->next = at + PAGE;
	*page = l->scratch_gpa + at;
	return 0;
}

static void cow_ops(struct nub_vmem_resolver *res, struct cow_ctx *ctx, struct nub_vmem_ops *ops)
{
	const struct nub_view *c = ctx->c;

	nub_vmem_resolver_init(res);
	nub_vmem_resolver_add(res, NUB_BASE_GPA, c->visible_size, nub_shmem_host(c->snapshot), 0);
	nub_vmem_resolver_add(res, c->l->scratch_gpa, c->l->scratch_size,
	                      nub_shmem_host(c->scratch), 1);
	res->alloc = cow_alloc;
	res->alloc_ctx = ctx;
	res->window = c->gpa_base;
	nub_vmem_resolver_ops(res, c->l->pt_gpa, ops);
}

/* Which region holds [gpa, gpa+len): the snapshot's visible part or
 * scratch, and the offset there. NUB_ECORRUPT when neither holds all of it. */
static int locate(const struct nub_view *c, nub_gpa_t gpa, uint64_t len,
                  const struct nub_shmem **mem, uint64_t *off)
{
	const struct nub_layout *l = c->l;

	if (gpa >= NUB_BASE_GPA && gpa - NUB_BASE_GPA < c->visible_size &&
	    c->visible_size - (gpa - NUB_BASE_GPA) >= len) {
		*mem = c->snapshot;
		*off = gpa - NUB_BASE_GPA;
		return 0;
	}
	if (gpa >= l->scratch_gpa && gpa - l->scratch_gpa < l->scratch_size &&
	    l->scratch_size - (gpa - l->scratch_gpa) >= len) {
		*mem = c->scratch;
		*off = gpa - l->scratch_gpa;
		return 0;
	}
	return NUB_ECORRUPT;
}

/* A snapshot page the snapshot knows to be zero (its bitmap). */
static int known_zero(const struct nub_view *c, const struct nub_shmem *mem, uint64_t off)
{
	return mem == c->snapshot && !nub_page_bit(c->present, off / PAGE);
}

void nub_copies_clear(struct nub_copies *k)
{
	k->n = 0;
	k->lost = 0;
}

void nub_copies_free(struct nub_copies *k)
{
	free(k->v);
	*k = (struct nub_copies){0};
}

/* Remember a copy for the next restore; a record that cannot be kept
 * makes that restore rewrite the tables instead. */
static void copies_add(struct nub_copies *k, uint64_t src_off, uint64_t copy_off)
{
	if (!k || k->lost)
		return;
	if (k->n == k->cap) {
		uint64_t cap = k->cap ? 2 * k->cap : 256;
		struct nub_copy *v = realloc(k->v, cap * sizeof(*v));
		if (!v) {
			k->lost = 1;
			return;
		}
		k->v = v;
		k->cap = cap;
	}
	k->v[k->n++] = (struct nub_copy){src_off, copy_off};
}

/* The host memory of one of the host's mappings holding [gpa, +PAGE). */
static const uint8_t *extra_page(const struct nub_view *c, nub_gpa_t gpa)
{
	for (unsigned i = 0; i < c->nextra; i++) {
		const struct nub_view_extra *x = &c->extra[i];
		if (gpa >= x->gpa && gpa - x->gpa < x->size && x->size - (gpa - x->gpa) >= PAGE)
			return (const uint8_t *)x->host + (gpa - x->gpa);
	}
	return NULL;
}

/* Copy the page at `src` (snapshot, scratch or a mapping) to scratch
 * offset `dst`. */
static int copy_page(const struct nub_view *c, nub_gpa_t src, uint64_t dst, struct nub_error *err)
{
	const struct nub_shmem *mem;
	const uint8_t *host;
	uint64_t off;
	uint8_t page[PAGE];

	if (locate(c, src, PAGE, &mem, &off) && (host = extra_page(c, src))) {
		/* A mapping's page (a file's, read-only at the hypervisor): no
		 * source in the snapshot, and a restore removes the mapping. */
		if (c->copies)
			c->copies->lost = 1;
		return nub_shmem_write(c->scratch, dst, host, PAGE, err);
	}
	if (locate(c, src, PAGE, &mem, &off))
		return nub_error_set(err, NUB_ECORRUPT,
		                     "copy-on-write: page maps GPA 0x%llx outside guest memory",
		                     (unsigned long long)src);
	/* A zero snapshot page needs no copy: the scratch page the copy goes
	 * to is fresh (zeroed at restore, handed out once). It is written
	 * all the same, so the host kernel gives it a page of its own now:
	 * left untouched, the guest's first read would map the kernel's zero
	 * page and its first write replace it, a replacement every KVM VM in
	 * the process is told of (an MMU notifier call per live VM). */
	if (known_zero(c, mem, off)) {
		copies_add(c->copies, NUB_COPY_ZERO, dst);
		return nub_shmem_clear(c->scratch, dst, PAGE, err);
	}
	if (mem == c->snapshot) { /* sealed: no guest can change it, copied in place */
		copies_add(c->copies, off, dst);
		return nub_shmem_write(c->scratch, dst, (const uint8_t *)nub_shmem_host(mem) + off,
		                       PAGE, err);
	}
	/* A copy of a scratch page has no source a restore could copy again. */
	if (c->copies)
		c->copies->lost = 1;
	int rc = nub_shmem_read(mem, off, page, PAGE, err);
	return rc ? rc : nub_shmem_write(c->scratch, dst, page, PAGE, err);
}

int64_t nub_view_refresh_copies(const struct nub_view *c, const struct nub_copies *k,
                                struct nub_error *err)
{
	const uint8_t *snap = nub_shmem_host(c->snapshot);
	int rc = 0;

	for (uint64_t i = 0; !rc && i < k->n; i++) {
		const struct nub_copy *p = &k->v[i];
		if (p->src_off == NUB_COPY_ZERO)
			rc = nub_shmem_clear(c->scratch, p->copy_off, PAGE, err);
		else if (p->src_off >= c->visible_size || c->visible_size - p->src_off < PAGE)
			rc = nub_error_set(
			        err, NUB_ECORRUPT,
			        "restore: a copy's source (offset 0x%llx) is outside the "
			        "snapshot",
			        (unsigned long long)p->src_off);
		else
			rc = nub_shmem_write(c->scratch, p->copy_off, snap + p->src_off, PAGE, err);
	}
	return rc ? rc : (int64_t)k->n;
}

struct writable_ctx {
	const struct nub_range *skip;
	unsigned nskip;
	struct nub_range *out;
	unsigned n, cap;
	const struct nub_layout *l;
};

/* Add the part of [off, off+len) outside the skipped ranges from skip[i]. */
static int writable_add(struct writable_ctx *w, unsigned i, uint64_t off, uint64_t len)
{
	uint64_t end = off + len;

	for (; i < w->nskip; i++) {
		uint64_t s = w->skip[i].off, e = w->skip[i].off + w->skip[i].len;
		if (off >= e || end <= s)
			continue;
		int rc = off < s ? writable_add(w, i + 1, off, s - off) : 0;
		return rc || end <= e ? rc : writable_add(w, i + 1, e, end - e);
	}
	if (w->n && w->out[w->n - 1].off + w->out[w->n - 1].len == off) {
		w->out[w->n - 1].len += len;
		return 0;
	}
	if (w->n == w->cap)
		return NUB_EFULL;
	w->out[w->n++] = (struct nub_range){off, len};
	return 0;
}

static int cow_count_add(void *user, const struct nub_vmem_mapping *run)
{
	if (run->kind == NUB_VMEM_COW)
		*(int64_t *)user += (int64_t)(run->len / PAGE);
	return 0;
}

int64_t nub_view_count_cow(const struct nub_view *c)
{
	int64_t n = 0;
	int rc = nub_view_runs(c, 0, c->l->scratch_gva + c->l->scratch_size, cow_count_add, &n);

	return rc < 0 ? rc : n;
}

/* A run the tables map writable in scratch, added outside the skipped
 * ranges; the snapshot's part is never writable (sealed). */
static int writable_run(void *user, const struct nub_vmem_mapping *run)
{
	struct writable_ctx *w = user;
	const struct nub_layout *l = w->l;

	if (run->kind != NUB_VMEM_BASIC || !(run->perms & NUB_VMEM_W))
		return 0;
	if (run->gpa < l->scratch_gpa || run->gpa - l->scratch_gpa >= l->scratch_size)
		return 0;
	uint64_t off = run->gpa - l->scratch_gpa;
	uint64_t len = l->scratch_size - off < run->len ? l->scratch_size - off : run->len;
	return writable_add(w, 0, off, len);
}

int nub_view_writable_scratch(const struct nub_view *c, const struct nub_range *skip,
                              unsigned nskip, struct nub_range *out, unsigned cap)
{
	const struct nub_layout *l = c->l;
	struct writable_ctx w = {skip, nskip, out, 0, cap, l};
	int rc = nub_view_runs(c, 0, l->scratch_gva + l->scratch_size, writable_run, &w);

	return rc ? rc : (int)w.n;
}

int nub_view_resolve_cow(const struct nub_view *c, nub_gva_t addr, struct nub_error *err)
{
	struct cow_ctx ctx = {c, err};
	struct nub_vmem_resolver res;
	struct nub_vmem_ops ops;
	struct nub_vmem_mapping m;
	nub_gva_t page = addr & ~(PAGE - 1);
	nub_gpa_t copy;
	int rc;

	cow_ops(&res, &ctx, &ops);
	if (nub_vmem_translate(&ops, page, &m) || m.kind != NUB_VMEM_COW)
		return 0;
	rc = cow_alloc(&ctx, &copy);
	if (rc)
		return nub_error_set(err, rc, "copy-on-write of 0x%llx: scratch has no free page",
		                     (unsigned long long)page);
	rc = copy_page(c, m.gpa, copy - c->l->scratch_gpa, err);
	if (rc)
		return rc;
	struct nub_vmem_mapping w = {
	        .gva = page,
	        .gpa = copy,
	        .len = PAGE,
	        .kind = NUB_VMEM_BASIC,
	        .perms = NUB_VMEM_R | NUB_VMEM_W | (m.perms & (NUB_VMEM_X | NUB_VMEM_USER)),
	};
	rc = nub_vmem_map(&ops, &w);
	if (rc)
		return nub_error_set(err, rc, "copy-on-write of 0x%llx: remapping: %s",
		                     (unsigned long long)page, nub_strerror(rc));
	return 1;
}

/* Read through the live tables; with `user_only`, only pages a CPL3 guest
 * may read. NUB_ERANGE for a page that is not mapped (so). */
static int read_mapped(const struct nub_view *c, nub_gva_t gva, void *dst, uint64_t len,
                       int user_only)
{
	struct cow_ctx ctx = {c, NULL};
	struct nub_vmem_resolver res;
	struct nub_vmem_ops ops;
	uint8_t *d = dst;

	cow_ops(&res, &ctx, &ops);
	res.alloc = NULL; /* reading never allocates */
	while (len) {
		struct nub_vmem_mapping m;
		uint64_t in_page = PAGE - (gva & (PAGE - 1)), n = len < in_page ? len : in_page;
		if (nub_vmem_translate(&ops, gva, &m) || m.kind == NUB_VMEM_UNMAPPED ||
		    (user_only && !(m.perms & NUB_VMEM_USER)))
			return NUB_ERANGE;
		const struct nub_shmem *mem;
		uint64_t off;
		if (locate(c, m.gpa + (gva & (PAGE - 1)), n, &mem, &off) ||
		    nub_shmem_read(mem, off, d, n, NULL))
			return NUB_ERANGE;
		d += n;
		gva += n;
		len -= n;
	}
	return 0;
}

int nub_view_read_gva(const struct nub_view *c, nub_gva_t gva, void *dst, uint64_t len)
{
	return read_mapped(c, gva, dst, len, 0);
}

int nub_view_runs(const struct nub_view *c, nub_gva_t gva, uint64_t len, nub_view_run_fn fn,
                  void *user)
{
	struct cow_ctx ctx = {c, NULL};
	struct nub_vmem_resolver res;
	struct nub_vmem_ops ops;
	struct nub_vmem_iter it;
	struct nub_vmem_mapping run;
	int rc;

	cow_ops(&res, &ctx, &ops);
	res.alloc = NULL;
	nub_vmem_iter_init(&it, &ops, gva, len);
	while ((rc = nub_vmem_iter_next(&it, &run)) == 1)
		if ((rc = fn(user, &run)) != 0)
			return rc;
	return rc;
}

/* 1 when the page at `gpa` holds a non-zero byte, 0 when not. */
static int page_written(const struct nub_view *c, nub_gpa_t gpa)
{
	const struct nub_shmem *mem;
	uint64_t off;
	int zero = locate(c, gpa, PAGE, &mem, &off);

	if (!zero && known_zero(c, mem, off))
		return 0; /* not even read */
	if (!zero)
		zero = nub_shmem_is_zero(mem, off, PAGE, NULL);
	return zero < 0 ? zero : !zero;
}

int nub_view_count_written(const struct nub_view *c, nub_gva_t gva, uint64_t len, uint64_t *pages)
{
	struct cow_ctx ctx = {c, NULL};
	struct nub_vmem_resolver res;
	struct nub_vmem_ops ops;
	uint64_t n = 0;

	cow_ops(&res, &ctx, &ops);
	res.alloc = NULL;
	for (uint64_t off = 0; off < len; off += PAGE) {
		struct nub_vmem_mapping m;
		if (nub_vmem_translate(&ops, gva + off, &m) || m.kind == NUB_VMEM_UNMAPPED)
			return NUB_ERANGE;
		int w = page_written(c, m.gpa);
		if (w < 0)
			return w;
		n += (uint64_t)w;
	}
	*pages = n;
	return 0;
}

void nub_hot_add_bounded(struct nub_hot_set *h, nub_gva_t page, unsigned limit)
{
	page &= ~(PAGE - 1);
	if (limit > NUB_HOT_MAX)
		limit = NUB_HOT_MAX;
	for (unsigned i = 0; i < h->n; i++)
		if (h->page[i] == page)
			return;
	if (!limit)
		return;
	if (h->n < limit) {
		h->page[h->n++] = page;
		return;
	}
	h->next %= limit;
	h->page[h->next] = page;
	h->next = (h->next + 1) % limit;
}

void nub_hot_add(struct nub_hot_set *h, nub_gva_t page)
{
	nub_hot_add_bounded(h, page, NUB_HOT_MAX);
}

int nub_view_prefetch(const struct nub_view *c, const struct nub_hot_set *h, int *all,
                      struct nub_error *err)
{
	struct nub_error full = {0};
	int copied = 0;

	*all = 0;
	for (unsigned i = 0; i < h->n && i < NUB_HOT_MAX; i++) {
		int rc = nub_view_resolve_cow(c, h->page[i], &full);
		if (rc == NUB_EFULL)
			return copied; /* only a hint: the guest faults for the rest */
		if (rc < 0)
			return nub_error_set(err, rc, "%s", full.msg);
		copied += rc;
	}
	*all = 1;
	return copied;
}

int nub_view_map(const struct nub_view *c, const struct nub_vmem_mapping *m, struct nub_error *err)
{
	struct cow_ctx ctx = {c, err};
	struct nub_vmem_resolver res;
	struct nub_vmem_ops ops;
	int rc;

	cow_ops(&res, &ctx, &ops);
	rc = nub_vmem_map(&ops, m);
	if (rc == NUB_EFULL)
		return nub_error_set(err, rc,
		                     "mapping 0x%llx: scratch has no free page for its page tables",
		                     (unsigned long long)m->gva);
	if (rc)
		return nub_error_set(err, rc, "mapping 0x%llx: %s", (unsigned long long)m->gva,
		                     nub_strerror(rc));
	return 0;
}

int nub_view_unmap(const struct nub_view *c, nub_gva_t gva, uint64_t len, struct nub_error *err)
{
	struct cow_ctx ctx = {c, err};
	struct nub_vmem_resolver res;
	struct nub_vmem_ops ops;
	int rc;

	cow_ops(&res, &ctx, &ops);
	rc = nub_vmem_unmap(&ops, gva, len);
	if (rc)
		return nub_error_set(err, rc, "unmapping 0x%llx: %s", (unsigned long long)gva,
		                     nub_strerror(rc));
	return 0;
}

/* The page at `gva` when the guest can see it (a CPL3 mapping) and its
 * bytes are the sandbox's own: scratch, never the shared snapshot or a
 * host mapping. */
static int user_private_page(const struct nub_view *c, const struct nub_vmem_ops *ops,
                             nub_gva_t gva, uint64_t *off)
{
	const struct nub_shmem *mem;
	struct nub_vmem_mapping m;

	if (nub_vmem_translate(ops, gva, &m) || m.kind != NUB_VMEM_BASIC ||
	    !(m.perms & NUB_VMEM_USER))
		return NUB_ERANGE;
	if (locate(c, m.gpa + (gva & (PAGE - 1)), 1, &mem, off) || mem != c->scratch)
		return NUB_ESTATE;
	return 0;
}

int nub_view_write_user(const struct nub_view *c, nub_gva_t gva, const void *src, uint64_t len)
{
	struct cow_ctx ctx = {c, NULL};
	struct nub_vmem_resolver res;
	struct nub_vmem_ops ops;
	const uint8_t *s = src;

	cow_ops(&res, &ctx, &ops);
	res.alloc = NULL;
	while (len) {
		uint64_t in_page = PAGE - (gva & (PAGE - 1)), n = len < in_page ? len : in_page,
		         off;
		int rc = user_private_page(c, &ops, gva, &off);
		if (rc)
			return rc;
		if (nub_shmem_write(c->scratch, off, s, n, NULL))
			return NUB_ERANGE;
		s += n;
		gva += n;
		len -= n;
	}
	return 0;
}

int nub_view_read_user(const struct nub_view *c, nub_gva_t gva, void *dst, uint64_t len)
{
	return read_mapped(c, gva, dst, len, 1);
}

/* Executable CPL3 pages that map the shared snapshot, collected for
 * nub_view_privatize_code (it remaps, so not while walking). */
struct code_runs {
	struct nub_vmem_mapping *v;
	unsigned n, cap;
};

static int code_run(void *user, const struct nub_vmem_mapping *run)
{
	struct code_runs *k = user;

	if (run->kind != NUB_VMEM_BASIC ||
	    (run->perms & (NUB_VMEM_X | NUB_VMEM_USER)) != (NUB_VMEM_X | NUB_VMEM_USER))
		return 0;
	if (k->n == k->cap) {
		unsigned cap = k->cap ? 2 * k->cap : 16;
		struct nub_vmem_mapping *v = realloc(k->v, cap * sizeof(*v));
		if (!v)
			return NUB_ENOMEM;
		k->v = v;
		k->cap = cap;
	}
	k->v[k->n++] = *run;
	return 0;
}

/* Give one page of `run` its own copy in scratch, mapped as it was. */
static int privatize_page(const struct nub_view *c, const struct nub_vmem_mapping *run,
                          uint64_t off, struct nub_error *err)
{
	struct cow_ctx ctx = {c, err};
	struct nub_vmem_resolver res;
	struct nub_vmem_ops ops;
	nub_gpa_t copy;
	int rc;

	cow_ops(&res, &ctx, &ops);
	rc = cow_alloc(&ctx, &copy);
	if (rc)
		return nub_error_set(err, rc,
		                     "debugger: no scratch page left for a private copy of the "
		                     "code at 0x%llx",
		                     (unsigned long long)(run->gva + off));
	rc = copy_page(c, run->gpa + off, copy - c->l->scratch_gpa, err);
	if (rc)
		return rc;
	struct nub_vmem_mapping m = *run;
	m.gva = run->gva + off;
	m.gpa = copy;
	m.len = PAGE;
	rc = nub_vmem_map(&ops, &m);
	if (rc)
		return nub_error_set(err, rc, "debugger: remapping the code at 0x%llx: %s",
		                     (unsigned long long)m.gva, nub_strerror(rc));
	return 0;
}

int64_t nub_view_privatize_code(const struct nub_view *c, struct nub_error *err)
{
	const struct nub_layout *l = c->l;
	struct code_runs k = {0};
	const struct nub_shmem *mem;
	int64_t n = 0;
	uint64_t at;
	int rc = nub_view_runs(c, 0, l->scratch_gva, code_run, &k);

	if (rc)
		nub_error_set(err, rc, "debugger: walking the live page tables: %s",
		              nub_strerror(rc));
	for (unsigned i = 0; !rc && i < k.n; i++) {
		if (locate(c, k.v[i].gpa, k.v[i].len, &mem, &at) || mem != c->snapshot)
			continue; /* scratch already, or a host mapping's */
		for (uint64_t off = 0; !rc && off < k.v[i].len; off += PAGE, n++)
			rc = privatize_page(c, &k.v[i], off, err);
	}
	free(k.v);
	return rc ? rc : n;
}
