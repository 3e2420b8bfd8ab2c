// Portable dot products of quantized weight rows with int8 activations.
// These define the arithmetic; SIMD versions must agree with them to float rounding.
#include "ckernels.h"
#include "quant_blocks.h"
#include "kernels_internal.h"

float ck_dot_q8_0_scalar(const void *row, const void *act, int64_t n) {
    const blk_q8_0 *x = row; const act32 *y = act;
    float sum = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        int s = 0;
        for (int j = 0; j < 32; j++) s += x[i].qs[j] * y[i].qs[j];
        sum += ck_half_to_float(x[i].d) * y[i].d * (float)s;
    }
    return sum;
}

float ck_dot_q4_0_scalar(const void *row, const void *act, int64_t n) {
    const blk_q4_0 *x = row; const act32 *y = act;
    float sum = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        int s = 0;
        for (int j = 0; j < 16; j++) s += (x[i].qs[j] & 0xF) * y[i].qs[j] + (x[i].qs[j] >> 4) * y[i].qs[j + 16];
        const float d = ck_half_to_float(x[i].d);
        sum += d * (y[i].d * (float)s - 8.0f * y[i].s);
    }
    return sum;
}

float ck_dot_q4_1_scalar(const void *row, const void *act, int64_t n) {
    const blk_q4_1 *x = row; const act32 *y = act;
    float sum = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        int s = 0;
        for (int j = 0; j < 16; j++) s += (x[i].qs[j] & 0xF) * y[i].qs[j] + (x[i].qs[j] >> 4) * y[i].qs[j + 16];
        sum += ck_half_to_float(x[i].d) * y[i].d * (float)s + ck_half_to_float(x[i].m) * y[i].s;
    }
    return sum;
}

static inline int q5_sum(const uint8_t *qs, const uint8_t *qhb, const int8_t *a) {
    uint32_t qh; memcpy(&qh, qhb, 4);
    int s = 0;
    for (int j = 0; j < 16; j++) {
        const int h0 = ((qh >> j) << 4) & 0x10, h1 = (qh >> (j + 12)) & 0x10;
        s += ((qs[j] & 0xF) | h0) * a[j] + ((qs[j] >> 4) | h1) * a[j + 16];
    }
    return s;
}

float ck_dot_q5_0_scalar(const void *row, const void *act, int64_t n) {
    const blk_q5_0 *x = row; const act32 *y = act;
    float sum = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        const int s = q5_sum(x[i].qs, x[i].qh, y[i].qs);
        sum += ck_half_to_float(x[i].d) * (y[i].d * (float)s - 16.0f * y[i].s);
    }
    return sum;
}

float ck_dot_q5_1_scalar(const void *row, const void *act, int64_t n) {
    const blk_q5_1 *x = row; const act32 *y = act;
    float sum = 0;
    for (int64_t i = 0; i < n / 32; i++) {
        const int s = q5_sum(x[i].qs, x[i].qh, y[i].qs);
        sum += ck_half_to_float(x[i].d) * y[i].d * (float)s + ck_half_to_float(x[i].m) * y[i].s;
    }
    return sum;
}

float ck_dot_q4_K_scalar(const void *row, const void *act, int64_t n) {
    const blk_q4_K *x = row; const act256 *y = act;
    float sum = 0;
    for (int64_t i = 0; i < n / 256; i++) {
        const uint8_t *q = x[i].qs; const int8_t *a = y[i].qs;
        int sumi = 0, summ = 0;
        for (int j = 0; j < 4; j++) {
            uint8_t sc1, m1, sc2, m2;
            ck_scale_min_k4(2 * j, x[i].scales, &sc1, &m1);
            ck_scale_min_k4(2 * j + 1, x[i].scales, &sc2, &m2);
            int s1 = 0, s2 = 0;
            for (int l = 0; l < 32; l++) { s1 += (q[l] & 0xF) * a[l]; s2 += (q[l] >> 4) * a[l + 32]; }
            sumi += sc1 * s1 + sc2 * s2;
            summ += m1 * (y[i].bsums[4 * j] + y[i].bsums[4 * j + 1]) + m2 * (y[i].bsums[4 * j + 2] + y[i].bsums[4 * j + 3]);
            q += 32; a += 64;
        }
        sum += y[i].d * (ck_half_to_float(x[i].d) * (float)sumi - ck_half_to_float(x[i].dmin) * (float)summ);
    }
    return sum;
}

