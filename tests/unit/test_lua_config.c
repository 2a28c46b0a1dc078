/* Lua experiment files (runtime/lua): good files resolve to the expected JSON with every
 * default filled; each kind of mistake gives one message with FILE:LINE (the line marked
 * "--!" in the fixture), the key path and what was expected; the sandbox blocks
 * os.execute / io.popen / package.loadlib unless allow_unsafe; :with overrides and
 * require of another experiment file work.
 *
 * The registry holds small in-process test doubles of the layer plugins (attention,
 * mamba2, swiglu, and in a second registry moe); loading real plugins is tested in
 * test_layer_plugins. Run from the repository root (fixture paths are relative). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua/experiment.h"

#define FIX "tests/unit/fixtures/lua/"

/* ---------- test doubles of layer plugins: only their names, letters and keys matter */

static int fake_create(const hn_layer_args *a, void **self, hn_error *err) { return HN_OK; }
static void fake_destroy(void *self, const hn_backend *be) {}
static int fake_count(void *self) { return 0; }
static void fake_describe(void *self, hn_param *p) {}
static void fake_bind(void *self, const hn_param *p) {}
static int fake_fwd(void *self, const hn_layer_ctx *c, const float *x, float *y, hn_error *e) { return HN_OK; }
static int fake_bwd(void *self, const hn_layer_ctx *c, const float *dy, float *dx, hn_error *e) { return HN_OK; }
static double fake_flops(void *self, const int32_t *l, int n) { return 0; }

#define FAKE_FUNCS                                                                          \
    .create = fake_create, .destroy = fake_destroy, .param_count = fake_count,               \
    .describe_params = fake_describe, .bind = fake_bind, .forward = fake_fwd,                \
    .backward = fake_bwd, .flops = fake_flops

static const hn_letter_def attn_letters[] = {{'t', "attention", NULL}, {'T', "attention", "*"}};
static const hn_config_key attn_keys[] = {
    {"heads", "integer", "8", "attention heads"},
    {"window", "window", "\"global\"", "sliding window or global"},
};
static const hn_layer_plugin fake_attention = {
    .abi_version = HN_LAYER_ABI_VERSION, .name = "attention", .version = "test", .role = "mixer",
    .letters = attn_letters, .n_letters = 2, .config_keys = attn_keys, .n_config_keys = 2, FAKE_FUNCS};

static const hn_letter_def mamba_letters[] = {{'m', "mamba2", NULL}, {'M', "mamba2", "*"}};
static const hn_config_key mamba_keys[] = {
    {"d_state", "integer", "64", "SSM state size"},
    {"headdim", "integer", "64", "head dimension"},
};
static const hn_layer_plugin fake_mamba2 = {
    .abi_version = HN_LAYER_ABI_VERSION, .name = "mamba2", .version = "test", .role = "mixer",
    .letters = mamba_letters, .n_letters = 2, .config_keys = mamba_keys, .n_config_keys = 2, FAKE_FUNCS};

static const hn_config_key swiglu_keys[] = {{"hidden", "integer", NULL, "hidden size"}};
static const hn_layer_plugin fake_swiglu = {
    .abi_version = HN_LAYER_ABI_VERSION, .name = "swiglu", .version = "test", .role = "mlp",
    .letters = NULL, .n_letters = 0, .config_keys = swiglu_keys, .n_config_keys = 1, FAKE_FUNCS};

static const hn_config_key moe_keys[] = {
    {"experts", "integer", "8", "experts"},
    {"top_k", "integer", "2", "experts per token"},
    {"hidden", "integer", "256", "hidden size per expert"},
};
static const hn_layer_plugin fake_moe = {
    .abi_version = HN_LAYER_ABI_VERSION, .name = "moe", .version = "test", .role = "mlp",
    .letters = NULL, .n_letters = 0, .config_keys = moe_keys, .n_config_keys = 3, FAKE_FUNCS};

