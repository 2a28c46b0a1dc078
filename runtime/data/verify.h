/* Named corpora are checked when opened: their size always (cheap), their sha256 once
 * per version of the file. A verified file leaves a stamp in the cache folder
 * (HNET_CACHE_DIR, else $XDG_CACHE_HOME/hnet, else ~/.cache/hnet; the data folder is
 * often read-only): corpora/NAME-<hash of its real path>.ok, holding the expected
 * sha256, the file's size, mtime, inode and device. While those match, the file is not
 * hashed again; any change (a new copy, an edit, a touch) re-hashes it. Without a
 * writable cache every open hashes. Internal to runtime/data. */
#ifndef HN_DATA_VERIFY_H
#define HN_DATA_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "data/known.h"

/* The size of a plain (not .gz) file at path against k's; .gz passes (its content size
 * is known only once read). */
int hn_known_corpus_check_size(const hn_known_corpus *k, const char *path, uint64_t file_size,
                               hn_error *err);

/* The content read from path (decompressed) against k's size and sha256. */
int hn_known_corpus_verify(const hn_known_corpus *k, const char *path, const uint8_t *bytes,
                           size_t n, hn_error *err);

#endif
