#include "data/fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <zlib.h>

#include "core/fs.h"
#include "data/corpus.h"
#include "data/digest.h"
#include "data/known.h"
#include "data/read.h"

#define MAX_DOWNLOAD ((size_t)1 << 31) /* no known corpus comes near; stops runaways */

typedef struct expect {
    uint64_t size;      /* 0: any */
    const char *md5;    /* NULL: not checked */
    const char *sha256; /* required */
} expect;

/* ---- download into memory ---- */

typedef struct sink {
    hn_bytebuf b;
    int too_big, tty;
} sink;

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud) {
    sink *s = ud;
    size_t n = size * nmemb;
    if (s->b.n + n > MAX_DOWNLOAD || hn_bytebuf_reserve(&s->b, n, NULL) != HN_OK) {
        s->too_big = 1;
        return 0; /* makes curl stop with a write error */
    }
    memcpy(s->b.p + s->b.n, p, n);
    s->b.n += n;
    return n;
}

static int on_progress(void *ud, curl_off_t total, curl_off_t now, curl_off_t ut, curl_off_t un) {
    sink *s = ud;
    if (s->tty && now > 0) {
        if (total > 0)
            fprintf(stderr, "\rdownloading: %.1f / %.1f MB", now / 1e6, total / 1e6);
        else
            fprintf(stderr, "\rdownloading: %.1f MB", now / 1e6);
    }
    return 0;
}

static int download(const char *url, hn_bytebuf *out, hn_error *err) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return hn_fail(err, "cannot initialise libcurl");
    CURL *c = curl_easy_init();
    if (!c) return hn_fail(err, "cannot initialise libcurl");
    sink s = {.tty = isatty(2)};
    char ebuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L); /* HTTP 4xx/5xx is an error, not data */
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L); /* give up below 1 KB/s ... */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);    /* ... for a minute */
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "hnet-fetch");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &s);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    if (s.tty) fprintf(stderr, "\n");
    if (rc != CURLE_OK) {
        hn_bytebuf_free(&s.b);
        if (s.too_big)
            return hn_fail(err, "download of %s failed: larger than %zu bytes or out of memory",
                           url, MAX_DOWNLOAD);
        return hn_fail(err, "download of %s failed: %s", url,
                       ebuf[0] ? ebuf : curl_easy_strerror(rc));
    }
    *out = s.b;
    return HN_OK;
}

/* ---- zip: find one member through the central directory ---- */

typedef struct member {
    int method;          /* 0 stored, 8 deflate */
    uint32_t crc;
    uint64_t csize, usize;
    const uint8_t *data; /* csize bytes */
} member;

static uint32_t le16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t le32(const uint8_t *p) { return le16(p) | le16(p + 2) << 16; }

static int is_zip(const hn_bytebuf *b) {
    return b->n >= 4 && le32(b->p) == 0x04034b50u;
}

static int zip_find(const uint8_t *z, size_t n, const char *want, member *m, hn_error *err) {
    if (n < 22) return hn_fail(err, "zip archive truncated");
    size_t lo = n > 22 + 65535 ? n - 22 - 65535 : 0, e = n - 22;
    for (;; e--) {
        if (le32(z + e) == 0x06054b50u) break;
        if (e == lo) return hn_fail(err, "zip archive truncated (no end-of-directory record)");
    }
    uint32_t entries = le16(z + e + 10), cd_off = le32(z + e + 16);
    if (cd_off == 0xffffffffu) return hn_fail(err, "zip64 archives are not supported");
    size_t p = cd_off;
    int found = 0, files = 0;
    char names[512] = "";
    for (uint32_t i = 0; i < entries; i++) {
        if (p + 46 > n || le32(z + p) != 0x02014b50u)
            return hn_fail(err, "zip central directory is damaged");
        uint32_t flags = le16(z + p + 8), nl = le16(z + p + 28);
        uint32_t xl = le16(z + p + 30), cl = le16(z + p + 32), lho = le32(z + p + 42);
        if (p + 46 + nl > n) return hn_fail(err, "zip central directory is damaged");
        const char *name = (const char *)z + p + 46;
        int is_dir = nl > 0 && name[nl - 1] == '/';
        if (!is_dir) {
            files++;
            size_t used = strlen(names);
            if (used + nl + 3 < sizeof names)
                snprintf(names + used, sizeof names - used, "%s%.*s", used ? ", " : "", (int)nl, name);
        }
        int match = want ? strlen(want) == nl && memcmp(want, name, nl) == 0 : !is_dir;
        if (match && !found) {
            if (flags & 1) return hn_fail(err, "zip member %.*s is encrypted", (int)nl, name);
            m->method = (int)le16(z + p + 10);
            m->crc = le32(z + p + 16);
            m->csize = le32(z + p + 20);
            m->usize = le32(z + p + 24);
            if (m->csize == 0xffffffffu || m->usize == 0xffffffffu || lho == 0xffffffffu)
                return hn_fail(err, "zip64 archives are not supported");
            if ((size_t)lho + 30 > n || le32(z + lho) != 0x04034b50u)
                return hn_fail(err, "zip member %.*s: damaged local header", (int)nl, name);
            size_t data = (size_t)lho + 30 + le16(z + lho + 26) + le16(z + lho + 28);
            if (data > n || m->csize > n - data)
                return hn_fail(err, "zip member %.*s is truncated", (int)nl, name);
            m->data = z + data;
            found = 1;
        }
        p += 46 + nl + xl + cl;
    }
    if (!want && files != 1)
        return hn_fail(err, "zip archive holds %d files (%s); expected exactly one", files, names);
    if (!found) return hn_fail(err, "zip archive has no member \"%s\" (it holds: %s)", want, names);
    if (m->method != 0 && m->method != 8)
        return hn_fail(err, "zip compression method %d is not supported (only stored and deflate)",
                       m->method);
    return HN_OK;
}

