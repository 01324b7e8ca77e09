/* SPDX-License-Identifier: MIT */
/*
 * Core files of a sandbox's guest: on demand (nub_sandbox_core_dump) and,
 * when a core directory is configured, on every guest fault or abort -- written
 * before anything resets the memory, and named in the fault's message.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "debug/core_dump.h"
#include "sandbox/sandbox_internal.h"

/* The state to dump and why it stopped: the fault's when the sandbox
 * stopped at one and was not reset since, else the vCPU's now (between
 * calls, or inside a host function the guest called) with no reason. */
int nub_sandbox_has_stop(const struct nub_sandbox *sb)
{
	/* A stop lasts until the restore that clears the poisoning. */
	return sb->poisoned && sb->stop.have;
}

static int core_state(struct nub_sandbox *sb, struct nub_stop *st, const char **why)
{
	*why = NULL;
	if (nub_sandbox_has_stop(sb)) {
		*st = sb->stop;
		*why = sb->stop_why;
		return 0;
	}
	return nub_stop_capture(sb->hv, NULL, st, &sb->err);
}

static int core_write_path(struct nub_sandbox *sb, const char *path, const struct nub_stop *st,
                           const char *why)
{
	struct nub_view view;
	const struct nub_layout *l = &sb->base->layout;
	struct nub_core_image img = {
	        .view = &view,
	        .stop = st,
	        .entry_gva = sb->current->entry_gva,
	        .image_gva = l->image_gpa,
	        .image_size = l->image_size,
	        .elf_path = sb->elf_path,
	        .why = why,
	};
	int fd, rc;

	nub_sandbox_view(sb, &view);
	/* O_EXCL: never through a link someone left at the name. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return nub_sandbox_fail(sb, NUB_EIO, "core dump: cannot create %s: %s", path,
		                        strerror(errno));
	rc = nub_core_write(fd, &img, &sb->err);
	if (close(fd) && !rc)
		rc = nub_sandbox_fail(sb, NUB_EIO, "core dump: closing %s: %s", path,
		                      strerror(errno));
	if (rc)
		unlink(path);
	return rc;
}

int nub_sandbox_core_dump(struct nub_sandbox *sb, const char *path)
{
	struct nub_stop st;
	const char *why;
	int rc;

	if (!sb)
		return NUB_EINVAL;
	if (!path)
		return nub_sandbox_fail(sb, NUB_EINVAL, "core dump: NULL path");
	if (!sb->hv)
		return nub_sandbox_fail(sb, NUB_ESTATE, "core dump: sandbox not evolved");
	if (nub_sandbox_foreign(sb, "core dump"))
		return NUB_ESTATE;
	rc = core_state(sb, &st, &why);
	if (!rc)
		rc = core_write_path(sb, path, &st, why);
	return rc ? rc : nub_sandbox_result(sb, 0);
}

/* The end of a message, cut where it must be. */
static void msg_append(char *msg, size_t cap, const char *what, const char *detail)
{
	size_t used = strlen(msg);

	if (used + 1 < cap)
		snprintf(msg + used, cap - used, "%s%.*s", what, (int)(cap - used), detail);
}

void nub_sandbox_core_on_fault(struct nub_sandbox *sb)
{
	static atomic_uint seq;
	char path[4096];
	struct nub_error saved = sb->err;
	int n;

	if (!sb->stop.have)
		return;
	/* Kept for nub_sandbox_core_dump until the restore, cores or not. */
	snprintf(sb->stop_why, sizeof(sb->stop_why), "%s", saved.msg);
	if (!sb->core_dir)
		return;
	n = snprintf(path, sizeof(path), "%s/%s.%d.%u.core", sb->core_dir,
	             basename(sb->elf_path ? sb->elf_path : "guest"), (int)getpid(),
	             atomic_fetch_add(&seq, 1));
	if (n < 0 || (size_t)n >= sizeof(path))
		msg_append(saved.msg, sizeof(saved.msg), "; no core: ", "directory name too long");
	else if (core_write_path(sb, path, &sb->stop, sb->stop_why))
		msg_append(saved.msg, sizeof(saved.msg), "; no core: ", sb->err.msg);
	else
		msg_append(saved.msg, sizeof(saved.msg), "; core dumped to ", path);
	sb->err = saved; /* the fault stays the error, its core named */
}
