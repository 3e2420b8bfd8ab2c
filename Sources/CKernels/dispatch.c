// Run-time selection of kernel variants by CPU features, activation quantization,
// and the row-range matrix-vector product every weight multiply goes through.
#include <stdlib.h>
#include "ckernels.h"
#include "quant_blocks.h"
#include "kernels_internal.h"

static int detected_level(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        // F16C has no __builtin_cpu_supports name on every compiler; every AVX2 CPU
        // shipped has it (Haswell+, Zen+).
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
            return 2;
        return 1;
    }
#endif
    return 0;
}

static int g_level = -1;
static int g_max_level = -1;

// SPARKCHAT_CPU_LEVEL=0|1 caps the kernels below what the CPU has, so an AVX-512
// machine can measure the paths an AVX2-only one runs (with OPENBLAS_CORETYPE=Haswell
// for the sgemm side). It can only lower the level: a kernel the CPU lacks never runs.
static int environment_cap(int detected) {
    const char *s = getenv("SPARKCHAT_CPU_LEVEL");
    if (s == NULL || s[0] < '0' || s[0] > '2' || s[1] != '\0') return detected;
    const int cap = s[0] - '0';
    return cap < detected ? cap : detected;
}

int ck_cpu_level(void) {
    if (g_level < 0) { g_max_level = detected_level(); g_level = environment_cap(g_max_level); }
    return g_level;
}

int ck_set_cpu_level(int level) {
    ck_cpu_level();
    g_level = level < 0 ? 0 : (level > g_max_level ? g_max_level : level);
    return g_level;
}

int ck_has_vnni(void) {
#if defined(__x86_64__)
    static int vnni = -1;
    if (vnni < 0) { __builtin_cpu_init(); vnni = __builtin_cpu_supports("avx512vnni") ? 1 : 0; }
    return vnni && ck_cpu_level() >= 2;
#else
    return 0;
#endif
}

static ck_dot_fn dot_for(int type) {
    const int avx2 = ck_cpu_level() >= 1;
    switch (type) {
#if defined(__x86_64__)
    case CK_Q8_0: return avx2 ? ck_dot_q8_0_avx2 : ck_dot_q8_0_scalar;
    case CK_Q4_0: return avx2 ? ck_dot_q4_0_avx2 : ck_dot_q4_0_scalar;
    case CK_Q4_1: return avx2 ? ck_dot_q4_1_avx2 : ck_dot_q4_1_scalar;
    case CK_Q5_0: return avx2 ? ck_dot_q5_0_avx2 : ck_dot_q5_0_scalar;
    case CK_Q5_1: return avx2 ? ck_dot_q5_1_avx2 : ck_dot_q5_1_scalar;
    case CK_Q4_K: return avx2 ? ck_dot_q4_K_avx2 : ck_dot_q4_K_scalar;
    case CK_Q5_K: return avx2 ? ck_dot_q5_K_avx2 : ck_dot_q5_K_scalar;
    case CK_Q6_K: return avx2 ? ck_dot_q6_K_avx2 : ck_dot_q6_K_scalar;
    case CK_F32: return avx2 ? ck_dot_f32_avx2 : ck_dot_f32_scalar;
    case CK_F16: return avx2 ? ck_dot_f16_avx2 : ck_dot_f16_scalar;
    case CK_BF16: return avx2 ? ck_dot_bf16_avx2 : ck_dot_bf16_scalar;
#else
    case CK_Q8_0: return ck_dot_q8_0_scalar;
    case CK_Q4_0: return ck_dot_q4_0_scalar;
    case CK_Q4_1: return ck_dot_q4_1_scalar;
    case CK_Q5_0: return ck_dot_q5_0_scalar;
    case CK_Q5_1: return ck_dot_q5_1_scalar;
    case CK_Q4_K: return ck_dot_q4_K_scalar;
    case CK_Q5_K: return ck_dot_q5_K_scalar;
    case CK_Q6_K: return ck_dot_q6_K_scalar;
    case CK_F32: return ck_dot_f32_scalar;
    case CK_F16: return ck_dot_f16_scalar;
    case CK_BF16: return ck_dot_bf16_scalar;
#endif
    default: return 0;
    }
}

