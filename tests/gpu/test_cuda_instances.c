/* Two cuda backend instances in one process (on two GPUs where there are two, else both
 * on one): each has its own stream, cuBLAS handle, scratch and workspace; the same ops
 * run on both, interleaved op by op on one thread and then concurrently from two
 * threads, give results equal to each other (bit for bit: same kernels, same config) and
 * to the cpu. A v1 op reaches its instance through the table it was called through, so
 * nothing here makes an instance "current". */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "backend/cuda/cuda_backend.h"
#include "core/rng.h"

enum { T = 96, D = 64, V = 48, HEADS = 2, HD = 32, NSEQ = 3 };
static const int32_t OFFSETS[NSEQ + 1] = {0, 17, 60, T};

/* the host inputs every run starts from */
static float g_x[T * D], g_w[D * D], g_norm[D], g_gu[T * 2 * D], g_qkv[T * 3 * D],
    g_logits[T * V];
static int32_t g_pos[T], g_target[T];

/* one run of the ops on one backend: device buffers, then the results on the host */
typedef struct run {
    const hn_backend *be;
    float *x, *w, *norm, *gu, *qkv, *logits, *xw, *y, *rstd, *h, *att, *lse, *loss, *dlogits;
    int32_t *offsets_dev, *pos_dev, *target;
    hn_seqs seqs;
    double ss;
    int failed; /* set by a stage (no cmocka assertion off the main thread) */
    /* host copies of the outputs */
    float y_h[T * D], rstd_h[T], h_h[T * D], att_h[T * D], lse_h[T * HEADS], loss_h[T],
        dlogits_h[T * V];
} run;

static void fill_inputs(void) {
    hn_rng r;
    hn_rng_seed(&r, 1234);
    for (int i = 0; i < T * D; i++) g_x[i] = (float)hn_rng_normal(&r);
    for (int i = 0; i < D * D; i++) g_w[i] = (float)(0.1 * hn_rng_normal(&r));
    for (int i = 0; i < D; i++) g_norm[i] = (float)(1 + 0.1 * hn_rng_normal(&r));
    for (int i = 0; i < T * 2 * D; i++) g_gu[i] = (float)hn_rng_normal(&r);
    for (int i = 0; i < T * 3 * D; i++) g_qkv[i] = (float)hn_rng_normal(&r);
    for (int i = 0; i < T * V; i++) g_logits[i] = (float)(2 * hn_rng_normal(&r));
    for (int s = 0; s < NSEQ; s++)
        for (int t = OFFSETS[s]; t < OFFSETS[s + 1]; t++) g_pos[t] = t - OFFSETS[s];
    for (int t = 0; t < T; t++) g_target[t] = (int32_t)(hn_rng_uniform(&r) * V) % V;
}

static void *up(run *r, const void *src, size_t bytes) {
    void *p = r->be->alloc(bytes);
    if (!p) r->failed = 1;
    else r->be->upload(p, src, bytes);
    return p;
}

