/* Bits per byte of a model over a byte range of a corpus, batched through the backend as
 * inference forwards (the training forward's losses to the bit in batches of the same
 * size; in others to float32 rounding: BLAS may split a product's sums by its rows;
 * nothing kept for a backward, losses read back every few forwards: eval/loss_queue.h):
 * consecutive non-overlapping windows of seq_len inputs and their next-byte targets
 * starting at `begin` (as the trainer's validation windows: hn_valid_fill), at most
 * max_bytes of them (0: all that fit). */
#ifndef HN_EVAL_BPB_H
#define HN_EVAL_BPB_H

#include <stddef.h>
#include <stdint.h>

#include "data/tokenizer.h"
#include "model/model.h"

#define HN_EVAL_MAX_STAGES 8

typedef struct hn_eval_bpb {
    double bpb;
    long bytes;          /* predicted bytes */
    long tokens;         /* predicted tokens (hn_eval_bpb_tokens; bytes for byte models) */
    double seconds;      /* wall time of the forwards */
    double first_seconds; /* of them, the first forward's, which pays the one-time costs */
    long first_bytes;     /* the first forward's predicted bytes (tokens for a token model) */
    int stages;          /* chunking stages */
    double compression[HN_EVAL_MAX_STAGES]; /* L^{s+1} / L^s, over all windows */
} hn_eval_bpb;

int hn_eval_bpb_range(hn_model *m, const uint8_t *bytes, size_t begin, size_t end, int seq_len,
                      int batch, long max_bytes, hn_eval_bpb *out, hn_error *err);

/* The same for a model over tokens, scored on exactly the bytes a byte-level model with
 * windows of byte_seq_len predicts: [begin + 1, begin + 1 + W * byte_seq_len) with
 * W = (max_bytes - 1) / byte_seq_len. Those bytes are tokenized on their own after the
 * token of byte `begin` (data/token_corpus.h: hn_token_span), every token is predicted
 * once in windows of seq_tokens (the last one shorter), and bpb is their NLL in bits
 * over the span's bytes. */
int hn_eval_bpb_tokens(hn_model *m, const hn_tokenizer *t, const uint8_t *bytes, size_t begin,
                       size_t end, int byte_seq_len, int seq_tokens, int batch, long max_bytes,
                       hn_eval_bpb *out, hn_error *err);

#endif
