/* SPDX-License-Identifier: MIT */
/*
 * A JavaScript sandbox: Debian's Duktape (one C file) built into a nub guest
 * with the C library runtime. The engine is created during init, so the
 * snapshot taken after evolve holds a warm engine and every call starts
 * from it. JavaScript sees:
 *   console.log(...) / print(...)  -> the host log (info), arguments joined by spaces
 *   host.call(name, text)          -> host function JS_HOST_CALL, returns its string
 *   sys.readFile(path)             -> a file of the guest's tree or /tmp as a string
 *                                     (Error "path: reason" when it cannot be read)
 *   sys.getenv(name)               -> the host-given environment value, or undefined
 * Errors: a script that throws returns JS_STATUS_THROWN with the message;
 * running out of heap is a RangeError in the script (or, inside the engine,
 * a fatal error that aborts the guest); an endless loop is ended by the
 * host's call timeout. A restore brings back the warm engine in each case.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <duktape.h>
#include <nubguest.h>

#include "js_abi.h"

static duk_context *ctx;

static void js_fatal(void *udata, const char *msg)
{
	(void)udata;
	nub_abortf(1, "duktape fatal error: %s", msg ? msg : "(none)");
}

/* console.log / print: arguments as strings, joined by spaces. */
static duk_ret_t js_log(duk_context *c)
{
	duk_idx_t n = duk_get_top(c);

	duk_push_string(c, " ");
	duk_insert(c, 0);
	duk_join(c, n);
	printf("%s\n", duk_safe_to_string(c, -1));
	return 0;
}

/* host.call(name, text) -> string */
static duk_ret_t js_host_call(duk_context *c)
{
	duk_size_t nlen, tlen;
	const char *name = duk_require_lstring(c, 0, &nlen);
	const char *text = duk_safe_to_lstring(c, 1, &tlen);
	size_t cap = 64 * 1024;
	uint32_t got = 0;

	if (nlen + 1 + tlen > UINT32_MAX)
		return duk_error(c, DUK_ERR_RANGE_ERROR, "host.call: argument too long");
	char *req = malloc(nlen + 1 + tlen), *ans = malloc(cap);
	if (!req || !ans) {
		free(req);
		free(ans);
		return duk_error(c, DUK_ERR_RANGE_ERROR, "host.call: out of memory");
	}
	memcpy(req, name, nlen);
	req[nlen] = '\0';
	memcpy(req + nlen + 1, text, tlen);
	int rc = nub_call_host(JS_HOST_CALL, req, (uint32_t)(nlen + 1 + tlen), ans, (uint32_t)cap,
	                       &got);
	free(req);
	if (rc) {
		free(ans);
		return duk_error(c, DUK_ERR_ERROR, "host.call('%s') failed with status %d", name,
		                 rc);
	}
	duk_push_lstring(c, ans, got);
	free(ans);
	return 1;
}

static int32_t copy_out(const char *s, size_t n, uint8_t *out, uint32_t cap, uint32_t *out_len)
{
	if (n > cap)
		n = cap; /* the host sees a truncated text rather than nothing */
	memcpy(out, s, n);
	*out_len = (uint32_t)n;
	return 0;
}

/* The text of the error at the top of the stack: its stack trace if any. */
static const char *error_text(duk_context *c, duk_size_t *len)
{
	if (duk_is_error(c, -1)) {
		duk_get_prop_string(c, -1, "stack");
		if (duk_is_string(c, -1))
			return duk_get_lstring(c, -1, len);
		duk_pop(c);
	}
	return duk_safe_to_lstring(c, -1, len);
}

static int32_t js_eval(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t cap,
                       uint32_t *out_len)
{
	duk_idx_t top = duk_get_top(ctx);
	duk_size_t len;
	const char *text;
	int32_t status = 0;

	if (duk_peval_lstring(ctx, (const char *)in, in_len) != 0) {
		text = error_text(ctx, &len);
		status = JS_STATUS_THROWN;
	} else {
		text = duk_safe_to_lstring(ctx, -1, &len);
	}
	copy_out(text, len, out, cap, out_len);
	duk_set_top(ctx, top);
	return status;
}

/* sys.readFile(path) -> string: the files of the guest's own tree. */
static duk_ret_t js_read_file(duk_context *c)
{
	const char *path = duk_require_string(c, 0);
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		return duk_error(c, DUK_ERR_ERROR, "%s: %s", path, strerror(errno));
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		fclose(f);
		return duk_error(c, DUK_ERR_ERROR, "%s: cannot seek", path);
	}
	buf = duk_push_fixed_buffer(c, (duk_size_t)n);
	if ((long)fread(buf, 1, (size_t)n, f) != n) {
		fclose(f);
		return duk_error(c, DUK_ERR_ERROR, "%s: short read", path);
	}
	fclose(f);
	duk_buffer_to_string(c, -1);
	return 1;
}

/* sys.getenv(name) -> string | undefined */
static duk_ret_t js_getenv(duk_context *c)
{
	const char *v = getenv(duk_require_string(c, 0));

	if (!v)
		return 0;
	duk_push_string(c, v);
	return 1;
}

void nub_guest_main(void)
{
	ctx = duk_create_heap(NULL, NULL, NULL, NULL, js_fatal);
	if (!ctx)
		nub_abort(1, "cannot create the JavaScript heap");
	duk_push_c_function(ctx, js_log, DUK_VARARGS);
	duk_put_global_string(ctx, "print");
	duk_push_object(ctx);
	duk_push_c_function(ctx, js_log, DUK_VARARGS);
	duk_put_prop_string(ctx, -2, "log");
	duk_put_global_string(ctx, "console");
	duk_push_object(ctx);
	duk_push_c_function(ctx, js_host_call, 2);
	duk_put_prop_string(ctx, -2, "call");
	duk_put_global_string(ctx, "host");
	duk_push_object(ctx);
	duk_push_c_function(ctx, js_read_file, 1);
	duk_put_prop_string(ctx, -2, "readFile");
	duk_push_c_function(ctx, js_getenv, 1);
	duk_put_prop_string(ctx, -2, "getenv");
	duk_put_global_string(ctx, "sys");
	/* Warm the engine: compile and run once, so the first call after a
	 * restore does not pay for first-use allocations. */
	duk_peval_string_noresult(
	        ctx, "JSON.stringify({warm: [1, 2, 3].map(function (x) { return x * 2; })})");
	nub_register(JS_FN_EVAL, "eval", js_eval);
}
