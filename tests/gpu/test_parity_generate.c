/* Generation on the GPU (model/generate.h on the cuda backend) against the parallel
 * forward and against the cpu's stepping. For a small random isotropic model
 * (attention + Mamba-2 + SwiGLU), an isotropic MoE model and 1- and 2-stage dc H-Nets
 * (attention windows shorter than the prompts, Mamba-2 with a short SSD chunk), four
 * different prompts are fed byte by byte, together (batch 4) and the first alone
 * (batch 1):
 *  - the next-byte log-probabilities of every position equal the parallel forward's
 *    over the same four sequences on the GPU, and the cpu's stepping;
 *  - the positions reaching each stage equal the parallel forward's chunk counts and
 *    the cpu's stepping's, and every boundary decision (sequence by sequence, position
 *    by position) the cpu's stepping's.
 * Strict pass: fp32 matrix products and attention (TOL_STEP on log-probabilities;
 * boundary decisions then agree exactly). bf16 pass (the default kernels, what `hnet
 * sample --device cuda` runs): log-probabilities within TOL_STEP_BF16 of the bf16
 * parallel forward where the routing drew the same boundaries (a p near 1/2 may flip
 * under bf16 rounding, after which a sequence differs by design: then only the counts
 * are compared, within 2 positions per stage).
 * The comparisons can fail: each run also measures the same logits against the next
 * position's and against another sequence's, which must differ on average by more than
 * 10x the tolerance (fp32) or 2x (bf16): a state off by one position or mixed up
 * between sequences is caught (on the cpu these means are 0.30-0.48 for these models);
 * and in the fp32 pass a wrong byte planted at one position of one sequence must show.
 * The sampler op draws the same bytes as the cpu's from the same logits and uniforms;
 * attention_step (head dims 16, 64, 128, wrapping rings) and the chunk family's step ops
 * equal their cpu twins on random inputs, rows at position -1 included. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend/cuda/cuda_backend.h"
#include "backend/ops_chunk.h"
#include "model/generate.h"
#include "model/model.h"
#include "parity.h"
#include "plugin/registry.h"
#include "../unit/support/gen_models.h"

#define NB 4
#define LEN 64
#define V 256
#define TOL_STEP 1e-3       /* fp32: max |log p diff| */
#define TOL_STEP_BF16 6e-2  /* bf16 weights and activations in the products */

static hn_registry reg;

static int setup(void **st) { return parity_open_plugins(&reg); }
static int teardown(void **st) {
    hn_registry_close(&reg);
    return 0;
}

static const char *PROMPTS[NB] = {
    "The cat sat, on the mat; then: it ran away fast! And the dog sat..",
    "aaaa bbbb, cccc dddd; eeee: ffff gggg hhhh iiii. jjjj kkkk llll mm",
    "0123 4567 89ab cdef, The dog! sat... on 1 log ok; 42 is the answer",
    "to be or not to be, that is the question: whether 'tis nobler in t",
};

/* The cpu model's random values (gen_randomise_zero_inits) on the GPU model too. */
static void same_params(hn_model *mc, hn_model *mg) {
    gen_randomise_zero_inits(mc, 5);
    assert_int_equal(mc->params.total, mg->params.total);
    P_GPU->upload(mg->params.values, mc->params.values, mc->params.total * sizeof(float));
}

/* Steps NB sequences (n of them: the first n prompts) and keeps every position's
 * logits: out[(i * LEN + t) * V]. perturb >= 0: the last sequence is fed a wrong byte at
 * that position (its state is off from there on). bnd (may be NULL): each chunking
 * stage's boundary decisions, [stage][sequence][position]. */
