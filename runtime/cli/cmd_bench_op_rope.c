/* hnet bench --op rope: the rotary embedding as the attention layer calls it
 * (layers/attention/attention_train.c), timed on the cuda device with each kernel set
 * named in --kernels (old, tiles: HNET_CUDA_ROPE) and checked against the cpu twin in the
 * same run.
 *
 *   hnet bench --op rope --seqs 8x8192 --heads 12 --head-dim 64 --rot-dim 32 --kernels old,tiles
 *
 * (the defaults are I1's: 8 x 8192 rows, 12 heads of 64, rotary_dim 32, theta 10000).
 * The calls and views are the layer's at the bf16 activation dtype, D = heads x head_dim:
 *   in place      rope_t on the bf16 qkv buffer [T, 3D] (row stride 3D): q and k as one
 *                 call of 2 heads heads over its first 2D columns (the layer's call), and
 *                 as two calls, q then k, of heads over D columns each (its call before)
 *   out of place  rope_to_t, the backward's inverse: the float32 dqkv [T, 3D] (q and k as
 *                 2 heads heads, v copied) into the bf16 qkv buffer, every column written
 * Memory-bound: the ratio is to the floor, the bytes a call must move over the measured
 * copy rate (a device-to-device copy: bytes read + written / time). R = 2 (rot_dim / 2)
 * rotated dims a head, H heads:
 *   in place      2 x T H R x 2 (bf16) x 2 (read and written) + 4 T a call (positions):
 *                 only the rotated dims, 64-byte pieces of each head at I1's shape
 *   out of place  T 3D (4 + 2) + 4 T: dqkv read (float32), qkv written (bf16)
 * The cpu check runs the same calls on sequences of seq_len (at most 32768: the positions
 * of the timed shape) and --check-len + 3 rows: the relative error over the whole qkv
 * buffer and the count of elements more than one bf16 step from the cpu's. */
#ifdef HN_HAVE_CUDA
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/tensor.h"
#include "cli/bench_op.h"

#define ROPE_THETA 10000.0f /* the attention layer's default rope_theta */
#define ROPE_TOL 5e-3       /* relative error (bf16 outputs: one rounding where float32 values straddle one) */

enum { IN_ONE, IN_TWO, OUT_OF_PLACE, N_CALLS };
static const char *const CALL_NAME[N_CALLS] = {"in place, q and k in one call",
                                               "in place, q then k (two calls)",
                                               "out of place, dqkv f32 -> qkv bf16"};

typedef struct rope_case {
    packed pk;
    int T, heads, hd, rot;
    void *qkv;   /* bf16 [T, 3D] */
    float *dqkv; /* float32 [T, 3D] */
} rope_case;

static size_t n_qkv(const rope_case *c) { return (size_t)c->T * 3 * c->heads * c->hd; }

/* a cheap deterministic fill of unit variance (the timed shape holds 150M values a buffer) */
static float hash_value(size_t i, unsigned seed) {
    uint32_t u = (uint32_t)(i * 2654435761u) ^ (seed * 0x9e3779b9u);
    u ^= u >> 16, u *= 0x7feb352du, u ^= u >> 15, u *= 0x846ca68bu, u ^= u >> 16;
    return (float)(1.7320508 * ((u >> 8) * (2.0 / 16777216.0) - 1.0));
}

static void case_free(rope_case *c, const hn_backend *be) {
    if (c->qkv) be->free(c->qkv);
    if (c->dqkv) be->free(c->dqkv);
    hn_bench_packed_free(&c->pk, be);
    memset(c, 0, sizeof *c);
}

/* the same values on every backend for the same shape */
static int case_make(rope_case *c, const hn_backend *be, const int *lens, int n, int heads, int hd,
                     int rot) {
    memset(c, 0, sizeof *c);
    if (hn_bench_packed_make(&c->pk, be, lens, n)) return -1;
    c->T = c->pk.s.total, c->heads = heads, c->hd = hd, c->rot = rot;
    size_t m = n_qkv(c);
    uint16_t *q = malloc(m * sizeof *q);
    float *g = malloc(m * sizeof *g);
    if (q && g) {
        for (size_t i = 0; i < m; i++) q[i] = hn_bf16_from_f32(hash_value(i, 1)), g[i] = hash_value(i, 2);
        c->qkv = hn_bench_upload(be, q, m * sizeof *q);
        c->dqkv = hn_bench_upload(be, g, m * sizeof *g);
    }
    free(q);
    free(g);
    return c->qkv && c->dqkv ? 0 : -1;
}

