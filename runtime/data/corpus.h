/* Byte corpora: files (plain or .gz), folders of files, named corpora found in
 * $HNET_DATA_DIR, and the built-in synthetic corpus. Each has a fixed train/validation
 * split (data/README of the shared corpora: last 5% is validation; enwik8: 90M/5M/5M).
 *
 * The data section of a resolved config (JSON) is one of
 *   {"source":"named",     "name":"tinyshakespeare", "seq_len":512}
 *   {"source":"file",      "path":"my.txt.gz",       "seq_len":512}
 *   {"source":"dir",       "path":"corpus/",         "seq_len":512}
 *   {"source":"synthetic", "seed":1, "bytes":2000000, "seq_len":512}
 */
#ifndef HN_CORPUS_H
#define HN_CORPUS_H

#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "core/error.h"

typedef struct hn_corpus {
    char name[256];       /* display name, e.g. "tinyshakespeare" or a file path */
    uint8_t *bytes;
    size_t n;
    size_t split;         /* train = [0, split) */
    size_t valid_end;     /* valid = [split, valid_end) (== n except enwik8) */
    uint8_t *word_start;  /* synthetic corpus only: 1 where a word begins; else NULL */
} hn_corpus;

/* Cheap check that the corpus can be found/read, with a clear message otherwise
 * (names the corpus, where it looked, and how to get it). */
int hn_corpus_check(const cJSON *data, hn_error *err);
int hn_corpus_load(const cJSON *data, hn_corpus *out, hn_error *err);
void hn_corpus_free(hn_corpus *c);

/* hn_corpus_load also calls hn_corpus_require when the data section has "seq_len". */

/* Fails with a clear message unless both the train and the validation part hold at
 * least one sequence: seq_len + 1 bytes (the inputs and their next-byte targets). */
int hn_corpus_require(const hn_corpus *c, size_t seq_len, hn_error *err);

/* The four sources, callable directly (hn_corpus_load dispatches to them). */
int hn_corpus_from_file(const char *path, hn_corpus *out, hn_error *err);
int hn_corpus_from_dir(const char *path, hn_corpus *out, hn_error *err);
int hn_corpus_named(const char *name, hn_corpus *out, hn_error *err);
int hn_corpus_synthetic(uint64_t seed, size_t nbytes, hn_corpus *out, hn_error *err);

#define HN_SYNTHETIC_DEFAULT_BYTES 2000000
#define HN_SYNTHETIC_DEFAULT_SEED 1

/* Where named corpora live: $HNET_DATA_DIR when set and non-empty, else the per-user
 * data folder $XDG_DATA_HOME/hnet (~/.local/share/hnet when XDG_DATA_HOME is unset or
 * not absolute); "data" only when there is no HOME either. */
const char *hn_data_dir(void);

/* Path of a named corpus in `dir` (NULL: hn_data_dir()): the first of NAME.txt,
 * NAME.txt.gz, NAME, NAME.gz that exists. Unknown names and missing files fail
 * with a message that says where it looked and how to get the corpus. */
int hn_corpus_find_named(const char *name, const char *dir, char *path, size_t cap,
                         hn_error *err);

/* Train/validation split of every corpus but enwik8: floor(0.95 * n), exactly
 * (integer arithmetic). */
size_t hn_corpus_default_split(size_t n);

#endif
