/* SPDX-License-Identifier: MIT */
/* The configuration a sandbox is made with: defaults, the versioned copy of
 * the caller's struct, its checks, and the layout it gives. */
#include <string.h>

#include "vmem.h"
#include <nub/nub.h>

#include "error_internal.h"

/* The public bits are the page-table library's (the layout maps the init
 * data with them). */
_Static_assert((unsigned)NUB_INIT_DATA_R == (unsigned)NUB_VMEM_R &&
                       (unsigned)NUB_INIT_DATA_W == (unsigned)NUB_VMEM_W &&
                       (unsigned)NUB_INIT_DATA_X == (unsigned)NUB_VMEM_X,
               "init data permissions");
#include "memory/layout.h"
#include "sandbox/sandbox_internal.h"

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
	cfg->init_data_perms = NUB_INIT_DATA_R;
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
	if (cfg->dirs_count && !cfg->dirs)
		return nub_error_set(err, NUB_EINVAL, "dirs_count %zu but dirs is NULL",
		                     cfg->dirs_count);
	if (cfg->gdb_port > NUB_GDB_PORT_ANY)
		return nub_error_set(err, NUB_EINVAL,
		                     "gdb_port %u is not a TCP port (1-65535, or NUB_GDB_PORT_ANY)",
		                     cfg->gdb_port);
	if (cfg->log_level > NUB_LOG_TRACE)
		return nub_error_set(err, NUB_EINVAL, "log_level %u out of range", cfg->log_level);
	return 0;
}

/* The caller's config, normalised to this libnub's size, and checked. */
int nub_sandbox_config_take(const struct nub_config *cfg, struct nub_config *out,
                            struct nub_error *err)
{
	int rc = config_copy(cfg, out, err);

	return rc ? rc : config_check(out, err);
}

void nub_sandbox_layout_config(const struct nub_config *cfg, struct nub_layout_config *lc)
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
	nub_sandbox_layout_config(&cfg, &lc);
	rc = nub_layout_compute(&lc, image_size, &l, err);
	if (!rc)
		nub_layout_print(&l, out);
	return rc;
}
