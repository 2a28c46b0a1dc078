/* hnet bench --op ssd: Mamba-2's chunked SSD scan, forward and backward, timed on the
 * cuda device for each kernel choice and checked against the cpu twin on a smaller
 * shape in the same run.
 *
 *   hnet bench --op ssd --seqs 8x8192 --heads 24 --kernels mma,chunked
 *
 * FLOPs are those of the chunked algorithm per (chunk of q rows, head), with P = head
 * dim and N = state size, causal halves counted once (q^2 instead of 2 q^2 / 2 ...):
 *   forward   q^2 (N + P)   intra-chunk C B^T and its product with x
 *             + 4 q P N     the chunk's state and the incoming state's output term
 *   backward  3 q^2 (N + P) + 8 q P N   (the same products transposed, twice the state
 *                                         terms). */
#ifdef HN_HAVE_CUDA
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "backend/ops_ssm.h"
#include "cli/bench_op.h"
#include "core/rng.h"

/* one problem on one backend: xbc [T, HP + 2 GN] (x, B, C side by side, as the layer
 * keeps them), dt_raw [T, H], per-head dt_bias, A_log, D; gradients beside them */
typedef struct ssd_case {
    packed pk;
    hn_ssm_dims d;
    int ld, n_chunks;
    float *xbc, *dtr, *dtb, *alog, *Dv, *dy;  /* inputs */
    float *y, *cs, *dxbc, *ddt, *ddtb, *dalog, *dD, *ws; /* outputs */
} ssd_case;

/* the host values of every input, so that two backends see the same problem */
typedef struct ssd_inputs {
    float *xbc, *dtr, *dtb, *alog, *Dv, *dy;
} ssd_inputs;

static size_t n_xbc(const ssd_case *c) { return (size_t)c->pk.s.total * c->ld; }
static size_t n_y(const ssd_case *c) { return (size_t)c->pk.s.total * c->d.heads * c->d.headdim; }

static int inputs_make(ssd_inputs *in, const ssd_case *c, hn_rng *r) {
    size_t T = (size_t)c->pk.s.total, H = (size_t)c->d.heads;
    in->xbc = malloc(n_xbc(c) * sizeof(float));
    in->dtr = malloc(T * H * sizeof(float));
    in->dy = malloc(n_y(c) * sizeof(float));
    in->dtb = malloc(H * sizeof(float));
    in->alog = malloc(H * sizeof(float));
    in->Dv = malloc(H * sizeof(float));
    if (!in->xbc || !in->dtr || !in->dy || !in->dtb || !in->alog || !in->Dv) return -1;
    for (size_t i = 0; i < n_xbc(c); i++) in->xbc[i] = (float)hn_rng_normal(r);
    for (size_t i = 0; i < T * H; i++) in->dtr[i] = (float)(0.5 * hn_rng_normal(r));
    for (size_t i = 0; i < n_y(c); i++) in->dy[i] = (float)hn_rng_normal(r);
    for (size_t h = 0; h < H; h++) {
        /* Mamba-2's initialisation: dt in [1e-3, 1e-1] log-uniformly, A in [1, 16] */
        double dt = exp(log(1e-3) + hn_rng_uniform(r) * (log(1e-1) - log(1e-3)));
        in->dtb[h] = (float)(dt + log(-expm1(-dt)));
        in->alog[h] = (float)log(1.0 + 15.0 * hn_rng_uniform(r));
        in->Dv[h] = 1.0f;
    }
    return 0;
}

static void inputs_free(ssd_inputs *in) {
    free(in->xbc);
    free(in->dtr);
    free(in->dy);
    free(in->dtb);
    free(in->alog);
    free(in->Dv);
}

static float *upload(const hn_backend *be, const float *src, size_t n) {
    float *d = be->alloc(n * sizeof(float));
    if (d) be->upload(d, src, n * sizeof(float));
    return d;
}

static int case_make(ssd_case *c, const hn_backend *be, const int *lens, int n, const op_opts *o) {
    memset(c, 0, sizeof *c);
    if (hn_bench_packed_make(&c->pk, be, lens, n)) return -1;
    c->d = (hn_ssm_dims){(int)o->heads, (int)o->head_dim, (int)o->d_state, 1, (int)o->chunk};
    c->ld = c->d.heads * c->d.headdim + 2 * c->d.ngroups * c->d.d_state;
    c->n_chunks = hn_ssd_n_chunks(&c->pk.s, c->d.chunk);
    return 0;
}

