/* The frozen entropy model: a checkpointed isotropic byte LM on the cpu backend. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/byte_lm.h"
#include "model/generate.h"
#include "model/model.h"
#include "results/location.h"
#include "train/checkpoint.h"

struct hn_byte_lm {
    hn_registry reg; /* the plugins its layers come from (its own: plugins cannot lend theirs) */
    hn_model m;
    int seq_len;          /* the length it was trained on */
    double flops_per_byte;
    int32_t *tok, *tgt;   /* host, one forward's rows */
    float *logits;        /* host, [rows, vocab] */
    int cap;
};

struct hn_lm_stream {
    hn_byte_lm *lm;
    hn_generator g;
    float *logits; /* host, [vocab] */
};

/* Entropy in bits of softmax(logits). */
static float entropy_bits(const float *l, int V) {
    float mx = l[0];
    for (int v = 1; v < V; v++) mx = l[v] > mx ? l[v] : mx;
    double z = 0, pz = 0;
    for (int v = 0; v < V; v++) {
        double e = exp((double)(l[v] - mx));
        z += e, pz += e * (double)(l[v] - mx);
    }
    /* H = log Z - sum p (l - max), in nats; then bits */
    return (float)((log(z) - pz / z) / M_LN2);
}

static int load(hn_byte_lm *lm, const char *path, hn_error *err) {
    hn_registry_init(&lm->reg);
    if (hn_registry_load_default(&lm->reg, err)) return HN_ERR;
    cJSON *cfg = NULL;
    if (hn_checkpoint_open_model(path, &lm->reg, hn_backend_cpu(), &lm->m, &cfg, err)) return HN_ERR;
    const cJSON *sl = cJSON_GetObjectItem(cJSON_GetObjectItem(cfg, "data"), "seq_len");
    lm->seq_len = cJSON_IsNumber(sl) && sl->valueint > 0 ? sl->valueint : 512;
    cJSON_Delete(cfg);
    if (lm->m.n_stages != 0)
        return hn_fail(err, "%s holds a %s model with %d chunking stage%s; an entropy model must be "
                            "isotropic (a plain byte LM, as BLT's)",
                       path, lm->m.kind, lm->m.n_stages, lm->m.n_stages == 1 ? "" : "s");
    lm->m.no_grad = 1; /* frozen: forwards only */
    int32_t len = lm->seq_len;
    int32_t offsets[2] = {0, len};
    hn_seqs one = {.n = 1, .total = len, .max_len = len, .offsets = offsets};
    lm->flops_per_byte = (hn_stage_flops(&lm->m.backbone, &one) +
                          2.0 * 2.0 * len * (double)lm->m.d * (double)lm->m.vocab) / len;
    return HN_OK;
}

int hn_byte_lm_open(const char *checkpoint, hn_byte_lm **out, hn_error *err) {
    *out = NULL;
    if (!checkpoint || !checkpoint[0]) return hn_fail(err, "entropy model: no checkpoint path given");
    char path[4096];
    if (hn_results_path(NULL, checkpoint, path, sizeof path, err)) return HN_ERR;
    hn_byte_lm *lm = calloc(1, sizeof *lm);
    if (!lm) return hn_fail(err, "entropy model: out of memory");
    if (load(lm, path, err)) {
        hn_fail_prefix(err, "entropy model %s", checkpoint);
        hn_byte_lm_close(lm);
        return HN_ERR;
    }
    *out = lm;
    return HN_OK;
}

void hn_byte_lm_close(hn_byte_lm *lm) {
    if (!lm) return;
    if (lm->m.be) hn_model_free(&lm->m);
    hn_registry_close(&lm->reg);
    free(lm->tok);
    free(lm->tgt);
    free(lm->logits);
    free(lm);
}

static int reserve(hn_byte_lm *lm, int rows, hn_error *err) {
    if (rows <= lm->cap) return HN_OK;
    free(lm->tok), free(lm->tgt), free(lm->logits);
    lm->tok = malloc((size_t)rows * sizeof *lm->tok);
    lm->tgt = malloc((size_t)rows * sizeof *lm->tgt);
    lm->logits = malloc((size_t)rows * (size_t)lm->m.vocab * sizeof *lm->logits);
    lm->cap = lm->tok && lm->tgt && lm->logits ? rows : 0;
    return lm->cap ? HN_OK : hn_fail(err, "entropy model: out of memory for %d rows", rows);
}

/* One forward over n sequences of len bytes starting at bytes; entropies into out. */
static int score(hn_byte_lm *lm, const int32_t *bytes, int n, int len, float *out, hn_error *err) {
    int T = n * len, V = lm->m.vocab;
    if (reserve(lm, T, err)) return HN_ERR;
    for (int t = 0; t < T; t++) {
        if (bytes[t] < 0 || bytes[t] >= V)
            return hn_fail(err, "entropy model: byte %d is outside its vocabulary of %d", bytes[t], V);
        lm->tok[t] = bytes[t];
        lm->tgt[t] = (t + 1) % len ? bytes[t + 1] : 0; /* the loss is not used; any valid target */
    }
    hn_loss loss;
    if (hn_model_forward(&lm->m, lm->tok, lm->tgt, n, len, &loss, err)) return hn_fail_prefix(err, "entropy model");
    lm->m.be->download(lm->logits, lm->m.logits, (size_t)T * (size_t)V * sizeof(float));
    for (int t = 0; t < T; t++) out[t] = entropy_bits(lm->logits + (size_t)t * V, V);
    return HN_OK;
}

int hn_byte_lm_entropy(hn_byte_lm *lm, const int32_t *bytes, const int32_t *offsets, int n_seqs,
                       float *entropy, hn_error *err) {
    /* sequences of one length go through in one forward (the model packs equal lengths) */
    int i = 0;
    while (i < n_seqs) {
        int len = offsets[i + 1] - offsets[i], j = i + 1;
        while (j < n_seqs && offsets[j + 1] - offsets[j] == len) j++;
        if (len > 0 && score(lm, bytes + offsets[i], j - i, len, entropy + offsets[i], err)) return HN_ERR;
        i = j;
    }
    return HN_OK;
}

double hn_byte_lm_flops(const hn_byte_lm *lm, int T) { return lm->flops_per_byte * T; }

int hn_lm_stream_open(hn_byte_lm *lm, int max_len, hn_lm_stream **out, hn_error *err) {
    *out = NULL;
    hn_lm_stream *s = calloc(1, sizeof *s);
    if (!s || !(s->logits = malloc((size_t)lm->m.vocab * sizeof *s->logits))) {
        free(s);
        return hn_fail(err, "entropy model: out of memory for a stream");
    }
    s->lm = lm;
    if (hn_generator_init(&s->g, &lm->m, max_len, err)) {
        hn_lm_stream_close(s);
        return hn_fail_prefix(err, "entropy model");
    }
    *out = s;
    return HN_OK;
}

int hn_lm_stream_step(hn_lm_stream *s, int byte, float *entropy, hn_error *err) {
    if (hn_generator_step(&s->g, byte, s->logits, err)) return hn_fail_prefix(err, "entropy model");
    *entropy = entropy_bits(s->logits, s->lm->m.vocab);
    return HN_OK;
}

void hn_lm_stream_close(hn_lm_stream *s) {
    if (!s) return;
    hn_generator_free(&s->g);
    free(s->logits);
    free(s);
}
