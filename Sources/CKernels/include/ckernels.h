// SparkChat's hot kernels: dequantization, quantized dot products against int8
// activations, matrix-vector products over row ranges, and a spinning thread pool.
// Each kernel has a scalar version and AVX2/FMA/F16C (and where useful AVX-512)
// versions compiled with target attributes; the variant is picked at run time from
// the CPU's features, so one binary runs on every x86-64 machine.
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Type ids are GGML's (see GGMLType.swift).
enum {
    CK_F32 = 0, CK_F16 = 1, CK_Q4_0 = 2, CK_Q4_1 = 3, CK_Q5_0 = 6, CK_Q5_1 = 7, CK_Q8_0 = 8, CK_Q8_1 = 9,
    CK_Q2_K = 10, CK_Q3_K = 11, CK_Q4_K = 12, CK_Q5_K = 13, CK_Q6_K = 14, CK_Q8_K = 15, CK_BF16 = 30
};

/// 0 = scalar, 1 = AVX2+FMA+F16C, 2 = AVX-512 (F/BW/VL) on top of AVX2; the environment
/// variable SPARKCHAT_CPU_LEVEL can lower it (to measure an AVX2-only machine's paths).
int ck_cpu_level(void);
/// Forces a lower level (for tests comparing variants); returns the level in force.
int ck_set_cpu_level(int level);
/// 1 when the small-batch kernels use AVX-512 VNNI (the CPU has it and the level is 2).
int ck_has_vnni(void);

/// 1 when `type` is supported by the dequantizer / dot kernels.
int ck_type_supported(int type);

/// Dequantizes `n` elements (a whole number of blocks) of `type` at `src` into `dst`.
void ck_dequantize_row(int type, const void *src, float *dst, int64_t n);

/// The activation format a weight type is dotted against: CK_Q8_0 (blocks of 32),
/// CK_Q8_K (blocks of 256), or CK_F32 for float weights.
int ck_activation_type(int weight_type);
/// Bytes needed to hold `n` activations quantized for `weight_type`.
size_t ck_activation_bytes(int weight_type, int64_t n);
/// Quantizes `n` floats for dotting with rows of `weight_type` (a plain copy for float weights).
void ck_quantize_activation(int weight_type, const float *x, void *dst, int64_t n);

/// Dot product of one weight row (n elements) with the prepared activation.
float ck_vec_dot(int weight_type, const void *row, const void *act, int64_t n);

/// y[r] = dot(row r, act) for r in [row0, row1); rows are `row_bytes` apart.
void ck_matvec(int weight_type, const void *w, size_t row_bytes, int64_t n,
               const void *act, float *y, int64_t row0, int64_t row1);

// ---- float helpers used by attention and norms (vectorised, dispatch inside) ----
float ck_dot_f32(const float *a, const float *b, int64_t n);
/// y += a * x
void ck_axpy_f32(float a, const float *x, float *y, int64_t n);
/// Grouped-query attention over `rows` consecutive cache rows (`k_stride` floats apart),
/// each row read once for all `groups` query heads: scores[g * scores_stride + r] =
/// dot(q + g * q_stride, k + r * k_stride, n), the same arithmetic as ck_dot_f32.
void ck_dot_group_f32(const float *q, int64_t q_stride, int64_t groups, const float *k, int64_t k_stride,
                      int64_t rows, float *scores, int64_t scores_stride, int64_t n);
/// out + g * out_stride += w[g * w_stride + r] * (v + r * v_stride), rows in order: for
/// each output element the same sequence of ck_axpy_f32 steps as a per-head loop.
void ck_axpy_group_f32(const float *w, int64_t w_stride, int64_t groups, const float *v, int64_t v_stride,
                       int64_t rows, float *out, int64_t out_stride, int64_t n);

// ---- the q8_0 KV cache (kv_q8.c): a head row of n values is ceil(n/32) blocks of llama.cpp's
// q8_0 (fp16 scale + 32 int8; a partial last block is zero-padded) ----
/// Bytes of one stored head row of `n` values.
size_t ck_kv_q8_row_bytes(int64_t n);
/// Quantizes `n` floats into a head row (llama.cpp's rounding: d = amax/127 at fp16, q = round(x/d)).
void ck_kv_q8_quantize(const float *x, void *dst, int64_t n);
/// The floats a head row stands for.
void ck_kv_q8_dequantize(const void *src, float *dst, int64_t n);
/// scores[j] = q . key(lo + j) for j in [0, count): the key of position p is the head row at
/// keys + (p % ring) * stride bytes; `n` values per head.
void ck_kv_q8_scores(const float *q, const void *keys, size_t stride, int64_t ring, int64_t lo, int64_t count,
                     int64_t n, float *scores);
