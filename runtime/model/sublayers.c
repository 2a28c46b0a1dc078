#include "model/sublayers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The prefix of a layer's parameter names: the full name of its first parameter less
 * the plugin's own name for it. */
static void layer_prefix(const hn_layer *l, const hn_param_store *store, char *out, size_t n) {
    out[0] = 0;
    if (l->n_params <= 0 || !store) return;
    hn_param *specs = calloc((size_t)l->n_params, sizeof *specs);
    if (!specs) return;
    l->plugin->describe_params(l->self, specs);
    const char *full = store->entries[l->first_param].p.name;
    size_t fl = strlen(full), rl = strlen(specs[0].name);
    if (fl >= rl && !strcmp(full + fl - rl, specs[0].name))
        snprintf(out, n, "%.*s", (int)(fl - rl), full);
    free(specs);
}

static void visit_network(const hn_network *net, hn_sublayer_fn fn, void *ctx) {
    char prefix[256];
    for (int i = 0; i < net->n_sub; i++) {
        const hn_layer *l = &net->subs[i].layer;
        layer_prefix(l, net->store, prefix, sizeof prefix);
        fn(l, prefix, ctx);
    }
}

static void visit_stage(const hn_stage *st, hn_sublayer_fn fn, void *ctx) {
    if (st->innermost) {
        visit_network(&st->main, fn, ctx);
        return;
    }
    visit_network(&st->encoder, fn, ctx);
    if (st->inner) visit_stage(st->inner, fn, ctx);
    visit_network(&st->decoder, fn, ctx);
}

void hn_model_visit_sublayers(const hn_model *m, hn_sublayer_fn fn, void *ctx) {
    visit_stage(&m->backbone, fn, ctx);
}

typedef struct active_count {
    const hn_param_store *store;
    long unused;
} active_count;

static void count_unused(const hn_layer *l, const char *prefix, void *ctx) {
    active_count *a = ctx;
    if (!l->plugin->active_param_count) return;
    long held = 0;
    for (int i = 0; i < l->n_params; i++) held += (long)a->store->entries[l->first_param + i].numel;
    long used = (long)l->plugin->active_param_count(l->self);
    if (used < held) a->unused += held - used;
}

long hn_model_active_param_count(const hn_model *m) {
    active_count a = {.store = &m->params, .unused = 0};
    hn_model_visit_sublayers(m, count_unused, &a);
    return hn_model_param_count(m) - a.unused;
}

typedef struct metric_walk {
    hn_metric_fn fn;
    void *ctx;
} metric_walk;

#define MAX_LAYER_METRICS 300

static void layer_metrics(const hn_layer *l, const char *prefix, void *ctx) {
    metric_walk *w = ctx;
    if (!l->plugin->metrics) return;
    hn_layer_metric ms[MAX_LAYER_METRICS];
    int n = l->plugin->metrics(l->self, ms, MAX_LAYER_METRICS);
    for (int i = 0; i < n; i++) {
        char name[320];
        snprintf(name, sizeof name, "%.255s%.48s", prefix, ms[i].name); /* fits: 255 + 48 < 320 */
        w->fn(name, ms[i].value, w->ctx);
    }
}

void hn_model_sublayer_metrics(const hn_model *m, hn_metric_fn fn, void *ctx) {
    metric_walk w = {.fn = fn, .ctx = ctx};
    hn_model_visit_sublayers(m, layer_metrics, &w);
}
