/* The chunk plan on the device (hn_ops_chunk.plan, backend/ops_chunk.h) on the cpu
 * backend, against the plan the stage used to make on the host (old_host_plan below,
 * its code as it was): random p (with values of exactly 1/2), sequences of length 1,
 * all boundaries, no boundary but the first, fixed_every. And the stage's use of it:
 * a training forward of a 2-stage H-Net reads back one small buffer per stage and
 * nothing of the size of p. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend/cpu/chunk_ops.h"
#include "backend/cpu/cpu_ops.h"
#include "core/rng.h"
#include "model/model.h"
#include "plugin/registry.h"
#include "support/fixtures.h"

#define MAX_T 256
#define MAX_S 16

/* The host plan of stage.c before the plan op (hn_stage_forward and plan_chunks). */
typedef struct host_plan {
    int32_t b[MAX_T], chunk[MAX_T], idx[MAX_T], first[MAX_T], pos_in[MAX_T], bytes_in[MAX_T];
    int32_t offsets_in[MAX_S + 1];
    double sum_p;
    int K;
} host_plan;

static void old_host_plan(host_plan *h, const hn_seqs *seqs, const float *p,
                          const int32_t *bytes, int fixed_every) {
    int T = seqs->total;
    for (int t = 0; t < T; t++) h->b[t] = hn_chunk_boundary(p[t]);
    if (fixed_every > 0)
        for (int s = 0; s < seqs->n; s++)
            for (int t = seqs->offsets[s]; t < seqs->offsets[s + 1]; t++)
                h->b[t] = (t - seqs->offsets[s]) % fixed_every == 0;
    int K = 0;
    h->offsets_in[0] = 0;
    for (int s = 0; s < seqs->n; s++) {
        int start_k = K;
        for (int t = seqs->offsets[s]; t < seqs->offsets[s + 1]; t++) {
            if (h->b[t] || t == seqs->offsets[s]) {
                h->b[t] = 1;
                h->first[K] = K == start_k ? t : h->idx[K - 1] + 1;
                h->idx[K] = t;
                h->pos_in[K] = K - start_k;
                h->bytes_in[K] = bytes[t];
                K++;
            }
            h->chunk[t] = K - 1;
        }
        h->offsets_in[s + 1] = K;
    }
    h->K = K;
    h->sum_p = 0;
    for (int t = 0; t < T; t++) h->sum_p += p[t];
}

typedef enum { P_RANDOM, P_ALL, P_NONE, P_HALF } p_kind;

static void fill_p(float *p, int T, p_kind kind, hn_rng *r) {
    for (int t = 0; t < T; t++) {
        switch (kind) {
        case P_RANDOM: {
            uint64_t u = hn_rng_below(r, 5);
            p[t] = u == 0 ? 0.5f : (float)hn_rng_uniform(r); /* 1/2 is no boundary */
            break;
        }
        case P_ALL: p[t] = t % 2 ? 1.0f : 0.75f; break;
        case P_NONE: p[t] = t % 2 ? 0.0f : 0.25f; break;
        case P_HALF: p[t] = 0.5f; break;
        }
    }
}

