/* Content checksums of corpora (sha256 and md5 through libcrypto's EVP interface). */
#ifndef HN_DATA_DIGEST_H
#define HN_DATA_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct hn_digest {
    void *sha256, *md5; /* EVP_MD_CTX */
    uint64_t n;         /* bytes seen */
} hn_digest;

int hn_digest_init(hn_digest *d, hn_error *err);
void hn_digest_update(hn_digest *d, const void *p, size_t n);
/* Writes lowercase hex (65 and 33 bytes with the NUL; either may be NULL) and frees. */
void hn_digest_final(hn_digest *d, char *sha256_hex, char *md5_hex);
void hn_digest_free(hn_digest *d);

/* sha256 of a buffer, lowercase hex. */
int hn_sha256_hex(const void *p, size_t n, char out[65], hn_error *err);

/* Checksums of a file's content, decompressed when its name ends in .gz. */
int hn_digest_file(const char *path, char sha256_hex[65], char md5_hex[33], uint64_t *size,
                   hn_error *err);

#endif
