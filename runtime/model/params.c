#include "model/params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hn_params_init(hn_param_store *s, const hn_backend *be) {
    memset(s, 0, sizeof *s);
    s->be = be;
}

void hn_params_free(hn_param_store *s) {
    if (s->be) {
        if (s->values && s->be->params_arena) s->be->params_arena(s->values, s->total, 0);
        if (s->values) s->be->free(s->values);
        if (s->grads) s->be->free(s->grads);
    }
    free(s->entries);
    memset(s, 0, sizeof *s);
}

int hn_params_declare(hn_param_store *s, const char *prefix, const hn_param *p, int group,
                      hn_init_custom_fn init_custom, void *owner, int owner_index) {
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->entries = realloc(s->entries, (size_t)s->cap * sizeof *s->entries);
    }
    hn_param_entry *e = &s->entries[s->n];
    memset(e, 0, sizeof *e);
    e->p = *p;
    snprintf(e->p.name, sizeof e->p.name, "%s%s", prefix ? prefix : "", p->name);
    e->numel = 1;
    for (int d = 0; d < p->ndim; d++) e->numel *= (size_t)p->shape[d];
    e->group = group;
    e->init_custom = init_custom;
    e->owner = owner;
    e->owner_index = owner_index;
    return s->n++;
}

/* Fills host memory for one parameter from its own generator. */
static void init_values(const hn_param_entry *e, float *host, uint64_t seed, int index) {
    hn_rng rng = hn_rng_derive(seed, 0x9a7a0000ull + (uint64_t)index);
    switch (e->p.init) {
    case HN_INIT_ZEROS: memset(host, 0, e->numel * sizeof *host); break;
    case HN_INIT_ONES:
        for (size_t i = 0; i < e->numel; i++) host[i] = 1.0f;
        break;
    case HN_INIT_NORMAL:
        for (size_t i = 0; i < e->numel; i++) host[i] = (float)(e->p.a * hn_rng_normal(&rng));
        break;
    case HN_INIT_UNIFORM:
        for (size_t i = 0; i < e->numel; i++)
            host[i] = (float)(e->p.a + (e->p.b - e->p.a) * hn_rng_uniform(&rng));
        break;
    case HN_INIT_CUSTOM:
        memset(host, 0, e->numel * sizeof *host);
        if (e->init_custom) e->init_custom(e->owner, e->owner_index, host, e->numel, &rng);
        break;
    }
}

int hn_params_allocate(hn_param_store *s, uint64_t seed, hn_error *err) {
    size_t total = 0;
    for (int i = 0; i < s->n; i++) {
        s->entries[i].offset = total;
        /* keep every parameter 16-float aligned for vectorised device kernels */
        total += (s->entries[i].numel + 15) & ~(size_t)15;
    }
    s->total = total;
    s->values = s->be->alloc((total ? total : 1) * sizeof(float));
    s->grads = s->be->alloc((total ? total : 1) * sizeof(float));
    if (!s->values || !s->grads)
        return hn_fail(err, "out of %s memory for %zu parameters (%.1f MiB)", s->be->name, total,
                       2.0 * (double)total * 4 / 1048576.0);
    if (s->be->params_arena) s->be->params_arena(s->values, total, 1);
    size_t biggest = 0;
    for (int i = 0; i < s->n; i++)
        if (s->entries[i].numel > biggest) biggest = s->entries[i].numel;
    float *host = malloc((biggest ? biggest : 1) * sizeof *host);
    if (!host) return hn_fail(err, "out of host memory initialising parameters");
    for (int i = 0; i < s->n; i++) {
        hn_param_entry *e = &s->entries[i];
        if (e->p.init == HN_INIT_CUSTOM && !e->init_custom) {
            free(host);
            return hn_fail(err, "parameter %s asks for a custom initialiser, but its plugin has none",
                           e->p.name);
        }
        init_values(e, host, seed, i);
        s->be->upload(s->values + e->offset, host, e->numel * sizeof *host);
        e->p.value = s->values + e->offset;
        e->p.grad = s->grads + e->offset;
    }
    free(host);
    return HN_OK;
}

void hn_params_slice(const hn_param_store *s, int first, int count, hn_param *out) {
    for (int i = 0; i < count; i++) {
        out[i] = s->entries[first + i].p;
    }
}

void hn_params_zero_grads(hn_param_store *s) {
    if (s->grads) s->be->zero(s->grads, s->total * sizeof(float));
}

int hn_params_find(const hn_param_store *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->entries[i].p.name, name)) return i;
    return -1;
}