/* a chunker plugin the prelude has no constructor for: reached through chunker{} */
static int fake_chunker_create(const hn_chunker_args *a, void **self, hn_error *err) { return HN_OK; }
static int fake_chunker_fwd(void *self, const hn_chunker_ctx *c, const float *x, float *p, hn_error *e) {
    return HN_OK;
}
static int fake_chunker_bwd(void *self, const hn_chunker_ctx *c, const float *dp, float *dx,
                            hn_error *e) {
    return HN_OK;
}
static double fake_chunker_flops(void *self, int T) { return 0; }
static void fake_chunker_init(void *self, int i, float *h, size_t n, hn_rng *r) {}
static const hn_config_key entropy_keys[] = {
    {"threshold", "number", "2", "entropy above which a chunk starts"},
};
static const hn_chunker_plugin fake_entropy = {
    .abi_version = HN_CHUNKER_ABI_VERSION, .name = "entropy", .version = "test",
    .config_keys = entropy_keys, .n_config_keys = 1, .create = fake_chunker_create,
    .destroy = fake_destroy, .param_count = fake_count, .describe_params = fake_describe,
    .init_custom = fake_chunker_init, .bind = fake_bind, .forward = fake_chunker_fwd,
    .backward = fake_chunker_bwd, .flops = fake_chunker_flops};

static hn_registry reg, reg_moe;

static int setup(void **state) {
    hn_error err = {{0}};
    hn_registry_init(&reg);
    hn_registry_init(&reg_moe);
    const hn_layer_plugin *ps[] = {&fake_attention, &fake_mamba2, &fake_swiglu};
    for (int i = 0; i < 3; i++)
        if (hn_registry_add(&reg, ps[i], "test", &err) || hn_registry_add(&reg_moe, ps[i], "test", &err)) {
            fprintf(stderr, "registry: %s\n", err.msg);
            return -1;
        }
    if (hn_registry_add(&reg_moe, &fake_moe, "test", &err)) return -1;
    if (hn_registry_add_chunker(&reg, &fake_entropy, "test", &err)) return -1;
    return 0;
}

static int teardown(void **state) {
    hn_registry_close(&reg);
    hn_registry_close(&reg_moe);
    return 0;
}

/* ---------- helpers */

/* The line of the fixture marked "--!". */
static int marked_line(const char *path) {
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char buf[1024];
    int line = 0, found = 0;
    while (fgets(buf, sizeof buf, f)) {
        line++;
        if (strstr(buf, "--!")) {
            found = line;
            break;
        }
    }
    fclose(f);
    assert_true(found > 0);
    return found;
}

static void assert_contains(const char *msg, const char *part) {
    if (!strstr(msg, part)) fail_msg("message\n  %s\nlacks\n  %s", msg, part);
}

/* Loads file (expecting failure) and checks the message names FILE:LINE of the marked
 * line, then every further fragment. */
static void expect_error_in(const char *file, const char *marked, const hn_registry *r, int unsafe,
                            int suite, ...) {
    hn_lua_options opts = {.allow_unsafe = unsafe};
    hn_error err = {{0}};
    cJSON *out = NULL;
    int rc = suite ? hn_suite_load(file, &opts, r, &out, &err)
                   : hn_experiment_load(file, &opts, r, &out, &err);
    if (rc == HN_OK) {
        char *s = cJSON_Print(out);
        fail_msg("%s loaded, but should fail:\n%s", file, s);
    }
    assert_null(out);
    print_message("%s\n", err.msg);
    char where[1200];
    snprintf(where, sizeof where, "%s:%d: ", marked, marked_line(marked));
    assert_contains(err.msg, where);
    va_list ap;
    va_start(ap, suite);
    for (const char *part; (part = va_arg(ap, const char *));) assert_contains(err.msg, part);
    va_end(ap);
}

#define EXPECT_ERROR(file, ...) expect_error_in(FIX file, FIX file, &reg, 0, 0, __VA_ARGS__, NULL)

