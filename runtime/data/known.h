/* The named corpora: identity (size and checksums of the uncompressed content, from
 * shared/data/README.md), split, and where a fetchable one is downloaded from. */
#ifndef HN_DATA_KNOWN_H
#define HN_DATA_KNOWN_H

#include <stddef.h>
#include <stdint.h>

typedef struct hn_known_corpus {
    const char *name;
    const char *what;        /* one line for messages and --help */
    uint64_t size;           /* uncompressed bytes */
    const char *sha256;      /* hex, of the uncompressed content */
    const char *md5;         /* hex, or NULL */
    const char *url;         /* NULL: cannot be fetched */
    const char *member;      /* zip member holding the content (url is a zip) */
    const char *download;    /* approximate download size, for messages */
    uint64_t split;          /* 0: the default split (last 5% is validation) */
    uint64_t valid_end;      /* 0: n */
} hn_known_corpus;

/* NULL when the name is not one of the known corpora. */
const hn_known_corpus *hn_known_corpus_find(const char *name);
const hn_known_corpus *hn_known_corpora(size_t *count);

/* "english, tinyshakespeare, ..." for messages. */
const char *hn_known_corpus_names(void);
/* The ones `hnet fetch` can download (those with a url), same form. */
const char *hn_known_corpus_fetchable(void);

#endif
