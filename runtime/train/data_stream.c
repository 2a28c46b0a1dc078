#include "train/data_stream.h"

#include <string.h>

#include "train/batches.h"

int hn_data_stream_is_tokens(const hn_data_stream *d) { return d->tokens.tokenizer != NULL; }

int hn_data_stream_open(hn_data_stream *d, const hn_corpus *c, const cJSON *data, int byte_seq_len,
                        long eval_bytes, hn_error *err) {
    memset(d, 0, sizeof *d);
    d->corpus = c;
    size_t begin, end;
    hn_valid_span(c, eval_bytes, byte_seq_len, &begin, &end);
    if (end <= begin)
        return hn_fail(err, "the validation split of %s (%zu bytes) is shorter than one sequence of %d",
                       c->name, c->valid_end - c->split, byte_seq_len + 1);
    d->valid_bytes = (long)(end - begin);
    if (!hn_data_is_tokenized(data)) {
        d->seq_len = byte_seq_len;
        d->bytes_per_position = 1;
        d->valid_windows = hn_valid_windows(c, eval_bytes, byte_seq_len);
        return HN_OK;
    }
    if (hn_token_corpus_open(c, data, begin, end, &d->tokens, err)) return HN_ERR;
    d->seq_len = d->tokens.seq_tokens;
    d->bytes_per_position = d->tokens.bytes_per_token;
    size_t targets = d->tokens.n_valid - 1; /* every token of the span, predicted once */
    d->valid_windows = (long)(targets / (size_t)d->seq_len);
    d->valid_tail = (int)(targets % (size_t)d->seq_len);
    return HN_OK;
}

void hn_data_stream_close(hn_data_stream *d) {
    hn_token_corpus_free(&d->tokens);
    memset(d, 0, sizeof *d);
}

static void window(const int32_t *src, int len, int32_t *tok, int32_t *tgt) {
    memcpy(tok, src, (size_t)len * sizeof *tok);
    memcpy(tgt, src + 1, (size_t)len * sizeof *tgt);
}

long hn_data_stream_train_part(const hn_data_stream *d, hn_rng *rng, int n_seqs, int first,
                               int count, int32_t *tok, int32_t *tgt) {
    int L = d->seq_len;
    if (!hn_data_stream_is_tokens(d)) {
        hn_batch_sample_train_part(d->corpus, rng, n_seqs, first, count, L, tok, tgt);
        return (long)count * L;
    }
    const hn_token_corpus *t = &d->tokens;
    uint64_t span = (uint64_t)(t->n_train - (size_t)L); /* valid start offsets */
    long bytes = 0;
    for (int i = 0; i < n_seqs; i++) {
        size_t off = (size_t)hn_rng_below(rng, span);
        if (i < first || i >= first + count) continue;
        size_t row = (size_t)(i - first) * L;
        window(t->train + off, L, tok + row, tgt + row);
        bytes += hn_token_corpus_bytes(t, tgt + row, (size_t)L);
    }
    return bytes;
}

long hn_data_stream_train(const hn_data_stream *d, hn_rng *rng, int n_seqs, int32_t *tok,
                          int32_t *tgt) {
    return hn_data_stream_train_part(d, rng, n_seqs, 0, n_seqs, tok, tgt);
}

long hn_data_stream_valid(const hn_data_stream *d, long first, int n, int32_t *tok, int32_t *tgt) {
    int L = d->seq_len;
    if (!hn_data_stream_is_tokens(d)) {
        hn_valid_fill(d->corpus, first, n, L, tok, tgt);
        return (long)n * L;
    }
    for (int i = 0; i < n; i++)
        window(d->tokens.valid + (size_t)(first + i) * L, L, tok + (size_t)i * L, tgt + (size_t)i * L);
    return hn_token_corpus_bytes(&d->tokens, tgt, (size_t)n * L);
}

long hn_data_stream_valid_tail(const hn_data_stream *d, int32_t *tok, int32_t *tgt) {
    window(d->tokens.valid + (size_t)d->valid_windows * d->seq_len, d->valid_tail, tok, tgt);
    return hn_token_corpus_bytes(&d->tokens, tgt, (size_t)d->valid_tail);
}
