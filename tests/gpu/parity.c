#include "parity.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_backend.h"
#include "plugin/registry.h"

const hn_backend *P_CPU, *P_GPU;

int parity_open(void) {
    P_CPU = hn_backend_cpu();
    P_GPU = hn_backend_get("cuda");
    if (!P_GPU) {
        fprintf(stderr, "no CUDA device: %s\n", hn_cuda_last_error());
        return -1;
    }
    return 0;
}

int parity_open_plugins(hn_registry *reg) {
    hn_error err;
    if (parity_open()) return -1;
    hn_registry_init(reg);
    if (hn_registry_load_default(reg, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    return 0;
}

static twin tw_alloc(size_t n) {
    twin t = {P_CPU->alloc(n * sizeof(float)), P_GPU->alloc(n * sizeof(float)), n};
    return t;
}

static void tw_sync(twin *t) { P_GPU->upload(t->g, t->c, t->n * sizeof(float)); }

twin tw_normal(size_t n, double std, hn_rng *r) {
    twin t = tw_alloc(n);
    for (size_t i = 0; i < n; i++) t.c[i] = (float)(std * hn_rng_normal(r));
    tw_sync(&t);
    return t;
}

twin tw_uniform(size_t n, double lo, double hi, hn_rng *r) {
    twin t = tw_alloc(n);
    for (size_t i = 0; i < n; i++) t.c[i] = (float)(lo + (hi - lo) * hn_rng_uniform(r));
    tw_sync(&t);
    return t;
}

twin tw_zero(size_t n) { return tw_alloc(n); }

itwin itw_from(const int32_t *host, size_t n) {
    itwin t = {P_CPU->alloc(n * sizeof(int32_t) + 4), P_GPU->alloc(n * sizeof(int32_t) + 4), n};
    memcpy(t.c, host, n * sizeof(int32_t));
    P_GPU->upload(t.g, host, n * sizeof(int32_t));
    return t;
}

void tw_free(twin *t) {
    P_CPU->free(t->c);
    P_GPU->free(t->g);
}
void itw_free(itwin *t) {
    P_CPU->free(t->c);
    P_GPU->free(t->g);
}

double tw_err(const twin *t, const char *name) {
    float *h = malloc(t->n * sizeof(float) + 4);
    P_GPU->download(h, t->g, t->n * sizeof(float));
    const char *cerr = hn_cuda_last_error();
    double num = 0, den = 0;
    int nan = 0;
    for (size_t i = 0; i < t->n; i++) {
        double d = (double)h[i] - t->c[i];
        if (!isfinite(h[i]) || !isfinite(t->c[i])) nan = 1;
        num += d * d;
        den += (double)t->c[i] * t->c[i];
    }
    free(h);
    double e = nan || cerr[0] ? INFINITY : (den > 0 ? sqrt(num / den) : sqrt(num));
    printf("  %-34s rel err %.3e%s%s\n", name, e, cerr[0] ? "  CUDA: " : "", cerr);
    return e;
}

double itw_mismatch(const itwin *t, const char *name) {
    int32_t *h = malloc(t->n * sizeof(int32_t) + 4);
    P_GPU->download(h, t->g, t->n * sizeof(int32_t));
    size_t bad = 0;
    for (size_t i = 0; i < t->n; i++) bad += h[i] != t->c[i];
    free(h);
    printf("  %-34s %zu of %zu differ\n", name, bad, t->n);
    return (double)bad;
}

void pseqs_make(pseqs *s, const int *lens, int n) {
    int T = 0, mx = 0;
    s->offsets = malloc(((size_t)n + 1) * sizeof(int32_t));
    s->offsets[0] = 0;
    for (int i = 0; i < n; i++) {
        T += lens[i];
        s->offsets[i + 1] = T;
        if (lens[i] > mx) mx = lens[i];
    }
    s->pos_h = malloc(((size_t)T + 1) * sizeof(int32_t));
    for (int i = 0; i < n; i++)
        for (int t = s->offsets[i]; t < s->offsets[i + 1]; t++) s->pos_h[t] = t - s->offsets[i];
    s->offs = itw_from(s->offsets, (size_t)n + 1);
    s->pos = itw_from(s->pos_h, (size_t)T);
    s->c = (hn_seqs){.n = n, .total = T, .max_len = mx, .offsets = s->offsets,
                     .offsets_dev = s->offs.c, .pos_dev = s->pos.c};
    s->g = (hn_seqs){.n = n, .total = T, .max_len = mx, .offsets = s->offsets,
                     .offsets_dev = s->offs.g, .pos_dev = s->pos.g};
}

void pseqs_free(pseqs *s) {
    itw_free(&s->offs);
    itw_free(&s->pos);
    free(s->offsets);
    free(s->pos_h);
}

tbuf tb_scaled(hn_dtype dtype, int rows, int cols, int ld, double std, hn_rng *r) {
    tbuf t = {dtype, rows, cols, ld, NULL, NULL};
    size_t n = (size_t)rows * ld, bytes = n * hn_dtype_size(dtype);
    t.c = malloc(bytes);
    t.g = P_GPU->alloc(bytes);
    for (size_t i = 0; i < n; i++) {
        float v = (float)(std * hn_rng_normal(r));
        if (dtype == HN_BF16) ((uint16_t *)t.c)[i] = hn_bf16_from_f32(v);
        else ((float *)t.c)[i] = v;
    }
    P_GPU->upload(t.g, t.c, bytes);
    return t;
}

tbuf tb_normal(hn_dtype dtype, int rows, int cols, int ld, hn_rng *r) {
    return tb_scaled(dtype, rows, cols, ld, 1.0, r);
}

hn_tensor tv(const tbuf *t, int gpu) {
    hn_tensor v = {gpu ? t->g : t->c, t->dtype, t->rows, t->cols, t->ld};
    return v;
}

void tb_free(tbuf *t) {
    free(t->c);
    P_GPU->free(t->g);
}

double tb_err(const tbuf *t, const char *name) { return tb_err_cols(t, 0, t->cols, name); }

double tb_err_cols(const tbuf *t, int c0, int cols, const char *name) {
    size_t n = (size_t)t->rows * t->ld, bytes = n * hn_dtype_size(t->dtype);
    void *h = malloc(bytes);
    P_GPU->download(h, t->g, bytes);
    const char *e = P_GPU->device_error();
    double num = 0, den = 0;
    for (int r = 0; r < t->rows; r++)
        for (int c = c0; c < c0 + cols; c++) {
            size_t i = (size_t)r * t->ld + c;
            double a = t->dtype == HN_BF16 ? hn_bf16_to_f32(((uint16_t *)h)[i]) : ((float *)h)[i];
            double b = t->dtype == HN_BF16 ? hn_bf16_to_f32(((uint16_t *)t->c)[i]) : ((float *)t->c)[i];
            num += (a - b) * (a - b);
            den += b * b;
        }
    free(h);
    double err = e ? INFINITY : sqrt(num / (den > 0 ? den : 1));
    if (!(err == err)) err = INFINITY;
    printf("  %-34s rel err %.3e%s%s\n", name, err, e ? " device error: " : "", e ? e : "");
    return err;
}

long tb_off_cols(const tbuf *t, int c0, int cols, double rel, double abs_tol, const char *name) {
    size_t n = (size_t)t->rows * t->ld, bytes = n * hn_dtype_size(t->dtype);
    void *h = malloc(bytes);
    P_GPU->download(h, t->g, bytes);
    const char *e = P_GPU->device_error();
    long off = 0;
    for (int r = 0; r < t->rows; r++)
        for (int c = c0; c < c0 + cols; c++) {
            size_t i = (size_t)r * t->ld + c;
            double a = t->dtype == HN_BF16 ? hn_bf16_to_f32(((uint16_t *)h)[i]) : ((float *)h)[i];
            double b = t->dtype == HN_BF16 ? hn_bf16_to_f32(((uint16_t *)t->c)[i]) : ((float *)t->c)[i];
            if (!(fabs(a - b) <= rel * fabs(b) + abs_tol)) off++;
        }
    free(h);
    if (e) off = -1;
    printf("  %-34s %ld off by more than %.0e |cpu| + %.0e%s%s\n", name, off, rel, abs_tol,
           e ? " device error: " : "", e ? e : "");
    return off;
}

hn_rng tb_fresh(const char *what) {
    hn_rng r;
    uint64_t seed = 0xC0FFEE;
    for (const char *p = what; *p; p++) seed = seed * 131 + (unsigned char)*p;
    hn_rng_seed(&r, seed);
    return r;
}
