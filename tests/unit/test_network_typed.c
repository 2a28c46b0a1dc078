/* The network's typed path (layer ABI 4): a sublayer with forward_t / backward_t gets its
 * input and its dy in the backend's activation dtype, rounded once by the network's norms
 * (no rounding per product in the layer); one without them gets float32 as before; the
 * final norm also writes its output in bf16 when the owner asks (out16), and the first
 * pre-norm's backward the input gradient (din16). Probed on the
 * cpu with its bf16 activation switch, through layers that record what they were given
 * and add nothing to the residual (so every sublayer sees the same values). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_ops.h"
#include "model/network.h"
#include "support/fixtures.h"

enum { D = 16, MAX_SUB = 4 };
static const int LENS[] = {5, 9};

/* what sublayer i was handed: dtype and values (widened) of x and dy */
static struct seen {
    hn_dtype x_dtype, dy_dtype;
    int forward, backward;
    float x[14 * D], dy[14 * D];
} seen[MAX_SUB];

static void record(hn_tensor t, float *out) {
    for (int r = 0; r < t.rows; r++)
        for (int c = 0; c < t.cols; c++) {
            size_t i = (size_t)r * t.ld + c;
            out[(size_t)r * t.cols + c] = t.dtype == HN_BF16 ? hn_bf16_to_f32(((uint16_t *)t.data)[i])
                                                             : ((float *)t.data)[i];
        }
}

static int p_create(const hn_layer_args *a, void **self, hn_error *e) {
    *self = calloc(1, sizeof(int));
    *(int *)*self = a->layer;
    return HN_OK;
}
static void p_destroy(void *self, const hn_backend *be) { free(self); }
static int p_count(void *self) { return 0; }
static void p_describe(void *self, hn_param *p) {}
static void p_bind(void *self, const hn_param *p) {}
static double p_flops(void *self, const int32_t *l, int n) { return 0; }
static int p_forward_t(void *self, const hn_layer_ctx *c, hn_tensor x, float *y, hn_error *e) {
    struct seen *s = &seen[*(int *)self];
    s->x_dtype = x.dtype;
    s->forward++;
    record(x, s->x);
    memset(y, 0, (size_t)x.rows * D * sizeof(float)); /* the branch adds nothing */
    return HN_OK;
}
static int p_backward_t(void *self, const hn_layer_ctx *c, hn_tensor dy, float *dx, hn_error *e) {
    struct seen *s = &seen[*(int *)self];
    s->dy_dtype = dy.dtype;
    s->backward++;
    record(dy, s->dy);
    return HN_OK;
}
static int p_forward(void *self, const hn_layer_ctx *c, const float *x, float *y, hn_error *e) {
    return p_forward_t(self, c, hn_tensor_f32(x, c->seqs->total, D), y, e);
}
static int p_backward(void *self, const hn_layer_ctx *c, const float *dy, float *dx, hn_error *e) {
    return p_backward_t(self, c, hn_tensor_f32(dy, c->seqs->total, D), dx, e);
}

static const hn_letter_def typed_letters[] = {{'p', "typed", NULL}};
static const hn_letter_def plain_letters[] = {{'q', "plain", NULL}};
static const hn_layer_plugin typed_plugin = {
    .abi_version = HN_LAYER_ABI_VERSION, .name = "typed", .version = "0", .role = "mixer",
    .letters = typed_letters, .n_letters = 1, .create = p_create, .destroy = p_destroy,
    .param_count = p_count, .describe_params = p_describe, .bind = p_bind, .forward = p_forward,
    .backward = p_backward, .flops = p_flops, .forward_t = p_forward_t, .backward_t = p_backward_t};
/* the same layer as an ABI-3 plugin would be: float32 only */
static const hn_layer_plugin plain_plugin = {
    .abi_version = HN_LAYER_ABI_VERSION, .name = "plain", .version = "0", .role = "mixer",
    .letters = plain_letters, .n_letters = 1, .create = p_create, .destroy = p_destroy,
    .param_count = p_count, .describe_params = p_describe, .bind = p_bind, .forward = p_forward,
    .backward = p_backward, .flops = p_flops};

typedef struct run {
    struct seen seen[MAX_SUB];
    float y[14 * D], dx[14 * D];
    uint16_t out16[14 * D], din16[14 * D];
    int has_out16, has_din16;
} run;

