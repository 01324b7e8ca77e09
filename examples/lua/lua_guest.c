/* SPDX-License-Identifier: MIT */
/*
 * Lua 5.4 in a guest: Debian's unmodified lua5.4 sources (fetched by
 * scripts/fetch-sources.sh) on the runtime's C library flavour. The state
 * and the standard libraries are made at init, so a sandbox starts from a
 * warm interpreter and a restore brings it back. Scripts reach files
 * through the read-only tree the host gives (nub_config.dirs): `require`
 * of modules, io.open of data files; os.getenv sees the host's envp.
 *
 *   eval(source)  run a chunk; its results as tostring() text, '\t'
 *                 between them; on error status LUA_GUEST_ERROR and the
 *                 message (with the traceback) as the text
 *   dofile(path)  the same for a file of the tree
 *
 * print() and io.write() go to the host log, one message per line.
 */
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <nubguest.h>

#include "lua_abi.h"

static lua_State *L;

static int traceback(lua_State *s)
{
	const char *msg = lua_tostring(s, 1);

	luaL_traceback(s, s, msg ? msg : "(error object is not a string)", 1);
	return 1;
}

/* The chunk on top of the stack, run; its results (or the error) as text. */
static int32_t run(int load_rc, uint8_t *out, uint32_t cap, uint32_t *out_len)
{
	int base = lua_gettop(L) - 1; /* below the chunk */
	int32_t status = 0;
	luaL_Buffer b;
	size_t len;
	const char *s;

	if (load_rc == LUA_OK) {
		lua_pushcfunction(L, traceback);
		lua_insert(L, base + 1);
		load_rc = lua_pcall(L, 0, LUA_MULTRET, base + 1);
		lua_remove(L, base + 1);
	}
	if (load_rc != LUA_OK) {
		status = LUA_GUEST_ERROR;
		if (!lua_isstring(L, -1))
			lua_pushliteral(L, "(error object is not a string)");
	} else {
		int top = lua_gettop(L);
		/* The buffer's own slot sits on the stack above the results. */
		luaL_buffinit(L, &b);
		for (int i = base + 1; i <= top; i++) {
			if (i > base + 1)
				luaL_addchar(&b, '\t');
			luaL_tolstring(L, i, NULL);
			luaL_addvalue(&b);
		}
		luaL_pushresult(&b);
	}
	s = lua_tolstring(L, -1, &len);
	if (len > cap)
		len = cap;
	memcpy(out, s, len);
	*out_len = (uint32_t)len;
	lua_settop(L, base);
	fflush(stdout);
	return status;
}

static int32_t fn_eval(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t cap,
                       uint32_t *out_len)
{
	return run(luaL_loadbuffer(L, (const char *)in, in_len, "=eval"), out, cap, out_len);
}

static int32_t fn_dofile(const uint8_t *in, uint32_t in_len, uint8_t *out, uint32_t cap,
                         uint32_t *out_len)
{
	char path[4096];
	size_t n = in_len < sizeof(path) - 1 ? in_len : sizeof(path) - 1;

	memcpy(path, in, n);
	path[n] = 0;
	return run(luaL_loadfile(L, path), out, cap, out_len);
}

void nub_guest_main(void)
{
	L = luaL_newstate();
	if (!L)
		nub_abort(NUB_ABORT_OOM, "lua: cannot create a state");
	luaL_openlibs(L);
	nub_register(LUA_FN_EVAL, "eval", fn_eval);
	nub_register(LUA_FN_DOFILE, "dofile", fn_dofile);
}
