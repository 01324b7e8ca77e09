/* SPDX-License-Identifier: MIT */
/* The table of subcommands beyond `backends` and `version`. */
#include "cli.h"

const struct nub_cli_cmd nub_cli_extra[] = {
        {NULL, NULL, NULL},
};
const size_t nub_cli_extra_count = 0;
