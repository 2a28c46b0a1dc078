/* Lua values <-> cJSON, for resolved configs and for plugin defaults. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "lua/bridge.h"

static const char null_sentinel = 0;

void hn_lua_push_null(lua_State *L) { lua_pushlightuserdata(L, (void *)&null_sentinel); }

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Pushes registry[field][t] (t at index idx), or nil. */
static void marker(lua_State *L, const char *field, int idx) {
    lua_getfield(L, LUA_REGISTRYINDEX, field);
    if (lua_istable(L, -1)) {
        lua_pushvalue(L, idx);
        lua_rawget(L, -2);
        lua_remove(L, -2);
    } else {
        lua_pop(L, 1);
        lua_pushnil(L);
    }
}

static int convert(lua_State *L, int idx, int depth, const char *path, cJSON **out, hn_error *err);

static int convert_array(lua_State *L, int idx, lua_Integer n, int depth, const char *path,
                         cJSON **out, hn_error *err) {
    cJSON *arr = cJSON_CreateArray();
    for (lua_Integer i = 1; i <= n; i++) {
        char sub[512];
        snprintf(sub, sizeof sub, "%s[%lld]", path, (long long)i);
        lua_rawgeti(L, idx, i);
        cJSON *item = NULL;
        int rc = convert(L, lua_gettop(L), depth + 1, sub, &item, err);
        lua_pop(L, 1);
        if (rc) {
            cJSON_Delete(arr);
            return HN_ERR;
        }
        cJSON_AddItemToArray(arr, item);
    }
    *out = arr;
    return HN_OK;
}

/* Adds t[key] to obj unless it is nil. */
static int add_field(lua_State *L, int idx, const char *key, int depth, const char *path,
                     cJSON *obj, hn_error *err) {
    lua_pushstring(L, key);
    lua_rawget(L, idx);
    int rc = HN_OK;
    if (!lua_isnil(L, -1) && !cJSON_GetObjectItemCaseSensitive(obj, key)) {
        char sub[512];
        snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", key);
        cJSON *item = NULL;
        rc = convert(L, lua_gettop(L), depth + 1, sub, &item, err);
        if (!rc) cJSON_AddItemToObject(obj, key, item);
    }
    lua_pop(L, 1);
    return rc;
}

static int convert_object(lua_State *L, int idx, int depth, const char *path, cJSON **out,
                          hn_error *err) {
    cJSON *obj = cJSON_CreateObject();
    /* keys in the order the prelude recorded, then the rest sorted */
    marker(L, "hn.order", idx);
    if (lua_istable(L, -1)) {
        int order = lua_gettop(L);
        lua_Integer n = (lua_Integer)lua_rawlen(L, order);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, order, i);
            const char *key = lua_tostring(L, -1);
            int rc = key ? add_field(L, idx, key, depth, path, obj, err) : HN_OK;
            lua_pop(L, 1);
            if (rc) {
                lua_pop(L, 1);
                cJSON_Delete(obj);
                return HN_ERR;
            }
        }
    }
    lua_pop(L, 1);

    size_t cap = 16, n = 0;
    const char **keys = malloc(cap * sizeof *keys);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            lua_pop(L, 1);
            free(keys);
            cJSON_Delete(obj);
            return hn_fail(err, "%s: a table mixing list entries and named keys cannot become JSON",
                           *path ? path : "config");
        }
        if (n == cap) keys = realloc(keys, (cap *= 2) * sizeof *keys);
        keys[n++] = lua_tostring(L, -1); /* stays alive: it is a key of the table */
    }
    qsort(keys, n, sizeof *keys, cmp_str);
    for (size_t i = 0; i < n; i++) {
        if (add_field(L, idx, keys[i], depth, path, obj, err)) {
            free(keys);
            cJSON_Delete(obj);
            return HN_ERR;
        }
    }
    free(keys);
    *out = obj;
    return HN_OK;
}

static int convert(lua_State *L, int idx, int depth, const char *path, cJSON **out, hn_error *err) {
    idx = lua_absindex(L, idx);
    if (depth > 64) return hn_fail(err, "%s: nested too deeply (a table that contains itself?)", path);
    if (!lua_checkstack(L, 8)) return hn_fail(err, "%s: out of Lua stack", path);
    switch (lua_type(L, idx)) {
    case LUA_TNIL: *out = cJSON_CreateNull(); return HN_OK;
    case LUA_TBOOLEAN: *out = cJSON_CreateBool(lua_toboolean(L, idx)); return HN_OK;
    case LUA_TNUMBER: {
        double v = lua_isinteger(L, idx) ? (double)lua_tointeger(L, idx) : lua_tonumber(L, idx);
        if (!isfinite(v)) return hn_fail(err, "%s: %g is not a finite number", path, v);
        *out = cJSON_CreateNumber(v);
        return HN_OK;
    }
    case LUA_TSTRING: {
        size_t len;
        const char *str = lua_tolstring(L, idx, &len);
        /* C would read it only up to the NUL: refuse rather than cut */
        if (strlen(str) != len) return hn_fail(err, "%s: a string with a NUL byte", *path ? path : "config");
        *out = cJSON_CreateString(str);
        return HN_OK;
    }
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == (void *)&null_sentinel) {
            *out = cJSON_CreateNull();
            return HN_OK;
        }
        break;
    case LUA_TTABLE: {
        lua_Integer len = (lua_Integer)lua_rawlen(L, idx);
        lua_Integer count = 0;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            lua_pop(L, 1);
            count++;
        }
        if (len > 0 && count == len) return convert_array(L, idx, len, depth, path, out, err);
        if (count == 0) {
            marker(L, "hn.array", idx);
            int is_array = lua_toboolean(L, -1);
            lua_pop(L, 1);
            *out = is_array ? cJSON_CreateArray() : cJSON_CreateObject();
            return HN_OK;
        }
        return convert_object(L, idx, depth, path, out, err);
    }
    default: break;
    }
    return hn_fail(err, "%s: a %s cannot be part of a config", *path ? path : "config",
                   luaL_typename(L, idx));
}

int hn_lua_to_json(lua_State *L, int idx, cJSON **out, hn_error *err) {
    *out = NULL;
    return convert(L, idx, 0, "", out, err);
}

void hn_lua_push_json(lua_State *L, const cJSON *j) {
    luaL_checkstack(L, 4, "JSON too deep");
    if (cJSON_IsBool(j)) lua_pushboolean(L, cJSON_IsTrue(j));
    else if (cJSON_IsNumber(j)) {
        double v = j->valuedouble;
        if (v == floor(v) && fabs(v) <= 9007199254740992.0) lua_pushinteger(L, (lua_Integer)v);
        else lua_pushnumber(L, v);
    } else if (cJSON_IsString(j)) lua_pushstring(L, j->valuestring);
    else if (cJSON_IsArray(j)) {
        lua_createtable(L, cJSON_GetArraySize(j), 0);
        lua_Integer i = 1;
        for (const cJSON *c = j->child; c; c = c->next) {
            hn_lua_push_json(L, c);
            lua_rawseti(L, -2, i++);
        }
        lua_getfield(L, LUA_REGISTRYINDEX, "hn.array");
        if (lua_istable(L, -1)) {
            lua_pushvalue(L, -2);
            lua_pushboolean(L, 1);
            lua_rawset(L, -3);
        }
        lua_pop(L, 1);
    } else if (cJSON_IsObject(j)) {
        lua_newtable(L);
        for (const cJSON *c = j->child; c; c = c->next) {
            hn_lua_push_json(L, c);
            lua_setfield(L, -2, c->string);
        }
    } else hn_lua_push_null(L);
}
