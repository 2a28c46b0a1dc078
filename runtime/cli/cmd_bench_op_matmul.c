/* hnet bench --op matmul: the bf16 products of a bench model's step, timed on the cuda
 * device through cublasGemmEx, cuBLASLt's heuristic pick and cuBLASLt tuned per shape
 * (HNET_CUDA_MATMUL_ALGO=gemmex|lt|lt-tuned), in the same call, in TFLOP/s against the
 * measured 8192^3 bf16 rate; each cuBLASLt result is checked against cublasGemmEx's on the
 * same inputs (cublasGemmEx is the path test_parity_typed holds to the cpu twin).
 *
 *   hnet bench --op matmul --shapes H1,I1 [--kernels gemmex,lt,lt-tuned]
 *
 * The shapes are listed here, from the layers' code (the products of matmul_t, as
 * row-major m x n x k, with the dtypes the bf16 activation mode gives them: operands bf16,
 * outputs bf16 where a stash or a bf16 gradient is written, float32 otherwise, beta 1
 * where a gradient accumulates: the weight gradients, the residual and routing dx; a
 * layer's dx is written, layer ABI 6's write_dx), for bench/H1.lua and bench/I1.lua at
 * batch 8 x 8192:
 *   H1: outer stage d 512, T = 65536 rows: 8 mamba2 layers (d_inner 1024, in_proj
 *       512 -> 2192 = 2 d_inner + 2 d_state + heads), the residual projection and the
 *       routing's q and k projections (512 x 512 each) and the LM head (256 x 512);
 *       inner stage d 768 at ratio 6 (--routing targets: 10923 rows): 8 blocks of
 *       attention (qkv 768 -> 2304, out 768 x 768) and SwiGLU (768 -> 2 x 2048 -> 768).
 *   I1: 12 blocks of attention and SwiGLU at d 768 over 65536 rows, and the LM head.
 * 156 products a step for H1, 147 for I1 (the counts of bench/RESULTS.md's profiles). A
 * step's product time per path is the sum of count x ms over its rows. */
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
#include "core/rng.h"

/* relative L2 difference from cublasGemmEx over which the run fails: float32 outputs
 * differ by summation order only; a bf16 output by one rounding where they straddle one */
#define MM_TOL_F32 1e-3
#define MM_TOL_BF16 1e-2

typedef struct mm_shape {
    const char *config, *what;
    int m, n, k, ta, tb;
    hn_dtype dc;
    float beta;
    int count; /* products of this shape in one step */
} mm_shape;

