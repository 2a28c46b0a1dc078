/* Corpus sources and splits; the reading itself is in read.c, the synthetic language
 * in synthetic.c. */
#include "data/corpus.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/known.h"
#include "data/verify.h"
#include "data/read.h"

const char *hn_data_dir(void) {
    const char *d = getenv("HNET_DATA_DIR");
    if (d && *d) return d;
    /* the XDG base-directory rule: per user, the same from every folder */
    static _Thread_local char buf[4096];
    const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    if (xdg && xdg[0] == '/') snprintf(buf, sizeof buf, "%s/hnet", xdg);
    else if (home && *home) snprintf(buf, sizeof buf, "%s/.local/share/hnet", home);
    else return "data"; /* no home folder: beside the current directory */
    return buf;
}

size_t hn_corpus_default_split(size_t n) {
    /* floor(0.95 n) without floating point or overflow */
    return n / 100 * 95 + n % 100 * 95 / 100;
}

static void set_name(hn_corpus *c, const char *name) {
    snprintf(c->name, sizeof c->name, "%s", name);
}

/* "dir" as an absolute path for messages, when it is relative. */
static void describe_dir(const char *dir, char *out, size_t cap) {
    char cwd[2048];
    if (dir[0] != '/' && getcwd(cwd, sizeof cwd))
        snprintf(out, cap, "%s/%s", cwd, dir);
    else
        snprintf(out, cap, "%s", dir);
}

