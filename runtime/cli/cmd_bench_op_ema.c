/* hnet bench --op ema: the dechunk EMA (the smoothing of Eq. 5, zbar[k] = P[k] z[k] +
 * (1 - P[k]) zbar[k-1] within each inner sequence) through the chunk ops the model calls
 * (stage.c: ema_forward over the inner rows, ema_backward adding to dz and dP), forward
 * and backward, timed on the cuda device for each kernel set and checked against the cpu
 * twin on the same inputs in the same run.
 *
 *   hnet bench --op ema                         # H1's inner stage: 8 x ~1365 rows, D 512
 *   hnet bench --op ema --seqs 8x2730 --dim 768 --kernels segments,scan
 *
 * --seqs NxL: N sequences of about L rows each, unequal (L plus a fixed pattern of
 * offsets: 8x1365 is 10,923 rows, H1's inner stage); --dim D (default 512). --kernels:
 * column (HNET_CUDA_EMA=column), segments (HNET_CUDA_EMA=segments), scan (the default); by
 * default column,segments,scan,segments,scan (repeated, so that a drift of the clocks
 * shows as a difference between the rounds).
 *
 * Memory-bound: GB/s and the ratio to the floor, the bytes a pass must move over the
 * measured copy rate. K rows of D float32 columns:
 *   forward   K D (4 + 4)       z read, zbar written;              + 4 K (P read)
 *   backward  K D (4 3 + 4 2)   dzbar, z, zbar read, dz read and written (added to);
 *                               + 4 K (P read) + 8 K (dP read and written)
 * "MB issued" adds what a kernel set moves beyond that: the segments read z (forward)
 * and dzbar (backward) a second time, the scan writes and reads back one dP partial a
 * row and 32-column strip; the column kernels' D atomics a row into dP are not counted. */
#ifdef HN_HAVE_CUDA
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/ops_chunk.h"
#include "cli/bench_op.h"
#include "core/rng.h"

/* relative error over which the run fails: float32 sums in another order (dP: double
 * on the cpu) */
#define EMA_TOL 1e-4

static const char *const KERNEL_NAME[] = {"column", "segments", "scan"}; /* by hn_cuda_ema_mode */

/* host inputs and the cpu's outputs on them */
typedef struct ema_host {
    float *z, *P, *dzbar, *dz0, *dP0; /* inputs (dz0, dP0: what the backward adds to) */
    float *zbar, *dz, *dP;            /* the cpu twin's results */
} ema_host;

/* device buffers of the same shape */
typedef struct ema_dev {
    const hn_backend *be;
    const hn_seqs *s;
    int D;
    float *z, *P, *zbar, *dzbar, *dz, *dP;
} ema_dev;

/* lengths about L, unequal: L plus offsets that sum to 3 over 8 sequences at L = 1365
 * (10,923 rows, H1's inner stage), scaled with L */
static int *ema_lens(const op_opts *o, long L) {
    static const int DELTA[8] = {41, -67, 12, -30, 88, -19, -52, 30};
    int n = (int)o->n_seqs, *lens = malloc((size_t)n * sizeof(int));
    for (int i = 0; lens && i < n; i++) {
        long len = L + DELTA[i % 8] * L / 1365;
        lens[i] = (int)(len < 1 ? 1 : len);
    }
    return lens;
}

static void host_free(ema_host *h) {
    float *all[] = {h->z, h->P, h->dzbar, h->dz0, h->dP0, h->zbar, h->dz, h->dP};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(all[i]);
}

/* inputs as the model's: P the boundary probabilities (>= 0.5, 1 at a sequence start:
 * clamped, so no dP there), z and the gradients normal; the cpu twin run on them */
