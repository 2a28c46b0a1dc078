/* Tokenized corpora (see token_corpus.h). */
#include "data/token_corpus.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int hn_data_is_tokenized(const cJSON *data) {
    return cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(data, "tokenizer"));
}

/* ---- the process cache of train splits' tokens ---- */

/* What identifies a train split's tokens: the corpus (its name, size and split) and the
 * tokenizer's section. */
static char *cache_key(const hn_corpus *c, const cJSON *data) {
    char *tok = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(data, "tokenizer"));
    if (!tok) return NULL;
    size_t n = strlen(c->name) + strlen(tok) + 64;
    char *key = malloc(n);
    if (key) snprintf(key, n, "%s|%zu|%zu|%s", c->name, c->n, c->split, tok);
    free(tok);
    return key;
}

typedef struct cached_split {
    char *key;
    int32_t *ids;
    size_t n;
} cached_split;

/* Entries are never dropped: open token corpora point into them (a process meets few
 * corpus and tokenizer pairs). */
static cached_split *cache;
static int cache_n, cache_cap;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* Room for one more entry in a grown array; 0, or -1 when out of memory. */
static int grow(void **arr, int *cap, int n, size_t size) {
    if (n < *cap) return 0;
    int c = *cap ? 2 * *cap : 4;
    void *p = realloc(*arr, (size_t)c * size);
    if (!p) return -1;
    *arr = p, *cap = c;
    return 0;
}

/* The train split's tokens, from the cache or tokenized now (and cached). */
static int train_tokens(const hn_corpus *c, const cJSON *data, const hn_tokenizer *t,
                        const int32_t **ids, size_t *n, hn_error *err) {
    char *key = cache_key(c, data);
    if (!key) return hn_fail(err, "tokenizing %s: out of memory", c->name);
    pthread_mutex_lock(&cache_lock);
    for (int i = 0; i < cache_n; i++)
        if (!strcmp(cache[i].key, key)) {
            *ids = cache[i].ids, *n = cache[i].n;
            pthread_mutex_unlock(&cache_lock);
            free(key);
            return HN_OK;
        }
    int32_t *out = NULL;
    size_t count = 0;
    int rc = hn_tokenizer_encode(t, c->bytes, c->split, &out, &count, err);
    if (rc != HN_OK) {
        pthread_mutex_unlock(&cache_lock);
        free(key);
        return hn_fail_prefix(err, "tokenizing the train split of %s", c->name);
    }
    if (grow((void **)&cache, &cache_cap, cache_n, sizeof *cache)) {
        pthread_mutex_unlock(&cache_lock);
        free(key), free(out);
        return hn_fail(err, "tokenizing %s: out of memory", c->name);
    }
    cache[cache_n++] = (cached_split){key, out, count};
    *ids = out, *n = count;
    pthread_mutex_unlock(&cache_lock);
    return HN_OK;
}

/* ---- opening ---- */

static int seq_tokens_of(const cJSON *data, double bytes_per_token) {
    const cJSON *given = cJSON_GetObjectItemCaseSensitive(data, "seq_tokens");
    if (cJSON_IsNumber(given) && given->valuedouble >= 1) return given->valueint;
    const cJSON *sl = cJSON_GetObjectItemCaseSensitive(data, "seq_len");
    double bytes = cJSON_IsNumber(sl) ? sl->valuedouble : 512;
    long n = lround(bytes / bytes_per_token);
    return n < 2 ? 2 : n > (1L << 30) ? 1 << 30 : (int)n;
}

