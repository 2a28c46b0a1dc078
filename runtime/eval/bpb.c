#include "eval/bpb.h"

#include "data/token_corpus.h"
#include "eval/loss_queue.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* After the first forward: its time, which holds the one-time costs (the first call's
 * allocations, the backend's set-up), read to the end (a synchronisation). */
static void first_done(hn_loss_queue *q, hn_eval_bpb *out, double t0, long bytes) {
    hn_loss_queue_flush(q);
    out->first_seconds = now_s() - t0;
    out->first_bytes = bytes;
}

int hn_eval_bpb_range(hn_model *m, const uint8_t *bytes, size_t begin, size_t end, int seq_len,
                      int batch, long max_bytes, hn_eval_bpb *out, hn_error *err) {
    memset(out, 0, sizeof *out);
    if (seq_len < 1 || batch < 1) return hn_fail(err, "evaluation: seq_len and batch must be >= 1");
    long avail = end > begin ? (long)(end - begin) : 0;
    if (max_bytes <= 0 || max_bytes > avail) max_bytes = avail;
    long windows = (max_bytes - 1) / seq_len;
    if (windows < 1)
        return hn_fail(err, "evaluation: %ld bytes hold no window of %d bytes plus a target", avail,
                       seq_len);
    size_t T = (size_t)batch * (size_t)seq_len;
    int32_t *tok = malloc(T * sizeof *tok), *tgt = malloc(T * sizeof *tgt);
    if (!tok || !tgt) {
        free(tok);
        free(tgt);
        return hn_fail(err, "evaluation: out of memory");
    }
    hn_loss_queue q;
    if (hn_loss_queue_init(&q, m, (long)T, err)) {
        free(tok), free(tgt);
        return HN_ERR;
    }
    int was = m->no_grad;
    m->no_grad = 1;
    double outer[HN_EVAL_MAX_STAGES] = {0}, inner[HN_EVAL_MAX_STAGES] = {0};
    long count = 0;
    int rc = HN_OK;
    double t0 = now_s();
    for (long w = 0; w < windows && rc == HN_OK; w += batch) {
        int n = (int)(windows - w < batch ? windows - w : batch);
        for (int i = 0; i < n; i++) {
            const uint8_t *src = bytes + begin + (size_t)(w + i) * (size_t)seq_len;
            for (int t = 0; t < seq_len; t++) {
                tok[(size_t)i * seq_len + t] = src[t];
                tgt[(size_t)i * seq_len + t] = src[t + 1];
            }
        }
        rc = hn_loss_queue_forward(&q, tok, tgt, n, seq_len, err);
        if (rc) break;
        count += (long)n * seq_len;
        if (w == 0) first_done(&q, out, t0, count);
        hn_stage_stats st[HN_EVAL_MAX_STAGES];
        int S = hn_model_stage_stats(m, st, HN_EVAL_MAX_STAGES);
        out->stages = S;
        for (int s = 0; s < S; s++) {
            outer[s] += st[s].outer_len;
            inner[s] += st[s].inner_len;
        }
    }
    hn_loss_queue_flush(&q);
    out->seconds = now_s() - t0;
    m->no_grad = was;
    double nats = q.nats;
    hn_loss_queue_free(&q);
    free(tok);
    free(tgt);
    if (rc) return HN_ERR;
    out->bpb = nats / (double)count / log(2.0);
    out->bytes = out->tokens = count;
    for (int s = 0; s < out->stages; s++) out->compression[s] = outer[s] > 0 ? inner[s] / outer[s] : 0;
    return HN_OK;
}

