// Kernels for the active-neuron FFN: y = Σ_{i∈active} h_i · row_i, where the rows are
// the columns of the down projection stored as rows (a transposed copy), so only the
// bytes of active neurons are read.
#include "ckernels.h"
#include "quant_blocks.h"
#include "kernels_internal.h"
#include <stdlib.h>

void ck_quantize_q8_0(const float *x, void *dst, int64_t n) {
    blk_q8_0 *y = dst;
    for (int64_t i = 0; i < n / 32; i++) {
        float amax = 0;
        for (int j = 0; j < 32; j++) { const float v = fabsf(x[i * 32 + j]); if (v > amax) amax = v; }
        const float d = amax / 127.0f, id = d > 0 ? 1.0f / d : 0.0f;
        // fp32 → fp16 via the compiler's _Float16 (round to nearest even).
        _Float16 h = (_Float16)d;
        memcpy(&y[i].d, &h, 2);
        for (int j = 0; j < 32; j++) y[i].qs[j] = (int8_t)lrintf(x[i * 32 + j] * id);
    }
}

#if defined(__x86_64__)
#include <immintrin.h>
__attribute__((target("avx2,fma,f16c")))
static void axpy_f16_avx2(float a, const ck_half *x, float *y, int64_t n) {
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * ck_half_to_float(x[i]);
}

/// y += a · x for a Q8_0 row: one scale per 32 int8 values, widened 8 at a time.
__attribute__((target("avx2,fma,f16c")))
static void axpy_q8_0_avx2(float a, const blk_q8_0 *x, float *y, int64_t n) {
    for (int64_t b = 0; b < n / 32; b++) {
        const __m256 vd = _mm256_set1_ps(a * _cvtsh_ss(x[b].d));
        float *yb = y + b * 32;
        for (int j = 0; j < 32; j += 8) {
            const __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(x[b].qs + j))));
            _mm256_storeu_ps(yb + j, _mm256_fmadd_ps(vd, q, _mm256_loadu_ps(yb + j)));
        }
    }
}

/// y += a0·x0 + a1·x1 + a2·x2 + a3·x3 for four Q8_0 rows: y is loaded and stored once
/// per four rows (one row at a time, the loads and stores of y are the bottleneck).
__attribute__((target("avx2,fma,f16c")))
static void axpy4_q8_0_avx2(const float *a, const blk_q8_0 *const *x, float *y, int64_t n) {
    for (int64_t b = 0; b < n / 32; b++) {
        __m256 d[4];
        // F16C's conversion: the portable ck_half_to_float (branches, shifts) four times per
        // 32 values cost about half of a Gemma 2 2B-sized gather.
        for (int k = 0; k < 4; k++) d[k] = _mm256_set1_ps(a[k] * _cvtsh_ss(x[k][b].d));
        float *yb = y + b * 32;
        for (int j = 0; j < 32; j += 8) {
            __m256 acc = _mm256_loadu_ps(yb + j);
            for (int k = 0; k < 4; k++)
                acc = _mm256_fmadd_ps(d[k], _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(x[k][b].qs + j)))), acc);
            _mm256_storeu_ps(yb + j, acc);
        }
    }
}
#endif

static void axpy_q8_0(float a, const blk_q8_0 *x, float *y, int64_t n) {
#if defined(__x86_64__)
    if (ck_cpu_level() >= 1) { axpy_q8_0_avx2(a, x, y, n); return; }
#endif
    for (int64_t b = 0; b < n / 32; b++) {
        const float d = a * ck_half_to_float(x[b].d);
        for (int j = 0; j < 32; j++) y[b * 32 + j] += d * (float)x[b].qs[j];
    }
}

/// y += a · x for a row of halves (the transposed down copies are F16).
static void axpy_f16(float a, const ck_half *x, float *y, int64_t n) {
#if defined(__x86_64__)
    if (ck_cpu_level() >= 1) { axpy_f16_avx2(a, x, y, n); return; }
#endif
    for (int64_t i = 0; i < n; i++) y[i] += a * ck_half_to_float(x[i]);
}

void ck_convert_f32_to_f16(const float *x, void *dst, int64_t n) {
    ck_half *y = dst;
    for (int64_t i = 0; i < n; i++) { _Float16 h = (_Float16)x[i]; memcpy(&y[i], &h, 2); }
}

typedef struct {
    int type; const uint8_t *w; size_t row_bytes; int64_t n;
    const int32_t *idx; const float *coef; int64_t count;
    float *scratch; int n_tasks;
} axpy_job;

static void axpy_range(const axpy_job *j, int64_t r0, int64_t r1, float *acc);

static void axpy_task(void *ctx, int task, int n_tasks) {
    axpy_job *j = ctx;
    float *acc = j->scratch + (size_t)task * j->n;
    memset(acc, 0, (size_t)j->n * sizeof(float));
    const int64_t per = (j->count + n_tasks - 1) / n_tasks;
    const int64_t r0 = per * task, r1 = r0 + per < j->count ? r0 + per : j->count;
    axpy_range(j, r0, r1, acc);
}