static cJSON *load_ok(const char *file, const hn_registry *r, int unsafe) {
    hn_lua_options opts = {.allow_unsafe = unsafe};
    hn_error err = {{0}};
    cJSON *out = NULL;
    if (hn_experiment_load(file, &opts, r, &out, &err)) fail_msg("%s: %s", file, err.msg);
    assert_non_null(out);
    return out;
}

static const cJSON *at(const cJSON *j, const char *path) {
    /* "model.layers.attention[2].window" */
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *cur = j;
    for (char *tok = strtok(buf, "."); tok && cur; tok = strtok(NULL, ".")) {
        char *br = strchr(tok, '[');
        if (br) *br = 0;
        if (*tok) cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
        while (br && cur) {
            cur = cJSON_GetArrayItem(cur, atoi(br + 1));
            br = strchr(br + 1, '[');
        }
    }
    if (!cur) fail_msg("no %s in the resolved config", path);
    return cur;
}

static double num(const cJSON *j, const char *path) {
    const cJSON *v = at(j, path);
    if (!cJSON_IsNumber(v)) fail_msg("%s is not a number", path);
    return v->valuedouble;
}

static const char *str(const cJSON *j, const char *path) {
    const cJSON *v = at(j, path);
    if (!cJSON_IsString(v)) fail_msg("%s is not a string", path);
    return v->valuestring;
}

/* ---------- good files */

static void test_isotropic_defaults(void **state) {
    cJSON *e = load_ok(FIX "good_iso.lua", &reg, 0);
    assert_string_equal(e->child->string, "name"); /* keys keep the documented order */
    assert_string_equal(str(e, "name"), "good_iso");
    char abs[PATH_MAX];
    assert_non_null(realpath(FIX "good_iso.lua", abs));
    assert_string_equal(str(e, "file"), abs);
    assert_int_equal(num(e, "seed"), 1);
    assert_string_equal(str(e, "backend"), "cpu");
    assert_string_equal(str(e, "data.source"), "synthetic");
    assert_int_equal(num(e, "data.bytes"), 100000);
    assert_int_equal(num(e, "data.seed"), 1);
    assert_int_equal(num(e, "data.seq_len"), 64);
    assert_string_equal(str(e, "model.kind"), "isotropic");
    assert_string_equal(str(e, "model.layout[0]"), "T2");
    assert_int_equal(cJSON_GetArraySize(at(e, "model.layout")), 1);
    assert_int_equal(num(e, "model.stages"), 1);
    assert_int_equal(num(e, "model.d[0]"), 64);
    assert_string_equal(str(e, "model.mlp[0].plugin"), "swiglu");
    assert_int_equal(num(e, "model.mlp[0].hidden"), 192); /* 3 * d */
    assert_int_equal(num(e, "model.layers.attention[0].heads"), 8);
    assert_string_equal(str(e, "model.layers.attention[0].window"), "global");
    assert_null(cJSON_GetObjectItem(at(e, "model.layers"), "mamba2")); /* no m/M letters */
    assert_true(cJSON_IsNull(at(e, "model.chunker")));
    assert_int_equal(num(e, "model.vocab"), 256);
    assert_float_equal(num(e, "model.norm_eps"), 1e-5, 1e-12);
    assert_int_equal(num(e, "train.steps"), 20);
    assert_float_equal(num(e, "train.lr"), 2e-3, 1e-12);
    assert_int_equal(num(e, "train.batch"), 8);
    assert_float_equal(num(e, "train.beta1"), 0.9, 1e-12);
    assert_float_equal(num(e, "train.beta2"), 0.95, 1e-12);
    assert_float_equal(num(e, "train.eps"), 1e-8, 1e-15);
    assert_float_equal(num(e, "train.weight_decay"), 0.1, 1e-12);
    assert_float_equal(num(e, "train.grad_clip"), 1.0, 1e-12);
    assert_int_equal(num(e, "train.zero"), 0); /* ZeRO-1 off unless asked */
    assert_string_equal(str(e, "train.schedule.kind"), "wsd");
    assert_float_equal(num(e, "train.schedule.warmup"), 0.1, 1e-12);
    assert_float_equal(num(e, "train.schedule.decay"), 0.2, 1e-12);
    assert_string_equal(str(e, "train.schedule.decay_shape"), "inv_sqrt");
    assert_int_equal(num(e, "train.schedule.min_lr"), 0);
    assert_string_equal(str(e, "train.lr_multipliers"), "auto");
    assert_int_equal(num(e, "eval.every"), 50);
    assert_int_equal(num(e, "eval.bytes"), 65536);
    assert_int_equal(num(e, "eval.batch"), 8);
    assert_int_equal(num(e, "log.every"), 10);
    assert_string_equal(str(e, "log.db"), "results/results.db");
    cJSON_Delete(e);
}

