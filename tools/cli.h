/* SPDX-License-Identifier: MIT */
#ifndef NUB_TOOLS_CLI_H
#define NUB_TOOLS_CLI_H

#include <stddef.h>

/* Each subcommand gets argv starting at its own name. Returns the exit code. */
int nub_cli_backends(int argc, char **argv);
int nub_cli_version(int argc, char **argv);
int nub_cli_run(int argc, char **argv);
int nub_cli_snapshot(int argc, char **argv);
int nub_cli_layout(int argc, char **argv);
int nub_cli_inspect(int argc, char **argv);

/* A snapshot file (either kind) rather than an ELF: its first 7 bytes. */
int nub_cli_is_snapshot_file(const char *path);

/* Further subcommands (layout, run, snapshot, ...) register here, one
 * cli_<name>.c file each, so adding one does not touch main(). */
struct nub_cli_cmd {
	const char *name;
	const char *help;
	int (*run)(int argc, char **argv);
};
extern const struct nub_cli_cmd nub_cli_extra[];
extern const size_t nub_cli_extra_count;

#endif