/// acc += Σ_{r ∈ [r0, r1)} coef[r] · row idx[r].
static void axpy_range(const axpy_job *j, int64_t r0, int64_t r1, float *acc) {
    // Generic types are dequantized a row at a time (on the heap past 8192 columns).
    float stack_row[8192];
    float *row = j->n <= 8192 ? stack_row : malloc((size_t)j->n * sizeof(float));
    if (!row) return;
    const int64_t ahead = ck_prefetch_rows_ahead(j->row_bytes);
    for (int64_t r = r0; r < r1 && r < r0 + ahead; r++)
        ck_prefetch_bytes(j->w + (size_t)j->idx[r] * j->row_bytes, j->row_bytes);
    int64_t r = r0;
#if defined(__x86_64__)
    if (j->type == CK_Q8_0 && j->n % 32 == 0 && ck_cpu_level() >= 1) {
        for (; r + 4 <= r1; r += 4) {
            for (int64_t p = r + ahead; p < r + ahead + 4 && p < r1; p++)
                ck_prefetch_bytes(j->w + (size_t)j->idx[p] * j->row_bytes, j->row_bytes);
            const blk_q8_0 *rows4[4];
            for (int k = 0; k < 4; k++) rows4[k] = (const blk_q8_0 *)(j->w + (size_t)j->idx[r + k] * j->row_bytes);
            axpy4_q8_0_avx2(j->coef + r, rows4, acc, j->n);
        }
    }
#endif
    for (; r < r1; r++) {
        if (r + ahead < r1) ck_prefetch_bytes(j->w + (size_t)j->idx[r + ahead] * j->row_bytes, j->row_bytes);
        const float c = j->coef[r];
        if (c == 0) continue;
        if (j->type == CK_F16) {
            axpy_f16(c, (const ck_half *)(j->w + (size_t)j->idx[r] * j->row_bytes), acc, j->n);
        } else if (j->type == CK_Q8_0 && j->n % 32 == 0) {
            axpy_q8_0(c, (const blk_q8_0 *)(j->w + (size_t)j->idx[r] * j->row_bytes), acc, j->n);
        } else if (j->type == CK_F32) {
            ck_axpy_f32(c, (const float *)(j->w + (size_t)j->idx[r] * j->row_bytes), acc, j->n);
        } else {
            ck_dequantize_row(j->type, j->w + (size_t)j->idx[r] * j->row_bytes, row, j->n);
            ck_axpy_f32(c, row, acc, j->n);
        }
    }
    if (row != stack_row) free(row);
}

void ck_axpy_rows_par(ck_pool *pool, int type, const void *w, size_t row_bytes, int64_t n,
                      const int32_t *idx, const float *coef, int64_t count, float *y, float *scratch) {
    int tasks = ck_pool_threads(pool);
    if (count < 64) tasks = 1;
    axpy_job j = { .type = type, .w = w, .row_bytes = row_bytes, .n = n, .idx = idx, .coef = coef,
                   .count = count, .scratch = scratch, .n_tasks = tasks };
    ck_pool_run(pool, axpy_task, &j, tasks);
    memcpy(y, scratch, (size_t)n * sizeof(float));
    for (int t = 1; t < tasks; t++) ck_axpy_f32(1.0f, scratch + (size_t)t * n, y, n);
}

typedef struct {
    axpy_job down;
    int up_type; const uint8_t *up; size_t up_row_bytes; int64_t up_n; const void *act;
    float *coef;
} spark_ffn_job;

/// One thread's share of the active neurons: their up rows dotted (coef[i] *= up_i · x),
/// then their down rows summed into the thread's accumulator, with no barrier between.
static void spark_ffn_task(void *ctx, int task, int n_tasks) {
    spark_ffn_job *j = ctx;
    const int64_t count = j->down.count, per = (count + n_tasks - 1) / n_tasks;
    const int64_t r0 = per * task < count ? per * task : count, r1 = r0 + per < count ? r0 + per : count;
    const int64_t ahead = ck_prefetch_rows_ahead(j->up_row_bytes);
    for (int64_t r = r0; r < r1 && r < r0 + ahead; r++)
        ck_prefetch_bytes(j->up + (size_t)j->down.idx[r] * j->up_row_bytes, j->up_row_bytes);
    for (int64_t r = r0; r < r1; r++) {
        if (r + ahead < r1) ck_prefetch_bytes(j->up + (size_t)j->down.idx[r + ahead] * j->up_row_bytes, j->up_row_bytes);
        j->coef[r] *= ck_vec_dot(j->up_type, j->up + (size_t)j->down.idx[r] * j->up_row_bytes, j->act, j->up_n);
    }
    float *acc = j->down.scratch + (size_t)task * j->down.n;
    memset(acc, 0, (size_t)j->down.n * sizeof(float));
    axpy_range(&j->down, r0, r1, acc);
}

void ck_spark_ffn_gather_par(ck_pool *pool, int up_type, const void *up, size_t up_row_bytes, int64_t up_n,
                             const void *act, int down_type, const void *down, size_t down_row_bytes, int64_t n,
                             const int32_t *idx, float *coef, int64_t count, float *y, float *scratch) {
    int tasks = ck_pool_threads(pool);
    if (count < 64) tasks = 1;
    spark_ffn_job j = {
        .down = { .type = down_type, .w = down, .row_bytes = down_row_bytes, .n = n, .idx = idx, .coef = coef,
                  .count = count, .scratch = scratch, .n_tasks = tasks },
        .up_type = up_type, .up = up, .up_row_bytes = up_row_bytes, .up_n = up_n, .act = act, .coef = coef };
    ck_pool_run(pool, spark_ffn_task, &j, tasks);
    memcpy(y, scratch, (size_t)n * sizeof(float));
    for (int t = 1; t < tasks; t++) ck_axpy_f32(1.0f, scratch + (size_t)t * n, y, n);
}
