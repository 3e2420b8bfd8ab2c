// Small-batch products (a short prompt, a chat turn's prefill): one weight row against
// eight activations at once. A row's blocks are unpacked once for all eight, which is
// what bounds these products: measured on a 2-core AMD EPYC (AVX2), a Q5_0 2048x640
// product of 16 activations ran at 24 GMAC/s per core four at a time and 29 eight at
// a time.
//
// For the 32-element block types the per-block float work is vectorised across the
// eight activations: `tab` holds, per block i, the eight activations' scales d at
// tab[16i .. 16i+7] and their d*sum(q) at tab[16i+8 .. 16i+15] (ck_x8_scale_table), so a
// block costs one multiply for all eight scales instead of one per activation. The
// K-quant kernels compute each activation's integer offset term (Q6_K's -32, Q4_K's
// minimums) with one vector multiply-add of its per-16 sums instead of a scalar loop
// (q6k_offset_lanes, which the one- and four-activation Q6_K kernels use too).
// Every kernel here gives bit for bit the one-activation kernel's result (the same float
// operations in the same order; integer sums are exact in any order): speculative
// verification, a batch, must see the logits plain decoding sees.
#include "ckernels.h"
#include "quant_blocks.h"
#include "kernels_internal.h"

void ck_x8_scale_table(const void *const acts[8], int64_t n, float *tab) {
    for (int t = 0; t < 8; t++) {
        const act32 *y = acts[t];
        for (int64_t i = 0; i < n / 32; i++) { tab[16 * i + t] = y[i].d; tab[16 * i + 8 + t] = y[i].s; }
    }
}

#if defined(__x86_64__)
#include "simd_avx2.h"

// The 32-element block kernels (Q5_0, Q8_0), shared with matmul_x8_vnni.c.
#define X8_TARGET AVX2
#define X8_NAME(type) ck_dot_##type##_x8_avx2
#define X8_DOT(u, s) dot_u8_i8(u, s)
#include "matmul_x8_q32.h"

AVX2 void ck_dot_q4_K_x8_avx2(const void *row, const void *const acts[8], const float *tab, int64_t n, float out[8]) {
    (void)tab;
    const blk_q4_K *x = row;
    const act256 *y[8];
    for (int t = 0; t < 8; t++) y[t] = acts[t];
    float accm[8] = { 0, 0, 0, 0, 0, 0, 0, 0 };
    __m256 acc[8];
    for (int t = 0; t < 8; t++) acc[t] = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int64_t i = 0; i < n / 256; i++) {
        uint8_t sc[8], mn[8];
        for (int j = 0; j < 8; j++) ck_scale_min_k4(j, x[i].scales, &sc[j], &mn[j]);
        // Each sub-block's minimum twice (it covers two of the activation's per-16 sums).
        int16_t mins16[16];
        for (int j = 0; j < 16; j++) mins16[j] = mn[j / 2];
        const __m256i mv = _mm256_loadu_si256((const __m256i *)mins16);
        __m256i lo[4], hi[4], sl[4], sh[4];
        for (int j = 0; j < 4; j++) {
            const __m256i qb = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * j));
            lo[j] = _mm256_and_si256(qb, m4);
            hi[j] = _mm256_and_si256(_mm256_srli_epi16(qb, 4), m4);
            sl[j] = _mm256_set1_epi16(sc[2 * j]);
            sh[j] = _mm256_set1_epi16(sc[2 * j + 1]);
        }
        const float dw = h2f(x[i].d), mw = h2f(x[i].dmin);
        for (int t = 0; t < 8; t++) {
            const int8_t *a = y[t][i].qs;
            __m256i s = _mm256_setzero_si256();
            for (int j = 0; j < 4; j++) {
                s = _mm256_add_epi32(s, _mm256_madd_epi16(_mm256_maddubs_epi16(lo[j], _mm256_loadu_si256((const __m256i *)(a + 64 * j))), sl[j]));
                s = _mm256_add_epi32(s, _mm256_madd_epi16(_mm256_maddubs_epi16(hi[j], _mm256_loadu_si256((const __m256i *)(a + 64 * j + 32))), sh[j]));
            }
            // The minimums' integer sum in a vector multiply-add (exact), then the same
            // float steps as the one-activation kernel.
            const int m = hsum_epi32(_mm256_madd_epi16(mv, _mm256_loadu_si256((const __m256i *)y[t][i].bsums)));
            const float d = y[t][i].d * dw, dmin = y[t][i].d * mw;
            accm[t] += dmin * (float)m;
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(s), acc[t]);
        }
    }
    for (int t = 0; t < 8; t++) out[t] = hsum_ps(acc[t]) - accm[t];
}

AVX2 void ck_dot_q6_K_x8_avx2(const void *row, const void *const acts[8], const float *tab, int64_t n, float out[8]) {
    (void)tab;
    const blk_q6_K *x = row;
    const act256 *y[8];
    for (int t = 0; t < 8; t++) y[t] = acts[t];
    __m256 acc[8];
    for (int t = 0; t < 8; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 256; i++) {
        const int8_t *sc = x[i].scales;
        __m256i q[8], s[8];
        q6k_unpack128(x[i].ql, x[i].qh, q);
        q6k_unpack128(x[i].ql + 64, x[i].qh + 32, q + 4);
        for (int k = 0; k < 8; k++) s[k] = scale_pair(sc[2 * k], sc[2 * k + 1]);
        const float dw = h2f(x[i].d);
        for (int t = 0; t < 8; t++) {
            const int8_t *a = y[t][i].qs;
            __m256i sum = q6k_offset_lanes(sc, y[t][i].bsums);
            for (int k = 0; k < 8; k++)
                sum = _mm256_add_epi32(sum, _mm256_madd_epi16(_mm256_maddubs_epi16(q[k], _mm256_loadu_si256((const __m256i *)(a + 32 * k))), s[k]));
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dw * y[t][i].d), _mm256_cvtepi32_ps(sum), acc[t]);
        }
    }
    finish8(acc, _mm256_setzero_ps(), out);
}
#endif
