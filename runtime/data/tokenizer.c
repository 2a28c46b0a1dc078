/* The format-generic tokenizer (see tokenizer.h): dispatch to the three formats. */
#include "data/tokenizer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/digest.h"
#include "data/gpt2_bpe.h"
#include "data/read.h"
#include "data/sentencepiece.h"
#include "data/tiktoken.h"

typedef enum { FMT_GPT2, FMT_TIKTOKEN, FMT_SPM } format;

struct hn_tokenizer {
    format fmt;
    hn_bpe *gpt2;
    hn_tiktoken *tik;
    hn_spm *spm;
    int32_t byte_token[256];
};

static const char *const FORMAT_NAME[] = {"gpt2", "tiktoken", "sentencepiece"};
/* the file keys of each format */
static const char *const KEYS[][2] = {{"vocab", "merges"}, {"file", NULL}, {"model", NULL}};

/* The file a key names; it must be a regular file (a device or a pipe could be read
 * forever). */
static int path_of(const cJSON *spec, const char *key, const char **out, hn_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec, key);
    if (!cJSON_IsString(v) || !v->valuestring[0])
        return hn_fail(err, "tokenizer.%s: expected the path of a file", key);
    struct stat st;
    if (stat(v->valuestring, &st) != 0)
        return hn_fail(err, "%s file %s: %s", key, v->valuestring, strerror(errno));
    if (!S_ISREG(st.st_mode)) return hn_fail(err, "%s file %s is not a regular file", key, v->valuestring);
    *out = v->valuestring;
    return HN_OK;
}

static int check_keys(const cJSON *spec, format f, hn_error *err) {
    for (const cJSON *k = spec->child; k; k = k->next) {
        if (!strcmp(k->string, "format") || !strcmp(k->string, "sha256")) continue;
        if ((KEYS[f][0] && !strcmp(k->string, KEYS[f][0])) || (KEYS[f][1] && !strcmp(k->string, KEYS[f][1])))
            continue;
        return hn_fail(err, "tokenizer: unknown key '%s' for format \"%s\" (it takes %s%s%s)", k->string,
                       FORMAT_NAME[f], KEYS[f][0], KEYS[f][1] ? " and " : "", KEYS[f][1] ? KEYS[f][1] : "");
    }
    return HN_OK;
}

static int format_of(const cJSON *spec, format *out, hn_error *err) {
    if (!cJSON_IsObject(spec)) return hn_fail(err, "tokenizer: expected a table with a format");
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(spec, "format");
    for (int i = 0; i < 3 && cJSON_IsString(f); i++)
        if (!strcmp(f->valuestring, FORMAT_NAME[i])) return *out = (format)i, HN_OK;
    return hn_fail(err, "tokenizer.format: expected " HN_TOKENIZER_FORMATS);
}

int hn_tokenizer_files_sha256(const cJSON *spec, char out[65], hn_error *err) {
    format f;
    if (format_of(spec, &f, err)) return HN_ERR;
    hn_digest d;
    if (hn_digest_init(&d, err)) return HN_ERR;
    for (int k = 0; k < 2 && KEYS[f][k]; k++) {
        const char *path;
        hn_bytebuf b = {0};
        if (path_of(spec, KEYS[f][k], &path, err) || hn_read_file_append(path, &b, err)) {
            hn_bytebuf_free(&b);
            hn_digest_free(&d);
            return HN_ERR;
        }
        hn_digest_update(&d, b.p, b.n);
        hn_bytebuf_free(&b);
    }
    hn_digest_final(&d, out, NULL);
    return HN_OK;
}

/* The files against the sha256 the spec records (none recorded: nothing to check). */
static int check_sha256(const cJSON *spec, hn_error *err) {
    const cJSON *want = cJSON_GetObjectItemCaseSensitive(spec, "sha256");
    if (!want) return HN_OK;
    char have[65];
    if (!cJSON_IsString(want)) return hn_fail(err, "tokenizer.sha256: expected a hex string");
    if (hn_tokenizer_files_sha256(spec, have, err)) return HN_ERR;
    if (strcmp(have, want->valuestring))
        return hn_fail(err, "tokenizer: its files changed since the config was written (sha256 %.12s..., "
                            "recorded %.12s...): these are not the tokens the run names; restore the "
                            "files, or resolve the experiment file again (a new run)",
                       have, want->valuestring);
    return HN_OK;
}