/// out = sum over j of w[j] * value(lo + j), values laid out as the keys above (out is overwritten).
void ck_kv_q8_weighted_sum(const float *w, const void *values, size_t stride, int64_t ring, int64_t lo,
                           int64_t count, int64_t n, float *out);

// ---- thread pool: workers spin briefly then sleep; run() blocks until all tasks finish ----
typedef struct ck_pool ck_pool;
ck_pool *ck_pool_create(int n_threads);   // n_threads includes the caller
void ck_pool_destroy(ck_pool *pool);
int ck_pool_threads(const ck_pool *pool);
/// Calls fn(ctx, i, n_tasks) for i in [0, n_tasks), spread over the pool's threads.
void ck_pool_run(ck_pool *pool, void (*fn)(void *ctx, int task, int n_tasks), void *ctx, int n_tasks);

#ifdef __cplusplus
}
#endif

#ifdef __cplusplus
extern "C" {
#endif
// ---- pool-parallel forms used by the models (rows split across the pool) ----
/// y[r] = dot(row r, act) for r in [0, rows).
void ck_matvec_par(ck_pool *pool, int weight_type, const void *w, size_t row_bytes, int64_t n,
                   const void *act, float *y, int64_t rows);
/// For t in [0, T): y[t*y_stride + r] = dot(row r, act_t), act_t = acts + t*act_stride bytes.
/// Each weight row is read once for all T activations (batched verification, short prefills).
void ck_matmul_par(ck_pool *pool, int weight_type, const void *w, size_t row_bytes, int64_t n,
                   const void *acts, size_t act_stride, int64_t T, float *y, int64_t y_stride, int64_t rows);
/// Dequantizes rows [row0, row0+count) into dst (count x n floats).
void ck_dequantize_rows_par(ck_pool *pool, int type, const void *w, size_t row_bytes, int64_t n,
                            int64_t row0, int64_t count, float *dst);
/// Gathers and dots: y[i] = dot(row idx[i], act) for i in [0, count) (sparse FFN rows).
void ck_matvec_rows_par(ck_pool *pool, int weight_type, const void *w, size_t row_bytes, int64_t n,
                        const void *act, const int32_t *idx, int64_t count, float *y);
/// Two matrices of the same type and shape gathered at the same rows against one
/// activation (the gate and up rows of active FFN neurons): y1[i] = w1[idx[i]]·x, y2 likewise.
void ck_matvec_rows2_par(ck_pool *pool, int weight_type, const void *w1, const void *w2, size_t row_bytes, int64_t n,
                         const void *act, const int32_t *idx, int64_t count, float *y1, float *y2);
#ifdef __cplusplus
}
#endif

#ifdef __cplusplus
extern "C" {
#endif
// ---- active-neuron FFN (rows of a transposed down projection, gathered) ----
/// y[0..n) = Σ_i coef[i] · dequant(row idx[i]) over `count` selected rows; the rows are
/// split across the pool and each thread's partial sum is added at the end, so
/// `scratch` must hold n_threads × n floats.
void ck_axpy_rows_par(ck_pool *pool, int type, const void *w, size_t row_bytes, int64_t n,
                      const int32_t *idx, const float *coef, int64_t count, float *y, float *scratch);
/// The Spark FFN's gathers in one pool pass (spark.c's model, SparkModel): each thread
/// takes a share of the `count` active neurons, scales coef[i] by up row idx[i] · act (act
/// prepared for `up_type` over up_n values), then adds coef[i] · down row idx[i] (n
/// values, rows of a neuron-major down copy) into its accumulator. y receives the sum;
/// scratch holds n_threads × n floats; coef is overwritten with the scaled values.
void ck_spark_ffn_gather_par(ck_pool *pool, int up_type, const void *up, size_t up_row_bytes, int64_t up_n,
                             const void *act, int down_type, const void *down, size_t down_row_bytes, int64_t n,
                             const int32_t *idx, float *coef, int64_t count, float *y, float *scratch);
/// Converts `n` floats to IEEE half precision.
void ck_convert_f32_to_f16(const float *x, void *dst, int64_t n);
/// Quantizes `n` floats into Q8_0 blocks (n a multiple of 32): for building transposed copies.
void ck_quantize_q8_0(const float *x, void *dst, int64_t n);
/// Best-of-`repetitions` rate (bytes/s) at which the pool's threads together read a
/// `bytes`-sized buffer: the bandwidth that bounds memory-bound decoding.
double ck_measure_read_bandwidth(ck_pool *pool, size_t bytes, int repetitions);
/// The OpenBLAS kernel family this CPU can run ("SkylakeX" with AVX-512, "Haswell" with
/// AVX2+FMA), or NULL: for CPUs newer than the installed OpenBLAS knows.
const char *ck_openblas_coretype_hint(void);
#ifdef __cplusplus
}
#endif

