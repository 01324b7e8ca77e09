/* SPDX-License-Identifier: MIT */
/* The arguments block: argv, then the environment, then the working
 * directory, as NUL-terminated strings after a struct nub_args_header. */
#include <stdlib.h>
#include <string.h>

#include <nub/guest_abi.h>

#include "error_internal.h"
#include "image/guest_data.h"

struct args_sum {
	uint32_t n;   /* strings counted */
	uint64_t len; /* their bytes with NULs */
};

/* Count a NULL-terminated list, within the limits. */
static int count_list(const char *const *list, const char *what, struct args_sum *sum,
                      uint32_t *count, struct nub_error *err)
{
	*count = 0;
	for (; list && list[*count]; (*count)++) {
		if (sum->n == NUB_ARGS_MAX)
			return nub_error_set(
			        err, NUB_EINVAL,
			        "%s: more than NUB_ARGS_MAX (%u) strings with argv and "
			        "envp",
			        what, NUB_ARGS_MAX);
		sum->n++;
		sum->len += strnlen(list[*count], NUB_ARGS_BYTES_MAX) + 1;
		if (sum->len > NUB_ARGS_BYTES_MAX)
			return nub_error_set(err, NUB_EINVAL,
			                     "%s: argv, envp and cwd exceed NUB_ARGS_BYTES_MAX (%u "
			                     "bytes)",
			                     what, NUB_ARGS_BYTES_MAX);
	}
	return 0;
}

static int check_env(const char *const *envp, uint32_t n, struct nub_error *err)
{
	for (uint32_t i = 0; i < n; i++) {
		const char *eq = strchr(envp[i], '=');
		if (!eq || eq == envp[i])
			return nub_error_set(
			        err, NUB_EINVAL,
			        "envp[%u] \"%.64s\" is not NAME=VALUE (a non-empty name, "
			        "then '=')",
			        i, envp[i]);
	}
	return 0;
}

static uint8_t *put(uint8_t *p, const char *s)
{
	size_t n = strlen(s) + 1;

	memcpy(p, s, n);
	return p + n;
}

int nub_args_pack(const struct nub_config *cfg, struct nub_packed *out, struct nub_error *err)
{
	static const char *const default_argv[] = {"nub-guest", NULL};
	const char *const *argv = cfg->argv && cfg->argv[0] ? cfg->argv : default_argv;
	const char *cwd = cfg->cwd ? cfg->cwd : "/";
	struct args_sum sum = {0};
	struct nub_args_header h = {.magic = NUB_ARGS_MAGIC};
	uint8_t *p;
	int rc;

	out->bytes = NULL;
	out->size = 0;
	if (!cfg->argv && !cfg->envp && !cfg->cwd)
		return 0;
	rc = count_list(argv, "argv", &sum, &h.argc, err);
	if (!rc)
		rc = count_list(cfg->envp, "envp", &sum, &h.envc, err);
	if (!rc)
		rc = check_env(cfg->envp, h.envc, err);
	if (rc)
		return rc;
	if (cwd[0] != '/')
		return nub_error_set(err, NUB_EINVAL, "cwd \"%.64s\" is not an absolute path", cwd);
	sum.len += strnlen(cwd, NUB_ARGS_BYTES_MAX) + 1;
	if (sum.len > NUB_ARGS_BYTES_MAX)
		return nub_error_set(err, NUB_EINVAL,
		                     "cwd: argv, envp and cwd exceed NUB_ARGS_BYTES_MAX (%u bytes)",
		                     NUB_ARGS_BYTES_MAX);
	h.size = (uint32_t)sum.len;
	out->bytes = malloc(sizeof(h) + sum.len);
	if (!out->bytes)
		return nub_error_set(err, NUB_ENOMEM, "out of memory packing the arguments");
	memcpy(out->bytes, &h, sizeof(h));
	p = out->bytes + sizeof(h);
	for (uint32_t i = 0; i < h.argc; i++)
		p = put(p, argv[i]);
	for (uint32_t i = 0; i < h.envc; i++)
		p = put(p, cfg->envp[i]);
	put(p, cwd);
	out->size = sizeof(h) + sum.len;
	return 0;
}
