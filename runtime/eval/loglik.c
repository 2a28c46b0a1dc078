#include "eval/loglik.h"

#include <stdlib.h>
#include <string.h>

static const hn_ll_request *sort_base;

static int total_len(const hn_ll_request *r) { return r->ctx_len + r->cont_len; }

static int by_length_desc(const void *a, const void *b) {
    int la = total_len(&sort_base[*(const int *)a]), lb = total_len(&sort_base[*(const int *)b]);
    return la != lb ? lb - la : *(const int *)a - *(const int *)b;
}

/* The inputs and next-byte targets of one request, right-padded to L, and the target
 * position of its continuation's first byte. */
static void lay_out(const hn_ll_request *r, int max_len, int32_t *tok, int32_t *tgt, int L,
                    int *first, int *count) {
    int len = total_len(r); /* bytes of ctx + cont; predictions: len - 1 */
    int skip = len - 1 > max_len ? len - 1 - max_len : 0;
    int used = len - skip; /* bytes laid out: used - 1 inputs, used - 1 targets */
    for (int t = 0; t < L; t++) {
        int i = skip + t;
        int have = t < used - 1;
        tok[t] = have ? (i < r->ctx_len ? r->ctx[i] : r->cont[i - r->ctx_len]) : 0;
        int j = i + 1;
        tgt[t] = have ? (j < r->ctx_len ? r->ctx[j] : r->cont[j - r->ctx_len]) : 0;
    }
    /* target position t predicts byte skip + t + 1; the continuation starts at ctx_len */
    *first = r->ctx_len - 1 - skip;
    *count = r->cont_len;
}

int hn_eval_loglik(hn_model *m, const hn_ll_request *req, int n, int max_len, long batch_bytes,
                   hn_ll_result *out, hn_error *err) {
    if (max_len < 2 || batch_bytes < 1) return hn_fail(err, "log-likelihood: max_len must be >= 2");
    for (int i = 0; i < n; i++) {
        if (req[i].cont_len < 1) return hn_fail(err, "log-likelihood: request %d has an empty continuation", i);
        if (req[i].cont_len > max_len)
            return hn_fail(err, "log-likelihood: a continuation of %d bytes exceeds the %d-byte window",
                           req[i].cont_len, max_len);
        /* with no context the first continuation byte could not be predicted */
        if (req[i].ctx_len < 1) return hn_fail(err, "log-likelihood: request %d has an empty context", i);
    }
    size_t cap = (size_t)(n > 0 ? n : 1);
    int *order = malloc(cap * sizeof *order), *first = malloc(cap * sizeof *first),
        *count = malloc(cap * sizeof *count);
    int32_t *tok = NULL, *tgt = NULL;
    float *logits = NULL;
    if (!order || !first || !count) {
        free(order), free(first), free(count);
        return hn_fail(err, "log-likelihood: out of memory");
    }
    for (int i = 0; i < n; i++) order[i] = i;
    sort_base = req;
    qsort(order, (size_t)n, sizeof *order, by_length_desc);
    int was = m->no_grad, rc = HN_OK;
    m->no_grad = 1;
    for (int k = 0; k < n && rc == HN_OK;) {
        /* the longest request first: it fixes the batch's window */
        int L = total_len(&req[order[k]]) - 1;
        if (L > max_len) L = max_len;
        int B = (int)(batch_bytes / L);
        if (B < 1) B = 1;
        if (B > n - k) B = n - k;
        size_t T = (size_t)B * (size_t)L;
        int32_t *t1 = realloc(tok, T * sizeof *tok), *t2 = realloc(tgt, T * sizeof *tgt);
        if (t1) tok = t1;
        if (t2) tgt = t2;
        float *lg = realloc(logits, T * (size_t)m->vocab * sizeof *logits);
        if (lg) logits = lg;
        if (!t1 || !t2 || !lg) {
            rc = hn_fail(err, "log-likelihood: out of memory");
            break;
        }
        for (int b = 0; b < B; b++)
            lay_out(&req[order[k + b]], max_len, tok + (size_t)b * L, tgt + (size_t)b * L, L,
                    &first[b], &count[b]);
        hn_loss loss;
        rc = hn_model_forward(m, tok, tgt, B, L, &loss, err);
        if (rc) break;
        m->be->download(logits, m->logits, T * (size_t)m->vocab * sizeof *logits);
        for (int b = 0; b < B; b++) {
            hn_ll_result *o = &out[order[k + b]];
            o->logprob = 0;
            o->greedy = 1;
            for (int q = 0; q < count[b]; q++) {
                size_t t = (size_t)b * L + (size_t)(first[b] + q);
                o->logprob -= m->loss_host[t];
                const float *row = logits + t * (size_t)m->vocab;
                int best = 0;
                for (int v = 1; v < m->vocab; v++)
                    if (row[v] > row[best]) best = v;
                if (best != tgt[t]) o->greedy = 0;
            }
        }
        k += B;
    }
    m->no_grad = was;
    free(order);
    free(first);
    free(count);
    free(tok);
    free(tgt);
    free(logits);
    return rc;
}
