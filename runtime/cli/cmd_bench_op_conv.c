/* hnet bench --op conv1d: Mamba-2's causal depthwise convolution + SiLU, forward and
 * backward, timed on the cuda device at the dtypes the mamba2 layer uses (x and dx bf16;
 * out and dout float32; w, bias and their gradients float32) and checked against the cpu
 * twin on a smaller packed shape in the same run.
 *
 *   hnet bench --op conv1d --seqs 8x8192 --channels 1152 --width 4 --kernels window,lean
 *
 * --kernels names the cuda conv kernels (hn_cuda_conv_mode: window, lean, lean2, lean3, lean4)
 * timed one after the other in the same call, each checked against the cpu (default
 * window,lean,lean-bf16,window,lean,lean-bf16: alternated, so that a drift of the clocks
 * shows as a difference between the rounds). A "-bf16" suffix makes the forward's output
 * and the backward's dout bf16 (the layer's xbc and dxbc under HNET_CUDA_XBC=bf16: T C
 * (2 + 2) bytes forward, T C (2 + 2 + 2) backward, the floors counted so; lean4-bf16's
 * forward is lean4's own bf16 kernel, the others' lean's).
 * The ops are memory-bound, so each is reported in GB/s against the device's measured
 * copy rate (a device-to-device copy: its bytes read + written / time). Bytes each kernel
 * must move, T positions, C channels, K taps:
 *   forward   T C (2 + 4)       x read (bf16), out written (float32)
 *             + 4 T + 4 C (K+1) positions, w and bias read
 *   backward  T C (2 + 4 + 2)   x and dout read, dx written (bf16)
 *             + 4 T + 12 C (K+1) positions; w and bias read; dw and dbias read and written
 * (what a kernel moves beyond that counts against it: the window and lean kernels also
 * read K-1 rows before each 32-row strip again, x forward, x and dout backward (mostly
 * from L2), and write and read back C (K+1) float32 partial sums a 256-row tile; the
 * "issued" column counts those too). */
#ifdef HN_HAVE_CUDA
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/ops_ssm.h"
#include "backend/tensor.h"
#include "cli/bench_op.h"
#include "core/rng.h"

/* relative error over which the run fails: float32 outputs (out, dw, dbias) differ by
 * summation order only; dx is bf16 (one rounding where the float32 values straddle one) */
#define CONV_TOL_F32 1e-4
#define CONV_TOL_BF16 5e-3

/* one problem on one backend */
typedef struct conv_case {
    packed pk;
    int C, K, out_bf16;              /* out_bf16: out and dout are bf16 (else float32) */
    void *x, *dx, *dout16;           /* bf16 [T, C]; dout16: dout rounded */
    float *out, *dout, *w, *b, *dw, *db; /* float32 */
} conv_case;

/* the host values of the inputs, so that both backends see the same bits */
typedef struct conv_inputs {
    uint16_t *x;
    float *dout, *w, *b;
} conv_inputs;

static size_t n_tc(const conv_case *c) { return (size_t)c->pk.s.total * c->C; }
static size_t n_ck(const conv_case *c) { return (size_t)c->C * c->K; }

static void inputs_free(conv_inputs *in) {
    free(in->x);
    free(in->dout);
    free(in->w);
    free(in->b);
}

static int inputs_make(conv_inputs *in, const conv_case *c, hn_rng *r) {
    in->x = malloc(n_tc(c) * sizeof(uint16_t));
    in->dout = malloc(n_tc(c) * sizeof(float));
    in->w = malloc(n_ck(c) * sizeof(float));
    in->b = malloc((size_t)c->C * sizeof(float));
    if (!in->x || !in->dout || !in->w || !in->b) return -1;
    for (size_t i = 0; i < n_tc(c); i++) in->x[i] = hn_bf16_from_f32((float)hn_rng_normal(r));
    for (size_t i = 0; i < n_tc(c); i++) in->dout[i] = (float)hn_rng_normal(r);
    for (size_t i = 0; i < n_ck(c); i++) in->w[i] = (float)(0.5 * hn_rng_normal(r));
    for (int i = 0; i < c->C; i++) in->b[i] = (float)(0.5 * hn_rng_normal(r));
    return 0;
}