int hn_token_corpus_open(const hn_corpus *c, const cJSON *data, size_t valid_begin,
                         size_t valid_end, hn_token_corpus *out, hn_error *err) {
    memset(out, 0, sizeof *out);
    if (hn_tokenizer_load(cJSON_GetObjectItemCaseSensitive(data, "tokenizer"), &out->tokenizer, err))
        return hn_fail_prefix(err, "data.tokenizer");
    const hn_tokenizer *t = out->tokenizer;
    size_t V = hn_tokenizer_vocab_size(t);
    out->token_len = malloc(V * sizeof *out->token_len);
    if (!out->token_len) {
        hn_token_corpus_free(out);
        return hn_fail(err, "out of memory for the token table");
    }
    for (size_t id = 0; id < V; id++) {
        size_t len = 0;
        hn_tokenizer_token(t, (int32_t)id, &len);
        out->token_len[id] = (uint32_t)len;
    }
    if (train_tokens(c, data, t, &out->train, &out->n_train, err)) {
        hn_token_corpus_free(out);
        return HN_ERR;
    }
    out->train_bytes = c->split;
    out->bytes_per_token = out->n_train ? (double)c->split / (double)out->n_train : 1;
    out->seq_tokens = seq_tokens_of(data, out->bytes_per_token);
    if (out->n_train < (size_t)out->seq_tokens + 1) {
        hn_token_corpus_free(out);
        return hn_fail(err, "the train split of %s is %zu tokens, too few for one sequence of %d "
                            "tokens and its targets", c->name, out->n_train, out->seq_tokens);
    }

    /* validation: the context token, then the span's own tokens */
    if (valid_begin == 0 || valid_end <= valid_begin || valid_end > c->n) {
        hn_token_corpus_free(out);
        return hn_fail(err, "validation span [%zu, %zu) of %s: expected a non-empty span after "
                            "the first byte", valid_begin, valid_end, c->name);
    }
    if (hn_token_span(t, c->bytes, valid_begin, valid_end, &out->valid, &out->n_valid, err)) {
        hn_token_corpus_free(out);
        return hn_fail_prefix(err, "the validation bytes of %s", c->name);
    }
    out->valid_begin = valid_begin, out->valid_end = valid_end;
    return HN_OK;
}

int hn_token_span(const hn_tokenizer *t, const uint8_t *bytes, size_t begin, size_t end,
                  int32_t **ids, size_t *n_ids, hn_error *err) {
    *ids = NULL, *n_ids = 0;
    int32_t *span = NULL;
    size_t n = 0;
    if (hn_tokenizer_encode(t, bytes + begin, end - begin, &span, &n, err))
        return hn_fail_prefix(err, "tokenizing");
    int32_t *out = malloc((n + 1) * sizeof *out);
    if (!out) {
        free(span);
        return hn_fail(err, "out of memory for %zu tokens", n + 1);
    }
    out[0] = hn_tokenizer_byte_token(t, bytes[begin - 1]);
    if (n) memcpy(out + 1, span, n * sizeof *span);
    free(span);
    *ids = out, *n_ids = n + 1;
    return HN_OK;
}

void hn_token_corpus_free(hn_token_corpus *t) {
    if (!t) return;
    hn_tokenizer_free(t->tokenizer);
    free(t->valid);
    free(t->token_len);
    memset(t, 0, sizeof *t); /* the train tokens stay in the process cache */
}

long hn_token_corpus_bytes(const hn_token_corpus *t, const int32_t *ids, size_t n) {
    long bytes = 0;
    for (size_t i = 0; i < n; i++) bytes += t->token_len[ids[i]];
    return bytes;
}

/* ---- statistics before training ---- */

typedef struct cached_stats {
    char *key; /* the data section */
    double bytes_per_token;
    int seq_tokens;
} cached_stats;

static cached_stats *stats;
static int stats_n, stats_cap;

int hn_token_corpus_stats(const cJSON *data, double *bytes_per_token, int *seq_tokens,
                          hn_error *err) {
    char *key = cJSON_PrintUnformatted(data);
    if (!key) return hn_fail(err, "out of memory");
    pthread_mutex_lock(&cache_lock);
    for (int i = 0; i < stats_n; i++)
        if (!strcmp(stats[i].key, key)) {
            *bytes_per_token = stats[i].bytes_per_token, *seq_tokens = stats[i].seq_tokens;
            pthread_mutex_unlock(&cache_lock);
            free(key);
            return HN_OK;
        }
    pthread_mutex_unlock(&cache_lock);
    hn_corpus c;
    hn_token_corpus t;
    /* the validation span does not matter here: any one past the first byte */
    int rc = hn_corpus_load(data, &c, err);
    if (rc == HN_OK) {
        rc = hn_token_corpus_open(&c, data, 1, 2, &t, err);
        if (rc == HN_OK) {
            *bytes_per_token = t.bytes_per_token, *seq_tokens = t.seq_tokens;
            hn_token_corpus_free(&t);
        }
        hn_corpus_free(&c);
    }
    if (rc != HN_OK) return free(key), HN_ERR;
    pthread_mutex_lock(&cache_lock);
    if (grow((void **)&stats, &stats_cap, stats_n, sizeof *stats) == 0)
        stats[stats_n++] = (cached_stats){key, *bytes_per_token, *seq_tokens};
    else
        free(key); /* not remembered: asked again, it is worked out again */
    pthread_mutex_unlock(&cache_lock);
    return HN_OK;
}
