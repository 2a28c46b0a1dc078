/* The cuda conv1d + SiLU window kernels (runtime/backend/cuda/ssm_conv_win.cuh), their
 * lean form (ssm_conv_lean.cuh, HNET_CUDA_CONV=lean) and the lean2 backward through a
 * shared-memory ring (ssm_conv_ring.cuh) run on the host: the same source with the cuda keywords and view accessors defined here, every
 * thread of a block a std::thread (a std::barrier for __syncthreads, __shared__ memory a
 * static shared by them, one block at a time), against a direct convolution in double
 * over packed sequences. It checks the kernels' indexing (tiles, load batches, window
 * slots, sequence starts, the dw / dbias reduction) where there is no GPU; the arithmetic
 * of the device (bf16 loads, expf) is the parity tests' (tests/gpu) to check.
 * Run by tests/e2e/test_conv_window_emu.sh. */
#include <algorithm>
#include <atomic>
#include <barrier>
#include <cmath>
#include <cstring>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>
extern "C" {
#include "backend/tensor.h"
}
using std::max;
using std::min;
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
struct d3 { unsigned x, y, z; };
thread_local d3 threadIdx, blockIdx;
std::barrier<> *bar;
void __syncthreads() { bar->arrive_and_wait(); }
struct view { void *p; int bf16, ld; };
inline float hn_sigmoidf(float v) { return 1.0f / (1.0f + expf(-v)); }
inline float __expf(float v) { return expf(v); }
inline float __fdividef(float a, float b) { return a / b; }
inline float vget(view v, size_t r, int c) { size_t i = r * v.ld + c; return v.bf16 ? hn_bf16_to_f32(((uint16_t *)v.p)[i]) : ((float *)v.p)[i]; }
inline void vput(view v, size_t r, int c, float x) { size_t i = r * v.ld + c; if (v.bf16) ((uint16_t *)v.p)[i] = hn_bf16_from_f32(x); else ((float *)v.p)[i] = x; }
template <int N> void loadn(view v, size_t r, int c, float *x) { for (int k = 0; k < N; k++) x[k] = vget(v, r, c + k); }
template <int N> void storen(view v, size_t r, int c, const float *x) { for (int k = 0; k < N; k++) vput(v, r, c + k, x[k]); }
template <int N> void gradn(view v, size_t r, int c, const float *x) {
    for (int k = 0; k < N; k++) { size_t i = r * v.ld + c + k; if (v.bf16) ((uint16_t *)v.p)[i] = hn_bf16_from_f32(x[k]); else ((float *)v.p)[i] += x[k]; }
}
#include "backend/cuda/ssm_conv_win.cuh"
#include "backend/cuda/ssm_conv_lean.cuh"

/* cp.async for the ring kernel: a thread's copies are done at its waits (deferred: a slot
 * read before its wait holds stale bytes) or at once (eager: a slot overwritten before it
 * was read loses its bytes); either way a wrong ring index shows */
struct uint2 { unsigned x, y; };
inline uint2 make_uint2(unsigned x, unsigned y) { return {x, y}; }
struct __nv_bfloat162 { uint16_t x, y; };
inline __nv_bfloat162 __floats2bfloat162_rn(float a, float b) { return {hn_bf16_from_f32(a), hn_bf16_from_f32(b)}; }
inline float conv_sigmoid_ftz(float a) { return 1.0f / (1.0f + expf(-a)); }
struct float4 { float x, y, z, w; };
inline float __uint_as_float(unsigned u) { float f; memcpy(&f, &u, 4); return f; }
struct ring_copy { unsigned char *dst; const unsigned char *src; int bytes; bool valid; };
static bool ring_eager;
thread_local std::vector<std::vector<ring_copy>> ring_groups;
thread_local std::vector<ring_copy> ring_open;
static void ring_do(const ring_copy &k) {
    if (k.valid) memcpy(k.dst, k.src, k.bytes);
    else memset(k.dst, 0, k.bytes);
}
inline void conv_cp_async(void *dst, const void *src, int bytes, bool valid) {
    ring_copy k{(unsigned char *)dst, (const unsigned char *)src, bytes, valid};
    if (ring_eager) ring_do(k);
    else ring_open.push_back(k);
}
inline void conv_cp_async_commit() { ring_groups.push_back(ring_open), ring_open.clear(); }
template <int N> void conv_cp_async_wait() {
    while (ring_groups.size() > N) {
        for (auto &k : ring_groups.front()) ring_do(k);
        ring_groups.erase(ring_groups.begin());
    }
}
/* copies never waited for (a kernel must not leave any) */
static size_t ring_left() {
    size_t n = ring_open.size();
    for (auto &g : ring_groups) n += g.size();
    return n;
}
alignas(16) static unsigned char ring_smem[256 << 10];
inline unsigned char *conv_ring_smem() { return ring_smem; }
#include "backend/cuda/ssm_conv_ring.cuh"
static std::atomic<size_t> ring_leftover;