static int is_regular(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int hn_corpus_find_named(const char *name, const char *dir, char *path, size_t cap,
                         hn_error *err) {
    const hn_known_corpus *k = hn_known_corpus_find(name);
    if (!k)
        return hn_fail(err,
                       "unknown corpus name \"%s\"; known names: %s (for your own files use "
                       "{source=\"file\"} or {source=\"dir\"})",
                       name, hn_known_corpus_names());
    int from_env = dir == NULL && getenv("HNET_DATA_DIR") && *getenv("HNET_DATA_DIR");
    if (!dir) dir = hn_data_dir();
    static const char *const suffix[] = {".txt", ".txt.gz", "", ".gz"};
    for (int i = 0; i < 4; i++) {
        if ((size_t)snprintf(path, cap, "%s/%s%s", dir, name, suffix[i]) >= cap)
            return hn_fail(err, "data folder path too long: %s", dir);
        if (is_regular(path)) return HN_OK;
    }
    char where[2300];
    describe_dir(dir, where, sizeof where);
    struct stat st;
    int exists = stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
    char how[1024];
    if (k->url)
        snprintf(how, sizeof how,
                 "Set HNET_DATA_DIR to the folder that holds it, or download it once into that "
                 "folder with `hnet fetch %s` (%s from %s, verified by size and sha256)",
                 name, k->download, k->url);
    else
        snprintf(how, sizeof how,
                 "\"%s\" cannot be downloaded by hnet fetch: make it as "
                 "experiments/DATA.md says, into that folder or one HNET_DATA_DIR names",
                 name);
    return hn_fail(err,
                   "corpus \"%s\" not found: looked for %s.txt, %s.txt.gz, %s, %s.gz in %s "
                   "(%s%s). %s",
                   name, name, name, name, name, where,
                   from_env ? "from HNET_DATA_DIR"
                            : "the per-user data folder; HNET_DATA_DIR is not set",
                   exists ? "" : "; that folder does not exist", how);
}

/* Takes ownership of b's bytes. An empty corpus is never useful: fail here. */
static int finish(hn_corpus *out, hn_bytebuf *b, const char *name, hn_error *err) {
    memset(out, 0, sizeof *out);
    if (b->n == 0) {
        hn_bytebuf_free(b);
        return hn_fail(err, "corpus %s is empty", name);
    }
    set_name(out, name);
    out->bytes = b->p;
    out->n = b->n;
    out->split = hn_corpus_default_split(b->n);
    out->valid_end = b->n;
    b->p = NULL;
    b->n = b->cap = 0;
    return HN_OK;
}

int hn_corpus_from_file(const char *path, hn_corpus *out, hn_error *err) {
    hn_bytebuf b = {0};
    memset(out, 0, sizeof *out);
    if (hn_read_file_append(path, &b, err) != HN_OK) {
        hn_bytebuf_free(&b);
        return HN_ERR;
    }
    return finish(out, &b, path, err);
}

int hn_corpus_from_dir(const char *path, hn_corpus *out, hn_error *err) {
    hn_bytebuf b = {0};
    memset(out, 0, sizeof *out);
    if (hn_read_dir_append(path, &b, NULL, err) != HN_OK) {
        hn_bytebuf_free(&b);
        return HN_ERR;
    }
    return finish(out, &b, path, err);
}

int hn_corpus_named(const char *name, hn_corpus *out, hn_error *err) {
    char path[4096];
    memset(out, 0, sizeof *out);
    if (hn_corpus_find_named(name, NULL, path, sizeof path, err) != HN_OK) return HN_ERR;
    hn_bytebuf b = {0};
    if (hn_read_file_append(path, &b, err) != HN_OK) {
        hn_bytebuf_free(&b);
        return HN_ERR;
    }
    const hn_known_corpus *k = hn_known_corpus_find(name);
    /* results are comparable only on the standard bytes (and a fixed-offset split
     * means something only there) */
    if (hn_known_corpus_verify(k, path, b.p, b.n, err) != HN_OK) {
        size_t used = strlen(err->msg);
        if (k->url && used < sizeof err->msg)
            snprintf(err->msg + used, sizeof err->msg - used, "; or remove it and run `hnet fetch %s`", name);
        hn_bytebuf_free(&b);
        return HN_ERR;
    }
    if (finish(out, &b, name, err) != HN_OK) return hn_fail_prefix(err, "%s", path);
    if (k->split) {
        out->split = (size_t)k->split;
        out->valid_end = (size_t)k->valid_end;
    }
    return HN_OK;
}

void hn_corpus_free(hn_corpus *c) {
    if (!c) return;
    free(c->bytes);
    free(c->word_start);
    memset(c, 0, sizeof *c);
}

int hn_corpus_require(const hn_corpus *c, size_t seq_len, hn_error *err) {
    if (seq_len == 0) return hn_fail(err, "seq_len must be at least 1");
    size_t need = seq_len + 1, train = c->split, valid = c->valid_end - c->split;
    if (c->n == 0) return hn_fail(err, "corpus %s is empty", c->name);
    if (train < need || valid < need)
        return hn_fail(err,
                       "corpus %s is too small for seq_len %zu: one sequence needs %zu bytes "
                       "(inputs and next-byte targets), but the train part has %zu and the "
                       "validation part %zu (of %zu bytes in all; validation is the last 5%%)",
                       c->name, seq_len, need, train, valid, c->n);
    return HN_OK;
}

/* ---- the data section of a config ---- */

typedef struct spec {
    enum { SRC_NAMED, SRC_FILE, SRC_DIR, SRC_SYNTHETIC } source;
    const char *text;  /* name or path */
    uint64_t seed;
    size_t bytes;
    size_t seq_len;    /* 0: not given */
} spec;

static int get_uint(const cJSON *data, const char *key, uint64_t max, uint64_t *out,
                    int *present, hn_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(data, key);
    *present = v != NULL;
    if (!v) return HN_OK;
    double d = v->valuedouble;
    if (!cJSON_IsNumber(v) || d < 0 || d != floor(d) || d > (double)max)
        return hn_fail(err, "data.%s must be a whole number between 0 and %llu", key,
                       (unsigned long long)max);
    *out = (uint64_t)d;
    return HN_OK;
}

static int parse(const cJSON *data, spec *s, hn_error *err) {
    memset(s, 0, sizeof *s);
    if (!cJSON_IsObject(data)) return hn_fail(err, "data must be a table/object");
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(data, "source");
    if (!cJSON_IsString(src))
        return hn_fail(err, "data.source must be one of \"named\", \"file\", \"dir\", \"synthetic\"");
    const char *key = NULL;
    if (strcmp(src->valuestring, "named") == 0) s->source = SRC_NAMED, key = "name";
    else if (strcmp(src->valuestring, "file") == 0) s->source = SRC_FILE, key = "path";
    else if (strcmp(src->valuestring, "dir") == 0) s->source = SRC_DIR, key = "path";
    else if (strcmp(src->valuestring, "synthetic") == 0) s->source = SRC_SYNTHETIC;
    else
        return hn_fail(err,
                       "data.source must be one of \"named\", \"file\", \"dir\", \"synthetic\" "
                       "(got \"%s\")",
                       src->valuestring);
    if (key) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(data, key);
        if (!cJSON_IsString(v) || !v->valuestring[0])
            return hn_fail(err, "data.%s must be a non-empty string for source \"%s\"", key,
                           src->valuestring);
        s->text = v->valuestring;
    }
    int present;
    uint64_t u = 0;
    if (get_uint(data, "seq_len", (uint64_t)1 << 40, &u, &present, err) != HN_OK) return HN_ERR;
    if (present && u == 0) return hn_fail(err, "data.seq_len must be at least 1");
    s->seq_len = present ? (size_t)u : 0;
    if (s->source == SRC_SYNTHETIC) {
        s->seed = HN_SYNTHETIC_DEFAULT_SEED;
        s->bytes = HN_SYNTHETIC_DEFAULT_BYTES;
        if (get_uint(data, "seed", ((uint64_t)1 << 53), &u, &present, err) != HN_OK) return HN_ERR;
        if (present) s->seed = u;
        if (get_uint(data, "bytes", (uint64_t)1 << 34, &u, &present, err) != HN_OK) return HN_ERR;
        if (present) {
            if (u == 0) return hn_fail(err, "data.bytes must be at least 1");
            s->bytes = (size_t)u;
        }
    }
    return HN_OK;
}

