/* hnet bench --op rmsnorm | gated_rmsnorm: the typed RMSNorm ops (forward, the fused
 * residual add + RMSNorm, backward) and Mamba-2's gated RMSNorm (forward, backward), at
 * the dtypes the models use, timed on the cuda device with the default kernels and the
 * row-register ones (HNET_CUDA_NORM=rows) in the same call, each checked against the cpu
 * twin in the same run on 16 --check-len + 3 rows (enough that the rows backward sums
 * dw over several rows a team).
 *
 *   hnet bench --op rmsnorm --seqs 8x8192            # widths 512 and 768 (H1, I1)
 *   hnet bench --op gated_rmsnorm --seqs 8x8192      # widths 1024 and 1536 (H1, M1)
 *   hnet bench --op rmsnorm --dim 1000               # one width
 *
 * Memory-bound: GB/s and the ratio to the floor, the bytes each op must move over the
 * measured copy rate. T rows of D columns (one group a row for the gated norm):
 *   rmsnorm forward    T D (4 + 2)          x float32 read, y bf16 written
 *   add + rmsnorm      T D (4 + 4 + 4 + 2)  x, branch read, x written (float32), y bf16
 *   rmsnorm backward   T D (4 + 4 + 8 + 2)  x, dy read, dx read and written (float32),
 *                                           dx2 bf16 written
 *   gated forward      T D (2 + 2 + 2)      x, z read, out written (bf16)
 *   gated backward     T D (2+2+2 + 8 + 2)  x, z, dout read (bf16), dx read and written
 *                                           (float32), dz written (bf16)
 * each + 4 T (rstd) + 4 D (w) and, backward, + 8 D (dw read and written). What a kernel
 * moves beyond that (partial sums of dw, a second read of a row) counts against it. */
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

/* relative error over which the run fails: float32 outputs differ by the order of the
 * sums (float32 on the device, double on the cpu); bf16 ones by one rounding step where
 * the float32 values straddle one */
#define NORM_TOL_F32 1e-4
#define NORM_TOL_BF16 5e-3

/* the buffers of one case. rmsnorm: X, BR, DY float32; Y, DX2 bf16. gated: X the input
 * y, BR z (rows of ldz), Y out, DY dout, DX2 dz (rows of ldz), all bf16. Both: W, RSTD,
 * DX (accumulated), DW (accumulated) float32. */
enum { X, BR, Y, DY, DX2, W, RSTD, DX, DW, NBUF };
static const char *const BUF_NAME[NBUF] = {"x", "branch", "y", "dy", "dx2", "w", "rstd", "dx", "dw"};
static const char *const GATED_NAME[NBUF] = {"x", "z", "out", "dout", "dz", "w", "rstd", "dx", "dw"};

typedef struct norm_case {
    int gated, T, D, ldz;
    void *b[NBUF];
} norm_case;

typedef struct buf_spec {
    size_t n;
    hn_dtype dtype;
    double scale; /* 0: zeros */
} buf_spec;

static buf_spec spec(const norm_case *c, int i) {
    size_t td = (size_t)c->T * c->D, tz = (size_t)c->T * c->ldz;
    hn_dtype act = c->gated ? HN_BF16 : HN_F32;
    switch (i) {
    case X: return (buf_spec){td, act, 1.0};
    case BR: return (buf_spec){c->gated ? tz : td, act, 1.5};
    case Y: return (buf_spec){td, HN_BF16, 0};
    case DY: return (buf_spec){td, act, 1.0};
    case DX2: return (buf_spec){c->gated ? tz : td, HN_BF16, 0};
    case W: return (buf_spec){(size_t)c->D, HN_F32, 1.0};
    case RSTD: return (buf_spec){(size_t)c->T, HN_F32, 0};
    case DX: return (buf_spec){td, HN_F32, 0.3};
    default: return (buf_spec){(size_t)c->D, HN_F32, 0};
    }
}

/* a cheap deterministic fill of unit variance (uniform; a hash of the index and seed):
 * the timed shapes hold hundreds of millions of values */
