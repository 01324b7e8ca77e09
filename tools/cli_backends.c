/* SPDX-License-Identifier: MIT */
/* `nub backends` and `nub version`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nub/backend.h>
#include <nub/guest_abi.h>
#include <nub/nub.h>

#include "cli.h"

static void show(const struct nub_backend_info *b, const char *tag)
{
	const char *state = b->load_error ? "error" : b->usable ? "usable" : "unusable";

	if (b->load_error) {
		printf("%-8s %-8s %s%s\n         reason: %s\n", b->name, state, b->path, tag,
		       b->note);
		return;
	}
	printf("%-8s %-8s ABI %u.%u%s%s%s  %s%s\n", b->name, state, b->abi_major, b->abi_minor,
	       b->usable && b->note[0] ? " (" : "", b->usable ? b->note : "",
	       b->usable && b->note[0] ? ")" : "", b->path, tag);
	if (!b->usable)
		printf("         reason: %s\n", b->note);
}

static int show_found(void *user, const struct nub_backend_info *b)
{
	int *count = user;

	show(b, b->shadowed ? "  (shadowed by the one above of this name)" : "");
	(*count)++;
	return 0;
}

/* Every backend the search finds (NUB_BACKEND_PATH, plugin directory,
 * build tree), then the one the spec (argument, else $NUB_BACKEND, else
 * auto) selects. Only public API: what any host program can do. */
int nub_cli_backends(int argc, char **argv)
{
	const char *spec = argc > 1 ? argv[1] : NULL;
	struct nub_backend_info sel;
	struct nub_error err = {0};
	int count = 0;

	const char *env = getenv("NUB_BACKEND");
	const char *chosen = spec && spec[0] ? spec : env && env[0] ? env : "auto";

	nub_backend_foreach(show_found, &count);
	if (!count)
		printf("no backends found (NUB_BACKEND_PATH, the plugin directory, the build "
		       "tree)\n");
	if (nub_backend_select(spec, &sel, &err)) {
		/* A path is outside the search: list it, with its load error or
		 * its probe's reason. */
		if (strchr(chosen, '/'))
			show(&sel, "");
		printf("selected: none (%s): %s\n", chosen, err.msg);
		return 1;
	}
	if (sel.note[0])
		printf("selected backend says: %s\n", sel.note);
	printf("selected: %s (%s) %s\n", sel.name, chosen, sel.path);
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
