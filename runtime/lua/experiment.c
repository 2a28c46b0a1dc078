/* Loading experiment and suite files: a fresh Lua state per file, the prelude, the
 * module path, the run, and the result as JSON. */
#include "lua/experiment.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "lua/bridge.h"

extern const char hn_lua_prelude[];
extern const unsigned long hn_lua_prelude_len;

typedef struct session {
    lua_State *L;
    hn_lua_host host;
    const char *path;
} session;

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* dir relative to cwd when it lies inside it, so module chunk names (and so error
 * positions) stay short. */
static const char *relative(const char *dir, const char *cwd) {
    size_t n = strlen(cwd);
    if (!strcmp(dir, cwd)) return ".";
    if (n > 1 && !strncmp(dir, cwd, n) && dir[n] == '/') return dir + n + 1;
    return dir;
}

static void add_dir(luaL_Buffer *b, const char *dir, const char *cwd, char seen[][PATH_MAX], int *n_seen) {
    for (int i = 0; i < *n_seen; i++)
        if (!strcmp(seen[i], dir)) return;
    if (*n_seen < 64) snprintf(seen[(*n_seen)++], PATH_MAX, "%s", dir);
    const char *d = relative(dir, cwd);
    luaL_addstring(b, d);
    luaL_addstring(b, "/?.lua;");
    luaL_addstring(b, d);
    luaL_addstring(b, "/?/init.lua;");
}

/* package.path: the file's folder, then every enclosing folder named "experiments" and
 * every "experiments" folder beside an enclosing folder, innermost first. So
 * `require "paper.hnet_2stage"` finds experiments/paper/hnet_2stage.lua from anywhere
 * below the repository. */
static void set_package_path(lua_State *L, const char *file) {
    char (*seen)[PATH_MAX] = malloc(64 * sizeof *seen);
    int n_seen = 0;
    if (!seen) return;
    char abs[PATH_MAX], cwd[PATH_MAX], dir[PATH_MAX], cand[PATH_MAX + 16];
    if (!getcwd(cwd, sizeof cwd)) snprintf(cwd, sizeof cwd, ".");
    if (!realpath(file, abs)) snprintf(abs, sizeof abs, "%s", file);
    snprintf(dir, sizeof dir, "%s", abs);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
    if (!dir[0]) snprintf(dir, sizeof dir, "/");

    luaL_Buffer b;
    lua_getglobal(L, "package");
    luaL_buffinit(L, &b);
    add_dir(&b, dir, cwd, seen, &n_seen);
    for (;;) {
        const char *base = strrchr(dir, '/');
        if (base && !strcmp(base + 1, "experiments")) add_dir(&b, dir, cwd, seen, &n_seen);
        snprintf(cand, sizeof cand, "%s/experiments", strcmp(dir, "/") ? dir : "");
        if (is_dir(cand)) add_dir(&b, cand, cwd, seen, &n_seen);
        char *s = strrchr(dir, '/');
        if (!s || s == dir) break;
        *s = 0;
    }
    luaL_pushresult(&b);
    lua_setfield(L, -2, "path");
    lua_pop(L, 1);
    free(seen);
}

/* Error values that are not strings still become a message, at the line the user's
 * code was on. */
static int message_handler(lua_State *L) {
    if (lua_type(L, 1) == LUA_TSTRING) return 1;
    hn_lua_host *h = *(hn_lua_host **)lua_getextraspace(L);
    const char *what = luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING
                           ? lua_tostring(L, -1)
                           : lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    if (h && h->file[0]) lua_pushfstring(L, "%s:%d: %s", h->file, h->line, what);
    return 1;
}

/* Lua shortens long chunk names to "...tail"; put the full path back when the tail is
 * the loaded file's. */
static void fail_with_lua_message(session *s, const char *msg, hn_error *err) {
    if (!strncmp(msg, "...", 3)) {
        const char *colon = strchr(msg + 3, ':');
        size_t tail = colon ? (size_t)(colon - (msg + 3)) : 0;
        size_t plen = strlen(s->path);
        if (tail && tail <= plen && !strncmp(s->path + plen - tail, msg + 3, tail)) {
            hn_fail(err, "%s%s", s->path, colon);
            return;
        }
    }
    hn_fail(err, "%s", msg);
}

