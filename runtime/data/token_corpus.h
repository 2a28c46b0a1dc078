/* A corpus as tokens, for token-level models (data.tokenizer, data/tokenizer.h).
 *
 * Training: the train split [0, split) is tokenized as one text; sequences are windows
 * of its tokens. Bytes per token is the train split's: split / its token count; it
 * turns FLOPs per token into FLOPs per byte and a token count into bytes seen. The
 * tokens of a train split are kept in memory once per process and tokenizer (a suite
 * tokenizes once for all its runs: its FLOP matching fills the cache before runs fork).
 *
 * Validation is on exactly the bytes a byte-level model is scored on (the caller gives
 * that span, train/batches.h: hn_valid_span): the span is tokenized on its own, so the
 * last token ends exactly at its end (a token that would straddle the end in the whole
 * corpus's tokenization is cut there, to the token model's cost, never scored past
 * the span), and it is preceded by the token of the one byte before it, the context a
 * byte-level model also starts from. Every token of the span is predicted once; their
 * bytes add up to the span, so BPB = the tokens' NLL in bits / the span's bytes.
 *
 * Sequence length in tokens: data.seq_tokens when given, else data.seq_len (bytes per
 * sequence, as for byte-level models) divided by the realised bytes per token, rounded
 * (at least 2). */
#ifndef HN_DATA_TOKEN_CORPUS_H
#define HN_DATA_TOKEN_CORPUS_H

#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "data/corpus.h"
#include "data/tokenizer.h"

typedef struct hn_token_corpus {
    hn_tokenizer *tokenizer;
    const int32_t *train;       /* the train split's tokens (the process cache's; not owned) */
    size_t n_train;
    size_t train_bytes;         /* the train split's bytes */
    double bytes_per_token;     /* train_bytes / n_train */
    int seq_tokens;             /* tokens per training sequence */
    int32_t *valid;             /* the context token, then the span's tokens */
    size_t n_valid;
    size_t valid_begin, valid_end; /* the scored bytes */
    uint32_t *token_len;        /* [vocab] bytes per token */
} hn_token_corpus;

/* 1 when the data section of a config names a tokenizer. */
int hn_data_is_tokenized(const cJSON *data);

/* Tokenizes c as data.tokenizer says; validation scores bytes [valid_begin, valid_end)
 * (valid_begin > 0: the byte before is the context). */
int hn_token_corpus_open(const hn_corpus *c, const cJSON *data, size_t valid_begin,
                         size_t valid_end, hn_token_corpus *out, hn_error *err);
void hn_token_corpus_free(hn_token_corpus *t);

/* The validation tokens of bytes[begin, end) (begin > 0): the token of byte begin-1 alone
 * (context, never scored), then the span's own tokens; *ids malloc'd, n_ids of them. */
int hn_token_span(const hn_tokenizer *t, const uint8_t *bytes, size_t begin, size_t end,
                  int32_t **ids, size_t *n_ids, hn_error *err);

/* The bytes n tokens stand for. */
long hn_token_corpus_bytes(const hn_token_corpus *t, const int32_t *ids, size_t n);

/* Bytes per token of the train split and tokens per sequence, for a data section with a
 * tokenizer, before training (FLOP estimates): loads and tokenizes the corpus the first
 * time, then answers from memory. */
int hn_token_corpus_stats(const cJSON *data, double *bytes_per_token, int *seq_tokens,
                          hn_error *err);

#endif
