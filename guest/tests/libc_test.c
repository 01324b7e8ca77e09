/* SPDX-License-Identifier: MIT */
/*
 * The C library test guest: ordinary hosted C against Debian's musl,
 * linked with the runtime's C library flavour. Each check uses the C
 * library as C says; the host-side test (tests/unit/test_libc.c) runs it
 * on every backend.
 */
#define _GNU_SOURCE /* M_PI, getrandom */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <nubguest.h>

#include "libc_test_ids.h"

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			return fail(out, cap, out_len, __LINE__, #cond);                           \
	} while (0)

static int32_t fail(uint8_t *out, uint32_t cap, uint32_t *out_len, int line, const char *what)
{
	int n = snprintf((char *)out, cap, "line %d: %s", line, what);
	*out_len = n < 0 ? 0 : (uint32_t)n < cap ? (uint32_t)n : cap;
	return -1;
}

static int32_t reply_bytes(uint8_t *out, uint32_t cap, uint32_t *out_len, const void *p, size_t n)
{
	if (n > cap)
		return NUB_EFULL;
	memcpy(out, p, n);
	*out_len = (uint32_t)n;
	return 0;
}

static int32_t reply(uint8_t *out, uint32_t cap, uint32_t *out_len, const char *text)
{
	return reply_bytes(out, cap, out_len, text, strlen(text));
}

