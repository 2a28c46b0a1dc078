/* FLOP matching within a suite: a run with `match_flops = "REF"` gets the depth of its
 * innermost main network adjusted so that its forward FLOPs per byte come closest to
 * those of run REF of the same suite. */
#ifndef HN_SUITE_FLOPS_MATCH_H
#define HN_SUITE_FLOPS_MATCH_H

#include <stdio.h>

#include <cJSON.h>

#include "core/error.h"
#include "plugin/registry.h"

/* Forward FLOPs per byte of a resolved experiment config before training (Appendix B,
 * embeddings and LM head included) at data.seq_len. The lengths of inner stages are
 * seq_len divided by each chunker's target ratio (dc: ratio, pool: k, space: 6 unless
 * a ratio is given), since the realised ratio of a dynamic chunker is only known
 * after training. A token-level model (data.tokenizer) is counted per token at its
 * sequence length in tokens, times tokens per byte as realised on the train split
 * (which is tokenized for it, once per process). */
int hn_flops_per_byte_estimate(const cJSON *config, const hn_registry *reg, double *out,
                               hn_error *err);

/* Resolves every `match_flops` of a suite (a JSON array of resolved experiments) in
 * place: rewrites the count of the last letter group of the innermost layout string
 * (e.g. "T8" -> "T11"). The reference must be a run of the suite without a
 * match_flops of its own. Prints one line per matched run to log (may be NULL). */
int hn_suite_match_flops(cJSON *runs, const hn_registry *reg, FILE *log, hn_error *err);

/* What `hnet suite` does to a freshly loaded suite before anything else: makes every
 * run's "file" an absolute path (so the config hash does not depend on the current
 * directory or on how the path was typed), then resolves match_flops. */
int hn_suite_prepare(cJSON *runs, const hn_registry *reg, FILE *log, hn_error *err);

#endif
