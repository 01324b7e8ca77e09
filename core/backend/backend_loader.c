/* SPDX-License-Identifier: MIT */
#include "backend/backend_loader.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/hv.h"
#include "error_internal.h"

#ifndef NUB_PLUGIN_INSTALL_DIR
#define NUB_PLUGIN_INSTALL_DIR "/usr/local/lib/nub/backends"
#endif
#ifndef NUB_PLUGIN_BUILD_DIR
#define NUB_PLUGIN_BUILD_DIR ""
#endif
/* NUB_PLUGIN_INSTALL_DIR relative to the directory of libnub.so, or with
 * NUB_PLUGIN_RELATIVE_TO_PROGRAM of the program linking libnub.a. */
#ifndef NUB_PLUGIN_RELATIVE_DIR
#define NUB_PLUGIN_RELATIVE_DIR ""
#endif

struct nub_backend {
	atomic_int refs;
	void *dl;
	struct nub_backend_ops ops;                  /* zero-extended copy of the backend's table */
	struct nub_fault faults[NUB_HV_SLOT_COUNT_]; /* probe's and vm_create's */
	char path[PATH_MAX];
};

static const char *const auto_order[] = {"kvm", "mshv"};

/* The file libnub's code is in: libnub.so itself (dladdr), or the program
 * that linked libnub.a (whose dladdr name would be argv[0], not a path). */
static int own_file(char *path, size_t cap)
{
#ifdef NUB_PLUGIN_RELATIVE_TO_PROGRAM
	ssize_t n = readlink("/proc/self/exe", path, cap - 1);

	if (n <= 0)
		return -1;
	path[n] = '\0';
	return 0;
#else
	Dl_info info;

	if (!dladdr((void *)(uintptr_t)&nub_backend_dirs, &info) || !info.dli_fname ||
	    !realpath(info.dli_fname, path))
		return -1;
	(void)cap; /* realpath writes at most PATH_MAX bytes, which cap is */
	return 0;
#endif
}