static void test_hnet_resolves(void **state) {
    cJSON *e = load_ok(FIX "good_hnet.lua", &reg, 0);
    assert_string_equal(str(e, "name"), "hnet-2stage-S");
    assert_int_equal(num(e, "seed"), 7);
    assert_string_equal(str(e, "data.source"), "file");
    const char *path = str(e, "data.path"), *fixture = "/tests/fixtures/shakespeare-400k.txt";
    assert_true(strlen(path) > strlen(fixture));
    assert_string_equal(path + strlen(path) - strlen(fixture), fixture); /* made absolute */
    assert_int_equal(num(e, "data.seq_len"), 1024);
    assert_string_equal(str(e, "model.kind"), "hnet");
    assert_int_equal(num(e, "model.stages"), 3);
    /* the layout as given */
    assert_string_equal(str(e, "model.layout[0]"), "m4");
    assert_string_equal(str(e, "model.layout[1][0]"), "T1m4");
    assert_string_equal(str(e, "model.layout[1][1][0]"), "T8");
    assert_string_equal(str(e, "model.layout[1][2]"), "m4T1");
    assert_string_equal(str(e, "model.layout[2]"), "m4");
    assert_int_equal(num(e, "model.d[2]"), 768);
    assert_true(cJSON_IsNull(at(e, "model.mlp[0]")));
    assert_int_equal(num(e, "model.mlp[1].hidden"), 1536);
    assert_int_equal(num(e, "model.mlp[2].hidden"), 2048);
    /* per-stage plugin settings: lists and scalars expanded to one table per stage */
    assert_int_equal(cJSON_GetArraySize(at(e, "model.layers.attention")), 3);
    assert_int_equal(num(e, "model.layers.attention[0].window"), 1023);
    assert_string_equal(str(e, "model.layers.attention[2].window"), "global");
    assert_int_equal(num(e, "model.layers.attention[2].heads"), 12);
    assert_int_equal(num(e, "model.layers.mamba2[1].headdim"), 32);
    assert_int_equal(num(e, "model.layers.mamba2[2].d_state"), 64);
    assert_string_equal(str(e, "model.chunker.kind"), "dc");
    assert_int_equal(cJSON_GetArraySize(at(e, "model.chunker.ratio")), 2);
    assert_int_equal(num(e, "model.chunker.ratio[1]"), 3);
    assert_float_equal(num(e, "model.chunker.alpha"), 0.03, 1e-12);
    assert_string_equal(str(e, "model.chunker.routing"), "cosine");
    assert_true(cJSON_IsTrue(at(e, "model.chunker.smoothing")));
    assert_string_equal(str(e, "model.chunker.downsample"), "select");
    assert_float_equal(num(e, "train.lr_multipliers[1]"), 1.5, 1e-12);
    assert_int_equal(num(e, "eval.bytes"), 1000000);
    /* integral numbers print as integers */
    char *s = cJSON_PrintUnformatted(e);
    assert_non_null(strstr(s, "\"bytes\":1000000"));
    free(s);
    cJSON_Delete(e);
}

