/* Attention through cuDNN's fused flash attention (the "cudnn" attention mode; issue #16's
 * second route). cuDNN has no attention call: its backend API takes a graph of small
 * operations (two matrix products, the scale, the masks, the softmax) and recognises the
 * whole as one fused kernel. The graphs built here are the ones cudnn-frontend's SDPA node
 * builds for cuDNN 9.x (checked against the calls PyTorch's cuDNN attention makes,
 * bench/NOTES.md "Session 11"), in its packed ("ragged", THD) form: one sequence per batch
 * entry, each at its own offset in the packed rows, so that the lengths change every step
 * without a new plan. A plan is kept per (batch, longest sequence rounded up to a power of
 * two, heads, head width, window, row strides).
 *
 * libcudnn is opened with dlopen on first use (hnet does not link it): where it is absent
 * or refuses a shape, the caller runs hnet's own kernels. Forward and backward are both
 * cuDNN's (the log-sum-exp it keeps is hnet's [T, heads] layout, so either may pair with
 * hnet's own); the backward accumulates dQ with atomics, so it is not deterministic. */
#include <cudnn_graph.h>
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/attention_cudnn.cuh"
#include "backend/cuda/attention_tiled.cuh"
#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/cuda_ops.cuh"
#include "backend/cuda/instance.cuh"

/* ---- the library, opened once per process ---- */

typedef cudnnBackendDescriptor_t desc_t;

static struct cudnn_api {
    int tried, ok;
    char why[256];
    size_t version;
    cudnnStatus_t (*create)(cudnnHandle_t *);
    cudnnStatus_t (*destroy)(cudnnHandle_t);
    cudnnStatus_t (*set_stream)(cudnnHandle_t, cudaStream_t);
    size_t (*get_version)(void);
    const char *(*error_string)(cudnnStatus_t);
    void (*last_error)(char *, size_t);
    cudnnStatus_t (*make)(cudnnBackendDescriptorType_t, desc_t *);
    cudnnStatus_t (*free_desc)(desc_t);
    cudnnStatus_t (*finalize)(desc_t);
    cudnnStatus_t (*set)(desc_t, cudnnBackendAttributeName_t, cudnnBackendAttributeType_t,
                         int64_t, const void *);
    cudnnStatus_t (*get)(desc_t, cudnnBackendAttributeName_t, cudnnBackendAttributeType_t,
                         int64_t, int64_t *, void *);
    cudnnStatus_t (*execute)(cudnnHandle_t, desc_t, desc_t);
} api;
static pthread_mutex_t api_lock = PTHREAD_MUTEX_INITIALIZER;

static void *sym(void *lib, const char *name, int *missing) {
    void *p = dlsym(lib, name);
    if (!p) *missing = 1;
    return p;
}

/* HNET_CUDNN_LIB names the library where the loader would not find it (for example
 * PyTorch's copy in site-packages/nvidia/cudnn/lib; its folder must also be on
 * LD_LIBRARY_PATH, since libcudnn opens its parts by name). */
static int load_api(void) {
    pthread_mutex_lock(&api_lock);
    if (!api.tried) {
        api.tried = 1;
        const char *names[] = {getenv("HNET_CUDNN_LIB"), "libcudnn.so.9", "libcudnn.so"};
        void *lib = NULL;
        for (int i = 0; i < 3 && !lib; i++)
            if (names[i] && *names[i]) lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (!lib) {
            snprintf(api.why, sizeof api.why, "libcudnn.so.9 not found (%s)", dlerror());
        } else {
            int missing = 0;
            *(void **)&api.create = sym(lib, "cudnnCreate", &missing);
            *(void **)&api.destroy = sym(lib, "cudnnDestroy", &missing);
            *(void **)&api.set_stream = sym(lib, "cudnnSetStream", &missing);
            *(void **)&api.get_version = sym(lib, "cudnnGetVersion", &missing);
            *(void **)&api.error_string = sym(lib, "cudnnGetErrorString", &missing);
            *(void **)&api.last_error = sym(lib, "cudnnGetLastErrorString", &missing);
            *(void **)&api.make = sym(lib, "cudnnBackendCreateDescriptor", &missing);
            *(void **)&api.free_desc = sym(lib, "cudnnBackendDestroyDescriptor", &missing);
            *(void **)&api.finalize = sym(lib, "cudnnBackendFinalize", &missing);
            *(void **)&api.set = sym(lib, "cudnnBackendSetAttribute", &missing);
            *(void **)&api.get = sym(lib, "cudnnBackendGetAttribute", &missing);
            *(void **)&api.execute = sym(lib, "cudnnBackendExecute", &missing);
            if (missing) {
                snprintf(api.why, sizeof api.why, "libcudnn lacks the backend API (cuDNN < 9?)");
            } else {
                api.version = api.get_version();
                /* the ragged (packed) graphs with their log-sum-exp in the packed layout
                 * need 9.6 or newer */
                if (api.version < 90600)
                    snprintf(api.why, sizeof api.why, "cuDNN %zu is older than 9.6", api.version);
                else
                    api.ok = 1;
            }
        }
    }
    pthread_mutex_unlock(&api_lock);
    return api.ok;
}

/* ---- graph construction: every call checked, the first failure kept ---- */

#define GB_MAX_DESC 192
#define GB_MAX_OPS 48

typedef struct graph_builder {
    desc_t made[GB_MAX_DESC]; /* destroyed when the plan is made (the plan keeps its own) */
    int n_made;
    desc_t ops[GB_MAX_OPS];
    int n_ops;
    int64_t next_uid; /* for virtual tensors */
    cudnnStatus_t status;
    char where[96];
} graph_builder;

static int gb_ok(graph_builder *g) { return g->status == CUDNN_STATUS_SUCCESS; }

static void gb_fail(graph_builder *g, cudnnStatus_t s, const char *where) {
    if (s != CUDNN_STATUS_SUCCESS && gb_ok(g)) {
        g->status = s;
        snprintf(g->where, sizeof g->where, "%s", where);
    }
}

