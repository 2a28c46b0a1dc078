/* Cpu-vs-device parity of a whole layer plugin, forward and backward (check/parity.h). */
#include "check/parity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "core/rng.h"
#include "model/layer.h"
#include "plugin/config.h"

enum { N_SEQS = 2 };
static const int seq_lens[N_SEQS] = {37, 27}; /* two sequences: a start inside the batch */

/* The layer on one backend, with device buffers. */
typedef struct side {
    const hn_backend *be;
    hn_layer layer;
    hn_param_store store;
    int32_t offsets[N_SEQS + 1];
    int32_t *offsets_dev, *pos_dev;
    hn_seqs seqs;
    float *x, *y, *dy, *dx;
} side;

static int side_open(side *s, const hn_backend *be, const hn_layer_plugin *p,
                     const hn_layer_args *args, size_t TD, const int32_t *pos, hn_error *err) {
    memset(s, 0, sizeof *s);
    s->be = be;
    hn_params_init(&s->store, be);
    if (hn_layer_create(&s->layer, p, args, &s->store, "", 0, err))
        return hn_fail_prefix(err, "creating %s on %s", p->name, be->name);
    if (hn_params_allocate(&s->store, 1, err)) return HN_ERR;
    hn_layer_bind(&s->layer, &s->store);
    s->offsets[0] = 0;
    for (int i = 0; i < N_SEQS; i++) s->offsets[i + 1] = s->offsets[i] + seq_lens[i];
    int T = s->offsets[N_SEQS];
    s->offsets_dev = be->alloc(sizeof s->offsets);
    s->pos_dev = be->alloc((size_t)T * sizeof(int32_t));
    s->x = be->alloc(TD * sizeof(float));
    s->y = be->alloc(TD * sizeof(float));
    s->dy = be->alloc(TD * sizeof(float));
    s->dx = be->alloc(TD * sizeof(float));
    if (!s->offsets_dev || !s->pos_dev || !s->x || !s->y || !s->dy || !s->dx)
        return hn_fail(err, "out of %s memory", be->name);
    be->upload(s->offsets_dev, s->offsets, sizeof s->offsets);
    be->upload(s->pos_dev, pos, (size_t)T * sizeof(int32_t));
    s->seqs = (hn_seqs){.n = N_SEQS, .total = T, .max_len = seq_lens[0], .offsets = s->offsets,
                        .offsets_dev = s->offsets_dev, .pos_dev = s->pos_dev};
    return HN_OK;
}

static void side_close(side *s) {
    if (!s->be) return;
    if (s->layer.self) hn_layer_destroy(&s->layer, s->be);
    hn_params_free(&s->store);
    void *bufs[] = {s->offsets_dev, s->pos_dev, s->x, s->y, s->dy, s->dx};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]) s->be->free(bufs[i]);
}

/* Forward, then backward into zeroed gradients. */
static int side_run(side *s, const hn_layer_plugin *p, size_t TD, hn_error *err) {
    hn_layer_ctx ctx = {.be = s->be, .seqs = &s->seqs};
    hn_params_zero_grads(&s->store);
    s->be->zero(s->dx, TD * sizeof(float));
    if (p->forward(s->layer.self, &ctx, s->x, s->y, err))
        return hn_fail_prefix(err, "%s: forward on %s", p->name, s->be->name);
    if (p->backward(s->layer.self, &ctx, s->dy, s->dx, err))
        return hn_fail_prefix(err, "%s: backward on %s", p->name, s->be->name);
    if (s->be->sync) s->be->sync();
    const char *e = s->be->device_error ? s->be->device_error() : NULL;
    if (e) return hn_fail(err, "%s on %s: %s", p->name, s->be->name, e);
    return HN_OK;
}

/* Compares n floats of the device buffer g with the cpu's c. */
static int compare(const char *what, const float *c, const float *g, size_t n, const hn_backend *dev,
                   double tol, FILE *out) {
    float *got = malloc((n ? n : 1) * sizeof *got);
    if (!got) return 1;
    dev->download(got, g, n * sizeof *got);
    double e = hn_parity_rel_err(c, got, n);
    free(got);
    int ok = e <= tol;
    if (out)
        fprintf(out, "%-4s %-32s relative error %.2e (tol %.0e)\n", ok ? "ok" : "FAIL", what, e, tol);
    return ok ? 0 : 1;
}

int hn_parity_layer(const hn_layer_plugin *p, const hn_plugin_check_opts *o,
                    const hn_backend *dev, int *n_failed, hn_error *err) {
    int d = o->d_model > 0 ? o->d_model : 64, T = 0;
    for (int i = 0; i < N_SEQS; i++) T += seq_lens[i];
    size_t TD = (size_t)T * (size_t)d;
    cJSON *cfg = o->config_json ? cJSON_Parse(o->config_json) : cJSON_CreateObject();
    if (!cJSON_IsObject(cfg)) {
        cJSON_Delete(cfg);
        return hn_fail(err, "--config: not a JSON object: %s", o->config_json);
    }
    hn_layer_args args = {.d_model = d, .stage = 0, .layer = 0, .n_layers = 2, .cfg = hn_config_view(cfg)};
    side c, g;
    memset(&c, 0, sizeof c);
    memset(&g, 0, sizeof g);
    int32_t *pos = malloc((size_t)T * sizeof *pos);
    int rc = !pos ? hn_fail(err, "out of host memory") : HN_OK;
    for (int i = 0, t = 0; !rc && i < N_SEQS; i++)
        for (int j = 0; j < seq_lens[i]; j++) pos[t++] = j;
    if (!rc) rc = side_open(&c, hn_backend_cpu(), p, &args, TD, pos, err);
    if (!rc) rc = side_open(&g, dev, p, &args, TD, pos, err);
    if (!rc) {
        /* the same parameters (drawn wide, as the gradient checks do) and inputs */
        hn_rng rng;
        hn_rng_seed(&rng, 3);
        for (size_t i = 0; i < c.store.total; i++) c.store.values[i] = (float)(0.2 * hn_rng_normal(&rng));
        dev->upload(g.store.values, c.store.values, c.store.total * sizeof(float));
        for (size_t i = 0; i < TD; i++) c.x[i] = (float)hn_rng_normal(&rng);
        for (size_t i = 0; i < TD; i++) c.dy[i] = (float)hn_rng_normal(&rng);
        dev->upload(g.x, c.x, TD * sizeof(float));
        dev->upload(g.dy, c.dy, TD * sizeof(float));
        rc = side_run(&c, p, TD, err);
        if (!rc) rc = side_run(&g, p, TD, err);
    }
    if (!rc) {
        double tol = dev->activation_dtype && dev->activation_dtype(dev) == HN_BF16 ? HN_PARITY_TOL_BF16
                                                                                   : HN_PARITY_TOL_F32;
        *n_failed += compare("forward y", c.y, g.y, TD, dev, tol, o->out);
        *n_failed += compare("backward dx", c.dx, g.dx, TD, dev, tol, o->out);
        for (int i = 0; i < c.store.n; i++) {
            const hn_param_entry *e = &c.store.entries[i];
            char what[128];
            snprintf(what, sizeof what, "backward d %s", e->p.name);
            *n_failed += compare(what, c.store.grads + e->offset, g.store.grads + e->offset,
                                 e->numel, dev, tol, o->out);
        }
    }
    side_close(&c);
    side_close(&g);
    free(pos);
    cJSON_Delete(cfg);
    return rc;
}