/* forward and backward of "p1q1p1" on fixed inputs; what every sublayer saw */
static void run_network(int bf16, run *out) {
    const hn_backend *be = hn_backend_cpu();
    hn_registry reg;
    hn_error err = {{0}};
    hn_registry_init(&reg);
    assert_int_equal(hn_registry_add(&reg, &typed_plugin, "test", &err), HN_OK);
    assert_int_equal(hn_registry_add(&reg, &plain_plugin, "test", &err), HN_OK);
    hn_param_store store;
    hn_params_init(&store, be);
    hn_network net;
    cJSON *model = cJSON_Parse("{\"kind\": \"isotropic\"}");
    assert_int_equal(hn_network_build(&net, "p1q1p1", D, 0, model, &reg, &store, "n.", 0, &err), HN_OK);
    assert_int_equal(hn_params_allocate(&store, 1, &err), HN_OK);
    hn_network_bind(&net, &store);
    net.want_out16 = 1;
    net.want_din16 = 1;
    int32_t offsets[] = {0, LENS[0], LENS[0] + LENS[1]};
    int T = offsets[2];
    hn_seqs seqs = {.n = 2, .total = T, .max_len = LENS[1], .offsets = offsets, .offsets_dev = offsets};
    float x[14 * D], dy[14 * D], dx[14 * D] = {0};
    for (int i = 0; i < T * D; i++) {
        x[i] = (float)((i * 37) % 23) / 7.0f - 1.5f;
        dy[i] = (float)((i * 11) % 19) / 5.0f - 1.8f;
    }
    memset(seen, 0, sizeof seen);
    hn_cpu_set_stash_bf16(bf16);
    assert_int_equal(hn_network_forward(&net, be, &seqs, x, out->y, &err), HN_OK);
    assert_int_equal(hn_network_backward(&net, be, &seqs, dy, dx, &err), HN_OK);
    hn_cpu_set_stash_bf16(0);
    hn_tensor o = hn_network_output(&net, out->y, T);
    out->has_out16 = o.dtype == HN_BF16;
    if (out->has_out16) memcpy(out->out16, o.data, (size_t)T * D * 2);
    memcpy(out->dx, dx, sizeof dx);
    hn_tensor di = hn_network_input_grad(&net, dx, T);
    out->has_din16 = di.dtype == HN_BF16;
    if (out->has_din16) memcpy(out->din16, di.data, (size_t)T * D * 2);
    else assert_ptr_equal(di.data, dx);
    memcpy(out->seen, seen, sizeof seen);
    hn_network_free(&net, be);
    hn_params_free(&store);
    cJSON_Delete(model);
    hn_registry_close(&reg);
}

static void test_typed_sublayers_get_bf16(void **state) {
    (void)state;
    static run f32, b16;
    run_network(0, &f32);
    run_network(1, &b16);
    int T = LENS[0] + LENS[1];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(f32.seen[i].forward, 1);
        assert_int_equal(f32.seen[i].backward, 1);
        assert_int_equal(b16.seen[i].forward, 1);
        assert_int_equal(b16.seen[i].backward, 1);
        /* float32 activations: float32 everywhere */
        assert_int_equal(f32.seen[i].x_dtype, HN_F32);
        assert_int_equal(f32.seen[i].dy_dtype, HN_F32);
        /* bf16 activations: the typed layers (0 and 2) get bf16 x and dy, each the
         * float32 values rounded once; the plain one (1) the float32 values themselves */
        hn_dtype want = i == 1 ? HN_F32 : HN_BF16;
        assert_int_equal(b16.seen[i].x_dtype, want);
        assert_int_equal(b16.seen[i].dy_dtype, want);
        for (int k = 0; k < T * D; k++) {
            float x = f32.seen[i].x[k], g = f32.seen[i].dy[k];
            assert_true(b16.seen[i].x[k] == (i == 1 ? x : hn_bf16_to_f32(hn_bf16_from_f32(x))));
            assert_true(b16.seen[i].dy[k] == (i == 1 ? g : hn_bf16_to_f32(hn_bf16_from_f32(g))));
        }
    }
    /* the network's output and input gradient are float32 in both, and equal (the
     * branches added nothing) */
    assert_memory_equal(f32.y, b16.y, (size_t)T * D * sizeof(float));
    assert_memory_equal(f32.dx, b16.dx, (size_t)T * D * sizeof(float));
    /* out16: made only for bf16 activations, the float32 output rounded once */
    assert_false(f32.has_out16);
    assert_true(b16.has_out16);
    for (int k = 0; k < T * D; k++) assert_int_equal(b16.out16[k], hn_bf16_from_f32(b16.y[k]));
    /* din16 likewise: the input gradient (dx started at zero) rounded once */
    assert_false(f32.has_din16);
    assert_true(b16.has_din16);
    for (int k = 0; k < T * D; k++) assert_int_equal(b16.din16[k], hn_bf16_from_f32(b16.dx[k]));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_typed_sublayers_get_bf16),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
