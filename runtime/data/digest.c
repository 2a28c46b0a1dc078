#include "data/digest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "data/read.h"

int hn_digest_init(hn_digest *d, hn_error *err) {
    d->n = 0;
    d->sha256 = EVP_MD_CTX_new();
    d->md5 = EVP_MD_CTX_new();
    if (!d->sha256 || !d->md5 || EVP_DigestInit_ex(d->sha256, EVP_sha256(), NULL) != 1 ||
        EVP_DigestInit_ex(d->md5, EVP_md5(), NULL) != 1) {
        hn_digest_free(d);
        return hn_fail(err, "cannot initialise sha256/md5 (libcrypto)");
    }
    return HN_OK;
}

void hn_digest_update(hn_digest *d, const void *p, size_t n) {
    EVP_DigestUpdate(d->sha256, p, n);
    EVP_DigestUpdate(d->md5, p, n);
    d->n += n;
}

static void to_hex(const unsigned char *b, unsigned n, char *out) {
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[2 * n] = 0;
}

void hn_digest_final(hn_digest *d, char *sha256_hex, char *md5_hex) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    if (EVP_DigestFinal_ex(d->sha256, md, &len) == 1 && sha256_hex) to_hex(md, len, sha256_hex);
    if (EVP_DigestFinal_ex(d->md5, md, &len) == 1 && md5_hex) to_hex(md, len, md5_hex);
    hn_digest_free(d);
}

void hn_digest_free(hn_digest *d) {
    EVP_MD_CTX_free(d->sha256);
    EVP_MD_CTX_free(d->md5);
    d->sha256 = d->md5 = NULL;
}

int hn_sha256_hex(const void *p, size_t n, char out[65], hn_error *err) {
    hn_digest d;
    if (hn_digest_init(&d, err) != HN_OK) return HN_ERR;
    hn_digest_update(&d, p, n);
    hn_digest_final(&d, out, NULL);
    return HN_OK;
}

int hn_digest_file(const char *path, char sha256_hex[65], char md5_hex[33], uint64_t *size,
                   hn_error *err) {
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = malloc(CHUNK);
    if (!buf) return hn_fail(err, "out of memory");
    hn_digest d;
    if (hn_digest_init(&d, err) != HN_OK) { free(buf); return HN_ERR; }
    int rc = HN_OK;
    if (hn_path_is_gz(path)) {
        gzFile gz = gzopen(path, "rb");
        if (!gz) {
            rc = hn_fail(err, "cannot open %s: %s", path, strerror(errno));
        } else {
            int got;
            while ((got = gzread(gz, buf, CHUNK)) > 0) hn_digest_update(&d, buf, (size_t)got);
            int code;
            const char *msg = gzerror(gz, &code);
            if (got < 0 || (code != Z_OK && code != Z_STREAM_END))
                rc = hn_fail(err, "%s: corrupt or truncated gzip data (%s)", path, msg);
            gzclose(gz);
        }
    } else {
        FILE *f = fopen(path, "rb");
        if (!f) {
            rc = hn_fail(err, "cannot open %s: %s", path, strerror(errno));
        } else {
            size_t got;
            while ((got = fread(buf, 1, CHUNK, f)) > 0) hn_digest_update(&d, buf, got);
            if (ferror(f)) rc = hn_fail(err, "error reading %s", path);
            fclose(f);
        }
    }
    free(buf);
    if (size) *size = d.n;
    if (rc != HN_OK) {
        hn_digest_free(&d);
        return HN_ERR;
    }
    hn_digest_final(&d, sha256_hex, md5_hex);
    return HN_OK;
}
