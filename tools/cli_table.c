/* SPDX-License-Identifier: MIT */
/* The table of subcommands beyond `backends` and `version`. */
#include "cli.h"

const struct nub_cli_cmd nub_cli_extra[] = {
        {"run", "create a sandbox from an ELF or a snapshot file, evolve it, call a function",
         nub_cli_run},
        {"snapshot", "evolve a guest, make warm-up calls, save its snapshot to a file (-o)",
         nub_cli_snapshot},
        {"layout", "print the guest memory map for a config", nub_cli_layout},
        {"inspect", "list a snapshot's (or a guest's) functions, signatures and needs",
         nub_cli_inspect},
};
const size_t nub_cli_extra_count = sizeof(nub_cli_extra) / sizeof(nub_cli_extra[0]);