#define T_OUT 65536 /* 8 x 8192 */
#define T_IN 10923  /* H1's inner stage at ratio 6 */
#define B HN_BF16
#define F HN_F32
static const mm_shape SHAPES[] = {
    {"H1", "mamba2 in_proj", T_OUT, 2192, 512, 0, 1, B, 0, 8},
    {"H1", "mamba2 out_proj", T_OUT, 512, 1024, 0, 1, F, 0, 8},
    {"H1", "mamba2 dW out_proj", 512, 1024, T_OUT, 1, 0, F, 1, 8},
    {"H1", "mamba2 d(y norm)", T_OUT, 1024, 512, 0, 0, B, 0, 8},
    {"H1", "mamba2 dW in_proj", 2192, 512, T_OUT, 1, 0, F, 1, 8},
    {"H1", "mamba2 dx", T_OUT, 512, 2192, 0, 0, F, 0, 8},
    {"H1", "residual proj", T_OUT, 512, 512, 0, 1, F, 1, 1},
    {"H1", "routing q, k", T_OUT, 512, 512, 0, 1, F, 0, 2},
    {"H1", "residual + routing dW", 512, 512, T_OUT, 1, 0, F, 1, 3},
    {"H1", "residual + routing dx", T_OUT, 512, 512, 0, 0, F, 1, 3},
    {"H1", "head", T_OUT, 256, 512, 0, 1, F, 0, 1},
    {"H1", "head dW", 256, 512, T_OUT, 1, 0, F, 1, 1},
    {"H1", "head dh", T_OUT, 512, 256, 0, 0, F, 0, 1},
    {"H1", "inner qkv", T_IN, 2304, 768, 0, 1, B, 0, 8},
    {"H1", "inner att out", T_IN, 768, 768, 0, 1, F, 0, 8},
    {"H1", "inner dW att out", 768, 768, T_IN, 1, 0, F, 1, 8},
    {"H1", "inner d(att)", T_IN, 768, 768, 0, 0, B, 0, 8},
    {"H1", "inner dW qkv", 2304, 768, T_IN, 1, 0, F, 1, 8},
    {"H1", "inner dx qkv", T_IN, 768, 2304, 0, 0, F, 0, 8},
    {"H1", "inner fc1", T_IN, 4096, 768, 0, 1, B, 0, 8},
    {"H1", "inner fc2", T_IN, 768, 2048, 0, 1, F, 0, 8},
    {"H1", "inner dW fc2", 768, 2048, T_IN, 1, 0, F, 1, 8},
    {"H1", "inner dh", T_IN, 2048, 768, 0, 0, B, 0, 8},
    {"H1", "inner dW fc1", 4096, 768, T_IN, 1, 0, F, 1, 8},
    {"H1", "inner dx fc1", T_IN, 768, 4096, 0, 0, F, 0, 8},
    {"I1", "qkv", T_OUT, 2304, 768, 0, 1, B, 0, 12},
    {"I1", "att out", T_OUT, 768, 768, 0, 1, F, 0, 12},
    {"I1", "dW att out", 768, 768, T_OUT, 1, 0, F, 1, 12},
    {"I1", "d(att)", T_OUT, 768, 768, 0, 0, B, 0, 12},
    {"I1", "dW qkv", 2304, 768, T_OUT, 1, 0, F, 1, 12},
    {"I1", "dx qkv", T_OUT, 768, 2304, 0, 0, F, 0, 12},
    {"I1", "fc1", T_OUT, 4096, 768, 0, 1, B, 0, 12},
    {"I1", "fc2", T_OUT, 768, 2048, 0, 1, F, 0, 12},
    {"I1", "dW fc2", 768, 2048, T_OUT, 1, 0, F, 1, 12},
    {"I1", "dh", T_OUT, 2048, 768, 0, 0, B, 0, 12},
    {"I1", "dW fc1", 4096, 768, T_OUT, 1, 0, F, 1, 12},
    {"I1", "dx fc1", T_OUT, 768, 4096, 0, 0, F, 0, 12},
    {"I1", "head", T_OUT, 256, 768, 0, 1, F, 0, 1},
    {"I1", "head dW", 256, 768, T_OUT, 1, 0, F, 1, 1},
    {"I1", "head dh", T_OUT, 768, 256, 0, 0, F, 0, 1},
};
#undef B
#undef F
#define N_SHAPES (int)(sizeof SHAPES / sizeof *SHAPES)

#define MAX_ALGOS 3
static const struct {
    const char *name;
    hn_cuda_matmul_algo algo;
} ALGOS[MAX_ALGOS] = {{"gemmex", HN_CUDA_MATMUL_ALGO_GEMMEX},
                      {"lt", HN_CUDA_MATMUL_ALGO_LT},
                      {"lt-tuned", HN_CUDA_MATMUL_ALGO_LT_TUNED}};

/* one shape's buffers on the device: a and b bf16, c of its dtype, c0 c's starting values */
typedef struct mm_case {
    const mm_shape *s;
    void *a, *b, *c, *c0;
    size_t na, nb, nc;
} mm_case;

static void case_free(mm_case *c, const hn_backend *be) {
    void *all[] = {c->a, c->b, c->c, c->c0};
    for (int i = 0; i < 4; i++)
        if (all[i]) be->free(all[i]);
}

/* n bf16 or float32 values of standard deviation std (uniform: cheap enough for the
 * largest shapes' hundreds of millions) uploaded to a new device buffer */
static void *device_random(const hn_backend *be, hn_dtype dt, size_t n, double std, hn_rng *r) {
    size_t el = hn_dtype_size(dt);
    void *h = malloc(n * el), *d = be->alloc(n * el);
    if (h && d) {
        for (size_t i = 0; i < n; i++) {
            float v = (float)(std * sqrt(3.0) * (2 * hn_rng_uniform(r) - 1));
            if (dt == HN_BF16) ((uint16_t *)h)[i] = hn_bf16_from_f32(v);
            else ((float *)h)[i] = v;
        }
        be->upload(d, h, n * el);
    }
    free(h);
    if (!h && d) {
        be->free(d);
        d = NULL;
    }
    return d;
}

