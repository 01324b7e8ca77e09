/* SPDX-License-Identifier: MIT */
/*
 * The sandbox lifecycle: create (from ELF, buffer, snapshot, file) ->
 * evolve (VM + init) -> call (call.c) / snapshot / restore (state.c) ->
 * free; and the errors a sandbox carries on its handle.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nub/nub.h>

#include "backend/hv.h"
#include "error_internal.h"
#include "image/elf_loader.h"
#include "image/guest_data.h"
#include "image/snapshot.h"
#include "sandbox/sandbox_internal.h"

/* ---- errors on the handle ---- */

int nub_sandbox_fail(struct nub_sandbox *sb, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	nub_error_setv(&sb->err, code, fmt, ap);
	va_end(ap);
	return code;
}

/* What a public call on a sandbox returns: on success the handle's error
 * is cleared, so nub_sandbox_last_error() always describes the last call
 * (internal steps that end on an expected "empty" must not show through). */
int nub_sandbox_result(struct nub_sandbox *sb, int rc)
{
	nub_sandbox_publish_stats(sb);
	if (rc == 0) {
		sb->err.code = 0;
		sb->err.msg[0] = '\0';
	}
	return rc;
}

int nub_sandbox_last_error_code(const struct nub_sandbox *sb)
{
	return sb ? sb->err.code : NUB_EINVAL;
}

const char *nub_sandbox_last_error(const struct nub_sandbox *sb)
{
	return sb ? sb->err.msg : "NULL sandbox";
}

const char *nub_sandbox_backend_name(const struct nub_sandbox *sb)
{
	return sb && sb->hv ? nub_hv_name(sb->hv) : "";
}

void nub_sandbox_copy_sized(void *dst, size_t dst_size, const void *src, size_t src_size)
{
	size_t n = dst_size < src_size ? dst_size : src_size;

	memcpy(dst, src, n);
	if (dst_size > n)
		memset((char *)dst + n, 0, dst_size - n);
}

void nub_sandbox_stats_sized(const struct nub_sandbox *sb, struct nub_sandbox_stats *st,
                             size_t size)
{
	nub_sandbox_copy_sized(st, size, &sb->stats, sizeof(sb->stats));
}

/* The ABI of nub 0.1: its struct had the 8 fields before restores_in_place. */
void(nub_sandbox_stats)(const struct nub_sandbox *sb, struct nub_sandbox_stats *st)
{
	nub_sandbox_stats_sized(sb, st, offsetof(struct nub_sandbox_stats, restores_in_place));
}

/* Called from inside one of this sandbox's host functions or its log
 * callback: its buffers are in use by the exit being served, so the call
 * is refused rather than left to corrupt them. */
int nub_sandbox_reentered(struct nub_sandbox *sb, const char *what)
{
	if (!sb->in_callback)
		return 0;
	return nub_sandbox_fail(
	        sb, NUB_ESTATE,
	        "%s: not allowed from inside this sandbox's own host function or log "
	        "callback (use another sandbox)",
	        what);
}

/* Forks this process and its ancestors made since libnub started counting
 * (at its first VM):
 * pthread_atfork's child handler adds one, so a sandbox copied into a
 * forked child finds another count than its VM was made under -- a check
 * on every call with no getpid(). The handler is registered before the
 * first VM exists, so no fork that copies a VM is missed; a process that
 * could not register it compares pids instead. */
static atomic_uint fork_count;
static int fork_unwatched;
static pthread_once_t fork_watch_once = PTHREAD_ONCE_INIT;

static void fork_count_child(void)
{
	atomic_fetch_add(&fork_count, 1);
}

static void fork_watch(void)
{
	fork_unwatched = pthread_atfork(NULL, NULL, fork_count_child) != 0;
}

long nub_sandbox_fork_count(void)
{
	pthread_once(&fork_watch_once, fork_watch);
	return fork_unwatched ? -1 : (long)atomic_load(&fork_count);
}

void nub_sandbox_own_vm(struct nub_sandbox *sb)
{
	sb->vm_owner = getpid();
	sb->vm_forks = nub_sandbox_fork_count();
}

int nub_sandbox_vm_is_ours(const struct nub_sandbox *sb)
{
	if (!sb->hv)
		return 1;
	long forks = nub_sandbox_fork_count();
	return forks < 0 ? sb->vm_owner == getpid() : sb->vm_forks == forks;
}

