/* SPDX-License-Identifier: MIT */
/*
 * The sandbox lifecycle: create (from ELF, buffer, snapshot, file) ->
 * evolve (VM + init) -> call / snapshot / restore -> free.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <nub/guest_abi.h>
#include <nub/nub.h>
#include <nub/vmem.h>

#include "backend/hv.h"
#include "error_internal.h"
#include "image/elf_loader.h"
#include "image/snapshot.h"
#include "memory/counter.h"
#include "memory/gbuf.h"
#include "memory/layout.h"
#include "memory/shmem.h"
#include "sandbox/sandbox_internal.h"
#include "x86/cpu.h"

enum { SLOT_SNAPSHOT = 0, SLOT_SCRATCH = 1 };

/* ---- errors on the handle ---- */

static int sb_fail(struct nub_sandbox *sb, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int sb_fail(struct nub_sandbox *sb, int code, const char *fmt, ...)
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
static int sb_result(struct nub_sandbox *sb, int rc)
{
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
	return sb && sb->hv ? nub_hv_ops(sb->hv)->name : "";
}

void nub_sandbox_stats(const struct nub_sandbox *sb, struct nub_sandbox_stats *st)
{
	*st = sb->stats;
}

/* Called from inside one of this sandbox's host functions or its log
 * callback: its buffers are in use by the exit being served, so the call
 * is refused rather than left to corrupt them. */
static int reentered(struct nub_sandbox *sb, const char *what)
{
	if (!sb->in_callback)
		return 0;
	return sb_fail(sb, NUB_ESTATE,
	               "%s: not allowed from inside this sandbox's own host function or log "
	               "callback (use another sandbox)",
	               what);
}

/* ---- configuration ---- */

void nub_config_init(struct nub_config *cfg)
{
	struct nub_layout_config lc;

	memset(cfg, 0, sizeof(*cfg));
	nub_layout_config_default(&lc);
	cfg->struct_size = sizeof(*cfg);
	cfg->heap_size = lc.heap_size;
	cfg->scratch_size = lc.scratch_size;
	cfg->input_size = lc.input_size;
	cfg->output_size = lc.output_size;
	cfg->stack_size = lc.stack_size;
	cfg->exn_stack_size = lc.exn_stack_size;
	cfg->init_data_perms = NUB_VMEM_R;
	cfg->log_level = NUB_LOG_INFO;
}

/* Programs built against an older nub.h pass a smaller struct_size: the
 * fields they do not know keep their defaults. A newer one passes a larger
 * size: accepted only if the fields this libnub does not know are zero
 * (their defaults), so nothing it asked for is silently ignored. */
static int config_copy(const struct nub_config *cfg, struct nub_config *out, struct nub_error *err)
{
	if (!cfg)
		return nub_error_set(err, NUB_EINVAL, "NULL config");
	if (cfg->struct_size < NUB_CONFIG_SIZE_MIN)
		return nub_error_set(err, NUB_EINVAL,
		                     "config struct_size %u is below the smallest version (%zu): "
		                     "call nub_config_init",
		                     cfg->struct_size, (size_t)NUB_CONFIG_SIZE_MIN);
	for (size_t i = sizeof(*cfg); i < cfg->struct_size; i++)
		if (((const uint8_t *)cfg)[i])
			return nub_error_set(
			        err, NUB_EINVAL,
			        "config struct_size %u: byte %zu is set in a field this "
			        "libnub (%zu-byte config) does not know",
			        cfg->struct_size, i, sizeof(*cfg));
	nub_config_init(out);
	memcpy(out, cfg, cfg->struct_size < sizeof(*out) ? cfg->struct_size : sizeof(*out));
	out->struct_size = sizeof(*out);
	return 0;
}

static int config_check(const struct nub_config *cfg, struct nub_error *err)
{
	if (cfg->init_data_size && !cfg->init_data)
		return nub_error_set(err, NUB_EINVAL, "init_data_size %llu but init_data is NULL",
		                     (unsigned long long)cfg->init_data_size);
	if (cfg->log_level > NUB_LOG_TRACE)
		return nub_error_set(err, NUB_EINVAL, "log_level %u out of range", cfg->log_level);
	return 0;
}

/* The caller's config, normalised to this libnub's size, and checked. */
static int config_take(const struct nub_config *cfg, struct nub_config *out, struct nub_error *err)
{
	int rc = config_copy(cfg, out, err);

	return rc ? rc : config_check(out, err);
}

static void layout_config_from(const struct nub_config *cfg, struct nub_layout_config *lc)
{
	nub_layout_config_default(lc);
	lc->heap_size = cfg->heap_size;
	lc->scratch_size = cfg->scratch_size;
	lc->input_size = cfg->input_size;
	lc->output_size = cfg->output_size;
	lc->stack_size = cfg->stack_size;
	lc->exn_stack_size = cfg->exn_stack_size;
	lc->init_data_size = cfg->init_data_size;
	lc->init_data_perms = cfg->init_data_perms;
}

int nub_layout_describe(const struct nub_config *config, uint64_t image_size, FILE *out,
                        struct nub_error *err)
{
	struct nub_layout_config lc;
	struct nub_layout l;
	struct nub_config cfg;
	int rc;

	if (!out)
		return nub_error_set(err, NUB_EINVAL, "nub_layout_describe: NULL output");
	rc = config_copy(config, &cfg, err);
	if (rc)
		return rc;
	layout_config_from(&cfg, &lc);
	rc = nub_layout_compute(&lc, image_size, &l, err);
	if (!rc)
		nub_layout_print(&l, out);
	return rc;
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
	sb->cfg.init_data = NULL;    /* only needed while building the snapshot */
	sb->cfg.snapshot_key = NULL; /* only needed while loading the file; never kept */
	sb->cfg.snapshot_key_size = 0;
	sb->backend_spec = dup_or_null(cfg->backend);
	sb->backend_options = dup_or_null(cfg->backend_options);
	if ((cfg->backend && !sb->backend_spec) || (cfg->backend_options && !sb->backend_options)) {
		nub_sandbox_free(sb);
		return nub_error_set(err, NUB_ENOMEM, "out of memory creating a sandbox");
	}
	pthread_mutex_init(&sb->run_lock, NULL);
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
	sb->hot = snap->hot;
	*out = sb;
	return 0;
}

static int sandbox_from_image(const struct nub_config *cfg, const struct nub_elf_image *img,
                              struct nub_sandbox **out, struct nub_error *err)
{
	struct nub_layout_config lc;
	struct nub_snapshot *snap;
	int rc;

	layout_config_from(cfg, &lc);
	rc = nub_snapshot_from_elf(&lc, img, cfg->init_data, &snap, err);
	if (rc)
		return rc;
	rc = sandbox_from_snapshot(cfg, snap, out, err);
	nub_snapshot_unref(snap);
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
	rc = config_take(config, &cfg, err);
	if (!rc)
		rc = nub_elf_load_file(path, &img, err);
	if (!rc)
		rc = sandbox_from_image(&cfg, &img, out, err);
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
	rc = config_take(config, &cfg, err);
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
	rc = config_take(config, &cfg, err);
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
	rc = config_take(config, &cfg, err);
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

static int sandbox_register(struct nub_sandbox *sb, uint32_t id, nub_host_fn fn, void *user)
{
	if (!fn || id >= NUB_MAX_HOST_FNS)
		return sb_fail(sb, NUB_EINVAL, "register: host function %u %s", id,
		               fn ? "id out of range" : "is NULL");
	sb->host_fns[id].fn = fn;
	sb->host_fns[id].user = user;
	return 0;
}

int nub_sandbox_register(struct nub_sandbox *sb, uint32_t id, nub_host_fn fn, void *user)
{
	if (!sb)
		return NUB_EINVAL;
	return sb_result(sb, sandbox_register(sb, id, fn, user));
}

void nub_sandbox_free(struct nub_sandbox *sb)
{
	if (!sb || reentered(sb, "free"))
		return;
	nub_hv_destroy(sb->hv); /* unmaps regions before their memory goes */
	nub_shmem_unref(sb->scratch);
	nub_snapshot_unref(sb->current);
	nub_snapshot_unref(sb->base);
	free(sb->msg);
	free(sb->backend_spec);
	free(sb->backend_options);
	pthread_mutex_destroy(&sb->run_lock);
	free(sb);
}

/* ---- VM state ---- */

static int map_snapshot(struct nub_sandbox *sb, struct nub_snapshot *snap)
{
	struct nub_region r = {.slot = SLOT_SNAPSHOT,
	                       .flags = NUB_MEM_READ | NUB_MEM_EXEC,
	                       .gpa = NUB_BASE_GPA,
	                       .size = snap->visible_size,
	                       .host = nub_shmem_host(snap->mem)};
	int rc;

	if (sb->current == snap)
		return 0;
	if (nub_hv_ops(sb->hv)->caps & NUB_CAP_SHARED_MEMORY) {
		struct nub_shmem *shared;
		rc = nub_snapshot_shared_mem(snap, &shared, &sb->err);
		if (rc)
			return rc;
		r.host = nub_shmem_host(shared);
	}
	if (sb->current) {
		rc = nub_hv_unmap_region(sb->hv, SLOT_SNAPSHOT, &sb->err);
		if (rc)
			return rc;
		nub_snapshot_unref(sb->current);
		sb->current = NULL;
	}
	rc = nub_hv_map_region(sb->hv, &r, &sb->err);
	if (rc)
		return rc;
	sb->current = nub_snapshot_ref(snap);
	return 0;
}

/* Reset every piece of vCPU state the guest can observe: registers,
 * segments, control and descriptor-table registers (always the clean ABI-2
 * values, never a captured copy), FPU/SSE/AVX state, XCR0, MSRs and debug
 * registers.
 * Optional slots a backend lacks are skipped (the mock and test backends),
 * not errors. */
static int reset_cpu(struct nub_sandbox *sb, const struct nub_snapshot *snap)
{
	struct nub_regs regs;
	struct nub_sregs sregs;
	struct nub_fpu fpu;
	struct nub_debugregs dr;
	struct nub_msr msrs[NUB_CPU_CLEAN_MSRS];
	uint32_t nmsrs = nub_cpu_clean_msrs(&snap->layout, snap->fs_base, msrs);
	int rc;

	nub_cpu_initial_state(&snap->layout, snap->entry_gva, snap->fs_base, &regs, &sregs);
	nub_cpu_initial_fpu(&fpu);
	rc = nub_hv_set_sregs(sb->hv, &sregs, &sb->err);
	if (!rc)
		rc = nub_hv_set_regs(sb->hv, &regs, &sb->err);
	if (!rc && nub_hv_has(sb->hv, NUB_HV_SLOT_SET_FPU))
		rc = nub_hv_set_fpu(sb->hv, &fpu, &sb->err);
	if (!rc && nub_hv_has(sb->hv, NUB_HV_SLOT_SET_XCR0))
		rc = nub_hv_set_xcr0(sb->hv, 0x3, &sb->err); /* x87 | SSE */
	if (!rc && nub_hv_has(sb->hv, NUB_HV_SLOT_SET_MSRS))
		rc = nub_hv_set_msrs(sb->hv, msrs, nmsrs, &sb->err);
	nub_cpu_clean_debugregs(&dr);
	if (!rc && nub_hv_has(sb->hv, NUB_HV_SLOT_SET_DEBUGREGS))
		rc = nub_hv_set_debugregs(sb->hv, &dr, &sb->err);
	return rc;
}

/* Copy the working set before the guest runs: one memcpy per page instead
 * of one exit per page. */
static int prefetch(struct nub_sandbox *sb)
{
	struct nub_view c;
	nub_sandbox_view(sb, &c);
	int rc = nub_view_prefetch(&c, &sb->hot, &sb->err);

	if (rc < 0)
		return rc;
	sb->stats.prefetched_pages += (uint64_t)rc;
	return 0;
}

/* Fresh entropy for the guest (NUB_SCRATCH_TOP_SEED): a restored sandbox
 * is otherwise its snapshot bit for bit, random state included, and so is
 * every sandbox made from one snapshot. */
static int write_seed(struct nub_sandbox *sb, const struct nub_layout *l)
{
	uint8_t seed[NUB_RESTORE_SEED_SIZE];

	if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
		return sb_fail(sb, NUB_ESYS, "restore: getrandom for the guest's seed: %s",
		               strerror(errno));
	return nub_shmem_write(sb->scratch, l->scratch_size - NUB_SCRATCH_TOP_SEED, seed,
	                       sizeof(seed), &sb->err);
}

static int sandbox_reset(struct nub_sandbox *sb, struct nub_snapshot *snap)
{
	enum nub_zero_method zm = 0;
	uint64_t bytes = 0;
	int rc;

	rc = map_snapshot(sb, snap);
	if (!rc)
		rc = nub_snapshot_restore_scratch(snap, sb->scratch, snap->generation, &zm, &bytes,
		                                  &sb->err);
	if (!rc)
		rc = nub_counter_rewrite(&sb->counter, &sb->err);
	if (!rc)
		rc = write_seed(sb, &snap->layout);
	if (!rc)
		rc = reset_cpu(sb, snap);
	sb->cow_next = snap->layout.alloc_offset;
	if (!rc)
		rc = prefetch(sb); /* sb->current is snap now */
	if (rc)
		return rc;
	sb->generation = snap->generation;
	sb->dispatch_gva = snap->dispatch_gva;
	sb->fs_base = snap->fs_base;
	sb->names = snap->names;
	sb->stats.restores++;
	sb->stats.restore_bytes += bytes;
	if (zm == NUB_ZERO_MADVISE)
		sb->stats.restore_zero_madvise++;
	sb->poisoned = 0;
	return 0;
}

static int create_vm(struct nub_sandbox *sb)
{
	const struct nub_layout *l = &sb->base->layout;
	struct nub_backend *b;
	int rc;

	rc = nub_backend_load(nub_backend_choose_spec(sb->backend_spec), &b, &sb->err);
	if (rc)
		return rc;
	rc = nub_hv_create(b, NUB_GPA_LIMIT, sb->backend_options, &sb->hv, &sb->err);
	nub_backend_unref(b);
	if (rc)
		return rc;
	if (nub_hv_ops(sb->hv)->caps & NUB_CAP_SHARED_MEMORY)
		rc = nub_shmem_create_shared(l->scratch_size, &sb->scratch, &sb->err);
	else
		rc = nub_shmem_create(l->scratch_size, &sb->scratch, &sb->err);
	if (rc)
		return rc;
	nub_counter_init(&sb->counter, sb->scratch, l->scratch_size);
	struct nub_region r = {.slot = SLOT_SCRATCH,
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
		return sb_fail(sb, NUB_ENOMEM, "out of memory for message buffers");
	return 0;
}

static int sandbox_evolve(struct nub_sandbox *sb)
{
	struct nub_snapshot *init_snap;
	int rc;

	if (reentered(sb, "evolve"))
		return NUB_ESTATE;
	if (sb->hv)
		return sb_fail(sb, NUB_ESTATE, "evolve: sandbox already evolved");
	rc = create_vm(sb);
	if (!rc)
		rc = sandbox_reset(sb, sb->base);
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
	return sb_result(sb, sandbox_evolve(sb));
}

/* ---- calls ---- */

static int push_request(struct nub_sandbox *sb, uint32_t fn_id, const void *in, size_t len)
{
	struct nub_request req = {.fn_id = fn_id, .flags = 0, .len = (uint32_t)len};
	int rc;

	if (len > sb->msg_cap - sizeof(req))
		return sb_fail(sb, NUB_ERANGE, "call: %zu input bytes exceed the input buffer",
		               len);
	memcpy(sb->msg, &req, sizeof(req));
	if (len)
		memcpy(sb->msg + sizeof(req), in, len);
	rc = nub_gbuf_clear(&sb->in, &sb->err);
	if (!rc)
		rc = nub_gbuf_clear(&sb->out, &sb->err);
	if (!rc)
		rc = nub_gbuf_push(&sb->in, sb->msg, sizeof(req) + len, &sb->err);
	return rc;
}

static int call_regs(struct nub_sandbox *sb)
{
	const struct nub_layout *l = &sb->base->layout;
	struct nub_regs regs;

	memset(&regs, 0, sizeof(regs));
	regs.rip = sb->dispatch_gva;
	regs.rsp = l->scratch_gva + l->stack_top_offset;
	regs.rdi = l->peb_gpa;
	regs.rflags = 2;
	return nub_hv_set_regs(sb->hv, &regs, &sb->err);
}

static int pop_response(struct nub_sandbox *sb, void *out, size_t cap, size_t *out_len,
                        int32_t *status)
{
	struct nub_response resp;
	uint64_t len = 0;
	int rc = nub_gbuf_pop(&sb->out, sb->msg, sb->msg_cap, &len, &sb->err);

	if (rc == NUB_EEMPTY)
		return nub_sandbox_poison(
		        sb,
		        sb_fail(sb, NUB_ECORRUPT,
		                "call: the guest signalled call done without a response "
		                "(output buffer empty)"),
		        NULL);
	if (rc)
		return nub_sandbox_poison(sb, rc, NULL);
	if (len < sizeof(resp))
		return nub_sandbox_poison(
		        sb,
		        sb_fail(sb, NUB_ECORRUPT,
		                "call: response of %llu bytes is shorter than its header",
		                (unsigned long long)len),
		        NULL);
	memcpy(&resp, sb->msg, sizeof(resp));
	if (resp.len != len - sizeof(resp))
		return nub_sandbox_poison(
		        sb,
		        sb_fail(sb, NUB_ECORRUPT,
		                "call: response says %u bytes, message holds %llu", resp.len,
		                (unsigned long long)(len - sizeof(resp))),
		        NULL);
	if (status)
		*status = resp.status;
	if (out_len)
		*out_len = resp.len;
	if (resp.len > cap)
		return sb_fail(sb, NUB_ERANGE, "call: result of %u bytes exceeds out_cap %zu",
		               resp.len, cap);
	if (resp.len)
		memcpy(out, sb->msg + sizeof(resp), resp.len);
	return 0;
}

static int sandbox_call(struct nub_sandbox *sb, uint32_t fn_id, const void *in, size_t in_len,
                        void *out, size_t out_cap, size_t *out_len, int32_t *status)
{
	int rc;

	if (reentered(sb, "call"))
		return NUB_ESTATE;
	if (!sb->hv || !sb->dispatch_gva)
		return sb_fail(sb, NUB_ESTATE, "call: sandbox not evolved");
	if (sb->poisoned)
		return sb_fail(sb, NUB_EPOISONED, "call: sandbox poisoned, restore first (%s)",
		               sb->poison_reason);
	if ((in_len && !in) || (out_cap && !out))
		return sb_fail(sb, NUB_EINVAL, "call: NULL buffer with nonzero length");
	rc = push_request(sb, fn_id, in, in_len);
	if (!rc)
		rc = call_regs(sb);
	if (rc)
		return rc;
	sb->stats.calls++;
	rc = nub_sandbox_run(sb, NUB_RUN_CALL);
	if (rc)
		return rc;
	return pop_response(sb, out, out_cap, out_len, status);
}

int nub_sandbox_call(struct nub_sandbox *sb, uint32_t fn_id, const void *in, size_t in_len,
                     void *out, size_t out_cap, size_t *out_len, int32_t *status)
{
	if (!sb)
		return NUB_EINVAL;
	return sb_result(sb, sandbox_call(sb, fn_id, in, in_len, out, out_cap, out_len, status));
}

/* ---- snapshot / restore ---- */

static int sandbox_snapshot(struct nub_sandbox *sb, struct nub_snapshot **out)
{
	struct nub_capture_src src = {0};

	if (!out)
		return sb_fail(sb, NUB_EINVAL, "snapshot: NULL output");
	if (reentered(sb, "snapshot"))
		return NUB_ESTATE;
	if (!sb->hv)
		return sb_fail(sb, NUB_ESTATE, "snapshot: sandbox not evolved");
	if (sb->poisoned)
		return sb_fail(sb, NUB_EPOISONED, "snapshot: sandbox poisoned, restore first");
	src.base = sb->current;
	src.scratch = sb->scratch;
	/* The live tables are where the host put them (a CPL3 guest cannot
	 * move CR3); no vCPU state is captured: a sandbox always resumes from
	 * the clean ABI-2 state at the dispatch entry. */
	src.root = sb->base->layout.pt_gpa;
	src.dispatch_gva = sb->dispatch_gva;
	src.fs_base = sb->fs_base;
	src.generation = sb->generation + 1;
	src.names = &sb->names;
	src.hot = &sb->hot;
	return nub_snapshot_capture(&src, out, &sb->err);
}

int nub_sandbox_snapshot(struct nub_sandbox *sb, struct nub_snapshot **out)
{
	if (!sb)
		return NUB_EINVAL;
	return sb_result(sb, sandbox_snapshot(sb, out));
}

static int sandbox_restore(struct nub_sandbox *sb, struct nub_snapshot *snap)
{
	if (reentered(sb, "restore"))
		return NUB_ESTATE;
	if (!sb->hv)
		return sb_fail(sb, NUB_ESTATE, "restore: sandbox not evolved");
	if (!snap)
		snap = sb->base;
	if (!nub_snapshot_compatible(sb->base, snap))
		return sb_fail(sb, NUB_EMISMATCH,
		               "restore: snapshot comes from another ELF or layout");
	if (!snap->dispatch_gva)
		return sb_fail(sb, NUB_EMISMATCH,
		               "restore: snapshot was taken before initialisation");
	return sandbox_reset(sb, snap);
}

int nub_sandbox_restore(struct nub_sandbox *sb, struct nub_snapshot *snap)
{
	if (!sb)
		return NUB_EINVAL;
	return sb_result(sb, sandbox_restore(sb, snap));
}

int nub_sandbox_function_id(const struct nub_sandbox *sb, const char *name, uint32_t *id)
{
	if (!sb || !name || !id)
		return NUB_EINVAL;
	for (uint32_t i = 0; i < sb->names.n; i++) {
		if (!strcmp(sb->names.fn[i].name, name)) {
			*id = sb->names.fn[i].id;
			return 0;
		}
	}
	return NUB_ENOTFOUND;
}

/* Refused when poisoned, as every measure of a sandbox whose call went
 * wrong is: restore first (nub.h). */
static int sandbox_heap_usage(struct nub_sandbox *sb, struct nub_heap_usage *out)
{
	struct nub_view c;
	uint64_t pages = 0;

	if (!out)
		return sb_fail(sb, NUB_EINVAL, "heap usage: NULL output");
	if (!sb->scratch || !sb->current)
		return sb_fail(sb, NUB_ESTATE, "heap usage: sandbox not evolved");
	if (sb->poisoned)
		return sb_fail(sb, NUB_ESTATE, "heap usage: sandbox poisoned, restore first (%s)",
		               sb->poison_reason);
	const struct nub_layout *l = &sb->base->layout;
	nub_sandbox_view(sb, &c);
	int rc = nub_view_count_written(&c, l->heap_gpa, l->heap_size, &pages);
	if (rc)
		return sb_fail(sb, rc,
		               "heap usage: the live tables map the heap outside guest memory");
	out->heap_size = l->heap_size;
	out->written_bytes = pages * NUB_PAGE_SIZE;
	return 0;
}

int nub_sandbox_heap_usage(struct nub_sandbox *sb, struct nub_heap_usage *out)
{
	if (!sb)
		return NUB_EINVAL;
	return sb_result(sb, sandbox_heap_usage(sb, out));
}

/* ---- counter ---- */

static int sandbox_counter_add(struct nub_sandbox *sb, int64_t delta)
{
	if (!sb->scratch)
		return sb_fail(sb, NUB_ESTATE, "counter: sandbox not evolved");
	return nub_counter_add(&sb->counter, delta, &sb->err);
}

int nub_sandbox_counter_add(struct nub_sandbox *sb, int64_t delta)
{
	if (!sb)
		return NUB_EINVAL;
	return sb_result(sb, sandbox_counter_add(sb, delta));
}

uint64_t nub_sandbox_counter(const struct nub_sandbox *sb)
{
	return sb && sb->scratch ? nub_counter_value(&sb->counter) : 0;
}