static void *host_fill(buf_spec s, unsigned seed) {
    void *h = calloc(s.n ? s.n : 1, hn_dtype_size(s.dtype));
    if (!h || s.scale == 0) return h;
    for (size_t i = 0; i < s.n; i++) {
        uint32_t u = (uint32_t)(i * 2654435761u) ^ (seed * 0x9e3779b9u);
        u ^= u >> 15, u *= 0x2c1b3c6du, u ^= u >> 12, u *= 0x297a2d39u, u ^= u >> 15;
        float v = (float)(s.scale * 1.7320508 * ((u >> 8) * (2.0 / 16777216.0) - 1.0));
        if (s.dtype == HN_BF16) ((uint16_t *)h)[i] = hn_bf16_from_f32(v);
        else ((float *)h)[i] = v;
    }
    return h;
}

static void case_free(norm_case *c, const hn_backend *be) {
    for (int i = 0; i < NBUF; i++)
        if (c->b[i]) be->free(c->b[i]);
}

/* the same values on every backend for the same shape */
static int case_make(norm_case *c, const hn_backend *be, int gated, int T, int D) {
    memset(c, 0, sizeof *c);
    c->gated = gated, c->T = T, c->D = D;
    c->ldz = gated ? 2 * D + 144 : D; /* z and dz: column slices of zxbcdt-like rows */
    for (int i = 0; i < NBUF; i++) {
        buf_spec s = spec(c, i);
        void *h = host_fill(s, 17u * (unsigned)i + 1u);
        if (h) c->b[i] = hn_bench_upload(be, h, (s.n ? s.n : 1) * hn_dtype_size(s.dtype));
        free(h);
        if (!c->b[i]) return -1;
    }
    if (!gated) { /* w near 1, as a trained norm's */
        float *w = malloc((size_t)D * sizeof(float));
        if (!w) return -1;
        for (int d = 0; d < D; d++) w[d] = 1.0f + 0.25f * sinf((float)d);
        be->upload(c->b[W], w, (size_t)D * sizeof(float));
        free(w);
    }
    return 0;
}

static hn_rmsnorm_params rms_params(const norm_case *c) {
    int T = c->T, D = c->D;
    return (hn_rmsnorm_params){.x = hn_tensor_f32(c->b[X], T, D),
                               .branch = hn_tensor_f32(c->b[BR], T, D),
                               .w = c->b[W], .rstd = c->b[RSTD], .eps = 1e-5f,
                               .y = hn_tensor_of(c->b[Y], HN_BF16, T, D),
                               .dy = hn_tensor_f32(c->b[DY], T, D),
                               .dx = hn_tensor_f32(c->b[DX], T, D), .dw = c->b[DW],
                               .dx2 = hn_tensor_of(c->b[DX2], HN_BF16, T, D)};
}

static hn_gated_norm_params gated_params(const norm_case *c) {
    int T = c->T, D = c->D;
    hn_tensor z = hn_tensor_of(c->b[BR], HN_BF16, T, c->ldz);
    hn_tensor dz = hn_tensor_of(c->b[DX2], HN_BF16, T, c->ldz);
    return (hn_gated_norm_params){.x = hn_tensor_of(c->b[X], HN_BF16, T, D),
                                  .z = hn_tensor_cols(z, 0, D),
                                  .out = hn_tensor_of(c->b[Y], HN_BF16, T, D),
                                  .w = c->b[W], .rstd = c->b[RSTD], .group_size = D,
                                  .eps = 1e-5f, .dout = hn_tensor_of(c->b[DY], HN_BF16, T, D),
                                  .dx = hn_tensor_f32(c->b[DX], T, D),
                                  .dz = hn_tensor_cols(dz, 0, D), .dw = c->b[DW]};
}