static int open_session(session *s, const char *path, const hn_lua_options *opts,
                        const hn_registry *reg, hn_error *err) {
    memset(&s->host, 0, sizeof s->host);
    s->path = path;
    snprintf(s->host.top, sizeof s->host.top, "%s", path);
    long mib = opts && opts->memory_limit_mib > 0 ? opts->memory_limit_mib : HN_LUA_MEMORY_LIMIT_MIB;
    s->host.heap_limit = (size_t)mib << 20;
    s->host.max_instructions = opts && opts->max_instructions > 0 ? opts->max_instructions
                                                                   : HN_LUA_MAX_INSTRUCTIONS;
    s->L = hn_lua_sandbox_new(&s->host);
    if (!s->L) return hn_fail(err, "%s: cannot create a Lua state (out of memory)", path);
    lua_State *L = s->L;

    lua_pushcfunction(L, message_handler);
    if (luaL_loadbuffer(L, hn_lua_prelude, hn_lua_prelude_len, "=prelude") != LUA_OK) {
        hn_fail(err, "internal error in the Lua prelude: %s", lua_tostring(L, -1));
        return HN_ERR;
    }
    if (hn_lua_push_host_table(L, reg, opts && opts->allow_unsafe, err)) return HN_ERR;
    if (lua_pcall(L, 1, 1, -3) != LUA_OK) {
        hn_fail(err, "internal error in the Lua prelude: %s", lua_tostring(L, -1));
        return HN_ERR;
    }
    /* the prelude returns P = {classify, order, array} */
    lua_getfield(L, -1, "order");
    lua_setfield(L, LUA_REGISTRYINDEX, "hn.order");
    lua_getfield(L, -1, "array");
    lua_setfield(L, LUA_REGISTRYINDEX, "hn.array");
    lua_setfield(L, LUA_REGISTRYINDEX, "hn.prelude");
    lua_pop(L, 1); /* message handler */
    set_package_path(L, path);
    return HN_OK;
}

static void close_session(session *s) {
    if (s->L) lua_close(s->L);
    s->L = NULL;
}

/* The message for a failed protected call: a hit memory limit says so (Lua's own
 * "not enough memory" has no position and skips the message handler). */
static void fail_call(session *s, int rc, hn_error *err) {
    if (rc == LUA_ERRMEM || s->host.heap_exceeded)
        hn_fail(err, "%s:%d: the experiment file uses more than %zu MiB of memory",
                s->host.file[0] ? s->host.file : s->path, s->host.line, s->host.heap_limit >> 20);
    else
        fail_with_lua_message(s, lua_tostring(s->L, -1), err);
}

/* The prelude's classify(value) -> kind | nil, description; protected, since the value's
 * metamethods are the file's code. */
static int classify(lua_State *L) {
    lua_getfield(L, LUA_REGISTRYINDEX, "hn.prelude");
    lua_getfield(L, -1, "classify");
    lua_pushvalue(L, 1);
    lua_call(L, 1, 2);
    return 2;
}

/* Runs the file; on success its first result is on top of the stack and *kind is
 * "experiment" or "suite". The hook stays on until the state is closed: finalizers
 * and metamethods the file left behind run under the same limits. */
static int run_file(session *s, const char **kind, hn_error *err) {
    lua_State *L = s->L;
    lua_pushcfunction(L, message_handler);
    int rc = luaL_loadfilex(L, s->path, "t");
    if (rc != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        if (rc == LUA_ERRSYNTAX && msg && strstr(msg, "attempt to load a binary chunk"))
            return hn_fail(err, "%s:1: the file is a binary (precompiled) Lua chunk; experiment "
                                "files must be Lua source text", s->path);
        fail_call(s, rc, err);
        return HN_ERR;
    }
    hn_lua_host_attach(L, &s->host);
    rc = lua_pcall(L, 0, 1, -2);
    if (rc != LUA_OK) {
        fail_call(s, rc, err);
        return HN_ERR;
    }
    /* stack: handler, value */
    lua_pushcfunction(L, classify);
    lua_pushvalue(L, -2);
    rc = lua_pcall(L, 1, 2, -4);
    if (rc != LUA_OK) {
        fail_call(s, rc, err);
        return HN_ERR;
    }
    if (lua_isnil(L, -2)) {
        hn_fail(err,
                "%s:%d: the file must return an experiment or a suite "
                "(return experiment { ... }), found %s",
                s->path, s->host.top_line, lua_tostring(L, -1));
        return HN_ERR;
    }
    *kind = lua_tostring(L, -2); /* a literal kept alive by the prelude's code */
    *kind = !strcmp(*kind, "suite") ? "suite" : "experiment";
    lua_pop(L, 2);
    lua_remove(L, -2); /* message handler */
    return HN_OK;
}

