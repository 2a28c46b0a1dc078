/* hnet bench --op NAME: one backend op timed on the device against the measured device
 * rate, and checked against the cpu twin in the same run (in the spirit of llm.c's
 * dev/cuda). Each op is a row of OPS: how to make its inputs, run it on a backend, count
 * its FLOPs and compare its outputs.
 *
 *   hnet bench --op attention --seqs 8x8192 --heads 12 --window global
 *
 * Timing: device events around each call, median of --reps after --warmup; the cpu
 * check runs the same op on a smaller shape of the same kind (--check-len bytes per
 * sequence, two sequences of unequal length), since the cpu is far slower. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/tensor.h"
#include "cli/bench_op.h"
#include "cli/commands.h"
#include "cli/util.h"
#include "core/rng.h"
#ifdef HN_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

static void usage(FILE *out) {
    fprintf(out,
            "usage: hnet bench --op NAME [options]\n\n"
            "Times one backend op on the cuda device (median of reps, device events), in\n"
            "TFLOP/s against the measured bf16 matrix-product rate, and checks it against\n"
            "the cpu backend on a smaller shape in the same run.\n\n"
            "ops:\n"
            "  attention       causal packed attention, forward and backward; FLOPs counted\n"
            "                  the FlashAttention way (4 * visible pairs * head_dim * heads\n"
            "                  forward; backward 2.5x forward)\n"
            "  ssd             Mamba-2's chunked SSD scan, forward and backward (one group;\n"
            "                  FLOPs: the chunked algorithm's products, causal halves counted\n"
            "                  once)\n"
            "  chunk_plan      a chunking stage's plan from p (boundaries, prefix sum, inner\n"
            "                  packing), in GB/s of the bytes it touches; checked entry for\n"
            "                  entry against the cpu on the same shape\n\n"
            "  conv1d          Mamba-2's causal depthwise conv + SiLU, forward and backward, at\n"
            "                  the layer's dtypes (x, dx bf16; out, dout, w, dw float32); GB/s\n"
            "                  against the measured copy rate, bytes per call for T positions:\n"
            "                  forward T C (2 + 4) + 4 T + 4 C (K+1), backward T C (2 + 4 + 2)\n"
            "                  + 4 T + 12 C (K+1); exits 3 when it differs from the cpu\n"
            "  rmsnorm         the typed RMSNorm: forward (x float32 -> y bf16), the fused\n"
            "                  residual add, backward (dx float32 +=, dx2 bf16, dw); widths 512\n"
            "                  and 768; the default and the rows kernels (HNET_CUDA_NORM=rows)\n"
            "                  side by side, GB/s against the copy rate; bytes for T rows of D:\n"
            "                  T D (4 + 2) forward, T D (4 + 4 + 4 + 2) add + forward,\n"
            "                  T D (4 + 4 + 8 + 2) backward; exits 3 when either set differs\n"
            "                  from the cpu\n"
            "  gated_rmsnorm   Mamba-2's gated RMSNorm (x, z, out, dout, dz bf16; dx float32 +=),\n"
            "                  widths 1024 and 1536, as rmsnorm; bytes T D (2 + 2 + 2) forward,\n"
            "                  T D (2 + 2 + 2 + 8 + 2) backward\n"
            "  matmul          the bf16 products of a bench model's step (listed in\n"
            "                  cmd_bench_op_matmul.c) through cublasGemmEx, cuBLASLt's pick and\n"
            "                  cuBLASLt tuned per shape (HNET_CUDA_MATMUL_ALGO), each checked\n"
            "                  against the first path listed; a step's product time per path;\n"
            "                  exits 3 when they differ\n"
            "  rope            the attention layer's rotary embedding: in place on the bf16 qkv\n"
            "                  buffer's q and k (one call, and q then k), and out of place from\n"
            "                  the float32 dqkv into it (the backward's); the old and the tiles\n"
            "                  kernels (HNET_CUDA_ROPE) side by side, GB/s against the copy rate;\n"
            "                  bytes for T rows, H heads, R rotated dims a head: 8 T H R in place,\n"
            "                  T 3D (4 + 2) out of place; exits 3 when one differs from the cpu\n"
            "  ema             the dechunk EMA (smoothing), forward and backward, float32, on\n"
            "                  unequal sequences of about L rows (default 8x1365: H1's inner\n"
            "                  stage, 10,923 rows) and --dim columns (default 512); kernels\n"
            "                  column, segments, scan (the default; HNET_CUDA_EMA=column|segments);\n"
            "                  GB/s against the copy rate, bytes for K rows of D: K D (4 + 4) + 4 K\n"
            "                  forward, K D (3 x 4 + 8) + 12 K backward (dz and dP added to);\n"
            "                  checked against the cpu on the same inputs; exits 3 when one differs\n\n"
            "options:\n"
            "  --seqs NxL        N sequences of L positions (default 8x8192; ema 8x1365)\n"
            "  --heads H         (default 12 for attention, 24 for ssd)\n"
            "  --head-dim D      (default 64)   --d-state N, --chunk Q (ssd: 64, 256)\n"
            "  --window W|global (default global)\n"
            "  --channels C      conv1d channels (default 1152: H1's d_inner + 2 d_state)\n"
            "  --width K         conv1d kernel width, 1 to 16 (default 4)\n"
            "  --dim D           rmsnorm, gated_rmsnorm: one row width instead of the models';\n"
            "                    ema: the columns (default 512)\n"
            "  --rot-dim R       rope: rotated dims a head (default 32: I1's rotary_dim)\n"
            "  --reps N          timed calls (default 20)   --warmup N (default 3)\n"
            "  --check-len L     positions per sequence of the cpu check (default 1024)\n"
            "  --kernels LIST    kernels to compare, e.g. mma,wgmma,wmma,fp32 (attention),\n"
            "                    mma,chunked,scan (ssd), gemmex,lt,lt-tuned (matmul, the default)\n"
            "                    or window,lean,lean2,lean3,lean4 (conv1d; -bf16 after any: bf16 out and\n"
            "                    dout; default window,lean,lean-bf16,window,lean,lean-bf16),\n"
            "                    old,tiles (rope; default old,tiles,old,tiles), or\n"
            "                    column,segments,scan (ema; default column,segments,scan,\n"
            "                    segments,scan)\n"
            "  --shapes LIST     matmul: the products of H1 and/or I1 (default H1,I1)\n");
}

static int parse(int argc, char **argv, op_opts *o) {
    *o = (op_opts){.n_seqs = 8, .seq_len = 8192, .heads = 0, .head_dim = 64, .reps = 20,
                   .warmup = 3, .check_len = 1024, .window = -1, .chunk = 256, .d_state = 64,
                   .channels = 1152, .width = 4, .rot_dim = 32};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long *dst = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 1;
        }
        if (!v) {
            fprintf(stderr, "hnet bench: %s needs a value (see hnet bench --op --help)\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--op")) o->op = v;
        else if (!strcmp(a, "--kernels")) o->kernels = v;
        else if (!strcmp(a, "--shapes")) o->shapes = v;
        else if (!strcmp(a, "--seqs")) {
            if (sscanf(v, "%ldx%ld", &o->n_seqs, &o->seq_len) != 2 || o->n_seqs < 1 ||
                o->seq_len < 1) {
                fprintf(stderr, "hnet bench: --seqs expects NxL, e.g. 8x8192\n");
                return 2;
            }
            o->seqs_set = 1;
        } else if (!strcmp(a, "--window")) {
            if (!strcmp(v, "global")) o->window = -1;
            else if (hn_parse_long(v, &o->window) || o->window < 0) {
                fprintf(stderr, "hnet bench: --window expects a size >= 0 or 'global'\n");
                return 2;
            }
        } else if (!strcmp(a, "--heads")) dst = &o->heads;
        else if (!strcmp(a, "--head-dim")) dst = &o->head_dim;
        else if (!strcmp(a, "--chunk")) dst = &o->chunk;
        else if (!strcmp(a, "--d-state")) dst = &o->d_state;
        else if (!strcmp(a, "--channels")) dst = &o->channels;
        else if (!strcmp(a, "--width")) dst = &o->width;
        else if (!strcmp(a, "--dim")) dst = &o->dim;
        else if (!strcmp(a, "--rot-dim")) dst = &o->rot_dim;
        else if (!strcmp(a, "--reps")) dst = &o->reps;
        else if (!strcmp(a, "--warmup")) dst = &o->warmup;
        else if (!strcmp(a, "--check-len")) dst = &o->check_len;
        else {
            fprintf(stderr, "hnet bench: unknown option '%s' (see hnet bench --op --help)\n", a);
            return 2;
        }
        if (dst && (hn_parse_long(v, dst) || *dst < (dst == &o->warmup ? 0 : 1))) {
            fprintf(stderr, "hnet bench: %s expects a %s integer\n", a,
                    dst == &o->warmup ? "non-negative" : "positive");
            return 2;
        }
    }
    if (!o->op) {
        usage(stderr);
        return 2;
    }
    if (o->width > 16 || o->channels > 1 << 20) { /* the conv backward's widest kernel */
        fprintf(stderr, "hnet bench: --width must be 1 to 16 and --channels at most %d\n", 1 << 20);
        return 2;
    }
    if (!o->heads) o->heads = !strcmp(o->op, "ssd") ? 24 : 12; /* M1's Mamba-2 heads; I1's */
    return 0;
}

