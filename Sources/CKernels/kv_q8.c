// The q8_0 KV cache: keys and values stored per head row as llama.cpp's q8_0 (blocks of
// 32 values, one fp16 scale and 32 int8 each; `-ctk q8_0 -ctv q8_0`), and the two
// attention kernels that read it without dequantizing a row: the scores (the float
// query dotted with each key's int8 values, times the block scale) and the weighted sum
// of values. A head whose size is not a multiple of 32 ends in a partial block, padded
// with zeros in storage and handled by scalar code in every variant (the tiny test
// checkpoints have heads of 16). Scalar, AVX2 and AVX-512 variants, chosen per call by
// ck_cpu_level().
#include "ckernels.h"
#include "quant_blocks.h"
#include "kernels_internal.h"

size_t ck_kv_q8_row_bytes(int64_t n) { return (size_t)((n + 31) / 32) * sizeof(blk_q8_0); }

// llama.cpp's quantize_row_q8_0_ref: d = amax/127 kept at fp16, q = round(x/d).
void ck_kv_q8_quantize(const float *x, void *dst, int64_t n) {
    blk_q8_0 *y = dst;
    for (int64_t b = 0; b * 32 < n; b++) {
        const int64_t m = n - b * 32 < 32 ? n - b * 32 : 32;
        float amax = 0;
        for (int64_t j = 0; j < m; j++) { const float v = fabsf(x[b * 32 + j]); if (v > amax) amax = v; }
        const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
        const _Float16 h = (_Float16)d;
        memcpy(&y[b].d, &h, 2);
        for (int64_t j = 0; j < 32; j++) y[b].qs[j] = j < m ? (int8_t)roundf(x[b * 32 + j] * id) : 0;
    }
}

void ck_kv_q8_dequantize(const void *src, float *dst, int64_t n) {
    const blk_q8_0 *y = src;
    for (int64_t b = 0; b * 32 < n; b++) {
        const float d = ck_half_to_float(y[b].d);
        const int64_t m = n - b * 32 < 32 ? n - b * 32 : 32;
        for (int64_t j = 0; j < m; j++) dst[b * 32 + j] = d * (float)y[b].qs[j];
    }
}

// The row of position p in a ring of `ring` slots, `stride` bytes apart.
static inline const blk_q8_0 *ring_row(const void *base, size_t stride, int64_t ring, int64_t p) {
    return (const blk_q8_0 *)((const uint8_t *)base + (size_t)(p % ring) * stride);
}

// The partial last block (m < 32 values), the same in every variant.
static inline float tail_dot(const float *q, const blk_q8_0 *blk, int64_t m) {
    float s = 0;
    for (int64_t j = 0; j < m; j++) s += q[j] * (float)blk->qs[j];
    return s * ck_half_to_float(blk->d);
}

static inline void tail_axpy(float w, const blk_q8_0 *blk, float *out, int64_t m) {
    const float c = w * ck_half_to_float(blk->d);
    for (int64_t j = 0; j < m; j++) out[j] += c * (float)blk->qs[j];
}

static void scores_scalar(const float *q, const void *keys, size_t stride, int64_t ring, int64_t lo, int64_t count,
                          int64_t n, float *scores) {
    const int64_t full = n / 32, rest = n % 32;
    for (int64_t j = 0; j < count; j++) {
        const blk_q8_0 *k = ring_row(keys, stride, ring, lo + j);
        float s = 0;
        for (int64_t b = 0; b < full; b++) s += tail_dot(q + b * 32, k + b, 32);
        if (rest) s += tail_dot(q + full * 32, k + full, rest);
        scores[j] = s;
    }
}

static void weighted_sum_scalar(const float *w, const void *values, size_t stride, int64_t ring, int64_t lo,
                                int64_t count, int64_t n, float *out) {
    const int64_t full = n / 32, rest = n % 32;
    for (int64_t i = 0; i < n; i++) out[i] = 0;
    for (int64_t j = 0; j < count; j++) {
        const blk_q8_0 *v = ring_row(values, stride, ring, lo + j);
        for (int64_t b = 0; b < full; b++) tail_axpy(w[j], v + b, out + b * 32, 32);
        if (rest) tail_axpy(w[j], v + full, out + full * 32, rest);
    }
}