typedef struct to_json_call {
    cJSON *out;
    hn_error *err;
    int rc;
} to_json_call;

static int to_json_protected(lua_State *L) {
    to_json_call *c = lua_touserdata(L, 1);
    c->rc = hn_lua_to_json(L, 2, &c->out, c->err);
    return 0;
}

/* hn_lua_to_json of the value on top, in a protected call (it allocates on the limited
 * heap, and a table's traversal can raise). */
static int top_to_json(session *s, cJSON **out, hn_error *err) {
    lua_State *L = s->L;
    to_json_call c = {NULL, err, HN_ERR};
    lua_pushcfunction(L, message_handler);
    lua_pushcfunction(L, to_json_protected);
    lua_pushlightuserdata(L, &c);
    lua_pushvalue(L, -4);
    int rc = lua_pcall(L, 2, 0, -4);
    if (rc != LUA_OK) {
        fail_call(s, rc, err);
        cJSON_Delete(c.out);
        lua_pop(L, 2);
        return HN_ERR;
    }
    lua_pop(L, 1);
    *out = c.out;
    return c.rc;
}

/* "file" names where an experiment was declared; made absolute so that the config (and
 * its hash, which finds earlier runs) is the same however the path was typed. */
static int absolute_file(cJSON *cfg, hn_error *err) {
    cJSON *file = cJSON_GetObjectItemCaseSensitive(cfg, "file");
    char *abs = cJSON_IsString(file) ? realpath(file->valuestring, NULL) : NULL;
    int ok = !abs || cJSON_SetValuestring(file, abs);
    free(abs);
    return ok ? HN_OK : hn_fail(err, "out of memory");
}

int hn_experiment_load(const char *path, const hn_lua_options *opts, const hn_registry *reg,
                       cJSON **out, hn_error *err) {
    *out = NULL;
    session s = {0};
    const char *kind = NULL;
    int rc = open_session(&s, path, opts, reg, err);
    if (rc == HN_OK) rc = run_file(&s, &kind, err);
    if (rc == HN_OK && !strcmp(kind, "suite")) {
        lua_getfield(s.L, -1, "runs");
        rc = hn_fail(err, "%s:%d: the file returns a suite of %d runs, not one experiment; run it with `hnet suite %s`",
                     path, s.host.top_line, (int)lua_rawlen(s.L, -1), path);
    }
    if (rc == HN_OK) rc = top_to_json(&s, out, err);
    if (rc == HN_OK) rc = absolute_file(*out, err);
    close_session(&s);
    return rc;
}

int hn_suite_load(const char *path, const hn_lua_options *opts, const hn_registry *reg,
                  cJSON **out_array, hn_error *err) {
    *out_array = NULL;
    session s = {0};
    const char *kind = NULL;
    int rc = open_session(&s, path, opts, reg, err);
    if (rc == HN_OK) rc = run_file(&s, &kind, err);
    if (rc == HN_OK && !strcmp(kind, "experiment")) {
        cJSON *e = NULL;
        rc = top_to_json(&s, &e, err);
        if (rc == HN_OK) {
            *out_array = cJSON_CreateArray();
            cJSON_AddItemToArray(*out_array, e);
        }
    } else if (rc == HN_OK) {
        cJSON *suite = NULL;
        rc = top_to_json(&s, &suite, err);
        if (rc == HN_OK) {
            cJSON *name = cJSON_GetObjectItemCaseSensitive(suite, "name");
            cJSON *runs = cJSON_DetachItemFromObjectCaseSensitive(suite, "runs");
            for (cJSON *r = runs ? runs->child : NULL; r; r = r->next)
                cJSON_AddStringToObject(r, "suite", cJSON_IsString(name) ? name->valuestring : "");
            *out_array = runs;
            cJSON_Delete(suite);
        }
    }
    for (cJSON *r = rc == HN_OK && *out_array ? (*out_array)->child : NULL; r; r = r->next)
        if (absolute_file(r, err)) rc = HN_ERR;
    close_session(&s);
    return rc;
}
