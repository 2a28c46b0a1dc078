/* The Lua sandbox of experiment files (runtime/lua): a hostile file can neither crash
 * hnet nor escape it. Binary (precompiled) chunks are refused wherever code is loaded
 * (the file itself, load, loadfile, dofile, require); the debug library is absent (its
 * sethook removes the instruction guard, its registry access can PANIC the process);
 * io cannot write and os cannot run, delete, rename, exit or make files; the Lua
 * allocator has a memory limit. Every refusal is one message with FILE:LINE.
 *
 * Each case is a small experiment file written under build/tests/, the offending line
 * marked "--!". Run from the repository root (plugins load from build/). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "lua/experiment.h"
#include "support/fixtures.h"

#define DIR "build/tests/lua_sandbox"
#define GOOD_RETURN "return experiment { name = \"ok\", data = corpus \"synthetic\", model = isotropic { layout = \"T1\", d = 32 } }\n"

static hn_registry reg;

static int setup(void **state) {
    mkdir("build/tests", 0777);
    mkdir(DIR, 0777);
    return registry_open(&reg);
}

static int teardown(void **state) {
    hn_registry_close(&reg);
    return 0;
}

static void write_file(const char *path, const char *text, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, n, f), n);
    fclose(f);
}

static void write_text(const char *path, const char *text) { write_file(path, text, strlen(text)); }

/* An experiment file: a comment, then body (its offending line ends in "--!"), then a
 * valid return. */
static void write_case(const char *path, const char *body) {
    char text[4096];
    int n = snprintf(text, sizeof text, "-- sandbox case\n%s\n" GOOD_RETURN, body);
    write_file(path, text, (size_t)n);
}

static int marked_line(const char *path) {
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char buf[4096];
    int line = 0, found = 0;
    while (!found && fgets(buf, sizeof buf, f)) {
        line++;
        if (strstr(buf, "--!")) found = line;
    }
    fclose(f);
    assert_true(found > 0);
    return found;
}

static void assert_contains(const char *msg, const char *part) {
    if (!strstr(msg, part)) fail_msg("message\n  %s\nlacks\n  %s", msg, part);
}

/* Loads path (expecting failure) with opts; the message must name marked:LINE (line
 * given, or the "--!" line when 0) and every further fragment. */
static void expect_refusal(const char *path, const hn_lua_options *opts, const char *marked,
                           int line, ...) {
    hn_error err = {{0}};
    cJSON *out = NULL;
    if (hn_experiment_load(path, opts, &reg, &out, &err) == HN_OK) {
        cJSON_Delete(out);
        fail_msg("%s loaded, but should be refused", path);
    }
    assert_null(out);
    print_message("%s\n", err.msg);
    char where[1200];
    snprintf(where, sizeof where, "%s:%d: ", marked, line ? line : marked_line(marked));
    assert_contains(err.msg, where);
    va_list ap;
    va_start(ap, line);
    for (const char *part; (part = va_arg(ap, const char *));) assert_contains(err.msg, part);
    va_end(ap);
}

/* One snippet in its own file, refused at its marked line with the fragments. */
#define REFUSED(name, body, ...)                                                            \
    do {                                                                                   \
        write_case(DIR "/" name ".lua", body);                                             \
        expect_refusal(DIR "/" name ".lua", NULL, DIR "/" name ".lua", 0, __VA_ARGS__, NULL); \
    } while (0)

typedef struct byte_sink {
    char *buf;
    size_t cap, n;
} byte_sink;

static int sink_write(lua_State *L, const void *p, size_t sz, void *ud) {
    byte_sink *o = ud;
    if (o->n + sz > o->cap) return 1;
    memcpy(o->buf + o->n, p, sz);
    o->n += sz;
    return 0;
}

/* Lua bytecode of `return 1`, compiled by a separate plain Lua state. */
static size_t dump_bytecode(char *buf, size_t cap) {
    lua_State *L = luaL_newstate();
    assert_non_null(L);
    assert_int_equal(luaL_loadstring(L, "return 1"), LUA_OK);
    byte_sink out = {buf, cap, 0};
    assert_int_equal(lua_dump(L, sink_write, &out, 0), 0);
    lua_close(L);
    return out.n;
}

/* ---------- binary chunks */

