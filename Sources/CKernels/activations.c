// Vectorised elementwise maths of the forward pass and the sampler: GeGLU's tanh-GELU
// and log-sum-exp over the vocabulary. glibc's scalar tanhf/exp cost ~20 ns a call,
// which at 36k FFN neurons and a 262k vocabulary per token was ~2 ms of a 14 ms token.
#include "ckernels.h"
#include <math.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2,fma")))

// exp(x) for x <= 0 down to -87 (Cephes polynomial, ~1 ulp): 2^n · p(r), x = n·ln2 + r.
AVX2 static inline __m256 exp_ps(__m256 x) {
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.3f));
    x = _mm256_min_ps(x, _mm256_set1_ps(88.3f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

AVX2 static void geglu_avx2(float *gate, const float *up, int64_t n) {
    const __m256 k0 = _mm256_set1_ps(0.7978845608028654f), k1 = _mm256_set1_ps(0.044715f);
    const __m256 one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_loadu_ps(gate + i);
        const __m256 y = _mm256_mul_ps(k0, _mm256_fmadd_ps(_mm256_mul_ps(k1, x), _mm256_mul_ps(x, x), x));
        // tanh(y) = sign(y) · (1 − e) / (1 + e) with e = exp(−2|y|): never overflows.
        const __m256 ay = _mm256_andnot_ps(sign, y);
        const __m256 e = exp_ps(_mm256_mul_ps(_mm256_set1_ps(-2.0f), ay));
        __m256 t = _mm256_div_ps(_mm256_sub_ps(one, e), _mm256_add_ps(one, e));
        t = _mm256_or_ps(t, _mm256_and_ps(sign, y));
        const __m256 g = _mm256_mul_ps(_mm256_mul_ps(half, x), _mm256_add_ps(one, t));
        _mm256_storeu_ps(gate + i, _mm256_mul_ps(g, _mm256_loadu_ps(up + i)));
    }
    for (; i < n; i++) {
        const float x = gate[i];
        gate[i] = 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x))) * up[i];
    }
}

AVX2 static void softmax_avx2(float *x, int64_t n, float m) {
    const __m256 vm = _mm256_set1_ps(m);
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 e = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
        _mm256_storeu_ps(x + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, acc);
    float s = 0;
    for (int k = 0; k < 8; k++) s += lanes[k];
    for (; i < n; i++) { x[i] = expf(x[i] - m); s += x[i]; }
    const __m256 inv = _mm256_set1_ps(1.0f / s);
    for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
    for (; i < n; i++) x[i] *= 1.0f / s;
}

AVX2 static double log_sum_exp_avx2(const float *x, int64_t n, float m) {
    __m256 acc = _mm256_setzero_ps();
    const __m256 vm = _mm256_set1_ps(m);
    int64_t i = 0;
    double tail = 0;
    for (; i + 8 <= n; i += 8) acc = _mm256_add_ps(acc, exp_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm)));
    for (; i < n; i++) tail += exp((double)(x[i] - m));
    float lanes[8];
    _mm256_storeu_ps(lanes, acc);
    double s = tail;
    for (int k = 0; k < 8; k++) s += lanes[k];
    return s;
}
#endif

void ck_geglu_f32(float *gate, const float *up, int64_t n) {
#if defined(__x86_64__)
    if (ck_cpu_level() >= 1) { geglu_avx2(gate, up, n); return; }
#endif
    for (int64_t i = 0; i < n; i++) {
        const float x = gate[i];
        gate[i] = 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x))) * up[i];
    }
}

void ck_softmax_f32(float *x, int64_t n) {
    if (n <= 0) return;
    float m = x[0];
    for (int64_t i = 1; i < n; i++) if (x[i] > m) m = x[i];
#if defined(__x86_64__)
    if (ck_cpu_level() >= 1) { softmax_avx2(x, n, m); return; }
#endif
    float s = 0;
    for (int64_t i = 0; i < n; i++) { x[i] = expf(x[i] - m); s += x[i]; }
    for (int64_t i = 0; i < n; i++) x[i] *= 1.0f / s;
}

float ck_log_sum_exp(const float *x, int64_t n) {
    if (n <= 0) return -INFINITY;
    float m = x[0];
    for (int64_t i = 1; i < n; i++) if (x[i] > m) m = x[i];
    if (!isfinite(m)) return m;
    double s = 0;
#if defined(__x86_64__)
    if (ck_cpu_level() >= 1) s = log_sum_exp_avx2(x, n, m);
    else
#endif
    for (int64_t i = 0; i < n; i++) s += exp((double)(x[i] - m));
    return m + (float)log(s);
}
