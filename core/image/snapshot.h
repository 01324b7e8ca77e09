/* SPDX-License-Identifier: MIT */
/*
 * Snapshots: immutable guest memory images (guest-visible part + the page
 * tables that map it and scratch), built from an ELF or captured from a
 * running sandbox, with what a sandbox resumes from besides memory (the
 * dispatch entry, the FS base, the function names, the working set). No
 * vCPU state: a sandbox always resumes from the clean ABI-2 state.
 */
#ifndef NUB_CORE_SNAPSHOT_H
#define NUB_CORE_SNAPSHOT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <nub/backend.h>
#include <nub/error.h>
#include <nub/guest_abi.h>
#include <nub/nub.h>

#include "image/elf_loader.h"
#include "memory/layout.h"
#include "memory/shmem.h"
#include "memory/view.h"
#include "memory/vmem_host.h"

/* A guest function's name, as the guest published it at init: the name,
 * then for a typed function ':' and its signature (guest_abi.h). */
struct nub_fn_name {
	uint32_t id;
	char name[NUB_FN_NAME_MAX + 1]; /* NUL-terminated */
};
#define NUB_MAX_FN_NAMES 128u

/* A published name's parts: the length of the name (before a typed
 * function's ':'), and its signature -- NULL for none or a malformed one. */
const char *nub_fn_name_parts(const struct nub_fn_name *f, size_t *name_len);

struct nub_fn_names {
	uint32_t n;
	struct nub_fn_name fn[NUB_MAX_FN_NAMES];
};

/* Freed sandboxes kept for reuse with this snapshot (core/sandbox/pool.c
 * parks them). This floor only holds them: they hold no reference on the
 * snapshot, so when it goes it calls `drain` -- set by whoever parked them
 * -- before its memory, which their VMs map, is released. */
struct nub_snapshot_pool {
	pthread_mutex_t lock;
	void *parked; /* the parker's list, opaque here */
	unsigned n, max;
	void (*drain)(struct nub_snapshot *snap);
};

/* What a full reset finds in a snapshot's tables once it has copied them
 * in (core/sandbox/state.c): how many pages they map copy-on-write, and
 * the ranges of scratch they map writable (n < 0: more than fit). The
 * tables are the snapshot's, immutable, read relative to any GPA window,
 * so every sandbox finds the same: the walk over every table -- a third of
 * a new sandbox's evolve -- is done once per snapshot, not per sandbox. */
#define NUB_SNAPSHOT_WRITABLE_MAX 16u
struct nub_tables_scan {
	int done; /* 0: not found yet */
	int n;
	int64_t cow;
	struct nub_range writable[NUB_SNAPSHOT_WRITABLE_MAX];
};

/* Host function ids a snapshot can require (nub.h's NUB_MAX_HOST_FNS). */
#define NUB_SNAPSHOT_HOST_FNS      256u
#define NUB_SNAPSHOT_HOST_FN_WORDS (NUB_SNAPSHOT_HOST_FNS / 64)

struct nub_snapshot {
	atomic_int refs;
	struct nub_snapshot_pool pool;
	/* Sealed shared memory (nub_shmem_create_shared: a forked child makes
	 * sandboxes from it, and a backend with NUB_CAP_SHARED_MEMORY maps it
	 * a second time): [0, visible_size) is mapped read-only into the VM at
	 * NUB_BASE_GPA; [visible_size, +pt_size) holds the page tables, built
	 * for their live address in scratch (layout.pt_gpa) and copied there
	 * at every restore. */
	struct nub_shmem *mem;
	/* Sparse: a bit per page of mem, set when the page may hold a non-zero
	 * byte; every other page is zero and is never read, copied, hashed or
	 * stored (it costs nothing in memory either: mem is created zero). */
	uint64_t *present;
	uint64_t visible_size;
	uint64_t pt_size;
	struct nub_layout layout; /* scratch side must match to restore */
	nub_gva_t entry_gva;      /* the guest's init entry point */
	nub_gva_t dispatch_gva;   /* 0: not initialised yet, run init first */
	nub_gva_t syscall_gva;    /* the guest's system-call entry; 0: none */
	nub_gva_t fs_base;        /* the guest's FS base (NUB_DOORBELL_SET_FS) */
	uint64_t generation;
	uint64_t family;           /* same ELF + layout => same family */
	struct nub_fn_names names; /* published by the guest's init */
	/* Pages to copy eagerly at restore (a hint: not part of the identity,
	 * the guest sees the same memory either way). It grows with what the
	 * first calls of sandboxes made from it wrote: read and written under
	 * pool.lock (nub_snapshot_hot_get / _learn) once the snapshot is out. */
	struct nub_hot_set hot;
	/* What its tables map, found by the first full reset that reads them
	 * (under pool.lock; nub_snapshot_scan_get / _put). */
	struct nub_tables_scan scan;
	/* The host functions it needs: a bit per id registered on the sandbox
	 * it was captured from (after init: the guest may hold their ids).
	 * All clear before init: any set will do. A sandbox made from it, or
	 * restored to it, must register every one (nub_sandbox_evolve and
	 * nub_sandbox_restore refuse otherwise, naming them). */
	uint64_t host_fns[NUB_SNAPSHOT_HOST_FN_WORDS];
	/* The ELF's function symbols (one reference), for messages; NULL when
	 * the ELF had none. Saved in its file (format 8). */
	struct nub_symbols *syms;
	uint8_t hash[16];
};

