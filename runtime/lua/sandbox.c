/* The Lua state an experiment file runs in: a heap with a byte limit, and the standard
 * libraries minus debug (its sethook lifts the instruction guard; its registry access
 * can leave the state broken and PANIC the process). The Lua side of the sandbox
 * (text-only loading, read-only io, blocked os calls) is at the end of prelude.lua. */
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lualib.h>

#include "lua/bridge.h"

/* Counts live bytes and refuses growth past the limit. Lua answers a refusal with a
 * full collection and one retry; two refusals in a row mean the collection did not help,
 * and that is sticky (the hook raises it again, so a pcall in the file cannot swallow
 * it and keep going). A request larger than the whole limit is hopeless at once. */
static void *limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    hn_lua_host *h = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        h->heap_used -= old;
        return NULL;
    }
    if (nsize > old && nsize - old > h->heap_limit - h->heap_used) {
        if (++h->heap_refusals >= 2 || nsize > h->heap_limit) h->heap_exceeded = 1;
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (!p) return NULL;
    h->heap_used = h->heap_used - old + nsize;
    h->heap_refusals = 0;
    return p;
}

static int panic(lua_State *L) {
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "hnet: unprotected error in the Lua state (%s)\n", msg ? msg : "?");
    return 0; /* Lua aborts */
}

lua_State *hn_lua_sandbox_new(hn_lua_host *host) {
    host->heap_used = 0;
    host->heap_refusals = 0;
    host->heap_exceeded = 0;
    lua_State *L = lua_newstate(limited_alloc, host);
    if (!L) return NULL;
    lua_atpanic(L, panic);
    *(hn_lua_host **)lua_getextraspace(L) = host;
    static const luaL_Reg libs[] = {
        {LUA_GNAME, luaopen_base},        {LUA_LOADLIBNAME, luaopen_package},
        {LUA_COLIBNAME, luaopen_coroutine}, {LUA_TABLIBNAME, luaopen_table},
        {LUA_IOLIBNAME, luaopen_io},      {LUA_OSLIBNAME, luaopen_os},
        {LUA_STRLIBNAME, luaopen_string}, {LUA_MATHLIBNAME, luaopen_math},
        {LUA_UTF8LIBNAME, luaopen_utf8},  {NULL, NULL},
    };
    for (const luaL_Reg *lib = libs; lib->func; lib++) {
        luaL_requiref(L, lib->name, lib->func, 1);
        lua_pop(L, 1);
    }
    return L;
}
