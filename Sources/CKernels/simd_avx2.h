// Inline AVX2 helpers shared by the dot kernels (dot_avx2.c) and the small-batch
// matmul kernels (matmul_x8_avx2.c): fp16 scales, horizontal sums, and the unpacking
// of each quantized block into bytes that maddubs can multiply.
#pragma once
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>
#include "quant_blocks.h"
#define AVX2 __attribute__((target("avx2,fma,f16c")))

// fp16 -> fp32 through a zeroing vmovd + vcvtph2ps. Not _cvtsh_ss: clang lowers that to a
// vpinsrw merging into whatever register is free — in these loops the accumulator —
// which chains every block's scale onto the previous block's FMA (measured: 15 cycles
// per Q8_0 block instead of ~4, the LM head at 10 GB/s instead of memory speed).
// The empty asm keeps clang from folding the vmovd back into a merging vpinsrw.
AVX2 static inline float h2f(uint16_t h) {
    __m128i v = _mm_cvtsi32_si128(h);
    __asm__("" : "+x"(v));
    return _mm_cvtss_f32(_mm_cvtph_ps(v));
}

AVX2 static inline float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// Eight accumulators and their sums: out[t] = sum of acc[t]'s lanes + bias[t].
AVX2 static inline void finish8(const __m256 acc[8], __m256 bias, float out[8]) {
    float b[8];
    _mm256_storeu_ps(b, bias);
    for (int t = 0; t < 8; t++) out[t] = hsum_ps(acc[t]) + b[t];
}

AVX2 static inline int hsum_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
    return _mm_cvtsi128_si32(s);
}

// Sum of products of unsigned bytes u (< 128) and signed bytes s, as 8 int32 lanes.
AVX2 static inline __m256i dot_u8_i8(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}
AVX2 static inline __m256 dot_u8_i8_ps(__m256i u, __m256i s) { return _mm256_cvtepi32_ps(dot_u8_i8(u, s)); }

// 32 nibbles: low nibbles of 16 bytes (elements 0-15) then high nibbles (16-31).
AVX2 static inline __m256i nibbles32(const uint8_t *q) {
    const __m128i t = _mm_loadu_si128((const __m128i *)q);
    const __m256i b = _mm256_insertf128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1);
    return _mm256_and_si256(b, _mm256_set1_epi8(0x0F));
}

// Each of 32 bits becomes a byte of 0xFF (set) or 0x00.
AVX2 static inline __m256i bits_to_bytes(const uint8_t *p) {
    uint32_t x; memcpy(&x, p, 4);
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303LL, 0x0202020202020202LL, 0x0101010101010101LL, 0);
    __m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)x), shuf);
    b = _mm256_or_si256(b, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfeLL));
    return _mm256_cmpeq_epi8(b, _mm256_set1_epi64x(-1));
}

AVX2 static inline __m256i q5_bytes(const uint8_t *qs, const uint8_t *qh) {
    return _mm256_or_si256(nibbles32(qs), _mm256_and_si256(bits_to_bytes(qh), _mm256_set1_epi8(0x10)));
}

// K-quants: 8 sub-blocks of 32; per sub-block scale multiplies the int16 pair sums.
AVX2 static inline int kquant_mins(const uint8_t *m8, const int16_t *bsums) {
    int s = 0;
    for (int j = 0; j < 8; j++) s += m8[j] * (bsums[2 * j] + bsums[2 * j + 1]);
    return s;
}

AVX2 static inline __m256i scale_pair(int8_t a, int8_t b) {
    return _mm256_set_m128i(_mm_set1_epi16(b), _mm_set1_epi16(a));
}

// 128 Q6_K weights (one half of a super-block) as four vectors of 6-bit values 0..63:
// low nibbles from `ql`, two high bits each from `qh`.
AVX2 static inline void q6k_unpack128(const uint8_t *ql, const uint8_t *qh, __m256i q[4]) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
    const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
    const __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
    const __m256i hh = _mm256_loadu_si256((const __m256i *)qh);
    q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(hh, m2), 4));
    q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 2), m2), 4));
    q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 4), m2), 4));
    q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hh, 6), m2), 4));
}

// Q6_K stores q + 32: the lanes of -32 * sum over the 16 groups of (scale * sum of the
// activation's group), to start a super-block's integer sum from. Exact in int32 (at most
// 32 * 16 * 127 * 2032 in magnitude), so the offset costs one vector multiply-add.
AVX2 static inline __m256i q6k_offset_lanes(const int8_t *scales, const int16_t *bsums) {
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)scales));
    const __m256i m = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)bsums));
    return _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(m, 5));
}
#endif