static int case_make(mm_case *c, const hn_backend *be, const mm_shape *s, hn_rng *r) {
    memset(c, 0, sizeof *c);
    c->s = s;
    c->na = (size_t)s->m * s->k;
    c->nb = (size_t)s->k * s->n;
    c->nc = (size_t)s->m * s->n;
    /* unit operands over sqrt(k): outputs of order one whatever k is */
    c->a = device_random(be, HN_BF16, c->na, 1.0, r);
    c->b = device_random(be, HN_BF16, c->nb, 1.0 / sqrt((double)s->k), r);
    c->c0 = device_random(be, s->dc, c->nc, 1.0, r);
    c->c = be->alloc(c->nc * hn_dtype_size(s->dc));
    return c->a && c->b && c->c0 && c->c ? 0 : -1;
}

static hn_matmul_params params_of(const mm_case *c) {
    const mm_shape *s = c->s;
    hn_tensor a = s->ta ? hn_tensor_of(c->a, HN_BF16, s->k, s->m) : hn_tensor_of(c->a, HN_BF16, s->m, s->k);
    hn_tensor b = s->tb ? hn_tensor_of(c->b, HN_BF16, s->n, s->k) : hn_tensor_of(c->b, HN_BF16, s->k, s->n);
    return (hn_matmul_params){.a = a, .b = b, .c = hn_tensor_of(c->c, s->dc, s->m, s->n),
                              .trans_a = s->ta, .trans_b = s->tb, .alpha = 1.0f, .beta = s->beta};
}

static void mm_fn(const hn_backend *be, void *arg) {
    hn_matmul_params p = params_of(arg);
    be->matmul_t(be, &p);
}

/* c from c0, one product (in lt-tuned, the one that times the candidates), c widened to
 * float32 on the host (NULL when out of memory) */
static float *one_product(const hn_backend *be, mm_case *c) {
    const mm_shape *s = c->s;
    size_t el = hn_dtype_size(s->dc);
    be->copy(c->c, c->c0, c->nc * el);
    mm_fn(be, c);
    float *out = malloc(c->nc * sizeof(float));
    void *raw = s->dc == HN_BF16 ? malloc(c->nc * el) : out;
    if (!out || !raw) {
        free(out);
        if (raw != out) free(raw);
        return NULL;
    }
    be->download(raw, c->c, c->nc * el);
    if (raw != out) {
        for (size_t i = 0; i < c->nc; i++) out[i] = hn_bf16_to_f32(((uint16_t *)raw)[i]);
        free(raw);
    }
    return out;
}

