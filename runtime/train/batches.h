/* Training batches and the fixed validation set, cut from a corpus's byte splits. */
#ifndef HN_BATCHES_H
#define HN_BATCHES_H

#include <stdint.h>

#include "core/rng.h"
#include "data/corpus.h"

/* n_seqs windows of seq_len+1 bytes at random offsets of the train split: inputs are
 * the first seq_len bytes, targets the next-byte shift. */
void hn_batch_sample_train(const hn_corpus *c, hn_rng *rng, int n_seqs, int seq_len,
                           int32_t *tok, int32_t *tgt);
/* One process's part of that batch (data-parallel training): all n_seqs offsets are
 * drawn, so rng moves as for the whole batch, and sequences [first, first+count) are
 * filled into tok/tgt (count*seq_len each). */
void hn_batch_sample_train_part(const hn_corpus *c, hn_rng *rng, int n_seqs, int first,
                                int count, int seq_len, int32_t *tok, int32_t *tgt);
/* The part of a batch of n_seqs sequences that rank `rank` of `world` holds: the first
 * n_seqs % world ranks one more. */
void hn_batch_part(int n_seqs, int rank, int world, int *first, int *count);

/* The validation set: the first `bytes` bytes of the validation split, in windows of
 * seq_len+1 with stride seq_len, so every byte after the first is predicted once and
 * every model is scored on the same bytes. Returns the number of windows. */
long hn_valid_windows(const hn_corpus *c, long bytes, int seq_len);
/* The bytes the validation set scores: [split + 1, split + 1 + windows * seq_len) (the
 * split's first byte is only context). A token-level model is scored on exactly these
 * bytes of a byte-level model with the same data.seq_len and eval.bytes
 * (data/token_corpus.h). */
void hn_valid_span(const hn_corpus *c, long bytes, int seq_len, size_t *begin, size_t *end);
/* Fills windows [first, first+n) of the validation set. */
void hn_valid_fill(const hn_corpus *c, long first, int n, int seq_len, int32_t *tok, int32_t *tgt);

#endif