static void test_json_is_deterministic(void **state) {
    /* the same config (and hash) however the path is written: "file" is absolute */
    char abs[PATH_MAX];
    assert_non_null(realpath(FIX "good_hnet.lua", abs));
    cJSON *a = load_ok("./" FIX "good_hnet.lua", &reg, 0);
    cJSON *b = load_ok(abs, &reg, 0);
    assert_string_equal(str(a, "file"), abs);
    char *sa = cJSON_PrintUnformatted(a), *sb = cJSON_PrintUnformatted(b);
    assert_string_equal(sa, sb);
    assert_true(strncmp(sa, "{\"name\":\"hnet-2stage-S\",\"file\":", 30) == 0);
    free(sa);
    free(sb);
    cJSON_Delete(a);
    cJSON_Delete(b);
}

static void test_model_variants(void **state) {
    hn_error err = {{0}};
    cJSON *runs = NULL;
    if (hn_suite_load(FIX "good_variants.lua", NULL, &reg, &runs, &err)) fail_msg("%s", err.msg);
    assert_int_equal(cJSON_GetArraySize(runs), 3);
    const cJSON *sb = cJSON_GetArrayItem(runs, 0), *pool = cJSON_GetArrayItem(runs, 1),
                *mamba = cJSON_GetArrayItem(runs, 2);
    assert_string_equal(str(sb, "suite"), "variants");
    assert_string_equal(str(sb, "model.kind"), "spacebyte");
    assert_string_equal(str(sb, "model.chunker.kind"), "space");
    assert_int_equal(num(sb, "model.d[1]"), 128);
    assert_string_equal(str(pool, "model.chunker.kind"), "pool");
    assert_int_equal(num(pool, "model.chunker.k[0]"), 4);
    assert_string_equal(str(pool, "model.chunker.downsample"), "mean");
    assert_int_equal(num(pool, "model.d[1]"), 64); /* a scalar d: every stage */
    assert_string_equal(str(mamba, "model.layout[0]"), "m4");
    assert_true(cJSON_IsNull(at(mamba, "model.mlp[0]"))); /* no MLP letters: no MLP */
    assert_int_equal(num(mamba, "model.layers.mamba2[0].d_state"), 16);
    assert_null(cJSON_GetObjectItem(at(mamba, "model.layers"), "attention"));
    cJSON_Delete(runs);
}

/* chunker{ plugin = NAME }: any loaded chunker, its declared settings checked and filled */
static void test_generic_chunker(void **state) {
    cJSON *e = load_ok(FIX "good_chunker.lua", &reg, 0);
    assert_string_equal(str(e, "model.chunker.kind"), "entropy");
    assert_float_equal(num(e, "model.chunker.threshold"), 1.5, 1e-12);
    assert_string_equal(str(e, "model.chunker.downsample"), "mean");
    assert_null(cJSON_GetObjectItem(at(e, "model.chunker"), "plugin"));
    cJSON_Delete(e);
    EXPECT_ERROR("bad_chunker_name.lua", "chunker.plugin: ",
                 "no chunker plugin named \"nope\" is loaded (loaded: entropy");
}

static void test_moe(void **state) {
    cJSON *e = load_ok(FIX "bad_moe.lua", &reg_moe, 0);
    assert_string_equal(str(e, "model.mlp[0].plugin"), "moe");
    assert_int_equal(num(e, "model.mlp[0].experts"), 4);
    assert_int_equal(num(e, "model.mlp[0].top_k"), 2); /* the plugin's default */
    cJSON_Delete(e);
    expect_error_in(FIX "bad_moe.lua", FIX "bad_moe.lua", &reg, 0, 0, "moe needs the moe plugin", NULL);
}

/* ---------- each kind of mistake */

static void test_unknown_key_top(void **state) {
    EXPECT_ERROR("bad_unknown_top.lua", "unknown key 'nmae'", "(did you mean 'name'?)");
}

