#include "data/token_table.h"

#include <stdlib.h>
#include <string.h>

int hn_token_table_init(hn_token_table *t, size_t n) {
    memset(t, 0, sizeof *t);
    t->bytes = calloc(n ? n : 1, sizeof *t->bytes);
    t->len = calloc(n ? n : 1, sizeof *t->len);
    if (!t->bytes || !t->len) return hn_token_table_free(t), -1;
    t->n = n;
    return 0;
}

void hn_token_table_free(hn_token_table *t) {
    for (size_t i = 0; t->bytes && i < t->n; i++) free(t->bytes[i]);
    free(t->bytes);
    free(t->len);
    free(t->index);
    memset(t, 0, sizeof *t);
}

int hn_token_table_set(hn_token_table *t, int32_t id, const uint8_t *p, size_t len) {
    uint8_t *b = malloc(len ? len : 1);
    if (!b) return -1;
    if (len) memcpy(b, p, len);
    free(t->bytes[id]);
    t->bytes[id] = b, t->len[id] = len;
    return 0;
}

static uint64_t hash_bytes(const uint8_t *p, size_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

/* The slot of p[0..len): the id there, or an empty slot (-1) where it would go. */
static size_t slot_of(const hn_token_table *t, const uint8_t *p, size_t len) {
    size_t mask = t->index_cap - 1;
    for (size_t i = hash_bytes(p, len) & mask;; i = (i + 1) & mask) {
        int32_t id = t->index[i];
        if (id < 0 || (t->len[id] == len && memcmp(t->bytes[id], p, len) == 0)) return i;
    }
}

int hn_token_table_index(hn_token_table *t, int32_t *dup_a, int32_t *dup_b) {
    size_t used = 0, cap = 16;
    for (size_t i = 0; i < t->n; i++) used += t->bytes[i] != NULL;
    while (cap < 2 * used) cap *= 2;
    free(t->index);
    t->index = malloc(cap * sizeof *t->index);
    if (!t->index) return t->index_cap = 0, -1;
    t->index_cap = cap;
    for (size_t i = 0; i < cap; i++) t->index[i] = -1;
    for (size_t id = 0; id < t->n; id++) {
        if (!t->bytes[id]) continue;
        size_t s = slot_of(t, t->bytes[id], t->len[id]);
        if (t->index[s] >= 0) {
            *dup_a = t->index[s], *dup_b = (int32_t)id;
            return 1;
        }
        t->index[s] = (int32_t)id;
    }
    return 0;
}

int32_t hn_token_table_find(const hn_token_table *t, const uint8_t *p, size_t len) {
    if (!t->index_cap) return -1;
    return t->index[slot_of(t, p, len)];
}
