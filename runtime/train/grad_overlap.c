#include "train/grad_overlap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A frozen group's gradient is zero in every bucket that leaves (as
 * hn_init_zero_frozen_grads does after an unoverlapped backward). */
static void zero_if_frozen(hn_grad_overlap *o, int i) {
    const hn_param_entry *e = &o->m->params.entries[i];
    if (o->init->n_frozen && e->group >= 0 && e->group < HN_INIT_MAX_GROUPS && o->init->frozen[e->group])
        o->m->be->zero(e->p.grad, e->numel * sizeof(float));
}

/* Starts the buckets made ready since the last call, in their order. */
static void start_ready(hn_grad_overlap *o) {
    for (; o->started < o->buckets.n_ready && !o->failed; o->started++) {
        size_t off, len;
        hn_grad_buckets_range(&o->buckets, o->buckets.order[o->started], &off, &len);
        if (hn_dist_start_sum(o->d, o->m->be, o->m->params.grads + off, len, o->share, &o->err))
            o->failed = 1;
    }
}

static void grads_done(void *ctx, int first, int count) {
    hn_grad_overlap *o = ctx;
    if (o->failed) return;
    for (int i = first; i < first + count && !o->failed; i++) {
        zero_if_frozen(o, i);
        if (hn_grad_buckets_finish(&o->buckets, i, &o->err)) o->failed = 1;
    }
    start_ready(o);
    hn_dist_progress(o->d);
}

int hn_grad_overlap_open(hn_grad_overlap *o, hn_dist *d, hn_model *m, const hn_init *init,
                         double share, int zero, hn_error *err) {
    memset(o, 0, sizeof *o);
    int wanted = hn_dist_overlap_wanted(d, m->be, err);
    if (wanted < 0) return HN_ERR;
    if (!wanted || zero) return HN_OK;
    hn_param_store *ps = &m->params;
    size_t *offset = malloc((size_t)(ps->n ? ps->n : 1) * sizeof *offset);
    size_t *numel = malloc((size_t)(ps->n ? ps->n : 1) * sizeof *numel);
    if (!offset || !numel) {
        free(offset);
        free(numel);
        return hn_fail(err, "out of memory for the gradient's buckets");
    }
    for (int i = 0; i < ps->n; i++) {
        offset[i] = ps->entries[i].offset;
        numel[i] = ps->entries[i].numel;
    }
    int rc = hn_grad_buckets_init(&o->buckets, offset, numel, ps->n, ps->total,
                                  hn_dist_bucket_floats(), err);
    free(offset);
    free(numel);
    if (rc) return HN_ERR;
    o->on = 1;
    o->d = d;
    o->m = m;
    o->init = init;
    o->share = share;
    ps->grads_done = grads_done;
    ps->grads_ctx = o;
    return HN_OK;
}

void hn_grad_overlap_begin(hn_grad_overlap *o) {
    if (!o->on) return;
    hn_grad_buckets_reset(&o->buckets);
    o->started = 0;
    o->failed = 0;
    start_ready(o); /* buckets of padding alone */
}

int hn_grad_overlap_end(hn_grad_overlap *o, hn_error *err) {
    if (!o->on) return HN_OK;
    for (int i = 0; i < o->buckets.n_entries; i++)
        if (!o->buckets.done[i]) zero_if_frozen(o, i);
    int first, late = hn_grad_buckets_finish_rest(&o->buckets, &first);
    if (late) {
        if (!o->warned && o->d->rank == 0)
            fprintf(stderr, "hnet: the backward did not report %d parameter%s final (the first: "
                            "%s); their buckets were summed after it (a missing grads_done call)\n",
                    late, late == 1 ? "" : "s", o->m->params.entries[first].p.name);
        o->warned = 1;
    }
    start_ready(o);
    /* every started sum is waited for, even after a failure (none may stay in flight) */
    hn_error e2;
    int rc = hn_dist_wait_sums(o->d, o->failed ? &e2 : err);
    if (o->failed) {
        *err = o->err;
        return HN_ERR;
    }
    return rc;
}

void hn_grad_overlap_close(hn_grad_overlap *o) {
    /* a step that failed between its first bucket and hn_grad_overlap_end (the backward,
     * the agreement) left sums in flight on the gradients about to be freed: they finish
     * first; their errors are the failure's consequence, already reported */
    if (o->on && o->d) {
        hn_error ignored;
        hn_dist_wait_sums(o->d, &ignored);
    }
    if (o->on && o->m && o->m->params.grads_done == grads_done) {
        o->m->params.grads_done = NULL;
        o->m->params.grads_ctx = NULL;
    }
    if (o->on) hn_grad_buckets_free(&o->buckets);
    memset(o, 0, sizeof *o);
}
