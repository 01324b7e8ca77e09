/* SPDX-License-Identifier: MIT */
/*
 * The public view of backends: every .so the loader would find, loaded,
 * probed and described (`nub backends`), and the one a spec selects.
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nub/nub.h>

#include "backend/backend_loader.h"
#include "backend/hv.h"
#include "error_internal.h"

#define PREFIX "libnub-backend-"
#define SUFFIX ".so"

static void info_from(struct nub_backend_info *info, const struct nub_backend *b)
{
	snprintf(info->name, sizeof(info->name), "%s", nub_hv_backend_name(b));
	snprintf(info->path, sizeof(info->path), "%s", nub_backend_path(b));
	nub_hv_backend_abi(b, &info->abi_major, &info->abi_minor);
	info->caps = nub_hv_backend_caps(b);
}

/* Load and probe one path; fills info whatever happens. */
static void describe_path(const char *path, const char *name_from_file,
                          struct nub_backend_info *info)
{
	struct nub_error err = {0};
	struct nub_backend *b;
	int probe_rc;

	memset(info, 0, sizeof(*info));
	snprintf(info->name, sizeof(info->name), "%s", name_from_file);
	snprintf(info->path, sizeof(info->path), "%s", path);
	if (nub_backend_open(path, &b, &probe_rc, info->note, sizeof(info->note), &err)) {
		info->load_error = err.code;
		snprintf(info->note, sizeof(info->note), "%s", err.msg);
		return;
	}
	info_from(info, b);
	info->usable = probe_rc == 0;
	nub_backend_unref(b);
}

struct seen {
	char names[64][64];
	unsigned n;
};

static int seen_before(struct seen *s, const char *name)
{
	for (unsigned i = 0; i < s->n; i++)
		if (!strcmp(s->names[i], name))
			return 1;
	if (s->n < sizeof(s->names) / sizeof(s->names[0]))
		snprintf(s->names[s->n++], sizeof(s->names[0]), "%s", name);
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every backend file in one directory, sorted, reported to fn. */
static int scan_dir(const char *dir, struct seen *seen,
                    int (*fn)(void *, const struct nub_backend_info *), void *user)
{
	char path[PATH_MAX];
	char *names[128];
	size_t n = 0;
	struct dirent *e;
	int rc = 0;

	DIR *d = opendir(dir);
	if (!d)
		return 0;
	while ((e = readdir(d)) && n < sizeof(names) / sizeof(names[0])) {
		size_t len = strlen(e->d_name);
		if (len > strlen(PREFIX) + strlen(SUFFIX) &&
		    !strncmp(e->d_name, PREFIX, strlen(PREFIX)) &&
		    !strcmp(e->d_name + len - strlen(SUFFIX), SUFFIX) &&
		    (names[n] = strdup(e->d_name)))
			n++;
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), name_cmp);
	for (size_t i = 0; i < n; i++) {
		struct nub_backend_info *info = calloc(1, sizeof(*info));
		char name[64];
		size_t len = strlen(names[i]) - strlen(PREFIX) - strlen(SUFFIX);
		snprintf(name, sizeof(name), "%.*s", (int)len, names[i] + strlen(PREFIX));
		int w = snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (!rc && info && w > 0 && (size_t)w < sizeof(path)) {
			describe_path(path, name, info);
			info->shadowed = seen_before(seen, name);
			rc = fn(user, info);
		}
		free(info);
		free(names[i]);
	}
	return rc;
}

int nub_backend_foreach(int (*fn)(void *user, const struct nub_backend_info *info), void *user)
{
	/* On the heap: the search and the names seen are a few pages. */
	struct nub_backend_search *search = calloc(1, sizeof(*search));
	struct seen *seen = calloc(1, sizeof(*seen));
	const char *dir;
	int rc = 0;

	if (!fn || !seen || !search) {
		free(seen);
		free(search);
		return fn ? NUB_ENOMEM : NUB_EINVAL;
	}
	nub_backend_search_start(search);
	while (!rc && (dir = nub_backend_search_next(search)))
		rc = scan_dir(dir, seen, fn, user);
	free(seen);
	free(search);
	return rc;
}

int nub_backend_select(const char *spec, struct nub_backend_info *info, struct nub_error *err)
{
	struct nub_backend *b;
	const char *chosen = nub_backend_choose_spec(spec);
	int rc;

	if (!info)
		return nub_error_set(err, NUB_EINVAL, "nub_backend_select: NULL info");
	memset(info, 0, sizeof(*info));
	snprintf(info->name, sizeof(info->name), "%s", chosen);
	rc = nub_backend_load(chosen, &b, err);
	if (rc == NUB_EPROBE && strcmp(chosen, "auto")) {
		/* A backend whose probe declines is still a backend: describe
		 * it as nub_backend_foreach would (table, path, the probe's
		 * reason), which a path outside the search is listed by. */
		struct nub_error e = {0};
		int probe_rc;
		if (nub_backend_open(chosen, &b, &probe_rc, info->note, sizeof(info->note), &e) ==
		    0) {
			info_from(info, b);
			info->usable = probe_rc == 0;
			nub_backend_unref(b);
			return rc;
		}
	}
	if (rc) {
		info->load_error = rc;
		if (err)
			snprintf(info->note, sizeof(info->note), "%s", err->msg);
		return rc;
	}
	info_from(info, b);
	nub_backend_unref(b);
	/* Again through the describing path, for the probe's note. */
	char path[sizeof(info->path)];
	memcpy(path, info->path, sizeof(path));
	describe_path(path, info->name, info);
	info->usable = 1;
	return 0;
}