static hn_tensor qkv_view(const rope_case *c) {
    return hn_tensor_of(c->qkv, HN_BF16, c->T, 3 * c->heads * c->hd);
}

static hn_rope_params params(const rope_case *c, hn_tensor x, int heads, int inverse) {
    return (hn_rope_params){.x = x, .heads = heads, .head_dim = c->hd, .rot_dim = c->rot,
                            .pos = c->pk.s.pos_dev, .theta = ROPE_THETA, .inverse = inverse};
}

static int run_call(const hn_backend *be, rope_case *c, int call) {
    int D = c->heads * c->hd;
    hn_tensor qkv = qkv_view(c);
    if (call == IN_ONE) {
        hn_rope_params p = params(c, hn_tensor_cols(qkv, 0, 2 * D), 2 * c->heads, 0);
        return be->rope_t(be, &p);
    }
    if (call == IN_TWO) {
        hn_rope_params q = params(c, hn_tensor_cols(qkv, 0, D), c->heads, 0);
        hn_rope_params k = params(c, hn_tensor_cols(qkv, D, D), c->heads, 0);
        return be->rope_t(be, &q) || be->rope_t(be, &k);
    }
    hn_rope_params p = params(c, hn_tensor_f32(c->dqkv, c->T, 3 * D), 2 * c->heads, 1);
    return be->rope_to_t(be, &p, qkv);
}

/* the header's floors */
static double call_bytes(const rope_case *c, int call) {
    double T = c->T, D = (double)c->heads * c->hd, rotated = 2 * (c->rot / 2);
    if (call == OUT_OF_PLACE) return T * 3 * D * (4 + 2) + 4 * T;
    return 2 * T * c->heads * rotated * 2 * 2 + 4 * T * (call == IN_TWO ? 2 : 1);
}

typedef struct timed {
    rope_case *c;
    int call;
} timed;
static void timed_fn(const hn_backend *be, void *arg) {
    timed *t = arg;
    run_call(be, t->c, t->call);
}

/* over the n bf16 values of the gpu's and the cpu's buffers: the relative L2 error, and in
 * *off the elements more than one bf16 step (2^-7 relative, 1e-5 absolute) apart */
static double compare_bf16(const void *gpu_dev, const void *cpu_host, size_t n, const hn_backend *g,
                           long *off) {
    uint16_t *h = malloc(n * sizeof *h);
    const uint16_t *w = cpu_host;
    *off = -1;
    if (!h) return INFINITY;
    g->download(h, gpu_dev, n * sizeof *h);
    double num = 0, den = 0;
    long bad = 0;
    for (size_t i = 0; i < n; i++) {
        double a = hn_bf16_to_f32(h[i]), b = hn_bf16_to_f32(w[i]), d = fabs(a - b);
        num += d * d, den += b * b;
        if (!(d <= fabs(b) / 128 + 1e-5)) bad++;
    }
    free(h);
    *off = bad;
    return num == num ? sqrt(num / (den > 0 ? den : 1)) : INFINITY;
}

/* every call on the cpu and on the gpu (its current kernels) from fresh copies of the same
 * inputs; errors into line; 1 when one is over its limit, 0 when none, -1 out of memory */
static int check(const hn_backend *cpu, const hn_backend *gpu, const op_opts *o, char *line, size_t cap) {
    int lens[2] = {(int)(o->seq_len < 32768 ? o->seq_len : 32768), (int)o->check_len + 3};
    size_t len = 0;
    int over = 0;
    line[0] = 0;
    for (int call = 0; call < N_CALLS; call++) {
        rope_case cc, gc;
        memset(&cc, 0, sizeof cc);
        memset(&gc, 0, sizeof gc);
        int rc = case_make(&cc, cpu, lens, 2, (int)o->heads, (int)o->head_dim, (int)o->rot_dim) ||
                 case_make(&gc, gpu, lens, 2, (int)o->heads, (int)o->head_dim, (int)o->rot_dim) ||
                 run_call(cpu, &cc, call) || run_call(gpu, &gc, call);
        long off = -1;
        double e = rc ? INFINITY : compare_bf16(gc.qkv, cc.qkv, n_qkv(&cc), gpu, &off);
        case_free(&cc, cpu);
        case_free(&gc, gpu);
        if (rc || off < 0) return -1;
        if (!(e <= ROPE_TOL) || off > 0) over = 1;
        if (len < cap)
            len += (size_t)snprintf(line + len, cap - len, "%s%s %.2e (%ld off)", len ? "; " : "",
                                    CALL_NAME[call], e, off);
    }
    return over;
}

