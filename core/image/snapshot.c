/* SPDX-License-Identifier: MIT */
#include "image/snapshot.h"

#include <stdlib.h>
#include <string.h>

#include "vmem.h"
#include <nub/guest_abi.h>
#include <xxhash.h>

#include "error_internal.h"
#include "image/symbols.h"
#include "memory/vmem_host.h"
#include "x86/cpu.h"

#define PAGE NUB_PAGE_SIZE

struct nub_snapshot *nub_snapshot_new_empty(void)
{
	struct nub_snapshot *s = calloc(1, sizeof(*s));

	if (s) {
		atomic_init(&s->refs, 1);
		pthread_mutex_init(&s->pool.lock, NULL);
		s->pool.max = NUB_SNAPSHOT_POOL_DEFAULT;
	}
	return s;
}

struct nub_snapshot *nub_snapshot_ref(struct nub_snapshot *snap)
{
	atomic_fetch_add(&snap->refs, 1);
	return snap;
}

void nub_snapshot_unref(struct nub_snapshot *snap)
{
	if (!snap || atomic_fetch_sub(&snap->refs, 1) != 1)
		return;
	if (snap->pool.drain)
		snap->pool.drain(snap); /* their VMs map snap->mem */
	pthread_mutex_destroy(&snap->pool.lock);
	nub_shmem_unref(snap->mem);
	nub_symbols_unref(snap->syms);
	free(snap->present);
	free(snap);
}

int nub_snapshot_scan_get(const struct nub_snapshot *snap, struct nub_tables_scan *out)
{
	pthread_mutex_t *lock = (pthread_mutex_t *)&snap->pool.lock; /* a cache, not the state */

	pthread_mutex_lock(lock);
	int done = snap->scan.done;
	if (done)
		*out = snap->scan;
	pthread_mutex_unlock(lock);
	return done;
}

void nub_snapshot_scan_put(struct nub_snapshot *snap, const struct nub_tables_scan *scan)
{
	pthread_mutex_lock(&snap->pool.lock);
	if (!snap->scan.done) {
		snap->scan = *scan;
		snap->scan.done = 1;
	}
	pthread_mutex_unlock(&snap->pool.lock);
}

void nub_snapshot_hot_get(const struct nub_snapshot *snap, struct nub_hot_set *out)
{
	pthread_mutex_t *lock = (pthread_mutex_t *)&snap->pool.lock; /* the hint is not the state */

	pthread_mutex_lock(lock);
	*out = snap->hot;
	pthread_mutex_unlock(lock);
}

void nub_snapshot_hot_learn(struct nub_snapshot *snap, const struct nub_hot_set *h)
{
	pthread_mutex_lock(&snap->pool.lock);
	for (unsigned i = 0; i < h->n && i < NUB_HOT_MAX; i++)
		nub_hot_add(&snap->hot, h->page[i]);
	pthread_mutex_unlock(&snap->pool.lock);
}

static int page_is_zero(const uint8_t *p)
{
	static const uint8_t zero[NUB_PAGE_SIZE];

	return memcmp(p, zero, sizeof(zero)) == 0;
}

int nub_snapshot_alloc_mem(struct nub_snapshot *s, struct nub_error *err)
{
	uint64_t pages = (s->visible_size + s->pt_size) / PAGE;

	s->present = calloc((pages + 63) / 64 ? (pages + 63) / 64 : 1, sizeof(uint64_t));
	if (!s->present)
		return nub_error_set(err, NUB_ENOMEM, "out of memory for a snapshot's page map");
	/* Shared, not private: see nub_shmem_create_shared. */
	return nub_shmem_create_shared(s->visible_size + s->pt_size, &s->mem, err);
}

int nub_snapshot_write(struct nub_snapshot *s, uint64_t off, const void *src, uint64_t len,
                       struct nub_error *err)
{
	static const uint8_t zero[NUB_PAGE_SIZE];
	const uint8_t *p = src;
	int rc = 0;

	while (!rc && len) {
		uint64_t n = PAGE - off % PAGE;
		if (n > len)
			n = len;
		if (memcmp(p, zero, n)) {
			rc = nub_shmem_write(s->mem, off, p, n, err);
			s->present[off / PAGE / 64] |= 1ull << (off / PAGE % 64);
		}
		off += n;
		p += n;
		len -= n;
	}
	return rc;
}

