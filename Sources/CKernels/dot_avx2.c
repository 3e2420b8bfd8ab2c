// AVX2/FMA/F16C versions of the dot kernels. Compiled with target attributes (not
// -mavx2) so that the rest of the binary stays baseline x86-64; the dispatcher only
// calls these after checking the CPU supports them.
#include "ckernels.h"
#include "quant_blocks.h"
#include "kernels_internal.h"

#if defined(__x86_64__)
#include "simd_avx2.h"

AVX2 float ck_dot_q8_0_avx2(const void *row, const void *act, int64_t n) {
    const blk_q8_0 *x = row; const act32 *y = act;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 32; i++) {
        const __m256i w = _mm256_loadu_si256((const __m256i *)x[i].qs);
        const __m256i a = _mm256_loadu_si256((const __m256i *)y[i].qs);
        // |w| * (a with w's sign): maddubs needs one unsigned operand.
        const __m256i p = dot_u8_i8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
        const __m256 d = _mm256_set1_ps(h2f(x[i].d) * y[i].d);
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
    }
    return hsum_ps(acc);
}

AVX2 float ck_dot_q4_0_avx2(const void *row, const void *act, int64_t n) {
    const blk_q4_0 *x = row; const act32 *y = act;
    __m256 acc = _mm256_setzero_ps();
    float off = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        const float dw = h2f(x[i].d);
        const __m256i a = _mm256_loadu_si256((const __m256i *)y[i].qs);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dw * y[i].d), dot_u8_i8_ps(nibbles32(x[i].qs), a), acc);
        off += dw * y[i].s;
    }
    return hsum_ps(acc) - 8.0f * off;
}

AVX2 float ck_dot_q4_1_avx2(const void *row, const void *act, int64_t n) {
    const blk_q4_1 *x = row; const act32 *y = act;
    __m256 acc = _mm256_setzero_ps();
    float off = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        const __m256i a = _mm256_loadu_si256((const __m256i *)y[i].qs);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[i].d) * y[i].d), dot_u8_i8_ps(nibbles32(x[i].qs), a), acc);
        off += h2f(x[i].m) * y[i].s;
    }
    return hsum_ps(acc) + off;
}

AVX2 float ck_dot_q5_0_avx2(const void *row, const void *act, int64_t n) {
    const blk_q5_0 *x = row; const act32 *y = act;
    __m256 acc = _mm256_setzero_ps();
    float off = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        const float dw = h2f(x[i].d);
        const __m256i a = _mm256_loadu_si256((const __m256i *)y[i].qs);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dw * y[i].d), dot_u8_i8_ps(q5_bytes(x[i].qs, x[i].qh), a), acc);
        off += dw * y[i].s;
    }
    return hsum_ps(acc) - 16.0f * off;
}

AVX2 float ck_dot_q5_1_avx2(const void *row, const void *act, int64_t n) {
    const blk_q5_1 *x = row; const act32 *y = act;
    __m256 acc = _mm256_setzero_ps();
    float off = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        const __m256i a = _mm256_loadu_si256((const __m256i *)y[i].qs);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(x[i].d) * y[i].d), dot_u8_i8_ps(q5_bytes(x[i].qs, x[i].qh), a), acc);
        off += h2f(x[i].m) * y[i].s;
    }
    return hsum_ps(acc) + off;
}

