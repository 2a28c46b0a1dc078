/* Byte-level BPE in GPT-2's format: a vocab.json (token string -> id) and a merges.txt
 * (one merge "a b" a line, best first), GPT-2's byte-to-unicode mapping, and GPT-2's
 * pre-tokenisation regex run through PCRE2. Any bytes encode, invalid UTF-8 included,
 * and decode(encode(x)) == x exactly. */
#ifndef HN_DATA_GPT2_BPE_H
#define HN_DATA_GPT2_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct hn_bpe hn_bpe;

/* Loads a tokenizer. The vocab must hold a token for each of the 256 bytes (so every
 * input encodes), and every merge's parts and result must be in the vocab. */
int hn_bpe_load(const char *vocab_path, const char *merges_path, hn_bpe **out, hn_error *err);
void hn_bpe_free(hn_bpe *t);

/* One more than the largest id in the vocab. */
size_t hn_bpe_vocab_size(const hn_bpe *t);

/* The bytes token id stands for (*len of them); NULL when the vocab does not use id. */
const uint8_t *hn_bpe_token(const hn_bpe *t, int32_t id, size_t *len);

/* Encodes n bytes; *ids (malloc'd, the caller frees; may be NULL when *nids is 0). */
int hn_bpe_encode(const hn_bpe *t, const uint8_t *p, size_t n, int32_t **ids, size_t *nids,
                  hn_error *err);

/* Decodes ids back to bytes; *out (malloc'd, the caller frees; NUL-terminated for
 * convenience, the NUL not counted in *nout). An id not in the vocab is an error. */
int hn_bpe_decode(const hn_bpe *t, const int32_t *ids, size_t nids, uint8_t **out, size_t *nout,
                  hn_error *err);

#endif