template <class F> void launch(unsigned gx, unsigned gy, unsigned bx, unsigned by, F f) {
    for (unsigned y = 0; y < gy; y++)
        for (unsigned x = 0; x < gx; x++) {
            std::barrier<> b(bx * by);
            bar = &b;
            std::vector<std::thread> th;
            for (unsigned ty = 0; ty < by; ty++)
                for (unsigned tx = 0; tx < bx; tx++)
                    th.emplace_back([=] {
                        blockIdx = {x, y, 0}, threadIdx = {tx, ty, 0};
                        f();
                        ring_leftover += ring_left();
                    });
            for (auto &t : th) t.join();
        }
}

static double rel(const std::vector<double> &ref, const float *got, size_t n) {
    double a = 0, b = 0;
    for (size_t i = 0; i < n; i++) { a += (got[i] - ref[i]) * (got[i] - ref[i]); b += ref[i] * ref[i]; }
    return sqrt(a / (b > 0 ? b : 1));
}

/* x16, d16: x, dout read as bf16 (the reference takes their rounded values) */
template <int K, int V> int run(const std::vector<int> &lens, int C, bool x16_ = false, bool d16_ = false) {
    int T = 0;
    std::vector<int32_t> pos;
    for (int L : lens) { for (int t = 0; t < L; t++) pos.push_back(t); T += L; }
    srand(K * 100 + V + C);
    auto rnd = [] { return (float)rand() / RAND_MAX * 2 - 1; };
    std::vector<float> x(T * C), dout(T * C), w(C * K), b(C), out(T * C, 0), dx(T * C, 0), dw(C * K, 0), db(C, 0);
    for (auto &v : x) v = rnd();
    for (auto &v : dout) v = rnd();
    for (auto &v : w) v = rnd();
    for (auto &v : b) v = rnd();
    std::vector<uint16_t> x16(T * C), dout16(T * C);
    for (int i = 0; i < T * C; i++) {
        if (x16_) x16[i] = hn_bf16_from_f32(x[i]), x[i] = hn_bf16_to_f32(x16[i]);
        if (d16_) dout16[i] = hn_bf16_from_f32(dout[i]), dout[i] = hn_bf16_to_f32(dout16[i]);
    }
    // reference in double
    std::vector<double> rout(T * C), rg(T * C), rdx(T * C, 0), rdw(C * K, 0), rdb(C, 0);
    for (int t = 0; t < T; t++) for (int c = 0; c < C; c++) {
        double p = b[c];
        for (int k = 0; k < K; k++) { int r = t - (K - 1) + k; if (r >= t - pos[t]) p += (double)w[c * K + k] * x[r * C + c]; }
        double s = 1 / (1 + exp(-p));
        rout[t * C + c] = p * s;
        double g = dout[t * C + c] * s * (1 + p * (1 - s));
        rg[t * C + c] = g;
        rdb[c] += g;
        for (int k = 0; k < K; k++) { int r = t - (K - 1) + k; if (r >= t - pos[t]) { rdw[c * K + k] += g * x[r * C + c]; rdx[r * C + c] += g * w[c * K + k]; } }
    }
    int groups = C / V;
    unsigned gx = (groups + CONV_CG - 1) / CONV_CG, gy = (T + CONV_TILE_ROWS - 1) / CONV_TILE_ROWS;
    int bad = 0;
    /* window, lean, then (four channels a thread) lean2's ring with deferred and eager
     * copies, then (bf16 x) lean3's, which writes a bf16 dx (one rounding: dx within 5e-3) */
    std::vector<uint16_t> dx16(T * C);
    const char *names[] = {"window", "lean", "lean2 deferred", "lean2 eager", "lean3 deferred", "lean3 eager"};
    for (int mode = 0; mode < (V != 4 ? 2 : x16_ ? 6 : 4); mode++) {
        std::fill(out.begin(), out.end(), 0.0f);
        std::fill(dx.begin(), dx.end(), 0.0f);
        std::fill(dw.begin(), dw.end(), 0.0f);
        std::fill(db.begin(), db.end(), 0.0f);
        view vo{out.data(), 0, C}, vdx = mode >= 4 ? view{dx16.data(), 1, C} : view{dx.data(), 0, C};
        view vx = x16_ ? view{x16.data(), 1, C} : view{x.data(), 0, C};
        view vd = d16_ ? view{dout16.data(), 1, C} : view{dout.data(), 0, C};
        auto fwd = mode ? k_conv_fwd_lean<K, V> : k_conv_fwd_win<K, V>;
        auto bwd = mode ? k_conv_bwd_lean<K, V> : k_conv_bwd_win<K, V>;
        if constexpr (V == 4) {
            if (mode >= 2) bwd = k_conv_bwd_ring<K>;
            if (mode >= 4) bwd = d16_ ? k_conv_bwd_ring_bf16<K, 8> : k_conv_bwd_ring_bf16<K, 16>;
        }
        ring_eager = mode == 3 || mode == 5;
        ring_leftover = 0;
        launch(gx, gy, CONV_CG, CONV_RS, [&] { fwd(vo, vx, w.data(), b.data(), pos.data(), T, C); });
        std::vector<float> part((size_t)gy * C * (K + 1), NAN);
        launch(gx, gy, CONV_CG, CONV_RS, [&] { bwd(vdx, part.data(), vd, vx, w.data(), b.data(), pos.data(), T, C); });
        int items = C * (K + 1);
        launch((items + 31) / 32, 1, 32, CONV_SUM_LANES, [&] { k_conv_dw_sum(dw.data(), db.data(), part.data(), gy, C, K); });
        for (int i = 0; mode >= 4 && i < T * C; i++) dx[i] = hn_bf16_to_f32(dx16[i]);
        double e[4] = {rel(rout, out.data(), T * C), rel(rdx, dx.data(), T * C), rel(rdw, dw.data(), C * K), rel(rdb, db.data(), C)};
        bool ok = e[0] < 1e-5 && e[1] < (mode >= 4 ? 5e-3 : 1e-5) && e[2] < 1e-5 && e[3] < 1e-5 && !ring_leftover;
        printf("%s %-14s %-8s K %d V %d C %d T %d seqs %zu: out %.1e dx %.1e dw %.1e db %.1e%s\n", ok ? "ok  " : "FAIL",
               names[mode], x16_ ? (d16_ ? "bf16" : "bf16/f32") : "f32 ", K, V, C, T, lens.size(), e[0], e[1], e[2], e[3],
               ring_leftover ? " (copies never waited for)" : "");
        bad += !ok;
    }
    return bad;
}