#ifdef HN_HAVE_CUDA

const hn_backend *hn_bench_gpu(const hn_backend **cpu) {
    const hn_backend *gpu = hn_backend_get("cuda");
    *cpu = hn_backend_get("cpu");
    if (!gpu) fprintf(stderr, "hnet bench: no CUDA device (%s)\n", hn_cuda_last_error());
    return gpu;
}

int hn_bench_device_failed(const hn_backend *gpu) {
    const char *dev_err = gpu->device_error ? gpu->device_error() : NULL;
    if (dev_err) fprintf(stderr, "hnet bench: device error: %s\n", dev_err);
    return dev_err != NULL;
}

int *hn_bench_equal_lens(const op_opts *o) {
    int n = (int)o->n_seqs, *lens = malloc((size_t)n * sizeof(int));
    for (int i = 0; lens && i < n; i++) lens[i] = (int)o->seq_len;
    return lens;
}

int hn_bench_packed_make(packed *p, const hn_backend *be, const int *lens, int n) {
    memset(p, 0, sizeof *p);
    int T = 0, max_len = 0;
    for (int i = 0; i < n; i++) {
        T += lens[i];
        if (lens[i] > max_len) max_len = lens[i];
    }
    p->offsets = malloc((size_t)(n + 1) * sizeof(int32_t));
    p->pos = malloc((size_t)T * sizeof(int32_t));
    if (!p->offsets || !p->pos) return -1;
    p->offsets[0] = 0;
    for (int i = 0; i < n; i++) {
        p->offsets[i + 1] = p->offsets[i] + lens[i];
        for (int t = 0; t < lens[i]; t++) p->pos[p->offsets[i] + t] = t;
    }
    p->offsets_dev = p->offsets;
    p->pos_dev = p->pos;
    if (be->kind != HN_DEVICE_CPU) {
        p->offsets_dev = be->alloc((size_t)(n + 1) * sizeof(int32_t));
        p->pos_dev = be->alloc((size_t)T * sizeof(int32_t));
        if (!p->offsets_dev || !p->pos_dev) return -1;
        be->upload(p->offsets_dev, p->offsets, (size_t)(n + 1) * sizeof(int32_t));
        be->upload(p->pos_dev, p->pos, (size_t)T * sizeof(int32_t));
    }
    p->s = (hn_seqs){n, T, max_len, p->offsets, p->offsets_dev, p->pos_dev};
    return 0;
}

