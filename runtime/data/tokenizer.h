/* Tokenizers for token-level models, one interface over three file formats:
 *   {"format":"gpt2",          "vocab":"vocab.json", "merges":"merges.txt"}  (gpt2_bpe.h)
 *   {"format":"tiktoken",      "file":"tokenizer.model"}   Llama 3's (tiktoken.h)
 *   {"format":"sentencepiece", "model":"x.model"}          (sentencepiece.h)
 * (the data.tokenizer section of a resolved config). Every one is lossless: any bytes
 * encode, and the tokens' bytes concatenated are the input again, exactly. */
#ifndef HN_DATA_TOKENIZER_H
#define HN_DATA_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "core/error.h"

typedef struct hn_tokenizer hn_tokenizer;

#define HN_TOKENIZER_FORMATS "\"gpt2\", \"tiktoken\" or \"sentencepiece\""

/* Checks the spec's keys and loads the files it names. A missing or malformed file is
 * one message naming its path. A spec may carry "sha256" (hn_tokenizer_files_sha256, as
 * experiment files record it): files whose content differs are refused, so a run is
 * never trained or resumed on tokens other than those its config names. */
int hn_tokenizer_load(const cJSON *spec, hn_tokenizer **out, hn_error *err);

/* sha256 (lowercase hex) of the spec's files, their contents one after another in the
 * order of the format's keys (gpt2: vocab, merges). */
int hn_tokenizer_files_sha256(const cJSON *spec, char out[65], hn_error *err);
void hn_tokenizer_free(hn_tokenizer *t);

/* The ids are 0 .. size-1 (a model over these tokens needs this vocabulary). */
size_t hn_tokenizer_vocab_size(const hn_tokenizer *t);
/* "gpt2", "tiktoken" or "sentencepiece". */
const char *hn_tokenizer_format(const hn_tokenizer *t);

/* Encodes n bytes; *ids malloc'd (the caller frees; NULL when *nids is 0). */
int hn_tokenizer_encode(const hn_tokenizer *t, const uint8_t *p, size_t n, int32_t **ids,
                        size_t *nids, hn_error *err);
/* The bytes token id stands for (*len); NULL when id is not a token. */
const uint8_t *hn_tokenizer_token(const hn_tokenizer *t, int32_t id, size_t *len);
/* The tokens' bytes, concatenated; *out malloc'd and NUL-terminated (the NUL not counted).
 * An id that is not a token is an error. */
int hn_tokenizer_decode(const hn_tokenizer *t, const int32_t *ids, size_t n, uint8_t **out,
                        size_t *nout, hn_error *err);
/* The one token that encodes the single byte b (every format has one). */
int32_t hn_tokenizer_byte_token(const hn_tokenizer *t, uint8_t b);

#endif
