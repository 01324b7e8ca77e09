/* SPDX-License-Identifier: MIT */
/*
 * What a user would run instead of a sandbox, for bench_peers: the same
 * Duktape the JS guest is built from (Debian's duktape.c, compiled in),
 * linked statically, as a program of its own:
 *   peer_runner --js SCRIPT   create a heap, evaluate SCRIPT, print the
 *                             result, exit (the posix_spawn peer)
 *   peer_runner --echo TEXT   print TEXT, exit
 */
#include <stdio.h>
#include <string.h>

#include "duktape.h"

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--echo")) {
		fputs(argv[2], stdout);
		return 0;
	}
	if (argc != 3 || strcmp(argv[1], "--js")) {
		fprintf(stderr, "usage: peer_runner --js SCRIPT | --echo TEXT\n");
		return 2;
	}
	duk_context *ctx = duk_create_heap_default();
	if (!ctx)
		return 1;
	int rc = duk_peval_string(ctx, argv[2]);
	fputs(duk_safe_to_string(ctx, -1), stdout);
	duk_destroy_heap(ctx);
	return rc ? 1 : 0;
}