/* The snapshot's working-set hint, copied out under its lock. */
void nub_snapshot_hot_get(const struct nub_snapshot *snap, struct nub_hot_set *out);
/* A sandbox of `snap` is done: what it copied (its hint, which started
 * as snap's) becomes snap's, so the next new sandbox copies those pages at
 * its first reset instead of taking a copy-on-write exit for each. */
void nub_snapshot_hot_learn(struct nub_snapshot *snap, const struct nub_hot_set *h);

/* The scan a full reset of `snap` kept (*out, 1), or 0 when none has yet;
 * thread-safe. _put keeps the first one given. */
int nub_snapshot_scan_get(const struct nub_snapshot *snap, struct nub_tables_scan *out);
void nub_snapshot_scan_put(struct nub_snapshot *snap, const struct nub_tables_scan *scan);

/* The file format's bytes of `snap` (keyless), in *bytes from malloc. */
int nub_snapshot_encode(const struct nub_snapshot *snap, uint8_t **bytes, size_t *len,
                        struct nub_error *err);
/* A whole regular file of at most a snapshot's size, in *buf from malloc
 * (NUB_ENOTFOUND, NUB_EIO, NUB_ECORRUPT for too large, naming `path`). */
int nub_snapshot_read_file(const char *path, uint8_t **buf, size_t *len, struct nub_error *err);

/* Load a snapshot file's bytes (format in snapshot_file.h); `name` names
 * it in messages. NUB_ECORRUPT / NUB_EABI naming what is wrong. */
int nub_snapshot_load_bytes(const void *bytes, size_t len, const char *name,
                            struct nub_snapshot **out, struct nub_error *err);
/* The same for a file saved with a key (nub_snapshot_save_keyed): the MAC
 * is checked before anything else is read. NUB_EINVAL for a key of the
 * wrong length. */
int nub_snapshot_load_bytes_keyed(const void *bytes, size_t len, const char *name, const void *key,
                                  size_t key_len, struct nub_snapshot **out, struct nub_error *err);
/* The keyed files' MAC (keyed BLAKE2b-256, personalised for nub snapshot
 * files) of `len` bytes; key_len already checked. */
#define NUB_SNAPSHOT_MAC_SIZE 32u
int nub_snapshot_mac(const void *bytes, size_t len, const void *key, size_t key_len,
                     uint8_t mac[NUB_SNAPSHOT_MAC_SIZE]);

/* An empty snapshot with one reference (for loaders). */
struct nub_snapshot *nub_snapshot_new_empty(void);
/* Create s->mem (visible_size + pt_size bytes, zero) and its page bitmap. */
int nub_snapshot_alloc_mem(struct nub_snapshot *s, struct nub_error *err);
/* Write [src, src+len) at offset `off` of s->mem (before it is sealed),
 * marking the pages that receive a non-zero byte; zero pages are skipped. */
int nub_snapshot_write(struct nub_snapshot *s, uint64_t off, const void *src, uint64_t len,
                       struct nub_error *err);
/* Whether page `i` of s->mem may hold a non-zero byte. */
static inline int nub_snapshot_page_present(const struct nub_snapshot *s, uint64_t i)
{
	return nub_page_bit(s->present, i);
}
/* Whether page `i` of s->mem holds a non-zero byte: what is hashed and
 * stored (reads only present pages). */
int nub_snapshot_page_nonzero(const struct nub_snapshot *s, uint64_t i);
/* Recompute s->hash from its memory and resume state. */
void nub_snapshot_rehash(struct nub_snapshot *s);

/* Write the pages the host owns and derives from s->layout alone into
 * s->mem (before it is sealed): the PEB, the GDT/TSS/IDT page and the
 * exception stubs, at their GPAs. */