/* The plan op against old_host_plan, every output entry for entry, sum_p to the bit. */
static void plan_case(const int *lens, int n, p_kind kind, int fixed_every, int with_bytes,
                      uint64_t seed) {
    int32_t offsets[MAX_S + 1] = {0};
    for (int s = 0; s < n; s++) offsets[s + 1] = offsets[s] + lens[s];
    int T = offsets[n];
    assert_true(T <= MAX_T && n <= MAX_S);
    hn_seqs seqs = {.n = n, .total = T, .offsets = offsets};
    hn_rng r;
    hn_rng_seed(&r, seed);
    float p[MAX_T];
    int32_t bytes[MAX_T];
    fill_p(p, T, kind, &r);
    for (int t = 0; t < T; t++) bytes[t] = (int32_t)hn_rng_below(&r, 256);

    host_plan want;
    old_host_plan(&want, &seqs, p, bytes, fixed_every);

    /* outputs start as garbage, so an entry the op forgets shows */
    host_plan got;
    memset(&got, 0x5a, sizeof got);
    hn_chunk_plan_params pp = {.seqs = &seqs, .p = p, .bytes = with_bytes ? bytes : NULL,
                               .fixed_every = fixed_every, .b = got.b, .chunk = got.chunk,
                               .idx = got.idx, .first = got.first, .pos_in = got.pos_in,
                               .bytes_in = got.bytes_in, .offsets_in = got.offsets_in,
                               .sum_p = &got.sum_p};
    const hn_ops_chunk *ck = hn_backend_cpu()->chunk;
    assert_non_null(ck->plan);
    assert_int_equal(ck->plan(&pp), 0);
    int K = got.offsets_in[n];
    assert_int_equal(K, want.K);
    assert_memory_equal(got.offsets_in, want.offsets_in, (size_t)(n + 1) * sizeof(int32_t));
    assert_memory_equal(got.b, want.b, (size_t)T * sizeof(int32_t));
    assert_memory_equal(got.chunk, want.chunk, (size_t)T * sizeof(int32_t));
    assert_memory_equal(got.idx, want.idx, (size_t)K * sizeof(int32_t));
    assert_memory_equal(got.first, want.first, (size_t)K * sizeof(int32_t));
    assert_memory_equal(got.pos_in, want.pos_in, (size_t)K * sizeof(int32_t));
    if (with_bytes) assert_memory_equal(got.bytes_in, want.bytes_in, (size_t)K * sizeof(int32_t));
    else assert_int_equal(got.bytes_in[0], 0x5a5a5a5a); /* left alone */
    assert_memory_equal(&got.sum_p, &want.sum_p, sizeof(double));
}

static const int LENS[] = {7, 1, 12, 1, 30, 2, 1};
#define NL 7

static void test_random_p(void **state) {
    for (uint64_t seed = 1; seed <= 20; seed++) plan_case(LENS, NL, P_RANDOM, 0, 1, seed);
    const int single[] = {1};
    plan_case(single, 1, P_RANDOM, 0, 1, 3);
}

static void test_all_boundaries(void **state) { plan_case(LENS, NL, P_ALL, 0, 1, 4); }

static void test_no_boundary_but_the_first(void **state) {
    plan_case(LENS, NL, P_NONE, 0, 1, 5);
    plan_case(LENS, NL, P_HALF, 0, 1, 6); /* p = 1/2 everywhere: no boundary either */
}

static void test_fixed_every(void **state) {
    for (int fe = 1; fe <= 4; fe++) {
        plan_case(LENS, NL, P_RANDOM, fe, 1, 7 + (uint64_t)fe);
        plan_case(LENS, NL, P_ALL, fe, 1, 11);
    }
}

static void test_without_bytes(void **state) { plan_case(LENS, NL, P_RANDOM, 0, 0, 12); }

static void test_refuses_missing_output(void **state) {
    int32_t offsets[2] = {0, 3}, b[3], chunk[3], idx[3], first[3], pos_in[3], offs_in[2];
    float p[3] = {1, 0.2f, 0.9f};
    double sum_p;
    hn_seqs seqs = {.n = 1, .total = 3, .offsets = offsets};
    hn_chunk_plan_params pp = {.seqs = &seqs, .p = p, .b = b, .chunk = chunk, .idx = idx,
                               .first = first, .pos_in = pos_in, .offsets_in = offs_in,
                               .sum_p = &sum_p};
    const hn_ops_chunk *ck = hn_backend_cpu()->chunk;
    assert_int_equal(ck->plan(&pp), 0);
    pp.sum_p = NULL;
    assert_int_equal(ck->plan(&pp), -1);
}

/* ---- the stage: what a training forward reads back ---- */

#define NSEQ 2
#define LEN 40

static hn_backend counting;
static int n_downloads;
static size_t download_sizes[64];

static void counting_download(void *dst, const void *src, size_t bytes) {
    if (n_downloads < 64) download_sizes[n_downloads] = bytes;
    n_downloads++;
    hn_backend_cpu()->download(dst, src, bytes);
}