/* the stages, so that two runs can be interleaved op by op */
static void stage_upload(run *r) {
    const hn_backend *be = r->be;
    r->x = up(r, g_x, sizeof g_x);
    r->w = up(r, g_w, sizeof g_w);
    r->norm = up(r, g_norm, sizeof g_norm);
    r->gu = up(r, g_gu, sizeof g_gu);
    r->qkv = up(r, g_qkv, sizeof g_qkv);
    r->logits = up(r, g_logits, sizeof g_logits);
    r->offsets_dev = up(r, OFFSETS, sizeof OFFSETS);
    r->pos_dev = up(r, g_pos, sizeof g_pos);
    r->target = up(r, g_target, sizeof g_target);
    r->xw = be->alloc(sizeof r->y_h);
    r->y = be->alloc(sizeof r->y_h);
    r->rstd = be->alloc(sizeof r->rstd_h);
    r->h = be->alloc(sizeof r->h_h);
    r->att = be->alloc(sizeof r->att_h);
    r->lse = be->alloc(sizeof r->lse_h);
    r->loss = be->alloc(sizeof r->loss_h);
    r->dlogits = be->alloc(sizeof r->dlogits_h);
    r->seqs = (hn_seqs){NSEQ, T, 43, OFFSETS, r->offsets_dev, r->pos_dev};
}
static void stage_matmul(run *r) { r->be->matmul(0, 1, T, D, D, 1.0f, r->x, r->w, 0.0f, r->xw); }
static void stage_norm(run *r) { /* y = rmsnorm(x w^T) */
    r->be->rmsnorm_forward(r->y, r->rstd, r->xw, r->norm, T, D, 1e-5f);
}
static void stage_swiglu(run *r) { r->be->swiglu_forward(r->h, r->gu, T, D); }
static void stage_attention(run *r) {
    r->be->attention_forward(r->att, r->lse, r->qkv, r->qkv + D, r->qkv + 2 * D, 3 * D, &r->seqs,
                             HEADS, HD, 20, 1.0f / sqrtf((float)HD));
}
static void stage_loss(run *r) {
    r->be->xent_fused(r->loss, r->dlogits, r->logits, r->target, T, V, 1.0f / T);
}
static void stage_readback(run *r) {
    const hn_backend *be = r->be;
    r->ss = be->sum_squares(r->y, (size_t)T * D);
    be->download(r->y_h, r->y, sizeof r->y_h);
    be->download(r->rstd_h, r->rstd, sizeof r->rstd_h);
    be->download(r->h_h, r->h, sizeof r->h_h);
    be->download(r->att_h, r->att, sizeof r->att_h);
    be->download(r->lse_h, r->lse, sizeof r->lse_h);
    be->download(r->loss_h, r->loss, sizeof r->loss_h);
    be->download(r->dlogits_h, r->dlogits, sizeof r->dlogits_h);
    const char *e = be->device_error ? be->device_error() : NULL;
    if (e) {
        fprintf(stderr, "device error: %s\n", e);
        r->failed = 1;
    }
}
static void stage_free(run *r) {
    void *bufs[] = {r->x, r->w, r->norm, r->gu, r->qkv, r->logits, r->offsets_dev, r->pos_dev,
                    r->target, r->xw, r->y, r->rstd, r->h, r->att, r->lse, r->loss, r->dlogits};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) r->be->free(bufs[i]);
}

typedef void (*stage_fn)(run *);
static const stage_fn STAGES[] = {stage_upload, stage_matmul, stage_norm,     stage_swiglu,
                                  stage_attention, stage_loss, stage_readback, stage_free};
enum { N_STAGES = sizeof STAGES / sizeof STAGES[0] };

static void run_all(run *r) {
    for (int i = 0; i < N_STAGES; i++) STAGES[i](r);
}