AVX2 float ck_dot_q4_K_avx2(const void *row, const void *act, int64_t n) {
    const blk_q4_K *x = row; const act256 *y = act;
    __m256 acc = _mm256_setzero_ps();
    float accm = 0;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int64_t i = 0; i < n / 256; i++) {
        uint8_t sc[8], mn[8];
        for (int j = 0; j < 8; j++) ck_scale_min_k4(j, x[i].scales, &sc[j], &mn[j]);
        const float d = y[i].d * h2f(x[i].d), dmin = y[i].d * h2f(x[i].dmin);
        accm += dmin * (float)kquant_mins(mn, y[i].bsums);
        __m256i sumi = _mm256_setzero_si256();
        const uint8_t *q = x[i].qs; const int8_t *a = y[i].qs;
        for (int j = 0; j < 4; j++) {
            const __m256i qb = _mm256_loadu_si256((const __m256i *)q);
            const __m256i lo = _mm256_and_si256(qb, m4), hi = _mm256_and_si256(_mm256_srli_epi16(qb, 4), m4);
            const __m256i pl = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)a)), _mm256_set1_epi16(sc[2 * j]));
            const __m256i ph = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(a + 32))), _mm256_set1_epi16(sc[2 * j + 1]));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
            q += 32; a += 64;
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum_ps(acc) - accm;
}

AVX2 float ck_dot_q5_K_avx2(const void *row, const void *act, int64_t n) {
    const blk_q5_K *x = row; const act256 *y = act;
    __m256 acc = _mm256_setzero_ps();
    float accm = 0;
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    for (int64_t i = 0; i < n / 256; i++) {
        uint8_t sc[8], mn[8];
        for (int j = 0; j < 8; j++) ck_scale_min_k4(j, x[i].scales, &sc[j], &mn[j]);
        const float d = y[i].d * h2f(x[i].d), dmin = y[i].d * h2f(x[i].dmin);
        accm += dmin * (float)kquant_mins(mn, y[i].bsums);
        const __m256i hb = _mm256_loadu_si256((const __m256i *)x[i].qh);
        __m256i sumi = _mm256_setzero_si256();
        const uint8_t *q = x[i].qs; const int8_t *a = y[i].qs;
        for (int j = 0; j < 4; j++) {
            const __m256i qb = _mm256_loadu_si256((const __m256i *)q);
            const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * j), one), 4);
            const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * j + 1), one), 4);
            const __m256i lo = _mm256_or_si256(_mm256_and_si256(qb, m4), h0);
            const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qb, 4), m4), h1);
            const __m256i pl = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)a)), _mm256_set1_epi16(sc[2 * j]));
            const __m256i ph = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(a + 32))), _mm256_set1_epi16(sc[2 * j + 1]));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
            q += 32; a += 64;
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum_ps(acc) - accm;
}

AVX2 float ck_dot_q6_K_avx2(const void *row, const void *act, int64_t n) {
    const blk_q6_K *x = row; const act256 *y = act;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 256; i++) {
        const uint8_t *ql = x[i].ql, *qh = x[i].qh; const int8_t *sc = x[i].scales, *a = y[i].qs;
        __m256i sumi = q6k_offset_lanes(sc, y[i].bsums);
        for (int h = 0; h < 2; h++) {
            __m256i q[4];
            q6k_unpack128(ql, qh, q);
            const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(q[0], _mm256_loadu_si256((const __m256i *)a)), scale_pair(sc[0], sc[1]));
            const __m256i p2 = _mm256_madd_epi16(_mm256_maddubs_epi16(q[1], _mm256_loadu_si256((const __m256i *)(a + 32))), scale_pair(sc[2], sc[3]));
            const __m256i p3 = _mm256_madd_epi16(_mm256_maddubs_epi16(q[2], _mm256_loadu_si256((const __m256i *)(a + 64))), scale_pair(sc[4], sc[5]));
            const __m256i p4 = _mm256_madd_epi16(_mm256_maddubs_epi16(q[3], _mm256_loadu_si256((const __m256i *)(a + 96))), scale_pair(sc[6], sc[7]));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(_mm256_add_epi32(p1, p2), _mm256_add_epi32(p3, p4)));
            ql += 64; qh += 32; sc += 8; a += 128;
        }
        const float d = h2f(x[i].d) * y[i].d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum_ps(acc);
}