static desc_t gb_make(graph_builder *g, cudnnBackendDescriptorType_t type) {
    desc_t d = NULL;
    if (!gb_ok(g)) return NULL;
    if (g->n_made == GB_MAX_DESC) {
        gb_fail(g, CUDNN_STATUS_INTERNAL_ERROR, "too many descriptors");
        return NULL;
    }
    gb_fail(g, api.make(type, &d), "create descriptor");
    if (d) g->made[g->n_made++] = d;
    return d;
}

static void gb_set(graph_builder *g, desc_t d, cudnnBackendAttributeName_t name,
                   cudnnBackendAttributeType_t type, int64_t n, const void *v) {
    if (gb_ok(g)) gb_fail(g, api.set(d, name, type, n, v), "set attribute");
}

static void gb_finalize(graph_builder *g, desc_t d, const char *what) {
    if (gb_ok(g)) gb_fail(g, api.finalize(d), what);
}

static void gb_release(graph_builder *g) {
    for (int i = g->n_made - 1; i >= 0; i--) api.free_desc(g->made[i]);
    g->n_made = 0;
}

static void set_desc(graph_builder *g, desc_t d, cudnnBackendAttributeName_t name, desc_t v) {
    gb_set(g, d, name, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &v);
}

/* a 4-d tensor [b, h, s, d]; ragged: the int32 tensor of per-sequence element offsets */
static desc_t tensor(graph_builder *g, int64_t uid, cudnnDataType_t dt, const int64_t dim[4],
                     const int64_t stride[4], int is_virtual, int by_value, desc_t ragged) {
    desc_t t = gb_make(g, CUDNN_BACKEND_TENSOR_DESCRIPTOR);
    int64_t align = 16;
    bool yes = true;
    gb_set(g, t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &dt);
    gb_set(g, t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dim);
    gb_set(g, t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, stride);
    gb_set(g, t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid);
    gb_set(g, t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align);
    if (is_virtual) gb_set(g, t, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &yes);
    if (by_value) gb_set(g, t, CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &yes);
    if (ragged) set_desc(g, t, CUDNN_ATTR_TENSOR_RAGGED_OFFSET_DESC, ragged);
    gb_finalize(g, t, "tensor");
    return t;
}

static desc_t virt(graph_builder *g, cudnnDataType_t dt, const int64_t dim[4],
                   const int64_t stride[4]) {
    return tensor(g, g->next_uid++, dt, dim, stride, 1, 0, NULL);
}

static desc_t scalar(graph_builder *g, int64_t uid) {
    static const int64_t one[4] = {1, 1, 1, 1};
    return tensor(g, uid, CUDNN_DATA_FLOAT, one, one, 0, 1, NULL);
}

static void add_op(graph_builder *g, desc_t op) {
    if (!gb_ok(g)) return;
    if (g->n_ops == GB_MAX_OPS) {
        gb_fail(g, CUDNN_STATUS_INTERNAL_ERROR, "too many operations");
        return;
    }
    g->ops[g->n_ops++] = op;
}