/* Size check before loading, where the size is known without reading: plain files
 * (not .gz) and the synthetic corpus. */
static int check_size(const char *name, uint64_t n, const char *known_name, size_t seq_len,
                      hn_error *err) {
    if (!seq_len) return HN_OK;
    hn_corpus c = {.n = (size_t)n, .split = hn_corpus_default_split((size_t)n), .valid_end = (size_t)n};
    const hn_known_corpus *k = known_name ? hn_known_corpus_find(known_name) : NULL;
    if (k && k->split) {
        if (n != k->size) return HN_OK; /* loading reports the wrong size */
        c.split = (size_t)k->split;
        c.valid_end = (size_t)k->valid_end;
    }
    set_name(&c, name);
    return hn_corpus_require(&c, seq_len, err);
}

static int check_file(const char *path, const char *display, const char *known_name,
                      size_t seq_len, hn_error *err) {
    struct stat st;
    if (stat(path, &st) != 0) return hn_fail(err, "corpus file %s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return hn_fail(err, "corpus file %s is a folder; use {source=\"dir\"}", path);
    if (access(path, R_OK) != 0) return hn_fail(err, "corpus file %s: %s", path, strerror(errno));
    if (st.st_size == 0) return hn_fail(err, "corpus %s is empty", display);
    const hn_known_corpus *k = known_name ? hn_known_corpus_find(known_name) : NULL;
    if (k && hn_known_corpus_check_size(k, path, (uint64_t)st.st_size, err) != HN_OK) return HN_ERR;
    if (hn_path_is_gz(path)) return HN_OK;
    return check_size(display, (uint64_t)st.st_size, known_name, seq_len, err);
}

int hn_corpus_check(const cJSON *data, hn_error *err) {
    spec s;
    if (parse(data, &s, err) != HN_OK) return HN_ERR;
    char path[4096];
    switch (s.source) {
    case SRC_NAMED:
        if (hn_corpus_find_named(s.text, NULL, path, sizeof path, err) != HN_OK) return HN_ERR;
        return check_file(path, s.text, s.text, s.seq_len, err);
    case SRC_FILE:
        return check_file(s.text, s.text, NULL, s.seq_len, err);
    case SRC_DIR: {
        char **names;
        size_t n;
        if (hn_list_dir_files(s.text, &names, &n, err) != HN_OK) return HN_ERR;
        uint64_t total = 0;
        int gz = 0;
        for (size_t i = 0; i < n; i++) {
            struct stat st;
            snprintf(path, sizeof path, "%s/%s", s.text, names[i]);
            if (stat(path, &st) == 0) total += (uint64_t)st.st_size;
            gz |= hn_path_is_gz(names[i]);
            free(names[i]);
        }
        free(names);
        if (n == 0)
            return hn_fail(err, "folder %s has no files (hidden files and sub-folders are not read)",
                           s.text);
        if (total == 0) return hn_fail(err, "corpus %s is empty", s.text);
        return gz ? HN_OK : check_size(s.text, total, NULL, s.seq_len, err);
    }
    case SRC_SYNTHETIC: {
        char name[64];
        snprintf(name, sizeof name, "synthetic(seed=%llu)", (unsigned long long)s.seed);
        return check_size(name, s.bytes, NULL, s.seq_len, err);
    }
    }
    return HN_OK;
}

int hn_corpus_load(const cJSON *data, hn_corpus *out, hn_error *err) {
    spec s;
    memset(out, 0, sizeof *out);
    if (parse(data, &s, err) != HN_OK) return HN_ERR;
    int rc = HN_ERR;
    switch (s.source) {
    case SRC_NAMED: rc = hn_corpus_named(s.text, out, err); break;
    case SRC_FILE: rc = hn_corpus_from_file(s.text, out, err); break;
    case SRC_DIR: rc = hn_corpus_from_dir(s.text, out, err); break;
    case SRC_SYNTHETIC: rc = hn_corpus_synthetic(s.seed, s.bytes, out, err); break;
    }
    if (rc != HN_OK) return HN_ERR;
    if (s.seq_len && hn_corpus_require(out, s.seq_len, err) != HN_OK) {
        hn_corpus_free(out);
        return HN_ERR;
    }
    return HN_OK;
}
