/* hnet bench --op chunk_plan: the chunk plan of one stage (hn_ops_chunk.plan) on the
 * device, timed, and checked entry for entry against the cpu twin on the same shape (the
 * plan is one pass over the rows: the cpu keeps up). p is uniform with a boundary rate of
 * about 1/5 (the dc chunker's near its target). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/ops_chunk.h"
#include "cli/bench_op.h"
#ifdef HN_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"

typedef struct plan_case {
    packed pk;
    float *p;
    int32_t *bytes, *out; /* out: b, chunk, idx, first, pos_in, bytes_in, each T, then offsets */
    double *sum_p;
    hn_chunk_plan_params pp;
} plan_case;

static int plan_make(plan_case *c, const hn_backend *be, const int *lens, int n, const float *p_h,
                     const int32_t *bytes_h) {
    memset(c, 0, sizeof *c);
    if (hn_bench_packed_make(&c->pk, be, lens, n)) return -1;
    size_t T = (size_t)c->pk.s.total, outs = 6 * T + (size_t)n + 1;
    c->p = be->alloc(T * sizeof(float));
    c->bytes = be->alloc(T * sizeof(int32_t));
    c->out = be->alloc(outs * sizeof(int32_t));
    c->sum_p = be->alloc(sizeof(double));
    if (!c->p || !c->bytes || !c->out || !c->sum_p) return -1;
    be->upload(c->p, p_h, T * sizeof(float));
    be->upload(c->bytes, bytes_h, T * sizeof(int32_t));
    int32_t *o = c->out;
    c->pp = (hn_chunk_plan_params){.seqs = &c->pk.s, .p = c->p, .bytes = c->bytes, .b = o,
                                   .chunk = o + T, .idx = o + 2 * T, .first = o + 3 * T,
                                   .pos_in = o + 4 * T, .bytes_in = o + 5 * T,
                                   .offsets_in = o + 6 * T, .sum_p = c->sum_p};
    return 0;
}

static void plan_free(plan_case *c, const hn_backend *be) {
    if (c->p) be->free(c->p);
    if (c->bytes) be->free(c->bytes);
    if (c->out) be->free(c->out);
    if (c->sum_p) be->free(c->sum_p);
    hn_bench_packed_free(&c->pk, be);
}

static void plan_fn(const hn_backend *be, void *c) { be->chunk->plan(&((plan_case *)c)->pp); }

/* entries of the plan that differ between the backends (only the first K of the inner
 * rows' arrays count), and the relative difference of sum_p */
static long plan_mismatch(plan_case *cc, plan_case *cg, const hn_backend *g, double *sum_err) {
    size_t T = (size_t)cc->pk.s.total, n = (size_t)cc->pk.s.n, outs = 6 * T + n + 1;
    int32_t *h = malloc(outs * sizeof(int32_t));
    if (!h) return -1;
    g->download(h, cg->out, outs * sizeof(int32_t));
    size_t K = (size_t)cc->out[6 * T + n];
    long bad = 0;
    for (size_t i = 0; i < outs; i++) {
        size_t part = i < 6 * T ? i / T : 6, at = i < 6 * T ? i % T : 0;
        if (part >= 2 && part < 6 && at >= K) continue;
        bad += h[i] != cc->out[i];
    }
    free(h);
    double sg;
    g->download(&sg, cg->sum_p, sizeof sg);
    *sum_err = fabs(sg - *cc->sum_p) / (fabs(*cc->sum_p) + 1e-300);
    return bad;
}

int hn_bench_chunk_plan(const op_opts *o) {
    const hn_backend *cpu, *gpu = hn_bench_gpu(&cpu);
    if (!gpu) return 1;
    if (o->n_seqs > 1 << 20 || o->n_seqs * o->seq_len > 1L << 28) {
        fprintf(stderr, "hnet bench: shape too large\n");
        return 2;
    }
    int n = (int)o->n_seqs, *lens = hn_bench_equal_lens(o);
    size_t T = (size_t)o->n_seqs * (size_t)o->seq_len;
    float *p_h = malloc(T * sizeof(float));
    int32_t *bytes_h = malloc(T * sizeof(int32_t));
    if (!lens || !p_h || !bytes_h) return 1;
    hn_rng r;
    hn_rng_seed(&r, 1);
    for (size_t t = 0; t < T; t++) {
        p_h[t] = (float)(0.625 * hn_rng_uniform(&r)); /* > 1/2 one time in five */
        bytes_h[t] = (int32_t)hn_rng_below(&r, 256);
    }
    plan_case cc, cg;
    int status = 0;
    if (plan_make(&cc, cpu, lens, n, p_h, bytes_h) || plan_make(&cg, gpu, lens, n, p_h, bytes_h)) {
        fprintf(stderr, "hnet bench: out of memory for the shape\n");
        status = 1;
    } else {
        cpu->chunk->plan(&cc.pp);
        double ms = hn_bench_time_ms(plan_fn, gpu, &cg, (int)o->warmup, (int)o->reps);
        double sum_err = NAN;
        long bad = plan_mismatch(&cc, &cg, gpu, &sum_err);
        if (hn_bench_device_failed(gpu)) status = 1;
        size_t K = (size_t)cc.pp.offsets_in[n];
        /* per row: p and pos read, b written and read again, chunk written; per inner
         * row: bytes, idx, pos and its sequence start's chunk read, idx, bytes_in,
         * pos_in and first written (int32 and float32 each) */
        double bytes = 20.0 * (double)T + 32.0 * (double)K;
        printf("chunk_plan: %ld x %ld, K %zu (%.3f), on %s\n", o->n_seqs, o->seq_len, K,
               (double)K / (double)T, hn_cuda_device_name());
        printf("| us | GB/s | entries differing | sum_p rel. diff |\n|---|---|---|---|\n");
        printf("| %.1f | %.1f | %ld | %.1e |\n", ms * 1e3, bytes / (ms * 1e-3) / 1e9, bad, sum_err);
        if (bad || !(sum_err < 1e-12)) status = 1;
    }
    plan_free(&cc, cpu);
    plan_free(&cg, gpu);
    free(lens);
    free(p_h);
    free(bytes_h);
    return status;
}
#endif