int nub_snapshot_page_nonzero(const struct nub_snapshot *s, uint64_t i)
{
	const uint8_t *m = nub_shmem_host(s->mem);

	return nub_snapshot_page_present(s, i) && !page_is_zero(m + i * PAGE);
}

void nub_snapshot_hash(const struct nub_snapshot *snap, uint8_t hash[16])
{
	memcpy(hash, snap->hash, 16);
}

uint64_t nub_snapshot_generation(const struct nub_snapshot *snap)
{
	return snap ? snap->generation : 0;
}

_Static_assert(NUB_FUNCTION_NAME_SIZE == NUB_FN_NAME_MAX + 1, "one name size");

const char *nub_fn_name_parts(const struct nub_fn_name *f, size_t *name_len)
{
	const char *colon = strchr(f->name, ':');

	*name_len = colon ? (size_t)(colon - f->name) : strlen(f->name);
	return colon && nub_typed_sig_ok(colon + 1) ? colon + 1 : NULL;
}

int nub_snapshot_function(const struct nub_snapshot *snap, uint32_t index, uint32_t *id,
                          char name[NUB_FUNCTION_NAME_SIZE], const char **sig)
{
	size_t n;

	if (!snap || !id || !name || !sig)
		return NUB_EINVAL;
	if (index >= snap->names.n || index >= NUB_MAX_FN_NAMES)
		return NUB_ENOTFOUND;
	const struct nub_fn_name *f = &snap->names.fn[index];
	*sig = nub_fn_name_parts(f, &n);
	memcpy(name, f->name, n);
	name[n] = '\0';
	*id = f->id;
	return 0;
}

int nub_snapshot_needs_host_fn(const struct nub_snapshot *snap, uint32_t id)
{
	return snap && id < NUB_SNAPSHOT_HOST_FNS && (snap->host_fns[id / 64] >> (id % 64) & 1);
}

uint64_t nub_snapshot_memory_size(const struct nub_snapshot *snap)
{
	return snap->visible_size;
}

/* The hash covers memory (visible part and tables) and everything that
 * decides how a sandbox resumes from it, so equal hashes mean the same
 * snapshot. XXH3-128: fast (memory-bandwidth bound) and 128 bits make an
 * accidental collision negligible; it is not a defence against an attacker
 * who crafts files (saved files are trusted input to the host). */
void nub_snapshot_rehash(struct nub_snapshot *s)
{
	XXH3_state_t *st = XXH3_createState();
	XXH128_hash_t h;

	const uint8_t *m = nub_shmem_host(s->mem);
	uint64_t pages = (s->visible_size + s->pt_size) / PAGE;

	XXH3_128bits_reset(st);
	/* Sparse, content-based: each non-zero page with its index; zero pages
	 * (never written, or written back to zero) are left out. */
	for (uint64_t i = 0; i < pages; i++) {
		if (!nub_snapshot_page_nonzero(s, i))
			continue;
		XXH3_128bits_update(st, &i, sizeof(i));
		XXH3_128bits_update(st, m + i * PAGE, PAGE);
	}
	XXH3_128bits_update(st, &s->visible_size, sizeof(s->visible_size));
	XXH3_128bits_update(st, &s->pt_size, sizeof(s->pt_size));
	XXH3_128bits_update(st, &s->entry_gva, sizeof(s->entry_gva));
	XXH3_128bits_update(st, &s->dispatch_gva, sizeof(s->dispatch_gva));
	XXH3_128bits_update(st, &s->syscall_gva, sizeof(s->syscall_gva));
	XXH3_128bits_update(st, &s->fs_base, sizeof(s->fs_base));
	XXH3_128bits_update(st, &s->family, sizeof(s->family));
	XXH3_128bits_update(st, &s->names, sizeof(s->names));
	h = XXH3_128bits_digest(st);
	XXH3_freeState(st);
	XXH128_canonicalFromHash((XXH128_canonical_t *)s->hash, h);
}

/* ---- building from an ELF ---- */

static int map_range(const struct nub_vmem_ops *ops, nub_gva_t va, nub_gpa_t pa, uint64_t len,
                     uint32_t perms, struct nub_error *err)
{
	struct nub_vmem_mapping m = {.gva = va, .gpa = pa, .len = len};
	int rc;

	if (len == 0)
		return 0;
	/* Writable snapshot memory is never writable in the tables: the first
	 * write copies the page into scratch (CoW), so the snapshot stays
	 * shared and immutable. */
	if (perms & NUB_VMEM_W) {
		m.kind = NUB_VMEM_COW;
		m.perms = perms & ~NUB_VMEM_W;
	} else {
		m.kind = NUB_VMEM_BASIC;
		m.perms = perms;
	}
	rc = nub_vmem_map(ops, &m);
	if (rc)
		return nub_error_set(err, rc, "mapping [0x%llx, +0x%llx): %s",
		                     (unsigned long long)va, (unsigned long long)len,
		                     nub_strerror(rc));
	return 0;
}