static void case_free(conv_case *c, const hn_backend *be) {
    void *all[] = {c->x, c->dx, c->dout16, c->out, c->dout, c->w, c->b, c->dw, c->db};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        if (all[i]) be->free(all[i]);
    hn_bench_packed_free(&c->pk, be);
}

static int case_make(conv_case *c, const hn_backend *be, const int *lens, int n, int C, int K,
                     hn_rng *r) {
    memset(c, 0, sizeof *c);
    c->C = C;
    c->K = K;
    if (hn_bench_packed_make(&c->pk, be, lens, n)) return -1;
    conv_inputs in = {0};
    int rc = -1;
    if (inputs_make(&in, c, r)) goto done;
    c->x = hn_bench_upload(be, in.x, n_tc(c) * sizeof(uint16_t));
    c->dout = hn_bench_upload(be, in.dout, n_tc(c) * sizeof(float));
    uint16_t *d16 = malloc(n_tc(c) * sizeof(uint16_t));
    if (d16) {
        for (size_t i = 0; i < n_tc(c); i++) d16[i] = hn_bf16_from_f32(in.dout[i]);
        c->dout16 = hn_bench_upload(be, d16, n_tc(c) * sizeof(uint16_t));
        free(d16);
    }
    c->w = hn_bench_upload(be, in.w, n_ck(c) * sizeof(float));
    c->b = hn_bench_upload(be, in.b, (size_t)C * sizeof(float));
    c->dx = be->alloc(n_tc(c) * sizeof(uint16_t));
    c->out = be->alloc(n_tc(c) * sizeof(float));
    c->dw = be->alloc(n_ck(c) * sizeof(float));
    c->db = be->alloc((size_t)C * sizeof(float));
    if (!c->x || !c->dout || !c->dout16 || !c->w || !c->b || !c->dx || !c->out || !c->dw || !c->db)
        goto done;
    be->zero(c->dw, n_ck(c) * sizeof(float));
    be->zero(c->db, (size_t)C * sizeof(float));
    rc = 0;
done:
    inputs_free(&in);
    return rc;
}

static hn_conv1d_params params_of(const conv_case *c) {
    int T = c->pk.s.total;
    return (hn_conv1d_params){
        .x = hn_tensor_of(c->x, HN_BF16, T, c->C),
        .out = hn_tensor_of(c->out, c->out_bf16 ? HN_BF16 : HN_F32, T, c->C),
        .w = c->w, .bias = c->b, .seqs = &c->pk.s, .K = c->K,
        .dout = c->out_bf16 ? hn_tensor_of(c->dout16, HN_BF16, T, c->C) : hn_tensor_f32(c->dout, T, c->C),
        .dx = hn_tensor_of(c->dx, HN_BF16, T, c->C),
        .dw = c->dw, .dbias = c->db};
}

static void conv_fwd(const hn_backend *be, void *arg) {
    hn_conv1d_params p = params_of(arg);
    be->ssm->conv1d_forward_t(be, &p);
}

static void conv_bwd(const hn_backend *be, void *arg) {
    hn_conv1d_params p = params_of(arg);
    be->ssm->conv1d_backward_t(be, &p);
}

/* the formulas of the header */
static double conv_bytes(const conv_case *c, int backward) {
    double TC = (double)n_tc(c), T = c->pk.s.total, CK1 = (double)c->C * (c->K + 1);
    double o = c->out_bf16 ? 2 : 4; /* out, dout */
    return backward ? TC * (4 + o) + 4 * T + 12 * CK1 : TC * (2 + o) + 4 * T + 4 * CK1;
}

/* what the window / lean kernels issue beyond the floor: the halo rows of every 32-row
 * strip (forward x, backward x and dout) and the backward's partial sums (written, read) */