static int host_make(ema_host *h, const hn_backend *cpu, const hn_seqs *s, int D) {
    memset(h, 0, sizeof *h);
    size_t K = (size_t)s->total, KD = K * (size_t)D;
    float **mats[] = {&h->z, &h->dzbar, &h->dz0, &h->zbar, &h->dz};
    for (size_t i = 0; i < sizeof mats / sizeof *mats; i++)
        if (!(*mats[i] = malloc(KD * sizeof(float)))) return -1;
    float **rows[] = {&h->P, &h->dP0, &h->dP};
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
        if (!(*rows[i] = malloc(K * sizeof(float)))) return -1;
    hn_rng r;
    hn_rng_seed(&r, 20261204);
    for (size_t i = 0; i < K; i++) h->P[i] = (float)(0.5 + 0.5 * hn_rng_uniform(&r));
    for (int q = 0; q < s->n; q++)
        if (s->offsets[q] < s->offsets[q + 1]) h->P[s->offsets[q]] = 1.0f;
    for (size_t i = 0; i < K; i++) h->dP0[i] = (float)hn_rng_normal(&r);
    for (size_t i = 0; i < KD; i++) h->z[i] = (float)hn_rng_normal(&r);
    for (size_t i = 0; i < KD; i++) h->dzbar[i] = (float)hn_rng_normal(&r);
    for (size_t i = 0; i < KD; i++) h->dz0[i] = (float)(0.3 * hn_rng_normal(&r));
    memcpy(h->dz, h->dz0, KD * sizeof(float));
    memcpy(h->dP, h->dP0, K * sizeof(float));
    cpu->chunk->ema_forward(h->zbar, h->z, h->P, s, D);
    cpu->chunk->ema_backward(h->dz, h->dP, h->dzbar, h->z, h->zbar, h->P, s, D);
    return 0;
}

static void dev_free(ema_dev *g) {
    float *all[] = {g->z, g->P, g->zbar, g->dzbar, g->dz, g->dP};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        if (all[i]) g->be->free(all[i]);
}

static int dev_make(ema_dev *g, const hn_backend *be, const hn_seqs *s, int D, const ema_host *h) {
    memset(g, 0, sizeof *g);
    g->be = be, g->s = s, g->D = D;
    size_t K = (size_t)s->total, KD = K * (size_t)D;
    g->z = hn_bench_upload(be, h->z, KD * sizeof(float));
    g->P = hn_bench_upload(be, h->P, K * sizeof(float));
    g->dzbar = hn_bench_upload(be, h->dzbar, KD * sizeof(float));
    g->zbar = be->alloc(KD * sizeof(float));
    g->dz = be->alloc(KD * sizeof(float));
    g->dP = be->alloc(K * sizeof(float));
    return g->z && g->P && g->dzbar && g->zbar && g->dz && g->dP ? 0 : -1;
}

static void ema_fwd(const hn_backend *be, void *arg) {
    ema_dev *g = arg;
    be->chunk->ema_forward(g->zbar, g->z, g->P, g->s, g->D);
}
static void ema_bwd(const hn_backend *be, void *arg) {
    ema_dev *g = arg;
    be->chunk->ema_backward(g->dz, g->dP, g->dzbar, g->z, g->zbar, g->P, g->s, g->D);
}

/* the current kernels once from the cpu's inputs: err[0] zbar (from a cleared buffer),
 * err[1] dz, err[2] dP (the backward reading the cpu's zbar) */
static void ema_check(ema_dev *g, const ema_host *h, double err[3]) {
    const hn_backend *be = g->be;
    size_t K = (size_t)g->s->total, KD = K * (size_t)g->D;
    be->zero(g->zbar, KD * sizeof(float));
    ema_fwd(be, g);
    err[0] = hn_bench_rel_err(g->zbar, h->zbar, KD, be);
    be->upload(g->zbar, h->zbar, KD * sizeof(float));
    be->upload(g->dz, h->dz0, KD * sizeof(float));
    be->upload(g->dP, h->dP0, K * sizeof(float));
    ema_bwd(be, g);
    err[1] = hn_bench_rel_err(g->dz, h->dz, KD, be);
    err[2] = hn_bench_rel_err(g->dP, h->dP, K, be);
}

/* the header's floors, and what each kernel set moves beyond them */
static double ema_bytes(double K, double D, int backward) {
    return backward ? K * D * 20 + 12 * K : K * D * 8 + 4 * K;
}
static double ema_bytes_issued(int kernels, double K, double D, int backward) {
    double extra = 0;
    if (kernels == HN_CUDA_EMA_SEGMENTS) extra = 4 * K * D + 4 * K; /* z or dzbar, and P, again */
    if (kernels == HN_CUDA_EMA_SCAN && backward) extra = 8 * K * ceil(D / 32);
    return ema_bytes(K, D, backward) + extra;
}

static int parse_kernels(const char *k) {
    for (int i = 0; i < 3; i++)
        if (!strcmp(k, KERNEL_NAME[i])) return i;
    return -1;
}

static void set_kernels(hn_cuda_config *cfg, int kernels) {
    cfg->ema = kernels;
}

