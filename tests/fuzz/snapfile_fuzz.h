/* SPDX-License-Identifier: MIT */
/* What the two snapshot-file targets share: the seed (a real file of
 * hello.elf) and the check of what loads. */
#ifndef NUB_SNAPFILE_FUZZ_H
#define NUB_SNAPFILE_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nub/nub.h>

#include "image/snapshot.h"
#include "x86/cpu.h"

static volatile uint8_t fuzz_sink;

/* A snapshot of hello.elf after init (one-page heap) as file bytes, saved
 * with `key` (NULL: without one), made once per process: a failure here
 * must not cost a sandbox per input. */
static inline size_t snapfile_seed(uint8_t *buf, size_t cap, const void *key, size_t key_len)
{
	static uint8_t *file;
	static size_t len;
	static int tried;
	const char *dir = getenv("NUB_GUEST_DIR");

	if (!tried && dir) {
		tried = 1;
		char elf[4096], path[] = "/tmp/nub-fuzz-snap-XXXXXX";
		struct nub_config cfg;
		struct nub_sandbox *sb = NULL;
		struct nub_snapshot *s = NULL;
		int fd = mkstemp(path);
		snprintf(elf, sizeof(elf), "%s/hello.elf", dir);
		nub_config_init(&cfg);
		cfg.backend = "mock";
		cfg.heap_size = 4096;
		if (fd >= 0 && !nub_sandbox_create_from_elf(&cfg, elf, &sb, NULL) &&
		    !nub_sandbox_evolve(sb) && !nub_sandbox_snapshot(sb, &s) &&
		    !(key ? nub_snapshot_save_keyed(s, path, key, key_len, NULL)
		          : nub_snapshot_save(s, path, NULL))) {
			FILE *f = fopen(path, "rb");
			if (f && !fseek(f, 0, SEEK_END) && (len = (size_t)ftell(f)) &&
			    !fseek(f, 0, SEEK_SET) && (file = malloc(len)) &&
			    fread(file, 1, len, f) != len) {
				free(file);
				file = NULL;
			}
			if (f)
				fclose(f);
		}
		if (fd >= 0) {
			close(fd);
			unlink(path);
		}
		nub_snapshot_unref(s);
		nub_sandbox_free(sb);
	}
	if (!file || cap < len)
		return 0;
	memcpy(buf, file, len);
	return len;
}

/* Whatever loads is what nub would have built: its memory is all readable
 * (ASan), its host pages are the host's for its layout, and its tables
 * pass the checks again and rebuild to the same bytes. */
static inline void snapfile_check_loaded(const struct nub_snapshot *s)
{
	static uint8_t tables[NUB_PAGE_SIZE], stubs[NUB_PAGE_SIZE];
	const struct nub_layout *l = &s->layout;
	const uint8_t *m = nub_shmem_host(s->mem);
	struct nub_vmem_buf again;
	struct nub_peb peb;
	uint8_t sum = 0;

	for (uint64_t i = 0; i < s->visible_size + s->pt_size; i += NUB_PAGE_SIZE)
		sum ^= m[i];
	fuzz_sink = sum; /* keeps the reads */
	nub_cpu_build_system_pages(l, tables, stubs);
	nub_layout_fill_peb(l, &peb);
	if (memcmp(m + (l->peb_gpa - NUB_BASE_GPA), &peb, sizeof(peb)) ||
	    memcmp(m + (l->sys_tables_gpa - NUB_BASE_GPA), tables, NUB_PAGE_SIZE) ||
	    memcmp(m + (l->sys_stubs_gpa - NUB_BASE_GPA), stubs, NUB_PAGE_SIZE))
		abort();
	if (nub_snapshot_rebuild_tables(l, s->visible_size, m + s->visible_size, s->pt_size,
	                                "loaded", &again, NULL))
		abort();
	if (nub_vmem_buf_used(&again) != s->pt_size ||
	    memcmp(nub_vmem_buf_bytes(&again), m + s->visible_size, s->pt_size))
		abort();
	nub_vmem_buf_free(&again);
}

#endif