static void test_training_forward_reads_back_one_small_buffer_per_stage(void **state) {
    hn_registry reg;
    assert_int_equal(registry_open(&reg), 0);
    counting = *hn_backend_cpu();
    counting.download = counting_download;
    const char *json =
        "{\"kind\":\"hnet\",\"vocab\":256,\"norm_eps\":1e-5,"
        "\"layout\":[\"T1\",[\"T1\",[\"T1\"],\"T1\"],\"T1\"],\"d\":[16,16,24],"
        "\"layers\":{\"attention\":{\"heads\":2,\"window\":\"global\",\"rotary_dim\":4}},"
        "\"chunker\":{\"plugin\":\"dc\",\"ratio\":[2,2]}}";
    cJSON *cfg = cJSON_Parse(json);
    assert_non_null(cfg);
    hn_model m;
    hn_error err;
    int rc = hn_model_build(&m, cfg, &reg, &counting, 7, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, HN_OK);
    int32_t tok[NSEQ * LEN], tgt[NSEQ * LEN];
    for (int i = 0; i < NSEQ * LEN; i++) tok[i] = "a cat sat on the mat. "[i % 22], tgt[i] = tok[i];
    hn_loss loss;
    n_downloads = 0;
    rc = hn_model_forward(&m, tok, tgt, NSEQ, LEN, &loss, &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, HN_OK);
    /* the plan's readback: sum_p (a double) and the inner offsets, one per stage; then
     * the per-token losses */
    size_t plan_bytes = sizeof(double) + (NSEQ + 1) * sizeof(int32_t);
    assert_int_equal(n_downloads, 3);
    assert_int_equal(download_sizes[0], plan_bytes);
    assert_int_equal(download_sizes[1], plan_bytes);
    assert_int_equal(download_sizes[2], (size_t)NSEQ * LEN * sizeof(float));
    /* the statistics come from it */
    hn_stage_stats st[2];
    assert_int_equal(hn_model_stage_stats(&m, st, 2), 2);
    assert_true(st[0].inner_len >= NSEQ && st[0].inner_len <= NSEQ * LEN);
    assert_int_equal(st[1].outer_len, st[0].inner_len);

    /* the fast evaluation (hn_model_forward_to) reads back no more than training */
    int T = NSEQ * LEN;
    m.no_grad = 1;
    float *loss_dev = counting.alloc((size_t)T * sizeof(float));
    n_downloads = 0;
    assert_int_equal(hn_model_forward_to(&m, tok, tgt, NSEQ, LEN, loss_dev, &err), HN_OK);
    assert_int_equal(n_downloads, 2);
    assert_int_equal(download_sizes[0], plan_bytes);
    assert_int_equal(download_sizes[1], plan_bytes);
    counting.free(loss_dev);

    /* an evaluation through hn_model_forward brings the whole plan to the host: the
     * trainer scores boundaries from b_h and chunk_h */
    const hn_stage *s0 = &m.backbone;
    memset(s0->b_h, 0x5a, (size_t)T * sizeof(int32_t));
    memset(s0->chunk_h, 0x5a, (size_t)T * sizeof(int32_t));
    rc = hn_model_forward(&m, tok, tgt, NSEQ, LEN, &loss, &err);
    assert_int_equal(rc, HN_OK);
    assert_memory_equal(s0->b_h, s0->b, (size_t)T * sizeof(int32_t)); /* cpu: device is host */
    assert_memory_equal(s0->chunk_h, s0->chunk, (size_t)T * sizeof(int32_t));
    int K = s0->inner_seqs.total;
    assert_memory_equal(s0->inner->b_h, s0->inner->b, (size_t)K * sizeof(int32_t));
    hn_model_free(&m);
    cJSON_Delete(cfg);
    hn_registry_close(&reg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_p),
        cmocka_unit_test(test_all_boundaries),
        cmocka_unit_test(test_no_boundary_but_the_first),
        cmocka_unit_test(test_fixed_every),
        cmocka_unit_test(test_without_bytes),
        cmocka_unit_test(test_refuses_missing_output),
        cmocka_unit_test(test_training_forward_reads_back_one_small_buffer_per_stage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