#if defined(__x86_64__)
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))

// fp16 -> fp32 through a zeroing vmovd (see dot_avx2.c's h2f for why not _cvtsh_ss).
AVX2 static inline float kv_h2f(uint16_t h) {
    __m128i v = _mm_cvtsi32_si128(h);
    __asm__("" : "+x"(v));
    return _mm_cvtss_f32(_mm_cvtph_ps(v));
}

// 8 int8 at p as 8 floats.
AVX2 static inline __m256 i8x8_ps(const int8_t *p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}

AVX2 static void scores_avx2(const float *q, const void *keys, size_t stride, int64_t ring, int64_t lo, int64_t count,
                             int64_t n, float *scores) {
    const int64_t full = n / 32, rest = n % 32;
    for (int64_t j = 0; j < count; j++) {
        const blk_q8_0 *k = ring_row(keys, stride, ring, lo + j);
        __m256 acc = _mm256_setzero_ps();
        for (int64_t b = 0; b < full; b++) {
            const float *qb = q + b * 32;
            const int8_t *kb = k[b].qs;
            __m256 s = _mm256_mul_ps(_mm256_loadu_ps(qb), i8x8_ps(kb));
            s = _mm256_fmadd_ps(_mm256_loadu_ps(qb + 8), i8x8_ps(kb + 8), s);
            s = _mm256_fmadd_ps(_mm256_loadu_ps(qb + 16), i8x8_ps(kb + 16), s);
            s = _mm256_fmadd_ps(_mm256_loadu_ps(qb + 24), i8x8_ps(kb + 24), s);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(kv_h2f(k[b].d)), s, acc);
        }
        __m128 h = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
        h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        h = _mm_add_ss(h, _mm_movehdup_ps(h));
        float s = _mm_cvtss_f32(h);
        if (rest) s += tail_dot(q + full * 32, k + full, rest);
        scores[j] = s;
    }
}

// One 32-value block of the output at a time, its four accumulators in registers across
// every key (out is written once, not read and written per key as an axpy would).
AVX2 static void weighted_sum_avx2(const float *w, const void *values, size_t stride, int64_t ring, int64_t lo,
                                   int64_t count, int64_t n, float *out) {
    const int64_t full = n / 32, rest = n % 32;
    for (int64_t b = 0; b < full; b++) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t j = 0; j < count; j++) {
            const blk_q8_0 *v = ring_row(values, stride, ring, lo + j) + b;
            const __m256 c = _mm256_set1_ps(w[j] * kv_h2f(v->d));
            a0 = _mm256_fmadd_ps(c, i8x8_ps(v->qs), a0);
            a1 = _mm256_fmadd_ps(c, i8x8_ps(v->qs + 8), a1);
            a2 = _mm256_fmadd_ps(c, i8x8_ps(v->qs + 16), a2);
            a3 = _mm256_fmadd_ps(c, i8x8_ps(v->qs + 24), a3);
        }
        float *o = out + b * 32;
        _mm256_storeu_ps(o, a0); _mm256_storeu_ps(o + 8, a1);
        _mm256_storeu_ps(o + 16, a2); _mm256_storeu_ps(o + 24, a3);
    }
    if (rest) {
        for (int64_t i = 0; i < rest; i++) out[full * 32 + i] = 0;
        for (int64_t j = 0; j < count; j++) tail_axpy(w[j], ring_row(values, stride, ring, lo + j) + full, out + full * 32, rest);
    }
}

// 16 int8 at p as 16 floats.
AVX512 static inline __m512 i8x16_ps(const int8_t *p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p)));
}

