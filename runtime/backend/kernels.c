/* The kernel registry (backend/kernels.h, kernels_host.h): one table per process. */
#include "backend/kernels_host.h"

#include <stdio.h>
#include <string.h>

#ifdef HN_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

#define HN_MAX_KERNELS 256

typedef struct kernel_entry {
    const hn_kernel_def *def;
    const void *owner;
    int refs; /* the same library loaded by several plugin registries */
    char owner_name[256];
} kernel_entry;

/* the runtime's own (kernels_builtin.c), there from the start */
extern const hn_kernel_def hn_kernel_swiglu_fwd, hn_kernel_swiglu_bwd;
static kernel_entry g_ops[HN_MAX_KERNELS] = {
    {&hn_kernel_swiglu_fwd, NULL, 1, "the runtime"},
    {&hn_kernel_swiglu_bwd, NULL, 1, "the runtime"},
};
static int g_n = 2;

/* held back while a plugin's entry runs */
static const hn_kernel_def *g_staged[HN_MAX_KERNELS];
static int g_n_staged, g_staging;
static hn_error g_staged_err;
static int g_staged_failed;

static int find_index(const char *name) {
    for (int i = 0; i < g_n; i++)
        if (!strcmp(g_ops[i].def->name, name)) return i;
    return -1;
}

static int check_def(const hn_kernel_def *def, hn_error *err) {
    if (!def) return hn_fail(err, "kernel registry: no op (a NULL def)");
    if (def->size < offsetof(hn_kernel_def, args))
        return hn_fail(err, "kernel registry: a def of %u bytes is too short to be one", def->size);
    if (!def->name || !*def->name) return hn_fail(err, "kernel registry: an op without a name");
    if (!def->cpu)
        return hn_fail(err, "kernel registry: op '%s' has no cpu implementation (every op needs "
                            "its float32 cpu twin)", def->name);
    if (!def->params_size) return hn_fail(err, "kernel registry: op '%s' has params_size 0", def->name);
    return HN_OK;
}

/* Adds def for owner; the same def again is a no-op. */
static int add(const hn_kernel_def *def, const void *owner, const char *owner_name, hn_error *err) {
    int i = find_index(def->name);
    if (i >= 0) {
        if (g_ops[i].def == def) {
            g_ops[i].refs++;
            return HN_OK;
        }
        return hn_fail(err, "kernel registry: op '%s' of %s is already registered by %s", def->name,
                       owner_name, g_ops[i].owner_name);
    }
    if (g_n == HN_MAX_KERNELS)
        return hn_fail(err, "kernel registry: too many ops (max %d)", HN_MAX_KERNELS);
    kernel_entry *e = &g_ops[g_n++];
    e->def = def;
    e->owner = owner;
    e->refs = 1;
    snprintf(e->owner_name, sizeof e->owner_name, "%s", owner_name);
    return HN_OK;
}

int hn_kernel_register(const hn_kernel_def *def, hn_error *err) {
    if (!g_staging) return check_def(def, err) ? HN_ERR : add(def, NULL, "the runtime", err);
    /* inside a plugin's entry: keep the first problem for commit to report */
    if (check_def(def, &g_staged_err)) {
        g_staged_failed = 1;
        return hn_fail(err, "%s", g_staged_err.msg);
    }
    if (g_n_staged == HN_MAX_KERNELS) {
        g_staged_failed = 1;
        hn_fail(&g_staged_err, "kernel registry: too many ops (max %d)", HN_MAX_KERNELS);
        return hn_fail(err, "%s", g_staged_err.msg);
    }
    g_staged[g_n_staged++] = def;
    return HN_OK;
}

const hn_kernel_def *hn_kernel_find(const char *name) {
    int i = name ? find_index(name) : -1;
    return i >= 0 ? g_ops[i].def : NULL;
}

/* A cuda op runs on be's instance (its stream and device), ordered with the instance's
 * work even when it launches on the legacy default stream (cuda_backend.h). */
static int call(const hn_backend *be, hn_kernel_fn fn, const void *params, const char *name) {
#ifdef HN_HAVE_CUDA
    if (be->kind == HN_DEVICE_CUDA) return hn_cuda_call_kernel(be, fn, params, name);
#endif
    (void)name;
    return fn(be, params);
}

int hn_kernel_launch(const hn_backend *be, const hn_kernel_def *def, const void *params,
                     hn_error *err) {
    hn_kernel_fn fn = be->kind == HN_DEVICE_CUDA ? def->cuda : def->cpu;
    if (!fn)
        return hn_fail(err, "op '%s' has no %s implementation%s", def->name, be->name,
                       be->kind == HN_DEVICE_CUDA ? " (its plugin was built without nvcc)" : "");
    if (call(be, fn, params, def->name)) {
        const char *why = be->device_error ? be->device_error() : NULL;
        return hn_fail(err, "op '%s' failed on %s%s%s", def->name, be->name, why ? ": " : "",
                       why ? why : " (it refused its arguments, or its launch failed)");
    }
    return HN_OK;
}

void hn_kernels_stage_begin(void) {
    g_staging = 1;
    g_n_staged = 0;
    g_staged_failed = 0;
}

int hn_kernels_stage_commit(const void *owner, const char *owner_name, hn_error *err) {
    g_staging = 0;
    int rc = HN_OK;
    if (g_staged_failed) rc = hn_fail(err, "%s: %s", owner_name, g_staged_err.msg);
    /* all or nothing: check every name first */
    for (int i = 0; i < g_n_staged && !rc; i++) {
        int j = find_index(g_staged[i]->name);
        if (j >= 0 && g_ops[j].def != g_staged[i])
            rc = hn_fail(err, "kernel registry: op '%s' of %s is already registered by %s",
                         g_staged[i]->name, owner_name, g_ops[j].owner_name);
        for (int k = 0; k < i && !rc; k++)
            if (!strcmp(g_staged[k]->name, g_staged[i]->name) && g_staged[k] != g_staged[i])
                rc = hn_fail(err, "kernel registry: %s registers two ops named '%s'", owner_name,
                             g_staged[i]->name);
    }
    if (!rc && g_n + g_n_staged > HN_MAX_KERNELS)
        rc = hn_fail(err, "kernel registry: too many ops (max %d)", HN_MAX_KERNELS);
    for (int i = 0; i < g_n_staged && !rc; i++) rc = add(g_staged[i], owner, owner_name, err);
    g_n_staged = 0;
    return rc;
}

void hn_kernels_stage_discard(void) {
    g_staging = 0;
    g_n_staged = 0;
}

void hn_kernels_remove_owner(const void *owner) {
    if (!owner) return;
    int j = 0;
    for (int i = 0; i < g_n; i++)
        if (g_ops[i].owner != owner || --g_ops[i].refs > 0) g_ops[j++] = g_ops[i];
    g_n = j;
}

int hn_kernels_count(void) { return g_n; }

const hn_kernel_def *hn_kernels_at(int i, const void **owner) {
    if (i < 0 || i >= g_n) return NULL;
    if (owner) *owner = g_ops[i].owner;
    return g_ops[i].def;
}
