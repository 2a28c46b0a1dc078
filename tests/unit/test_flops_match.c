/* FLOP matching of suite runs: the FLOPs/byte estimate equals the FLOPs the model counts
 * in a real forward pass wherever the chunk lengths are known in advance (isotropic,
 * pool{k}), and the matched depth is the best whole number of layers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "core/rng.h"
#include "data/corpus.h"
#include "data/tokenizer.h"
#include "lua/experiment.h"
#include "model/model.h"
#include "suite/flops_match.h"
#include "support/fixtures.h"

static hn_registry reg;
static char dir[256];

static int setup(void **state) {
    if (registry_open(&reg)) return -1;
    snprintf(dir, sizeof dir, "/tmp/hn_test_flops_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
    hn_registry_close(&reg);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static const char *SUITE =
    "local data = corpus { synthetic = { seed = 1, bytes = 1e5 }, seq_len = 64 }\n"
    "local att = { heads = 2, rotary_dim = 8 }\n"
    "local function e(name, model, extra)\n"
    "  local t = { name = name, data = data, model = model }\n"
    "  for k, v in pairs(extra or {}) do t[k] = v end\n"
    "  return experiment(t)\n"
    "end\n"
    "return suite { name = 'f', runs = {\n"
    "  e('iso', isotropic { layout = 'T6', d = 48, mlp = 96, attention = att }),\n"
    "  e('pool', hnet { layout = { 'T1', { 'T2' }, 'T1' }, d = { 32, 48 }, chunker = pool { k = 4 },\n"
    "                   attention = att }),\n"
    "  e('pool-matched', hnet { layout = { 'T1', { 'T1t3' }, 'T1' }, d = { 32, 64 },\n"
    "                   chunker = pool { k = 4 }, attention = att }, { match_flops = 'iso' }),\n"
    "  e('iso-matched', isotropic { layout = 'T1', d = 32, mlp = 64, attention = att },\n"
    "    { match_flops = 'pool' }),\n"
    "} }\n";

static cJSON *load_suite(void) {
    char path[300];
    snprintf(path, sizeof path, "%s/s.lua", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(SUITE, f);
    fclose(f);
    cJSON *runs = NULL;
    hn_error err;
    if (hn_suite_load(path, NULL, &reg, &runs, &err)) fail_msg("%s", err.msg);
    return runs;
}

/* FLOPs/byte the model itself counts in a forward pass over one sequence of seq_len. */
static double realised(const cJSON *cfg) {
    hn_model m;
    memset(&m, 0, sizeof m);
    hn_error err;
    assert_int_equal(hn_model_build(&m, cJSON_GetObjectItem(cfg, "model"), &reg, hn_backend_get("cpu"), 1, &err), HN_OK);
    int L = cJSON_GetObjectItem(cJSON_GetObjectItem(cfg, "data"), "seq_len")->valueint;
    int32_t *tok = malloc((size_t)L * sizeof *tok), *tgt = malloc((size_t)L * sizeof *tgt);
    hn_rng rng;
    hn_rng_seed(&rng, 3);
    for (int i = 0; i < L; i++) tok[i] = (int32_t)(hn_rng_u64(&rng) % 256), tgt[i] = (int32_t)(hn_rng_u64(&rng) % 256);
    hn_loss loss;
    assert_int_equal(hn_model_forward(&m, tok, tgt, 1, L, &loss, &err), HN_OK);
    double f = hn_model_flops_per_byte(&m);
    hn_model_free(&m);
    free(tok);
    free(tgt);
    return f;
}

static double estimate(const cJSON *cfg) {
    double f;
    hn_error err;
    if (hn_flops_per_byte_estimate(cfg, &reg, &f, &err)) fail_msg("%s", err.msg);
    return f;
}