static void step_all(hn_model *m, int n, float *out, long *reached, int depth, int perturb,
                     int32_t *bnd) {
    hn_error err;
    hn_generator g;
    int rc = hn_generator_init_batch(&g, m, n, LEN, &err);
    if (rc) fail_msg("%s generator: %s", m->be->name, err.msg);
    float *row = malloc((size_t)n * V * sizeof *row);
    for (int t = 0; t < LEN; t++) {
        int32_t bytes[NB];
        for (int i = 0; i < n; i++) bytes[i] = (unsigned char)PROMPTS[i][t];
        if (t == perturb) bytes[n - 1] ^= 1; /* a planted error in the last sequence's state */
        if (hn_generator_step_batch(&g, bytes, row, &err))
            fail_msg("%s step %d: %s", m->be->name, t, err.msg);
        for (int i = 0; i < n; i++)
            memcpy(out + ((size_t)i * LEN + t) * V, row + (size_t)i * V, V * sizeof *row);
        for (int s = 0; bnd && s + 1 < depth; s++)
            for (int i = 0; i < n; i++)
                bnd[((size_t)s * NB + i) * LEN + t] = hn_generator_boundaries(&g, s)[i];
    }
    for (int s = 0; s < depth; s++) reached[s] = g.reached[s];
    free(row);
    hn_generator_free(&g);
}

/* The parallel forward's logits of the NB sequences, [NB * LEN, V] on the host, and its
 * positions per depth: every byte, then each stage's inner rows. */
static void forward_all(hn_model *m, float *out, long *reached) {
    hn_error err;
    int32_t tok[NB * LEN], tgt[NB * LEN];
    for (int i = 0; i < NB; i++)
        for (int t = 0; t < LEN; t++) {
            tok[i * LEN + t] = (unsigned char)PROMPTS[i][t];
            tgt[i * LEN + t] = (unsigned char)PROMPTS[i][(t + 1) % LEN];
        }
    hn_loss loss;
    if (hn_model_forward(m, tok, tgt, NB, LEN, &loss, &err)) fail_msg("%s forward: %s", m->be->name, err.msg);
    m->be->download(out, m->logits, (size_t)NB * LEN * V * sizeof(float));
    hn_stage_stats st[HN_GEN_MAX_DEPTH];
    int S = hn_model_stage_stats(m, st, HN_GEN_MAX_DEPTH);
    reached[0] = NB * LEN;
    for (int s = 0; s < S; s++) reached[s + 1] = st[s].inner_len;
}

/* How a against b differs over sequences [0, n) and every position: worst = the max
 * |log p diff|; shifted = a at t against b at t + 1, swapped = sequence i against
 * sequence i + 1 of b (where their bytes differ), each as its mean over the positions.
 * A state off by one position (or mixed up between sequences) would make worst at
 * least that mean, so a mean above the tolerance shows the check catches it. */
typedef struct diffs {
    double worst, shifted, swapped;
} diffs;

static void compare(const float *a, const float *b, int n, diffs *r) {
    double sh = 0, sw = 0;
    long nsh = 0, nsw = 0;
    r->worst = 0;
    for (int i = 0; i < n; i++)
        for (int t = 0; t < LEN; t++) {
            const float *x = a + ((size_t)i * LEN + t) * V;
            double d = gen_max_diff(x, b + ((size_t)i * LEN + t) * V, V);
            r->worst = d > r->worst ? d : r->worst;
            if (t + 1 < LEN) {
                sh += gen_max_diff(x, b + ((size_t)i * LEN + t + 1) * V, V);
                nsh++;
            }
            int j = (i + 1) % n;
            if (n > 1 && PROMPTS[i][t] != PROMPTS[j][t]) {
                sw += gen_max_diff(x, b + ((size_t)j * LEN + t) * V, V);
                nsw++;
            }
        }
    r->shifted = nsh ? sh / nsh : 0;
    r->swapped = nsw ? sw / nsw : 0;
}

