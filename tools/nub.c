/* SPDX-License-Identifier: MIT */
/* The `nub` command-line tool. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static int usage(FILE *f)
{
	fprintf(f, "usage: nub <command> [args]\n"
	           "commands:\n"
	           "  backends            list backends, their probe result and the selection\n"
	           "  version             print versions of libnub and its ABIs\n");
	for (size_t i = 0; i < nub_cli_extra_count; i++)
		fprintf(f, "  %-19s %s\n", nub_cli_extra[i].name, nub_cli_extra[i].help);
	return f == stderr ? 2 : 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage(stderr);
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help"))
		return usage(stdout);
	if (!strcmp(argv[1], "backends"))
		return nub_cli_backends(argc - 1, argv + 1);
	if (!strcmp(argv[1], "version"))
		return nub_cli_version(argc - 1, argv + 1);
	for (size_t i = 0; i < nub_cli_extra_count; i++)
		if (!strcmp(argv[1], nub_cli_extra[i].name))
			return nub_cli_extra[i].run(argc - 1, argv + 1);
	fprintf(stderr, "nub: unknown command '%s'\n", argv[1]);
	return usage(stderr);
}
