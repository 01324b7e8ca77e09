/* SPDX-License-Identifier: MIT */
/*
 * CPython 3.11 in a guest (first step of the Python sandbox): Debian's
 * python3.11 source package built as a static library against musl by
 * scripts/fetch-sources.sh, on the runtime's C library flavour, with the
 * pure-Python standard library read from the file tree the host gives
 * (Debian's /usr/lib/python3.11 at /py/lib/python3.11). The interpreter is
 * initialised at init (isolated: no environment, no site), so every call
 * starts from a warm interpreter and a restore brings it back.
 *
 *   eval(expression)  -> repr() of the value
 *   exec(statements)  -> nothing; in __main__'s namespace
 * On an exception: status PY_GUEST_RAISED, the "Type: message" line as the
 * result, the traceback on stderr (the host log).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdio.h>
#include <string.h>

#include <nubguest.h>

#include "py_abi.h"

static int32_t put_text(uint8_t *out, uint32_t cap, uint32_t *out_len, const char *s)
{
	size_t n = strlen(s);

	if (n > cap)
		return NUB_EFULL;
	memcpy(out, s, n);
	*out_len = (uint32_t)n;
	return 0;
}

/* The pending exception as "Type: message"; the traceback to stderr. */
static int32_t raised(uint8_t *out, uint32_t cap, uint32_t *out_len)
{
	PyObject *type, *value, *tb, *s = NULL;
	const char *text = "(exception)";

	PyErr_Fetch(&type, &value, &tb);
	PyErr_NormalizeException(&type, &value, &tb);
	if (type && value)
		s = PyUnicode_FromFormat("%s: %S", ((PyTypeObject *)type)->tp_name, value);
	if (s)
		text = PyUnicode_AsUTF8(s);
	PyErr_Restore(type, value, tb);
	PyErr_Print();
	fflush(stderr);
	put_text(out, cap, out_len, text ? text : "(exception)");
	Py_XDECREF(s);
	return PY_GUEST_RAISED;
}

static int32_t run(const uint8_t *in, uint32_t in_len, int mode, uint8_t *out, uint32_t cap,
                   uint32_t *out_len)
{
	char *src = PyMem_RawMalloc((size_t)in_len + 1);
	PyObject *globals, *r, *repr;
	int32_t rc = 0;

	if (!src)
		return NUB_EFULL;
	memcpy(src, in, in_len);
	src[in_len] = 0;
	globals = PyModule_GetDict(PyImport_AddModule("__main__"));
	r = PyRun_String(src, mode, globals, globals);
	PyMem_RawFree(src);
	if (!r)
		return raised(out, cap, out_len);
	if (mode == Py_eval_input) {
		repr = PyObject_Repr(r);
		rc = repr ? put_text(out, cap, out_len, PyUnicode_AsUTF8(repr))
		          : raised(out, cap, out_len);
		Py_XDECREF(repr);
	}
	Py_DECREF(r);
	fflush(stdout);
	return rc;
}

static int32_t fn_eval(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t cap,
                       uint32_t *out_len)
{
	return run(in, in_len, Py_eval_input, out, cap, out_len);
}

static int32_t fn_exec(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t cap,
                       uint32_t *out_len)
{
	return run(in, in_len, Py_file_input, out, cap, out_len);
}

int main(void)
{
	PyConfig c;
	PyStatus st;

	PyConfig_InitIsolatedConfig(&c);
	st = PyConfig_SetString(&c, &c.home, L"" PY_GUEST_HOME);
	c.site_import = 0;
	if (!PyStatus_Exception(st))
		st = Py_InitializeFromConfig(&c);
	PyConfig_Clear(&c);
	if (PyStatus_Exception(st)) {
		fprintf(stderr, "python: %s: %s\n", st.func ? st.func : "init",
		        st.err_msg ? st.err_msg : "failed");
		return 1;
	}
	nub_register(PY_FN_EVAL, "eval", fn_eval);
	nub_register(PY_FN_EXEC, "exec", fn_exec);
	return 0;
}
