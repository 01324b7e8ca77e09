/* SPDX-License-Identifier: MIT */
/* The Python guest's functions (examples/python/py_guest.c), for its hosts. */
#ifndef NUB_PY_ABI_H
#define NUB_PY_ABI_H

enum py_guest_fn {
	PY_FN_EVAL = 1, /* in: an expression; out: repr() of its value */
	PY_FN_EXEC = 2, /* in: statements (in __main__'s namespace); out: empty */
};

/* Status of a call whose code raised: the result is the exception's
 * "Type: message" line, the traceback goes to the host log (stderr). */
#define PY_GUEST_RAISED (-100)

/* Where the guest looks for its standard library (PyConfig.home): the host
 * gives Debian's /usr/lib/python3.11 at PY_GUEST_HOME "/lib/python3.11". */
#define PY_GUEST_HOME "/py"

#endif