AVX2 float ck_dotf_avx2(const float *a, const float *b, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = hsum_ps(_mm256_add_ps(s0, s1));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

AVX2 void ck_axpy_avx2(float a, const float *x, float *y, int64_t n) {
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

AVX2 float ck_dot_f32_avx2(const void *row, const void *act, int64_t n) { return ck_dotf_avx2(row, act, n); }

AVX2 float ck_dot_f16_avx2(const void *row, const void *act, int64_t n) {
    const ck_half *x = row; const float *y = act;
    __m256 s = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        s = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))), _mm256_loadu_ps(y + i), s);
    float r = hsum_ps(s);
    for (; i < n; i++) r += ck_half_to_float(x[i]) * y[i];
    return r;
}

AVX2 float ck_dot_bf16_avx2(const void *row, const void *act, int64_t n) {
    const uint16_t *x = row; const float *y = act;
    __m256 s = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i w = _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(x + i))), 16);
        s = _mm256_fmadd_ps(_mm256_castsi256_ps(w), _mm256_loadu_ps(y + i), s);
    }
    float r = hsum_ps(s);
    for (; i < n; i++) r += ck_bf16_to_float(x[i]) * y[i];
    return r;
}
#endif

#if defined(__x86_64__)
// One Q8_0 row against four activations: the weight block is loaded and its sign
// split once for all four (batched verification of speculative drafts is
// compute-bound on the 262k-row LM head, not memory-bound).
// Four-activation forms of the Q5_0, Q4_K and Q6_K dots (short prefills, speculative
// verification): each weight block is unpacked once for all four activations. Per
// activation they perform exactly the single-row kernel's operations in the same order,
// so their results are bit-identical to ck_vec_dot's — which keeps speculative decoding
// lossless (verified tokens see the same logits as plain decoding would).
AVX2 void ck_dot_q5_0_x4_avx2(const void *row, const void *const acts[4], int64_t n, float out[4]) {
    const blk_q5_0 *x = row;
    const act32 *y0 = acts[0], *y1 = acts[1], *y2 = acts[2], *y3 = acts[3];
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    float o0 = 0, o1 = 0, o2 = 0, o3 = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        const float dw = h2f(x[i].d);
        const __m256i q = q5_bytes(x[i].qs, x[i].qh);
#define STEP(Y, A, O) { \
        const __m256i a = _mm256_loadu_si256((const __m256i *)Y[i].qs); \
        A = _mm256_fmadd_ps(_mm256_set1_ps(dw * Y[i].d), dot_u8_i8_ps(q, a), A); \
        O += dw * Y[i].s; }
        STEP(y0, a0, o0) STEP(y1, a1, o1) STEP(y2, a2, o2) STEP(y3, a3, o3)
#undef STEP
    }
    out[0] = hsum_ps(a0) - 16.0f * o0; out[1] = hsum_ps(a1) - 16.0f * o1;
    out[2] = hsum_ps(a2) - 16.0f * o2; out[3] = hsum_ps(a3) - 16.0f * o3;
}

AVX2 void ck_dot_q4_K_x4_avx2(const void *row, const void *const acts[4], int64_t n, float out[4]) {
    const blk_q4_K *x = row;
    const act256 *ys[4] = { acts[0], acts[1], acts[2], acts[3] };
    __m256 acc[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps() };
    float accm[4] = { 0, 0, 0, 0 };
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int64_t i = 0; i < n / 256; i++) {
        uint8_t sc[8], mn[8];
        for (int j = 0; j < 8; j++) ck_scale_min_k4(j, x[i].scales, &sc[j], &mn[j]);
        __m256i sumi[4] = { _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256() };
        const uint8_t *q = x[i].qs;
        for (int j = 0; j < 4; j++) {
            const __m256i qb = _mm256_loadu_si256((const __m256i *)q);
            const __m256i lo = _mm256_and_si256(qb, m4), hi = _mm256_and_si256(_mm256_srli_epi16(qb, 4), m4);
            const __m256i sl = _mm256_set1_epi16(sc[2 * j]), sh = _mm256_set1_epi16(sc[2 * j + 1]);
            for (int t = 0; t < 4; t++) {
                const int8_t *a = ys[t][i].qs + 64 * j;
                const __m256i pl = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)a)), sl);
                const __m256i ph = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(a + 32))), sh);
                sumi[t] = _mm256_add_epi32(sumi[t], _mm256_add_epi32(pl, ph));
            }
            q += 32;
        }
        for (int t = 0; t < 4; t++) {
            const float d = ys[t][i].d * h2f(x[i].d), dmin = ys[t][i].d * h2f(x[i].dmin);
            accm[t] += dmin * (float)kquant_mins(mn, ys[t][i].bsums);
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
        }
    }
    for (int t = 0; t < 4; t++) out[t] = hsum_ps(acc[t]) - accm[t];
}

