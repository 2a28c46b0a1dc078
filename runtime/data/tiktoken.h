/* Byte-level BPE in tiktoken's format: a file of one token a line, its bytes in base64
 * and its rank ("IQ== 0"), as Llama 3's tokenizer.model and OpenAI's *.tiktoken files
 * are. A rank is the token's id and its merge priority: a piece's bytes are merged
 * pairwise, always the adjacent pair whose joined bytes have the lowest rank (the
 * leftmost among equals), until no joined pair is a token (tiktoken's byte_pair_encode).
 * Pre-tokenisation is Llama 3's regex. Special tokens (Llama 3's 256 reserved ids above
 * the file's ranks) are not in the file and never produced. Any bytes encode, and
 * decode(encode(x)) == x exactly. */
#ifndef HN_DATA_TIKTOKEN_H
#define HN_DATA_TIKTOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct hn_tiktoken hn_tiktoken;

/* Loads a tiktoken file. Every one of the 256 single bytes must be a token (so every
 * input encodes); ranks and token bytes must be unique. */
int hn_tiktoken_load(const char *path, hn_tiktoken **out, hn_error *err);
void hn_tiktoken_free(hn_tiktoken *t);

/* One more than the largest rank. */
size_t hn_tiktoken_vocab_size(const hn_tiktoken *t);

/* Encodes n bytes; *ids malloc'd (the caller frees; NULL when *nids is 0). */
int hn_tiktoken_encode(const hn_tiktoken *t, const uint8_t *p, size_t n, int32_t **ids,
                       size_t *nids, hn_error *err);

/* The bytes token id stands for; NULL when no line has that rank. */
const uint8_t *hn_tiktoken_token(const hn_tiktoken *t, int32_t id, size_t *len);

#endif
