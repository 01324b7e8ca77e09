/* SPDX-License-Identifier: MIT */
/* The table of subcommands beyond `backends` and `version`. */
#include "cli.h"

const struct nub_cli_cmd nub_cli_extra[] = {
        {"run", "create a sandbox from an ELF, evolve it, call a function (--heap, --timeout)",
         nub_cli_run},
        {"layout", "print the guest memory map for a config", nub_cli_layout},
};
const size_t nub_cli_extra_count = sizeof(nub_cli_extra) / sizeof(nub_cli_extra[0]);
