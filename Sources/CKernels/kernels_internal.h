// Signatures shared between the dispatcher and the per-ISA kernel files.
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef float (*ck_dot_fn)(const void *row, const void *act, int64_t n);

// scalar (dot_scalar.c): the reference every SIMD variant is tested against
float ck_dot_q8_0_scalar(const void *, const void *, int64_t);
float ck_dot_q4_0_scalar(const void *, const void *, int64_t);
float ck_dot_q4_1_scalar(const void *, const void *, int64_t);
float ck_dot_q5_0_scalar(const void *, const void *, int64_t);
float ck_dot_q5_1_scalar(const void *, const void *, int64_t);
float ck_dot_q4_K_scalar(const void *, const void *, int64_t);
float ck_dot_q5_K_scalar(const void *, const void *, int64_t);
float ck_dot_q6_K_scalar(const void *, const void *, int64_t);
float ck_dot_f32_scalar(const void *, const void *, int64_t);
float ck_dot_f16_scalar(const void *, const void *, int64_t);
float ck_dot_bf16_scalar(const void *, const void *, int64_t);
float ck_dotf_scalar(const float *, const float *, int64_t);
void ck_axpy_scalar(float, const float *, float *, int64_t);

// AVX2 + FMA + F16C (dot_avx2.c)
float ck_dot_q8_0_avx2(const void *, const void *, int64_t);
float ck_dot_q4_0_avx2(const void *, const void *, int64_t);
float ck_dot_q4_1_avx2(const void *, const void *, int64_t);
float ck_dot_q5_0_avx2(const void *, const void *, int64_t);
float ck_dot_q5_1_avx2(const void *, const void *, int64_t);
float ck_dot_q4_K_avx2(const void *, const void *, int64_t);
float ck_dot_q5_K_avx2(const void *, const void *, int64_t);
float ck_dot_q6_K_avx2(const void *, const void *, int64_t);
float ck_dot_f32_avx2(const void *, const void *, int64_t);
float ck_dot_f16_avx2(const void *, const void *, int64_t);
float ck_dot_bf16_avx2(const void *, const void *, int64_t);
float ck_dotf_avx2(const float *, const float *, int64_t);
void ck_axpy_avx2(float, const float *, float *, int64_t);
typedef void (*ck_dot_x4_fn)(const void *row, const void *const acts[4], int64_t n, float out[4]);
void ck_dot_q8_0_x4_avx2(const void *row, const void *const acts[4], int64_t n, float out[4]);
void ck_dot_q5_0_x4_avx2(const void *row, const void *const acts[4], int64_t n, float out[4]);
void ck_dot_q4_K_x4_avx2(const void *row, const void *const acts[4], int64_t n, float out[4]);
void ck_dot_q6_K_x4_avx2(const void *row, const void *const acts[4], int64_t n, float out[4]);

// AVX2 activation quantizers (quantize_avx2.c), bit-identical to dispatch.c's scalar ones.
void ck_quantize_a32_avx2(const float *x, void *dst, int64_t n);
void ck_quantize_a256_avx2(const float *x, void *dst, int64_t n);

// One row against eight activations (matmul_x8_avx2.c). `tab` is ck_x8_scale_table's
// table of the eight activations' block scales (32-element block types; unused by K-quants).
typedef void (*ck_dot_x8_fn)(const void *row, const void *const acts[8], const float *tab, int64_t n, float out[8]);
void ck_x8_scale_table(const void *const acts[8], int64_t n, float *tab);
void ck_dot_q8_0_x8_avx2(const void *row, const void *const acts[8], const float *tab, int64_t n, float out[8]);
void ck_dot_q5_0_x8_avx2(const void *row, const void *const acts[8], const float *tab, int64_t n, float out[8]);
void ck_dot_q4_K_x8_avx2(const void *row, const void *const acts[8], const float *tab, int64_t n, float out[8]);
void ck_dot_q6_K_x8_avx2(const void *row, const void *const acts[8], const float *tab, int64_t n, float out[8]);
// The same for AVX-512 VNNI CPUs (matmul_x8_vnni.c), chosen where ck_has_vnni().
void ck_dot_q5_0_x8_vnni(const void *row, const void *const acts[8], const float *tab, int64_t n, float out[8]);
void ck_dot_q8_0_x8_vnni(const void *row, const void *const acts[8], const float *tab, int64_t n, float out[8]);

/// Requests every cache line of `bytes` at `p` (gathered rows are not contiguous, so the
/// hardware prefetcher cannot run ahead of them: without this they run at memory latency).
static inline void ck_prefetch_bytes(const void *p, size_t bytes) {
    const char *c = (const char *)p;
    for (size_t o = 0; o < bytes; o += 64) __builtin_prefetch(c + o);
    if (bytes) __builtin_prefetch(c + bytes - 1);
}

/// How many gathered rows ahead to prefetch: about 4 KB in flight per thread.
static inline int64_t ck_prefetch_rows_ahead(size_t row_bytes) {
    return row_bytes >= 4096 ? 1 : (int64_t)(4096 / row_bytes) + 1;
}
