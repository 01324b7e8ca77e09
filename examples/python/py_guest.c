/* SPDX-License-Identifier: MIT */
/*
 * CPython 3.11 in a guest: Debian's python3.11 source package built as a
 * static library against musl by scripts/fetch-sources.sh (with the C
 * extension modules examples/python/Setup.local lists), on the runtime's C
 * library flavour. The pure-Python standard library is the python311.zip
 * the build packs (examples/python/stdlib_zip.py), read from the file tree
 * the host gives. The interpreter is initialised at init (isolated: no
 * environment, no user site) with `site` and the commonly used modules
 * imported, so every call starts from a warm interpreter and a restore
 * brings it back. py_abi.h lists the functions and the result format.
 *
 * Output: during exec, sys.stdout and sys.stderr write records into the
 * call's result area (nothing is buffered in the guest: the result is
 * complete when the call returns); outside exec they go to the host log.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdio.h>
#include <string.h>

#include <nubguest.h>

#include "py_abi.h"

/* The result area of the exec call running, where output records go. */
static struct {
	uint8_t *out;
	uint32_t cap, len;
	uint32_t last; /* offset of the last record's header, for appending */
	int active, truncated;
} rec;

static PyObject *harness_run, *harness_reseed, *host_error;

static void rec_put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t rec_get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Append bytes of `kind`, merged into the last record when it is of the
 * same kind. Room for a truncation record is always kept. */
static void rec_append(int kind, const char *s, size_t n)
{
	uint32_t room;
	int fits = 1;

	if (rec.truncated)
		return;
	room = rec.cap - PY_REC_HEADER - rec.len;
	if (!(rec.len > rec.last && rec.out[rec.last] == kind)) {
		if (room < PY_REC_HEADER) {
			fits = 0; /* no room even for a header */
		} else {
			rec.last = rec.len;
			rec.out[rec.len] = (uint8_t)kind;
			rec_put_u32(rec.out + rec.len + 1, 0);
			rec.len += PY_REC_HEADER;
			room -= PY_REC_HEADER;
		}
	}
	if (!fits || n > room) {
		n = fits ? room : 0;
		rec.truncated = 1;
	}
	memcpy(rec.out + rec.len, s, n);
	rec.len += (uint32_t)n;
	if (fits)
		rec_put_u32(rec.out + rec.last + 1,
		            rec_get_u32(rec.out + rec.last + 1) + (uint32_t)n);
	if (rec.truncated) {
		rec.out[rec.len] = PY_REC_TRUNCATED;
		rec_put_u32(rec.out + rec.len + 1, 0);
		rec.len += PY_REC_HEADER;
	}
}

/* nub._emit(kind, text): the harness's sys.stdout / sys.stderr. */
static PyObject *nub_emit(PyObject *self, PyObject *args)
{
	int kind;
	const char *s;
	Py_ssize_t n;
	(void)self;

	if (!PyArg_ParseTuple(args, "is#", &kind, &s, &n))
		return NULL;
	if (rec.active && (kind == PY_REC_STDOUT || kind == PY_REC_STDERR))
		rec_append(kind, s, (size_t)n);
	else
		fwrite(s, 1, (size_t)n, kind == PY_REC_STDERR ? stderr : stdout);
	Py_RETURN_NONE;
}

/* nub.call(name, data) -> bytes: host function PY_HOST_CALL. */
static PyObject *nub_host_call(PyObject *self, PyObject *args)
{
	enum { ANSWER_MAX = 1u << 20 };
	const char *name;
	Py_buffer data;
	Py_ssize_t nlen;
	PyObject *r = NULL;
	uint32_t got = 0;
	char *req, *ans;
	int rc;
	(void)self;

	if (!PyArg_ParseTuple(args, "s#s*", &name, &nlen, &data))
		return NULL;
	if ((size_t)nlen + 1 + (size_t)data.len > UINT32_MAX) {
		PyErr_SetString(PyExc_ValueError, "nub.call: request too long");
		goto release_data;
	}
	req = PyMem_RawMalloc((size_t)nlen + 1 + (size_t)data.len);
	ans = PyMem_RawMalloc(ANSWER_MAX);
	if (!req || !ans) {
		PyErr_NoMemory();
		goto free_buffers;
	}
	memcpy(req, name, (size_t)nlen + 1);
	memcpy(req + nlen + 1, data.buf, (size_t)data.len);
	rc = nub_call_host(PY_HOST_CALL, req, (uint32_t)(nlen + 1 + data.len), ans, ANSWER_MAX,
	                   &got);
	if (rc == NUB_EFULL && got > ANSWER_MAX)
		PyErr_Format(host_error, "host function '%s' answered %u bytes (at most %u)", name,
		             got, (unsigned)ANSWER_MAX);
	else if (rc)
		PyErr_Format(host_error, "host function '%s' failed: status %d", name, rc);
	else
		r = PyBytes_FromStringAndSize(ans, got);
free_buffers:
	PyMem_RawFree(req);
	PyMem_RawFree(ans);
release_data:
	PyBuffer_Release(&data);
	return r;
}