static double conv_bytes_issued(const conv_case *c, int backward) {
    double T = c->pk.s.total, strips = ceil(T / 32), tiles = ceil(T / 256), C = c->C, K = c->K;
    double halo = strips * (K - 1) * C * (backward ? 2 + (c->out_bf16 ? 2 : 4) : 2);
    double parts = backward ? 2 * tiles * C * (K + 1) * 4 : 0;
    return conv_bytes(c, backward) + halo + parts;
}

/* relative errors of out, dx, dw, dbias against the cpu on packed sequences of unequal
 * lengths: two long ones (several of the kernels' row tiles, not a multiple of them) and
 * short ones of length 1 to 3 (sequence starts inside a convolution window) */
#define N_ERR 4
static int conv_check(const hn_backend *cpu, const hn_backend *gpu, const op_opts *o, int out_bf16,
                      double err[N_ERR]) {
    int L = (int)o->check_len, lens[] = {L, 1, L * 3 / 5 + 1, 2, 3, 1};
    int n = (int)(sizeof lens / sizeof *lens), C = (int)o->channels, K = (int)o->width;
    hn_rng rc, rg;
    hn_rng_seed(&rc, 20261203);
    hn_rng_seed(&rg, 20261203);
    conv_case cc, gc;
    int rc_ = -1;
    if (case_make(&cc, cpu, lens, n, C, K, &rc) || case_make(&gc, gpu, lens, n, C, K, &rg)) goto done;
    cc.out_bf16 = gc.out_bf16 = out_bf16;
    conv_fwd(cpu, &cc);
    conv_fwd(gpu, &gc);
    conv_bwd(cpu, &cc);
    conv_bwd(gpu, &gc);
    err[0] = out_bf16 ? hn_bench_rel_err_bf16(gc.out, cc.out, n_tc(&cc), gpu)
                      : hn_bench_rel_err(gc.out, cc.out, n_tc(&cc), gpu);
    err[1] = hn_bench_rel_err_bf16(gc.dx, cc.dx, n_tc(&cc), gpu);
    err[2] = hn_bench_rel_err(gc.dw, cc.dw, n_ck(&cc), gpu);
    err[3] = hn_bench_rel_err(gc.db, cc.db, (size_t)C, gpu);
    rc_ = 0;
done:
    case_free(&cc, cpu);
    case_free(&gc, gpu);
    return rc_;
}

/* "window", "lean", "lean2", "lean3" or "lean4", "-bf16" after any for a bf16 forward output */
static int parse_kernels(const char *k, hn_cuda_conv_mode *m, int *out_bf16) {
    size_t n = strlen(k);
    *out_bf16 = n > 5 && !strcmp(k + n - 5, "-bf16");
    if (*out_bf16) n -= 5;
    if (n == 6 && !strncmp(k, "window", n)) *m = HN_CUDA_CONV_WINDOW;
    else if (n == 4 && !strncmp(k, "lean", n)) *m = HN_CUDA_CONV_LEAN;
    else if (n == 5 && !strncmp(k, "lean2", n)) *m = HN_CUDA_CONV_LEAN2;
    else if (n == 5 && !strncmp(k, "lean3", n)) *m = HN_CUDA_CONV_LEAN3;
    else if (n == 5 && !strncmp(k, "lean4", n)) *m = HN_CUDA_CONV_LEAN4;
    else return -1;
    return 0;
}

static int conv_within(const double err[N_ERR], int out_bf16) {
    return err[0] <= (out_bf16 ? CONV_TOL_BF16 : CONV_TOL_F32) && err[1] <= CONV_TOL_BF16 &&
           err[2] <= CONV_TOL_F32 && err[3] <= CONV_TOL_F32;
}

