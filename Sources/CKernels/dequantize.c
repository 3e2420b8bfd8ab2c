// Dequantization of one row of any supported type into float32 (scalar; used by
// prefill tile conversion and by tests as the reference for the dot kernels).
#include "ckernels.h"
#include "quant_blocks.h"

static void deq_q8_0(const blk_q8_0 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = ck_half_to_float(x[i].d);
        for (int j = 0; j < 32; j++) y[i * 32 + j] = d * x[i].qs[j];
    }
}
static void deq_q4_0(const blk_q4_0 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = ck_half_to_float(x[i].d);
        for (int j = 0; j < 16; j++) {
            y[i * 32 + j] = d * ((x[i].qs[j] & 0xF) - 8);
            y[i * 32 + j + 16] = d * ((x[i].qs[j] >> 4) - 8);
        }
    }
}
static void deq_q4_1(const blk_q4_1 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = ck_half_to_float(x[i].d), m = ck_half_to_float(x[i].m);
        for (int j = 0; j < 16; j++) {
            y[i * 32 + j] = d * (x[i].qs[j] & 0xF) + m;
            y[i * 32 + j + 16] = d * (x[i].qs[j] >> 4) + m;
        }
    }
}
static void deq_q5_0(const blk_q5_0 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = ck_half_to_float(x[i].d);
        uint32_t qh; memcpy(&qh, x[i].qh, 4);
        for (int j = 0; j < 16; j++) {
            const int h0 = ((qh >> j) << 4) & 0x10, h1 = (qh >> (j + 12)) & 0x10;
            y[i * 32 + j] = d * (((x[i].qs[j] & 0xF) | h0) - 16);
            y[i * 32 + j + 16] = d * (((x[i].qs[j] >> 4) | h1) - 16);
        }
    }
}
static void deq_q5_1(const blk_q5_1 *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = ck_half_to_float(x[i].d), m = ck_half_to_float(x[i].m);
        uint32_t qh; memcpy(&qh, x[i].qh, 4);
        for (int j = 0; j < 16; j++) {
            const int h0 = ((qh >> j) << 4) & 0x10, h1 = (qh >> (j + 12)) & 0x10;
            y[i * 32 + j] = d * ((x[i].qs[j] & 0xF) | h0) + m;
            y[i * 32 + j + 16] = d * ((x[i].qs[j] >> 4) | h1) + m;
        }
    }
}
static void deq_q4_K(const blk_q4_K *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = ck_half_to_float(x[i].d), dmin = ck_half_to_float(x[i].dmin);
        const uint8_t *q = x[i].qs;
        int is = 0;
        for (int j = 0; j < 256; j += 64) {
            uint8_t sc, m;
            ck_scale_min_k4(is, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = dmin * m;
            ck_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (q[l] >> 4) - m2;
            q += 32; is += 2;
        }
    }
}
static void deq_q5_K(const blk_q5_K *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = ck_half_to_float(x[i].d), dmin = ck_half_to_float(x[i].dmin);
        const uint8_t *ql = x[i].qs, *qh = x[i].qh;
        int is = 0;
        uint8_t u1 = 1, u2 = 2;
        for (int j = 0; j < 256; j += 64) {
            uint8_t sc, m;
            ck_scale_min_k4(is, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = dmin * m;
            ck_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
            ql += 32; is += 2; u1 <<= 2; u2 <<= 2;
        }
    }
}
static void deq_q6_K(const blk_q6_K *x, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = ck_half_to_float(x[i].d);
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales;
        for (int n = 0; n < 256; n += 128) {
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * sc[is] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
            y += 128; ql += 64; qh += 32; sc += 8;
        }
    }
}

int ck_type_supported(int type) {
    switch (type) {
    case CK_F32: case CK_F16: case CK_BF16: case CK_Q4_0: case CK_Q4_1: case CK_Q5_0: case CK_Q5_1:
    case CK_Q8_0: case CK_Q4_K: case CK_Q5_K: case CK_Q6_K: return 1;
    default: return 0;
    }
}

void ck_dequantize_row(int type, const void *src, float *dst, int64_t n) {
    switch (type) {
    case CK_F32: memcpy(dst, src, (size_t)n * 4); break;
    case CK_F16: { const ck_half *h = src; for (int64_t i = 0; i < n; i++) dst[i] = ck_half_to_float(h[i]); } break;
    case CK_BF16: { const uint16_t *h = src; for (int64_t i = 0; i < n; i++) dst[i] = ck_bf16_to_float(h[i]); } break;
    case CK_Q8_0: deq_q8_0(src, dst, n / 32); break;
    case CK_Q4_0: deq_q4_0(src, dst, n / 32); break;
    case CK_Q4_1: deq_q4_1(src, dst, n / 32); break;
    case CK_Q5_0: deq_q5_0(src, dst, n / 32); break;
    case CK_Q5_1: deq_q5_1(src, dst, n / 32); break;
    case CK_Q4_K: deq_q4_K(src, dst, n / 256); break;
    case CK_Q5_K: deq_q5_K(src, dst, n / 256); break;
    case CK_Q6_K: deq_q6_K(src, dst, n / 256); break;
    default: memset(dst, 0, (size_t)n * 4); break;
    }
}