/* one kernel set: checked, then timed; 0, or the exit status */
static int ema_round(const op_opts *o, ema_dev *g, const ema_host *h, int kernels, double bw) {
    double err[3];
    ema_check(g, h, err);
    double K = g->s->total, D = g->D, t[2];
    for (int b = 0; b < 2; b++)
        t[b] = hn_bench_time_ms(b ? ema_bwd : ema_fwd, g->be, g, (int)o->warmup, (int)o->reps);
    if (hn_bench_device_failed(g->be)) return 1;
    for (int b = 0; b < 2; b++) {
        double need = ema_bytes(K, D, b), issued = ema_bytes_issued(kernels, K, D, b);
        printf("| %s | %s | %.4f | %.1f | %.1f | %.0f | %.2f | ", KERNEL_NAME[kernels],
               b ? "backward" : "forward", t[b], need / 1e6, issued / 1e6,
               need / (t[b] * 1e-3) / 1e9, bw > 0 ? t[b] / (need / bw * 1e3) : NAN);
        if (b) printf("dz %.2e, dP %.2e |\n", err[1], err[2]);
        else printf("zbar %.2e |\n", err[0]);
    }
    if (!(err[0] <= EMA_TOL && err[1] <= EMA_TOL && err[2] <= EMA_TOL)) {
        fprintf(stderr, "hnet bench: the ema (%s) differs from the cpu beyond %.0e\n",
                KERNEL_NAME[kernels], EMA_TOL);
        return 3;
    }
    return 0;
}

/* the kernel sets of --kernels in turn on one case; 0, or the exit status */
static int ema_rounds(const op_opts *o, ema_dev *g, const ema_host *h, hn_cuda_config *cfg,
                      double bw) {
    int keep = cfg->ema, status = 0;
    char *names = strdup(o->kernels ? o->kernels : "column,segments,scan,segments,scan");
    char *save = NULL;
    if (!names) return 1;
    for (char *k = strtok_r(names, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
        int kernels = parse_kernels(k);
        if (kernels < 0) {
            fprintf(stderr, "hnet bench: unknown ema kernels '%s' (column, segments, scan)\n", k);
            status = 2;
            break;
        }
        set_kernels(cfg, kernels);
        int rc = ema_round(o, g, h, kernels, bw);
        if (rc) status = rc;
        if (rc && rc != 3) break; /* a differing set does not stop the others */
    }
    cfg->ema = keep;
    free(names);
    return status;
}

int hn_bench_ema(const op_opts *o) {
    const hn_backend *cpu, *gpu = hn_bench_gpu(&cpu);
    if (!gpu) return 1;
    hn_cuda_config *cfg = hn_cuda_config_of(gpu);
    long L = o->seqs_set ? o->seq_len : 1365, D = o->dim ? o->dim : 512;
    if (!cfg || o->n_seqs > 1 << 20 || o->n_seqs * L > 1L << 28 || o->n_seqs * L * D > 1L << 30) {
        fprintf(stderr, "hnet bench: %s\n", cfg ? "shape too large" : "no cuda configuration");
        return 2;
    }
    int n = (int)o->n_seqs, *lens = ema_lens(o, L), status = 1;
    packed pc = {0}, pg = {0};
    ema_host h = {0};
    ema_dev g = {.be = gpu};
    if (!lens || hn_bench_packed_make(&pc, cpu, lens, n) || hn_bench_packed_make(&pg, gpu, lens, n) ||
        host_make(&h, cpu, &pc.s, (int)D) || dev_make(&g, gpu, &pg.s, (int)D, &h)) {
        fprintf(stderr, "hnet bench: out of memory for the shape\n");
    } else {
        int lo = lens[0], hi = lens[0];
        for (int i = 1; i < n; i++) lo = lens[i] < lo ? lens[i] : lo, hi = lens[i] > hi ? lens[i] : hi;
        double bw = hn_bench_copy_rate(gpu, 10);
        printf("dechunk EMA: %d sequences, %d rows (%d to %d a sequence), %ld columns, float32, "
               "on %s\n", n, pg.s.total, lo, hi, D, hn_cuda_device_name());
        printf("  measured copy rate %.0f GB/s (read + written); floor = MB needed at that rate; "
               "kernels: column = HNET_CUDA_EMA=column, segments = HNET_CUDA_EMA=segments, "
               "scan = the default; errors against the cpu twin on the same inputs\n", bw / 1e9);
        printf("| kernels | pass | ms | MB needed | MB issued | GB/s (needed) | x floor | err "
               "(limit %.0e) |\n|---|---|---|---|---|---|---|---|\n", EMA_TOL);
        status = ema_rounds(o, &g, &h, cfg, bw);
    }
    dev_free(&g);
    host_free(&h);
    hn_bench_packed_free(&pg, gpu);
    hn_bench_packed_free(&pc, cpu);
    free(lens);
    return status;
}
#endif
