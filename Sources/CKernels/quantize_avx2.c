// AVX2 forms of the activation quantizers (dispatch.c's quantize_a32 / quantize_a256),
// bit for bit the same: the same scale arithmetic in float, and rounding by the vector
// unit's round-half-to-even (what nearbyintf does in the default rounding mode). A chat
// turn's prefill quantizes every product's input, serially, before the parallel product:
// with libm's nearbyintf per element that was ~6% of the prefill's time.
#include "ckernels.h"
#include "quant_blocks.h"
#include "kernels_internal.h"

#if defined(__x86_64__)
#include "simd_avx2.h"

AVX2 static inline __m256 abs_ps(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

AVX2 static inline float hmax_ps(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

// 32 int32 (four vectors, elements in order) as 32 int8 in order.
AVX2 static inline __m256i pack32(__m256i i0, __m256i i1, __m256i i2, __m256i i3) {
    const __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    return _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

AVX2 static inline __m256i round_epi32(__m256 v) {
    return _mm256_cvtps_epi32(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

AVX2 void ck_quantize_a32_avx2(const float *x, void *dst, int64_t n) {
    act32 *y = dst;
    for (int64_t i = 0; i < n / 32; i++) {
        const float *p = x + i * 32;
        const __m256 v0 = _mm256_loadu_ps(p), v1 = _mm256_loadu_ps(p + 8), v2 = _mm256_loadu_ps(p + 16), v3 = _mm256_loadu_ps(p + 24);
        // New values first: maxps returns its second operand when either is NaN, so a NaN
        // input is skipped here as the scalar loop's `v > amax` skips it.
        __m256 m = _mm256_max_ps(abs_ps(v0), _mm256_setzero_ps());
        m = _mm256_max_ps(abs_ps(v1), m); m = _mm256_max_ps(abs_ps(v2), m); m = _mm256_max_ps(abs_ps(v3), m);
        const float amax = hmax_ps(m);
        const float d = (float)(_Float16)(amax / 127.0f), id = amax != 0 ? 127.0f / amax : 0.0f;
        const __m256 s = _mm256_set1_ps(id);
        const __m256i i0 = round_epi32(_mm256_mul_ps(v0, s)), i1 = round_epi32(_mm256_mul_ps(v1, s));
        const __m256i i2 = round_epi32(_mm256_mul_ps(v2, s)), i3 = round_epi32(_mm256_mul_ps(v3, s));
        _mm256_storeu_si256((__m256i *)y[i].qs, pack32(i0, i1, i2, i3));
        const int sum = hsum_epi32(_mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3)));
        y[i].d = d; y[i].s = d * (float)sum;
    }
}

AVX2 void ck_quantize_a256_avx2(const float *x, void *dst, int64_t n) {
    act256 *y = dst;
    for (int64_t i = 0; i < n / 256; i++) {
        const float *p = x + i * 256;
        __m256 m = _mm256_setzero_ps();
        for (int j = 0; j < 256; j += 8) m = _mm256_max_ps(abs_ps(_mm256_loadu_ps(p + j)), m);  // NaN skipped, as above
        const float amax = hmax_ps(m);
        if (amax == 0) { memset(&y[i], 0, sizeof(act256)); continue; }
        // The scale comes from the first element of largest magnitude, with its sign.
        float max = 0;
        const __m256 va = _mm256_set1_ps(amax);
        for (int j = 0; j < 256; j += 8) {
            const int hit = _mm256_movemask_ps(_mm256_cmp_ps(abs_ps(_mm256_loadu_ps(p + j)), va, _CMP_EQ_OQ));
            if (hit) { max = p[j + __builtin_ctz((unsigned)hit)]; break; }
        }
        const float iscale = -127.0f / max;
        const __m256 s = _mm256_set1_ps(iscale), top = _mm256_set1_ps(127.0f);
        for (int g = 0; g < 256; g += 32) {
            __m256i q[4];
            for (int k = 0; k < 4; k++) {
                // Round, then clamp at 127 (the extreme itself maps to -127).
                const __m256 r = _mm256_round_ps(_mm256_mul_ps(s, _mm256_loadu_ps(p + g + 8 * k)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                q[k] = _mm256_cvtps_epi32(_mm256_min_ps(r, top));
            }
            _mm256_storeu_si256((__m256i *)(y[i].qs + g), pack32(q[0], q[1], q[2], q[3]));
            y[i].bsums[g / 16] = (int16_t)hsum_epi32(_mm256_add_epi32(q[0], q[1]));
            y[i].bsums[g / 16 + 1] = (int16_t)hsum_epi32(_mm256_add_epi32(q[2], q[3]));
        }
        y[i].d = 1.0f / iscale;
    }
}
#endif