static void test_unknown_key_nested(void **state) {
    EXPECT_ERROR("bad_unknown_nested.lua", "train: unknown key 'lrr'", "(did you mean 'lr'?)");
}

static void test_wrong_type(void **state) {
    EXPECT_ERROR("bad_type.lua", "train.lr: expected a number > 0", "found string \"fast\"");
}

/* ZeRO-1 is off or on: any other value names what it takes */
static void test_zero_takes_0_or_1(void **state) {
    EXPECT_ERROR("bad_zero.lua", "train.zero: expected 0 (each rank keeps the whole optimizer state) "
                                 "or 1 (ZeRO-1: each rank keeps its shard)", "found number 2");
}

static void test_layout_syntax(void **state) {
    EXPECT_ERROR("bad_layout_syntax.lua", "isotropic.layout: bad layout string \"T4x\"",
                 "like \"T4\" or \"m4T1\"");
}

static void test_unknown_letter(void **state) {
    EXPECT_ERROR("bad_letter.lua", "isotropic.layout: unknown layer letter 'Q' in \"T2Q4\"",
                 "known letters: M (mamba2 + MLP), T (attention + MLP), m (mamba2), t (attention)");
}

static void test_unbalanced_nesting(void **state) {
    EXPECT_ERROR("bad_nesting.lua", "hnet.layout[2]: expected a list of 3", "found a list of 2");
}

static void test_width_count(void **state) {
    EXPECT_ERROR("bad_widths.lua", "hnet.d: expected 3 entries", "found a list of 2");
}

static void test_plugin_setting_type(void **state) {
    EXPECT_ERROR("bad_window.lua", "hnet.attention.window[2]: expected a window size",
                 "found number -1");
}

static void test_mlp_zero_with_mlp_letter(void **state) {
    EXPECT_ERROR("bad_mlp_zero.lua", "isotropic.mlp: stage 1 uses 'T'", "its mlp is 0");
}

static void test_missing_corpus(void **state) {
    EXPECT_ERROR("bad_corpus.lua", "corpus.file: ", "no/such/corpus.txt");
}

/* ---------- token-level data (data.tokenizer) */

static void test_tokens_resolve(void **state) {
    cJSON *e = load_ok(FIX "good_tokens.lua", &reg, 0);
    assert_string_equal(str(e, "data.tokenizer.format"), "gpt2");
    assert_true(str(e, "data.tokenizer.vocab")[0] == '/'); /* absolute, as corpus files */
    assert_non_null(strstr(str(e, "data.tokenizer.merges"), "tests/unit/fixtures/tokenizer/merges.txt"));
    assert_int_equal((int)num(e, "data.seq_len"), 64); /* bytes per sequence, as for byte models */
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "data"), "seq_tokens"));
    assert_int_equal((int)num(e, "model.vocab"), 268); /* the tokenizer's size */
    assert_int_equal(strlen(str(e, "data.tokenizer.sha256")), 64); /* its files' content */
    cJSON_Delete(e);
}

static void test_tokens_with(void **state) {
    hn_lua_options opts = {0};
    hn_error err = {{0}};
    cJSON *s = NULL;
    if (hn_suite_load(FIX "good_tokens_with.lua", &opts, &reg, &s, &err)) fail_msg("%s", err.msg);
    const cJSON *runs = s; /* the resolved experiments */
    assert_int_equal((int)num(cJSON_GetArrayItem(runs, 0), "model.vocab"), 256);
    assert_null(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(runs, 0), "data"), "tokenizer"));
    assert_int_equal((int)num(cJSON_GetArrayItem(runs, 1), "model.vocab"), 279);
    assert_int_equal((int)num(cJSON_GetArrayItem(runs, 1), "data.seq_tokens"), 20);
    assert_string_equal(str(cJSON_GetArrayItem(runs, 1), "data.tokenizer.format"), "tiktoken");
    assert_int_equal((int)num(cJSON_GetArrayItem(runs, 2), "model.vocab"), 320);
    assert_int_equal((int)num(cJSON_GetArrayItem(runs, 3), "model.vocab"), 256); /* bytes again */
    cJSON_Delete(s);
}