static void test_load_refuses_bytecode(void **state) {
    REFUSED("load_dump", "local f = load(string.dump(function() return 1 end)) --!",
            "binary", "Lua source text");
    REFUSED("load_dump_mode_b", "local f = load(string.dump(function() end), 'x', 'b') --!",
            "binary");
    /* a reader function that hands out the bytecode piecewise */
    REFUSED("load_reader",
            "local code, done = string.dump(function() end), false\n"
            "local f = load(function() if done then return nil end done = true return code end) --!",
            "binary");
}

static void test_file_and_modules_refuse_bytecode(void **state) {
    char code[4096];
    size_t n = dump_bytecode(code, sizeof code);
    assert_true(n > 4);

    /* the experiment file itself */
    write_file(DIR "/compiled.lua", code, n);
    expect_refusal(DIR "/compiled.lua", NULL, DIR "/compiled.lua", 1, "binary",
                   "Lua source text", NULL);

    /* a required module, loadfile and dofile */
    write_file(DIR "/compiled_module.lua", code, n);
    REFUSED("require_bytecode", "local m = require 'compiled_module' --!", "binary");
    REFUSED("loadfile_bytecode", "local f = loadfile('" DIR "/compiled_module.lua') --!", "binary");
    REFUSED("dofile_bytecode", "dofile('" DIR "/compiled_module.lua') --!", "binary");
}

/* Text modules, load of text with an explicit env and loadfile of text still work. */
static void test_text_chunks_still_load(void **state) {
    write_text(DIR "/text_module.lua", "return { d = 32 }\n");
    write_text(DIR "/text_ok.lua",
               "local m = require 'text_module'\n"
               "local f = load('return ...', 'chunk', 't', {})\n"
               "assert(f(7) == 7)\n"
               "local g = load('return x', 'chunk', 'bt', { x = 5 })\n"
               "assert(g() == 5)\n"
               "local h = load('return x', 'chunk', 't', nil)\n"
               "assert(not pcall(h)) -- an explicit nil env stays nil\n"
               "assert(loadfile('" DIR "/text_module.lua')().d == 32)\n"
               "assert(dofile('" DIR "/text_module.lua').d == 32)\n"
               "local bad, msg = load('return +')\n"
               "assert(bad == nil and msg:find('unexpected'))\n"
               "return experiment { name = 'text', data = corpus 'synthetic', model = isotropic { layout = 'T1', d = m.d } }\n");
    hn_error err = {{0}};
    cJSON *out = NULL;
    if (hn_experiment_load(DIR "/text_ok.lua", NULL, &reg, &out, &err)) fail_msg("%s", err.msg);
    cJSON_Delete(out);
}

/* ---------- debug */

static void test_no_debug_library(void **state) {
    /* would remove the instruction guard, then loop forever */
    REFUSED("debug_sethook", "debug.sethook() --!", "debug", "disabled");
    /* deleting registry entries PANICs (aborts) the process */
    REFUSED("debug_registry", "debug.getregistry()[1] = nil --!", "debug", "disabled");
    REFUSED("debug_require", "local d = require('debug').getinfo(1) --!", "debug", "disabled");
}

/* ---------- io and os */

static void test_io_cannot_write(void **state) {
    unlink(DIR "/written.txt");
    REFUSED("io_open_w", "local f = io.open('" DIR "/written.txt', 'w') --!", "io.open", "read");
    REFUSED("io_open_a", "local f = io.open('" DIR "/written.txt', 'a+') --!", "io.open");
    REFUSED("io_open_rplus", "local f = io.open('" DIR "/written.txt', 'r+') --!", "io.open");
    REFUSED("io_output", "io.output('" DIR "/written.txt') --!", "io.output");
    REFUSED("io_tmpfile", "local f = io.tmpfile() --!", "io.tmpfile");
    struct stat st;
    assert_int_not_equal(stat(DIR "/written.txt", &st), 0);
}