/* What the guest may do with each part of scratch. Page tables and the
 * exception stack are supervisor-only; the CoW area is not mapped at all
 * (copies are reached through the GVAs they replace); the guard pages below
 * each stack stay unmapped so an overflow faults; the bookkeeping page is
 * readable, not writable. */
static int map_scratch(const struct nub_vmem_ops *ops, const struct nub_layout *l)
{
	const uint64_t g = l->scratch_gva, p = l->scratch_gpa;
	const struct {
		uint64_t off, end;
		uint32_t perms;
	} parts[] = {
	        {l->pt_offset, l->input_offset, NUB_VMEM_R | NUB_VMEM_W},
	        {l->input_offset, l->alloc_offset, NUB_VMEM_R | NUB_VMEM_W | NUB_VMEM_USER},
	        {l->stack_guard_offset + PAGE, l->stack_top_offset,
	         NUB_VMEM_R | NUB_VMEM_W | NUB_VMEM_USER},
	        {l->exn_stack_guard_offset + PAGE, l->exn_stack_top_offset,
	         NUB_VMEM_R | NUB_VMEM_W},
	        {l->bookkeeping_offset, l->scratch_size, NUB_VMEM_R | NUB_VMEM_USER},
	};
	int rc = 0;

	for (size_t i = 0; !rc && i < sizeof(parts) / sizeof(parts[0]); i++) {
		struct nub_vmem_mapping m = {.gva = g + parts[i].off,
		                             .gpa = p + parts[i].off,
		                             .len = parts[i].end - parts[i].off,
		                             .kind = NUB_VMEM_BASIC,
		                             .perms = parts[i].perms};
		rc = nub_vmem_map(ops, &m);
	}
	return rc;
}

/* The doorbells' pages (whose GPAs no memory backs, so every store exits),
 * each followed by an unmapped GVA page (guest_abi.h says why). */
static int map_doorbells(const struct nub_vmem_ops *ops)
{
	int rc = 0;

	for (unsigned k = 0; k < NUB_DOORBELL_COUNT && !rc; k++) {
		struct nub_vmem_mapping db = {.gva = NUB_DOORBELL_GVA_OF(k) - NUB_DOORBELL_SLOT,
		                              .gpa = NUB_DOORBELL_GPA_OF(k) - NUB_DOORBELL_SLOT,
		                              .len = PAGE,
		                              .kind = NUB_VMEM_BASIC,
		                              .perms = NUB_VMEM_R | NUB_VMEM_W | NUB_VMEM_USER};
		rc = nub_vmem_map(ops, &db);
	}
	return rc;
}

/* The parts every table set has whatever the guest did: scratch and the
 * doorbells. */
int nub_snapshot_map_fixed(const struct nub_vmem_ops *ops, const struct nub_layout *l,
                           struct nub_error *err)
{
	int rc = map_scratch(ops, l);

	if (!rc)
		rc = map_doorbells(ops);
	if (rc)
		return nub_error_set(err, rc, "mapping scratch and the doorbell: %s",
		                     nub_strerror(rc));
	return 0;
}

void nub_snapshot_host_pages(const struct nub_layout *l,
                             struct nub_snapshot_host_page hp[NUB_SNAPSHOT_HOST_PAGES])
{
	/* The PEB page holds the host's entry stub too (nub_cpu_build_entry_stub). */
	hp[0] = (struct nub_snapshot_host_page){"the PEB and entry stub", l->peb_gpa,
	                                        NUB_VMEM_R | NUB_VMEM_X | NUB_VMEM_USER};
	/* The host's CPL0 part: supervisor pages, never writable. */
	hp[1] = (struct nub_snapshot_host_page){"the GDT/TSS/IDT page", l->sys_tables_gpa,
	                                        NUB_VMEM_R};
	hp[2] = (struct nub_snapshot_host_page){"the exception stubs", l->sys_stubs_gpa,
	                                        NUB_VMEM_R | NUB_VMEM_X};
}