/* ---- writing: temp file beside the destination, then rename ---- */

static int write_all(int fd, const uint8_t *p, size_t n, hn_error *err) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return hn_fail(err, "write failed: %s", w < 0 ? strerror(errno) : "no space");
        p += w;
        n -= (size_t)w;
    }
    return HN_OK;
}

typedef struct out {
    int fd;
    hn_digest d;
    uint32_t crc;
} out;

static int emit(out *o, const uint8_t *p, size_t n, hn_error *err) {
    hn_digest_update(&o->d, p, n);
    o->crc = (uint32_t)crc32(o->crc, p, (uInt)n);
    return write_all(o->fd, p, n, err);
}

static int unpack(const member *m, out *o, hn_error *err) {
    enum { CHUNK = 1 << 20 };
    if (m->method == 0) {
        for (uint64_t i = 0; i < m->csize; i += CHUNK) {
            size_t n = m->csize - i < CHUNK ? (size_t)(m->csize - i) : CHUNK;
            if (emit(o, m->data + i, n, err) != HN_OK) return HN_ERR;
        }
        return HN_OK;
    }
    uint8_t *buf = malloc(CHUNK);
    if (!buf) return hn_fail(err, "out of memory");
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) { free(buf); return hn_fail(err, "zlib init failed"); }
    zs.next_in = (Bytef *)m->data;
    zs.avail_in = (uInt)m->csize;
    int rc = HN_OK, z;
    do {
        zs.next_out = buf;
        zs.avail_out = CHUNK;
        z = inflate(&zs, Z_NO_FLUSH);
        if (z != Z_OK && z != Z_STREAM_END) {
            rc = hn_fail(err, "zip data is corrupt or truncated (%s)", zs.msg ? zs.msg : "inflate failed");
            break;
        }
        rc = emit(o, buf, CHUNK - zs.avail_out, err);
        if (rc == HN_OK && z == Z_OK && zs.avail_in == 0 && zs.avail_out != 0)
            rc = hn_fail(err, "zip data is truncated");
    } while (rc == HN_OK && z != Z_STREAM_END);
    inflateEnd(&zs);
    free(buf);
    return rc;
}

static void split_path(const char *path, char *dir, size_t cap, const char **base) {
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, cap, ".");
        *base = path;
    } else if (slash == path) {
        snprintf(dir, cap, "/");
        *base = slash + 1;
    } else {
        snprintf(dir, cap, "%.*s", (int)(slash - path), path);
        *base = slash + 1;
    }
}

static int check(const char *what, const char *got, const char *want, hn_error *err) {
    if (want && strcmp(got, want) != 0)
        return hn_fail(err, "%s mismatch: got %s, expected %s; refusing to store it", what, got, want);
    return HN_OK;
}

