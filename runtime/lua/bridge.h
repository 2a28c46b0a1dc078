/* Internals of the Lua bridge (runtime/lua): the host table handed to the prelude, the
 * line tracking that gives constructor errors their FILE:LINE, and Lua <-> cJSON. */
#ifndef HN_LUA_BRIDGE_H
#define HN_LUA_BRIDGE_H

#include <lua.h>

#include <cJSON.h>

#include "core/error.h"
#include "plugin/registry.h"

/* Where the user's code is: updated by a line/return hook on every line of a file
 * chunk (source "@..."), so it survives tail calls such as `return experiment {...}`. */
typedef struct hn_lua_host {
    char file[1024]; /* last user file that ran a line */
    int line;
    char top[1024];  /* the file being loaded */
    int top_line;    /* last line run in it */
    long ticks;      /* count-hook calls so far: bounds the work an experiment file may do */
    long max_instructions; /* ... up to this many Lua instructions */
    size_t heap_used, heap_limit; /* live bytes of the Lua heap, and their cap */
    int heap_refusals;            /* allocations refused in a row */
    int heap_exceeded;            /* the cap was hit and a collection did not help */
} hn_lua_host;

/* Default caps of an experiment file: Lua heap and Lua instructions. */
#define HN_LUA_MEMORY_LIMIT_MIB 256
#define HN_LUA_MAX_INSTRUCTIONS 200000000L

/* A new Lua state for host (heap_limit set by the caller): the limited heap, host in
 * the extra space, the standard libraries without debug. NULL when out of memory. */
lua_State *hn_lua_sandbox_new(hn_lua_host *host);

/* Attaches host to L (extra space) and installs the hook. */
void hn_lua_host_attach(lua_State *L, hn_lua_host *host);

/* Pushes the table H the prelude receives (see the head of prelude.lua). */
int hn_lua_push_host_table(lua_State *L, const hn_registry *reg, int unsafe, hn_error *err);

/* The value that converts to JSON null. */
void hn_lua_push_null(lua_State *L);

/* Converts the Lua value at idx to JSON. Tables listed in the registry fields
 * "hn.order" (table -> key list) and "hn.array" (table -> true) keep that key order or
 * become arrays even when empty; other objects list their keys sorted. */
int hn_lua_to_json(lua_State *L, int idx, cJSON **out, hn_error *err);

/* Pushes a JSON value as a Lua value (objects and arrays as tables, null as the null
 * value, arrays marked in "hn.array" so they convert back as arrays). */
void hn_lua_push_json(lua_State *L, const cJSON *j);

#endif