static int build_elf_tables(const struct nub_layout *l, const struct nub_elf_image *img,
                            uint32_t init_perms, struct nub_vmem_buf *buf, struct nub_error *err)
{
	struct nub_snapshot_host_page hp[NUB_SNAPSHOT_HOST_PAGES];
	struct nub_vmem_ops ops;
	int rc = 0;

	nub_vmem_buf_ops(buf, &ops);
	nub_snapshot_host_pages(l, hp);
	for (unsigned i = 0; !rc && i < NUB_SNAPSHOT_HOST_PAGES; i++)
		rc = map_range(&ops, hp[i].gpa, hp[i].gpa, PAGE, hp[i].perms, err);
	for (unsigned i = 0; !rc && i < img->nsegs; i++) {
		const struct nub_elf_segment *sg = &img->segs[i];
		rc = map_range(&ops, l->image_gpa + sg->offset, l->image_gpa + sg->offset, sg->size,
		               sg->perms | NUB_VMEM_USER, err);
	}
	if (!rc && l->init_data_size)
		rc = map_range(&ops, l->init_data_gpa, l->init_data_gpa,
		               (l->init_data_size + PAGE - 1) & ~(PAGE - 1),
		               init_perms | NUB_VMEM_R | NUB_VMEM_USER, err);
	/* Host data the guest reads and never writes: not copy-on-write, so a
	 * stray store faults instead of costing a private copy. */
	if (!rc && l->args_size)
		rc = map_range(&ops, l->args_gpa, l->args_gpa,
		               (l->args_size + PAGE - 1) & ~(PAGE - 1), NUB_VMEM_R | NUB_VMEM_USER,
		               err);
	if (!rc && l->files_size)
		rc = map_range(&ops, l->files_gpa, l->files_gpa,
		               (l->files_size + PAGE - 1) & ~(PAGE - 1), NUB_VMEM_R | NUB_VMEM_USER,
		               err);
	if (!rc && l->heap_size)
		rc = map_range(&ops, l->heap_gpa, l->heap_gpa, l->heap_size,
		               NUB_VMEM_R | NUB_VMEM_W | NUB_VMEM_USER, err);
	if (!rc)
		rc = nub_snapshot_map_fixed(&ops, l, err);
	return rc;
}

/* Same ELF + layout => same family: what decides the image (its file-backed
 * parts, segments and relocations) and the scratch side of the layout. */
static uint64_t family_of(const struct nub_layout *l, const struct nub_elf_image *img)
{
	XXH64_state_t *st = XXH64_createState();
	uint64_t h;

	XXH64_reset(st, 0x6e7562);
	XXH64_update(st, &img->size, sizeof(img->size));
	for (unsigned i = 0; i < img->nsegs; i++) {
		XXH64_update(st, &img->segs[i], sizeof(img->segs[i]));
		XXH64_update(st, img->bytes + img->segs[i].offset, img->segs[i].data);
	}
	XXH64_update(st, img->relocs, img->nrelocs * sizeof(*img->relocs));
	XXH64_update(st, &l->scratch_size, sizeof(l->scratch_size));
	XXH64_update(st, &l->pt_reserve, sizeof(l->pt_reserve));
	XXH64_update(st, &l->input_offset, sizeof(l->input_offset));
	XXH64_update(st, &l->output_offset, sizeof(l->output_offset));
	XXH64_update(st, &l->stack_top_offset, sizeof(l->stack_top_offset));
	h = XXH64_digest(st);
	XXH64_freeState(st);
	return h;
}

/* The image as loaded at its GPA: the file-backed part of each segment
 * (.bss is zero already) and the relocations; nothing else is touched. */
static int write_image(struct nub_snapshot *s, const struct nub_elf_image *img,
                       struct nub_error *err)
{
	const uint64_t at = s->layout.image_gpa - NUB_BASE_GPA;
	int rc = 0;

	for (unsigned i = 0; !rc && i < img->nsegs; i++)
		rc = nub_snapshot_write(s, at + img->segs[i].offset,
		                        img->bytes + img->segs[i].offset, img->segs[i].data, err);
	for (size_t i = 0; !rc && i < img->nrelocs; i++) {
		uint64_t v = s->layout.image_gpa + img->relocs[i].addend;
		rc = nub_snapshot_write(s, at + img->relocs[i].offset, &v, 8, err);
	}
	return rc;
}

