// Spark Transformer kernels (docs/spark-checkpoint.md): statistical top-k with
// compaction of the active entries, exact top-k selection of keys, and one head of
// Spark attention over at most k selected keys.
#include "ckernels.h"
#include "kernels_internal.h"
#include <math.h>
#include <string.h>

int64_t ck_stat_topk(const float *x, int64_t n, double z, float *theta_out, int32_t *idx, float *val) {
    // One pass for the first two moments (double: n up to ~10^5 of float inputs).
    double sum = 0, sum_sq = 0;
    for (int64_t i = 0; i < n; i++) { const double v = x[i]; sum += v; sum_sq += v * v; }
    const double mean = sum / (double)n;
    double var = sum_sq / (double)n - mean * mean;
    if (var < 0) var = 0;
    const float theta = (float)(mean + sqrt(var) * z);
    if (theta_out) *theta_out = theta;
    int64_t count = 0;
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i] - theta;
        if (v > 0) { idx[count] = (int32_t)i; val[count] = v; count++; }
    }
    return count;
}

// k-th largest (k >= 1) of a[0..n) by quickselect; reorders a.
static float kth_largest(float *a, int64_t n, int64_t k) {
    int64_t lo = 0, hi = n - 1, want = k - 1;
    while (lo < hi) {
        // Median of three as pivot keeps sorted or constant runs from going quadratic.
        const int64_t mid = lo + (hi - lo) / 2;
        float p0 = a[lo], p1 = a[mid], p2 = a[hi];
        float pivot = p0 > p1 ? (p1 > p2 ? p1 : (p0 > p2 ? p2 : p0)) : (p0 > p2 ? p0 : (p1 > p2 ? p2 : p1));
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] > pivot) i++;
            while (a[j] < pivot) j--;
            if (i <= j) { float t = a[i]; a[i] = a[j]; a[j] = t; i++; j--; }
        }
        if (want <= j) hi = j;
        else if (want >= i) lo = i;
        else break;
    }
    return a[want];
}

int64_t ck_topk_indices(const float *s, int64_t n, int64_t k, int32_t *idx, float *scratch) {
    if (n <= k) {
        for (int64_t i = 0; i < n; i++) idx[i] = (int32_t)i;
        return n;
    }
    memcpy(scratch, s, (size_t)n * sizeof(float));
    const float kth = kth_largest(scratch, n, k);
    int64_t above = 0;
    for (int64_t i = 0; i < n; i++) above += s[i] > kth;
    // Strictly larger keys always; keys equal to the k-th value fill the rest, lowest position first.
    int64_t ties = k - above, count = 0;
    for (int64_t i = 0; i < n; i++) {
        if (s[i] > kth || (s[i] == kth && ties-- > 0)) idx[count++] = (int32_t)i;
    }
    return count;
}

static inline float softplus(float x) { return x > 20 ? x : log1pf(expf(x)); }

int64_t ck_spark_attend(const float *q, const float *keys, const float *values, int64_t stride, int64_t ring,
                        int64_t lo, int64_t n, int64_t head_dim, int64_t rank, int64_t topk,
                        float *scores, int32_t *idx, float *scratch, float *out) {
    int64_t m = 0;
    ck_spark_attend_group(q, 1, head_dim, keys, values, stride, ring, lo, n, head_dim, rank, topk, scores, idx, scratch,
                          out, head_dim, &m, NULL);
    return m;
}

// Keys ahead of the one being scored whose first `rank` dims are requested: each key
// sits in its own cache slot (kv_heads·head_dim floats apart, 4 KB at Gemma 2 2B's
// shapes), so every key is a new page that the hardware prefetcher does not enter.
enum { SCORE_AHEAD = 6, PICK_AHEAD = 4 };

void ck_spark_attend_group(const float *q, int64_t heads, int64_t q_stride, const float *keys, const float *values,
                           int64_t stride, int64_t ring, int64_t lo, int64_t n, int64_t head_dim, int64_t rank,
                           int64_t topk, float *scores, int32_t *idx, float *scratch, float *out, int64_t out_stride,
                           int64_t *attended, const float *key_prefix) {
    // s1 of every head of the group in one pass over the keys (each key read once): from
    // the contiguous copy of the keys' first dims when there is one (a stream the hardware
    // prefetches), else from the rows themselves with software prefetch.
    int64_t slot = lo % ring, ahead = (lo + SCORE_AHEAD) % ring;
    for (int64_t j = 0; j < n; j++) {
        const float *k;
        if (key_prefix) {
            k = key_prefix + slot * rank;
        } else {
            if (j + SCORE_AHEAD < n) ck_prefetch_bytes(keys + ahead * stride, (size_t)rank * sizeof(float));
            k = keys + slot * stride;
        }
        for (int64_t h = 0; h < heads; h++) scores[h * n + j] = ck_dot_f32(q + h * q_stride, k, rank);
        if (++slot == ring) slot = 0;
        if (++ahead == ring) ahead = 0;
    }
    for (int64_t h = 0; h < heads; h++) {
        const float *qh = q + h * q_stride, *sh = scores + h * n;
        int32_t *ih = idx + h * n;
        float *oh = out + h * out_stride;
        const int64_t m = ck_topk_indices(sh, n, topk, ih, scratch);
        attended[h] = m;
        float mx = -INFINITY;
        for (int64_t i = 0; i < m; i++) if (sh[ih[i]] > mx) mx = sh[ih[i]];
        float sum = 0;
        for (int64_t i = 0; i < m; i++) { scratch[i] = expf(sh[ih[i]] - mx); sum += scratch[i]; }
        const float inv = 1.0f / sum;
        memset(oh, 0, (size_t)head_dim * sizeof(float));
        for (int64_t i = 0; i < m; i++) {
            if (i + PICK_AHEAD < m) {
                const int64_t next = (lo + ih[i + PICK_AHEAD]) % ring;
                ck_prefetch_bytes(keys + next * stride + rank, (size_t)(head_dim - rank) * sizeof(float));
                ck_prefetch_bytes(values + next * stride, (size_t)head_dim * sizeof(float));
            }
            const int64_t sl = (lo + ih[i]) % ring;
            const float s2 = ck_dot_f32(qh + rank, keys + sl * stride + rank, head_dim - rank);
            ck_axpy_f32(scratch[i] * inv * softplus(s2), values + sl * stride, oh, head_dim);
        }
    }
}