static int case_upload(ssd_case *c, const hn_backend *be, const ssd_inputs *in) {
    size_t T = (size_t)c->pk.s.total, H = (size_t)c->d.heads;
    size_t PN = (size_t)c->d.headdim * c->d.d_state;
    c->xbc = upload(be, in->xbc, n_xbc(c));
    c->dtr = upload(be, in->dtr, T * H);
    c->dy = upload(be, in->dy, n_y(c));
    c->dtb = upload(be, in->dtb, H);
    c->alog = upload(be, in->alog, H);
    c->Dv = upload(be, in->Dv, H);
    c->y = be->alloc(n_y(c) * sizeof(float));
    c->cs = be->alloc((size_t)c->n_chunks * H * PN * sizeof(float));
    c->dxbc = be->alloc(n_xbc(c) * sizeof(float));
    c->ddt = be->alloc(T * H * sizeof(float));
    c->ddtb = be->alloc(H * sizeof(float));
    c->dalog = be->alloc(H * sizeof(float));
    c->dD = be->alloc(H * sizeof(float));
    c->ws = be->alloc((be->ssm->ssd_workspace_floats(&c->d) + 1) * sizeof(float));
    float *all[] = {c->xbc, c->dtr, c->dy, c->dtb, c->alog, c->Dv, c->y, c->cs,
                    c->dxbc, c->ddt, c->ddtb, c->dalog, c->dD, c->ws};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        if (!all[i]) return -1;
    return 0;
}

static void case_free(ssd_case *c, const hn_backend *be) {
    float *all[] = {c->xbc, c->dtr, c->dy, c->dtb, c->alog, c->Dv, c->y, c->cs,
                    c->dxbc, c->ddt, c->ddtb, c->dalog, c->dD, c->ws};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        if (all[i]) be->free(all[i]);
    hn_bench_packed_free(&c->pk, be);
}

static void ssd_fwd(const hn_backend *be, void *arg) {
    ssd_case *c = arg;
    int HP = c->d.heads * c->d.headdim, GN = c->d.ngroups * c->d.d_state;
    be->ssm->ssd_forward(c->y, c->cs, NULL, 0, c->xbc, c->xbc + HP, c->xbc + HP + GN, c->ld,
                         c->dtr, c->d.heads, c->dtb, c->alog, c->Dv, &c->pk.s, &c->d, c->ws);
}

static void ssd_bwd(const hn_backend *be, void *arg) {
    ssd_case *c = arg;
    int HP = c->d.heads * c->d.headdim, GN = c->d.ngroups * c->d.d_state;
    be->ssm->ssd_backward(c->dxbc, c->dxbc + HP, c->dxbc + HP + GN, c->ld, c->ddt, c->d.heads,
                          c->ddtb, c->dalog, c->dD, c->dy, c->xbc, c->xbc + HP,
                          c->xbc + HP + GN, c->ld, c->dtr, c->d.heads, c->dtb, c->alog, c->Dv,
                          c->cs, &c->pk.s, &c->d, c->ws);
}

static double case_flops(const ssd_case *c, int backward) {
    double P = c->d.headdim, N = c->d.d_state, f = 0;
    const hn_seqs *s = &c->pk.s;
    for (int i = 0; i < s->n; i++)
        for (int r = s->offsets[i]; r < s->offsets[i + 1]; r += c->d.chunk) {
            double q = s->offsets[i + 1] - r < c->d.chunk ? s->offsets[i + 1] - r : c->d.chunk;
            f += backward ? 3 * q * q * (N + P) + 8 * q * P * N : q * q * (N + P) + 4 * q * P * N;
        }
    return f * c->d.heads;
}

static int parse_mode(const char *name, hn_cuda_ssd_mode *mode) {
    static const struct { const char *name; hn_cuda_ssd_mode mode; } modes[] = {
        {"auto", HN_CUDA_SSD_AUTO}, {"mma", HN_CUDA_SSD_MMA},
        {"chunked", HN_CUDA_SSD_CHUNKED}, {"scan", HN_CUDA_SSD_SCAN}};
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++)
        if (!strcmp(name, modes[i].name)) {
            *mode = modes[i].mode;
            return 0;
        }
    return -1;
}

/* relative errors against the cpu on two unequal sequences: y, chunk states, dxbc, ddt,
 * and the three per-head gradients together */
