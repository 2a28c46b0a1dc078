#include "dist/buckets.h"

#include <stdlib.h>
#include <string.h>

void hn_grad_buckets_free(hn_grad_buckets *b) {
    free(b->lo);
    free(b->hi);
    free(b->covering);
    free(b->pending);
    free(b->done);
    free(b->order);
    memset(b, 0, sizeof *b);
}

/* the buckets [*first, *last] that floats [lo, hi) touch; none when hi == lo */
static int buckets_of(const hn_grad_buckets *b, size_t lo, size_t hi, int *first, int *last) {
    if (hi <= lo) return 0;
    *first = (int)(lo / b->bucket);
    *last = (int)((hi - 1) / b->bucket);
    return 1;
}

int hn_grad_buckets_init(hn_grad_buckets *b, const size_t *offset, const size_t *numel,
                         int n_entries, size_t total, size_t bucket, hn_error *err) {
    memset(b, 0, sizeof *b);
    if (bucket == 0) return hn_fail(err, "gradient buckets of 0 floats");
    b->bucket = bucket;
    b->total = total;
    b->n_entries = n_entries;
    b->n_buckets = (int)((total + bucket - 1) / bucket);
    size_t ne = n_entries > 0 ? (size_t)n_entries : 1, nb = b->n_buckets > 0 ? (size_t)b->n_buckets : 1;
    b->lo = malloc(ne * sizeof *b->lo);
    b->hi = malloc(ne * sizeof *b->hi);
    b->done = malloc(ne);
    b->covering = calloc(nb, sizeof *b->covering);
    b->pending = malloc(nb * sizeof *b->pending);
    b->order = malloc(nb * sizeof *b->order);
    if (!b->lo || !b->hi || !b->done || !b->covering || !b->pending || !b->order) {
        hn_grad_buckets_free(b);
        return hn_fail(err, "out of memory for the gradient's buckets");
    }
    for (int i = 0; i < n_entries; i++) {
        b->lo[i] = offset[i];
        b->hi[i] = offset[i] + numel[i];
        if (b->hi[i] > total) {
            hn_grad_buckets_free(b);
            return hn_fail(err, "parameter %d ends at float %zu, beyond the %zu of the array", i,
                           offset[i] + numel[i], total);
        }
        int f, l;
        if (buckets_of(b, b->lo[i], b->hi[i], &f, &l))
            for (int k = f; k <= l; k++) b->covering[k]++;
    }
    hn_grad_buckets_reset(b);
    return HN_OK;
}

void hn_grad_buckets_reset(hn_grad_buckets *b) {
    b->n_ready = 0;
    if (b->n_entries > 0) memset(b->done, 0, (size_t)b->n_entries);
    for (int k = 0; k < b->n_buckets; k++) {
        b->pending[k] = b->covering[k];
        if (!b->pending[k]) b->order[b->n_ready++] = k;
    }
}

int hn_grad_buckets_finish(hn_grad_buckets *b, int i, hn_error *err) {
    if (i < 0 || i >= b->n_entries)
        return hn_fail(err, "the backward reported parameter %d final, and there are %d", i,
                       b->n_entries);
    if (b->done[i])
        return hn_fail(err, "the backward reported parameter %d final twice in one step: its "
                            "bucket may have left before its whole gradient (a bug)", i);
    b->done[i] = 1;
    int f, l;
    if (buckets_of(b, b->lo[i], b->hi[i], &f, &l))
        for (int k = f; k <= l; k++)
            if (--b->pending[k] == 0) b->order[b->n_ready++] = k;
    return HN_OK;
}

int hn_grad_buckets_finish_rest(hn_grad_buckets *b, int *first) {
    int n = 0;
    *first = -1;
    for (int i = 0; i < b->n_entries; i++) {
        if (b->done[i]) continue;
        if (!n) *first = i;
        n++;
        hn_error ignored;
        hn_grad_buckets_finish(b, i, &ignored);
    }
    return n;
}

void hn_grad_buckets_range(const hn_grad_buckets *b, int k, size_t *off, size_t *len) {
    *off = (size_t)k * b->bucket;
    *len = b->total - *off < b->bucket ? b->total - *off : b->bucket;
}
