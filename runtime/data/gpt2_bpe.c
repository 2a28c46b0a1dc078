/* GPT-2-format byte-level BPE (see gpt2_bpe.h). Tokens are kept as their byte strings
 * (vocab.json spells them through GPT-2's byte-to-unicode mapping, undone on load);
 * encoding pre-tokenises with GPT-2's regex, then merges each piece's byte ids by rank,
 * as GPT-2's encoder.py does: the best-ranked pair, every occurrence left to right. */
#include "data/gpt2_bpe.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "data/pretokenize.h"
#include "data/read.h"

/* GPT-2's pattern (encoder.py). Bytes it cannot match (invalid UTF-8) become pieces of
 * their own, so every byte is encoded. */
static const char GPT2_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/* Ids above this are refused: a vocab is a table indexed by id. */
#define MAX_ID (1 << 24)

typedef struct token {
    uint8_t *bytes; /* NULL for an id the vocab does not use */
    size_t n;
} token;

/* Open addressing: byte strings -> id, and id pairs -> merge. */
typedef struct str_slot {
    const uint8_t *p;
    size_t n;
    int32_t id; /* -1 when empty */
} str_slot;

typedef struct pair_slot {
    uint64_t key; /* (a << 32 | b) + 1; 0 when empty */
    int32_t rank, merged;
} pair_slot;

struct hn_bpe {
    token *tokens;
    size_t ntokens; /* max id + 1 */
    int32_t byte_id[256];
    str_slot *strs;
    size_t strs_cap;
    pair_slot *pairs;
    size_t pairs_cap;
    hn_pretokenizer *pre;
};

static uint64_t hash_bytes(const uint8_t *p, size_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33, x *= 0xff51afd7ed558ccdull, x ^= x >> 33;
    return x;
}

static str_slot *str_find(const hn_bpe *t, const uint8_t *p, size_t n) {
    size_t mask = t->strs_cap - 1;
    for (size_t i = hash_bytes(p, n) & mask;; i = (i + 1) & mask) {
        str_slot *s = &t->strs[i];
        if (s->id < 0 || (s->n == n && memcmp(s->p, p, n) == 0)) return s;
    }
}

static int32_t str_id(const hn_bpe *t, const uint8_t *p, size_t n) { return str_find(t, p, n)->id; }

static pair_slot *pair_find(const hn_bpe *t, int32_t a, int32_t b) {
    uint64_t key = ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1;
    size_t mask = t->pairs_cap - 1;
    for (size_t i = mix64(key) & mask;; i = (i + 1) & mask)
        if (t->pairs[i].key == 0 || t->pairs[i].key == key) return &t->pairs[i];
}

static size_t pow2_above(size_t n) {
    size_t c = 16;
    while (c < 2 * n) c *= 2;
    return c;
}

/* ---- GPT-2's byte <-> unicode mapping ---- */

/* The code point GPT-2 spells byte b with: printable Latin-1 stands for itself, the
 * other 68 bytes take 256, 257, ... in byte order. */
static uint32_t byte_to_cp(int b) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) return (uint32_t)b;
    int n = 0;
    for (int c = 0; c < b; c++)
        if (!((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255))) n++;
    return 256u + (uint32_t)n;
}

/* Decodes one UTF-8 code point at s[*i] (advancing *i); -1 when malformed. */
static int32_t utf8_next(const char *s, size_t len, size_t *i) {
    const uint8_t *u = (const uint8_t *)s + *i;
    size_t left = len - *i;
    if (u[0] < 0x80) return (*i)++, u[0];
    int extra = (u[0] & 0xe0) == 0xc0 ? 1 : (u[0] & 0xf0) == 0xe0 ? 2 : (u[0] & 0xf8) == 0xf0 ? 3 : -1;
    if (extra < 0 || (size_t)extra >= left) return -1;
    int32_t cp = u[0] & (0x3f >> extra);
    for (int k = 1; k <= extra; k++) {
        if ((u[k] & 0xc0) != 0x80) return -1;
        cp = cp << 6 | (u[k] & 0x3f);
    }
    *i += (size_t)extra + 1;
    return cp;
}

