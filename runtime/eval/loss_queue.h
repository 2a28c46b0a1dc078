/* The per-token losses of an evaluation's forwards, left on the device and read back in
 * one transfer every few forwards (and at the end) rather than one per forward: the
 * forwards queue on the device without waiting for the host. Each forward's losses are
 * summed as hn_model_forward sums them (hn_model_sum_losses), so the totals are the same
 * to the bit. */
#ifndef HN_EVAL_LOSS_QUEUE_H
#define HN_EVAL_LOSS_QUEUE_H

#include "model/model.h"

typedef struct hn_loss_queue {
    hn_model *m;
    float *dev, *host;
    long cap, used; /* floats */
    long *lens;     /* queued forwards' token counts */
    int max_batches, batches;
    double nats;    /* the sum over every forward read back so far */
} hn_loss_queue;

/* Room for forwards of at most max_tokens tokens, read back at least every ~16M tokens. */
int hn_loss_queue_init(hn_loss_queue *q, hn_model *m, long max_tokens, hn_error *err);
/* One evaluation forward (m->no_grad set) whose losses join the queue. */
int hn_loss_queue_forward(hn_loss_queue *q, const int32_t *tok, const int32_t *tgt, int n_seqs,
                          int seq_len, hn_error *err);
/* Reads back what is queued and adds it to q->nats (a host synchronisation). */
void hn_loss_queue_flush(hn_loss_queue *q);
void hn_loss_queue_free(hn_loss_queue *q);

#endif