static void check_model(cJSON *cfg, int stages, int strict) {
    hn_error err;
    hn_cuda_set_matmul_mode(strict ? HN_CUDA_MATMUL_FP32 : HN_CUDA_MATMUL_BF16);
    hn_cuda_set_attention_mode(strict ? HN_CUDA_ATTENTION_FP32 : hn_cuda_attention_mode_env());
    hn_model mc, mg;
    if (hn_model_build(&mc, cfg, &reg, P_CPU, 11, &err)) fail_msg("cpu: %s", err.msg);
    if (hn_model_build(&mg, cfg, &reg, P_GPU, 11, &err)) fail_msg("cuda: %s", err.msg);
    assert_int_equal(mg.n_stages, stages);
    same_params(&mc, &mg);
    int depth = stages + 1;
    size_t all = (size_t)NB * LEN * V;
    float *par = malloc(all * sizeof *par), *gpu = malloc(all * sizeof *gpu);
    float *cpu = malloc(all * sizeof *cpu), *one = malloc((size_t)LEN * V * sizeof *one);
    long r_par[HN_GEN_MAX_DEPTH], r_gpu[HN_GEN_MAX_DEPTH], r_cpu[HN_GEN_MAX_DEPTH],
        r_one[HN_GEN_MAX_DEPTH];
    size_t nb = (size_t)(depth > 1 ? depth - 1 : 1) * NB * LEN;
    int32_t *b_gpu = calloc(nb, sizeof *b_gpu), *b_cpu = calloc(nb, sizeof *b_cpu);
    forward_all(&mg, par, r_par);
    step_all(&mg, NB, gpu, r_gpu, depth, -1, b_gpu);
    step_all(&mg, 1, one, r_one, depth, -1, NULL);
    step_all(&mc, NB, cpu, r_cpu, depth, -1, b_cpu);

    diffs par_d, cpu_d, one_d;
    compare(gpu, par, NB, &par_d);
    compare(gpu, cpu, NB, &cpu_d);
    compare(one, gpu, 1, &one_d); /* batch 1 = sequence 0 of batch NB */
    double tol = strict ? TOL_STEP : TOL_STEP_BF16;
    int same_counts = 1, close_counts = 1;
    printf("  %s, %d stage(s): max |log p diff| gpu step vs gpu forward %.2e (mean with a "
           "position off %.2e, a sequence off %.2e), vs cpu step %.2e, batch 1 vs batch %d "
           "%.2e\n   positions per depth (forward / gpu step / cpu step / gpu batch 1):",
           strict ? "fp32" : "bf16", stages, par_d.worst, par_d.shifted, par_d.swapped,
           cpu_d.worst, NB, one_d.worst);
    for (int s = 0; s < depth; s++) {
        printf(" [%ld %ld %ld %ld]", r_par[s], r_gpu[s], r_cpu[s], r_one[s]);
        same_counts &= r_gpu[s] == r_par[s] && r_gpu[s] == r_cpu[s];
        close_counts &= labs(r_gpu[s] - r_par[s]) <= 2 && labs(r_gpu[s] - r_cpu[s]) <= 2;
    }
    /* the decisions themselves, sequence by sequence and position by position */
    long flips = 0;
    for (size_t k = 0; depth > 1 && k < nb; k++) flips += b_gpu[k] != b_cpu[k];
    printf("; boundary decisions differing from the cpu step's: %ld\n", flips);
    same_counts &= flips == 0;
    if (strict) { /* a state perturbed at one position shows */
        diffs bad;
        long r_bad[HN_GEN_MAX_DEPTH];
        step_all(&mg, NB, cpu, r_bad, depth, LEN / 2, NULL); /* cpu's buffer is compared already */
        compare(cpu, par, NB, &bad);
        printf("   a wrong byte at position %d of sequence %d: max |log p diff| %.2e\n", LEN / 2,
               NB - 1, bad.worst);
        assert_true(bad.worst > 10 * tol);
    }
    /* the comparison tells positions and sequences apart */
    assert_true(par_d.shifted > (strict ? 10 : 2) * tol && par_d.swapped > (strict ? 10 : 2) * tol);
    double w_par = par_d.worst, w_cpu = cpu_d.worst, w_one = one_d.worst;
    assert_true(r_gpu[0] == NB * LEN && r_one[0] == LEN);
    if (strict || stages == 0) {
        assert_true(same_counts);
        assert_true(w_par < tol);
        assert_true(w_cpu < tol);
        assert_true(w_one < tol);
    } else if (same_counts) {
        assert_true(w_par < tol);
        assert_true(w_cpu < tol);
        assert_true(w_one < tol);
    } else {
        printf("   (bf16: a boundary near p = 1/2 flipped; counts compared only)\n");
        assert_true(close_counts);
    }
    if (stages > 0) assert_true(r_gpu[1] > NB && r_gpu[1] < NB * LEN); /* routing has work */
    free(b_gpu);
    free(b_cpu);
    free(par);
    free(gpu);
    free(cpu);
    free(one);
    hn_model_free(&mc);
    hn_model_free(&mg);
    cJSON_Delete(cfg);
    hn_cuda_set_matmul_mode(HN_CUDA_MATMUL_BF16);
    hn_cuda_set_attention_mode(hn_cuda_attention_mode_env());
}

