/* The counting behind the gradient all-reduce overlapped with the backward: which buckets
 * of the flat gradient are ready as parameters are reported final (dist/buckets.h), and
 * the model's reports themselves (hn_param_store.grads_done): in a 2-stage H-Net's
 * backward every parameter is reported exactly once, and its gradient at the report is
 * its gradient at the end of the backward (nothing adds to it after: a bucket started
 * then carries the whole of it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "dist/buckets.h"
#include "model/model.h"
#include "support/fixtures.h"

/* entries of odd sizes, each starting on a 16-float boundary as the store lays them out */
#define N_ENTRIES 9
static const size_t sizes[N_ENTRIES] = {1, 700, 3000, 17, 1024, 5, 2049, 333, 4100};

static size_t lay_out(size_t *offset, size_t *numel) {
    size_t at = 0;
    for (int i = 0; i < N_ENTRIES; i++) {
        offset[i] = at;
        numel[i] = sizes[i];
        at = (at + sizes[i] + 15) / 16 * 16;
    }
    return at;
}

/* the bucket order of entries finished last to first, as a backward does */
static void finish_in_reverse(hn_grad_buckets *b, int *order) {
    hn_error err;
    hn_grad_buckets_reset(b);
    for (int i = N_ENTRIES - 1; i >= 0; i--) {
        int before = b->n_ready;
        assert_int_equal(hn_grad_buckets_finish(b, i, &err), HN_OK);
        /* a bucket is ready exactly when every entry overlapping it is final */
        for (int k = 0; k < b->n_buckets; k++) {
            size_t lo = (size_t)k * b->bucket, hi = lo + b->bucket;
            int open = 0;
            for (int j = 0; j < N_ENTRIES; j++)
                open |= !b->done[j] && b->lo[j] < hi && b->hi[j] > lo && b->hi[j] > b->lo[j];
            int ready = 0;
            for (int r = 0; r < b->n_ready; r++) ready += b->order[r] == k;
            assert_int_equal(ready, !open);
        }
        assert_true(b->n_ready >= before);
    }
    memcpy(order, b->order, (size_t)b->n_ready * sizeof *order);
}

static void test_every_bucket_once_in_one_order(void **state) {
    size_t offset[N_ENTRIES], numel[N_ENTRIES];
    size_t total = lay_out(offset, numel);
    hn_grad_buckets b;
    hn_error err;
    assert_int_equal(hn_grad_buckets_init(&b, offset, numel, N_ENTRIES, total, 1024, &err), HN_OK);
    assert_int_equal(b.n_buckets, (int)((total + 1023) / 1024));
    int first[64], again[64];
    finish_in_reverse(&b, first);
    assert_int_equal(b.n_ready, b.n_buckets);
    int seen[64] = {0};
    for (int r = 0; r < b.n_buckets; r++) seen[first[r]]++;
    for (int k = 0; k < b.n_buckets; k++) assert_int_equal(seen[k], 1);
    /* the buckets of the last entry alone are ready first: sums start during the backward */
    assert_true((size_t)first[0] * 1024 >= offset[N_ENTRIES - 1]);
    /* another backward (another rank) readies them in the same order */
    finish_in_reverse(&b, again);
    assert_memory_equal(first, again, (size_t)b.n_buckets * sizeof *first);
    size_t off, len;
    hn_grad_buckets_range(&b, b.n_buckets - 1, &off, &len);
    assert_int_equal(off + len, total);
    hn_grad_buckets_free(&b);
}

