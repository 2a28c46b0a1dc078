/* A tokenizer's vocabulary as byte strings: id -> the bytes it stands for, and (for
 * tokenizers that look tokens up by their bytes) bytes -> id. Internal to runtime/data. */
#ifndef HN_DATA_TOKEN_TABLE_H
#define HN_DATA_TOKEN_TABLE_H

#include <stddef.h>
#include <stdint.h>

typedef struct hn_token_table {
    uint8_t **bytes;   /* [n] the token's bytes (NULL: id unused) */
    size_t *len;       /* [n] */
    size_t n;          /* ids 0 .. n-1 */
    int32_t *index;    /* open addressing over the used ids by their bytes; -1 empty */
    size_t index_cap;  /* a power of two, 0 before hn_token_table_index */
} hn_token_table;

/* Room for ids 0..n-1, all unused; 0, or -1 when out of memory. */
int hn_token_table_init(hn_token_table *t, size_t n);
void hn_token_table_free(hn_token_table *t);
/* Gives id the bytes p[0..len) (copied); -1 when out of memory. */
int hn_token_table_set(hn_token_table *t, int32_t id, const uint8_t *p, size_t len);
/* Builds the bytes -> id index over the ids set so far; the id of a second token with
 * the same bytes goes to *dup_a / *dup_b and 1 is returned; -1 when out of memory. */
int hn_token_table_index(hn_token_table *t, int32_t *dup_a, int32_t *dup_b);
/* The id whose bytes are p[0..len); -1 when none (the index must be built). */
int32_t hn_token_table_find(const hn_token_table *t, const uint8_t *p, size_t len);

#endif