int nub_snapshot_write_host_pages(struct nub_snapshot *s, struct nub_error *err)
{
	const struct nub_layout *l = &s->layout;
	static _Thread_local uint8_t peb_page[PAGE], tables[PAGE], stubs[PAGE];
	struct nub_peb peb;
	int rc;

	nub_layout_fill_peb(l, &peb);
	memset(peb_page, 0, PAGE);
	memcpy(peb_page, &peb, sizeof(peb));
	nub_cpu_build_entry_stub(peb_page);
	nub_cpu_build_system_pages(l, tables, stubs);
	rc = nub_snapshot_write(s, l->peb_gpa - NUB_BASE_GPA, peb_page, PAGE, err);
	if (!rc)
		rc = nub_snapshot_write(s, l->sys_tables_gpa - NUB_BASE_GPA, tables, PAGE, err);
	if (!rc)
		rc = nub_snapshot_write(s, l->sys_stubs_gpa - NUB_BASE_GPA, stubs, PAGE, err);
	return rc;
}

static int write_contents(struct nub_snapshot *s, const struct nub_elf_image *img,
                          const struct nub_guest_data *data, const struct nub_vmem_buf *buf,
                          struct nub_error *err)
{
	const struct nub_layout *l = &s->layout;
	int rc = write_image(s, img, err);

	if (rc)
		return rc;
	s->family = family_of(l, img);
	rc = nub_snapshot_write_host_pages(s, err);
	if (!rc && l->init_data_size)
		rc = nub_snapshot_write(s, l->init_data_gpa - NUB_BASE_GPA, data->init_data,
		                        l->init_data_size, err);
	if (!rc && l->args_size)
		rc = nub_snapshot_write(s, l->args_gpa - NUB_BASE_GPA, data->args, l->args_size,
		                        err);
	if (!rc && l->files_size)
		rc = nub_snapshot_write(s, l->files_gpa - NUB_BASE_GPA, data->files, l->files_size,
		                        err);
	if (!rc)
		rc = nub_snapshot_write(s, s->visible_size, nub_vmem_buf_bytes(buf), s->pt_size,
		                        err);
	return rc;
}

/* What the guest's init will certainly write: the runtime's own state (the
 * range its ELF names, see NUB_NOTE_TYPE_HOT) and the heap's first page
 * (the allocator's header). */
static void seed_hot(struct nub_snapshot *s, const struct nub_elf_image *img)
{
	const struct nub_layout *l = &s->layout;
	uint64_t end = img->hot_offset + img->hot_size;

	for (uint64_t off = img->hot_offset & ~(PAGE - 1); img->hot_size && off < end; off += PAGE)
		nub_hot_add(&s->hot, l->image_gpa + off);
	if (l->heap_size)
		nub_hot_add(&s->hot, l->heap_gpa);
}

int nub_snapshot_from_elf(const struct nub_layout_config *lcfg, const struct nub_elf_image *img,
                          const struct nub_guest_data *data, struct nub_snapshot **out,
                          struct nub_error *err)
{
	static const struct nub_guest_data none;
	struct nub_vmem_buf buf;
	struct nub_snapshot *s;
	int rc;

	if (!data)
		data = &none;
	if ((lcfg->init_data_size && !data->init_data) || (lcfg->args_size && !data->args) ||
	    (lcfg->files_size && !data->files))
		return nub_error_set(err, NUB_EINVAL,
		                     "init data, arguments or file tree sized (%llu, %llu, %llu) "
		                     "but not given",
		                     (unsigned long long)lcfg->init_data_size,
		                     (unsigned long long)lcfg->args_size,
		                     (unsigned long long)lcfg->files_size);
	s = nub_snapshot_new_empty();
	if (!s)
		return nub_error_set(err, NUB_ENOMEM, "out of memory creating a snapshot");
	rc = nub_layout_compute(lcfg, img->size, &s->layout, err);
	if (rc)
		goto free_snapshot;
	rc = nub_vmem_buf_init(&buf, s->layout.pt_gpa, s->layout.pt_reserve, err);
	if (rc)
		goto free_snapshot;
	rc = build_elf_tables(&s->layout, img, lcfg->init_data_perms, &buf, err);
	if (rc)
		goto free_tables;
	s->visible_size = s->layout.snapshot_size;
	s->pt_size = nub_vmem_buf_used(&buf);
	rc = nub_snapshot_alloc_mem(s, err);
	if (rc)
		goto free_tables;
	rc = write_contents(s, img, data, &buf, err);
	if (rc)
		goto free_tables;
	rc = nub_shmem_seal(s->mem, err);
	if (rc)
		goto free_tables;
	s->entry_gva = s->layout.image_gpa + img->entry_offset;
	if (img->has_syscall)
		s->syscall_gva = s->layout.image_gpa + img->syscall_offset;
	seed_hot(s, img);
	s->syms = nub_symbols_ref(img->syms);
	nub_snapshot_rehash(s);
	nub_vmem_buf_free(&buf);
	*out = s;
	return 0;
free_tables:
	nub_vmem_buf_free(&buf);
free_snapshot:
	nub_snapshot_unref(s);
	return rc;
}