void hn_bench_packed_free(packed *p, const hn_backend *be) {
    if (p->offsets_dev != p->offsets) be->free(p->offsets_dev);
    if (p->pos_dev != p->pos) be->free(p->pos_dev);
    free(p->offsets);
    free(p->pos);
}

float *hn_bench_device_normal(const hn_backend *be, size_t n, double std, hn_rng *r, float **host) {
    float *h = malloc(n * sizeof(float)), *d = be->alloc(n * sizeof(float));
    if (!h || !d) {
        free(h);
        if (d) be->free(d);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) h[i] = (float)(std * hn_rng_normal(r));
    be->upload(d, h, n * sizeof(float));
    if (host) *host = h;
    else free(h);
    return d;
}

/* ||gpu - cpu|| / ||cpu|| over n float32 (bf16 = 0) or bf16 (bf16 = 1) elements */
static double rel_err(const void *gpu_dev, const void *cpu, size_t n, int bf16, const hn_backend *g) {
    size_t es = bf16 ? sizeof(uint16_t) : sizeof(float);
    void *h = malloc(n * es);
    if (!h) return INFINITY;
    g->download(h, gpu_dev, n * es);
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double a = bf16 ? hn_bf16_to_f32(((const uint16_t *)h)[i]) : ((const float *)h)[i];
        double b = bf16 ? hn_bf16_to_f32(((const uint16_t *)cpu)[i]) : ((const float *)cpu)[i];
        num += (a - b) * (a - b);
        den += b * b;
    }
    free(h);
    if (!(num == num)) return INFINITY;
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

