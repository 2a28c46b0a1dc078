/* FLOP matching of suite runs: estimate FLOPs/byte from a built model at target chunk
 * ratios, then pick the innermost depth whose estimate is closest to the reference. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/compare.h"
#include "backend/backend.h"
#include "data/token_corpus.h"
#include "model/model.h"
#include "suite/flops_match.h"

static double json_number_at(const cJSON *arr_or_num, int i, double dflt) {
    if (cJSON_IsNumber(arr_or_num)) return arr_or_num->valuedouble;
    if (cJSON_IsArray(arr_or_num)) {
        int n = cJSON_GetArraySize(arr_or_num);
        if (n == 0) return dflt;
        const cJSON *x = cJSON_GetArrayItem(arr_or_num, i < n ? i : n - 1);
        if (cJSON_IsNumber(x)) return x->valuedouble;
    }
    return dflt;
}

/* The target compression of one stage's chunker: dc ratio, pool k, space 6 (about one
 * word of English) unless the config gives a ratio. */
static double target_ratio(const hn_stage *st) {
    const cJSON *c = st->chunker_cfg;
    double r = json_number_at(cJSON_GetObjectItemCaseSensitive(c, "ratio"), 0, 0);
    if (r <= 0) r = json_number_at(cJSON_GetObjectItemCaseSensitive(c, "k"), 0, 0);
    if (r <= 0) r = st->ratio_target;
    return r > 0 ? r : 6.0;
}

static double stage_flops_at(const hn_stage *st, double len) {
    int32_t L = (int32_t)lround(len < 1 ? 1 : len);
    if (st->innermost) return hn_network_flops(&st->main, &L, 1);
    double f = hn_network_flops(&st->encoder, &L, 1) + hn_network_flops(&st->decoder, &L, 1);
    f += st->chunker->flops(st->chunker_self, L);
    f += 2.0 * L * st->d * st->d; /* residual projection */
    return f + stage_flops_at(st->inner, len / target_ratio(st));
}

int hn_flops_per_byte_estimate(const cJSON *config, const hn_registry *reg, double *out,
                               hn_error *err) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(config, "model");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(config, "data");
    const cJSON *sl = cJSON_GetObjectItemCaseSensitive(data, "seq_len");
    if (!cJSON_IsObject(model) || !cJSON_IsNumber(sl) || sl->valuedouble < 1)
        return hn_fail(err, "FLOPs estimate: the config has no model or data.seq_len");
    /* a token-level model: sequences of seq_tokens, each token standing for the train
     * split's bytes per token (data/token_corpus.h) */
    double L = sl->valuedouble, bytes_per_position = 1;
    if (hn_data_is_tokenized(data)) {
        int seq_tokens;
        if (hn_token_corpus_stats(data, &bytes_per_position, &seq_tokens, err)) return HN_ERR;
        L = seq_tokens;
    }
    const hn_backend *be = hn_backend_get("cpu");
    hn_model m;
    memset(&m, 0, sizeof m);
    if (hn_model_plan(&m, model, reg, be, err)) {
        hn_model_free(&m);
        return hn_fail_prefix(err, "building the model");
    }
    double f = stage_flops_at(&m.backbone, L) + 2.0 * 2.0 * L * (double)m.d * (double)m.vocab;
    hn_model_free(&m);
    *out = f / L / bytes_per_position;
    return HN_OK;
}

/* The innermost layout string of a layout (a string, {main}, or {enc, inner, dec}). */
static cJSON *innermost_layout(cJSON *layout) {
    if (cJSON_IsString(layout)) return layout;
    if (!cJSON_IsArray(layout)) return NULL;
    int n = cJSON_GetArraySize(layout);
    if (n == 1) return innermost_layout(cJSON_GetArrayItem(layout, 0));
    if (n == 3) return innermost_layout(cJSON_GetArrayItem(layout, 1));
    return NULL;
}

/* Splits "T1m4" into prefix "T1m" and the last count 4. */
static int last_group(const char *s, size_t *prefix_len, long *count) {
    size_t n = strlen(s), i = n;
    while (i > 0 && isdigit((unsigned char)s[i - 1])) i--;
    if (i == n || i == 0) return HN_ERR;
    *prefix_len = i;
    *count = strtol(s + i, NULL, 10);
    return HN_OK;
}