/* the passes: 0 forward, 1 add + forward (rmsnorm) / backward (gated), 2 backward */
static int run_pass(const hn_backend *be, norm_case *c, int pass) {
    if (c->gated) {
        hn_gated_norm_params p = gated_params(c);
        return pass == 0 ? be->ssm->gated_rmsnorm_forward_t(be, &p)
                         : be->ssm->gated_rmsnorm_backward_t(be, &p);
    }
    hn_rmsnorm_params p = rms_params(c);
    return pass == 0   ? be->rmsnorm_forward_t(be, &p)
           : pass == 1 ? be->add_rmsnorm_forward_t(be, &p)
                       : be->rmsnorm_backward_t(be, &p);
}

typedef struct timed {
    norm_case *c;
    int pass;
} timed;
static void timed_fn(const hn_backend *be, void *arg) {
    timed *t = arg;
    run_pass(be, t->c, t->pass);
}

static int n_passes(int gated) { return gated ? 2 : 3; }
static const char *pass_name(int gated, int pass) {
    static const char *const rms[] = {"forward", "add + forward", "backward"};
    return gated ? (pass ? "backward" : "forward") : rms[pass];
}
/* the header's floors */
static double pass_bytes(const norm_case *c, int pass) {
    double td = (double)c->T * c->D, small = 4.0 * c->T + 4.0 * c->D;
    if (c->gated) return pass ? td * 16 + small + 8.0 * c->D : td * 6 + small;
    return pass == 0 ? td * 6 + small : pass == 1 ? td * 14 + small : td * 18 + small + 8.0 * c->D;
}

/* the outputs each pass leaves (compared after it) */
static int pass_outputs(int gated, int pass, int out[4]) {
    if (gated) {
        static const int f[] = {Y, RSTD}, b[] = {DX, DX2, DW};
        memcpy(out, pass ? b : f, (pass ? 3 : 2) * sizeof(int));
        return pass ? 3 : 2;
    }
    static const int f[] = {Y, RSTD}, a[] = {X, Y, RSTD}, b[] = {DX, DX2, DW};
    const int *s = pass == 0 ? f : pass == 1 ? a : b;
    int n = pass == 0 ? 2 : 3;
    memcpy(out, s, (size_t)n * sizeof(int));
    return n;
}

/* every pass on the cpu and the gpu (in its current kernels) in turn, from the same
 * inputs: each output's relative error into line ("name err, ..."); 1 when one is over
 * its limit, 0 when none, -1 when out of memory */
static int check(const hn_backend *cpu, const hn_backend *gpu, int gated, int T, int D,
                 char *line, size_t cap) {
    norm_case cc, gc;
    int rc = -1, over = 0;
    size_t len = 0;
    line[0] = 0;
    if (case_make(&cc, cpu, gated, T, D) || case_make(&gc, gpu, gated, T, D)) goto done;
    for (int pass = 0; pass < n_passes(gated); pass++) {
        if (run_pass(cpu, &cc, pass) || run_pass(gpu, &gc, pass)) goto done;
        int outs[4], n = pass_outputs(gated, pass, outs);
        for (int k = 0; k < n; k++) {
            buf_spec s = spec(&cc, outs[k]);
            int bf16 = s.dtype == HN_BF16;
            double e = bf16 ? hn_bench_rel_err_bf16(gc.b[outs[k]], cc.b[outs[k]], s.n, gpu)
                            : hn_bench_rel_err(gc.b[outs[k]], cc.b[outs[k]], s.n, gpu);
            if (!(e <= (bf16 ? NORM_TOL_BF16 : NORM_TOL_F32))) over = 1;
            if (len < cap)
                len += (size_t)snprintf(line + len, cap - len, "%s%s %s %.2e", len ? ", " : "",
                                        pass_name(gated, pass),
                                        (gated ? GATED_NAME : BUF_NAME)[outs[k]], e);
        }
    }
    rc = over;
done:
    case_free(&cc, cpu);
    case_free(&gc, gpu);
    return rc;
}