/* ---- capture ---- */

struct capture {
	const struct nub_capture_src *src;
	const struct nub_layout *l;
	uint64_t snap_pages, scratch_pages;
	uint32_t *new_index; /* per source page: 0 = unseen, else packed index + 1 */
	uint32_t *order;     /* packed index -> source page */
	uint32_t count;
	struct nub_vmem_buf buf;
};

/* Source page number of a GPA in [snapshot | scratch], or -1 if the guest
 * points a mapping at memory that belongs to neither (it would fault; it is
 * not captured). */
static int64_t source_page(const struct capture *c, nub_gpa_t gpa)
{
	const struct nub_layout *l = c->l;

	if (gpa >= NUB_BASE_GPA && gpa - NUB_BASE_GPA < c->src->base->visible_size)
		return (int64_t)((gpa - NUB_BASE_GPA) / PAGE);
	if (gpa >= l->scratch_gpa && gpa - l->scratch_gpa < l->scratch_size)
		return (int64_t)(c->snap_pages + (gpa - l->scratch_gpa) / PAGE);
	return -1;
}

static int skipped(const struct capture *c, nub_gva_t va)
{
	for (unsigned i = 0; i < c->src->nskip; i++)
		if (va >= c->src->skip[i].gpa && va - c->src->skip[i].gpa < c->src->skip[i].size)
			return 1;
	return 0;
}

static int capture_page(struct capture *c, nub_gva_t va, nub_gpa_t pa, uint32_t kind,
                        uint32_t perms, const struct nub_vmem_ops *ops, struct nub_error *err)
{
	int64_t sp = source_page(c, pa);
	struct nub_vmem_mapping m = {.gva = va, .len = PAGE};

	if (sp < 0 || skipped(c, va))
		return 0;
	if (!c->new_index[sp]) {
		c->order[c->count] = (uint32_t)sp;
		c->new_index[sp] = ++c->count;
	}
	m.gpa = NUB_BASE_GPA + (uint64_t)(c->new_index[sp] - 1) * PAGE;
	if (kind == NUB_VMEM_COW || (perms & NUB_VMEM_W)) {
		m.kind = NUB_VMEM_COW;
		m.perms = perms & ~NUB_VMEM_W;
	} else {
		m.kind = NUB_VMEM_BASIC;
		m.perms = perms;
	}
	int rc = nub_vmem_map(ops, &m);
	if (rc)
		return nub_error_set(err, rc, "capture: rebuilding the mapping of 0x%llx: %s",
		                     (unsigned long long)va, nub_strerror(rc));
	return 0;
}

static int capture_walk(struct capture *c, struct nub_error *err)
{
	const struct nub_layout *l = c->l;
	struct nub_vmem_resolver res;
	struct nub_vmem_ops live, out;
	struct nub_vmem_iter it;
	struct nub_vmem_mapping run;
	int rc;

	nub_vmem_resolver_init(&res);
	nub_vmem_resolver_add(&res, NUB_BASE_GPA, c->src->base->visible_size,
	                      nub_shmem_host(c->src->base->mem), 0);
	nub_vmem_resolver_add(&res, l->scratch_gpa, l->scratch_size,
	                      nub_shmem_host(c->src->scratch), 0);
	res.window = c->src->gpa_base; /* the snapshot's tables are relative to 0 */
	nub_vmem_resolver_ops(&res, c->src->root, &live);
	nub_vmem_buf_ops(&c->buf, &out);
	/* Everything below scratch; scratch itself is per-sandbox and is
	 * re-mapped fresh from the layout. */
	nub_vmem_iter_init(&it, &live, 0, l->scratch_gva);
	while ((rc = nub_vmem_iter_next(&it, &run)) == 1) {
		for (uint64_t off = 0; off < run.len; off += PAGE) {
			rc = capture_page(c, run.gva + off, run.gpa + off, run.kind, run.perms,
			                  &out, err);
			if (rc)
				return rc;
		}
	}
	if (rc < 0)
		return nub_error_set(err, rc, "capture: walking the live page tables: %s",
		                     nub_strerror(rc));
	return nub_snapshot_map_fixed(&out, l, err);
}

