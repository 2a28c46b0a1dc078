/* cpu typed Mamba-2 ops (ops_ssm.h "_t"): the float32 ops of this backend on widened,
 * packed copies of the views, results rounded once into bf16 outputs. The reference the
 * cuda typed ops are compared against, and the layer's path on the cpu. */
#include <stdlib.h>

#include "backend/cpu/cpu_view.h"
#include "backend/cpu/ssm_ops.h"

static int same_shape(hn_tensor a, int rows, int cols) { return a.rows == rows && a.cols == cols; }

static void free_all(float **p, int n) {
    for (int i = 0; i < n; i++) free(p[i]);
}

int hn_cpu_conv1d_forward_t(const hn_backend *be, const hn_conv1d_params *p) {
    (void)be;
    int T = p->seqs->total, C = p->x.cols;
    if (!same_shape(p->x, T, C) || !same_shape(p->out, T, C)) return -1;
    float *x = hn_cpu_widen(p->x), *out = malloc(((size_t)T * C + 1) * sizeof(float));
    float *bufs[] = {x, out};
    int ok = x && out;
    if (ok) {
        hn_cpu_conv1d_forward(out, x, C, p->w, p->bias, p->seqs, C, p->K);
        hn_cpu_store(p->out, out, 0);
    }
    free_all(bufs, 2);
    return ok ? 0 : -1;
}

int hn_cpu_conv1d_backward_t(const hn_backend *be, const hn_conv1d_params *p) {
    (void)be;
    int T = p->seqs->total, C = p->x.cols;
    if (!same_shape(p->x, T, C) || !same_shape(p->dout, T, C) || !same_shape(p->dx, T, C))
        return -1;
    float *x = hn_cpu_widen(p->x), *dout = hn_cpu_widen(p->dout);
    float *dx = calloc((size_t)T * C + 1, sizeof(float));
    float *bufs[] = {x, dout, dx};
    int ok = x && dout && dx;
    if (ok) {
        hn_cpu_conv1d_backward(dx, C, p->dw, p->dbias, dout, x, C, p->w, p->bias, p->seqs, C,
                               p->K);
        hn_cpu_store_grad(p->dx, dx);
    }
    free_all(bufs, 3);
    return ok ? 0 : -1;
}

/* x | B | C widened side by side into one [T, HP + 2 GN] buffer (the v1 ops take one
 * row stride for the three) */
static float *xbc_f32(hn_tensor x, hn_tensor B, hn_tensor C) {
    int T = x.rows, w = x.cols + B.cols + C.cols;
    float *o = malloc(((size_t)T * w + 1) * sizeof(float));
    if (!o) return NULL;
    for (int r = 0; r < T; r++) {
        float *row = o + (size_t)r * w;
        for (int c = 0; c < x.cols; c++) row[c] = hn_view_get(x, r, c);
        for (int c = 0; c < B.cols; c++) row[x.cols + c] = hn_view_get(B, r, c);
        for (int c = 0; c < C.cols; c++) row[x.cols + B.cols + c] = hn_view_get(C, r, c);
    }
    return o;
}

static int ssd_shapes_fit(const hn_ssd_params *p, int backward) {
    const hn_ssm_dims *d = p->dims;
    int T = p->seqs->total, HP = d->heads * d->headdim, GN = d->ngroups * d->d_state;
    int ok = same_shape(p->x, T, HP) && same_shape(p->B, T, GN) && same_shape(p->C, T, GN) &&
             same_shape(p->dt_raw, T, d->heads) && (backward || same_shape(p->y, T, HP));
    if (backward)
        ok = ok && same_shape(p->dy, T, HP) && same_shape(p->dx, T, HP) &&
             same_shape(p->dB, T, GN) && same_shape(p->dC, T, GN) &&
             same_shape(p->ddt_raw, T, d->heads);
    return ok;
}

int hn_cpu_ssd_forward_t(const hn_backend *be, const hn_ssd_params *p) {
    (void)be;
    if (!ssd_shapes_fit(p, 0)) return -1;
    const hn_ssm_dims *d = p->dims;
    int T = p->seqs->total, HP = d->heads * d->headdim, GN = d->ngroups * d->d_state;
    int w = HP + 2 * GN;
    float *xbc = xbc_f32(p->x, p->B, p->C), *dt = hn_cpu_widen(p->dt_raw);
    float *y = malloc(((size_t)T * HP + 1) * sizeof(float));
    float *bufs[] = {xbc, dt, y};
    int ok = xbc && dt && y;
    if (ok) {
        hn_cpu_ssd_forward(y, p->chunk_states, NULL, 0, xbc, xbc + HP, xbc + HP + GN, w, dt,
                           d->heads, p->dt_bias, p->A_log, p->D, p->seqs, d, p->ws);
        hn_cpu_store(p->y, y, 0);
    }
    free_all(bufs, 3);
    return ok ? 0 : -1;
}