static int bench_norm(const op_opts *o, int gated) {
    const hn_backend *cpu, *gpu = hn_bench_gpu(&cpu);
    if (!gpu) return 1;
    hn_cuda_config *cfg = hn_cuda_config_of(gpu);
    long T = o->n_seqs * o->seq_len;
    int widths[2] = {gated ? 1024 : 512, gated ? 1536 : 768}, nw = 2;
    if (o->dim) widths[0] = (int)o->dim, nw = 1;
    if (!cfg || T > 1L << 24 || T * widths[nw - 1] > 1L << 31) {
        fprintf(stderr, "hnet bench: %s\n", cfg ? "shape too large" : "no cuda configuration");
        return 2;
    }
    /* the plain norm's kernels follow norm_rows, the gated norm's gated_norm_rows */
    int *rows_flag = gated ? &cfg->gated_norm_rows : &cfg->norm_rows;
    int keep = *rows_flag, check_T = 16 * (int)o->check_len + 3, status = 0;
    double bw = hn_bench_copy_rate(gpu, 10);
    printf("%s: %ld rows, %s, on %s\n", gated ? "gated RMSNorm" : "RMSNorm (typed)", T,
           gated ? "x, z, out, dout, dz bf16; dx float32 (accumulated); one group a row"
                 : "x, branch, dy, dx float32; y, dx2 bf16",
           hn_cuda_device_name());
    printf("  measured copy rate %.0f GB/s (read + written); kernels: old = HNET_CUDA_NORM=old "
           "(the gated norm's default), rows = the plain norm's default (HNET_CUDA_NORM=rows "
           "for the gated one too); (round)\n", bw / 1e9);
    printf("| width | kernels | pass | ms | MB moved | GB/s | x floor |\n|---|---|---|---|---|---|---|\n");
    for (int wi = 0; wi < nw && !status; wi++) {
        int D = widths[wi];
        norm_case c;
        if (case_make(&c, gpu, gated, (int)T, D)) {
            case_free(&c, gpu);
            fprintf(stderr, "hnet bench: out of memory for %ld x %d\n", T, D);
            status = 1;
            break;
        }
        for (int k = 0; k < 4; k++) { /* old, rows, old, rows: drift shows as a change */
            int rows = k & 1;
            *rows_flag = rows;
            for (int pass = 0; pass < n_passes(gated); pass++) {
                timed t = {&c, pass};
                double ms = hn_bench_time_ms(timed_fn, gpu, &t, (int)o->warmup, (int)o->reps);
                double bytes = pass_bytes(&c, pass);
                printf("| %d | %s (%d) | %s | %.3f | %.1f | %.0f | %.2f |\n", D,
                       rows ? "rows" : "old", k / 2 + 1, pass_name(gated, pass), ms, bytes / 1e6,
                       bytes / (ms * 1e-3) / 1e9, bw > 0 ? ms / (bytes / bw * 1e3) : NAN);
            }
        }
        case_free(&c, gpu);
        if (hn_bench_device_failed(gpu)) status = 1;
    }
    for (int wi = 0; wi < nw && status != 1; wi++)
        for (int rows = 0; rows < 2; rows++) {
            *rows_flag = rows;
            char line[512];
            int rc = check(cpu, gpu, gated, check_T, widths[wi], line, sizeof line);
            if (rc < 0) {
                fprintf(stderr, "hnet bench: out of memory for the cpu check\n");
                status = 1;
                break;
            }
            printf("against the cpu (%d rows), width %d, %s kernels: %s (limits %.0e float32, "
                   "%.0e bf16)%s\n", check_T, widths[wi], rows ? "rows" : "old", line,
                   NORM_TOL_F32, NORM_TOL_BF16, rc ? ": OVER A LIMIT" : "");
            if (rc) status = 3;
        }
    *rows_flag = keep;
    if (status == 3) fprintf(stderr, "hnet bench: the norm differs from the cpu beyond the limits\n");
    return status;
}

int hn_bench_rmsnorm(const op_opts *o) { return bench_norm(o, 0); }
int hn_bench_gated_rmsnorm(const op_opts *o) { return bench_norm(o, 1); }
#endif