static cJSON *isotropic_moe(void) {
    return gen_config("[\"T2m1\"]", "32",
                      "{\"plugin\":\"moe\",\"experts\":4,\"top_k\":2,\"hidden\":32}", NULL);
}

static void test_isotropic(void **st) {
    check_model(gen_isotropic(), 0, 1);
    check_model(gen_isotropic(), 0, 0);
    check_model(isotropic_moe(), 0, 1);
}
static void test_one_stage(void **st) {
    check_model(gen_one_stage(), 1, 1);
    check_model(gen_one_stage(), 1, 0);
    check_model(gen_dc_linear_max(), 1, 1);
    check_model(gen_dc_mean_unsmoothed(), 1, 1);
}
static void test_two_stage(void **st) {
    check_model(gen_two_stage(), 2, 1);
    check_model(gen_two_stage(), 2, 0);
}

/* The sample op: the same logits and uniforms draw the same entries on both backends
 * (ties, greedy, temperatures, nucleus masses), and different uniforms different ones. */
static void test_sample_op(void **st) {
    enum { N = 64 };
    hn_rng r = hn_rng_derive(3, 1);
    twin logits = tw_normal((size_t)N * V, 2.0, &r);
    for (int i = 0; i < N; i += 4) /* ties: equal logits in some rows */
        for (int k = 0; k < 8; k++) logits.c[(size_t)i * V + 7 * k] = 3.0f;
    P_GPU->upload(logits.g, logits.c, (size_t)N * V * sizeof(float));
    double u[N];
    for (int i = 0; i < N; i++) u[i] = hn_rng_uniform(&r);
    double *u_dev = P_GPU->alloc(sizeof u);
    int32_t *out_dev = P_GPU->alloc(N * sizeof(int32_t));
    P_GPU->upload(u_dev, u, sizeof u);
    const double temps[] = {0.0, 0.5, 1.0, 3.0}, tops[] = {1.0, 0.9, 0.3, 1e-6};
    int differ = 0;
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++) {
            int32_t oc[N], og[N];
            P_CPU->sample(oc, logits.c, u, N, V, temps[a], tops[b]);
            P_GPU->sample(out_dev, logits.g, u_dev, N, V, temps[a], tops[b]);
            P_GPU->download(og, out_dev, sizeof og);
            int mism = 0;
            for (int i = 0; i < N; i++) mism += oc[i] != og[i];
            if (mism) printf("  sample T=%g top_p=%g: %d of %d rows differ\n", temps[a], tops[b], mism, N);
            assert_int_equal(mism, 0);
            if (a == 2 && b == 0) /* T = 1: the draws spread over many entries */
                for (int i = 1; i < N; i++) differ += oc[i] != oc[0];
        }
    assert_true(differ > N / 2);
    const char *cuda_err = hn_cuda_last_error();
    assert_int_equal(cuda_err[0], 0);
    P_GPU->free(u_dev);
    P_GPU->free(out_dev);
    tw_free(&logits);
}

/* The generation ops one by one on fresh random inputs, with rows at position -1 and
 * rings that wrap: attention_step at head dims 16, 64 (the bench models') and 128, and
 * the chunk family's step ops. Outputs and states within TOL_FP32 of the cpu twins
 * (inactive rows: zero outputs, untouched states). */