static int set_depth(cJSON *cfg, long count, hn_error *err) {
    cJSON *model = cJSON_GetObjectItemCaseSensitive(cfg, "model");
    cJSON *s = innermost_layout(cJSON_GetObjectItemCaseSensitive(model, "layout"));
    size_t p;
    long old;
    if (!s || last_group(s->valuestring, &p, &old))
        return hn_fail(err, "cannot find the innermost layout string (e.g. \"T8\") of the model");
    char buf[256];
    snprintf(buf, sizeof buf, "%.*s%ld", (int)p, s->valuestring, count);
    if (!cJSON_SetValuestring(s, buf)) return hn_fail(err, "out of memory");
    return HN_OK;
}

static const char *run_name(const cJSON *cfg) {
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(cfg, "name");
    return cJSON_IsString(n) ? n->valuestring : "?";
}

static cJSON *find_run(cJSON *runs, const char *name) {
    cJSON *r;
    cJSON_ArrayForEach(r, runs) if (!strcmp(run_name(r), name)) return r;
    return NULL;
}

static int estimate_at(cJSON *cfg, long count, const hn_registry *reg, double *f, hn_error *err) {
    return set_depth(cfg, count, err) || hn_flops_per_byte_estimate(cfg, reg, f, err) ? HN_ERR : HN_OK;
}

static int match_one(cJSON *cfg, double target, const hn_registry *reg, long *best_count,
                     double *best_f, hn_error *err) {
    cJSON *s = innermost_layout(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cfg, "model"), "layout"));
    size_t p;
    long c0;
    if (!s || last_group(s->valuestring, &p, &c0))
        return hn_fail(err, "cannot find the innermost layout string (e.g. \"T8\") of the model");
    /* FLOPs are affine in the count of one layer group: two estimates give the slope */
    double f0, f1;
    if (estimate_at(cfg, c0, reg, &f0, err) || estimate_at(cfg, c0 + 1, reg, &f1, err)) return HN_ERR;
    double per_layer = f1 - f0;
    if (per_layer <= 0) return hn_fail(err, "the innermost layers have no FLOPs to adjust");
    long guess = c0 + lround((target - f0) / per_layer);
    if (guess < 1) guess = 1;
    /* check the neighbours of the guess: rounding of lengths makes it not exactly affine */
    *best_count = -1;
    for (long c = guess - 1; c <= guess + 1; c++) {
        if (c < 1) continue;
        double f;
        if (estimate_at(cfg, c, reg, &f, err)) return HN_ERR;
        if (*best_count < 0 || fabs(f - target) < fabs(*best_f - target)) {
            *best_count = c;
            *best_f = f;
        }
    }
    return set_depth(cfg, *best_count, err);
}

int hn_suite_match_flops(cJSON *runs, const hn_registry *reg, FILE *log, hn_error *err) {
    cJSON *cfg;
    cJSON_ArrayForEach(cfg, runs) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(cfg, "match_flops");
        if (!m) continue;
        const char *name = run_name(cfg);
        if (!cJSON_IsString(m))
            return hn_fail(err, "run '%s': match_flops: expected the name of a run of the suite", name);
        cJSON *ref = find_run(runs, m->valuestring);
        if (!ref)
            return hn_fail(err, "run '%s': match_flops: no run named '%s' in this suite", name,
                           m->valuestring);
        if (ref == cfg) return hn_fail(err, "run '%s': match_flops names the run itself", name);
        if (cJSON_GetObjectItemCaseSensitive(ref, "match_flops"))
            return hn_fail(err, "run '%s': match_flops: reference '%s' is itself FLOP-matched; "
                                "name a run without match_flops", name, m->valuestring);
        double target, got = 0;
        long count = 0;
        if (hn_flops_per_byte_estimate(ref, reg, &target, err))
            return hn_fail_prefix(err, "run '%s' (FLOPs reference)", m->valuestring);
        if (match_one(cfg, target, reg, &count, &got, err))
            return hn_fail_prefix(err, "run '%s': match_flops", name);
        if (log) {
            char a[32], b[32];
            hn_si(a, sizeof a, got);
            hn_si(b, sizeof b, target);
            fprintf(log, "flops-matched %s to %s: innermost depth %ld, %s vs %s FLOPs/byte (%+.1f%%)\n",
                    name, m->valuestring, count, a, b, 100.0 * (got - target) / target);
        }
    }
    return HN_OK;
}

int hn_suite_prepare(cJSON *runs, const hn_registry *reg, FILE *log, hn_error *err) {
    /* "file" is already absolute (hn_suite_load) */
    return hn_suite_match_flops(runs, reg, log, err);
}