static PyMethodDef nub_methods[] = {
        {"call", nub_host_call, METH_VARARGS,
         "call(name, data) -> bytes: call the host function `name` with `data` (bytes or "
         "str)."},
        {"_emit", nub_emit, METH_VARARGS, NULL},
        {NULL, NULL, 0, NULL},
};

static struct PyModuleDef nub_module = {
        PyModuleDef_HEAD_INIT,
        "nub",
        "The nub host's functions.",
        -1,
        nub_methods,
        NULL,
        NULL,
        NULL,
        NULL,
};

static PyObject *nub_module_init(void)
{
	PyObject *m = PyModule_Create(&nub_module);

	if (!m)
		return NULL;
	host_error = PyErr_NewException("nub.HostError", PyExc_RuntimeError, NULL);
	if (!host_error || PyModule_AddObjectRef(m, "HostError", host_error)) {
		Py_DECREF(m);
		return NULL;
	}
	return m;
}

/* The harness, run once at init: output streams, the exec of a script
 * with its last expression's value and its traceback without the
 * harness's frame, the per-restore reseed, and the warm imports. */
static const char harness_src[] =
        "import sys, io, ast, linecache, traceback, random, nub\n"
        "import json, re, math, collections, datetime, itertools, functools, dataclasses\n"
        "class _Stream(io.TextIOBase):\n"
        "    encoding = 'utf-8'\n"
        "    def __init__(self, kind, name):\n"
        "        self._kind, self.name = kind, name\n"
        "    def writable(self):\n"
        "        return True\n"
        "    def write(self, s):\n"
        "        if not isinstance(s, str):\n"
        "            raise TypeError('write() argument must be str, not ' + type(s).__name__)\n"
        "        nub._emit(self._kind, s)\n"
        "        return len(s)\n"
        "sys.stdout = sys.__stdout__ = _Stream(ord('o'), '<stdout>')\n"
        "sys.stderr = sys.__stderr__ = _Stream(ord('e'), '<stderr>')\n"
        "sys.path.insert(0, '" PY_GUEST_APP "')\n"
        "def run(src):\n"
        "    g = sys.modules['__main__'].__dict__\n"
        "    try:\n"
        "        tree = ast.parse(src, '<exec>')\n"
        "    except (SyntaxError, ValueError) as e:\n"
        "        return None, ''.join(traceback.format_exception_only(type(e), e))\n"
        "    linecache.cache['<exec>'] = (len(src), None, src.splitlines(True), '<exec>')\n"
        "    last = None\n"
        "    if tree.body and isinstance(tree.body[-1], ast.Expr):\n"
        "        last = ast.Expression(tree.body.pop().value)\n"
        "    try:\n"
        "        exec(compile(tree, '<exec>', 'exec'), g)\n"
        "        if last is not None:\n"
        "            v = eval(compile(last, '<exec>', 'eval'), g)\n"
        "            if v is not None:\n"
        "                return repr(v), None\n"
        "        return None, None\n"
        "    except SystemExit as e:\n"
        "        if e.code is None or e.code == 0:\n"
        "            return None, None\n"
        "        return None, 'SystemExit: %s\\n' % (e.code,)\n"
        "    except BaseException as e:\n"
        "        return None, ''.join(traceback.format_exception(type(e), e,\n"
        "                                                        e.__traceback__.tb_next))\n"
        "def reseed(b):\n"
        "    random.seed(int.from_bytes(b, 'little'))\n";

static int harness_load(void)
{
	PyObject *g = PyDict_New(), *r = NULL;

	if (!g)
		return -1;
	if (!PyDict_SetItemString(g, "__builtins__", PyEval_GetBuiltins()))
		r = PyRun_String(harness_src, Py_file_input, g, g);
	if (r) {
		harness_run = PyDict_GetItemString(g, "run");
		harness_reseed = PyDict_GetItemString(g, "reseed");
		Py_XINCREF(harness_run);
		Py_XINCREF(harness_reseed);
	}
	Py_XDECREF(r);
	Py_DECREF(g);
	return harness_run && harness_reseed ? 0 : -1;
}

static int32_t put_text(uint8_t *out, uint32_t cap, uint32_t *out_len, const char *s)
{
	size_t n = strlen(s);

	if (n > cap)
		n = cap; /* the host sees a truncated text rather than nothing */
	memcpy(out, s, n);
	*out_len = (uint32_t)n;
	return 0;
}

/* The pending exception as "Type: message". */
static const char *exception_line(PyObject **keep)
{
	PyObject *type, *value, *tb;
	const char *text = NULL;

	PyErr_Fetch(&type, &value, &tb);
	PyErr_NormalizeException(&type, &value, &tb);
	*keep = type && value
	                ? PyUnicode_FromFormat("%s: %S", ((PyTypeObject *)type)->tp_name, value)
	                : NULL;
	if (*keep)
		text = PyUnicode_AsUTF8(*keep);
	PyErr_Clear();
	Py_XDECREF(type);
	Py_XDECREF(value);
	Py_XDECREF(tb);
	return text ? text : "MemoryError: (no memory to describe the exception)";
}