#define N_ERR 5
static int ssd_check(const hn_backend *cpu, const hn_backend *gpu, const op_opts *o,
                     double err[N_ERR]) {
    int lens[2] = {(int)o->check_len, (int)(o->check_len * 3 / 5) + 1};
    hn_rng r;
    hn_rng_seed(&r, 20261202);
    ssd_case cc, gc;
    ssd_inputs in = {0};
    int rc = -1;
    if (case_make(&cc, cpu, lens, 2, o) || case_make(&gc, gpu, lens, 2, o) ||
        inputs_make(&in, &cc, &r) || case_upload(&cc, cpu, &in) || case_upload(&gc, gpu, &in))
        goto done;
    ssd_fwd(cpu, &cc);
    ssd_fwd(gpu, &gc);
    ssd_bwd(cpu, &cc);
    ssd_bwd(gpu, &gc);
    size_t T = (size_t)cc.pk.s.total, H = (size_t)cc.d.heads;
    size_t ncs = (size_t)cc.n_chunks * H * cc.d.headdim * cc.d.d_state;
    err[0] = hn_bench_rel_err(gc.y, cc.y, n_y(&cc), gpu);
    err[1] = hn_bench_rel_err(gc.cs, cc.cs, ncs, gpu);
    err[2] = hn_bench_rel_err(gc.dxbc, cc.dxbc, n_xbc(&cc), gpu);
    err[3] = hn_bench_rel_err(gc.ddt, cc.ddt, T * H, gpu);
    double e = 0;
    float *g_h[3] = {gc.ddtb, gc.dalog, gc.dD}, *c_h[3] = {cc.ddtb, cc.dalog, cc.dD};
    for (int i = 0; i < 3; i++) {
        double ei = hn_bench_rel_err(g_h[i], c_h[i], H, gpu);
        if (!(ei <= e)) e = ei;
    }
    err[4] = e;
    rc = 0;
done:
    inputs_free(&in);
    case_free(&cc, cpu);
    case_free(&gc, gpu);
    return rc;
}

int hn_bench_ssd(const op_opts *o) {
    const hn_backend *cpu, *gpu = hn_bench_gpu(&cpu);
    if (!gpu) return 1;
    if (o->n_seqs > 1 << 20 || o->seq_len > 1 << 24 || o->heads * o->head_dim > 1 << 16 ||
        o->d_state > 1024 || o->chunk > 4096) {
        fprintf(stderr, "hnet bench: shape too large\n");
        return 2;
    }
    int n = (int)o->n_seqs, *lens = hn_bench_equal_lens(o);
    if (!lens) return 1;
    double rate = hn_cuda_measure_bf16_flops(8192, 10);
    printf("ssd: %ld x %ld, heads %ld, headdim %ld, d_state %ld, chunk %ld, one group, on %s\n",
           o->n_seqs, o->seq_len, o->heads, o->head_dim, o->d_state, o->chunk, hn_cuda_device_name());
    printf("  measured bf16 matmul rate %.0f TFLOP/s\n", rate / 1e12);
    printf("| kernels | fwd ms | fwd TFLOP/s | bwd ms | bwd TFLOP/s | fwd+bwd ms | err y | err states |"
           " err dxBC | err ddt | err dbias/dA/dD |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
    char *names = strdup(o->kernels ? o->kernels : "auto"), *save = NULL;
    int status = 0;
    hn_rng r;
    hn_rng_seed(&r, 1);
    for (char *k = strtok_r(names, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
        hn_cuda_ssd_mode mode;
        if (parse_mode(k, &mode)) {
            fprintf(stderr, "hnet bench: unknown ssd kernels '%s' (auto, mma, chunked, scan)\n", k);
            status = 2;
            break;
        }
        hn_cuda_set_ssd_mode(mode);
        double err[N_ERR] = {NAN, NAN, NAN, NAN, NAN};
        if (ssd_check(cpu, gpu, o, err)) {
            fprintf(stderr, "hnet bench: out of memory for the cpu check\n");
            status = 1;
            break;
        }
        ssd_case c;
        ssd_inputs in = {0};
        if (case_make(&c, gpu, lens, n, o) || inputs_make(&in, &c, &r) || case_upload(&c, gpu, &in)) {
            inputs_free(&in);
            case_free(&c, gpu);
            fprintf(stderr, "hnet bench: out of memory for the shape\n");
            status = 1;
            break;
        }
        inputs_free(&in);
        double f = hn_bench_time_ms(ssd_fwd, gpu, &c, (int)o->warmup, (int)o->reps);
        double b = hn_bench_time_ms(ssd_bwd, gpu, &c, (int)o->warmup, (int)o->reps);
        double ff = case_flops(&c, 0), fb = case_flops(&c, 1);
        case_free(&c, gpu);
        if (hn_bench_device_failed(gpu)) {
            status = 1;
            break;
        }
        printf("| %s | %.2f | %.1f | %.2f | %.1f | %.2f | %.2e | %.2e | %.2e | %.2e | %.2e |\n", k, f,
               ff / (f * 1e-3) / 1e12, b, fb / (b * 1e-3) / 1e12, f + b, err[0], err[1], err[2],
               err[3], err[4]);
    }
    hn_cuda_set_ssd_mode(HN_CUDA_SSD_AUTO);
    free(names);
    free(lens);
    return status;
}
#endif