static void test_token_errors(void **state) {
    EXPECT_ERROR("bad_tokenizer_missing.lua", "corpus.tokenizer: vocab file ", "no/such/vocab.json: No such file");
    EXPECT_ERROR("bad_tokenizer_malformed.lua", "corpus.tokenizer: ", "tests/fixtures/tokenizers/README.md",
                 "not a JSON object");
    EXPECT_ERROR("bad_tokenizer_format.lua", "corpus.tokenizer.format: expected one of \"gpt2\", "
                 "\"tiktoken\", \"sentencepiece\", found string \"gpt3\" (did you mean \"gpt2\"?)");
    EXPECT_ERROR("bad_tokenizer_key.lua", "corpus.tokenizer: unknown key 'vocab'", "known keys: file, format");
    EXPECT_ERROR("bad_seq_tokens.lua", "corpus.seq_tokens: tokens per sequence need a tokenizer");
    EXPECT_ERROR("bad_token_vocab.lua", "model.vocab: expected at least the tokenizer's 268 tokens",
                 "found 256");
    EXPECT_ERROR("bad_token_space.lua", "model.chunker: space{}", "use dc{} or pool{} over tokens");
    EXPECT_ERROR("bad_token_entropy.lua", "model.chunker: the entropy chunker's model is a byte LM",
                 "use dc{} or pool{} over tokens");
}

static void test_lua_syntax_error(void **state) {
    EXPECT_ERROR("bad_syntax.lua", "unexpected symbol");
}

static void test_lua_runtime_error(void **state) {
    EXPECT_ERROR("bad_runtime.lua", "attempt to perform arithmetic on a nil value");
}

static void test_not_an_experiment(void **state) {
    EXPECT_ERROR("bad_return.lua", "must return an experiment", "found number 42");
}

/* the line survives a call to a function of the file made on the same line */
static void test_line_after_call(void **state) {
    EXPECT_ERROR("bad_oneline.lua", "seed: expected an integer", "found string \"one\"");
}

static void test_duplicate_run_names(void **state) {
    expect_error_in(FIX "bad_suite_dup.lua", FIX "bad_suite_dup.lua", &reg, 0, 1,
                    "runs[2]: duplicate run name \"a\"", NULL);
}

/* ---------- sandbox */

static void test_sandbox_blocks(void **state) {
    EXPECT_ERROR("unsafe_execute.lua", "os.execute is disabled", "--unsafe-lua");
    EXPECT_ERROR("unsafe_popen.lua", "io.popen is disabled", "--unsafe-lua");
    EXPECT_ERROR("unsafe_loadlib.lua", "package.loadlib is disabled", "--unsafe-lua");
}

static void test_unsafe_allows(void **state) {
    cJSON *e = load_ok(FIX "unsafe_execute.lua", &reg, 1);
    cJSON_Delete(e);
    e = load_ok(FIX "unsafe_popen.lua", &reg, 1);
    assert_string_equal(str(e, "name"), "popen-ok");
    cJSON_Delete(e);
}

/* ---------- require and :with */

#define PAPER FIX "experiments/paper/"