double hn_bench_rel_err(const float *gpu_dev, const float *cpu, size_t n, const hn_backend *g) {
    return rel_err(gpu_dev, cpu, n, 0, g);
}

/* query-key pairs that attention computes (causal, windowed) over packed sequences */
static double visible_pairs(const int *lens, int n, long window) {
    double pairs = 0;
    for (int s = 0; s < n; s++)
        for (long t = 0; t < lens[s]; t++) pairs += window < 0 || t < window ? t + 1 : window + 1;
    return pairs;
}

typedef struct att_case {
    packed pk;
    int heads, hd, ld, window;
    float scale;
    float *qkv, *out, *lse, *dout, *dqkv; /* device (or cpu) buffers */
    void *qkv_bf, *out_bf, *dout_bf;      /* bf16 copies: what the layer passes (typed ops) */
    void *dqkv_bf; /* bf16 gradients, where the backend makes them itself (as the layer
                    * takes them then: attention_grads_bf16); NULL: float32 dqkv */
    float *h_qkv, *h_dout;                /* host copies of the inputs */
} att_case;

static int att_make(att_case *c, const hn_backend *be, const int *lens, int n, int heads, int hd,
                    long window, hn_rng *r, const float *qkv_src, const float *dout_src) {
    memset(c, 0, sizeof *c);
    if (hn_bench_packed_make(&c->pk, be, lens, n)) return -1;
    int T = c->pk.s.total, D = heads * hd;
    c->heads = heads;
    c->hd = hd;
    c->ld = 3 * D;
    c->window = (int)window;
    c->scale = 1.0f / sqrtf((float)hd);
    size_t nqkv = (size_t)T * c->ld, nout = (size_t)T * D;
    if (qkv_src) { /* the same inputs as another case */
        c->qkv = be->alloc(nqkv * sizeof(float));
        c->dout = be->alloc(nout * sizeof(float));
        if (!c->qkv || !c->dout) return -1;
        be->upload(c->qkv, qkv_src, nqkv * sizeof(float));
        be->upload(c->dout, dout_src, nout * sizeof(float));
    } else {
        c->qkv = hn_bench_device_normal(be, nqkv, 1.5, r, &c->h_qkv);
        c->dout = hn_bench_device_normal(be, nout, 1.0, r, &c->h_dout);
        if (!c->qkv || !c->dout) return -1;
    }
    c->out = be->alloc(nout * sizeof(float));
    c->lse = be->alloc((size_t)T * heads * sizeof(float));
    c->dqkv = be->alloc(nqkv * sizeof(float));
    c->qkv_bf = be->alloc(nqkv * 2);
    c->out_bf = be->alloc(nout * 2);
    c->dout_bf = be->alloc(nout * 2);
    if (!c->out || !c->lse || !c->dqkv || !c->qkv_bf || !c->out_bf || !c->dout_bf) return -1;
    if (be->convert(be, (hn_tensor){c->qkv_bf, HN_BF16, T, c->ld, c->ld},
                    hn_tensor_f32(c->qkv, T, c->ld)) ||
        be->convert(be, (hn_tensor){c->dout_bf, HN_BF16, T, D, D}, hn_tensor_f32(c->dout, T, D)))
        return -1;
    return 0;
}

static void att_free(att_case *c, const hn_backend *be) {
    void *bufs[] = {c->qkv, c->out, c->lse, c->dout, c->dqkv, c->qkv_bf, c->out_bf, c->dout_bf, c->dqkv_bf};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        if (bufs[i]) be->free(bufs[i]);
    free(c->h_qkv);
    free(c->h_dout);
    hn_bench_packed_free(&c->pk, be);
}