static int open_format(hn_tokenizer *t, const cJSON *spec, hn_error *err) {
    const char *a = NULL, *b = NULL;
    if (path_of(spec, KEYS[t->fmt][0], &a, err)) return HN_ERR;
    if (KEYS[t->fmt][1] && path_of(spec, KEYS[t->fmt][1], &b, err)) return HN_ERR;
    switch (t->fmt) {
    case FMT_GPT2: return hn_bpe_load(a, b, &t->gpt2, err);
    case FMT_TIKTOKEN: return hn_tiktoken_load(a, &t->tik, err);
    case FMT_SPM: return hn_spm_load(a, &t->spm, err);
    }
    return HN_ERR;
}

int hn_tokenizer_load(const cJSON *spec, hn_tokenizer **out, hn_error *err) {
    *out = NULL;
    format fmt;
    if (format_of(spec, &fmt, err)) return HN_ERR;
    hn_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return hn_fail(err, "tokenizer: out of memory");
    t->fmt = fmt;
    if (check_keys(spec, t->fmt, err) || check_sha256(spec, err) || open_format(t, spec, err)) {
        hn_tokenizer_free(t);
        return HN_ERR;
    }
    for (int b = 0; b < 256; b++) {
        uint8_t byte = (uint8_t)b;
        int32_t *ids = NULL;
        size_t n = 0;
        int rc = hn_tokenizer_encode(t, &byte, 1, &ids, &n, err);
        t->byte_token[b] = rc == HN_OK && n == 1 ? ids[0] : -1;
        free(ids);
        if (rc != HN_OK) {
            hn_tokenizer_free(t);
            return HN_ERR;
        }
        if (t->byte_token[b] < 0) {
            hn_tokenizer_free(t);
            return hn_fail(err, "%s tokenizer: byte 0x%02x alone encodes to %zu tokens, not one",
                           FORMAT_NAME[fmt], b, n);
        }
    }
    *out = t;
    return HN_OK;
}

void hn_tokenizer_free(hn_tokenizer *t) {
    if (!t) return;
    hn_bpe_free(t->gpt2);
    hn_tiktoken_free(t->tik);
    hn_spm_free(t->spm);
    free(t);
}

size_t hn_tokenizer_vocab_size(const hn_tokenizer *t) {
    switch (t->fmt) {
    case FMT_GPT2: return hn_bpe_vocab_size(t->gpt2);
    case FMT_TIKTOKEN: return hn_tiktoken_vocab_size(t->tik);
    case FMT_SPM: return hn_spm_vocab_size(t->spm);
    }
    return 0;
}

const char *hn_tokenizer_format(const hn_tokenizer *t) { return FORMAT_NAME[t->fmt]; }

int hn_tokenizer_encode(const hn_tokenizer *t, const uint8_t *p, size_t n, int32_t **ids,
                        size_t *nids, hn_error *err) {
    switch (t->fmt) {
    case FMT_GPT2: return hn_bpe_encode(t->gpt2, p, n, ids, nids, err);
    case FMT_TIKTOKEN: return hn_tiktoken_encode(t->tik, p, n, ids, nids, err);
    case FMT_SPM: return hn_spm_encode(t->spm, p, n, ids, nids, err);
    }
    return HN_ERR;
}

const uint8_t *hn_tokenizer_token(const hn_tokenizer *t, int32_t id, size_t *len) {
    switch (t->fmt) {
    case FMT_GPT2: return hn_bpe_token(t->gpt2, id, len);
    case FMT_TIKTOKEN: return hn_tiktoken_token(t->tik, id, len);
    case FMT_SPM: return hn_spm_token(t->spm, id, len);
    }
    return *len = 0, NULL;
}

int hn_tokenizer_decode(const hn_tokenizer *t, const int32_t *ids, size_t n, uint8_t **out,
                        size_t *nout, hn_error *err) {
    *out = NULL, *nout = 0;
    size_t total = 0, len;
    for (size_t i = 0; i < n; i++) {
        if (!hn_tokenizer_token(t, ids[i], &len))
            return hn_fail(err, "%s decode: id %d (at %zu) is not a token", FORMAT_NAME[t->fmt],
                           (int)ids[i], i);
        total += len;
    }
    uint8_t *b = malloc(total + 1);
    if (!b) return hn_fail(err, "%s decode: out of memory", FORMAT_NAME[t->fmt]);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = hn_tokenizer_token(t, ids[i], &len);
        memcpy(b + k, p, len);
        k += len;
    }
    b[k] = 0;
    *out = b, *nout = k;
    return HN_OK;
}

int32_t hn_tokenizer_byte_token(const hn_tokenizer *t, uint8_t b) { return t->byte_token[b]; }
