#include "model/generate.h"

#include <stdlib.h>
#include <string.h>

#include "model/gen_stage.h"

int hn_generator_init(hn_generator *g, hn_model *m, int max_len, hn_error *err) {
    return hn_generator_init_batch(g, m, 1, max_len, err);
}

int hn_generator_init_batch(hn_generator *g, hn_model *m, int n, int max_len, hn_error *err) {
    memset(g, 0, sizeof *g);
    const hn_backend *be = m->be;
    if (n < 1) return hn_fail(err, "generation: %d sequences (at least 1)", n);
    if (max_len < 1) return hn_fail(err, "generation: states for %d bytes (at least 1)", max_len);
    if (!be->attention_step || !be->sample)
        return hn_fail(err, "generation: the %s backend has no generation ops", be->name);
    g->depth = m->n_stages + 1;
    if (g->depth > HN_GEN_MAX_DEPTH) return hn_fail(err, "generation: too many stages");
    g->m = m;
    g->n = n;
    g->max_len = max_len;
    size_t N = (size_t)n;
    g->x = be->alloc(N * m->d * sizeof(float));
    g->h = be->alloc(N * m->d * sizeof(float));
    g->logits = be->alloc(N * m->vocab * sizeof(float));
    g->tok_dev = be->alloc(N * sizeof(int32_t));
    g->drawn_dev = be->alloc(N * sizeof(int32_t));
    g->u_dev = be->alloc(N * sizeof(double));
    g->u = calloc(N, sizeof *g->u);
    if (!g->x || !g->h || !g->logits || !g->tok_dev || !g->drawn_dev || !g->u_dev || !g->u) {
        hn_generator_free(g);
        return hn_fail(err, "out of %s memory for generation", be->name);
    }
    if (hn_gen_stage_init(&g->root, &m->backbone, be, n, max_len, err)) {
        hn_generator_free(g);
        return HN_ERR;
    }
    return HN_OK;
}

void hn_generator_free(hn_generator *g) {
    if (!g->m) return;
    const hn_backend *be = g->m->be;
    hn_gen_stage_free(g->root, be);
    void *bufs[] = {g->x, g->h, g->logits, g->tok_dev, g->drawn_dev, g->u_dev};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]) be->free(bufs[i]);
    free(g->u);
    free(g->logits_host);
    memset(g, 0, sizeof *g);
}

int hn_generator_step(hn_generator *g, int byte, float *logits, hn_error *err) {
    int32_t b = byte;
    if (g->n != 1)
        return hn_fail(err, "generation: one byte for %d sequences (hn_generator_step_batch)", g->n);
    return hn_generator_step_batch(g, &b, logits, err);
}

int hn_generator_step_batch(hn_generator *g, const int32_t *bytes, float *logits,
                            hn_error *err) {
    hn_model *m = g->m;
    const hn_backend *be = m->be;
    int n = g->n;
    if (g->pos >= g->max_len)
        return hn_fail(err, "generation: past the %d bytes the state was sized for", g->max_len);
    for (int i = 0; i < n; i++)
        if (bytes[i] < 0 || bytes[i] >= m->vocab)
            return hn_fail(err, "generation: byte %d out of range", bytes[i]);
    be->upload(g->tok_dev, bytes, (size_t)n * sizeof(int32_t));
    be->embedding_forward(g->x, m->params.entries[m->emb_param].p.value, g->tok_dev, n, m->d);
    for (int s = 0; s < g->depth; s++) g->b[s] = 0;
    hn_gen_stage_clear(g->root);
    int32_t *pos = hn_gen_stage_positions(g->root);
    for (int i = 0; i < n; i++) pos[i] = (int32_t)g->pos; /* the sequences step in lockstep */
    if (hn_gen_stage_step(g, g->root, 0, g->x, bytes, g->h, err)) return HN_ERR;
    be->matmul(0, 1, n, m->vocab, m->d, 1.0f, g->h, m->params.entries[m->head_param].p.value,
               0.0f, g->logits);
    if (logits) be->download(logits, g->logits, (size_t)n * m->vocab * sizeof(float));
    const char *dev_err = be->device_error ? be->device_error() : NULL;
    if (dev_err) return hn_fail(err, "generation step on %s: %s", be->name, dev_err);
    g->pos++;
    return HN_OK;
}

const int32_t *hn_generator_boundaries(const hn_generator *g, int stage) {
    if (!g->root || stage < 0 || stage >= g->depth - 1) return NULL;
    return hn_gen_stage_boundaries(g->root, stage);
}

int hn_generator_sample(hn_generator *g, double temperature, double top_p, hn_rng *rng,
                        int32_t *out, hn_error *err) {
    const hn_backend *be = g->m->be;
    int n = g->n, V = g->m->vocab;
    if (g->pos == 0) return hn_fail(err, "generation: nothing to sample from before a step");
    for (int i = 0; i < n; i++) g->u[i] = temperature > 0 && V > 1 ? hn_rng_uniform(rng) : 0.0;
    if (be->kind != HN_DEVICE_CPU && V > HN_SAMPLE_DEVICE_MAX_V) {
        /* a token vocabulary larger than the device sampler takes: draw on the host */
        if (!g->logits_host) g->logits_host = malloc((size_t)n * V * sizeof(float));
        if (!g->logits_host) return hn_fail(err, "out of memory for sampling");
        be->download(g->logits_host, g->logits, (size_t)n * V * sizeof(float));
        hn_backend_cpu()->sample(out, g->logits_host, g->u, n, V, temperature, top_p);
        return HN_OK;
    }
    be->upload(g->u_dev, g->u, (size_t)n * sizeof(double));
    be->sample(g->drawn_dev, g->logits, g->u_dev, n, V, temperature, top_p);
    /* read back: the drawn bytes, which the host prints and feeds to the next step */
    be->download(out, g->drawn_dev, (size_t)n * sizeof(int32_t));
    const char *dev_err = be->device_error ? be->device_error() : NULL;
    if (dev_err) return hn_fail(err, "sampling on %s: %s", be->name, dev_err);
    return HN_OK;
}
