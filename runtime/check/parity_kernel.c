/* Cpu-vs-device parity of one op of the kernel registry (check/parity.h). */
#include "check/parity.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

double hn_parity_rel_err(const float *ref, const float *got, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i]) && isfinite(ref[i])) return INFINITY;
        double d = (double)got[i] - ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    if (den == 0) return sqrt(num);
    return sqrt(num / den);
}

/* One tensor of the params struct on both sides: host values (the cpu's tensor reads
 * and writes them as float32) and the device copy in the example's dtype. */
typedef struct arg_pair {
    hn_tensor *c, *g;  /* fields of the cpu's and the device's params structs */
    float *host;       /* cpu data, rows * ld floats */
    float *start;      /* the values both started from */
    void *dev;
    size_t n;
} arg_pair;

static hn_tensor *field(void *params, size_t offset) {
    return (hn_tensor *)((char *)params + offset);
}

/* Fresh normal(0, 1) values, rounded to the device dtype so both sides read the same. */
static int arg_open(arg_pair *a, void *pc, void *pg, const hn_kernel_arg *spec,
                    const hn_backend *dev, hn_rng *rng, hn_error *err) {
    a->c = field(pc, spec->offset);
    a->g = field(pg, spec->offset);
    hn_tensor *g = a->g;
    if (g->rows <= 0 || g->cols <= 0 || g->ld < g->cols)
        return hn_fail(err, "its example gives '%s' the shape %d x %d (ld %d)", spec->name, g->rows,
                       g->cols, g->ld);
    a->n = (size_t)g->rows * (size_t)g->ld;
    a->host = malloc(a->n * sizeof(float));
    a->start = malloc(a->n * sizeof(float));
    uint16_t *packed = g->dtype == HN_BF16 ? malloc(a->n * sizeof *packed) : NULL;
    a->dev = dev->alloc(a->n * hn_dtype_size(g->dtype));
    if (!a->host || !a->start || !a->dev || (g->dtype == HN_BF16 && !packed)) {
        free(packed);
        return hn_fail(err, "out of memory for '%s'", spec->name);
    }
    for (size_t i = 0; i < a->n; i++) {
        float v = (float)hn_rng_normal(rng);
        if (packed) {
            packed[i] = hn_bf16_from_f32(v);
            v = hn_bf16_to_f32(packed[i]);
        }
        a->host[i] = a->start[i] = v;
    }
    dev->upload(a->dev, packed ? (const void *)packed : a->host, a->n * hn_dtype_size(g->dtype));
    free(packed);
    *a->c = (hn_tensor){a->host, HN_F32, g->rows, g->cols, g->ld};
    g->data = a->dev;
    return HN_OK;
}

static void arg_close(arg_pair *a, const hn_backend *dev) {
    free(a->host);
    free(a->start);
    if (a->dev) dev->free(a->dev);
}

/* The device's values of an output, widened to float32 and packed [rows, cols]; the
 * cpu's packed beside them. */
static int arg_result(const arg_pair *a, const hn_backend *dev, float *got, float *ref) {
    const hn_tensor *g = a->g;
    size_t bytes = a->n * hn_dtype_size(g->dtype);
    void *raw = malloc(bytes);
    if (!raw) return HN_ERR;
    dev->download(raw, a->dev, bytes);
    for (int r = 0; r < g->rows; r++)
        for (int c = 0; c < g->cols; c++) {
            size_t i = (size_t)r * g->ld + c, o = (size_t)r * g->cols + c;
            got[o] = g->dtype == HN_BF16 ? hn_bf16_to_f32(((uint16_t *)raw)[i]) : ((float *)raw)[i];
            ref[o] = a->host[i];
        }
    free(raw);
    return HN_OK;
}

/* 1 when the cpu twin changed nothing of an output (then nothing was compared). */
static int unwritten(const arg_pair *a) {
    return !memcmp(a->host, a->start, a->n * sizeof(float));
}