int nub_snapshot_write_host_pages(struct nub_snapshot *s, struct nub_error *err);

/* The pages the host owns below the image, and how the guest's tables map
 * each (GVA == GPA): the one list the builder maps and a loaded file's
 * tables are checked against. */
#define NUB_SNAPSHOT_HOST_PAGES 3u
struct nub_snapshot_host_page {
	const char *what;
	nub_gpa_t gpa;
	uint32_t perms; /* NUB_VMEM_* */
};
void nub_snapshot_host_pages(const struct nub_layout *l,
                             struct nub_snapshot_host_page hp[NUB_SNAPSHOT_HOST_PAGES]);

/* Map what every table set has, whatever the guest did: scratch as the
 * layout divides it, and the doorbell. */
int nub_snapshot_map_fixed(const struct nub_vmem_ops *ops, const struct nub_layout *l,
                           struct nub_error *err);

/* Page tables read from a file: walk `tables` (pt_size bytes, built for
 * their live address l->pt_gpa) as untrusted data, check every leaf
 * against the rules nub builds tables by (snapshot_tables.c), and build
 * fresh tables from the mappings that pass into `out` (initialised here;
 * the caller frees it). NUB_ECORRUPT naming `name` and the GVA for a leaf
 * nub would never make. */
int nub_snapshot_rebuild_tables(const struct nub_layout *l, uint64_t visible_size,
                                const uint8_t *tables, uint64_t pt_size, const char *name,
                                struct nub_vmem_buf *out, struct nub_error *err);

/* What the host gives the guest besides its ELF, each `lcfg->X_size`
 * bytes (NULL when that size is 0): the init data, the arguments block and
 * the file tree image (guest_abi.h), copied into the snapshot. */
struct nub_guest_data {
	const void *init_data;
	const void *args;
	const void *files;
};

/* Build a snapshot from a loaded ELF: layout, PEB, image, the guest data,
 * page tables (writable => CoW, read-only => basic), scratch mapping, hash. */
int nub_snapshot_from_elf(const struct nub_layout_config *lcfg, const struct nub_elf_image *img,
                          const struct nub_guest_data *data, struct nub_snapshot **out,
                          struct nub_error *err);

/* Capture from live memory: walk the tables rooted at `root` (in scratch),
 * copy each mapped page once (deduplicated by GPA), pack, rebuild tables
 * (writable => CoW), hash. `base` supplies layout and family. */
struct nub_capture_src {
	const struct nub_snapshot *base; /* snapshot currently mapped */
	struct nub_shmem *scratch;
	nub_gpa_t root;
	nub_gva_t dispatch_gva;
	nub_gva_t fs_base;
	uint64_t generation;
	const struct nub_fn_names *names;
	const struct nub_hot_set *hot; /* NULL: none */
	const uint64_t *host_fns;      /* NUB_SNAPSHOT_HOST_FN_WORDS; NULL: none */
	/* GVA ranges left out (the host's mappings; their gpa is their gva). */
	const struct nub_view_extra *skip;
	unsigned nskip;
	nub_gpa_t gpa_base; /* the window the live tables hold (hv.h) */
};
int nub_snapshot_capture(const struct nub_capture_src *src, struct nub_snapshot **out,
                         struct nub_error *err);

/* Write what scratch holds besides the tables in `snap`'s state: its size,
 * the generation and the two buffers' empty headers (the rest of it is
 * zero). Part of nub_snapshot_restore_scratch; also what a restore that
 * keeps the tables writes after clearing scratch's writable pages. */
int nub_snapshot_write_bookkeeping(const struct nub_snapshot *snap, struct nub_shmem *scratch,
                                   uint64_t generation, struct nub_error *err);

/* Prepare scratch for running from `snap`: zero it (not when the caller
 * knows it is all zero: `is_zero`, a mapping nothing wrote yet), write
 * bookkeeping and buffer headers, copy the page tables in, moved to the
 * VM's window at `gpa_base` (hv.h). *zero_method reports how it was
 * zeroed; *bytes the bytes the host wrote. */
int nub_snapshot_restore_scratch(const struct nub_snapshot *snap, struct nub_shmem *scratch,
                                 int is_zero, nub_gpa_t gpa_base, uint64_t generation,
                                 enum nub_zero_method *zero_method, uint64_t *bytes,
                                 struct nub_error *err);

/* Whether a sandbox built around `a`'s layout can restore to `b`. */
int nub_snapshot_compatible(const struct nub_snapshot *a, const struct nub_snapshot *b);

#endif
