/* cpu bf16 packing: the twin of the cuda backend's activation storage, so the bf16
 * path of every layer can be tested here. Off unless a test turns it on: the cpu is the
 * float32 reference. */
#include "backend/cpu/cpu_ops.h"
#include "backend/tensor.h"

static int g_on;

int hn_cpu_stash_bf16(void) { return g_on; }
void hn_cpu_set_stash_bf16(int on) { g_on = on; }

void hn_cpu_pack_bf16(uint16_t *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = hn_bf16_from_f32(src[i]);
}

void hn_cpu_unpack_bf16(float *dst, const uint16_t *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = hn_bf16_to_f32(src[i]);
}
