/* Pre-tokenisation by a regular expression (PCRE2, Unicode properties): the text is cut
 * into the pieces the pattern matches, left to right, as GPT-2's and tiktoken's encoders
 * do with Python's `regex`. Bytes the pattern cannot match (invalid UTF-8) form pieces
 * of their own, so the pieces always cover every byte exactly once, in order.
 * Internal to runtime/data (the BPE tokenizers). */
#ifndef HN_DATA_PRETOKENIZE_H
#define HN_DATA_PRETOKENIZE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct hn_pretokenizer hn_pretokenizer;

/* Compiles a pattern (UTF mode, Unicode properties, invalid UTF-8 matched around);
 * `what` names the tokenizer in the error message. */
int hn_pretokenizer_compile(const char *pattern, const char *what, hn_pretokenizer **out,
                            hn_error *err);
void hn_pretokenizer_free(hn_pretokenizer *p);

/* Calls piece(p + start, len, ctx) for each piece of p[0..n), in order; a non-zero return
 * from piece stops the walk and fails it with "out of memory". */
typedef int (*hn_piece_fn)(const uint8_t *piece, size_t len, void *ctx);
int hn_pretokenize(const hn_pretokenizer *p, const uint8_t *text, size_t n, hn_piece_fn piece,
                   void *ctx, hn_error *err);

#endif