static void test_step_ops(void **st) {
    enum { N = 6, R = 7 };
    hn_cuda_set_matmul_mode(HN_CUDA_MATMUL_FP32);
    hn_rng r = hn_rng_derive(4, 2);
    const int32_t pos_h[N] = {0, 3, 6, 10, -1, 29}; /* 10 and 29 wrap the ring of 7 */
    itwin pos = itw_from(pos_h, N);
    const int hds[] = {16, 64, 128};
    for (int k = 0; k < 3; k++) {
        int heads = 3, hd = hds[k], D = heads * hd;
        size_t stride = 2 * (size_t)D * R + 1;
        twin qkv = tw_normal((size_t)N * 3 * D, 1.0, &r), state = tw_normal(N * stride, 1.0, &r);
        twin out = tw_normal((size_t)N * D, 1.0, &r);
        float scale = 1.0f / sqrtf((float)hd);
        P_CPU->attention_step(out.c, qkv.c, state.c, stride, R, pos.c, N, heads, hd, scale);
        P_GPU->attention_step(out.g, qkv.g, state.g, stride, R, pos.g, N, heads, hd, scale);
        char name[64];
        snprintf(name, sizeof name, "attention_step out (head_dim %d)", hd);
        assert_true(tw_err(&out, name) < TOL_FP32);
        snprintf(name, sizeof name, "attention_step cache (head_dim %d)", hd);
        assert_true(tw_err(&state, name) < TOL_FP32);
        for (int d = 0; d < D; d++) assert_true(out.c[4 * D + d] == 0.0f); /* the inactive row */
        tw_free(&qkv);
        tw_free(&state);
        tw_free(&out);
    }
    int D = 40;
    twin q = tw_normal((size_t)N * D, 1.0, &r), k = tw_normal((size_t)N * D, 1.0, &r);
    twin p = tw_uniform(N, 0, 1, &r), logit = tw_normal(N, 2.0, &r);
    P_CPU->chunk->cosine_routing_step(p.c, q.c, k.c, pos.c, N, D);
    P_GPU->chunk->cosine_routing_step(p.g, q.g, k.g, pos.g, N, D);
    assert_true(tw_err(&p, "cosine_routing_step") < TOL_FP32);
    P_CPU->chunk->sigmoid_routing_step(p.c, logit.c, pos.c, N);
    P_GPU->chunk->sigmoid_routing_step(p.g, logit.g, pos.g, N);
    assert_true(tw_err(&p, "sigmoid_routing_step") < TOL_FP32);
    P_CPU->chunk->copy_rows_step(k.c, q.c, pos.c, N, D);
    P_GPU->chunk->copy_rows_step(k.g, q.g, pos.g, N, D);
    assert_true(tw_err(&k, "copy_rows_step") < TOL_FP32);
    /* ema: P < 0 keeps a row; z wider than zbar (ld_z = D + 8) */
    twin z = tw_normal((size_t)N * (D + 8), 1.0, &r), zbar = tw_normal((size_t)N * D, 1.0, &r);
    twin P = tw_uniform(N, 0, 1, &r);
    P.c[2] = -1.0f;
    P_GPU->upload(P.g, P.c, N * sizeof(float));
    P_CPU->chunk->ema_step(zbar.c, z.c, D + 8, P.c, N, D);
    P_GPU->chunk->ema_step(zbar.g, z.g, D + 8, P.g, N, D);
    assert_true(tw_err(&zbar, "ema_step") < TOL_FP32);
    /* pooling: counts 0 (a new chunk), > 0, and -1 (no row); boundaries on some */
    const int32_t cnt_h[N] = {0, 2, -1, 1, 0, 3}, b_h[N] = {1, 1, 1, 0, 0, 1};
    itwin cnt = itw_from(cnt_h, N), b = itw_from(b_h, N);
    for (int mx = 0; mx < 2; mx++) {
        twin acc = tw_normal((size_t)N * D, 1.0, &r), o = tw_normal((size_t)N * D, 1.0, &r);
        P_CPU->chunk->pool_step(acc.c, o.c, q.c, cnt.c, b.c, mx, N, D);
        P_GPU->chunk->pool_step(acc.g, o.g, q.g, cnt.g, b.g, mx, N, D);
        assert_true(tw_err(&acc, mx ? "pool_step max acc" : "pool_step mean acc") < TOL_FP32);
        assert_true(tw_err(&o, mx ? "pool_step max out" : "pool_step mean out") < TOL_FP32);
        tw_free(&acc);
        tw_free(&o);
    }
    twin *all[] = {&q, &k, &p, &logit, &z, &zbar, &P};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tw_free(all[i]);
    itw_free(&cnt);
    itw_free(&b);
    itw_free(&pos);
    hn_cuda_set_matmul_mode(HN_CUDA_MATMUL_BF16);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample_op),
        cmocka_unit_test(test_step_ops),
        cmocka_unit_test(test_isotropic),
        cmocka_unit_test(test_one_stage),
        cmocka_unit_test(test_two_stage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
