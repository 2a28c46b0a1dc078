/* bf16 copies of the parameters for the matrix products: "bf16 weights, fp32 master
 * weights". The runtime names its parameter arena (hn_backend.params_arena); in bf16
 * matmul mode the backend keeps a bf16 copy of it, so a product with a weight operand
 * reads that copy instead of rounding the fp32 weight again on every call.
 *
 * Keeping the copy equal to round(fp32 master): AdamW writes both (k_adamw gets the
 * shadow pointer); any other write into an arena (upload of an initialisation or a
 * checkpoint, copy, zero, fill, add, scale) marks the arena stale, and the next product
 * that reads it converts the whole arena once. The copy is made on first use, so fp32
 * and tf32 modes never allocate it. */
#include <cuda_bf16.h>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_ops.cuh"
#include "backend/cuda/instance.cuh"

/* the arenas are the instance's (its models' parameters live on its device) */
#define MAX_ARENAS HN_CUDA_ARENAS
typedef hn_cuda_arena arena;
#define g_arenas (hn_cuda_cur()->arenas)

void hn_cuda_params_arena(const float *values, size_t n, int on) {
    for (int i = 0; i < MAX_ARENAS; i++)
        if (g_arenas[i].base == values) { /* forget any earlier registration */
            if (g_arenas[i].bf) hn_cuda_free(g_arenas[i].bf);
            g_arenas[i] = arena{NULL, 0, NULL, 0};
        }
    if (!on || !values || !n) return;
    for (int i = 0; i < MAX_ARENAS; i++)
        if (!g_arenas[i].base) {
            g_arenas[i] = arena{values, n, NULL, 1};
            return;
        }
    /* more live models than slots: their products convert per call, still correct */
}

void hn_cuda_release_arenas(hn_cuda_instance *inst) {
    for (int i = 0; i < MAX_ARENAS; i++) {
        hn_cuda_free(inst->arenas[i].bf);
        inst->arenas[i] = arena{NULL, 0, NULL, 0};
    }
}

static arena *arena_of(const void *p) {
    const float *f = (const float *)p;
    for (int i = 0; i < MAX_ARENAS; i++) {
        arena *a = &g_arenas[i];
        if (a->base && f >= a->base && f < a->base + a->n) return a;
    }
    return NULL;
}

void hn_cuda_shadow_touch(const void *p, size_t bytes) {
    if (!bytes) return;
    const char *lo = (const char *)p, *hi = lo + bytes;
    for (int i = 0; i < MAX_ARENAS; i++) {
        arena *a = &g_arenas[i];
        if (a->base && lo < (const char *)(a->base + a->n) && hi > (const char *)a->base)
            a->stale = 1;
    }
}

const void *hn_cuda_shadow_read(const float *p, size_t count) {
    arena *a = arena_of(p);
    if (!a || p + count > a->base + a->n) return NULL;
    if (!a->bf) {
        a->bf = hn_cuda_alloc(a->n * sizeof(__nv_bfloat16));
        if (!a->bf) return NULL; /* out of memory: convert per call instead */
        a->stale = 1;
    }
    if (a->stale) {
        hn_cuda_pack_bf16((uint16_t *)a->bf, a->base, a->n); /* the same rounding */
        a->stale = 0;
    }
    return (__nv_bfloat16 *)a->bf + (p - a->base);
}

void *hn_cuda_shadow_update(const float *p, size_t count) {
    arena *a = arena_of(p);
    if (!a || !a->bf || a->stale || p + count > a->base + a->n) return NULL;
    return (__nv_bfloat16 *)a->bf + (p - a->base);
}
