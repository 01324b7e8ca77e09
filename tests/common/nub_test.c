/* SPDX-License-Identifier: MIT */
#include "nub_test.h"

#include <stdio.h>
#include <stdlib.h>

const char *nub_test_env(const char *name)
{
	const char *v = getenv(name);

	if (!v || !v[0])
		fail_msg("environment variable %s not set (run through ctest)", name);
	return v;
}

const char *nub_test_path(const char *env, const char *rel)
{
	static _Thread_local char buf[4096];

	snprintf(buf, sizeof(buf), "%s/%s", nub_test_env(env), rel);
	return buf;
}
