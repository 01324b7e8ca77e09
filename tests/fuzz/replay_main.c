/* SPDX-License-Identifier: MIT */
/*
 * Replay driver for fuzz targets when libFuzzer is not in use: feeds the
 * files named on the command line (a directory: every file in it, e.g. the
 * committed corpus and the regression inputs from crashes libFuzzer found),
 * then N pseudo-random inputs from a fixed
 * seed (argv[1] when it is a number), so every build exercises the target
 * deterministically. Inputs mix random bytes with mutations of the previous
 * input, which reaches deeper than pure noise.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional: a target may provide seed inputs that random mutation starts from. */
__attribute__((weak)) size_t nub_fuzz_seed(unsigned index, uint8_t *buf, size_t cap);

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng_next(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return x;
}

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f)
		return perror(path), 1;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n > 0 ? (size_t)n : 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(buf);
		return 1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	free(buf);
	return 0;
}

/* Every regular file in `dir` (not recursive); the count in *n. */
static int run_dir(const char *dir, unsigned long *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];
	int rc = 0;

	if (!d)
		return perror(dir), 1;
	while (!rc && (e = readdir(d))) {
		struct stat st;
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &st) || !S_ISREG(st.st_mode))
			continue;
		rc = run_file(path);
		++*n;
	}
	closedir(d);
	return rc;
}

static int run_path(const char *path, unsigned long *n)
{
	struct stat st;

	if (!stat(path, &st) && S_ISDIR(st.st_mode))
		return run_dir(path, n);
	++*n;
	return run_file(path);
}

static size_t mutate(uint8_t *buf, size_t len, size_t cap)
{
	unsigned edits = 1 + (unsigned)(rng_next() % 8);

	for (unsigned i = 0; i < edits && len; i++) {
		size_t at = (size_t)(rng_next() % len);
		switch (rng_next() % 4) {
		case 0:
			buf[at] = (uint8_t)rng_next();
			break;
		case 1:
			buf[at] ^= (uint8_t)(1u << (rng_next() % 8));
			break;
		case 2: /* interesting values: 0, -1, big lengths */
			if (at + 8 <= len) {
				uint64_t v = (rng_next() & 1) ? ~0ull : (rng_next() % 3) << 62;
				memcpy(buf + at, &v, 8);
			}
			break;
		default:
			len = at + 1 < cap ? at + 1 : len; /* truncate */
			break;
		}
	}
	return len;
}

int main(int argc, char **argv)
{
	enum { CAP = 1 << 18 }; /* room for a small snapshot file */
	static uint8_t buf[CAP], seed[CAP];
	unsigned long iters = 1000;
	size_t seed_len = 0;
	int first = 1;

	if (argc > 1 && argv[1][0] >= '0' && argv[1][0] <= '9') {
		iters = strtoul(argv[1], NULL, 10);
		first = 2;
	}
	unsigned long files = 0;
	for (int i = first; i < argc; i++)
		if (run_path(argv[i], &files))
			return 1;
	for (unsigned long i = 0; i < iters; i++) {
		size_t len;
		if (nub_fuzz_seed && (i % 2 == 0)) {
			seed_len = nub_fuzz_seed((unsigned)(i / 2), seed, CAP);
			memcpy(buf, seed, seed_len);
			len = mutate(buf, seed_len, CAP);
		} else {
			len = (size_t)(rng_next() % 4096);
			for (size_t j = 0; j < len; j++)
				buf[j] = (uint8_t)rng_next();
		}
		LLVMFuzzerTestOneInput(buf, len);
	}
	printf("fuzz replay: %lu files, %lu random inputs, no crash\n", files, iters);
	return 0;
}
