/* What the trainer reads, for byte-level and token-level models alike: training
 * sequences, the validation windows, and how many bytes each stands for. A byte-level
 * stream is the corpus's bytes (train/batches.h); a token-level one is its tokenization
 * (data/token_corpus.h), scored on the same validation bytes. */
#ifndef HN_TRAIN_DATA_STREAM_H
#define HN_TRAIN_DATA_STREAM_H

#include <cJSON.h>

#include "core/rng.h"
#include "data/corpus.h"
#include "data/token_corpus.h"

typedef struct hn_data_stream {
    const hn_corpus *corpus;
    hn_token_corpus tokens;     /* tokens.tokenizer == NULL: a byte stream */
    int seq_len;                /* positions per sequence: bytes, or tokens */
    double bytes_per_position;  /* 1, or the train split's bytes per token */
    long valid_windows;         /* full validation windows of seq_len positions */
    int valid_tail;             /* positions of one last, shorter window (tokens); 0: none */
    long valid_bytes;           /* the bytes validation scores */
} hn_data_stream;

/* A stream over c for a config's data section (byte_seq_len = data.seq_len) and
 * eval.bytes. Fails when the validation split holds no window. */
int hn_data_stream_open(hn_data_stream *d, const hn_corpus *c, const cJSON *data, int byte_seq_len,
                        long eval_bytes, hn_error *err);
void hn_data_stream_close(hn_data_stream *d);
int hn_data_stream_is_tokens(const hn_data_stream *d);

/* n_seqs training sequences at random (inputs and next-position targets, seq_len
 * each); returns the bytes their targets stand for. */
long hn_data_stream_train(const hn_data_stream *d, hn_rng *rng, int n_seqs, int32_t *tok,
                          int32_t *tgt);
/* One process's part of that batch (data-parallel training, train/batches.h:
 * hn_batch_part): all n_seqs offsets are drawn, so rng moves as for the whole batch, and
 * sequences [first, first+count) are filled into tok/tgt (count*seq_len each); returns
 * the bytes the part's targets stand for. */
long hn_data_stream_train_part(const hn_data_stream *d, hn_rng *rng, int n_seqs, int first,
                               int count, int32_t *tok, int32_t *tgt);
/* Full validation windows [first, first+n); returns the bytes their targets stand for. */
long hn_data_stream_valid(const hn_data_stream *d, long first, int n, int32_t *tok, int32_t *tgt);
/* The last, shorter window (valid_tail positions); returns the bytes its targets stand
 * for. */
long hn_data_stream_valid_tail(const hn_data_stream *d, int32_t *tok, int32_t *tgt);

#endif