/* One forward of n windows of len tokens from ids (stride len): NLL and stage lengths. */
static int token_batch(hn_loss_queue *q, const int32_t *ids, int n, int len, int32_t *tok,
                       int32_t *tgt, double *outer, double *inner, int *stages, hn_error *err) {
    hn_model *m = q->m;
    for (int i = 0; i < n; i++) {
        memcpy(tok + (size_t)i * len, ids + (size_t)i * len, (size_t)len * sizeof *tok);
        memcpy(tgt + (size_t)i * len, ids + (size_t)i * len + 1, (size_t)len * sizeof *tgt);
    }
    if (hn_loss_queue_forward(q, tok, tgt, n, len, err)) return HN_ERR;
    hn_stage_stats st[HN_EVAL_MAX_STAGES];
    *stages = hn_model_stage_stats(m, st, HN_EVAL_MAX_STAGES);
    for (int s = 0; s < *stages; s++) outer[s] += st[s].outer_len, inner[s] += st[s].inner_len;
    return HN_OK;
}

int hn_eval_bpb_tokens(hn_model *m, const hn_tokenizer *t, const uint8_t *bytes, size_t begin,
                       size_t end, int byte_seq_len, int seq_tokens, int batch, long max_bytes,
                       hn_eval_bpb *out, hn_error *err) {
    memset(out, 0, sizeof *out);
    if (byte_seq_len < 1 || seq_tokens < 1 || batch < 1)
        return hn_fail(err, "evaluation: seq_len, seq_tokens and batch must be >= 1");
    long avail = end > begin ? (long)(end - begin) : 0;
    if (max_bytes <= 0 || max_bytes > avail) max_bytes = avail;
    long windows = (max_bytes - 1) / byte_seq_len;
    if (windows < 1)
        return hn_fail(err, "evaluation: %ld bytes hold no window of %d bytes plus a target", avail,
                       byte_seq_len);
    size_t span_begin = begin + 1, span_end = span_begin + (size_t)windows * (size_t)byte_seq_len;
    int32_t *ids;
    size_t n_ids;
    if (hn_token_span(t, bytes, span_begin, span_end, &ids, &n_ids, err)) return HN_ERR;
    size_t T = (size_t)batch * (size_t)seq_tokens;
    int32_t *tok = malloc(T * sizeof *tok), *tgt = malloc(T * sizeof *tgt);
    if (!tok || !tgt) {
        free(tok), free(tgt), free(ids);
        return hn_fail(err, "evaluation: out of memory");
    }
    hn_loss_queue q;
    if (hn_loss_queue_init(&q, m, (long)T, err)) {
        free(tok), free(tgt), free(ids);
        return HN_ERR;
    }
    int was = m->no_grad;
    m->no_grad = 1;
    double outer[HN_EVAL_MAX_STAGES] = {0}, inner[HN_EVAL_MAX_STAGES] = {0};
    size_t targets = n_ids - 1, full = targets / (size_t)seq_tokens;
    int tail = (int)(targets % (size_t)seq_tokens), rc = HN_OK;
    double t0 = now_s();
    for (size_t w = 0; w < full && rc == HN_OK; w += (size_t)batch) {
        int n = (int)(full - w < (size_t)batch ? full - w : (size_t)batch);
        rc = token_batch(&q, ids + w * (size_t)seq_tokens, n, seq_tokens, tok, tgt, outer,
                         inner, &out->stages, err);
        if (rc == HN_OK && w == 0) first_done(&q, out, t0, (long)n * seq_tokens);
    }
    if (rc == HN_OK && tail)
        rc = token_batch(&q, ids + full * (size_t)seq_tokens, 1, tail, tok, tgt, outer, inner,
                         &out->stages, err);
    hn_loss_queue_flush(&q);
    out->seconds = now_s() - t0;
    m->no_grad = was;
    double nats = q.nats;
    hn_loss_queue_free(&q);
    free(tok), free(tgt), free(ids);
    if (rc) return HN_ERR;
    out->bytes = (long)(span_end - span_begin);
    out->tokens = (long)targets;
    out->bpb = nats / (double)out->bytes / log(2.0);
    for (int s = 0; s < out->stages; s++) out->compression[s] = outer[s] > 0 ? inner[s] / outer[s] : 0;
    return HN_OK;
}
