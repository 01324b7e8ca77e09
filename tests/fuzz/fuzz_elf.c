/* SPDX-License-Identifier: MIT */
/* Fuzz the ELF loader: any bytes, seeded with valid builder-made guests so
 * mutations reach relocation and note parsing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../common/elf_builder.c"
#include "image/elf_loader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
size_t nub_fuzz_seed(unsigned index, uint8_t *buf, size_t cap);

size_t nub_fuzz_seed(unsigned index, uint8_t *buf, size_t cap)
{
	static struct eb_elf e;

	eb_build(&e, index % (EB_MAX_RELOCS + 1));
	if (cap < e.len)
		return 0;
	memcpy(buf, e.bytes, e.len);
	return e.len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nub_elf_image img;
	struct nub_error err = {0};

	if (nub_elf_load_buffer(data, size, &img, &err) == 0) {
		uint8_t *dst = malloc(img.size);
		if (!dst || nub_elf_place(&img, 0x2000, dst, img.size, &err))
			abort(); /* a loaded image always places */
		free(dst);
		nub_elf_free(&img);
	} else if (img.bytes || img.relocs || !err.msg[0]) {
		abort(); /* refusals leave nothing behind and say why */
	}
	return 0;
}
