/* SentencePiece models (a .model file, unigram or BPE) through Debian's libsentencepiece,
 * behind a C interface (sentencepiece.cc is the only C++ in hnet).
 *
 * hnet needs tokenizations that reproduce the bytes exactly, so a model is accepted
 * only when it can: it must have the 256 byte pieces <0x00>..<0xFF> (trained with
 * --byte_fallback=true), and every encoding is checked to decode to its input — a model
 * that normalises text (the default nmt_nfkc), adds a dummy prefix or removes extra
 * whitespace fails that check with a message saying so. Train one that reproduces bytes
 * with: spm_train --byte_fallback=true --normalization_rule_name=identity
 * --add_dummy_prefix=false --remove_extra_whitespaces=false ...
 *
 * Encoding: maximal runs of valid UTF-8 go through the model, in chunks of at most
 * 64 KiB cut just before a space (pieces never span a word start for models trained
 * with split_by_whitespace, the default, so the cut changes nothing); a byte that is
 * not part of valid UTF-8 is its byte piece. Decoding concatenates the pieces' bytes
 * (U+2581 '▁' standing for a space). */
#ifndef HN_DATA_SENTENCEPIECE_H
#define HN_DATA_SENTENCEPIECE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct hn_spm hn_spm;

int hn_spm_load(const char *path, hn_spm **out, hn_error *err);
void hn_spm_free(hn_spm *t);

/* The model's piece count (control and unknown pieces included). */
size_t hn_spm_vocab_size(const hn_spm *t);

/* Encodes n bytes; *ids malloc'd (the caller frees; NULL when *nids is 0). Fails when
 * the pieces do not decode to the input. */
int hn_spm_encode(const hn_spm *t, const uint8_t *p, size_t n, int32_t **ids, size_t *nids,
                  hn_error *err);

/* The bytes piece id stands for (0 for control and unknown pieces); NULL when id is out
 * of range. */
const uint8_t *hn_spm_token(const hn_spm *t, int32_t id, size_t *len);

#endif