AVX2 void ck_dot_q6_K_x4_avx2(const void *row, const void *const acts[4], int64_t n, float out[4]) {
    const blk_q6_K *x = row;
    const act256 *ys[4] = { acts[0], acts[1], acts[2], acts[3] };
    __m256 acc[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps() };
    for (int64_t i = 0; i < n / 256; i++) {
        const uint8_t *ql = x[i].ql, *qh = x[i].qh; const int8_t *sc = x[i].scales;
        __m256i sumi[4];
        for (int t = 0; t < 4; t++) sumi[t] = q6k_offset_lanes(sc, ys[t][i].bsums);
        for (int h = 0; h < 2; h++) {
            __m256i q[4];
            q6k_unpack128(ql, qh, q);
            const __m256i s1 = scale_pair(sc[0], sc[1]), s2 = scale_pair(sc[2], sc[3]);
            const __m256i s3 = scale_pair(sc[4], sc[5]), s4 = scale_pair(sc[6], sc[7]);
            for (int t = 0; t < 4; t++) {
                const int8_t *a = ys[t][i].qs + 128 * h;
                const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(q[0], _mm256_loadu_si256((const __m256i *)a)), s1);
                const __m256i p2 = _mm256_madd_epi16(_mm256_maddubs_epi16(q[1], _mm256_loadu_si256((const __m256i *)(a + 32))), s2);
                const __m256i p3 = _mm256_madd_epi16(_mm256_maddubs_epi16(q[2], _mm256_loadu_si256((const __m256i *)(a + 64))), s3);
                const __m256i p4 = _mm256_madd_epi16(_mm256_maddubs_epi16(q[3], _mm256_loadu_si256((const __m256i *)(a + 96))), s4);
                sumi[t] = _mm256_add_epi32(sumi[t], _mm256_add_epi32(_mm256_add_epi32(p1, p2), _mm256_add_epi32(p3, p4)));
            }
            ql += 64; qh += 32; sc += 8;
        }
        for (int t = 0; t < 4; t++) {
            const float d = h2f(x[i].d) * ys[t][i].d;
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
        }
    }
    for (int t = 0; t < 4; t++) out[t] = hsum_ps(acc[t]);
}

AVX2 void ck_dot_q8_0_x4_avx2(const void *row, const void *const acts[4], int64_t n, float out[4]) {
    const blk_q8_0 *x = row;
    const act32 *y0 = acts[0], *y1 = acts[1], *y2 = acts[2], *y3 = acts[3];
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t i = 0; i < n / 32; i++) {
        const __m256i w = _mm256_loadu_si256((const __m256i *)x[i].qs);
        const __m256i aw = _mm256_sign_epi8(w, w);
        const float dw = h2f(x[i].d);
#define STEP(Y, A) { \
        const __m256i p = dot_u8_i8(aw, _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)Y[i].qs), w)); \
        A = _mm256_fmadd_ps(_mm256_set1_ps(dw * Y[i].d), _mm256_cvtepi32_ps(p), A); }
        STEP(y0, a0) STEP(y1, a1) STEP(y2, a2) STEP(y3, a3)
#undef STEP
    }
    out[0] = hsum_ps(a0); out[1] = hsum_ps(a1); out[2] = hsum_ps(a2); out[3] = hsum_ps(a3);
}
#endif
