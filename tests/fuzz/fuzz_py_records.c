/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the host's reader of the Python guest's exec result
 * (examples/python/py_abi.h: py_record_next): the bytes come from the
 * guest, which runs the script's code, so any of them may be hostile. The
 * walk must end (every record moves forward or stops), report -1 for a
 * malformed tail, and never point outside the buffer. The input sits at the
 * end of its own allocation, so ASan catches a read past it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../examples/python/py_abi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size ? size : 1);
	size_t pos = 0, len = 0, steps = 0;
	const char *text = NULL;
	int kind;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	while ((kind = py_record_next(buf, size, &pos, &text, &len)) > 0) {
		/* Inside the buffer, and progress of at least a header. */
		if ((const uint8_t *)text < buf || (const uint8_t *)text + len > buf + size ||
		    pos > size || ++steps > size / PY_REC_HEADER)
			abort();
		volatile uint8_t sink = len ? (uint8_t)text[len - 1] : 0;
		(void)sink;
	}
	if (kind == 0 && pos != size)
		abort();
	free(buf);
	return 0;
}