/* snprintf into the result area: NUB_EFULL when it does not fit. */
static int32_t format(uint8_t *out, uint32_t cap, uint32_t *out_len, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static int32_t format(uint8_t *out, uint32_t cap, uint32_t *out_len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf((char *)out, cap, fmt, ap);
	va_end(ap);
	if (n < 0 || (uint32_t)n >= cap)
		return NUB_EFULL;
	*out_len = (uint32_t)n;
	return 0;
}

static jmp_buf jb;
static volatile int depth;

static void dive(int n)
{
	depth = n;
	if (n >= 10)
		longjmp(jb, n);
	if (n < 100)
		dive(n + 1);
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

static int32_t selftest(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t cap,
                        uint32_t *out_len)
{
	char buf[128];
	(void)in;
	(void)in_len;

	/* stdio formatting, floating point included */
	snprintf(buf, sizeof(buf), "%d|%5.2f|%g|%e|%x|%s", -42, 3.14159, 1e-5, 12345.678, 255, "s");
	CHECK(strcmp(buf, "-42| 3.14|1e-05|1.234568e+04|ff|s") == 0);
	/* strtod, strtol, errno */
	char *end;
	CHECK(strtod("2.5e3xyz", &end) == 2500.0 && strcmp(end, "xyz") == 0);
	errno = 0;
	CHECK(strtol("99999999999999999999", NULL, 10) == LONG_MAX && errno == ERANGE);
	/* math */
	CHECK(fabs(sin(M_PI / 2) - 1.0) < 1e-12 && fabs(sqrt(2.0) * sqrt(2.0) - 2.0) < 1e-12);
	CHECK(fabs(exp(log(10.0)) - 10.0) < 1e-12 && pow(2.0, 10) == 1024.0 && isnan(NAN));
	/* setjmp/longjmp across frames */
	int r = setjmp(jb);
	if (r == 0)
		dive(0);
	CHECK(r == 10 && depth == 10);
	/* malloc, calloc, realloc, free: small and large (mmap-sized) */
	char *p = malloc(100), *big = malloc(1 << 20);
	CHECK(p && big);
	memset(p, 'a', 100);
	memset(big, 'b', 1 << 20);
	p = realloc(p, 5000);
	CHECK(p && p[99] == 'a');
	int *z = calloc(1000, sizeof(int));
	CHECK(z && z[999] == 0);
	for (int i = 0; i < 1000; i++)
		z[i] = (i * 7919) % 1000;
	qsort(z, 1000, sizeof(int), cmp_int);
	CHECK(z[0] == 0 && z[999] == 999);
	free(z);
	free(big);
	free(p);
	CHECK(malloc(SIZE_MAX / 2) == NULL && errno == ENOMEM);
	/* time and randomness come from the host */
	struct timespec ts;
	CHECK(clock_gettime(CLOCK_MONOTONIC, &ts) == 0);
	CHECK(time(NULL) > 1700000000);
	unsigned char rnd[64] = {0}, zero[64] = {0};
	CHECK(getrandom(rnd, sizeof(rnd), 0) == (ssize_t)sizeof(rnd));
	CHECK(memcmp(rnd, zero, sizeof(rnd)) != 0);
	/* string functions */
	CHECK(strstr("hello world", "wor") != NULL && strchr("abc", 'c') != NULL);
	CHECK(strncmp("abcd", "abce", 3) == 0 && toupper('q') == 'Q');
	/* files do not exist */
	CHECK(fopen("/etc/passwd", "r") == NULL);
	/* the environment is empty, and reading it is safe in any call */
	CHECK(getenv("HOME") == NULL && getenv("TZ") == NULL);
	/* time conversion: the epoch in UTC (no TZ, no /etc/localtime) */
	time_t epoch = 0;
	CHECK(strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M", localtime(&epoch)) == 16);
	CHECK(strcmp(buf, "1970-01-01 00:00") == 0);
	return reply(out, cap, out_len, "ok");
}

/* environ and getenv in a call (not only at init), and the C library's own
 * environment functions on top of them. */
static int32_t fn_env(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t cap,
                      uint32_t *out_len)
{
	extern char **environ;
	char filler[2048];

	(void)in, (void)in_len;
	/* Overwrite the stack the start-up ran on: environ must not live there. */
	memset(filler, 0x5a, sizeof(filler));
	__asm__ volatile("" : : "r"(filler) : "memory");
	CHECK(environ != NULL && environ[0] == NULL);
	CHECK(getenv("PATH") == NULL);
	CHECK(setenv("NUB_TEST", "one", 1) == 0);
	CHECK(getenv("NUB_TEST") && strcmp(getenv("NUB_TEST"), "one") == 0);
	CHECK(setenv("NUB_TEST", "two", 0) == 0 && strcmp(getenv("NUB_TEST"), "one") == 0);
	CHECK(setenv("NUB_TEST", "two", 1) == 0 && strcmp(getenv("NUB_TEST"), "two") == 0);
	CHECK(environ[0] && strcmp(environ[0], "NUB_TEST=two") == 0 && environ[1] == NULL);
	CHECK(unsetenv("NUB_TEST") == 0 && getenv("NUB_TEST") == NULL);
	return reply(out, cap, out_len, "ok");
}

static int32_t fn_time_conv(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t cap,
                            uint32_t *out_len)
{
	char a[32], b[32], c[32];
	int64_t t64;
	time_t t;

	if (in_len != sizeof(t64))
		return NUB_EINVAL;
	memcpy(&t64, in, sizeof(t64));
	t = (time_t)t64;
	unsetenv("TZ");
	tzset();
	strftime(a, sizeof(a), "%Y-%m-%d %H:%M:%S", localtime(&t));
	setenv("TZ", "CET-1", 1);
	tzset();
	strftime(b, sizeof(b), "%Y-%m-%d %H:%M:%S", localtime(&t));
	struct tm tm = *gmtime(&t);
	strftime(c, sizeof(c), "%Y-%m-%d %H:%M:%S", &tm);
	unsetenv("TZ");
	tzset();
	/* mktime is localtime's inverse (UTC now) */
	if (mktime(&tm) != t)
		return reply(out, cap, out_len, "mktime");
	return format(out, cap, out_len, "%s|%s|%s", a, b, c);
}

static int32_t fn_rand(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t cap,
                       uint32_t *out_len)
{
	int32_t v[8];

	(void)in, (void)in_len;
	for (int i = 0; i < 4; i++)
		v[i] = rand();
	v[4] = (int32_t)random();
	v[5] = (int32_t)random();
	v[6] = (int32_t)lrand48();
	v[7] = (int32_t)lrand48();
	return reply_bytes(out, cap, out_len, v, sizeof(v));
}

static int32_t fn_printf(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t cap,
                         uint32_t *out_len)
{
	double d;
	if (in_len != sizeof(d))
		return NUB_EINVAL;
	memcpy(&d, in, sizeof(d));
	return format(out, cap, out_len, "%.3f %g %e", d, d, d);
}

static int32_t fn_strtod(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t cap,
                         uint32_t *out_len)
{
	char text[64];
	if (in_len >= sizeof(text))
		return NUB_EINVAL;
	memcpy(text, in, in_len);
	text[in_len] = '\0';
	return format(out, cap, out_len, "%.17g", strtod(text, NULL));
}

static int32_t fn_puts(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t cap,
                       uint32_t *out_len)
{
	(void)out;
	(void)cap;
	(void)out_len;
	printf("%.*s\n", (int)in_len, (const char *)in);
	return 0;
}

static int32_t fn_exit(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t cap,
                       uint32_t *out_len)
{
	(void)out;
	(void)cap;
	(void)out_len;
	exit(in_len ? in[0] : 0);
}

static int32_t fn_abort(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t cap,
                        uint32_t *out_len)
{
	(void)in;
	(void)in_len;
	(void)out;
	(void)cap;
	(void)out_len;
	abort();
}

static int32_t fn_malloc(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t cap,
                         uint32_t *out_len)
{
	uint64_t n;
	if (in_len != sizeof(n))
		return NUB_EINVAL;
	memcpy(&n, in, sizeof(n));
	unsigned char *p = malloc(n);
	if (!p)
		return reply(out, cap, out_len, "NULL");
	for (uint64_t i = 0; i < n; i += 4096)
		p[i] = (unsigned char)(i >> 12);
	for (uint64_t i = 0; i < n; i += 4096)
		if (p[i] != (unsigned char)(i >> 12))
			return reply(out, cap, out_len, "corrupt");
	free(p);
	return reply(out, cap, out_len, "ok");
}

static int32_t fn_time(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t cap,
                       uint32_t *out_len)
{
	(void)in;
	(void)in_len;
	int64_t t = (int64_t)time(NULL);
	return reply_bytes(out, cap, out_len, &t, sizeof(t));
}

/* A hostile system call: the stack pointer is an unmapped page, so the
 * runtime's entry faults on its first push; the host stops the sandbox. */
static int32_t fn_bad_stack(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t cap,
                            uint32_t *out_len)
{
	(void)in, (void)in_len, (void)out, (void)cap, (void)out_len;
	__asm__ volatile("mov $0x1000, %%rsp\n\tmov $39, %%eax\n\tsyscall" ::
	                         : "rax", "rcx", "r11", "memory");
	return 0;
}

/* System calls that do nothing but enter and leave the runtime's kernel:
 * what one costs, and that none is an exit. */
static int32_t fn_syscalls(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t cap,
                           uint32_t *out_len)
{
	uint32_t n;
	int64_t pid = 0;

	if (in_len != sizeof(n))
		return -1;
	memcpy(&n, in, sizeof(n));
	for (uint32_t i = 0; i < n; i++)
		pid = syscall(SYS_getpid);
	return reply_bytes(out, cap, out_len, &pid, sizeof(pid));
}

static uint64_t calls;

static int32_t fn_count(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t cap,
                        uint32_t *out_len)
{
	(void)in;
	(void)in_len;
	calls++;
	return reply_bytes(out, cap, out_len, &calls, sizeof(calls));
}

void nub_guest_main(void)
{
	/* stdio and the allocator are usable here already (and warm in the
	 * snapshot taken after init); so is the C library's generator, whose
	 * state the snapshot then holds: restores reseed it. */
	(void)rand();
	char *warm = malloc(64);
	snprintf(warm, 64, "libc guest up, pi=%.5f", M_PI);
	free(warm);
	nub_register(LIBC_SELFTEST, "selftest", selftest);
	nub_register(LIBC_PRINTF, "printf", fn_printf);
	nub_register(LIBC_STRTOD, "strtod", fn_strtod);
	nub_register(LIBC_PUTS, "puts", fn_puts);
	nub_register(LIBC_EXIT, "exit", fn_exit);
	nub_register(LIBC_ABORT, "abort", fn_abort);
	nub_register(LIBC_MALLOC, "malloc", fn_malloc);
	nub_register(LIBC_TIME, "time", fn_time);
	nub_register(LIBC_COUNT, "count", fn_count);
	nub_register(LIBC_BAD_STACK, "bad_stack", fn_bad_stack);
	nub_register(LIBC_ENV, "env", fn_env);
	nub_register(LIBC_TIME_CONV, "time_conv", fn_time_conv);
	nub_register(LIBC_RAND, "rand", fn_rand);
	nub_register(LIBC_SYSCALLS, "syscalls", fn_syscalls);
}