/* the typed ops as the attention layer calls them: bf16 q, k, v (slices of one qkv row),
 * out and dout; float32 log-sum-exp and gradients (written, not accumulated) */
static hn_attention_params att_params(att_case *c) {
    int T = c->pk.s.total, D = c->heads * c->hd;
    hn_tensor qkv = {c->qkv_bf, HN_BF16, T, c->ld, c->ld}, g = hn_tensor_f32(c->dqkv, T, c->ld);
    if (c->dqkv_bf) g = (hn_tensor){c->dqkv_bf, HN_BF16, T, c->ld, c->ld};
    return (hn_attention_params){hn_tensor_cols(qkv, 0, D), hn_tensor_cols(qkv, D, D),
                                 hn_tensor_cols(qkv, 2 * D, D),
                                 (hn_tensor){c->out_bf, HN_BF16, T, D, D}, c->lse, &c->pk.s,
                                 c->heads, c->hd, c->window, c->scale,
                                 (hn_tensor){c->dout_bf, HN_BF16, T, D, D}, hn_tensor_cols(g, 0, D),
                                 hn_tensor_cols(g, D, D), hn_tensor_cols(g, 2 * D, D), 1};
}

/* bf16 gradients where the backend writes them itself, as the layer then asks */
static int att_use_bf16_grads(const hn_backend *be, att_case *c) {
    if (!be->attention_grads_bf16) return 0;
    int T = c->pk.s.total;
    c->dqkv_bf = be->alloc((size_t)T * c->ld * 2);
    if (!c->dqkv_bf) return -1;
    hn_attention_params p = att_params(c);
    if (be->attention_grads_bf16(be, &p) != 1) {
        be->free(c->dqkv_bf);
        c->dqkv_bf = NULL;
    }
    return 0;
}

static void att_forward(const hn_backend *be, att_case *c) {
    hn_attention_params p = att_params(c);
    be->attention_forward_t(be, &p);
}

static void att_backward(const hn_backend *be, att_case *c) {
    hn_attention_params p = att_params(c);
    be->attention_backward_t(be, &p);
}

/* the forward's bf16 output (and bf16 gradients) as float32 (for the cpu check) */
static void att_out_f32(const hn_backend *be, att_case *c) {
    int T = c->pk.s.total, D = c->heads * c->hd;
    be->convert(be, hn_tensor_f32(c->out, T, D), (hn_tensor){c->out_bf, HN_BF16, T, D, D});
}

static void att_grads_f32(const hn_backend *be, att_case *c) {
    int T = c->pk.s.total;
    if (c->dqkv_bf)
        be->convert(be, hn_tensor_f32(c->dqkv, T, c->ld),
                    (hn_tensor){c->dqkv_bf, HN_BF16, T, c->ld, c->ld});
}

double hn_bench_time_ms(void (*fn)(const hn_backend *, void *), const hn_backend *be, void *arg,
                        int warmup, int reps) {
    double *ms = malloc((size_t)reps * sizeof(double));
    if (!ms) return NAN;
    for (int i = 0; i < warmup; i++) fn(be, arg);
    for (int i = 0; i < reps; i++) {
        hn_cuda_timer_start();
        fn(be, arg);
        ms[i] = hn_cuda_timer_stop_ms();
    }
    double m = hn_median(ms, reps);
    free(ms);
    return m;
}

void *hn_bench_upload(const hn_backend *be, const void *src, size_t bytes) {
    void *d = be->alloc(bytes);
    if (d) be->upload(d, src, bytes);
    return d;
}

double hn_bench_rel_err_bf16(const void *gpu_dev, const void *cpu, size_t n, const hn_backend *g) {
    return rel_err(gpu_dev, cpu, n, 1, g);
}

static void copy_fn(const hn_backend *be, void *arg) {
    void **buf = arg;
    be->copy(buf[1], buf[0], (size_t)(uintptr_t)buf[2]);
}

