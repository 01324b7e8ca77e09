/* SPDX-License-Identifier: MIT */
/* A host program built outside nub's tree against the installed library:
 *   host-program GUEST.elf NAME [BACKEND [OPTIONS]]
 * creates a sandbox, registers host function 1 (upper-cases its input),
 * calls the guest's "greet" with NAME and prints the answer. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <nub/nub.h>

static int32_t shout(void *user, const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                     size_t *out_len)
{
	(void)user;
	if (in_len > cap)
		return NUB_EFULL;
	for (size_t i = 0; i < in_len; i++)
		out[i] = (uint8_t)toupper(in[i]);
	*out_len = in_len;
	return 0;
}

static void on_log(void *user, int level, const char *msg, size_t len)
{
	(void)user;
	fprintf(stderr, "guest log %d: %.*s\n", level, (int)len, msg);
}

int main(int argc, char **argv)
{
	struct nub_config cfg;
	struct nub_error err = {0};
	struct nub_sandbox *sb = NULL;
	uint8_t out[256];
	size_t n = 0;
	int32_t status = -1;
	uint32_t id;
	int rc;

	if (argc < 3) {
		fprintf(stderr, "usage: %s GUEST.elf NAME [BACKEND [OPTIONS]]\n", argv[0]);
		return 2;
	}
	nub_config_init(&cfg);
	cfg.backend = argc > 3 ? argv[3] : NULL;
	cfg.backend_options = argc > 4 ? argv[4] : NULL;
	cfg.log_fn = on_log;
	if (nub_sandbox_create_from_elf(&cfg, argv[1], &sb, &err)) {
		fprintf(stderr, "create: %s (%s)\n", err.msg, nub_strerror(err.code));
		return 1;
	}
	rc = nub_sandbox_register(sb, 1, shout, NULL);
	if (!rc)
		rc = nub_sandbox_evolve(sb);
	if (!rc)
		rc = nub_sandbox_function_id(sb, "greet", &id);
	if (!rc)
		rc = nub_sandbox_call(sb, id, argv[2], strlen(argv[2]), out, sizeof(out), &n,
		                      &status);
	if (rc) {
		fprintf(stderr, "%s: %s (%s)\n", nub_sandbox_backend_name(sb),
		        nub_sandbox_last_error(sb), nub_strerror(rc));
		nub_sandbox_free(sb);
		return 1;
	}
	printf("%s: status %d: %.*s\n", nub_sandbox_backend_name(sb), status, (int)n,
	       (const char *)out);
	nub_sandbox_free(sb);
	return status ? 1 : 0;
}