static int same_dir(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

void nub_backend_dirs(struct nub_backend_dirs *d)
{
	char file[PATH_MAX];
	char *slash;
	struct stat st;
	int n;

	d->n = 0;
	/* The plugin directory of the tree this libnub was installed in, when
	 * that is not the configured prefix: an installed tree can be moved,
	 * or installed with `cmake --install --prefix`, and still load its
	 * own backends rather than those of another nub at the configured
	 * prefix. Dropped when it is missing or is the configured directory. */
	if (NUB_PLUGIN_RELATIVE_DIR[0] && own_file(file, sizeof(file)) == 0 &&
	    (slash = strrchr(file, '/'))) {
		*slash = '\0';
		n = snprintf(d->beside, sizeof(d->beside), "%s/%s", file, NUB_PLUGIN_RELATIVE_DIR);
		if (n > 0 && (size_t)n < sizeof(d->beside) && stat(d->beside, &st) == 0 &&
		    S_ISDIR(st.st_mode) && !same_dir(d->beside, NUB_PLUGIN_INSTALL_DIR))
			d->dir[d->n++] = d->beside;
	}
	d->dir[d->n++] = NUB_PLUGIN_INSTALL_DIR;
	if (NUB_PLUGIN_BUILD_DIR[0])
		d->dir[d->n++] = NUB_PLUGIN_BUILD_DIR;
}

const char *nub_backend_choose_spec(const char *config_spec)
{
	const char *env;

	if (config_spec && config_spec[0])
		return config_spec;
	env = getenv(NUB_ENV_BACKEND);
	if (env && env[0])
		return env;
	return "auto";
}

static int name_is_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

void nub_backend_search_start(struct nub_backend_search *s)
{
	s->env = getenv(NUB_ENV_BACKEND_PATH);
	s->in_dirs = 0;
	s->next = 0;
}

const char *nub_backend_search_next(struct nub_backend_search *s)
{
	while (s->env && *s->env) {
		const char *p = s->env, *colon = strchr(p, ':');
		size_t len = colon ? (size_t)(colon - p) : strlen(p);

		s->env = colon ? colon + 1 : NULL;
		if (len == 0 || len >= sizeof(s->dir))
			continue;
		memcpy(s->dir, p, len);
		s->dir[len] = '\0';
		return s->dir;
	}
	/* Only now: a name found in $NUB_BACKEND_PATH needs none of this. */
	if (!s->in_dirs) {
		nub_backend_dirs(&s->dirs);
		s->in_dirs = 1;
	}
	return s->next < s->dirs.n ? s->dirs.dir[s->next++] : NULL;
}

/* Try dir/libnub-backend-<name>.so; returns 1 and fills path if it exists. */
static int candidate_exists(const char *dir, const char *name, char *path, size_t cap)
{
	int n = snprintf(path, cap, "%s/libnub-backend-%s.so", dir, name);

	if (n < 0 || (size_t)n >= cap)
		return 0;
	return access(path, F_OK) == 0;
}

/* Append the i-th of n directories to the list of those tried ("A, B or
 * C"), truncated to its size. */
static void add_tried(char *tried, size_t cap, size_t *used, const char *dir, size_t i, size_t n)
{
	int w = snprintf(tried + *used, cap - *used, "%s%s",
	                 i == 0       ? ""
	                 : i + 1 == n ? " or "
	                              : ", ",
	                 dir);

	if (w > 0)
		*used = (size_t)w + *used < cap ? *used + (size_t)w : cap - 1;
}

static int find_by_name(const char *name, char *path, size_t cap, struct nub_error *err)
{
	const char *env = getenv(NUB_ENV_BACKEND_PATH);
	struct nub_backend_search s;
	char tried[NUB_ERROR_MSG_MAX] = "";
	size_t used = 0;

	if (!name_is_valid(name))
		return nub_error_set(err, NUB_EINVAL,
		                     "backend name '%s' is not a name ([a-z0-9_-]) or a path",
		                     name);
	nub_backend_search_start(&s);
	for (const char *dir; (dir = nub_backend_search_next(&s));) {
		if (candidate_exists(dir, name, path, cap))
			return 0;
		/* The message lists the variable whole, then these. */
		if (s.in_dirs)
			add_tried(tried, sizeof(tried), &used, dir, s.next - 1, s.dirs.n);
	}
	return nub_error_set(err, NUB_ENOTFOUND,
	                     "backend '%s' not found: no libnub-backend-%s.so in "
	                     "NUB_BACKEND_PATH='%s', %s%s",
	                     name, name, env ? env : "", tried,
	                     NUB_PLUGIN_BUILD_DIR[0] ? "" : " (no build tree)");
}

static int load_table(struct nub_backend *b, struct nub_error *err)
{
	nub_backend_entry_fn entry;
	const struct nub_backend_ops *t;
	void *sym;

	sym = dlsym(b->dl, NUB_BACKEND_ENTRY_SYMBOL);
	if (!sym)
		return nub_error_set(err, NUB_ENOSYM, "%s: not a nub backend (symbol '%s' missing)",
		                     b->path, NUB_BACKEND_ENTRY_SYMBOL);
	memcpy(&entry, &sym, sizeof(entry));
	t = entry();
	if (!t)
		return nub_error_set(err, NUB_ENOSYM, "%s: '%s' returned NULL", b->path,
		                     NUB_BACKEND_ENTRY_SYMBOL);
	return nub_hv_adopt_table(&b->ops, t, b->path, err);
}

/* A file that proved to be a backend stays loaded for the rest of the
 * process (RTLD_NODELETE, added to the loaded object): what it learned
 * once per process (the KVM backend's CPUID answer, an eighth of a VM's
 * creation on the software KVM) outlives its last sandbox, so a host that
 * frees every sandbox before making the next does not load, relocate and
 * ask the hypervisor again each time; and a signal handler it installed
 * (the MSHV backend's kick) never points into unmapped code. A file that
 * is not a backend is unloaded as before. Failing to promote only costs
 * that time, so it is not an error. */
static void keep_resident(const char *path)
{
	void *again = dlopen(path, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);

	if (again)
		dlclose(again); /* the reference it took; the object stays */
}

static int open_path(const char *path, struct nub_backend **out, struct nub_error *err)
{
	struct nub_backend *b;
	int rc;

	if (strlen(path) >= PATH_MAX)
		return nub_error_set(err, NUB_EINVAL, "backend path too long");
	if (access(path, F_OK) != 0)
		return nub_error_set(err, NUB_ENOTFOUND, "%s: backend not found (%s)", path,
		                     strerror(errno));
	b = calloc(1, sizeof(*b));
	if (!b)
		return nub_error_set(err, NUB_ENOMEM, "out of memory loading %s", path);
	snprintf(b->path, sizeof(b->path), "%s", path);
	atomic_init(&b->refs, 1);
	b->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!b->dl) {
		const char *why = dlerror();
		rc = nub_error_set(err, NUB_ENOSYM, "%s: cannot be loaded as a backend: %s", path,
		                   why ? why : "dlopen failed");
		goto free_backend;
	}
	rc = load_table(b, err);
	if (rc)
		goto close_dl;
	keep_resident(path);
	*out = b;
	return 0;
close_dl:
	dlclose(b->dl);
free_backend:
	free(b);
	return rc;
}

/* The file `spec` names: a path, or a name looked up in the search path. */
static int resolve(const char *spec, char *path, size_t cap, struct nub_error *err)
{
	if (strchr(spec, '/')) {
		snprintf(path, cap, "%s", spec);
		return 0;
	}
	return find_by_name(spec, path, cap, err);
}