int ck_activation_type(int weight_type) {
    switch (weight_type) {
    case CK_Q8_0: case CK_Q4_0: case CK_Q4_1: case CK_Q5_0: case CK_Q5_1: return CK_Q8_0;
    case CK_Q4_K: case CK_Q5_K: case CK_Q6_K: return CK_Q8_K;
    default: return CK_F32;
    }
}

size_t ck_activation_bytes(int weight_type, int64_t n) {
    switch (ck_activation_type(weight_type)) {
    case CK_Q8_0: return (size_t)(n / 32) * sizeof(act32);
    case CK_Q8_K: return (size_t)(n / 256) * sizeof(act256);
    default: return (size_t)n * sizeof(float);
    }
}

// Activation quantization reproduces llama.cpp's arithmetic step for step (Q8_0:
// scale 127/amax, round half to even, the block scale kept at fp16 precision; Q8_K:
// the signed extreme maps to -127, scale 1/iscale in float), so that greedy output on
// a GGUF follows llama.cpp's on the same file rather than drifting at near-ties.
static void quantize_a32(const float *x, act32 *y, int64_t n) {
    for (int64_t i = 0; i < n / 32; i++) {
        float amax = 0;
        for (int j = 0; j < 32; j++) { const float v = fabsf(x[i * 32 + j]); if (v > amax) amax = v; }
        const float d = (float)(_Float16)(amax / 127.0f), id = amax != 0 ? 127.0f / amax : 0.0f;
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            const int q = (int)nearbyintf(x[i * 32 + j] * id);
            y[i].qs[j] = (int8_t)q; sum += q;
        }
        y[i].d = d; y[i].s = d * (float)sum;
    }
}

static void quantize_a256(const float *x, act256 *y, int64_t n) {
    for (int64_t i = 0; i < n / 256; i++) {
        float amax = 0, max = 0;
        for (int j = 0; j < 256; j++) {
            const float v = fabsf(x[i * 256 + j]);
            if (v > amax) { amax = v; max = x[i * 256 + j]; }
        }
        if (amax == 0) { memset(&y[i], 0, sizeof(act256)); continue; }
        const float iscale = -127.0f / max;
        for (int g = 0; g < 16; g++) {
            int sum = 0;
            for (int j = 0; j < 16; j++) {
                int q = (int)nearbyintf(iscale * x[i * 256 + g * 16 + j]);
                if (q > 127) q = 127;
                y[i].qs[g * 16 + j] = (int8_t)q; sum += q;
            }
            y[i].bsums[g] = (int16_t)sum;
        }
        y[i].d = 1.0f / iscale;
    }
}

void ck_quantize_activation(int weight_type, const float *x, void *dst, int64_t n) {
    switch (ck_activation_type(weight_type)) {
#if defined(__x86_64__)
    case CK_Q8_0: if (ck_cpu_level() >= 1) ck_quantize_a32_avx2(x, dst, n); else quantize_a32(x, dst, n); break;
    case CK_Q8_K: if (ck_cpu_level() >= 1) ck_quantize_a256_avx2(x, dst, n); else quantize_a256(x, dst, n); break;
#else
    case CK_Q8_0: quantize_a32(x, dst, n); break;
    case CK_Q8_K: quantize_a256(x, dst, n); break;
#endif
    default: memcpy(dst, x, (size_t)n * sizeof(float)); break;
    }
}

float ck_vec_dot(int weight_type, const void *row, const void *act, int64_t n) {
    const ck_dot_fn f = dot_for(weight_type);
    return f ? f(row, act, n) : 0.0f;
}

