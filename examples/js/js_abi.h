/* SPDX-License-Identifier: MIT */
/* The contract between the JavaScript guest (js_guest.c) and its hosts
 * (js_host.c, nub run, the tests and the bench). */
#ifndef NUB_JS_ABI_H
#define NUB_JS_ABI_H

/** Guest function "eval": in = JavaScript source (UTF-8, no NUL needed);
 * out = the completion value as a string (String(value)); status 0. A
 * script that throws returns status JS_STATUS_THROWN with the error's text
 * (its stack when it has one) as out. */
#define JS_FN_EVAL       1u
#define JS_STATUS_THROWN (-1000)

/** Host function the guest's `host.call(name, text)` reaches: in = name,
 * one NUL byte, text; out = the string the call returns to JavaScript. A
 * negative status throws an Error in the script naming the function. */
#define JS_HOST_CALL 1u

#endif