static double rel_diff(const float *x, const float *ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)x[i] - ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    if (!(num == num)) return INFINITY;
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* the --kernels list as indices into ALGOS; the count, or -1 naming an unknown one */
static int parse_algos(const char *list, int *idx) {
    char *names = strdup(list ? list : "gemmex,lt,lt-tuned"), *save = NULL;
    int n = 0;
    for (char *k = strtok_r(names, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
        int found = -1;
        for (int i = 0; i < MAX_ALGOS; i++)
            if (!strcmp(k, ALGOS[i].name)) found = i;
        if (found < 0 || n == MAX_ALGOS) {
            fprintf(stderr, "hnet bench: unknown or repeated matmul path '%s' (gemmex, lt, lt-tuned)\n", k);
            free(names);
            return -1;
        }
        idx[n++] = found;
    }
    free(names);
    return n;
}

static int wanted(const char *list, const char *config) {
    size_t n = strlen(config);
    for (const char *p = list; (p = strstr(p, config)); p += n)
        if ((p == list || p[-1] == ',') && (p[n] == 0 || p[n] == ',')) return 1;
    return 0;
}

int hn_bench_matmul(const op_opts *o) {
    const hn_backend *cpu, *gpu = hn_bench_gpu(&cpu);
    if (!gpu) return 1;
    int idx[MAX_ALGOS], n_algos = parse_algos(o->kernels, idx);
    if (n_algos <= 0) return 2;
    const char *configs = o->shapes ? o->shapes : "H1,I1";
    int known = 0;
    for (int i = 0; i < N_SHAPES; i++) known += wanted(configs, SHAPES[i].config);
    if (!known) {
        fprintf(stderr, "hnet bench: --shapes lists H1 and/or I1 (e.g. H1,I1)\n");
        return 2;
    }
    hn_cuda_config *cfg = hn_cuda_config_of(gpu);
    if (!cfg || cfg->matmul != HN_CUDA_MATMUL_BF16) {
        fprintf(stderr, "hnet bench: --op matmul times the bf16 products (unset HNET_CUDA_MATMUL)\n");
        return 2;
    }
    int algo_before = cfg->matmul_algo;
    double rate = hn_cuda_measure_bf16_flops(8192, 10);
    hn_cuda_lt_forget(gpu); /* lt-tuned times every shape in this call */
    printf("matmul: the bf16 products of %s, on %s; measured 8192^3 bf16 rate %.0f TFLOP/s\n",
           configs, hn_cuda_device_name(), rate / 1e12);
    printf("| config | product | m x n x k | c | beta | per step |");
    for (int j = 0; j < n_algos; j++) printf(" %s ms | TFLOP/s |", ALGOS[idx[j]].name);
    printf(" %% of 8192^3 (best) |");
    for (int j = 1; j < n_algos; j++) printf(" %s vs %s |", ALGOS[idx[j]].name, ALGOS[idx[0]].name);
    printf("\n|---|---|---|---|---|---|");
    for (int j = 0; j < 2 * n_algos + n_algos; j++) printf("---|");
    printf("\n");
    double step_ms[2][MAX_ALGOS] = {{0}}; /* per config of SHAPES (grouped by config) */
    const char *step_cfg[2] = {0};
    int n_cfg = 0, status = 0;
    hn_rng r;
    hn_rng_seed(&r, 20261203);
    for (int i = 0; i < N_SHAPES && status != 1; i++) {
        const mm_shape *s = &SHAPES[i];
        if (!wanted(configs, s->config)) continue;
        if (!n_cfg || strcmp(step_cfg[n_cfg - 1], s->config)) step_cfg[n_cfg++] = s->config;
        mm_case c;
        if (case_make(&c, gpu, s, &r)) {
            case_free(&c, gpu);
            fprintf(stderr, "hnet bench: out of memory for %s %s\n", s->config, s->what);
            status = 1;
            break;
        }
        double flops = 2.0 * s->m * (double)s->n * s->k, ms[MAX_ALGOS], diff[MAX_ALGOS] = {0};
        float *ref = NULL;
        for (int j = 0; j < n_algos; j++) {
            cfg->matmul_algo = ALGOS[idx[j]].algo;
            float *out = one_product(gpu, &c);
            if (!ref) ref = out;
            else {
                diff[j] = out ? rel_diff(out, ref, c.nc) : INFINITY;
                free(out);
            }
            ms[j] = hn_bench_time_ms(mm_fn, gpu, &c, (int)o->warmup, (int)o->reps);
            step_ms[n_cfg - 1][j] += s->count * ms[j];
        }
        free(ref);
        case_free(&c, gpu);
        if (hn_bench_device_failed(gpu)) {
            status = 1;
            break;
        }
        double best = ms[0];
        for (int j = 1; j < n_algos; j++) best = ms[j] < best ? ms[j] : best;
        printf("| %s | %s | %d x %d x %d | %s | %.0f | %d |", s->config, s->what, s->m, s->n, s->k,
               s->dc == HN_BF16 ? "bf16" : "f32", s->beta, s->count);
        for (int j = 0; j < n_algos; j++) printf(" %.3f | %.0f |", ms[j], flops / (ms[j] * 1e-3) / 1e12);
        printf(" %.0f%% |", 100 * flops / (best * 1e-3) / rate);
        double tol = s->dc == HN_BF16 ? MM_TOL_BF16 : MM_TOL_F32;
        for (int j = 1; j < n_algos; j++) {
            printf(" %.1e%s |", diff[j], diff[j] < tol ? "" : " FAIL");
            if (!(diff[j] < tol)) status = 3;
        }
        printf("\n");
    }
    cfg->matmul_algo = algo_before;
    printf("\n| config | products per step, ms |");
    for (int j = 0; j < n_algos; j++) printf(" %s |", ALGOS[idx[j]].name);
    printf("\n|---|---|");
    for (int j = 0; j < n_algos; j++) printf("---|");
    printf("\n");
    for (int c = 0; c < n_cfg; c++) {
        printf("| %s | sum of count x ms |", step_cfg[c]);
        for (int j = 0; j < n_algos; j++) printf(" %.2f |", step_ms[c][j]);
        printf("\n");
    }
    hn_cuda_lt_stats st;
    hn_cuda_lt_stats_of(gpu, &st);
    printf("cuBLASLt: %d shapes cached, %d timed in %.0f ms (host time), %ld products fell back "
           "to cublasGemmEx\n", st.shapes, st.tuned, st.tune_ms, st.fallbacks);
    if (status == 3) fprintf(stderr, "hnet bench: a cuBLASLt product differs from cublasGemmEx's\n");
    return status;
}
#endif