double hn_bench_copy_rate(const hn_backend *be, int reps) {
    size_t bytes = (size_t)512 << 20;
    void *buf[3] = {be->alloc(bytes), be->alloc(bytes), (void *)(uintptr_t)bytes};
    double rate = 0;
    if (buf[0] && buf[1]) {
        be->zero(buf[0], bytes);
        rate = 2.0 * bytes / (hn_bench_time_ms(copy_fn, be, buf, 2, reps) * 1e-3);
    }
    if (buf[0]) be->free(buf[0]);
    if (buf[1]) be->free(buf[1]);
    return rate;
}

static void att_forward_fn(const hn_backend *be, void *c) { att_forward(be, c); }
static void att_backward_fn(const hn_backend *be, void *c) { att_backward(be, c); }

static int parse_mode(const char *name, hn_cuda_attention_mode *mode) {
    static const struct { const char *name; hn_cuda_attention_mode mode; } modes[] = {
        {"auto", HN_CUDA_ATTENTION_AUTO}, {"wmma", HN_CUDA_ATTENTION_WMMA},
        {"fp32", HN_CUDA_ATTENTION_FP32}, {"warp", HN_CUDA_ATTENTION_WARP},
        {"mma", HN_CUDA_ATTENTION_MMA}, {"wgmma", HN_CUDA_ATTENTION_WGMMA},
        {"wgmma-atomic", HN_CUDA_ATTENTION_WGMMA_ATOMIC}, {"cudnn", HN_CUDA_ATTENTION_CUDNN}};
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++)
        if (!strcmp(name, modes[i].name)) {
            *mode = modes[i].mode;
            return 0;
        }
    return -1;
}

/* the cpu check of one kernel: relative errors of out, lse and dq/dk/dv */
static int att_check(const hn_backend *cpu, const hn_backend *gpu, const op_opts *o,
                     double err[3]) {
    int lens[2] = {(int)o->check_len, (int)(o->check_len * 3 / 5) + 1};
    hn_rng r;
    hn_rng_seed(&r, 20261202);
    att_case cc, gc;
    int rc = -1;
    if (att_make(&cc, cpu, lens, 2, (int)o->heads, (int)o->head_dim, o->window, &r, NULL, NULL) ||
        att_make(&gc, gpu, lens, 2, (int)o->heads, (int)o->head_dim, o->window, &r, cc.h_qkv,
                 cc.h_dout))
        goto done;
    size_t T = (size_t)cc.pk.s.total, nout = T * o->heads * o->head_dim;
    if (att_use_bf16_grads(gpu, &gc)) goto done;
    att_forward(cpu, &cc);
    att_forward(gpu, &gc);
    att_out_f32(cpu, &cc);
    att_out_f32(gpu, &gc);
    att_backward(cpu, &cc);
    att_backward(gpu, &gc);
    att_grads_f32(gpu, &gc);
    double e_out = hn_bench_rel_err(gc.out, cc.out, nout, gpu), e_lse = hn_bench_rel_err(gc.lse, cc.lse, T * o->heads, gpu);
    err[0] = e_out;
    err[1] = e_lse;
    err[2] = hn_bench_rel_err(gc.dqkv, cc.dqkv, T * (size_t)cc.ld, gpu);
    rc = 0;
done:
    att_free(&cc, cpu);
    att_free(&gc, gpu);
    return rc;
}

