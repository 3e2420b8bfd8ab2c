// The Q5_0 and Q8_0 small-batch kernels of matmul_x8_avx2.c for CPUs with AVX-512 VNNI
// (on 256-bit vectors): one vpdpbusd in place of maddubs + madd for each activation's
// block. Q5_0 and Q8_0 carry most of a Gemma 3 GGUF's multiply-adds (gate, up, q, k, v).
// The integer block sums are exact either way (maddubs cannot saturate on these
// operands: at most 2 x 128 x 127 per pair), and the float steps are the AVX2 kernels'
// in the same order, so the result is bit for bit the one-activation kernel's.
// The K-quant kernels gain nothing from it (their per-sub-block scale multiply stays)
// and keep the AVX2 versions.
#include "ckernels.h"
#include "quant_blocks.h"
#include "kernels_internal.h"

#if defined(__x86_64__)
#include "simd_avx2.h"
#define VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512vnni")))

VNNI static inline void finish8_vnni(const __m256 acc[8], __m256 bias, float out[8]) {
    float b[8];
    _mm256_storeu_ps(b, bias);
    for (int t = 0; t < 8; t++) out[t] = hsum_ps(acc[t]) + b[t];
}

VNNI void ck_dot_q5_0_x8_vnni(const void *row, const void *const acts[8], const float *tab, int64_t n, float out[8]) {
    const blk_q5_0 *x = row;
    const act32 *y[8];
    for (int t = 0; t < 8; t++) y[t] = acts[t];
    __m256 acc[8], off = _mm256_setzero_ps();
    for (int t = 0; t < 8; t++) acc[t] = _mm256_setzero_ps();
    const __m256i zero = _mm256_setzero_si256();
    float sc[8] __attribute__((aligned(32)));
    for (int64_t i = 0; i < n / 32; i++) {
        const __m256 dw = _mm256_set1_ps(h2f(x[i].d));
        _mm256_store_ps(sc, _mm256_mul_ps(dw, _mm256_loadu_ps(tab + 16 * i)));
        off = _mm256_fmadd_ps(dw, _mm256_loadu_ps(tab + 16 * i + 8), off);
        const __m256i q = q5_bytes(x[i].qs, x[i].qh);
        for (int t = 0; t < 8; t++) {
            const __m256i p = _mm256_dpbusd_epi32(zero, q, _mm256_loadu_si256((const __m256i *)y[t][i].qs));
            acc[t] = _mm256_fmadd_ps(_mm256_broadcast_ss(sc + t), _mm256_cvtepi32_ps(p), acc[t]);
        }
    }
    finish8_vnni(acc, _mm256_mul_ps(_mm256_set1_ps(-16.0f), off), out);
}

VNNI void ck_dot_q8_0_x8_vnni(const void *row, const void *const acts[8], const float *tab, int64_t n, float out[8]) {
    const blk_q8_0 *x = row;
    const act32 *y[8];
    for (int t = 0; t < 8; t++) y[t] = acts[t];
    __m256 acc[8];
    for (int t = 0; t < 8; t++) acc[t] = _mm256_setzero_ps();
    const __m256i zero = _mm256_setzero_si256();
    float sc[8] __attribute__((aligned(32)));
    for (int64_t i = 0; i < n / 32; i++) {
        _mm256_store_ps(sc, _mm256_mul_ps(_mm256_set1_ps(h2f(x[i].d)), _mm256_loadu_ps(tab + 16 * i)));
        const __m256i w = _mm256_loadu_si256((const __m256i *)x[i].qs);
        const __m256i aw = _mm256_sign_epi8(w, w);  // |w|; each activation takes w's sign
        for (int t = 0; t < 8; t++) {
            const __m256i a = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)y[t][i].qs), w);
            const __m256i p = _mm256_dpbusd_epi32(zero, aw, a);
            acc[t] = _mm256_fmadd_ps(_mm256_broadcast_ss(sc + t), _mm256_cvtepi32_ps(p), acc[t]);
        }
    }
    finish8_vnni(acc, _mm256_setzero_ps(), out);
}
#endif