static void test_estimate_equals_forward(void **state) {
    cJSON *runs = load_suite();
    for (int i = 0; i < 2; i++) { /* iso, pool */
        const cJSON *cfg = cJSON_GetArrayItem(runs, i);
        double e = estimate(cfg), r = realised(cfg);
        assert_true(e > 0);
        if (fabs(e - r) > 1e-9 * r) fail_msg("run %d: estimate %.6g, forward %.6g", i, e, r);
    }
    /* and the estimate sees the layout: a deeper model costs more */
    assert_true(estimate(cJSON_GetArrayItem(runs, 0)) > estimate(cJSON_GetArrayItem(runs, 3)));
    cJSON_Delete(runs);
}

static const char *innermost(const cJSON *cfg) {
    const cJSON *l = cJSON_GetObjectItem(cJSON_GetObjectItem(cfg, "model"), "layout");
    while (cJSON_IsArray(l)) l = cJSON_GetArrayItem(l, cJSON_GetArraySize(l) == 3 ? 1 : 0);
    return l->valuestring;
}

/* The estimate with the last layer group of the innermost layout at count c. */
static double estimate_at(const cJSON *cfg, long c) {
    cJSON *copy = cJSON_Duplicate(cfg, 1);
    cJSON *l = cJSON_GetObjectItem(cJSON_GetObjectItem(copy, "model"), "layout");
    while (cJSON_IsArray(l)) l = cJSON_GetArrayItem(l, cJSON_GetArraySize(l) == 3 ? 1 : 0);
    char buf[64];
    size_t p = strlen(l->valuestring);
    while (p > 0 && l->valuestring[p - 1] >= '0' && l->valuestring[p - 1] <= '9') p--;
    snprintf(buf, sizeof buf, "%.*s%ld", (int)p, l->valuestring, c);
    cJSON_SetValuestring(l, buf);
    double f = estimate(copy);
    cJSON_Delete(copy);
    return f;
}

static void test_matched_depth_is_best(void **state) {
    cJSON *runs = load_suite();
    hn_error err;
    char *log = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&log, &len);
    assert_int_equal(hn_suite_match_flops(runs, &reg, f, &err), HN_OK);
    fclose(f);
    assert_non_null(strstr(log, "flops-matched pool-matched to iso"));
    assert_non_null(strstr(log, "flops-matched iso-matched to pool"));
    free(log);
    const char *names[2][2] = {{"pool-matched", "iso"}, {"iso-matched", "pool"}};
    for (int k = 0; k < 2; k++) {
        const cJSON *cfg = cJSON_GetArrayItem(runs, 2 + k), *ref = cJSON_GetArrayItem(runs, k == 0 ? 0 : 1);
        assert_string_equal(cJSON_GetObjectItem(cfg, "name")->valuestring, names[k][0]);
        double target = estimate(ref);
        const char *s = innermost(cfg);
        size_t p = strlen(s);
        while (p > 0 && s[p - 1] >= '0' && s[p - 1] <= '9') p--;
        long c = strtol(s + p, NULL, 10);
        /* only the count of the last group changes ("T1t3" -> "T1tN", "T1" -> "TN") */
        assert_true(k == 0 ? p == 3 && strncmp(s, "T1t", 3) == 0 : p == 1 && s[0] == 'T');
        assert_true(k == 0 ? c != 3 : c != 1); /* the depths as written were far off */
        double here = estimate_at(cfg, c);
        assert_true(fabs(here - estimate(cfg)) < 1e-9 * here);
        assert_true(fabs(here - target) <= fabs(estimate_at(cfg, c + 1) - target));
        if (c > 1) assert_true(fabs(here - target) <= fabs(estimate_at(cfg, c - 1) - target));
        assert_true(fabs(here - target) < 0.25 * target); /* one layer is a small step here */
    }
    /* the unmatched runs keep their layouts */
    assert_string_equal(innermost(cJSON_GetArrayItem(runs, 0)), "T6");
    assert_string_equal(innermost(cJSON_GetArrayItem(runs, 1)), "T2");
    cJSON_Delete(runs);
}

