/* SPDX-License-Identifier: MIT */
/* `nub backends` and `nub version`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nub/backend.h>
#include <nub/guest_abi.h>

#include "../core/backend_loader.h"
#include "cli.h"

static const char *const known[] = {"kvm", "mshv", "mock"};

static void show_one(const char *spec)
{
	char why[NUB_ERROR_MSG_MAX];
	struct nub_error err = {0};
	struct nub_backend *b;
	int probe_rc;

	if (nub_backend_open(spec, &b, &probe_rc, why, sizeof(why), &err)) {
		printf("%-8s error    %s (%s)\n", spec, err.msg, nub_strerror(err.code));
		return;
	}
	const struct nub_backend_ops *ops = nub_backend_ops(b);
	printf("%-8s %-8s ABI %u.%u%s%s%s  %s\n", ops->name, probe_rc ? "unusable" : "usable",
	       ops->abi_major, ops->abi_minor, !probe_rc && why[0] ? " (" : "",
	       !probe_rc ? why : "", !probe_rc && why[0] ? ")" : "", nub_backend_path(b));
	if (probe_rc)
		printf("         reason: %s\n", why);
	nub_backend_unref(b);
}

int nub_cli_backends(int argc, char **argv)
{
	const char *env = getenv(NUB_ENV_BACKEND);
	const char *spec = argc > 1 ? argv[1] : NULL;
	struct nub_error err = {0};
	struct nub_backend *b;
	int shown_env = 0;

	(void)argv;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		show_one(known[i]);
		if (env && !strcmp(env, known[i]))
			shown_env = 1;
	}
	if (env && env[0] && !shown_env && strcmp(env, "auto"))
		show_one(env);
	spec = nub_backend_choose_spec(spec);
	if (nub_backend_load(spec, &b, &err)) {
		printf("selected: none (%s): %s\n", spec, err.msg);
		return 1;
	}
	printf("selected: %s (%s) %s\n", nub_backend_name(b), spec, nub_backend_path(b));
	nub_backend_unref(b);
	return 0;
}

int nub_cli_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("nub %s, backend ABI %u.%u, guest ABI %u\n", NUB_VERSION_STRING,
	       NUB_BACKEND_ABI_MAJOR, NUB_BACKEND_ABI_MINOR, NUB_GUEST_ABI_VERSION);
	return 0;
}
