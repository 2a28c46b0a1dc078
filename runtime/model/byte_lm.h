/* A frozen byte language model that scores next-byte entropy: what BLT's entropy
 * patching (Pagnoni et al. 2024) draws its boundaries from, lent to chunker plugins
 * through the host API (plugin/host_api.h, version 3).
 *
 * The model is an isotropic byte LM trained by hnet (a checkpoint file, or a run's
 * checkpoint folder: its newest intact file), loaded on the cpu backend with its own
 * plugin registry, and never trained further: nothing of it is a parameter of the model
 * that uses it. A relative path is resolved like checkpoint.dir (results/location.h):
 * "results/..." is the results folder, any other relative path is taken from the
 * project folder of the current directory.
 *
 * entropy[t] is the entropy, in bits, of the model's distribution over the byte after
 * row t given the bytes of its sequence up to and including t. (Under `hnet bench`'s
 * phase accounting its forward is booked to the phases of its own layers.) */
#ifndef HN_BYTE_LM_H
#define HN_BYTE_LM_H

#include <stdint.h>

#include "core/error.h"

typedef struct hn_byte_lm hn_byte_lm;
typedef struct hn_lm_stream hn_lm_stream;

int hn_byte_lm_open(const char *checkpoint, hn_byte_lm **out, hn_error *err);
void hn_byte_lm_close(hn_byte_lm *lm);

/* Entropies for n_seqs packed sequences: sequence i is bytes[offsets[i] .. offsets[i+1])
 * (host arrays); entropy (host, [offsets[n_seqs]]) is overwritten. Each sequence is read
 * from its own start, as the model was trained. */
int hn_byte_lm_entropy(hn_byte_lm *lm, const int32_t *bytes, const int32_t *offsets, int n_seqs,
                       float *entropy, hn_error *err);

/* Forward FLOPs (Appendix B) of scoring T bytes, at the sequence length the model was
 * trained on. */
double hn_byte_lm_flops(const hn_byte_lm *lm, int T);

/* Incremental scoring for generation: one byte at a time, the same entropies as
 * hn_byte_lm_entropy over the bytes stepped so far (a stream of up to max_len bytes). */
int hn_lm_stream_open(hn_byte_lm *lm, int max_len, hn_lm_stream **out, hn_error *err);
int hn_lm_stream_step(hn_lm_stream *s, int byte, float *entropy, hn_error *err);
void hn_lm_stream_close(hn_lm_stream *s);

#endif
