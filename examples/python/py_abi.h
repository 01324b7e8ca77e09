/* SPDX-License-Identifier: MIT */
/* The Python guest's functions (examples/python/py_guest.c), for its hosts. */
#ifndef NUB_PY_ABI_H
#define NUB_PY_ABI_H

#include <stddef.h>
#include <stdint.h>

enum py_guest_fn {
	/* in: an expression; out: repr() of its value (plain text). On an
	 * exception: status PY_GUEST_RAISED and the "Type: message" line.
	 * What it prints goes to the host log. */
	PY_FN_EVAL = 1,
	/* in: statements, run in __main__'s namespace; out: records (below) --
	 * what they printed, in order, then the repr() of the last statement
	 * when it is an expression whose value is not None (as the REPL
	 * shows it), or the traceback (status PY_GUEST_RAISED). */
	PY_FN_EXEC = 2,
};

/* Status of a call whose code raised. */
#define PY_GUEST_RAISED (-100)

/* The host function behind the guest's `nub.call(name, data) -> bytes`:
 * its request is the name, a NUL, then the data; its answer the bytes
 * returned. A non-zero status raises nub.HostError in the guest. */
#define PY_HOST_CALL 1u

/* exec's result: records of a one-byte kind, a little-endian u32 length
 * and that many bytes; consecutive output of one stream is one record. */
enum py_record {
	PY_REC_STDOUT = 'o',    /* text written to sys.stdout */
	PY_REC_STDERR = 'e',    /* text written to sys.stderr */
	PY_REC_VALUE = 'v',     /* repr() of the last expression */
	PY_REC_ERROR = 'x',     /* the traceback, when the code raised */
	PY_REC_TRUNCATED = 't', /* empty: output past the result size dropped */
};
#define PY_REC_HEADER 5u

/* Walk exec's records: returns the kind of the record at *pos (0 at the
 * end, -1 when the bytes are malformed) and sets *text / *len to its
 * bytes; *pos moves past it. */
static inline int py_record_next(const uint8_t *buf, size_t n, size_t *pos, const char **text,
                                 size_t *len)
{
	uint32_t l;

	if (*pos == n)
		return 0;
	if (n - *pos < PY_REC_HEADER)
		return -1;
	l = (uint32_t)buf[*pos + 1] | (uint32_t)buf[*pos + 2] << 8 | (uint32_t)buf[*pos + 3] << 16 |
	    (uint32_t)buf[*pos + 4] << 24;
	if (l > n - *pos - PY_REC_HEADER)
		return -1;
	*text = (const char *)buf + *pos + PY_REC_HEADER;
	*len = l;
	*pos += PY_REC_HEADER + l;
	return buf[*pos - l - PY_REC_HEADER];
}

/* Where the guest looks for its standard library (PyConfig.home): the
 * build packs it into python311.zip, which the host gives at
 * PY_GUEST_HOME "/lib/python311.zip" (Python's own default path for it). */
#define PY_GUEST_HOME "/py"

/* The guest's own modules: first on sys.path, so a host that gives a
 * directory of the program's code here lets scripts import it. */
#define PY_GUEST_APP "/app"

#endif
