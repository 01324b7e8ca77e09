/* SPDX-License-Identifier: MIT */
/* `nub layout [--heap N] [--scratch N] [--input N] [--output N] [--stack N]
 * [--exn-stack N] [--init-data N] [--image N]`: print the guest memory map
 * a config gives. Sizes take K, M or G suffixes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nub/nub.h>

#include "cli.h"

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || s[0] == '-')
		return -1;
	switch (*end) {
	case 'K':
	case 'k':
		v <<= 10, end++;
		break;
	case 'M':
	case 'm':
		v <<= 20, end++;
		break;
	case 'G':
	case 'g':
		v <<= 30, end++;
		break;
	default:
		break;
	}
	if (*end)
		return -1;
	*out = v;
	return 0;
}

int nub_cli_layout(int argc, char **argv)
{
	struct nub_config cfg;
	struct nub_error err = {0};
	uint64_t image = 64u << 10;
	const struct {
		const char *opt;
		uint64_t *field;
	} opts[] = {
	        {"--heap", &cfg.heap_size},           {"--scratch", &cfg.scratch_size},
	        {"--input", &cfg.input_size},         {"--output", &cfg.output_size},
	        {"--stack", &cfg.stack_size},         {"--exn-stack", &cfg.exn_stack_size},
	        {"--init-data", &cfg.init_data_size}, {"--image", &image},
	};

	nub_config_init(&cfg);
	for (int i = 1; i < argc; i += 2) { /* option, value */
		size_t k = 0;
		while (k < sizeof(opts) / sizeof(opts[0]) && strcmp(argv[i], opts[k].opt))
			k++;
		if (k == sizeof(opts) / sizeof(opts[0]) || i + 1 >= argc ||
		    parse_size(argv[i + 1], opts[k].field)) {
			fprintf(stderr, "nub layout: bad argument '%s'%s\n", argv[i],
			        k < sizeof(opts) / sizeof(opts[0]) ? " (needs a size like 64K)"
			                                           : "");
			return 2;
		}
	}
	if (nub_layout_describe(&cfg, image, stdout, &err)) {
		fprintf(stderr, "nub layout: %s (%s)\n", err.msg, nub_strerror(err.code));
		return 1;
	}
	return 0;
}
