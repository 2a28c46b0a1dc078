#include "eval/loss_queue.h"

#include <stdlib.h>
#include <string.h>

#define QUEUE_TOKENS (16L << 20) /* 64 MB of losses on the device between read-backs */

int hn_loss_queue_init(hn_loss_queue *q, hn_model *m, long max_tokens, hn_error *err) {
    memset(q, 0, sizeof *q);
    q->m = m;
    q->max_batches = max_tokens >= QUEUE_TOKENS ? 1 : (int)(QUEUE_TOKENS / max_tokens);
    q->cap = (long)q->max_batches * max_tokens;
    q->dev = m->be->alloc((size_t)q->cap * sizeof(float));
    q->host = malloc((size_t)q->cap * sizeof(float));
    q->lens = malloc((size_t)q->max_batches * sizeof *q->lens);
    if (!q->dev || !q->host || !q->lens) {
        hn_loss_queue_free(q);
        return hn_fail(err, "evaluation: out of memory for %ld losses", q->cap);
    }
    return HN_OK;
}

void hn_loss_queue_flush(hn_loss_queue *q) {
    if (q->used) q->m->be->download(q->host, q->dev, (size_t)q->used * sizeof(float));
    for (long b = 0, off = 0; b < q->batches; off += q->lens[b++])
        q->nats += hn_model_sum_losses(q->host + off, q->lens[b]);
    q->used = 0;
    q->batches = 0;
}

int hn_loss_queue_forward(hn_loss_queue *q, const int32_t *tok, const int32_t *tgt, int n_seqs,
                          int seq_len, hn_error *err) {
    long T = (long)n_seqs * seq_len;
    if (q->batches == q->max_batches || q->used + T > q->cap) hn_loss_queue_flush(q);
    if (T > q->cap) return hn_fail(err, "evaluation: a forward of %ld tokens over the queue's %ld", T, q->cap);
    if (hn_model_forward_to(q->m, tok, tgt, n_seqs, seq_len, q->dev + q->used, err)) return HN_ERR;
    q->used += T;
    q->lens[q->batches++] = T;
    return HN_OK;
}

void hn_loss_queue_free(hn_loss_queue *q) {
    if (q->dev) q->m->be->free(q->dev);
    free(q->host);
    free(q->lens);
    memset(q, 0, sizeof *q);
}
