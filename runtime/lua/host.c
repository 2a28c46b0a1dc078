/* The host side of the prelude: line tracking for FILE:LINE, the registry's plugins and
 * letters as Lua tables, and the corpus check. */
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>

#include "data/corpus.h"
#include "data/tokenizer.h"
#include "model/reference_config.h"
#include "lua/bridge.h"
#include "model/model_check.h"

static hn_lua_host *host_of(lua_State *L) { return *(hn_lua_host **)lua_getextraspace(L); }

static void note(hn_lua_host *h, const char *source, int line) {
    if (!source || source[0] != '@' || line <= 0) return; /* only files, not the prelude */
    if (strcmp(h->file, source + 1)) snprintf(h->file, sizeof h->file, "%s", source + 1);
    h->line = line;
    if (!strcmp(h->top, source + 1)) h->top_line = line;
}

/* A line event says where the user's code is. A return into a user function says so
 * too: without it, a call that returns to the same line would leave the position
 * inside the callee. */
/* An experiment file only builds tables: HN_LUA_MAX_INSTRUCTIONS (about ten seconds with
 * the line hook on) is far beyond any real one, and stops an endless loop with a clear
 * message. The hook also re-raises a hit memory limit, so that a pcall in the file
 * cannot swallow it. */
#define HOOK_COUNT 1000000

static void hook(lua_State *L, lua_Debug *ar) {
    hn_lua_host *h = host_of(L);
    if (ar->event == LUA_HOOKCOUNT) {
        if (++h->ticks > h->max_instructions / HOOK_COUNT) {
            lua_pushfstring(L, "%s:%d: the experiment file ran more than %d million Lua "
                               "instructions (an endless loop?)", h->file[0] ? h->file : "?", h->line,
                            (int)(h->max_instructions / 1000000));
            lua_error(L);
        }
    } else if (ar->event == LUA_HOOKLINE) {
        if (lua_getinfo(L, "S", ar)) note(h, ar->source, ar->currentline);
    } else if (ar->event == LUA_HOOKRET) {
        lua_Debug caller;
        if (lua_getstack(L, 1, &caller) && lua_getinfo(L, "Sl", &caller))
            note(h, caller.source, caller.currentline);
    }
    if (h->heap_exceeded) {
        lua_pushfstring(L, "%s:%d: the experiment file uses more than %d MiB of memory",
                        h->file[0] ? h->file : "?", h->line, (int)(h->heap_limit >> 20));
        lua_error(L);
    }
}

void hn_lua_host_attach(lua_State *L, hn_lua_host *host) {
    *(hn_lua_host **)lua_getextraspace(L) = host;
    host->ticks = 0;
    if (host->max_instructions < HOOK_COUNT) host->max_instructions = HOOK_COUNT;
    lua_sethook(L, hook, LUA_MASKLINE | LUA_MASKRET | LUA_MASKCOUNT, HOOK_COUNT);
}

static int l_where(lua_State *L) {
    hn_lua_host *h = host_of(L);
    lua_pushstring(L, h->file[0] ? h->file : "?");
    lua_pushinteger(L, h->line);
    return 2;
}