static int capture_copy(struct capture *c, struct nub_snapshot *s, struct nub_error *err)
{
	const struct nub_snapshot *base = c->src->base;
	const uint8_t *snap = nub_shmem_host(base->mem);
	uint8_t page[PAGE];
	int rc = 0;

	for (uint32_t i = 0; !rc && i < c->count; i++) {
		uint64_t sp = c->order[i];
		const void *src;
		if (sp < c->snap_pages) {
			if (!nub_snapshot_page_present(base, sp))
				continue;       /* zero in the base, zero here */
			src = snap + sp * PAGE; /* immutable, host-built: trusted */
		} else {
			/* Scratch is guest-writable: through the accessor. */
			rc = nub_shmem_read(c->src->scratch, (sp - c->snap_pages) * PAGE, page,
			                    PAGE, err);
			src = page;
		}
		if (!rc)
			rc = nub_snapshot_write(s, (uint64_t)i * PAGE, src, PAGE, err);
	}
	if (!rc)
		rc = nub_snapshot_write(s, s->visible_size, nub_vmem_buf_bytes(&c->buf), s->pt_size,
		                        err);
	return rc;
}

int nub_snapshot_capture(const struct nub_capture_src *src, struct nub_snapshot **out,
                         struct nub_error *err)
{
	struct capture c = {.src = src, .l = &src->base->layout};
	struct nub_snapshot *s;
	int rc;

	c.snap_pages = src->base->visible_size / PAGE;
	c.scratch_pages = c.l->scratch_size / PAGE;
	c.new_index = calloc(c.snap_pages + c.scratch_pages, sizeof(*c.new_index));
	c.order = calloc(c.snap_pages + c.scratch_pages, sizeof(*c.order));
	s = nub_snapshot_new_empty();
	if (!c.new_index || !c.order || !s) {
		rc = nub_error_set(err, NUB_ENOMEM, "out of memory capturing a snapshot");
		goto free_index;
	}
	s->layout = *c.l;
	rc = nub_vmem_buf_init(&c.buf, c.l->pt_gpa, c.l->pt_reserve, err);
	if (rc)
		goto free_index;
	rc = capture_walk(&c, err);
	if (rc)
		goto free_tables;
	s->visible_size = (uint64_t)c.count * PAGE;
	s->pt_size = nub_vmem_buf_used(&c.buf);
	rc = nub_snapshot_alloc_mem(s, err);
	if (!rc)
		rc = capture_copy(&c, s, err);
	if (!rc)
		rc = nub_shmem_seal(s->mem, err);
	if (rc)
		goto free_tables;
	s->entry_gva = src->base->entry_gva;
	s->dispatch_gva = src->dispatch_gva;
	s->syscall_gva = src->base->syscall_gva;
	s->fs_base = src->fs_base;
	s->generation = src->generation;
	s->family = src->base->family;
	if (src->names)
		s->names = *src->names;
	if (src->hot)
		s->hot = *src->hot;
	s->syms = nub_symbols_ref(src->base->syms);
	if (src->host_fns && s->dispatch_gva)
		memcpy(s->host_fns, src->host_fns, sizeof(s->host_fns));
	nub_snapshot_rehash(s);
	nub_vmem_buf_free(&c.buf);
	free(c.order);
	free(c.new_index);
	*out = s;
	return 0;
free_tables:
	nub_vmem_buf_free(&c.buf);
free_index:
	free(c.order);
	free(c.new_index);
	nub_snapshot_unref(s);
	return rc;
}

/* ---- restore ---- */

int nub_snapshot_compatible(const struct nub_snapshot *a, const struct nub_snapshot *b)
{
	return a->family == b->family;
}

int nub_snapshot_write_bookkeeping(const struct nub_snapshot *snap, struct nub_shmem *scratch,
                                   uint64_t generation, struct nub_error *err)
{
	const struct nub_layout *l = &snap->layout;
	const uint64_t top = l->scratch_size;
	const struct {
		uint64_t off, val;
	} words[] = {
	        {NUB_SCRATCH_TOP_SIZE, l->scratch_size},
	        {NUB_SCRATCH_TOP_GENERATION, generation},
	        {NUB_SCRATCH_TOP_SYSCALL_ENTRY, snap->syscall_gva},
	};
	int rc = 0;

	for (size_t i = 0; !rc && i < sizeof(words) / sizeof(words[0]); i++)
		rc = nub_shmem_write_u64(scratch, top - words[i].off, words[i].val, err);
	if (!rc)
		rc = nub_shmem_write_u64(scratch, l->input_offset, NUB_BUF_HEADER, err);
	if (!rc)
		rc = nub_shmem_write_u64(scratch, l->output_offset, NUB_BUF_HEADER, err);
	return rc;
}

