/* Log-likelihood of continuations given contexts, batched through the backend as a
 * training forward without gradients: the scoring behind zero-shot tasks
 * (lm-evaluation-harness's loglikelihood requests, at the byte level). */
#ifndef HN_EVAL_LOGLIK_H
#define HN_EVAL_LOGLIK_H

#include <stdint.h>

#include "model/model.h"

typedef struct hn_ll_request {
    const uint8_t *ctx;  /* may be empty: the continuation is then predicted from its own first byte on */
    int ctx_len;
    const uint8_t *cont; /* at least one byte */
    int cont_len;
} hn_ll_request;

typedef struct hn_ll_result {
    double logprob; /* natural log of P(cont | ctx), summed over its bytes */
    int greedy;     /* 1 when every byte of cont is the model's most likely next byte */
} hn_ll_result;

/* Scores n requests. A request longer than max_len bytes keeps its last max_len (the
 * context is cut from the left, as lm-evaluation-harness does); batch_bytes bounds the
 * bytes of one forward (requests of similar length are batched, right-padded: the
 * model is causal, so padding after a request changes none of its predictions). */
int hn_eval_loglik(hn_model *m, const hn_ll_request *req, int n, int max_len, long batch_bytes,
                   hn_ll_result *out, hn_error *err);

#endif