static void test_io_can_read(void **state) {
    write_file(DIR "/readable.txt", "32\n", 3);
    write_text(DIR "/io_read.lua",
               "local f = assert(io.open('" DIR "/readable.txt'))\n"
               "local d = tonumber(f:read('l')) f:close()\n"
               "local g = assert(io.open('" DIR "/readable.txt', 'rb')) g:close()\n"
               "for line in io.lines('" DIR "/readable.txt') do assert(line == '32') end\n"
               "return experiment { name = 'io', data = corpus 'synthetic', model = isotropic { layout = 'T1', d = d } }\n");
    hn_error err = {{0}};
    cJSON *out = NULL;
    if (hn_experiment_load(DIR "/io_read.lua", NULL, &reg, &out, &err)) fail_msg("%s", err.msg);
    cJSON_Delete(out);
}

static void test_os_is_blocked(void **state) {
    REFUSED("os_tmpname", "local p = os.tmpname() --!", "os.tmpname", "disabled");
    REFUSED("os_setlocale", "os.setlocale('C') --!", "os.setlocale", "disabled");
    REFUSED("os_remove", "os.remove('" DIR "/nothing') --!", "os.remove", "disabled");
    REFUSED("os_rename", "os.rename('" DIR "/a', '" DIR "/b') --!", "os.rename", "disabled");
    REFUSED("os_exit", "os.exit(3) --!", "os.exit", "disabled");
}

/* ---------- memory */

static void test_memory_limit(void **state) {
    /* one huge allocation */
    REFUSED("mem_rep", "local s = string.rep('x', 1 << 30) --!", "MiB of memory");
    /* growth by doubling: stopped at the limit, not at the OS's */
    hn_lua_options small = {.memory_limit_mib = 64};
    write_case(DIR "/mem_double.lua", "local s = 'x'\nfor i = 1, 40 do s = s .. s end --!");
    expect_refusal(DIR "/mem_double.lua", &small, DIR "/mem_double.lua", 0,
                   "more than 64 MiB of memory", NULL);
    write_case(DIR "/mem_table.lua", "local t = {}\nfor i = 1, 1e9 do t[i] = {i} end --!");
    expect_refusal(DIR "/mem_table.lua", &small, DIR "/mem_table.lua", 0,
                   "more than 64 MiB of memory", NULL);
    /* a pcall cannot swallow the limit and keep growing */
    write_case(DIR "/mem_pcall.lua",
               "local keep = {}\nfor i = 1, 1e9 do pcall(function() keep[#keep + 1] = string.rep('y', 1 << 20) end) end --!");
    expect_refusal(DIR "/mem_pcall.lua", &small, DIR "/mem_pcall.lua", 0, "MiB of memory", NULL);
}

/* Lua runs finalizers with hooks off, so one that loops forever would hang hnet past
 * the instruction guard: __gc is refused. The guard itself stops an endless loop. */
static void test_no_finalizers(void **state) {
    REFUSED("gc_loop", "setmetatable({}, { __gc = function() while true do end end }) --!",
            "__gc", "finalizer");
    REFUSED("gc_later", "local mt = { __gc = true }\nlocal t = setmetatable({}, mt) --!", "__gc");
    /* nor through the metatable io's file handles share */
    REFUSED("gc_file", "getmetatable(io.stdout).__gc = function() while true do end end --!",
            "index a boolean");
    hn_lua_options few = {.max_instructions = 3000000};
    write_case(DIR "/endless.lua", "local n = 0\nwhile true do n = n + 1 end --!");
    expect_refusal(DIR "/endless.lua", &few, DIR "/endless.lua", 0,
                   "more than 3 million Lua instructions", NULL);
}

/* A returned value whose metamethods misbehave is an error with a position, not a
 * PANIC of an unprotected call. */
static void test_returned_value_metamethods(void **state) {
    write_text(DIR "/bad_tostring.lua",
               "return setmetatable({}, { __pairs = function() error('boom') end }) --!\n");
    expect_refusal(DIR "/bad_tostring.lua", NULL, DIR "/bad_tostring.lua", 0, "boom", NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_refuses_bytecode),
        cmocka_unit_test(test_file_and_modules_refuse_bytecode),
        cmocka_unit_test(test_text_chunks_still_load),
        cmocka_unit_test(test_no_debug_library),
        cmocka_unit_test(test_io_cannot_write),
        cmocka_unit_test(test_io_can_read),
        cmocka_unit_test(test_os_is_blocked),
        cmocka_unit_test(test_memory_limit),
        cmocka_unit_test(test_returned_value_metamethods),
        cmocka_unit_test(test_no_finalizers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
