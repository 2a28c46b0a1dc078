#include "train/batches.h"

static void fill_window(const uint8_t *src, int seq_len, int32_t *tok, int32_t *tgt) {
    for (int t = 0; t < seq_len; t++) {
        tok[t] = src[t];
        tgt[t] = src[t + 1];
    }
}

void hn_batch_sample_train_part(const hn_corpus *c, hn_rng *rng, int n_seqs, int first,
                                int count, int seq_len, int32_t *tok, int32_t *tgt) {
    uint64_t span = (uint64_t)(c->split - (size_t)seq_len); /* valid start offsets */
    for (int i = 0; i < n_seqs; i++) {
        uint64_t off = hn_rng_below(rng, span);
        if (i < first || i >= first + count) continue;
        size_t row = (size_t)(i - first) * seq_len;
        fill_window(c->bytes + off, seq_len, tok + row, tgt + row);
    }
}

void hn_batch_sample_train(const hn_corpus *c, hn_rng *rng, int n_seqs, int seq_len,
                           int32_t *tok, int32_t *tgt) {
    hn_batch_sample_train_part(c, rng, n_seqs, 0, n_seqs, seq_len, tok, tgt);
}

void hn_batch_part(int n_seqs, int rank, int world, int *first, int *count) {
    int base = n_seqs / world, extra = n_seqs % world;
    *count = base + (rank < extra);
    *first = rank * base + (rank < extra ? rank : extra);
}

long hn_valid_windows(const hn_corpus *c, long bytes, int seq_len) {
    long avail = (long)(c->valid_end - c->split);
    if (bytes <= 0 || bytes > avail) bytes = avail;
    return (bytes - 1) / seq_len;
}

void hn_valid_span(const hn_corpus *c, long bytes, int seq_len, size_t *begin, size_t *end) {
    long windows = hn_valid_windows(c, bytes, seq_len);
    *begin = c->split + 1;
    *end = *begin + (size_t)(windows > 0 ? windows : 0) * (size_t)seq_len;
}

void hn_valid_fill(const hn_corpus *c, long first, int n, int seq_len, int32_t *tok, int32_t *tgt) {
    for (int i = 0; i < n; i++) {
        const uint8_t *src = c->bytes + c->split + (size_t)(first + i) * (size_t)seq_len;
        fill_window(src, seq_len, tok + (size_t)i * seq_len, tgt + (size_t)i * seq_len);
    }
}