/* The op in one dtype (the pass: what its example makes of the tensors it keeps in that
 * dtype; an output's tolerance follows its own dtype): *ran = 0 when it has no variant
 * in that dtype. */
static int run_dtype(const hn_kernel_def *def, const hn_backend *dev, hn_dtype dtype, FILE *out,
                     int *ran, int *n_failed, hn_error *err) {
    *ran = 0;
    void *pc = calloc(1, def->params_size), *pg = calloc(1, def->params_size);
    arg_pair *a = calloc((size_t)def->n_args + 1, sizeof *a);
    int rc = HN_OK;
    if (!pc || !pg || !a) {
        rc = hn_fail(err, "out of host memory");
        goto done;
    }
    if (def->example(pg, dtype)) {
        if (dtype == HN_F32) rc = hn_fail(err, "op '%s': its example has no float32 variant", def->name);
        goto done;
    }
    *ran = 1;
    memcpy(pc, pg, def->params_size); /* the scalars; the tensors are set below */
    hn_rng rng;
    hn_rng_seed(&rng, 7 + (uint64_t)dtype);
    for (int i = 0; i < def->n_args && !rc; i++)
        rc = arg_open(&a[i], pc, pg, &def->args[i], dev, &rng, err);
    if (!rc) rc = hn_kernel_launch(hn_backend_cpu(), def, pc, err);
    if (!rc) rc = hn_kernel_launch(dev, def, pg, err);
    if (!rc && dev->sync) dev->sync();
    const char *derr = !rc && dev->device_error ? dev->device_error() : NULL;
    if (derr) rc = hn_fail(err, "op '%s' on %s: %s", def->name, dev->name, derr);
    if (rc) goto done;
    double tol_f32 = def->tol_f32 > 0 ? def->tol_f32 : HN_PARITY_TOL_F32;
    double tol_bf16 = def->tol_bf16 > 0 ? def->tol_bf16 : HN_PARITY_TOL_BF16;
    for (int i = 0; i < def->n_args; i++) {
        if (def->args[i].role == HN_ARG_IN) continue;
        const hn_tensor *g = a[i].g;
        size_t n = (size_t)g->rows * g->cols;
        float *got = malloc(n * sizeof *got), *ref = malloc(n * sizeof *ref);
        if (!got || !ref || arg_result(&a[i], dev, got, ref)) {
            free(got);
            free(ref);
            rc = hn_fail(err, "out of host memory");
            goto done;
        }
        double tol = g->dtype == HN_BF16 ? tol_bf16 : tol_f32;
        double e = hn_parity_rel_err(ref, got, n);
        int blind = unwritten(&a[i]);
        int ok = e <= tol && !blind;
        if (!ok) (*n_failed)++;
        if (out)
            fprintf(out, "%-4s op %s %s (%s pass) relative error %.2e (tol %.0e)%s\n",
                    ok ? "ok" : "FAIL", def->name, def->args[i].name,
                    dtype == HN_BF16 ? "bf16" : "fp32", e, tol,
                    blind ? ": the cpu twin did not change it, so nothing was compared" : "");
        free(got);
        free(ref);
    }
done:
    for (int i = 0; a && i < def->n_args; i++) arg_close(&a[i], dev);
    free(a);
    free(pc);
    free(pg);
    return rc;
}

int hn_parity_kernel(const hn_kernel_def *def, const hn_backend *dev, FILE *out, int *n_failed,
                     hn_error *err) {
    if (!HN_KERNEL_HAS(def, tol_bf16) || !def->example || !def->args || def->n_args <= 0)
        return hn_fail(err, "op '%s' has no example for the kit (args, n_args, example)", def->name);
    int ran;
    if (run_dtype(def, dev, HN_F32, out, &ran, n_failed, err) ||
        run_dtype(def, dev, HN_BF16, out, &ran, n_failed, err))
        return HN_ERR;
    if (!ran && out) fprintf(out, "--   op %s: no bf16 variant\n", def->name);
    return HN_OK;
}