int nub_backend_open(const char *spec, struct nub_backend **out, int *probe_rc, char *probe_msg,
                     size_t probe_msg_cap, struct nub_error *err)
{
	char path[PATH_MAX];
	int rc;

	if (!spec || !out || !probe_rc || !probe_msg || probe_msg_cap == 0)
		return nub_error_set(err, NUB_EINVAL, "nub_backend_open: NULL argument");
	rc = resolve(spec, path, sizeof(path), err);
	if (!rc)
		rc = open_path(path, out, err);
	if (rc)
		return rc;
	/* Whatever the probe returned, the backend is not usable here. */
	*probe_rc = nub_hv_probe(*out, probe_msg, probe_msg_cap, NULL) ? NUB_EPROBE : 0;
	return 0;
}

/* The backends whose probe passed in this process, by path: a sandbox's
 * VM comes from nub_backend_load, and probing again for every one (the
 * KVM backend opens /dev/kvm and asks it a dozen questions) is cold-start
 * time spent learning nothing. A machine that stops being usable is told
 * by vm_create, with the same clarity. `nub backends` (nub_backend_open)
 * always probes afresh. */
#define PROBED_MAX 8
static pthread_mutex_t probed_lock = PTHREAD_MUTEX_INITIALIZER;
static char probed[PROBED_MAX][PATH_MAX];
static unsigned nprobed;

static int probed_before(const char *path)
{
	int found = 0;

	pthread_mutex_lock(&probed_lock);
	for (unsigned i = 0; i < nprobed && !found; i++)
		found = !strcmp(probed[i], path);
	pthread_mutex_unlock(&probed_lock);
	return found;
}

static void probed_now(const char *path)
{
	pthread_mutex_lock(&probed_lock);
	if (nprobed < PROBED_MAX)
		snprintf(probed[nprobed++], PATH_MAX, "%s", path);
	pthread_mutex_unlock(&probed_lock);
}

static int load_one(const char *spec, struct nub_backend **out, struct nub_error *err)
{
	char why[NUB_ERROR_MSG_MAX], path[PATH_MAX];
	struct nub_backend *b;
	int rc = resolve(spec, path, sizeof(path), err);

	if (!rc)
		rc = open_path(path, &b, err);
	if (rc)
		return rc;
	if (!probed_before(b->path)) {
		if (nub_hv_probe(b, why, sizeof(why), NULL)) {
			rc = nub_error_set(err, NUB_EPROBE,
			                   "%s: backend '%s' is not usable here: %s", b->path,
			                   nub_hv_backend_name(b), why);
			nub_backend_unref(b);
			return rc;
		}
		probed_now(b->path);
	}
	*out = b;
	return 0;
}

static int load_auto(struct nub_backend **out, struct nub_error *err)
{
	char reasons[NUB_ERROR_MSG_MAX] = "";
	size_t used = 0;

	for (size_t i = 0; i < sizeof(auto_order) / sizeof(auto_order[0]); i++) {
		struct nub_error e = {0};
		if (load_one(auto_order[i], out, &e) == 0) {
			if (nub_hv_backend_caps(*out) & NUB_CAP_HW_ISOLATION)
				return 0;
			nub_error_set(&e, NUB_EPROBE, "%s lacks hardware isolation", auto_order[i]);
			nub_backend_unref(*out);
			*out = NULL;
		}
		int n = snprintf(reasons + used, sizeof(reasons) - used, "%s%s", used ? "; " : "",
		                 e.msg);
		if (n > 0)
			used = (size_t)n + used < sizeof(reasons) ? used + (size_t)n
			                                          : sizeof(reasons) - 1;
	}
	return nub_error_set(err, NUB_EPROBE, "no usable backend (auto tried kvm, mshv): %s",
	                     reasons);
}

int nub_backend_load(const char *spec, struct nub_backend **out, struct nub_error *err)
{
	if (!spec || !out)
		return nub_error_set(err, NUB_EINVAL, "nub_backend_load: NULL argument");
	*out = NULL;
	if (strcmp(spec, "auto") == 0)
		return load_auto(out, err);
	return load_one(spec, out, err);
}

struct nub_backend *nub_backend_ref(struct nub_backend *b)
{
	atomic_fetch_add(&b->refs, 1);
	return b;
}

void nub_backend_unref(struct nub_backend *b)
{
	if (!b || atomic_fetch_sub(&b->refs, 1) != 1)
		return;
	dlclose(b->dl);
	free(b);
}

const char *nub_backend_path(const struct nub_backend *b)
{
	return b->path;
}

const struct nub_backend_ops *nub_backend_ops(const struct nub_backend *b)
{
	return &b->ops;
}

struct nub_fault *nub_backend_faults(struct nub_backend *b)
{
	return b->faults;
}
