/* Reading a run's resolved config (runs.config_json) for the views: the corpus it was
 * trained on, the key that groups runs differing only by seed, and the difference of
 * two configs as dotted key paths. */
#ifndef HN_ANALYSIS_RUN_CONFIG_H
#define HN_ANALYSIS_RUN_CONFIG_H

#include <stdio.h>

#include <cJSON.h>

/* A short name of the corpus of a config's data section: the named corpus
 * ("tinyshakespeare"), the file or folder as given, or "synthetic(seed=S)"; "?" when
 * the config has none. */
void hn_config_corpus(const cJSON *config, char *out, size_t size);

/* 16 hex digits that are equal exactly for configs equal apart from the keys that say
 * which seed or under which name and where a run was recorded (name, seed, overrides,
 * log, checkpoint): runs with one key are seeds of one experiment. */
void hn_config_seed_group(const cJSON *config, char out[17]);

/* Prints every leaf key path (a.b[2].c) whose value differs between a and b, or that
 * only one of them has: "path: A -> B" (a missing side printed as "(absent)").
 * Returns the number of differences. */
int hn_config_diff(const cJSON *a, const cJSON *b, FILE *out);

#endif