static int fetch_verified(const char *url, const char *want_member, const expect *ex,
                          const char *dest, hn_error *err) {
    if (!ex->sha256 || strlen(ex->sha256) != 64)
        return hn_fail(err, "a sha256 (64 hex digits) of the content is required");
    char dir[4096], tmp[4200];
    const char *base;
    split_path(dest, dir, sizeof dir, &base);
    if (!*base) return hn_fail(err, "destination %s is a folder name", dest);

    hn_bytebuf z = {0};
    if (download(url, &z, err) != HN_OK) return HN_ERR;
    if (hn_mkdir_p(dir, err) != HN_OK) { /* only now: a failed download leaves no folder */
        hn_bytebuf_free(&z);
        return HN_ERR;
    }
    member m = {0};
    int rc = HN_OK, zipped = is_zip(&z);
    if (zipped) {
        rc = zip_find(z.p, z.n, want_member, &m, err);
        if (rc != HN_OK) hn_fail_prefix(err, "%s", url);
    } else {
        m = (member){.method = 0, .csize = z.n, .usize = z.n, .data = z.p};
    }
    if (rc != HN_OK) { hn_bytebuf_free(&z); return HN_ERR; }

    snprintf(tmp, sizeof tmp, "%s/.%s.part.XXXXXX", dir, base);
    out o = {.fd = mkstemp(tmp), .crc = (uint32_t)crc32(0, NULL, 0)};
    if (o.fd < 0) {
        hn_bytebuf_free(&z);
        return hn_fail(err, "cannot create a file in %s: %s", dir, strerror(errno));
    }
    if (hn_digest_init(&o.d, err) != HN_OK) rc = HN_ERR;
    if (rc == HN_OK) rc = unpack(&m, &o, err);
    char sha[65] = "", md5[33] = "";
    uint64_t n = o.d.n;
    if (o.d.sha256) hn_digest_final(&o.d, sha, md5);
    if (rc == HN_OK && zipped && (n != m.usize || o.crc != m.crc))
        rc = hn_fail(err, "zip member does not match its recorded size/CRC: damaged download");
    hn_bytebuf_free(&z);
    if (rc == HN_OK && ex->size && n != ex->size)
        rc = hn_fail(err, "size mismatch: got %llu bytes, expected %llu; refusing to store it",
                     (unsigned long long)n, (unsigned long long)ex->size);
    if (rc == HN_OK) rc = check("md5", md5, ex->md5, err);
    if (rc == HN_OK) rc = check("sha256", sha, ex->sha256, err);
    if (rc == HN_OK && fsync(o.fd) != 0) rc = hn_fail(err, "fsync %s: %s", tmp, strerror(errno));
    if (close(o.fd) != 0 && rc == HN_OK) rc = hn_fail(err, "close %s: %s", tmp, strerror(errno));
    if (rc == HN_OK && rename(tmp, dest) != 0)
        rc = hn_fail(err, "cannot rename %s to %s: %s", tmp, dest, strerror(errno));
    if (rc != HN_OK) {
        unlink(tmp);
        return HN_ERR;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY); /* make the rename itself durable */
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return HN_OK;
}

int hn_corpus_fetch_url(const char *url, const char *member_name, const char *sha256_hex,
                        const char *dest_path, hn_error *err) {
    expect ex = {.sha256 = sha256_hex};
    return fetch_verified(url, member_name, &ex, dest_path, err);
}

int hn_corpus_present(const char *name, const char *dir, char *path, size_t cap, hn_error *err) {
    const hn_known_corpus *k = hn_known_corpus_find(name);
    if (!k) return hn_fail(err, "unknown corpus \"%s\"; known: %s", name, hn_known_corpus_names());
    if (!dir) dir = hn_data_dir();
    hn_error ignored;
    if (hn_corpus_find_named(name, dir, path, cap, &ignored) != HN_OK) return 0;
    char sha[65], md5[33];
    uint64_t n;
    if (hn_digest_file(path, sha, md5, &n, err) != HN_OK) return HN_ERR;
    if (n != k->size || strcmp(sha, k->sha256) != 0 || (k->md5 && strcmp(md5, k->md5) != 0))
        return hn_fail(err,
                       "%s exists but is not the standard %s (%llu bytes, sha256 %s; expected "
                       "%llu bytes, sha256 %s); remove it and run `hnet fetch %s` again",
                       path, name, (unsigned long long)n, sha, (unsigned long long)k->size,
                       k->sha256, name);
    return 1;
}

int hn_corpus_fetch(const char *name, const char *dest_dir, const char *url_override,
                    hn_error *err) {
    const hn_known_corpus *k = hn_known_corpus_find(name);
    if (!k) return hn_fail(err, "unknown corpus \"%s\"; known: %s", name, hn_known_corpus_names());
    if (!k->url)
        return hn_fail(err,
                       "\"%s\" cannot be fetched: it is assembled from several sources; "
                       "experiments/DATA.md says how to make it (fetchable: %s)",
                       name, hn_known_corpus_fetchable());
    if (!dest_dir) dest_dir = hn_data_dir();
    char path[4096];
    int have = hn_corpus_present(name, dest_dir, path, sizeof path, err);
    if (have == HN_ERR) return HN_ERR;
    if (have == 1) return HN_OK;
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dest_dir, name) >= sizeof path)
        return hn_fail(err, "folder path too long: %s", dest_dir);
    expect ex = {.size = k->size, .md5 = k->md5, .sha256 = k->sha256};
    if (fetch_verified(url_override ? url_override : k->url, k->member, &ex, path, err) != HN_OK)
        return hn_fail_prefix(err, "fetch %s", name);
    return HN_OK;
}