static void test_suite_with_require(void **state) {
    hn_error err = {{0}};
    cJSON *runs = NULL;
    if (hn_suite_load(PAPER "ablations.lua", NULL, &reg, &runs, &err)) fail_msg("%s", err.msg);
    assert_int_equal(cJSON_GetArraySize(runs), 4);
    const cJSON *r0 = cJSON_GetArrayItem(runs, 0), *r1 = cJSON_GetArrayItem(runs, 1),
                *r2 = cJSON_GetArrayItem(runs, 2), *r3 = cJSON_GetArrayItem(runs, 3);
    assert_string_equal(str(r0, "name"), "hnet_base-smoothing");
    assert_string_equal(str(r0, "suite"), "figure7");
    char abs[PATH_MAX];
    assert_non_null(realpath(PAPER "ablations.lua", abs));
    assert_string_equal(str(r0, "file"), abs);
    assert_true(cJSON_IsFalse(at(r0, "model.chunker.smoothing")));
    assert_true(cJSON_IsTrue(at(r0, "model.chunker.ste")));
    assert_int_equal(num(r0, "model.chunker.ratio[0]"), 3); /* the rest of dc{} is kept */
    assert_string_equal(str(r1, "model.chunker.routing"), "linear");
    assert_true(cJSON_IsTrue(at(r1, "model.chunker.smoothing")));
    assert_true(cJSON_IsFalse(at(r2, "model.chunker.ste")));
    /* untouched keys keep the base's values */
    assert_int_equal(num(r1, "train.steps"), 50);
    assert_float_equal(num(r1, "train.schedule.warmup"), 0.05, 1e-12);
    assert_int_equal(num(r1, "data.bytes"), 200000);
    assert_int_equal(num(r1, "model.layers.attention[1].heads"), 4);
    /* a list replaces; the name is inherited when not overridden */
    assert_string_equal(str(r3, "name"), "hnet_base");
    assert_int_equal(num(r3, "seed"), 2);
    assert_int_equal(num(r3, "model.d[2]"), 128);
    cJSON_Delete(runs);

    /* a suite is not one experiment */
    expect_error_in(PAPER "ablations.lua", PAPER "ablations.lua", &reg, 0, 0,
                    "returns a suite of 4 runs", "hnet suite", NULL);
    /* a single experiment is a suite of one */
    if (hn_suite_load(PAPER "hnet_base.lua", NULL, &reg, &runs, &err)) fail_msg("%s", err.msg);
    assert_int_equal(cJSON_GetArraySize(runs), 1);
    assert_string_equal(str(cJSON_GetArrayItem(runs, 0), "name"), "hnet_base");
    cJSON_Delete(runs);
}

static void test_with_error_at_with_call(void **state) {
    expect_error_in(PAPER "bad_with.lua", PAPER "bad_with.lua", &reg, 0, 0,
                    "model.chunker: unknown key 'smothing'", "(did you mean 'smoothing'?)", NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_isotropic_defaults),
        cmocka_unit_test(test_hnet_resolves),
        cmocka_unit_test(test_json_is_deterministic),
        cmocka_unit_test(test_model_variants),
        cmocka_unit_test(test_generic_chunker),
        cmocka_unit_test(test_moe),
        cmocka_unit_test(test_unknown_key_top),
        cmocka_unit_test(test_unknown_key_nested),
        cmocka_unit_test(test_wrong_type),
        cmocka_unit_test(test_zero_takes_0_or_1),
        cmocka_unit_test(test_layout_syntax),
        cmocka_unit_test(test_unknown_letter),
        cmocka_unit_test(test_unbalanced_nesting),
        cmocka_unit_test(test_width_count),
        cmocka_unit_test(test_plugin_setting_type),
        cmocka_unit_test(test_mlp_zero_with_mlp_letter),
        cmocka_unit_test(test_missing_corpus),
        cmocka_unit_test(test_tokens_resolve),
        cmocka_unit_test(test_tokens_with),
        cmocka_unit_test(test_token_errors),
        cmocka_unit_test(test_lua_syntax_error),
        cmocka_unit_test(test_lua_runtime_error),
        cmocka_unit_test(test_not_an_experiment),
        cmocka_unit_test(test_line_after_call),
        cmocka_unit_test(test_duplicate_run_names),
        cmocka_unit_test(test_sandbox_blocks),
        cmocka_unit_test(test_unsafe_allows),
        cmocka_unit_test(test_suite_with_require),
        cmocka_unit_test(test_with_error_at_with_call),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