/* Turns a vocab key (GPT-2's unicode spelling) back into bytes; 0, or -1 when some
 * character is not one of the 256 the mapping uses. */
static int unmap_token(const char *s, const int16_t *cp_to_byte, token *out) {
    size_t len = strlen(s), i = 0, n = 0;
    uint8_t *b = malloc(len + 1);
    if (!b) return -1;
    while (i < len) {
        int32_t cp = utf8_next(s, len, &i);
        if (cp < 0 || cp >= 324 || cp_to_byte[cp] < 0) return free(b), -1;
        b[n++] = (uint8_t)cp_to_byte[cp];
    }
    out->bytes = b, out->n = n;
    return 0;
}

/* ---- loading ---- */

static int load_vocab(hn_bpe *t, const char *path, hn_error *err) {
    hn_bytebuf buf = {0};
    if (hn_read_file_append(path, &buf, err) != HN_OK) return hn_fail_prefix(err, "BPE vocab");
    cJSON *root = cJSON_ParseWithLength((const char *)buf.p, buf.n);
    hn_bytebuf_free(&buf);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return hn_fail(err, "BPE vocab %s: not a JSON object of token -> id", path);
    }
    int16_t cp_to_byte[324];
    memset(cp_to_byte, -1, sizeof cp_to_byte);
    for (int b = 0; b < 256; b++) cp_to_byte[byte_to_cp(b)] = (int16_t)b;

    size_t count = 0, max_id = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, root) {
        double v = e->valuedouble;
        if (!cJSON_IsNumber(e) || v < 0 || v >= MAX_ID || v != (double)(int32_t)v) {
            int r = hn_fail(err, "BPE vocab %s: the id of token \"%s\" is not an integer in "
                            "[0, %d)", path, e->string, MAX_ID);
            cJSON_Delete(root);
            return r;
        }
        if ((size_t)v > max_id) max_id = (size_t)v;
        count++;
    }
    if (count == 0) {
        cJSON_Delete(root);
        return hn_fail(err, "BPE vocab %s: no tokens", path);
    }
    t->ntokens = max_id + 1;
    t->strs_cap = pow2_above(count);
    t->tokens = calloc(t->ntokens, sizeof *t->tokens);
    t->strs = malloc(t->strs_cap * sizeof *t->strs);
    if (!t->tokens || !t->strs) {
        cJSON_Delete(root);
        return hn_fail(err, "BPE vocab %s: out of memory", path);
    }
    for (size_t i = 0; i < t->strs_cap; i++) t->strs[i].id = -1;

    cJSON_ArrayForEach(e, root) {
        int32_t id = (int32_t)e->valuedouble;
        token tok = {0};
        if (t->tokens[id].bytes) {
            cJSON_Delete(root);
            return hn_fail(err, "BPE vocab %s: id %d is given to two tokens", path, (int)id);
        }
        if (unmap_token(e->string, cp_to_byte, &tok) != 0 || tok.n == 0) {
            free(tok.bytes);
            int r = hn_fail(err, "BPE vocab %s: token \"%s\" (id %d) is not spelled in GPT-2's "
                            "byte-to-unicode characters", path, e->string, (int)id);
            cJSON_Delete(root);
            return r;
        }
        str_slot *s = str_find(t, tok.bytes, tok.n);
        if (s->id >= 0) {
            free(tok.bytes);
            cJSON_Delete(root);
            return hn_fail(err, "BPE vocab %s: two tokens spell the same bytes (ids %d and %d)",
                           path, (int)s->id, (int)id);
        }
        t->tokens[id] = tok;
        s->p = tok.bytes, s->n = tok.n, s->id = id;
    }
    cJSON_Delete(root);
    for (int b = 0; b < 256; b++) {
        uint8_t byte = (uint8_t)b;
        t->byte_id[b] = str_id(t, &byte, 1);
        if (t->byte_id[b] < 0)
            return hn_fail(err, "BPE vocab %s: no token for byte 0x%02x (a byte-level vocab "
                           "needs all 256)", path, b);
    }
    return HN_OK;
}

