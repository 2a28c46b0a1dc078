/* tiktoken-format BPE (see tiktoken.h). */
#include "data/tiktoken.h"

#include <stdlib.h>
#include <string.h>

#include "data/pretokenize.h"
#include "data/read.h"
#include "data/token_table.h"

/* Llama 3's pattern (its tokenizer.py). */
static const char LLAMA3_PATTERN[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* Ranks above this are refused: the vocabulary is a table indexed by rank. */
#define MAX_RANK (1 << 24)

struct hn_tiktoken {
    hn_token_table table;
    hn_pretokenizer *pre;
};

/* ---- loading ---- */

static int b64_value(uint8_t c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Standard base64 with '=' padding; out has room for 3 * len / 4 bytes. Returns the
 * decoded length, or -1 when s is not base64. */
static long b64_decode(const uint8_t *s, size_t len, uint8_t *out) {
    if (len == 0 || len % 4) return -1;
    size_t pad = s[len - 1] == '=' ? (s[len - 2] == '=' ? 2 : 1) : 0;
    size_t n = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++) {
            int last = i + 4 == len;
            if (last && s[i + k] == '=' && k >= 4 - (int)pad) v[k] = 0;
            else if ((v[k] = b64_value(s[i + k])) < 0) return -1;
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        out[n++] = (uint8_t)(w >> 16);
        out[n++] = (uint8_t)(w >> 8);
        out[n++] = (uint8_t)w;
    }
    return (long)(n - pad);
}

/* One line "BASE64 RANK": the token's bytes into buf (*blen) and its rank; 0, or -1. */
static int parse_line(const uint8_t *line, size_t len, uint8_t *buf, long *blen, long *rank) {
    const uint8_t *sp = memchr(line, ' ', len);
    if (!sp || sp == line) return -1;
    size_t lb = (size_t)(sp - line), lr = len - lb - 1;
    if (lr == 0 || lr > 9) return -1;
    long r = 0;
    for (size_t i = 0; i < lr; i++) {
        if (sp[1 + i] < '0' || sp[1 + i] > '9') return -1;
        r = r * 10 + (sp[1 + i] - '0');
    }
    *blen = b64_decode(line, lb, buf);
    *rank = r;
    return *blen > 0 ? 0 : -1;
}

/* Splits buf into lines (CRLF or LF; blank lines skipped), calling fn on each. */
typedef int (*line_fn)(void *ctx, const uint8_t *line, size_t len, size_t lineno);
static int each_line(const hn_bytebuf *buf, line_fn fn, void *ctx) {
    size_t lineno = 0;
    for (size_t at = 0; at < buf->n;) {
        const uint8_t *line = buf->p + at, *nl = memchr(line, '\n', buf->n - at);
        size_t len = nl ? (size_t)(nl - line) : buf->n - at;
        at += len + 1, lineno++;
        if (len && line[len - 1] == '\r') len--;
        if (len == 0) continue;
        if (fn(ctx, line, len, lineno)) return -1;
    }
    return 0;
}

typedef struct load_ctx {
    hn_tiktoken *t;
    const char *path;
    hn_error *err;
    uint8_t *buf;
    long max_rank;
    size_t count;
    int pass; /* 0: check lines, find the largest rank; 1: fill the table */
} load_ctx;

static int load_line(void *vc, const uint8_t *line, size_t len, size_t lineno) {
    load_ctx *c = vc;
    long blen, rank;
    if (parse_line(line, len, c->buf, &blen, &rank) || rank >= MAX_RANK) {
        hn_fail(c->err, "tiktoken file %s:%zu: expected a base64 token, one space and a rank below "
                        "%d, got \"%.*s\"", c->path, lineno, MAX_RANK, (int)(len > 80 ? 80 : len), line);
        return -1;
    }
    if (c->pass == 0) {
        if (rank > c->max_rank) c->max_rank = rank;
        c->count++;
        return 0;
    }
    hn_token_table *tb = &c->t->table;
    if (tb->bytes[rank]) {
        hn_fail(c->err, "tiktoken file %s:%zu: rank %ld is given to two tokens", c->path, lineno, rank);
        return -1;
    }
    if (hn_token_table_set(tb, (int32_t)rank, c->buf, (size_t)blen)) {
        hn_fail(c->err, "tiktoken file %s: out of memory", c->path);
        return -1;
    }
    return 0;
}

static int load_file(hn_tiktoken *t, const char *path, hn_error *err) {
    hn_bytebuf buf = {0};
    if (hn_read_file_append(path, &buf, err) != HN_OK) {
        hn_bytebuf_free(&buf);
        return hn_fail_prefix(err, "tiktoken file");
    }
    load_ctx c = {.t = t, .path = path, .err = err, .max_rank = -1};
    size_t longest = 0, run = 0; /* the longest line bounds a decoded token */
    for (size_t i = 0; i < buf.n; i++) run = buf.p[i] == '\n' ? 0 : run + 1, longest = run > longest ? run : longest;
    c.buf = malloc(longest + 4);
    int rc = c.buf ? HN_OK : hn_fail(err, "tiktoken file %s: out of memory", path);
    if (rc == HN_OK && each_line(&buf, load_line, &c)) rc = HN_ERR;
    if (rc == HN_OK && c.count == 0) rc = hn_fail(err, "tiktoken file %s: no tokens", path);
    if (rc == HN_OK && hn_token_table_init(&t->table, (size_t)c.max_rank + 1))
        rc = hn_fail(err, "tiktoken file %s: out of memory", path);
    c.pass = 1;
    if (rc == HN_OK && each_line(&buf, load_line, &c)) rc = HN_ERR;
    free(c.buf);
    hn_bytebuf_free(&buf);
    return rc;
}

static int check_table(hn_tiktoken *t, const char *path, hn_error *err) {
    int32_t a, b;
    int dup = hn_token_table_index(&t->table, &a, &b);
    if (dup < 0) return hn_fail(err, "tiktoken file %s: out of memory", path);
    if (dup) return hn_fail(err, "tiktoken file %s: ranks %d and %d are the same bytes", path, (int)a, (int)b);
    for (int v = 0; v < 256; v++) {
        uint8_t byte = (uint8_t)v;
        if (hn_token_table_find(&t->table, &byte, 1) < 0)
            return hn_fail(err, "tiktoken file %s: no token for byte 0x%02x (a byte-level vocab "
                                "needs all 256)", path, v);
    }
    return HN_OK;
}

int hn_tiktoken_load(const char *path, hn_tiktoken **out, hn_error *err) {
    *out = NULL;
    hn_tiktoken *t = calloc(1, sizeof *t);
    if (!t) return hn_fail(err, "tiktoken: out of memory");
    if (load_file(t, path, err) || check_table(t, path, err) ||
        hn_pretokenizer_compile(LLAMA3_PATTERN, "tiktoken tokenizer", &t->pre, err)) {
        hn_tiktoken_free(t);
        return HN_ERR;
    }
    *out = t;
    return HN_OK;
}

void hn_tiktoken_free(hn_tiktoken *t) {
    if (!t) return;
    hn_token_table_free(&t->table);
    hn_pretokenizer_free(t->pre);
    free(t);
}

size_t hn_tiktoken_vocab_size(const hn_tiktoken *t) { return t->table.n; }

const uint8_t *hn_tiktoken_token(const hn_tiktoken *t, int32_t id, size_t *len) {
    if (id < 0 || (size_t)id >= t->table.n || !t->table.bytes[id]) return *len = 0, NULL;
    *len = t->table.len[id];
    return t->table.bytes[id];
}

/* ---- encoding ---- */

typedef struct encode_ctx {
    const hn_tiktoken *t;
    int32_t *ids;
    size_t n, cap;
    size_t *cut;     /* part boundaries of the piece being merged */
    int32_t *rank;   /* rank of the join of part i and i+1 (INT32_MAX: not a token) */
    size_t scratch;  /* room in cut / rank */
} encode_ctx;

static int32_t rank_of(const hn_tiktoken *t, const uint8_t *p, size_t len) {
    int32_t r = hn_token_table_find(&t->table, p, len);
    return r < 0 ? INT32_MAX : r;
}

static int push(encode_ctx *c, int32_t id) {
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 1024;
        int32_t *p = realloc(c->ids, cap * sizeof *p);
        if (!p) return -1;
        c->ids = p, c->cap = cap;
    }
    c->ids[c->n++] = id;
    return 0;
}