int nub_sandbox_foreign(struct nub_sandbox *sb, const char *what)
{
	if (nub_sandbox_vm_is_ours(sb))
		return 0;
	return nub_sandbox_fail(sb, NUB_ESTATE,
	                        "%s: the sandbox's VM belongs to process %d, which made it "
	                        "(a forked child cannot use a sandbox made before the fork)",
	                        what, (int)sb->vm_owner);
}

int nub_sandbox_check_usable(struct nub_sandbox *sb, const char *what)
{
	int rc = nub_sandbox_reentered(sb, what);

	return rc ? rc : nub_sandbox_foreign(sb, what);
}

/* ---- creation ---- */

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* cfg: already normalised by config_take. */
static int sandbox_alloc(const struct nub_config *cfg, struct nub_sandbox **out,
                         struct nub_error *err)
{
	struct nub_sandbox *sb = calloc(1, sizeof(*sb));

	if (!sb)
		return nub_error_set(err, NUB_ENOMEM, "out of memory creating a sandbox");
	sb->cfg = *cfg;
	/* Only needed while building the snapshot, and the caller's: */
	sb->cfg.init_data = NULL;
	sb->cfg.argv = sb->cfg.envp = NULL;
	sb->cfg.cwd = NULL;
	sb->cfg.dirs = NULL;
	sb->cfg.dirs_count = 0;
	sb->cfg.snapshot_key = NULL; /* only needed while loading the file; never kept */
	sb->cfg.snapshot_key_size = 0;
	const char *core_dir = cfg->core_dir ? cfg->core_dir : getenv("NUB_CORE_DIR");
	if (core_dir && !core_dir[0])
		core_dir = NULL; /* NUB_CORE_DIR= : no cores */
	sb->cfg.core_dir = NULL; /* the copy below is the sandbox's */
	sb->backend_spec = dup_or_null(cfg->backend);
	sb->backend_options = dup_or_null(cfg->backend_options);
	sb->core_dir = dup_or_null(core_dir);
	if ((cfg->backend && !sb->backend_spec) || (cfg->backend_options && !sb->backend_options) ||
	    (core_dir && !sb->core_dir)) {
		nub_sandbox_free(sb);
		return nub_error_set(err, NUB_ENOMEM, "out of memory creating a sandbox");
	}
	pthread_mutex_init(&sb->run_lock, NULL);
	int rc = nub_sandbox_debugger_config(sb, cfg, err);
	if (rc) {
		nub_sandbox_free(sb);
		return rc;
	}
	*out = sb;
	return 0;
}

static int sandbox_from_snapshot(const struct nub_config *cfg, struct nub_snapshot *snap,
                                 struct nub_sandbox **out, struct nub_error *err)
{
	struct nub_sandbox *sb = NULL;
	int rc = sandbox_alloc(cfg, &sb, err);

	if (rc)
		return rc;
	sb->base = nub_snapshot_ref(snap);
	sb->generation = snap->generation;
	nub_snapshot_hot_get(snap, &sb->hot);
	*out = sb;
	return 0;
}

static int sandbox_from_image(const struct nub_config *cfg, const struct nub_elf_image *img,
                              struct nub_sandbox **out, struct nub_error *err)
{
	struct nub_layout_config lc;
	struct nub_snapshot *snap;
	int rc;

	struct nub_packed args, files = {0};
	struct nub_guest_data data = {.init_data = cfg->init_data};

	nub_sandbox_layout_config(cfg, &lc);
	rc = nub_args_pack(cfg, &args, err);
	if (rc)
		return rc;
	rc = nub_files_pack(cfg->dirs, cfg->dirs_count, &files, err);
	if (rc)
		goto free_args;
	lc.args_size = args.size;
	lc.files_size = files.size;
	data.args = args.bytes;
	data.files = files.bytes;
	rc = nub_snapshot_from_elf(&lc, img, &data, &snap, err);
	free(files.bytes);
	if (rc)
		goto free_args;
	rc = sandbox_from_snapshot(cfg, snap, out, err);
	nub_snapshot_unref(snap);
free_args:
	free(args.bytes);
	return rc;
}

int nub_sandbox_create_from_elf(const struct nub_config *config, const char *path,
                                struct nub_sandbox **out, struct nub_error *err)
{
	struct nub_elf_image img = {0};
	struct nub_config cfg;
	int rc;

	if (!out || !path)
		return nub_error_set(err, NUB_EINVAL, "NULL argument");
	*out = NULL;
	rc = nub_sandbox_config_take(config, &cfg, err);
	if (!rc)
		rc = nub_elf_load_file(path, &img, err);
	if (!rc)
		rc = sandbox_from_image(&cfg, &img, out, err);
	/* For core files' notes: the ELF gdb reads symbols from. */
	if (!rc)
		(*out)->elf_path = realpath(path, NULL);
	nub_elf_free(&img);
	return rc;
}

