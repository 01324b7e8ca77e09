/* SPDX-License-Identifier: MIT */
/*
 * Loading backend shared objects. The loader finds, opens and keeps them;
 * it does not read their tables: core/backend/hv.c checks a table, runs its
 * probe and answers for its header (nub_hv_backend_name, ...), and every
 * call into a backend goes through one nub_hv_* wrapper there.
 */
#ifndef NUB_CORE_BACKEND_LOADER_H
#define NUB_CORE_BACKEND_LOADER_H

#include <limits.h>
#include <stddef.h>

#include <nub/backend.h>
#include <nub/error.h>

/* A loaded backend .so; reference-counted so it is never dlclosed while a
 * VM made from it lives. */
struct nub_backend;

/* Environment variables the loader reads. */
#define NUB_ENV_BACKEND      "NUB_BACKEND"
#define NUB_ENV_BACKEND_PATH "NUB_BACKEND_PATH"

/*
 * Resolve which backend to use: `config_spec` if non-NULL and non-empty,
 * else $NUB_BACKEND, else "auto". Returns a pointer to one of those strings
 * (or the literal "auto"); never NULL.
 */
const char *nub_backend_choose_spec(const char *config_spec);

/* Where names are searched after $NUB_BACKEND_PATH, in this order: the
 * plugin directory of the tree libnub is installed in (found from where
 * libnub.so, or the program linking libnub.a, is; only when it exists and
 * is not the next one), the configured install plugin directory, then the
 * build tree's (when there is one). */
struct nub_backend_dirs {
	const char *dir[3];
	size_t n;
	char beside[PATH_MAX]; /* storage of the first one */
};
void nub_backend_dirs(struct nub_backend_dirs *d);

/* The whole search, one directory at a time: each non-empty entry of
 * $NUB_BACKEND_PATH (one of PATH_MAX bytes or more names no file and is
 * skipped), then nub_backend_dirs(). The one walk of it, for the loader
 * (the first file of a name) and nub_backend_foreach (every file):
 *
 *     struct nub_backend_search s;
 *     nub_backend_search_start(&s);
 *     for (const char *dir; (dir = nub_backend_search_next(&s));)
 *             ...
 *
 * Once `in_dirs` is set, the directory returned is dirs.dir[next - 1]. */
struct nub_backend_search {
	const char *env;              /* what is left of $NUB_BACKEND_PATH */
	int in_dirs;                  /* past it: dirs is filled in */
	struct nub_backend_dirs dirs; /* then these */
	size_t next;                  /* index of the next of dirs */
	char dir[PATH_MAX];           /* storage of an entry of the variable */
};
void nub_backend_search_start(struct nub_backend_search *s);
/* The next directory (NUL-terminated, valid until the next call), or NULL
 * after the last. */
const char *nub_backend_search_next(struct nub_backend_search *s);

/*
 * Load a backend. `spec` is "auto" (kvm, then mshv; only backends with
 * NUB_CAP_HW_ISOLATION), a name ("mock": libnub-backend-mock.so searched in
 * $NUB_BACKEND_PATH, the install directory, then the build tree), or a path
 * (contains '/'). The backend's probe must accept. Errors, each naming the
 * file: NUB_ENOTFOUND, NUB_ENOSYM, NUB_EABI (both versions), NUB_ESHORT,
 * NUB_ESLOT (the slot), NUB_EPROBE (the backend's reason). On success *out
 * holds one reference.
 */
int nub_backend_load(const char *spec, struct nub_backend **out, struct nub_error *err);

/* Like nub_backend_load for a name or path, but without running probe:
 * the result of the probe is returned in *probe_rc / probe_msg instead
 * (for `nub backends`). */
int nub_backend_open(const char *spec, struct nub_backend **out, int *probe_rc, char *probe_msg,
                     size_t probe_msg_cap, struct nub_error *err);

struct nub_backend *nub_backend_ref(struct nub_backend *b);
void nub_backend_unref(struct nub_backend *b);

const char *nub_backend_path(const struct nub_backend *b);

/* A fault armed by a test: the call after `after` more passes fails with
 * `code` (core/backend/hv.c fires it). */
struct nub_fault {
	int code;
	unsigned after;
};
/* The faults of b's slots that run without a VM (probe, vm_create),
 * indexed by enum nub_hv_slot; kept here because they belong to the
 * backend, armed and fired by hv.c only. */
struct nub_fault *nub_backend_faults(struct nub_backend *b);
/* Core's copy of the backend's table, full-size (slots past the backend's
 * struct_size read as NULL). Only hv.c reads it. */
const struct nub_backend_ops *nub_backend_ops(const struct nub_backend *b);

#endif