/* A model over tokens: FLOPs per token at its sequence length in tokens, times tokens per
 * byte as realised on the train split; a byte-level run matched to it. */
static const char *TOKEN_SUITE =
    "local bytes = corpus { file = 'tests/fixtures/shakespeare-400k.txt', seq_len = 128 }\n"
    "local tokens = bytes:with { tokenizer = { format = 'sentencepiece',\n"
    "  model = 'tests/fixtures/tokenizers/shakespeare_bpe1k.model' } }\n"
    "local att = { heads = 2, rotary_dim = 8 }\n"
    "return suite { name = 't', runs = {\n"
    "  experiment { name = 'bpe', data = tokens,\n"
    "               model = isotropic { layout = 'T3', d = 32, mlp = 64, attention = att } },\n"
    "  experiment { name = 'bytes', data = bytes, match_flops = 'bpe',\n"
    "               model = isotropic { layout = 'T1', d = 32, mlp = 64, attention = att } },\n"
    "} }\n";

static void test_token_model_per_byte(void **state) {
    char path[300];
    snprintf(path, sizeof path, "%s/t.lua", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(TOKEN_SUITE, f);
    fclose(f);
    cJSON *runs = NULL;
    hn_error err;
    if (hn_suite_load(path, NULL, &reg, &runs, &err)) fail_msg("%s", err.msg);
    cJSON *bpe = cJSON_GetArrayItem(runs, 0);
    const cJSON *data = cJSON_GetObjectItem(bpe, "data");

    /* bytes per token of the train split, worked out here */
    hn_corpus c;
    hn_tokenizer *t;
    if (hn_corpus_load(data, &c, &err) || hn_tokenizer_load(cJSON_GetObjectItem(data, "tokenizer"), &t, &err))
        fail_msg("%s", err.msg);
    int32_t *ids;
    size_t n;
    if (hn_tokenizer_encode(t, c.bytes, c.split, &ids, &n, &err)) fail_msg("%s", err.msg);
    double bytes_per_token = (double)c.split / (double)n;
    int seq_tokens = (int)lround(128 / bytes_per_token);
    assert_true(bytes_per_token > 2 && bytes_per_token < 3); /* a 1K-piece BPE of English */

    /* the model's own count over a forward of seq_tokens tokens */
    hn_model m;
    memset(&m, 0, sizeof m);
    assert_int_equal(hn_model_build(&m, cJSON_GetObjectItem(bpe, "model"), &reg, hn_backend_get("cpu"), 1, &err), HN_OK);
    assert_int_equal(m.vocab, (int)hn_tokenizer_vocab_size(t));
    hn_loss loss;
    assert_int_equal(hn_model_forward(&m, ids, ids + 1, 1, seq_tokens, &loss, &err), HN_OK);
    double per_byte = hn_model_flops_per_byte(&m) / bytes_per_token; /* per token / bytes per token */
    double e = estimate(bpe);
    if (fabs(e - per_byte) > 1e-9 * per_byte) fail_msg("estimate %.6g, forward %.6g per byte", e, per_byte);

    /* a byte-level run matched to it */
    assert_int_equal(hn_suite_match_flops(runs, &reg, NULL, &err), HN_OK);
    const cJSON *byt = cJSON_GetArrayItem(runs, 1);
    long depth = strtol(innermost(byt) + 1, NULL, 10);
    assert_true(depth > 1);
    assert_true(fabs(estimate_at(byt, depth) - e) <= fabs(estimate_at(byt, depth + 1) - e));
    assert_true(fabs(estimate_at(byt, depth) - e) <= fabs(estimate_at(byt, depth - 1) - e));

    hn_model_free(&m);
    free(ids);
    hn_tokenizer_free(t);
    hn_corpus_free(&c);
    cJSON_Delete(runs);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_estimate_equals_forward),
        cmocka_unit_test(test_matched_depth_is_best),
        cmocka_unit_test(test_token_model_per_byte),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