int nub_sandbox_create_from_buffer(const struct nub_config *config, const void *elf, size_t len,
                                   struct nub_sandbox **out, struct nub_error *err)
{
	struct nub_elf_image img = {0};
	struct nub_config cfg;
	int rc;

	if (!out || !elf)
		return nub_error_set(err, NUB_EINVAL, "NULL argument");
	*out = NULL;
	rc = nub_sandbox_config_take(config, &cfg, err);
	if (!rc)
		rc = nub_elf_load_buffer(elf, len, &img, err);
	if (!rc)
		rc = sandbox_from_image(&cfg, &img, out, err);
	nub_elf_free(&img);
	return rc;
}

int nub_sandbox_create_from_snapshot(const struct nub_config *config, struct nub_snapshot *snap,
                                     struct nub_sandbox **out, struct nub_error *err)
{
	struct nub_config cfg;
	int rc;

	if (!out || !snap)
		return nub_error_set(err, NUB_EINVAL, "NULL argument");
	*out = NULL;
	rc = nub_sandbox_config_take(config, &cfg, err);
	return rc ? rc : sandbox_from_snapshot(&cfg, snap, out, err);
}

int nub_sandbox_create_from_file(const struct nub_config *config, const char *path,
                                 struct nub_sandbox **out, struct nub_error *err)
{
	struct nub_snapshot *snap;
	struct nub_config cfg;
	int rc;

	if (!out)
		return nub_error_set(err, NUB_EINVAL, "NULL argument");
	*out = NULL;
	rc = nub_sandbox_config_take(config, &cfg, err);
	if (!rc && (cfg.snapshot_key || cfg.snapshot_key_size))
		rc = nub_snapshot_load_keyed(path, cfg.snapshot_key, cfg.snapshot_key_size, &snap,
		                             err);
	else if (!rc)
		rc = nub_snapshot_load(path, &snap, err);
	if (rc)
		return rc;
	rc = sandbox_from_snapshot(&cfg, snap, out, err);
	nub_snapshot_unref(snap);
	return rc;
}

void nub_sandbox_free(struct nub_sandbox *sb)
{
	if (!sb || nub_sandbox_reentered(sb, "free"))
		return;
	nub_sandbox_publish_stats(sb);
	/* Before anything goes: a kill through the handle now finds nothing. */
	nub_sandbox_handle_detach(sb);
	/* Mappings go first: a VM may be parked only without them, and the
	 * host memory they map is the caller's to free after this. */
	if (sb->nmaps && nub_sandbox_unmap_all(sb))
		nub_sandbox_poison(sb, NUB_EBACKEND, "free: a mapping could not be removed");
	if (nub_sandbox_holds_base_state(sb))
		nub_snapshot_hot_learn(sb->base, &sb->hot);
	if (nub_sandbox_park(sb))
		return;
	nub_sandbox_destroy(sb);
}

void nub_sandbox_destroy(struct nub_sandbox *sb)
{
	nub_sandbox_debugger_free(sb);
	nub_hv_destroy(sb->hv); /* unmaps regions before their memory goes */
	nub_shmem_unref(sb->scratch);
	nub_snapshot_unref(sb->current);
	nub_snapshot_unref(sb->base);
	nub_copies_free(&sb->copies);
	free(sb->msg);
	free(sb->backend_spec);
	free(sb->core_dir);
	free(sb->elf_path);
	free(sb->backend_options);
	pthread_mutex_destroy(&sb->run_lock);
	free(sb);
}

/* The sandbox's VM: one from the snapshot's pool (1: in sb->base's state
 * already) or a new one (0: reset it next), or a negative error. */