static int l_corpus_check(lua_State *L) {
    cJSON *data = NULL;
    hn_error err = {{0}};
    int rc = hn_lua_to_json(L, 1, &data, &err);
    if (rc == HN_OK) rc = hn_corpus_check(data, &err);
    cJSON_Delete(data);
    if (rc == HN_OK) {
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_pushnil(L);
    lua_pushstring(L, err.msg);
    return 2;
}

/* H.tokenizer_check(t) -> vocab size, sha256 of its files | nil, message: loads the
 * tokenizer the files name.
 * Experiment files resolve the same corpus many times (a suite's :with copies), so the
 * answer is kept per spec and per the files' size and modification time. */
#define TOKENIZER_MEMO 16
typedef struct tokenizer_memo {
    char *key;
    size_t vocab;
    char sha256[65];
} tokenizer_memo;
static tokenizer_memo memo[TOKENIZER_MEMO];
static int memo_next;

/* The spec's text followed by each string value's file size and mtime. */
static char *tokenizer_key(const cJSON *spec) {
    char *text = cJSON_PrintUnformatted(spec);
    if (!text) return NULL;
    size_t n = strlen(text) + 1, cap = n + 256;
    char *key = malloc(cap);
    if (!key) return free(text), NULL;
    memcpy(key, text, n);
    free(text);
    for (const cJSON *v = spec->child; v; v = v->next) {
        struct stat st;
        if (!cJSON_IsString(v) || stat(v->valuestring, &st) != 0) continue;
        size_t used = strlen(key);
        if (used + 64 > cap) break;
        snprintf(key + used, cap - used, "|%lld.%ld.%lld", (long long)st.st_mtim.tv_sec,
                 (long)st.st_mtim.tv_nsec, (long long)st.st_size);
    }
    return key;
}

static int l_tokenizer_check(lua_State *L) {
    cJSON *spec = NULL;
    hn_error err = {{0}};
    int rc = hn_lua_to_json(L, 1, &spec, &err);
    char *key = rc == HN_OK ? tokenizer_key(spec) : NULL;
    for (int i = 0; key && i < TOKENIZER_MEMO; i++)
        if (memo[i].key && !strcmp(memo[i].key, key)) {
            free(key);
            cJSON_Delete(spec);
            lua_pushinteger(L, (lua_Integer)memo[i].vocab);
            lua_pushstring(L, memo[i].sha256);
            return 2;
        }
    hn_tokenizer *t = NULL;
    char sha[65] = "";
    if (rc == HN_OK) rc = hn_tokenizer_load(spec, &t, &err);
    if (rc == HN_OK) rc = hn_tokenizer_files_sha256(spec, sha, &err);
    cJSON_Delete(spec);
    if (rc != HN_OK) {
        free(key);
        lua_pushnil(L);
        lua_pushstring(L, err.msg);
        return 2;
    }
    size_t vocab = hn_tokenizer_vocab_size(t);
    hn_tokenizer_free(t);
    if (key) {
        free(memo[memo_next].key);
        memo[memo_next] = (tokenizer_memo){.key = key, .vocab = vocab};
        memcpy(memo[memo_next].sha256, sha, sizeof sha);
        memo_next = (memo_next + 1) % TOKENIZER_MEMO;
    }
    lua_pushinteger(L, (lua_Integer)vocab);
    lua_pushstring(L, sha);
    return 2;
}

/* H.model_check(model, path): the registry is the
 * closure's upvalue (NULL: nothing to check against). */
static int check_result(lua_State *L, int rc, const hn_error *err) {
    if (rc == HN_OK) {
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_pushnil(L);
    lua_pushstring(L, err->msg);
    return 2;
}

static int l_model_check(lua_State *L) {
    const hn_registry *reg = lua_touserdata(L, lua_upvalueindex(1));
    cJSON *model = NULL;
    hn_error err = {{0}};
    int rc = hn_lua_to_json(L, 1, &model, &err);
    if (rc == HN_OK) rc = hn_model_check(model, reg, luaL_optstring(L, 2, "model"), &err);
    cJSON_Delete(model);
    return check_result(L, rc, &err);
}

/* Pushes a plugin's config keys as a list of {key, type, help, has_default, default}. */
static int push_keys(lua_State *L, const char *plugin, const hn_config_key *keys, int n,
                     hn_error *err) {
    lua_newtable(L);
    for (int i = 0; i < n; i++) {
        const hn_config_key *k = &keys[i];
        if (!k->key || !k->type)
            return hn_fail(err, "plugin %s: config key %d has no name or type", plugin, i);
        lua_newtable(L);
        lua_pushstring(L, k->key);
        lua_setfield(L, -2, "key");
        lua_pushstring(L, k->type);
        lua_setfield(L, -2, "type");
        lua_pushstring(L, k->help ? k->help : "");
        lua_setfield(L, -2, "help");
        lua_pushboolean(L, k->default_json != NULL);
        lua_setfield(L, -2, "has_default");
        if (k->default_json) {
            cJSON *d = cJSON_Parse(k->default_json);
            if (!d)
                return hn_fail(err, "plugin %s: the default of key '%s' is not valid JSON: %s",
                               plugin, k->key, k->default_json);
            hn_lua_push_json(L, d);
            cJSON_Delete(d);
            lua_setfield(L, -2, "default");
        }
        lua_rawseti(L, -2, i + 1);
    }
    return HN_OK;
}

static int push_plugin(lua_State *L, const hn_layer_plugin *p, hn_error *err) {
    lua_newtable(L);
    lua_pushstring(L, p->name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, p->role);
    lua_setfield(L, -2, "role");
    if (push_keys(L, p->name, p->config_keys, p->n_config_keys, err)) return HN_ERR;
    lua_setfield(L, -2, "keys");
    return HN_OK;
}

/* H.reference_config(path) -> {kind = "hnet"|"isotropic", args = {...}} | nil, message
 * (model/reference_config.h) */
static int l_reference_config(lua_State *L) {
    cJSON *out = NULL;
    hn_error err = {{0}};
    if (hn_reference_config_read(luaL_checkstring(L, 1), &out, &err)) {
        lua_pushnil(L);
        lua_pushstring(L, err.msg);
        return 2;
    }
    hn_lua_push_json(L, out);
    cJSON_Delete(out);
    return 1;
}

int hn_lua_push_host_table(lua_State *L, const hn_registry *reg, int unsafe, hn_error *err) {
    int top = lua_gettop(L);
    lua_newtable(L);
    hn_lua_push_null(L);
    lua_setfield(L, -2, "null");
    lua_pushboolean(L, unsafe);
    lua_setfield(L, -2, "unsafe");
    char cwd[PATH_MAX];
    lua_pushstring(L, getcwd(cwd, sizeof cwd) ? cwd : ".");
    lua_setfield(L, -2, "cwd");
    lua_pushcfunction(L, l_where);
    lua_setfield(L, -2, "where");
    lua_pushcfunction(L, l_corpus_check);
    lua_setfield(L, -2, "corpus_check");
    lua_pushcfunction(L, l_tokenizer_check);
    lua_setfield(L, -2, "tokenizer_check");
    lua_pushlightuserdata(L, (void *)reg);
    lua_pushcclosure(L, l_model_check, 1);
    lua_setfield(L, -2, "model_check");
    lua_pushcfunction(L, l_reference_config);
    lua_setfield(L, -2, "reference_config");

    lua_newtable(L); /* plugins, in registry order */
    for (int i = 0; reg && i < reg->n_plugins; i++) {
        if (push_plugin(L, reg->plugins[i].plugin, err)) {
            lua_settop(L, top);
            return HN_ERR;
        }
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "plugins");

    lua_newtable(L); /* chunkers: name -> keys */
    for (int i = 0; reg && i < reg->n_chunkers; i++) {
        const hn_chunker_plugin *c = reg->chunkers[i].plugin;
        if (push_keys(L, c->name, c->config_keys, c->n_config_keys, err)) {
            lua_settop(L, top);
            return HN_ERR;
        }
        lua_setfield(L, -2, c->name);
    }
    lua_setfield(L, -2, "chunkers");

    lua_newtable(L); /* letters */
    for (int i = 0; reg && i < reg->n_letters; i++) {
        const hn_letter_def *l = &reg->letters[i];
        lua_newtable(L);
        lua_pushstring(L, l->mixer ? l->mixer : reg->plugins[reg->letter_owner[i]].plugin->name);
        lua_setfield(L, -2, "mixer");
        if (l->mlp) {
            lua_pushstring(L, l->mlp);
            lua_setfield(L, -2, "mlp");
        }
        char name[2] = {l->letter, 0};
        lua_setfield(L, -2, name);
    }
    lua_setfield(L, -2, "letters");
    return HN_OK;
}