/* y = mode(x, b, t); axis >= 0 for the index generator (and as the frontend sets it) */
static void pointwise(graph_builder *g, cudnnPointwiseMode_t mode, cudnnDataType_t prec,
                      desc_t x, desc_t b, desc_t t, desc_t y, int64_t axis) {
    desc_t pw = gb_make(g, CUDNN_BACKEND_POINTWISE_DESCRIPTOR);
    gb_set(g, pw, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode);
    gb_set(g, pw, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &prec);
    if (axis >= 0) gb_set(g, pw, CUDNN_ATTR_POINTWISE_AXIS, CUDNN_TYPE_INT64, 1, &axis);
    gb_finalize(g, pw, "pointwise");
    desc_t op = gb_make(g, CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
    float one = 1.0f;
    set_desc(g, op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, pw);
    set_desc(g, op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, x);
    set_desc(g, op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, y);
    if (b) set_desc(g, op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, b);
    if (t) set_desc(g, op, CUDNN_ATTR_OPERATION_POINTWISE_TDESC, t);
    gb_set(g, op, CUDNN_ATTR_OPERATION_POINTWISE_ALPHA1, CUDNN_TYPE_FLOAT, 1, &one);
    gb_set(g, op, CUDNN_ATTR_OPERATION_POINTWISE_ALPHA2, CUDNN_TYPE_FLOAT, 1, &one);
    gb_finalize(g, op, "pointwise operation");
    add_op(g, op);
}

static void reduction(graph_builder *g, cudnnReduceTensorOp_t how, desc_t x, desc_t y) {
    desc_t r = gb_make(g, CUDNN_BACKEND_REDUCTION_DESCRIPTOR);
    cudnnDataType_t f32 = CUDNN_DATA_FLOAT;
    bool no = false;
    gb_set(g, r, CUDNN_ATTR_REDUCTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &f32);
    gb_set(g, r, CUDNN_ATTR_REDUCTION_OPERATOR, CUDNN_TYPE_REDUCTION_OPERATOR_TYPE, 1, &how);
    gb_set(g, r, CUDNN_ATTR_REDUCTION_IS_DETERMINISTIC, CUDNN_TYPE_BOOLEAN, 1, &no);
    gb_finalize(g, r, "reduction");
    desc_t op = gb_make(g, CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR);
    set_desc(g, op, CUDNN_ATTR_OPERATION_REDUCTION_DESC, r);
    set_desc(g, op, CUDNN_ATTR_OPERATION_REDUCTION_XDESC, x);
    set_desc(g, op, CUDNN_ATTR_OPERATION_REDUCTION_YDESC, y);
    gb_finalize(g, op, "reduction operation");
    add_op(g, op);
}

/* c = a b per (batch, head); the overrides are the per-sequence lengths of the rows (m),
 * columns (n) or inner dimension (k) */
static void matmul(graph_builder *g, desc_t a, desc_t b, desc_t c, desc_t m, desc_t n,
                   desc_t k) {
    desc_t mm = gb_make(g, CUDNN_BACKEND_MATMUL_DESCRIPTOR);
    cudnnDataType_t f32 = CUDNN_DATA_FLOAT;
    gb_set(g, mm, CUDNN_ATTR_MATMUL_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &f32);
    gb_finalize(g, mm, "matmul");
    desc_t op = gb_make(g, CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR);
    set_desc(g, op, CUDNN_ATTR_OPERATION_MATMUL_ADESC, a);
    set_desc(g, op, CUDNN_ATTR_OPERATION_MATMUL_BDESC, b);
    set_desc(g, op, CUDNN_ATTR_OPERATION_MATMUL_CDESC, c);
    set_desc(g, op, CUDNN_ATTR_OPERATION_MATMUL_DESC, mm);
    if (m) set_desc(g, op, CUDNN_ATTR_OPERATION_MATMUL_GEMM_M_OVERRIDE_DESC, m);
    if (n) set_desc(g, op, CUDNN_ATTR_OPERATION_MATMUL_GEMM_N_OVERRIDE_DESC, n);
    if (k) set_desc(g, op, CUDNN_ATTR_OPERATION_MATMUL_GEMM_K_OVERRIDE_DESC, k);
    gb_finalize(g, op, "matmul operation");
    add_op(g, op);
}

static void reshape(graph_builder *g, desc_t x, desc_t y) {
    desc_t op = gb_make(g, CUDNN_BACKEND_OPERATION_RESHAPE_DESCRIPTOR);
    set_desc(g, op, CUDNN_ATTR_OPERATION_RESHAPE_XDESC, x);
    set_desc(g, op, CUDNN_ATTR_OPERATION_RESHAPE_YDESC, y);
    gb_finalize(g, op, "reshape operation");
    add_op(g, op);
}

/* ---- the attention graphs ---- */

/* unique ids of the tensors a call binds (virtual ones are numbered from UID_VIRTUAL) */
enum {
    UID_Q = 1, UID_K, UID_V, UID_O, UID_STATS, UID_SCALE, UID_NEG_INF, UID_NEG_INF2,
    UID_NEG_INF3, UID_LEFT, UID_SEQ_LEN, UID_OFF_QKV, UID_OFF_O, UID_OFF_STATS, UID_DO,
    UID_OFF_DO, UID_DQ, UID_DK, UID_DV, UID_OFF_G, UID_ONE, UID_SOFTMAX_SUM, UID_DQ_ACCUM,
    UID_VIRTUAL = 100
};

typedef struct att_shape {
    int backward;
    int64_t b, h, s, d; /* sequences, heads, longest sequence (rounded up), head width */
    int64_t ld_qkv, ld_o, ld_do, ld_g; /* row strides of q/k/v, out, dout, the gradients */
    int window;                        /* < 0: global */
} att_shape;

/* the shared tensors of both graphs */
typedef struct att_tensors {
    desc_t q, kt, v, vt, o, stats, scale, seq_len;
    desc_t off_qkv, off_o, off_stats;
} att_tensors;

static void score_dims(const att_shape *a, int64_t dim[4], int64_t st[4]) {
    dim[0] = a->b, dim[1] = a->h, dim[2] = a->s, dim[3] = a->s;
    st[0] = a->h * a->s * a->s, st[1] = a->s * a->s, st[2] = a->s, st[3] = 1;
}

static void row_dims(const att_shape *a, int64_t dim[4], int64_t st[4]) {
    dim[0] = a->b, dim[1] = a->h, dim[2] = a->s, dim[3] = 1;
    st[0] = a->h * a->s, st[1] = a->s, st[2] = 1, st[3] = 1;
}

/* a [b, h, s, d] view of packed rows with row stride ld; transposed: [b, h, d, s] */
static desc_t packed(graph_builder *g, int64_t uid, const att_shape *a, int64_t ld,
                     int transposed, desc_t off, cudnnDataType_t dt, int is_virtual) {
    int64_t dim[4] = {a->b, a->h, a->s, a->d}, st[4] = {INT32_MAX, a->d, ld, 1};
    if (transposed) {
        dim[2] = a->d, dim[3] = a->s;
        st[2] = 1, st[3] = ld;
    }
    return tensor(g, uid, dt, dim, st, is_virtual, 0, off);
}

static void shared_tensors(graph_builder *g, const att_shape *a, att_tensors *t) {
    static const int64_t one[4] = {1, 1, 1, 1};
    int64_t off_dim[4] = {a->b + 1, 1, 1, 1}, len_dim[4] = {a->b, 1, 1, 1};
    t->off_qkv = tensor(g, UID_OFF_QKV, CUDNN_DATA_INT32, off_dim, one, 0, 0, NULL);
    t->off_o = tensor(g, UID_OFF_O, CUDNN_DATA_INT32, off_dim, one, 0, 0, NULL);
    t->off_stats = tensor(g, UID_OFF_STATS, CUDNN_DATA_INT32, off_dim, one, 0, 0, NULL);
    t->seq_len = tensor(g, UID_SEQ_LEN, CUDNN_DATA_INT32, len_dim, one, 0, 0, NULL);
    t->q = packed(g, UID_Q, a, a->ld_qkv, 0, t->off_qkv, CUDNN_DATA_BFLOAT16, 0);
    t->kt = packed(g, UID_K, a, a->ld_qkv, 1, t->off_qkv, CUDNN_DATA_BFLOAT16, 0);
    if (a->backward)
        t->vt = packed(g, UID_V, a, a->ld_qkv, 1, t->off_qkv, CUDNN_DATA_BFLOAT16, 0);
    else
        t->v = packed(g, UID_V, a, a->ld_qkv, 0, t->off_qkv, CUDNN_DATA_BFLOAT16, 0);
    t->o = packed(g, UID_O, a, a->ld_o, 0, t->off_o, CUDNN_DATA_BFLOAT16, 0);
    /* the log-sum-exp in hnet's [T, heads] layout */
    int64_t sdim[4] = {a->b, a->h, a->s, 1}, sst[4] = {a->s * a->h, 1, a->h, 1};
    t->stats = tensor(g, UID_STATS, CUDNN_DATA_FLOAT, sdim, sst, 0, 0, t->off_stats);
    t->scale = scalar(g, UID_SCALE);
}

/* scores of padded positions (past a sequence's length) to -inf */
static desc_t padding_mask(graph_builder *g, const att_shape *a, const att_tensors *t, desc_t s) {
    int64_t dim[4], st[4];
    score_dims(a, dim, st);
    desc_t row = virt(g, CUDNN_DATA_INT32, dim, st), col = virt(g, CUDNN_DATA_INT32, dim, st);
    pointwise(g, CUDNN_POINTWISE_GEN_INDEX, CUDNN_DATA_INT32, s, NULL, NULL, row, 2);
    pointwise(g, CUDNN_POINTWISE_GEN_INDEX, CUDNN_DATA_INT32, s, NULL, NULL, col, 3);
    desc_t row_in = virt(g, CUDNN_DATA_BOOLEAN, dim, st), col_in = virt(g, CUDNN_DATA_BOOLEAN, dim, st);
    pointwise(g, CUDNN_POINTWISE_CMP_LT, CUDNN_DATA_BOOLEAN, row, t->seq_len, NULL, row_in, -1);
    pointwise(g, CUDNN_POINTWISE_CMP_LT, CUDNN_DATA_BOOLEAN, col, t->seq_len, NULL, col_in, -1);
    desc_t keep = virt(g, CUDNN_DATA_BOOLEAN, dim, st);
    pointwise(g, CUDNN_POINTWISE_LOGICAL_AND, CUDNN_DATA_BOOLEAN, row_in, col_in, NULL, keep, -1);
    desc_t out = virt(g, CUDNN_DATA_FLOAT, dim, st);
    pointwise(g, CUDNN_POINTWISE_BINARY_SELECT, CUDNN_DATA_FLOAT, s, scalar(g, UID_NEG_INF), keep,
              out, -1);
    return out;
}

/* causal (keep column <= row), then the window's left edge (keep row - column <= window,
 * as column + window + 1 > row) */
static desc_t band_mask(graph_builder *g, const att_shape *a, desc_t s) {
    int64_t dim[4], st[4];
    score_dims(a, dim, st);
    desc_t row = virt(g, CUDNN_DATA_INT32, dim, st), col = virt(g, CUDNN_DATA_INT32, dim, st);
    pointwise(g, CUDNN_POINTWISE_GEN_INDEX, CUDNN_DATA_FLOAT, s, NULL, NULL, row, 2);
    pointwise(g, CUDNN_POINTWISE_GEN_INDEX, CUDNN_DATA_FLOAT, s, NULL, NULL, col, 3);
    desc_t keep = virt(g, CUDNN_DATA_BOOLEAN, dim, st);
    pointwise(g, CUDNN_POINTWISE_CMP_GE, CUDNN_DATA_BOOLEAN, row, col, NULL, keep, -1);
    desc_t out = virt(g, CUDNN_DATA_FLOAT, dim, st);
    pointwise(g, CUDNN_POINTWISE_BINARY_SELECT, CUDNN_DATA_FLOAT, s, scalar(g, UID_NEG_INF2), keep,
              out, -1);
    if (a->window < 0) return out;
    desc_t row2 = virt(g, CUDNN_DATA_INT32, dim, st), col2 = virt(g, CUDNN_DATA_INT32, dim, st);
    pointwise(g, CUDNN_POINTWISE_GEN_INDEX, CUDNN_DATA_FLOAT, out, NULL, NULL, row2, 2);
    pointwise(g, CUDNN_POINTWISE_GEN_INDEX, CUDNN_DATA_FLOAT, out, NULL, NULL, col2, 3);
    desc_t shifted = virt(g, CUDNN_DATA_FLOAT, dim, st);
    pointwise(g, CUDNN_POINTWISE_ADD, CUDNN_DATA_FLOAT, col2, scalar(g, UID_LEFT), NULL, shifted, 3);
    desc_t inside = virt(g, CUDNN_DATA_BOOLEAN, dim, st);
    pointwise(g, CUDNN_POINTWISE_CMP_GT, CUDNN_DATA_BOOLEAN, shifted, row2, NULL, inside, -1);
    desc_t out2 = virt(g, CUDNN_DATA_FLOAT, dim, st);
    pointwise(g, CUDNN_POINTWISE_BINARY_SELECT, CUDNN_DATA_FLOAT, out, scalar(g, UID_NEG_INF3),
              inside, out2, -1);
    return out2;
}

/* scale, padding and band masks of q k^T: the scores both graphs start from */
static desc_t masked_scores(graph_builder *g, const att_shape *a, const att_tensors *t) {
    int64_t dim[4], st[4];
    score_dims(a, dim, st);
    desc_t s = virt(g, CUDNN_DATA_FLOAT, dim, st);
    matmul(g, t->q, t->kt, s, t->seq_len, t->seq_len, NULL);
    desc_t scaled = virt(g, CUDNN_DATA_FLOAT, dim, st);
    pointwise(g, CUDNN_POINTWISE_MUL, CUDNN_DATA_FLOAT, s, t->scale, NULL, scaled, -1);
    return padding_mask(g, a, t, scaled);
}

static void forward_graph(graph_builder *g, const att_shape *a) {
    att_tensors t;
    shared_tensors(g, a, &t);
    int64_t dim[4], st[4], rdim[4], rst[4];
    score_dims(a, dim, st);
    row_dims(a, rdim, rst);
    desc_t s = band_mask(g, a, masked_scores(g, a, &t));
    /* softmax, keeping max + log(sum) */
    desc_t mx = virt(g, CUDNN_DATA_FLOAT, rdim, rst);
    reduction(g, CUDNN_REDUCE_TENSOR_MAX, s, mx);
    desc_t z = virt(g, CUDNN_DATA_FLOAT, dim, st);
    pointwise(g, CUDNN_POINTWISE_SUB, CUDNN_DATA_FLOAT, s, mx, NULL, z, -1);
    desc_t e = virt(g, CUDNN_DATA_FLOAT, dim, st);
    pointwise(g, CUDNN_POINTWISE_EXP, CUDNN_DATA_FLOAT, z, NULL, NULL, e, -1);
    desc_t sum = virt(g, CUDNN_DATA_FLOAT, rdim, rst);
    reduction(g, CUDNN_REDUCE_TENSOR_ADD, e, sum);
    desc_t lg = virt(g, CUDNN_DATA_FLOAT, rdim, rst);
    pointwise(g, CUDNN_POINTWISE_LOG, CUDNN_DATA_FLOAT, sum, NULL, NULL, lg, -1);
    pointwise(g, CUDNN_POINTWISE_ADD, CUDNN_DATA_FLOAT, mx, lg, NULL, t.stats, -1);
    desc_t p = virt(g, CUDNN_DATA_BFLOAT16, dim, st);
    pointwise(g, CUDNN_POINTWISE_DIV, CUDNN_DATA_FLOAT, e, sum, NULL, p, -1);
    matmul(g, p, t.v, t.o, t.seq_len, NULL, t.seq_len);
}

static void backward_graph(graph_builder *g, const att_shape *a) {
    static const int64_t one[4] = {1, 1, 1, 1};
    att_tensors t;
    shared_tensors(g, a, &t);
    int64_t off_dim[4] = {a->b + 1, 1, 1, 1};
    desc_t off_do = tensor(g, UID_OFF_DO, CUDNN_DATA_INT32, off_dim, one, 0, 0, NULL);
    desc_t off_g = tensor(g, UID_OFF_G, CUDNN_DATA_INT32, off_dim, one, 0, 0, NULL);
    desc_t dout = packed(g, UID_DO, a, a->ld_do, 0, off_do, CUDNN_DATA_BFLOAT16, 0);
    /* bf16: cuDNN 9.19 takes float32 gradient tensors here, makes a plan and writes them
     * wrong (bench/NOTES.md "Session 11") */
    desc_t dq = packed(g, UID_DQ, a, a->ld_g, 0, off_g, CUDNN_DATA_BFLOAT16, 0);
    desc_t dk = packed(g, UID_DK, a, a->ld_g, 0, off_g, CUDNN_DATA_BFLOAT16, 0);
    desc_t dv = packed(g, UID_DV, a, a->ld_g, 0, off_g, CUDNN_DATA_BFLOAT16, 0);
    int64_t dim[4], st[4], rdim[4], rst[4];
    score_dims(a, dim, st);
    row_dims(a, rdim, rst);
    int64_t tdim[4] = {a->b, a->h, a->s, a->s}, tst[4] = {st[0], st[1], 1, a->s};

    /* D = rowsum(dout * out): the softmax backward's per-row term, kept in the workspace */
    int64_t odim[4] = {a->b, a->h, a->s, a->d};
    int64_t ost[4] = {a->h * a->s * a->d, a->s * a->d, a->h * a->d, 1};
    desc_t prod = virt(g, CUDNN_DATA_FLOAT, odim, ost);
    pointwise(g, CUDNN_POINTWISE_MUL, CUDNN_DATA_FLOAT, dout, t.o, NULL, prod, -1);
    desc_t rows = virt(g, CUDNN_DATA_FLOAT, rdim, rst);
    reduction(g, CUDNN_REDUCE_TENSOR_ADD, prod, rows);
    desc_t softmax_sum = tensor(g, UID_SOFTMAX_SUM, CUDNN_DATA_FLOAT, rdim, rst, 0, 0, NULL);
    pointwise(g, CUDNN_POINTWISE_MUL, CUDNN_DATA_FLOAT, rows, scalar(g, UID_ONE), NULL,
              softmax_sum, -1);

    /* P = exp(scores - lse), made again */
    desc_t s = masked_scores(g, a, &t);
    desc_t z = virt(g, CUDNN_DATA_FLOAT, dim, st);
    pointwise(g, CUDNN_POINTWISE_SUB, CUDNN_DATA_FLOAT, s, t.stats, NULL, z, -1);
    desc_t zm = band_mask(g, a, z);
    desc_t p = virt(g, CUDNN_DATA_FLOAT, dim, st);
    pointwise(g, CUDNN_POINTWISE_EXP, CUDNN_DATA_FLOAT, zm, NULL, NULL, p, -1);
    /* dV = P^T dout */
    desc_t pt = virt(g, CUDNN_DATA_BFLOAT16, tdim, tst);
    reshape(g, p, pt);
    matmul(g, pt, dout, dv, t.seq_len, NULL, t.seq_len);
    /* dS = scale * P (dout V^T - D) */
    desc_t dp = virt(g, CUDNN_DATA_FLOAT, dim, st);
    matmul(g, dout, t.vt, dp, t.seq_len, t.seq_len, NULL);
    desc_t u = virt(g, CUDNN_DATA_FLOAT, dim, st);
    pointwise(g, CUDNN_POINTWISE_SUB, CUDNN_DATA_FLOAT, dp, softmax_sum, NULL, u, -1);
    desc_t u2 = virt(g, CUDNN_DATA_FLOAT, dim, st);
    pointwise(g, CUDNN_POINTWISE_MUL, CUDNN_DATA_FLOAT, u, p, NULL, u2, -1);
    desc_t ds = virt(g, CUDNN_DATA_FLOAT, dim, st);
    pointwise(g, CUDNN_POINTWISE_MUL, CUDNN_DATA_FLOAT, u2, t.scale, NULL, ds, -1);
    /* dK = dS^T Q */
    desc_t dst = virt(g, CUDNN_DATA_BFLOAT16, tdim, tst);
    reshape(g, ds, dst);
    matmul(g, dst, t.q, dk, t.seq_len, NULL, t.seq_len);
    /* dQ = dS K, through a float32 accumulator in the workspace */
    desc_t k = packed(g, g->next_uid++, a, a->ld_qkv, 0, t.off_qkv, CUDNN_DATA_FLOAT, 1);
    reshape(g, t.kt, k);
    int64_t qdim[4] = {a->b, a->h, a->s, a->d};
    int64_t qst[4] = {a->h * a->s * a->d, a->s * a->d, a->d, 1};
    desc_t acc = tensor(g, UID_DQ_ACCUM, CUDNN_DATA_FLOAT, qdim, qst, 0, 0, NULL);
    matmul(g, ds, k, acc, t.seq_len, NULL, t.seq_len);
    pointwise(g, CUDNN_POINTWISE_IDENTITY, CUDNN_DATA_FLOAT, acc, NULL, NULL, dq, -1);
}

/* ---- plans ---- */

typedef struct att_plan {
    att_shape key;
    desc_t plan; /* NULL: cuDNN refused the shape (kept, so that it is not asked again) */
    int64_t workspace;
    char why[200];
} att_plan;

#define CUDNN_PLANS 24

struct hn_cudnn {
    cudnnHandle_t handle;
    att_plan plans[CUDNN_PLANS];
    int n_plans, next;
    char why[256]; /* why the last shape was refused */
};

void hn_cudnn_release(hn_cuda_instance *inst) {
    hn_cudnn *c = inst->cudnn;
    if (!c) return;
    for (int i = 0; i < c->n_plans; i++) api.free_desc(c->plans[i].plan);
    if (c->handle) api.destroy(c->handle);
    free(c);
    inst->cudnn = NULL;
}

static void describe_failure(hn_cudnn *c, const graph_builder *g) {
    char last[160] = "";
    if (api.last_error) api.last_error(last, sizeof last);
    snprintf(c->why, sizeof c->why, "%s: %s%s%s", g->where, api.error_string(g->status),
             last[0] ? "; " : "", last);
}

/* builds the graph of a, asks cuDNN's heuristics for engines and keeps the first that
 * makes a plan */
static int make_plan(hn_cudnn *c, const att_shape *a, att_plan *out) {
    graph_builder g;
    memset(&g, 0, sizeof g);
    g.next_uid = UID_VIRTUAL;
    if (a->backward) backward_graph(&g, a);
    else forward_graph(&g, a);
    desc_t graph = gb_make(&g, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
    gb_set(&g, graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, g.n_ops, g.ops);
    gb_set(&g, graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &c->handle);
    gb_finalize(&g, graph, "operation graph");
    desc_t heur = gb_make(&g, CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
    cudnnBackendHeurMode_t mode = CUDNN_HEUR_MODE_A;
    set_desc(&g, heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, graph);
    gb_set(&g, heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode);
    gb_finalize(&g, heur, "engine heuristics");
    int64_t count = 0;
    if (gb_ok(&g))
        gb_fail(&g, api.get(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0,
                            &count, NULL),
                "engine count");
    if (gb_ok(&g) && count <= 0) gb_fail(&g, CUDNN_STATUS_NOT_SUPPORTED, "no engine for the graph");
    desc_t cfgs[16];
    if (count > 16) count = 16;
    for (int64_t i = 0; i < count; i++) cfgs[i] = gb_make(&g, CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
    int64_t got = 0;
    if (gb_ok(&g))
        gb_fail(&g, api.get(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                            count, &got, cfgs),
                "engine configs");
    desc_t plan = NULL;
    for (int64_t i = 0; gb_ok(&g) && i < got && !plan; i++) {
        desc_t p = NULL;
        if (api.make(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &p) != CUDNN_STATUS_SUCCESS) break;
        if (api.set(p, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &c->handle) ==
                CUDNN_STATUS_SUCCESS &&
            api.set(p, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                    &cfgs[i]) == CUDNN_STATUS_SUCCESS &&
            api.finalize(p) == CUDNN_STATUS_SUCCESS)
            plan = p;
        else
            api.free_desc(p);
    }
    if (gb_ok(&g) && !plan) gb_fail(&g, CUDNN_STATUS_NOT_SUPPORTED, "no engine made a plan");
    int64_t ws = 0;
    if (plan && gb_ok(&g))
        gb_fail(&g, api.get(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1,
                            &got, &ws),
                "workspace size");
    int ok = gb_ok(&g) && plan;
    if (!ok) {
        describe_failure(c, &g);
        if (plan) api.free_desc(plan);
    }
    gb_release(&g);
    if (!ok) return -1;
    out->key = *a;
    out->plan = plan;
    out->workspace = ws;
    return 0;
}

static __thread const char *g_why; /* this thread's last refusal ("" after a run) */
static __thread const char *g_grads; /* how the last backward that ran made its gradients */

static hn_cudnn *state(void) {
    hn_cuda_instance *inst = hn_cuda_cur();
    if (inst->cudnn) return inst->cudnn;
    hn_cudnn *c = (hn_cudnn *)calloc(1, sizeof *c);
    if (!c) return NULL;
    if (api.create(&c->handle) != CUDNN_STATUS_SUCCESS) {
        free(c);
        return NULL;
    }
    inst->cudnn = c;
    return c;
}

/* the plan of a, made on first use; its plan member is NULL where cuDNN refused it */
static att_plan *find_plan(hn_cudnn *c, const att_shape *a) {
    for (int i = 0; i < c->n_plans; i++)
        if (!memcmp(&c->plans[i].key, a, sizeof *a)) return &c->plans[i];
    att_plan made;
    memset(&made, 0, sizeof made);
    if (make_plan(c, a, &made)) {
        made.key = *a;
        made.plan = NULL;
        snprintf(made.why, sizeof made.why, "%s", c->why);
    }
    int slot;
    if (c->n_plans < CUDNN_PLANS) {
        slot = c->n_plans++;
    } else { /* the oldest goes */
        slot = c->next++ % CUDNN_PLANS;
        if (c->plans[slot].plan) api.free_desc(c->plans[slot].plan);
    }
    c->plans[slot] = made;
    return &c->plans[slot];
}

/* ---- per-call device data: lengths and offsets of the packed sequences ---- */

__global__ void k_cudnn_offsets(int32_t *seq_len, int32_t *off, const int32_t *offsets, int n,
                                int ld_qkv, int ld_o, int ld_do, int ld_g, int heads) {
    HN_GRID_STRIDE(i, (size_t)n + 1) {
        int32_t o = offsets[i];
        if (i < (size_t)n) seq_len[i] = offsets[i + 1] - o;
        size_t m = (size_t)n + 1;
        off[i] = o * ld_qkv;
        off[m + i] = o * ld_o;
        off[2 * m + i] = o * heads;
        off[3 * m + i] = o * ld_do;
        off[4 * m + i] = o * ld_g;
    }
}

/* dst (float32, ld) = or += the bf16 gradient columns [col0, col0 + D) of g */
__global__ void k_cudnn_grad_add(float *dst, int ld, const __nv_bfloat16 *g, int ld_g, int T,
                                 int D, int add) {
    HN_GRID_STRIDE(i, (size_t)T * D) {
        size_t t = i / D, c = i % D;
        float v = __bfloat162float(g[t * ld_g + c]);
        float *p = dst + t * ld + c;
        *p = add ? *p + v : v;
    }
}

static int64_t pow2_at_least(int64_t x) {
    int64_t p = 64;
    while (p < x) p <<= 1;
    return p;
}

static int shape_of(const hn_attention_params *p, int backward, att_shape *a) {
    memset(a, 0, sizeof *a); /* memcmp keys: padding must be zero */
    a->backward = backward;
    a->b = p->seqs->n;
    a->h = p->heads;
    a->s = pow2_at_least(p->seqs->max_len);
    a->d = p->head_dim;
    a->ld_qkv = p->q.ld;
    a->ld_o = p->out.ld;
    a->ld_do = backward ? p->dout.ld : 0;
    a->ld_g = backward ? 3 * (int64_t)p->heads * p->head_dim : 0;
    a->window = p->window < 0 ? -1 : p->window;
    return 0;
}

/* dq, dk, dv bf16 views with one row stride, written (not accumulated): cuDNN writes
 * them itself; otherwise it writes bf16 into scratch and a pass adds them to the float32
 * ones */
static int grads_native(const hn_attention_params *p) {
    const hn_tensor *g[] = {&p->dq, &p->dk, &p->dv};
    for (int i = 0; i < 3; i++)
        if (g[i]->dtype != HN_BF16 || g[i]->ld != p->dq.ld || (uintptr_t)g[i]->data % 16)
            return 0;
    return p->overwrite && p->dq.ld % 8 == 0;
}

/* 0 where cuDNN takes the call, else why not */
static const char *refusal(const hn_attention_params *p, int backward) {
    int D = p->heads * p->head_dim;
    if (p->head_dim % 8 || p->head_dim > 128) return "head_dim not a multiple of 8 up to 128";
    if (p->q.dtype != HN_BF16 || p->out.dtype != HN_BF16 ||
        (backward && p->dout.dtype != HN_BF16))
        return "q, k, v, out and dout must be bf16";
    if (p->q.ld % 8 || p->out.ld % 8 || (backward && p->dout.ld % 8) || p->k.ld != p->q.ld ||
        p->v.ld != p->q.ld)
        return "row strides not multiples of 8 elements (or q, k, v differ)";
    const void *ptrs[] = {p->q.data, p->k.data, p->v.data, p->out.data,
                          backward ? p->dout.data : NULL};
    for (int i = 0; i < 5; i++)
        if ((uintptr_t)ptrs[i] % 16) return "operands not 16-byte aligned";
    if (p->seqs->n <= 0 || p->seqs->max_len <= 0) return "no sequences";
    if (backward && p->dq.dtype != HN_F32 && !grads_native(p))
        return "bf16 gradients are only written (overwrite), with one row stride";
    int64_t widest = p->q.ld > 3 * D ? p->q.ld : 3 * D; /* offsets are int32 elements */
    if ((int64_t)p->seqs->total * widest >= INT32_MAX) return "more rows than int32 offsets hold";
    if (!load_api()) return api.why;
    return NULL;
}

/* the instance's cuDNN state, or NULL with why set */
static hn_cudnn *prepare(const hn_attention_params *p, int backward) {
    static __thread char why[256];
    const char *no = refusal(p, backward);
    hn_cudnn *c = no ? NULL : state();
    if (!no && !c) no = "cudnnCreate failed";
    if (no) {
        hn_cuda_instance *inst = hn_cuda_cur();
        if (inst->cudnn) snprintf(inst->cudnn->why, sizeof inst->cudnn->why, "%s", no);
        else snprintf(why, sizeof why, "%s", no);
        g_why = inst->cudnn ? inst->cudnn->why : why;
        return NULL;
    }
    return c;
}

const char *hn_cudnn_why(void) { return g_why ? g_why : "cuDNN not tried"; }
extern "C" const char *hn_cuda_attention_cudnn_why(void) { return hn_cudnn_why(); }
extern "C" const char *hn_cuda_attention_cudnn_grads(void) { return g_grads ? g_grads : ""; }

/* runs the plan of a with the variant pack (uids, pointers); 0 or -1 */
static int execute(hn_cudnn *c, att_plan *plan, int n, const int64_t *uids, void **ptrs,
                   void *workspace) {
    desc_t vp = NULL;
    cudnnStatus_t s = api.make(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &vp);
    if (s == CUDNN_STATUS_SUCCESS)
        s = api.set(vp, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, n, uids);
    if (s == CUDNN_STATUS_SUCCESS)
        s = api.set(vp, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, n, ptrs);
    if (s == CUDNN_STATUS_SUCCESS)
        s = api.set(vp, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &workspace);
    if (s == CUDNN_STATUS_SUCCESS) s = api.finalize(vp);
    if (s == CUDNN_STATUS_SUCCESS) s = api.set_stream(c->handle, HN_STREAM);
    if (s == CUDNN_STATUS_SUCCESS) s = api.execute(c->handle, plan->plan, vp);
    if (vp) api.free_desc(vp);
    if (s != CUDNN_STATUS_SUCCESS) {
        char msg[320];
        snprintf(msg, sizeof msg, "attention (cudnn): execute: %s", api.error_string(s));
        hn_cuda_note(cudaErrorUnknown, msg);
        return -1;
    }
    return 0;
}

static size_t align256(size_t x) { return (x + 255) & ~(size_t)255; }

/* the plan for a, or NULL with the refusal kept as this thread's why */
static att_plan *usable_plan(hn_cudnn *c, const att_shape *a) {
    att_plan *plan = find_plan(c, a);
    snprintf(c->why, sizeof c->why, "%s", plan->plan ? "" : plan->why);
    g_why = c->why;
    return plan->plan ? plan : NULL;
}

int hn_cudnn_attention_forward(const hn_attention_params *p) {
    hn_cudnn *c = prepare(p, 0);
    if (!c) return 1;
    att_shape a;
    shape_of(p, 0, &a);
    att_plan *plan = usable_plan(c, &a);
    if (!plan) return 1;
    int n = p->seqs->n;
    size_t m = (size_t)n + 1, idx = align256((size_t)(n + 5 * m) * sizeof(int32_t));
    char *ws = (char *)hn_cuda_scratch(HN_SCRATCH_CUDNN, idx + (size_t)plan->workspace);
    if (!ws) return -1;
    int32_t *seq_len = (int32_t *)ws, *off = seq_len + n;
    k_cudnn_offsets<<<hn_blocks(m, 256), 256, 0, HN_STREAM>>>(
        seq_len, off, p->seqs->offsets_dev, n, (int)a.ld_qkv, (int)a.ld_o, 0, 0, p->heads);
    HN_LAUNCHED("attention (cudnn) offsets");
    float scale = p->scale, neg_inf = -INFINITY, left = (float)(p->window + 1);
    int64_t uids[] = {UID_Q, UID_K, UID_V, UID_O, UID_STATS, UID_SCALE, UID_NEG_INF, UID_NEG_INF2,
                      UID_SEQ_LEN, UID_OFF_QKV, UID_OFF_O, UID_OFF_STATS, UID_NEG_INF3, UID_LEFT};
    void *ptrs[] = {(void *)p->q.data, (void *)p->k.data, (void *)p->v.data, p->out.data, p->lse,
                    &scale, &neg_inf, &neg_inf, seq_len, off, off + m, off + 2 * m, &neg_inf,
                    &left};
    int nb = p->window < 0 ? 12 : 14;
    return execute(c, plan, nb, uids, ptrs, ws + idx);
}

int hn_cudnn_attention_backward(const hn_attention_params *p) {
    hn_cudnn *c = prepare(p, 1);
    if (!c) return 1;
    att_shape a;
    shape_of(p, 1, &a);
    int native = grads_native(p);
    if (native) a.ld_g = p->dq.ld;
    att_plan *plan = usable_plan(c, &a);
    if (!plan) return 1;
    int n = p->seqs->n, T = p->seqs->total, D = p->heads * p->head_dim;
    size_t m = (size_t)n + 1, idx = align256((size_t)(n + 5 * m) * sizeof(int32_t));
    size_t sum_bytes = align256((size_t)a.b * a.h * a.s * sizeof(float));
    size_t acc_bytes = align256((size_t)a.b * a.h * a.s * a.d * sizeof(float));
    size_t g_bytes = native ? 0 : align256((size_t)T * a.ld_g * 2);
    char *ws = (char *)hn_cuda_scratch(HN_SCRATCH_CUDNN, idx + sum_bytes + acc_bytes + g_bytes +
                                                             (size_t)plan->workspace);
    if (!ws) return -1;
    int32_t *seq_len = (int32_t *)ws, *off = seq_len + n;
    char *softmax_sum = ws + idx, *acc = softmax_sum + sum_bytes, *gb = acc + acc_bytes,
         *work = gb + g_bytes;
    k_cudnn_offsets<<<hn_blocks(m, 256), 256, 0, HN_STREAM>>>(seq_len, off, p->seqs->offsets_dev,
                                                              n, (int)a.ld_qkv, (int)a.ld_o,
                                                              (int)a.ld_do, (int)a.ld_g, p->heads);
    HN_LAUNCHED("attention (cudnn) offsets");
    float scale = p->scale, neg_inf = -INFINITY, left = (float)(p->window + 1), one = 1.0f;
    const hn_tensor *gv[] = {&p->dq, &p->dk, &p->dv};
    void *grads[3];
    for (int i = 0; i < 3; i++)
        grads[i] = native ? gv[i]->data : (void *)((__nv_bfloat16 *)gb + (size_t)i * D);
    int64_t uids[] = {UID_Q, UID_K, UID_V, UID_O, UID_STATS, UID_SCALE, UID_NEG_INF,
                      UID_NEG_INF2, UID_SEQ_LEN, UID_OFF_QKV, UID_OFF_O, UID_OFF_STATS,
                      UID_DO, UID_OFF_DO, UID_DQ, UID_DK, UID_DV, UID_OFF_G, UID_ONE,
                      UID_SOFTMAX_SUM, UID_DQ_ACCUM, UID_NEG_INF3, UID_LEFT};
    void *ptrs[] = {(void *)p->q.data, (void *)p->k.data, (void *)p->v.data, p->out.data,
                    p->lse, &scale, &neg_inf, &neg_inf, seq_len, off, off + m, off + 2 * m,
                    (void *)p->dout.data, off + 3 * m, grads[0], grads[1], grads[2], off + 4 * m,
                    &one, softmax_sum, acc, &neg_inf, &left};
    int nb = p->window < 0 ? 21 : 23;
    g_grads = native ? "bf16, written by cuDNN" : "bf16 from cuDNN, added to float32";
    if (execute(c, plan, nb, uids, ptrs, work)) return -1;
    if (native) return 0;
    for (int i = 0; i < 3; i++) {
        k_cudnn_grad_add<<<hn_blocks((size_t)T * D, 256), 256, 0, HN_STREAM>>>(
            (float *)gv[i]->data, gv[i]->ld, (const __nv_bfloat16 *)grads[i], (int)a.ld_g, T,
            D, !p->overwrite);
        HN_LAUNCHED("attention (cudnn) gradients");
    }
    return 0;
}

/* whether the configuration sends this call to cuDNN: the CUDNN mode always; AUTO on
 * Hopper the backward everywhere and the forward of global attention over sequences of
 * 4096 or more, where cuDNN was the faster on the H200 (bench/NOTES.md "Session 11") */
int hn_cudnn_wanted(const hn_attention_params *p, int backward) {
    int mode = hn_cuda_attention_mode_now();
    if (mode == HN_CUDA_ATTENTION_CUDNN) return 1;
    if (mode != HN_CUDA_ATTENTION_AUTO || !hn_wgmma_available()) return 0;
    return backward || (p->window < 0 && p->seqs->max_len >= 4096);
}

int hn_cudnn_backward_ready(const hn_attention_params *p) {
    if (!hn_cudnn_wanted(p, 1) || !grads_native(p)) return 0;
    hn_cudnn *c = prepare(p, 1);
    if (!c) return 0;
    att_shape a;
    shape_of(p, 1, &a);
    a.ld_g = p->dq.ld;
    return usable_plan(c, &a) != NULL;
}