#ifdef __cplusplus
extern "C" {
#endif
// ---- speed twins (twins.c) ----
/// Fills rows [row0, row0 + rows) of a `type` matrix (Q4_K, Q6_K, Q8_0 or F32; `dst`
/// points at row0) with random values of mean 0 and standard deviation ≈ `sigma`, each
/// row seeded from (seed, row index) alone. Returns 0, or -1 for an unsupported type/width.
int ck_fill_random_rows(int type, void *dst, size_t row_bytes, int64_t cols, int64_t row0, int64_t rows,
                        uint64_t seed, float sigma);

// ---- Spark Transformer (spark.c) ----
/// Statistical top-k: θ = mean(x) + std(x)·z (population std, z = Φ⁻¹(1 − k/n));
/// writes the indices i with x[i] > θ and their soft-thresholded values x[i] − θ, in
/// index order; returns their count. idx and val must hold n entries.
int64_t ck_stat_topk(const float *x, int64_t n, double z, float *theta_out, int32_t *idx, float *val);
/// Indices of the k largest of s[0..n) in increasing index order (all n when n <= k;
/// ties at the k-th value: lowest index first). scratch holds n floats. Returns min(n, k).
int64_t ck_topk_indices(const float *s, int64_t n, int64_t k, int32_t *idx, float *scratch);
/// One head of Spark attention for one query q (head_dim floats, already scaled) over
/// the keys/values of positions lo..lo+n-1, stored in a ring of `ring` slots `stride`
/// floats apart (key/value pointers already offset to this head): s1 over the first
/// `rank` dims picks at most `topk` keys, out = Σ softmax(s1)·softplus(s2)·v over them.
/// scores, idx and scratch hold n entries. Returns the number of keys attended.
int64_t ck_spark_attend(const float *q, const float *keys, const float *values, int64_t stride, int64_t ring,
                        int64_t lo, int64_t n, int64_t head_dim, int64_t rank, int64_t topk,
                        float *scores, int32_t *idx, float *scratch, float *out);
/// The same for the `heads` query heads (q_stride floats apart) that share one KV head:
/// their s1 in one pass over the keys (each key read once, with prefetch), then per head
/// the selection and output (out_stride floats apart). scores and idx hold heads × n,
/// scratch n floats; attended[h] receives head h's count of keys. key_prefix, when not
/// NULL, holds each slot's first `rank` key dims contiguously (slot s at s·rank): the
/// scoring pass then streams it instead of reading a slice of every key's row.
void ck_spark_attend_group(const float *q, int64_t heads, int64_t q_stride, const float *keys, const float *values,
                           int64_t stride, int64_t ring, int64_t lo, int64_t n, int64_t head_dim, int64_t rank,
                           int64_t topk, float *scores, int32_t *idx, float *scratch, float *out, int64_t out_stride,
                           int64_t *attended, const float *key_prefix);
/// gate[i] = gelu_tanh(gate[i]) · up[i] (Gemma's GeGLU), vectorised.
void ck_geglu_f32(float *gate, const float *up, int64_t n);
/// x ← softmax(x), stable (max subtracted), vectorised.
void ck_softmax_f32(float *x, int64_t n);
/// log Σ exp(x[i]), stable (max subtracted), vectorised.
float ck_log_sum_exp(const float *x, int64_t n);
#ifdef __cplusplus
}
#endif
