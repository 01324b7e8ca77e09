/* SPDX-License-Identifier: MIT */
/*
 * The gdb stub (nub_config.gdb_port) on the backend under test, driven by
 * a minimal client speaking gdb's remote protocol: the first call stops
 * before the guest runs; a breakpoint placed from the ELF's symbol and the
 * auxv's AT_ENTRY stops the call there, with RIP at it and the guest's own
 * byte in memory; it is hit again after a restore; a snapshot taken
 * meanwhile runs in a sandbox with no debugger (an int3 left in it would
 * fault there). The refusals: unmapped memory, a non-canonical RIP, a
 * register that is none, an unsupported breakpoint kind, a bad checksum,
 * a bad port in the config; kill fails the call with its message. gdb
 * itself is tests/cli/gdb.sh.
 */
#include <arpa/inet.h>
#include <elf.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <nub/nub.h>

#include "../../guest/tests/test_guest_ids.h"
#include "nub_test.h"
#include "nub_test_sandbox.h"

/* ---- the guest ELF: a function's address and the entry point ---- */

static uint64_t elf_symbol(const char *path, const char *name, uint64_t *entry)
{
	struct stat st;
	int fd = open(path, O_RDONLY);
	uint64_t v = 0;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	uint8_t *b = malloc((size_t)st.st_size);
	assert_non_null(b);
	assert_int_equal(pread(fd, b, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	const Elf64_Ehdr *e = (const void *)b;
	const Elf64_Shdr *sh = (const void *)(b + e->e_shoff);
	*entry = e->e_entry;
	for (unsigned i = 0; i < e->e_shnum && !v; i++) {
		if (sh[i].sh_type != SHT_SYMTAB)
			continue;
		const Elf64_Sym *sym = (const void *)(b + sh[i].sh_offset);
		const char *str = (const char *)(b + sh[sh[i].sh_link].sh_offset);
		for (size_t k = 0; k < sh[i].sh_size / sizeof(*sym); k++)
			if (!strcmp(str + sym[k].st_name, name))
				v = sym[k].st_value;
	}
	free(b);
	assert_true(v != 0);
	return v;
}

/* ---- a client of gdb's remote protocol ---- */

struct client {
	int fd;
	char reply[8192];
	size_t len; /* of the reply: binary ones hold NULs */
};

static int byte_in(struct client *c)
{
	uint8_t b;
	return read(c->fd, &b, 1) == 1 ? b : -1;
}

static void raw_out(struct client *c, const char *s)
{
	assert_int_equal(write(c->fd, s, strlen(s)), (ssize_t)strlen(s));
}

static void send_pkt(struct client *c, const char *data)
{
	char frame[8300];
	unsigned sum = 0;

	for (const char *p = data; *p; p++)
		sum += (uint8_t)*p;
	snprintf(frame, sizeof(frame), "$%s#%02x", data, sum & 0xff);
	raw_out(c, frame);
	assert_int_equal(byte_in(c), '+');
}

/* The next packet's data, acked. */
static const char *recv_pkt(struct client *c)
{
	size_t n = 0;
	int b;

	while ((b = byte_in(c)) != '$')
		assert_true(b >= 0);
	while ((b = byte_in(c)) != '#') {
		assert_true(b >= 0 && n < sizeof(c->reply) - 1);
		c->reply[n++] = (char)b;
	}
	c->reply[n] = '\0';
	c->len = n;
	assert_true(byte_in(c) >= 0 && byte_in(c) >= 0);
	raw_out(c, "+");
	return c->reply;
}

static const char *cmd(struct client *c, const char *data)
{
	send_pkt(c, data);
	return recv_pkt(c);
}

static struct client client_connect(unsigned port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_port = htons((uint16_t)port),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	/* Only a guard against a hang: a stub that never answers fails. */
	struct timeval tmo = {.tv_sec = 120};
	struct client c = {.fd = socket(AF_INET, SOCK_STREAM, 0)};

	assert_true(c.fd >= 0);
	setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof(tmo));
	assert_int_equal(connect(c.fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return c;
}

static uint64_t hex_le(const char *h, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes; i++) {
		unsigned x;
		assert_int_equal(sscanf(h + 2 * i, "%2x", &x), 1);
		v |= (uint64_t)x << (8 * i);
	}
	return v;
}

/* AT_ENTRY from the stub's auxv ("l" + binary pairs, escaped). */
static uint64_t auxv_entry(struct client *c)
{
	const char *r = cmd(c, "qXfer:auxv:read::0,1000");
	uint8_t raw[256];
	size_t n = 0;

	assert_true(r[0] == 'l');
	for (const char *p = r + 1; p < r + c->len && n < sizeof(raw); p++)
		raw[n++] = *p == '}' ? (uint8_t)(*++p ^ 0x20) : (uint8_t)*p;
	for (size_t i = 0; i + 16 <= n; i += 16) {
		uint64_t type, val;
		memcpy(&type, raw + i, 8);
		memcpy(&val, raw + i + 8, 8);
		if (type == 9)
			return val;
	}
	fail_msg("no AT_ENTRY in the auxv");
	return 0;
}

/* ---- the sandbox's side, in a thread: calls that wait on the client ---- */

struct caller {
	struct nub_sandbox *sb;
	int ncalls;
	int snapshot_after_first;
	struct nub_snapshot *snap;
	int rc[4];
	char out[4][64];
	char err[4][NUB_ERROR_MSG_MAX];
};

static void *caller_main(void *arg)
{
	struct caller *k = arg;

	for (int i = 0; i < k->ncalls; i++) {
		size_t len = 0;
		int32_t status;
		k->rc[i] = nub_sandbox_call(k->sb, NUB_TG_ECHO, "ping", 4, k->out[i],
		                            sizeof(k->out[i]) - 1, &len, &status);
		k->out[i][len] = '\0';
		snprintf(k->err[i], sizeof(k->err[i]), "%s", nub_sandbox_last_error(k->sb));
		if (i == 0 && k->snapshot_after_first && !k->rc[0])
			nub_sandbox_snapshot(k->sb, &k->snap);
		nub_sandbox_restore(k->sb, NULL);
	}
	return NULL;
}

static struct nub_sandbox *debugged(void)
{
	struct nub_config cfg;

	nub_config_init(&cfg);
	cfg.gdb_port = NUB_GDB_PORT_ANY;
	struct nub_sandbox *sb = nub_test_sandbox("test_guest", &cfg);
	assert_true(nub_sandbox_gdb_port(sb) > 0);
	return sb;
}

static void test_breakpoints_stop_and_never_leak(void **state)
{
	(void)state;
	uint64_t entry_elf, echo = elf_symbol(nub_test_guest("test_guest"), "echo", &entry_elf);
	struct caller k = {.sb = debugged(), .ncalls = 2, .snapshot_after_first = 1};
	pthread_t t;
	char z[64];

	assert_int_equal(pthread_create(&t, NULL, caller_main, &k), 0);
	struct client c = client_connect(nub_sandbox_gdb_port(k.sb));
	assert_string_equal(cmd(&c, "?"), "T05thread:1;");
	echo += auxv_entry(&c) - entry_elf;
	snprintf(z, sizeof(z), "Z0,%llx,1", (unsigned long long)echo);
	assert_string_equal(cmd(&c, z), "OK");
	/* Call 1 stops at the breakpoint: RIP there, the guest's byte read. */
	assert_string_equal(cmd(&c, "c"), "T05thread:1;swbreak:;");
	assert_int_equal(hex_le(cmd(&c, "p10"), 8), echo);
	snprintf(z, sizeof(z), "m%llx,1", (unsigned long long)echo);
	assert_string_not_equal(cmd(&c, z), "cc");
	assert_int_equal(strlen(cmd(&c, "g")), 2 * 560);
	/* Call 2, after a snapshot and a restore, stops there again. */
	assert_string_equal(cmd(&c, "c"), "T05thread:1;swbreak:;");
	assert_int_equal(hex_le(cmd(&c, "p10"), 8), echo);
	assert_string_equal(cmd(&c, "D"), "OK");
	close(c.fd);
	assert_int_equal(pthread_join(t, NULL), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(k.rc[i], 0);
		assert_string_equal(k.out[i], "ping");
	}
	/* The snapshot taken while a breakpoint was set has none. */
	assert_non_null(k.snap);
	struct nub_sandbox *plain = nub_test_sandbox_from(k.snap);
	assert_int_equal(nub_sandbox_gdb_port(plain), 0);
	nub_test_expect_text(plain, NUB_TG_ECHO, "pong", 0, "pong");
	nub_sandbox_free(plain);
	nub_snapshot_unref(k.snap);
	assert_int_equal(nub_sandbox_gdb_port(k.sb), 0); /* detached */
	nub_sandbox_free(k.sb);
}

static void test_refusals_and_kill(void **state)
{
	(void)state;
	struct caller k = {.sb = debugged(), .ncalls = 1};
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, caller_main, &k), 0);
	struct client c = client_connect(nub_sandbox_gdb_port(k.sb));
	assert_string_equal(cmd(&c, "m0,4"), "E14");                 /* unmapped */
	assert_string_equal(cmd(&c, "M0,1:00"), "E14");              /* unmapped */
	assert_string_equal(cmd(&c, "Z0,0,1"), "E0e");               /* no page to put it in */
	assert_string_equal(cmd(&c, "Z1,1000,1"), "");               /* hardware: not offered */
	assert_string_equal(cmd(&c, "Z0,1000,2"), "E01");            /* not an int3 */
	assert_string_equal(cmd(&c, "P10=0000000000800000"), "E01"); /* non-canonical RIP */
	assert_string_equal(cmd(&c, "P3c=00"), "E01");               /* register 60: none */
	assert_string_equal(cmd(&c, "P12=00000000"), "E01");         /* CS: the host's */
	assert_string_equal(cmd(&c, "m1,zz"), "E01");
	assert_string_equal(cmd(&c, "vMustReplyEmpty"), "");
	raw_out(&c, "$g#00"); /* a bad checksum is NAKed */
	assert_int_equal(byte_in(&c), '-');
	raw_out(&c, "$k#6b"); /* kill: no reply */
	assert_int_equal(byte_in(&c), '+');
	assert_int_equal(pthread_join(t, NULL), 0);
	close(c.fd);
	assert_int_equal(k.rc[0], NUB_ECANCELLED);
	assert_non_null(strstr(k.err[0], "call killed by the debugger"));
	nub_sandbox_free(k.sb);
}

static void test_config_refusals(void **state)
{
	(void)state;
	struct nub_config cfg;
	struct nub_error err = {0};
	struct nub_sandbox *sb;

	nub_config_init(&cfg);
	nub_test_use_backend(&cfg);
	cfg.gdb_port = NUB_GDB_PORT_ANY + 1;
	assert_int_equal(nub_sandbox_create_from_elf(&cfg, nub_test_guest("test_guest"), &sb, &err),
	                 NUB_EINVAL);
	assert_non_null(strstr(err.msg, "gdb_port 65537 is not a TCP port"));
	/* No debugger configured: no port, nothing listening. */
	cfg.gdb_port = 0;
	unsetenv("NUB_GDB_PORT");
	sb = nub_test_sandbox("test_guest", &cfg);
	assert_int_equal(nub_sandbox_gdb_port(sb), 0);
	nub_test_expect_text(sb, NUB_TG_ECHO, "x", 0, "x");
	nub_sandbox_free(sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_breakpoints_stop_and_never_leak),
	        cmocka_unit_test(test_refusals_and_kill),
	        cmocka_unit_test(test_config_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