float ck_dot_q5_K_scalar(const void *row, const void *act, int64_t n) {
    const blk_q5_K *x = row; const act256 *y = act;
    float sum = 0;
    for (int64_t i = 0; i < n / 256; i++) {
        const uint8_t *q = x[i].qs, *qh = x[i].qh; const int8_t *a = y[i].qs;
        int sumi = 0, summ = 0;
        for (int j = 0; j < 4; j++) {
            uint8_t sc1, m1, sc2, m2;
            ck_scale_min_k4(2 * j, x[i].scales, &sc1, &m1);
            ck_scale_min_k4(2 * j + 1, x[i].scales, &sc2, &m2);
            const uint8_t u1 = (uint8_t)(1u << (2 * j)), u2 = (uint8_t)(2u << (2 * j));
            int s1 = 0, s2 = 0;
            for (int l = 0; l < 32; l++) {
                s1 += ((q[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) * a[l];
                s2 += ((q[l] >> 4) + (qh[l] & u2 ? 16 : 0)) * a[l + 32];
            }
            sumi += sc1 * s1 + sc2 * s2;
            summ += m1 * (y[i].bsums[4 * j] + y[i].bsums[4 * j + 1]) + m2 * (y[i].bsums[4 * j + 2] + y[i].bsums[4 * j + 3]);
            q += 32; a += 64;
        }
        sum += y[i].d * (ck_half_to_float(x[i].d) * (float)sumi - ck_half_to_float(x[i].dmin) * (float)summ);
    }
    return sum;
}

float ck_dot_q6_K_scalar(const void *row, const void *act, int64_t n) {
    const blk_q6_K *x = row; const act256 *y = act;
    float sum = 0;
    for (int64_t i = 0; i < n / 256; i++) {
        const uint8_t *ql = x[i].ql, *qh = x[i].qh; const int8_t *sc = x[i].scales, *a = y[i].qs;
        int sumi = 0;
        for (int h = 0; h < 2; h++) {
            int g[8] = {0};
            for (int l = 0; l < 32; l++) {
                const int q1 = (ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4);
                const int q2 = (ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4);
                const int q3 = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
                const int q4 = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
                g[l / 16] += q1 * a[l];
                g[2 + l / 16] += q2 * a[l + 32];
                g[4 + l / 16] += q3 * a[l + 64];
                g[6 + l / 16] += q4 * a[l + 96];
            }
            for (int k = 0; k < 8; k++) sumi += sc[k] * (g[k] - 32 * y[i].bsums[8 * h + k]);
            ql += 64; qh += 32; sc += 8; a += 128;
        }
        sum += ck_half_to_float(x[i].d) * y[i].d * (float)sumi;
    }
    return sum;
}

float ck_dot_f32_scalar(const void *row, const void *act, int64_t n) { return ck_dotf_scalar(row, act, n); }
float ck_dot_f16_scalar(const void *row, const void *act, int64_t n) {
    const ck_half *x = row; const float *y = act; float s = 0;
    for (int64_t i = 0; i < n; i++) s += ck_half_to_float(x[i]) * y[i];
    return s;
}
float ck_dot_bf16_scalar(const void *row, const void *act, int64_t n) {
    const uint16_t *x = row; const float *y = act; float s = 0;
    for (int64_t i = 0; i < n; i++) s += ck_bf16_to_float(x[i]) * y[i];
    return s;
}
float ck_dotf_scalar(const float *a, const float *b, int64_t n) {
    float s = 0; for (int64_t i = 0; i < n; i++) s += a[i] * b[i]; return s;
}
void ck_axpy_scalar(float a, const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}