/* one kernel choice: checked against the cpu, then timed on c; 0, or the exit status */
static int conv_round(const hn_backend *cpu, const hn_backend *gpu, const op_opts *o,
                      const char *k, conv_case *c, double bw) {
    double err[N_ERR] = {NAN, NAN, NAN, NAN};
    if (conv_check(cpu, gpu, o, c->out_bf16, err)) {
        fprintf(stderr, "hnet bench: out of memory for the cpu check\n");
        return 1;
    }
    double t[2], need[2], issued[2];
    for (int b = 0; b < 2; b++) {
        t[b] = hn_bench_time_ms(b ? conv_bwd : conv_fwd, gpu, c, (int)o->warmup, (int)o->reps);
        need[b] = conv_bytes(c, b);
        issued[b] = conv_bytes_issued(c, b);
    }
    if (hn_bench_device_failed(gpu)) return 1;
    for (int b = 0; b < 2; b++)
        printf("| %s | %s | %.3f | %.1f | %.1f | %.0f | %.2f | %.2e %.2e %.2e %.2e |\n", k,
               b ? "backward" : "forward", t[b], need[b] / 1e6, issued[b] / 1e6,
               need[b] / (t[b] * 1e-3) / 1e9, bw > 0 ? t[b] / (need[b] / bw * 1e3) : NAN, err[0],
               err[1], err[2], err[3]);
    if (!conv_within(err, c->out_bf16)) {
        fprintf(stderr, "hnet bench: conv1d (%s) differs from the cpu beyond the limits\n", k);
        return 3;
    }
    return 0;
}

int hn_bench_conv1d(const op_opts *o) {
    const hn_backend *cpu, *gpu = hn_bench_gpu(&cpu);
    if (!gpu) return 1;
    if (o->n_seqs * o->seq_len > 1L << 28 || o->n_seqs * o->seq_len * o->channels > 1L << 33) {
        fprintf(stderr, "hnet bench: shape too large\n");
        return 2;
    }
    double bw = hn_bench_copy_rate(gpu, 10);
    printf("conv1d + SiLU: %ld x %ld, %ld channels, width %ld, x/dx bf16, out (-bf16: bf16) / dout "
           "float32, on %s\n",
           o->n_seqs, o->seq_len, o->channels, o->width, hn_cuda_device_name());
    printf("  measured copy rate %.0f GB/s (read + written); floor = MB needed at that rate; "
           "MB issued adds the strips' halo rows and the partial sums\n", bw / 1e9);
    int n = (int)o->n_seqs, *lens = hn_bench_equal_lens(o);
    if (!lens) return 1;
    hn_rng r;
    hn_rng_seed(&r, 1);
    conv_case c;
    if (case_make(&c, gpu, lens, n, (int)o->channels, (int)o->width, &r)) {
        case_free(&c, gpu);
        free(lens);
        fprintf(stderr, "hnet bench: out of memory for the shape\n");
        return 1;
    }
    free(lens);
    printf("| kernels | pass | ms | MB needed | MB issued | GB/s (needed) | x floor | err out dx dw "
           "dbias (cpu check; limits %.0e, %.0e bf16) |\n|---|---|---|---|---|---|---|---|\n",
           CONV_TOL_F32, CONV_TOL_BF16);
    hn_cuda_config *cfg = hn_cuda_config_of(gpu);
    int was = cfg->conv, status = 0;
    char *names = strdup(o->kernels ? o->kernels : "window,lean,lean-bf16,window,lean,lean-bf16");
    char *save = NULL;
    for (char *k = names ? strtok_r(names, ",", &save) : NULL; k && !status; k = strtok_r(NULL, ",", &save)) {
        hn_cuda_conv_mode mode;
        if (parse_kernels(k, &mode, &c.out_bf16)) {
            fprintf(stderr, "hnet bench: unknown conv1d kernels '%s' (window, lean, lean2, lean3, any + -bf16)\n", k);
            status = 2;
            break;
        }
        cfg->conv = mode;
        status = conv_round(cpu, gpu, o, k, &c, bw);
    }
    cfg->conv = was;
    free(names);
    case_free(&c, gpu);
    printf("cpu check on %ld + %ld + short sequences\n", o->check_len, o->check_len * 3 / 5 + 1);
    return status;
}
#endif