/* "old" (HNET_CUDA_ROPE=old) or "tiles" ("new" the same): cfg->rope_tiles, or -1 */
static int parse_kernels(const char *k) {
    if (!strcmp(k, "old")) return 0;
    if (!strcmp(k, "tiles") || !strcmp(k, "new")) return 1;
    return -1;
}

int hn_bench_rope(const op_opts *o) {
    const hn_backend *cpu, *gpu = hn_bench_gpu(&cpu);
    if (!gpu) return 1;
    hn_cuda_config *cfg = hn_cuda_config_of(gpu);
    long T = o->n_seqs * o->seq_len, H = o->heads, hd = o->head_dim, rot = o->rot_dim;
    if (!cfg || rot > hd || T * 3 * H * hd > 1L << 31) {
        fprintf(stderr, "hnet bench: %s\n", !cfg ? "no cuda configuration"
                                            : rot > hd ? "--rot-dim exceeds --head-dim"
                                                       : "shape too large");
        return 2;
    }
    double bw = hn_bench_copy_rate(gpu, 10);
    printf("rope: %ld x %ld rows, %ld heads of %ld, rot_dim %ld, theta %.0f, qkv bf16 (row stride "
           "%ld), dqkv float32, on %s\n", o->n_seqs, o->seq_len, H, hd, rot, ROPE_THETA, 3 * H * hd,
           hn_cuda_device_name());
    printf("  measured copy rate %.0f GB/s (read + written); floor = MB needed at that rate; kernels: "
           "old = HNET_CUDA_ROPE=old, tiles = the default\n", bw / 1e9);
    int n = (int)o->n_seqs, *lens = hn_bench_equal_lens(o);
    rope_case c;
    if (!lens || case_make(&c, gpu, lens, n, (int)H, (int)hd, (int)rot)) {
        if (lens) case_free(&c, gpu);
        free(lens);
        fprintf(stderr, "hnet bench: out of memory for the shape\n");
        return 1;
    }
    free(lens);
    int was = cfg->rope_tiles, status = 0, seen[2] = {0, 0};
    char *names = strdup(o->kernels ? o->kernels : "old,tiles,old,tiles"), *save = NULL;
    printf("| kernels | call | ms | MB needed | GB/s | x floor |\n|---|---|---|---|---|---|\n");
    for (char *k = names ? strtok_r(names, ",", &save) : NULL; k && !status; k = strtok_r(NULL, ",", &save)) {
        int tiles = parse_kernels(k);
        if (tiles < 0) {
            fprintf(stderr, "hnet bench: unknown rope kernels '%s' (old, tiles)\n", k);
            status = 2;
            break;
        }
        seen[tiles] = 1;
        cfg->rope_tiles = tiles;
        for (int call = 0; call < N_CALLS; call++) {
            timed t = {&c, call};
            double ms = hn_bench_time_ms(timed_fn, gpu, &t, (int)o->warmup, (int)o->reps);
            double bytes = call_bytes(&c, call);
            printf("| %s | %s | %.4f | %.1f | %.0f | %.2f |\n", k, CALL_NAME[call], ms, bytes / 1e6,
                   bytes / (ms * 1e-3) / 1e9, bw > 0 ? ms / (bytes / bw * 1e3) : NAN);
        }
        if (hn_bench_device_failed(gpu)) status = 1;
    }
    case_free(&c, gpu);
    for (int tiles = 0; tiles < 2 && !status; tiles++) {
        if (!seen[tiles]) continue;
        cfg->rope_tiles = tiles;
        char line[640];
        int rc = check(cpu, gpu, o, line, sizeof line);
        if (rc < 0) {
            fprintf(stderr, "hnet bench: the cpu check failed (out of memory or an op refused)\n");
            status = 1;
            break;
        }
        printf("against the cpu (%ld + %ld rows), %s kernels: %s (limits %.0e, no element more than "
               "one bf16 step off)%s\n", o->seq_len < 32768 ? o->seq_len : 32768, o->check_len + 3,
               tiles ? "tiles" : "old", line, ROPE_TOL, rc ? ": OVER A LIMIT" : "");
        if (rc) status = 3;
    }
    cfg->rope_tiles = was;
    free(names);
    if (status == 3) fprintf(stderr, "hnet bench: rope differs from the cpu beyond the limits\n");
    return status;
}
#endif