int main() {
    std::vector<int> many = {1000};
    for (int i = 1; i <= 301; i++) many.push_back(1 + (i * 7) % 5);
    many.push_back(300);
    std::vector<int> one = {1}, b2 = {257}, mixed = {37, 1, 64, 130, 5, 91};
    /* sequence starts at every offset into a batch of rows (the lean kernels' unmasked
     * batches begin exactly K-1 rows into a sequence, never K-2) */
    std::vector<int> offs = {6, 100, 7, 61, 5, 40, 3, 70, 1, 2, 9, 33};
    int bad = 0;
    bad += run<4, 4>(many, 132);
    bad += run<4, 1>(many, 37);
    bad += run<8, 4>(many, 36);
    bad += run<8, 1>(mixed, 33);
    bad += run<1, 4>(many, 8);
    bad += run<2, 1>(many, 5);
    bad += run<3, 4>(mixed, 72);
    bad += run<4, 4>(one, 64);
    bad += run<4, 4>(b2, 64);
    bad += run<7, 4>(b2, 40);
    bad += run<4, 4>(offs, 68);
    bad += run<3, 1>(offs, 7);
    bad += run<6, 4>(offs, 12);
    /* bf16 rows (the ring's 8-byte slots): x and dout, x alone */
    bad += run<4, 4>(many, 132, true, true);
    bad += run<4, 4>(offs, 68, true, true);
    bad += run<8, 4>(mixed, 36, true, true);
    bad += run<4, 4>(many, 132, true, false);
    bad += run<3, 4>(offs, 12, true, false);
    bad += run<8, 4>(b2, 36, true, false);
    bad += run<1, 4>(mixed, 8, true, true);
    return bad;
}