/* Zero scratch in proportion to what the guest touched. Pages the host
 * rewrites at once (tables, buffer headers, bookkeeping) are cleared with
 * stores and stay resident; everything else is dropped with madvise, so an
 * untouched page costs nothing and a touched one costs one refault later,
 * only if the guest touches it again.
 * Dropping is also what keeps a shadow-paging KVM (the software kvm_pvm)
 * correct: it does not see the host rewrite the guest's page tables, but
 * the kernel's MMU notifier tells it the copy-on-write pages are gone, so
 * no stale translation to one survives a restore. Clearing those pages in
 * place instead would need another invalidation (a protection change
 * does it; tried: the first call after a restore got faster, the restore
 * slower, no net gain on this machine). */
static int zero_scratch(const struct nub_snapshot *snap, struct nub_shmem *scratch,
                        enum nub_zero_method *method, struct nub_error *err)
{
	const struct nub_layout *l = &snap->layout;
	const uint64_t pt_end =
	        l->pt_offset + ((snap->pt_size + NUB_PAGE_SIZE - 1) & ~(NUB_PAGE_SIZE - 1));
	const struct {
		uint64_t off, len;
	} hot[] = {
	        {l->pt_offset, pt_end - l->pt_offset},
	        {l->input_offset, NUB_PAGE_SIZE},
	        {l->output_offset, NUB_PAGE_SIZE},
	        {l->bookkeeping_offset, l->scratch_size - l->bookkeeping_offset},
	};
	uint64_t at = 0;
	int rc = 0;

	*method = NUB_ZERO_NONE;
	for (size_t i = 0; !rc && i < sizeof(hot) / sizeof(hot[0]); i++) {
		enum nub_zero_method m = NUB_ZERO_NONE;
		if (hot[i].off > at)
			rc = nub_shmem_zero(scratch, at, hot[i].off - at, &m, err);
		if (m > *method)
			*method = m;
		if (!rc)
			rc = nub_shmem_clear(scratch, hot[i].off, hot[i].len, err);
		at = hot[i].off + hot[i].len;
	}
	return rc;
}

int nub_snapshot_restore_scratch(const struct nub_snapshot *snap, struct nub_shmem *scratch,
                                 int is_zero, nub_gpa_t gpa_base, uint64_t generation,
                                 enum nub_zero_method *zero_method, uint64_t *bytes,
                                 struct nub_error *err)
{
	const struct nub_layout *l = &snap->layout;
	const uint8_t *tables = (const uint8_t *)nub_shmem_host(snap->mem) + snap->visible_size;
	int rc;

	if (nub_shmem_size(scratch) != l->scratch_size)
		return nub_error_set(err, NUB_EMISMATCH,
		                     "scratch is %llu bytes, snapshot needs %llu",
		                     (unsigned long long)nub_shmem_size(scratch),
		                     (unsigned long long)l->scratch_size);
	if (snap->pt_size > l->pt_reserve)
		return nub_error_set(
		        err, NUB_EFULL, "snapshot page tables (%llu bytes) exceed pt_reserve %llu",
		        (unsigned long long)snap->pt_size, (unsigned long long)l->pt_reserve);
	/* A fresh mapping: no madvise (each one, in a process with many VMs,
	 * calls every VM's MMU notifier). */
	*zero_method = NUB_ZERO_NONE;
	rc = is_zero ? 0 : zero_scratch(snap, scratch, zero_method, err);
	if (!rc)
		rc = nub_shmem_write(scratch, l->pt_offset, tables, snap->pt_size, err);
	if (!rc)
		nub_vmem_tables_rebase((uint8_t *)nub_shmem_host(scratch) + l->pt_offset,
		                       snap->pt_size, gpa_base);
	if (!rc)
		rc = nub_snapshot_write_bookkeeping(snap, scratch, generation, err);
	if (bytes)
		*bytes = snap->pt_size + 4 * sizeof(uint64_t);
	return rc;
}