static double rel_err(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        if (isnan(a[i]) || isnan(b[i])) return INFINITY;
        num += d * d;
        den += (double)b[i] * b[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* b is another instance: equal bit for bit; cpu: within float32 tolerance */
#define OUTPUTS(X) X(y_h) X(rstd_h) X(h_h) X(att_h) X(lse_h) X(loss_h) X(dlogits_h)
static void expect_same(const run *a, const run *b) {
#define X(f) assert_memory_equal(a->f, b->f, sizeof a->f);
    OUTPUTS(X)
#undef X
    /* sum_squares meets its blocks' partial sums by atomicAdd: order-dependent */
    assert_true(fabs(a->ss - b->ss) <= 1e-12 * b->ss);
}
static void expect_close(const run *gpu, const run *cpu) {
#define X(f)                                                                       \
    {                                                                              \
        double e = rel_err(gpu->f, cpu->f, sizeof gpu->f / sizeof(float));        \
        printf("  %-10s %.2e\n", #f, e);                                           \
        assert_true(e < 2e-4);                                                     \
    }
    OUTPUTS(X)
#undef X
    assert_true(fabs(gpu->ss - cpu->ss) <= 1e-4 * cpu->ss);
}

static const hn_backend *g_a, *g_b;
static run g_cpu;

static int setup(void **st) {
    (void)st;
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
        fprintf(stderr, "no CUDA device\n");
        return -1;
    }
    hn_cuda_config cfg;
    hn_cuda_config_default(&cfg);
    cfg.matmul = HN_CUDA_MATMUL_FP32; /* float32 arithmetic: comparable with the cpu */
    cfg.device = 0;
    g_a = hn_cuda_instance_create(&cfg);
    cfg.device = n > 1 ? 1 : 0;
    g_b = hn_cuda_instance_create(&cfg);
    if (!g_a || !g_b) {
        fprintf(stderr, "cannot create two instances: %s\n", hn_cuda_last_error());
        return -1;
    }
    printf("  instances on devices %d and %d\n", hn_cuda_device_of(g_a), hn_cuda_device_of(g_b));
    fill_inputs();
    memset(&g_cpu, 0, sizeof g_cpu);
    g_cpu.be = hn_backend_cpu();
    run_all(&g_cpu);
    return g_cpu.failed ? -1 : 0;
}

static int teardown(void **st) {
    (void)st;
    hn_cuda_instance_destroy(g_a);
    hn_cuda_instance_destroy(g_b);
    return 0;
}

static void test_instances_are_separate(void **st) {
    (void)st;
    assert_ptr_not_equal(g_a, g_b);
    assert_non_null(hn_cuda_stream_of(g_a));
    assert_ptr_not_equal(hn_cuda_stream_of(g_a), hn_cuda_stream_of(g_b));
    /* the default stream is not an instance's: work there is not ordered with the ops */
    assert_ptr_not_equal(hn_cuda_stream_of(g_a), NULL);
    assert_null(hn_cuda_stream_of(hn_backend_cpu()));
    /* each its own workspace pool and configuration */
    void *wa = g_a->workspace(0, 1 << 20), *wb = g_b->workspace(0, 1 << 20);
    assert_non_null(wa);
    assert_non_null(wb);
    assert_ptr_not_equal(wa, wb);
    int was = hn_cuda_config_of(g_a)->attention;
    hn_cuda_config_of(g_b)->attention = HN_CUDA_ATTENTION_WARP;
    assert_int_equal(hn_cuda_config_of(g_a)->attention, was);
    hn_cuda_config_of(g_b)->attention = was;
}

/* two empty runs, one on each instance */
static void fresh_pair(run *a, run *b) {
    memset(a, 0, sizeof *a);
    memset(b, 0, sizeof *b);
    a->be = g_a;
    b->be = g_b;
}

/* one thread, the two runs interleaved op by op: neither sees the other's work */
static void test_interleaved_ops_on_two_instances(void **st) {
    (void)st;
    static run a, b;
    fresh_pair(&a, &b);
    for (int i = 0; i < N_STAGES; i++) {
        STAGES[i](&a);
        STAGES[i](&b);
    }
    assert_false(a.failed || b.failed);
    expect_same(&a, &b);
    expect_close(&a, &g_cpu);
}

static void *thread_main(void *p) {
    run *r = p;
    for (int rep = 0; rep < 3; rep++) run_all(r); /* the last run's outputs stay */
    return NULL;
}

/* two threads, each on its own instance at the same time */
static void test_concurrent_threads_on_two_instances(void **st) {
    (void)st;
    static run a, b;
    fresh_pair(&a, &b);
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, thread_main, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, thread_main, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_false(a.failed || b.failed);
    expect_same(&a, &b);
    expect_close(&a, &g_cpu);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_instances_are_separate),
        cmocka_unit_test(test_interleaved_ops_on_two_instances),
        cmocka_unit_test(test_concurrent_threads_on_two_instances),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