static void test_twice_reported_and_unreported(void **state) {
    size_t offset[N_ENTRIES], numel[N_ENTRIES];
    size_t total = lay_out(offset, numel);
    hn_grad_buckets b;
    hn_error err;
    assert_int_equal(hn_grad_buckets_init(&b, offset, numel, N_ENTRIES, total, 1024, &err), HN_OK);
    assert_int_equal(hn_grad_buckets_finish(&b, 4, &err), HN_OK);
    assert_int_equal(hn_grad_buckets_finish(&b, 4, &err), HN_ERR);
    assert_non_null(strstr(err.msg, "parameter 4 final twice"));
    assert_int_equal(hn_grad_buckets_finish(&b, N_ENTRIES, &err), HN_ERR);
    int first;
    assert_int_equal(hn_grad_buckets_finish_rest(&b, &first), N_ENTRIES - 1);
    assert_int_equal(first, 0);
    assert_int_equal(b.n_ready, b.n_buckets);
    hn_grad_buckets_free(&b);
    /* padding that no entry covers is ready from the start */
    size_t one_off = 2048, one_len = 10;
    assert_int_equal(hn_grad_buckets_init(&b, &one_off, &one_len, 1, 4096, 1024, &err), HN_OK);
    assert_int_equal(b.n_ready, 3);
    hn_grad_buckets_free(&b);
}

/* ---- the model's reports ---- */

typedef struct reports {
    const hn_param_store *ps;
    int *count;
    float **at_report; /* each gradient as it was reported */
} reports;

static void note_report(void *ctx, int first, int n) {
    reports *r = ctx;
    for (int i = first; i < first + n; i++) {
        assert_true(i >= 0 && i < r->ps->n);
        const hn_param_entry *e = &r->ps->entries[i];
        r->count[i]++;
        r->at_report[i] = malloc(e->numel * sizeof(float) + 1);
        memcpy(r->at_report[i], e->p.grad, e->numel * sizeof(float));
    }
}

static void test_backward_reports_each_parameter_final_once(void **state) {
    hn_registry reg;
    assert_int_equal(registry_open(&reg), 0);
    const char *json =
        "{\"kind\":\"hnet\",\"vocab\":256,\"layout\":[\"m1T1\",[\"T1\",[\"T1\"],\"T1\"],\"T1m1\"],"
        "\"d\":[16,16,24],\"mlp\":[null,{\"plugin\":\"swiglu\",\"hidden\":32},"
        "{\"plugin\":\"swiglu\",\"hidden\":40}],"
        "\"layers\":{\"attention\":{\"heads\":2,\"window\":\"global\",\"rotary_dim\":4},"
        "\"mamba2\":{\"d_state\":8,\"headdim\":8}},"
        "\"chunker\":{\"plugin\":\"dc\",\"ratio\":[2,2]}}";
    cJSON *cfg = cJSON_Parse(json);
    hn_model m;
    hn_error err;
    if (hn_model_build(&m, cfg, &reg, hn_backend_get("cpu"), 3, &err)) fail_msg("%s", err.msg);
    int n = m.params.n;
    reports r = {.ps = &m.params, .count = calloc((size_t)n, sizeof(int)),
                 .at_report = calloc((size_t)n, sizeof(float *))};
    m.params.grads_done = note_report;
    m.params.grads_ctx = &r;
    enum { NS = 2, L = 32 };
    int32_t tok[NS * L], tgt[NS * L];
    for (int t = 0; t < NS * L; t++) tok[t] = "the quick brown fox jumps over "[t % 31], tgt[t] = tok[(t + 1) % (NS * L)];
    hn_loss loss;
    /* two steps: the second accumulates nothing stale (grads zeroed between) */
    for (int step = 0; step < 2; step++) {
        memset(r.count, 0, (size_t)n * sizeof(int));
        if (hn_model_forward(&m, tok, tgt, NS, L, &loss, &err) || hn_model_backward(&m, &err))
            fail_msg("%s", err.msg);
        for (int i = 0; i < n; i++) {
            const hn_param_entry *e = &m.params.entries[i];
            if (r.count[i] != 1) fail_msg("%s reported %d times", e->p.name, r.count[i]);
            if (memcmp(r.at_report[i], e->p.grad, e->numel * sizeof(float)))
                fail_msg("%s changed after it was reported final", e->p.name);
            free(r.at_report[i]);
            r.at_report[i] = NULL;
        }
        hn_params_zero_grads(&m.params);
    }
    free(r.count);
    free(r.at_report);
    hn_model_free(&m);
    cJSON_Delete(cfg);
    hn_registry_close(&reg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_bucket_once_in_one_order),
        cmocka_unit_test(test_twice_reported_and_unreported),
        cmocka_unit_test(test_backward_reports_each_parameter_final_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