int hn_cpu_ssd_backward_t(const hn_backend *be, const hn_ssd_params *p) {
    (void)be;
    if (!ssd_shapes_fit(p, 1)) return -1;
    const hn_ssm_dims *d = p->dims;
    int T = p->seqs->total, H = d->heads, HP = H * d->headdim, GN = d->ngroups * d->d_state;
    int w = HP + 2 * GN;
    float *xbc = xbc_f32(p->x, p->B, p->C), *dt = hn_cpu_widen(p->dt_raw);
    float *dy = hn_cpu_widen(p->dy), *g = calloc((size_t)T * w + 1, sizeof(float));
    float *ddt = calloc((size_t)T * H + 1, sizeof(float));
    float *bufs[] = {xbc, dt, dy, g, ddt};
    int ok = xbc && dt && dy && g && ddt;
    if (ok) {
        hn_cpu_ssd_backward(g, g + HP, g + HP + GN, w, ddt, H, p->ddt_bias, p->dA_log, p->dD, dy,
                            xbc, xbc + HP, xbc + HP + GN, w, dt, H, p->dt_bias, p->A_log, p->D,
                            p->chunk_states, p->seqs, d, p->ws);
        /* the three slices of g back into their views, one packed slice at a time */
        hn_tensor gv = hn_tensor_of(g, HN_F32, T, w);
        const hn_tensor *dst[] = {&p->dx, &p->dB, &p->dC};
        int c0[] = {0, HP, HP + GN};
        for (int i = 0; i < 3; i++) {
            float *s = hn_cpu_widen(hn_tensor_cols(gv, c0[i], dst[i]->cols));
            if (!s) {
                ok = 0;
                break;
            }
            if (p->overwrite) hn_cpu_store(*dst[i], s, 0);
            else hn_cpu_store_grad(*dst[i], s);
            free(s);
        }
        hn_cpu_store_grad(p->ddt_raw, ddt);
    }
    free_all(bufs, 5);
    return ok ? 0 : -1;
}

static int norm_shapes_fit(const hn_gated_norm_params *p, int backward) {
    int T = p->x.rows, Dm = p->x.cols;
    int ok = p->group_size > 0 && Dm % p->group_size == 0 && same_shape(p->z, T, Dm) &&
             (backward || same_shape(p->out, T, Dm));
    if (backward)
        ok = ok && same_shape(p->dout, T, Dm) && same_shape(p->dx, T, Dm) &&
             same_shape(p->dz, T, Dm);
    return ok;
}

int hn_cpu_gated_rmsnorm_forward_t(const hn_backend *be, const hn_gated_norm_params *p) {
    (void)be;
    if (!norm_shapes_fit(p, 0)) return -1;
    int T = p->x.rows, Dm = p->x.cols;
    float *x = hn_cpu_widen(p->x), *z = hn_cpu_widen(p->z);
    float *out = malloc(((size_t)T * Dm + 1) * sizeof(float));
    float *bufs[] = {x, z, out};
    int ok = x && z && out;
    if (ok) {
        hn_cpu_gated_rmsnorm_forward(out, p->rstd, x, z, Dm, p->w, T, Dm, p->group_size, p->eps);
        hn_cpu_store(p->out, out, 0);
    }
    free_all(bufs, 3);
    return ok ? 0 : -1;
}

int hn_cpu_gated_rmsnorm_backward_t(const hn_backend *be, const hn_gated_norm_params *p) {
    (void)be;
    if (!norm_shapes_fit(p, 1)) return -1;
    int T = p->x.rows, Dm = p->x.cols;
    float *x = hn_cpu_widen(p->x), *z = hn_cpu_widen(p->z), *dout = hn_cpu_widen(p->dout);
    float *dx = calloc((size_t)T * Dm + 1, sizeof(float));
    float *dz = calloc((size_t)T * Dm + 1, sizeof(float));
    float *bufs[] = {x, z, dout, dx, dz};
    int ok = x && z && dout && dx && dz;
    if (ok) {
        hn_cpu_gated_rmsnorm_backward(dx, dz, Dm, p->dw, dout, x, z, Dm, p->w, p->rstd, T, Dm,
                                      p->group_size);
        hn_cpu_store(p->dx, dx, p->dx.dtype == HN_F32 && !p->overwrite);
        hn_cpu_store(p->dz, dz, p->dz.dtype == HN_F32 && !p->overwrite);
    }
    free_all(bufs, 5);
    return ok ? 0 : -1;
}