/* tiktoken's byte_pair_encode of one piece: parts start as single bytes; the adjacent
 * pair whose join has the lowest rank (leftmost among equals) merges, until none joins
 * into a token. A piece that is a token whole is that token. */
static int encode_piece(const uint8_t *p, size_t len, void *vc) {
    encode_ctx *c = vc;
    const hn_tiktoken *t = c->t;
    int32_t whole = rank_of(t, p, len);
    if (whole != INT32_MAX) return push(c, whole);
    if (len + 1 > c->scratch) {
        size_t cap = 2 * (len + 1);
        size_t *cut = realloc(c->cut, cap * sizeof *cut);
        if (!cut) return -1;
        c->cut = cut;
        int32_t *rank = realloc(c->rank, cap * sizeof *rank);
        if (!rank) return -1;
        c->rank = rank, c->scratch = cap;
    }
    size_t *cut = c->cut, m = len; /* parts: [cut[i], cut[i+1]), i < m */
    int32_t *rank = c->rank;
    for (size_t i = 0; i <= len; i++) cut[i] = i;
    for (size_t i = 0; i + 1 < m; i++) rank[i] = rank_of(t, p + cut[i], cut[i + 2] - cut[i]);
    while (m > 1) {
        size_t best = 0;
        for (size_t i = 1; i + 1 < m; i++)
            if (rank[i] < rank[best]) best = i;
        if (rank[best] == INT32_MAX) break;
        /* parts best and best+1 become one: drop cut best+1 */
        memmove(cut + best + 1, cut + best + 2, (m - best - 1) * sizeof *cut);
        memmove(rank + best, rank + best + 1, (m - best - 2) * sizeof *rank);
        m--;
        if (best + 1 < m) rank[best] = rank_of(t, p + cut[best], cut[best + 2] - cut[best]);
        if (best > 0) rank[best - 1] = rank_of(t, p + cut[best - 1], cut[best + 1] - cut[best - 1]);
    }
    for (size_t i = 0; i < m; i++)
        if (push(c, rank_of(t, p + cut[i], cut[i + 1] - cut[i]))) return -1;
    return 0;
}

int hn_tiktoken_encode(const hn_tiktoken *t, const uint8_t *p, size_t n, int32_t **ids,
                       size_t *nids, hn_error *err) {
    *ids = NULL, *nids = 0;
    encode_ctx c = {.t = t};
    int rc = hn_pretokenize(t->pre, p, n, encode_piece, &c, err);
    free(c.cut);
    free(c.rank);
    if (rc != HN_OK) {
        free(c.ids);
        return hn_fail_prefix(err, "tiktoken encode");
    }
    *ids = c.ids, *nids = c.n;
    return HN_OK;
}
