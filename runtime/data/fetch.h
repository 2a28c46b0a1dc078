/* Downloading a known corpus once, for users with a network (libcurl): the content is
 * unpacked from its zip, checked against the known size/md5/sha256 of the
 * uncompressed bytes and written atomically (temp file, fsync, rename), so the data
 * folder never holds a half-written or unverified corpus. */
#ifndef HN_DATA_FETCH_H
#define HN_DATA_FETCH_H

#include <stddef.h>

#include "core/error.h"

/* Stores the known corpus `name` (one with a url: hn_known_corpus_fetchable()) as DEST_DIR/NAME
 * (dest_dir NULL: hn_data_dir()), creating the folder. Nothing is downloaded when
 * the corpus is already there and verified. url_override (may be NULL) replaces
 * the standard address; the same checks apply. */
int hn_corpus_fetch(const char *name, const char *dest_dir, const char *url_override,
                    hn_error *err);

/* 1: `name` is in `dir` (NULL: hn_data_dir()) under one of the names the lookup
 * tries, and its content matches the known checksums (path gets where); 0: absent;
 * HN_ERR: present but not the standard content, or unreadable. */
int hn_corpus_present(const char *name, const char *dir, char *path, size_t cap, hn_error *err);

/* The lower level: downloads url; when it is a zip, takes `member` (NULL: the only
 * file in it), else the download itself; checks the content's sha256 (required) and
 * writes it to dest_path. Nothing is left at dest_path or beside it on failure. */
int hn_corpus_fetch_url(const char *url, const char *member, const char *sha256_hex,
                        const char *dest_path, hn_error *err);

#endif