static int create_vm(struct nub_sandbox *sb)
{
	const struct nub_layout *l = &sb->base->layout;
	struct nub_backend *b;
	int rc;

	if (nub_sandbox_unpark(sb))
		return 1;
	rc = nub_backend_load(nub_backend_choose_spec(sb->backend_spec), &b, &sb->err);
	if (rc)
		return rc;
	rc = nub_hv_create(b, NUB_GPA_LIMIT, sb->backend_options, &sb->hv, &sb->err);
	nub_backend_unref(b);
	if (rc)
		return rc;
	nub_sandbox_own_vm(sb);
	if (nub_hv_caps(sb->hv) & NUB_CAP_SHARED_MEMORY)
		rc = nub_shmem_create_shared(l->scratch_size, &sb->scratch, &sb->err);
	else
		rc = nub_shmem_create(l->scratch_size, &sb->scratch, &sb->err);
	if (rc)
		return rc;
	sb->scratch_zero = 1; /* the first reset need not zero it */
	nub_counter_init(&sb->counter, sb->scratch, l->scratch_size);
	struct nub_region r = {.slot = NUB_SANDBOX_SLOT_SCRATCH,
	                       .flags = NUB_MEM_READ | NUB_MEM_WRITE | NUB_MEM_EXEC,
	                       .gpa = l->scratch_gpa,
	                       .size = l->scratch_size,
	                       .host = nub_shmem_host(sb->scratch)};
	rc = nub_hv_map_region(sb->hv, &r, &sb->err);
	if (rc)
		return rc;
	nub_gbuf_init(&sb->in, sb->scratch, l->input_offset, l->input_size, "input buffer");
	nub_gbuf_init(&sb->out, sb->scratch, l->output_offset, l->output_size, "output buffer");
	sb->msg_cap = (l->input_size > l->output_size ? l->input_size : l->output_size);
	sb->msg = malloc(sb->msg_cap);
	if (!sb->msg)
		return nub_sandbox_fail(sb, NUB_ENOMEM, "out of memory for message buffers");
	return 0;
}

static int sandbox_evolve(struct nub_sandbox *sb)
{
	struct nub_snapshot *init_snap;
	int rc;

	if (nub_sandbox_reentered(sb, "evolve"))
		return NUB_ESTATE;
	if (sb->hv)
		return nub_sandbox_fail(sb, NUB_ESTATE, "evolve: sandbox already evolved");
	if (nub_sandbox_check_host_fns(sb, sb->base, "evolve"))
		return NUB_EMISMATCH;
	rc = nub_sandbox_debugger_listen(sb);
	if (!rc)
		rc = create_vm(sb);
	if (rc > 0)
		rc = nub_sandbox_adopt(sb, sb->base); /* a pooled VM, reset when it parked */
	else if (!rc)
		rc = nub_sandbox_reset(sb, sb->base);
	if (rc || sb->dispatch_gva)
		return rc; /* failed, or the snapshot was captured after init */
	rc = nub_sandbox_run(sb, NUB_RUN_INIT);
	if (rc)
		return rc;
	/* The state after init becomes what restore(NULL) returns to. */
	rc = nub_sandbox_snapshot(sb, &init_snap);
	if (rc)
		return rc;
	nub_snapshot_unref(sb->base);
	sb->base = init_snap;
	return 0;
}

int nub_sandbox_evolve(struct nub_sandbox *sb)
{
	if (!sb)
		return NUB_EINVAL;
	return nub_sandbox_result(sb, sandbox_evolve(sb));
}

int nub_sandbox_function_id(const struct nub_sandbox *sb, const char *name, uint32_t *id)
{
	size_t len;

	if (!sb || !name || !id || strchr(name, ':'))
		return NUB_EINVAL;
	for (uint32_t i = 0; i < sb->names.n; i++) {
		nub_fn_name_parts(&sb->names.fn[i], &len);
		if (len == strlen(name) && !strncmp(sb->names.fn[i].name, name, len)) {
			*id = sb->names.fn[i].id;
			return 0;
		}
	}
	return NUB_ENOTFOUND;
}

/* The published name of function `id`, or NULL. */
static const struct nub_fn_name *fn_find(const struct nub_sandbox *sb, uint32_t id)
{
	for (uint32_t i = 0; i < sb->names.n && i < NUB_MAX_FN_NAMES; i++)
		if (sb->names.fn[i].id == id)
			return &sb->names.fn[i];
	return NULL;
}

const char *nub_sandbox_function_signature(const struct nub_sandbox *sb, uint32_t id)
{
	const struct nub_fn_name *f = sb ? fn_find(sb, id) : NULL;
	size_t len;

	return f ? nub_fn_name_parts(f, &len) : NULL;
}

const char *nub_sandbox_fn_name(const struct nub_sandbox *sb, uint32_t id, char *buf, size_t cap)
{
	const struct nub_fn_name *f = fn_find(sb, id);
	size_t len = 0;

	if (f)
		nub_fn_name_parts(f, &len);
	snprintf(buf, cap, "%.*s", (int)len, f ? f->name : "");
	return buf;
}

/* Refused when poisoned, as every measure of a sandbox whose call went
 * wrong is: restore first (nub.h). */