static int bench_attention(const op_opts *o) {
    const hn_backend *cpu, *gpu = hn_bench_gpu(&cpu);
    if (!gpu) return 1;
    if (o->n_seqs > 1 << 20 || o->seq_len > 1 << 24 || o->heads * o->head_dim > 1 << 16) {
        fprintf(stderr, "hnet bench: shape too large\n");
        return 2;
    }
    int n = (int)o->n_seqs, *lens = hn_bench_equal_lens(o);
    if (!lens) return 1;
    double rate = hn_cuda_measure_bf16_flops(8192, 10);
    double fwd_flops = 4.0 * visible_pairs(lens, n, o->window) * o->head_dim * o->heads;
    printf("attention: %ld x %ld, heads %ld, head_dim %ld, window %s%ld, on %s\n", o->n_seqs,
           o->seq_len, o->heads, o->head_dim, o->window < 0 ? "global" : "", o->window < 0 ? 0 : o->window,
           hn_cuda_device_name());
    printf("  measured bf16 matmul rate %.0f TFLOP/s; forward %.3f TFLOP, backward 2.5x\n",
           rate / 1e12, fwd_flops / 1e12);
    printf("| kernels | fwd ms | fwd TFLOP/s | bwd ms | bwd TFLOP/s | %% of matmul rate f/b |"
           " err out | err lse | err dqkv |\n|---|---|---|---|---|---|---|---|---|\n");
    const char *list = o->kernels ? o->kernels : "auto";
    char *names = strdup(list), *save = NULL;
    int status = 0;
    hn_rng r;
    hn_rng_seed(&r, 1);
    for (char *k = strtok_r(names, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
        hn_cuda_attention_mode mode;
        if (parse_mode(k, &mode)) {
            fprintf(stderr, "hnet bench: unknown attention kernels '%s' (auto, mma, wgmma, wgmma-atomic, cudnn, wmma, fp32, warp)\n", k);
            status = 2;
            break;
        }
        hn_cuda_set_attention_mode(mode);
        double err[3] = {NAN, NAN, NAN};
        if (att_check(cpu, gpu, o, err)) {
            fprintf(stderr, "hnet bench: out of memory for the cpu check\n");
            status = 1;
            break;
        }
        att_case c;
        if (att_make(&c, gpu, lens, n, (int)o->heads, (int)o->head_dim, o->window, &r, NULL, NULL) ||
            att_use_bf16_grads(gpu, &c)) {
            att_free(&c, gpu);
            fprintf(stderr, "hnet bench: out of device memory for the shape\n");
            status = 1;
            break;
        }
        double f = hn_bench_time_ms(att_forward_fn, gpu, &c, (int)o->warmup, (int)o->reps);
        double b = hn_bench_time_ms(att_backward_fn, gpu, &c, (int)o->warmup, (int)o->reps);
        int bf16_grads = c.dqkv_bf != NULL;
        att_free(&c, gpu);
        if (hn_bench_device_failed(gpu)) {
            status = 1;
            break;
        }
        double tf = fwd_flops / (f * 1e-3) / 1e12, tb = 2.5 * fwd_flops / (b * 1e-3) / 1e12;
        if (mode == HN_CUDA_ATTENTION_CUDNN && hn_cuda_attention_cudnn_why()[0])
            printf("  (cudnn did not run: %s; the row is the fallback kernels')\n",
                   hn_cuda_attention_cudnn_why());
        if (bf16_grads) printf("  (%s: bf16 gradients written by the backward, as the layer takes them)\n", k);
        printf("| %s | %.2f | %.1f | %.2f | %.1f | %.1f%% / %.1f%% | %.2e | %.2e | %.2e |\n", k, f,
               tf, b, tb, 100 * tf * 1e12 / rate, 100 * tb * 1e12 / rate, err[0], err[1], err[2]);
    }
    hn_cuda_set_attention_mode(HN_CUDA_ATTENTION_AUTO);
    free(names);
    free(lens);
    return status;
}
#endif

int hn_cmd_bench_op(int argc, char **argv) {
    op_opts o;
    int rc = parse(argc, argv, &o);
    if (rc) return rc == 1 ? 0 : rc;
#ifdef HN_HAVE_CUDA
    if (!strcmp(o.op, "attention")) return bench_attention(&o);
    if (!strcmp(o.op, "ssd")) return hn_bench_ssd(&o);
    if (!strcmp(o.op, "chunk_plan")) return hn_bench_chunk_plan(&o);
    if (!strcmp(o.op, "conv1d")) return hn_bench_conv1d(&o);
    if (!strcmp(o.op, "rmsnorm")) return hn_bench_rmsnorm(&o);
    if (!strcmp(o.op, "gated_rmsnorm")) return hn_bench_gated_rmsnorm(&o);
    if (!strcmp(o.op, "matmul")) return hn_bench_matmul(&o);
    if (!strcmp(o.op, "rope")) return hn_bench_rope(&o);
    if (!strcmp(o.op, "ema")) return hn_bench_ema(&o);
    fprintf(stderr, "hnet bench: unknown op '%s' (ops: attention, ssd, conv1d, chunk_plan, "
                    "rmsnorm, gated_rmsnorm, matmul, rope, ema)\n", o.op);
    return 2;
#else
    fprintf(stderr, "hnet bench --op: this build has no cuda backend (no nvcc at build time)\n");
    return 2;
#endif
}
