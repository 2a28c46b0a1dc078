/* cpu bf16 packing: the twin of the cuda backend's activation storage, so the bf16
 * path of every layer can be tested here. Off unless a test turns it on: the cpu is the
 * float32 reference. */
#include <string.h>

#include "backend/cpu/cpu_ops.h"

static int g_on;

int hn_cpu_stash_bf16(void) { return g_on; }
void hn_cpu_set_stash_bf16(int on) { g_on = on; }

void hn_cpu_pack_bf16(uint16_t *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &src[i], sizeof u);
        if ((u & 0x7fffffffu) > 0x7f800000u) { /* NaN: keep it a (quiet) NaN */
            dst[i] = (uint16_t)((u >> 16) | 0x40u);
            continue;
        }
        u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest, ties to even */
        dst[i] = (uint16_t)(u >> 16);
    }
}

void hn_cpu_unpack_bf16(float *dst, const uint16_t *src, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)src[i] << 16;
        memcpy(&dst[i], &u, sizeof u);
    }
}
