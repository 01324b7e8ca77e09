/* SPDX-License-Identifier: MIT */
/* The Lua guest's functions (examples/lua/lua_guest.c), for its hosts. */
#ifndef NUB_LUA_ABI_H
#define NUB_LUA_ABI_H

enum lua_guest_fn {
	LUA_FN_EVAL = 1,   /* in: Lua source; out: its results, '\t' between */
	LUA_FN_DOFILE = 2, /* in: a path in the guest's tree; out: as eval */
};

/* Status of a call whose chunk did not load or raised an error; the result
 * is the message and traceback. */
#define LUA_GUEST_ERROR (-100)

#endif