AVX512 static void scores_avx512(const float *q, const void *keys, size_t stride, int64_t ring, int64_t lo,
                                 int64_t count, int64_t n, float *scores) {
    const int64_t full = n / 32, rest = n % 32;
    for (int64_t j = 0; j < count; j++) {
        const blk_q8_0 *k = ring_row(keys, stride, ring, lo + j);
        __m512 acc = _mm512_setzero_ps();
        for (int64_t b = 0; b < full; b++) {
            const float *qb = q + b * 32;
            __m512 s = _mm512_mul_ps(_mm512_loadu_ps(qb), i8x16_ps(k[b].qs));
            s = _mm512_fmadd_ps(_mm512_loadu_ps(qb + 16), i8x16_ps(k[b].qs + 16), s);
            acc = _mm512_fmadd_ps(_mm512_set1_ps(kv_h2f(k[b].d)), s, acc);
        }
        float s = _mm512_reduce_add_ps(acc);
        if (rest) s += tail_dot(q + full * 32, k + full, rest);
        scores[j] = s;
    }
}

// Two blocks of the output per pass over the keys (four zmm accumulators).
AVX512 static void weighted_sum_avx512(const float *w, const void *values, size_t stride, int64_t ring, int64_t lo,
                                       int64_t count, int64_t n, float *out) {
    const int64_t full = n / 32, rest = n % 32;
    int64_t b = 0;
    for (; b + 2 <= full; b += 2) {
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t j = 0; j < count; j++) {
            const blk_q8_0 *v = ring_row(values, stride, ring, lo + j) + b;
            const __m512 c0 = _mm512_set1_ps(w[j] * kv_h2f(v[0].d)), c1 = _mm512_set1_ps(w[j] * kv_h2f(v[1].d));
            a0 = _mm512_fmadd_ps(c0, i8x16_ps(v[0].qs), a0);
            a1 = _mm512_fmadd_ps(c0, i8x16_ps(v[0].qs + 16), a1);
            a2 = _mm512_fmadd_ps(c1, i8x16_ps(v[1].qs), a2);
            a3 = _mm512_fmadd_ps(c1, i8x16_ps(v[1].qs + 16), a3);
        }
        float *o = out + b * 32;
        _mm512_storeu_ps(o, a0); _mm512_storeu_ps(o + 16, a1);
        _mm512_storeu_ps(o + 32, a2); _mm512_storeu_ps(o + 48, a3);
    }
    for (; b < full; b++) {
        __m512 a0 = _mm512_setzero_ps(), a1 = a0;
        for (int64_t j = 0; j < count; j++) {
            const blk_q8_0 *v = ring_row(values, stride, ring, lo + j) + b;
            const __m512 c = _mm512_set1_ps(w[j] * kv_h2f(v->d));
            a0 = _mm512_fmadd_ps(c, i8x16_ps(v->qs), a0);
            a1 = _mm512_fmadd_ps(c, i8x16_ps(v->qs + 16), a1);
        }
        _mm512_storeu_ps(out + b * 32, a0); _mm512_storeu_ps(out + b * 32 + 16, a1);
    }
    if (rest) {
        for (int64_t i = 0; i < rest; i++) out[full * 32 + i] = 0;
        for (int64_t j = 0; j < count; j++) tail_axpy(w[j], ring_row(values, stride, ring, lo + j) + full, out + full * 32, rest);
    }
}
#endif

void ck_kv_q8_scores(const float *q, const void *keys, size_t stride, int64_t ring, int64_t lo, int64_t count,
                     int64_t n, float *scores) {
#if defined(__x86_64__)
    const int level = ck_cpu_level();
    if (level >= 2) { scores_avx512(q, keys, stride, ring, lo, count, n, scores); return; }
    if (level >= 1) { scores_avx2(q, keys, stride, ring, lo, count, n, scores); return; }
#endif
    scores_scalar(q, keys, stride, ring, lo, count, n, scores);
}

void ck_kv_q8_weighted_sum(const float *w, const void *values, size_t stride, int64_t ring, int64_t lo,
                           int64_t count, int64_t n, float *out) {
#if defined(__x86_64__)
    const int level = ck_cpu_level();
    if (level >= 2) { weighted_sum_avx512(w, values, stride, ring, lo, count, n, out); return; }
    if (level >= 1) { weighted_sum_avx2(w, values, stride, ring, lo, count, n, out); return; }
#endif
    weighted_sum_scalar(w, values, stride, ring, lo, count, n, out);
}
