/* Reading bytes from disk for the corpora: a growable buffer, one file (plain, or
 * gzip when the name ends in .gz, several concatenated members included) and one
 * folder (its regular files in name order). Internal to runtime/data. */
#ifndef HN_DATA_READ_H
#define HN_DATA_READ_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct hn_bytebuf {
    uint8_t *p;
    size_t n, cap;
} hn_bytebuf;

/* Makes room for `more` bytes after n. */
int hn_bytebuf_reserve(hn_bytebuf *b, size_t more, hn_error *err);
void hn_bytebuf_free(hn_bytebuf *b);

/* 1 when `path` ends in ".gz". */
int hn_path_is_gz(const char *path);

/* Appends the (decompressed) content of one file to b. */
int hn_read_file_append(const char *path, hn_bytebuf *b, hn_error *err);

/* Appends every regular file of a folder, sorted by name (byte order), skipping
 * hidden files (names beginning with '.') and sub-folders; .gz files decompressed.
 * A folder without any such file is an error. *nfiles (may be NULL) gets the count. */
int hn_read_dir_append(const char *path, hn_bytebuf *b, size_t *nfiles, hn_error *err);

/* Lists that folder's files (same rule and order) without reading them; the caller
 * frees each name and the array. */
int hn_list_dir_files(const char *path, char ***names, size_t *count, hn_error *err);

#endif