/* The id of the vocab token spelled s[0..len) in GPT-2's characters; -1 when none. */
static int32_t spelled_id(const hn_bpe *t, const char *s, size_t len) {
    int16_t cp_to_byte[324];
    memset(cp_to_byte, -1, sizeof cp_to_byte);
    for (int b = 0; b < 256; b++) cp_to_byte[byte_to_cp(b)] = (int16_t)b;
    uint8_t small[256];
    size_t i = 0, n = 0;
    while (i < len) {
        int32_t cp = utf8_next(s, len, &i);
        if (cp < 0 || cp >= 324 || cp_to_byte[cp] < 0 || n == sizeof small) return -1;
        small[n++] = (uint8_t)cp_to_byte[cp];
    }
    return n ? str_id(t, small, n) : -1;
}

static int load_merges(hn_bpe *t, const char *path, hn_error *err) {
    hn_bytebuf buf = {0};
    if (hn_read_file_append(path, &buf, err) != HN_OK) return hn_fail_prefix(err, "BPE merges");
    size_t lines = 1;
    for (size_t i = 0; i < buf.n; i++) lines += buf.p[i] == '\n';
    t->pairs_cap = pow2_above(lines);
    t->pairs = calloc(t->pairs_cap, sizeof *t->pairs);
    if (!t->pairs) return hn_bytebuf_free(&buf), hn_fail(err, "BPE merges %s: out of memory", path);

    int rc = HN_OK;
    int32_t rank = 0;
    size_t lineno = 0;
    for (size_t at = 0; at < buf.n && rc == HN_OK;) {
        const char *line = (const char *)buf.p + at;
        const uint8_t *nl = memchr(buf.p + at, '\n', buf.n - at);
        size_t len = nl ? (size_t)(nl - (buf.p + at)) : buf.n - at;
        at += len + 1, lineno++;
        if (len && line[len - 1] == '\r') len--;
        /* "#version: 0.2" heads GPT-2's file; blank lines (a trailing newline) say nothing */
        if (len == 0 || (lineno == 1 && line[0] == '#')) continue;
        const char *sp = memchr(line, ' ', len);
        size_t la = sp ? (size_t)(sp - line) : 0, lb = sp ? len - la - 1 : 0;
        if (!sp || la == 0 || lb == 0 || memchr(sp + 1, ' ', lb)) {
            rc = hn_fail(err, "BPE merges %s:%zu: expected two tokens separated by one space, "
                         "got \"%.*s\"", path, lineno, (int)(len > 80 ? 80 : len), line);
            break;
        }
        int32_t a = spelled_id(t, line, la), b = spelled_id(t, sp + 1, lb);
        if (a < 0 || b < 0) {
            rc = hn_fail(err, "BPE merges %s:%zu: token \"%.*s\" is not in the vocab", path, lineno,
                         (int)(a < 0 ? la : lb), a < 0 ? line : sp + 1);
            break;
        }
        size_t n = t->tokens[a].n + t->tokens[b].n;
        uint8_t *joined = malloc(n);
        if (!joined) {
            rc = hn_fail(err, "BPE merges %s: out of memory", path);
            break;
        }
        memcpy(joined, t->tokens[a].bytes, t->tokens[a].n);
        memcpy(joined + t->tokens[a].n, t->tokens[b].bytes, t->tokens[b].n);
        int32_t merged = str_id(t, joined, n);
        free(joined);
        if (merged < 0) {
            rc = hn_fail(err, "BPE merges %s:%zu: the merge of \"%.*s\" is not in the vocab", path,
                         lineno, (int)len, line);
            break;
        }
        pair_slot *s = pair_find(t, a, b);
        if (s->key == 0) /* a repeated merge keeps its first (best) rank */
            *s = (pair_slot){((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1, rank++, merged};
    }
    hn_bytebuf_free(&buf);
    return rc;
}

int hn_bpe_load(const char *vocab_path, const char *merges_path, hn_bpe **out, hn_error *err) {
    *out = NULL;
    hn_bpe *t = calloc(1, sizeof *t);
    if (!t) return hn_fail(err, "BPE tokenizer: out of memory");
    if (load_vocab(t, vocab_path, err) != HN_OK || load_merges(t, merges_path, err) != HN_OK) {
        hn_bpe_free(t);
        return HN_ERR;
    }
    if (hn_pretokenizer_compile(GPT2_PATTERN, "BPE tokenizer", &t->pre, err) != HN_OK) {
        hn_bpe_free(t);
        return HN_ERR;
    }
    *out = t;
    return HN_OK;
}

void hn_bpe_free(hn_bpe *t) {
    if (!t) return;
    for (size_t i = 0; t->tokens && i < t->ntokens; i++) free(t->tokens[i].bytes);
    free(t->tokens);
    free(t->strs);
    free(t->pairs);
    hn_pretokenizer_free(t->pre);
    free(t);
}

size_t hn_bpe_vocab_size(const hn_bpe *t) { return t->ntokens; }

const uint8_t *hn_bpe_token(const hn_bpe *t, int32_t id, size_t *len) {
    if (id < 0 || (size_t)id >= t->ntokens || !t->tokens[id].bytes) return *len = 0, NULL;
    *len = t->tokens[id].n;
    return t->tokens[id].bytes;
}

/* ---- encoding ---- */

typedef struct idbuf {
    int32_t *p;
    size_t n, cap;
} idbuf;

static int idbuf_reserve(idbuf *b, size_t more) {
    if (b->n + more <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + more) cap *= 2;
    int32_t *p = realloc(b->p, cap * sizeof *p);
    if (!p) return -1;
    b->p = p, b->cap = cap;
    return 0;
}

/* Appends the BPE of one piece: its byte ids, merged best rank first. */
static int encode_piece(const hn_bpe *t, const uint8_t *p, size_t n, idbuf *out) {
    if (idbuf_reserve(out, n) != 0) return -1;
    int32_t *w = out->p + out->n;
    for (size_t i = 0; i < n; i++) w[i] = t->byte_id[p[i]];
    size_t len = n;
    while (len > 1) {
        int32_t best = INT32_MAX, a = 0, b = 0, merged = 0;
        for (size_t i = 0; i + 1 < len; i++) {
            const pair_slot *s = pair_find(t, w[i], w[i + 1]);
            if (s->key && s->rank < best) best = s->rank, a = w[i], b = w[i + 1], merged = s->merged;
        }
        if (best == INT32_MAX) break;
        size_t k = 0;
        for (size_t i = 0; i < len; i++) {
            if (i + 1 < len && w[i] == a && w[i + 1] == b) w[k++] = merged, i++;
            else w[k++] = w[i];
        }
        len = k;
    }
    out->n += len;
    return 0;
}

typedef struct encode_ctx {
    const hn_bpe *t;
    idbuf out;
} encode_ctx;

static int encode_one(const uint8_t *piece, size_t len, void *ctx) {
    encode_ctx *c = ctx;
    return encode_piece(c->t, piece, len, &c->out);
}

int hn_bpe_encode(const hn_bpe *t, const uint8_t *p, size_t n, int32_t **ids, size_t *nids,
                  hn_error *err) {
    *ids = NULL, *nids = 0;
    encode_ctx c = {.t = t};
    if (hn_pretokenize(t->pre, p, n, encode_one, &c, err) != HN_OK) {
        free(c.out.p);
        return hn_fail_prefix(err, "BPE encode");
    }
    *ids = c.out.p, *nids = c.out.n;
    return HN_OK;
}

/* ---- decoding ---- */

int hn_bpe_decode(const hn_bpe *t, const int32_t *ids, size_t nids, uint8_t **out, size_t *nout,
                  hn_error *err) {
    *out = NULL, *nout = 0;
    size_t total = 0;
    for (size_t i = 0; i < nids; i++) {
        if (ids[i] < 0 || (size_t)ids[i] >= t->ntokens || !t->tokens[ids[i]].bytes)
            return hn_fail(err, "BPE decode: id %d (at %zu) is not in the vocab", (int)ids[i], i);
        total += t->tokens[ids[i]].n;
    }
    uint8_t *b = malloc(total + 1);
    if (!b) return hn_fail(err, "BPE decode: out of memory");
    size_t k = 0;
    for (size_t i = 0; i < nids; i++) {
        memcpy(b + k, t->tokens[ids[i]].bytes, t->tokens[ids[i]].n);
        k += t->tokens[ids[i]].n;
    }
    b[k] = 0;
    *out = b, *nout = k;
    return HN_OK;
}