static int32_t raised(uint8_t *out, uint32_t cap, uint32_t *out_len)
{
	PyObject *keep;

	put_text(out, cap, out_len, exception_line(&keep));
	Py_XDECREF(keep);
	return PY_GUEST_RAISED;
}

static char *source_copy(const uint8_t *in, uint32_t in_len)
{
	char *src = PyMem_RawMalloc((size_t)in_len + 1);

	if (src) {
		memcpy(src, in, in_len);
		src[in_len] = 0;
	}
	return src;
}

static int32_t fn_eval(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t cap,
                       uint32_t *out_len)
{
	char *src = source_copy(in, in_len);
	PyObject *globals, *r, *repr;
	int32_t rc;

	if (!src)
		return NUB_EFULL;
	globals = PyModule_GetDict(PyImport_AddModule("__main__"));
	r = PyRun_String(src, Py_eval_input, globals, globals);
	PyMem_RawFree(src);
	if (!r)
		return raised(out, cap, out_len);
	repr = PyObject_Repr(r);
	Py_DECREF(r);
	rc = repr ? put_text(out, cap, out_len, PyUnicode_AsUTF8(repr)) : raised(out, cap, out_len);
	Py_XDECREF(repr);
	return rc;
}

/* A record of the harness's (value, traceback) text, if not None. */
static void exec_result_record(PyObject *o, int kind)
{
	Py_ssize_t n;
	const char *s = o != Py_None ? PyUnicode_AsUTF8AndSize(o, &n) : NULL;

	if (s) {
		rec.last = rec.len; /* never merged with output */
		rec_append(kind, s, (size_t)n);
	}
	PyErr_Clear();
}

static int32_t fn_exec(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t cap,
                       uint32_t *out_len)
{
	PyObject *src, *r;
	PyObject *keep = NULL;
	int32_t status = 0;

	if (cap < 2 * PY_REC_HEADER)
		return NUB_EFULL;
	rec.out = out;
	rec.cap = cap;
	rec.len = rec.last = 0;
	rec.truncated = 0;
	rec.active = 1;
	src = PyUnicode_DecodeUTF8((const char *)in, in_len, "surrogateescape");
	r = src ? PyObject_CallOneArg(harness_run, src) : NULL;
	Py_XDECREF(src);
	if (r && PyTuple_Check(r) && PyTuple_GET_SIZE(r) == 2) {
		exec_result_record(PyTuple_GET_ITEM(r, 0), PY_REC_VALUE);
		if (PyTuple_GET_ITEM(r, 1) != Py_None) {
			exec_result_record(PyTuple_GET_ITEM(r, 1), PY_REC_ERROR);
			status = PY_GUEST_RAISED;
		}
	} else {
		/* The harness itself failed (out of memory formatting): the line. */
		const char *line = exception_line(&keep);

		rec.last = rec.len;
		rec_append(PY_REC_ERROR, line, strlen(line));
		status = PY_GUEST_RAISED;
	}
	Py_XDECREF(keep);
	Py_XDECREF(r);
	rec.active = 0;
	*out_len = rec.len;
	return status;
}

/* A restored sandbox (or a new one of the snapshot) gets its own `random`
 * sequence. The hash seed stays the snapshot's: every str hash and dict in
 * the warm interpreter was built with it. */
static void on_restore(const uint8_t seed[NUB_RESTORE_SEED_SIZE])
{
	PyObject *b = PyBytes_FromStringAndSize((const char *)seed, NUB_RESTORE_SEED_SIZE);
	PyObject *r = b ? PyObject_CallOneArg(harness_reseed, b) : NULL;

	if (!r)
		PyErr_Clear();
	Py_XDECREF(r);
	Py_XDECREF(b);
}

static int init_failed(const char *what)
{
	fprintf(stderr, "python: %s\n", what);
	if (PyErr_Occurred())
		PyErr_Print();
	return 1;
}

int main(void)
{
	PyConfig c;
	PyStatus st;

	if (PyImport_AppendInittab("nub", nub_module_init))
		return init_failed("cannot add the nub module");
	PyConfig_InitIsolatedConfig(&c);
	st = PyConfig_SetString(&c, &c.home, L"" PY_GUEST_HOME);
	if (!PyStatus_Exception(st))
		st = Py_InitializeFromConfig(&c);
	PyConfig_Clear(&c);
	if (PyStatus_Exception(st)) {
		fprintf(stderr, "python: %s: %s\n", st.func ? st.func : "init",
		        st.err_msg ? st.err_msg : "failed");
		return 1;
	}
	if (harness_load())
		return init_failed("loading the harness failed");
	nub_register(PY_FN_EVAL, "eval", fn_eval);
	nub_register(PY_FN_EXEC, "exec", fn_exec);
	nub_on_restore(on_restore);
	return 0;
}