void ck_matvec(int weight_type, const void *w, size_t row_bytes, int64_t n,
               const void *act, float *y, int64_t row0, int64_t row1) {
    const ck_dot_fn f = dot_for(weight_type);
    if (!f) { for (int64_t r = row0; r < row1; r++) y[r] = 0; return; }
    const uint8_t *base = (const uint8_t *)w;
    // Rows are streamed once per token: keep PREFETCH_BYTES of the stream requested
    // ahead of the row being dotted, a cache line at a time, so each thread has
    // enough misses in flight to reach memory bandwidth rather than memory latency.
    enum { PREFETCH_BYTES = 4096 };
    const uint8_t *end = base + (size_t)row1 * row_bytes;
    const uint8_t *pf = base + (size_t)row0 * row_bytes;
    const uint8_t *pf_stop = pf + PREFETCH_BYTES < end ? pf + PREFETCH_BYTES : end;
    for (; pf < pf_stop; pf += 64) __builtin_prefetch(pf);
    for (int64_t r = row0; r < row1; r++) {
        const uint8_t *ahead = base + (size_t)(r + 1) * row_bytes + PREFETCH_BYTES;
        for (; pf < ahead && pf < end; pf += 64) __builtin_prefetch(pf);
        y[r] = f(base + (size_t)r * row_bytes, act, n);
    }
}

float ck_dot_f32(const float *a, const float *b, int64_t n) {
#if defined(__x86_64__)
    if (ck_cpu_level() >= 1) return ck_dotf_avx2(a, b, n);
#endif
    return ck_dotf_scalar(a, b, n);
}

void ck_axpy_f32(float a, const float *x, float *y, int64_t n) {
#if defined(__x86_64__)
    if (ck_cpu_level() >= 1) { ck_axpy_avx2(a, x, y, n); return; }
#endif
    ck_axpy_scalar(a, x, y, n);
}

// Rows of one KV head sit `stride` floats apart with the other heads between them
// (stride > n): each key is a new page, where the hardware prefetcher stops, so the
// grouped kernels request the rows this far ahead. Contiguous rows need none (0).
static int64_t interleaved_rows_ahead(int64_t stride, int64_t n) {
    return stride > n ? ck_prefetch_rows_ahead((size_t)n * sizeof(float)) : 0;
}

void ck_dot_group_f32(const float *q, int64_t q_stride, int64_t groups, const float *k, int64_t k_stride,
                      int64_t rows, float *scores, int64_t scores_stride, int64_t n) {
    float (*dot)(const float *, const float *, int64_t) = ck_dotf_scalar;
#if defined(__x86_64__)
    if (ck_cpu_level() >= 1) dot = ck_dotf_avx2;
#endif
    const int64_t ahead = interleaved_rows_ahead(k_stride, n);
    for (int64_t r = 0; r < rows; r++) {
        if (ahead && r + ahead < rows) ck_prefetch_bytes(k + (r + ahead) * k_stride, (size_t)n * sizeof(float));
        for (int64_t g = 0; g < groups; g++) scores[g * scores_stride + r] = dot(q + g * q_stride, k + r * k_stride, n);
    }
}

void ck_axpy_group_f32(const float *w, int64_t w_stride, int64_t groups, const float *v, int64_t v_stride,
                       int64_t rows, float *out, int64_t out_stride, int64_t n) {
    void (*axpy)(float, const float *, float *, int64_t) = ck_axpy_scalar;
#if defined(__x86_64__)
    if (ck_cpu_level() >= 1) axpy = ck_axpy_avx2;
#endif
    const int64_t ahead = interleaved_rows_ahead(v_stride, n);
    for (int64_t r = 0; r < rows; r++) {
        if (ahead && r + ahead < rows) ck_prefetch_bytes(v + (r + ahead) * v_stride, (size_t)n * sizeof(float));
        for (int64_t g = 0; g < groups; g++) axpy(w[g * w_stride + r], v + r * v_stride, out + g * out_stride, n);
    }
}

const char *ck_openblas_coretype_hint(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512cd"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
    return 0;
}
